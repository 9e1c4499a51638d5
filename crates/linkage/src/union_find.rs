//! Union-find over involvement ids with union by size and an undo journal;
//! the profiles as they were before the journal began stay readable
//! ([`UnionFind::sealed`]) while a change is half made.

use std::collections::HashMap;

use crate::InvolvementId;

/// A position in the journal to roll back to.
#[derive(Debug, Clone, Copy)]
pub struct Mark(usize);

/// A parent pointer that changed, to be persisted: `parent == id` means the
/// involvement is a root (no stored pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentChange {
    /// The involvement.
    pub id: InvolvementId,
    /// Its new parent.
    pub parent: InvolvementId,
}

#[derive(Debug, Clone, Copy)]
struct Undo {
    id: InvolvementId,
    parent: InvolvementId,
    size: u32,
    alive: bool,
    next: InvolvementId,
    min: InvolvementId,
    root: InvolvementId,
}

/// Profiles as disjoint sets of involvements. Finds do not compress paths, so
/// every change is a recorded union or reset and can be undone; union by size
/// keeps trees logarithmically shallow. Each set's members form a circular
/// list (`next`), so a profile's members are listed in time proportional to
/// its size, and each root knows its smallest (oldest) member, which names
/// the profile stably across merges.
#[derive(Debug, Default, Clone)]
pub struct UnionFind {
    parent: Vec<InvolvementId>,
    size: Vec<u32>,
    alive: Vec<bool>,
    next: Vec<InvolvementId>,
    min: Vec<InvolvementId>,
    root: Vec<InvolvementId>,
    journal: Vec<Undo>,
    changes: Vec<ParentChange>,
    /// Set by [`UnionFind::keep_sealed`] until the journal is emptied.
    sealed: Option<SealedIndex>,
}

/// Where the journal holds each id's value from before the journal began
/// (its first entry), and how many ids existed then.
#[derive(Debug, Clone, Default)]
struct SealedIndex {
    first: HashMap<InvolvementId, usize>,
    len: usize,
}

impl UnionFind {
    /// An empty structure.
    pub fn new() -> UnionFind {
        UnionFind::default()
    }

    fn index(id: InvolvementId) -> usize {
        usize::try_from(id).unwrap_or(usize::MAX)
    }

    fn grow(&mut self, id: InvolvementId) {
        let needed = UnionFind::index(id) + 1;
        if self.parent.len() < needed {
            let start = self.parent.len() as InvolvementId;
            self.parent.extend(start..needed as InvolvementId);
            self.size.resize(needed, 1);
            self.alive.resize(needed, false);
            self.next.extend(start..needed as InvolvementId);
            self.min.extend(start..needed as InvolvementId);
            self.root.extend(start..needed as InvolvementId);
        }
    }

    fn record(&mut self, id: InvolvementId) {
        let i = UnionFind::index(id);
        if let Some(sealed) = &mut self.sealed {
            sealed.first.entry(id).or_insert(self.journal.len());
        }
        self.journal.push(Undo {
            id,
            parent: self.parent[i],
            size: self.size[i],
            alive: self.alive[i],
            next: self.next[i],
            min: self.min[i],
            root: self.root[i],
        });
    }

    /// Adds a live singleton.
    pub fn insert(&mut self, id: InvolvementId) {
        self.grow(id);
        self.record(id);
        let i = UnionFind::index(id);
        self.parent[i] = id;
        self.size[i] = 1;
        self.alive[i] = true;
        self.next[i] = id;
        self.min[i] = id;
        self.root[i] = id;
    }

    /// Marks `ids` withdrawn: no longer alive, though still in their
    /// profiles until those are reset.
    pub fn kill(&mut self, ids: &[InvolvementId]) {
        for &id in ids {
            self.grow(id);
            self.record(id);
            self.alive[UnionFind::index(id)] = false;
        }
    }

