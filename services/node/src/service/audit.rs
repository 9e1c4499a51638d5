//! The audit service: the log, its signed checkpoints, entries and proofs,
//! for auditors only.

use super::*;

/// Implements the audit service: auditors only.
pub struct Audit {
    gate: Arc<Gate>,
}

impl Audit {
    /// Serves through `gate`.
    pub fn new(gate: Arc<Gate>) -> Audit {
        Audit { gate }
    }

    /// Admits an auditor's call; returns its audit entry.
    async fn admit<T>(&self, request: &Request<T>, action: &str) -> Result<Entry, Status> {
        self.gate.admit_request(request, action, &Action::ReadAudit).await
    }
}

/// Stored entries sent per stream message.
pub(super) const ENTRIES_PER_CHUNK: usize = 2000;
/// Most entries one log listing returns.
pub(super) const MAX_LOG_LISTING: usize = 10_000;

pub(super) type EntriesStream = Pin<Box<dyn Stream<Item = Result<v1::EntriesChunk, Status>> + Send>>;

pub(super) fn proof(hashes: Vec<braid_audit::merkle::Hash>) -> (v1::ProofResponse, Outcome) {
    let count = hashes.len() as u64;
    (v1::ProofResponse { hashes: hashes.into_iter().map(|hash| hash.to_vec()).collect() }, Outcome { touched: Vec::new(), count })
}

#[tonic::async_trait]
impl AuditService for Audit {
    type EntriesStream = EntriesStream;

    #[instrument(skip_all)]
    async fn log(&self, request: Request<v1::LogRequest>) -> Result<Response<v1::LogResponse>, Status> {
        let entry = self.admit(&request, "audit.log").await?;
        let filter = request.into_inner();
        let limit = match filter.limit {
            0 => 1000,
            n => (n as usize).min(MAX_LOG_LISTING),
        };
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || {
            let log_size = engine.audit_size()?;
            // Oldest first stops at the limit; newest first keeps the last
            // `limit` matches of the whole scan.
            let mut entries = std::collections::VecDeque::new();
            engine.for_each_audit_entry(filter.from_index, |found| {
                let wanted = (filter.principal.is_empty() || found.principal == filter.principal)
                    && (filter.action.is_empty() || found.action == filter.action)
                    && (filter.touched.is_empty() || found.touched.contains(&filter.touched))
                    && found.time_ms >= filter.since_ms
                    && (filter.until_ms == 0 || found.time_ms < filter.until_ms);
                let more = found.index.saturating_add(1) < log_size;
                if wanted {
                    entries.push_back(v1::AuditEntry {
                        index: found.index,
                        time_ms: found.time_ms,
                        principal: found.principal,
                        role: found.role,
                        action: found.action,
                        purpose: found.purpose,
                        case_reference: found.case_reference,
                        touched: found.touched,
                        result_count: found.result_count,
                        outcome: found.outcome,
                        root_after: found.root_after,
                        claimed_principal: found.claimed_principal,
                    });
                    if filter.newest_first && entries.len() > limit {
                        entries.pop_front();
                    }
                }
                more && (filter.newest_first || entries.len() < limit)
            })?;
            let entries: Vec<v1::AuditEntry> = if filter.newest_first { entries.into_iter().rev().collect() } else { entries.into() };
            Ok(v1::LogResponse { entries, log_size })
        })
        .await
        .map(|response| {
            let count = response.entries.len() as u64;
            (response, Outcome { touched: Vec::new(), count })
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn checkpoint(&self, request: Request<v1::CheckpointRequest>) -> Result<Response<v1::CheckpointResponse>, Status> {
        let entry = self.admit(&request, "audit.checkpoint").await?;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.audit_checkpoint()).await.map(|(checkpoint, public_key)| {
            let response = v1::CheckpointResponse { checkpoint: checkpoint.to_text(), public_key };
            (response, Outcome { touched: Vec::new(), count: 1 })
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn checkpoints(&self, request: Request<v1::CheckpointsRequest>) -> Result<Response<v1::CheckpointsResponse>, Status> {
        let entry = self.admit(&request, "audit.checkpoints").await?;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.audit_checkpoints()).await.map(|(checkpoints, public_key)| {
            let count = checkpoints.len() as u64;
            let response = v1::CheckpointsResponse { checkpoints: checkpoints.iter().map(braid_audit::Checkpoint::to_text).collect(), public_key };
            (response, Outcome { touched: Vec::new(), count })
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn entries(&self, request: Request<v1::EntriesRequest>) -> Result<Response<EntriesStream>, Status> {
        let entry = self.admit(&request, "audit.entries").await?;
        let range = request.into_inner();
        let engine = Arc::clone(self.gate.engine());
        let size = match blocking(move || engine.audit_size()).await {
            Ok(size) => size,
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
        // The listing ends where the log stood when it was asked for (this
        // call's own entry comes after).
        let to = if range.to_index == 0 { size } else { range.to_index.min(size) };
        let from = range.from_index.min(to);
        let engine = Arc::clone(self.gate.engine());
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let outcome = Outcome { touched: Vec::new(), count: to - from };
        let response = self.gate.finish(entry, Ok(((), outcome))).await?;
        tokio::spawn(async move {
            let mut next = from;
            while next < to {
                let engine = Arc::clone(&engine);
                let want = ((to - next) as usize).min(ENTRIES_PER_CHUNK);
                let chunk = blocking(move || engine.audit_entries(next, want)).await;
                let message = chunk.map(|stored| {
                    next = stored.last().map(|(index, _)| index + 1).unwrap_or(to).max(next + 1);
                    v1::EntriesChunk {
                        entries: stored.into_iter().filter(|(index, _)| *index < to).map(|(index, entry)| v1::StoredEntry { index, entry }).collect(),
                    }
                });
                let stop = message.is_err();
                if sender.send(message).await.is_err() || stop {
                    return;
                }
            }
        });
        let (metadata, (), extensions) = response.into_parts();
        Ok(Response::from_parts(metadata, Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver)) as EntriesStream, extensions))
    }

    #[instrument(skip_all)]
    async fn inclusion_proof(&self, request: Request<v1::InclusionProofRequest>) -> Result<Response<v1::ProofResponse>, Status> {
        let entry = self.admit(&request, "audit.prove-inclusion").await?;
        let asked = request.into_inner();
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.audit_inclusion_proof(asked.index, asked.size)).await.map(proof);
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn consistency_proof(&self, request: Request<v1::ConsistencyProofRequest>) -> Result<Response<v1::ProofResponse>, Status> {
        let entry = self.admit(&request, "audit.prove-consistency").await?;
        let asked = request.into_inner();
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.audit_consistency_proof(asked.old_size, asked.new_size)).await.map(proof);
        self.gate.finish(entry, result).await
    }
}
