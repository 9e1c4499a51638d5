//! Perpetrator items that agencies seldom record but linkage can answer.
//!
//! The pilot found previous involvement (B1), number of perpetrators (B2,
//! B2a) and institutional networks (B10) mostly 0–25% reportable. A linked
//! history answers them for a perpetrator's record, always as a derived
//! answer beside (never in place of) what the agency recorded, with the
//! evidence it rests on. Each answer is a lower bound built from strong
//! links only, because a wrong answer here is an accusation:
//!
//! - **B1** "Yes, suspect" (an earlier case at the police) or "Yes, person
//!   of concern" (at another agency) when the same person harmed a child in
//!   an earlier case, more than an incident's window before this one, and
//!   both records were linked with very high confidence and their recorded
//!   ages agree. Never "Yes, charged" (no agency uploads charges) and never
//!   "No" (a missed link is not evidence of absence).
//! - **B2** "No" and **B2a** the count when at least two people are known to
//!   have harmed the child in this incident: the records of the child (linked
//!   with very high confidence) within the incident's window, counting two
//!   harmers as different people only when one record names both or their
//!   recorded ages are years apart. Never "Yes": an unrecorded second
//!   perpetrator is not evidence of a lone one.
//! - **B10** "Yes (write in)" when this person and at least one other person
//!   harmed the same child in records whose location is an institution (a
//!   residential home, a school or college).
//!
//! B9 (facilitator for other abusers) is not derived: records that name
//! several harmers of one child cannot tell a facilitator from a co-offender.

use std::collections::{BTreeSet, HashSet};

use crate::detect::{SignalConfig, AGE_TOLERANCE_YEARS, STRONG_LINK, YEAR_DAYS};
use crate::facts::{Facts, InvolvementFacts, RecordFacts};
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

/// The agency type whose records of a harmer make them a suspect (B1).
const POLICE: &str = "police";

/// Most harmer involvements weighed for one incident (B2a); beyond it the
/// answer rests on the record naming the most harmers alone.
const MAX_INCIDENT_HARMERS: usize = 64;

/// The person's estimated year of birth (in years since 1970) from an
/// involvement's recorded age.
fn birth(involvement: &InvolvementFacts, record: &RecordFacts) -> Option<f64> {
    Some(f64::from(record.day) / YEAR_DAYS - f64::from(involvement.age?))
}

/// Recorded ages that put two births further apart than the tolerance.
fn ages_apart(a: (&InvolvementFacts, &RecordFacts), b: (&InvolvementFacts, &RecordFacts)) -> bool {
    matches!((birth(a.0, a.1), birth(b.0, b.1)), (Some(x), Some(y)) if (x - y).abs() > AGE_TOLERANCE_YEARS)
}

/// Two involvements of one profile that are safe to take as one person:
/// both linked with very high confidence and their recorded ages agree.
fn surely_one(a: (&InvolvementFacts, &RecordFacts), b: (&InvolvementFacts, &RecordFacts)) -> bool {
    a.0.link >= STRONG_LINK && b.0.link >= STRONG_LINK && !ages_apart(a, b)
}

/// The derived answers for involvement `id` (a perpetrator or a child
/// displaying HSB) as the view sees it: only involvements the view includes
/// are used, so a partnership's answer rests on its own records.
pub fn derive(config: &SignalConfig, facts: &Facts, profiles: &impl Profiles, id: u64) -> Vec<Derived> {
    let Some(this) = facts.with_record(id) else {
        return Vec::new();
    };
    if !this.0.role.is_harmer() || !this.0.identified || !profiles.includes(id) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let members: Vec<(u64, (&InvolvementFacts, &RecordFacts))> = profiles.members(id).into_iter().filter_map(|m| Some((m, facts.with_record(m)?))).collect();
    previous_involvement(config, facts, this, &members, &mut out);
    perpetrator_count(config, facts, profiles, this, &mut out);
    institutional_network(facts, profiles, id, this, &members, &mut out);
    out
}

fn agency_type<'a>(facts: &'a Facts, record: &RecordFacts) -> &'a str {
    facts.agencies().get(usize::from(record.agency)).map_or("", |(_, kind)| kind.as_str())
}

