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
//! an answer, and the ages its harmer records give agree (a profile that
//! holds a father and a son derives nothing).
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

/// Most harmer involvements weighed for one incident (B2a); beyond it only
/// the first this many are.
const MAX_INCIDENT_HARMERS: usize = 64;

/// One involvement with its record.
type Involved<'a> = (u64, &'a InvolvementFacts, &'a RecordFacts);

/// The person's estimated year of birth (in years since 1970) from an
/// involvement's recorded age (none for an undated record).
fn birth(involvement: &InvolvementFacts, record: &RecordFacts) -> Option<f64> {
    if !dated(record) {
        return None;
    }
    Some(f64::from(record.day) / YEAR_DAYS - f64::from(involvement.age?))
}

/// Recorded ages that put two births further apart than the tolerance.
fn ages_apart(a: &Involved<'_>, b: &Involved<'_>) -> bool {
    matches!((birth(a.1, a.2), birth(b.1, b.2)), (Some(x), Some(y)) if (x - y).abs() > AGE_TOLERANCE_YEARS)
}

/// A record with a date (day 0 is a record without one).
fn dated(record: &RecordFacts) -> bool {
    record.dated()
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

/// The derived answers for each of `ids`, involvements of one profile (the
/// records a profile view shows), in their order, as the view sees them:
/// only involvements the view includes are used, so a partnership's answer
/// rests on its own records. The profile is walked once, not once per
/// record.
pub fn derive_profile(config: &SignalConfig, facts: &Facts, profiles: &impl Profiles, ids: &[u64]) -> Vec<Vec<Derived>> {
    let mut out = vec![Vec::new(); ids.len()];
    let Some(&first) = ids.first() else {
        return out;
    };
    let members: Vec<Involved<'_>> = profiles.members(first).into_iter().filter_map(|m| facts.with_record(m).map(|(i, r)| (m, i, r))).collect();
    // A weak link anywhere in the profile (records outside the view
    // included: one of them may be what ties two of the view's records
    // together) and recorded ages years apart mean it may hold two people:
    // then nothing is derived from it.
    if profiles.every_member(first).into_iter().any(|m| facts.involvement(m).is_some_and(|i| i.link < STRONG_LINK)) {
        return out;
    }
    let births: Vec<f64> = members.iter().filter(|m| m.1.role.is_harmer()).filter_map(|m| birth(m.1, m.2)).collect();
    let (low, high) = births.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &b| (l.min(b), h.max(b)));
    if high - low > AGE_TOLERANCE_YEARS {
        return out;
    }
    let key_of = |id: u64| facts.involvement(id).filter(|i| i.identified).map(|_| profiles.key(id));
    let history = History::new(config, facts, &members);
    // B10 is the person's, whichever of their records is shown.
    let mut network: Option<Option<Derived>> = None;
    for (slot, &id) in out.iter_mut().zip(ids) {
        let Some((involvement, record)) = facts.with_record(id) else { continue };
        let this: Involved<'_> = (id, involvement, record);
        let of_this_profile = profiles.includes(id) && profiles.key(id) == profiles.key(first);
        if involvement.role != Role::Perpetrator || !involvement.identified || !dated(record) || !of_this_profile {
            continue;
        }
        previous_involvement(config, &history, &this, slot);
        perpetrator_count(config, facts, profiles, &this, &history, &key_of, slot);
        let answer = network.get_or_insert_with(|| institutional_network(facts, profiles, &members, &key_of));
        slot.extend(answer.clone());
    }
    out
}

fn agency_type<'a>(facts: &'a Facts, record: &RecordFacts) -> &'a str {
    facts.agencies().get(usize::from(record.agency)).map_or("", |(_, kind)| kind.as_str())
}

/// A person's dated records, oldest first, worked out once per profile so
/// that each shown record's answers cost a binary search, not a walk.
struct History<'a> {
    /// Every dated record in which the person harmed: (day, record slot).
    dated: Vec<(i32, u32)>,
    /// The dated harmer members, oldest first.
    harmed: Vec<&'a Involved<'a>>,
    /// Cases among `harmed[..=i]` (records within an incident's window of
    /// a case's first record are that case).
    cases: Vec<usize>,
    /// The first position in `harmed` of a perpetrator record at the
    /// police.
    police: Option<usize>,
    /// Each agency type's first position in `harmed`.
    types: Vec<(&'a str, usize)>,
}

