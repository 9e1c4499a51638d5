//! What the signals need to know of each live record and involvement.

use std::collections::HashMap;

pub use braid_template::{CaseType, OutcomeKind, Role};

/// Whether the agency still holds the concern (template extension
/// `case.concern_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Concern {
    /// Not recorded.
    #[default]
    Missing,
    /// Current.
    Current,
    /// Resolved: must not keep labelling the child.
    Resolved,
    /// Recorded as not known.
    NotKnown,
}

impl Concern {
    /// The name panels see.
    pub fn name(self) -> &'static str {
        match self {
            Concern::Missing => "not recorded",
            Concern::Current => "current",
            Concern::Resolved => "resolved",
            Concern::NotKnown => "not known",
        }
    }
}

/// One live outcome event: never a case, so kept apart from the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeFacts {
    /// The agency's number in [`Facts::agencies`].
    pub agency: u16,
    /// The agency's opaque ref for the event.
    pub record_ref: String,
    /// What happened.
    pub kind: OutcomeKind,
    /// When (days since 1970-01-01).
    pub day: i32,
    /// The child's involvement, which linkage places in a profile.
    pub involvement: u64,
}

/// One live case record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFacts {
    /// The agency's number in [`Facts::agencies`].
    pub agency: u16,
    /// The agency's opaque record ref (kept so that listings need no
    /// reads).
    pub record_ref: String,
    /// The agency's classification.
    pub case_type: CaseType,
    /// When the abuse started, or else when the case was referred (days
    /// since 1970-01-01).
    pub day: i32,
    /// Recorded as a re-referral (template item D5).
    pub re_referral: bool,
    /// Concern status.
    pub concern: Concern,
    /// The abuse's recorded location (template item C8) includes an
    /// institution: a residential home, or a school or college.
    pub institution: bool,
    /// The record's involvements, in record order.
    pub involvements: Vec<u64>,
}

impl RecordFacts {
    /// Whether the record has a date (an undated one has day 0).
    pub fn dated(&self) -> bool {
        self.day != 0
    }
}

/// One live involvement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvolvementFacts {
    /// The record's slot in [`Facts`].
    pub record: u32,
    /// The person's role.
    pub role: Role,
    /// Whether it carries any identity (unknown perpetrators do not and
    /// never link).
    pub identified: bool,
    /// The person's age as recorded in this involvement (victim's age at
    /// referral or perpetrator's age), if any.
    pub age: Option<u8>,
    /// How strongly the linkage tied it into its profile: the match
    /// probability of the decision that joined it (1 when it founded the
    /// profile, or its agency's own person id tied it).
    pub link: f32,
}

/// An involvement to add with its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewInvolvement {
    /// Involvement id.
    pub id: u64,
    /// Role.
    pub role: Role,
    /// Carries identity.
    pub identified: bool,
    /// Recorded age.
    pub age: Option<u8>,
}

/// Every live record and involvement, as the signals need them. Records
/// are found by a 64-bit fingerprint of (agency, record ref) that the
/// caller computes; involvements by id.
#[derive(Debug, Default)]
pub struct Facts {
    agencies: Vec<(String, String)>,
    records: Vec<Option<RecordFacts>>,
    free: Vec<u32>,
    slots: HashMap<u64, u32>,
    involvements: Vec<Option<InvolvementFacts>>,
    /// By involvement id, the involvements its decisions joined it to, each
    /// with the join's strength: its probability, or [`OWN_ID_LINK`] on the
    /// agency's own person ref (see [`Facts::joined`] and
    /// [`Facts::strong_links`]).
    ///
    /// [`OWN_ID_LINK`]: crate::OWN_ID_LINK
    links: Vec<Box<[(u64, f32)]>>,
    /// Outcome events by fingerprint, and by their involvement.
    outcomes: HashMap<u64, OutcomeFacts>,
    outcome_of: HashMap<u64, u64>,
}

impl Facts {
    /// An empty table.
    pub fn new() -> Facts {
        Facts::default()
    }

    /// Makes room for `involvements` involvement ids without growing.
    pub fn reserve(&mut self, involvements: usize) {
        self.involvements.reserve(involvements.saturating_sub(self.involvements.len()));
    }

    /// The number of an agency (added on first sight) and its type.
    pub fn agency_number(&mut self, code: &str, agency_type: &str) -> u16 {
        if let Some(index) = self.agencies.iter().position(|(c, _)| c == code) {
            if self.agencies[index].1.is_empty() && !agency_type.is_empty() {
                self.agencies[index].1 = agency_type.to_owned();
            }
            return index as u16;
        }
        self.agencies.push((code.to_owned(), agency_type.to_owned()));
        (self.agencies.len() - 1) as u16
    }

    /// Agency codes and types by number.
    pub fn agencies(&self) -> &[(String, String)] {
        &self.agencies
    }

    /// The number of an agency already seen.
    pub fn find_agency(&self, code: &str) -> Option<u16> {
        self.agencies.iter().position(|(c, _)| c == code).map(|i| i as u16)
    }