/// B1: the same person harmed a child in an earlier case.
fn previous_involvement(
    config: &SignalConfig,
    facts: &Facts,
    this: (&InvolvementFacts, &RecordFacts),
    members: &[(u64, (&InvolvementFacts, &RecordFacts))],
    out: &mut Vec<Derived>,
) {
    let earlier: Vec<&RecordFacts> = members
        .iter()
        .map(|(_, m)| *m)
        .filter(|m| m.0.role.is_harmer() && m.0.record != this.0.record && m.1.day < this.1.day - config.same_incident_days && surely_one(this, *m))
        .map(|m| m.1)
        .collect();
    let Some(first) = earlier.iter().map(|r| r.day).min() else {
        return;
    };
    let police = earlier.iter().any(|r| agency_type(facts, r) == POLICE);
    let mut types: Vec<&str> = earlier.iter().map(|r| agency_type(facts, r)).filter(|t| !t.is_empty()).collect();
    types.sort_unstable();
    types.dedup();
    let cases = earlier.len();
    out.push(Derived {
        field_id: "perpetrator.previous_involvement",
        value: if police { "Yes, suspect" } else { "Yes, person of concern" }.to_owned(),
        basis: format!(
            "derived: {cases} earlier case{} as a harmer ({}), the first {} days before this one; linked with very high confidence",
            if cases == 1 { "" } else { "s" },
            if types.is_empty() { "agency type not stated".to_owned() } else { types.join(", ").replace('_', " ") },
            this.1.day - first
        ),
    });
}

/// B2 and B2a: at least two people harmed the child in this incident.
fn perpetrator_count(config: &SignalConfig, facts: &Facts, profiles: &impl Profiles, this: (&InvolvementFacts, &RecordFacts), out: &mut Vec<Derived>) {
    // The incident: this record and the child's other records within the
    // window, each tied to this record's victim with very high confidence.
    let mut records: BTreeSet<u32> = BTreeSet::from([this.0.record]);
    for &victim in &this.1.involvements {
        if !profiles.includes(victim) || !facts.involvement(victim).is_some_and(|v| v.role.is_victim() && v.link >= STRONG_LINK) {
            continue;
        }
        for member in profiles.members(victim) {
            if let Some((m, record)) = facts.with_record(member) {
                if m.role.is_victim() && m.link >= STRONG_LINK && (record.day - this.1.day).abs() <= config.same_incident_days {
                    records.insert(m.record);
                }
            }
        }
    }
    // Every harmer of the incident: (record slot, profile key if
    // identified, facts).
    let mut harmers: Vec<(u32, Option<u64>, (&InvolvementFacts, &RecordFacts))> = Vec::new();
    for &slot in &records {
        let Some(record) = facts.record(slot) else { continue };
        for &id in &record.involvements {
            if let Some(involvement) = facts.involvement(id).filter(|i| i.role.is_harmer() && profiles.includes(id)) {
                harmers.push((slot, involvement.identified.then(|| profiles.key(id)), (involvement, record)));
            }
        }
    }
    // A lower bound on the people: grow a set of harmers that are pairwise
    // surely different people (named in one record, or ages years apart),
    // starting from the record that names the most.
    let named_in = |slot: u32| harmers.iter().filter(|h| h.0 == slot).count();
    let Some(&widest) = records.iter().max_by_key(|&&slot| (named_in(slot), std::cmp::Reverse(slot))) else {
        return;
    };
    let mut people: Vec<usize> = (0..harmers.len()).filter(|&i| harmers[i].0 == widest).collect();
    if harmers.len() <= MAX_INCIDENT_HARMERS {
        for i in 0..harmers.len() {
            let distinct = |j: &usize| {
                let (a, b) = (&harmers[i], &harmers[*j]);
                let same_key = a.1.is_some() && a.1 == b.1;
                !same_key && (a.0 == b.0 || ages_apart(a.2, b.2))
            };
            if !people.contains(&i) && people.iter().all(distinct) {
                people.push(i);
            }
        }
    }
    let count = people.len();
    if count < 2 {
        return;
    }
    let agencies: HashSet<u16> = records.iter().filter_map(|&slot| facts.record(slot)).map(|r| r.agency).collect();
    let basis = format!(
        "derived: at least {count} people harmed the child in this incident ({} record{} at {} agenc{}); counted as different people only when one record names both or their recorded ages are years apart",
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
    id: u64,
    this: (&InvolvementFacts, &RecordFacts),
    members: &[(u64, (&InvolvementFacts, &RecordFacts))],
    out: &mut Vec<Derived>,
) {
    let own = profiles.key(id);
    let mut others: HashSet<u64> = HashSet::new();
    let mut children: HashSet<u64> = HashSet::new();
    let mine = members.iter().filter(|(m, f)| f.0.role.is_harmer() && f.1.institution && (*m == id || surely_one(this, *f)));
    for (_, (_, record)) in mine {
        for &victim in &record.involvements {
            if !profiles.includes(victim) || !facts.involvement(victim).is_some_and(|v| v.role.is_victim() && v.link >= STRONG_LINK) {
                continue;
            }
            for member in profiles.members(victim) {
                let Some((m, theirs)) = facts.with_record(member) else { continue };
                if !m.role.is_victim() || m.link < STRONG_LINK || !theirs.institution {
                    continue;
                }
                for &harmer in &theirs.involvements {
                    let Some(h) = facts.involvement(harmer) else { continue };
                    if h.role.is_harmer() && h.identified && h.link >= STRONG_LINK && profiles.includes(harmer) && profiles.key(harmer) != own {
                        others.insert(profiles.key(harmer));
                        children.insert(profiles.key(victim));
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
