//! What the audit log costs, and how fast it verifies (a bench binary, run
//! with `cargo bench -p braid-benches --bench audit`).
//!
//! 1. Panel-query throughput with and without the audit: a real node on
//!    loopback over mTLS, profile queries by record ref from many concurrent
//!    callers (64 in flight over 8 connections), each answer released only
//!    once its audit entry is synced. The baseline is the same node with
//!    reads left unaudited (a switch only benchmarks can set). The two modes
//!    alternate, twice each, and the ratio is taken within the run. Also
//!    one caller at a time, where nothing can share a sync.
//! 2. Verifying a log of 1M entries: `braid audit verify` itself (the
//!    binary) through a running node (every entry streamed over mTLS, the
//!    tree recomputed, every checkpoint checked), and directly from the stopped node's
//!    directory; and how long the node takes to open (it verifies the log
//!    before serving).
//!
//! `BRAID_BENCH_AUDIT_CHILDREN` (default 20,000) sizes the store;
//! `BRAID_BENCH_AUDIT_ENTRIES` (default 1,000,000) the log.

/// The allocator `braid-node` runs with, so the figures are its figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use braid_benches as common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use braid_audit::{Entry, Log, Signer};
use braid_node::Engine;
use braid_node::NodeConfig;
use braid_proto::v1;
use braid_store::{Store, WriteSet};
use common::AGENCIES;

const CONNECTIONS: usize = 8;
const IN_FLIGHT: usize = 64;
const WINDOW: Duration = Duration::from_secs(6);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn node_config(data: &Path, keys: &Path, unaudited: bool) -> NodeConfig {
    NodeConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: data.to_path_buf(),
        partnerships: [("north".to_owned(), AGENCIES.iter().map(|a| (*a).to_owned()).collect())].into(),
        tls: Some(braid_node::TlsFiles::in_dir(&keys.join("node"))),
        policy: Some(keys.join("node/policy.toml")),
        unaudited_reads_for_benchmarks: unaudited,
        operations_listen: None,
        ..NodeConfig::default()
    }
}

fn profile_request(agency: &str, record_ref: &str) -> v1::ProfileRequest {
    v1::ProfileRequest {
        context: Some(v1::PanelContext {
            partnership: "north".to_owned(),
            purpose: "benchmark: panel review".to_owned(),
            case_reference: "BENCH-1".to_owned(),
        }),
        subject: Some(v1::profile_request::Subject::Record(v1::RecordSubject { agency: agency.to_owned(), record_ref: record_ref.to_owned() })),
    }
}

