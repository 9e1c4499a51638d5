//! Calendar dates in an agency's own format.

use crate::{Error, Result};

pub use braid_template::Date;

/// Separators between a date's parts, each read for any other.
const SEPARATORS: [char; 4] = ['/', '-', '.', ' '];

const MONTHS: [&str; 12] = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Day,
    Month,
    MonthName,
    Year4,
    Year2,
    Literal(char),
}

/// A date format in strftime style, read by the `time` crate's strftime
/// parser: `%d` (or `%e`), `%m`, `%Y`, `%y`, `%b`/`%h`/`%B`, the
/// composites `%F` (`%Y-%m-%d`) and `%D` (`%m/%d/%y`), padding modifiers
/// (`%-d`) and literal separators, e.g. `%d/%m/%Y`. Values are read with
/// leeway ([`parse_date_parts`]): any separator for any other, a time after
/// the date, parts of an impossible date kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    parts: Vec<Part>,
    text: String,
    /// Day, month, then a four-digit year (see [`DateFormat::day_month_year`]),
    /// worked out once.
    lenient: bool,
}

/// The longest date format read: a format is a few characters.
const LONGEST_FORMAT: usize = 64;

/// Appends the parts of one strftime item; `None` for an item that is not
/// part of a date (an hour, a weekday, an optional part).
fn push_parts(item: &time::format_description::BorrowedFormatItem<'_>, parts: &mut Vec<Part>) -> Option<()> {
    use time::format_description::{BorrowedFormatItem as Item, Component};
    match item {
        Item::StringLiteral(text) => parts.extend(text.chars().map(Part::Literal)),
        Item::Compound(items) => {
            for item in *items {
                push_parts(item, parts)?;
            }
        }
        Item::Component(component) => parts.push(match component {
            Component::Day(_) => Part::Day,
            Component::MonthNumerical(_) => Part::Month,
            Component::MonthShort(_) | Component::MonthLong(_) => Part::MonthName,
            Component::CalendarYearFullStandardRange(_) | Component::CalendarYearFullExtendedRange(_) => Part::Year4,
            Component::CalendarYearLastTwo(_) => Part::Year2,
            _ => return None,
        }),
        _ => return None,
    }
    Some(())
}

/// Whether a strftime item holds a time of day (an hour, a minute, a
/// second, AM/PM).
fn has_time(item: &time::format_description::BorrowedFormatItem<'_>) -> bool {
    use time::format_description::{BorrowedFormatItem as Item, Component};
    match item {
        Item::Compound(items) => items.iter().any(has_time),
        Item::Component(component) => {
            matches!(component, Component::Hour24(_) | Component::Hour12(_) | Component::Minute(_) | Component::Second(_) | Component::Period(_))
        }
        _ => false,
    }
}

impl DateFormat {
    /// Reads a format string: a day, a month (number or name) and a year,
    /// with separators, and nothing else.
    pub fn parse(text: &str) -> Result<DateFormat> {
        let refused = || Error::DateFormat(braid_template::quote(text));
        if text.chars().count() > LONGEST_FORMAT {
            return Err(refused());
        }
        let items = time::format_description::parse_strftime_borrowed(text).map_err(|_| refused())?;
        if items.iter().any(has_time) {
            return Err(Error::DateFormatWithTime(braid_template::quote(text)));
        }
        let mut parts = Vec::new();
        for item in &items {
            push_parts(item, &mut parts).ok_or_else(refused)?;
        }
        let count = |wanted: &[Part]| parts.iter().filter(|part| wanted.contains(part)).count();
        if count(&[Part::Day]) != 1 || count(&[Part::Month, Part::MonthName]) != 1 || count(&[Part::Year4, Part::Year2]) != 1 {
            return Err(refused());
        }
        let lenient = DateFormat::day_month_year(&parts);
        Ok(DateFormat { parts, text: text.to_owned(), lenient })
    }

    /// The format as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The parts of a date as recorded, kept even when together they are not a
/// real calendar date (31 February, month 13): each plausible part is still
/// evidence for linkage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateParts {
    /// Four-digit year, when it lies between 1880 and 2100.
    pub year: Option<i32>,
    /// Month as written (1 to 31: a day written in the month's place is
    /// kept, for day/month transposition).
    pub month: Option<u32>,
    /// Day as written (1 to 31).
    pub day: Option<u32>,
}

