//! Conversions between the API's messages and the node's own types.

use braid_proto::v1;
use braid_store::{StoredAck, StoredItemsHeld, StoredRejection, StoredUploadSummary};

/// A batch's answer as the API sends it.
pub(crate) fn batch_ack(ack: StoredAck) -> v1::BatchAck {
    v1::BatchAck {
        sequence: ack.sequence,
        accepted: ack.accepted,
        replaced: ack.replaced,
        unchanged: ack.unchanged,
        rejections: ack.rejections.into_iter().map(rejection).collect(),
        replayed: ack.replayed,
        involvements: ack.involvements,
    }
}

/// A refused record as the API reports it.
pub(crate) fn rejection(rejection: StoredRejection) -> v1::Rejection {
    v1::Rejection { source_row: rejection.source_row, field: rejection.field, reason: rejection.reason }
}

/// An upload header's declaration of the items the agency's system holds.
pub(crate) fn items_held(held: v1::ItemsHeld) -> StoredItemsHeld {
    StoredItemsHeld { in_categories: held.in_categories, in_free_text: held.in_free_text, not_held: held.not_held }
}

/// An agency's uploads, newest first, as the API answers.
pub(crate) fn agency_uploads(agency: String, uploads: Vec<StoredUploadSummary>) -> v1::AgencyUploadsResponse {
    let uploads = uploads
        .into_iter()
        .map(|upload| v1::UploadSummary {
            submission_id: upload.submission_id,
            finished_ms: upload.finished_ms,
            batches: upload.batches,
            accepted: upload.accepted,
            replaced: upload.replaced,
            unchanged: upload.unchanged,
            rejected: upload.rejected,
            already_stored: upload.already_stored,
            involvements: upload.involvements,
            ended: upload.ended,
            rejections: upload.rejections.into_iter().map(rejection).collect(),
            items_held: upload.items_held.map(|held| v1::ItemsHeld {
                in_categories: held.in_categories,
                in_free_text: held.in_free_text,
                not_held: held.not_held,
            }),
        })
        .collect();
    v1::AgencyUploadsResponse { agency, uploads }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Answers were stored in the API's encoding before the node had its
    /// own: such bytes read as the same answer, and the node's answer
    /// encodes to the bytes the API's would.
    #[test]
    fn a_batch_answer_reads_and_writes_the_bytes_of_the_apis() {
        let api = v1::BatchAck {
            sequence: 7,
            accepted: 3,
            replaced: 2,
            unchanged: 1,
            rejections: vec![
                v1::Rejection { source_row: 12, field: "event_date".to_owned(), reason: "not a date".to_owned() },
                v1::Rejection { source_row: 14, field: "record_ref".to_owned(), reason: "appears twice in one batch".to_owned() },
            ],
            replayed: false,
            involvements: 9,
        };
        let stored = StoredAck::decode(api.encode_to_vec().as_slice()).expect("the API's bytes read as a stored answer");
        assert_eq!(stored.encode_to_vec(), api.encode_to_vec());
        assert_eq!(batch_ack(stored.clone()), api);
        let replayed = StoredAck { replayed: true, ..stored };
        assert_eq!(batch_ack(replayed), v1::BatchAck { replayed: true, ..api });
    }

    /// Upload summaries too were stored in the API's encoding: such bytes
    /// read as the same summary, every field, and are answered as they were.
    #[test]
    fn an_upload_summary_reads_and_writes_the_bytes_of_the_apis() {
        let api = v1::UploadSummary {
            submission_id: "sub-1".to_owned(),
            finished_ms: 1_765_000_000_000,
            batches: 4,
            accepted: 10,
            replaced: 3,
            unchanged: 2,
            rejected: 1,
            already_stored: 5,
            involvements: 17,
            ended: "interrupted".to_owned(),
            rejections: vec![v1::Rejection { source_row: 3, field: "role".to_owned(), reason: "unknown".to_owned() }],
            items_held: Some(v1::ItemsHeld {
                in_categories: vec!["victim.sex".to_owned()],
                in_free_text: vec!["victim.ethnicity".to_owned()],
                not_held: vec!["victim.disability".to_owned()],
            }),
        };
        let stored = StoredUploadSummary::decode(api.encode_to_vec().as_slice()).expect("the API's bytes read as a stored summary");
        assert_eq!(stored.encode_to_vec(), api.encode_to_vec());
        let answer = agency_uploads("CSC".to_owned(), vec![stored.clone()]);
        assert_eq!(answer, v1::AgencyUploadsResponse { agency: "CSC".to_owned(), uploads: vec![api.clone()] });
        assert_eq!(Some(items_held(api.items_held.clone().expect("declared"))), stored.items_held);
    }
}
