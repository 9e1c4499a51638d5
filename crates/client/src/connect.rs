//! Connecting to a node: over mTLS with the caller's certificate bundle, or
//! (against a node started with `--insecure-dev` only) in plain text with a
//! claimed principal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The header an `--insecure-dev` node reads the claimed principal from.
const PRINCIPAL_HEADER: &str = "braid-principal";
/// The response header carrying the call's audit entry index.
const RECEIPT_HEADER: &str = "braid-audit-entry";

/// Which node, and who is calling. With the `clap` feature it is a group of
/// command-line options (`--node`, `--tls`, `--principal`), whose help is
/// the field documentation below.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct NodeArgs {
    /// Node URL, e.g. https://127.0.0.1:7443 (http:// only for a node
    /// started with --insecure-dev).
    #[cfg_attr(feature = "clap", arg(long, env = "BRAID_NODE"))]
    pub node: String,
    /// Your certificate bundle: a directory holding ca.crt, client.crt and
    /// client.key (`braid keys init` writes one per principal, e.g.
    /// keys/csc-north).
    #[cfg_attr(feature = "clap", arg(long, env = "BRAID_TLS", value_name = "DIR"))]
    pub tls: Option<PathBuf>,
    /// Against an --insecure-dev node only: the principal to act as. The
    /// node cannot check it; never use this with real data.
    #[cfg_attr(feature = "clap", arg(long, env = "BRAID_PRINCIPAL", conflicts_with = "tls"))]
    pub principal: Option<String>,
}

impl NodeArgs {
    /// A connection over mTLS as the holder of the bundle in `tls`.
    pub fn mtls(url: &str, tls: &Path) -> NodeArgs {
        NodeArgs { node: url.to_owned(), tls: Some(tls.to_owned()), principal: None }
    }
}

/// Adds the claimed principal to every call (insecure-dev only).
#[derive(Clone)]
pub struct Identify(Option<MetadataValue<Ascii>>);

impl Interceptor for Identify {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(principal) = &self.0 {
            request.metadata_mut().insert(PRINCIPAL_HEADER, principal.clone());
        }
        Ok(request)
    }
}

/// A channel that identifies its caller.
pub type Transport = InterceptedService<Channel, Identify>;

/// Refuses a file that group or others may read (a private key, the
/// scheme secret, a re-identification map): whoever can read it can act as
/// its owner or undo the pseudonyms.
pub fn private_file(path: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).with_context(|| format!("read {what} {}", path.display()))?.permissions().mode();
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{what} {} can be read by other users (mode {:o}); make it private with `chmod 600 {}`",
        path.display(),
        mode & 0o777,
        path.display()
    );
    Ok(())
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    std::fs::read(&path).with_context(|| {
        format!(
            "read {}: --tls must be a certificate bundle directory with ca.crt, client.crt and client.key (braid keys init writes one per principal, e.g. keys/csc-north)",
            path.display()
        )
    })
}

/// The bundle's private key, refused when others may read it.
fn read_private_key(dir: &Path) -> Result<Vec<u8>> {
    let key = read(dir, "client.key")?;
    private_file(&dir.join("client.key"), "the private key")?;
    Ok(key)
}

/// The endpoint to connect to, checked, without connecting.
pub fn endpoint(node: &NodeArgs) -> Result<(Endpoint, Identify)> {
    let url = node.node.trim();
    // A node that stops answering (stopped, hung, or a wrong port that
    // accepts and says nothing) is given up on: keep-alive pings it answers
    // at any time, however long a call takes, and unanswered they end it.
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|_| anyhow::anyhow!("`{url}` is not a node URL (expected e.g. https://127.0.0.1:7443)"))?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true);
    match (&node.tls, url.starts_with("https://")) {
        (Some(dir), true) => {
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read(dir, "ca.crt")?))
                .identity(Identity::from_pem(read(dir, "client.crt")?, read_private_key(dir)?));
            let endpoint = endpoint.tls_config(tls).context("configure TLS")?;
            Ok((endpoint, Identify(None)))
        }
        (Some(_), false) => anyhow::bail!("with --tls the node URL must start with https:// (got `{url}`)"),
        (None, true) => anyhow::bail!("connecting to {url} needs your certificate bundle: give --tls DIR (or set BRAID_TLS)"),
        (None, false) => {
            let principal = node.principal.as_deref().map(str::trim).filter(|p| !p.is_empty()).with_context(|| {
                format!("`{url}` is plain text, which only a node started with --insecure-dev accepts; use https:// with --tls DIR, or name yourself with --principal")
            })?;
            let value = principal.parse().map_err(|_| anyhow::anyhow!("--principal must be plain ASCII"))?;
            Ok((endpoint, Identify(Some(value))))
        }
    }
}

/// How long the connection (TCP, then the TLS handshake) may take.
const CONNECTING: Duration = Duration::from_secs(10);

/// Connects to the node.
pub async fn connect(node: &NodeArgs) -> Result<Transport> {
    let (endpoint, identify) = endpoint(node)?;
    let channel = match tokio::time::timeout(CONNECTING, endpoint.connect()).await {
        Ok(connected) => connected.map_err(|error| unreachable(node, &error))?,
        Err(_) => anyhow::bail!(
            "the node at {} did not complete the connection in {} s: is it running and answering, and is this its gRPC port (not the operations port)?",
            node.node,
            CONNECTING.as_secs()
        ),
    };
    Ok(InterceptedService::new(channel, identify))
}

