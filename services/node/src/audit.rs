//! The node's side of the audit log: every call becomes an entry, written
//! durably before any answer leaves the node.
//!
//! One writer thread owns the log. Callers send it their entry (a call that
//! changes data sends its [`WriteSet`] along, so the entry is stored in the
//! same atomic write as the change) and wait for the entry's index. The
//! writer takes everything queued, appends it to the Merkle tree and stores
//! it in one synced RocksDB write (group commit), then answers each caller:
//! many concurrent calls share one sync. A checkpoint is signed, over
//! entries already synced, every `every_entries` entries, when entries have
//! waited longer than `every`, and on an auditor's request.
//!
//! On start the whole stored log is verified; the node refuses to add to a
//! log that does not verify, and the error names the first bad entry.
//! Started with `--audit-only`, the node opens the log sealed instead: as
//! stored, verified or not, for auditors to read; no writer runs.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use braid_audit::merkle::{self, Hash};
use braid_audit::{Checkpoint, Entry, Log, Signer};
use braid_store::{Store, WriteSet};
use tokio::sync::oneshot;

/// How often checkpoints are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Sign once this many entries have been added since the last one.
    pub every_entries: u64,
    /// Sign when entries added since the last one are older than this.
    pub every: Duration,
}

impl From<crate::config::AuditSettings> for CheckpointPolicy {
    fn from(settings: crate::config::AuditSettings) -> CheckpointPolicy {
        CheckpointPolicy { every_entries: settings.checkpoint_every_entries, every: Duration::from_secs(settings.checkpoint_every_seconds) }
    }
}

impl Default for CheckpointPolicy {
    fn default() -> CheckpointPolicy {
        crate::config::AuditSettings::default().into()
    }
}

/// The most entries one write takes.
const MAX_GROUP: usize = 4096;

/// What the writer is asked to do.
enum Job {
    /// Append an entry (with the change it accompanies); answer its index.
    Append { entry: Box<Entry>, set: Option<WriteSet>, reply: oneshot::Sender<Result<u64, String>> },
    /// Sign a checkpoint of everything synced (if anything is new, or
    /// `only_if_stale` and entries have waited long enough); answer the
    /// newest checkpoint.
    Checkpoint { only_if_stale: bool, reply: oneshot::Sender<Result<Option<Checkpoint>, String>> },
}

/// The audit log as the node writes it.
pub struct AuditLog {
    /// Taken out (closing the queue) when the log is dropped.
    jobs: Option<mpsc::Sender<Job>>,
    /// Leaf hashes of every synced entry, for proofs; the writer extends it.
    leaves: Arc<Mutex<Vec<Hash>>>,
    public_key: Vec<u8>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Set when the log is open for reading only (`--audit-only`): why,
    /// and one more than the highest stored index.
    sealed: Option<(String, u64)>,
    /// Told how long each append took to become durable.
    observer: std::sync::OnceLock<AppendObserver>,
}

/// Told how long each append took to become durable, whether the entry was
/// written alone or with the data it records (the node's metrics).
pub type AppendObserver = Box<dyn Fn(Duration) + Send + Sync>;

