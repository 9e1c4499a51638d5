//! The gRPC adapters: protobuf in, engine calls, protobuf out. Blocking
//! engine work (synced RocksDB writes) runs on the blocking pool.

use std::pin::Pin;
use std::sync::Arc;

use std::collections::BTreeMap;

use braid_proto::v1::{self, admin_service_server::AdminService, ingest_service_server::IngestService, panel_service_server::PanelService};
use futures::Stream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, instrument, warn};

use crate::engine::{Engine, EngineError, ExplainSubject, LinkExplanation, Submission};
use crate::panel::{PanelSubject, Population};

/// Maps engine errors to gRPC status codes, one arm per variant.
fn status(error: EngineError) -> Status {
    match error {
        EngineError::EpochMismatch { .. } => Status::failed_precondition(error.to_string()),
        EngineError::InvalidRequest(_) => Status::invalid_argument(error.to_string()),
        EngineError::NotFound(_) => Status::not_found(error.to_string()),
        EngineError::Refused(_) => Status::permission_denied(error.to_string()),
        EngineError::Storage(_) => {
            warn!(error = %error, "storage failure");
            Status::unavailable("the node could not store the batch; nothing of it was applied, retry")
        }
        EngineError::Poisoned => Status::internal(error.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Status::internal("a worker task failed"))?
        .map_err(status)
}

/// Implements the ingest service.
pub struct Ingest {
    engine: Arc<Engine>,
}

impl Ingest {
    /// Serves over `engine`.
    pub fn new(engine: Arc<Engine>) -> Ingest {
        Ingest { engine }
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<v1::BatchAck, Status>> + Send>>;
type ClusterStream = Pin<Box<dyn Stream<Item = Result<v1::ClusterRow, Status>> + Send>>;

fn submission_from(header: v1::UploadHeader) -> Result<Submission, Status> {
    let valid_code = |code: &str| {
        !code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !valid_code(&header.agency) {
        return Err(Status::invalid_argument("header.agency must be 1 to 64 letters, digits, '-' or '_'"));
    }
    if header.epoch_fingerprint.is_empty() {
        return Err(Status::invalid_argument("header.epoch_fingerprint is required"));
    }
    if header.submission_id.is_empty() || header.submission_id.len() > 128 {
        return Err(Status::invalid_argument("header.submission_id must be 1 to 128 characters"));
    }
    Ok(Submission {
        agency: header.agency,
        agency_type: header.agency_type,
        epoch: header.epoch_fingerprint,
        submission_id: header.submission_id,
    })
}

#[tonic::async_trait]
impl IngestService for Ingest {
    type UploadStream = AckStream;

    #[instrument(skip_all)]
    async fn upload(&self, request: Request<Streaming<v1::UploadBatch>>) -> Result<Response<AckStream>, Status> {
        let mut incoming = request.into_inner();
        let engine = Arc::clone(&self.engine);
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut submission: Option<Submission> = None;
            while let Some(batch) = incoming.next().await {
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(error) => {
                        info!(code = ?error.code(), "upload stream ended by the client");
                        return;
                    }
                };
                if let Some(header) = batch.header {
                    match submission_from(header) {
                        Ok(parsed) => submission = Some(parsed),
                        Err(status) => {
                            let _ = sender.send(Err(status)).await;
                            return;
                        }
                    }
                }
                let Some(current) = submission.clone() else {
                    let _ = sender
                        .send(Err(Status::invalid_argument("the first batch must carry the upload header")))
                        .await;
                    return;
                };
                let engine = Arc::clone(&engine);
                let sequence = batch.sequence;
                let records = batch.records;
                let count = records.len();
                let result = blocking(move || engine.apply_batch(&current, sequence, records)).await;
                match result {
                    Ok(ack) => {
                        info!(sequence, records = count, accepted = ack.accepted, rejected = ack.rejections.len(), replayed = ack.replayed, "batch applied");
                        if sender.send(Ok(ack)).await.is_err() {
                            return;
                        }
                    }
                    Err(status) => {
                        let _ = sender.send(Err(status)).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))))
    }

    #[instrument(skip_all)]
    async fn withdraw(&self, request: Request<v1::WithdrawRequest>) -> Result<Response<v1::WithdrawResponse>, Status> {
        let request = request.into_inner();
        if request.agency.is_empty() {
            return Err(Status::invalid_argument("agency is required"));
        }
        let engine = Arc::clone(&self.engine);
        let (withdrawn, not_found) = blocking(move || engine.withdraw(&request.agency, &request.record_refs)).await?;
        info!(withdrawn, not_found, "records withdrawn");
        Ok(Response::new(v1::WithdrawResponse { withdrawn, not_found }))
    }
}

/// Implements the admin service.
pub struct Admin {
    engine: Arc<Engine>,
}

impl Admin {
    /// Serves over `engine`.
    pub fn new(engine: Arc<Engine>) -> Admin {
        Admin { engine }
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    type ExportClustersStream = ClusterStream;

    #[instrument(skip_all)]
    async fn export_clusters(&self, _request: Request<v1::ExportClustersRequest>) -> Result<Response<ClusterStream>, Status> {
        let engine = Arc::clone(&self.engine);
        let rows = blocking(move || engine.clusters()).await?;
        info!(rows = rows.len(), "clusters exported");
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
        Ok(Response::new(Box::pin(stream)))
    }

    #[instrument(skip_all)]
    async fn stats(&self, _request: Request<v1::StatsRequest>) -> Result<Response<v1::StatsResponse>, Status> {
        let engine = Arc::clone(&self.engine);
        let stats = blocking(move || engine.stats()).await?;
        Ok(Response::new(v1::StatsResponse {
            records: stats.records,
            involvements: stats.involvements,
            profiles: stats.profiles,
            profiles_multi_agency: stats.profiles_multi_agency,
            agencies: stats.agencies,
            epoch_fingerprint: stats.epoch.unwrap_or_default(),
            review_items: stats.review_items,
            model_pairs: stats.model_pairs,
            model_pairs_at_fit: stats.model_pairs_at_fit,
        }))
    }

    #[instrument(skip_all)]
    async fn explain(&self, request: Request<v1::ExplainRequest>) -> Result<Response<v1::ExplainResponse>, Status> {
        let subject = match request.into_inner().subject {
            Some(v1::explain_request::Subject::ProfileId(id)) => ExplainSubject::Profile(id),
            Some(v1::explain_request::Subject::Record(record)) => ExplainSubject::Record {
                agency: record.agency,
                record_ref: record.record_ref,
            },
            None => return Err(Status::invalid_argument("give a profile id or an agency and record ref to explain")),
        };
        let engine = Arc::clone(&self.engine);
        let profiles = blocking(move || engine.explain(&subject)).await?;
        info!(profiles = profiles.len(), "profiles explained");
        let link = |link: LinkExplanation| v1::LinkExplanation {
            involvement: link.involvement,
            other_involvement: link.other,
            other_profile_id: link.other_profile_id,
            decision: link.decision.to_owned(),
            keys_agreeing: link.keys_agreeing.into_iter().map(str::to_owned).collect(),
            dice_band: link.dice_band.to_owned(),
            weight: link.weight,
            probability: link.probability,
            parts: link
                .parts
                .into_iter()
                .map(|(feature, level)| v1::EvidencePart {
                    feature: feature.to_owned(),
                    level: level.to_owned(),
                })
                .collect(),
        };
        Ok(Response::new(v1::ExplainResponse {
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
        }))
    }
}

/// Implements the panel service: every call names its partnership and a
/// purpose.
pub struct Panel {
    engine: Arc<Engine>,
    partnerships: BTreeMap<String, Vec<String>>,
}

impl Panel {
    /// Serves over `engine` for the configured partnerships (name → agency
    /// codes).
    pub fn new(engine: Arc<Engine>, partnerships: BTreeMap<String, Vec<String>>) -> Panel {
        Panel { engine, partnerships }
    }

    /// The partnership's agencies, once the context is checked.
    fn agencies(&self, context: Option<&v1::PanelContext>) -> Result<Vec<String>, Status> {
        let context = context.ok_or_else(|| Status::invalid_argument("context (partnership and purpose) is required"))?;
        if context.purpose.trim().is_empty() {
            return Err(Status::invalid_argument("a panel query must state its purpose"));
        }
        match self.partnerships.get(&context.partnership) {
            Some(agencies) => Ok(agencies.clone()),
            None if self.partnerships.is_empty() => Err(Status::failed_precondition(
                "this node has no partnerships configured; add a [partnerships] table to its config",
            )),
            None => Err(Status::permission_denied(format!(
                "no partnership is called `{}`; this node serves {}",
                context.partnership,
                self.partnerships.keys().cloned().collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

fn record_subject(record: v1::RecordSubject) -> PanelSubject {
    PanelSubject::Record {
        agency: record.agency,
        record_ref: record.record_ref,
    }
}

fn no_subject() -> Status {
    Status::invalid_argument("give an agency and record ref, or a profile id")
}

#[tonic::async_trait]
impl PanelService for Panel {
    #[instrument(skip_all)]
    async fn profile(&self, request: Request<v1::ProfileRequest>) -> Result<Response<v1::ProfileResponse>, Status> {
        let request = request.into_inner();
        let agencies = self.agencies(request.context.as_ref())?;
        let subject = match request.subject.ok_or_else(no_subject)? {
            v1::profile_request::Subject::Record(record) => record_subject(record),
            v1::profile_request::Subject::ProfileId(id) => PanelSubject::Profile(id),
        };
        let engine = Arc::clone(&self.engine);
        let profiles = blocking(move || engine.panel_profile(&agencies, &subject)).await?;
        info!(profiles = profiles.len(), "panel profile query");
        Ok(Response::new(v1::ProfileResponse { profiles }))
    }

    #[instrument(skip_all)]
    async fn signals(&self, request: Request<v1::SignalsRequest>) -> Result<Response<v1::SignalsResponse>, Status> {
        let request = request.into_inner();
        let agencies = self.agencies(request.context.as_ref())?;
        let engine = Arc::clone(&self.engine);
        let response = blocking(move || engine.panel_signals(&agencies, &request)).await?;
        info!(signals = response.signals.len(), matched = response.matched, "panel signal listing");
        Ok(Response::new(response))
    }

    #[instrument(skip_all)]
    async fn network(&self, request: Request<v1::NetworkRequest>) -> Result<Response<v1::NetworkResponse>, Status> {
        let request = request.into_inner();
        let agencies = self.agencies(request.context.as_ref())?;
        let subject = match request.subject.ok_or_else(no_subject)? {
            v1::network_request::Subject::Record(record) => record_subject(record),
            v1::network_request::Subject::ProfileId(id) => PanelSubject::Profile(id),
        };
        let depth = match request.depth {
            0 => 2,
            d => d.min(6),
        };
        let max_people = match request.max_people {
            0 => 60,
            n => (n as usize).min(500),
        };
        let engine = Arc::clone(&self.engine);
        let response = blocking(move || engine.panel_network(&agencies, &subject, depth, max_people)).await?;
        info!(people = response.nodes.len(), "panel network query");
        Ok(Response::new(response))
    }

    #[instrument(skip_all)]
    async fn report(&self, request: Request<v1::ReportRequest>) -> Result<Response<v1::ReportResponse>, Status> {
        let request = request.into_inner();
        let agencies = self.agencies(request.context.as_ref())?;
        let population = Population::parse(&request.population)
            .ok_or_else(|| Status::invalid_argument("population is victims, harmers or all"))?;
        let engine = Arc::clone(&self.engine);
        let response = blocking(move || engine.panel_report(&agencies, &request.by, population)).await?;
        info!("panel report");
        Ok(Response::new(response))
    }

    #[instrument(skip_all)]
    async fn completeness(&self, request: Request<v1::CompletenessRequest>) -> Result<Response<v1::CompletenessResponse>, Status> {
        let agencies = self.agencies(request.get_ref().context.as_ref())?;
        let engine = Arc::clone(&self.engine);
        let response = blocking(move || engine.completeness(&agencies)).await?;
        info!("panel completeness report");
        Ok(Response::new(response))
    }

    #[instrument(skip_all)]
    async fn interconnectedness(&self, request: Request<v1::InterconnectednessRequest>) -> Result<Response<v1::InterconnectednessResponse>, Status> {
        let agencies = self.agencies(request.get_ref().context.as_ref())?;
        let engine = Arc::clone(&self.engine);
        let response = blocking(move || engine.interconnectedness(&agencies)).await?;
        info!("panel interconnectedness report");
        Ok(Response::new(response))
    }
}
