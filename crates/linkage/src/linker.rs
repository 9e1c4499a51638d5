//! Incremental linkage: candidates from a blocking index, Fellegi–Sunter
//! scores, and profile decisions that resist chaining.
//!
//! For each new involvement the linker
//! 1. gathers **candidates**: involvements that share a match key, and
//!    involvements whose Bloom encoding falls in the same bucket of any of
//!    several Hamming-LSH tables (bit-sampling hashes of the encoding). Each
//!    index chain is walked for at most [`LinkerConfig::walk_limit`] live
//!    entries and the total is capped at [`LinkerConfig::max_candidates`], so no
//!    input can explode the work;
//! 2. **scores** each candidate pair: the agreement pattern (NHS number, the
//!    strongest agreeing match-key rung, the Dice band of the encodings, and
//!    agency/person-ref) looked up in the [`Model`];
//! 3. **decides**: it joins the profile of the best candidate whose match
//!    probability reaches [`LinkerConfig::link_probability`]. A second profile
//!    that also reaches it is merged in only if the two profiles, without the
//!    new involvement, are themselves plausibly one person (some pair across
//!    them reaches the review probability); otherwise the new involvement is
//!    not allowed to chain them together and the pair goes to review. Pairs
//!    in the uncertain band go to review instead of linking.
//!
//! A **passive** involvement (an outcome event's child) only attaches: it
//! joins the one profile it matches best and never merges two; cases never
//! join through it, it takes no part in the conflict and consistency checks
//! of their decisions, and its comparisons do not train the model. A case
//! that matches a passive involvement still on its own takes it in.
//!
//! Everything here is in memory and derived: the node keeps the data in
//! RocksDB and rebuilds this index when it starts.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::bloom::{dice_many, Bloom, BITS};
use crate::fields::Tokens;
use crate::model::{at, dice_level, Levels, Model, Score};
use crate::union_find::UnionFind;
use crate::{mix, InvolvementId};

/// One match key as the linker holds it: the rung and 56 bits of the keyed
/// hash (the rung in the top byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyFingerprint(u64);

impl KeyFingerprint {
    /// From a rung number (1..=127) and the keyed hash (at least 8 bytes).
    pub fn new(kind: u8, hash: &[u8]) -> Option<KeyFingerprint> {
        let head: [u8; 8] = hash.get(..8)?.try_into().ok()?;
        if kind == 0 || kind >= 0x80 {
            return None;
        }
        Some(KeyFingerprint((u64::from(kind) << 56) | (u64::from_le_bytes(head) & MASK56)))
    }

    /// The rung.
    pub fn kind(self) -> u8 {
        (self.0 >> 56) as u8
    }
}

const MASK56: u64 = (1 << 56) - 1;
/// The most bits an LSH table samples (its heads are a direct array).
pub const MAX_LSH_BITS: usize = 24;

/// The bit of a stored key's rung in an agreement mask. Rungs the scoring
/// does not know (32 and above) still block candidates but set no bit.
fn kind_bit(fingerprint: u64) -> u32 {
    1u32.checked_shl((fingerprint >> 56) as u32).unwrap_or(0)
}

/// The name of a match-key rung by its wire number (see `records.proto`).
pub fn key_kind_name(kind: u32) -> &'static str {
    match kind {
        1 => "nhs-number",
        2 => "name+dob",
        3 => "name(surname part)+dob",
        4 => "initial+surname+dob+sex",
        5 => "name+dob(day/month either way)",
        6 => "names(either order)+dob",
        7 => "name+birth-year+district",
        8 => "forename+dob+sex+district",
        9 => "name+postcode",
        10 => "phonetic-name+dob",
        11 => "other-identifier",
        12 => "phonetic-name+postcode",
        _ => "unknown",
    }
}
const NONE: u32 = u32::MAX;

/// Blocking keys the node derives from field tokens (rungs from 0x60 up, so
/// they never collide with an agency's match keys): forename + date of
/// birth and surname + date of birth, which find a record whose other name
/// changed or is misspelt beyond the encoding's reach; and, from
/// [`BROAD_KEYS`] up, the date of birth alone and the address line, which
/// many people share, so their chains are walked less far
/// ([`LinkerConfig::broad_walk_limit`]).
fn token_keys(tokens: &Tokens) -> impl Iterator<Item = KeyFingerprint> {
    [(0x60, tokens.forename_by_dob), (0x61, tokens.surname_by_dob), (BROAD_KEYS, tokens.dob), (BROAD_KEYS + 1, tokens.address)]
        .into_iter()
        .filter(|(_, token)| *token != 0)
        .map(|(kind, token)| KeyFingerprint((u64::from(kind) << 56) | u64::from(token)))
}

/// Below this Dice, a pair whose forenames differ while surname and date of
/// birth agree is taken for twins (a misspelt forename keeps most of its
/// bigrams and stays above it).
const TWIN_DICE: f32 = 0.80;

/// Pairs compared before a re-link fits a model that has never been
/// fitted.
const MIN_SETTLE_FIT_PAIRS: u64 = 100;

/// How much further than a new involvement's a re-linked one's index
/// chains are walked.
const RELINK_REACH: usize = 4;

/// The first rung of the broad blocking keys.
const BROAD_KEYS: u8 = 0x68;

/// What the linker needs of one involvement.
#[derive(Debug, Clone, PartialEq)]
pub struct Involvement {
    /// Match keys (any order).
    pub keys: Vec<KeyFingerprint>,
    /// Bloom encoding, if the agency could encode a name.
    pub bloom: Option<Bloom>,
    /// The submitting agency, as a small number the caller assigns.
    pub agency: u32,
    /// A fingerprint of the agency's person ref.
    pub person: u64,
    /// Field tokens.
    pub tokens: Tokens,
    /// Attaches to a profile, never shapes one (see the module docs).
    pub passive: bool,
}

