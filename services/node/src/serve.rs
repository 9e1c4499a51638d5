//! Serving: the gRPC services on one listener (mTLS, limits, health,
//! reflection), the operations listener, and the background tasks
//! (checkpoints, retention sweeps, health), all over one [`Engine`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use braid_proto::v1::admin_service_server::AdminServiceServer;
use braid_proto::v1::audit_service_server::AuditServiceServer;
use braid_proto::v1::ingest_service_server::IngestServiceServer;
use braid_proto::v1::panel_service_server::PanelServiceServer;
use tokio::net::TcpListener;

use crate::listener::{self, ListenerCounts};
use crate::{audit, gate, ops, retention, service, Engine, NodeConfig};

/// Largest encoded record accepted in an upload batch: every bounded field
/// of a record at its bound (validate.rs) fits with room to spare.
const MAX_RECORD_BYTES: usize = 16 * 1024;
/// Largest gRPC message accepted by the panel, admin and audit services
/// (their requests are small: filters, refs, a checkpoint).
const MAX_QUERY_MESSAGE_BYTES: usize = 256 * 1024;

/// Largest upload message: a batch of `max_batch_records` records.
fn max_upload_message_bytes(max_batch_records: usize) -> usize {
    (max_batch_records * MAX_RECORD_BYTES).clamp(1024 * 1024, 256 * 1024 * 1024)
}

/// A node serving in the background.
pub struct RunningNode {
    /// The bound address (useful with port 0).
    pub address: SocketAddr,
    tls: bool,
    gate: Arc<gate::Gate>,
    counts: Arc<ListenerCounts>,
    tls_files: Option<Arc<listener::Tls>>,
    /// The operations listener's address (with port 0, the one bound).
    pub operations: Option<SocketAddr>,
    operations_stop: Arc<tokio::sync::Notify>,
    operations_task: Option<tokio::task::JoinHandle<()>>,
    policy: std::path::PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    failed: Arc<tokio::sync::Notify>,
}

impl RunningNode {
    /// The address for clients: `https://…`, or `http://…` on an
    /// `--insecure-dev` node.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.address)
    }

    /// Resolves once a write has failed (a full disk, a storage error):
    /// the in-memory state is then ahead of the store, so the node should
    /// be stopped and started again (it rebuilds from what was
    /// acknowledged). `braid-node` then exits for its supervisor to restart.
    pub async fn failed(&self) {
        self.failed.notified().await;
    }

    /// Refusals not audited because their caller was over its limit.
    pub fn unaudited_denials(&self) -> u64 {
        self.gate.unaudited_denials()
    }

    /// What the listener accepted and refused so far.
    pub fn listener_counts(&self) -> &ListenerCounts {
        &self.counts
    }

    /// Reads the policy file again and applies it to every later call (the
    /// way to revoke a principal without a restart). Returns how many
    /// principals it names; a policy that does not parse changes nothing.
    pub fn reload_policy(&self) -> anyhow::Result<usize> {
        let policy = read_policy(&self.policy)?;
        let principals = policy.principals().count();
        self.gate.replace_policy(policy);
        Ok(principals)
    }

    /// Reads the TLS files again (the revocation list, a renewed node
    /// certificate) for every later connection; on an error the settings in
    /// force stay.
    pub fn reload_tls(&self) -> anyhow::Result<()> {
        match &self.tls_files {
            Some(tls) => tls.reload(),
            None => Ok(()),
        }
    }

    /// Stops serving and waits until the store is closed.
    pub async fn stop(self) -> anyhow::Result<()> {
        let RunningNode { shutdown, task, gate, operations_stop, operations_task, .. } = self;
        gate.stop_uploads();
        if let Some(shutdown) = shutdown {
            let _ = shutdown.send(());
        }
        operations_stop.notify_one();
        if let Some(operations) = operations_task {
            let _ = operations.await;
        }
        // The engine closes once nothing holds it.
        drop(gate);
        task.await.context("join the node task")?
    }
}

