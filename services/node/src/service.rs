//! The gRPC adapters: protobuf in, engine calls, protobuf out. Blocking
//! engine work (synced RocksDB writes) runs on the blocking pool. Every
//! call is authorised and audited through the [`Gate`]; an answer leaves
//! only after its audit entry is durable.

use std::pin::Pin;
use std::sync::Arc;

use std::collections::BTreeMap;

use braid_access::Action;
use braid_audit::Entry;
use braid_proto::v1::{
    self, admin_service_server::AdminService, audit_service_server::AuditService, ingest_service_server::IngestService, panel_service_server::PanelService,
};
use futures::Stream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, instrument, warn};

use crate::audit::AuditError;
use crate::engine::{EngineError, ExplainSubject, LinkExplanation, Submission};
use crate::gate::{with_receipt, Caller, Gate, Outcome};
use crate::panel::{PanelSubject, Population};

/// Maps engine errors to gRPC status codes, one arm per variant.
pub(crate) fn status(error: EngineError) -> Status {
    match error {
        EngineError::EpochMismatch { .. } | EngineError::Rotation(_) | EngineError::Busy(_) => Status::failed_precondition(error.to_string()),
        EngineError::InvalidRequest(_) => Status::invalid_argument(error.to_string()),
        EngineError::NotFound(_) => Status::not_found(error.to_string()),
        EngineError::Refused(_) => Status::permission_denied(error.to_string()),
        EngineError::Storage(_) | EngineError::Audit(AuditError::Storage(_) | AuditError::Write(_)) => {
            warn!(error = %error, "storage failure");
            Status::unavailable("the node's store failed (its log says how); nothing of this call was applied, retry")
        }
        EngineError::Audit(AuditError::Stopped) => Status::unavailable(error.to_string()),
        EngineError::DiskFull(_) => Status::resource_exhausted(error.to_string()),
        EngineError::Backup(_) => {
            warn!(error = %error, "backup failed");
            Status::unavailable(error.to_string())
        }
        EngineError::Audit(AuditError::ReadOnly(_)) => Status::failed_precondition(error.to_string()),
        EngineError::Audit(AuditError::TooFew(_)) => Status::not_found(error.to_string()),
        EngineError::Audit(AuditError::Unprovable(_)) => Status::invalid_argument(error.to_string()),
        EngineError::Poisoned
        | EngineError::Internal(_)
        | EngineError::Open { .. }
        | EngineError::NotAStore(_)
        | EngineError::NoRoom(_)
        | EngineError::Audit(AuditError::Start(_) | AuditError::KeyGeneration(_) | AuditError::Broken(_) | AuditError::Missing | AuditError::Poisoned) => {
            warn!(error = %error, "internal failure");
            Status::internal(error.to_string())
        }
    }
}

pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, EngineError> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(work).await.map_err(|_| Status::internal("a worker task failed"))?.map_err(status)
}

/// Implements the ingest service.
pub struct Ingest {
    gate: Arc<Gate>,
}

impl Ingest {
    /// Serves through `gate`.
    pub fn new(gate: Arc<Gate>) -> Ingest {
        Ingest { gate }
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<v1::BatchAck, Status>> + Send>>;
type ClusterStream = Pin<Box<dyn Stream<Item = Result<v1::ClusterRow, Status>> + Send>>;

fn submission_from(header: v1::UploadHeader) -> Result<Submission, Status> {
    let valid_code = |code: &str| !code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_code(&header.agency) {
        return Err(Status::invalid_argument("header.agency must be 1 to 64 letters, digits, '-' or '_'"));
    }
    if !crate::rotation::is_epoch_fingerprint(&header.epoch_fingerprint) {
        return Err(Status::invalid_argument("header.epoch_fingerprint must be an epoch fingerprint as `braid keys` writes it (e<epoch>-<16 hex digits>)"));
    }
    if header.submission_id.is_empty() || header.submission_id.len() > 128 || !header.submission_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Status::invalid_argument("header.submission_id must be 1 to 128 characters, each a letter, digit or punctuation mark"));
    }
    if !header.bridge_epoch_fingerprint.is_empty() && !crate::rotation::is_epoch_fingerprint(&header.bridge_epoch_fingerprint) {
        return Err(Status::invalid_argument("header.bridge_epoch_fingerprint must be empty or an epoch fingerprint (e<epoch>-<16 hex digits>)"));
    }
    Ok(Submission {
        agency: header.agency,
        agency_type: header.agency_type,
        epoch: header.epoch_fingerprint,
        bridge_epoch: Some(header.bridge_epoch_fingerprint).filter(|fingerprint| !fingerprint.is_empty()),
        submission_id: header.submission_id,
    })
}

