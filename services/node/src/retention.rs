//! Retention: how long each agency's records are kept, and which records a
//! sweep erases. The sweep itself is [`crate::engine::Engine::erase`], the
//! same path as an agency's withdrawal, followed by a compaction so that the
//! erased records' pseudonyms are gone from the files on disk too.
//!
//! A rule keeps a record until the later of
//! * `years_after_last_event` years after the record's last event (the
//!   latest of its referral, incident start and last occurrence dates), and
//! * the `until_age` birthday of its youngest victim, where the record gives
//!   an age at referral: the node holds no date of birth, so the birthday is
//!   taken at its latest possible day (`referral + (until_age − age)`
//!   years), never early.
//!
//! A record neither part applies to (no dates, or a rule with no
//! `years_after_last_event` and no age recorded) is kept. An agency without
//! a rule of its own follows `default`; with neither, its records are kept.

use std::collections::BTreeMap;

use braid_store::{BodyAnswer, RecordBody};
use braid_template::Date;
use serde::Deserialize;

/// The template item that gives a victim's age at referral.
const AGE_AT_REFERRAL: &str = "victim.age_at_referral";

/// `[retention]` in the node's config.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Minutes between scheduled sweeps (0: only when an administrator runs
    /// `braid admin retention`). Nothing is swept while no rule is set.
    pub sweep_minutes: u64,
    /// The rule for every agency without its own.
    pub default: Option<RetentionRule>,
    /// Rules by agency code.
    pub agencies: BTreeMap<String, RetentionRule>,
}

impl Default for RetentionSettings {
    fn default() -> RetentionSettings {
        RetentionSettings { sweep_minutes: 24 * 60, default: None, agencies: BTreeMap::new() }
    }
}

/// How long one agency's records are kept.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionRule {
    /// Keep a record this many years after its last event.
    pub years_after_last_event: Option<u32>,
    /// And keep it, where an age at referral is recorded, until its
    /// youngest victim is this old.
    pub until_age: Option<u32>,
}

impl RetentionRule {
    /// The rule in words, for `braid admin retention`.
    pub fn describe(&self) -> String {
        match (self.years_after_last_event, self.until_age) {
            (None, None) => "kept".to_owned(),
            (Some(years), None) => format!("{years} years after the last event"),
            (None, Some(age)) => format!("until the youngest victim is {age}, where an age at referral is recorded"),
            (Some(years), Some(age)) => {
                format!("{years} years after the last event, or until the youngest victim is {age} where an age at referral is recorded, whichever is later")
            }
        }
    }
}

impl RetentionSettings {
    /// Whether any agency's records can expire.
    pub fn any_rule(&self) -> bool {
        let expires = |rule: &RetentionRule| rule.years_after_last_event.is_some() || rule.until_age.is_some();
        self.default.as_ref().is_some_and(expires) || self.agencies.values().any(expires)
    }

    /// The rule for `agency`.
    pub fn rule_for(&self, agency: &str) -> Option<RetentionRule> {
        self.agencies.get(agency).copied().or(self.default)
    }

    /// Checks the settings' bounds.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rule) in self.default.iter().map(|r| ("default", r)).chain(self.agencies.iter().map(|(a, r)| (a.as_str(), r))) {
            if rule.years_after_last_event.is_some_and(|y| y == 0 || y > 200) {
                return Err(format!("[retention] {name}: years_after_last_event must be 1 to 200"));
            }
            if rule.until_age.is_some_and(|a| a == 0 || a > 150) {
                return Err(format!("[retention] {name}: until_age must be 1 to 150"));
            }
        }
        if self.sweep_minutes > 366 * 24 * 60 {
            return Err("[retention] sweep_minutes must be at most a year (527040)".to_owned());
        }
        Ok(())
    }
}

/// `days` moved on by whole `years` (29 February becomes 28 February).
fn add_years(days: i64, years: u32) -> i64 {
    let date = Date::from_days_since_epoch(days);
    let year = date.year.saturating_add(i32::try_from(years).unwrap_or(i32::MAX));
    let day = if date.month == 2 && date.day == 29 && Date::new(year, 2, 29).is_none() { 28 } else { date.day };
    Date::new(year, date.month, day).map_or(i64::MAX, |d| d.days_since_epoch())
}

