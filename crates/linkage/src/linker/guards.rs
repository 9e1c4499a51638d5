//! Hard guards and scoring: conflicting identifiers and dates of birth,
//! the guards a profile carries through unions, and a pair's evidence.

use super::*;

impl Linker {
    /// Whether two involvements conflict: their NHS numbers (which carry a
    /// check digit, so a typo is caught on premises) differ, or their dates
    /// of birth are more than eighteen months apart — and no stronger
    /// identifier (an agreeing NHS number or other identifier, or the same
    /// agency's person ref) vouches for them; or one agency's record names
    /// them under two person refs, and no identifier agrees. Other
    /// identifiers that differ count against a pair but are no hard
    /// conflict: without a check digit a typo looks like another person.
    pub(super) fn conflict(&self, a: u32, b: u32) -> bool {
        let (na, nb) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        if na.agency == nb.agency && na.person == nb.person {
            return false;
        }
        let (ta, tb) = (&self.tokens[a as usize], &self.tokens[b as usize]);
        let same_record = na.agency == nb.agency && na.record != 0 && na.record == nb.record;
        if !same_record && (!ta.can_conflict() || !tb.can_conflict()) {
            return false;
        }
        let ids_agree = ta.ids_state(tb) == crate::fields::IdState::Agree;
        if same_record {
            // Two people one record names apart, unless an identifier says
            // it named one person twice.
            return !ids_agree;
        }
        if ids_agree {
            return false;
        }
        (ta.nhs != 0 && tb.nhs != 0 && ta.nhs != tb.nhs) || ta.dob_apart(tb)
    }

    /// Whether a pair looks like twins (one surname and date of birth, two
    /// forenames that are not variants of each other, and encodings far
    /// apart or sexes that differ) with nothing stronger vouching for it,
    /// where either record's agency records sex. Such a pair is never
    /// linked directly, and keeps two profiles apart whichever record would
    /// join them (see [`Linker::vetoed`]).
    ///
    /// Where neither agency has said anyone's sex, their systems record
    /// none (the template asks for it; services' systems hold it), and the
    /// pattern is left to the model: there, refusing it refused a forename
    /// recorded wrongly as often as twins (see ARCHITECTURE.md, decisions).
    /// An agency that records sex keeps the rule for its records without
    /// one (newborn twins recorded as Unknown).
    pub(super) fn twins(&self, a: u32, b: u32, dice: Option<f32>) -> bool {
        let (ta, tb) = (&self.tokens[a as usize], &self.tokens[b as usize]);
        // Encodings close together (a misspelt forename) are no twins —
        // unless the sexes differ too: a forename that is another name and
        // a sex recorded wrongly, both at once, is two children.
        let sexes_differ = ta.sex_level(tb) == 1;
        if !ta.twin_like(tb) || (dice.is_some_and(|d| d >= TWIN_DICE) && !sexes_differ) {
            return false;
        }
        let records_sex = |node: u32| self.agencies_recording_sex.get(self.nodes[node as usize].agency as usize).copied().unwrap_or(false);
        if !records_sex(a) && !records_sex(b) {
            return false;
        }
        !self.vouched(a, b)
    }

    /// Whether a pair's names say two people: both full names recorded and
    /// sharing nothing ([`Tokens::names_differ`]), the encodings in the two
    /// lowest Dice bands (or not compared), and nothing stronger vouching
    /// for it. A date of birth, a sex and a place agreeing never outweigh
    /// that: many people share them. Such a pair is never linked directly,
    /// and keeps two profiles apart unless a chain of ties runs between the
    /// two (see [`Linker::vetoed`]).
    ///
    /// [`Tokens::names_differ`]: crate::fields::Tokens::names_differ
    pub(super) fn strangers(&self, a: u32, b: u32, dice: Option<f32>) -> bool {
        let (ta, tb) = (&self.tokens[a as usize], &self.tokens[b as usize]);
        if !ta.names_differ(tb) || dice.is_some_and(|d| d >= STRANGERS_DICE) {
            return false;
        }
        !self.vouched(a, b)
    }

