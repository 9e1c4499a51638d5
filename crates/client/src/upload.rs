//! An upload that survives interruptions: the whole stream is sent again
//! after a transient failure, and the batches the node already holds are
//! answered from its stored acknowledgements, so a retry never stores
//! anything twice and the summary counts every record once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use braid_proto::v1;
use tonic::Code;

use crate::connect::{self, NodeArgs};

/// Totals over an upload.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UploadSummary {
    /// Records written new.
    pub accepted: u64,
    /// Records that replaced earlier versions.
    pub replaced: u64,
    /// Records the node already held unchanged.
    pub unchanged: u64,
    /// Batches answered from the node's stored acknowledgements.
    pub replayed_batches: u64,
    /// The records in those batches, stored by an earlier attempt, by what
    /// that attempt did with them as its acknowledgements said: (new,
    /// replaced, unchanged).
    pub earlier: (u64, u64, u64),
    /// Records refused.
    pub rejections: Vec<v1::Rejection>,
    /// Attempts it took.
    pub attempts: u32,
}

impl UploadSummary {
    /// Records an earlier attempt had stored (see [`UploadSummary::earlier`]).
    pub fn already_stored(&self) -> u64 {
        self.earlier.0 + self.earlier.1 + self.earlier.2
    }

    /// Records acknowledged, however they were acknowledged: the number
    /// sent once the upload has succeeded.
    pub fn acknowledged(&self) -> u64 {
        self.accepted + self.replaced + self.unchanged + self.already_stored() + self.rejections.len() as u64
    }
}

/// What an upload in progress reports, for a progress bar or a log.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadEvent {
    /// An attempt starts sending from the first batch.
    Attempt,
    /// A batch of this many records was acknowledged.
    Acknowledged(u64),
    /// The attempt was interrupted; the next starts after `delay`.
    Retrying {
        /// Why, in words (no identifier or pseudonym).
        reason: String,
        /// How long until the next attempt.
        delay: Duration,
    },
}

enum Failure {
    Retryable(String),
    Final(anyhow::Error),
}

fn classify(status: tonic::Status) -> Failure {
    if connect::certificate_problem(&status).is_some() {
        // Retrying cannot mend a refused certificate.
        return Failure::Final(connect::refused_to(&status, "the node refused the upload"));
    }
    match status.code() {
        Code::Unavailable | Code::Unknown | Code::Aborted | Code::Cancelled | Code::DeadlineExceeded | Code::Internal => {
            Failure::Retryable(status.message().to_owned())
        }
        _ => Failure::Final(anyhow::anyhow!("the node refused the upload: {}", status.message())),
    }
}

async fn upload_once(
    node: &NodeArgs,
    batches: &Arc<Vec<v1::UploadBatch>>,
    summary: &mut UploadSummary,
    acked: &mut usize,
    events: &mut (dyn FnMut(UploadEvent) + Send),
) -> Result<(), Failure> {
    let (endpoint, identify) = connect::endpoint(node).map_err(Failure::Final)?;
    let channel = endpoint.connect().await.map_err(|error| match connect::certificate_problem(&error) {
        Some(_) => Failure::Final(connect::unreachable(node, &error)),
        None => Failure::Retryable(format!("cannot reach the node at {}: {}", node.node, connect::root_cause(&error))),
    })?;
    let mut client = crate::ingest_over(tonic::service::interceptor::InterceptedService::new(channel, identify));
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    // Each batch is copied only as it is sent (a few at most are in flight:
    // two in the channel, one waiting to enter it, one being encoded), so an
    // attempt holds no second copy of the upload.
    let to_send = Arc::clone(batches);
    tokio::spawn(async move {
        for batch in to_send.iter() {
            if sender.send(batch.clone()).await.is_err() {
                return;
            }
        }
    });
    events(UploadEvent::Attempt);
    let mut responses = client.upload(tokio_stream::wrappers::ReceiverStream::new(receiver)).await.map_err(classify)?.into_inner();
    let mut round = UploadSummary::default();
    while let Some(ack) = responses.message().await.map_err(classify)? {
        let size = batches.get(ack.sequence as usize).map_or(0, |b| b.records.len() as u64);
        if ack.replayed {
            round.replayed_batches += 1;
            round.earlier.0 += u64::from(ack.accepted);
            round.earlier.1 += u64::from(ack.replaced);
            round.earlier.2 += u64::from(ack.unchanged);
        } else {
            round.accepted += u64::from(ack.accepted);
            round.replaced += u64::from(ack.replaced);
            round.unchanged += u64::from(ack.unchanged);
        }
        round.rejections.extend(ack.rejections);
        *acked += 1;
        events(UploadEvent::Acknowledged(size));
    }
    if *acked != batches.len() {
        return Err(Failure::Retryable(format!("the node acknowledged {acked} of {} batches", batches.len())));
    }
    round.attempts = summary.attempts;
    *summary = round;
    Ok(())
}

