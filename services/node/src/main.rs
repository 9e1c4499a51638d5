//! `braid-node`: the linkage node server. Reads its configuration (defaults,
//! then `--config FILE`, then `BRAID_*` environment, then flags), opens the
//! RocksDB store and serves gRPC over mTLS until interrupted (SIGINT or
//! SIGTERM). SIGHUP re-reads the policy file.

/// The node allocates many small, short-lived buffers per batch (records,
/// write sets, evidence); mimalloc handles that pattern with far less
/// overhead than the system allocator. The library leaves the choice to
/// each binary that embeds it (`braid` and the benches choose the same).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use braid_node::NodeConfig;
use clap::Parser;

/// The Braid linkage node.
#[derive(Parser)]
#[command(
    version,
    about = "Braid linkage node: receives agencies' pseudonymised extracts over gRPC, links records that belong to the same person, and serves linked profiles"
)]
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
    /// Open --data-dir for auditors only: serve its audit log as stored,
    /// even one that fails verification (a normal start refuses it), so an
    /// auditor can see which entry is wrong (`braid audit verify --node`,
    /// or the console). Writes nothing and refuses every other call.
    #[arg(long, conflicts_with_all = ["restore", "check_config"])]
    audit_only: bool,
    /// Check the configuration, policy and TLS files without starting (for
    /// deploy pipelines): prints every problem and exits non-zero if any.
    #[arg(long)]
    check_config: bool,
    /// Restore a backup (`braid admin backup`) into --data-dir, which must
    /// not exist or be empty: copies it, verifies its audit log, and exits.
    /// Start the node on --data-dir afterwards.
    #[arg(long, value_name = "BACKUP")]
    restore: Option<PathBuf>,
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

/// The exit status after a failed write: the node must be started again
/// (systemd's `Restart=on-failure` and container restart policies do).
const EXIT_RESTART: i32 = 75;

/// Ends the process when asked to stop before the node listens.
fn stopped_while_starting() -> ! {
    tracing::info!("stopped while starting");
    std::process::exit(0)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    braid_template::exit_with(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_LOG.into());
    match args.log_format {
        // Logs go to stderr (stdout carries only what a command prints as
        // its answer: `--check-config`, `--restore`).
        LogFormat::Json => tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_env_filter(filter).init(),
        LogFormat::Text => {
            use std::io::IsTerminal;
            tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).with_env_filter(filter).init();
        }
    }
    let config = configure(&args)?;
    if let Some(backup) = &args.restore {
        // Never into a default the operator did not choose.
        let chosen = args.data_dir.is_some() || config.data_dir != NodeConfig::default().data_dir;
        anyhow::ensure!(chosen, "--restore needs --data-dir: the new, empty data directory to restore the backup into");
        return restore(backup, &config.data_dir);
    }
    if args.check_config {
        let problems = braid_node::check_config(&config);
        if problems.is_empty() {
            println!("configuration OK");
            return Ok(());
        }
        for problem in &problems {
            eprintln!("problem: {problem}");
        }
        anyhow::bail!("{} problem(s) in the configuration", problems.len());
    }
    config.validate().context("check configuration")?;
    serve(config).await
}

/// The configuration: the file (or the defaults), the environment, then the
/// command line's options, each over the one before.
fn configure(args: &Args) -> anyhow::Result<NodeConfig> {
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
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(epoch) = &args.expected_epoch {
        config.expected_epoch = Some(epoch.clone());
    }
    if let Some(dir) = &args.tls {
        config.tls = Some(braid_node::TlsFiles::in_dir(dir));
    }
    if let Some(policy) = &args.policy {
        config.policy = Some(policy.clone());
    }
    config.insecure_dev = args.insecure_dev;
    config.audit_only = args.audit_only;
    Ok(config)
}

/// Runs the node until it is asked to stop (SIGTERM or SIGINT) or a write
/// fails, reloading its policy and TLS files on SIGHUP.
async fn serve(config: NodeConfig) -> anyhow::Result<()> {
    // Signals are caught before the node starts: one that arrives as soon as
    // the port opens still closes the node cleanly, and one that arrives
    // while the store is opened or the linkage state rebuilt (minutes for a
    // large store) ends the process at once, as it would without a handler
    // (nothing is acknowledged before the node listens, and the store is
    // crash-safe).
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
    let mut hangup = signal(SignalKind::hangup()).context("listen for SIGHUP")?;
    let node = tokio::select! {
        node = braid_node::spawn(config) => node?,
        _ = terminate.recv() => stopped_while_starting(),
        _ = interrupt.recv() => stopped_while_starting(),
    };
    let mut failed = false;
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            _ = node.failed() => {
                failed = true;
                break;
            }
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
    if failed {
        tracing::error!("stopping after a failed write; start the node again (a supervisor does) and it rebuilds from the acknowledged batches");
        // An idle upload stream must not keep the node from exiting.
        match tokio::time::timeout(std::time::Duration::from_secs(10), node.stop()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!("stopping: {error:#}"),
            Err(_) => tracing::warn!("calls still open after 10 s; exiting without waiting for them"),
        }
        std::process::exit(EXIT_RESTART);
    }
    tracing::info!("shutting down");
    node.stop().await
}

/// `braid-node --restore BACKUP --data-dir DIR`: copies the backup into a
/// new data directory, checked whole (see [`braid_node::restore_backup`]).
fn restore(backup: &std::path::Path, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let restored = braid_node::restore_backup(backup, data_dir)?;
    if restored.finished_earlier {
        println!(
            "an earlier restore into {} had checked its copy and was cut short while moving it into place: it is now in place; every file's checksums checked ({} entries); audit log verified: {} entries",
            data_dir.display(),
            restored.entries,
            restored.audit_entries
        );
        println!("{} was not used: restore it into a new directory if it is the one wanted", backup.display());
        println!("start the node with --data-dir {}", data_dir.display());
        return Ok(());
    }
    println!(
        "restored {} ({} bytes) into {}; every file's checksums checked ({} entries); audit log verified: {} entries",
        backup.display(),
        restored.bytes,
        data_dir.display(),
        restored.entries,
        restored.audit_entries
    );
    println!(
        "the node will hold what it held when the backup was taken: uploads, withdrawals and audit entries since then are not in it (agencies re-send their uploads; an auditor's checkpoint saved after the backup no longer verifies)"
    );
    println!("start the node with --data-dir {}", data_dir.display());
    Ok(())
}
