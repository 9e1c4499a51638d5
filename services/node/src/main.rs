//! `braid-node`: the linkage node server. Reads its configuration (defaults,
//! then `--config FILE`, then `BRAID_*` environment, then flags), opens the
//! RocksDB store and serves gRPC over mTLS until interrupted (SIGINT or
//! SIGTERM). SIGHUP re-reads the policy file.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use braid_node::NodeConfig;
use clap::Parser;

/// The Braid linkage node.
#[derive(Parser)]
#[command(version, about = "Braid linkage node: receives agencies' pseudonymised extracts over gRPC, links records that belong to the same person, and serves linked profiles")]
struct Args {
    /// Configuration file (TOML); see deploy/node.example.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:7443.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address of the operations listener (plain HTTP: /healthz, /readyz,
    /// /metrics), e.g. 127.0.0.1:7444.
    #[arg(long, value_name = "ADDRESS")]
    operations_listen: Option<SocketAddr>,
    /// RocksDB data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Only accept uploads under this key epoch fingerprint.
    #[arg(long)]
    expected_epoch: Option<String>,
    /// Directory holding node.crt, node.key and ca.crt (the node/ directory
    /// `braid keys init` writes); overrides the [tls] section.
    #[arg(long, value_name = "DIR")]
    tls: Option<PathBuf>,
    /// Policy file mapping certificate principals to roles.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Listen WITHOUT TLS and trust the principal each caller claims (the
    /// braid-principal header). Local development only.
    #[arg(long)]
    insecure_dev: bool,
    /// Log lines as `text` (colour only on a terminal) or `json` (one
    /// object per line, for a log collector).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// What the node logs unless `RUST_LOG` says otherwise: its own events,
/// refused TLS handshakes among them (a peer without an acceptable
/// certificate never reaches a call, so it is not in the audit log).
const DEFAULT_LOG: &str = "info";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_LOG.into());
    match args.log_format {
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
        LogFormat::Text => {
            use std::io::IsTerminal;
            tracing_subscriber::fmt().with_ansi(std::io::stdout().is_terminal()).with_env_filter(filter).init();
        }
    }
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("read config {}", path.display()))?;
            NodeConfig::from_toml(&text).with_context(|| format!("parse config {}", path.display()))?
        }
        None => NodeConfig::default(),
    };
    config.apply_env()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(address) = args.operations_listen {
        config.operations_listen = Some(address);
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(epoch) = args.expected_epoch {
        config.expected_epoch = Some(epoch);
    }
    if let Some(dir) = &args.tls {
        config.tls = Some(braid_node::TlsFiles::in_dir(dir));
    }
    if let Some(policy) = args.policy {
        config.policy = Some(policy);
    }
    config.insecure_dev = args.insecure_dev;
    config.validate().context("check configuration")?;
    let node = braid_node::spawn(config).await?;
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("listen for SIGHUP")?;
    loop {
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => {
                interrupted.context("wait for interrupt")?;
                break;
            }
            _ = terminate.recv() => break,
            _ = hangup.recv() => {
                match node.reload_policy() {
                    Ok(principals) => tracing::info!(principals, "policy reloaded"),
                    Err(error) => tracing::warn!("policy not reloaded, the old one stays: {error:#}"),
                }
                match node.reload_tls() {
                    Ok(()) => tracing::info!("TLS files reloaded (certificate, client CA, revocation list)"),
                    Err(error) => tracing::warn!("TLS files not reloaded, the old ones stay: {error:#}"),
                }
            }
        }
    }
    tracing::info!("shutting down");
    node.stop().await
}
