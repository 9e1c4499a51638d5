//! The operations listener and the node's metrics.
//!
//! Probes (systemd, Docker, Kubernetes) and Prometheus cannot present a
//! client certificate, so they get their own plain-HTTP listener, on
//! loopback unless configured otherwise, serving exactly three paths and
//! nothing else — no data, no administrative action:
//!
//! * `/healthz` — liveness: 200 while the node can do its work; 503 once a
//!   write failed and the node must be restarted (a supervisor restarts it).
//! * `/readyz` — readiness: 503 while the store is opened and the index
//!   rebuilt at start-up, after a failed write, or on an audit-only node;
//!   200 when serving.
//! * `/metrics` — Prometheus text: uploads, batches and involvements per
//!   agency, batch latency, linkage decisions, call latency and refusals
//!   per action, listener refusals, audit log size and checkpoint age,
//!   RocksDB sizes and write stalls. Labels are agency codes, action names
//!   and decision kinds: never a record ref, person ref, profile id or
//!   principal.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::engine::Engine;
use crate::listener::ListenerCounts;

/// An agency label (its code: an organisation, never a person).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgencyLabel {
    /// Agency code.
    pub agency: String,
}

/// An action label (e.g. `panel.signals`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    /// Action name.
    pub action: String,
}

/// A linkage decision kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabel {
    decision: String,
}

