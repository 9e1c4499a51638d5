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

use crate::engine::{EngineError, ExplainSubject, LinkExplanation, Submission};
use crate::gate::{with_receipt, Caller, Gate, Outcome};
use crate::panel::{PanelSubject, Population};

/// Maps engine errors to gRPC status codes, one arm per variant.
pub(crate) fn status(error: EngineError) -> Status {
    match error {
        EngineError::EpochMismatch { .. } | EngineError::Rotation(_) => Status::failed_precondition(error.to_string()),
        EngineError::InvalidRequest(_) => Status::invalid_argument(error.to_string()),
        EngineError::NotFound(_) => Status::not_found(error.to_string()),
        EngineError::Refused(_) => Status::permission_denied(error.to_string()),
        EngineError::Storage(_) => {
            warn!(error = %error, "storage failure");
            Status::unavailable("the node could not store the batch; nothing of it was applied, retry")
        }
        EngineError::DiskFull(_) => Status::resource_exhausted(error.to_string()),
        EngineError::Poisoned | EngineError::AuditBroken(_) | EngineError::Open(_) => Status::internal(error.to_string()),
        EngineError::AuditOnly(_) => Status::failed_precondition(error.to_string()),
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
    if header.epoch_fingerprint.is_empty() || header.epoch_fingerprint.len() > 128 {
        return Err(Status::invalid_argument("header.epoch_fingerprint must be 1 to 128 characters"));
    }
    if header.submission_id.is_empty() || header.submission_id.len() > 128 {
        return Err(Status::invalid_argument("header.submission_id must be 1 to 128 characters"));
    }
    if header.bridge_epoch_fingerprint.len() > 128 {
        return Err(Status::invalid_argument("header.bridge_epoch_fingerprint must be at most 128 characters"));
    }
    Ok(Submission {
        agency: header.agency,
        agency_type: header.agency_type,
        epoch: header.epoch_fingerprint,
        bridge_epoch: Some(header.bridge_epoch_fingerprint).filter(|fingerprint| !fingerprint.is_empty()),
        submission_id: header.submission_id,
    })
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
                    if let Some(mut header) = batch.header {
                        let entry = caller.entry("ingest.upload");
                        let items_held = header.items_held.take();
                        let checked = match items_held.as_ref().map(crate::uploads::check_items_held) {
                            Some(Err(reason)) => Err(Status::invalid_argument(reason)),
                            _ => submission_from(header),
                        };
                        let admitted = match checked {
                            Ok(parsed) => gate.admit(&caller, &Action::Upload { agency: &parsed.agency }, &entry).await.map(|()| parsed),
                            Err(status) => {
                                gate.record_failure(entry, &status).await;
                                Err(status)
                            }
                        };
                        let admitted = admitted.and_then(|mut parsed| {
                            parsed.agency_type = gate.agency_type(&parsed.agency, &parsed.agency_type)?;
                            // One more open upload of this principal, within its limit.
                            slot = Some(gate.upload_slot(&caller)?);
                            Ok(parsed)
                        });
                        match admitted {
                            Ok(parsed) => {
                                // Kept only once checked and admitted.
                                tally.set_items_held(items_held);
                                submission = Some(parsed);
                                settle = !gate.engine().model_fitted().unwrap_or(true);
                            }
                            Err(status) => {
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
                    // The policy may have changed (a SIGHUP revoking this
                    // principal) since the stream was admitted: every batch is
                    // admitted again under the policy in force.
                    let caller = gate.refresh(&caller);
                    if let Err(status) = gate.admit(&caller, &Action::Upload { agency: &current.agency }, &caller.entry("ingest.upload")).await {
                        let ended = format!("refused: {}", status.message());
                        let _ = sender.send(Err(status)).await;
                        break 'stream ended;
                    }
                    let engine = Arc::clone(gate.engine());
                    let sequence = batch.sequence;
                    let records = batch.records;
                    let count = records.len();
                    let mut entry = caller.entry("ingest.upload");
                    // A record moving to a new key epoch also removes the one
                    // stored under its previous ref.
                    entry.touched = records
                        .iter()
                        .flat_map(|record| std::iter::once(&record.record_ref).chain(Some(&record.previous_ref).filter(|r| !r.is_empty())))
                        .cloned()
                        .collect();
                    let failed_entry = caller.entry("ingest.upload");
                    let turn = match gate.batch_turn().await {
                        Ok(turn) => turn,
                        Err(status) => {
                            let ended = format!("refused: {}", status.message());
                            let _ = sender.send(Err(status)).await;
                            break 'stream ended;
                        }
                    };
                    let agency = current.agency.clone();
                    let submission_id = current.submission_id.clone();
                    let started = std::time::Instant::now();
                    let result = blocking(move || engine.apply_batch_ids(&current, sequence, records, entry)).await;
                    drop(turn);
                    match result {
                        Ok((ack, audit_entry, ids)) => {
                            gate.metrics().batch(&agency, count as u64, u64::from(ack.involvements), started.elapsed().as_secs_f64());
                            added.extend(ids);
                            info!(
                                sequence,
                                records = count,
                                accepted = ack.accepted,
                                rejected = ack.rejections.len(),
                                replayed = ack.replayed,
                                audit_entry,
                                "batch applied"
                            );
                            tally.add(&submission_id, &ack);
                            if sender.send(Ok(ack)).await.is_err() {
                                break 'stream "interrupted".to_owned();
                            }
                        }
                        Err(status) => {
                            let ended = format!("refused: {}", status.message());
                            gate.record_failure(failed_entry, &status).await;
                            let _ = sender.send(Err(status)).await;
                            break 'stream ended;
                        }
                    }
                }
                "completed".to_owned()
            };
            // The whole upload is in: decisions made before the model was
            // fitted are made again with it. The client's stream ends only
            // after.
            if settle && !added.is_empty() && ended == "completed" {
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
            // What this upload did, for the agency's own history.
            if let Some(current) = submission.as_ref().filter(|_| !tally.is_empty()) {
                let engine = Arc::clone(gate.engine());
                let agency = current.agency.clone();
                if let Err(status) = blocking(move || engine.note_upload(&agency, tally, &ended)).await {
                    warn!(code = ?status.code(), "the upload's summary was not kept");
                }
            }
            drop(slot);
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
        let result = blocking(move || engine.uploads(&agency)).await.map(|response| {
            let count = response.uploads.len() as u64;
            (response, Outcome { touched: Vec::new(), count })
        });
        self.gate.finish(entry, result).await
    }
}

/// Implements the admin service.
pub struct Admin {
    gate: Arc<Gate>,
    backups_dir: Option<std::path::PathBuf>,
    retention: Arc<crate::retention::RetentionSettings>,
}

impl Admin {
    /// Serves through `gate`, writing backups under `backups_dir`.
    pub fn new(gate: Arc<Gate>, backups_dir: Option<std::path::PathBuf>) -> Admin {
        Admin { gate, backups_dir, retention: Arc::default() }
    }

    /// Applies `settings` when asked for a retention sweep.
    pub fn with_retention(mut self, settings: Arc<crate::retention::RetentionSettings>) -> Admin {
        self.retention = settings;
        self
    }

    /// Admits an administrative call; returns its audit entry.
    async fn admit<T>(&self, request: &Request<T>, action: &str) -> Result<Entry, Status> {
        self.gate.admit_request(request, action, &Action::Administer).await
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    type ExportClustersStream = ClusterStream;

    #[instrument(skip_all)]
    async fn export_clusters(&self, request: Request<v1::ExportClustersRequest>) -> Result<Response<ClusterStream>, Status> {
        let entry = self.admit(&request, "admin.export-clusters").await?;
        let engine = Arc::clone(self.gate.engine());
        let rows = match blocking(move || engine.clusters()).await {
            Ok(rows) => rows,
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
        info!(rows = rows.len(), "clusters exported");
        let outcome = Outcome { touched: Vec::new(), count: rows.len() as u64 };
        let stream = tokio_stream::iter(rows.into_iter().map(|row| {
            Ok(v1::ClusterRow {
                agency: row.agency,
                record_ref: row.record_ref,
                person_ref: row.person_ref,
                role: row.role,
                profile_id: row.profile_id,
                identified: row.identified,
            })
        }));
        self.gate.finish(entry, Ok((Box::pin(stream) as ClusterStream, outcome))).await
    }

    #[instrument(skip_all)]
    async fn stats(&self, request: Request<v1::StatsRequest>) -> Result<Response<v1::StatsResponse>, Status> {
        let entry = self.admit(&request, "admin.stats").await?;
        let engine = Arc::clone(self.gate.engine());
        let stats = match blocking(move || engine.stats()).await {
            Ok(stats) => stats,
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
        let response = v1::StatsResponse {
            records: stats.records,
            involvements: stats.involvements,
            profiles: stats.profiles,
            profiles_multi_agency: stats.profiles_multi_agency,
            agencies: stats.agencies,
            epoch_fingerprint: stats.epoch.unwrap_or_default(),
            review_items: stats.review_items,
            model_pairs: stats.model_pairs,
            model_pairs_at_fit: stats.model_pairs_at_fit,
            outcome_events: stats.outcome_events,
        };
        self.gate.finish(entry, Ok((response, Outcome { touched: Vec::new(), count: 1 }))).await
    }

    #[instrument(skip_all)]
    async fn relink(&self, request: Request<v1::RelinkRequest>) -> Result<Response<v1::RelinkResponse>, Status> {
        let entry = self.admit(&request, "admin.relink").await?;
        let failed_entry = entry.clone();
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || {
            let before = engine.profile_count()?;
            let (involvements, index) = engine.relink_everything(entry)?;
            Ok((involvements, before, engine.profile_count()?, index))
        })
        .await;
        match result {
            Ok((involvements, profiles_before, profiles_after, index)) => {
                info!(involvements, profiles_before, profiles_after, audit_entry = index, "every profile re-decided");
                Ok(with_receipt(Response::new(v1::RelinkResponse { involvements, profiles_before, profiles_after }), index))
            }
            Err(status) => {
                self.gate.record_failure(failed_entry, &status).await;
                Err(status)
            }
        }
    }

    #[instrument(skip_all)]
    async fn retention(&self, request: Request<v1::RetentionRequest>) -> Result<Response<v1::RetentionResponse>, Status> {
        let dry_run = request.get_ref().dry_run;
        let action = if dry_run { "admin.retention-dry-run" } else { "admin.retention" };
        let entry = self.admit(&request, action).await?;
        let engine = Arc::clone(self.gate.engine());
        let settings = Arc::clone(&self.retention);
        let response = |sweep: &crate::retention::Sweep| v1::RetentionResponse {
            agencies: sweep
                .agencies
                .iter()
                .map(|a| v1::AgencyRetention {
                    agency: a.agency.clone(),
                    rule: a.rule.clone(),
                    records: a.records,
                    expired: a.expired,
                    next_expiry: a.next_expiry.map(crate::panel::wire_date),
                })
                .collect(),
            erased: u64::from(sweep.erased),
            today: Some(crate::panel::wire_date(sweep.today)),
            dry_run,
        };
        if dry_run {
            let sweep = match blocking(move || crate::retention::sweep(&engine, &settings, crate::retention::Then::Report)).await {
                Ok(sweep) => sweep,
                Err(status) => return self.gate.finish(entry, Err(status)).await,
            };
            let count = sweep.agencies.len() as u64;
            return self.gate.finish(entry, Ok((response(&sweep), Outcome { touched: Vec::new(), count }))).await;
        }
        let failed_entry = entry.clone();
        match blocking(move || crate::retention::sweep(&engine, &settings, crate::retention::Then::Erase(entry))).await {
            Ok(sweep) => {
                let index = sweep.audit_index.unwrap_or_default();
                info!(erased = sweep.erased, audit_entry = index, "retention sweep run");
                Ok(with_receipt(Response::new(response(&sweep)), index))
            }
            Err(status) => {
                self.gate.record_failure(failed_entry, &status).await;
                Err(status)
            }
        }
    }

    #[instrument(skip_all)]
    async fn epochs(&self, request: Request<v1::EpochsRequest>) -> Result<Response<v1::EpochsResponse>, Status> {
        let (begin, finish, cancel) = (request.get_ref().begin.clone(), request.get_ref().finish, request.get_ref().cancel);
        let action = match (begin.is_empty(), finish, cancel) {
            (true, false, false) => "admin.epochs",
            (false, false, false) => "admin.epochs-begin",
            (true, true, false) => "admin.epochs-finish",
            (true, false, true) => "admin.epochs-cancel",
            _ => return Err(Status::invalid_argument("give at most one of begin, finish and cancel")),
        };
        let mut entry = self.admit(&request, action).await?;
        let engine = Arc::clone(self.gate.engine());
        let answer = |epochs: crate::rotation::Epochs, dropped: String, cancelled: String| v1::EpochsResponse {
            current: epochs.current.unwrap_or_default(),
            next: epochs.next.unwrap_or_default(),
            agencies: epochs.agencies.into_iter().map(|a| v1::AgencyEpoch { agency: a.agency, records: a.records, moved: a.moved }).collect(),
            dropped,
            cancelled,
        };
        if action == "admin.epochs" {
            let result = blocking(move || engine.epochs()).await.map(|epochs| {
                let count = epochs.agencies.len() as u64;
                (answer(epochs, String::new(), String::new()), Outcome { touched: Vec::new(), count })
            });
            return self.gate.finish(entry, result).await;
        }
        // The epochs named go into the audit entry (fingerprints are not
        // secret: every upload header carries one).
        entry.touched = if begin.is_empty() { Vec::new() } else { vec![begin.clone()] };
        let failed_entry = entry.clone();
        let result = blocking(move || {
            let (dropped, cancelled, index) = if finish {
                let (dropped, moved, index) = engine.finish_rotation(entry)?;
                info!(involvements = moved, audit_entry = index, "key rotation finished");
                (dropped, String::new(), index)
            } else if cancel {
                let (cancelled, index) = engine.cancel_rotation(entry)?;
                info!(audit_entry = index, "key rotation cancelled");
                (String::new(), cancelled, index)
            } else {
                let index = engine.begin_rotation(&begin, entry)?;
                info!(audit_entry = index, "key rotation opened");
                (String::new(), String::new(), index)
            };
            Ok((answer(engine.epochs()?, dropped, cancelled), index))
        })
        .await;
        match result {
            Ok((response, index)) => Ok(with_receipt(Response::new(response), index)),
            Err(status) => {
                self.gate.record_failure(failed_entry, &status).await;
                Err(status)
            }
        }
    }

    #[instrument(skip_all)]
    async fn backup(&self, request: Request<v1::BackupRequest>) -> Result<Response<v1::BackupResponse>, Status> {
        let mut entry = self.admit(&request, "admin.backup").await?;
        let name = request.into_inner().name;
        let name = if name.is_empty() {
            let seconds = crate::audit::now_ms() / 1000;
            let date = braid_template::Date::from_days_since_epoch((seconds / 86_400) as i64);
            let rest = seconds % 86_400;
            format!("braid-backup-{:04}{:02}{:02}T{:02}{:02}{:02}Z", date.year, date.month, date.day, rest / 3600, rest / 60 % 60, rest % 60)
        } else {
            name
        };
        let Some(dir) = self.backups_dir.clone() else {
            let status = Status::failed_precondition("this node has no backups_dir in its config, so it takes no backups");
            return self.gate.finish(entry, Err(status)).await;
        };
        if name.len() > 100 || name.starts_with('.') || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            let status = Status::invalid_argument("a backup name is 1 to 100 letters, digits, '-', '_' or '.', not starting with '.'");
            return self.gate.finish(entry, Err(status)).await;
        }
        entry.touched = vec![name.clone()];
        let failed_entry = entry.clone();
        let path = dir.join(&name);
        let engine = Arc::clone(self.gate.engine());
        let target = path.clone();
        match blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|error| EngineError::InvalidRequest(format!("cannot create the backups directory: {}", error.kind())))?;
            engine.backup(&target, entry)
        })
        .await
        {
            Ok((records, audit_entries, index)) => {
                info!(backup = %name, records, audit_entries, audit_entry = index, "backup written");
                let response = v1::BackupResponse { path: path.display().to_string(), records, audit_entries };
                Ok(with_receipt(Response::new(response), index))
            }
            Err(status) => {
                self.gate.record_failure(failed_entry, &status).await;
                Err(status)
            }
        }
    }

    #[instrument(skip_all)]
    async fn explain(&self, request: Request<v1::ExplainRequest>) -> Result<Response<v1::ExplainResponse>, Status> {
        let entry = self.admit(&request, "admin.explain").await?;
        let subject = match request.into_inner().subject {
            Some(v1::explain_request::Subject::ProfileId(id)) => ExplainSubject::Profile(id),
            Some(v1::explain_request::Subject::Record(record)) => ExplainSubject::Record { agency: record.agency, record_ref: record.record_ref },
            None => {
                let status = Status::invalid_argument("give a profile id or an agency and record ref to explain");
                return self.gate.finish(entry, Err(status)).await;
            }
        };
        let engine = Arc::clone(self.gate.engine());
        let profiles = match blocking(move || engine.explain(&subject)).await {
            Ok(profiles) => profiles,
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
        info!(profiles = profiles.len(), "profiles explained");
        let outcome = Outcome { touched: profiles.iter().map(|profile| profile.profile_id.clone()).collect(), count: profiles.len() as u64 };
        let link = |link: LinkExplanation| v1::LinkExplanation {
            involvement: link.involvement,
            other_involvement: link.other,
            other_profile_id: link.other_profile_id,
            decision: link.decision.to_owned(),
            keys_agreeing: link.keys_agreeing.into_iter().map(str::to_owned).collect(),
            dice_band: link.dice_band.to_owned(),
            weight: link.weight,
            probability: link.probability,
            parts: link.parts.into_iter().map(|(feature, level)| v1::EvidencePart { feature: feature.to_owned(), level: level.to_owned() }).collect(),
        };
        let response = v1::ExplainResponse {
            profiles: profiles
                .into_iter()
                .map(|profile| v1::ProfileExplanation {
                    profile_id: profile.profile_id,
                    members: profile
                        .members
                        .into_iter()
                        .map(|member| v1::ProfileMember {
                            involvement: member.involvement,
                            agency: member.agency,
                            record_ref: member.record_ref,
                            role: member.role,
                        })
                        .collect(),
                    links: profile.links.into_iter().map(link).collect(),
                    reviews: profile.reviews.into_iter().map(link).collect(),
                })
                .collect(),
        };
        self.gate.finish(entry, Ok((response, outcome))).await
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
        let asked = Action::PanelQuery { partnership: &context.partnership, purpose: &context.purpose, case_reference: &context.case_reference };
        self.gate.admit(caller, &asked, &entry).await?;
        match self.partnerships.get(&context.partnership) {
            Some(agencies) => Ok((agencies.clone(), entry)),
            None => {
                let status =
                    Status::failed_precondition(format!("this node has no partnership called `{}` in its config ([partnerships])", context.partnership));
                self.gate.record_failure(entry, &status).await;
                Err(status)
            }
        }
    }
}

fn record_subject(record: v1::RecordSubject) -> PanelSubject {
    PanelSubject::Record { agency: record.agency, record_ref: record.record_ref }
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
        let (agencies, entry) = self.admit(&caller, request.context.as_ref(), "panel.profile").await?;
        let subject = match request.subject.ok_or_else(no_subject) {
            Ok(v1::profile_request::Subject::Record(record)) => record_subject(record),
            Ok(v1::profile_request::Subject::ProfileId(id)) => PanelSubject::Profile(id),
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
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
            let mut touched: Vec<String> = response.signals.iter().map(|signal| signal.profile_id.clone()).collect();
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
        let (agencies, entry) = self.admit(&caller, request.context.as_ref(), "panel.network").await?;
        let subject = match request.subject.ok_or_else(no_subject) {
            Ok(v1::network_request::Subject::Record(record)) => record_subject(record),
            Ok(v1::network_request::Subject::ProfileId(id)) => PanelSubject::Profile(id),
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
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
        let result = blocking(move || engine.completeness(&agencies).map(crate::panel::suppress_completeness)).await.map(|response| {
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
const ENTRIES_PER_CHUNK: usize = 2000;
/// Most entries one log listing returns.
const MAX_LOG_LISTING: usize = 10_000;

type EntriesStream = Pin<Box<dyn Stream<Item = Result<v1::EntriesChunk, Status>> + Send>>;

fn proof(hashes: Vec<braid_audit::merkle::Hash>) -> (v1::ProofResponse, Outcome) {
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
