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
use braid_linkage::model::{dice_level, DICE, FEATURES, PERSON};
use braid_linkage::{key_kind_name, Bloom, Decision, InvolvementId, KeyFingerprint, Linker, LinkerConfig, Model, Outcome, Tokens};
use braid_signals::{Facts, NewInvolvement};
use braid_store::{Store, StoredAck, StoredInvolvement, StoredLink, StoredLinks, StoredRecord, StoredRejection, WriteSet};
use prost::Message;

use crate::audit::{AuditLog, CheckpointPolicy};
use crate::panel::{record_facts, PreparedFacts};
use crate::retention::{AgencyRetention, RetentionSettings};
use crate::space::{DiskSpace, StorageLimits};

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
    /// The same kind of work is under way already (a backup).
    #[error("{0}")]
    Busy(String),
    /// Storage failed; nothing of the batch was applied.
    #[error(transparent)]
    Storage(#[from] braid_store::Error),
    /// What was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not see what it asked for.
    #[error("{0}")]
    Refused(String),
    /// The audit log failed, or refused (it does not verify; the node
    /// runs audit-only).
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// The data directory could not be made ready.
    #[error("{what}: {source}")]
    Open {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A directory that holds no node's store was given.
    #[error("{0} is not a node's data directory")]
    NotAStore(std::path::PathBuf),
    /// The data directory's disk has too little room to open the store.
    #[error("{0:#}")]
    NoRoom(anyhow::Error),
    /// A failure inside the node that the caller did not cause.
    #[error("{0}")]
    Internal(&'static str),
    /// The disk is nearly full: changes are refused, reads continue.
    #[error(transparent)]
    DiskFull(#[from] crate::space::SpaceShort),
    /// A backup could not be written (its directory unwritable or full);
    /// the store itself is untouched.
    #[error("the backup could not be written under backups_dir (the store itself is untouched): {0}")]
    Backup(braid_store::Error),
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
    /// Whether a change is re-linking profiles in slices: `lock_state`
    /// waits until it is sealed; profile and network queries read the
    /// profiles as last sealed instead of waiting.
    pub(crate) in_flux: bool,
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
    // Where the run of ids holding the current record began: a record's
    // involvements were given consecutive ids (see `record_version`).
    let mut run: Option<(u64, u64, String, String)> = None;
    store.for_each_involvement(|id, involvement| {
        if involvement.next.is_some() && !moving.contains(&involvement.agency) {
            moving.insert(involvement.agency.clone());
        }
        if let Some(slot) = usize::try_from(id).ok().and_then(|i| identified.get_mut(i)) {
            *slot = is_identified(&involvement);
        }
        let mut linked = linker_involvement(&involvement);
        linked.agency = agency_number(&mut agencies, &involvement.agency);
        let first = match &run {
            Some((first, last, agency, record_ref)) if *last + 1 == id && *agency == involvement.agency && *record_ref == involvement.record_ref => *first,
            _ => id,
        };
        run = Some((first, id, involvement.agency.clone(), involvement.record_ref.clone()));
        linked.record = record_version(linked.record, first);
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
        if braid_linkage::model::is_earlier_shape(&bytes) {
            // An upgrade changed the model's comparison levels: the stored
            // fit cannot be read into them. The profiles stand as linked;
            // the model starts from its priors, is fitted again once enough
            // pairs are compared, and `braid admin relink` re-links
            // everything under the new levels.
            tracing::warn!("the stored linkage model is from an earlier version and is fitted afresh; run `braid admin relink` to re-link under the new model");
        } else {
            let model = Model::from_bytes(&bytes).ok_or(braid_store::Error::Corrupt("linkage model"))?;
            linker.set_model(model);
        }
    }
    Ok(LoadedLinker { linker, agencies, identified, moving })
}

/// Moves records stored before the node had its own schema (the API's
/// encoding) to it, once the audit log has verified and while the disk has
/// room; reads take either schema meanwhile. A move cut short (a crash, a
/// disk that fills) goes on at the next start, and a full disk leaves the
/// node serving reads as any failed write does.
fn migrate_records(store: &Store, space: &DiskSpace) -> Result<(), EngineError> {
    if space.refresh().is_err() {
        return Ok(());
    }
    match store.migrate_records(crate::record::body_of_api_bytes) {
        Ok(0) => {}
        Ok(moved) => tracing::info!(records = moved, "stored records moved to the node's own record schema"),
        Err(error) if store.write_failure().is_some() => {
            if store.write_failure() == Some(braid_store::WriteFailure::DiskFull) {
                space.release_reserve();
            }
            tracing::error!(%error, "stored records could not all be moved to the node's own record schema; reads go on, and the move resumes at the next start");
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
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
    /// Held while a backup is written: one at a time (two checkpoints at
    /// once fail each other).
    backing_up: Mutex<()>,
    pub(crate) space: DiskSpace,
    /// Held while an upload's summary is kept or a key set aside for it
    /// (they are keyed by time): the last key set aside.
    pub(crate) uploads_noted: Mutex<u64>,
    /// The retention rules uploads are checked against, once set.
    retention: std::sync::OnceLock<RetentionSettings>,
    /// Held while an owed compaction is paid (one at a time).
    pub(crate) compacting: Mutex<()>,
    /// Counts the erasures that owed a compaction, so that a compaction
    /// clears the owed mark only if no erasure came after it began.
    pub(crate) owed: std::sync::atomic::AtomicU64,
}

/// The state lock as held by a change.
type StateGuard<'a> = parking_lot::MutexGuard<'a, State>;

/// How long a change holds the state lock before letting waiting readers
/// in (it holds the linking lock throughout, so no other change runs in
/// between: the order changes are linked in stays the order they are
/// written in).
const SLICE: std::time::Duration = std::time::Duration::from_micros(500);

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
            state.in_flux = false;
            self.0.flux_done.notify_all();
        }
    }
}

/// Linkage decisions made since start-up, by kind (for the metrics).
#[derive(Debug, Default)]
pub struct DecisionCounts([AtomicU64; 7]);

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
            return Err(EngineError::NotAStore(data_dir.to_owned()));
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
                in_flux: false,
                agencies: HashMap::new(),
                next_id: 0,
                epoch: None,
                next_epoch: None,
                moving: HashSet::new(),
            };
            return Ok(Engine::with(store, audit, state, None, max_batch_records, space));
        };
        // Only the node's account may enter the store: it holds every
        // pseudonym and the audit log's signing key.
        crate::space::create_private_dir(data_dir)
            .map_err(|source| EngineError::Open { what: format!("create the data directory {}", data_dir.display()), source })?;
        if let Some(mode) = crate::space::open_to_others(data_dir) {
            tracing::warn!(
                data_dir = %data_dir.display(),
                mode = format!("{mode:o}"),
                "the data directory can be entered by other users, and it holds every pseudonym and the audit signing key: chmod 700 it"
            );
        }
        space.before_open().map_err(EngineError::NoRoom)?;
        let store = Arc::new(Store::open(data_dir).map_err(|error| match error {
            // RocksDB's LOCK file: held by another process.
            braid_store::Error::Rocks(text) if text.contains("/LOCK:") => EngineError::Open {
                what: format!("open the store in {}: another braid-node (or a tool) is using this data directory", data_dir.display()),
                source: std::io::Error::new(std::io::ErrorKind::WouldBlock, "its LOCK file is held"),
            },
            error => error.into(),
        })?);
        let audit = AuditLog::open(Arc::clone(&store), checkpoints)?;
        migrate_records(&store, &space)?;
        let next_id = store.next_involvement_id()?;
        let LoadedLinker { linker, agencies, identified, moving } = load_linker(&store, next_id)?;
        let mut state = State {
            records: store.record_fingerprints()?.into_iter().collect(),
            linker,
            facts: Facts::new(),
            signals: crate::panel::SignalBooks::default(),
            next_ticket: 0,
            in_flux: false,
            agencies,
            next_id,
            epoch: store.epoch()?,
            next_epoch: store.next_epoch()?,
            moving,
        };
        let stored = usize::try_from(next_id).unwrap_or(0);
        state.facts.reserve((stored + stored / 2).max(RESERVED_INVOLVEMENTS));
        store.for_each_record(|agency, record_ref, mut stored| {
            let record = crate::record::take_body(&mut stored)?;
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
            state.facts.set_links(
                id,
                joined_links(links.entries.iter().filter_map(|l| Some((Decision::from_number(l.decision)?, &l.levels[..], l.probability, l.other)))),
            );
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
            backing_up: Mutex::new(()),
            space,
            uploads_noted: Mutex::new(0),
            retention: std::sync::OnceLock::new(),
            compacting: Mutex::new(()),
            owed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Checks uploads against `settings` from now on: a record already past
    /// its agency's retention date is rejected instead of stored (a sweep
    /// would only erase it again). Set once; later calls change nothing.
    pub fn set_retention(&self, settings: RetentionSettings) {
        let _ = self.retention.set(settings);
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

    /// The state lock, possibly while a change is half made
    /// ([`State::in_flux`]): for a reader that reads the profiles as last
    /// sealed (`linker.profiles().sealed()`) and the signals' facts, which
    /// change only when a change is sealed.
    pub(crate) fn lock_state_unfenced(&self) -> Result<StateGuard<'_>, EngineError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(EngineError::Poisoned);
        }
        Ok(self.state.lock())
    }

    /// Waits (releasing the lock) until no change fences profiles; fails
    /// if the change that fenced them panicked and poisoned the engine.
    pub(crate) fn wait_for_flux(&self, guard: &mut StateGuard<'_>) -> Result<(), EngineError> {
        while guard.in_flux {
            self.flux_done.wait(guard);
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(EngineError::Poisoned);
        }
        Ok(())
    }

    /// Fences the profiles for a change that will re-link those of
    /// `withdrawn`: readers that need every profile settled wait until
    /// [`Engine::unfence`]; a profile or network query reads the profiles
    /// as last sealed meanwhile ([`braid_linkage::Sealed`]) and does not
    /// wait.
    fn fence(state: &mut State, withdrawn: &[InvolvementId]) {
        if !withdrawn.is_empty() {
            state.linker.profiles_mut().keep_sealed();
            state.in_flux = true;
        }
    }

    /// Lifts a change's fence, once the change is sealed.
    fn unfence(&self, state: &mut State) {
        if std::mem::take(&mut state.in_flux) {
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
        let mut moved = Vec::new();
        for change in state.linker.profiles_mut().take_changes() {
            set.set_parent(change.id, change.parent);
            dirty.push(change.id);
            moved.push(change.id);
        }
        let mut added = HashSet::new();
        for change in fact_changes {
            match change {
                FactChange::Remove(fingerprint) => {
                    state.facts.remove_record(fingerprint);
                }
                FactChange::Link(id, probability) => state.facts.set_link(id, probability),
                FactChange::Links(id, links) => state.facts.set_links(id, links),
                FactChange::Add { fingerprint, agency, record_ref, agency_type, facts, ids } => {
                    let number = state.facts.agency_number(&agency, &agency_type);
                    add_facts(&mut state.facts, fingerprint, number, record_ref, facts, &ids);
                    added.extend(ids.iter().copied());
                    dirty.extend(ids);
                }
            }
        }
        // A new record joining a profile moves nothing the signals track
        // (its own children are recomputed as changed); an earlier member
        // re-parented is a merge or a split.
        moved.retain(|id| !added.contains(id));
        state.signals.note_changed(&dirty);
        state.signals.note_moved(&moved);
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
        let result = if self.poisoned.load(Ordering::SeqCst) {
            Err(EngineError::Poisoned)
        } else {
            self.audit.append_blocking(entry, Some(set)).map_err(EngineError::from)
        };
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
        Ok(self.audit.append(entry).await?)
    }

    /// Tells `observer` how long each audit entry took to become durable,
    /// those written with the data they record included.
    pub fn observe_audit_appends(&self, observer: crate::audit::AppendObserver) {
        self.audit.observe_appends(observer);
    }

    /// Signs (if anything is new) and returns the newest audit checkpoint,
    /// with the public key that verifies it.
    pub fn audit_checkpoint(&self) -> Result<(Checkpoint, Vec<u8>), EngineError> {
        Ok((self.audit.checkpoint()?, self.audit.public_key()))
    }

    /// Signs a checkpoint if entries have waited longer than the interval.
    pub fn audit_checkpoint_if_stale(&self) -> Result<bool, EngineError> {
        Ok(self.audit.checkpoint_if_stale()?)
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
        Ok(self.audit.size()?)
    }

    /// Why the node runs audit-only, if it does.
    pub fn audit_only(&self) -> Option<&str> {
        self.audit.sealed()
    }

    /// Inclusion proof of entry `index` in the first `size` entries.
    pub fn audit_inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, EngineError> {
        Ok(self.audit.inclusion_proof(index, size)?)
    }

    /// Consistency proof between the first `old` and first `new` entries.
    pub fn audit_consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, EngineError> {
        Ok(self.audit.consistency_proof(old, new)?)
    }
}

mod admin;
mod incoming;
mod ingest;
mod prepare;

pub(crate) use admin::parse_profile_id;
pub use admin::{profile_id, ExplainSubject, LinkExplanation};
pub use incoming::{IncomingBatch, IncomingInvolvement, IncomingRecord};
use ingest::*;
use prepare::*;
