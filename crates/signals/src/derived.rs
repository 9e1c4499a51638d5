//! Perpetrator items that agencies seldom record but linkage can answer.
//!
//! The pilot found previous involvement (B1), number of perpetrators (B2,
//! B2a) and institutional networks (B10) mostly 0–25% reportable. A linked
//! history answers them for a perpetrator's record, always as a derived
//! answer beside (never in place of) what the agency recorded, with the
//! evidence it rests on. Each answer is a lower bound built from strong
//! links only, because a wrong answer here is an accusation. Only dated
//! records count, and only when every link of the person's profile (as the
//! view sees it) is very high, so that no weak link in a chain can carry
//! an answer.
//!
//! - **B1** "Yes, suspect" (an earlier case at the police, as perpetrator)
//!   or "Yes, person of concern" (elsewhere, or as a child displaying HSB)
//!   when the same person harmed a child in an earlier case, more than an
//!   incident's window before this one, and their recorded ages agree.
//!   Earlier records within an incident's window of each other are one
//!   case. Never "Yes, charged" (no agency uploads charges) and never "No"
//!   (a missed link is not evidence of absence).
//! - **B2** "No" and **B2a** the count when at least two people harmed the
//!   child in this incident: this record and the child's other records
//!   within the incident's window that also name this person, counting two
//!   harmers as different people only when one record names both (as
//!   different people) or both are identified and their recorded ages are
//!   years apart. Never "Yes": an unrecorded second perpetrator is not
//!   evidence of a lone one.
//! - **B10** "Yes (write in)" when this person and another perpetrator,
//!   surely a different person by the same test, harmed the same child in
//!   records whose location is an institution (a residential home, a
//!   school or college).
//!
//! Derived answers are given for perpetrators only, not for children
//! displaying HSB. B9 (facilitator for other abusers) is not derived:
//! records that name several harmers of one child cannot tell a facilitator
//! from a co-offender.

use std::collections::{BTreeSet, HashSet};

use crate::detect::{SignalConfig, AGE_TOLERANCE_YEARS, STRONG_LINK, YEAR_DAYS};
use crate::facts::{Facts, InvolvementFacts, RecordFacts, Role};
use crate::Profiles;

/// One derived answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The template field id (e.g. `perpetrator.previous_involvement`).
    pub field_id: &'static str,
    /// The answer, in the template's wording.
    pub value: String,
    /// What it rests on, in words (no identifiers).
    pub basis: String,
}

/// The agency type whose records of a perpetrator make them a suspect
/// (B1).
const POLICE: &str = "police";

/// Most harmer involvements weighed for one incident (B2a); beyond it the
/// answer rests on the first of them alone.
const MAX_INCIDENT_HARMERS: usize = 64;

/// One involvement with its record.
type Involved<'a> = (u64, &'a InvolvementFacts, &'a RecordFacts);

/// The person's estimated year of birth (in years since 1970) from an
/// involvement's recorded age.
fn birth(involvement: &InvolvementFacts, record: &RecordFacts) -> Option<f64> {
    Some(f64::from(record.day) / YEAR_DAYS - f64::from(involvement.age?))
}

/// Recorded ages that put two births further apart than the tolerance.
fn ages_apart(a: &Involved<'_>, b: &Involved<'_>) -> bool {
    matches!((birth(a.1, a.2), birth(b.1, b.2)), (Some(x), Some(y)) if (x - y).abs() > AGE_TOLERANCE_YEARS)
}

/// A record with a date (day 0 is a record without one).
fn dated(record: &RecordFacts) -> bool {
    record.day != 0
}

/// Two harmer involvements that are surely two people: a record names
/// both people as different involvements (one of them, or another record
/// of the same person, beside the other), or both are identified and their
/// recorded ages are years apart.
fn surely_two(a: &Involved<'_>, b: &Involved<'_>, key_of: &dyn Fn(u64) -> Option<u64>) -> bool {
    let (ka, kb) = (key_of(a.0), key_of(b.0));
    if a.0 == b.0 || (ka.is_some() && ka == kb) {
        return false;
    }
    // Whether `record` names the person of `who` (that involvement, or one
    // of the same profile) in an involvement other than `besides`.
    let names = |record: &RecordFacts, who: &Involved<'_>, key: Option<u64>, besides: u64| {
        record.involvements.iter().any(|&x| x != besides && (x == who.0 || (key.is_some() && key_of(x) == key)))
    };
    names(b.2, a, ka, b.0) || names(a.2, b, kb, a.0) || (a.1.identified && b.1.identified && ages_apart(a, b))
}

