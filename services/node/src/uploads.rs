//! An agency's own upload history: each upload stream, when it ended, its
//! batches and what their records did, kept for the last 200 uploads of
//! each agency. Summaries hold counts and rejection reasons only (reasons
//! never quote a value).

use braid_store::{StoredAck, StoredItemsHeld, StoredUploadSummary};
use prost::Message;

use crate::engine::{Engine, EngineError};

/// Uploads kept per agency.
const KEPT: usize = 200;
/// Rejections kept per upload.
const MOST_REJECTIONS: usize = 20;
/// Longest reason an upload ended for.
const MOST_ENDED: usize = 300;

/// What an upload's summary says while its stream is open.
const IN_PROGRESS: &str = "in progress";
/// What a start writes over that in the summaries of uploads that were
/// open when the node stopped.
const CUT_SHORT: &str = "cut short: the node stopped before the upload ended";

/// What one upload stream did, batch by batch.
#[derive(Debug, Default)]
pub struct UploadTally {
    summary: StoredUploadSummary,
    /// The time its summary is kept under while it is open, once a batch
    /// has been applied (see [`UploadRow`]).
    key: Option<u64>,
}

/// An open upload's summary, kept "in progress" in the write of each batch
/// it applies: an upload that a crash cuts short is in its agency's
/// history with every batch it had acknowledged.
#[derive(Debug)]
pub struct UploadRow {
    key: u64,
    summary: StoredUploadSummary,
}

impl UploadRow {
    /// Puts the summary, once the batch of `submission` that `ack`
    /// answered is counted, in `set` under its key.
    pub(crate) fn put(self, set: &mut braid_store::WriteSet, submission: &crate::engine::Submission, ack: &StoredAck) {
        let mut tally = UploadTally { summary: self.summary, key: None };
        tally.add(&submission.submission_id, ack);
        tally.summary.finished_ms = crate::audit::now_ms();
        tally.summary.ended = IN_PROGRESS.to_owned();
        set.put_upload(&submission.agency, self.key, tally.summary.encode_to_vec());
    }
}

impl UploadTally {
    /// Counts one answered batch.
    pub fn add(&mut self, submission_id: &str, ack: &StoredAck) {
        let summary = &mut self.summary;
        summary.submission_id = submission_id.to_owned();
        summary.batches += 1;
        let records = u64::from(ack.accepted + ack.replaced + ack.unchanged);
        if ack.replayed {
            summary.already_stored += records;
        } else {
            summary.accepted += u64::from(ack.accepted);
            summary.replaced += u64::from(ack.replaced);
            summary.unchanged += u64::from(ack.unchanged);
            summary.involvements += u64::from(ack.involvements);
        }
        summary.rejected += ack.rejections.len() as u64;
        let room = MOST_REJECTIONS.saturating_sub(summary.rejections.len());
        summary.rejections.extend(ack.rejections.iter().take(room).cloned());
    }

    /// Whether any batch was answered.
    pub fn is_empty(&self) -> bool {
        self.summary.batches == 0
    }

    /// The key set aside for its summary, once set (see
    /// [`Engine::upload_key`]).
    pub fn key(&self) -> Option<u64> {
        self.key
    }

    /// The summary so far, to be kept under `key` (from now on its key)
    /// with the next batch.
    pub fn row(&mut self, key: u64) -> UploadRow {
        self.key = Some(key);
        UploadRow { key, summary: self.summary.clone() }
    }

    /// Keeps what the upload's header declared of the items the agency's
    /// system holds.
    pub fn set_items_held(&mut self, held: Option<StoredItemsHeld>) {
        self.summary.items_held = held;
    }
}

/// Checks an upload header's declaration of the items the agency's system
/// holds: template field ids only, each in at most one list. The error
/// names the list and position.
pub fn check_items_held(held: &StoredItemsHeld) -> Result<(), String> {
    let template = braid_template::Template::standard();
    let mut seen = std::collections::HashSet::new();
    let lists = [("in_categories", &held.in_categories), ("in_free_text", &held.in_free_text), ("not_held", &held.not_held)];
    for (name, ids) in lists {
        if ids.len() > template.fields().len() {
            return Err(format!("header.items_held.{name} lists {} items; the template has {}", ids.len(), template.fields().len()));
        }
        for (index, id) in ids.iter().enumerate() {
            if template.field(id).is_err() {
                let shown: String = id.chars().take(40).collect();
                return Err(format!("header.items_held.{name}[{index}]: `{shown}` is not a template item"));
            }
            if !seen.insert(id.as_str()) {
                return Err(format!("header.items_held.{name}[{index}]: {id} is declared twice (an item is held in one way only)"));
            }
        }
    }
    Ok(())
}

/// How an agency's system holds one item, as `held` declares: "categories",
/// "free text", "not held", or empty where undeclared.
pub fn held_as(held: Option<&StoredItemsHeld>, field_id: &str) -> &'static str {
    let Some(held) = held else { return "" };
    let has = |ids: &[String]| ids.iter().any(|id| id == field_id);
    if has(&held.in_categories) {
        "categories"
    } else if has(&held.in_free_text) {
        "free text"
    } else if has(&held.not_held) {
        "not held"
    } else {
        ""
    }
}

