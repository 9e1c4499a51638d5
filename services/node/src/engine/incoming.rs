//! An upload batch in the node's own terms: what the API's messages are
//! read into (`record::incoming_batch`) before ingest prepares, links and
//! stores them, so that ingest never reads the wire's types.

use braid_store::{RecordBody, StoredPseudonyms};

use crate::validate::Invalid;

/// One upload batch.
pub struct IncomingBatch {
    /// A digest of the batch as sent: a stored acknowledgement answers only
    /// a re-sent batch with this digest.
    pub(crate) digest: [u8; 32],
    /// Its records, in the order sent.
    pub(crate) records: Vec<IncomingRecord>,
}

impl IncomingBatch {
    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// One record of a batch.
pub struct IncomingRecord {
    /// The extract's row it came from, for rejections.
    pub(crate) source_row: u32,
    /// The agency's opaque ref.
    pub(crate) record_ref: String,
    /// During a key rotation, the ref of the record this one replaces.
    pub(crate) previous_ref: Option<String>,
    /// What is wrong with the record as sent; such a record is rejected.
    pub(crate) invalid: Option<Invalid>,
    /// A hash of the record's content as sent (without what only carries
    /// it across a key rotation).
    pub(crate) content_hash: Vec<u8>,
    /// During a key rotation, the content hash the record would have had
    /// under the epoch it moves from.
    pub(crate) moved_hash: Option<Vec<u8>>,
    /// Its content as the node stores it.
    pub(crate) body: RecordBody,
    /// Each person's pseudonyms, in the order of `body.involvements`.
    pub(crate) involvements: Vec<IncomingInvolvement>,
}

impl IncomingRecord {
    /// A record rejected for `problem` before anything else is read of it.
    pub(crate) fn invalid(source_row: u32, record_ref: String, problem: Invalid) -> IncomingRecord {
        IncomingRecord {
            source_row,
            record_ref,
            previous_ref: None,
            invalid: Some(problem),
            content_hash: Vec::new(),
            moved_hash: None,
            body: RecordBody::default(),
            involvements: Vec::new(),
        }
    }
}

/// One person's pseudonyms in a record.
pub struct IncomingInvolvement {
    /// Whether the record carried pseudonyms for the person at all.
    pub(crate) has_pseudonyms: bool,
    /// The pseudonyms as the node keeps them (empty when none were sent).
    pub(crate) pseudonyms: StoredPseudonyms,
    /// During a key rotation, the person's ref under the epoch the node is
    /// moving from.
    pub(crate) bridge_person_ref: String,
    /// During a key rotation, the pseudonyms under that epoch.
    pub(crate) bridge_pseudonyms: Option<StoredPseudonyms>,
}