impl DateParts {
    /// The parts of a real date.
    pub fn of(date: Date) -> DateParts {
        DateParts { year: Some(date.year), month: Some(date.month), day: Some(date.day) }
    }

    /// All three parts, when each was usable.
    pub fn triple(&self) -> Option<(i32, u32, u32)> {
        Some((self.year?, self.month?, self.day?))
    }

    /// The calendar date the parts most plausibly stand for: the date
    /// itself; day and month swapped when only that order exists; the last
    /// day of the month for a day past its end (31 February). `None` when no
    /// day can be placed.
    pub fn approximate(&self) -> Option<Date> {
        let (year, month, day) = self.triple()?;
        if let Some(date) = Date::new(year, month, day) {
            return Some(date);
        }
        if month > 12 {
            return Date::new(year, day, month);
        }
        (28..=31).rev().find_map(|last| Date::new(year, month, last.min(day)))
    }
}

/// The year a two-digit year stands for: this century's unless that is
/// still to come, else the last century's (no date of birth or event is in
/// the future, and a man born in 1929 is not born in 2029).
fn two_digit_year(number: i32, this_year: i32) -> i32 {
    let century = this_year - this_year.rem_euclid(100);
    if century + number > this_year {
        century - 100 + number
    } else {
        century + number
    }
}

/// This year by the system clock (UTC).
pub fn this_year() -> i32 {
    today().year
}

/// Today by the system clock (UTC).
pub fn today() -> Date {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Date::from_days_since_epoch(i64::try_from(seconds / 86_400).unwrap_or(0))
}

/// The numbers a date's text holds in the format's places, unchecked.
struct RawDate {
    day: Option<i32>,
    month: Option<i32>,
    year: Option<i32>,
    /// A month name the format expects was not one.
    unknown_month_name: bool,
}

impl DateFormat {
    /// Day, month, then a four-digit year (`%d/%m/%Y`, `%d-%b-%Y`): the
    /// order in which every separator (`14.09.2012`, `14-09-2012`) and a
    /// short year (`14/09/12`) are read the same way. In any other order a
    /// different separator or a short year may be another convention
    /// (`09.10.2012` from a day-first system under `%m/%d/%Y`), so they do
    /// not match.
    fn day_month_year(parts: &[Part]) -> bool {
        let numeric: Vec<&Part> = parts.iter().filter(|p| !matches!(p, Part::Literal(_))).collect();
        matches!(numeric.as_slice(), [Part::Day, Part::Month | Part::MonthName, Part::Year4])
    }
}

/// Reads the text in the format's shape; `None` when it has another shape.
fn raw_date(text: &str, format: &DateFormat) -> Option<RawDate> {
    let mut rest = text.trim();
    let lenient = format.lenient;
    let mut raw = RawDate { day: None, month: None, year: None, unknown_month_name: false };
    for part in &format.parts {
        match part {
            // A date separator stands for any other ("14.09.2012" under
            // %d/%m/%Y): the order of the parts is what the format says.
            Part::Literal(c) if lenient && SEPARATORS.contains(c) => rest = rest.strip_prefix(SEPARATORS)?,
            Part::Literal(c) => rest = rest.strip_prefix(*c)?,
            // A month written as a name where the format has its number
            // ("14 Sep 2012" under %d/%m/%Y) cannot be misread.
            Part::Month if lenient && rest.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                let (month, after) = month_name(rest);
                raw.month = Some(month?);
                rest = after;
            }
            Part::Day | Part::Month | Part::Year4 | Part::Year2 => {
                let max_digits = if *part == Part::Year4 { 4 } else { 2 };
                let digits: usize = rest.chars().take(max_digits).take_while(char::is_ascii_digit).count();
                // A year of two digits where four are expected, after the
                // day and month, is read as %y reads it (never in the
                // future); three are a typo.
                let short_year = lenient && *part == Part::Year4 && digits == 2 && !rest[digits..].starts_with(|c: char| c.is_ascii_digit());
                if digits == 0 || (*part == Part::Year4 && digits != 4 && !short_year) {
                    return None;
                }
                let number: i32 = rest[..digits].parse().ok()?;
                rest = &rest[digits..];
                match part {
                    Part::Day => raw.day = Some(number),
                    Part::Month => raw.month = Some(number),
                    Part::Year4 if !short_year => raw.year = Some(number),
                    _ => raw.year = Some(two_digit_year(number, this_year())),
                }
            }
            Part::MonthName => {
                let (month, after) = month_name(rest);
                raw.month = month;
                raw.unknown_month_name = month.is_none();
                rest = after;
            }
        }
    }
    is_time_of_day(rest).then_some(raw)
}

