//! What linked profiles mean, for multi-agency panels.
//!
//! The node keeps a [`Facts`] table: for every live case record its agency,
//! case type, date, re-referral flag, concern status and involvements, and
//! for every involvement its role and any recorded age. Together with the
//! profiles the linkage decided (seen through [`Profiles`]), that is enough
//! to raise the [`Signal`]s a panel asks about:
//!
//! - **re-victimisation**: a child's incidents starting at least 90 days
//!   apart, or a case recorded as a re-referral; one agency's two cases are
//!   two incidents, but another agency's record within 180 days of an
//!   incident's first record joins it unless it names identified
//!   perpetrators and shares none with the incident (each agency dates a
//!   case by its own moment: a crime recorded, a referral, a service
//!   opened);
//! - **victim/HSB overlap**: a victim in one record who displays harmful
//!   sexual behaviour (or is a perpetrator under 18) in another;
//! - **victim recorded as offender**;
//! - **shared perpetrator**: a perpetrator (or child displaying HSB) whose
//!   records name two or more distinct victims;
//! - **network**: a connected victim–perpetrator component of at least four
//!   people;
//! - **classification conflict**: one incident (as grouped for
//!   re-victimisation) recorded as CSA by one agency and CSE by another.
//!
//! [`SignalBook`] keeps the signals current: after each change the node
//! passes the involvements whose profiles changed (and, apart, those that
//! moved between profiles in a merge or split), and only those profiles,
//! the perpetrators and children their records name, and the children a
//! moved perpetrator's records name are recomputed. Networks are
//! whole-graph and recomputed on demand when anything changed.
//!
//! [`derive_profile`] answers perpetrator items agencies seldom record (previous
//! involvement, number of perpetrators, institutional network) from the
//! linked history, as derived answers with their basis.
//!
//! Outcome events (a missing episode, a placement move, an arrest…) are
//! kept apart from case records ([`OutcomeFacts`]): linked into profiles,
//! but never counted as cases. [`cohort_outcomes`] counts the children of
//! a cohort (a case type, a signal) with each kind of outcome in the 12
//! months after they entered it.
//!
//! [`report`] counts distinct profiles by categories with small-number and
//! secondary suppression; [`network`] builds the neighbourhood of a profile
//! and renders it as Graphviz DOT or SVG. Nothing here does I/O.

mod cohort;
mod derived;
mod detect;
mod facts;
pub mod network;
pub mod report;
#[cfg(test)]
mod test_groups;

pub use cohort::{case_type_cohort, cohort_outcomes, CohortCounts, FOLLOW_UP_DAYS};
pub use derived::{derive_profile, Derived};
pub use detect::{signals_now, Signal, SignalBook, SignalConfig, SignalKind, OWN_ID_LINK, STRONG_LINK};
pub use facts::{CaseType, Concern, Facts, InvolvementFacts, NewInvolvement, OutcomeFacts, OutcomeKind, RecordFacts, Role};

/// Profiles as the linkage decided them, possibly seen through a scope: a
/// partnership's view holds only its agencies' involvements, so that
/// everything computed through it (signals, networks) rests on those
/// records alone.
pub trait Profiles {
    /// The profile's stable key (its oldest member) for an involvement.
    fn key(&self, id: u64) -> u64;
    /// Every member of the profile holding `id` that the view includes.
    fn members(&self, id: u64) -> Vec<u64>;
    /// Every member of the profile holding `id`, those the view leaves out
    /// included (only to check how a profile holds together, never to
    /// answer from them).
    fn every_member(&self, id: u64) -> Vec<u64> {
        self.members(id)
    }
    /// Whether the view includes the involvement `id` (every involvement,
    /// unless the view is scoped).
    fn includes(&self, id: u64) -> bool {
        let _ = id;
        true
    }
    /// How strongly the records the view includes tie `id` into its
    /// profile: its best link to another of them. `None` when it is the only
    /// one. The whole view gives the best of the involvement's own
    /// decisions; a scoped view counts only links between the records it
    /// includes, either way round.
    fn link(&self, facts: &Facts, id: u64) -> Option<f32> {
        if self.members(id).len() < 2 {
            return None;
        }
        facts.involvement(id).map(|involvement| involvement.link)
    }
    /// The keys of the parts the view sees the profile holding `id` as: a
    /// scoped view keeps apart records that only records outside it join
    /// (see [`joined_parts`]); any other view sees the profile whole.
    fn keys_around(&self, id: u64) -> Vec<u64> {
        vec![self.key(id)]
    }
}

/// `members` (of one profile) grouped by the joins among themselves alone
/// ([`Facts::joined`]), each group in ascending order, the groups by their
/// first member: the parts a profile falls into when only these of its
/// records are seen. Two records that only a record left out joins are in
/// different parts.
pub fn joined_parts(facts: &Facts, members: &[u64]) -> Vec<Vec<u64>> {
    let mut sorted = members.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let index: std::collections::HashMap<u64, usize> = sorted.iter().enumerate().map(|(i, &m)| (m, i)).collect();
    let mut sets = petgraph::unionfind::UnionFind::<usize>::new(sorted.len());
    for (i, &member) in sorted.iter().enumerate() {
        for other in facts.joined(member) {
            if let Some(&j) = index.get(&other) {
                sets.union(i, j);
            }
        }
    }
    let mut parts: std::collections::BTreeMap<usize, Vec<u64>> = std::collections::BTreeMap::new();
    for (i, &member) in sorted.iter().enumerate() {
        parts.entry(sets.find_mut(i)).or_default().push(member);
    }
    let mut parts: Vec<Vec<u64>> = parts.into_values().collect();
    parts.sort_unstable_by_key(|part| part[0]);
    parts
}