    /// `ids` grouped by profile (each group sorted; groups in order of
    /// their smallest id).
    pub fn group_by_profile(&self, ids: &[InvolvementId]) -> Vec<Vec<InvolvementId>> {
        let mut keyed: Vec<(InvolvementId, InvolvementId)> = ids.iter().map(|&id| (self.find(id), id)).collect();
        keyed.sort_unstable();
        keyed.dedup();
        let mut groups: Vec<Vec<InvolvementId>> = Vec::new();
        let mut last = None;
        for (root, id) in keyed {
            if last != Some(root) {
                groups.push(Vec::new());
                last = Some(root);
            }
            if let Some(group) = groups.last_mut() {
                group.push(id);
            }
        }
        groups.sort_unstable_by_key(|group| group.first().copied());
        groups
    }

    /// Restores a stored parent pointer while loading; not journaled.
    pub fn load(&mut self, id: InvolvementId, parent: InvolvementId, alive: bool) {
        self.grow(id.max(parent));
        self.parent[UnionFind::index(id)] = parent;
        self.alive[UnionFind::index(id)] = alive;
    }

    /// Recomputes sizes, member lists and smallest members after loading.
    pub fn finish_loading(&mut self) {
        self.size.iter_mut().for_each(|s| *s = 0);
        for id in 0..self.parent.len() as InvolvementId {
            let i = UnionFind::index(id);
            self.next[i] = id;
            self.min[i] = id;
        }
        for id in 0..self.parent.len() as InvolvementId {
            let root = self.find_by_parents(id);
            self.root[UnionFind::index(id)] = root;
            let r = UnionFind::index(root);
            self.size[r] += 1;
            if root != id {
                let i = UnionFind::index(id);
                self.next[i] = self.next[r];
                self.next[r] = id;
                self.min[r] = self.min[r].min(id);
            }
        }
        for size in &mut self.size {
            *size = (*size).max(1);
        }
    }

    /// Starts loading what [`UnionFind::find`] and
    /// [`UnionFind::is_alive`] read for `id` (a cache hint only).
    pub fn prefetch(&self, id: InvolvementId) {
        let i = UnionFind::index(id);
        if let (Some(root), Some(alive)) = (self.root.get(i), self.alive.get(i)) {
            crate::bloom::prefetch(root);
            crate::bloom::prefetch(alive);
        }
    }

    /// True when the involvement exists and is not withdrawn.
    pub fn is_alive(&self, id: InvolvementId) -> bool {
        self.alive.get(UnionFind::index(id)).copied().unwrap_or(false)
    }

    /// The root (profile representative) of an involvement.
    pub fn find(&self, id: InvolvementId) -> InvolvementId {
        self.root.get(UnionFind::index(id)).copied().unwrap_or(id)
    }

    /// The root by following parent pointers (used while loading, before
    /// the direct root pointers are known).
    fn find_by_parents(&self, mut id: InvolvementId) -> InvolvementId {
        while let Some(&parent) = self.parent.get(UnionFind::index(id)) {
            if parent == id {
                break;
            }
            id = parent;
        }
        id
    }