/// Why the listener refused a connection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// What the node counts as it serves.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Upload batches applied, per agency.
    pub batches: Family<AgencyLabel, Counter>,
    /// Records in them.
    pub records: Family<AgencyLabel, Counter>,
    /// Involvements in them.
    pub involvements: Family<AgencyLabel, Counter>,
    /// Re-sent upload batches answered from their stored acknowledgement.
    pub replayed: Family<AgencyLabel, Counter>,
    /// Seconds to apply one batch (validate, link, write, sync).
    pub batch_seconds: Histogram,
    /// Seconds per call, by action (panel queries, administration, audit).
    pub call_seconds: HistogramFamily<ActionLabel>,
    /// Refused calls, by action.
    pub denials: Family<ActionLabel, Counter>,
    /// Seconds to make one audit entry durable.
    pub audit_append_seconds: Histogram,
    decisions: Family<DecisionLabel, Counter>,
    listener: Family<ReasonLabel, Counter>,
    unaudited_denials: Counter,
    healthy: Gauge,
    audit_entries: Gauge,
    checkpoint_age: Gauge,
    sst_bytes: Gauge,
    memtable_bytes: Gauge,
    write_stopped: Gauge,
    disk_free: Gauge,
    disk_low: Gauge,
    delayed_write_rate: Gauge,
    /// When this process started: the checkpoint age while entries wait
    /// for a first checkpoint.
    started: std::time::Instant,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, registered.
    pub fn new() -> Metrics {
        let metrics = Metrics {
            registry: Mutex::new(Registry::with_prefix("braid")),
            batches: Family::default(),
            replayed: Family::default(),
            records: Family::default(),
            involvements: Family::default(),
            batch_seconds: latency_histogram(),
            call_seconds: Family::new_with_constructor(latency_histogram),
            denials: Family::default(),
            audit_append_seconds: latency_histogram(),
            decisions: Family::default(),
            listener: Family::default(),
            unaudited_denials: Counter::default(),
            healthy: Gauge::default(),
            audit_entries: Gauge::default(),
            checkpoint_age: Gauge::default(),
            started: std::time::Instant::now(),
            sst_bytes: Gauge::default(),
            memtable_bytes: Gauge::default(),
            write_stopped: Gauge::default(),
            disk_free: Gauge::default(),
            disk_low: Gauge::default(),
            delayed_write_rate: Gauge::default(),
        };
        let mut registry = metrics.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        registry.register("upload_batches", "Upload batches applied, per agency", metrics.batches.clone());
        registry.register(
            "upload_replayed_batches",
            "Re-sent upload batches answered from their stored acknowledgement (nothing applied), per agency",
            metrics.replayed.clone(),
        );
        registry.register("upload_records", "Records in applied upload batches, per agency", metrics.records.clone());
        registry.register("upload_involvements", "Involvements in applied upload batches, per agency", metrics.involvements.clone());
        registry.register("upload_batch_seconds", "Seconds to apply one upload batch (validate, link, write durably)", metrics.batch_seconds.clone());
        registry.register("call_seconds", "Seconds per call, by action", metrics.call_seconds.clone());
        registry.register("denials", "Calls refused by the access policy, by action", metrics.denials.clone());
        registry.register("denials_unaudited", "Refusals not audited because their caller was over its limit", metrics.unaudited_denials.clone());
        registry.register(
            "audit_append_seconds",
            "Seconds to make one audit entry durable, alone or with the data it records",
            metrics.audit_append_seconds.clone(),
        );
        registry.register("linkage_decisions", "Linkage decisions since start-up, by kind", metrics.decisions.clone());
        registry.register("listener_refused", "Connections the listener refused, by reason", metrics.listener.clone());
        registry.register("healthy", "1 while the node can do its work, 0 after a failed write (restart it)", metrics.healthy.clone());
        registry.register("audit_entries", "Entries in the audit log", metrics.audit_entries.clone());
        registry.register(
            "audit_checkpoint_age_seconds",
            "Seconds since the newest audit checkpoint was signed (with entries and none signed yet: since the node started)",
            metrics.checkpoint_age.clone(),
        );
        registry.register("rocksdb_sst_bytes", "Bytes in RocksDB's SST files", metrics.sst_bytes.clone());
        registry.register("rocksdb_memtable_bytes", "Bytes in RocksDB's memtables", metrics.memtable_bytes.clone());
        registry.register("rocksdb_write_stopped", "1 while RocksDB has stopped writes (a stall)", metrics.write_stopped.clone());
        registry.register("data_disk_free_bytes", "Bytes free on the data directory's disk at the last check", metrics.disk_free.clone());
        registry.register("data_disk_low", "1 while the data directory's disk is nearly full: changes are refused, reads continue", metrics.disk_low.clone());
        registry.register("rocksdb_delayed_write_rate", "Bytes/s RocksDB is slowing writes to (0: not delayed)", metrics.delayed_write_rate.clone());
        drop(registry);
        metrics
    }

    /// One re-sent batch of `agency` answered from its stored
    /// acknowledgement: nothing applied, so no records counted.
    pub fn replayed(&self, agency: &str) {
        self.replayed.get_or_create(&AgencyLabel { agency: agency.to_owned() }).inc();
    }

    /// One applied batch of `agency`.
    pub fn batch(&self, agency: &str, records: u64, involvements: u64, seconds: f64) {
        let label = AgencyLabel { agency: agency.to_owned() };
        self.batches.get_or_create(&label).inc();
        self.records.get_or_create(&label).inc_by(records);
        self.involvements.get_or_create(&label).inc_by(involvements);
        self.batch_seconds.observe(seconds);
    }

    /// The Prometheus text exposition, with what is read at scrape time
    /// brought up to date first.
    fn render(&self, node: &Node) -> String {
        let gauge = |g: &Gauge, v: u64| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        let counter = |c: &Counter, v: u64| c.inner().store(v, Ordering::Relaxed);
        let counts = &node.counts;
        for (reason, count) in [
            ("handshake_failed", &counts.handshake_failed),
            ("handshake_timed_out", &counts.handshake_timed_out),
            ("over_connection_limit", &counts.over_connection_limit),
        ] {
            counter(&self.listener.get_or_create(&ReasonLabel { reason: reason.to_owned() }), ListenerCounts::get(count));
        }
        if let Some(engine) = node.engine() {
            gauge(&self.healthy, u64::from(engine.healthy()));
            for (decision, count) in engine.decision_counts().counts() {
                counter(&self.decisions.get_or_create(&DecisionLabel { decision: decision.name().to_owned() }), count);
            }
            if let Ok((entries, newest)) = engine.audit_status() {
                gauge(&self.audit_entries, entries);
                // With entries and no checkpoint yet, the log has gone
                // unsigned since this process started at least (an alert
                // on the age then fires, as it should).
                let age = match newest {
                    Some(ms) => crate::audit::now_ms().saturating_sub(ms) / 1000,
                    None if entries > 0 => self.started.elapsed().as_secs(),
                    None => 0,
                };
                gauge(&self.checkpoint_age, age);
            }
            let store = engine.store_health();
            gauge(&self.sst_bytes, store.sst_bytes);
            gauge(&self.memtable_bytes, store.memtable_bytes);
            gauge(&self.write_stopped, u64::from(store.write_stopped));
            let (free, low) = engine.space();
            gauge(&self.disk_free, free);
            gauge(&self.disk_low, u64::from(low));
            gauge(&self.delayed_write_rate, store.delayed_write_rate);
        }
        if let Some(gate) = node.gate.get().and_then(Weak::upgrade) {
            counter(&self.unaudited_denials, gate.unaudited_denials());
        }
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            text.clear();
        }
        text
    }
}