/// Checks and admits an upload's header under the policy, with the
/// agency's configured type and one of the caller's upload slots. Returns
/// the submission, its items-held declaration and the slot.
async fn admit_header(
    gate: &Gate,
    caller: &Caller,
    mut header: v1::UploadHeader,
) -> Result<(Submission, Option<braid_store::StoredItemsHeld>, crate::gate::UploadSlot), Status> {
    let entry = caller.entry("ingest.upload");
    let items_held = header.items_held.take().map(crate::wire::items_held);
    let checked = match items_held.as_ref().map(crate::uploads::check_items_held) {
        Some(Err(reason)) => Err(Status::invalid_argument(reason)),
        _ => submission_from(header),
    };
    let mut parsed = match checked {
        Ok(parsed) => gate.admit(caller, &Action::Upload { agency: &parsed.agency }, &entry).await.map(|()| parsed)?,
        Err(status) => {
            gate.record_failure(entry, &status).await;
            return Err(status);
        }
    };
    parsed.agency_type = gate.agency_type(&parsed.agency, &parsed.agency_type)?;
    // One more open upload of this principal, within its limit.
    let slot = gate.upload_slot(caller)?;
    Ok((parsed, items_held, slot))
}

/// Admits one more batch of an open upload: the policy may have changed (a
/// SIGHUP revoking the principal) since the stream was admitted, so every
/// batch is admitted again under the policy in force; and a stopping node
/// takes no more (what is acknowledged stays, and the client resumes from
/// there when the node is back). A refusal comes with how the upload ended.
async fn admit_batch(gate: &Gate, caller: &Caller, agency: &str) -> Result<Caller, (Status, String)> {
    let caller = gate.refresh(caller);
    if let Err(status) = gate.admit(&caller, &Action::Upload { agency }, &caller.entry("ingest.upload")).await {
        let ended = format!("refused: {}", status.message());
        return Err((status, ended));
    }
    if gate.stopping() {
        let status = Status::unavailable("the node is shutting down; the upload resumes where it stopped once the node is back");
        return Err((status, "interrupted".to_owned()));
    }
    Ok(caller)
}

/// What follows an upload stream's end. Decisions made before the model
/// was fitted (`to_settle`: the upload's new involvements, when it began
/// before the first fit) are made again with it, whole upload or not: an
/// interrupted upload's resumption may start after the fit and would leave
/// them as they were. Not while the node stops. A completed upload's stream
/// ends only after; an upload that ended otherwise is put in the agency's
/// history, and gives back its place, first, so that its resumption is not
/// held up.
#[allow(clippy::too_many_arguments)]
async fn end_upload(
    gate: &Gate,
    caller: &Caller,
    submission: Option<&Submission>,
    tally: crate::uploads::UploadTally,
    ended: &str,
    to_settle: Option<Vec<u64>>,
    slot: Option<crate::gate::UploadSlot>,
    sender: &tokio::sync::mpsc::Sender<Result<v1::BatchAck, Status>>,
) {
    let completed = ended == "completed";
    let mut tally = Some(tally);
    if !completed {
        note_upload(gate, submission, tally.take().unwrap_or_default(), ended).await;
        drop(slot);
    }
    if let Some(added) = to_settle.filter(|_| !gate.stopping()) {
        let engine = Arc::clone(gate.engine());
        let entry = caller.entry("ingest.settle");
        let failed_entry = caller.entry("ingest.settle");
        match blocking(move || engine.settle(&added, entry)).await {
            Ok((count, audit_entry)) => info!(involvements = count, audit_entry, "upload settled"),
            Err(status) => {
                gate.record_failure(failed_entry, &status).await;
                let _ = sender.send(Err(status)).await;
            }
        }
    }
    if let Some(tally) = tally {
        note_upload(gate, submission, tally, ended).await;
    }
}

