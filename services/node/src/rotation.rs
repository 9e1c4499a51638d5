//! Key rotation: the partnership moves from key epoch N to N+1 without a
//! gap in linkage.
//!
//! 1. An administrator opens the rotation ([`Engine::begin_rotation`]):
//!    the node keeps accepting uploads under N and now also accepts uploads
//!    under N+1, provided each person in them also carries *bridge*
//!    pseudonyms (and each record its ref) under N.
//! 2. Each agency re-pseudonymises its extract under both secrets and
//!    uploads it. A moved record replaces the one stored under its N ref; it
//!    links under its N pseudonyms, like every record of the agencies that
//!    have not moved yet, and keeps its N+1 pseudonyms unused.
//! 3. Once every stored record carries N+1 pseudonyms,
//!    [`Engine::finish_rotation`] makes N+1 the only epoch accepted: every
//!    involvement's N pseudonyms are replaced by its N+1 ones in one atomic
//!    write, the linker is rebuilt over them (profiles, decisions and the
//!    model stay as they were: they are facts about records, not keys), and
//!    the store is compacted so that the N pseudonyms are gone from its
//!    files.
//!
//! [`Engine::epoch_progress`] is what `braid admin epochs` shows.

use std::collections::{BTreeMap, HashSet};

use braid_audit::Entry;
use braid_store::WriteSet;
use prost::Message;

use crate::engine::{load_linker, ChangeGuard, Engine, EngineError, State, Submission};

/// One agency's progress in a key rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgencyEpoch {
    /// The agency's code.
    pub agency: String,
    /// Records it holds.
    pub records: u64,
    /// Of those, records uploaded under the next epoch.
    pub moved: u64,
}

/// Where the node stands with its key epochs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Epochs {
    /// The epoch uploads are linked under; `None` before the first upload.
    pub current: Option<String>,
    /// The epoch a rotation is moving to.
    pub next: Option<String>,
    /// Every agency holding records.
    pub agencies: Vec<AgencyEpoch>,
}

/// Whether `text` is an epoch fingerprint as the agency side writes it:
/// `e<epoch>-<16 lower-case hex digits>`.
pub(crate) fn is_epoch_fingerprint(text: &str) -> bool {
    epoch_number(text).is_some()
}

/// The epoch an epoch fingerprint names; `None` for text of another shape.
fn epoch_number(text: &str) -> Option<u64> {
    let (epoch, digest) = text.strip_prefix('e')?.split_once('-')?;
    let shaped = (1..=10).contains(&epoch.len())
        && epoch.bytes().all(|b| b.is_ascii_digit())
        && digest.len() == 16
        && digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    shaped.then(|| epoch.parse().ok()).flatten()
}

impl Engine {
    /// Refuses an upload whose key epoch is not the one held, unless a
    /// rotation is open and the upload moves to its epoch with bridge
    /// pseudonyms under the one held.
    pub(crate) fn check_epoch(&self, state: &State, submission: &Submission) -> Result<(), EngineError> {
        let Some(held) = state.epoch.clone().or_else(|| self.expected_epoch().cloned()) else {
            return match &submission.bridge_epoch {
                Some(_) => Err(EngineError::Rotation(
                    "the upload carries bridge pseudonyms, but this node holds no key epoch yet and no rotation is open: pseudonymise without --bridge-secret"
                        .to_owned(),
                )),
                None => Ok(()),
            };
        };
        let offered = &submission.epoch;
        match (&submission.bridge_epoch, &state.next_epoch) {
            (None, Some(next)) if *offered == held && state.moving.contains(&submission.agency) => Err(EngineError::Rotation(format!(
                "{} has begun moving to key epoch {next}: upload under {next} with bridge pseudonyms (pseudonymise with --bridge-secret); an upload under {held} would hold its records twice",
                submission.agency
            ))),
            (None, _) if *offered == held => Ok(()),
            (Some(bridge), Some(next)) if offered == next && *bridge == held => Ok(()),
            (None, Some(next)) if offered == next => Err(EngineError::Rotation(format!(
                "this node is moving from key epoch {held} to {next}: until every agency has moved, an upload under {next} must also carry its pseudonyms under {held} (pseudonymise with --bridge-secret set to the epoch {held} scheme secret)"
            ))),
            (Some(bridge), Some(next)) => Err(EngineError::Rotation(format!(
                "the upload moves from key epoch {bridge} to {offered}, but this node is moving from {held} to {next}"
            ))),
            (Some(bridge), None) => Err(EngineError::Rotation(format!(
                "the upload moves from key epoch {bridge} to {offered}, but no key rotation is open on this node (it holds {held}){}",
                if *offered == held { "; the rotation is finished: pseudonymise without --bridge-secret" } else { "" }
            ))),
            (None, next) => Err(EngineError::EpochMismatch {
                held: match next {
                    Some(next) => format!("{held} (and is moving to {next})"),
                    None => held,
                },
                offered: offered.clone(),
            }),
        }
    }

