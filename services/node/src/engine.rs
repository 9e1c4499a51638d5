//! The ingest and linkage engine: one writer at a time applies a batch to the
//! linker and builds one atomic write (records, involvements, profile
//! pointers, link evidence, the model and the acknowledgement); the in-memory
//! changes are kept only when the write is durable, and rolled back
//! otherwise.
//!
//! RocksDB holds the data. The linker's index (match-key and LSH blocking
//! chains, packed encodings, profiles) is derived from it and rebuilt when
//! the node starts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use braid_audit::merkle::Hash;
use braid_audit::{Checkpoint, Entry};
use braid_linkage::model::{DICE, FEATURES, PERSON};
use braid_linkage::{key_kind_name, Bloom, Decision, InvolvementId, KeyFingerprint, Linker, LinkerConfig, Model, Outcome, Tokens};
use braid_proto::v1;
use braid_signals::{Facts, NewInvolvement};
use braid_store::{Store, StoredInvolvement, StoredLink, StoredLinks, StoredRecord, WriteSet};
use prost::Message;

use crate::audit::{AuditLog, CheckpointPolicy};
use crate::panel::{record_facts, PreparedFacts};
use crate::retention::{AgencyRetention, RetentionSettings};
use crate::space::{DiskSpace, StorageLimits};
use crate::validate::validate_record;

/// What the engine can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The upload's key epoch is not the node's.
    #[error(
        "the upload was pseudonymised under key epoch {offered}, but this node holds epoch {held}; re-pseudonymise the extract with the current scheme secret"
    )]
    EpochMismatch {
        /// The node's epoch fingerprint (not secret).
        held: String,
        /// The upload's.
        offered: String,
    },
    /// The upload or request does not fit the key rotation in progress
    /// (or that none is).
    #[error("{0}")]
    Rotation(String),
    /// The request is malformed as a whole.
    #[error("{0}")]
    InvalidRequest(String),
    /// Storage failed; nothing of the batch was applied.
    #[error(transparent)]
    Storage(#[from] braid_store::Error),
    /// What was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not see what it asked for.
    #[error("{0}")]
    Refused(String),
    /// The stored audit log does not verify; the node will not add to it.
    #[error("{0}")]
    AuditBroken(String),
    /// The node runs audit-only: it answers auditors' reads and changes
    /// nothing.
    #[error("{0}")]
    AuditOnly(String),
    /// The store could not be opened (no room, no directory).
    #[error("{0}")]
    Open(String),
    /// The disk is nearly full: changes are refused, reads continue.
    #[error(transparent)]
    DiskFull(#[from] crate::space::SpaceShort),
    /// A previous failure left the engine unusable.
    #[error("a batch could not be stored after it was linked, so the node's in-memory linkage state is no longer trusted; restart the node (acknowledged batches are safe; unacknowledged ones can be re-sent)")]
    Poisoned,
}

/// Who is uploading, from the stream's header.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Agency code.
    pub agency: String,
    /// Agency type.
    pub agency_type: String,
    /// Key epoch fingerprint.
    pub epoch: String,
    /// During a key rotation: the epoch the node is moving from, under
    /// which every involvement also carries bridge pseudonyms.
    pub bridge_epoch: Option<String>,
    /// Submission id.
    pub submission_id: String,
}

pub(crate) struct State {
    pub(crate) linker: Linker,
    /// What the signals need of every live record.
    pub(crate) facts: Facts,
    /// The current signals, per partnership.
    pub(crate) signals: crate::panel::SignalBooks,
    /// The ticket the next linked batch gets; writes happen in ticket order.
    next_ticket: u64,
    /// The members of a large profile being re-linked in slices: readers
    /// that would touch one wait until it is whole again (`lock_state`
    /// waits for it; a profile query waits only if its answer touches it).
    pub(crate) in_flux: Option<HashSet<InvolvementId>>,
    /// Fingerprints of every stored record's key: a record not in here is
    /// new, and needs no read.
    records: HashSet<u64>,
    pub(crate) agencies: HashMap<String, u32>,
    next_id: u64,
    pub(crate) epoch: Option<String>,
    /// The epoch a key rotation is moving to, while one is open.
    pub(crate) next_epoch: Option<String>,
    /// Agencies that have uploaded under the next epoch in the open
    /// rotation (their uploads under the current one are refused: they
    /// would hold records twice, under both refs).
    pub(crate) moving: HashSet<String>,
}

impl State {
    /// Updates the stored-record fingerprints after a durable write.
    fn note_records(&mut self, removed: &[u64], added: &[u64]) {
        for fingerprint in removed {
            self.records.remove(fingerprint);
        }
        self.records.extend(added);
    }

    fn agency_number(&mut self, agency: &str) -> u32 {
        agency_number(&mut self.agencies, agency)
    }

    /// The id the next involvement gets.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id
    }
}

/// The small number the linker knows an agency by (first come, first
/// numbered; stable across restarts because ids are loaded in order).
fn agency_number(agencies: &mut HashMap<String, u32>, agency: &str) -> u32 {
    match agencies.get(agency) {
        Some(number) => *number,
        None => {
            let number = agencies.len() as u32;
            agencies.insert(agency.to_owned(), number);
            number
        }
    }
}

/// The linker rebuilt from the store: every stored involvement indexed,
/// the stored profiles and the model loaded.
pub(crate) struct LoadedLinker {
    pub(crate) linker: Linker,
    /// The linker's agency numbers.
    pub(crate) agencies: HashMap<String, u32>,
    /// Which involvements carry identity, by id (ids are dense).
    identified: Vec<bool>,
    /// Agencies holding involvements with next-epoch pseudonyms.
    pub(crate) moving: HashSet<String>,
}

/// Rebuilds the linker from `store`, whose next involvement id is
/// `next_id`.
pub(crate) fn load_linker(store: &Store, next_id: u64) -> Result<LoadedLinker, EngineError> {
    let mut linker = Linker::new(LinkerConfig::default());
    // Address space for the index is reserved up front (pages are backed
    // only as they are used), so growing towards a few million
    // involvements never copies the arrays while the lock is held.
    let stored = usize::try_from(next_id).unwrap_or(0);
    linker.reserve((stored + stored / 2).max(RESERVED_INVOLVEMENTS));
    let mut agencies = HashMap::new();
    let mut identified = vec![false; stored];
    let mut moving = HashSet::new();
    store.for_each_involvement(|id, involvement| {
        if involvement.next.is_some() && !moving.contains(&involvement.agency) {
            moving.insert(involvement.agency.clone());
        }
        if let Some(slot) = usize::try_from(id).ok().and_then(|i| identified.get_mut(i)) {
            *slot = is_identified(&involvement);
        }
        let mut linked = linker_involvement(&involvement);
        linked.agency = agency_number(&mut agencies, &involvement.agency);
        linker.index(id, &linked);
        Ok(())
    })?;
    let profiles = linker.profiles_mut();
    for (id, parent) in store.parents()? {
        let alive = profiles.is_alive(id);
        profiles.load(id, parent, alive);
    }
    profiles.finish_loading();
    let _ = profiles.take_changes();
    if let Some(bytes) = store.model()? {
        let model = Model::from_bytes(&bytes).ok_or(braid_store::Error::Corrupt("linkage model"))?;
        linker.set_model(model);
    }
    Ok(LoadedLinker { linker, agencies, identified, moving })
}

/// The first byte of a stored acknowledgement: the batch's digest follows,
/// then the acknowledgement.
const ACK_FORMAT: u8 = 2;

/// A digest of a batch's records as sent, binding a stored acknowledgement
/// to the batch it answers.
fn batch_digest(records: &[v1::CaseRecord]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for record in records {
        hasher.update(&record.encode_length_delimited_to_vec());
    }
    *hasher.finalize().as_bytes()
}

/// The stored acknowledgement, when it answers a batch with this digest.
fn stored_ack(bytes: &[u8], digest: &[u8; 32]) -> Result<Option<v1::BatchAck>, EngineError> {
    match bytes.split_first() {
        Some((&ACK_FORMAT, rest)) if rest.len() >= 32 => {
            if rest[..32] != digest[..] {
                return Ok(None);
            }
            Ok(Some(v1::BatchAck::decode(&rest[32..]).map_err(|_| braid_store::Error::Corrupt("ack"))?))
        }
        // An acknowledgement stored before batches were bound to their
        // content: it cannot vouch for this batch.
        _ => Ok(None),
    }
}

/// Whether an involvement carries any identity to link on (an unknown
/// perpetrator has none, and never links).
fn is_identified(stored: &StoredInvolvement) -> bool {
    !stored.match_keys.is_empty() || !stored.bloom.is_empty() || stored.tokens.iter().any(|t| *t != 0)
}