/// Whether a refusal says the caller may no longer upload (its rights
/// were revoked part way): what it sent before is not settled for it.
fn takes_rights_away(status: &Status) -> bool {
    matches!(status.code(), tonic::Code::PermissionDenied | tonic::Code::Unauthenticated)
}

/// Keeps what an upload did in its agency's history (nothing for an upload
/// that applied no batch).
async fn note_upload(gate: &Gate, submission: Option<&Submission>, tally: crate::uploads::UploadTally, ended: &str) {
    let Some(current) = submission.filter(|_| !tally.is_empty()) else { return };
    let engine = Arc::clone(gate.engine());
    let (agency, ended) = (current.agency.clone(), ended.to_owned());
    if let Err(status) = blocking(move || engine.note_upload(&agency, tally, &ended)).await {
        warn!(code = ?status.code(), "the upload's summary was not kept");
    }
}

/// Applies one batch of an admitted upload in its turn, counted in the
/// metrics and logged. Returns the acknowledgement and the new
/// involvements' ids; a refusal of the engine's is audited.
async fn apply_upload_batch(
    gate: &Gate,
    caller: &Caller,
    current: Submission,
    sequence: u32,
    records: Vec<v1::CaseRecord>,
    tally: &mut crate::uploads::UploadTally,
) -> Result<(braid_store::StoredAck, Vec<u64>), Status> {
    let engine = Arc::clone(gate.engine());
    let count = records.len();
    let mut entry = caller.entry("ingest.upload");
    // A record moving to a new key epoch also removes the one
    // stored under its previous ref.
    entry.touched =
        records.iter().flat_map(|record| std::iter::once(&record.record_ref).chain(Some(&record.previous_ref).filter(|r| !r.is_empty()))).cloned().collect();
    let failed_entry = caller.entry("ingest.upload");
    let turn = gate.batch_turn().await?;
    let agency = current.agency.clone();
    let started = std::time::Instant::now();
    // The key the upload's summary is kept under, set aside at its first
    // batch (see `UploadRow`).
    let result = async {
        let key = match tally.key() {
            Some(key) => key,
            None => {
                let (engine, agency) = (Arc::clone(&engine), agency.clone());
                blocking(move || engine.upload_key(&agency)).await?
            }
        };
        let row = tally.row(key);
        blocking(move || engine.apply_upload_batch(&current, sequence, crate::record::incoming_batch(records), entry, row)).await
    }
    .await;
    drop(turn);
    match result {
        Ok((ack, audit_entry, ids)) => {
            if ack.replayed {
                gate.metrics().replayed(&agency);
                info!(sequence, records = count, audit_entry, "batch re-sent: answered from its stored acknowledgement, nothing applied");
            } else {
                gate.metrics().batch(&agency, count as u64, u64::from(ack.involvements), started.elapsed().as_secs_f64());
                info!(
                    sequence,
                    records = count,
                    new = ack.accepted,
                    replaced = ack.replaced,
                    unchanged = ack.unchanged,
                    rejected = ack.rejections.len(),
                    audit_entry,
                    "batch applied"
                );
            }
            Ok((ack, ids))
        }
        Err(status) => {
            gate.record_failure(failed_entry, &status).await;
            Err(status)
        }
    }
}

#[tonic::async_trait]
impl IngestService for Ingest {
    type UploadStream = AckStream;

