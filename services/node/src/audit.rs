//! The node's side of the audit log: every call becomes an entry, written
//! durably before any answer leaves the node.
//!
//! Entries are group-committed: callers queue their entry, and whichever
//! caller finds no write in progress becomes the writer, appends every
//! queued entry to the Merkle tree and stores them in one synced RocksDB
//! write. A call that changes data hands its own [`WriteSet`] along, so its
//! entry is stored in the same atomic write as the change. A checkpoint is
//! signed every `checkpoint_every` entries (in the write that reaches the
//! count) and, by [`AuditLog::checkpoint_if_stale`], when entries have waited
//! longer than the configured interval.
//!
//! On start the whole stored log is verified; the node refuses to add to a
//! log that does not verify, and the error names the first bad entry.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use braid_audit::merkle::{self, Hash};
use braid_audit::{Checkpoint, Entry, Log, Signer};
use braid_store::{Store, WriteSet};

use crate::engine::EngineError;

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
        CheckpointPolicy {
            every_entries: settings.checkpoint_every_entries,
            every: Duration::from_secs(settings.checkpoint_every_seconds),
        }
    }
}

impl Default for CheckpointPolicy {
    fn default() -> CheckpointPolicy {
        crate::config::AuditSettings::default().into()
    }
}

/// A queued entry and the change it accompanies.
struct Job {
    id: u64,
    entry: Entry,
    set: Option<WriteSet>,
}

struct Inner {
    log: Log,
    leaves: Vec<Hash>,
    queue: Vec<Job>,
    next_job: u64,
    done: HashMap<u64, Result<u64, String>>,
    writing: bool,
    checkpointed_size: u64,
    checkpointed_at: Instant,
}