/// The linker's view of an upload's field tokens (already validated:
/// bounded lists, windows none or four).
fn linker_tokens(wire: &v1::FieldTokens) -> Tokens {
    let mut out = Tokens {
        name: wire.name,
        name_any_order: wire.name_any_order,
        name_phonetic: wire.name_phonetic,
        forename_by_dob: wire.forename_by_dob,
        surname_by_dob: wire.surname_by_dob,
        dob: wire.dob,
        dob_any_order: wire.dob_any_order,
        sex_by_name: wire.sex_by_name,
        sex_by_dob: wire.sex_by_dob,
        postcode: wire.postcode,
        district: wire.district,
        address: wire.address,
        ..Tokens::default()
    };
    for (slot, value) in out.other_names.iter_mut().zip(&wire.other_names) {
        *slot = *value;
    }
    if wire.dob_windows.len() == out.dob_windows.len() {
        out.dob_windows.copy_from_slice(&wire.dob_windows);
    }
    for (slot, id) in out.ids.iter_mut().zip(&wire.ids) {
        *slot = (id.kind, id.value);
    }
    if wire.forename_whole.len() == 2 && wire.forename_parts.len() == 8 {
        out.forename_whole.copy_from_slice(&wire.forename_whole);
        out.forename_parts.copy_from_slice(&wire.forename_parts);
    }
    out
}

/// What the linker needs of a stored involvement; the agency number is
/// filled in under the state lock.
fn linker_involvement(stored: &StoredInvolvement) -> braid_linkage::Involvement {
    braid_linkage::Involvement {
        keys: stored.match_keys.iter().filter_map(|key| KeyFingerprint::new(*key.first()?, key.get(1..)?)).collect(),
        bloom: Bloom::from_bytes(&stored.bloom),
        agency: 0,
        // During a key rotation a moved record links under its ref in the
        // epoch the others are still in.
        person: braid_store::fingerprint(if stored.link_person_ref.is_empty() { &stored.person_ref } else { &stored.link_person_ref }.as_bytes()),
        tokens: Tokens::from_words(&stored.tokens).unwrap_or_default(),
        // An outcome event's child attaches to a profile, never shapes one.
        passive: stored.role == braid_proto::v1::Role::OutcomeSubject as i32,
    }
}

/// A record validated and encoded before the state lock is taken.
struct PreparedRecord {
    record_ref: String,
    /// During a key rotation, the ref of the record this one replaces.
    previous_ref: Option<String>,
    /// During a key rotation, the content hash this record would have had
    /// under the epoch it moves from (equal to the stored one's when only
    /// the epoch changes).
    moved_hash: Option<Vec<u8>>,
    content_hash: Vec<u8>,
    /// The record as stored (API encoding, pseudonyms left out: they are
    /// stored with each involvement).
    stored_bytes: Vec<u8>,
    /// Each involvement encoded for storage, and as the linker sees it.
    involvements: Vec<(Vec<u8>, braid_linkage::Involvement)>,
    /// What the signals need of it.
    facts: PreparedFacts,
}

/// Validates and encodes a batch's records; rejected ones go into the
/// acknowledgement.
fn prepare_records(submission: &Submission, records: Vec<v1::CaseRecord>, ack: &mut v1::BatchAck) -> Vec<PreparedRecord> {
    let mut refs_in_batch = HashSet::new();
    let mut previous_in_batch = HashSet::new();
    let mut out = Vec::with_capacity(records.len());
    for mut record in records {
        if let Err(problem) = validate_record(&record) {
            ack.rejections.push(v1::Rejection { source_row: record.source_row, field: problem.field, reason: problem.reason });
            continue;
        }
        if let Err(problem) = check_bridge(submission, &record) {
            ack.rejections.push(v1::Rejection { source_row: record.source_row, field: problem.field, reason: problem.reason });
            continue;
        }
        if refs_in_batch.contains(&record.record_ref) || previous_in_batch.contains(&record.record_ref) {
            ack.rejections.push(v1::Rejection {
                source_row: record.source_row,
                field: "record_ref".to_owned(),
                reason: "appears twice in one batch (as a ref or a previous ref)".to_owned(),
            });
            continue;
        }
        // One record replaces one: a previous ref named twice, or naming a
        // record of the same batch, would remove what the batch stores.
        if !record.previous_ref.is_empty() && (refs_in_batch.contains(&record.previous_ref) || !previous_in_batch.insert(record.previous_ref.clone())) {
            ack.rejections.push(v1::Rejection {
                source_row: record.source_row,
                field: "previous_ref".to_owned(),
                reason: "appears twice in one batch (as a ref or a previous ref)".to_owned(),
            });
            continue;
        }
        refs_in_batch.insert(record.record_ref.clone());
        record.source_row = 0;
        let mut canonical = record;
        let previous_ref = Some(std::mem::take(&mut canonical.previous_ref)).filter(|r| !r.is_empty());
        // What only carries the record across a key rotation is set aside
        // before its content is hashed: sent again after the rotation,
        // without bridge pseudonyms, the record is unchanged.
        let bridges: Vec<(String, Option<v1::Pseudonyms>)> =
            canonical.involvements.iter_mut().map(|i| (std::mem::take(&mut i.bridge_person_ref), i.bridge_pseudonyms.take())).collect();
        let content_hash = blake3::hash(&canonical.encode_to_vec()).as_bytes().to_vec();
        // A record moving to a new key epoch is the same record as the one
        // stored under its previous ref when, sent under that epoch, it
        // would have had that one's content.
        let moved_hash = previous_ref.as_ref().map(|previous| {
            let mut before = canonical.clone();
            before.record_ref = previous.clone();
            for (involvement, (person_ref, pseudonyms)) in before.involvements.iter_mut().zip(&bridges) {
                involvement.person_ref = person_ref.clone();
                involvement.pseudonyms = pseudonyms.clone();
            }
            blake3::hash(&before.encode_to_vec()).as_bytes().to_vec()
        });
        let mut involvements = Vec::with_capacity(canonical.involvements.len());
        let mut identified = Vec::with_capacity(canonical.involvements.len());
        for (involvement, (link_person_ref, bridge)) in canonical.involvements.iter_mut().zip(bridges) {
            let pseudonyms = stored_pseudonyms(involvement.pseudonyms.take().unwrap_or_default());
            let bridge = bridge.map(stored_pseudonyms);
            // A record moving to a new key epoch links under the current
            // one; its new pseudonyms wait until every agency has moved.
            let (link, next) = match submission.bridge_epoch {
                Some(_) => (bridge.unwrap_or_default(), Some(pseudonyms)),
                None => (pseudonyms, None),
            };
            let stored = StoredInvolvement {
                agency: submission.agency.clone(),
                record_ref: canonical.record_ref.clone(),
                person_ref: involvement.person_ref.clone(),
                role: involvement.role,
                match_keys: link.match_keys,
                tokens: link.tokens,
                bloom: link.bloom,
                next,
                link_person_ref,
            };
            identified.push(is_identified(&stored));
            involvements.push((stored.encode_to_vec(), linker_involvement(&stored)));
        }
        let facts = record_facts(&canonical, |i| identified.get(i).copied().unwrap_or(false));
        out.push(PreparedRecord {
            record_ref: canonical.record_ref.clone(),
            previous_ref,
            moved_hash,
            content_hash,
            stored_bytes: canonical.encode_to_vec(),
            involvements,
            facts,
        });
    }
    out
}

/// A person's pseudonyms as the node keeps them.
fn stored_pseudonyms(wire: v1::Pseudonyms) -> braid_store::StoredPseudonyms {
    braid_store::StoredPseudonyms {
        match_keys: wire.match_keys.iter().map(|key| [&[key.kind as u8][..], key.hash.get(..STORED_KEY_BYTES).unwrap_or(&key.hash)].concat()).collect(),
        bloom: wire.bloom,
        tokens: wire.fields.as_ref().map(linker_tokens).unwrap_or_default().to_words(),
    }
}

/// Checks that a record carries bridge pseudonyms exactly when its upload
/// moves to a new key epoch.
fn check_bridge(submission: &Submission, record: &v1::CaseRecord) -> Result<(), crate::validate::Invalid> {
    let invalid = |field: String, reason: &str| crate::validate::Invalid { field, reason: reason.to_owned() };
    let bridged = submission.bridge_epoch.is_some();
    if !bridged && !record.previous_ref.is_empty() {
        return Err(invalid("previous_ref".to_owned(), "is only for an upload that moves to a new key epoch"));
    }
    for (index, involvement) in record.involvements.iter().enumerate() {
        let has_bridge = !involvement.bridge_person_ref.is_empty() || involvement.bridge_pseudonyms.is_some();
        if bridged && involvement.bridge_person_ref.trim().is_empty() {
            return Err(invalid(format!("involvements[{index}].bridge_person_ref"), "is required in an upload that moves to a new key epoch"));
        }
        if bridged && involvement.pseudonyms.is_some() != involvement.bridge_pseudonyms.is_some() {
            return Err(invalid(format!("involvements[{index}].bridge_pseudonyms"), "must be present exactly when pseudonyms are"));
        }
        if !bridged && has_bridge {
            return Err(invalid(format!("involvements[{index}].bridge_pseudonyms"), "are only for an upload that moves to a new key epoch"));
        }
    }
    Ok(())
}

/// Whether a comparison's pattern levels say both records came from one
/// agency under the same person ref (a link the agency's own id vouches
/// for).
pub(crate) fn on_own_person_ref(levels: &[u8]) -> bool {
    let Some(feature) = FEATURES.iter().position(|f| *f == PERSON) else { return false };
    let same = PERSON.levels.iter().position(|l| *l == "same-agency-same-person");
    levels.get(feature).map(|l| usize::from(*l)) == same
}

