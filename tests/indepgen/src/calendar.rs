//! Calendar dates, written in an agency's strftime-style format (`%d`, `%m`,
//! `%Y`, `%b`), including dates that cannot exist (31 February, month 13),
//! and read back for checking.

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month.
    pub day: u32,
}

const MONTH_NAMES: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Whether `year` is a leap year.
pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in a month of a year.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// A real date, or `None`.
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some(Date { year, month, day })
    }

    /// Days since 1970-01-01 (negative before).
    pub fn ordinal(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_ordinal(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// This date moved by `days`.
    pub fn plus_days(self, days: i64) -> Date {
        Date::from_ordinal(self.ordinal() + days)
    }

    /// Whole years of age on `on` for someone born on `self`.
    pub fn age_on(self, on: Date) -> i32 {
        let before_birthday = (on.month, on.day) < (self.month, self.day);
        on.year - self.year - i32::from(before_birthday)
    }

    /// ISO 8601 text.
    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// The date in a strftime-style format.
    pub fn render(self, format: &str) -> String {
        render_parts(self.day, self.month, self.year, format)
    }
}

/// Writes day, month and year, which need not form a real date, in `format`.
/// A month above 12 under `%b` is written as a number.
pub fn render_parts(day: u32, month: u32, year: i32, format: &str) -> String {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('Y') => out.push_str(&format!("{year:04}")),
            Some('b') => match MONTH_NAMES.get(month as usize - 1) {
                Some(name) => out.push_str(name),
                None => out.push_str(&format!("{month:02}")),
            },
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// What a date cell holds when read back in its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A real date.
    Real(Date),
    /// Day, month and year that do not form a date (month 13, 31 February).
    Impossible,
    /// Not in the format at all (or empty).
    Unreadable,
}

/// Reads a date cell written with [`render_parts`] in `format`: the parts
/// are taken in the format's order and must write back to the same text.
pub fn read(text: &str, format: &str) -> Reading {
    let specs = format.split('%').skip(1).filter_map(|part| part.chars().next());
    let tokens = text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|t| !t.is_empty());
    let (mut day, mut month, mut year) = (0, 0, 0);
    for (spec, token) in specs.zip(tokens) {
        let named = MONTH_NAMES.iter().position(|m| *m == token).map(|i| i as u32 + 1);
        let Some(number) = token.parse::<u32>().ok().or(named) else { return Reading::Unreadable };
        match spec {
            'd' => day = number,
            'm' | 'b' => month = number,
            'Y' => year = number as i32,
            _ => return Reading::Unreadable,
        }
    }
    match Date::new(year, month, day) {
        _ if text.is_empty() || render_parts(day, month, year, format) != text => Reading::Unreadable,
        Some(date) => Reading::Real(date),
        None => Reading::Impossible,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_round_trip_and_formats_read_back() {
        for days in (-25_000..25_000).step_by(37) {
            assert_eq!(Date::from_ordinal(days).ordinal(), days);
        }
        assert_eq!(Date::new(1970, 1, 1).map(Date::ordinal), Some(0));
        let date = Date { year: 2012, month: 2, day: 29 };
        for format in ["%d/%m/%Y", "%Y-%m-%d", "%d-%b-%Y", "%d.%m.%Y"] {
            assert_eq!(read(&date.render(format), format), Reading::Real(date));
        }
        assert_eq!(render_parts(31, 2, 2011, "%d-%b-%Y"), "31-Feb-2011");
        assert_eq!(read("31-Feb-2011", "%d-%b-%Y"), Reading::Impossible);
        assert_eq!(read("2011-13-04", "%Y-%m-%d"), Reading::Impossible);
        assert_eq!(read("", "%Y-%m-%d"), Reading::Unreadable);
        assert_eq!(Date { year: 2010, month: 6, day: 2 }.age_on(Date { year: 2025, month: 1, day: 1 }), 14);
    }
}