    /// Whether a scored pair met among members keeps an involvement out of
    /// a profile, or two profiles apart. A conflict or twins always do.
    /// Strangers do too, unless the two are tied to each other through the
    /// records in `ties`, one tie at a time (see [`Linker::tied`]): so an
    /// agency can still bring in a record of someone whose name changed
    /// (its person ref ties the old name to the new), and a record under
    /// the new name follows it. Without that, a record that names no one
    /// could carry a stranger into a profile the stranger would never join
    /// directly, depending only on which arrived first; and a record tied to
    /// one stranger alone (by an identifier it shares with them) ties
    /// nothing to the other.
    pub(super) fn vetoed(&self, a: InvolvementId, b: InvolvementId, evidence: &Evidence, ties: &mut Ties) -> bool {
        if !evidence.conflict {
            return false;
        }
        let (Ok(a32), Ok(b32)) = (u32::try_from(a), u32::try_from(b)) else { return true };
        self.conflict(a32, b32) || self.twins(a32, b32, evidence.dice) || !ties.together(self, a, b)
    }

    /// Whether `a` and `b` are tied by more than the fields many people
    /// share: one agency's person ref, an agreeing identifier, or some part
    /// of their names (the full name exactly, swapped, an alternative name,
    /// phonetically or a short form; the surname or the forename under one
    /// date of birth, as when a surname changed). A record that names no
    /// one is tied by nothing but an identifier or a person ref.
    pub(super) fn tied(&self, a: InvolvementId, b: InvolvementId) -> bool {
        match (u32::try_from(a), u32::try_from(b)) {
            (Ok(a), Ok(b)) => self.vouched(a, b) || self.tokens[a as usize].name_level(&self.tokens[b as usize]) <= 5,
            _ => false,
        }
    }

    /// Whether something stronger than the fields vouches for a pair: one
    /// agency's person ref, or an agreeing identifier.
    fn vouched(&self, a: u32, b: u32) -> bool {
        let (na, nb) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        (na.agency == nb.agency && na.person == nb.person) || self.tokens[a as usize].ids_state(&self.tokens[b as usize]) == crate::fields::IdState::Agree
    }