/// The derived answers for involvement `id` (a perpetrator) as the view
/// sees it: only involvements the view includes are used, so a
/// partnership's answer rests on its own records.
pub fn derive(config: &SignalConfig, facts: &Facts, profiles: &impl Profiles, id: u64) -> Vec<Derived> {
    let Some((involvement, record)) = facts.with_record(id) else {
        return Vec::new();
    };
    let this: Involved<'_> = (id, involvement, record);
    if involvement.role != Role::Perpetrator || !involvement.identified || !dated(record) || !profiles.includes(id) {
        return Vec::new();
    }
    let members: Vec<Involved<'_>> = profiles.members(id).into_iter().filter_map(|m| facts.with_record(m).map(|(i, r)| (m, i, r))).collect();
    // A weak link anywhere in the profile may be what ties this record to
    // the others: then nothing is derived from them.
    if members.iter().any(|m| m.1.link < STRONG_LINK) {
        return Vec::new();
    }
    let key_of = |id: u64| facts.involvement(id).filter(|i| i.identified).map(|_| profiles.key(id));
    let mut out = Vec::new();
    previous_involvement(config, facts, &this, &members, &mut out);
    perpetrator_count(config, facts, profiles, &this, &members, &key_of, &mut out);
    institutional_network(facts, profiles, &this, &members, &key_of, &mut out);
    out
}

fn agency_type<'a>(facts: &'a Facts, record: &RecordFacts) -> &'a str {
    facts.agencies().get(usize::from(record.agency)).map_or("", |(_, kind)| kind.as_str())
}

/// B1: the same person harmed a child in an earlier case.
fn previous_involvement(config: &SignalConfig, facts: &Facts, this: &Involved<'_>, members: &[Involved<'_>], out: &mut Vec<Derived>) {
    let mut earlier: Vec<&Involved<'_>> = members
        .iter()
        .filter(|m| {
            m.1.role.is_harmer() && m.1.record != this.1.record && dated(m.2) && m.2.day < this.2.day - config.same_incident_days && !ages_apart(this, m)
        })
        .collect();
    if earlier.is_empty() {
        return;
    }
    earlier.sort_by_key(|m| m.2.day);
    // Records within an incident's window of each other are one case.
    let mut cases = 0;
    let mut start = i32::MIN;
    for m in &earlier {
        if cases == 0 || m.2.day - start > config.same_incident_days {
            cases += 1;
            start = m.2.day;
        }
    }
    let suspect = earlier.iter().any(|m| m.1.role == Role::Perpetrator && agency_type(facts, m.2) == POLICE);
    let mut types: Vec<&str> = earlier.iter().map(|m| agency_type(facts, m.2)).filter(|t| !t.is_empty()).collect();
    types.sort_unstable();
    types.dedup();
    out.push(Derived {
        field_id: "perpetrator.previous_involvement",
        value: if suspect { "Yes, suspect" } else { "Yes, person of concern" }.to_owned(),
        basis: format!(
            "derived: {cases} earlier case{} as a harmer ({}), the first {} days before this one; every link very high",
            if cases == 1 { "" } else { "s" },
            if types.is_empty() { "agency type not stated".to_owned() } else { types.join(", ").replace('_', " ") },
            this.2.day - earlier[0].2.day
        ),
    });
}