    /// The node's key epochs and, per agency holding records, how many of
    /// its records have been uploaded under the next epoch.
    pub fn epochs(&self) -> Result<Epochs, EngineError> {
        let (current, next) = {
            let state = self.lock_state()?;
            (state.epoch.clone(), state.next_epoch.clone())
        };
        let agencies = self.epoch_progress()?;
        Ok(Epochs { current, next, agencies })
    }

    /// Per agency holding records: its records, and those whose every
    /// involvement carries next-epoch pseudonyms.
    fn epoch_progress(&self) -> Result<Vec<AgencyEpoch>, EngineError> {
        let mut moved: HashSet<u64> = HashSet::new();
        self.store.for_each_involvement(|id, involvement| {
            if involvement.next.is_some() {
                moved.insert(id);
            }
            Ok(())
        })?;
        let mut agencies: BTreeMap<String, AgencyEpoch> = BTreeMap::new();
        self.store.for_each_record(|agency, _, record| {
            let row = agencies.entry(agency.to_owned()).or_insert_with(|| AgencyEpoch { agency: agency.to_owned(), ..AgencyEpoch::default() });
            row.records += 1;
            if record.involvement_ids.iter().all(|id| moved.contains(id)) {
                row.moved += 1;
            }
            Ok(())
        })?;
        Ok(agencies.into_values().collect())
    }

    /// Opens a rotation towards the epoch with fingerprint `next`. Returns
    /// the audit index of `entry`, written with it.
    pub fn begin_rotation(&self, next: &str, mut entry: Entry) -> Result<u64, EngineError> {
        if !is_epoch_fingerprint(next) {
            return Err(EngineError::InvalidRequest(
                "an epoch fingerprint is `e` with the epoch's number, `-` and 16 hex digits, as `braid keys next-epoch` prints it (e.g. e2-0123456789abcdef)"
                    .to_owned(),
            ));
        }
        self.space.refresh()?;
        let linking = self.linking.lock().map_err(|_| EngineError::Poisoned)?;
        let mut guard = self.lock_state()?;
        let Some(current) = guard.epoch.clone() else {
            return Err(EngineError::Rotation("this node holds no records yet, so there is nothing to rotate: upload under the new epoch directly".to_owned()));
        };
        if let (Some(held), Some(wanted)) = (epoch_number(&current), epoch_number(next)) {
            if wanted <= held {
                return Err(EngineError::Rotation(format!(
                    "key epoch {next} is not after the one held ({current}): a rotation moves to a newer epoch (`braid keys next-epoch`)"
                )));
            }
        }
        if let Some(open) = &guard.next_epoch {
            return Err(EngineError::Rotation(if open == next {
                format!("a rotation to key epoch {next} is already open")
            } else {
                format!(
                    "a rotation to key epoch {open} is open; finish it (--finish) or, while no agency has moved, cancel it (--cancel) before beginning another"
                )
            }));
        }
        if current == next {
            return Err(EngineError::Rotation(format!("this node already holds key epoch {next}")));
        }
        let mut set = WriteSet::new();
        set.set_next_epoch(Some(next));
        guard.next_epoch = Some(next.to_owned());
        let ticket = Engine::seal_unlinked(&mut guard, &mut set);
        drop(guard);
        drop(linking);
        entry.result_count = 1;
        entry.outcome = "ok".to_owned();
        self.write_in_turn(ticket, set, entry)
    }