/// How strongly an involvement's decisions tied it into its profile: the
/// best join or merge probability, 1 for a join on its agency's own person
/// ref, and 1 when it joined nothing (it founded its profile).
fn link_strength<'a>(decisions: impl Iterator<Item = (Decision, &'a [u8], f32)>) -> f32 {
    let mut best: Option<f32> = None;
    for (decision, levels, probability) in decisions {
        if matches!(decision, Decision::Joined | Decision::Merged) {
            let strength = if on_own_person_ref(levels) { 1.0 } else { probability };
            best = Some(best.map_or(strength, |b: f32| b.max(strength)));
        }
    }
    best.unwrap_or(1.0)
}

/// Adds a record's facts under its agency's number.
fn add_facts(facts: &mut Facts, fingerprint: u64, agency: u16, record_ref: String, prepared: PreparedFacts, ids: &[u64]) {
    if prepared.is_outcome {
        // Never a case: an event of a kind this version does not know is
        // left out of the facts altogether.
        if let (Some(kind), [involvement]) = (prepared.outcome, ids) {
            facts.add_outcome(fingerprint, braid_signals::OutcomeFacts { agency, record_ref, kind, day: prepared.day(), involvement: *involvement });
        } else {
            facts.remove_record(fingerprint);
        }
        return;
    }
    let involvements: Vec<NewInvolvement> =
        prepared.involvements.iter().zip(ids).map(|(&(role, identified, age), &id)| NewInvolvement { id, role, identified, age }).collect();
    facts.add_record(fingerprint, prepared.into_record(agency, record_ref, ids.to_vec()), &involvements);
}

/// Involvements the linker's arrays have room for before they first grow.
const RESERVED_INVOLVEMENTS: usize = 1 << 21;

/// Bytes of each match key's hash the node keeps: the linker compares 56-bit
/// fingerprints, so storing all 32 bytes would only keep more pseudonym at
/// rest and write more.
const STORED_KEY_BYTES: usize = 8;

fn stored_links(outcome: &Outcome) -> StoredLinks {
    StoredLinks {
        entries: outcome
            .entries
            .iter()
            .map(|entry| StoredLink {
                decision: entry.decision.number(),
                other: entry.evidence.other,
                keys_agreeing: entry.evidence.keys_agreeing,
                dice: entry.evidence.dice,
                levels: entry.evidence.levels.to_vec(),
                weight: entry.evidence.weight,
                probability: entry.evidence.probability,
            })
            .collect(),
    }
}

/// The node's linkage state over its store.
///
/// A batch is linked under the state lock, then written outside it, so one
/// batch's durable write overlaps the next batch's linking. Writes happen in
/// the order the batches were linked (tickets). One agency's batches never
/// overlap (a lock per agency), so its record refs are never raced. If a
/// write fails after later batches have linked on top of it, the engine
/// stops accepting work ([`EngineError::Poisoned`]); a restart rebuilds the
/// state from RocksDB, which holds exactly the acknowledged batches.
pub struct Engine {
    pub(crate) store: Arc<Store>,
    audit: AuditLog,
    state: parking_lot::Mutex<State>,
    /// Held by a change from linking to sealing (see [`Slice`]).
    pub(crate) linking: Mutex<()>,
    /// Notified when a profile re-linked in slices is whole again.
    flux_done: parking_lot::Condvar,
    expected_epoch: Option<String>,
    max_batch_records: usize,
    agency_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    serving: Mutex<u64>,
    turn: Condvar,
    poisoned: AtomicBool,
    decisions: DecisionCounts,
    pub(crate) space: DiskSpace,
    /// Held while an upload's summary is kept (they are keyed by time).
    pub(crate) uploads_noted: Mutex<()>,
}

/// Counts of what the node holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live case records.
    pub records: u64,
    /// Live outcome events.
    pub outcome_events: u64,
    /// Live involvements.
    pub involvements: u64,
    /// Distinct profiles.
    pub profiles: u64,
    /// Profiles with involvements from two or more agencies.
    pub profiles_multi_agency: u64,
    /// Agencies that have records.
    pub agencies: u64,
    /// Epoch fingerprint.
    pub epoch: Option<String>,
    /// Uncertain pairs left for review.
    pub review_items: u64,
    /// Pairs the model has counted.
    pub model_pairs: u64,
    /// Pairs at the model's last fit.
    pub model_pairs_at_fit: u64,
}

/// One row of the cluster export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRow {
    /// Agency code.
    pub agency: String,
    /// Opaque record ref.
    pub record_ref: String,
    /// Opaque person ref.
    pub person_ref: String,
    /// Role number.
    pub role: i32,
    /// Profile id.
    pub profile_id: String,
    /// Whether it carries any identity to link on.
    pub identified: bool,
}

/// A profile's id: its oldest member's number, so it survives merges into
/// it and restarts; it changes only if that member is withdrawn or split
/// off.
pub fn profile_id(smallest_member: u64) -> String {
    format!("P{smallest_member:07}")
}

pub(crate) fn parse_profile_id(text: &str) -> Option<u64> {
    text.strip_prefix('P')?.parse().ok()
}

/// What to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainSubject {
    /// One profile.
    Profile(String),
    /// The profiles of one record's involvements.
    Record {
        /// Agency code.
        agency: String,
        /// Opaque record ref.
        record_ref: String,
    },
}

/// One member of an explained profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Involvement number.
    pub involvement: u64,
    /// Agency code.
    pub agency: String,
    /// Opaque record ref.
    pub record_ref: String,
    /// Role number.
    pub role: i32,
}

/// One explained decision.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkExplanation {
    /// The involvement being linked.
    pub involvement: u64,
    /// The one it was compared with.
    pub other: u64,
    /// The other's profile now.
    pub other_profile_id: String,
    /// Decision name.
    pub decision: &'static str,
    /// Agreeing match-key rungs by name.
    pub keys_agreeing: Vec<&'static str>,
    /// Dice band name.
    pub dice_band: &'static str,
    /// Total weight when decided.
    pub weight: f32,
    /// Probability when decided.
    pub probability: f32,
    /// (feature, level) names.
    pub parts: Vec<(&'static str, &'static str)>,
}

/// One explained profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileExplanation {
    /// Profile id.
    pub profile_id: String,
    /// Members, oldest first.
    pub members: Vec<Member>,
    /// Links holding the profile together.
    pub links: Vec<LinkExplanation>,
    /// Uncertain pairs to other profiles.
    pub reviews: Vec<LinkExplanation>,
}

/// A batch's write set and the outcomes to store with it.
struct Pending {
    set: WriteSet,
    records_added: Vec<u64>,
    records_removed: Vec<u64>,
    withdrawn: Vec<InvolvementId>,
    /// Decisions in the order made; a later one for an id replaces an
    /// earlier one.
    outcomes: Vec<(InvolvementId, Outcome)>,
    /// Changes to the signals' facts, applied in order once the batch has
    /// linked.
    fact_changes: Vec<FactChange>,
    /// Involvements whose profiles may have changed.
    dirty: Vec<InvolvementId>,
}

/// A sealed batch: its write set, the decisions still to encode into it,
/// the withdrawn involvements, the changes to the signals' facts and the
/// involvements whose profiles may have changed.
type Parts = (WriteSet, Vec<(InvolvementId, Outcome)>, Vec<InvolvementId>, Vec<FactChange>, Vec<InvolvementId>);

/// One change to the signals' facts.
enum FactChange {
    Remove(u64),
    /// How strongly an involvement was linked into its profile.
    Link(u64, f32),
    Add {
        fingerprint: u64,
        agency: String,
        record_ref: String,
        agency_type: String,
        facts: PreparedFacts,
        ids: Vec<u64>,
    },
}

impl Pending {
    fn new() -> Pending {
        Pending {
            set: WriteSet::new(),
            records_added: Vec::new(),
            records_removed: Vec::new(),
            withdrawn: Vec::new(),
            outcomes: Vec::new(),
            fact_changes: Vec::new(),
            dirty: Vec::new(),
        }
    }

    fn remove_record(&mut self, agency: &str, record_ref: &str, record: &StoredRecord) {
        for &id in &record.involvement_ids {
            self.set.delete_involvement(id);
            self.withdrawn.push(id);
        }
        self.set.delete_record(agency, record_ref);
        let fingerprint = braid_store::record_fingerprint(agency, record_ref);
        self.records_removed.push(fingerprint);
        self.fact_changes.push(FactChange::Remove(fingerprint));
        self.dirty.extend(&record.involvement_ids);
    }

    /// Re-links the profiles that withdrawn involvements were part of; their
    /// decisions join the batch's outcomes. Every withdrawn involvement
    /// stops being a candidate at once; the profiles are then re-linked one
    /// at a time, member by member, the state lock yielded to waiting
    /// readers when `slice` is due. The change has fenced those profiles
    /// ([`Engine::fence`]) since before it linked anything, so a reader
    /// never sees them half-way.
    fn finish(&mut self, guard: &mut StateGuard<'_>, slice: &mut Slice) {
        if self.withdrawn.is_empty() {
            return;
        }
        guard.linker.withdraw(&self.withdrawn);
        for group in guard.linker.profiles().group_by_profile(&self.withdrawn) {
            slice.yield_if_due(guard);
            // Everyone in a profile that loses a member may change profile.
            let members = guard.linker.profiles().members_of(&group);
            for id in guard.linker.reset_profiles_of(&group) {
                slice.yield_if_due(guard);
                let outcome = guard.linker.redecide(id);
                self.outcomes.push((id, outcome));
            }
            // This profile is whole again: its members leave the fence (a
            // reader still waits for any profile they joined that holds a
            // member of one not yet re-linked).
            if let Some(flux) = guard.in_flux.as_mut() {
                for member in &members {
                    flux.remove(member);
                }
            }
            self.dirty.extend(members);
        }
    }