fn read_policy(path: &std::path::Path) -> anyhow::Result<braid_access::Policy> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read the policy {}", path.display()))?;
    let policy = braid_access::Policy::from_toml(&text).with_context(|| format!("policy {}", path.display()))?;
    // An empty or half-written file parses, and would refuse everyone.
    anyhow::ensure!(
        policy.principals().next().is_some(),
        "policy {} names no principal, so every call would be refused (an empty or half-written file?)",
        path.display()
    );
    Ok(policy)
}

/// Grants in `policy` that can never be used under `config`: a panel of a
/// partnership the config does not define, an agency `[agencies]` does
/// not name (when it names any).
fn grants_without_use(config: &NodeConfig, policy: &braid_access::Policy) -> Vec<String> {
    let mut out = Vec::new();
    for (principal, grant) in policy.principals() {
        match grant {
            braid_access::Grant::Panel(partnership) if !config.partnerships.contains_key(partnership) => out.push(format!(
                "the policy makes {principal} a panel of `{partnership}`, which no [partnerships] entry defines: its every query would be refused"
            )),
            braid_access::Grant::Agency(code) if !config.agencies.is_empty() && !config.agencies.contains_key(code) => {
                out.push(format!("the policy lets {principal} upload for {code}, which [agencies] does not name: its uploads would be refused"))
            }
            _ => {}
        }
    }
    out
}

/// Partnership agencies no principal in `policy` uploads for (a misspelt
/// code?): (partnership, agency).
fn agencies_nobody_uploads_for(config: &NodeConfig, policy: &braid_access::Policy) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, agencies) in &config.partnerships {
        for agency in agencies {
            let uploads = policy.principals().any(|(_, role)| matches!(role, braid_access::Grant::Agency(code) if code == agency));
            if !uploads {
                out.push((name.clone(), agency.clone()));
            }
        }
    }
    out
}

/// Checks a configuration without starting anything: the settings, the
/// policy, the TLS files (readable, parseable, the private key not
/// readable by others), partnership agencies that nobody uploads for, and
/// the data and backup directories. Returns the problems found, in words.
pub fn check_config(config: &NodeConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(error) = config.validate() {
        problems.push(format!("{error:#}"));
    }
    if !config.agencies.is_empty() {
        for agency in config.retention.agencies.keys().filter(|a| !config.agencies.contains_key(*a)) {
            problems.push(format!("[retention.agencies] names {agency}, which is not in [agencies] (a misspelt code?): its rule would never apply"));
        }
    }
    match config.policy.as_deref().map(read_policy) {
        Some(Ok(policy)) => {
            for (partnership, agency) in agencies_nobody_uploads_for(config, &policy) {
                problems.push(format!("partnership `{partnership}` names {agency}, which no principal in the policy uploads for"));
            }
            problems.extend(grants_without_use(config, &policy));
        }
        Some(Err(error)) => problems.push(format!("{error:#}")),
        None => {}
    }
    if let Some(files) = &config.tls {
        if let Err(error) = listener::Tls::load(files) {
            problems.push(format!("{error:#}"));
        }
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(&files.private_key) {
            if metadata.permissions().mode() & 0o077 != 0 {
                problems.push(format!(
                    "the node private key {} can be read by others (mode {:o}): chmod 600 it",
                    files.private_key.display(),
                    metadata.permissions().mode() & 0o777
                ));
            }
        }
    }
    for (what, dir) in [("data_dir", Some(&config.data_dir)), ("backups_dir", config.backups_dir.as_ref())] {
        let Some(dir) = dir else { continue };
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        if absolute.exists() && !absolute.is_dir() {
            problems.push(format!("{what} {}: is a file, not a directory", dir.display()));
            continue;
        }
        let existing = absolute.ancestors().find(|p| p.exists());
        match existing {
            Some(path) if path.metadata().is_ok_and(|m| m.is_dir()) => {
                // The directory itself, else the nearest one above it, which
                // the node would create it in.
                if rustix::fs::access(path, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK).is_err() {
                    problems.push(format!("{what} {}: this account cannot create or write it", dir.display()));
                }
            }
            _ => problems.push(format!("{what} {}: no existing directory above it", dir.display())),
        }
    }
    if crate::restore::cut_short(&config.data_dir) {
        problems.push(cut_short_problem(&config.data_dir));
    }
    problems
}

