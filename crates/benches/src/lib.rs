//! Braid's bench binaries (`cargo bench -p braid-benches --bench …`):
//! ingest throughput, panel latency (quiet and under a flood of uploads),
//! what the audit log costs, and console page times. They use the public
//! APIs of the node, the client library and the CLI's library only. What
//! they share is here: a store built from synthetic agencies' extracts
//! through the engine, as uploads would build it, and the `braid` binary.

use std::path::PathBuf;

use braid_cli::convert;
use braid_node::{Engine, Submission};
use braid_pseudonym::{pseudonymise_extract, Keys, SchemeSecret};
use braid_synth::{generate, NoiseLevel, SynthConfig};

/// The synthetic agencies.
pub const AGENCIES: [&str; 4] = ["CSC-NORTH", "POL-NORTH", "YOT-NORTH", "VOL-NORTH"];

/// Writes a development key kit for [`AGENCIES`] into `out`, with a
/// certificate for a node on 127.0.0.1 and panels for `partnerships`.
pub fn development_keys(out: &std::path::Path, partnerships: &[&str]) {
    let agencies: Vec<String> = AGENCIES.iter().map(|a| (*a).to_owned()).collect();
    let partnerships: Vec<String> = partnerships.iter().map(|p| (*p).to_owned()).collect();
    braid_cli::keys::keys_init(&braid_cli::keys::KeysInit {
        out,
        epoch: 1,
        agencies: &agencies,
        partnerships: &partnerships,
        hosts: &["127.0.0.1".to_owned()],
    })
    .expect("development keys");
}

/// The audit entry a benchmark's upload batch is stored with.
pub fn bench_entry() -> braid_audit::Entry {
    braid_audit::Entry { principal: "benchmark".to_owned(), action: "ingest.upload".to_owned(), ..braid_audit::Entry::default() }
}

/// One synthetic agency's extract pseudonymised under `secret`, as an
/// upload would send it: its header fields (with `submission_id`) and the
/// records.
pub fn upload_of(extract: &braid_synth::Extract, secret: &SchemeSecret, submission_id: &str) -> (Submission, Vec<braid_proto::v1::CaseRecord>) {
    let keys = Keys::derive(secret, &extract.mapping.agency.code);
    let output = pseudonymise_extract(extract.csv.as_bytes(), &extract.mapping, &keys, |_| {}).expect("pseudonymise");
    let submission = Submission {
        agency: extract.mapping.agency.code.clone(),
        agency_type: extract.mapping.agency.agency_type.clone(),
        epoch: keys.epoch_fingerprint().to_owned(),
        bridge_epoch: None,
        submission_id: submission_id.to_owned(),
    };
    (submission, output.records.iter().map(convert::record).collect())
}

/// Pseudonymises `children` synthetic children's records and applies them
/// to `engine` in batches of 1,000. Returns every (agency, record ref) and
/// the involvements stored.
pub fn fill(engine: &Engine, children: usize, submission_id: &str) -> (Vec<(String, String)>, u64) {
    let secret = SchemeSecret::new(1, [7u8; 32]);
    let synthetic = generate(&SynthConfig { children, seed: 11, noise: NoiseLevel::Default });
    let mut refs = Vec::new();
    let mut involvements = 0u64;
    for extract in &synthetic.extracts {
        let (submission, records) = upload_of(extract, &secret, submission_id);
        refs.extend(records.iter().map(|r| (submission.agency.clone(), r.record_ref.clone())));
        for (sequence, chunk) in records.chunks(1000).enumerate() {
            let ack = engine.apply_batch(&submission, sequence as u32, braid_node::incoming_batch(chunk.to_vec()), bench_entry()).expect("apply").0;
            involvements += u64::from(ack.involvements);
        }
    }
    (refs, involvements)
}

/// One agency's records from a fresh synthetic population (`seed`), as an
/// upload would send them: its header fields and the records.
pub fn agency_records(agency: &str, children: usize, seed: u64) -> (Submission, Vec<braid_proto::v1::CaseRecord>) {
    let synthetic = generate(&SynthConfig { children, seed, noise: NoiseLevel::Default });
    let extract = synthetic.extracts.iter().find(|e| e.mapping.agency.code == agency).expect("the agency's extract");
    upload_of(extract, &SchemeSecret::new(1, [7u8; 32]), &format!("flood-{seed}"))
}

/// The `braid` binary of the same build profile, which the console and
/// audit benches drive: built by `cargo build --release -p braid-cli`.
pub fn braid_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("bench executable path");
    let dir = exe.parent().and_then(std::path::Path::parent).expect("target directory");
    let binary = dir.join("braid");
    assert!(binary.exists(), "{} is missing: build it first with `cargo build --release -p braid-cli`", binary.display());
    binary
}