    /// Splits into the write set and the decisions still to be encoded into
    /// it (outside the state lock, by [`put_links`]).
    fn into_parts(mut self) -> Parts {
        // Link strengths follow the records they belong to.
        for (id, outcome) in &self.outcomes {
            self.fact_changes
                .push(FactChange::Link(*id, link_strength(outcome.entries.iter().map(|e| (e.decision, &e.evidence.levels[..], e.evidence.probability)))));
        }
        (self.set, self.outcomes, self.withdrawn, self.fact_changes, self.dirty)
    }
}

/// The state lock as held by a change.
type StateGuard<'a> = parking_lot::MutexGuard<'a, State>;

/// How long a change holds the state lock before letting waiting readers
/// in (it holds the linking lock throughout, so no other change runs in
/// between: the order changes are linked in stays the order they are
/// written in).
const SLICE: std::time::Duration = std::time::Duration::from_millis(2);

/// Times a change's hold on the state lock.
struct Slice(std::time::Instant);

impl Slice {
    fn start() -> Slice {
        Slice(std::time::Instant::now())
    }

    /// Hands the lock to waiting readers (fairly) if the slice is used up.
    fn yield_if_due(&mut self, guard: &mut StateGuard<'_>) {
        if self.0.elapsed() >= SLICE {
            parking_lot::MutexGuard::bump(guard);
            self.0 = std::time::Instant::now();
        }
    }
}

/// Held by a change while it links: if the change panics half-way, the
/// engine is poisoned (its state is no longer trusted; the node stops to be
/// restarted) and readers waiting on a fence are released.
pub(crate) struct ChangeGuard<'a>(pub(crate) &'a Engine);

impl Drop for ChangeGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::SeqCst);
            // Declared before the state guard, so dropped after it.
            let mut state = self.0.state.lock();
            state.in_flux = None;
            self.0.flux_done.notify_all();
        }
    }
}

/// A replaced record's history: its own, then the replaced version itself
/// (its case type and concern status), the oldest dropped beyond
/// [`StoredRecord::HISTORY`].
fn replaced_history(stored: StoredRecord) -> Vec<braid_store::RecordVersion> {
    let mut history = stored.history;
    let (case_type, concern) = match v1::CaseRecord::decode(stored.record.as_slice()) {
        Ok(record) => (record.case_type, record_facts(&record, |_| false).concern_name().to_owned()),
        Err(_) => (0, String::new()),
    };
    history.push(braid_store::RecordVersion { stored_ms: stored.stored_ms, case_type, concern });
    if history.len() > StoredRecord::HISTORY {
        history.drain(..history.len() - StoredRecord::HISTORY);
    }
    history
}

/// Gives a record's involvements new ids (never reused, even those of a
/// batch that failed), links each and writes it; returns the ids.
fn link_new(
    state: &mut State,
    pending: &mut Pending,
    ack: &mut v1::BatchAck,
    agency_number: u32,
    involvements: Vec<(Vec<u8>, braid_linkage::Involvement)>,
) -> Vec<InvolvementId> {
    let mut ids = Vec::with_capacity(involvements.len());
    for (encoded, mut involvement) in involvements {
        let id = state.next_id;
        state.next_id += 1;
        ids.push(id);
        pending.set.put_involvement_bytes(id, encoded);
        involvement.agency = agency_number;
        let outcome = state.linker.insert(id, &involvement);
        pending.outcomes.push((id, outcome));
        ack.involvements += 1;
    }
    ids
}

/// Adds each involvement's latest decisions to `set`; withdrawn ones have
/// none.
fn put_links(set: &mut WriteSet, outcomes: Vec<(InvolvementId, Outcome)>, withdrawn: &[InvolvementId], counts: &DecisionCounts) {
    let mut done: HashSet<InvolvementId> = withdrawn.iter().copied().collect();
    for (id, outcome) in outcomes.into_iter().rev() {
        if done.insert(id) {
            for entry in &outcome.entries {
                counts.note(entry.decision);
            }
            set.put_links(id, &stored_links(&outcome));
        }
    }
}

/// Linkage decisions made since start-up, by kind (for the metrics).
#[derive(Debug, Default)]
pub struct DecisionCounts([AtomicU64; 6]);

impl DecisionCounts {
    fn note(&self, decision: Decision) {
        if let Some(count) = self.0.get(decision.number() as usize) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Each decision kind with its count.
    pub fn counts(&self) -> Vec<(Decision, u64)> {
        (1..self.0.len() as u32).filter_map(|n| Some((Decision::from_number(n)?, self.0[n as usize].load(Ordering::Relaxed)))).collect()
    }
}

impl Engine {
    /// Opens the store in `data_dir`, rebuilds the linker's index from the
    /// stored involvements and restores the profiles and the model.
    pub fn open(data_dir: &Path, expected_epoch: Option<String>, max_batch_records: usize, checkpoints: CheckpointPolicy) -> Result<Engine, EngineError> {
        Engine::open_with_space(data_dir, expected_epoch, max_batch_records, checkpoints, StorageLimits::default())
    }

    /// As [`Engine::open`], keeping `storage`'s free space and reserve on
    /// the data directory's disk (see [`crate::space`]).
    pub fn open_with_space(
        data_dir: &Path,
        expected_epoch: Option<String>,
        max_batch_records: usize,
        checkpoints: CheckpointPolicy,
        storage: StorageLimits,
    ) -> Result<Engine, EngineError> {
        Engine::open_as(data_dir, expected_epoch, max_batch_records, Some(checkpoints), storage)
    }

    /// Opens an existing store for its audit log only, as it is stored
    /// (even when it fails verification): the engine then adds nothing to
    /// the log and writes nothing; the gate answers only auditors' reads.
    pub fn open_audit_only(data_dir: &Path, storage: StorageLimits) -> Result<Engine, EngineError> {
        if !data_dir.join("CURRENT").exists() {
            return Err(EngineError::Open(format!("{} is not a node's data directory", data_dir.display())));
        }
        Engine::open_as(data_dir, None, 1, None, storage)
    }

    /// Opens the store; `checkpoints: None` opens its audit log sealed.
    fn open_as(
        data_dir: &Path,
        expected_epoch: Option<String>,
        max_batch_records: usize,
        checkpoints: Option<CheckpointPolicy>,
        storage: StorageLimits,
    ) -> Result<Engine, EngineError> {
        let space = DiskSpace::new(data_dir, storage);
        let Some(checkpoints) = checkpoints else {
            // Audit-only: the directory is read as it is, nothing in it is
            // written (no reserve file, no log replay, no compaction), and
            // nothing but the audit log is loaded.
            let store = Arc::new(Store::open_read_only(data_dir)?);
            let audit = AuditLog::open_sealed(&store)?;
            let state = State {
                records: HashSet::new(),
                linker: Linker::new(LinkerConfig::default()),
                facts: Facts::new(),
                signals: crate::panel::SignalBooks::default(),
                next_ticket: 0,
                in_flux: None,
                agencies: HashMap::new(),
                next_id: 0,
                epoch: None,
                next_epoch: None,
                moving: HashSet::new(),
            };
            return Ok(Engine::with(store, audit, state, None, max_batch_records, space));
        };
        std::fs::create_dir_all(data_dir).map_err(|error| EngineError::Open(format!("create the data directory: {error}")))?;
        space.before_open().map_err(|error| EngineError::Open(format!("{error:#}")))?;
        let store = Arc::new(Store::open(data_dir)?);
        let audit = AuditLog::open(Arc::clone(&store), checkpoints)?;
        let next_id = store.next_involvement_id()?;
        let LoadedLinker { linker, agencies, identified, moving } = load_linker(&store, next_id)?;
        let mut state = State {
            records: store.record_fingerprints()?.into_iter().collect(),
            linker,
            facts: Facts::new(),
            signals: crate::panel::SignalBooks::default(),
            next_ticket: 0,
            in_flux: None,
            agencies,
            next_id,
            epoch: store.epoch()?,
            next_epoch: store.next_epoch()?,
            moving,
        };
        let stored = usize::try_from(next_id).unwrap_or(0);
        state.facts.reserve((stored + stored / 2).max(RESERVED_INVOLVEMENTS));
        store.for_each_record(|agency, record_ref, stored| {
            let record = v1::CaseRecord::decode(stored.record.as_slice()).map_err(|_| braid_store::Error::Corrupt("record"))?;
            let facts =
                record_facts(&record, |i| stored.involvement_ids.get(i).and_then(|&id| identified.get(usize::try_from(id).ok()?)).copied().unwrap_or(false));
            let agency_number = state.facts.agency_number(agency, &stored.agency_type);
            let fingerprint = braid_store::record_fingerprint(agency, record_ref);
            add_facts(&mut state.facts, fingerprint, agency_number, record_ref.to_owned(), facts, &stored.involvement_ids);
            Ok(())
        })?;
        drop(identified);
        store.for_each_links(|id, links| {
            let strength = link_strength(links.entries.iter().filter_map(|l| Some((Decision::from_number(l.decision)?, &l.levels[..], l.probability))));
            state.facts.set_link(id, strength);
            Ok(())
        })?;
        Ok(Engine::with(store, audit, state, expected_epoch, max_batch_records, space))
    }