fn cut_short_problem(data_dir: &std::path::Path) -> String {
    format!(
        "data_dir {} holds a restore that was cut short: run `braid-node --restore BACKUP --data-dir {}` again (a copy it had checked is moved into place; else it starts over)",
        data_dir.display(),
        data_dir.display()
    )
}

/// Signs an audit checkpoint whenever the last one is older than `every`
/// (checked at least every five seconds).
fn spawn_checkpointer(engine: Arc<Engine>, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    let period = every.min(std::time::Duration::from_secs(5));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            let engine = Arc::clone(&engine);
            match tokio::task::spawn_blocking(move || engine.audit_checkpoint_if_stale()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "could not sign an audit checkpoint"),
                Err(_) => return,
            }
        }
    })
}

/// gRPC server reflection, for tools such as grpcurl.
fn reflection_service() -> anyhow::Result<tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>> {
    let service = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(braid_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("build the reflection service")?;
    tracing::info!("gRPC server reflection is on");
    Ok(service)
}

/// Takes from the store's files what an erasure or a key rotation cut
/// short by a stop had left in them (the compaction it owed).
fn spawn_owed_compaction(engine: Arc<Engine>) {
    tokio::task::spawn_blocking(move || {
        if engine.pay_owed_compaction("erased records") {
            tracing::info!("the store compacted what an erasure cut short had left in its files");
        }
    });
}

/// Marks the history rows of uploads that were open when the node last
/// stopped as cut short (each holds what its acknowledged batches did).
async fn close_cut_short_uploads(engine: &Arc<Engine>) {
    let engine = Arc::clone(engine);
    match tokio::task::spawn_blocking(move || engine.close_cut_short_uploads()).await {
        Ok(Ok(0)) => {}
        Ok(Ok(uploads)) => tracing::info!(uploads, "uploads that were open when the node stopped are marked cut short in their agencies' histories"),
        Ok(Err(error)) => tracing::warn!(%error, "could not mark the uploads the last stop cut short; their histories say \"in progress\""),
        Err(_) => tracing::warn!("marking the uploads the last stop cut short stopped unexpectedly"),
    }
}

/// Settles what uploads decided with the model's starting values and
/// did not settle themselves (`Engine::unsettled_marks`, read before the
/// node takes any call, so that an upload begun since keeps its own),
/// audited as the node's own `ingest.settle`.
async fn spawn_owed_settle(engine: &Arc<Engine>) {
    let reading = Arc::clone(engine);
    let marked = match tokio::task::spawn_blocking(move || reading.unsettled_marks()).await {
        Ok(Ok(marked)) if marked.is_empty() => return,
        Ok(Ok(marked)) => marked,
        Ok(Err(error)) => return tracing::warn!(%error, "could not read what uploads left unsettled; the next start tries again"),
        Err(_) => return tracing::warn!("reading what uploads left unsettled stopped unexpectedly"),
    };
    let engine = Arc::clone(engine);
    tokio::task::spawn_blocking(move || {
        let entry = audit::node_entry("ingest.settle", "settling uploads that ended unsettled");
        match engine.settle(&marked, entry) {
            Ok((involvements, audit_entry)) => tracing::info!(involvements, audit_entry, "settled uploads that had ended unsettled"),
            Err(error) => tracing::warn!(%error, "could not settle uploads that had ended unsettled; the next start tries again"),
        }
    });
}

/// The scheduled retention sweep: erases expired records (one audit entry
/// per sweep that erased any) every `sweep_minutes`.
fn spawn_sweeper(engine: Arc<Engine>, settings: Arc<retention::RetentionSettings>) -> tokio::task::JoinHandle<()> {
    let period = std::time::Duration::from_secs(settings.sweep_minutes * 60);
    tracing::info!(every_minutes = settings.sweep_minutes, "retention sweeps scheduled");
    // A sweep that failed (a disk nearly full refuses every change) is
    // tried again this much later, not a whole period later: erasure is
    // owed, and frees room.
    let retry = period.min(std::time::Duration::from_secs(600));
    tokio::spawn(every_with_retry(period, retry, move || {
        let (engine, settings) = (Arc::clone(&engine), Arc::clone(&settings));
        async move {
            let swept = tokio::task::spawn_blocking(move || {
                crate::retention::sweep(&engine, &settings, crate::retention::Then::EraseAny(crate::retention::scheduled_entry()))
            })
            .await;
            match swept {
                Ok(Ok(sweep)) => {
                    if sweep.erased > 0 {
                        tracing::info!(
                            erased = sweep.erased,
                            audit_entry = sweep.audit_index,
                            compacted = sweep.compacted,
                            "retention sweep erased expired records"
                        );
                    }
                    Tried::Done
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, retry_seconds = retry.as_secs(), "the retention sweep failed; it is tried again");
                    Tried::Failed
                }
                Err(error) if error.is_cancelled() => Tried::Cancelled,
                Err(_) => {
                    tracing::error!(retry_seconds = retry.as_secs(), "the retention sweep stopped unexpectedly; it is tried again");
                    Tried::Failed
                }
            }
        }
    }))
}

