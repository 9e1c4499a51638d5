//! The ingest and linkage engine: one writer at a time applies a batch to the
//! union-find and builds one atomic write; the in-memory state changes are
//! kept only when the write is durable, and rolled back otherwise.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use braid_linkage::UnionFind;
use braid_proto::v1;
use braid_store::{Store, StoredInvolvement, StoredRecord, WriteSet};
use prost::Message;

use crate::validate::validate_record;

/// What the engine can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The upload's key epoch is not the node's.
    #[error("the upload was pseudonymised under key epoch {offered}, but this node holds epoch {held}; re-pseudonymise the extract with the current scheme secret")]
    EpochMismatch {
        /// The node's epoch fingerprint (not secret).
        held: String,
        /// The upload's.
        offered: String,
    },
    /// The request is malformed as a whole.
    #[error("{0}")]
    InvalidRequest(String),
    /// Storage failed; nothing of the batch was applied.
    #[error(transparent)]
    Storage(#[from] braid_store::Error),
    /// A previous failure left the engine unusable.
    #[error("the linkage state is unavailable after an earlier failure; restart the node")]
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
    /// Submission id.
    pub submission_id: String,
}

struct State {
    uf: UnionFind,
    next_id: u64,
    epoch: Option<String>,
}

/// The node's linkage state over its store.
pub struct Engine {
    store: Store,
    state: Mutex<State>,
    expected_epoch: Option<String>,
    max_batch_records: usize,
}

/// Counts of what the node holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live records.
    pub records: u64,
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
}

/// The profile id shown for a union-find root.
pub fn profile_id(root: u64) -> String {
    format!("P{root:07}")
}

/// A batch being applied: the write set and what it removed and added.
struct Pending<'a> {
    store: &'a Store,
    set: WriteSet,
    removed: HashSet<u64>,
    removed_roots: Vec<u64>,
    added: HashMap<u64, StoredInvolvement>,
    overlay: HashMap<Vec<u8>, Vec<u64>>,
}

impl<'a> Pending<'a> {
    fn new(store: &'a Store) -> Pending<'a> {
        Pending {
            store,
            set: WriteSet::new(),
            removed: HashSet::new(),
            removed_roots: Vec::new(),
            added: HashMap::new(),
            overlay: HashMap::new(),
        }
    }

    fn candidates(&self, key: &[u8], uf: &UnionFind) -> Result<Vec<u64>, EngineError> {
        let hash = &key[1..];
        let mut ids = self.store.postings(hash)?;
        if let Some(extra) = self.overlay.get(hash) {
            ids.extend(extra);
        }
        ids.retain(|id| !self.removed.contains(id) && uf.is_alive(*id));
        Ok(ids)
    }

    fn link(&mut self, id: u64, involvement: &StoredInvolvement, uf: &mut UnionFind) -> Result<(), EngineError> {
        for key in &involvement.match_keys {
            for candidate in self.candidates(key, uf)? {
                if candidate != id {
                    uf.union(id, candidate);
                }
            }
        }
        Ok(())
    }

    fn add(&mut self, id: u64, involvement: StoredInvolvement, uf: &mut UnionFind) -> Result<(), EngineError> {
        uf.insert(id);
        self.link(id, &involvement, uf)?;
        for key in &involvement.match_keys {
            self.overlay.entry(key[1..].to_vec()).or_default().push(id);
        }
        self.set.put_involvement(id, &involvement);
        self.added.insert(id, involvement);
        Ok(())
    }

    fn remove_record(&mut self, agency: &str, record_ref: &str, record: &StoredRecord, uf: &UnionFind) -> Result<(), EngineError> {
        for &id in &record.involvement_ids {
            if let Some(involvement) = self.store.involvement(id)? {
                self.set.delete_involvement(id, &involvement);
            }
            self.removed_roots.push(uf.find(id));
            self.removed.insert(id);
        }
        self.set.delete_record(agency, record_ref);
        Ok(())
    }

    /// Re-computes every profile that a removed involvement belonged to, from
    /// the remaining members' own match keys.
    fn recluster(&mut self, uf: &mut UnionFind) -> Result<(), EngineError> {
        if self.removed.is_empty() {
            return Ok(());
        }
        let mut roots: Vec<u64> = self.removed_roots.iter().map(|id| uf.find(*id)).collect();
        roots.sort_unstable();
        roots.dedup();
        let members = uf.members_of(&roots);
        let removed = self.removed.clone();
        uf.reset(&members, |id| !removed.contains(&id));
        for &id in &members {
            if removed.contains(&id) {
                continue;
            }
            let involvement = match self.added.get(&id) {
                Some(involvement) => involvement.clone(),
                None => match self.store.involvement(id)? {
                    Some(involvement) => involvement,
                    None => continue,
                },
            };
            self.link(id, &involvement, uf)?;
        }
        Ok(())
    }
}

fn content_hash(record: &v1::CaseRecord) -> Vec<u8> {
    let mut canonical = record.clone();
    canonical.source_row = 0;
    blake3::hash(&canonical.encode_to_vec()).as_bytes().to_vec()
}

impl Engine {
    /// Opens the store in `data_dir` and loads the profiles.
    pub fn open(data_dir: &Path, expected_epoch: Option<String>, max_batch_records: usize) -> Result<Engine, EngineError> {
        let store = Store::open(data_dir)?;
        let mut uf = UnionFind::new();
        store.for_each_involvement(|id, _| {
            uf.load(id, id, true);
            Ok(())
        })?;
        for (id, parent) in store.parents()? {
            let alive = uf.is_alive(id);
            uf.load(id, parent, alive);
        }
        uf.finish_loading();
        let state = State {
            uf,
            next_id: store.next_involvement_id()?,
            epoch: store.epoch()?,
        };
        Ok(Engine {
            store,
            state: Mutex::new(state),
            expected_epoch,
            max_batch_records,
        })
    }