    /// Closes a rotation that no agency has begun moving in (a fingerprint
    /// given by mistake, or a new secret lost before use): uploads under
    /// the next epoch are refused again. Returns (the epoch it was moving
    /// to, the audit index of `entry`).
    pub fn cancel_rotation(&self, mut entry: Entry) -> Result<(String, u64), EngineError> {
        self.space.refresh()?;
        let linking = self.linking.lock().map_err(|_| EngineError::Poisoned)?;
        let Some(next) = self.lock_state()?.next_epoch.clone() else {
            return Err(EngineError::Rotation("no key rotation is open".to_owned()));
        };
        self.wait_for_writes()?;
        let started: Vec<String> = self.epoch_progress()?.into_iter().filter(|agency| agency.moved > 0).map(|agency| agency.agency).collect();
        if !started.is_empty() {
            return Err(EngineError::Rotation(format!(
                "{} already hold records under key epoch {next}: a rotation that has begun can only be finished",
                started.join(", ")
            )));
        }
        let mut set = WriteSet::new();
        set.set_next_epoch(None);
        let ticket = {
            let mut guard = self.lock_state()?;
            guard.next_epoch = None;
            guard.moving.clear();
            Engine::seal_unlinked(&mut guard, &mut set)
        };
        drop(linking);
        entry.result_count = 0;
        entry.outcome = "ok".to_owned();
        Ok((next, self.write_in_turn(ticket, set, entry)?))
    }

    /// Finishes the open rotation once every record has moved: the next
    /// epoch becomes the only one, the current epoch's pseudonyms are
    /// dropped from every involvement (and, by a compaction, from the
    /// store's files) and the linker is rebuilt over the new ones. Returns
    /// (the epoch dropped, involvements moved, audit index).
    pub fn finish_rotation(&self, mut entry: Entry) -> Result<(String, u64, u64), EngineError> {
        self.space.refresh()?;
        // No change links while the rotation finishes; uploads that were
        // prepared under the old rules are refused by `check_epoch` after.
        let linking = self.linking.lock().map_err(|_| EngineError::Poisoned)?;
        let _change = ChangeGuard(self);
        let (current, next) = {
            let state = self.lock_state()?;
            (state.epoch.clone(), state.next_epoch.clone())
        };
        let (Some(current), Some(next)) = (current, next) else {
            return Err(EngineError::Rotation("no key rotation is open; begin one with `braid admin epochs --begin FINGERPRINT`".to_owned()));
        };
        // Changes linked before this one may still be on their way to the
        // store, which is read below.
        self.wait_for_writes()?;
        let behind: Vec<String> = self
            .epoch_progress()?
            .into_iter()
            .filter(|agency| agency.moved < agency.records)
            .map(|agency| format!("{} {} of {}", agency.agency, agency.records - agency.moved, agency.records))
            .collect();
        if !behind.is_empty() {
            return Err(EngineError::Rotation(format!(
                "not every agency has moved to key epoch {next}; records held only under {current}: {} (re-pseudonymise and upload those extracts with --bridge-secret, or withdraw records no longer held)",
                behind.join(", ")
            )));
        }
        let mut set = WriteSet::new();
        let mut moved = 0u64;
        self.store.for_each_involvement(|id, mut involvement| {
            let pseudonyms = involvement.next.take().unwrap_or_default();
            involvement.match_keys = pseudonyms.match_keys;
            involvement.bloom = pseudonyms.bloom;
            involvement.tokens = pseudonyms.tokens;
            involvement.link_person_ref.clear();
            set.put_involvement_bytes(id, involvement.encode_to_vec());
            moved += 1;
            Ok(())
        })?;
        set.set_epoch(&next);
        set.set_next_epoch(None);
        // The old pseudonyms stay in the store's files until a compaction.
        set.set_compaction_owed(true);
        let ticket = {
            let mut guard = self.lock_state()?;
            Engine::seal_unlinked(&mut guard, &mut set)
        };
        entry.result_count = moved;
        entry.outcome = "ok".to_owned();
        let index = self.write_in_turn(ticket, set, entry)?;
        self.owed_data_committed();
        // The store now holds only the new pseudonyms; the linker is
        // rebuilt from it outside the state lock (no change can run: the
        // linking lock is held), then swapped in.
        // The store has moved; memory must follow, or nothing more may be
        // linked (a restart rebuilds it from the store).
        let poison = |error: EngineError| {
            self.poison();
            error
        };
        let next_id = self.lock_state().map_err(poison)?.next_id();
        let loaded = load_linker(&self.store, next_id).map_err(poison)?;
        {
            let mut guard = self.lock_state()?;
            guard.linker = loaded.linker;
            guard.agencies = loaded.agencies;
            guard.moving = loaded.moving;
            guard.epoch = Some(next);
            guard.next_epoch = None;
        }
        drop(linking);
        // The rotation is committed and audited: a compaction that fails
        // stays owed, and the next start or sweep compacts.
        self.pay_owed_compaction("the old epoch's pseudonyms");
        Ok((current, moved, index))
    }
}