    fn with(store: Arc<Store>, audit: AuditLog, state: State, expected_epoch: Option<String>, max_batch_records: usize, space: DiskSpace) -> Engine {
        Engine {
            store,
            audit,
            state: parking_lot::Mutex::new(state),
            linking: Mutex::new(()),
            flux_done: parking_lot::Condvar::new(),
            expected_epoch,
            max_batch_records,
            agency_locks: Mutex::new(HashMap::new()),
            serving: Mutex::new(0),
            turn: Condvar::new(),
            poisoned: AtomicBool::new(false),
            decisions: DecisionCounts::default(),
            space,
            uploads_noted: Mutex::new(()),
        }
    }

    /// Whether the engine still accepts work: false once a write failed
    /// after later batches were linked on top of it (restart the node).
    pub fn healthy(&self) -> bool {
        if self.store.write_failure().is_some() {
            // RocksDB takes no more writes until the store is reopened.
            self.release_reserve_if_disk_full();
            return false;
        }
        !self.poisoned.load(Ordering::SeqCst) && !self.linking.is_poisoned()
    }

    /// Releases the reserve if a write met a full disk, so the store has
    /// room when it is next opened.
    fn release_reserve_if_disk_full(&self) {
        if self.store.write_failure() == Some(braid_store::WriteFailure::DiskFull) {
            self.space.release_reserve();
        }
    }

    /// Checks the data directory's free space (re-making the reserve when
    /// there is room): Err while changes are refused for lack of space.
    pub fn check_space(&self) -> Result<(), crate::space::SpaceShort> {
        if self.audit_only().is_some() {
            // The directory under examination is never written, not even
            // the reserve file.
            return Ok(());
        }
        self.space.refresh()
    }

    /// Bytes free on the data directory's disk at the last check, and
    /// whether changes are refused for lack of space.
    pub fn space(&self) -> (u64, bool) {
        (self.space.last_free(), self.space.is_low())
    }

    /// Live involvements in the linker's index.
    pub fn index_size(&self) -> Result<usize, EngineError> {
        Ok(self.lock_state()?.linker.profiles().live_ids().count())
    }

    /// Linkage decisions made since start-up.
    pub fn decision_counts(&self) -> &DecisionCounts {
        &self.decisions
    }

    /// RocksDB's size and write-stall state.
    pub fn store_health(&self) -> braid_store::StoreHealth {
        self.store.health()
    }

    /// Entries in the audit log, and when its newest checkpoint was signed
    /// (milliseconds since the Unix epoch; `None` before the first).
    pub fn audit_status(&self) -> Result<(u64, Option<u64>), EngineError> {
        let newest = self.store.last_audit_checkpoint()?.and_then(|text| Checkpoint::from_text(&String::from_utf8_lossy(&text)).ok());
        Ok((self.audit.size()?, newest.map(|c| c.time_ms)))
    }

    pub(crate) fn lock_state(&self) -> Result<StateGuard<'_>, EngineError> {
        let mut guard = self.lock_state_unfenced()?;
        self.wait_for_flux(&mut guard)?;
        Ok(guard)
    }