    /// Applies one upload batch. Returns the acknowledgement, which is stored
    /// with the batch so that a re-sent batch gets the same answer.
    pub fn apply_batch(&self, submission: &Submission, sequence: u32, records: &[v1::CaseRecord]) -> Result<v1::BatchAck, EngineError> {
        if records.len() > self.max_batch_records {
            return Err(EngineError::InvalidRequest(format!(
                "a batch may hold at most {} records",
                self.max_batch_records
            )));
        }
        let mut guard = self.state.lock().map_err(|_| EngineError::Poisoned)?;
        let state = &mut *guard;
        if let Some(bytes) = self.store.ack(&submission.agency, &submission.submission_id, sequence)? {
            let mut ack = v1::BatchAck::decode(bytes.as_slice()).map_err(|_| braid_store::Error::Corrupt("ack"))?;
            ack.replayed = true;
            return Ok(ack);
        }
        let held = state.epoch.clone().or_else(|| self.expected_epoch.clone());
        if let Some(held) = held {
            if held != submission.epoch {
                return Err(EngineError::EpochMismatch {
                    held,
                    offered: submission.epoch.clone(),
                });
            }
        }
        let mark = state.uf.mark();
        let mut pending = Pending::new(&self.store);
        let mut next_id = state.next_id;
        let result = (|| -> Result<v1::BatchAck, EngineError> {
            let mut ack = v1::BatchAck {
                sequence,
                ..Default::default()
            };
            let mut refs_in_batch = HashSet::new();
            for record in records {
                if let Err(problem) = validate_record(record) {
                    ack.rejections.push(v1::Rejection {
                        source_row: record.source_row,
                        field: problem.field,
                        reason: problem.reason,
                    });
                    continue;
                }
                if !refs_in_batch.insert(record.record_ref.as_str()) {
                    ack.rejections.push(v1::Rejection {
                        source_row: record.source_row,
                        field: "record_ref".to_owned(),
                        reason: "appears twice in one batch".to_owned(),
                    });
                    continue;
                }
                let hash = content_hash(record);
                let existing = self.store.record(&submission.agency, &record.record_ref)?;
                match &existing {
                    Some(stored) if stored.content_hash == hash => {
                        ack.unchanged += 1;
                        continue;
                    }
                    Some(stored) => {
                        pending.remove_record(&submission.agency, &record.record_ref, stored, &state.uf)?;
                        ack.replaced += 1;
                    }
                    None => ack.accepted += 1,
                }
                let mut ids = Vec::with_capacity(record.involvements.len());
                for involvement in &record.involvements {
                    let id = next_id;
                    next_id += 1;
                    ids.push(id);
                    let pseudonyms = involvement.pseudonyms.clone().unwrap_or_default();
                    let stored = StoredInvolvement {
                        agency: submission.agency.clone(),
                        record_ref: record.record_ref.clone(),
                        person_ref: involvement.person_ref.clone(),
                        role: involvement.role,
                        match_keys: pseudonyms
                            .match_keys
                            .iter()
                            .map(|key| [&[key.kind as u8][..], &key.hash].concat())
                            .collect(),
                        bloom: pseudonyms.bloom,
                    };
                    pending.add(id, stored, &mut state.uf)?;
                    ack.involvements += 1;
                }
                let mut stored_record = record.clone();
                stored_record.source_row = 0;
                pending.set.put_record(
                    &submission.agency,
                    &record.record_ref,
                    &StoredRecord {
                        content_hash: hash,
                        involvement_ids: ids,
                        record: stored_record.encode_to_vec(),
                        agency_type: submission.agency_type.clone(),
                    },
                );
            }
            pending.recluster(&mut state.uf)?;
            Ok(ack)
        })();
        let ack = match result {
            Ok(ack) => ack,
            Err(error) => {
                state.uf.rollback(mark);
                return Err(error);
            }
        };
        let mut set = pending.set;
        if state.epoch.is_none() {
            set.set_epoch(&submission.epoch);
        }
        set.set_next_involvement_id(next_id);
        set.put_ack(&submission.agency, &submission.submission_id, sequence, ack.encode_to_vec());
        self.commit(&mut state.uf, mark, set)?;
        state.next_id = next_id;
        state.epoch.get_or_insert_with(|| submission.epoch.clone());
        Ok(ack)
    }

