//! The index and candidate search: an involvement's blocking keys and
//! encodings indexed, the candidates that share them, and the comparison
//! levels and name frequencies a decision is scored with.

use super::*;

impl Linker {
    /// Adds an involvement to the index as a singleton profile without
    /// deciding anything (used when loading stored involvements, before
    /// their stored profile pointers are applied).
    pub fn index(&mut self, id: InvolvementId, involvement: &Involvement) {
        let i = Linker::slot(id);
        let tables = self.config.lsh_tables;
        if self.nodes.len() <= i {
            self.nodes.resize(i + 1, Node::EMPTY);
            self.tokens.resize(i + 1, Tokens::default());
            self.lsh_prev.resize((i + 1) * tables, NONE);
            self.person_prev.resize(i + 1, NONE);
        }
        let bloom = involvement.bloom.unwrap_or(Bloom::EMPTY);
        let mut keys = std::mem::take(&mut self.scratch_keys);
        keys.clear();
        keys.extend_from_slice(&involvement.keys);
        keys.extend(token_keys(&involvement.tokens));
        keys.sort_unstable();
        keys.dedup();
        keys.truncate(usize::from(u8::MAX));
        // An id's key slots are appended: [key_start, key_start + key_count).
        self.nodes[i] = Node {
            bloom,
            ones: bloom.ones(),
            agency: involvement.agency,
            person: involvement.person,
            record: involvement.record,
            key_start: self.key_fp.len() as u32,
            key_count: keys.len() as u8,
            passive: involvement.passive,
        };
        if involvement.tokens.has_sex() {
            let agency = involvement.agency as usize;
            if self.agencies_recording_sex.len() <= agency {
                self.agencies_recording_sex.resize(agency + 1, false);
            }
            self.agencies_recording_sex[agency] = true;
        }
        if involvement.passive {
            if self.passive_bits.len() <= i / 64 {
                self.passive_bits.resize(i / 64 + 1, 0);
            }
            self.passive_bits[i / 64] |= 1 << (i % 64);
            self.any_passive = true;
        }
        for &key in &keys {
            let slot = self.key_fp.len() as u32;
            let prev = self.heads.insert(key.0, slot).unwrap_or(NONE);
            self.key_fp.push(key.0);
            self.key_links.push((prev, id as u32));
        }
        let person_key = Linker::person_key(involvement.agency, involvement.person);
        self.person_prev[i] = self.heads.insert(person_key, i as u32).unwrap_or(NONE);
        let mut tokens = involvement.tokens;
        tokens.nhs = involvement.keys.iter().find(|key| key.kind() == 1).map_or(0, |key| (key.0 as u32).max(1));
        self.tokens[i] = tokens;
        self.count_name(tokens.name, person_key);
        self.scratch_keys = keys;
        if !bloom.is_empty() {
            let mut buckets = std::mem::take(&mut self.scratch_buckets);
            buckets.clear();
            buckets.extend((0..tables).map(|table| self.lsh_bucket(table, &bloom)));
            for &bucket in &buckets {
                crate::bloom::prefetch(&self.lsh_heads[bucket]);
            }
            for (table, &bucket) in buckets.iter().enumerate() {
                let slot = (i * tables + table) as u32;
                let prev = std::mem::replace(&mut self.lsh_heads[bucket], slot);
                self.lsh_prev[i * tables + table] = prev;
            }
            self.scratch_buckets = buckets;
        }
        self.uf.insert(id);
    }