/// The month a name at the start of `rest` stands for (three letters or
/// more of it, any case), and what follows the name.
fn month_name(rest: &str) -> (Option<i32>, &str) {
    let letters: usize = rest.chars().take_while(char::is_ascii_alphabetic).count();
    let name = rest[..letters].to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| name.len() >= 3 && m.starts_with(&name)).map(|index| index as i32 + 1);
    (month, &rest[letters..])
}

/// Whether what follows a date is nothing, or a time of day as exports
/// write one after it (`14/09/2012 00:00`, `2012-09-14T00:00:00.000Z`,
/// `01/03/2020 10:22 AM`): the time is not used.
fn is_time_of_day(rest: &str) -> bool {
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) else { return false };
    let rest = rest.trim_start();
    let digits = |text: &str, least: usize, most: usize| -> Option<usize> {
        let n = text.chars().take(most).take_while(char::is_ascii_digit).count();
        (n >= least).then_some(n)
    };
    let Some(hours) = digits(rest, 1, 2) else { return false };
    let Some(mut rest) = rest[hours..].strip_prefix(':') else { return false };
    let Some(minutes) = digits(rest, 2, 2) else { return false };
    rest = &rest[minutes..];
    if let Some(after) = rest.strip_prefix(':') {
        let Some(seconds) = digits(after, 2, 2) else { return false };
        rest = &after[seconds..];
        if let Some(after) = rest.strip_prefix('.') {
            let Some(fraction) = digits(after, 1, 9) else { return false };
            rest = &after[fraction..];
        }
    }
    let rest = rest.trim_start();
    let zone = |text: &str| {
        text.is_empty()
            || text == "Z"
            || text.eq_ignore_ascii_case("am")
            || text.eq_ignore_ascii_case("pm")
            || (text.len() >= 3
                && text.len() <= 6
                && (text.starts_with('+') || text.starts_with('-'))
                && text[1..].chars().all(|c| c.is_ascii_digit() || c == ':'))
    };
    zone(rest)
}

/// ISO 8601 (`2012-09-14`): read whatever a mapping's format says, as it
/// cannot be mistaken for any other order (systems merged into one export
/// often write some dates so).
fn iso() -> &'static DateFormat {
    static ISO: std::sync::OnceLock<DateFormat> = std::sync::OnceLock::new();
    ISO.get_or_init(|| DateFormat {
        parts: vec![Part::Year4, Part::Literal('-'), Part::Month, Part::Literal('-'), Part::Day],
        text: "%Y-%m-%d".to_owned(),
        lenient: false,
    })
}

/// The text read in `format`, else as ISO 8601, else as a spreadsheet's
/// day number.
fn raw_date_or_iso(text: &str, format: &DateFormat) -> Option<RawDate> {
    raw_date(text, format).or_else(|| raw_date(text, iso())).or_else(|| spreadsheet_day(text, format))
}

/// Whether `text` is read as a spreadsheet's day number (see
/// [`spreadsheet_day`]) rather than in the format or as ISO 8601.
pub(crate) fn is_spreadsheet_day(text: &str, format: &DateFormat) -> bool {
    // Five digits alone first: most dates fail that at once, unparsed.
    spreadsheet_day(text, format).is_some() && raw_date(text, format).is_none() && raw_date(text, iso()).is_none()
}

/// A date a spreadsheet exported as its serial day number (days since
/// 30 December 1899: 41166 is 14 September 2012): five digits alone, from
/// 1927 to 2173, read only under a format with separators (which then
/// cannot have written them; under `%Y%m%d` five digits are a typo).
fn spreadsheet_day(text: &str, format: &DateFormat) -> Option<RawDate> {
    if !format.parts.iter().any(|part| matches!(part, Part::Literal(c) if SEPARATORS.contains(c))) {
        return None;
    }
    let text = text.trim();
    if text.len() != 5 || !text.bytes().all(|b| b.is_ascii_digit()) || text.starts_with('0') {
        return None;
    }
    let days_since_1970 = text.parse::<i64>().ok()? - 25_569;
    let date = Date::from_days_since_epoch(days_since_1970);
    Some(RawDate { day: Some(date.day as i32), month: Some(date.month as i32), year: Some(date.year), unknown_month_name: false })
}