/// Uploads records in batches of `batch_size` under `header` (the records
/// are moved into the batches, not copied), sending the
/// whole stream again after transient failures. It gives up after
/// `retries` + 1 failed attempts in a row that got no further than the best
/// attempt before them (batches are acknowledged in order, so "further" is
/// more batches acknowledged, stored now or earlier); an upload that keeps
/// getting further is not given up on, and since no attempt can get further
/// than the last batch, it always ends. `events` hears of each attempt,
/// acknowledged batch and retry.
pub async fn upload(
    node: &NodeArgs,
    header: &v1::UploadHeader,
    records: Vec<v1::CaseRecord>,
    batch_size: usize,
    retries: u32,
    events: &mut (dyn FnMut(UploadEvent) + Send),
) -> Result<UploadSummary> {
    let batches = Arc::new(into_batches(header, records, batch_size));
    let mut summary = UploadSummary::default();
    let mut delay = Duration::from_millis(200);
    let mut failures_in_a_row = 0u32;
    // The most batches any attempt has had acknowledged.
    let mut furthest = 0;
    loop {
        summary.attempts += 1;
        let mut acked = 0;
        let outcome = upload_once(node, &batches, &mut summary, &mut acked, events).await;
        if acked > furthest {
            furthest = acked;
            failures_in_a_row = 0;
            delay = Duration::from_millis(200);
        }
        match outcome {
            Ok(()) => return Ok(summary),
            Err(Failure::Final(error)) => return Err(error),
            Err(Failure::Retryable(reason)) => {
                failures_in_a_row += 1;
                if failures_in_a_row > retries {
                    bail!("{reason}; gave up after {} attempts in a row without progress (is braid-node running at {}?)", failures_in_a_row, node.node);
                }
                events(UploadEvent::Retrying { reason, delay });
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Most bytes one batch's records take when encoded: a batch ends before
/// this even short of `batch_size` records, so an extract of very large
/// records never sends a message past what a node reads (never less than
/// 1 MiB, whatever its batch limit; ordinary records are under 2 KiB).
pub const MAX_BATCH_BYTES: usize = 960 * 1024;

/// The records in batches of `batch_size` (at least 1) and at most
/// [`MAX_BATCH_BYTES`] (a record larger than that goes alone), the header
/// on the first; one batch with the header alone when there are no
/// records. The same records and size always give the same batches, so a
/// resumed upload's batches are the first attempt's.
fn into_batches(header: &v1::UploadHeader, records: Vec<v1::CaseRecord>, batch_size: usize) -> Vec<v1::UploadBatch> {
    use prost::Message;
    let batch_size = batch_size.max(1);
    let mut batches: Vec<v1::UploadBatch> = Vec::new();
    let mut chunk: Vec<v1::CaseRecord> = Vec::new();
    let mut bytes = 0;
    let close = |chunk: &mut Vec<v1::CaseRecord>, batches: &mut Vec<v1::UploadBatch>| {
        let sequence = batches.len() as u32;
        batches.push(v1::UploadBatch { header: (sequence == 0).then(|| header.clone()), sequence, records: std::mem::take(chunk) });
    };
    for record in records {
        let size = record.encoded_len();
        if !chunk.is_empty() && (chunk.len() >= batch_size || bytes + size > MAX_BATCH_BYTES) {
            close(&mut chunk, &mut batches);
            bytes = 0;
        }
        bytes += size;
        chunk.push(record);
    }
    if !chunk.is_empty() || batches.is_empty() {
        close(&mut chunk, &mut batches);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<v1::CaseRecord> {
        (0..n).map(|i| v1::CaseRecord { record_ref: format!("r{i}"), ..Default::default() }).collect()
    }

    #[test]
    fn batches_hold_every_record_once_in_order() {
        let header = v1::UploadHeader { agency: "CSC".to_owned(), ..Default::default() };
        for (n, size, expected) in [(0, 3, vec![0]), (1, 3, vec![1]), (3, 3, vec![3]), (7, 3, vec![3, 3, 1]), (2, 0, vec![1, 1])] {
            let batches = into_batches(&header, records(n), size);
            assert_eq!(batches.iter().map(|b| b.records.len()).collect::<Vec<_>>(), expected, "{n} records in batches of {size}");
            assert!(batches.iter().enumerate().all(|(i, b)| b.sequence == i as u32 && b.header.is_some() == (i == 0)));
            let refs: Vec<String> = batches.into_iter().flat_map(|b| b.records).map(|r| r.record_ref).collect();
            assert_eq!(refs, (0..n).map(|i| format!("r{i}")).collect::<Vec<_>>());
        }
        // Records so large that 500 of them would pass what a node reads go
        // in smaller batches, each under the byte bound.
        let big = |i: usize| v1::CaseRecord {
            record_ref: format!("r{i}"),
            involvements: vec![v1::Involvement { person_ref: "p".repeat(128), ..Default::default() }; 5_000],
            ..Default::default()
        };
        let batches = into_batches(&header, (0..40).map(big).collect(), 500);
        assert!(batches.len() > 1, "{} batches", batches.len());
        assert!(batches.iter().all(|b| prost::Message::encoded_len(b) <= MAX_BATCH_BYTES + 64 * 1024), "under the bound");
        assert_eq!(batches.iter().map(|b| b.records.len()).sum::<usize>(), 40);
    }
}
