//! Throughput benchmark (a bench binary, run with `cargo bench -p braid-cli`):
//! pseudonymisation records/s on one thread, node ingest involvements/s
//! (validation, fuzzy linkage, one synced RocksDB write per batch) on about
//! 100k synthetic involvements, and ingest cost as the store grows towards
//! 1M involvements (set `BRAID_BENCH_SCALE_CHILDREN=0` to skip that part).
//! Prints one line per figure.

#[path = "../src/convert.rs"]
#[allow(dead_code)]
mod convert;

use std::time::Instant;

use braid_node::engine::{Engine, Submission};
use braid_pseudonym::{pseudonymise_extract, Keys, SchemeSecret};
use braid_synth::{generate, NoiseLevel, SynthConfig};

fn main() {
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
    let engine = Engine::open(dir.path(), None, 5000).expect("open");
    let started = Instant::now();
    let mut involvements = 0u64;
    for (agency, epoch, output) in &outputs {
        let records: Vec<_> = output.records.iter().map(convert::record).collect();
        let submission = Submission {
            agency: agency.code.clone(),
            agency_type: agency.agency_type.clone(),
            epoch: epoch.clone(),
            submission_id: "bench".to_owned(),
        };
        for (sequence, batch) in records.chunks(500).enumerate() {
            let ack = engine.apply_batch(&submission, sequence as u32, batch).expect("apply");
            involvements += u64::from(ack.involvements);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = engine.stats().expect("stats");
    println!(
        "ingest: {involvements} involvements in {seconds:.3}s = {:.0} involvements/s ({} profiles)",
        involvements as f64 / seconds,
        stats.profiles
    );
    drop(engine);
    scale(&secret);
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Ingest throughput measured in windows as the store grows.
fn scale(secret: &SchemeSecret) {
    let children: usize = std::env::var("BRAID_BENCH_SCALE_CHILDREN").ok().and_then(|v| v.parse().ok()).unwrap_or(260_000);
    if children == 0 {
        return;
    }
    let synthetic = generate(&SynthConfig { children, seed: 11, noise: NoiseLevel::Default });
    let mut batches = Vec::new();
    for extract in &synthetic.extracts {
        let keys = Keys::derive(secret, &extract.mapping.agency.code);
        let output = pseudonymise_extract(extract.csv.as_bytes(), &extract.mapping, &keys, |_| {}).expect("pseudonymise");
        let submission = Submission {
            agency: extract.mapping.agency.code.clone(),
            agency_type: extract.mapping.agency.agency_type.clone(),
            epoch: keys.epoch_fingerprint().to_owned(),
            submission_id: "scale".to_owned(),
        };
        let records: Vec<_> = output.records.iter().map(convert::record).collect();
        for chunk in records.chunks(1000) {
            batches.push((submission.clone(), chunk.to_vec()));
        }
    }
    // Interleave agencies so every window sees every kind of record.
    batches.sort_by_key(|(submission, records)| (records.first().map(|r| r.record_ref.clone()), submission.agency.clone()));
    drop(synthetic);
    let rss_before = rss_kib("VmRSS:");
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::open(dir.path(), None, 5000).expect("open");
    let marks = [10_000u64, 100_000, 1_000_000];
    let window = 50_000u64;
    let mut stored = 0u64;
    let mut window_start: Option<(u64, Instant)> = None;
    let mut reported = 0;
    let started = Instant::now();
    for (sequence, (submission, records)) in batches.iter().enumerate() {
        if window_start.is_none() && reported < marks.len() && stored >= marks[reported] {
            window_start = Some((stored, Instant::now()));
        }
        let ack = engine.apply_batch(submission, sequence as u32, records).expect("apply");
        stored += u64::from(ack.involvements);
        if let Some((from, at)) = window_start {
            if stored - from >= window {
                let seconds = at.elapsed().as_secs_f64();
                println!(
                    "ingest with {} involvements stored: {} more in {seconds:.2}s = {:.0} involvements/s",
                    from,
                    stored - from,
                    (stored - from) as f64 / seconds
                );
                window_start = None;
                reported += 1;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ingest of {stored} involvements in {seconds:.1}s = {:.0} involvements/s overall; linker index {:.0} MiB; process RSS grew {:.0} MiB (peak RSS {:.0} MiB, includes the benchmark's own copy of the data)",
        stored as f64 / seconds,
        engine.index_memory_bytes().expect("memory") as f64 / 1048576.0,
        (rss_kib("VmRSS:").saturating_sub(rss_before)) as f64 / 1024.0,
        rss_kib("VmHWM:") as f64 / 1024.0
    );
}