    /// Joins two profiles; returns the surviving root when they were apart.
    pub fn union(&mut self, a: InvolvementId, b: InvolvementId) -> Option<InvolvementId> {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return None;
        }
        let (big, small) = if self.size[UnionFind::index(ra)] >= self.size[UnionFind::index(rb)] { (ra, rb) } else { (rb, ra) };
        self.record(small);
        self.record(big);
        self.parent[UnionFind::index(small)] = big;
        self.size[UnionFind::index(big)] += self.size[UnionFind::index(small)];
        let smallest = self.min[UnionFind::index(big)].min(self.min[UnionFind::index(small)]);
        self.min[UnionFind::index(big)] = smallest;
        // Point the smaller profile's members straight at the new root (each
        // member moves O(log n) times over its life, by union by size).
        let mut member = small;
        loop {
            let m = UnionFind::index(member);
            if member != small {
                self.record(member);
            }
            self.root[m] = big;
            member = self.next[m];
            if member == small {
                break;
            }
        }
        self.next.swap(UnionFind::index(big), UnionFind::index(small));
        self.changes.push(ParentChange { id: small, parent: big });
        Some(big)
    }

    /// Every member of the profiles of `ids`, sorted, without repeats.
    pub fn members_of(&self, ids: &[InvolvementId]) -> Vec<InvolvementId> {
        let mut roots: Vec<InvolvementId> = ids.iter().map(|id| self.find(*id)).collect();
        roots.sort_unstable();
        roots.dedup();
        let mut out = Vec::new();
        for root in roots {
            out.extend(self.members(root));
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The members of `id`'s profile, starting with `id`.
    pub fn members(&self, id: InvolvementId) -> MemberIter<'_> {
        let known = UnionFind::index(id) < self.next.len();
        MemberIter { uf: self, start: id, at: if known { Some(id) } else { None } }
    }

    /// Members in `id`'s profile.
    pub fn size_of(&self, id: InvolvementId) -> u32 {
        self.size.get(UnionFind::index(self.find(id))).copied().unwrap_or(1)
    }

    /// The smallest (oldest) member of `id`'s profile, which names it.
    pub fn smallest_member(&self, id: InvolvementId) -> InvolvementId {
        self.min.get(UnionFind::index(self.find(id))).copied().unwrap_or(id)
    }

    /// Makes each id a singleton again; `alive` false for withdrawn ones.
    /// `ids` must be whole profiles (every member of each), as
    /// [`UnionFind::members_of`] gives.
    pub fn reset(&mut self, ids: &[InvolvementId], alive: impl Fn(InvolvementId) -> bool) {
        for &id in ids {
            self.grow(id);
            self.record(id);
            let i = UnionFind::index(id);
            self.parent[i] = id;
            self.size[i] = 1;
            self.alive[i] = alive(id);
            self.next[i] = id;
            self.min[i] = id;
            self.root[i] = id;
            self.changes.push(ParentChange { id, parent: id });
        }
    }

    /// Makes room for `more` ids.
    pub fn reserve(&mut self, more: usize) {
        self.parent.reserve_exact(more);
        self.size.reserve_exact(more);
        self.alive.reserve_exact(more);
        self.next.reserve_exact(more);
        self.min.reserve_exact(more);
        self.root.reserve_exact(more);
    }

    /// Bytes held, approximately.
    pub fn memory_bytes(&self) -> usize {
        self.parent.len() * (8 + 4 + 1 + 8 + 8 + 8) + self.journal.capacity() * std::mem::size_of::<Undo>()
    }

    /// The journal position now.
    pub fn mark(&self) -> Mark {
        Mark(self.journal.len())
    }

    /// Undoes everything since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        while self.journal.len() > mark.0 {
            let Some(undo) = self.journal.pop() else { break };
            if let Some(sealed) = &mut self.sealed {
                if sealed.first.get(&undo.id) == Some(&self.journal.len()) {
                    sealed.first.remove(&undo.id);
                }
            }
            let i = UnionFind::index(undo.id);
            self.parent[i] = undo.parent;
            self.size[i] = undo.size;
            self.alive[i] = undo.alive;
            self.next[i] = undo.next;
            self.min[i] = undo.min;
            self.root[i] = undo.root;
        }
        self.changes.clear();
    }

    /// Forgets the journal (the changes are durable) and returns the parent
    /// changes to persist, last change per id winning.
    pub fn take_changes(&mut self) -> Vec<ParentChange> {
        self.journal.clear();
        self.sealed = None;
        let mut changes = std::mem::take(&mut self.changes);
        // Keep only the final pointer of each id.
        let mut seen = std::collections::HashSet::new();
        changes.reverse();
        changes.retain(|change| seen.insert(change.id));
        changes.reverse();
        changes.into_iter().map(|change| ParentChange { id: change.id, parent: self.parent[UnionFind::index(change.id)] }).collect()
    }

    /// Keeps the profiles as they are now readable through
    /// [`UnionFind::sealed`] until the journal is next emptied
    /// ([`UnionFind::take_changes`]), whatever is changed meanwhile. Called
    /// with an empty journal (at the start of a change); the journal's
    /// entries then say what each changed id was.
    pub fn keep_sealed(&mut self) {
        let mut first = HashMap::new();
        for (position, undo) in self.journal.iter().enumerate() {
            first.entry(undo.id).or_insert(position);
        }
        // Ids made since the journal began were journaled as they were
        // made: dead singletons, as good as absent, to a sealed reader.
        self.sealed = Some(SealedIndex { first, len: self.parent.len() });
    }

    /// The profiles as they were when [`UnionFind::keep_sealed`] was
    /// called, while it holds; otherwise as they are now.
    pub fn sealed(&self) -> Sealed<'_> {
        Sealed { uf: self }
    }

    /// Ids of live involvements.
    pub fn live_ids(&self) -> impl Iterator<Item = InvolvementId> + '_ {
        self.alive.iter().enumerate().filter(|(_, alive)| **alive).map(|(id, _)| id as InvolvementId)
    }
}

