//! Calendar dates in an agency's own format.

use crate::{Error, Result};

pub use braid_template::Date;

const MONTHS: [&str; 12] = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Day,
    Month,
    MonthName,
    Year4,
    Year2,
    Literal(char),
}

/// A date format in strftime style: `%d`, `%m`, `%Y`, `%y`, `%b`/`%B` and
/// literal separators, e.g. `%d/%m/%Y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    parts: Vec<Part>,
    text: String,
}

impl DateFormat {
    /// Reads a format string.
    pub fn parse(text: &str) -> Result<DateFormat> {
        let mut parts = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                let part = match chars.next() {
                    Some('d') => Part::Day,
                    Some('m') => Part::Month,
                    Some('Y') => Part::Year4,
                    Some('y') => Part::Year2,
                    Some('b') | Some('B') => Part::MonthName,
                    _ => return Err(Error::DateFormat(text.to_owned())),
                };
                parts.push(part);
            } else {
                parts.push(Part::Literal(c));
            }
        }
        let has = |p: &Part| parts.contains(p);
        if !(has(&Part::Day)
            && (has(&Part::Month) || has(&Part::MonthName))
            && (has(&Part::Year4) || has(&Part::Year2)))
        {
            return Err(Error::DateFormat(text.to_owned()));
        }
        Ok(DateFormat {
            parts,
            text: text.to_owned(),
        })
    }

    /// The format as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Parses a date in the given format. Two-digit years are read as 19xx when
/// they would otherwise lie after `pivot_year`'s last two digits, else 20xx.
/// The error names `field` and the rule broken, never the value.
pub fn parse_date(text: &str, format: &DateFormat, field: &'static str) -> Result<Date> {
    let error = |reason: String| Error::Date { field, reason };
    let text = text.trim();
    let mut rest = text;
    let (mut day, mut month, mut year) = (None, None, None);
    for part in &format.parts {
        match part {
            Part::Literal(c) => {
                rest = rest.strip_prefix(*c).ok_or_else(|| {
                    error(format!("does not match the date format {}", format.text))
                })?;
            }
            Part::Day | Part::Month | Part::Year4 | Part::Year2 => {
                let max_digits = if *part == Part::Year4 { 4 } else { 2 };
                let digits: usize = rest
                    .chars()
                    .take(max_digits)
                    .take_while(char::is_ascii_digit)
                    .count();
                if digits == 0 || (*part == Part::Year4 && digits != 4) {
                    return Err(error(format!("does not match the date format {}", format.text)));
                }
                let number: i32 = rest[..digits]
                    .parse()
                    .map_err(|_| error("is not a number".to_owned()))?;
                rest = &rest[digits..];
                match part {
                    Part::Day => day = Some(number),
                    Part::Month => month = Some(number),
                    Part::Year4 => year = Some(number),
                    _ => year = Some(if number > 30 { 1900 + number } else { 2000 + number }),
                }
            }
            Part::MonthName => {
                let letters: usize = rest.chars().take_while(char::is_ascii_alphabetic).count();
                let name = rest[..letters].to_ascii_lowercase();
                let index = MONTHS
                    .iter()
                    .position(|m| name.len() >= 3 && m.starts_with(&name))
                    .ok_or_else(|| error("has an unknown month name".to_owned()))?;
                month = Some(index as i32 + 1);
                rest = &rest[letters..];
            }
        }
    }
    if !rest.is_empty() {
        return Err(error(format!("does not match the date format {}", format.text)));
    }
    let (Some(day), Some(month), Some(year)) = (day, month, year) else {
        return Err(error(format!("does not match the date format {}", format.text)));
    };
    if !(1..=12).contains(&month) {
        return Err(error("has a month outside 1 to 12".to_owned()));
    }
    Date::new(year, month as u32, day.max(0) as u32)
        .ok_or_else(|| error("is not a real calendar date".to_owned()))
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
        assert!(parse_date("2011-03-07", &uk, "dob").is_err());
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
}