    /// Rebuilds every index chain from `order` (the live involvements), so
    /// that a walk from a chain's head meets them in that order whatever
    /// order they were indexed in; withdrawn involvements leave the chains.
    pub(super) fn rechain(&mut self, order: &[InvolvementId]) {
        let tables = self.config.lsh_tables;
        self.heads.clear();
        self.lsh_heads.fill(NONE);
        for &id in order {
            let i = Linker::slot(id);
            let node = self.nodes[i];
            for slot in node.key_start as usize..node.key_start as usize + usize::from(node.key_count) {
                self.key_links[slot].0 = self.heads.insert(self.key_fp[slot], slot as u32).unwrap_or(NONE);
            }
            self.person_prev[i] = self.heads.insert(Linker::person_key(node.agency, node.person), i as u32).unwrap_or(NONE);
            if !node.bloom.is_empty() {
                for table in 0..tables {
                    let bucket = self.lsh_bucket(table, &node.bloom);
                    let slot = i * tables + table;
                    self.lsh_prev[slot] = std::mem::replace(&mut self.lsh_heads[bucket], slot as u32);
                }
            }
        }
    }

    pub(super) fn keys_of(&self, id: u32) -> &[u64] {
        match self.nodes.get(id as usize) {
            Some(node) => {
                let start = node.key_start as usize;
                &self.key_fp[start..start + usize::from(node.key_count)]
            }
            None => &[],
        }
    }

    pub(super) fn prefetch_entry(&self, cursor: &Cursor) {
        let slot = cursor.slot as usize;
        match cursor.chain {
            Chain::Key => crate::bloom::prefetch(&self.key_links[slot]),
            Chain::Person => crate::bloom::prefetch(&self.person_prev[slot]),
            Chain::Lsh => crate::bloom::prefetch(&self.lsh_prev[slot]),
        }
    }

    /// Candidates of `id`. A `fresh` involvement was just indexed, so it
    /// heads every chain it is on and its own "previous" pointers start the
    /// walks; otherwise (re-linking) the walks start at the chains' heads.
    pub(super) fn candidates(&mut self, id: InvolvementId, fresh: bool, reach: usize) -> Vec<u32> {
        let mut out = std::mem::take(&mut self.scratch_ids);
        out.clear();
        let me = id as u32;
        let i = me as usize;
        let node = self.nodes[i];
        let tables = self.config.lsh_tables;
        let limit = self.config.walk_limit * reach;
        let start = |fresh_start: u32, key: u64, heads: &Heads| if fresh { fresh_start } else { heads.get(&key).copied().unwrap_or(NONE) };
        // Every chain is walked one step per round, so the memory reads of
        // different chains overlap (each next entry is prefetched).
        let mut cursors = std::mem::take(&mut self.scratch_cursors);
        cursors.clear();
        for k in 0..usize::from(node.key_count) {
            let own = node.key_start as usize + k;
            let slot = start(self.key_links[own].0, self.key_fp[own], &self.heads);
            let limit = if self.key_fp[own] >> 56 >= u64::from(BROAD_KEYS) { self.config.broad_walk_limit * reach } else { limit };
            cursors.push(Cursor { chain: Chain::Key, slot, taken: 0, limit: limit as u32, passive_taken: 0 });
        }
        let slot = start(self.person_prev[i], Linker::person_key(node.agency, node.person), &self.heads);
        cursors.push(Cursor { chain: Chain::Person, slot, taken: 0, limit: limit as u32, passive_taken: 0 });
        if !node.bloom.is_empty() {
            for table in 0..tables {
                let own = i * tables + table;
                let slot = if fresh { self.lsh_prev[own] } else { self.lsh_heads[self.lsh_bucket(table, &node.bloom)] };
                cursors.push(Cursor { chain: Chain::Lsh, slot, taken: 0, limit: (self.config.lsh_walk_limit * reach) as u32, passive_taken: 0 });
            }
        }
        cursors.retain(|c| c.slot != NONE && c.limit > 0);
        for cursor in &cursors {
            self.prefetch_entry(cursor);
        }
        while !cursors.is_empty() {
            for cursor in &mut cursors {
                let slot = cursor.slot as usize;
                let (owner, prev) = match cursor.chain {
                    Chain::Key => {
                        let (prev, owner) = self.key_links[slot];
                        (owner, prev)
                    }
                    Chain::Person => (cursor.slot, self.person_prev[slot]),
                    Chain::Lsh => (cursor.slot / tables as u32, self.lsh_prev[slot]),
                };
                if owner != me {
                    if self.walk_passive(owner) {
                        cursor.passive_taken += 1;
                        if cursor.passive_taken <= cursor.limit {
                            out.push(owner);
                        }
                    } else {
                        out.push(owner);
                        cursor.taken += 1;
                    }
                }
                let open = cursor.taken < cursor.limit && cursor.passive_taken < cursor.limit * PASSIVE_WALK_FACTOR;
                cursor.slot = if open { prev } else { NONE };
            }
            cursors.retain(|c| c.slot != NONE);
            for cursor in &cursors {
                self.prefetch_entry(cursor);
            }
        }
        self.scratch_cursors = cursors;
        // Chains keep withdrawn entries; they are dropped here, once each.
        out.sort_unstable();
        out.dedup();
        for &owner in &out {
            crate::bloom::prefetch(&self.nodes[owner as usize]);
            crate::bloom::prefetch(&self.tokens[owner as usize]);
            self.uf.prefetch(InvolvementId::from(owner));
        }
        out.retain(|owner| self.uf.is_alive(InvolvementId::from(*owner)));
        out.truncate(self.config.max_candidates * reach);
        out
    }