    #[instrument(skip_all)]
    async fn upload(&self, request: Request<Streaming<v1::UploadBatch>>) -> Result<Response<AckStream>, Status> {
        let caller = self.gate.caller(&request);
        let mut incoming = request.into_inner();
        let gate = Arc::clone(&self.gate);
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut submission: Option<Submission> = None;
            let mut added: Vec<u64> = Vec::new();
            // An upload that starts before the linkage model's first fit is
            // decided with its starting values; it is settled at the end.
            let mut settle = false;
            // Held while the stream is open.
            let mut slot: Option<crate::gate::UploadSlot> = None;
            // Set when the caller lost the right to upload part way.
            let mut revoked = false;
            let mut tally = crate::uploads::UploadTally::default();
            let ended: String = 'stream: {
                while let Some(batch) = incoming.next().await {
                    let batch = match batch {
                        Ok(batch) => batch,
                        Err(error) => {
                            info!(code = ?error.code(), "upload stream ended by the client");
                            break 'stream "interrupted".to_owned();
                        }
                    };
                    if let Some(header) = batch.header {
                        match admit_header(&gate, &caller, header).await {
                            Ok((parsed, items_held, upload_slot)) => {
                                slot = Some(upload_slot);
                                // Kept only once checked and admitted.
                                tally.set_items_held(items_held);
                                submission = Some(parsed);
                                settle |= !gate.engine().model_fitted().unwrap_or(true);
                            }
                            Err(status) => {
                                revoked |= takes_rights_away(&status);
                                let ended = format!("refused: {}", status.message());
                                let _ = sender.send(Err(status)).await;
                                break 'stream ended;
                            }
                        }
                    }
                    let Some(current) = submission.clone() else {
                        let status = Status::invalid_argument("the first batch must carry the upload header");
                        gate.record_failure(caller.entry("ingest.upload"), &status).await;
                        let _ = sender.send(Err(status)).await;
                        break 'stream "refused: no upload header".to_owned();
                    };
                    let caller = match admit_batch(&gate, &caller, &current.agency).await {
                        Ok(caller) => caller,
                        Err((status, ended)) => {
                            revoked = takes_rights_away(&status);
                            let _ = sender.send(Err(status)).await;
                            break 'stream ended;
                        }
                    };
                    let submission_id = current.submission_id.clone();
                    match apply_upload_batch(&gate, &caller, current, batch.sequence, batch.records, &mut tally).await {
                        Ok((ack, ids)) => {
                            added.extend(ids);
                            tally.add(&submission_id, &ack);
                            if sender.send(Ok(crate::wire::batch_ack(ack))).await.is_err() {
                                break 'stream "interrupted".to_owned();
                            }
                        }
                        Err(status) => {
                            let ended = format!("refused: {}", status.message());
                            let _ = sender.send(Err(status)).await;
                            break 'stream ended;
                        }
                    }
                }
                "completed".to_owned()
            };
            let settle = settle && !added.is_empty() && !revoked;
            end_upload(&gate, &caller, submission.as_ref(), tally, &ended, settle.then_some(added), slot, &sender).await;
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))))
    }

    #[instrument(skip_all)]
    async fn withdraw(&self, request: Request<v1::WithdrawRequest>) -> Result<Response<v1::WithdrawResponse>, Status> {
        let asked = Action::Withdraw { agency: &request.get_ref().agency };
        let mut entry = self.gate.admit_request(&request, "ingest.withdraw", &asked).await?;
        let request = request.into_inner();
        if request.agency.is_empty() {
            return self.gate.finish(entry, Err(Status::invalid_argument("agency is required"))).await;
        }
        if request.record_refs.len() > MAX_WITHDRAW_REFS {
            let status = Status::invalid_argument(format!("a withdrawal names at most {MAX_WITHDRAW_REFS} record refs; send several"));
            return self.gate.finish(entry, Err(status)).await;
        }
        if let Some(index) = request.record_refs.iter().position(|r| r.trim().is_empty() || r.len() > 128) {
            let status = Status::invalid_argument(format!("record_refs[{index}] must be 1 to 128 characters"));
            return self.gate.finish(entry, Err(status)).await;
        }
        let failed_entry = entry.clone();
        entry.touched = request.record_refs.clone();
        let engine = Arc::clone(self.gate.engine());
        match blocking(move || engine.withdraw(&request.agency, &request.record_refs, entry)).await {
            Ok((withdrawn, not_found, index)) => {
                info!(withdrawn, not_found, audit_entry = index, "records withdrawn");
                Ok(with_receipt(Response::new(v1::WithdrawResponse { withdrawn, not_found }), index))
            }
            Err(status) => {
                self.gate.record_failure(failed_entry, &status).await;
                Err(status)
            }
        }
    }

    #[instrument(skip_all)]
    async fn completeness(&self, request: Request<v1::AgencyCompletenessRequest>) -> Result<Response<v1::CompletenessResponse>, Status> {
        let asked = Action::AgencyCompleteness { agency: &request.get_ref().agency };
        let entry = self.gate.admit_request(&request, "ingest.completeness", &asked).await?;
        let agency = request.into_inner().agency;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.completeness(&[agency])).await.map(|response| {
            let count = response.agencies.iter().map(|agency| agency.records).sum();
            (response, Outcome { touched: Vec::new(), count })
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn uploads(&self, request: Request<v1::AgencyUploadsRequest>) -> Result<Response<v1::AgencyUploadsResponse>, Status> {
        // The same permission as its completeness: an agency's own only.
        let asked = Action::AgencyCompleteness { agency: &request.get_ref().agency };
        let entry = self.gate.admit_request(&request, "ingest.uploads", &asked).await?;
        let agency = request.into_inner().agency;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.uploads(&agency).map(|uploads| (agency, uploads))).await.map(|(agency, uploads)| {
            let count = uploads.len() as u64;
            (crate::wire::agency_uploads(agency, uploads), Outcome { touched: Vec::new(), count })
        });
        self.gate.finish(entry, result).await
    }
}