/// Profile queries per second with `in_flight` concurrent callers over
/// `connections` connections, counted over `WINDOW` after a warm-up.
async fn throughput(url: &str, keys: &Path, refs: &Arc<Vec<(String, String)>>, connections: usize, in_flight: usize) -> f64 {
    let args = braid_client::NodeArgs::mtls(url, &keys.join("panel-north"));
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(braid_client::panel(&args).await.expect("connect"));
    }
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for caller in 0..in_flight {
        let mut client = clients[caller % connections].clone();
        let (refs, counting, stop, done) = (Arc::clone(refs), Arc::clone(&counting), Arc::clone(&stop), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut next = caller * 7919;
            while !stop.load(Ordering::Relaxed) {
                let (agency, record_ref) = &refs[next % refs.len()];
                next += in_flight;
                client.profile(profile_request(agency, record_ref)).await.expect("profile");
                if counting.load(Ordering::Relaxed) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let answered = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("caller");
    }
    answered as f64 / elapsed.as_secs_f64()
}

/// Writes a signed audit log of `entries` entries (a checkpoint every
/// 1,000) straight into a store in `dir`.
fn write_log(dir: &std::path::Path, entries: u64) {
    let store = Store::open(dir).expect("store");
    let (signer, document) = Signer::generate().expect("key");
    let mut set = WriteSet::new();
    set.set_audit_signing_key(document);
    store.write(set).expect("write key");
    let mut log = Log::new();
    let mut set = WriteSet::new();
    for index in 0..entries {
        let entry = Entry {
            time_ms: 1_790_000_000_000 + index,
            principal: "panel-north".to_owned(),
            role: "panel:north".to_owned(),
            action: "panel.profile".to_owned(),
            purpose: "monthly multi-agency panel review".to_owned(),
            case_reference: format!("MACE-{}", index / 1000),
            touched: vec![format!("P{:07}", index * 7 % 1_000_003)],
            result_count: 1,
            outcome: "ok".to_owned(),
            ..Entry::default()
        };
        let (entry, bytes, _) = log.append(entry);
        set.put_audit_entry(entry.index, bytes);
        if log.size().is_multiple_of(1000) {
            set.put_audit_checkpoint(log.size(), signer.checkpoint(log.size(), log.root(), 0).to_text().into_bytes());
        }
        if log.size().is_multiple_of(20_000) {
            store.write(std::mem::take(&mut set)).expect("write entries");
        }
    }
    store.write(set).expect("write entries");
}

/// Profile-query throughput with and without the audit, over two rounds,
/// and what the audit costs.
async fn compare_throughput(data: &std::path::Path, keys: &std::path::Path, refs: &Arc<Vec<(String, String)>>) {
    let mut figures: Vec<(bool, usize, f64)> = Vec::new();
    for round in 0..2 {
        for unaudited in [true, false] {
            let node = braid_node::spawn(node_config(data, keys, unaudited)).await.expect("start node");
            let url = node.url();
            for (connections, in_flight) in [(CONNECTIONS, IN_FLIGHT), (1, 1)] {
                let rate = throughput(&url, keys, refs, connections, in_flight).await;
                println!("round {}: {:<9} {in_flight:>2} in flight: {rate:>7.0} profile queries/s", round + 1, if unaudited { "unaudited" } else { "audited" });
                figures.push((unaudited, in_flight, rate));
            }
            node.stop().await.expect("stop");
        }
    }
    for in_flight in [IN_FLIGHT, 1] {
        let mean = |unaudited: bool| {
            let rates: Vec<f64> = figures.iter().filter(|f| f.0 == unaudited && f.1 == in_flight).map(|f| f.2).collect();
            rates.iter().sum::<f64>() / rates.len() as f64
        };
        let (plain, audited) = (mean(true), mean(false));
        println!(
            "{in_flight:>2} in flight: audited {audited:.0}/s vs unaudited {plain:.0}/s: the audit costs {:.1}% of throughput",
            100.0 * (1.0 - audited / plain)
        );
    }
}

#[tokio::main]
async fn main() {
    // Drives the `braid` binary: found (or said to be missing) first.
    common::braid_binary();
    let children = env("BRAID_BENCH_AUDIT_CHILDREN", 20_000);
    let entries = env("BRAID_BENCH_AUDIT_ENTRIES", 1_000_000) as u64;
    let keys_dir = tempfile::tempdir().expect("keys dir");
    common::development_keys(keys_dir.path(), &["north"]);
    let keys = keys_dir.path();

    // 1. Throughput with and without the audit.
    let data = tempfile::tempdir().expect("data dir");
    let refs = {
        let engine = Engine::open(data.path(), None, 5000, Default::default()).expect("open");
        let (refs, involvements) = tokio::task::block_in_place(|| common::fill(&engine, children, "audit-bench"));
        println!("store: {involvements} involvements from {children} children");
        Arc::new(refs)
    };
    compare_throughput(data.path(), keys, &refs).await;
    drop(data);

    // 2. Verifying a log of `entries` entries.
    let data = tempfile::tempdir().expect("data dir");
    let started = Instant::now();
    write_log(data.path(), entries);
    println!("wrote a log of {entries} entries (a checkpoint every 1000) in {:.1}s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let node = braid_node::spawn(node_config(data.path(), keys, false)).await.expect("start node");
    println!("node opened the store, verifying the whole log first, in {:.1}s", started.elapsed().as_secs_f64());
    // `braid audit verify` itself, as an auditor runs it.
    let started = Instant::now();
    let (url, bundle) = (node.url(), keys.join("auditor"));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::braid_binary())
            .args(["audit", "verify", "--node", &url, "--tls"])
            .arg(bundle)
            .output()
            .expect("run braid audit verify")
    })
    .await
    .expect("verify");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && printed.contains("audit log verified"), "{printed} {}", String::from_utf8_lossy(&output.stderr));
    println!(
        "braid audit verify through the node (every entry streamed over mTLS, tree recomputed, every checkpoint checked): {:.1}s",
        started.elapsed().as_secs_f64()
    );
    println!("  {}", printed.trim());
    node.stop().await.expect("stop");
    let started = Instant::now();
    let verified = braid_node::verify_directory(data.path(), &[], &|_| Ok(())).expect("the log verifies");
    println!("verify the stopped node's directory: {} entries in {:.1}s", verified.entries, started.elapsed().as_secs_f64());
}