/// Tunable limits and thresholds. The defaults are used everywhere; they
/// are not tuned per dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkerConfig {
    /// Hamming-LSH tables over the encodings.
    pub lsh_tables: usize,
    /// Bits sampled per table (at most [`MAX_LSH_BITS`]).
    pub lsh_bits: usize,
    /// Live entries read per match-key (and person-ref) chain.
    pub walk_limit: usize,
    /// Live entries read per LSH bucket.
    pub lsh_walk_limit: usize,
    /// Live entries read per broad key chain (date of birth alone, address).
    pub broad_walk_limit: usize,
    /// Candidates scored per involvement.
    pub max_candidates: usize,
    /// Match probability at or above which a pair links.
    pub link_probability: f32,
    /// Match probability at or above which an unlinked pair goes to review.
    pub review_probability: f32,
    /// Members per profile compared when checking whether two profiles may
    /// merge, or whether a profile is consistent with a new member.
    pub merge_check_members: usize,
    /// Mean match probability a new involvement must have with the sampled
    /// members of a profile (of two or more) to join it.
    pub join_support: f32,
}

impl Default for LinkerConfig {
    fn default() -> LinkerConfig {
        LinkerConfig {
            lsh_tables: 8,
            lsh_bits: 20,
            walk_limit: 24,
            lsh_walk_limit: 3,
            broad_walk_limit: 4,
            max_candidates: 256,
            link_probability: 0.7,
            review_probability: 0.2,
            merge_check_members: 8,
            join_support: 0.3,
        }
    }
}

/// The evidence for one compared pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// The other involvement.
    pub other: InvolvementId,
    /// Bit `k` set when match-key rung `k` agrees.
    pub keys_agreeing: u32,
    /// Dice similarity of the encodings, when both have one.
    pub dice: Option<f32>,
    /// The pattern's levels, one per [`crate::model::FEATURES`] entry.
    pub levels: Levels,
    /// Log2 likelihood ratio (with the name's term-frequency adjustment).
    pub weight: f32,
    /// Match probability.
    pub probability: f32,
    /// The term-frequency adjustment included in `weight` (bits; negative
    /// for a common name).
    pub name_frequency: f32,
    /// True when an identifier or the date of birth conflicts and no
    /// stronger identifier agrees: the pair may never be linked.
    pub conflict: bool,
}

/// What was decided about a compared pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The involvement joined the other's profile.
    Joined,
    /// The involvement's profile and the other's were merged.
    Merged,
    /// Uncertain: left unlinked, for a person to review.
    ReviewUncertain,
    /// Linkable, but it would have merged two profiles that do not look like
    /// one person apart from this involvement: left unlinked, for review.
    ReviewWouldChain,
    /// Linkable on its score, but an identifier or the date of birth
    /// conflicts with the other involvement or its profile (and no stronger
    /// identifier agrees): never linked, left for review.
    ReviewConflict,
}

impl Decision {
    /// A short name for explanations.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Joined => "joined",
            Decision::Merged => "merged",
            Decision::ReviewUncertain => "review:uncertain",
            Decision::ReviewWouldChain => "review:would-chain-profiles",
            Decision::ReviewConflict => "review:conflicting-identity",
        }
    }

    /// The wire number (stable).
    pub fn number(self) -> u32 {
        match self {
            Decision::Joined => 1,
            Decision::Merged => 2,
            Decision::ReviewUncertain => 3,
            Decision::ReviewWouldChain => 4,
            Decision::ReviewConflict => 5,
        }
    }

    /// From the wire number.
    pub fn from_number(number: u32) -> Option<Decision> {
        [Decision::Joined, Decision::Merged, Decision::ReviewUncertain, Decision::ReviewWouldChain, Decision::ReviewConflict]
            .into_iter()
            .find(|decision| decision.number() == number)
    }
}

/// One decision with its evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkEntry {
    /// What was decided.
    pub decision: Decision,
    /// Why.
    pub evidence: Evidence,
}

/// Everything decided for one involvement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Links made and pairs sent to review, strongest first.
    pub entries: Vec<LinkEntry>,
    /// Candidates compared.
    pub compared: u32,
}

#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type Heads = HashMap<u64, u32, BuildHasherDefault<IdHasher>>;

/// A profile's guard members: (signature, member).
type GuardMembers = Vec<(u64, u32)>;

#[derive(Clone, Copy)]
enum Chain {
    Key,
    Person,
    Lsh,
}

/// A walk along one index chain.
struct Cursor {
    chain: Chain,
    slot: u32,
    taken: u32,
    limit: u32,
    /// Passive entries read: they have a budget of their own
    /// ([`PASSIVE_WALK_FACTOR`] times `limit`), so outcome events at the
    /// head of a chain never crowd out the cases behind them.
    passive_taken: u32,
}

/// How many passive entries a chain walk may read, per live entry it may
/// take.
const PASSIVE_WALK_FACTOR: u32 = 4;

/// What the linker keeps of one involvement, together so that scoring a
/// candidate touches one place in memory.
#[derive(Clone, Copy)]
struct Node {
    bloom: Bloom,
    ones: u32,
    agency: u32,
    person: u64,
    key_start: u32,
    key_count: u8,
    passive: bool,
}

impl Node {
    const EMPTY: Node = Node { bloom: Bloom::EMPTY, ones: 0, agency: u32::MAX, person: 0, key_start: 0, key_count: 0, passive: false };
}