/// Longest purpose a panel call may state, in characters.
pub const MAX_PURPOSE_CHARS: usize = 500;
/// Longest case or meeting reference, in characters.
pub const MAX_CASE_REFERENCE_CHARS: usize = 100;
/// Longest partnership name, in characters.
pub const MAX_PARTNERSHIP_CHARS: usize = 64;
/// Most record refs one withdrawal may name.
pub const MAX_WITHDRAW_REFS: usize = 10_000;

/// Implements the panel service: every call names its partnership, a
/// purpose and a case reference.
pub struct Panel {
    gate: Arc<Gate>,
    partnerships: BTreeMap<String, Vec<String>>,
}

impl Panel {
    /// Serves through `gate` for the configured partnerships (name →
    /// agency codes).
    pub fn new(gate: Arc<Gate>, partnerships: BTreeMap<String, Vec<String>>) -> Panel {
        Panel { gate, partnerships }
    }

    /// Admits a panel call: returns the partnership's agencies and the
    /// call's audit entry (with its purpose).
    async fn admit(&self, caller: &Caller, context: Option<&v1::PanelContext>, action: &str) -> Result<(Vec<String>, Entry), Status> {
        let context = context.cloned().unwrap_or_default();
        let mut entry = caller.entry(action);
        let too_long = [
            ("purpose", &context.purpose, MAX_PURPOSE_CHARS),
            ("case reference", &context.case_reference, MAX_CASE_REFERENCE_CHARS),
            ("partnership", &context.partnership, MAX_PARTNERSHIP_CHARS),
        ]
        .into_iter()
        .find(|(_, text, limit)| text.chars().count() > *limit);
        if let Some((what, _, limit)) = too_long {
            // Audited with a prefix of what was sent, never the whole of it.
            entry.purpose = context.purpose.chars().take(MAX_PURPOSE_CHARS).collect();
            entry.case_reference = context.case_reference.chars().take(MAX_CASE_REFERENCE_CHARS).collect();
            let status = Status::invalid_argument(format!("the {what} must be at most {limit} characters"));
            self.gate.record_failure(entry, &status).await;
            return Err(status);
        }
        entry.purpose = context.purpose.clone();
        entry.case_reference = context.case_reference.clone();
        // What the audit log keeps must read as what was asked (control
        // characters are shown escaped wherever it is read).
        let hidden = [("purpose", &context.purpose), ("case reference", &context.case_reference), ("partnership", &context.partnership)].into_iter().find_map(
            |(what, text)| {
                if text.chars().any(braid_template::is_invisible) {
                    Some(format!("the {what} holds invisible characters (a zero-width space, a right-to-left override, hidden tags): write it as plain text"))
                } else if !text.trim().is_empty() && !braid_template::shows_anything(text) {
                    Some(format!("the {what} shows nothing visible (only spaces, joiners or direction marks): write it as plain text"))
                } else {
                    None
                }
            },
        );
        if let Some(reason) = hidden {
            let status = Status::invalid_argument(reason);
            self.gate.record_failure(entry, &status).await;
            return Err(status);
        }
        let asked = Action::PanelQuery { partnership: &context.partnership, purpose: &context.purpose, case_reference: &context.case_reference };
        self.gate.admit(caller, &asked, &entry).await?;
        match self.partnerships.get(&context.partnership) {
            Some(agencies) => Ok((agencies.clone(), entry)),
            None => {
                let status = Status::failed_precondition(format!(
                    "this node has no partnership called `{}` in its config ([partnerships])",
                    braid_template::quote(&context.partnership)
                ));
                self.gate.record_failure(entry, &status).await;
                Err(status)
            }
        }
    }
}

