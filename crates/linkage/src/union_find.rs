//! Union-find over involvement ids with union by size and an undo journal.

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
}

/// Profiles as disjoint sets of involvements. Finds do not compress paths, so
/// every change is a recorded union or reset and can be undone; union by size
/// keeps trees logarithmically shallow.
#[derive(Debug, Default, Clone)]
pub struct UnionFind {
    parent: Vec<InvolvementId>,
    size: Vec<u32>,
    alive: Vec<bool>,
    journal: Vec<Undo>,
    changes: Vec<ParentChange>,
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
        }
    }

    fn record(&mut self, id: InvolvementId) {
        let i = UnionFind::index(id);
        self.journal.push(Undo {
            id,
            parent: self.parent[i],
            size: self.size[i],
            alive: self.alive[i],
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
    }

    /// Restores a stored parent pointer while loading; not journaled.
    pub fn load(&mut self, id: InvolvementId, parent: InvolvementId, alive: bool) {
        self.grow(id.max(parent));
        self.parent[UnionFind::index(id)] = parent;
        self.alive[UnionFind::index(id)] = alive;
    }

    /// Recomputes sizes after loading.
    pub fn finish_loading(&mut self) {
        self.size.iter_mut().for_each(|s| *s = 0);
        for id in 0..self.parent.len() as InvolvementId {
            let root = self.find(id);
            self.size[UnionFind::index(root)] += 1;
        }
        for size in &mut self.size {
            *size = (*size).max(1);
        }
    }

    /// True when the involvement exists and is not withdrawn.
    pub fn is_alive(&self, id: InvolvementId) -> bool {
        self.alive.get(UnionFind::index(id)).copied().unwrap_or(false)
    }

    /// The root (profile representative) of an involvement.
    pub fn find(&self, mut id: InvolvementId) -> InvolvementId {
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
        let (big, small) = if self.size[UnionFind::index(ra)] >= self.size[UnionFind::index(rb)] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.record(small);
        self.record(big);
        self.parent[UnionFind::index(small)] = big;
        self.size[UnionFind::index(big)] += self.size[UnionFind::index(small)];
        self.changes.push(ParentChange { id: small, parent: big });
        Some(big)
    }

    /// Every id whose root is one of `roots`, live or not.
    pub fn members_of(&self, roots: &[InvolvementId]) -> Vec<InvolvementId> {
        (0..self.parent.len() as InvolvementId)
            .filter(|id| roots.contains(&self.find(*id)))
            .collect()
    }

    /// Makes each id a singleton again; `alive` false for withdrawn ones.
    pub fn reset(&mut self, ids: &[InvolvementId], alive: impl Fn(InvolvementId) -> bool) {
        for &id in ids {
            self.grow(id);
            self.record(id);
            let i = UnionFind::index(id);
            self.parent[i] = id;
            self.size[i] = 1;
            self.alive[i] = alive(id);
            self.changes.push(ParentChange { id, parent: id });
        }
    }

    /// The journal position now.
    pub fn mark(&self) -> Mark {
        Mark(self.journal.len())
    }

    /// Undoes everything since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        while self.journal.len() > mark.0 {
            let Some(undo) = self.journal.pop() else { break };
            let i = UnionFind::index(undo.id);
            self.parent[i] = undo.parent;
            self.size[i] = undo.size;
            self.alive[i] = undo.alive;
        }
        self.changes.clear();
    }

    /// Forgets the journal (the changes are durable) and returns the parent
    /// changes to persist, last change per id winning.
    pub fn take_changes(&mut self) -> Vec<ParentChange> {
        self.journal.clear();
        let mut changes = std::mem::take(&mut self.changes);
        // Keep only the final pointer of each id.
        let mut seen = std::collections::HashSet::new();
        changes.reverse();
        changes.retain(|change| seen.insert(change.id));
        changes.reverse();
        changes
            .into_iter()
            .map(|change| ParentChange {
                id: change.id,
                parent: self.parent[UnionFind::index(change.id)],
            })
            .collect()
    }

    /// Parent changes pending since the last [`UnionFind::take_changes`].
    pub fn pending_changes(&self) -> Vec<ParentChange> {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<ParentChange> = self
            .changes
            .iter()
            .rev()
            .filter(|change| seen.insert(change.id))
            .map(|change| ParentChange {
                id: change.id,
                parent: self.parent[UnionFind::index(change.id)],
            })
            .collect();
        out.reverse();
        out
    }

    /// Ids of live involvements.
    pub fn live_ids(&self) -> impl Iterator<Item = InvolvementId> + '_ {
        self.alive
            .iter()
            .enumerate()
            .filter(|(_, alive)| **alive)
            .map(|(id, _)| id as InvolvementId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
