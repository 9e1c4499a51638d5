//! Changes to the linkage state: an upload batch applied, records withdrawn
//! or erased, involvements settled or relinked, each sealed into one write.

use super::*;

/// A batch's write set and the outcomes to store with it.
pub(super) struct Pending {
    pub(super) set: WriteSet,
    pub(super) records_added: Vec<u64>,
    pub(super) records_removed: Vec<u64>,
    pub(super) withdrawn: Vec<InvolvementId>,
    /// Decisions in the order made; a later one for an id replaces an
    /// earlier one.
    pub(super) outcomes: Vec<(InvolvementId, Outcome)>,
    /// Changes to the signals' facts, applied in order once the batch has
    /// linked.
    pub(super) fact_changes: Vec<FactChange>,
    /// Involvements whose profiles may have changed.
    pub(super) dirty: Vec<InvolvementId>,
}

/// A sealed batch: its write set, the decisions still to encode into it,
/// the withdrawn involvements, the changes to the signals' facts and the
/// involvements whose profiles may have changed.
pub(super) type Parts = (WriteSet, Vec<(InvolvementId, Outcome)>, Vec<InvolvementId>, Vec<FactChange>, Vec<InvolvementId>);

/// One change to the signals' facts.
pub(super) enum FactChange {
    Remove(u64),
    /// How strongly an involvement was linked into its profile.
    Link(u64, f32),
    /// What an involvement was joined to, each with the join's strength.
    Links(u64, Box<[(u64, f32)]>),
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
    pub(super) fn new() -> Pending {
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

    pub(super) fn remove_record(&mut self, agency: &str, record_ref: &str, record: &StoredRecord) {
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
    pub(super) fn finish(&mut self, guard: &mut StateGuard<'_>, slice: &mut Slice) {
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
            self.dirty.extend(members);
        }
    }

    /// Splits into the write set and the decisions still to be encoded into
    /// it (outside the state lock, by [`put_links`]).
    pub(super) fn into_parts(mut self) -> Parts {
        // Link strengths follow the records they belong to.
        for (id, outcome) in &self.outcomes {
            self.fact_changes
                .push(FactChange::Link(*id, link_strength(outcome.entries.iter().map(|e| (e.decision, &e.evidence.levels[..], e.evidence.probability)))));
            let links = joined_links(outcome.entries.iter().map(|e| (e.decision, &e.evidence.levels[..], e.evidence.probability, e.evidence.other)));
            self.fact_changes.push(FactChange::Links(*id, links));
        }
        (self.set, self.outcomes, self.withdrawn, self.fact_changes, self.dirty)
    }
}

/// Keeps, in a batch's write, the unsettled marks of the involvements it
/// decided with the model's starting values (`unsettled`, if so) and its
/// upload's summary so far (`row`, if the batch came by an upload stream).
fn put_upload_state(set: &mut WriteSet, submission: &Submission, ack: &StoredAck, unsettled: Option<&[InvolvementId]>, row: Option<crate::uploads::UploadRow>) {
    unsettled.unwrap_or_default().iter().for_each(|id| set.mark_unsettled(*id));
    if let Some(row) = row {
        row.put(set, submission, ack);
    }
}

/// A replaced record's history: its own, then the replaced version itself
/// (its case type and concern status), the oldest dropped beyond
/// [`StoredRecord::HISTORY`].
pub(super) fn replaced_history(mut stored: StoredRecord) -> Vec<braid_store::RecordVersion> {
    let (case_type, concern) = match crate::record::take_body(&mut stored) {
        Ok(record) => (record.case_type, record_facts(&record, |_| false).concern_name().to_owned()),
        Err(_) => (0, String::new()),
    };
    let mut history = stored.history;
    history.push(braid_store::RecordVersion { stored_ms: stored.stored_ms, case_type, concern });
    if history.len() > StoredRecord::HISTORY {
        history.drain(..history.len() - StoredRecord::HISTORY);
    }
    history
}

/// Gives a record's involvements new ids (never reused, even those of a
/// batch that failed), links each and writes it; returns the ids.
pub(super) fn link_new(
    state: &mut State,
    pending: &mut Pending,
    ack: &mut StoredAck,
    agency_number: u32,
    involvements: Vec<(Vec<u8>, braid_linkage::Involvement)>,
) -> Vec<InvolvementId> {
    let mut ids = Vec::with_capacity(involvements.len());
    let first = state.next_id;
    for (encoded, mut involvement) in involvements {
        let id = state.next_id;
        state.next_id += 1;
        ids.push(id);
        pending.set.put_involvement_bytes(id, encoded);
        involvement.agency = agency_number;
        involvement.record = record_version(involvement.record, first);
        let outcome = state.linker.insert(id, &involvement);
        pending.outcomes.push((id, outcome));
        ack.involvements += 1;
    }
    ids
}

/// Adds each involvement's latest decisions to `set`; withdrawn ones have
/// none.
pub(super) fn put_links(set: &mut WriteSet, outcomes: Vec<(InvolvementId, Outcome)>, withdrawn: &[InvolvementId], counts: &DecisionCounts) {
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

/// Applies one prepared record under the state lock: unchanged, moved to
/// the next key epoch with its involvements, replaced or new. Returns
/// whether it moved.
fn apply_record(
    state: &mut State,
    pending: &mut Pending,
    ack: &mut StoredAck,
    submission: &Submission,
    agency_number: u32,
    record: PreparedRecord,
    existing: Option<(String, StoredRecord)>,
) -> bool {
    let fingerprint = braid_store::record_fingerprint(&submission.agency, &record.record_ref);
    pending.records_added.push(fingerprint);
    // Its involvements' ids, when it was stored, how often it has
    // changed and its earlier versions; and the link strengths a
    // moved record's involvements keep.
    let mut kept_links = Vec::new();
    let mut moved = false;
    let (ids, stored_ms, changes, history) = match existing {
        Some((_, stored)) if stored.content_hash == record.content_hash => {
            ack.unchanged += 1;
            return false;
        }
        Some((stored_ref, stored)) if record.moved_hash.as_ref() == Some(&stored.content_hash) && stored.involvement_ids.len() == record.involvements.len() => {
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
            kept_links =
                stored.involvement_ids.iter().filter_map(|&id| Some((id, state.facts.involvement(id)?.link, Box::from(state.facts.links(id))))).collect();
            ack.replaced += 1;
            moved = true;
            (stored.involvement_ids, stored.stored_ms, stored.changes, stored.history)
        }
        Some((stored_ref, stored)) => {
            pending.remove_record(&submission.agency, &stored_ref, &stored);
            ack.replaced += 1;
            let changes = stored.changes.saturating_add(1);
            let ids = link_new(state, pending, ack, agency_number, record.involvements);
            (ids, crate::audit::now_ms(), changes, replaced_history(stored))
        }
        None => {
            ack.accepted += 1;
            (link_new(state, pending, ack, agency_number, record.involvements), crate::audit::now_ms(), 0, Vec::new())
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
    for (id, link, links) in kept_links {
        pending.fact_changes.extend([FactChange::Link(id, link), FactChange::Links(id, links)]);
    }
    pending.set.put_record(
        &submission.agency,
        &record.record_ref,
        &StoredRecord {
            content_hash: record.content_hash,
            involvement_ids: ids,
            record: StoredRecord::NOT_API.to_vec(),
            agency_type: submission.agency_type.clone(),
            stored_ms,
            changes,
            history,
            body: Some(record.body),
        },
    );
    moved
}

/// The involvements of stored records a batch replaces (moved records keep
/// theirs).
fn replaced_ids(prepared: &[PreparedRecord], existing: &[Option<(String, StoredRecord)>]) -> Vec<InvolvementId> {
    prepared
        .iter()
        .zip(existing)
        .filter_map(|(record, stored)| {
            stored
                .as_ref()
                .map(|(_, stored)| stored)
                .filter(|stored| stored.content_hash != record.content_hash && record.moved_hash.as_ref() != Some(&stored.content_hash))
        })
        .flat_map(|stored| stored.involvement_ids.iter().copied())
        .collect()
}

/// What a stored acknowledgement makes of a re-sent batch.
pub(super) enum Replay {
    /// Every record is still stored: the stored answer and its audit index.
    Answered(StoredAck, u64),
    /// The records still to apply, and the count held and the rejections
    /// of the first time when the batch was sent before.
    Apply(Vec<IncomingRecord>, Option<(u32, Vec<StoredRejection>)>),
}

impl Engine {
    /// Applies one upload batch. Returns the acknowledgement, which is stored
    /// with the batch so that a re-sent batch gets the same answer, and the
    /// index of its audit `entry` (stored in the same write; its result
    /// count is set here).
    pub fn apply_batch(&self, submission: &Submission, sequence: u32, batch: IncomingBatch, entry: Entry) -> Result<(StoredAck, u64), EngineError> {
        self.apply_batch_ids(submission, sequence, batch, entry).map(|(ack, index, _)| (ack, index))
    }

    /// As [`Engine::apply_batch`], also returning the ids of the
    /// involvements the batch added (for [`Engine::settle`]).
    pub fn apply_batch_ids(
        &self,
        submission: &Submission,
        sequence: u32,
        batch: IncomingBatch,
        entry: Entry,
    ) -> Result<(StoredAck, u64, Vec<InvolvementId>), EngineError> {
        self.apply_batch_with(submission, sequence, batch, entry, None)
    }

    /// As [`Engine::apply_batch_ids`], for a batch of an upload stream
    /// whose summary `row` is kept, "in progress", in the batch's write.
    pub fn apply_upload_batch(
        &self,
        submission: &Submission,
        sequence: u32,
        batch: IncomingBatch,
        entry: Entry,
        row: crate::uploads::UploadRow,
    ) -> Result<(StoredAck, u64, Vec<InvolvementId>), EngineError> {
        self.apply_batch_with(submission, sequence, batch, entry, Some(row))
    }

    fn apply_batch_with(
        &self,
        submission: &Submission,
        sequence: u32,
        batch: IncomingBatch,
        mut entry: Entry,
        mut row: Option<crate::uploads::UploadRow>,
    ) -> Result<(StoredAck, u64, Vec<InvolvementId>), EngineError> {
        if batch.len() > self.max_batch_records {
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
        let IncomingBatch { digest, records } = batch;
        // Records of a re-sent batch that the node holds (in that version
        // or a later one) are left as they are; those withdrawn or erased
        // since are applied again: the agency sent them on purpose, and
        // replaying would report them stored when they are not.
        let (records, held_before) = match self.replay_stored(submission, sequence, &digest, records, &mut entry, &mut row)? {
            Replay::Answered(ack, index) => return Ok((ack, index, Vec::new())),
            Replay::Apply(records, held_before) => (records, held_before),
        };
        // Everything that needs no shared state happens before the lock, so
        // it overlaps with other uploads' linking.
        let mut ack = StoredAck { sequence, ..Default::default() };
        if let Some((held, rejections)) = held_before {
            ack.unchanged = held;
            ack.rejections = rejections;
        }
        let retention = self.retention.get().and_then(|settings| settings.rule_for(&submission.agency)).map(|rule| (rule, crate::retention::today()));
        let prepared = prepare_records(submission, records, retention, &mut ack);
        // The stored versions of the batch's records, read before linking
        // (this agency's lock keeps them from changing), so that linking
        // cannot fail half-way.
        // A record moving to a new key epoch replaces the one stored under
        // its previous ref (unless it is already stored under its new one).
        let existing = self.stored_versions(submission, &prepared)?;

        // The involvements of records this batch replaces: their profiles
        // are fenced from readers until the batch is sealed.
        let replaced = replaced_ids(&prepared, &existing);

        let linking = self.linking.lock().map_err(|_| EngineError::Poisoned)?;
        let _change = ChangeGuard(self);
        let mut guard = self.lock_state()?;
        self.check_epoch(&guard, submission)?;
        let agency_number = guard.agency_number(&submission.agency);
        // Decided with the model's starting values: settled once the upload
        // ends, or at the next start if the node stops first.
        let unsettled = guard.linker.model().pairs_at_last_fit() == 0;
        Engine::fence(&mut guard, &replaced);
        let mut pending = Pending::new();
        let first_new_id = guard.next_id;
        let mut slice = Slice::start();
        let mut moved = false;
        for (record, existing) in prepared.into_iter().zip(existing) {
            slice.yield_if_due(&mut guard);
            moved |= apply_record(&mut guard, &mut pending, &mut ack, submission, agency_number, record, existing);
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
        put_upload_state(&mut set, submission, &ack, unsettled.then_some(&new_ids[..]), row);
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

    /// Answers a re-sent batch from its stored acknowledgement when every
    /// record it holds is still stored; otherwise returns the records still
    /// to apply, with the count held and the rejections of the first time.
    fn replay_stored(
        &self,
        submission: &Submission,
        sequence: u32,
        digest: &[u8; 32],
        mut records: Vec<IncomingRecord>,
        entry: &mut Entry,
        row: &mut Option<crate::uploads::UploadRow>,
    ) -> Result<Replay, EngineError> {
        let mut held_before = None;
        if let Some(bytes) = self.store.ack(&submission.agency, &submission.submission_id, sequence)? {
            if let Some(stored) = stored_ack(&bytes, digest)? {
                let rejected: HashSet<u32> = stored.rejections.iter().map(|r| r.source_row).collect();
                let (missing, held): (Vec<IncomingRecord>, Vec<IncomingRecord>) = {
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
                    // The upload's summary counts the batch as already
                    // stored, in the audit entry's write.
                    let set = row.take().map(|row| {
                        let mut set = WriteSet::new();
                        row.put(&mut set, submission, &ack);
                        set
                    });
                    let index = self.audit.append_blocking(std::mem::take(entry), set)?;
                    return Ok(Replay::Answered(ack, index));
                }
                records = missing;
                held_before = Some((held.len() as u32, stored.rejections));
            }
        }
        Ok(Replay::Apply(records, held_before))
    }

    /// The stored version of each prepared record, under its ref or, for a
    /// record moving to a new key epoch, its previous one.
    fn stored_versions(&self, submission: &Submission, prepared: &[PreparedRecord]) -> Result<Vec<Option<(String, StoredRecord)>>, EngineError> {
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
        Ok(existing)
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
        self.store.for_each_record(|agency, record_ref, mut stored| {
            let rule = settings.rule_for(agency).unwrap_or_default();
            let row = plan.entry(agency.to_owned()).or_insert_with(|| AgencyRetention {
                agency: agency.to_owned(),
                rule: rule.describe(),
                ..AgencyRetention::default()
            });
            row.records += 1;
            let record = crate::record::take_body(&mut stored)?;
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
    /// their pseudonyms are gone from its files — also when an earlier
    /// erasure's compaction was cut short. Returns (records erased, audit
    /// index, whether the store was compacted).
    pub fn erase_expired(&self, settings: &RetentionSettings, today: i64, plan: &[AgencyRetention], entry: Entry) -> Result<(u32, u64, bool), EngineError> {
        let refs: Vec<(&str, &[String])> = plan.iter().filter(|a| !a.expired_refs.is_empty()).map(|a| (a.agency.as_str(), a.expired_refs.as_slice())).collect();
        let still_expired = |agency: &str, stored: &StoredRecord| {
            let rule = settings.rule_for(agency).unwrap_or_default();
            crate::record::body(stored).ok().is_some_and(|record| crate::retention::expired(&record, &rule, today))
        };
        if !refs.is_empty() {
            self.owe_compaction()?;
        }
        let (erased, _, index) = self.remove_records(&refs, still_expired, entry)?;
        self.owed_data_committed();
        // The erasure is committed and audited: a compaction that fails
        // (a nearly full disk) is not a failed erasure; it stays owed, and
        // the next start or sweep compacts.
        Ok((erased, index, self.pay_owed_compaction("erased records")))
    }

    /// Notes, durably, that erased data is about to be owed a compaction:
    /// a node stopped before the compaction ends compacts when it starts.
    /// (Once the erasure is committed, `owed` is counted up, so that a
    /// compaction that began before it does not clear the mark.)
    pub(crate) fn owe_compaction(&self) -> Result<(), EngineError> {
        let mut set = braid_store::WriteSet::new();
        set.set_compaction_owed(true);
        Ok(self.store.write(set)?)
    }

    /// Counts a committed change whose erased data the next compaction
    /// must clear (after its [`Engine::owe_compaction`] mark is durable):
    /// a compaction that began before it then leaves the mark in place.
    pub(crate) fn owed_data_committed(&self) {
        self.owed.fetch_add(1, Ordering::SeqCst);
    }

    /// Compacts the store when a compaction is owed, so that erased data
    /// is gone from its files; returns whether it did. A failure (a nearly
    /// full disk) is logged and leaves the compaction owed.
    pub(crate) fn pay_owed_compaction(&self, what: &str) -> bool {
        let Ok(_one_at_a_time) = self.compacting.lock() else { return false };
        if !self.store.compaction_owed().unwrap_or(true) {
            return false;
        }
        // An erasure committed after the compaction began may still be in
        // the files: its mark stays, and its own call (waiting for this
        // one) compacts again.
        let began = self.owed.load(Ordering::SeqCst);
        let paid = self.store.compact().and_then(|()| {
            if self.owed.load(Ordering::SeqCst) != began {
                return Ok(());
            }
            let mut set = braid_store::WriteSet::new();
            set.set_compaction_owed(false);
            self.store.write(set)
        });
        match paid {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "{what} were not compacted away yet; the next start or retention sweep compacts");
                false
            }
        }
    }

    /// Removes records (those `remove` agrees to, as read under their
    /// agencies' locks) and re-computes the profiles they were part of.
    /// Returns (removed, not found or kept, audit index).
    pub(super) fn remove_records(
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
    /// audit index); the audit `entry` is stored in the same write, which
    /// takes the unsettled marks off `ids`.
    pub fn settle(&self, ids: &[InvolvementId], entry: Entry) -> Result<(u64, u64), EngineError> {
        self.relink_with(entry, ids, |linker| {
            let live: Vec<InvolvementId> = ids.iter().copied().filter(|id| linker.profiles().is_alive(*id)).collect();
            linker.relink(&live)
        })
    }

    /// The involvements still marked unsettled: decided with the model's
    /// starting values by an upload that ended without settling them (the
    /// node stopped or crashed first, the caller lost the right to upload,
    /// or the settle failed).
    pub fn unsettled_marks(&self) -> Result<Vec<InvolvementId>, EngineError> {
        Ok(self.store.unsettled()?)
    }

    /// Re-estimates the linkage model from scratch and re-decides every
    /// profile, in an order set by the records' content: afterwards the
    /// profiles depend on the records held, hardly on the order they were
    /// uploaded in. Returns (involvements re-decided, audit index).
    pub fn relink_everything(&self, entry: Entry) -> Result<(u64, u64), EngineError> {
        let marked = self.store.unsettled()?;
        self.relink_with(entry, &marked, Linker::relink_everything)
    }

    /// Re-decides what `relink` re-links and writes it, taking the unsettled
    /// mark off each of `settled`.
    pub(super) fn relink_with(
        &self,
        mut entry: Entry,
        settled: &[InvolvementId],
        relink: impl FnOnce(&mut Linker) -> Vec<(InvolvementId, Outcome)>,
    ) -> Result<(u64, u64), EngineError> {
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
        settled.iter().for_each(|id| set.clear_unsettled(*id));
        let ticket = Engine::seal(state, &mut set, fact_changes, dirty);
        drop(guard);
        drop(linking);
        put_links(&mut set, outcomes, &withdrawn, &self.decisions);
        entry.result_count = count;
        entry.outcome = "ok".to_owned();
        let index = self.write_in_turn(ticket, set, entry)?;
        Ok((count, index))
    }
}
