//! Conversions from the node's own types to the API's messages.

use braid_proto::v1;
use braid_store::{StoredAck, StoredRejection};

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
}
