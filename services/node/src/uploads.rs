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

/// What one upload stream did, batch by batch.
#[derive(Debug, Default)]
pub struct UploadTally {
    summary: StoredUploadSummary,
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
        // A note is not worth meeting a full disk for.
        self.space.refresh()?;
        let _one_at_a_time = self.uploads_noted.lock().map_err(|_| EngineError::Poisoned)?;
        let held = self.store.uploads(agency)?;
        // Times are the keys: strictly increasing per agency.
        let time = crate::audit::now_ms().max(held.last().map_or(0, |(time, _)| time + 1));
        let mut summary = tally.summary;
        summary.finished_ms = time;
        summary.ended = ended.chars().take(MOST_ENDED).collect();
        let mut set = braid_store::WriteSet::new();
        set.put_upload(agency, time, summary.encode_to_vec());
        for (old, _) in held.iter().take((held.len() + 1).saturating_sub(KEPT)) {
            set.delete_upload(agency, *old);
        }
        self.store.write(set)?;
        Ok(())
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

/// A stored upload summary.
fn summary(bytes: &[u8]) -> Result<StoredUploadSummary, braid_store::Error> {
    StoredUploadSummary::decode(bytes).map_err(|_| braid_store::Error::Corrupt("upload summary"))
}