    /// The state lock, possibly while a large profile is half re-linked
    /// ([`State::in_flux`]): for a reader that checks the profiles it
    /// touches itself ([`Engine::wait_for_flux`]).
    pub(crate) fn lock_state_unfenced(&self) -> Result<StateGuard<'_>, EngineError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(EngineError::Poisoned);
        }
        Ok(self.state.lock())
    }

    /// Waits (releasing the lock) until no change fences profiles; fails
    /// if the change that fenced them panicked and poisoned the engine.
    pub(crate) fn wait_for_flux(&self, guard: &mut StateGuard<'_>) -> Result<(), EngineError> {
        while guard.in_flux.is_some() {
            self.flux_done.wait(guard);
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(EngineError::Poisoned);
        }
        Ok(())
    }

    /// Fences the profiles of `withdrawn` (every current member) for a
    /// change that will re-link them: readers whose answer would touch one
    /// wait until [`Engine::unfence`].
    fn fence(state: &mut State, withdrawn: &[InvolvementId]) {
        if !withdrawn.is_empty() {
            state.in_flux = Some(state.linker.profiles().members_of(withdrawn).into_iter().collect());
        }
    }

    /// Lifts a change's fence, once the change is sealed.
    fn unfence(&self, state: &mut State) {
        if state.in_flux.take().is_some() {
            self.flux_done.notify_all();
        }
    }

    fn agency_lock(&self, agency: &str) -> Result<Arc<Mutex<()>>, EngineError> {
        let mut locks = self.agency_locks.lock().map_err(|_| EngineError::Poisoned)?;
        Ok(Arc::clone(locks.entry(agency.to_owned()).or_default()))
    }

    /// Moves the profiles' parent changes into `set` (the in-memory changes
    /// are now committed to being written) and takes a write ticket.
    /// Takes a write ticket for a change that links nothing (it only
    /// writes `set`).
    pub(crate) fn seal_unlinked(state: &mut State, set: &mut WriteSet) -> u64 {
        Engine::seal(state, set, Vec::new(), Vec::new())
    }

    fn seal(state: &mut State, set: &mut WriteSet, fact_changes: Vec<FactChange>, mut dirty: Vec<InvolvementId>) -> u64 {
        for change in state.linker.profiles_mut().take_changes() {
            set.set_parent(change.id, change.parent);
            dirty.push(change.id);
        }
        for change in fact_changes {
            match change {
                FactChange::Remove(fingerprint) => {
                    state.facts.remove_record(fingerprint);
                }
                FactChange::Link(id, probability) => state.facts.set_link(id, probability),
                FactChange::Add { fingerprint, agency, record_ref, agency_type, facts, ids } => {
                    let number = state.facts.agency_number(&agency, &agency_type);
                    add_facts(&mut state.facts, fingerprint, number, record_ref, facts, &ids);
                    dirty.extend(ids);
                }
            }
        }
        state.signals.note_changed(&dirty);
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        ticket
    }

    /// Writes `set` durably, in the same write as its audit `entry`, once
    /// every earlier ticket has been written; returns the entry's index. A
    /// failure poisons the engine: later batches were linked on top of it.
    pub(crate) fn write_in_turn(&self, ticket: u64, set: WriteSet, entry: Entry) -> Result<u64, EngineError> {
        let mut serving = self.serving.lock().map_err(|_| EngineError::Poisoned)?;
        while *serving != ticket {
            serving = self.turn.wait(serving).map_err(|_| EngineError::Poisoned)?;
        }
        let result = if self.poisoned.load(Ordering::SeqCst) { Err(EngineError::Poisoned) } else { self.audit.append_blocking(entry, Some(set)) };
        if result.is_err() {
            self.release_reserve_if_disk_full();
            self.poisoned.store(true, Ordering::SeqCst);
        }
        *serving += 1;
        self.turn.notify_all();
        result
    }

    /// Stops the engine taking more work: its state no longer matches the
    /// store (a restart rebuilds it).
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
    }

    /// Waits until every change sealed so far has been written (or has
    /// failed, which poisons the engine).
    pub(crate) fn wait_for_writes(&self) -> Result<(), EngineError> {
        let sealed = self.lock_state()?.next_ticket;
        let mut serving = self.serving.lock().map_err(|_| EngineError::Poisoned)?;
        while *serving < sealed {
            serving = self.turn.wait(serving).map_err(|_| EngineError::Poisoned)?;
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(EngineError::Poisoned);
        }
        Ok(())
    }

    /// The epoch fingerprint this node was configured to expect before its
    /// first upload.
    pub(crate) fn expected_epoch(&self) -> Option<&String> {
        self.expected_epoch.as_ref()
    }

    /// Appends an audit entry for a call that changes nothing, durably;
    /// resolves to its index.
    pub async fn audit(&self, entry: Entry) -> Result<u64, EngineError> {
        self.audit.append(entry).await
    }

    /// Signs (if anything is new) and returns the newest audit checkpoint,
    /// with the public key that verifies it.
    pub fn audit_checkpoint(&self) -> Result<(Checkpoint, Vec<u8>), EngineError> {
        Ok((self.audit.checkpoint()?, self.audit.public_key()))
    }

    /// Signs a checkpoint if entries have waited longer than the interval.
    pub fn audit_checkpoint_if_stale(&self) -> Result<bool, EngineError> {
        self.audit.checkpoint_if_stale()
    }

    /// Every stored checkpoint, oldest first, and the public key.
    pub fn audit_checkpoints(&self) -> Result<(Vec<Checkpoint>, Vec<u8>), EngineError> {
        Ok((crate::audit::stored_checkpoints(&self.store)?, self.audit.public_key()))
    }

    /// Stored audit entries from `from`, as stored (`(index, bytes)`), at
    /// most `limit`.
    pub fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, EngineError> {
        let mut entries = Vec::new();
        self.store.for_each_audit_entry(from, |index, bytes| {
            entries.push((index, bytes));
            Ok(entries.len() < limit)
        })?;
        Ok(entries)
    }

    /// Visits decoded audit entries from `from` until `visit` returns false.
    pub fn for_each_audit_entry(&self, from: u64, mut visit: impl FnMut(Entry) -> bool) -> Result<(), EngineError> {
        // Listed by the position each is stored at: an entry that does not
        // decode, or records another position (tampering `verify` names),
        // is shown as such rather than ending the listing.
        self.store.for_each_audit_entry(from, |stored, bytes| {
            let entry = match Entry::decode(bytes.as_slice()) {
                Ok(entry) if entry.index == stored => entry,
                Ok(entry) => Entry { index: stored, outcome: format!("{} [stored at {stored} but recorded as entry {}]", entry.outcome, entry.index), ..entry },
                Err(_) => Entry { index: stored, outcome: "[unreadable: the stored bytes are not an audit entry]".to_owned(), ..Entry::default() },
            };
            Ok(visit(entry))
        })?;
        Ok(())
    }

    /// Entries in the audit log.
    pub fn audit_size(&self) -> Result<u64, EngineError> {
        self.audit.size()
    }

    /// Why the node runs audit-only, if it does.
    pub fn audit_only(&self) -> Option<&str> {
        self.audit.sealed()
    }

    /// Inclusion proof of entry `index` in the first `size` entries.
    pub fn audit_inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, EngineError> {
        self.audit.inclusion_proof(index, size)
    }

    /// Consistency proof between the first `old` and first `new` entries.
    pub fn audit_consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, EngineError> {
        self.audit.consistency_proof(old, new)
    }

    /// Applies one upload batch. Returns the acknowledgement, which is stored
    /// with the batch so that a re-sent batch gets the same answer, and the
    /// index of its audit `entry` (stored in the same write; its result
    /// count is set here).
    pub fn apply_batch(&self, submission: &Submission, sequence: u32, records: Vec<v1::CaseRecord>, entry: Entry) -> Result<(v1::BatchAck, u64), EngineError> {
        self.apply_batch_ids(submission, sequence, records, entry).map(|(ack, index, _)| (ack, index))
    }

    /// As [`Engine::apply_batch`], also returning the ids of the
    /// involvements the batch added (for [`Engine::settle`]).
    pub fn apply_batch_ids(
        &self,
        submission: &Submission,
        sequence: u32,
        mut records: Vec<v1::CaseRecord>,
        mut entry: Entry,
    ) -> Result<(v1::BatchAck, u64, Vec<InvolvementId>), EngineError> {
        if records.len() > self.max_batch_records {
            return Err(EngineError::InvalidRequest(format!("a batch may hold at most {} records", self.max_batch_records)));
        }
        self.space.refresh()?;
        let agency_lock = self.agency_lock(&submission.agency)?;
        let _agency = agency_lock.lock().map_err(|_| EngineError::Poisoned)?;
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(EngineError::Poisoned);
        }
        // A stored acknowledgement answers only a re-sent batch with the
        // same content: a resumed upload may cut its batches differently,
        // and such a batch is applied (what is already stored is then
        // recognised record by record as unchanged).
        let digest = batch_digest(&records);
        // Records of a re-sent batch that the node holds (in that version
        // or a later one) are left as they are; those withdrawn or erased
        // since are applied again: the agency sent them on purpose, and
        // replaying would report them stored when they are not.
        let mut held_before = None;
        if let Some(bytes) = self.store.ack(&submission.agency, &submission.submission_id, sequence)? {
            if let Some(stored) = stored_ack(&bytes, &digest)? {
                let rejected: HashSet<u32> = stored.rejections.iter().map(|r| r.source_row).collect();
                let (missing, held): (Vec<v1::CaseRecord>, Vec<v1::CaseRecord>) = {
                    let state = self.state.lock();
                    std::mem::take(&mut records)
                        .into_iter()
                        .filter(|record| !rejected.contains(&record.source_row))
                        .partition(|record| !state.records.contains(&braid_store::record_fingerprint(&submission.agency, &record.record_ref)))
                };
                if missing.is_empty() {
                    let mut ack = stored;
                    ack.replayed = true;
                    entry.outcome = "ok: replayed, nothing changed".to_owned();
                    let index = self.audit.append_blocking(entry, None)?;
                    return Ok((ack, index, Vec::new()));
                }
                records = missing;
                held_before = Some((held.len() as u32, stored.rejections));
            }
        }
        // Everything that needs no shared state happens before the lock, so
        // it overlaps with other uploads' linking.
        let mut ack = v1::BatchAck { sequence, ..Default::default() };
        if let Some((held, rejections)) = held_before {
            ack.unchanged = held;
            ack.rejections = rejections;
        }
        let prepared = prepare_records(submission, records, &mut ack);
        // The stored versions of the batch's records, read before linking
        // (this agency's lock keeps them from changing), so that linking
        // cannot fail half-way.
        // A record moving to a new key epoch replaces the one stored under
        // its previous ref (unless it is already stored under its new one).
        let known: Vec<Option<&str>> = {
            let state = self.lock_state()?;
            let stored = |record_ref: &str| state.records.contains(&braid_store::record_fingerprint(&submission.agency, record_ref));
            prepared
                .iter()
                .map(|record| match &record.previous_ref {
                    _ if stored(&record.record_ref) => Some(record.record_ref.as_str()),
                    Some(previous) if stored(previous) => Some(previous.as_str()),
                    _ => None,
                })
                .collect()
        };
        let mut existing = Vec::with_capacity(prepared.len());
        for known in known {
            existing.push(match known {
                Some(record_ref) => self.store.record(&submission.agency, record_ref)?.map(|stored| (record_ref.to_owned(), stored)),
                None => None,
            });
        }

        // The involvements of records this batch replaces: their profiles
        // are fenced from readers until the batch is sealed.
        let replaced: Vec<InvolvementId> = prepared
            .iter()
            .zip(&existing)
            .filter_map(|(record, stored)| {
                stored
                    .as_ref()
                    .map(|(_, stored)| stored)
                    .filter(|stored| stored.content_hash != record.content_hash && record.moved_hash.as_ref() != Some(&stored.content_hash))
            })
            .flat_map(|stored| stored.involvement_ids.iter().copied())
            .collect();

        let linking = self.linking.lock().map_err(|_| EngineError::Poisoned)?;
        let _change = ChangeGuard(self);
        let mut guard = self.lock_state()?;
        self.check_epoch(&guard, submission)?;
        let agency_number = guard.agency_number(&submission.agency);
        Engine::fence(&mut guard, &replaced);
        let mut pending = Pending::new();
        let first_new_id = guard.next_id;
        let mut slice = Slice::start();
        let mut moved = false;
        for (record, existing) in prepared.into_iter().zip(existing) {
            slice.yield_if_due(&mut guard);
            let state = &mut *guard;
            let fingerprint = braid_store::record_fingerprint(&submission.agency, &record.record_ref);
            pending.records_added.push(fingerprint);
            // Its involvements' ids, when it was stored, how often it has
            // changed and its earlier versions; and the link strengths a
            // moved record's involvements keep.
            let mut kept_links = Vec::new();
            let (ids, stored_ms, changes, history) = match existing {
                Some((_, stored)) if stored.content_hash == record.content_hash => {
                    ack.unchanged += 1;
                    continue;
                }
                Some((stored_ref, stored))
                    if record.moved_hash.as_ref() == Some(&stored.content_hash) && stored.involvement_ids.len() == record.involvements.len() =>
                {
                    // The same record moving to the next key epoch: its
                    // involvements keep their ids (so their profiles, link
                    // evidence and the record's history stay), and they link
                    // under the same pseudonyms as before; only its refs
                    // change, and its next-epoch pseudonyms are kept.
                    let old = braid_store::record_fingerprint(&submission.agency, &stored_ref);
                    for ((encoded, _), &id) in record.involvements.into_iter().zip(&stored.involvement_ids) {
                        pending.set.put_involvement_bytes(id, encoded);
                    }
                    pending.set.delete_record(&submission.agency, &stored_ref);
                    pending.records_removed.push(old);
                    pending.fact_changes.push(FactChange::Remove(old));
                    kept_links = stored.involvement_ids.iter().filter_map(|&id| Some((id, state.facts.involvement(id)?.link))).collect();
                    ack.replaced += 1;
                    moved = true;
                    (stored.involvement_ids, stored.stored_ms, stored.changes, stored.history)
                }
                Some((stored_ref, stored)) => {
                    pending.remove_record(&submission.agency, &stored_ref, &stored);
                    ack.replaced += 1;
                    let changes = stored.changes.saturating_add(1);
                    let ids = link_new(state, &mut pending, &mut ack, agency_number, record.involvements);
                    (ids, crate::audit::now_ms(), changes, replaced_history(stored))
                }
                None => {
                    ack.accepted += 1;
                    (link_new(state, &mut pending, &mut ack, agency_number, record.involvements), crate::audit::now_ms(), 0, Vec::new())
                }
            };
            pending.fact_changes.push(FactChange::Add {
                fingerprint,
                agency: submission.agency.clone(),
                record_ref: record.record_ref.clone(),
                agency_type: submission.agency_type.clone(),
                facts: record.facts,
                ids: ids.clone(),
            });
            pending.fact_changes.extend(kept_links.into_iter().map(|(id, link)| FactChange::Link(id, link)));
            pending.set.put_record(
                &submission.agency,
                &record.record_ref,
                &StoredRecord {
                    content_hash: record.content_hash,
                    involvement_ids: ids,
                    record: record.stored_bytes,
                    agency_type: submission.agency_type.clone(),
                    stored_ms,
                    changes,
                    history,
                },
            );
        }
        pending.finish(&mut guard, &mut slice);
        let state = &mut *guard;
        let next_id = state.next_id;
        let new_ids: Vec<InvolvementId> = pending.outcomes.iter().map(|(id, _)| *id).filter(|id| *id >= first_new_id).collect();
        let (added, removed) = (std::mem::take(&mut pending.records_added), std::mem::take(&mut pending.records_removed));
        let (mut set, outcomes, withdrawn, fact_changes, dirty) = pending.into_parts();
        if state.epoch.is_none() {
            set.set_epoch(&submission.epoch);
        }
        set.set_next_involvement_id(next_id);
        set.put_model(state.linker.model().to_bytes());
        set.put_ack(&submission.agency, &submission.submission_id, sequence, [&[ACK_FORMAT][..], &digest, &ack.encode_to_vec()].concat());
        let ticket = Engine::seal(state, &mut set, fact_changes, dirty);
        self.unfence(state);
        state.epoch.get_or_insert_with(|| submission.epoch.clone());
        // Once an agency has stored records under the next epoch, its
        // uploads under the current one would hold them twice.
        if submission.bridge_epoch.is_some() && (moved || ack.accepted + ack.replaced > 0) {
            state.moving.insert(submission.agency.clone());
        }
        drop(guard);
        drop(linking);
        put_links(&mut set, outcomes, &withdrawn, &self.decisions);
        entry.result_count = u64::from(ack.accepted + ack.replaced + ack.unchanged);
        entry.outcome = "ok".to_owned();
        let index = self.write_in_turn(ticket, set, entry)?;
        self.lock_state()?.note_records(&removed, &added);
        Ok((ack, index, new_ids))
    }

    /// Withdraws an agency's records and re-computes the profiles they were
    /// part of. Returns (withdrawn, not found, audit index); the audit
    /// `entry` is stored in the same write.
    pub fn withdraw(&self, agency: &str, record_refs: &[String], entry: Entry) -> Result<(u32, u32, u64), EngineError> {
        self.remove_records(&[(agency, record_refs)], |_, _| true, entry)
    }

    /// What a retention sweep under `settings` would erase on day `today`
    /// (days since 1970-01-01), per agency holding records.
    pub fn retention_plan(&self, settings: &RetentionSettings, today: i64) -> Result<Vec<AgencyRetention>, EngineError> {
        let mut plan: BTreeMap<String, AgencyRetention> = BTreeMap::new();
        self.store.for_each_record(|agency, record_ref, stored| {
            let rule = settings.rule_for(agency).unwrap_or_default();
            let row = plan.entry(agency.to_owned()).or_insert_with(|| AgencyRetention {
                agency: agency.to_owned(),
                rule: rule.describe(),
                ..AgencyRetention::default()
            });
            row.records += 1;
            let record = v1::CaseRecord::decode(stored.record.as_slice()).map_err(|_| braid_store::Error::Corrupt("record"))?;
            match crate::retention::expires_on(&record, &rule) {
                Some(day) if day <= today => {
                    row.expired += 1;
                    row.expired_refs.push(record_ref.to_owned());
                }
                Some(day) => row.next_expiry = Some(row.next_expiry.map_or(day, |next| next.min(day))),
                None => {}
            }
            Ok(())
        })?;
        Ok(plan.into_values().collect())
    }

    /// Erases the records a retention `plan` found expired, through the
    /// same path as a withdrawal (re-checking each record's date under its
    /// agency's lock, so a record re-sent since the plan was made is kept),
    /// with one audit `entry` for them all; then compacts the store so that
    /// their pseudonyms are gone from its files. Returns (records erased,
    /// audit index).
    pub fn erase_expired(&self, settings: &RetentionSettings, today: i64, plan: &[AgencyRetention], entry: Entry) -> Result<(u32, u64), EngineError> {
        let refs: Vec<(&str, &[String])> = plan.iter().filter(|a| !a.expired_refs.is_empty()).map(|a| (a.agency.as_str(), a.expired_refs.as_slice())).collect();
        let still_expired = |agency: &str, stored: &StoredRecord| {
            let rule = settings.rule_for(agency).unwrap_or_default();
            v1::CaseRecord::decode(stored.record.as_slice())
                .ok()
                .and_then(|record| crate::retention::expires_on(&record, &rule))
                .is_some_and(|day| day <= today)
        };
        let (erased, _, index) = self.remove_records(&refs, still_expired, entry)?;
        // The erasure is committed and audited: a compaction that fails
        // (a nearly full disk) is not a failed erasure; the data goes with
        // the next sweep's compaction or RocksDB's own.
        if erased > 0 {
            if let Err(error) = self.store.compact() {
                tracing::warn!(%error, "erased records were not compacted away yet; they go with a later compaction");
            }
        }
        Ok((erased, index))
    }

    /// Removes records (those `remove` agrees to, as read under their
    /// agencies' locks) and re-computes the profiles they were part of.
    /// Returns (removed, not found or kept, audit index).
    fn remove_records(
        &self,
        refs: &[(&str, &[String])],
        remove: impl Fn(&str, &StoredRecord) -> bool,
        mut entry: Entry,
    ) -> Result<(u32, u32, u64), EngineError> {
        self.space.refresh()?;
        let mut agencies: Vec<&str> = refs.iter().map(|(agency, _)| *agency).collect();
        agencies.sort_unstable();
        agencies.dedup();
        // Agencies' locks in one order, so that two removals cannot each
        // hold one the other waits for.
        let locks = agencies.iter().map(|agency| self.agency_lock(agency)).collect::<Result<Vec<_>, _>>()?;
        let _held = locks.iter().map(|lock| lock.lock().map_err(|_| EngineError::Poisoned)).collect::<Result<Vec<_>, _>>()?;
        let mut pending = Pending::new();
        let (mut withdrawn, mut not_found) = (0, 0);
        for (agency, record_refs) in refs {
            let mut seen = HashSet::new();
            for record_ref in record_refs.iter() {
                if !seen.insert(record_ref) {
                    continue;
                }
                match self.store.record(agency, record_ref)? {
                    Some(record) if remove(agency, &record) => {
                        pending.remove_record(agency, record_ref, &record);
                        withdrawn += 1;
                    }
                    _ => not_found += 1,
                }
            }
        }
        let linking = self.linking.lock().map_err(|_| EngineError::Poisoned)?;
        let _change = ChangeGuard(self);
        let mut guard = self.lock_state()?;
        Engine::fence(&mut guard, &pending.withdrawn);
        pending.finish(&mut guard, &mut Slice::start());
        let state = &mut *guard;
        let removed = std::mem::take(&mut pending.records_removed);
        let (mut set, outcomes, withdrawn_ids, fact_changes, dirty) = pending.into_parts();
        let ticket = Engine::seal(state, &mut set, fact_changes, dirty);
        self.unfence(state);
        drop(guard);
        drop(linking);
        put_links(&mut set, outcomes, &withdrawn_ids, &self.decisions);
        entry.result_count = u64::from(withdrawn);
        entry.outcome = "ok".to_owned();
        let index = self.write_in_turn(ticket, set, entry)?;
        self.lock_state()?.note_records(&removed, &[]);
        Ok((withdrawn, not_found, index))
    }

    /// Re-decides the profiles of the involvements an upload added, now that
    /// all of it is in (decisions made early in an upload were made with
    /// less of the data and a younger model): members are linked afresh in
    /// an order set by their content. Returns (involvements re-decided,
    /// audit index); the audit `entry` is stored in the same write.
    pub fn settle(&self, ids: &[InvolvementId], entry: Entry) -> Result<(u64, u64), EngineError> {
        self.relink_with(entry, |linker| {
            let live: Vec<InvolvementId> = ids.iter().copied().filter(|id| linker.profiles().is_alive(*id)).collect();
            linker.relink(&live)
        })
    }

    /// Re-estimates the linkage model from scratch and re-decides every
    /// profile, in an order set by the records' content: afterwards the
    /// profiles depend on the records held, hardly on the order they were
    /// uploaded in. Returns (involvements re-decided, audit index).
    pub fn relink_everything(&self, entry: Entry) -> Result<(u64, u64), EngineError> {
        self.relink_with(entry, Linker::relink_everything)
    }

    fn relink_with(&self, mut entry: Entry, relink: impl FnOnce(&mut Linker) -> Vec<(InvolvementId, Outcome)>) -> Result<(u64, u64), EngineError> {
        self.space.refresh()?;
        let linking = self.linking.lock().map_err(|_| EngineError::Poisoned)?;
        let mut guard = self.lock_state()?;
        let state = &mut *guard;
        let mut pending = Pending::new();
        pending.outcomes = relink(&mut state.linker);
        let count = pending.outcomes.len() as u64;
        pending.dirty.extend(pending.outcomes.iter().map(|(id, _)| *id));
        let (mut set, outcomes, withdrawn, fact_changes, dirty) = pending.into_parts();
        set.put_model(state.linker.model().to_bytes());
        let ticket = Engine::seal(state, &mut set, fact_changes, dirty);
        drop(guard);
        drop(linking);
        put_links(&mut set, outcomes, &withdrawn, &self.decisions);
        entry.result_count = count;
        entry.outcome = "ok".to_owned();
        let index = self.write_in_turn(ticket, set, entry)?;
        Ok((count, index))
    }

    /// Writes an online, consistent backup into `path` (which must not
    /// exist): a RocksDB checkpoint holding every acknowledged batch, the
    /// linkage state, the audit log and its signing key as of one moment.
    /// `entry` is audited first, so the backup holds the entry that made it.
    /// Returns the records and audit entries the backup holds.
    pub fn backup(&self, path: &Path, mut entry: Entry) -> Result<(u64, u64, u64), EngineError> {
        if path.exists() {
            return Err(EngineError::InvalidRequest("a backup of that name already exists".to_owned()));
        }
        // A checkpoint flushes memtables into the data directory.
        self.space.refresh()?;
        entry.outcome = "ok".to_owned();
        let index = self.audit.append_blocking(entry, None)?;
        self.store.backup(path)?;
        let records = self.store.count_records()?;
        Ok((records, index + 1, index))
    }

    /// Whether the linkage model has been fitted to data yet (until it has,
    /// decisions are made with its starting values).
    pub fn model_fitted(&self) -> Result<bool, EngineError> {
        Ok(self.lock_state()?.linker.model().pairs_at_last_fit() > 0)
    }

    /// Distinct profiles of live identified involvements.
    pub fn profile_count(&self) -> Result<u64, EngineError> {
        let guard = self.lock_state()?;
        let profiles = guard.linker.profiles();
        let roots: HashSet<InvolvementId> = profiles.live_ids().map(|id| profiles.find(id)).collect();
        Ok(roots.len() as u64)
    }

    /// Every live involvement with its profile.
    pub fn clusters(&self) -> Result<Vec<ClusterRow>, EngineError> {
        // The profiles are copied under the state lock (memory only, fast);
        // the store is scanned without it, so an export never holds up
        // uploads or panels for the seconds a full scan takes. Involvements
        // stored after the copy are left out.
        let keys = self.profile_keys()?;
        let mut rows = Vec::new();
        self.store.for_each_involvement(|id, involvement| {
            let Some(key) = keys.key(id) else { return Ok(()) };
            rows.push(ClusterRow {
                identified: is_identified(&involvement),
                agency: involvement.agency,
                record_ref: involvement.record_ref,
                person_ref: involvement.person_ref,
                role: involvement.role,
                profile_id: profile_id(key),
            });
            Ok(())
        })?;
        Ok(rows)
    }

    /// Every live involvement's profile key, copied under the state lock.
    fn profile_keys(&self) -> Result<ProfileKeys, EngineError> {
        let guard = self.lock_state()?;
        let profiles = guard.linker.profiles();
        let bound = guard.facts.id_bound().max(guard.next_id as usize);
        Ok(ProfileKeys((0..bound as u64).map(|id| if profiles.is_alive(id) { profiles.smallest_member(id) } else { u64::MAX }).collect()))
    }

    /// Counts of what the node holds.
    pub fn stats(&self) -> Result<Stats, EngineError> {
        let rows = self.clusters()?;
        let mut agencies_by_profile: HashMap<&str, HashSet<&str>> = HashMap::new();
        let mut agencies = HashSet::new();
        for row in &rows {
            agencies_by_profile.entry(&row.profile_id).or_default().insert(&row.agency);
            agencies.insert(row.agency.as_str());
        }
        let (epoch, model_pairs, model_pairs_at_fit, outcome_events) = {
            let guard = self.lock_state()?;
            let model = guard.linker.model();
            (guard.epoch.clone(), model.pairs_seen(), model.pairs_at_last_fit(), guard.facts.outcome_count() as u64)
        };
        let reviews = self.explain_reviews_count()?;
        Ok(Stats {
            review_items: reviews,
            model_pairs,
            model_pairs_at_fit,
            records: self.store.count_records()?.saturating_sub(outcome_events),
            outcome_events,
            involvements: rows.len() as u64,
            profiles: agencies_by_profile.len() as u64,
            profiles_multi_agency: agencies_by_profile.values().filter(|set| set.len() >= 2).count() as u64,
            agencies: agencies.len() as u64,
            epoch,
        })
    }

    /// Bytes held in memory by the linker's index and profiles,
    /// approximately (the data itself is in RocksDB).
    pub fn index_memory_bytes(&self) -> Result<usize, EngineError> {
        Ok(self.lock_state()?.linker.memory_bytes())
    }

    fn explain_reviews_count(&self) -> Result<u64, EngineError> {
        // As for `clusters`: the profiles are copied under the lock, the
        // links scanned without it.
        let keys = self.profile_keys()?;
        let mut count = 0;
        self.store.for_each_links(|id, links| {
            count += links.entries.iter().filter(|link| is_open_review(link, id, |i| keys.key(i))).count() as u64;
            Ok(())
        })?;
        Ok(count)
    }

    /// Explains profiles: members, the links holding each together with
    /// their evidence, and open review items.
    pub fn explain(&self, subject: &ExplainSubject) -> Result<Vec<ProfileExplanation>, EngineError> {
        let guard = self.lock_state()?;
        let profiles = guard.linker.profiles();
        let mut seeds: Vec<u64> = Vec::new();
        match subject {
            ExplainSubject::Profile(text) => {
                let id = parse_profile_id(text).ok_or_else(|| EngineError::InvalidRequest("a profile id looks like P0000123".to_owned()))?;
                if !profiles.is_alive(id) || profiles.smallest_member(id) != id {
                    return Err(EngineError::NotFound("no profile has that id".to_owned()));
                }
                seeds.push(id);
            }
            ExplainSubject::Record { agency, record_ref } => {
                let record =
                    self.store.record(agency, record_ref)?.ok_or_else(|| EngineError::NotFound("the agency has no record with that ref".to_owned()))?;
                seeds.extend(record.involvement_ids.iter().copied());
            }
        }
        let mut out: Vec<ProfileExplanation> = Vec::new();
        let mut done = HashSet::new();
        for seed in seeds {
            let root = profiles.smallest_member(seed);
            if !done.insert(root) {
                continue;
            }
            let mut members: Vec<u64> = profiles.members(seed).collect();
            members.sort_unstable();
            let mut explanation = ProfileExplanation { profile_id: profile_id(root), members: Vec::new(), links: Vec::new(), reviews: Vec::new() };
            for &id in &members {
                if let Some(involvement) = self.store.involvement(id)? {
                    explanation.members.push(Member {
                        involvement: id,
                        agency: involvement.agency,
                        record_ref: involvement.record_ref,
                        role: involvement.role,
                    });
                }
                for link in self.store.links(id)?.map(|links| links.entries).unwrap_or_default() {
                    let Some(decision) = Decision::from_number(link.decision) else { continue };
                    let explained = explain_link(id, &link, decision, profiles);
                    match decision {
                        Decision::Joined | Decision::Merged => explanation.links.push(explained),
                        Decision::ReviewUncertain | Decision::ReviewWouldChain | Decision::ReviewConflict => {
                            if is_open_review(&link, id, live_root(profiles)) {
                                explanation.reviews.push(explained);
                            }
                        }
                    }
                }
            }
            out.push(explanation);
        }
        Ok(out)
    }
}

