//! Throughput benchmark (a bench binary, run with `cargo bench -p braid-benches`):
//! pseudonymisation records/s on one thread, node ingest involvements/s
//! (validation, fuzzy linkage, one synced RocksDB write per batch) on about
//! 100k synthetic involvements, and ingest cost as the store grows past
//! 1M involvements (300,000 children, about 1.26M involvements; set
//! `BRAID_BENCH_SCALE_CHILDREN=0` to skip that part), then the node's memory
//! and restart time on that store.
//! Prints one line per figure.

/// The allocator `braid-node` runs with, so the figures are its figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use braid_benches as common;

use braid_cli::convert;
use std::time::Instant;

use braid_node::{Engine, Submission};
use braid_pseudonym::{pseudonymise_extract, Keys, SchemeSecret};
use braid_synth::{generate, NoiseLevel, SynthConfig};

fn main() {
    if let Some(path) = std::env::var_os("BRAID_BENCH_REOPEN") {
        reopen(std::path::Path::new(&path));
        return;
    }
    let children: usize = std::env::var("BRAID_BENCH_CHILDREN").ok().and_then(|v| v.parse().ok()).unwrap_or(24_000);
    let synthetic = generate(&SynthConfig { children, seed: 5, noise: NoiseLevel::Default });
    let secret = SchemeSecret::new(1, [42u8; 32]);
    let rows: usize = synthetic.extracts.iter().map(|e| e.rows).sum();
    println!("synthetic population: {children} children, {rows} extract rows");

    // Pseudonymisation, single thread, best of three.
    let mut best = f64::MAX;
    let mut outputs = Vec::new();
    for round in 0..3 {
        let started = Instant::now();
        let mut produced = Vec::new();
        for extract in &synthetic.extracts {
            let keys = Keys::derive(&secret, &extract.mapping.agency.code);
            let output = pseudonymise_extract(extract.csv.as_bytes(), &extract.mapping, &keys, |_| {}).expect("pseudonymise");
            produced.push((extract.mapping.agency.clone(), keys.epoch_fingerprint().to_owned(), output));
        }
        best = best.min(started.elapsed().as_secs_f64());
        if round == 0 {
            outputs = produced;
        }
    }
    println!("pseudonymise: {rows} rows in {best:.3}s = {:.0} records/s (one thread, best of 3)", rows as f64 / best);

    // Node ingest through the engine: 500-record batches, each one synced write.
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::open(dir.path(), None, 5000, Default::default()).expect("open");
    let started = Instant::now();
    let mut involvements = 0u64;
    for (agency, epoch, output) in &outputs {
        let records: Vec<_> = output.records.iter().map(convert::record).collect();
        let submission = Submission {
            agency: agency.code.clone(),
            agency_type: agency.agency_type.clone(),
            epoch: epoch.clone(),
            bridge_epoch: None,
            submission_id: "bench".to_owned(),
        };
        for (sequence, batch) in records.chunks(500).enumerate() {
            let ack = engine.apply_batch(&submission, sequence as u32, braid_node::incoming_batch(batch.to_vec()), common::bench_entry()).expect("apply").0;
            involvements += u64::from(ack.involvements);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = engine.stats().expect("stats");
    println!("ingest: {involvements} involvements in {seconds:.3}s = {:.0} involvements/s ({} profiles)", involvements as f64 / seconds, stats.profiles);
    drop(engine);
    scale(&secret);
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|line| line.starts_with(field)).and_then(|line| line.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Ingest throughput measured in windows as the store grows.
fn scale(secret: &SchemeSecret) {
    let children: usize = std::env::var("BRAID_BENCH_SCALE_CHILDREN").ok().and_then(|v| v.parse().ok()).unwrap_or(300_000);
    if children == 0 {
        return;
    }
    let synthetic = generate(&SynthConfig { children, seed: 11, noise: NoiseLevel::Default });
    let mut batches = Vec::new();
    for extract in &synthetic.extracts {
        let (submission, records) = common::upload_of(extract, secret, "scale");
        for chunk in records.chunks(1000) {
            batches.push((submission.clone(), chunk.to_vec()));
        }
    }
    // Interleave agencies so every window sees every kind of record.
    batches.sort_by_key(|(submission, records)| (records.first().map(|r| r.record_ref.clone()), submission.agency.clone()));
    drop(synthetic);
    // Each batch is handed over (moved) to the engine exactly once.
    let batches: Vec<(Submission, std::sync::Mutex<Option<Vec<_>>>)> =
        batches.into_iter().map(|(submission, records)| (submission, std::sync::Mutex::new(Some(records)))).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::open(dir.path(), None, 5000, Default::default()).expect("open");
    // Two uploads at a time by default (`BRAID_BENCH_UPLOADS`): the node
    // overlaps one batch's durable write with another's linking. Batches
    // are applied in order of taking. Progress is logged after each batch
    // and the windows are read from the log.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let progress = std::sync::Mutex::new(vec![(0u64, Instant::now())]);
    let stored_total = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    let uploads: usize = std::env::var("BRAID_BENCH_UPLOADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    std::thread::scope(|scope| {
        for _ in 0..uploads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((submission, slot)) = batches.get(index) else { break };
                let records = slot.lock().expect("batch").take().unwrap_or_default();
                let ack = engine.apply_batch(submission, index as u32, braid_node::incoming_batch(records), common::bench_entry()).expect("apply").0;
                let total = stored_total.fetch_add(u64::from(ack.involvements), std::sync::atomic::Ordering::SeqCst) + u64::from(ack.involvements);
                progress.lock().expect("progress").push((total, Instant::now()));
            });
        }
    });
    let mut log = progress.into_inner().expect("progress");
    log.sort_by_key(|(count, _)| *count);
    let stored = stored_total.into_inner();
    for mark in [10_000u64, 100_000, 1_000_000] {
        let Some(from) = log.iter().find(|(count, _)| *count >= mark) else { continue };
        // A window of a tenth of the stored count (at least 50,000), so the
        // occasional doubling of an in-memory array is averaged in, as it is
        // in sustained ingest.
        let window = (mark / 10).max(50_000);
        let Some(to) = log.iter().find(|(count, _)| *count >= from.0 + window) else { continue };
        let seconds = to.1.duration_since(from.1).as_secs_f64();
        println!(
            "ingest with {} involvements stored: {} more in {seconds:.2}s = {:.0} involvements/s",
            from.0,
            to.0 - from.0,
            (to.0 - from.0) as f64 / seconds
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ingest of {stored} involvements in {seconds:.1}s = {:.0} involvements/s overall ({uploads} uploads at a time); linker index {:.0} MiB",
        stored as f64 / seconds,
        engine.index_memory_bytes().expect("memory") as f64 / 1048576.0,
    );
    // The node's own memory at this size: a fresh process opens the store
    // (rebuilding the index) and reports its resident memory.
    drop(engine);
    let output =
        std::process::Command::new(std::env::current_exe().expect("bench path")).env("BRAID_BENCH_REOPEN", dir.path()).output().expect("reopen process");
    print!("{}", String::from_utf8_lossy(&output.stdout));
}

/// Run in a child process: open the store like a restarting node and report
/// memory and time.
fn reopen(path: &std::path::Path) {
    let started = Instant::now();
    let engine = Engine::open(path, None, 5000, Default::default()).expect("reopen");
    let reopen = started.elapsed().as_secs_f64();
    let stats = engine.stats().expect("stats");
    println!(
        "restart on {} involvements: index rebuilt in {reopen:.1}s; node resident memory {:.0} MiB (peak {:.0} MiB; linker index {:.0} MiB); RocksDB on disk {:.0} MiB",
        stats.involvements,
        rss_kib("VmRSS:") as f64 / 1024.0,
        rss_kib("VmHWM:") as f64 / 1024.0,
        engine.index_memory_bytes().expect("memory") as f64 / 1048576.0,
        walk_size(path) as f64 / 1048576.0
    );
}

fn walk_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => walk_size(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