/// The linker: the blocking index, the profiles and the model.
pub struct Linker {
    config: LinkerConfig,
    positions: Vec<Vec<u16>>,
    heads: Heads,
    // Per involvement id.
    nodes: Vec<Node>,
    /// One bit per involvement id: passive. Read on every step of a
    /// candidate walk, so kept apart from the nodes (a walk step stays one
    /// memory access), and not read at all while no involvement is passive.
    passive_bits: Vec<u64>,
    any_passive: bool,
    lsh_prev: Vec<u32>,
    /// Newest entry of each LSH bucket, tables one after another (a direct
    /// array: 2^bits entries per table).
    lsh_heads: Vec<u32>,
    person_prev: Vec<u32>,
    // Per key slot.
    key_fp: Vec<u64>,
    /// Per key slot: (previous slot with the same key, owner id), together
    /// so a chain step is one memory access.
    key_links: Vec<(u32, u32)>,
    uf: UnionFind,
    model: Model,
    /// Per involvement id: field tokens.
    tokens: Vec<Tokens>,
    /// Per profile root: the members that can conflict with anything, one
    /// per distinct guard signature, with the profile's size when worked
    /// out (a profile only grows by unions, so a size that still matches
    /// means the list is current; resets and rollbacks clear it all).
    guards: std::cell::RefCell<HashMap<InvolvementId, (u32, GuardMembers), BuildHasherDefault<IdHasher>>>,
    /// Term frequencies of full names: distinct (agency, person) per name
    /// token.
    name_counts: HashMap<u32, u32, BuildHasherDefault<IdHasher>>,
    name_seen: std::collections::HashSet<u64, BuildHasherDefault<IdHasher>>,
    /// Σ count·ln(count) over name tokens, and Σ count.
    name_log_sum: f64,
    name_people: u64,
    // Scratch.
    scratch_ids: Vec<u32>,
    scratch_blooms: Vec<Bloom>,
    scratch_ones: Vec<u32>,
    scratch_dice: Vec<f32>,
    scratch_keys: Vec<KeyFingerprint>,
    scratch_buckets: Vec<usize>,
    scratch_cursors: Vec<Cursor>,
}

impl Linker {
    /// An empty linker.
    pub fn new(config: LinkerConfig) -> Linker {
        let mut state = 0x5eed_b4a1_d000_0001u64;
        let positions = (0..config.lsh_tables)
            .map(|_| {
                (0..config.lsh_bits.min(MAX_LSH_BITS))
                    .map(|_| {
                        state = mix(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
                        (state % BITS as u64) as u16
                    })
                    .collect()
            })
            .collect();
        let lsh_heads = vec![NONE; config.lsh_tables << config.lsh_bits.min(MAX_LSH_BITS)];
        Linker {
            config,
            positions,
            heads: Heads::default(),
            nodes: Vec::new(),
            passive_bits: Vec::new(),
            any_passive: false,
            lsh_prev: Vec::new(),
            lsh_heads,
            person_prev: Vec::new(),
            key_fp: Vec::new(),
            key_links: Vec::new(),
            uf: UnionFind::new(),
            model: Model::new(),
            tokens: Vec::new(),
            guards: std::cell::RefCell::new(HashMap::default()),
            name_counts: HashMap::default(),
            name_seen: std::collections::HashSet::default(),
            name_log_sum: 0.0,
            name_people: 0,
            scratch_ids: Vec::new(),
            scratch_blooms: Vec::new(),
            scratch_ones: Vec::new(),
            scratch_dice: Vec::new(),
            scratch_keys: Vec::new(),
            scratch_buckets: Vec::new(),
            scratch_cursors: Vec::new(),
        }
    }

    /// Makes room for involvement ids up to `ids` (as when loading a store
    /// of known size), so the index is not grown, and over-allocated, step
    /// by step.
    pub fn reserve(&mut self, ids: usize) {
        let more = ids.saturating_sub(self.nodes.len());
        self.nodes.reserve_exact(more);
        self.tokens.reserve_exact(more);
        self.lsh_prev.reserve_exact(more * self.config.lsh_tables);
        self.person_prev.reserve_exact(more);
        // About nine match keys per involvement.
        self.key_fp.reserve_exact(more * 9);
        self.key_links.reserve_exact(more * 9);
        // Chained keys: about ten per involvement (match keys and the person
        // ref), a third of them shared with another record of the person.
        self.heads.reserve(more * 7);
        self.uf.reserve(more);
    }

    /// The profiles.
    pub fn profiles(&self) -> &UnionFind {
        &self.uf
    }

    /// The profiles, for journaling and persistence.
    pub fn profiles_mut(&mut self) -> &mut UnionFind {
        &mut self.uf
    }

    /// The scoring model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Replaces the scoring model (loaded from storage, or restored when a
    /// batch fails before it is written).
    pub fn set_model(&mut self, model: Model) {
        self.model = model;
    }

    fn slot(id: InvolvementId) -> usize {
        usize::try_from(id).unwrap_or(usize::MAX)
    }

    /// The bucket of `bloom` in LSH table `table`: an index into
    /// `lsh_heads` (the sampled bits, read as a number, in the table's
    /// block).
    fn lsh_bucket(&self, table: usize, bloom: &Bloom) -> usize {
        let mut bits = 0usize;
        for (j, &position) in self.positions[table].iter().enumerate() {
            bits |= usize::from(bloom.bit(usize::from(position))) << j;
        }
        (table << self.positions[table].len()) | bits
    }

    fn person_key(agency: u32, person: u64) -> u64 {
        (0x7f << 56) | (mix(person ^ u64::from(agency).rotate_left(40)) & MASK56)
    }

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
            key_start: self.key_fp.len() as u32,
            key_count: keys.len() as u8,
            passive: involvement.passive,
        };
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

    fn keys_of(&self, id: u32) -> &[u64] {
        match self.nodes.get(id as usize) {
            Some(node) => {
                let start = node.key_start as usize;
                &self.key_fp[start..start + usize::from(node.key_count)]
            }
            None => &[],
        }
    }