/// What can go wrong with the node's audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The writer thread has stopped: a write failed, or the node is
    /// closing.
    #[error("the audit writer has stopped; restart the node")]
    Stopped,
    /// The writer thread could not be started.
    #[error("could not start the audit writer: {0}")]
    Start(#[source] std::io::Error),
    /// An entry or a checkpoint could not be stored (as the writer saw it).
    #[error("{0}")]
    Write(String),
    /// Reading or writing the store failed.
    #[error(transparent)]
    Storage(#[from] braid_store::Error),
    /// A first signing key could not be made.
    #[error("the audit log's signing key could not be made: {0}")]
    KeyGeneration(String),
    /// The stored log does not verify; the node will not add to it.
    #[error("{0}. The node does not add to an audit log that fails verification; inspect it with `braid audit verify --data-dir`, or start the node with --audit-only so that auditors can read it as stored, and restore the store from a backup")]
    Broken(braid_audit::Error),
    /// The log is open for reading only (`--audit-only`).
    #[error("this node runs audit-only: it {0} (verify the log with `braid audit verify --node`)")]
    ReadOnly(&'static str),
    /// There is no audit log in the data directory to examine.
    #[error("this data directory has no audit log to examine")]
    Missing,
    /// A proof asked of sizes the log does not hold yet.
    #[error("the log holds fewer than {0} entries")]
    TooFew(u64),
    /// A proof asked of an entry or sizes that cannot be proved.
    #[error("{0}")]
    Unprovable(String),
    /// A thread holding the leaves panicked.
    #[error("the audit log's state was lost to a failed thread; restart the node")]
    Poisoned,
}

fn stopped() -> AuditError {
    AuditError::Stopped
}

fn storage(message: String) -> AuditError {
    AuditError::Write(message)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The audit entry of something the node does on its own (principal
/// `braid-node`, role `node`).
pub fn node_entry(action: &str, purpose: &str) -> braid_audit::Entry {
    braid_audit::Entry {
        time_ms: now_ms(),
        principal: "braid-node".to_owned(),
        role: "node".to_owned(),
        action: action.to_owned(),
        purpose: purpose.to_owned(),
        ..braid_audit::Entry::default()
    }
}

/// Reads the stored checkpoints.
pub fn stored_checkpoints(store: &Store) -> Result<Vec<Checkpoint>, AuditError> {
    store
        .audit_checkpoints()?
        .into_iter()
        .map(|(size, bytes)| {
            let text = String::from_utf8(bytes).map_err(|_| braid_store::Error::Corrupt("audit checkpoint"))?;
            let checkpoint = Checkpoint::from_text(&text).map_err(|_| braid_store::Error::Corrupt("audit checkpoint"))?;
            if checkpoint.size != size {
                return Err(braid_store::Error::Corrupt("audit checkpoint").into());
            }
            Ok(checkpoint)
        })
        .collect()
}

/// Verifies the stored log against `checkpoints` (the stored ones) and
/// `saved`, reading entries as it goes (they are never all in memory);
/// `on_leaf` sees each leaf hash. The outer error is a failed read.
fn verify_stored(
    store: &Store,
    checkpoints: &[Checkpoint],
    saved: &[Checkpoint],
    public_key: &[u8],
    on_leaf: impl FnMut(Hash),
) -> Result<Result<braid_audit::Verified, braid_audit::Error>, AuditError> {
    let mut unreadable = None;
    let entries = store.audit_entries(0)?.map_while(|item| item.map_err(|error| unreadable = Some(error)).ok());
    let verified = braid_audit::verify_visiting(entries, checkpoints, saved, public_key, on_leaf);
    match unreadable {
        Some(error) => Err(error.into()),
        None => Ok(verified),
    }
}

/// Verifies the audit log of a node's data directory (the node must be
/// stopped): every entry, every stored checkpoint, and the `saved` ones.
pub fn verify_directory(
    data_dir: &std::path::Path,
    saved: &[Checkpoint],
    check_key: &dyn Fn(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<braid_audit::Verified> {
    use anyhow::Context;
    anyhow::ensure!(data_dir.join("CURRENT").exists(), "{} is not a node's data directory", data_dir.display());
    // Read-only: a copy kept as evidence is not written to (and may sit on
    // a read-only mount).
    let store = Store::open_read_only(data_dir).with_context(|| format!("open {} to read", data_dir.display()))?;
    let key = store.audit_signing_key()?.context("this data directory has no audit signing key, so no audit log")?;
    let signer = Signer::from_pkcs8(&key).map_err(|_| anyhow::anyhow!("the stored audit signing key is unreadable"))?;
    check_key(&signer.public_key())?;
    let checkpoints = stored_checkpoints(&store)?;
    verify_stored(&store, &checkpoints, saved, &signer.public_key(), |_| {})?.map_err(|error| anyhow::anyhow!("the audit log does NOT verify: {error}"))
}

impl AuditLog {
    /// Opens the log in `store`: makes the signing key on first use,
    /// verifies every stored entry and checkpoint, resumes the tree and
    /// starts the writer.
    pub fn open(store: Arc<Store>, policy: CheckpointPolicy) -> Result<AuditLog, AuditError> {
        let signer = match store.audit_signing_key()? {
            Some(document) => Signer::from_pkcs8(&document).map_err(|_| braid_store::Error::Corrupt("audit signing key"))?,
            None => {
                let (signer, document) = Signer::generate().map_err(|error| AuditError::KeyGeneration(error.to_string()))?;
                let mut set = WriteSet::new();
                set.set_audit_signing_key(document);
                store.write(set)?;
                signer
            }
        };
        let checkpoints = stored_checkpoints(&store)?;
        let mut leaves = Vec::new();
        let verifying = Instant::now();
        let verified = verify_stored(&store, &checkpoints, &[], &signer.public_key(), |leaf| leaves.push(leaf))?.map_err(AuditError::Broken)?;
        tracing::info!(entries = verified.entries, checkpoints = verified.checkpoints, seconds = verifying.elapsed().as_secs_f64(), "audit log verified");
        let public_key = signer.public_key();
        let writer = Writer {
            log: Log::resume(leaves.iter().copied()),
            checkpointed_size: checkpoints.iter().map(|c| c.size).max().unwrap_or(0),
            checkpointed_at: Instant::now(),
            latest: checkpoints.into_iter().max_by_key(|c| c.size),
            store,
            signer,
            policy,
        };
        let leaves = Arc::new(Mutex::new(leaves));
        let (jobs, receiver) = mpsc::channel();
        let synced = Arc::clone(&leaves);
        let handle = std::thread::Builder::new().name("audit-writer".to_owned()).spawn(move || writer.run(&receiver, &synced)).map_err(AuditError::Start)?;
        Ok(AuditLog { jobs: Some(jobs), leaves, public_key, writer: Some(handle), sealed: None, observer: std::sync::OnceLock::new() })
    }

    /// Opens the log in `store` for reading only, as it is stored, for an
    /// auditor to examine: one that fails verification included (the
    /// reason says whether it verified). No writer runs; nothing is ever
    /// added, signed or proved.
    pub fn open_sealed(store: &Store) -> Result<AuditLog, AuditError> {
        let key = store.audit_signing_key()?.ok_or(AuditError::Missing)?;
        // Whatever is wrong with the log is said, never a reason not to
        // open it: examining a broken log is what this is for.
        let public_key = Signer::from_pkcs8(&key).map(|signer| signer.public_key()).unwrap_or_default();
        let reason = if public_key.is_empty() {
            "the stored log cannot be verified: its signing key is unreadable".to_owned()
        } else {
            match stored_checkpoints(store).map(|checkpoints| verify_stored(store, &checkpoints, &[], &public_key, |_| {})) {
                Ok(Ok(Ok(verified))) => format!("the stored log verifies ({} entries)", verified.entries),
                Ok(Ok(Err(error))) => format!("the stored log does NOT verify: {error}"),
                Ok(Err(error)) | Err(error) => format!("the stored log does NOT verify: {error}"),
            }
        };
        // One more than the highest stored index (a gap or an entry that
        // does not decode is read as stored by the verifier).
        let end = store.audit_entries(0)?.flatten().fold(0u64, |end, (index, _)| end.max(index.saturating_add(1)));
        Ok(AuditLog { jobs: None, leaves: Arc::default(), public_key, writer: None, sealed: Some((reason, end)), observer: std::sync::OnceLock::new() })
    }

    /// Why the log is open for reading only, if it is.
    pub fn sealed(&self) -> Option<&str> {
        self.sealed.as_ref().map(|(reason, _)| reason.as_str())
    }

    fn send(&self, job: Job) -> Result<(), AuditError> {
        if self.sealed.is_some() {
            return Err(AuditError::ReadOnly("adds nothing to its audit log and signs no checkpoint"));
        }
        self.jobs.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())
    }

    /// The key checkpoints are signed with.
    pub fn public_key(&self) -> Vec<u8> {
        self.public_key.clone()
    }

    /// Entries synced so far (for a sealed log: one more than the highest
    /// stored index, so that every stored entry can be read).
    pub fn size(&self) -> Result<u64, AuditError> {
        if let Some((_, end)) = &self.sealed {
            return Ok(*end);
        }
        Ok(self.leaves.lock().map_err(|_| AuditError::Poisoned)?.len() as u64)
    }

    /// Appends `entry` (and stores `set` in the same write), durably;
    /// returns the entry's index once it is synced. For blocking callers.
    pub fn append_blocking(&self, entry: Entry, set: Option<WriteSet>) -> Result<u64, AuditError> {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.send(Job::Append { entry: Box::new(entry), set, reply })?;
        let index = answer.blocking_recv().map_err(|_| stopped())?.map_err(storage)?;
        self.observe(started);
        Ok(index)
    }

    /// Appends `entry` durably; resolves to its index once it is synced.
    pub async fn append(&self, entry: Entry) -> Result<u64, AuditError> {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.send(Job::Append { entry: Box::new(entry), set: None, reply })?;
        let index = answer.await.map_err(|_| stopped())?.map_err(storage)?;
        self.observe(started);
        Ok(index)
    }

    /// Sets what is told how long each durable append took (once; later
    /// calls are ignored).
    pub fn observe_appends(&self, observer: AppendObserver) {
        let _ = self.observer.set(observer);
    }

    fn observe(&self, started: Instant) {
        if let Some(observer) = self.observer.get() {
            observer(started.elapsed());
        }
    }

    /// Signs a checkpoint of every synced entry unless the newest already
    /// covers them; returns the newest checkpoint.
    pub fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Checkpoint { only_if_stale: false, reply })?;
        answer.blocking_recv().map_err(|_| stopped())?.map_err(storage)?.ok_or_else(stopped)
    }

    /// Signs a checkpoint if entries have waited longer than the interval.
    /// Returns whether it signed.
    pub fn checkpoint_if_stale(&self) -> Result<bool, AuditError> {
        if self.sealed.is_some() {
            return Ok(false);
        }
        let (reply, answer) = oneshot::channel();
        self.send(Job::Checkpoint { only_if_stale: true, reply })?;
        Ok(answer.blocking_recv().map_err(|_| stopped())?.map_err(storage)?.is_some())
    }

    /// The leaf hashes of the first `size` entries (`None` past the end).
    fn leaves(&self, size: u64) -> Result<Option<Vec<Hash>>, AuditError> {
        if self.sealed.is_some() {
            return Err(AuditError::ReadOnly("proves nothing from a log it has not verified"));
        }
        let leaves = self.leaves.lock().map_err(|_| AuditError::Poisoned)?;
        Ok(leaves.get(..size as usize).map(<[Hash]>::to_vec))
    }

    /// Proof that entry `index` is in the tree of the first `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        let leaves = self.leaves(size)?.ok_or(AuditError::TooFew(size))?;
        merkle::inclusion_proof(&leaves, index as usize, size as usize)
            .ok_or_else(|| AuditError::Unprovable(format!("entry {index} is not within the first {size} entries")))
    }

    /// Proof that the tree of the first `old` entries is a prefix of the
    /// tree of the first `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, AuditError> {
        let leaves = self.leaves(new)?.ok_or(AuditError::TooFew(new))?;
        merkle::consistency_proof(&leaves, old as usize, new as usize)
            .ok_or_else(|| AuditError::Unprovable(format!("cannot prove size {old} against size {new}: the old size must be between 1 and the new")))
    }
}

impl Drop for AuditLog {
    /// Lets the writer finish what is queued, then stops it.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread's state.
struct Writer {
    log: Log,
    checkpointed_size: u64,
    checkpointed_at: Instant,
    latest: Option<Checkpoint>,
    store: Arc<Store>,
    signer: Signer,
    policy: CheckpointPolicy,
}

impl Writer {
    fn run(mut self, jobs: &mpsc::Receiver<Job>, synced: &Mutex<Vec<Hash>>) {
        while let Ok(first) = jobs.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match jobs.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            self.commit(group, synced);
        }
    }

    /// Appends a group of entries in one synced write, answers them, then
    /// signs any checkpoint that is due or asked for.
    fn commit(&mut self, group: Vec<Job>, synced: &Mutex<Vec<Hash>>) {
        let mut appends = Vec::new();
        let mut asked = Vec::new();
        let mut set = WriteSet::new();
        let mut log = self.log.clone();
        let mut leaves = Vec::new();
        for job in group {
            match job {
                Job::Append { entry, set: change, reply } => {
                    if let Some(change) = change {
                        set.append(change);
                    }
                    let (entry, bytes, leaf) = log.append(*entry);
                    leaves.push(leaf);
                    set.put_audit_entry(entry.index, bytes);
                    appends.push((reply, entry.index));
                }
                Job::Checkpoint { only_if_stale, reply } => asked.push((only_if_stale, reply)),
            }
        }
        if !appends.is_empty() {
            match self.store.write(set) {
                Ok(()) => {
                    self.log = log;
                    if let Ok(mut synced) = synced.lock() {
                        synced.extend(leaves);
                    }
                    for (reply, index) in appends {
                        let _ = reply.send(Ok(index));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "audit entries could not be stored; their calls fail");
                    for (reply, _) in appends {
                        let _ = reply.send(Err(error.to_string()));
                    }
                }
            }
        }
        let new = self.log.size() - self.checkpointed_size;
        let stale = new > 0 && self.checkpointed_at.elapsed() >= self.policy.every;
        let wanted = asked.iter().any(|(only_if_stale, _)| !only_if_stale);
        let signed = if new >= self.policy.every_entries || stale || (wanted && (new > 0 || self.latest.is_none())) { Some(self.sign()) } else { None };
        for (only_if_stale, reply) in asked {
            let answer = match &signed {
                Some(Err(error)) => Err(error.clone()),
                Some(Ok(checkpoint)) => Ok(Some(checkpoint.clone())),
                None if only_if_stale => Ok(None),
                None => Ok(self.latest.clone()),
            };
            let _ = reply.send(answer);
        }
    }

    /// Signs and stores a checkpoint of every synced entry.
    fn sign(&mut self) -> Result<Checkpoint, String> {
        let checkpoint = self.signer.checkpoint(self.log.size(), self.log.root(), now_ms());
        let mut set = WriteSet::new();
        set.put_audit_checkpoint(checkpoint.size, checkpoint.to_text().into_bytes());
        self.store.write(set).map_err(|error| error.to_string())?;
        self.checkpointed_size = checkpoint.size;
        self.checkpointed_at = Instant::now();
        self.latest = Some(checkpoint.clone());
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Entry {
        Entry { principal: format!("caller-{}", n % 3), action: "panel.profile".to_owned(), outcome: "ok".to_owned(), ..Entry::default() }
    }

    fn open(dir: &std::path::Path, every_entries: u64, every: Duration) -> (AuditLog, Arc<Store>) {
        let store = Arc::new(Store::open(dir).expect("store"));
        let log = AuditLog::open(Arc::clone(&store), CheckpointPolicy { every_entries, every }).expect("open the log");
        (log, store)
    }

    #[test]
    fn concurrent_callers_share_syncs_and_get_one_gapless_verified_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, store) = open(dir.path(), 25, Duration::from_secs(3600));
        let log = Arc::new(log);
        let callers: Vec<_> = (0..8)
            .map(|caller| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || (0..50).map(|n| log.append_blocking(entry(caller * 50 + n), None).expect("append")).collect::<Vec<u64>>())
            })
            .collect();
        let mut indices: Vec<u64> = callers.into_iter().flat_map(|caller| caller.join().expect("caller")).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..400).collect::<Vec<u64>>(), "every caller got its own index, none skipped");
        assert_eq!(log.size().expect("size"), 400);
        // Proofs come from the leaves kept in memory.
        let checkpoint = log.checkpoint().expect("checkpoint");
        assert_eq!(checkpoint.size, 400);
        let proof = log.inclusion_proof(123, 400).expect("proof");
        let stored = log.leaves(400).expect("leaves").expect("present")[123];
        assert!(merkle::verify_inclusion(&stored, 123, 400, &proof, &checkpoint.root));
        drop(log);
        drop(store);
        let verified = verify_directory(dir.path(), std::slice::from_ref(&checkpoint), &|_| Ok(())).expect("verifies");
        assert_eq!(verified.entries, 400);
        assert!(verified.checkpoints >= 2, "a checkpoint every 25 entries, and the one asked for: {}", verified.checkpoints);
        // Reopened, the log goes on where it stopped.
        let (log, _store) = open(dir.path(), 25, Duration::from_secs(3600));
        assert_eq!(log.append_blocking(entry(0), None).expect("append"), 400);
    }

    #[test]
    fn checkpoints_are_signed_only_when_something_is_new() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, store) = open(dir.path(), 1000, Duration::ZERO);
        let empty = log.checkpoint().expect("first checkpoint");
        assert_eq!(empty.size, 0);
        assert_eq!(log.checkpoint().expect("again"), empty, "nothing new: the same checkpoint");
        assert!(!log.checkpoint_if_stale().expect("stale?"), "nothing waiting");
        log.append_blocking(entry(1), None).expect("append");
        // With a zero interval the writer signs right after the write, so a
        // later request finds nothing left to sign.
        assert!(!log.checkpoint_if_stale().expect("stale?"), "already signed by the writer");
        let stored = stored_checkpoints(&store).expect("checkpoints");
        assert_eq!(stored.last().map(|c| c.size), Some(1));
        assert!(stored.iter().all(|c| c.verify_signature(&log.public_key())));
    }
}
