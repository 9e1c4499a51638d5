//! What the node keeps of an agency's uploads in its own schema: each
//! batch's answer (so a re-sent batch gets the same one) and each upload
//! stream's summary (for the agency to read back).

use crate::{upload_prefix, Error, Result, Store, META, UPLOADS_PREFIX};

impl Store {
    /// `agency`'s upload summaries, oldest first: (time in milliseconds,
    /// the stored bytes).
    pub fn uploads(&self, agency: &str) -> Result<Vec<(u64, Vec<u8>)>> {
        let prefix = upload_prefix(agency);
        let iterator = self.db.iterator_cf(self.cf(META)?, rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward));
        let mut out = Vec::new();
        for item in iterator {
            let (key, value) = item?;
            let Some(time) = key.strip_prefix(prefix.as_slice()) else { break };
            let time: [u8; 8] = time.try_into().map_err(|_| Error::Corrupt("upload summary key"))?;
            out.push((u64::from_be_bytes(time), value.into_vec()));
        }
        Ok(out)
    }

    /// Every agency's upload summaries: (agency, time in milliseconds, the
    /// stored bytes), by agency and then oldest first.
    pub fn all_uploads(&self) -> Result<Vec<(String, u64, Vec<u8>)>> {
        let iterator = self.db.iterator_cf(self.cf(META)?, rocksdb::IteratorMode::From(UPLOADS_PREFIX, rocksdb::Direction::Forward));
        let mut out = Vec::new();
        for item in iterator {
            let (key, value) = item?;
            let Some(rest) = key.strip_prefix(UPLOADS_PREFIX) else { break };
            let split = rest.iter().position(|b| *b == 0).ok_or(Error::Corrupt("upload summary key"))?;
            let agency = std::str::from_utf8(&rest[..split]).map_err(|_| Error::Corrupt("upload summary key"))?;
            let time: [u8; 8] = rest[split + 1..].try_into().map_err(|_| Error::Corrupt("upload summary key"))?;
            out.push((agency.to_owned(), u64::from_be_bytes(time), value.into_vec()));
        }
        Ok(out)
    }
}

/// The node's answer to one upload batch, stored with the batch so that a
/// re-sent batch gets the same answer. Its field numbers are those of the
/// API's acknowledgement, which answers were stored as before this schema,
/// so an answer stored by an earlier build reads the same.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredAck {
    /// The batch's sequence number in its upload.
    #[prost(uint32, tag = "1")]
    pub sequence: u32,
    /// Records written new.
    #[prost(uint32, tag = "2")]
    pub accepted: u32,
    /// Records that replaced an earlier version with the same ref.
    #[prost(uint32, tag = "3")]
    pub replaced: u32,
    /// Records identical to what was held; nothing was written for them.
    #[prost(uint32, tag = "4")]
    pub unchanged: u32,
    /// Records refused, with reasons.
    #[prost(message, repeated, tag = "5")]
    pub rejections: Vec<StoredRejection>,
    /// Set on an answer given again from the store; never set in what is
    /// stored.
    #[prost(bool, tag = "6")]
    pub replayed: bool,
    /// Involvements the batch wrote.
    #[prost(uint32, tag = "7")]
    pub involvements: u32,
}

/// A record an upload batch refused.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredRejection {
    /// The record's row in the agency's extract.
    #[prost(uint32, tag = "1")]
    pub source_row: u32,
    /// The field at fault.
    #[prost(string, tag = "2")]
    pub field: String,
    /// What is wrong, in words (never a value).
    #[prost(string, tag = "3")]
    pub reason: String,
}

/// What one of an agency's upload streams did, kept for the agency to
/// read back. Field numbers are those of the API's upload summary, which
/// summaries were stored as before this schema, so both read the same.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredUploadSummary {
    /// The submission it belonged to.
    #[prost(string, tag = "1")]
    pub submission_id: String,
    /// When its last batch was answered (milliseconds since 1970).
    #[prost(uint64, tag = "2")]
    pub finished_ms: u64,
    /// Batches answered.
    #[prost(uint32, tag = "3")]
    pub batches: u32,
    /// Records written new.
    #[prost(uint64, tag = "4")]
    pub accepted: u64,
    /// Records that replaced an earlier version.
    #[prost(uint64, tag = "5")]
    pub replaced: u64,
    /// Records already held as sent.
    #[prost(uint64, tag = "6")]
    pub unchanged: u64,
    /// Records refused.
    #[prost(uint64, tag = "7")]
    pub rejected: u64,
    /// Records in batches answered from their stored answers.
    #[prost(uint64, tag = "8")]
    pub already_stored: u64,
    /// Involvements written.
    #[prost(uint64, tag = "9")]
    pub involvements: u64,
    /// "completed", "interrupted", "refused: " and why, "in progress"
    /// (kept with each batch while the stream is open) or "cut short: …"
    /// (it was open when the node stopped).
    #[prost(string, tag = "10")]
    pub ended: String,
    /// The first rejections, in batch order.
    #[prost(message, repeated, tag = "11")]
    pub rejections: Vec<StoredRejection>,
    /// The items the agency's system holds, as the upload declared.
    #[prost(message, optional, tag = "12")]
    pub items_held: Option<StoredItemsHeld>,
}

/// How an agency's system holds the template's items, by field id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredItemsHeld {
    /// Held in defined categories.
    #[prost(string, repeated, tag = "1")]
    pub in_categories: Vec<String>,
    /// Held only as narrative text.
    #[prost(string, repeated, tag = "2")]
    pub in_free_text: Vec<String>,
    /// Not held at all.
    #[prost(string, repeated, tag = "3")]
    pub not_held: Vec<String>,
}