/// Iterator over one profile's members.
pub struct MemberIter<'a> {
    uf: &'a UnionFind,
    start: InvolvementId,
    at: Option<InvolvementId>,
}

impl Iterator for MemberIter<'_> {
    type Item = InvolvementId;

    fn next(&mut self) -> Option<InvolvementId> {
        let at = self.at?;
        let next = self.uf.next[UnionFind::index(at)];
        self.at = if next == self.start { None } else { Some(next) };
        Some(at)
    }
}

/// Read access to the profiles as they were before a change began (see
/// [`UnionFind::keep_sealed`]): a reader between two slices of a change
/// sees every profile whole, as last sealed, never half re-linked.
#[derive(Debug, Clone, Copy)]
pub struct Sealed<'a> {
    uf: &'a UnionFind,
}

impl<'a> Sealed<'a> {
    /// The id's values before the change, when the change altered them.
    fn before(&self, id: InvolvementId) -> Option<&'a Undo> {
        let sealed = self.uf.sealed.as_ref()?;
        sealed.first.get(&id).and_then(|&position| self.uf.journal.get(position))
    }

    /// Whether the id existed then (ids given out since did not).
    fn known(&self, id: InvolvementId) -> bool {
        let len = self.uf.sealed.as_ref().map_or(self.uf.parent.len(), |s| s.len);
        UnionFind::index(id) < len
    }

    /// True when the involvement existed and was not withdrawn.
    pub fn is_alive(&self, id: InvolvementId) -> bool {
        self.known(id) && self.before(id).map_or_else(|| self.uf.is_alive(id), |undo| undo.alive)
    }

    /// The root (profile representative) of an involvement.
    pub fn find(&self, id: InvolvementId) -> InvolvementId {
        if !self.known(id) {
            return id;
        }
        self.before(id).map_or_else(|| self.uf.find(id), |undo| undo.root)
    }

    fn next(&self, id: InvolvementId) -> InvolvementId {
        self.before(id).map_or_else(|| self.uf.next[UnionFind::index(id)], |undo| undo.next)
    }

    /// The smallest (oldest) member of `id`'s profile, which names it.
    pub fn smallest_member(&self, id: InvolvementId) -> InvolvementId {
        let root = self.find(id);
        if !self.known(root) {
            return id;
        }
        self.before(root).map_or_else(|| self.uf.min.get(UnionFind::index(root)).copied().unwrap_or(id), |undo| undo.min)
    }

    /// Members in `id`'s profile.
    pub fn size_of(&self, id: InvolvementId) -> u32 {
        let root = self.find(id);
        if !self.known(root) {
            return 1;
        }
        self.before(root).map_or_else(|| self.uf.size.get(UnionFind::index(root)).copied().unwrap_or(1), |undo| undo.size)
    }

    /// The members of `id`'s profile, starting with `id`.
    pub fn members(&self, id: InvolvementId) -> SealedMembers<'a> {
        SealedMembers { view: *self, start: id, at: if self.known(id) { Some(id) } else { None } }
    }
}

