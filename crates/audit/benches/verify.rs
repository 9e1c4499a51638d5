//! Audit bench (`cargo bench -p braid-audit`): appending entries and
//! verifying a log of 1M entries (recompute the tree, check every entry's
//! recorded root and a checkpoint every 10,000 entries).

use std::time::Instant;

use braid_audit::{verify, Entry, Log, Signer};

fn main() {
    let n: u64 = std::env::var("BRAID_BENCH_AUDIT_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let (signer, _) = Signer::generate().expect("key");
    let mut log = Log::new();
    let mut stored = Vec::with_capacity(n as usize);
    let mut checkpoints = Vec::new();
    let started = Instant::now();
    for i in 0..n {
        let entry = Entry {
            time_ms: 1_790_000_000_000 + i,
            principal: "panel-north-chair".to_owned(),
            role: "panel:NORTH".to_owned(),
            action: "panel.profile".to_owned(),
            purpose: "multi-agency panel review".to_owned(),
            case_reference: format!("MAP-{:06}", i % 5000),
            touched: vec![format!("P{:07}", i % 100_000)],
            result_count: 3,
            outcome: "ok".to_owned(),
            ..Entry::default()
        };
        let (entry, bytes, _) = log.append(entry);
        stored.push((entry.index, bytes));
        if log.size().is_multiple_of(10_000) {
            checkpoints.push(signer.checkpoint(log.size(), log.root(), 0));
        }
    }
    let append = started.elapsed().as_secs_f64();
    println!("append: {n} entries in {append:.2}s = {:.0} entries/s", n as f64 / append);
    let started = Instant::now();
    let verified = verify(stored, &checkpoints, &checkpoints[..1], &signer.public_key()).expect("verifies");
    let seconds = started.elapsed().as_secs_f64();
    println!("verify: {} entries and {} checkpoints in {seconds:.2}s (target: 1M in under 60 s)", verified.entries, verified.checkpoints);
}