/// What the operations listener reads: filled in as the node starts.
#[derive(Default)]
pub struct Node {
    /// The engine, once the store is open and the index rebuilt (weak: the
    /// store closes when the node stops, whatever probes are doing).
    pub engine: OnceLock<Weak<Engine>>,
    /// The gate, once calls are served.
    pub gate: OnceLock<Weak<crate::gate::Gate>>,
    /// The listener's counts.
    pub counts: Arc<ListenerCounts>,
    /// Set once gRPC is served.
    pub serving: AtomicBool,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

impl Node {
    fn engine(&self) -> Option<Arc<Engine>> {
        self.engine.get().and_then(Weak::upgrade)
    }

    fn healthy(&self) -> bool {
        self.engine().is_none_or(|engine| engine.healthy())
    }

    fn ready(&self) -> bool {
        self.serving.load(Ordering::SeqCst) && self.engine().is_some_and(|engine| engine.healthy())
    }

    fn disk_low(&self) -> bool {
        self.engine().is_some_and(|engine| engine.space().1)
    }
}

async fn healthz(State(node): State<Arc<Node>>) -> impl IntoResponse {
    if node.healthy() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy: a write failed after later batches were linked; restart the node\n")
    }
}

async fn readyz(State(node): State<Arc<Node>>) -> impl IntoResponse {
    if node.engine().is_some_and(|engine| engine.audit_only().is_some()) {
        // Out of rotation: only an auditor, sent here on purpose, is served.
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: the node runs audit-only (auditors' reads of the audit log only)\n")
    } else if node.ready() && node.disk_low() {
        // Reads are served: the node stays in rotation, and says why
        // uploads are refused.
        (StatusCode::OK, "ready for reads; the data directory's disk is nearly full: uploads and other changes are refused\n")
    } else if node.ready() {
        (StatusCode::OK, "ready\n")
    } else if !node.healthy() {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: a write failed; restart the node\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: opening the store and rebuilding the index\n")
    }
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let text = node.metrics.render(&node);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
}

/// Serves the operations listener on `address` until `shutdown` resolves;
/// returns the bound address.
pub async fn serve(
    address: SocketAddr,
    node: Arc<Node>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("listen for operations (health, metrics) on {address}"))?;
    let bound = listener.local_addr().context("read the operations address")?;
    let app = Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics)).with_state(node);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::warn!(%error, "the operations listener stopped");
        }
    });
    Ok((bound, task))
}

/// How often the gRPC health status is brought in line with the engine.
pub const HEALTH_PERIOD: Duration = Duration::from_millis(500);
