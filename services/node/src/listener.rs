//! The node's listener: accepts TCP connections within a limit, completes
//! the mTLS handshake within a time limit, and hands gRPC only connections
//! whose peer presented a client certificate that chains to the client CA
//! (and is not on the CRL, when one is configured). A peer without a
//! certificate, with one from another CA, with a revoked one or too slow to
//! finish the handshake never reaches message decoding: it is logged (with
//! its address, never anything it sent) and counted.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::Connected;

use crate::config::{Limits, TlsFiles};

/// What the listener refused, by reason (for logs, tests and metrics).
#[derive(Debug, Default)]
pub struct ListenerCounts {
    /// Connections accepted and handed to gRPC.
    pub accepted: AtomicU64,
    /// Handshakes that failed: no client certificate, an unknown CA, a
    /// revoked certificate, or not TLS at all.
    pub handshake_failed: AtomicU64,
    /// Handshakes that did not finish in time.
    pub handshake_timed_out: AtomicU64,
    /// Connections refused because the node already held its limit.
    pub over_connection_limit: AtomicU64,
}

impl ListenerCounts {
    /// A count, by field.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The server side of mTLS: the node's identity, client certificates
/// required (chaining to `client_ca`, not revoked by `crl` when set), and
/// HTTP/2 by ALPN.
fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<ServerConfig>> {
    let read = |path: &std::path::Path, what: &str| std::fs::read(path).with_context(|| format!("read the {what} {}", path.display()));
    let chain = CertificateDer::pem_slice_iter(&read(&files.certificate, "node certificate")?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the node certificate {} is not PEM", files.certificate.display()))?;
    let leaf = chain.first().with_context(|| format!("the node certificate file {} holds no certificate", files.certificate.display()))?;
    if let Some(problem) = braid_access::server_certificate_problem(leaf, time::OffsetDateTime::now_utc()) {
        anyhow::bail!("the node certificate {} cannot serve: {problem}", files.certificate.display());
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.private_key, "node private key")?)
        .with_context(|| format!("the node private key {} is not a PEM private key", files.private_key.display()))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&read(&files.client_ca, "client CA certificate")?) {
        let certificate = certificate.with_context(|| format!("the client CA {} is not PEM", files.client_ca.display()))?;
        roots.add(certificate).with_context(|| format!("the client CA {} holds an unusable certificate", files.client_ca.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("the client CA file {} holds no certificate", files.client_ca.display());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
    if let Some(path) = &files.crl {
        let crls = CertificateRevocationListDer::pem_slice_iter(&read(path, "certificate revocation list")?)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("the revocation list {} is not a PEM CRL", path.display()))?;
        if crls.is_empty() {
            anyhow::bail!("the revocation list {} holds no CRL", path.display());
        }
        // The CRL is the client CA's: it speaks for the client
        // certificates it issued.
        verifier = verifier.with_crls(crls).only_check_end_entity_revocation();
    }
    let verifier = verifier.build().context("build the client certificate verifier")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("the node certificate and private key do not form a usable identity")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS settings in force, replaced whole when the files are read again
/// (SIGHUP), so a revocation takes effect for every later connection.
pub struct Tls {
    files: TlsFiles,
    current: std::sync::RwLock<Arc<ServerConfig>>,
    revoked: Revoked,
}

/// The client certificates (issuer and serial number) the revocation list
/// in force names: the gate refuses them on connections opened before the
/// list was (re)read.
pub type Revoked = Arc<std::sync::RwLock<std::collections::HashSet<braid_access::CertificateId>>>;

fn revoked_serials(files: &TlsFiles) -> anyhow::Result<std::collections::HashSet<braid_access::CertificateId>> {
    match &files.crl {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("read the certificate revocation list {}", path.display()))?;
            braid_access::revoked_certificates(&bytes).map_err(|reason| anyhow::anyhow!("the revocation list {}: {reason}", path.display()))
        }
        None => Ok(Default::default()),
    }
}

impl Tls {
    /// Reads the files.
    pub fn load(files: &TlsFiles) -> anyhow::Result<Tls> {
        let revoked = Arc::new(std::sync::RwLock::new(revoked_serials(files)?));
        Ok(Tls { current: std::sync::RwLock::new(server_config(files)?), files: files.clone(), revoked })
    }