    /// The live involvements of `id`'s record under another person ref:
    /// its neighbours among the ids, as a record's involvements are
    /// inserted together.
    fn record_others(&self, id: u32) -> impl Iterator<Item = u32> + '_ {
        let node = &self.nodes[id as usize];
        let same_record = move |other: &u32| {
            let n = &self.nodes[*other as usize];
            node.record != 0 && n.agency == node.agency && n.record == node.record
        };
        let before = (0..id).rev().take_while(same_record);
        let after = (id + 1..self.nodes.len() as u32).take_while(same_record);
        let tokens = &self.tokens[id as usize];
        before.chain(after).filter(move |&other| {
            self.nodes[other as usize].person != node.person
                && self.uf.is_alive(InvolvementId::from(other))
                && self.tokens[other as usize].ids_state(tokens) != crate::fields::IdState::Agree
        })
    }

    /// Whether `id`'s profile and `other`'s would, together, hold two
    /// people one record names apart (see [`Involvement::record`]). Every
    /// member of the smaller profile is looked at, not a sample: the rule
    /// holds whatever order the records came in.
    pub(super) fn profiles_split_by_a_record(&self, id: InvolvementId, other: InvolvementId) -> bool {
        let (a, b) = (self.uf.find(id), self.uf.find(other));
        if a == b {
            return false;
        }
        let (small, large) = if self.uf.size_of(a) <= self.uf.size_of(b) { (a, b) } else { (b, a) };
        self.uf.members(small).any(|m| self.record_others(m as u32).any(|s| self.uf.find(InvolvementId::from(s)) == large))
    }

    /// Whether `id` conflicts with any member of `other`'s profile.
    pub(super) fn conflicts_with_profile(&self, id: InvolvementId, other: InvolvementId) -> bool {
        let me = id as u32;
        if !self.tokens[me as usize].can_conflict() {
            return false;
        }
        let root = self.current_guards(other);
        let guards = self.guards.borrow();
        guards[&root].1.iter().any(|&(_, m)| m != me && self.conflict(me, m))
    }

    /// Makes the cached guard members of `of`'s profile current; returns
    /// the profile's root (their key in [`Linker::guards`]).
    pub(super) fn current_guards(&self, of: InvolvementId) -> InvolvementId {
        let root = self.uf.find(of);
        let size = self.uf.size_of(root);
        let mut guards = self.guards.borrow_mut();
        if guards.get(&root).is_none_or(|(known, _)| *known != size) {
            guards.insert(root, (size, self.guard_members(root)));
        }
        root
    }

    /// Unites two profiles, carrying their known guard members over to the
    /// united profile (so a growing profile is never walked whole again).
    pub(super) fn union_keeping_guards(&mut self, a: InvolvementId, b: InvolvementId) {
        let (ra, rb) = (self.uf.find(a), self.uf.find(b));
        if ra == rb {
            return;
        }
        let known = |linker: &mut Linker, root: InvolvementId| -> Option<GuardMembers> {
            if linker.uf.size_of(root) == 1 {
                return Some(linker.guard_members(root));
            }
            let size = linker.uf.size_of(root);
            linker.guards.get_mut().remove(&root).filter(|(known, _)| *known == size).map(|(_, members)| members)
        };
        let (ka, kb) = (known(self, ra), known(self, rb));
        self.uf.union(a, b);
        let root = self.uf.find(a);
        if let (Some(x), Some(y)) = (ka, kb) {
            let (mut big, small) = if x.len() >= y.len() { (x, y) } else { (y, x) };
            if small.len() <= 8 {
                for entry in small {
                    if !big.iter().any(|(signature, _)| *signature == entry.0) {
                        big.push(entry);
                    }
                }
            } else {
                let mut seen: std::collections::HashSet<u64, BuildHasherDefault<IdHasher>> = big.iter().map(|(signature, _)| *signature).collect();
                big.extend(small.into_iter().filter(|(signature, _)| seen.insert(*signature)));
            }
            let size = self.uf.size_of(root);
            self.guards.get_mut().insert(root, (size, big));
        }
    }

    /// Forgets every profile's guard members (after profiles were reset or
    /// rolled back).
    pub(super) fn forget_guards(&mut self) {
        self.guards.get_mut().clear();
    }

    /// Rolls the profiles back to `mark` (a batch that failed before it was
    /// written).
    pub fn rollback(&mut self, mark: crate::Mark) {
        self.uf.rollback(mark);
        self.forget_guards();
    }

    /// Whether any member of `id`'s profile conflicts with any member of
    /// `other`'s: two profiles are never chained together through a record
    /// that the direct comparison would refuse. (`id` itself is compared
    /// too; the caller has already found that it conflicts with nothing in
    /// `other`'s profile.)
    pub(super) fn profiles_conflict(&self, id: InvolvementId, other: InvolvementId) -> bool {
        if self.uf.size_of(id) < 2 {
            return false;
        }
        let (ours, theirs) = (self.current_guards(id), self.current_guards(other));
        let guards = self.guards.borrow();
        let theirs = &guards[&theirs].1;
        guards[&ours].1.iter().any(|&(_, a)| theirs.iter().any(|&(_, b)| self.conflict(a, b)))
    }

    /// A hash of what decides whether a member conflicts with another:
    /// identifiers, name class, windows, date of birth, agency and person
    /// ref. (A 64-bit hash: two distinct signatures colliding within one
    /// profile is out of reach.)
    pub(super) fn guard_signature(&self, m: u32) -> u64 {
        let t = &self.tokens[m as usize];
        let n = &self.nodes[m as usize];
        let mut h = crate::mix(u64::from(t.nhs) | u64::from(t.name_phonetic) << 32);
        for (kind, value) in t.ids {
            h = crate::mix(h ^ (u64::from(kind) << 32 | u64::from(value)));
        }
        for window in t.dob_windows {
            h = crate::mix(h ^ u64::from(window));
        }
        h = crate::mix(h ^ (u64::from(t.dob_any_order) | u64::from(n.agency) << 32));
        crate::mix(h ^ n.person)
    }

    /// The members of a profile that can conflict with anything, one per
    /// distinct [`Linker::guard_signature`], with their signatures.
    pub(super) fn guard_members(&self, of: InvolvementId) -> GuardMembers {
        let mut out: GuardMembers = Vec::new();
        let mut seen: std::collections::HashSet<u64, BuildHasherDefault<IdHasher>> = Default::default();
        for m in self.uf.members(of).map(|m| m as u32) {
            if self.tokens[m as usize].can_conflict() && !self.nodes[m as usize].passive {
                let signature = self.guard_signature(m);
                if seen.insert(signature) {
                    out.push((signature, m));
                }
            }
        }
        out
    }

    /// A pair scored for a decision (no `keys_agreeing`); `None` for an id
    /// the index does not hold.
    pub(super) fn scored_pair(&self, a: InvolvementId, b: InvolvementId) -> Option<Evidence> {
        let (a32, b32) = (u32::try_from(a).ok()?, u32::try_from(b).ok()?);
        if a32 as usize >= self.nodes.len() || b32 as usize >= self.nodes.len() {
            return None;
        }
        let dice = self.pair_dice(a32, b32);
        Some(self.score(a32, b32, self.levels(a32, b32, dice), dice))
    }

    pub(super) fn evidence(&self, a: u32, b: u32, dice: Option<f32>) -> Evidence {
        let levels = self.levels(a, b, dice);
        Evidence { keys_agreeing: self.keys_agreeing(a, b), ..self.score(a, b, levels, dice) }
    }

    /// Scores a compared pair; `keys_agreeing` is left empty (see
    /// [`Linker::keys_agreeing`]).
    pub(super) fn score(&self, a: u32, b: u32, levels: Levels, dice: Option<f32>) -> Evidence {
        let name_frequency = if levels[at::NAME] <= 1 { self.name_frequency_adjustment(self.tokens[a as usize].name) } else { 0.0 };
        let Score { weight, mut probability } = self.model.score_adjusted(&levels, name_frequency);
        let conflict = self.conflict(a, b) || self.twins(a, b, dice) || self.strangers(a, b, dice);
        if levels[at::PERSON] == 1 {
            // The agency's own person ref is trusted within that agency.
            probability = 1.0;
        } else if conflict {
            probability = 0.0;
        }
        Evidence { other: InvolvementId::from(b), keys_agreeing: 0, dice, levels, weight, probability, name_frequency, conflict }
    }

    pub(super) fn pair_dice(&self, a: u32, b: u32) -> Option<f32> {
        let (x, y) = (&self.nodes[a as usize].bloom, &self.nodes[b as usize].bloom);
        if x.is_empty() || y.is_empty() {
            None
        } else {
            Some(crate::bloom::dice(x, y))
        }
    }

    /// Compares two involvements directly (for explanations).
    pub fn compare(&self, a: InvolvementId, b: InvolvementId) -> Option<Evidence> {
        let (a32, b32) = (u32::try_from(a).ok()?, u32::try_from(b).ok()?);
        if a32 as usize >= self.nodes.len() || b32 as usize >= self.nodes.len() {
            return None;
        }
        Some(self.evidence(a32, b32, self.pair_dice(a32, b32)))
    }
}