fn record_subject(record: v1::RecordSubject) -> PanelSubject {
    PanelSubject::Record { agency: record.agency, record_ref: record.record_ref }
}

/// What a profile or network query asked about, for its audit entry (kept
/// also when the answer is a refusal: an auditor sees which ids were
/// tried), at most a ref's length of it.
fn asked_about(subject: &PanelSubject) -> Vec<String> {
    let asked = match subject {
        PanelSubject::Record { record_ref, .. } => record_ref,
        PanelSubject::Profile(id) => id,
    };
    vec![asked.chars().take(128).collect()]
}

fn no_subject() -> Status {
    Status::invalid_argument("give an agency and record ref, or a profile id")
}

fn aggregate<T>(answer: T, cells: usize) -> (T, Outcome) {
    (answer, Outcome { touched: Vec::new(), count: cells as u64 })
}

#[tonic::async_trait]
impl PanelService for Panel {
    #[instrument(skip_all)]
    async fn profile(&self, request: Request<v1::ProfileRequest>) -> Result<Response<v1::ProfileResponse>, Status> {
        let caller = self.gate.caller(&request);
        let request = request.into_inner();
        let (agencies, mut entry) = self.admit(&caller, request.context.as_ref(), "panel.profile").await?;
        let subject = match request.subject.ok_or_else(no_subject) {
            Ok(v1::profile_request::Subject::Record(record)) => record_subject(record),
            Ok(v1::profile_request::Subject::ProfileId(id)) => PanelSubject::Profile(id),
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
        entry.touched = asked_about(&subject);
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.panel_profile(&agencies, &subject)).await.map(|profiles| {
            info!(profiles = profiles.len(), "panel profile query");
            let outcome = Outcome { touched: profiles.iter().map(|profile| profile.profile_id.clone()).collect(), count: profiles.len() as u64 };
            (v1::ProfileResponse { profiles }, outcome)
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn signals(&self, request: Request<v1::SignalsRequest>) -> Result<Response<v1::SignalsResponse>, Status> {
        let caller = self.gate.caller(&request);
        let request = request.into_inner();
        let (agencies, entry) = self.admit(&caller, request.context.as_ref(), "panel.signals").await?;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.panel_signals(&agencies, &request)).await.map(|response| {
            info!(signals = response.signals.len(), matched = response.matched, "panel signal listing");
            // Every profile the answer names: each signal's own, and the
            // related ones it lists.
            let mut touched: Vec<String> =
                response.signals.iter().flat_map(|signal| std::iter::once(&signal.profile_id).chain(&signal.related_profiles)).cloned().collect();
            touched.sort_unstable();
            touched.dedup();
            let count = response.signals.len() as u64;
            (response, Outcome { touched, count })
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn network(&self, request: Request<v1::NetworkRequest>) -> Result<Response<v1::NetworkResponse>, Status> {
        let caller = self.gate.caller(&request);
        let request = request.into_inner();
        let (agencies, mut entry) = self.admit(&caller, request.context.as_ref(), "panel.network").await?;
        let subject = match request.subject.ok_or_else(no_subject) {
            Ok(v1::network_request::Subject::Record(record)) => record_subject(record),
            Ok(v1::network_request::Subject::ProfileId(id)) => PanelSubject::Profile(id),
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
        entry.touched = asked_about(&subject);
        let depth = match request.depth {
            0 => 2,
            d => d.min(6),
        };
        let max_people = match request.max_people {
            0 => 60,
            n => (n as usize).min(500),
        };
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.panel_network(&agencies, &subject, depth, max_people)).await.map(|response| {
            info!(people = response.nodes.len(), "panel network query");
            let touched = response.nodes.iter().filter(|node| !node.outside).map(|node| node.id.clone()).collect();
            let count = response.nodes.len() as u64;
            (response, Outcome { touched, count })
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn report(&self, request: Request<v1::ReportRequest>) -> Result<Response<v1::ReportResponse>, Status> {
        let caller = self.gate.caller(&request);
        let request = request.into_inner();
        let (agencies, entry) = self.admit(&caller, request.context.as_ref(), "panel.report").await?;
        let Some(population) = Population::parse(&request.population) else {
            let status = Status::invalid_argument("population is victims, harmers or all");
            return self.gate.finish(entry, Err(status)).await;
        };
        let engine = Arc::clone(self.gate.engine());
        let result =
            blocking(move || engine.panel_report(&agencies, &request.by, population, (request.since.as_ref(), request.until.as_ref()))).await.map(|response| {
                info!("panel report");
                let cells = response.rows.iter().map(|row| row.cells.len()).sum();
                aggregate(response, cells)
            });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn completeness(&self, request: Request<v1::CompletenessRequest>) -> Result<Response<v1::CompletenessResponse>, Status> {
        let caller = self.gate.caller(&request);
        let (agencies, entry) = self.admit(&caller, request.get_ref().context.as_ref(), "panel.completeness").await?;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.panel_completeness(&agencies)).await.map(|response| {
            info!("panel completeness report");
            let cells = response.agencies.iter().map(|agency| agency.items.len()).sum();
            aggregate(response, cells)
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn signal_counts(&self, request: Request<v1::SignalCountsRequest>) -> Result<Response<v1::SignalCountsResponse>, Status> {
        let caller = self.gate.caller(&request);
        let request = request.into_inner();
        let (agencies, entry) = self.admit(&caller, request.context.as_ref(), "panel.signal_counts").await?;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.signal_counts(&agencies, &request)).await.map(|response| {
            info!("panel signal counts");
            let cells = response.rows.iter().map(|row| row.cells.len()).sum();
            aggregate(response, cells)
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn cohort(&self, request: Request<v1::CohortRequest>) -> Result<Response<v1::CohortResponse>, Status> {
        let caller = self.gate.caller(&request);
        let request = request.into_inner();
        let (agencies, entry) = self.admit(&caller, request.context.as_ref(), "panel.cohort").await?;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.cohort(&agencies, &request)).await.map(|response| {
            info!("panel cohort outcomes");
            let cells = response.rows.len() + 2;
            aggregate(response, cells)
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn freshness(&self, request: Request<v1::FreshnessRequest>) -> Result<Response<v1::FreshnessResponse>, Status> {
        let caller = self.gate.caller(&request);
        let request = request.into_inner();
        let (agencies, entry) = self.admit(&caller, request.context.as_ref(), "panel.freshness").await?;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.freshness(&agencies, request.months)).await.map(|response| {
            info!("panel freshness");
            let cells = response.agencies.len() * 4;
            aggregate(response, cells)
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn disagreements(&self, request: Request<v1::DisagreementsRequest>) -> Result<Response<v1::DisagreementsResponse>, Status> {
        let caller = self.gate.caller(&request);
        let request = request.into_inner();
        let (agencies, entry) = self.admit(&caller, request.context.as_ref(), "panel.disagreements").await?;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.disagreements(&agencies, &request)).await.map(|response| {
            info!("panel disagreements");
            let cells = response.rows.len();
            aggregate(response, cells)
        });
        self.gate.finish(entry, result).await
    }

    #[instrument(skip_all)]
    async fn interconnectedness(&self, request: Request<v1::InterconnectednessRequest>) -> Result<Response<v1::InterconnectednessResponse>, Status> {
        let caller = self.gate.caller(&request);
        let (agencies, entry) = self.admit(&caller, request.get_ref().context.as_ref(), "panel.interconnectedness").await?;
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || engine.interconnectedness(&agencies)).await.map(|response| {
            info!("panel interconnectedness report");
            let cells = response.rows.iter().map(|row| row.cells.len()).sum();
            aggregate(response, cells)
        });
        self.gate.finish(entry, result).await
    }
}

mod admin;
mod audit;

pub use admin::Admin;
pub use audit::Audit;