/// What one try of a scheduled job came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tried {
    Done,
    Failed,
    /// The node is stopping: no more tries.
    Cancelled,
}

/// Tries `job` every `period`, the first time at once; a try that failed is
/// made again `retry` later, until one is done (a late run delays the
/// schedule rather than bunching tries up).
async fn every_with_retry<F, Fut>(period: std::time::Duration, retry: std::time::Duration, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Tried>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        loop {
            match job().await {
                Tried::Done => break,
                Tried::Cancelled => return,
                Tried::Failed => tokio::time::sleep(retry).await,
            }
        }
    }
}

/// Keeps the gRPC health service true to the engine: SERVING while it can
/// do its work; NOT_SERVING after a failed write (`failed` is notified,
/// and the node stops), and for uploads while the disk is nearly full.
fn spawn_health_watch(
    engine: Arc<Engine>,
    health: tonic_health::server::HealthReporter,
    failed: Arc<tokio::sync::Notify>,
    audit_only: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let space = {
                let engine = Arc::clone(&engine);
                tokio::task::spawn_blocking(move || engine.check_space().is_ok()).await.unwrap_or(false)
            };
            let now = (engine.healthy(), space);
            if last != Some(now) {
                let (healthy, space) = now;
                if !healthy {
                    tracing::error!(
                        "a write failed after later batches were linked: the node reports NOT_SERVING and stops, to be restarted \
                         (acknowledged batches are safe; it rebuilds from them)"
                    );
                    failed.notify_one();
                }
                let status = |serving: bool| if serving { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
                // A nearly full disk stops uploads, not reads: only the
                // ingest service reports it (the node stays in rotation).
                // An audit-only node serves auditors' reads, nothing else.
                let others = healthy && !audit_only;
                health.set_service_status("braid.v1.IngestService", status(others && space)).await;
                for service in ["", "braid.v1.AdminService", "braid.v1.PanelService"] {
                    health.set_service_status(service, status(others)).await;
                }
                health.set_service_status("braid.v1.AuditService", status(healthy)).await;
                last = Some(now);
            }
            tokio::time::sleep(ops::HEALTH_PERIOD).await;
        }
    })
}

