//! Cohorts and their outcomes: the children who entered a cohort (had a
//! case of one type, or a signal) and how many of them had each kind of
//! outcome event in the 12 months after.

use std::collections::HashMap;

use crate::facts::{CaseType, Facts, OutcomeKind, Role};
use crate::Profiles;

/// How long after entering a cohort outcomes are counted: 12 months.
pub const FOLLOW_UP_DAYS: i32 = 365;

/// The children in a cohort by case type: each victim, or child displaying
/// HSB, of a dated case of `case_type` that the view includes and whose
/// agency `include` admits, by profile key, with the day they entered (the
/// earliest such case's day).
pub fn case_type_cohort(facts: &Facts, profiles: &impl Profiles, case_type: CaseType, include: impl Fn(u16) -> bool) -> HashMap<u64, i32> {
    let mut entered: HashMap<u64, i32> = HashMap::new();
    for record in facts.records().filter(|r| r.case_type == case_type && r.dated() && include(r.agency)) {
        for &id in &record.involvements {
            let Some(involvement) = facts.involvement(id) else { continue };
            let child = involvement.role.is_victim() || involvement.role == Role::Hsb;
            if !child || !involvement.identified || !profiles.includes(id) {
                continue;
            }
            let day = entered.entry(profiles.key(id)).or_insert(record.day);
            *day = (*day).min(record.day);
        }
    }
    entered
}

/// A cohort's outcomes, exact (the caller publishes them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CohortCounts {
    /// Children in the cohort.
    pub children: u64,
    /// Of those, children whose 12 months were over by `today`.
    pub followed_up: u64,
    /// Per outcome kind (in [`OutcomeKind::ALL`] order): children with at
    /// least one event of that kind in their 12 months.
    pub with: Vec<(OutcomeKind, u64)>,
    /// Children with any outcome event in their 12 months.
    pub any: u64,
}

/// Counts, for the children who `entered` a cohort (profile key → day),
/// those with an outcome event of each kind from the day they entered to
/// [`FOLLOW_UP_DAYS`] after. Outcome events count when their agency is
/// admitted by `include`; they are found among every member of the
/// child's profile (outcome events are never in a scoped view's cases).
pub fn cohort_outcomes(facts: &Facts, profiles: &impl Profiles, entered: &HashMap<u64, i32>, include: impl Fn(u16) -> bool, today: i32) -> CohortCounts {
    let mut counts = CohortCounts { with: OutcomeKind::ALL.iter().map(|&k| (k, 0)).collect(), ..CohortCounts::default() };
    for (&key, &day) in entered {
        counts.children += 1;
        // The 12 months run to day + FOLLOW_UP_DAYS inclusive: over once
        // today is past it.
        counts.followed_up += u64::from(day.saturating_add(FOLLOW_UP_DAYS) < today);
        let mut had = [false; OutcomeKind::ALL.len()];
        for member in profiles.every_member(key) {
            let Some(outcome) = facts.outcome(member) else { continue };
            if include(outcome.agency) && (day..=day.saturating_add(FOLLOW_UP_DAYS)).contains(&outcome.day) {
                had[(outcome.kind.number() - 1) as usize] = true;
            }
        }
        for (slot, &yes) in counts.with.iter_mut().zip(&had) {
            slot.1 += u64::from(yes);
        }
        counts.any += u64::from(had.iter().any(|&yes| yes));
    }
    counts
}

#[cfg(test)]
mod tests;