/// The audit log as the node writes it.
pub struct AuditLog {
    inner: Mutex<Inner>,
    written: Condvar,
    signer: Signer,
    policy: CheckpointPolicy,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Reads the stored checkpoints.
pub fn stored_checkpoints(store: &Store) -> Result<Vec<Checkpoint>, EngineError> {
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

/// Verifies the audit log of a node's data directory (the node must be
/// stopped): every entry, every stored checkpoint, and the `saved` ones.
pub fn verify_directory(data_dir: &std::path::Path, saved: &[Checkpoint]) -> anyhow::Result<braid_audit::Verified> {
    use anyhow::Context;
    anyhow::ensure!(data_dir.join("CURRENT").exists(), "{} is not a node's data directory", data_dir.display());
    let store = Store::open(data_dir).with_context(|| format!("open {} (is the node still running? stop it, or verify through it with --node)", data_dir.display()))?;
    let key = store
        .audit_signing_key()?
        .context("this data directory has no audit signing key, so no audit log")?;
    let signer = Signer::from_pkcs8(&key).map_err(|_| anyhow::anyhow!("the stored audit signing key is unreadable"))?;
    let checkpoints = stored_checkpoints(&store)?;
    let mut entries = Vec::new();
    store.for_each_audit_entry(0, |index, bytes| {
        entries.push((index, bytes));
        Ok(true)
    })?;
    braid_audit::verify(entries, &checkpoints, saved, &signer.public_key()).map_err(|error| anyhow::anyhow!("the audit log does NOT verify: {error}"))
}

impl AuditLog {
    /// Opens the log in `store`: makes the signing key on first use,
    /// verifies every stored entry and checkpoint, and resumes the tree.
    pub fn open(store: &Store, policy: CheckpointPolicy) -> Result<AuditLog, EngineError> {
        let signer = match store.audit_signing_key()? {
            Some(document) => Signer::from_pkcs8(&document).map_err(|_| braid_store::Error::Corrupt("audit signing key"))?,
            None => {
                let (signer, document) = Signer::generate().map_err(|error| EngineError::InvalidRequest(error.to_string()))?;
                let mut set = WriteSet::new();
                set.set_audit_signing_key(document);
                store.write(set)?;
                signer
            }
        };
        let checkpoints = stored_checkpoints(store)?;
        let mut entries = Vec::new();
        store.for_each_audit_entry(0, |index, bytes| {
            entries.push((index, bytes));
            Ok(true)
        })?;
        let mut leaves = Vec::with_capacity(entries.len());
        braid_audit::verify_visiting(entries, &checkpoints, &[], &signer.public_key(), |leaf| leaves.push(leaf)).map_err(|error| {
            EngineError::AuditBroken(format!(
                "{error}. The node does not add to an audit log that fails verification; \
                 inspect it with `braid audit verify --data-dir` and restore the store from a backup"
            ))
        })?;
        let log = Log::resume(leaves.iter().copied());
        let checkpointed_size = checkpoints.iter().map(|c| c.size).max().unwrap_or(0);
        Ok(AuditLog {
            inner: Mutex::new(Inner {
                log,
                leaves,
                queue: Vec::new(),
                next_job: 0,
                done: HashMap::new(),
                writing: false,
                checkpointed_size,
                checkpointed_at: Instant::now(),
            }),
            written: Condvar::new(),
            signer,
            policy,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, EngineError> {
        self.inner.lock().map_err(|_| EngineError::Poisoned)
    }

    /// The key checkpoints are signed with.
    pub fn public_key(&self) -> Vec<u8> {
        self.signer.public_key()
    }

    /// Entries so far.
    pub fn size(&self) -> Result<u64, EngineError> {
        Ok(self.lock()?.log.size())
    }

    /// Appends `entry` (and stores `set` in the same write), durably;
    /// returns the entry's index once it is synced.
    pub fn append(&self, store: &Store, entry: Entry, set: Option<WriteSet>) -> Result<u64, EngineError> {
        let mut inner = self.lock()?;
        let id = inner.next_job;
        inner.next_job += 1;
        inner.queue.push(Job { id, entry, set });
        loop {
            if let Some(result) = inner.done.remove(&id) {
                return result.map_err(|message| EngineError::Storage(braid_store::Error::Rocks(message)));
            }
            if inner.writing {
                inner = self.written.wait(inner).map_err(|_| EngineError::Poisoned)?;
                continue;
            }
            inner.writing = true;
            let jobs = std::mem::take(&mut inner.queue);
            let mut log = inner.log.clone();
            let checkpointed_size = inner.checkpointed_size;
            drop(inner);

            let mut set = WriteSet::new();
            let mut leaves = Vec::with_capacity(jobs.len());
            let mut indices = Vec::with_capacity(jobs.len());
            for job in jobs {
                if let Some(change) = job.set {
                    set.append(change);
                }
                let (entry, bytes) = log.append(job.entry);
                leaves.push(braid_audit::leaf_of(&entry));
                indices.push((job.id, entry.index));
                set.put_audit_entry(entry.index, bytes);
            }
            let checkpoint = (log.size() - checkpointed_size >= self.policy.every_entries)
                .then(|| self.signer.checkpoint(log.size(), log.root(), now_ms()));
            if let Some(checkpoint) = &checkpoint {
                set.put_audit_checkpoint(checkpoint.size, checkpoint.to_text().into_bytes());
            }
            let result = store.write(set);

            inner = self.lock()?;
            match result {
                Ok(()) => {
                    inner.log = log;
                    inner.leaves.extend(leaves);
                    for (job, index) in indices {
                        inner.done.insert(job, Ok(index));
                    }
                    if let Some(checkpoint) = checkpoint {
                        inner.checkpointed_size = checkpoint.size;
                        inner.checkpointed_at = Instant::now();
                    }
                }
                Err(error) => {
                    for (job, _) in indices {
                        inner.done.insert(job, Err(error.to_string()));
                    }
                }
            }
            inner.writing = false;
            self.written.notify_all();
        }
    }

    /// Takes the writer's turn, so nothing is appended meanwhile.
    fn exclusive(&self) -> Result<MutexGuard<'_, Inner>, EngineError> {
        let mut inner = self.lock()?;
        while inner.writing {
            inner = self.written.wait(inner).map_err(|_| EngineError::Poisoned)?;
        }
        Ok(inner)
    }

    /// Signs and stores a checkpoint of every entry written so far (all
    /// synced) unless the newest checkpoint already covers them; returns the
    /// newest checkpoint.
    pub fn checkpoint(&self, store: &Store) -> Result<Checkpoint, EngineError> {
        let mut inner = self.exclusive()?;
        let size = inner.log.size();
        if size == inner.checkpointed_size {
            if let Some(latest) = stored_checkpoints(store)?.into_iter().rev().find(|c| c.size == size) {
                return Ok(latest);
            }
        }
        let checkpoint = self.signer.checkpoint(size, inner.log.root(), now_ms());
        let mut set = WriteSet::new();
        set.put_audit_checkpoint(size, checkpoint.to_text().into_bytes());
        // The writer's turn is held through the write: no entry can be
        // appended between signing and storing.
        inner.writing = true;
        drop(inner);
        let result = store.write(set);
        let mut inner = self.lock()?;
        inner.writing = false;
        if result.is_ok() {
            inner.checkpointed_size = size;
            inner.checkpointed_at = Instant::now();
        }
        self.written.notify_all();
        result?;
        Ok(checkpoint)
    }

    /// Signs a checkpoint when entries added since the last one are older
    /// than the configured interval. Returns whether it signed.
    pub fn checkpoint_if_stale(&self, store: &Store) -> Result<bool, EngineError> {
        {
            let inner = self.lock()?;
            if inner.log.size() == inner.checkpointed_size || inner.checkpointed_at.elapsed() < self.policy.every {
                return Ok(false);
            }
        }
        self.checkpoint(store)?;
        Ok(true)
    }

    /// The leaf hashes of the first `size` entries (`None` past the end).
    fn leaves(&self, size: u64) -> Result<Option<Vec<Hash>>, EngineError> {
        let inner = self.lock()?;
        Ok(inner.leaves.get(..size as usize).map(<[Hash]>::to_vec))
    }

    /// Proof that entry `index` is in the tree of the first `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, EngineError> {
        let leaves = self.leaves(size)?.ok_or_else(|| EngineError::NotFound(format!("the log holds fewer than {size} entries")))?;
        merkle::inclusion_proof(&leaves, index as usize, size as usize)
            .ok_or_else(|| EngineError::InvalidRequest(format!("entry {index} is not within the first {size} entries")))
    }

    /// Proof that the tree of the first `old` entries is a prefix of the
    /// tree of the first `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, EngineError> {
        let leaves = self.leaves(new)?.ok_or_else(|| EngineError::NotFound(format!("the log holds fewer than {new} entries")))?;
        merkle::consistency_proof(&leaves, old as usize, new as usize)
            .ok_or_else(|| EngineError::InvalidRequest(format!("cannot prove size {old} against size {new}: the old size must be between 1 and the new")))
    }
}
