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

/// Below this Dice (the two lowest bands, where encodings share little
/// more than a date of birth), a pair whose full names share nothing is
/// taken for two people (see [`Linker::strangers`]).
const STRANGERS_DICE: f32 = crate::model::DICE_BANDS[crate::model::DICE_BANDS.len() - 2];

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
    /// A fingerprint of the agency's record (case) the involvement is part
    /// of, or 0. Two people one record names under different person refs
    /// are two people: they never share a profile. A record's involvements
    /// are inserted one after another, under consecutive ids.
    pub record: u64,
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
    /// The other is in this involvement's profile already (joined through
    /// others) and matches it: recorded, nothing linked, so that a view of
    /// some of the profile's records can tell which match each other
    /// directly.
    Matched,
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
            Decision::Matched => "matched",
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
            Decision::Matched => 6,
        }
    }

    /// From the wire number.
    pub fn from_number(number: u32) -> Option<Decision> {
        [Decision::Joined, Decision::Merged, Decision::ReviewUncertain, Decision::ReviewWouldChain, Decision::ReviewConflict, Decision::Matched]
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
    record: u64,
    key_start: u32,
    key_count: u8,
    passive: bool,
}

impl Node {
    const EMPTY: Node = Node { bloom: Bloom::EMPTY, ones: 0, agency: u32::MAX, person: 0, record: 0, key_start: 0, key_count: 0, passive: false };
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
    /// By agency number: whether any of the agency's records says a sex
    /// (see [`Linker::twins`]).
    agencies_recording_sex: Vec<bool>,
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
            agencies_recording_sex: Vec::new(),
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
    /// singleton again and linked afresh with the model refitted to every
    /// pair counted so far and the current name frequencies, in an order
    /// that depends on the records' content, not on when they arrived — so
    /// the same records give the same profiles whatever order they were
    /// uploaded in. Returns each member's outcome.
    pub fn relink(&mut self, ids: &[InvolvementId]) -> Vec<(InvolvementId, Outcome)> {
        // The model is fitted to every pair counted so far: refits happen as
        // the counts grow by a quarter, so the last one may have seen up to a
        // fifth fewer pairs, and which pairs those were moves with the scheme
        // secret. A small data set may not have reached the first fit at all;
        // its decisions are not left to the starting values.
        if self.model.pairs_seen() > self.model.pairs_at_last_fit() && self.model.pairs_seen() >= MIN_SETTLE_FIT_PAIRS {
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
    /// the index chains are rebuilt in content order, the pairs compared
    /// while re-linking everything in that order are counted afresh, the
    /// model is fitted to those counts, and everything is re-linked once
    /// more with it. The result depends on the records, not on the order
    /// they arrived in (the model's counts, and which candidates a walk
    /// meets first, otherwise reflect it).
    pub fn relink_everything(&mut self) -> Vec<(InvolvementId, Outcome)> {
        let live = self.live_ids();
        self.model = Model::new();
        let order = self.reset_in_content_order(&live);
        self.rechain(&order);
        for &id in &order {
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

mod candidates;
mod decide;
mod guards;

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
            if name != 0 {
                t.forename_by_dob = t.dob ^ name.wrapping_mul(0x9e37);
                t.surname_by_dob = t.dob ^ name.wrapping_mul(0x7f4a);
            }
        }
        if postcode != 0 {
            t.postcode = postcode * 104_729;
        }
        t
    }

    fn person(agency: u32, person: u64, tokens: Tokens, keys: &[(u8, u8)]) -> Involvement {
        Involvement { keys: keys.iter().map(|(kind, value)| key(*kind, *value)).collect(), bloom: None, agency, person, record: 0, tokens, passive: false }
    }

    /// Name + dob + postcode agree: linked by field evidence alone.
    fn same(agency: u32, id: u64, name: u32, dob: i64) -> Involvement {
        person(agency, id, tokens(name, Some(dob), name + 1000), &[])
    }

    #[test]
    fn the_twins_pattern_is_refused_where_an_agency_records_sex_and_left_to_the_model_where_neither_does() {
        // One surname and date of birth, two forenames that are different
        // names: twins, or a forename recorded wrongly.
        let pair = |sexes: [u32; 2], another_record_of_agency_0_says_a_sex: bool| {
            let mut linker = Linker::new(LinkerConfig::default());
            let (mut a, mut b) = (tokens(1, Some(14_000), 0), tokens(2, Some(14_000), 0));
            b.surname_by_dob = a.surname_by_dob;
            (a.sex_by_name, b.sex_by_name) = (sexes[0], sexes[1]);
            assert_eq!(a.name_level(&b), 4);
            if another_record_of_agency_0_says_a_sex {
                let mut other = tokens(3, Some(9_000), 0);
                other.sex_by_name = 7;
                linker.insert(2, &person(0, 30, other, &[]));
            }
            linker.insert(0, &person(0, 10, a, &[]));
            linker.insert(1, &person(1, 20, b, &[]));
            linker.twins(0, 1, None)
        };
        assert!(pair([5, 5], false), "both say a sex");
        assert!(pair([5, 0], false), "one says a sex");
        assert!(pair([0, 0], true), "neither says one, but an agency records sex (unborn twins recorded as Unknown)");
        assert!(!pair([0, 0], false), "neither agency records sex");
    }

    #[test]
    fn a_relink_decides_with_a_model_fitted_to_every_pair_counted() {
        let mut linker = Linker::new(LinkerConfig::default());
        let mut id = 0;
        // Past the first fit, then some way short of the next.
        while linker.model().pairs_at_last_fit() == 0 || linker.model().pairs_seen() < linker.model().pairs_at_last_fit() + 50 {
            id += 1;
            let name = (id as u32 % 40) + 1;
            linker.insert(id, &same((id % 4) as u32, id, name, 14_000 + i64::from(name)));
        }
        assert!(linker.model().pairs_seen() > linker.model().pairs_at_last_fit());
        linker.relink(&[1]);
        assert_eq!(linker.model().pairs_at_last_fit(), linker.model().pairs_seen());
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
    fn names_sharing_nothing_never_link_on_a_date_of_birth_and_a_place() {
        let mut linker = Linker::new(LinkerConfig::default());
        // Two people with one birthday at one postcode, found through a
        // shared key; their names agree in no way.
        linker.insert(1, &person(0, 1, tokens(1, Some(14_000), 5), &[(4, 1)]));
        let other = linker.insert(2, &person(1, 2, tokens(2, Some(14_000), 5), &[(4, 1)]));
        assert_ne!(linker.profiles().find(1), linker.profiles().find(2), "{other:?}");
        let evidence = linker.compare(1, 2).expect("both indexed");
        assert_eq!(evidence.levels[at::NAME], 6, "{evidence:?}");
        assert!(evidence.conflict, "{evidence:?}");
        // An identifier both records hold vouches for the pair.
        let mut a = tokens(1, Some(14_000), 5);
        let mut b = tokens(2, Some(14_000), 5);
        a.ids[0] = (1, 42);
        b.ids[0] = (1, 42);
        linker.insert(3, &person(0, 3, a, &[(4, 2)]));
        linker.insert(4, &person(1, 4, b, &[(4, 2)]));
        assert!(!linker.compare(3, 4).expect("both indexed").conflict);
    }

    #[test]
    fn strangers_end_where_the_encodings_reach_the_second_lowest_band() {
        // Encodings of 100 bits each, sharing `100 - shift` of them.
        let encoding = |from: usize| {
            let mut words = [0u64; crate::bloom::WORDS];
            for bit in from..from + 100 {
                words[bit / 64] |= 1 << (bit % 64);
            }
            Bloom::from_words(words)
        };
        for (shift, dice, strangers) in [(44, 0.56, false), (46, 0.54, true)] {
            let mut linker = Linker::new(LinkerConfig::default());
            let mut a = person(0, 1, tokens(1, Some(14_000), 5), &[(4, 1)]);
            let mut b = person(1, 2, tokens(2, Some(14_000), 5), &[(4, 1)]);
            a.bloom = Some(encoding(0));
            b.bloom = Some(encoding(shift));
            linker.insert(1, &a);
            linker.insert(2, &b);
            let evidence = linker.compare(1, 2).expect("both indexed");
            assert!(evidence.dice.is_some_and(|d| (d - dice).abs() < 1e-6), "{evidence:?}");
            assert_eq!(evidence.conflict, strangers, "Dice {dice}: {evidence:?}");
        }
    }

    #[test]
    fn a_record_that_names_no_one_cannot_bring_strangers_together_whichever_arrives_first() {
        // Two people sharing a birthday and a postcode, whose names agree in
        // no way, and a record that names no one and agrees with both on
        // everything it holds.
        let involvement = |id: u64| match id {
            1 => person(0, 1, tokens(1, Some(14_000), 5), &[(4, 1)]),
            2 => person(1, 2, tokens(2, Some(14_000), 5), &[(4, 1)]),
            _ => person(2, 3, tokens(0, Some(14_000), 5), &[(4, 1)]),
        };
        for order in ORDERS {
            let mut linker = Linker::new(LinkerConfig::default());
            let outcomes: Vec<Outcome> = order.iter().map(|&id| linker.insert(id, &involvement(id))).collect();
            let find = |id| linker.profiles().find(id);
            assert!(find(3) == find(1) || find(3) == find(2), "{order:?}: the nameless record links to one of them: {outcomes:?}");
            assert_ne!(find(1), find(2), "{order:?}: {outcomes:?}");
        }
        // An agency's own person ref still brings in a record whose name
        // changed: the stranger joins through it.
        let mut linker = Linker::new(LinkerConfig::default());
        linker.insert(1, &involvement(1));
        linker.insert(3, &involvement(3));
        let renamed = linker.insert(2, &person(0, 1, tokens(2, Some(14_000), 5), &[(4, 1)]));
        assert_eq!(linker.profiles().find(2), linker.profiles().find(1), "{renamed:?}");
        // Another agency's record under the new name joins through the
        // member whose name it shares.
        let known = linker.insert(4, &person(1, 4, tokens(2, Some(14_000), 5), &[(4, 1)]));
        assert_eq!(linker.profiles().find(4), linker.profiles().find(1), "{known:?}");
    }

    /// Every order in which three records can arrive.
    const ORDERS: [[u64; 3]; 6] = [[1, 2, 3], [1, 3, 2], [2, 1, 3], [2, 3, 1], [3, 1, 2], [3, 2, 1]];

    #[test]
    fn a_record_tied_to_one_stranger_by_an_identifier_ties_nothing_to_the_other() {
        // Two people sharing a birthday and a postcode, whose names agree in
        // no way; the second has an NHS number. A record that names no one
        // carries that NHS number and agrees with both on everything else.
        let involvement = |id: u64| match id {
            1 => person(0, 1, tokens(1, Some(14_000), 5), &[(4, 1)]),
            2 => person(1, 2, tokens(2, Some(14_000), 5), &[(4, 1), (1, 42)]),
            _ => person(2, 3, tokens(0, Some(14_000), 5), &[(4, 1), (1, 42)]),
        };
        for order in ORDERS {
            let mut linker = Linker::new(LinkerConfig::default());
            let outcomes: Vec<Outcome> = order.iter().map(|&id| linker.insert(id, &involvement(id))).collect();
            let find = |id| linker.profiles().find(id);
            assert_ne!(find(1), find(2), "{order:?}: {outcomes:?}");
            let refused = outcomes.iter().flat_map(|o| &o.entries).any(|e| matches!(e.decision, Decision::ReviewConflict | Decision::ReviewWouldChain));
            assert!(find(3) != find(2) || refused, "{order:?}: a refused join is left for review: {outcomes:?}");
        }
    }

    #[test]
    fn a_renamed_record_merges_the_profiles_of_its_old_and_new_names() {
        // Agency 0 knows person 1 under name 1; agency 1 knows them under
        // name 2 (the two records are strangers). Agency 0's record under
        // the new name is tied to the first by its person ref and to the
        // second by its name: it joins one profile and merges the other.
        for order in ORDERS {
            let involvement = |id: u64| match id {
                1 => person(0, 1, tokens(1, Some(14_000), 5), &[(4, 1)]),
                2 => person(1, 2, tokens(2, Some(14_000), 5), &[(4, 1)]),
                _ => person(0, 1, tokens(2, Some(14_000), 5), &[(4, 1)]),
            };
            let mut linker = Linker::new(LinkerConfig::default());
            let outcomes: Vec<Outcome> = order.iter().map(|&id| linker.insert(id, &involvement(id))).collect();
            let find = |id| linker.profiles().find(id);
            assert!(find(1) == find(2) && find(2) == find(3), "{order:?}: {outcomes:?}");
        }
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