/// The first day on which `record` is no longer kept under `rule` (days
/// since 1970-01-01), or `None` when it is kept.
pub fn expires_on(record: &RecordBody, rule: &RetentionRule) -> Option<i64> {
    // A stored date that is not a real one counts as no date.
    let day = crate::record::body_day;
    let last_event = [record.referral_date, record.incident_start, record.last_occurrence].into_iter().filter_map(day).max();
    let by_event = rule.years_after_last_event.zip(last_event).map(|(years, day)| add_years(day, years) + 1);
    let by_age = rule.until_age.and_then(|until| {
        let referral = day(record.referral_date).or(last_event)?;
        let youngest = record
            .involvements
            .iter()
            .flat_map(|involvement| &involvement.fields)
            .filter(|field| field.field_id == AGE_AT_REFERRAL)
            .filter_map(|field| match field.answer {
                Some(BodyAnswer::Integer(age)) => u32::try_from(age).ok(),
                _ => None,
            })
            .min()?;
        // A victim already that old at referral: the age part does not
        // apply (it never shortens what the years part keeps).
        (youngest < until).then(|| add_years(referral, until - youngest) + 1)
    });
    match (by_event, by_age) {
        (None, None) => None,
        (Some(a), None) | (None, Some(a)) => Some(a),
        (Some(a), Some(b)) => Some(a.max(b)),
    }
}

/// What a sweep would erase from one agency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgencyRetention {
    /// The agency's code.
    pub agency: String,
    /// Its rule in words.
    pub rule: String,
    /// Records it holds.
    pub records: u64,
    /// Of those, records past their retention date.
    pub expired: u64,
    /// The earliest retention date among the records kept (days since
    /// 1970-01-01), if any will expire.
    pub next_expiry: Option<i64>,
    /// The expired records' refs.
    pub expired_refs: Vec<String>,
}

/// Today by the node's clock, in days since 1970-01-01 (UTC): the day
/// sweeps and uploads compare retention dates with.
pub fn today() -> i64 {
    i64::try_from(crate::audit::now_ms() / 86_400_000).unwrap_or(i64::MAX)
}

/// Whether `record` is past its retention date on `today` under `rule`.
pub fn expired(record: &RecordBody, rule: &RetentionRule, today: i64) -> bool {
    expires_on(record, rule).is_some_and(|day| day <= today)
}

/// What one sweep found and did.
#[derive(Debug, Clone, Default)]
pub struct Sweep {
    /// Every agency holding records, as found before erasing.
    pub agencies: Vec<AgencyRetention>,
    /// Records erased.
    pub erased: u32,
    /// The day the dates were compared with (days since 1970-01-01, UTC).
    pub today: i64,
    /// The audit entry written for the erasure, when one was.
    pub audit_index: Option<u64>,
    /// Whether the store was compacted (erased data gone from its files):
    /// after an erasure, or one whose compaction an earlier sweep, a key
    /// rotation or a stop cut short.
    pub compacted: bool,
}

/// What a sweep does with what it finds.
pub enum Then {
    /// Only report (a dry run).
    Report,
    /// Erase it, with this audit entry, even when nothing expired (the
    /// entry records that an administrator asked).
    Erase(braid_audit::Entry),
    /// Erase it, with this audit entry, only when something expired (a
    /// scheduled sweep that finds nothing leaves no entry).
    EraseAny(braid_audit::Entry),
}

/// Finds what has expired by the node's clock and does `then` with it
/// (one audit entry for the whole sweep).
pub fn sweep(engine: &crate::engine::Engine, settings: &RetentionSettings, then: Then) -> Result<Sweep, crate::engine::EngineError> {
    let today = today();
    let agencies = engine.retention_plan(settings, today)?;
    let report = matches!(then, Then::Report);
    let entry = match then {
        Then::Report => None,
        Then::Erase(entry) => Some(entry),
        Then::EraseAny(entry) => agencies.iter().any(|a| a.expired > 0).then_some(entry),
    };
    let (erased, audit_index, compacted) = match entry {
        Some(mut entry) => {
            // Whose records went, for the auditor: per agency, as planned
            // (the entry's count is what was erased).
            let planned: Vec<String> = agencies.iter().filter(|a| a.expired > 0).map(|a| format!("{} {}", a.agency, a.expired)).collect();
            let summary = if planned.is_empty() { "none expired".to_owned() } else { format!("expired: {}", planned.join(", ")) };
            entry.purpose = if entry.purpose.is_empty() { summary } else { format!("{}; {summary}", entry.purpose) };
            let (erased, index, compacted) = engine.erase_expired(settings, today, &agencies, entry)?;
            (erased, Some(index), compacted)
        }
        None if report => (0, None, false),
        None => (0, None, engine.pay_owed_compaction("erased records")),
    };
    Ok(Sweep { agencies, erased, today, audit_index, compacted })
}