    /// Adds the union-find's parent changes to `set` and writes it durably;
    /// on failure the in-memory changes since `mark` are undone.
    fn commit(&self, uf: &mut UnionFind, mark: braid_linkage::Mark, mut set: WriteSet) -> Result<(), EngineError> {
        for change in uf.pending_changes() {
            set.set_parent(change.id, change.parent);
        }
        if !set.is_empty() {
            if let Err(error) = self.store.write(set) {
                uf.rollback(mark);
                return Err(error.into());
            }
        }
        let _ = uf.take_changes();
        Ok(())
    }

    /// Withdraws an agency's records and re-computes the profiles they were
    /// part of. Returns (withdrawn, not found).
    pub fn withdraw(&self, agency: &str, record_refs: &[String]) -> Result<(u32, u32), EngineError> {
        let mut guard = self.state.lock().map_err(|_| EngineError::Poisoned)?;
        let state = &mut *guard;
        let mark = state.uf.mark();
        let mut pending = Pending::new(&self.store);
        let (mut withdrawn, mut not_found) = (0, 0);
        let result = (|| -> Result<(), EngineError> {
            let mut seen = HashSet::new();
            for record_ref in record_refs {
                if !seen.insert(record_ref) {
                    continue;
                }
                match self.store.record(agency, record_ref)? {
                    Some(record) => {
                        pending.remove_record(agency, record_ref, &record, &state.uf)?;
                        withdrawn += 1;
                    }
                    None => not_found += 1,
                }
            }
            pending.recluster(&mut state.uf)
        })();
        if let Err(error) = result {
            state.uf.rollback(mark);
            return Err(error);
        }
        self.commit(&mut state.uf, mark, pending.set)?;
        Ok((withdrawn, not_found))
    }

    /// Every live involvement with its profile.
    pub fn clusters(&self) -> Result<Vec<ClusterRow>, EngineError> {
        let guard = self.state.lock().map_err(|_| EngineError::Poisoned)?;
        let mut rows = Vec::new();
        self.store.for_each_involvement(|id, involvement| {
            rows.push(ClusterRow {
                agency: involvement.agency,
                record_ref: involvement.record_ref,
                person_ref: involvement.person_ref,
                role: involvement.role,
                profile_id: profile_id(guard.uf.find(id)),
            });
            Ok(())
        })?;
        Ok(rows)
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
        let epoch = self.state.lock().map_err(|_| EngineError::Poisoned)?.epoch.clone();
        Ok(Stats {
            records: self.store.count_records()?,
            involvements: rows.len() as u64,
            profiles: agencies_by_profile.len() as u64,
            profiles_multi_agency: agencies_by_profile.values().filter(|set| set.len() >= 2).count() as u64,
            agencies: agencies.len() as u64,
            epoch,
        })
    }
}