    /// Reads the files again; on an error the settings in force stay.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = server_config(&self.files)?;
        let revoked = revoked_serials(&self.files)?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        *self.revoked.write().unwrap_or_else(std::sync::PoisonError::into_inner) = revoked;
        Ok(())
    }

    /// The revoked serial numbers in force, kept current by [`Tls::reload`].
    pub fn revoked(&self) -> Revoked {
        Arc::clone(&self.revoked)
    }

    fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Who is at the other end of a connection, as gRPC handlers see it (in
/// the request's extensions).
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's certificate chain, leaf first (absent without TLS).
    pub certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One accepted connection; holds its place under the connection limit
/// until it closes.
pub struct Connection {
    io: Io,
    peer: Peer,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Connection {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.io {
            Io::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match &mut self.io {
            Io::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        match &mut self.io {
            Io::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(stream) => stream.is_write_vectored(),
            Io::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.io {
            Io::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.io {
            Io::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts connections on `listener` until the returned stream is dropped:
/// at most `limits.max_connections` at once (more are closed at once), each
/// TLS handshake (when `tls` is set) finished within
/// `limits.handshake_seconds`.
pub fn accept(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    limits: &Limits,
    counts: Arc<ListenerCounts>,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<Connection>> {
    let (sender, receiver) = mpsc::channel::<std::io::Result<Connection>>(16);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let handshake = Duration::from_secs(limits.handshake_seconds);
    tokio::spawn(async move {
        loop {
            let (stream, address) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors, say: wait a moment rather than spin.
                        tracing::warn!(%error, "could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = sender.closed() => return,
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                counts.over_connection_limit.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(peer = %address, "connection refused: the node holds its limit of connections");
                drop(stream);
                continue;
            };
            // Small replies (acks, panel answers) go out at once: without
            // TCP_NODELAY they wait for the peer's delayed acknowledgement.
            let _ = stream.set_nodelay(true);
            let Some(tls) = &tls else {
                counts.accepted.fetch_add(1, Ordering::Relaxed);
                let connection = Connection { io: Io::Plain(stream), peer: Peer { certificates: None }, _permit: permit };
                if sender.send(Ok(connection)).await.is_err() {
                    return;
                }
                continue;
            };
            let acceptor = TlsAcceptor::from(tls.config());
            let sender = sender.clone();
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let certificates = tls.get_ref().1.peer_certificates().map(|chain| Arc::new(chain.to_vec()));
                        counts.accepted.fetch_add(1, Ordering::Relaxed);
                        let connection = Connection { io: Io::Tls(Box::new(tls)), peer: Peer { certificates }, _permit: permit };
                        let _ = sender.send(Ok(connection)).await;
                    }
                    Ok(Err(error)) => {
                        counts.handshake_failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(peer = %address, reason = %handshake_reason(&error), "TLS handshake refused");
                    }
                    Err(_) => {
                        counts.handshake_timed_out.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(peer = %address, seconds = handshake.as_secs(), "TLS handshake did not finish in time; connection closed");
                    }
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// Why a handshake failed, in words (rustls' error, which never carries
/// what the peer sent beyond its kind).
fn handshake_reason(error: &std::io::Error) -> String {
    let inner = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::NoCertificatesPresented) => "no client certificate was presented".to_owned(),
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)) => "the client certificate is revoked".to_owned(),
        Some(rustls::Error::InvalidCertificate(reason)) => format!("the client certificate is not acceptable ({reason:?})"),
        Some(other) => other.to_string(),
        None => error.kind().to_string(),
    }
}
