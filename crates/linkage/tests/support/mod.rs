//! Shared by the quality test and the linkage bench: a synthetic population,
//! pseudonymised as each agency would, linked in memory in upload order, and
//! scored against its ground truth.

use std::collections::HashMap;
use std::time::Instant;

use braid_linkage::{evaluate, evaluate_households, Bloom, HouseholdScores, Involvement, KeyFingerprint, Linker, LinkerConfig, Scores};
use braid_pseudonym::{pseudonymise_extract, Keys, SchemeSecret};
use braid_synth::{generate, NoiseLevel, SynthConfig};

/// One run's results.
pub struct Report {
    pub scores: Scores,
    pub households: HouseholdScores,
    pub involvements: usize,
    pub compared: u64,
    pub reviews: u64,
    pub link_seconds: f64,
}

/// A pseudonymised population ready to link, with each involvement's truth.
pub struct Prepared {
    pub involvements: Vec<Involvement>,
    pub truth: Vec<(String, Option<String>)>,
}

fn person_fingerprint(person_ref: &str) -> u64 {
    let hash = blake3::hash(person_ref.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(head)
}

pub fn prepare(children: usize, seed: u64, noise: NoiseLevel) -> Prepared {
    prepare_with_secret(children, seed, noise, 7)
}

/// As [`prepare`], under the scheme secret `[secret; 32]`.
pub fn prepare_with_secret(children: usize, seed: u64, noise: NoiseLevel, secret: u8) -> Prepared {
    let synthetic = generate(&SynthConfig { children, seed, noise });
    let secret = SchemeSecret::new(1, [secret; 32]);
    let truth: HashMap<(&str, &str, &str), (&str, &str)> = synthetic
        .truth
        .iter()
        .map(|t| ((t.agency.as_str(), t.case_id.as_str(), t.person_id.as_str()), (t.true_person.as_str(), t.household.as_str())))
        .collect();
    let mut prepared = Prepared { involvements: Vec::new(), truth: Vec::new() };
    for (agency_number, extract) in synthetic.extracts.iter().enumerate() {
        let keys = Keys::derive(&secret, &extract.mapping.agency.code);
        let output = pseudonymise_extract(extract.csv.as_bytes(), &extract.mapping, &keys, |_| {}).expect("pseudonymise");
        let case_of: HashMap<&str, &str> = output.reid.iter().map(|r| (r.record_ref.as_str(), r.case_id.as_str())).collect();
        let person_of: HashMap<&str, &str> = output.reid.iter().map(|r| (r.person_ref.as_str(), r.person_id.as_str())).collect();
        for record in &output.records {
            for involvement in &record.involvements {
                let keys = involvement
                    .pseudonyms
                    .match_keys
                    .iter()
                    .filter_map(|(kind, hash)| KeyFingerprint::new(kind.number() as u8, hash))
                    .collect();
                prepared.involvements.push(Involvement {
                    keys,
                    bloom: Bloom::from_bytes(&involvement.pseudonyms.bloom),
                    agency: agency_number as u32,
                    person: person_fingerprint(&involvement.person_ref),
                });
                let key = (
                    extract.agency.as_str(),
                    case_of[record.record_ref.as_str()],
                    person_of[involvement.person_ref.as_str()],
                );
                let (true_person, household) = truth[&key];
                prepared.truth.push((true_person.to_owned(), (!household.is_empty()).then(|| household.to_owned())));
            }
        }
    }
    prepared
}

pub fn link(prepared: &Prepared, config: LinkerConfig) -> Report {
    let mut linker = Linker::new(config);
    let started = Instant::now();
    let (mut compared, mut reviews) = (0u64, 0u64);
    for (i, involvement) in prepared.involvements.iter().enumerate() {
        let outcome = linker.insert(i as u64 + 1, involvement);
        compared += u64::from(outcome.compared);
        reviews += outcome.entries.iter().filter(|e| e.decision.name().starts_with("review")).count() as u64;
    }
    let link_seconds = started.elapsed().as_secs_f64();
    if std::env::var("BRAID_DIAGNOSE").is_ok() {
        diagnose(prepared, &linker);
    }
    let profiles = linker.profiles();
    // Involvements recorded with no identity at all (unknown perpetrators)
    // cannot be linked by anyone and are left out of the scores.
    let identified = |i: &usize| {
        let involvement = &prepared.involvements[*i];
        !involvement.keys.is_empty() || involvement.bloom.is_some()
    };
    let items: Vec<(&str, u64)> = (0..prepared.truth.len())
        .filter(identified)
        .map(|i| (prepared.truth[i].0.as_str(), profiles.smallest_member(i as u64 + 1)))
        .collect();
    let household_items: Vec<(&str, Option<&str>, u64)> = (0..prepared.truth.len())
        .filter(identified)
        .map(|i| (prepared.truth[i].0.as_str(), prepared.truth[i].1.as_deref(), profiles.smallest_member(i as u64 + 1)))
        .collect();
    Report {
        scores: evaluate(&items),
        households: evaluate_households(&household_items),
        involvements: prepared.involvements.len(),
        compared,
        reviews,
        link_seconds,
    }
}

pub fn describe(label: &str, report: &Report) -> String {
    let s = &report.scores;
    let h = &report.households;
    format!(
        "{label}: {} involvements; pairwise P {:.4} R {:.4} F1 {:.4}; B3 F1 {:.4}; household-pair precision {:.4} ({} sibling pairs, {} merged); {:.1} compared/inv; {} review; {:.2}s",
        report.involvements,
        s.precision,
        s.recall,
        s.f1,
        s.bcubed_f1,
        h.precision,
        h.sibling_pairs,
        h.sibling_pairs_merged,
        report.compared as f64 / report.involvements.max(1) as f64,
        report.reviews,
        report.link_seconds
    )
}

fn diagnose(prepared: &Prepared, linker: &Linker) {
    let profiles = linker.profiles();
    let true_person = |id: u64| prepared.truth[(id - 1) as usize].0.as_str();
    let mut by_truth: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut by_profile: HashMap<u64, Vec<u64>> = HashMap::new();
    for id in 1..=prepared.truth.len() as u64 {
        by_truth.entry(true_person(id)).or_default().push(id);
        by_profile.entry(profiles.find(id)).or_default().push(id);
    }
    print_patterns("missed pairs", 25, linker, by_truth.values(), |a, b| profiles.find(a) != profiles.find(b));
    print_patterns("wrongly linked pairs", 15, linker, by_profile.values(), |a, b| true_person(a) != true_person(b));
    let model = linker.model();
    println!("model: match share {:.4}, pairs {}, fitted at {}", model.match_share(), model.pairs_seen(), model.pairs_at_last_fit());
}

/// Counts the pairs within each group that `wanted` selects by their
/// comparison pattern and prints the most frequent patterns.
fn print_patterns<'a>(
    title: &str,
    top: usize,
    linker: &Linker,
    groups: impl Iterator<Item = &'a Vec<u64>>,
    wanted: impl Fn(u64, u64) -> bool,
) {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for ids in groups {
        for (x, &a) in ids.iter().enumerate() {
            for &b in &ids[x + 1..] {
                if wanted(a, b) {
                    if let Some(e) = linker.compare(a, b) {
                        let key = format!("levels {:?} keys {:09b} p {:.3}", e.levels, e.keys_agreeing, e.probability);
                        *counts.entry(key).or_default() += 1;
                    }
                }
            }
        }
    }
    let mut rows: Vec<_> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1));
    println!("{title} by pattern (top {top}):");
    for (k, n) in rows.iter().take(top) {
        println!("  {n:6} {k}");
    }
}