/// The audit entry of a scheduled sweep: the node acting on its own.
pub fn scheduled_entry() -> braid_audit::Entry {
    crate::audit::node_entry("retention.sweep", "scheduled retention sweep")
}

#[cfg(test)]
mod tests {
    use super::*;
    use braid_store::{BodyDate, BodyInvolvement, BodyValue};

    fn date(year: i32, month: i32, day: i32) -> Option<BodyDate> {
        Some(BodyDate { year, month, day })
    }

    fn days(year: i32, month: u32, day: u32) -> i64 {
        Date::new(year, month, day).expect("date").days_since_epoch()
    }

    fn record(referral: Option<BodyDate>, last: Option<BodyDate>, ages: &[i64]) -> RecordBody {
        RecordBody {
            referral_date: referral,
            last_occurrence: last,
            involvements: ages
                .iter()
                .map(|age| BodyInvolvement {
                    fields: vec![BodyValue { field_id: AGE_AT_REFERRAL.to_owned(), answer: Some(BodyAnswer::Integer(*age)), write_in: String::new() }],
                    ..BodyInvolvement::default()
                })
                .collect(),
            ..RecordBody::default()
        }
    }

    #[test]
    fn a_record_expires_the_day_after_its_years_from_the_last_event() {
        let rule = RetentionRule { years_after_last_event: Some(7), until_age: None };
        let r = record(date(2010, 3, 1), date(2012, 6, 30), &[]);
        assert_eq!(expires_on(&r, &rule), Some(days(2019, 6, 30) + 1));
        // 29 February moves to 28 February in a year that has none.
        let leap = record(date(2012, 2, 29), None, &[]);
        assert_eq!(expires_on(&leap, &RetentionRule { years_after_last_event: Some(1), until_age: None }), Some(days(2013, 2, 28) + 1));
        // No date: kept.
        assert_eq!(expires_on(&record(None, None, &[]), &rule), None);
    }

    #[test]
    fn an_age_keeps_a_record_until_the_youngest_victim_is_past_the_age_and_never_shortens_it() {
        let rule = RetentionRule { years_after_last_event: Some(2), until_age: Some(25) };
        // Aged 9 at referral on 1 May 2015: 25 by 1 May 2031 at the latest.
        let r = record(date(2015, 5, 1), None, &[14, 9]);
        assert_eq!(expires_on(&r, &rule), Some(days(2031, 5, 1) + 1));
        // Older than the age already: the years rule decides.
        let adult = record(date(2015, 5, 1), None, &[30]);
        assert_eq!(expires_on(&adult, &rule), Some(days(2017, 5, 1) + 1));
        // Only the age rule, and no age recorded: kept; nor is a record of
        // someone past the age at referral erased by the age rule alone.
        let only_age = RetentionRule { years_after_last_event: None, until_age: Some(25) };
        assert_eq!(expires_on(&record(date(2015, 5, 1), None, &[]), &only_age), None);
        assert_eq!(expires_on(&record(date(2015, 5, 1), None, &[30]), &only_age), None);
    }

    #[test]
    fn settings_are_bounded_and_an_agency_rule_overrides_the_default() {
        let mut settings = RetentionSettings::default();
        assert!(!settings.any_rule());
        settings.default = Some(RetentionRule { years_after_last_event: Some(6), until_age: None });
        settings.agencies.insert("CSC".to_owned(), RetentionRule { years_after_last_event: Some(10), until_age: Some(25) });
        assert!(settings.any_rule() && settings.validate().is_ok());
        assert_eq!(settings.rule_for("CSC").and_then(|r| r.years_after_last_event), Some(10));
        assert_eq!(settings.rule_for("POL").and_then(|r| r.years_after_last_event), Some(6));
        settings.default = Some(RetentionRule { years_after_last_event: Some(0), until_age: None });
        assert!(settings.validate().is_err());
    }
}