impl<'a> History<'a> {
    fn new(config: &SignalConfig, facts: &'a Facts, members: &'a [Involved<'a>]) -> History<'a> {
        let mut by_day: Vec<(i32, u32)> = members.iter().filter(|m| m.1.role.is_harmer() && dated(m.2)).map(|m| (m.2.day, m.1.record)).collect();
        by_day.sort_unstable();
        let mut harmed: Vec<&Involved<'_>> = members.iter().filter(|m| m.1.role.is_harmer() && dated(m.2)).collect();
        harmed.sort_by_key(|m| (m.2.day, m.0));
        let (mut cases, mut count, mut start) = (Vec::with_capacity(harmed.len()), 0, i32::MIN);
        let (mut police, mut types): (Option<usize>, Vec<(&str, usize)>) = (None, Vec::new());
        for (i, m) in harmed.iter().enumerate() {
            if count == 0 || m.2.day - start > config.same_incident_days {
                count += 1;
                start = m.2.day;
            }
            cases.push(count);
            let kind = agency_type(facts, m.2);
            if police.is_none() && m.1.role == Role::Perpetrator && kind == POLICE {
                police = Some(i);
            }
            if !kind.is_empty() && !types.iter().any(|(t, _)| *t == kind) {
                types.push((kind, i));
            }
        }
        History { dated: by_day, harmed, cases, police, types }
    }

    /// The record slots of the person's records as a harmer within
    /// `window` days of `day`.
    fn records_near(&self, day: i32, window: i32) -> HashSet<u32> {
        let from = self.dated.partition_point(|(d, _)| *d < day - window);
        self.dated[from..].iter().take_while(|(d, _)| *d <= day + window).map(|(_, record)| *record).collect()
    }
}

/// B1: the same person harmed a child in an earlier case (the profile's
/// recorded ages agree, checked before).
fn previous_involvement(config: &SignalConfig, history: &History<'_>, this: &Involved<'_>, out: &mut Vec<Derived>) {
    let earlier = history.harmed.partition_point(|m| m.2.day < this.2.day - config.same_incident_days);
    if earlier == 0 {
        return;
    }
    let cases = history.cases[earlier - 1];
    let suspect = history.police.is_some_and(|i| i < earlier);
    let mut types: Vec<&str> = history.types.iter().filter(|(_, i)| *i < earlier).map(|(t, _)| *t).collect();
    types.sort_unstable();
    out.push(Derived {
        field_id: "perpetrator.previous_involvement",
        value: if suspect { "Yes, suspect" } else { "Yes, person of concern" }.to_owned(),
        basis: format!(
            "derived: {cases} earlier case{} as a harmer ({}), the first {} days before this one; every link very high",
            if cases == 1 { "" } else { "s" },
            if types.is_empty() { "agency type not stated".to_owned() } else { types.join(", ").replace('_', " ") },
            this.2.day - history.harmed[0].2.day
        ),
    });
}

/// B2 and B2a: at least two people harmed the child in this incident.
fn perpetrator_count(
    config: &SignalConfig,
    facts: &Facts,
    profiles: &impl Profiles,
    this: &Involved<'_>,
    history: &History<'_>,
    key_of: &dyn Fn(u64) -> Option<u64>,
    out: &mut Vec<Derived>,
) {
    // The records of this person in the incident's window.
    let own = history.records_near(this.2.day, config.same_incident_days);
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
fn institutional_network(facts: &Facts, profiles: &impl Profiles, members: &[Involved<'_>], key_of: &dyn Fn(u64) -> Option<u64>) -> Option<Derived> {
    let mut others: HashSet<u64> = HashSet::new();
    let mut children: HashSet<u64> = HashSet::new();
    let mut victims_seen: HashSet<u64> = HashSet::new();
    let mine = members.iter().filter(|m| m.1.role == Role::Perpetrator && m.1.identified && m.2.institution && dated(m.2));
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
                if !m.role.is_victim() || m.link < STRONG_LINK || !theirs.institution || !dated(theirs) {
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
        return None;
    }
    Some(Derived {
        field_id: "perpetrator.institutional_network",
        value: "Yes (write in)".to_owned(),
        basis: format!(
            "derived: harmed {} child{} also harmed by {} other {} in records whose location is a residential home or a school or college",
            children.len(),
            if children.len() == 1 { "" } else { "ren" },
            others.len(),
            if others.len() == 1 { "person" } else { "people" }
        ),
    })
}

#[cfg(test)]
mod tests;