/// Closes the engine once serving has stopped: a last audit checkpoint,
/// then the store, once in-flight blocking work has released it.
async fn close_engine(engine: Arc<Engine>, audit_only: bool) {
    if !engine.healthy() {
        // The store's last write failed: it is left as a crash would
        // leave it (RocksDB recovers it from its log on the next open);
        // closing it after such a failure can abort inside RocksDB.
        std::mem::forget(engine);
        return;
    }
    // A last checkpoint covers every entry, so an auditor sees the
    // final state signed (an audit-only node signs nothing).
    let last = Arc::clone(&engine);
    match (!audit_only).then(|| tokio::task::spawn_blocking(move || last.audit_checkpoint())) {
        None => {}
        Some(signing) => match signing.await {
            Ok(Ok((checkpoint, _))) => tracing::info!(size = checkpoint.size, "audit log checkpointed"),
            Ok(Err(error)) => tracing::warn!(%error, "could not sign a last audit checkpoint"),
            Err(_) => tracing::warn!("could not sign a last audit checkpoint"),
        },
    }
    // Wait for in-flight blocking work to release the engine, then close
    // the store so the directory can be reopened.
    for _ in 0..500 {
        if Arc::strong_count(&engine) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(engine);
}

/// The gate every call passes: the policy, the limits, the agencies'
/// types and the metrics it counts into.
fn build_gate(engine: Arc<Engine>, policy: braid_access::Policy, config: &NodeConfig, ops_node: &ops::Node, tls: Option<&listener::Tls>) -> gate::Gate {
    let mut gate = gate::Gate::new(engine, policy, config.insecure_dev);
    if let Some(tls) = tls {
        gate.watch_revocations(tls.revoked());
    }
    gate.limit_audited_denials(config.limits.audited_denials_per_minute);
    gate.limit_uploads(&config.limits);
    gate.set_agency_types(config.agencies.clone());
    if config.agencies.is_empty() {
        tracing::warn!("no [agencies] in the config: each upload's agency type is taken from the upload itself (set [agencies] in production)");
    }
    #[cfg(feature = "benchmark-baseline")]
    if config.unaudited_reads_for_benchmarks {
        tracing::warn!("reads are NOT audited: a benchmark baseline, never a deployment");
        gate.skip_read_audit_for_benchmarks();
    }
    gate.set_metrics(Arc::clone(&ops_node.metrics));
    if config.insecure_dev {
        tracing::warn!("--insecure-dev: listening WITHOUT TLS; callers' principals are claimed, not proven");
    }
    gate
}

/// Warns of each partnership agency that no principal in the policy
/// uploads for: its panel would never see that agency's records.
fn warn_unreached_agencies(config: &NodeConfig, policy: &braid_access::Policy) {
    for (partnership, agency) in agencies_nobody_uploads_for(config, policy) {
        tracing::warn!(
            %partnership,
            %agency,
            "the partnership names an agency that no principal in the policy uploads for (a misspelt code?): its panel will never see that agency's records"
        );
    }
}

/// Starts the operations listener (/healthz, /readyz, /metrics) when one
/// is configured: it answers probes from the start, not ready while the
/// store opens and the index is rebuilt.
async fn start_operations(
    listen: Option<SocketAddr>,
    ops_node: &Arc<ops::Node>,
    ops_stop: &Arc<tokio::sync::Notify>,
) -> anyhow::Result<Option<(SocketAddr, tokio::task::JoinHandle<()>)>> {
    let Some(address) = listen else { return Ok(None) };
    let stop = Arc::clone(ops_stop);
    let (bound, task) = ops::serve(address, Arc::clone(ops_node), async move { stop.notified().await }).await?;
    tracing::info!(address = %bound, "operations listener (/healthz, /readyz, /metrics)");
    Ok(Some((bound, task)))
}

/// Opens the store (audit-only when configured so) and rebuilds the index
/// on the blocking pool; uploads are checked against `[retention]`.
async fn open_engine(config: &NodeConfig, checkpoints: audit::CheckpointPolicy) -> anyhow::Result<Arc<Engine>> {
    let opened = std::time::Instant::now();
    let (data_dir, expected, max, storage) = (config.data_dir.clone(), config.expected_epoch.clone(), config.max_batch_records, config.storage);
    let audit_only = config.audit_only;
    let engine = tokio::task::spawn_blocking(move || match audit_only {
        true => Engine::open_audit_only(&data_dir, storage),
        false => Engine::open_with_space(&data_dir, expected, max, checkpoints, storage),
    })
    .await
    .context("open the store")?
    .context("open the store")?;
    engine.set_retention(config.retention.clone());
    let engine = Arc::new(engine);
    tracing::info!(involvements = engine.index_size().unwrap_or(0), seconds = opened.elapsed().as_secs_f64(), "index rebuilt");
    if let Some(reason) = engine.audit_only() {
        tracing::warn!(%reason, "AUDIT-ONLY: serving auditors' reads of the audit log; nothing is written and every other call is refused");
    }
    Ok(engine)
}

/// Stops the node's background tasks and waits for them to end.
async fn stop_background(tasks: [Option<tokio::task::JoinHandle<()>>; 3]) {
    for task in tasks.into_iter().flatten() {
        task.abort();
        let _ = task.await;
    }
}

/// Opens the store and starts serving on `config.listen`.
pub async fn spawn(config: NodeConfig) -> anyhow::Result<RunningNode> {
    config.validate()?;
    anyhow::ensure!(!crate::restore::cut_short(&config.data_dir), "{}", cut_short_problem(&config.data_dir));
    let policy_path = config.policy.clone().context("policy must be set")?;
    let policy = read_policy(&policy_path)?;
    warn_unreached_agencies(&config, &policy);
    let tls = config.tls.as_ref().map(listener::Tls::load).transpose()?.map(Arc::new);
    let max = config.max_batch_records;
    let partnerships = config.partnerships.clone();
    let backups_dir = config.backups_dir.clone();
    let retention = Arc::new(config.retention.clone());
    let checkpoints = audit::CheckpointPolicy::from(config.audit);
    // The operations listener answers probes from the start: not ready
    // while the store opens and the index is rebuilt.
    let counts = Arc::new(ListenerCounts::default());
    let ops_node = Arc::new(ops::Node { counts: Arc::clone(&counts), ..ops::Node::default() });
    let ops_stop = Arc::new(tokio::sync::Notify::new());
    let operations = start_operations(config.operations_listen, &ops_node, &ops_stop).await?;
    let audit_only = config.audit_only;
    let engine = open_engine(&config, checkpoints).await?;
    if !audit_only {
        close_cut_short_uploads(&engine).await;
        spawn_owed_settle(&engine).await;
    }
    let _ = ops_node.engine.set(Arc::downgrade(&engine));
    let gate = Arc::new(build_gate(Arc::clone(&engine), policy, &config, &ops_node, tls.as_deref()));
    let _ = ops_node.gate.set(Arc::downgrade(&gate));
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("listen on {}", config.listen))?;
    let address = listener.local_addr().context("read the bound address")?;
    let (shutdown_sender, shutdown_receiver) = tokio::sync::oneshot::channel::<()>();
    let with_tls = tls.is_some();
    let limits = config.limits;
    let incoming = listener::accept(listener, tls.clone(), &limits, Arc::clone(&counts));
    // An audit-only node signs nothing and erases nothing.
    let checkpointer = (!audit_only).then(|| spawn_checkpointer(Arc::clone(&engine), checkpoints.every));
    // The scheduled retention sweep: erases expired records (one audit
    // entry per sweep that erased any) every `sweep_minutes`.
    let sweeper = (!audit_only && retention.any_rule() && retention.sweep_minutes > 0).then(|| spawn_sweeper(Arc::clone(&engine), Arc::clone(&retention)));
    if !audit_only {
        spawn_owed_compaction(Arc::clone(&engine));
    }
    // The standard gRPC health service on the mTLS port: SERVING while
    // the engine can do its work; NOT_SERVING after a failed write, and for
    // uploads while the disk is nearly full.
    let (health, health_service) = tonic_health::server::health_reporter();
    let failed = Arc::new(tokio::sync::Notify::new());
    let health_watch = spawn_health_watch(Arc::clone(&engine), health, Arc::clone(&failed), audit_only);
    let reflection = if config.reflection { Some(reflection_service()?) } else { None };
    let served_gate = Arc::clone(&gate);
    let serving_node = Arc::clone(&ops_node);
    let task = tokio::spawn(async move {
        let gate = served_gate;
        serving_node.serving.store(true, std::sync::atomic::Ordering::SeqCst);
        let keepalive = std::time::Duration::from_secs(limits.keepalive_seconds);
        let served = tonic::transport::Server::builder()
            .timeout(std::time::Duration::from_secs(limits.call_seconds))
            .max_concurrent_streams(limits.streams_per_connection)
            .concurrency_limit_per_connection(limits.streams_per_connection as usize)
            .http2_keepalive_interval(Some(keepalive))
            .http2_keepalive_timeout(Some(keepalive))
            .tcp_keepalive(Some(keepalive))
            .http2_max_header_list_size(32 * 1024)
            .http2_max_pending_accept_reset_streams(Some(64))
            .add_service(IngestServiceServer::new(service::Ingest::new(Arc::clone(&gate))).max_decoding_message_size(max_upload_message_bytes(max)))
            .add_service(
                AdminServiceServer::new(service::Admin::new(Arc::clone(&gate), backups_dir).with_retention(Arc::clone(&retention)))
                    .max_decoding_message_size(MAX_QUERY_MESSAGE_BYTES),
            )
            .add_service(PanelServiceServer::new(service::Panel::new(Arc::clone(&gate), partnerships)).max_decoding_message_size(MAX_QUERY_MESSAGE_BYTES))
            .add_service(AuditServiceServer::new(service::Audit::new(Arc::clone(&gate))).max_decoding_message_size(MAX_QUERY_MESSAGE_BYTES))
            .add_service(health_service)
            .add_optional_service(reflection)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = shutdown_receiver.await;
            })
            .await;
        serving_node.serving.store(false, std::sync::atomic::Ordering::SeqCst);
        stop_background([checkpointer, sweeper, Some(health_watch)]).await;
        drop(gate);
        served.context("serve gRPC")?;
        close_engine(engine, audit_only).await;
        Ok(())
    });
    tracing::info!(%address, tls = with_tls, "braid-node listening");
    Ok(RunningNode {
        address,
        tls: with_tls,
        gate,
        counts,
        tls_files: tls,
        operations: operations.as_ref().map(|(address, _)| *address),
        operations_stop: ops_stop,
        operations_task: operations.map(|(_, task)| task),
        policy: policy_path,
        shutdown: Some(shutdown_sender),
        task,
        failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_failed_scheduled_try_is_made_again_after_the_retry_not_the_period() {
        let started = tokio::time::Instant::now();
        let tries = Arc::new(std::sync::Mutex::new(Vec::new()));
        let outcomes = [Tried::Failed, Tried::Failed, Tried::Done, Tried::Done, Tried::Cancelled];
        let seen = Arc::clone(&tries);
        let job = move || {
            let mut seen = seen.lock().expect("tries");
            let outcome = outcomes[seen.len()];
            seen.push(started.elapsed());
            async move { outcome }
        };
        tokio::time::timeout(Duration::from_secs(3600), every_with_retry(Duration::from_secs(600), Duration::from_secs(60), job))
            .await
            .expect("ends when cancelled");
        let at: Vec<u64> = tries.lock().expect("tries").iter().map(Duration::as_secs).collect();
        // At once; twice more a minute apart after failing; then on the
        // schedule: ten minutes after the first, and ten after that.
        assert_eq!(at, [0, 60, 120, 600, 1200]);
    }
}
