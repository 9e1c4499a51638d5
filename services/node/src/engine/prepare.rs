//! A batch made ready before the state lock is taken: records validated and
//! encoded, their tokens and facts in the linker's and signals' terms, and
//! stored acknowledgements bound to the batch they answer.

use super::*;

/// The first byte of a stored acknowledgement: the batch's digest follows,
/// then the acknowledgement.
pub(super) const ACK_FORMAT: u8 = 2;

/// The stored acknowledgement, when it answers a batch with this digest.
pub(super) fn stored_ack(bytes: &[u8], digest: &[u8; 32]) -> Result<Option<StoredAck>, EngineError> {
    match bytes.split_first() {
        Some((&ACK_FORMAT, rest)) if rest.len() >= 32 => {
            if rest[..32] != digest[..] {
                return Ok(None);
            }
            Ok(Some(StoredAck::decode(&rest[32..]).map_err(|_| braid_store::Error::Corrupt("ack"))?))
        }
        // An acknowledgement stored before batches were bound to their
        // content: it cannot vouch for this batch.
        _ => Ok(None),
    }
}

/// Whether an involvement carries any identity to link on (an unknown
/// perpetrator has none, and never links).
pub(super) fn is_identified(stored: &StoredInvolvement) -> bool {
    !stored.match_keys.is_empty() || !stored.bloom.is_empty() || stored.tokens.iter().any(|t| *t != 0)
}