/// Reads a date's parts in the given format without requiring the parts to
/// form a real date: the text must have the format's shape, and each part is
/// kept when it is plausible on its own. The error (text of another shape)
/// names `field`, never the value.
pub fn parse_date_parts(text: &str, format: &DateFormat, field: &'static str) -> Result<DateParts> {
    let raw = raw_date_or_iso(text, format).ok_or_else(|| Error::Date { field, reason: format!("does not match the date format {}", format.text) })?;
    let part = |value: Option<i32>| value.filter(|v| (1..=31).contains(v)).map(|v| v as u32);
    Ok(DateParts { year: raw.year.filter(|y| (1880..=2100).contains(y)), month: part(raw.month), day: part(raw.day) })
}

/// Parses a date in the given format. Two-digit years are read as 19xx when
/// they are above 30, else 20xx. The error names `field` and the rule
/// broken, never the value.
pub fn parse_date(text: &str, format: &DateFormat, field: &'static str) -> Result<Date> {
    let error = |reason: String| Error::Date { field, reason };
    let raw = raw_date_or_iso(text, format).ok_or_else(|| error(format!("does not match the date format {}", format.text)))?;
    if raw.unknown_month_name {
        return Err(error("has an unknown month name".to_owned()));
    }
    let (Some(day), Some(month), Some(year)) = (raw.day, raw.month, raw.year) else {
        return Err(error(format!("does not match the date format {}", format.text)));
    };
    if !(1..=12).contains(&month) {
        return Err(error("has a month outside 1 to 12".to_owned()));
    }
    Date::new(year, month as u32, day.max(0) as u32).ok_or_else(|| error("is not a real calendar date".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_impossible_dates_are_refused() {
        let uk = DateFormat::parse("%d/%m/%Y").unwrap();
        assert_eq!(parse_date("07/03/2011", &uk, "dob").unwrap(), Date::new(2011, 3, 7).unwrap());
        assert_eq!(parse_date("7/3/2011", &uk, "dob").unwrap(), Date::new(2011, 3, 7).unwrap());
        let error = parse_date("31/02/2011", &uk, "dob").unwrap_err();
        assert_eq!(error.to_string(), "dob: is not a real calendar date");
        assert!(parse_date("29/02/2012", &uk, "dob").is_ok());
        assert!(parse_date("29/02/2011", &uk, "dob").is_err());
        assert!(parse_date("07/13/2011", &uk, "dob").is_err());
        let iso = DateFormat::parse("%Y-%m-%d").unwrap();
        assert_eq!(parse_date("2011-03-07", &iso, "dob").unwrap(), Date::new(2011, 3, 7).unwrap());
        let named = DateFormat::parse("%d-%b-%Y").unwrap();
        assert_eq!(parse_date("07-Mar-2011", &named, "dob").unwrap(), Date::new(2011, 3, 7).unwrap());
        let short = DateFormat::parse("%d.%m.%y").unwrap();
        assert_eq!(parse_date("07.03.11", &short, "dob").unwrap(), Date::new(2011, 3, 7).unwrap());
        assert!(DateFormat::parse("%d/%m").is_err());
        assert!(DateFormat::parse("%q").is_err());
    }

    #[test]
    fn strftime_composites_and_modifiers_are_read_and_anything_but_a_date_is_refused() {
        let day = Date::new(2011, 3, 7);
        for (format, text) in [
            ("%F", "2011-03-07"),
            ("%D", "03/07/11"),
            ("%-d/%-m/%Y", "7/3/2011"),
            ("%e %B %Y", " 7 March 2011"),
            ("%d %h %Y", "07 Mar 2011"),
            ("%Y%m%d", "20110307"),
        ] {
            let parsed = DateFormat::parse(format).unwrap_or_else(|error| panic!("{format}: {error}"));
            assert_eq!(parse_date(text, &parsed, "dob").ok(), day, "{text} under {format}");
        }
        let error = DateFormat::parse("%Y-%m-%d %H:%M:%S").unwrap_err().to_string();
        assert!(error.contains("has a time of day in it"), "{error}");
        for format in ["%d/%m/%Y %H:%M", "%a %d/%m/%Y", "%d/%m/%Y/%d", "%d/%m/%Y/%y", "%j/%Y", "%d/%m/%G", "%", "%Ez"] {
            assert!(DateFormat::parse(format).is_err(), "{format}");
        }
        // A runaway format is refused, quoted short.
        let error = DateFormat::parse(&"%d".repeat(5_000)).unwrap_err().to_string();
        assert!(error.len() < 400 && error.contains("(10000 characters)"), "{error}");
    }

    #[test]
    fn a_time_after_the_date_other_separators_short_years_and_iso_dates_are_read_without_misreading() {
        let uk = DateFormat::parse("%d/%m/%Y").unwrap();
        let day = Date::new(2012, 9, 14).unwrap();
        for text in [
            "14/09/2012",
            "14/09/2012 00:00",
            "14/09/2012 00:00:00",
            "14/09/2012 9:05 AM",
            "14/09/2012T00:00:00.000Z",
            "14/09/2012 23:59:59+01:00",
            "2012-09-14",
            "2012-09-14T00:00:00",
            "2012-09-14 00:00:00.0",
        ] {
            assert_eq!(parse_date(text, &uk, "dob").ok(), Some(day), "{text}");
        }
        for text in ["14.09.2012", "14-09-2012", "14 09 2012", "14/09/12", "14 Sep 2012", "14-SEP-12", "14 September 2012", "41166"] {
            assert_eq!(parse_date(text, &uk, "dob").ok(), Some(day), "{text}");
        }
        assert!(parse_date("20129", &DateFormat::parse("%Y%m%d").unwrap(), "dob").is_err(), "five digits under %Y%m%d are a typo");
        for text in ["14/09/2012x", "14/09/2012 00", "14/09/2012 0:0", "14/09/2012 00:00 tomorrow", "2012-14-09", "14/09/201", "14:09:2012", "14//09/2012"] {
            assert!(parse_date(text, &uk, "dob").is_err(), "{text}");
        }
        // The leeway is for day, month, year only; ISO is read strictly.
        // Anything else that another convention could have written stays
        // unread (a warning) rather than misread.
        for (format, text) in [
            ("%Y-%m-%d", "14/09/12"),
            ("%Y-%m-%d", "01/02/03"),
            ("%m/%d/%Y", "09.10.2012"),
            ("%d-%b-%Y", "14-09-12"),
            ("%d%m%Y", "14-09-12"),
            ("%m/%d/%Y", "10/09/12"),
        ] {
            let format = DateFormat::parse(format).unwrap();
            assert!(parse_date(text, &format, "dob").is_err(), "{text} under {}", format.as_str());
        }
        // An ISO date of an impossible day keeps its parts, as any other.
        assert_eq!(parse_date_parts("2011-02-31", &uk, "dob").unwrap().triple(), Some((2011, 2, 31)));
    }

    #[test]
    fn two_digit_years_are_never_in_the_future() {
        assert_eq!(two_digit_year(11, 2026), 2011);
        assert_eq!(two_digit_year(26, 2026), 2026);
        assert_eq!(two_digit_year(27, 2026), 1927);
        assert_eq!(two_digit_year(29, 2026), 1929);
        assert_eq!(two_digit_year(99, 2026), 1999);
        assert_eq!(two_digit_year(0, 2026), 2000);
        assert_eq!(two_digit_year(5, 2101), 2005);
        assert_eq!(two_digit_year(1, 2101), 2101);
    }

    #[test]
    fn impossible_dates_keep_their_plausible_parts() {
        let uk = DateFormat::parse("%d/%m/%Y").unwrap();
        let parts = parse_date_parts("31/02/2011", &uk, "dob").unwrap();
        assert_eq!(parts.triple(), Some((2011, 2, 31)));
        assert_eq!(parts.approximate(), Date::new(2011, 2, 28));
        let swapped = parse_date_parts("05/13/2011", &uk, "dob").unwrap();
        assert_eq!(swapped.approximate(), Date::new(2011, 5, 13));
        let bad_month = parse_date_parts("15/40/2011", &uk, "dob").unwrap();
        assert_eq!((bad_month.year, bad_month.month, bad_month.day), (Some(2011), None, Some(15)));
        assert_eq!(bad_month.approximate(), None);
        let bad_year = parse_date_parts("15/04/0011", &uk, "dob").unwrap();
        assert_eq!(bad_year.year, None);
        let plain = DateFormat::parse("%Y%m%d").unwrap();
        assert_eq!(parse_date_parts("19570351", &plain, "dob").unwrap().triple(), None);
        assert_eq!(parse_date_parts("19570331", &plain, "dob").unwrap().approximate(), Date::new(1957, 3, 31));
    }
}