/// The records a join or merge is decided over (the sampled members of both
/// sides, the record joining and the one it matched) and which of them are
/// tied to one another, directly or through others of them. The ties are
/// worked out only when a strangers pair is met: at most a few dozen
/// comparisons of tokens, and most decisions meet none.
pub(super) struct Ties {
    records: Vec<InvolvementId>,
    /// A component label per record, once worked out.
    components: Option<Vec<usize>>,
}

impl Ties {
    pub(super) fn over(records: impl IntoIterator<Item = InvolvementId>) -> Self {
        let mut list: Vec<InvolvementId> = Vec::new();
        for record in records {
            if !list.contains(&record) {
                list.push(record);
            }
        }
        Ties { records: list, components: None }
    }

    /// Whether `a` and `b` are among the records and in one component.
    fn together(&mut self, linker: &Linker, a: InvolvementId, b: InvolvementId) -> bool {
        let records = &self.records;
        let components = self.components.get_or_insert_with(|| {
            let mut label = vec![usize::MAX; records.len()];
            let mut stack = Vec::new();
            for start in 0..records.len() {
                if label[start] != usize::MAX {
                    continue;
                }
                label[start] = start;
                stack.push(start);
                while let Some(i) = stack.pop() {
                    for j in 0..records.len() {
                        if label[j] == usize::MAX && linker.tied(records[i], records[j]) {
                            label[j] = start;
                            stack.push(j);
                        }
                    }
                }
            }
            label
        });
        let at = |x: InvolvementId| records.iter().position(|&r| r == x);
        matches!((at(a), at(b)), (Some(i), Some(j)) if components[i] == components[j])
    }
}