/// A review item is open while both involvements are live and still in
/// different profiles.
/// Profile keys by involvement id, copied from the linker.
struct ProfileKeys(Vec<u64>);

impl ProfileKeys {
    /// The profile key of a live involvement.
    fn key(&self, id: u64) -> Option<u64> {
        self.0.get(usize::try_from(id).ok()?).copied().filter(|&key| key != u64::MAX)
    }
}

/// Whether `link` (stored with `id`) is a review item still open: both
/// involvements live (`profile` gives a live one's profile) and in two
/// profiles.
fn is_open_review(link: &StoredLink, id: u64, profile: impl Fn(u64) -> Option<u64>) -> bool {
    matches!(Decision::from_number(link.decision), Some(Decision::ReviewUncertain | Decision::ReviewWouldChain))
        && matches!((profile(id), profile(link.other)), (Some(a), Some(b)) if a != b)
}

/// A live involvement's profile, by its root.
fn live_root(profiles: &braid_linkage::UnionFind) -> impl Fn(u64) -> Option<u64> + '_ {
    |id| profiles.is_alive(id).then(|| profiles.find(id))
}

fn explain_link(id: u64, link: &StoredLink, decision: Decision, profiles: &braid_linkage::UnionFind) -> LinkExplanation {
    let level = |feature: usize| -> &'static str {
        let levels = FEATURES[feature].levels;
        link.levels.get(feature).and_then(|l| levels.get(usize::from(*l))).copied().unwrap_or("unknown")
    };
    let dice_feature = FEATURES.iter().position(|f| *f == DICE).unwrap_or(2);
    LinkExplanation {
        involvement: id,
        other: link.other,
        other_profile_id: profile_id(profiles.smallest_member(link.other)),
        decision: decision.name(),
        keys_agreeing: (1..32).filter(|k| link.keys_agreeing & (1 << k) != 0).map(key_kind_name).collect(),
        dice_band: level(dice_feature),
        weight: link.weight,
        probability: link.probability,
        parts: (0..FEATURES.len()).map(|f| (FEATURES[f].name, level(f))).collect(),
    }
}