/// A record's fingerprint for the linker, told apart from its earlier
/// versions (alive until the batch that replaces them is sealed) by the
/// first id its involvements were given: the linker keeps two people of one
/// version apart, never a person of the new version from the old.
pub(crate) fn record_version(record: u64, first_id: InvolvementId) -> u64 {
    if record == 0 {
        0
    } else {
        record ^ first_id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// What the linker needs of a stored involvement; the agency number (and
/// the record's version, see [`record_version`]) is filled in under the
/// state lock.
pub(super) fn linker_involvement(stored: &StoredInvolvement) -> braid_linkage::Involvement {
    braid_linkage::Involvement {
        keys: stored.match_keys.iter().filter_map(|key| KeyFingerprint::new(*key.first()?, key.get(1..)?)).collect(),
        bloom: Bloom::from_bytes(&stored.bloom),
        agency: 0,
        // During a key rotation a moved record links under its ref in the
        // epoch the others are still in.
        person: braid_store::fingerprint(if stored.link_person_ref.is_empty() { &stored.person_ref } else { &stored.link_person_ref }.as_bytes()),
        // A record's involvements are inserted together, under
        // consecutive ids, at ingest and when the index is rebuilt.
        record: braid_store::fingerprint(stored.record_ref.as_bytes()),
        tokens: Tokens::from_words(&stored.tokens).unwrap_or_default(),
        // An outcome event's child attaches to a profile, never shapes one.
        passive: stored.role == braid_template::Role::OutcomeSubject.number(),
    }
}

/// A record validated and encoded before the state lock is taken.
pub(super) struct PreparedRecord {
    pub(super) record_ref: String,
    /// During a key rotation, the ref of the record this one replaces.
    pub(super) previous_ref: Option<String>,
    /// During a key rotation, the content hash this record would have had
    /// under the epoch it moves from (equal to the stored one's when only
    /// the epoch changes).
    pub(super) moved_hash: Option<Vec<u8>>,
    pub(super) content_hash: Vec<u8>,
    /// The record's content as stored (pseudonyms left out: they are
    /// stored with each involvement).
    pub(super) body: braid_store::RecordBody,
    /// Each involvement encoded for storage, and as the linker sees it.
    pub(super) involvements: Vec<(Vec<u8>, braid_linkage::Involvement)>,
    /// What the signals need of it.
    pub(super) facts: PreparedFacts,
}

/// Checks and encodes a batch's records (the adapter has validated each
/// as sent); rejected ones go into the acknowledgement, among them records
/// already past the agency's `retention` rule on its day.
pub(super) fn prepare_records(
    submission: &Submission,
    records: Vec<IncomingRecord>,
    retention: Option<(crate::retention::RetentionRule, i64)>,
    ack: &mut StoredAck,
) -> Vec<PreparedRecord> {
    let mut refs_in_batch = HashSet::new();
    let mut previous_in_batch = HashSet::new();
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let reject = |ack: &mut StoredAck, field: String, reason: String| ack.rejections.push(StoredRejection { source_row: record.source_row, field, reason });
        if let Some(problem) = &record.invalid {
            reject(ack, problem.field.clone(), problem.reason.clone());
            continue;
        }
        if let Err(problem) = check_bridge(submission, &record) {
            reject(ack, problem.field, problem.reason);
            continue;
        }
        if refs_in_batch.contains(&record.record_ref) || previous_in_batch.contains(&record.record_ref) {
            reject(ack, "record_ref".to_owned(), "appears twice in one batch (as a ref or a previous ref)".to_owned());
            continue;
        }
        // One record replaces one: a previous ref named twice, or naming a
        // record of the same batch, would remove what the batch stores.
        if let Some(previous) = &record.previous_ref {
            if refs_in_batch.contains(previous) || !previous_in_batch.insert(previous.clone()) {
                reject(ack, "previous_ref".to_owned(), "appears twice in one batch (as a ref or a previous ref)".to_owned());
                continue;
            }
        }
        refs_in_batch.insert(record.record_ref.clone());
        if let Some((rule, _)) = retention.filter(|(rule, today)| crate::retention::expired(&record.body, rule, *today)) {
            reject(ack, "event_date".to_owned(), format!("is past this agency's retention period ({}), so the record is not stored", rule.describe()));
            continue;
        }
        let IncomingRecord { record_ref, previous_ref, content_hash, moved_hash, body, involvements: incoming, .. } = record;
        let mut involvements = Vec::with_capacity(incoming.len());
        let mut identified = Vec::with_capacity(incoming.len());
        for (person, incoming) in body.involvements.iter().zip(incoming) {
            // A record moving to a new key epoch links under the current
            // one; its new pseudonyms wait until every agency has moved.
            let (link, next) = match submission.bridge_epoch {
                Some(_) => (incoming.bridge_pseudonyms.unwrap_or_default(), Some(incoming.pseudonyms)),
                None => (incoming.pseudonyms, None),
            };
            let stored = StoredInvolvement {
                agency: submission.agency.clone(),
                record_ref: record_ref.clone(),
                person_ref: person.person_ref.clone(),
                role: person.role,
                match_keys: link.match_keys,
                tokens: link.tokens,
                bloom: link.bloom,
                next,
                link_person_ref: incoming.bridge_person_ref,
            };
            identified.push(is_identified(&stored));
            involvements.push((stored.encode_to_vec(), linker_involvement(&stored)));
        }
        let facts = record_facts(&body, |i| identified.get(i).copied().unwrap_or(false));
        out.push(PreparedRecord { record_ref, previous_ref, moved_hash, content_hash, body, involvements, facts });
    }
    out
}

/// Checks that a record carries bridge pseudonyms exactly when its upload
/// moves to a new key epoch.
pub(super) fn check_bridge(submission: &Submission, record: &IncomingRecord) -> Result<(), crate::validate::Invalid> {
    let invalid = |field: String, reason: &str| crate::validate::Invalid { field, reason: reason.to_owned() };
    let bridged = submission.bridge_epoch.is_some();
    if !bridged && record.previous_ref.is_some() {
        return Err(invalid("previous_ref".to_owned(), "is only for an upload that moves to a new key epoch"));
    }
    for (index, involvement) in record.involvements.iter().enumerate() {
        let has_bridge = !involvement.bridge_person_ref.is_empty() || involvement.bridge_pseudonyms.is_some();
        if bridged && involvement.bridge_person_ref.trim().is_empty() {
            return Err(invalid(format!("involvements[{index}].bridge_person_ref"), "is required in an upload that moves to a new key epoch"));
        }
        if bridged && involvement.has_pseudonyms != involvement.bridge_pseudonyms.is_some() {
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
pub(super) fn on_own_person_ref(levels: &[u8]) -> bool {
    let Some(feature) = FEATURES.iter().position(|f| *f == PERSON) else { return false };
    let same = PERSON.levels.iter().position(|l| *l == "same-agency-same-person");
    levels.get(feature).map(|l| usize::from(*l)) == same
}

/// What an involvement's decisions joined it to (joins, merges, and matches
/// within its profile), each with its strength: its probability, or
/// [`braid_signals::OWN_ID_LINK`] on its agency's own person ref (see
/// `Facts::links`).
pub(super) fn joined_links<'a>(decisions: impl Iterator<Item = (Decision, &'a [u8], f32, u64)>) -> Box<[(u64, f32)]> {
    decisions
        .filter(|(decision, ..)| matches!(decision, Decision::Joined | Decision::Merged | Decision::Matched))
        .map(|(_, levels, probability, other)| (other, if on_own_person_ref(levels) { braid_signals::OWN_ID_LINK } else { probability }))
        .collect()
}

/// How strongly an involvement's decisions tied it into its profile: the
/// best join or merge probability, 1 for a join on its agency's own person
/// ref, and 1 when it joined nothing (it founded its profile).
pub(super) fn link_strength<'a>(decisions: impl Iterator<Item = (Decision, &'a [u8], f32)>) -> f32 {
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
pub(super) fn add_facts(facts: &mut Facts, fingerprint: u64, agency: u16, record_ref: String, prepared: PreparedFacts, ids: &[u64]) {
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
pub(super) const RESERVED_INVOLVEMENTS: usize = 1 << 21;

pub(super) fn stored_links(outcome: &Outcome) -> StoredLinks {
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
