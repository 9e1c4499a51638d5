//! The Braid linkage node: gRPC ingest and admin services over a RocksDB
//! store, with incremental match-key linkage into profiles.
//!
//! Architecture invariant: the node never depends on the agency-side
//! `braid-pseudonym` crate. It never normalises or hashes an identity and
//! never holds the scheme secret; it sees only keyed hashes and encodings.
//! Start at [`spawn`] (embedded, as the demo and tests use it) or `main.rs`.

pub mod config;
pub mod engine;
pub mod panel;
pub mod service;
pub mod validate;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use braid_proto::v1::admin_service_server::AdminServiceServer;
use braid_proto::v1::ingest_service_server::IngestServiceServer;
use braid_proto::v1::panel_service_server::PanelServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;

pub use config::NodeConfig;
pub use engine::Engine;

/// Largest gRPC message accepted (a batch of records).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A node serving in the background.
pub struct RunningNode {
    /// The bound address (useful with port 0).
    pub address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningNode {
    /// `http://address`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops serving and waits until the store is closed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.await.context("join the node task")?
    }
}

/// Opens the store and starts serving on `config.listen`.
pub async fn spawn(config: NodeConfig) -> anyhow::Result<RunningNode> {
    config.validate()?;
    let data_dir = config.data_dir.clone();
    let expected = config.expected_epoch.clone();
    let max = config.max_batch_records;
    let partnerships = config.partnerships.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::open(&data_dir, expected, max))
        .await
        .context("open the store")?
        .context("open the store")?;
    let engine = Arc::new(engine);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen on {}", config.listen))?;
    let address = listener.local_addr().context("read the bound address")?;
    let (shutdown_sender, shutdown_receiver) = tokio::sync::oneshot::channel::<()>();
    // Small replies (acks, panel answers) go out at once: without
    // TCP_NODELAY they wait for the peer's delayed acknowledgement (~40 ms).
    let incoming = TcpListenerStream::new(listener).map(|stream| {
        stream.and_then(|stream| {
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    });
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(
                IngestServiceServer::new(service::Ingest::new(Arc::clone(&engine)))
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(AdminServiceServer::new(service::Admin::new(Arc::clone(&engine))))
            .add_service(PanelServiceServer::new(service::Panel::new(Arc::clone(&engine), partnerships)))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = shutdown_receiver.await;
            })
            .await
            .context("serve gRPC")?;
        // Wait for in-flight blocking work to release the engine, then close
        // the store so the directory can be reopened.
        for _ in 0..500 {
            if Arc::strong_count(&engine) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(engine);
        Ok(())
    });
    tracing::info!(%address, "braid-node listening");
    Ok(RunningNode {
        address,
        shutdown: Some(shutdown_sender),
        task,
    })
}

/// The node allocates many small, short-lived buffers per batch (records,
/// write sets, evidence); mimalloc handles that pattern with far less
/// overhead than the system allocator. Every binary that embeds the node
/// (braid-node, braid, the tests and benches) uses it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