/// Iterator over one profile's members as last sealed.
pub struct SealedMembers<'a> {
    view: Sealed<'a>,
    start: InvolvementId,
    at: Option<InvolvementId>,
}

impl Iterator for SealedMembers<'_> {
    type Item = InvolvementId;

    fn next(&mut self) -> Option<InvolvementId> {
        let at = self.at?;
        let next = self.view.next(at);
        self.at = if next == self.start { None } else { Some(next) };
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One change to a union-find, for the sealed-view property.
    #[derive(Debug, Clone)]
    enum Op {
        Insert,
        Union(u64, u64),
        Kill(u64),
        Reset(u64),
        Mark,
        Rollback,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            1 => Just(Op::Insert),
            6 => (0u64..40, 0u64..40).prop_map(|(a, b)| Op::Union(a, b)),
            1 => (0u64..40).prop_map(Op::Kill),
            2 => (0u64..40).prop_map(Op::Reset),
            1 => Just(Op::Mark),
            1 => Just(Op::Rollback),
        ]
    }

    fn apply(uf: &mut UnionFind, ops: &[Op], next_id: &mut u64, marks: &mut Vec<Mark>) {
        for op in ops {
            let known = |id: u64| id % *next_id;
            match *op {
                Op::Insert => {
                    uf.insert(*next_id);
                    *next_id += 1;
                }
                Op::Union(a, b) => {
                    uf.union(known(a), known(b));
                }
                Op::Kill(a) => uf.kill(&[known(a)]),
                Op::Reset(a) => {
                    let members = uf.members_of(&[known(a)]);
                    uf.reset(&members, uf_alive_after_reset);
                }
                Op::Mark => marks.push(uf.mark()),
                Op::Rollback => {
                    if let Some(mark) = marks.pop() {
                        uf.rollback(mark);
                    }
                }
            }
        }
    }

    fn uf_alive_after_reset(id: u64) -> bool {
        !id.is_multiple_of(3)
    }

    /// Everything a reader asks of one id, through the live structure.
    fn live_answers(uf: &UnionFind, id: u64) -> (bool, u64, u64, u32, Vec<u64>) {
        let mut members: Vec<u64> = uf.members(id).collect();
        members.sort_unstable();
        (uf.is_alive(id), uf.find(id), uf.smallest_member(id), uf.size_of(id), members)
    }

    /// The same through the sealed view.
    fn sealed_answers(uf: &UnionFind, id: u64) -> (bool, u64, u64, u32, Vec<u64>) {
        let view = uf.sealed();
        let mut members: Vec<u64> = view.members(id).collect();
        members.sort_unstable();
        (view.is_alive(id), view.find(id), view.smallest_member(id), view.size_of(id), members)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever a change does after `keep_sealed` (unions, kills,
        /// resets, new ids, roll-backs), the sealed view answers exactly as
        /// the structure did before it; once the journal is emptied it
        /// answers as the structure does now.
        #[test]
        fn the_sealed_view_is_the_structure_before_the_change(
            setup in proptest::collection::vec(op(), 0..60),
            change in proptest::collection::vec(op(), 0..80),
        ) {
            let mut uf = UnionFind::new();
            let mut next_id = 0;
            for _ in 0..12 {
                uf.insert(next_id);
                next_id += 1;
            }
            apply(&mut uf, &setup, &mut next_id, &mut Vec::new());
            let _ = uf.take_changes();
            let before = uf.clone();
            let known_before = next_id;
            uf.keep_sealed();
            let mut marks = Vec::new();
            for (step, op) in change.iter().enumerate() {
                apply(&mut uf, std::slice::from_ref(op), &mut next_id, &mut marks);
                for id in 0..known_before {
                    proptest::prop_assert_eq!(sealed_answers(&uf, id), live_answers(&before, id), "id {} after step {}", id, step);
                }
                for id in known_before..next_id {
                    proptest::prop_assert!(!uf.sealed().is_alive(id), "an id made during the change is not there before it");
                }
            }
            let _ = uf.take_changes();
            for id in 0..next_id {
                proptest::prop_assert_eq!(sealed_answers(&uf, id), live_answers(&uf, id));
            }
        }
    }

    #[test]
    fn withdrawn_members_stay_until_reset_and_group_by_profile() {
        let mut uf = UnionFind::new();
        for id in 1..=6 {
            uf.insert(id);
        }
        uf.union(1, 2);
        uf.union(2, 3);
        uf.union(5, 6);
        uf.kill(&[3, 6]);
        assert!(!uf.is_alive(3) && !uf.is_alive(6) && uf.is_alive(1));
        assert_eq!(uf.find(3), uf.find(1), "a withdrawn member holds its profile together until it is reset");
        assert_eq!(uf.group_by_profile(&[6, 3, 1, 4, 5, 3]), vec![vec![1, 3], vec![4], vec![5, 6]]);
        let mark = uf.mark();
        uf.kill(&[4]);
        uf.rollback(mark);
        assert!(uf.is_alive(4), "a kill is journaled like any change");
    }

    #[test]
    fn unions_join_and_roll_back() {
        let mut uf = UnionFind::new();
        for id in 1..=5 {
            uf.insert(id);
        }
        let _ = uf.take_changes();
        uf.union(1, 2);
        let mark = uf.mark();
        uf.union(2, 3);
        uf.union(4, 5);
        assert_eq!(uf.find(3), uf.find(1));
        uf.rollback(mark);
        assert_ne!(uf.find(3), uf.find(1));
        assert_ne!(uf.find(4), uf.find(5));
        assert_eq!(uf.find(2), uf.find(1));
        let mut members: Vec<_> = uf.members(2).collect();
        members.sort_unstable();
        assert_eq!(members, vec![1, 2]);
        assert_eq!(uf.members(4).collect::<Vec<_>>(), vec![4]);
    }

    #[test]
    fn smallest_member_names_the_profile_across_merges_and_reloads() {
        let mut uf = UnionFind::new();
        for id in 1..=6 {
            uf.insert(id);
        }
        uf.union(5, 6);
        uf.union(3, 4);
        uf.union(6, 4);
        assert_eq!(uf.smallest_member(6), 3);
        assert_eq!(uf.size_of(5), 4);
        let changes = uf.take_changes();
        let mut reloaded = UnionFind::new();
        for id in 1..=6 {
            reloaded.load(id, id, true);
        }
        for change in changes {
            reloaded.load(change.id, change.parent, true);
        }
        reloaded.finish_loading();
        assert_eq!(reloaded.smallest_member(5), 3);
        assert_eq!(reloaded.members_of(&[6]), vec![3, 4, 5, 6]);
    }

    #[test]
    fn reset_splits_a_profile_and_changes_persist_the_final_pointer() {
        let mut uf = UnionFind::new();
        for id in 1..=4 {
            uf.insert(id);
        }
        uf.union(1, 2);
        uf.union(2, 3);
        let _ = uf.take_changes();
        let members = uf.members_of(&[uf.find(1)]);
        assert_eq!(members, vec![1, 2, 3]);
        uf.reset(&members, |id| id != 2);
        uf.union(1, 3);
        let changes = uf.take_changes();
        assert!(!uf.is_alive(2));
        assert_eq!(uf.find(1), uf.find(3));
        assert_eq!(changes.len(), 3);
        let mut reloaded = UnionFind::new();
        for id in 1..=4 {
            reloaded.load(id, id, id != 2);
        }
        for change in changes {
            reloaded.load(change.id, change.parent, change.id != 2);
        }
        reloaded.finish_loading();
        assert_eq!(reloaded.find(1), reloaded.find(3));
        assert_eq!(reloaded.find(2), 2);
    }
}