impl Engine {
    /// Keeps the summary of one of `agency`'s uploads, which ended as
    /// `ended` ("completed", "interrupted", "refused: …"); the oldest
    /// beyond the last 200 are dropped.
    pub fn note_upload(&self, agency: &str, tally: UploadTally, ended: &str) -> Result<(), EngineError> {
        let mut last = self.uploads_noted.lock().map_err(|_| EngineError::Poisoned)?;
        let mut held = self.store.uploads(agency)?;
        // A note is not worth meeting a full disk for, unless it replaces
        // the upload's "in progress" summary (one small row for another).
        let open = tally.key.filter(|open| held.iter().any(|(time, _)| time == open));
        if open.is_none() {
            self.space.refresh()?;
        }
        let time = next_key(&mut last, &held);
        let mut set = braid_store::WriteSet::new();
        if let Some(open) = open {
            set.delete_upload(agency, open);
            held.retain(|(time, _)| *time != open);
        }
        let mut summary = tally.summary;
        summary.finished_ms = time;
        summary.ended = ended.chars().take(MOST_ENDED).collect();
        set.put_upload(agency, time, summary.encode_to_vec());
        for (old, _) in held.iter().take((held.len() + 1).saturating_sub(KEPT)) {
            set.delete_upload(agency, *old);
        }
        self.store.write(set)?;
        Ok(())
    }

    /// A key (a time in milliseconds) for a summary of one of `agency`'s
    /// uploads.
    pub fn upload_key(&self, agency: &str) -> Result<u64, EngineError> {
        let mut last = self.uploads_noted.lock().map_err(|_| EngineError::Poisoned)?;
        let held = self.store.uploads(agency)?;
        Ok(next_key(&mut last, &held))
    }

    /// Marks the summaries of uploads that were still open when the node
    /// stopped (or crashed) as cut short. Run at start, before uploads
    /// are taken; returns how many there were.
    pub fn close_cut_short_uploads(&self) -> Result<usize, EngineError> {
        let mut set = braid_store::WriteSet::new();
        let mut count = 0;
        for (agency, time, bytes) in self.store.all_uploads()? {
            // A summary that does not decode is left as it is (the history
            // reports it); the others are still closed.
            let Ok(mut summary) = summary(&bytes) else { continue };
            if summary.ended == IN_PROGRESS {
                summary.ended = CUT_SHORT.to_owned();
                set.put_upload(&agency, time, summary.encode_to_vec());
                count += 1;
            }
        }
        if count > 0 {
            self.store.write(set)?;
        }
        Ok(count)
    }

    /// What `agency`'s newest upload that declared it said of the items its
    /// system holds.
    pub fn items_held(&self, agency: &str) -> Result<Option<StoredItemsHeld>, EngineError> {
        for (_, bytes) in self.store.uploads(agency)?.into_iter().rev() {
            let summary = summary(&bytes)?;
            if summary.items_held.is_some() {
                return Ok(summary.items_held);
            }
        }
        Ok(None)
    }

    /// `agency`'s uploads, newest first.
    pub fn uploads(&self, agency: &str) -> Result<Vec<StoredUploadSummary>, EngineError> {
        let mut uploads = Vec::new();
        for (_, bytes) in self.store.uploads(agency)?.into_iter().rev() {
            uploads.push(summary(&bytes)?);
        }
        Ok(uploads)
    }
}

/// The next key for an upload summary: a time in milliseconds, later than
/// every key set aside so far (`last`) and every one `held`.
fn next_key(last: &mut u64, held: &[(u64, Vec<u8>)]) -> u64 {
    let time = crate::audit::now_ms().max(*last + 1).max(held.last().map_or(0, |(time, _)| time + 1));
    *last = time;
    time
}

/// A stored upload summary.
fn summary(bytes: &[u8]) -> Result<StoredUploadSummary, braid_store::Error> {
    StoredUploadSummary::decode(bytes).map_err(|_| braid_store::Error::Corrupt("upload summary"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_keys_only_increase_whatever_the_clock_says() {
        let mut last = 0;
        let first = next_key(&mut last, &[]);
        // Set aside twice in one millisecond: two keys.
        let second = next_key(&mut last, &[]);
        assert!(second > first);
        // A summary held under a later time (a clock that went back since):
        // the next key is after it.
        let future = crate::audit::now_ms() + 60_000;
        let third = next_key(&mut last, &[(future, Vec::new())]);
        assert_eq!(third, future + 1);
        assert!(next_key(&mut last, &[]) > third);
    }

    #[test]
    fn an_open_uploads_row_holds_its_batches_so_far_and_says_so() {
        let mut tally = UploadTally::default();
        let ack = StoredAck { accepted: 3, involvements: 5, ..StoredAck::default() };
        tally.add("s-1", &ack);
        let submission = crate::engine::Submission {
            agency: "CSC".to_owned(),
            agency_type: "childrens_services".to_owned(),
            epoch: String::new(),
            bridge_epoch: None,
            submission_id: "s-1".to_owned(),
        };
        let mut set = braid_store::WriteSet::new();
        tally.row(42).put(&mut set, &submission, &StoredAck { replaced: 2, involvements: 2, ..StoredAck::default() });
        let dir = tempfile::tempdir().expect("temp dir");
        let store = braid_store::Store::open(dir.path()).expect("open");
        store.write(set).expect("write");
        let held = store.uploads("CSC").expect("read");
        assert_eq!(held.len(), 1);
        assert_eq!((tally.key(), held[0].0), (Some(42), 42));
        let row = summary(&held[0].1).expect("decodes");
        assert_eq!((row.batches, row.accepted, row.replaced, row.involvements), (2, 3, 2, 7));
        assert_eq!(row.ended, IN_PROGRESS);
        // The tally itself counts the batch once it is answered.
        assert_eq!(tally.summary.batches, 1);
    }
}
