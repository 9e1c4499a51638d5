//! Calendar dates: case dates and dates of birth share one type, checked
//! and counted by the `time` crate.

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Four-digit year.
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31, valid for the month.
    pub day: u32,
}

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

impl Date {
    /// A date, if it exists in the calendar (years −9999 to 9999).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        let month_of_year = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
        time::Date::from_calendar_date(year, month_of_year, u8::try_from(day).ok()?).ok()?;
        Some(Date { year, month, day })
    }

    /// Reads an ISO date (`2024-03-31`): `None` for other text or a date
    /// the calendar lacks.
    pub fn from_iso(text: &str) -> Option<Date> {
        let mut parts = text.split('-');
        let (Some(year), Some(month), Some(day), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        Date::new(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
    }

    /// Days since 1970-01-01 (negative before), for intervals.
    pub fn days_since_epoch(&self) -> i64 {
        i64::from(self.civil().to_julian_day()) - UNIX_EPOCH_JULIAN_DAY
    }

    /// The date `days` after 1970-01-01 (the first or last date the
    /// calendar holds, years −9999 and 9999, for days beyond them).
    pub fn from_days_since_epoch(days: i64) -> Date {
        let julian = days.saturating_add(UNIX_EPOCH_JULIAN_DAY);
        let (min, max) = (i64::from(time::Date::MIN.to_julian_day()), i64::from(time::Date::MAX.to_julian_day()));
        let date = time::Date::from_julian_day(julian.clamp(min, max) as i32).unwrap_or(time::Date::MIN);
        Date { year: date.year(), month: u32::from(u8::from(date.month())), day: u32::from(date.day()) }
    }

    /// As the date library holds it. The fields are public, so a date
    /// written out by hand may not exist: it is read as the nearest one
    /// that does (month and day within their ranges, the year within the
    /// calendar's).
    fn civil(&self) -> time::Date {
        let year = self.year.clamp(time::Date::MIN.year(), time::Date::MAX.year());
        let month = time::Month::try_from(self.month.clamp(1, 12) as u8).unwrap_or(time::Month::January);
        let day = (self.day.clamp(1, 31) as u8).min(month.length(year));
        time::Date::from_calendar_date(year, month, day).unwrap_or(time::Date::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_count() {
        assert_eq!(Date::new(1970, 1, 1).map(|d| d.days_since_epoch()), Some(0));
        assert_eq!(Date::new(2000, 3, 1).map(|d| d.days_since_epoch()), Some(11_017));
        for days in [-1000, 0, 11_017, 19_000, 20_000] {
            assert_eq!(Date::from_days_since_epoch(days).days_since_epoch(), days);
        }
        assert!(Date::new(2011, 2, 29).is_none());
        assert!(Date::new(2012, 2, 29).is_some());
        assert_eq!(Date::from_iso("2024-03-31"), Date::new(2024, 3, 31));
        for text in ["2024-02-30", "2024-03", "2024-03-31-1", "31/03/2024", ""] {
            assert_eq!(Date::from_iso(text), None, "{text}");
        }
        // Every day of four centuries round-trips, in order, through the
        // month lengths and leap years (1900 was not one, 2000 was).
        let mut previous = Date::new(1899, 12, 31).unwrap();
        for days in Date::new(1900, 1, 1).unwrap().days_since_epoch()..=Date::new(2299, 12, 31).unwrap().days_since_epoch() {
            let date = Date::from_days_since_epoch(days);
            assert_eq!(Date::new(date.year, date.month, date.day), Some(date));
            assert_eq!(date.days_since_epoch(), days);
            assert!(date > previous);
            previous = date;
        }
        assert!(Date::new(1900, 2, 29).is_none() && Date::new(2000, 2, 29).is_some());
        // Beyond the calendar's years, the first or last day it holds.
        assert_eq!(Date::from_days_since_epoch(i64::MAX), Date::new(9999, 12, 31).unwrap());
        assert_eq!(Date::from_days_since_epoch(i64::MIN), Date::new(-9999, 1, 1).unwrap());
        // A date written out by hand that does not exist counts as the
        // nearest one that does.
        assert_eq!(Date { year: 2011, month: 2, day: 31 }.days_since_epoch(), Date::new(2011, 2, 28).unwrap().days_since_epoch());
    }
}