    /// Adds a record and its involvements (replacing any record with the
    /// same fingerprint).
    pub fn add_record(&mut self, fingerprint: u64, record: RecordFacts, involvements: &[NewInvolvement]) {
        self.remove_record(fingerprint);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.records.push(None);
                (self.records.len() - 1) as u32
            }
        };
        for involvement in involvements {
            let index = usize::try_from(involvement.id).unwrap_or(usize::MAX);
            if self.involvements.len() <= index {
                self.involvements.resize(index + 1, None);
            }
            self.involvements[index] =
                Some(InvolvementFacts { record: slot, role: involvement.role, identified: involvement.identified, age: involvement.age, link: 1.0 });
        }
        self.records[slot as usize] = Some(record);
        self.slots.insert(fingerprint, slot);
    }

    /// Adds an outcome event (replacing any record or event with the same
    /// fingerprint). Its involvement is not a case involvement: signals and
    /// reports never see it.
    pub fn add_outcome(&mut self, fingerprint: u64, outcome: OutcomeFacts) {
        self.remove_record(fingerprint);
        self.outcome_of.insert(outcome.involvement, fingerprint);
        self.outcomes.insert(fingerprint, outcome);
    }

    /// The outcome event an involvement is the child of.
    pub fn outcome(&self, id: u64) -> Option<&OutcomeFacts> {
        self.outcomes.get(self.outcome_of.get(&id)?)
    }

    /// The number of live outcome events.
    pub fn outcome_count(&self) -> usize {
        self.outcomes.len()
    }

    /// Removes a record (or an outcome event) and its involvements; returns
    /// the involvement ids.
    pub fn remove_record(&mut self, fingerprint: u64) -> Vec<u64> {
        if let Some(outcome) = self.outcomes.remove(&fingerprint) {
            self.outcome_of.remove(&outcome.involvement);
            return vec![outcome.involvement];
        }
        let Some(slot) = self.slots.remove(&fingerprint) else {
            return Vec::new();
        };
        let record = self.records[slot as usize].take();
        self.free.push(slot);
        let ids = record.map(|r| r.involvements).unwrap_or_default();
        for &id in &ids {
            let Ok(index) = usize::try_from(id) else { continue };
            if let Some(entry) = self.involvements.get_mut(index) {
                *entry = None;
            }
            if let Some(links) = self.links.get_mut(index) {
                *links = Box::default();
            }
        }
        ids
    }

    /// The records an involvement's decisions joined it to by a very high
    /// link (at least [`STRONG_LINK`]) or its agency's own person ref. With
    /// every member's, they say which of a profile's records hang together
    /// without a weaker step between them: a record's own
    /// [`InvolvementFacts::link`] is the best of its decisions, so a weak
    /// merge between two groups of records shows on neither group.
    ///
    /// [`STRONG_LINK`]: crate::STRONG_LINK
    pub fn strong_links(&self, id: u64) -> impl Iterator<Item = u64> + '_ {
        self.links(id).iter().filter(|(_, strength)| *strength >= crate::STRONG_LINK).map(|(other, _)| *other)
    }

    /// Every involvement an involvement's decisions joined it to (joins and
    /// merges): with every member's, the edges that hold a profile
    /// together, so that a view of some of its records can tell which of
    /// them hang together without the others.
    pub fn joined(&self, id: u64) -> impl Iterator<Item = u64> + '_ {
        self.links(id).iter().map(|(other, _)| *other)
    }

    /// An involvement's joins as set (see [`Facts::set_links`]).
    pub fn links(&self, id: u64) -> &[(u64, f32)] {
        usize::try_from(id).ok().and_then(|i| self.links.get(i)).map_or(&[], |links| links)
    }

    /// Records what an involvement's decisions joined it to, each with the
    /// join's strength (see [`Facts::links`]).
    pub fn set_links(&mut self, id: u64, links: Box<[(u64, f32)]>) {
        let Ok(index) = usize::try_from(id) else { return };
        if self.links.len() <= index {
            if links.is_empty() {
                return;
            }
            self.links.resize(index + 1, Box::default());
        }
        self.links[index] = links;
    }

    /// Records joins that are all by a very high link (see
    /// [`Facts::strong_links`]).
    #[cfg(test)]
    pub(crate) fn set_strong_links(&mut self, id: u64, others: &[u64]) {
        self.set_links(id, others.iter().map(|&other| (other, 1.0)).collect());
    }

    /// Records how strongly the linkage tied an involvement into its
    /// profile.
    pub fn set_link(&mut self, id: u64, probability: f32) {
        if let Some(Some(involvement)) = usize::try_from(id).ok().and_then(|i| self.involvements.get_mut(i)) {
            involvement.link = probability;
        }
    }

    /// One more than the largest involvement id ever held.
    pub fn id_bound(&self) -> usize {
        self.involvements.len()
    }

    /// A live involvement.
    pub fn involvement(&self, id: u64) -> Option<&InvolvementFacts> {
        self.involvements.get(usize::try_from(id).ok()?)?.as_ref()
    }

    /// A live record by slot.
    pub fn record(&self, slot: u32) -> Option<&RecordFacts> {
        self.records.get(slot as usize)?.as_ref()
    }

    /// A live involvement with its record.
    pub fn with_record(&self, id: u64) -> Option<(&InvolvementFacts, &RecordFacts)> {
        let involvement = self.involvement(id)?;
        Some((involvement, self.record(involvement.record)?))
    }

    /// Every live record.
    pub fn records(&self) -> impl Iterator<Item = &RecordFacts> {
        self.records.iter().flatten()
    }
}