/// B2 and B2a: at least two people harmed the child in this incident.
fn perpetrator_count(
    config: &SignalConfig,
    facts: &Facts,
    profiles: &impl Profiles,
    this: &Involved<'_>,
    members: &[Involved<'_>],
    key_of: &dyn Fn(u64) -> Option<u64>,
    out: &mut Vec<Derived>,
) {
    // The records of this person in the incident's window.
    let own: HashSet<u32> = members.iter().filter(|m| dated(m.2) && (m.2.day - this.2.day).abs() <= config.same_incident_days).map(|m| m.1.record).collect();
    // The incident: this record and those of them that name one of this
    // record's victims (linked with very high confidence).
    let mut records: BTreeSet<u32> = BTreeSet::from([this.1.record]);
    let mut victims_seen: HashSet<u64> = HashSet::new();
    for &victim in &this.2.involvements {
        if !profiles.includes(victim) || !facts.involvement(victim).is_some_and(|v| v.role.is_victim() && v.link >= STRONG_LINK) {
            continue;
        }
        if !victims_seen.insert(profiles.key(victim)) {
            continue;
        }
        for member in profiles.members(victim) {
            if let Some(m) = facts.involvement(member) {
                if m.role.is_victim() && m.link >= STRONG_LINK && own.contains(&m.record) {
                    records.insert(m.record);
                }
            }
        }
    }
    let mut harmers: Vec<Involved<'_>> = Vec::new();
    for &slot in &records {
        let Some(record) = facts.record(slot) else { continue };
        for &id in &record.involvements {
            if let Some(involvement) = facts.involvement(id).filter(|i| i.role.is_harmer() && profiles.includes(id)) {
                harmers.push((id, involvement, record));
            }
        }
    }
    harmers.truncate(MAX_INCIDENT_HARMERS);
    // A lower bound on the people: a set of harmers that are pairwise
    // surely two people, grown from this person.
    let mut people: Vec<&Involved<'_>> = vec![this];
    for harmer in &harmers {
        if people.iter().all(|p| surely_two(p, harmer, key_of)) {
            people.push(harmer);
        }
    }
    let count = people.len();
    if count < 2 {
        return;
    }
    let agencies: HashSet<u16> = records.iter().filter_map(|&slot| facts.record(slot)).map(|r| r.agency).collect();
    let basis = format!(
        "derived: at least {count} people harmed the child in this incident ({} record{} of this person at {} agenc{}); counted as different people only when one record names both or their recorded ages are years apart",
        records.len(),
        if records.len() == 1 { "" } else { "s" },
        agencies.len(),
        if agencies.len() == 1 { "y" } else { "ies" }
    );
    out.push(Derived { field_id: "perpetrator.lone", value: "No".to_owned(), basis: basis.clone() });
    out.push(Derived { field_id: "perpetrator.count", value: count.to_string(), basis });
}

/// B10: this person and another harmed the same child in an institution.
fn institutional_network(
    facts: &Facts,
    profiles: &impl Profiles,
    this: &Involved<'_>,
    members: &[Involved<'_>],
    key_of: &dyn Fn(u64) -> Option<u64>,
    out: &mut Vec<Derived>,
) {
    let mut others: HashSet<u64> = HashSet::new();
    let mut children: HashSet<u64> = HashSet::new();
    let mut victims_seen: HashSet<u64> = HashSet::new();
    let mine = members.iter().filter(|m| m.1.role == Role::Perpetrator && m.2.institution && !ages_apart(this, m));
    for me in mine {
        for &victim in &me.2.involvements {
            if !profiles.includes(victim) || !facts.involvement(victim).is_some_and(|v| v.role.is_victim() && v.link >= STRONG_LINK) {
                continue;
            }
            let child = profiles.key(victim);
            if !victims_seen.insert(child) {
                continue;
            }
            for member in profiles.members(victim) {
                let Some((m, theirs)) = facts.with_record(member) else { continue };
                if !m.role.is_victim() || m.link < STRONG_LINK || !theirs.institution {
                    continue;
                }
                for &harmer in &theirs.involvements {
                    let Some(h) = facts.involvement(harmer) else { continue };
                    if h.role != Role::Perpetrator || !h.identified || h.link < STRONG_LINK || !profiles.includes(harmer) {
                        continue;
                    }
                    let other: Involved<'_> = (harmer, h, theirs);
                    if surely_two(me, &other, key_of) {
                        others.insert(profiles.key(harmer));
                        children.insert(child);
                    }
                }
            }
        }
    }
    if others.is_empty() {
        return;
    }
    out.push(Derived {
        field_id: "perpetrator.institutional_network",
        value: "Yes (write in)".to_owned(),
        basis: format!(
            "derived: harmed {} child{} also harmed by {} other {} in records whose location is a residential home or a school or college",
            children.len(),
            if children.len() == 1 { "" } else { "ren" },
            others.len(),
            if others.len() == 1 { "person" } else { "people" }
        ),
    });
}

#[cfg(test)]
mod tests;
