//! Profiles given as explicit groups, for the unit tests.

use std::collections::HashMap;

use crate::Profiles;

/// Each involvement's profile key (the smallest member); an involvement
/// not listed is a profile of its own.
#[derive(Default)]
pub(crate) struct Groups {
    pub(crate) key: HashMap<u64, u64>,
}

impl Groups {
    /// Makes `members` one profile.
    pub(crate) fn set(&mut self, members: &[u64]) {
        let key = *members.iter().min().expect("members");
        for &m in members {
            self.key.insert(m, key);
        }
    }
}

impl Profiles for Groups {
    fn key(&self, id: u64) -> u64 {
        self.key.get(&id).copied().unwrap_or(id)
    }
    fn members(&self, id: u64) -> Vec<u64> {
        let key = self.key(id);
        let mut out: Vec<u64> = self.key.iter().filter(|(_, k)| **k == key).map(|(m, _)| *m).collect();
        if out.is_empty() {
            out.push(id);
        }
        out.sort_unstable();
        out
    }
}
