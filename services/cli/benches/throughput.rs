//! Throughput benchmark (a bench binary, run with `cargo bench -p braid-cli`):
//! pseudonymisation records/s on one thread, and node ingest involvements/s
//! (validation, linkage, one synced RocksDB write per batch), on about 100k
//! synthetic involvements. Prints one line per figure.

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
}