/// Why a connection failed, in words: a certificate the TLS handshake
/// refused (ours or the node's), or a node that cannot be reached.
pub fn unreachable(node: &NodeArgs, error: &(dyn std::error::Error + 'static)) -> anyhow::Error {
    let cause = root_cause(error);
    if cause.contains("InvalidContentType") || cause.contains("corrupt message") {
        // What answered is not TLS: plain HTTP (the operations port) or a
        // node started with --insecure-dev.
        return anyhow::anyhow!(
            "what answers at {} does not speak TLS: is this the node's operations (health and metrics) port rather than its gRPC port, or a node started with --insecure-dev (then use http://)?",
            node.node
        );
    }
    match certificate_problem(error) {
        Some(cause) => certificate_refused(&cause),
        None => anyhow::anyhow!("cannot reach the node at {}: {cause}", node.node),
    }
}

fn certificate_refused(cause: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the TLS handshake with the node failed over a certificate ({cause}): check that --tls DIR holds your current \
         certificate from the node's CA (a revoked or unknown one is refused) and that DIR/ca.crt is the CA that issued \
         the node's certificate"
    )
}

/// The cause when `error` (a connection or call failure) comes from a TLS
/// certificate check on either side: an alert from the node (no, unknown or
/// revoked client certificate) or the node's certificate failing ours.
pub fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        let text = current.to_string();
        let lower = text.to_lowercase();
        if lower.contains("certificate") || lower.contains("fatal alert") || lower.contains("unknownissuer") {
            return Some(text);
        }
        cause = current.source();
    }
    None
}

/// The innermost cause of an error, which names what actually failed
/// (refused connection, unknown CA, …).
pub fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A refusal or failure from the node, in the node's own words, or a
/// certificate the TLS handshake refused.
pub fn refused(status: tonic::Status) -> anyhow::Error {
    refused_to(&status, "the node refused")
}

/// [`refused`], introduced by `what` (e.g. "the node refused the export").
pub fn refused_to(status: &tonic::Status, what: &str) -> anyhow::Error {
    let transport = matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal);
    match certificate_problem(status) {
        Some(cause) if transport => certificate_refused(&cause),
        // Not an answer: the connection went (the node stopped, or the
        // network) before one came.
        _ => match no_answer(status) {
            Some(said) => anyhow::anyhow!(said),
            None => anyhow::anyhow!("{what}: {}", status.message()),
        },
    }
}

/// What a failed call means when the node never answered it: no
/// connection could be made (a channel connects when first used), or it
/// went before an answer came. `None` when the node answered.
pub fn no_answer(status: &tonic::Status) -> Option<String> {
    // TLS 1.3 checks the client's certificate after the client thinks the
    // handshake is over: a node that refuses it closes the connection, and
    // the call is cancelled.
    if status.code() == tonic::Code::Cancelled && status.message().contains("operation was canceled") {
        return Some(
            "the node closed the connection without answering: it refuses a revoked certificate, or one from another CA, in the handshake (its log says which), or it was stopping or the network failed; whether the request took effect is unknown, so check before repeating a change".to_owned(),
        );
    }
    if !matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal) {
        return None;
    }
    if status.message().to_ascii_lowercase().contains("connect error") {
        return Some(format!("cannot reach the node ({}): is braid-node running?", status.message()));
    }
    is_connection_lost(status.message()).then(|| {
        format!(
            "the connection to the node was lost before it answered ({}): is braid-node still running? Whether the request took effect is unknown; check before repeating a change",
            status.message()
        )
    })
}

/// Whether a status message is the client's own report of a broken
/// connection rather than the node's answer.
fn is_connection_lost(message: &str) -> bool {
    ["transport error", "h2 protocol error", "connection reset", "broken pipe", "connection closed"]
        .iter()
        .any(|text| message.to_ascii_lowercase().contains(text))
}

/// The audit receipt (entry index) of a response, if the node sent one.
pub fn receipt<T>(response: &tonic::Response<T>) -> Option<u64> {
    response.metadata().get(RECEIPT_HEADER)?.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_not_called_a_refusal() {
        let lost = refused(tonic::Status::unavailable("transport error")).to_string();
        assert!(lost.starts_with("the connection to the node was lost before it answered"), "{lost}");
        let answered = refused(tonic::Status::unavailable("the disk is nearly full")).to_string();
        assert_eq!(answered, "the node refused: the disk is nearly full");
        let denied = refused(tonic::Status::permission_denied("transport error in the message")).to_string();
        assert!(denied.starts_with("the node refused"), "{denied}");
        let down = refused(tonic::Status::unavailable("tcp connect error")).to_string();
        assert!(down.starts_with("cannot reach the node (tcp connect error): is braid-node running?"), "{down}");
        assert_eq!(no_answer(&tonic::Status::unavailable("the disk is nearly full")), None);
        let closed = refused(tonic::Status::cancelled("operation was canceled")).to_string();
        assert!(closed.contains("it refuses a revoked certificate"), "{closed}");
    }
}
