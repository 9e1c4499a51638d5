//! A partnership's view of the profiles.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use braid_linkage::Sealed;
use braid_signals::{Facts, Profiles};

use super::Scope;

/// The profiles as one partnership's panel sees them: only the
/// involvements of records from the partnership's agencies. Signals and
/// networks computed through it rest on those records alone; records held
/// elsewhere show only as "known to … outside the partnership" counts.
///
/// Its profiles are the parts of the linked profiles that the
/// partnership's records hold together by themselves
/// ([`braid_signals::joined_parts`]): two of its records that only a record
/// held elsewhere joins are two people to it, as they would be were the
/// other agency's records not on the node. A part is keyed by its own
/// oldest record.
pub(crate) struct ScopedView<'a> {
    profiles: Sealed<'a>,
    facts: &'a Facts,
    scope: &'a Scope,
    /// The part of each in-scope involvement asked about, worked out for
    /// its whole profile at once.
    parts: RefCell<HashMap<u64, Rc<Part>>>,
    /// Each profile's parts worked out, by the profile's key.
    profiles_parts: RefCell<HashMap<u64, Rc<[Rc<Part>]>>>,
    /// Each profile's in-scope members' best joins to one another, by the
    /// profile's key.
    strengths: RefCell<HashMap<u64, Rc<HashMap<u64, f32>>>>,
}

/// One part of a profile as a scoped view sees it.
struct Part {
    key: u64,
    members: Vec<u64>,
}

impl<'a> ScopedView<'a> {
    pub(super) fn new(profiles: Sealed<'a>, facts: &'a Facts, scope: &'a Scope) -> ScopedView<'a> {
        ScopedView {
            profiles,
            facts,
            scope,
            parts: RefCell::new(HashMap::new()),
            profiles_parts: RefCell::new(HashMap::new()),
            strengths: RefCell::new(HashMap::new()),
        }
    }

    /// How strongly the partnership's own records tie an in-scope `id` into
    /// its part: its best join to another of them, either way round (a join
    /// to a record held elsewhere says nothing here). `None` when it is the
    /// part's only record. (Two of the partnership's records joined to each
    /// other directly are always in one part, so the parts themselves need
    /// not be worked out.)
    pub(super) fn part_link(&self, id: u64) -> Option<f32> {
        let global = self.profiles.smallest_member(id);
        let cached = self.strengths.borrow().get(&global).cloned();
        let strengths = cached.unwrap_or_else(|| {
            let strengths = Rc::new(self.join_strengths(id, global));
            self.strengths.borrow_mut().insert(global, Rc::clone(&strengths));
            strengths
        });
        strengths.get(&id).copied()
    }

    /// The best join of each of the partnership's records in the profile
    /// keyed `global` (holding `id`) to another of them, either way round.
    fn join_strengths(&self, id: u64, global: u64) -> HashMap<u64, f32> {
        let mut best: HashMap<u64, f32> = HashMap::new();
        for member in self.profiles.members(id).filter(|&m| self.holds(m)) {
            for &(other, strength) in self.facts.links(member) {
                if other == member || !self.holds(other) || self.profiles.smallest_member(other) != global {
                    continue;
                }
                for end in [member, other] {
                    let entry = best.entry(end).or_insert(0.0);
                    *entry = entry.max(strength);
                }
            }
        }
        best
    }

    fn holds(&self, id: u64) -> bool {
        self.facts.with_record(id).is_some_and(|(_, record)| self.scope.allows(record.agency))
    }

    /// The parts of the profile holding `id` (none when it holds no record
    /// of the partnership's), worked out once per profile.
    fn parts_of(&self, id: u64) -> Rc<[Rc<Part>]> {
        let global = self.profiles.smallest_member(id);
        if let Some(parts) = self.profiles_parts.borrow().get(&global) {
            return Rc::clone(parts);
        }
        let inside: Vec<u64> = self.profiles.members(id).filter(|&m| self.holds(m)).collect();
        let groups = braid_signals::joined_parts(self.facts, &inside);
        let mut cache = self.parts.borrow_mut();
        let parts: Rc<[Rc<Part>]> = groups
            .into_iter()
            .map(|members| {
                // Keyed by its own oldest record, never by one held
                // elsewhere: a part's id names nothing outside the
                // partnership, and does not change when records outside it
                // join or leave the linked profile.
                let key = members[0];
                let part = Rc::new(Part { key, members });
                for &member in &part.members {
                    cache.insert(member, Rc::clone(&part));
                }
                part
            })
            .collect();
        self.profiles_parts.borrow_mut().insert(global, Rc::clone(&parts));
        parts
    }

    /// The part holding an in-scope `id`; for another (an outcome event's
    /// child, a record held elsewhere), the part it is joined to directly,
    /// or the only part.
    fn part(&self, id: u64) -> Option<Rc<Part>> {
        if let Some(part) = self.parts.borrow().get(&id) {
            return Some(Rc::clone(part));
        }
        let parts = self.parts_of(id);
        if self.holds(id) {
            return parts.iter().find(|part| part.members.binary_search(&id).is_ok()).cloned();
        }
        if let [only] = &parts[..] {
            return Some(Rc::clone(only));
        }
        let own: Vec<u64> = self.facts.joined(id).collect();
        parts
            .iter()
            .find(|part| {
                own.iter().any(|other| part.members.binary_search(other).is_ok()) || part.members.iter().any(|&m| self.facts.joined(m).any(|o| o == id))
            })
            .cloned()
    }
}

impl Profiles for ScopedView<'_> {
    fn link(&self, _facts: &Facts, id: u64) -> Option<f32> {
        self.part_link(id)
    }

    fn key(&self, id: u64) -> u64 {
        // Only in-scope involvements are in the cache: one found there is
        // held, and its part known.
        if let Some(part) = self.parts.borrow().get(&id) {
            return part.key;
        }
        match self.part(id) {
            Some(part) => part.key,
            None => self.profiles.smallest_member(id),
        }
    }
    fn members(&self, id: u64) -> Vec<u64> {
        self.part(id).map(|part| part.members.clone()).unwrap_or_default()
    }
    fn every_member(&self, id: u64) -> Vec<u64> {
        // The part, and what the view leaves out: all of it where the view
        // divides nothing; else what is joined to the part directly (its
        // outcome events; a record held elsewhere it was linked to, to see
        // how the part holds together), never what hangs off another part.
        let mut members = self.members(id);
        if self.parts_of(id).len() <= 1 {
            // The view divides nothing: all of it is the part's.
            members.extend(self.profiles.members(id).filter(|&m| !self.holds(m)));
            return members;
        }
        let part: std::collections::HashSet<u64> = members.iter().copied().collect();
        let reached: std::collections::HashSet<u64> = members.iter().flat_map(|&m| self.facts.joined(m)).collect();
        members
            .extend(self.profiles.members(id).filter(|&m| !self.holds(m) && (reached.contains(&m) || self.facts.joined(m).any(|other| part.contains(&other)))));
        members
    }
    fn includes(&self, id: u64) -> bool {
        self.holds(id)
    }
    fn keys_around(&self, id: u64) -> Vec<u64> {
        self.parts_of(id).iter().map(|part| part.key).collect()
    }
}