    /// Which match-key rungs two involvements share (a bit per rung): what
    /// an explanation shows. Scoring does not need it, so it is worked out
    /// only for the pairs a decision records.
    pub(super) fn keys_agreeing(&self, a: u32, b: u32) -> u32 {
        let (keys_a, keys_b) = (self.keys_of(a), self.keys_of(b));
        let mut agreeing = 0u32;
        // Both lists are sorted: merge.
        let (mut i, mut j) = (0, 0);
        while i < keys_a.len() && j < keys_b.len() {
            match keys_a[i].cmp(&keys_b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    agreeing |= kind_bit(keys_a[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        agreeing
    }

    pub(super) fn levels(&self, a: u32, b: u32, dice: Option<f32>) -> Levels {
        let (ia, ib) = (a as usize, b as usize);
        let (na, nb) = (&self.nodes[ia], &self.nodes[ib]);
        let mut levels: Levels = [0; 7];
        self.tokens[ia].fill_levels(&self.tokens[ib], &mut levels);
        levels[at::DICE] = dice_level(dice);
        levels[at::PERSON] = if na.agency != nb.agency {
            0
        } else if na.person == nb.person {
            1
        } else {
            2
        };
        levels
    }

    /// Counts a name token once per (agency, person).
    pub(super) fn count_name(&mut self, name: u32, person_key: u64) {
        if name == 0 || !self.name_seen.insert(person_key ^ (u64::from(name) << 7).rotate_left(29)) {
            return;
        }
        let count = self.name_counts.entry(name).or_insert(0);
        let before = f64::from(*count);
        *count += 1;
        let after = f64::from(*count);
        let term = |c: f64| if c > 0.0 { c * c.ln() } else { 0.0 };
        self.name_log_sum += term(after) - term(before);
        self.name_people += 1;
    }

    /// The term-frequency adjustment of an agreeing full name, in bits:
    /// log2 of how much rarer the name is than the typical person's name
    /// (the person-weighted geometric mean of name counts), so that agreeing
    /// on "John Smith" counts for less than agreeing on a rare name, and the
    /// adjustment averages out to nothing over people.
    pub fn name_frequency_adjustment(&self, name: u32) -> f32 {
        const LIMIT: f32 = 4.0;
        let Some(&count) = self.name_counts.get(&name) else { return 0.0 };
        if self.name_people == 0 || count == 0 {
            return 0.0;
        }
        let typical = self.name_log_sum / self.name_people as f64;
        (((typical - f64::from(count).ln()) / std::f64::consts::LN_2) as f32).clamp(-LIMIT, LIMIT)
    }
}
