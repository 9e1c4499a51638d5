//! Reaching a Braid node, for every program that calls one (the `braid`
//! CLI, its web console, benchmarks): where the node is and who is calling
//! ([`NodeArgs`]), a connection over mTLS with the caller's certificate
//! bundle ([`connect`]), the typed service clients over it ([`ingest`],
//! [`panel`], [`admin`], [`audit`]), an upload that resumes after
//! interruptions ([`upload`]), and the node's refusals in words
//! ([`refused`]).

mod connect;
mod upload;

pub use connect::{
    certificate_problem, connect, endpoint, no_answer, private_file, receipt, refused, refused_to, root_cause, unreachable, Identify, NodeArgs, Transport,
};
pub use upload::{upload, UploadEvent, UploadSummary};

use anyhow::Result;
use braid_proto::v1::{
    admin_service_client::AdminServiceClient, audit_service_client::AuditServiceClient, ingest_service_client::IngestServiceClient,
    panel_service_client::PanelServiceClient,
};

/// The largest upload batch sent, and the largest answer an ingest call
/// reads.
const MAX_UPLOAD_MESSAGE: usize = 64 * 1024 * 1024;

/// The largest answer a panel or audit call reads (a report over every
/// template item, a page of the audit log).
const MAX_ANSWER: usize = 256 * 1024 * 1024;

/// An ingest client over a connection already made.
pub fn ingest_over(transport: Transport) -> IngestServiceClient<Transport> {
    IngestServiceClient::new(transport).max_encoding_message_size(MAX_UPLOAD_MESSAGE).max_decoding_message_size(MAX_UPLOAD_MESSAGE)
}

/// A panel client over a connection already made.
pub fn panel_over(transport: Transport) -> PanelServiceClient<Transport> {
    PanelServiceClient::new(transport).max_decoding_message_size(MAX_ANSWER)
}

/// An admin client over a connection already made.
pub fn admin_over(transport: Transport) -> AdminServiceClient<Transport> {
    AdminServiceClient::new(transport)
}

/// An audit client over a connection already made.
pub fn audit_over(transport: Transport) -> AuditServiceClient<Transport> {
    AuditServiceClient::new(transport).max_decoding_message_size(MAX_ANSWER)
}

/// The ingest service (uploads, withdrawals, an agency's own figures).
pub async fn ingest(node: &NodeArgs) -> Result<IngestServiceClient<Transport>> {
    Ok(ingest_over(connect(node).await?))
}

/// The panel service (profiles, signals, reports).
pub async fn panel(node: &NodeArgs) -> Result<PanelServiceClient<Transport>> {
    Ok(panel_over(connect(node).await?))
}

/// The admin service (clusters, stats, relinking, backups).
pub async fn admin(node: &NodeArgs) -> Result<AdminServiceClient<Transport>> {
    Ok(admin_over(connect(node).await?))
}

/// The audit service (the log, its checkpoints and proofs).
pub async fn audit(node: &NodeArgs) -> Result<AuditServiceClient<Transport>> {
    Ok(audit_over(connect(node).await?))
}