    fn prefetch_entry(&self, cursor: &Cursor) {
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
    fn candidates(&mut self, id: InvolvementId, fresh: bool, reach: usize) -> Vec<u32> {
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
    fn keys_agreeing(&self, a: u32, b: u32) -> u32 {
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

    fn levels(&self, a: u32, b: u32, dice: Option<f32>) -> Levels {
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
    fn count_name(&mut self, name: u32, person_key: u64) {
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

    /// Whether two involvements conflict: their NHS numbers (which carry a
    /// check digit, so a typo is caught on premises) differ, or their dates
    /// of birth are more than eighteen months apart — and no stronger
    /// identifier (an agreeing NHS number or other identifier, or the same
    /// agency's person ref) vouches for them. Other identifiers that differ
    /// count against a pair but are no hard conflict: without a check digit
    /// a typo looks like another person.
    fn conflict(&self, a: u32, b: u32) -> bool {
        let (ta, tb) = (&self.tokens[a as usize], &self.tokens[b as usize]);
        if !ta.can_conflict() || !tb.can_conflict() {
            return false;
        }
        let (na, nb) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        if na.agency == nb.agency && na.person == nb.person {
            return false;
        }
        if ta.ids_state(tb) == crate::fields::IdState::Agree {
            return false;
        }
        (ta.nhs != 0 && tb.nhs != 0 && ta.nhs != tb.nhs) || ta.dob_apart(tb)
    }

    /// Whether a pair looks like twins (one surname and date of birth, two
    /// forenames that are not variants of each other and whose encodings
    /// are far apart) with nothing stronger vouching for it. Such a pair is
    /// never linked directly; unlike a [`Linker::conflict`], it does not
    /// keep the two out of one profile when other records show them to be
    /// one person (a forename recorded two ways).
    fn twins(&self, a: u32, b: u32, dice: Option<f32>) -> bool {
        let (ta, tb) = (&self.tokens[a as usize], &self.tokens[b as usize]);
        if !ta.twin_like(tb) || dice.is_some_and(|d| d >= TWIN_DICE) {
            return false;
        }
        let (na, nb) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        !(na.agency == nb.agency && na.person == nb.person) && ta.ids_state(tb) != crate::fields::IdState::Agree
    }

    /// Whether `id` conflicts with any member of `other`'s profile.
    fn conflicts_with_profile(&self, id: InvolvementId, other: InvolvementId) -> bool {
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
    fn current_guards(&self, of: InvolvementId) -> InvolvementId {
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
    fn union_keeping_guards(&mut self, a: InvolvementId, b: InvolvementId) {
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
    fn forget_guards(&mut self) {
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
    fn profiles_conflict(&self, id: InvolvementId, other: InvolvementId) -> bool {
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
    fn guard_signature(&self, m: u32) -> u64 {
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
    fn guard_members(&self, of: InvolvementId) -> GuardMembers {
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
    fn scored_pair(&self, a: InvolvementId, b: InvolvementId) -> Option<Evidence> {
        let (a32, b32) = (u32::try_from(a).ok()?, u32::try_from(b).ok()?);
        if a32 as usize >= self.nodes.len() || b32 as usize >= self.nodes.len() {
            return None;
        }
        let dice = self.pair_dice(a32, b32);
        Some(self.score(a32, b32, self.levels(a32, b32, dice), dice))
    }

    fn evidence(&self, a: u32, b: u32, dice: Option<f32>) -> Evidence {
        let levels = self.levels(a, b, dice);
        Evidence { keys_agreeing: self.keys_agreeing(a, b), ..self.score(a, b, levels, dice) }
    }

    /// Scores a compared pair; `keys_agreeing` is left empty (see
    /// [`Linker::keys_agreeing`]).
    fn score(&self, a: u32, b: u32, levels: Levels, dice: Option<f32>) -> Evidence {
        let name_frequency = if levels[at::NAME] <= 1 { self.name_frequency_adjustment(self.tokens[a as usize].name) } else { 0.0 };
        let Score { weight, mut probability } = self.model.score_adjusted(&levels, name_frequency);
        let conflict = self.conflict(a, b) || self.twins(a, b, dice);
        if levels[at::PERSON] == 1 {
            // The agency's own person ref is trusted within that agency.
            probability = 1.0;
        } else if conflict {
            probability = 0.0;
        }
        Evidence { other: InvolvementId::from(b), keys_agreeing: 0, dice, levels, weight, probability, name_frequency, conflict }
    }

    fn pair_dice(&self, a: u32, b: u32) -> Option<f32> {
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

    /// Adds a new involvement and links it. The model counts its compared
    /// pairs.
    pub fn insert(&mut self, id: InvolvementId, involvement: &Involvement) -> Outcome {
        self.index(id, involvement);
        self.decide(id, true, true)
    }

    /// Withdraws involvements without re-linking yet: they stop being
    /// candidates at once and stay in their profiles (holding them together)
    /// until [`Linker::withdraw_and_relink`] re-links those profiles.
    pub fn withdraw(&mut self, withdrawn: &[InvolvementId]) {
        self.uf.kill(withdrawn);
    }

    /// Withdraws involvements: they stop being candidates, and every member
    /// of the profiles they were in is made a singleton again and linked
    /// afresh, oldest first. Only those profiles are touched. Returns each
    /// re-linked member's outcome.
    pub fn withdraw_and_relink(&mut self, withdrawn: &[InvolvementId]) -> Vec<(InvolvementId, Outcome)> {
        let live = self.reset_profiles_of(withdrawn);
        live.into_iter().map(|id| (id, self.redecide(id))).collect()
    }

    /// The first half of [`Linker::withdraw_and_relink`]: makes every member
    /// of the profiles of `withdrawn` a singleton again (the withdrawn ones
    /// dead) and returns the live ones, to be passed to
    /// [`Linker::redecide`] in that order.
    pub fn reset_profiles_of(&mut self, withdrawn: &[InvolvementId]) -> Vec<InvolvementId> {
        let members = self.uf.members_of(withdrawn);
        let gone: std::collections::HashSet<InvolvementId> = withdrawn.iter().copied().collect();
        let alive: HashMap<InvolvementId, bool> = members.iter().map(|id| (*id, self.uf.is_alive(*id) && !gone.contains(id))).collect();
        self.uf.reset(&members, |id| alive.get(&id).copied().unwrap_or(false));
        self.forget_guards();
        members.into_iter().filter(|id| self.uf.is_alive(*id)).collect()
    }

    /// The second half of [`Linker::withdraw_and_relink`]: links one member
    /// of a reset profile afresh.
    pub fn redecide(&mut self, id: InvolvementId) -> Outcome {
        self.decide(id, false, false)
    }

    /// Re-decides the profiles that `ids` are in: every member is made a
    /// singleton again and linked afresh with the current model and name
    /// frequencies, in an order that depends on the records' content, not on
    /// when they arrived — so the same records give the same profiles
    /// whatever order they were uploaded in. Returns each member's outcome.
    pub fn relink(&mut self, ids: &[InvolvementId]) -> Vec<(InvolvementId, Outcome)> {
        // A small data set may not have reached the first fit while it was
        // arriving; its decisions are not left to the starting values.
        if self.model.pairs_at_last_fit() == 0 && self.model.pairs_seen() >= MIN_SETTLE_FIT_PAIRS {
            self.model.fit();
        }
        self.relink_reaching(ids, 1)
    }

    fn relink_reaching(&mut self, ids: &[InvolvementId], reach: usize) -> Vec<(InvolvementId, Outcome)> {
        let members = self.reset_in_content_order(ids);
        members.into_iter().map(|id| (id, self.decide_reaching(id, false, false, reach))).collect()
    }

    /// Makes every live member of the profiles of `ids` a singleton again
    /// and returns them in content order, to be decided afresh.
    fn reset_in_content_order(&mut self, ids: &[InvolvementId]) -> Vec<InvolvementId> {
        let mut members = self.uf.members_of(ids);
        members.retain(|id| self.uf.is_alive(*id));
        self.uf.reset(&members, |_| true);
        self.forget_guards();
        members.sort_by_key(|&id| (self.content_order(id), id));
        members
    }

    /// Re-estimates the model from scratch and re-decides every profile:
    /// the pairs compared while re-linking everything in content order are
    /// counted afresh, the model is fitted to those counts, and everything
    /// is re-linked once more with it. The result depends on the records,
    /// hardly on the order they arrived in (the model's counts otherwise
    /// reflect which pairs happened to be compared as they arrived).
    pub fn relink_everything(&mut self) -> Vec<(InvolvementId, Outcome)> {
        let live = self.live_ids();
        self.model = Model::new();
        for id in self.reset_in_content_order(&live) {
            self.decide(id, true, false);
        }
        self.model.fit();
        // Walking further this time makes which candidates are found depend
        // less on the order the index chains were built in.
        self.relink_reaching(&live, RELINK_REACH)
    }

    /// Every live involvement.
    pub fn live_ids(&self) -> Vec<InvolvementId> {
        self.uf.live_ids().collect()
    }

    /// An order key from an involvement's content (its agency's person ref
    /// and its tokens), independent of its id.
    fn content_order(&self, id: InvolvementId) -> u64 {
        let i = id as usize;
        let t = &self.tokens[i];
        mix(self.nodes[i].person ^ mix(u64::from(t.name) << 32 | u64::from(t.dob)) ^ mix(u64::from(t.postcode) << 32 | u64::from(t.address)))
    }

    fn decide(&mut self, id: InvolvementId, observe: bool, fresh: bool) -> Outcome {
        self.decide_reaching(id, observe, fresh, 1)
    }

    fn decide_reaching(&mut self, id: InvolvementId, observe: bool, fresh: bool, reach: usize) -> Outcome {
        let me = id as u32;
        let candidates = self.candidates(id, fresh, reach);
        let mut blooms = std::mem::take(&mut self.scratch_blooms);
        let mut ones = std::mem::take(&mut self.scratch_ones);
        let mut dice = std::mem::take(&mut self.scratch_dice);
        blooms.clear();
        ones.clear();
        dice.clear();
        for &c in &candidates {
            let node = &self.nodes[c as usize];
            blooms.push(node.bloom);
            ones.push(node.ones);
            if let Some(first) = self.key_fp.get(node.key_start as usize) {
                crate::bloom::prefetch(first);
            }
        }
        let query = self.nodes[me as usize].bloom;
        dice_many(&query, &blooms, &ones, &mut dice);
        let passive = self.nodes[me as usize].passive;
        let mut scored: Vec<(InvolvementId, Evidence)> = Vec::with_capacity(candidates.len());
        // Lone passive involvements this one may take in (a case deciding).
        let mut lone_passive: Vec<Evidence> = Vec::new();
        for (k, &c) in candidates.iter().enumerate() {
            let other_passive = self.nodes[c as usize].passive;
            // Passive involvements never link to each other, and a case
            // only takes in one that is still on its own.
            if other_passive && (passive || self.uf.size_of(InvolvementId::from(c)) > 1) {
                continue;
            }
            let similarity = if query.is_empty() || ones[k] == 0 { None } else { Some(dice[k]) };
            let levels = self.levels(me, c, similarity);
            if observe && !passive && !other_passive {
                self.model.observe(&levels);
            }
            let evidence = self.score(me, c, levels, similarity);
            if other_passive {
                lone_passive.push(evidence);
            } else {
                scored.push((self.uf.find(InvolvementId::from(c)), evidence));
            }
        }
        let compared = candidates.len() as u32;
        self.scratch_ids = candidates;
        self.scratch_blooms = blooms;
        self.scratch_ones = ones;
        self.scratch_dice = dice;

        // Best evidence per profile, strongest first.
        scored.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.weight.total_cmp(&a.1.weight)));
        scored.dedup_by_key(|entry| entry.0);
        scored.sort_by(|a, b| b.1.weight.total_cmp(&a.1.weight));

        let mut entries = Vec::new();
        let (link, review) = (self.config.link_probability, self.config.review_probability);
        let mut joined = false;
        for (root, evidence) in scored {
            if entries.len() >= 8 {
                break;
            }
            if evidence.conflict {
                let would_link = self.model.score_adjusted(&evidence.levels, evidence.name_frequency).probability;
                if would_link >= review && self.uf.find(root) != self.uf.find(id) {
                    entries.push(LinkEntry { decision: Decision::ReviewConflict, evidence });
                }
                continue;
            }
            if evidence.probability >= link {
                if self.uf.find(root) == self.uf.find(id) {
                    // Re-linking: an earlier member already joined this one
                    // (that link is stored with it).
                    joined = true;
                    continue;
                }
                if passive && joined {
                    // Attaches to one profile only.
                    break;
                }
                if self.conflicts_with_profile(id, root) || self.profiles_conflict(id, root) {
                    entries.push(LinkEntry { decision: Decision::ReviewConflict, evidence });
                } else if !joined && !self.consistent(id, root) {
                    entries.push(LinkEntry { decision: Decision::ReviewWouldChain, evidence });
                } else if !joined {
                    self.union_keeping_guards(id, evidence.other);
                    joined = true;
                    entries.push(LinkEntry { decision: Decision::Joined, evidence });
                } else if self.may_merge(id, root) {
                    self.union_keeping_guards(id, evidence.other);
                    entries.push(LinkEntry { decision: Decision::Merged, evidence });
                } else {
                    entries.push(LinkEntry { decision: Decision::ReviewWouldChain, evidence });
                }
            } else if evidence.probability >= review && self.uf.find(root) != self.uf.find(id) {
                entries.push(LinkEntry { decision: Decision::ReviewUncertain, evidence });
            }
        }
        // Lone passive involvements that match this one take its profile,
        // best first, each only where nothing in the profile conflicts.
        lone_passive.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        for evidence in lone_passive {
            if entries.len() >= 8 {
                break;
            }
            let other = evidence.other;
            if evidence.conflict || evidence.probability < link || self.uf.size_of(other) > 1 || self.conflicts_with_profile(other, id) {
                continue;
            }
            self.union_keeping_guards(id, other);
            entries.push(LinkEntry { decision: Decision::Joined, evidence });
        }
        for entry in &mut entries {
            entry.evidence.keys_agreeing = self.keys_agreeing(me, entry.evidence.other as u32);
        }
        Outcome { entries, compared }
    }

    /// Whether a walk's entry is passive (see [`Linker::passive_bits`]).
    fn walk_passive(&self, owner: u32) -> bool {
        self.any_passive && self.passive_bits.get(owner as usize / 64).is_some_and(|word| word >> (owner % 64) & 1 == 1)
    }

    /// Whether `id` only attaches (an outcome event's child).
    fn is_passive(&self, id: InvolvementId) -> bool {
        usize::try_from(id).ok().and_then(|i| self.nodes.get(i)).is_some_and(|node| node.passive)
    }

    /// Whether a singleton `id` is consistent with the profile of `other`:
    /// no member's NHS number disagrees and, for a profile of two or more,
    /// the mean match probability with a sample of its members reaches
    /// [`LinkerConfig::join_support`].
    fn consistent(&self, id: InvolvementId, other: InvolvementId) -> bool {
        if self.uf.size_of(other) < 2 {
            return true;
        }
        let (mut total, mut count) = (0.0f32, 0u32);
        for member in self.uf.members(other).filter(|&m| !self.is_passive(m)).take(self.config.merge_check_members) {
            if let Some(evidence) = self.scored_pair(id, member) {
                if evidence.conflict {
                    return false;
                }
                total += evidence.probability;
                count += 1;
            }
        }
        count == 0 || total / count as f32 >= self.config.join_support
    }

    /// Whether `id`'s profile (without `id`) and `other`'s profile look like
    /// one person on their own: some pair across them reaches the review
    /// probability.
    fn may_merge(&self, id: InvolvementId, other: InvolvementId) -> bool {
        let limit = self.config.merge_check_members;
        let ours: Vec<InvolvementId> = self.uf.members(id).filter(|&m| m != id && !self.is_passive(m)).take(limit).collect();
        let theirs: Vec<InvolvementId> = self.uf.members(other).filter(|&m| !self.is_passive(m)).take(limit).collect();
        let mut plausible = false;
        for &a in &ours {
            for &b in &theirs {
                if let Some(evidence) = self.scored_pair(a, b) {
                    if evidence.conflict {
                        return false;
                    }
                    plausible |= evidence.probability >= self.config.review_probability;
                }
            }
        }
        plausible
    }

    /// Bytes of memory held by the index and profiles, approximately.
    pub fn memory_bytes(&self) -> usize {
        // Arrays count what is in use (reserved room is address space until
        // touched); the hash map counts its whole table.
        self.nodes.len() * std::mem::size_of::<Node>()
            + self.lsh_prev.len() * 4
            + self.lsh_heads.len() * 4
            + self.person_prev.len() * 4
            + self.key_fp.len() * 8
            + self.key_links.len() * 8
            + self.passive_bits.len() * 8
            + self.heads.capacity() * (8 + 4 + 1)
            + self.uf.memory_bytes()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fields::WINDOWS;

    fn key(kind: u8, value: u8) -> KeyFingerprint {
        let mut hash = [0u8; 32];
        hash[0] = value;
        hash[1] = kind;
        KeyFingerprint::new(kind, &hash).expect("valid key")
    }

    /// A person as the agency side would tokenise them: a name class `name`
    /// (0: no name), a date of birth as a day number (`None`: not recorded),
    /// a postcode (0: none).
    pub(crate) fn tokens(name: u32, dob: Option<i64>, postcode: u32) -> Tokens {
        let mut t = Tokens::default();
        if name != 0 {
            t.name = name * 7919;
            t.name_any_order = name * 7919 + 1;
            t.name_phonetic = name * 7919 + 2;
            if postcode != 0 {
                t.district = mix(u64::from(name) << 32 | u64::from(postcode)) as u32 | 1;
            }
        }
        if let Some(day) = dob {
            t.dob = (day as u32).wrapping_mul(31) | 1;
            t.dob_any_order = t.dob;
            if name != 0 {
                for grid in 0..WINDOWS {
                    let window = (day + grid as i64 * 182).div_euclid(730);
                    t.dob_windows[grid] = mix(u64::from(name) << 40 ^ (grid as u64) << 32 ^ window as u64) as u32 | 1;
                }
            }
            t.forename_by_dob = t.dob ^ name.wrapping_mul(0x9e37);
            t.surname_by_dob = t.dob ^ name.wrapping_mul(0x7f4a);
        }
        if postcode != 0 {
            t.postcode = postcode * 104_729;
        }
        t
    }

    fn person(agency: u32, person: u64, tokens: Tokens, keys: &[(u8, u8)]) -> Involvement {
        Involvement { keys: keys.iter().map(|(kind, value)| key(*kind, *value)).collect(), bloom: None, agency, person, tokens, passive: false }
    }

    /// Name + dob + postcode agree: linked by field evidence alone.
    fn same(agency: u32, id: u64, name: u32, dob: i64) -> Involvement {
        person(agency, id, tokens(name, Some(dob), name + 1000), &[])
    }

    #[test]
    fn agreeing_fields_link_across_agencies_and_the_oldest_member_names_the_profile() {
        let mut linker = Linker::new(LinkerConfig::default());
        let first = linker.insert(1, &same(0, 10, 1, 14_000));
        assert!(first.entries.is_empty());
        let second = linker.insert(2, &same(1, 20, 1, 14_000));
        assert_eq!(second.entries[0].decision, Decision::Joined, "{second:?}");
        assert_eq!(second.entries[0].evidence.other, 1);
        linker.insert(3, &same(2, 30, 9, 15_000));
        assert_eq!(linker.profiles().smallest_member(2), 1);
        assert_eq!(linker.profiles().smallest_member(3), 3);
    }

    #[test]
    fn one_name_with_dates_of_birth_years_apart_never_links() {
        let mut linker = Linker::new(LinkerConfig::default());
        // A child and an adult with one common name, at one address.
        linker.insert(1, &person(0, 1, tokens(1, Some(14_000), 5), &[(9, 1)]));
        let adult = linker.insert(2, &person(1, 2, tokens(1, Some(14_000 - 3650), 5), &[(9, 1)]));
        assert_ne!(linker.profiles().find(1), linker.profiles().find(2));
        assert!(adult.entries.iter().all(|e| e.decision != Decision::Joined), "{adult:?}");
        // One day apart is a typo, not another person.
        let typo = linker.insert(3, &person(2, 3, tokens(1, Some(14_001), 5), &[(9, 1)]));
        assert_eq!(linker.profiles().find(1), linker.profiles().find(3), "{typo:?}");
    }

    #[test]
    fn a_record_without_a_date_of_birth_cannot_chain_a_child_to_an_adult() {
        let mut linker = Linker::new(LinkerConfig::default());
        linker.insert(1, &person(0, 1, tokens(1, Some(14_000), 5), &[(9, 1)]));
        linker.insert(2, &person(1, 2, tokens(1, Some(14_000 - 3650), 6), &[(9, 2)]));
        // Agrees with both on name, with the child's agency on its person
        // ref and with the adult on the postcode.
        let bridge = linker.insert(3, &person(0, 1, tokens(1, None, 6), &[(9, 2)]));
        assert_ne!(linker.profiles().find(1), linker.profiles().find(2), "{bridge:?}");
    }

    #[test]
    fn one_record_cannot_chain_two_people_whose_nhs_numbers_differ() {
        let mut linker = Linker::new(LinkerConfig::default());
        // Person X: two records with NHS number 1; person Y: two with NHS 2;
        // one name, one date of birth (twins would do it).
        linker.insert(1, &person(0, 1, tokens(1, Some(14_000), 5), &[(1, 1)]));
        linker.insert(2, &person(1, 2, tokens(1, Some(14_000), 5), &[(1, 1)]));
        linker.insert(3, &person(0, 3, tokens(1, Some(14_000), 5), &[(1, 2)]));
        linker.insert(4, &person(1, 4, tokens(1, Some(14_000), 5), &[(1, 2)]));
        assert_eq!(linker.profiles().find(1), linker.profiles().find(2));
        assert_eq!(linker.profiles().find(3), linker.profiles().find(4));
        assert_ne!(linker.profiles().find(1), linker.profiles().find(3));
        // A record without an NHS number that agrees with both.
        let outcome = linker.insert(5, &person(2, 5, tokens(1, Some(14_000), 5), &[]));
        assert_ne!(linker.profiles().find(1), linker.profiles().find(3), "{outcome:?}");
    }

    #[test]
    fn withdrawing_the_bridge_splits_a_profile_and_touches_nothing_else() {
        let mut linker = Linker::new(LinkerConfig::default());
        // a–b agree on every field; b–c share the agency's person ref; a and
        // c share nothing.
        linker.insert(1, &same(0, 1, 1, 14_000));
        linker.insert(2, &same(1, 2, 1, 14_000));
        linker.insert(3, &same(1, 2, 7, 9_000));
        linker.insert(4, &same(0, 4, 3, 12_000));
        linker.insert(5, &same(1, 5, 3, 12_000));
        assert_eq!(linker.profiles().find(1), linker.profiles().find(3));
        let _ = linker.profiles_mut().take_changes();
        let relinked = linker.withdraw_and_relink(&[2]);
        let ids: Vec<u64> = relinked.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![1, 3]);
        assert_ne!(linker.profiles().find(1), linker.profiles().find(3));
        assert!(!linker.profiles().is_alive(2));
        assert_eq!(linker.profiles().find(4), linker.profiles().find(5));
        // The untouched profile keeps its id.
        assert_eq!(linker.profiles().smallest_member(5), 4);
    }

    #[test]
    fn an_agencys_own_person_ref_links_its_records_even_when_identity_drifts() {
        let mut linker = Linker::new(LinkerConfig::default());
        linker.insert(1, &same(0, 77, 1, 14_000));
        let outcome = linker.insert(2, &same(0, 77, 2, 9_000));
        assert_eq!(outcome.entries[0].decision, Decision::Joined);
        assert_eq!(outcome.entries[0].evidence.levels[at::PERSON], 1);
        assert_eq!(linker.profiles().find(1), linker.profiles().find(2));
    }

    #[test]
    fn rungs_beyond_the_known_ones_are_blocking_keys_without_breaking_scoring() {
        let mut linker = Linker::new(LinkerConfig::default());
        linker.insert(1, &person(0, 1, tokens(1, Some(14_000), 5), &[(2, 1), (40, 1), (127, 1)]));
        let outcome = linker.insert(2, &person(1, 2, tokens(1, Some(14_000), 5), &[(2, 1), (40, 1), (127, 1)]));
        assert_eq!(outcome.entries[0].decision, Decision::Joined);
        assert_eq!(outcome.entries[0].evidence.keys_agreeing, 1 << 2);
    }

    #[test]
    fn a_common_name_weighs_less_than_a_rare_one() {
        let mut linker = Linker::new(LinkerConfig::default());
        for id in 1..=200u64 {
            // Name class 1 is carried by 100 different people, every other
            // name by one.
            let name = if id % 2 == 0 { 1 } else { 1000 + id as u32 };
            linker.index(id, &person((id % 4) as u32, id, tokens(name, Some(10_000 + id as i64 * 40), 0), &[]));
        }
        let common = linker.name_frequency_adjustment(tokens(1, None, 0).name);
        let rare = linker.name_frequency_adjustment(tokens(1001, None, 0).name);
        assert!(common < -2.0 && rare > 0.0, "common {common}, rare {rare}");
    }

    #[test]
    fn candidates_are_bounded_however_many_records_share_a_key() {
        let config = LinkerConfig::default();
        let cap = config.max_candidates as u32;
        let mut linker = Linker::new(config);
        for id in 1..=2000u64 {
            let outcome = linker.insert(id, &person(id as u32 % 3, id, tokens(1, Some(14_000), 5), &[(4, 1), (7, (id % 250) as u8)]));
            assert!(outcome.compared <= cap);
        }
    }

    /// A passive involvement: an outcome event's child.
    fn passive(agency: u32, id: u64, name: u32, dob: i64) -> Involvement {
        Involvement { passive: true, ..same(agency, id, name, dob) }
    }

    #[test]
    fn a_passive_involvement_attaches_without_shaping_profiles_or_the_model() {
        let mut linker = Linker::new(LinkerConfig::default());
        // Alone first: a case that matches it later takes it in.
        assert!(linker.insert(1, &passive(0, 10, 1, 14_000)).entries.is_empty());
        let case = linker.insert(2, &same(1, 20, 1, 14_000));
        assert_eq!(case.entries.iter().map(|e| (e.decision, e.evidence.other)).collect::<Vec<_>>(), vec![(Decision::Joined, 1)], "{case:?}");
        assert_eq!(linker.profiles().smallest_member(2), 1);
        // Two passive involvements never link to each other.
        linker.insert(3, &passive(2, 30, 7, 16_000));
        assert!(linker.insert(4, &passive(3, 40, 7, 16_000)).entries.is_empty());
        assert_ne!(linker.profiles().smallest_member(3), linker.profiles().smallest_member(4));
        // One attached to a profile is no way in for a case: the case links
        // to the profile's own case records or not at all.
        linker.insert(5, &same(0, 50, 9, 18_000));
        let attached = linker.insert(6, &passive(1, 60, 9, 18_000));
        assert_eq!(attached.entries.iter().map(|e| e.decision).collect::<Vec<_>>(), vec![Decision::Joined]);
        let pairs = linker.model().pairs_seen();
        linker.insert(7, &passive(2, 70, 9, 18_000));
        assert_eq!(linker.model().pairs_seen(), pairs, "a passive involvement's comparisons do not train the model");
        let joined: Vec<u64> =
            linker.insert(8, &same(3, 80, 9, 18_000)).entries.iter().filter(|e| e.decision == Decision::Joined).map(|e| e.evidence.other).collect();
        assert_eq!(joined, vec![5], "joined through the case record, not an attached event");
        assert_eq!(linker.profiles().smallest_member(8), 5);
        assert_eq!(linker.profiles().smallest_member(7), 5);
    }
}
