#![allow(dead_code)]
//! Shared by the quality test and the linkage bench: a synthetic population,
//! pseudonymised as each agency would, linked in memory in upload order, and
//! scored against its ground truth.

use std::collections::HashMap;
use std::time::Instant;

use braid_linkage::{evaluate, evaluate_households, Bloom, HouseholdScores, Involvement, KeyFingerprint, Linker, LinkerConfig, Scores, Tokens};
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
#[derive(Default)]
pub struct Prepared {
    pub involvements: Vec<Involvement>,
    pub truth: Vec<(String, Option<String>)>,
    /// Each involvement's recorded date of birth, when it is a real date
    /// (filled in by [`prepare_extracts`]).
    pub dobs: Vec<Option<braid_pseudonym::Date>>,
}

fn person_fingerprint(person_ref: &str) -> u64 {
    let hash = blake3::hash(person_ref.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(head)
}

/// What the linker sees of a pseudonymised involvement.
fn linker_involvement(involvement: &braid_pseudonym::PseudonymisedInvolvement, agency: u32, record_ref: &str) -> Involvement {
    Involvement {
        keys: involvement.pseudonyms.match_keys.iter().filter_map(|(kind, hash)| KeyFingerprint::new(kind.number() as u8, hash)).collect(),
        bloom: Bloom::from_bytes(&involvement.pseudonyms.bloom),
        agency,
        person: person_fingerprint(&involvement.person_ref),
        record: person_fingerprint(record_ref),
        tokens: tokens(&involvement.pseudonyms.tokens),
        passive: false,
    }
}

/// The linker's view of an agency's field tokens.
pub fn tokens(t: &braid_pseudonym::FieldTokens) -> Tokens {
    let mut out = Tokens {
        name: t.name,
        name_any_order: t.name_any_order,
        name_phonetic: t.name_phonetic,
        forename_by_dob: t.forename_by_dob,
        surname_by_dob: t.surname_by_dob,
        dob: t.dob,
        dob_any_order: t.dob_any_order,
        sex_by_name: t.sex_by_name,
        sex_by_dob: t.sex_by_dob,
        postcode: t.postcode,
        district: t.district,
        address: t.address,
        ..Tokens::default()
    };
    for (slot, value) in out.other_names.iter_mut().zip(&t.other_names) {
        *slot = *value;
    }
    if t.dob_windows.len() == out.dob_windows.len() {
        out.dob_windows.copy_from_slice(&t.dob_windows);
    }
    for (slot, value) in out.ids.iter_mut().zip(&t.ids) {
        *slot = *value;
    }
    out.forename_whole = t.forename_whole;
    out.forename_parts = t.forename_parts;
    out
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
    let mut prepared = Prepared::default();
    for (agency_number, extract) in synthetic.extracts.iter().enumerate() {
        let keys = Keys::derive(&secret, &extract.mapping.agency.code);
        let output = pseudonymise_extract(extract.csv.as_bytes(), &extract.mapping, &keys, |_| {}).expect("pseudonymise");
        let case_of: HashMap<&str, &str> = output.reid.iter().map(|r| (r.record_ref.as_str(), r.case_id.as_str())).collect();
        let person_of: HashMap<&str, &str> = output.reid.iter().map(|r| (r.person_ref.as_str(), r.person_id.as_str())).collect();
        for record in &output.records {
            for involvement in &record.involvements {
                prepared.involvements.push(linker_involvement(involvement, agency_number as u32, &record.record_ref));
                let key = (extract.agency.as_str(), case_of[record.record_ref.as_str()], person_of[involvement.person_ref.as_str()]);
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
    if std::env::var("BRAID_RELINK").is_ok() {
        linker.relink_everything();
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
    let items: Vec<(&str, u64)> =
        (0..prepared.truth.len()).filter(identified).map(|i| (prepared.truth[i].0.as_str(), profiles.smallest_member(i as u64 + 1))).collect();
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
    let dob: Vec<String> = (0..braid_linkage::model::DOB.levels.len() as u8)
        .map(|level| {
            let mut levels = [0u8; 7];
            levels[braid_linkage::model::at::DOB] = level;
            format!("{} {:.1}", braid_linkage::model::DOB.levels[usize::from(level)], model.factor_weights(&levels)[2].1)
        })
        .collect();
    println!("date-of-birth weights: {}", dob.join(", "));
    println!("model: match share {:.4}, pairs {}, fitted at {}", model.match_share(), model.pairs_seen(), model.pairs_at_last_fit());
}

/// Counts the pairs within each group that `wanted` selects by their
/// comparison pattern and prints the most frequent patterns.
fn print_patterns<'a>(title: &str, top: usize, linker: &Linker, groups: impl Iterator<Item = &'a Vec<u64>>, wanted: impl Fn(u64, u64) -> bool) {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for ids in groups {
        for (x, &a) in ids.iter().enumerate() {
            for &b in &ids[x + 1..] {
                if wanted(a, b) {
                    if let Some(e) = linker.compare(a, b) {
                        let weights: Vec<String> = linker.model().factor_weights(&e.levels).iter().map(|(_, w)| format!("{w:.1}")).collect();
                        let key = format!(
                            "levels {:?} keys {:09b} p {:.3}{} weights [{}] prior {:.1}",
                            e.levels,
                            e.keys_agreeing,
                            e.probability,
                            if e.conflict { " refused" } else { "" },
                            weights.join(", "),
                            linker.model().prior_bits()
                        );
                        *counts.entry(key).or_default() += 1;
                    }
                }
            }
        }
    }
    let mut rows: Vec<_> = counts.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    println!("{title} by pattern (top {top}):");
    for (k, n) in rows.iter().take(top) {
        println!("  {n:6} {k}");
    }
}

/// What the truth column says of one row: the true person, their date of
/// birth and household.
type RowTruth = (String, Option<braid_pseudonym::Date>, Option<String>);

/// Pseudonymises agencies' extracts (mapping, CSV text) as each agency
/// would, with each involvement's truth read from `truth_column`, ready to
/// link in memory. Involvements come in file order, agency after agency.
#[allow(dead_code)]
pub fn prepare_extracts(extracts: &[(braid_pseudonym::Mapping, String)], truth_column: &str, secret: u8) -> Prepared {
    let secret = SchemeSecret::new(1, [secret; 32]);
    let mut prepared = Prepared::default();
    for (agency_number, (mapping, csv_text)) in extracts.iter().enumerate() {
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        let header = reader.headers().expect("header").clone();
        let column = |name: &str| header.iter().position(|h| h.trim() == name).unwrap_or_else(|| panic!("no column {name}"));
        let (truth_at, case_at, person_at) = (column(truth_column), column(&mapping.columns.record_ref), column(&mapping.columns.person_ref));
        let dob_at = mapping.identity.date_of_birth.as_deref().map(column);
        let household_at = header.iter().position(|h| h.trim() == "household");
        let dob_format =
            braid_pseudonym::DateFormat::parse(mapping.identity.date_of_birth_format.as_deref().unwrap_or(&mapping.columns.date_format)).expect("format");
        let mut truth: HashMap<(String, String), RowTruth> = HashMap::new();
        for row in reader.records() {
            let row = row.expect("row");
            let dob = dob_at.and_then(|at| braid_pseudonym::parse_date(row[at].trim(), &dob_format, "dob").ok());
            let household = household_at.map(|at| row[at].trim().to_owned()).filter(|h| !h.is_empty());
            truth.insert((row[case_at].trim().to_owned(), row[person_at].trim().to_owned()), (row[truth_at].trim().to_owned(), dob, household));
        }
        let keys = Keys::derive(&secret, &mapping.agency.code);
        let output = pseudonymise_extract(csv_text.as_bytes(), mapping, &keys, |_| {}).expect("pseudonymise");
        let case_of: HashMap<&str, &str> = output.reid.iter().map(|r| (r.record_ref.as_str(), r.case_id.as_str())).collect();
        let person_of: HashMap<&str, &str> = output.reid.iter().map(|r| (r.person_ref.as_str(), r.person_id.as_str())).collect();
        for record in &output.records {
            for involvement in &record.involvements {
                prepared.involvements.push(linker_involvement(involvement, agency_number as u32, &record.record_ref));
                let key = (case_of[record.record_ref.as_str()].to_owned(), person_of[involvement.person_ref.as_str()].to_owned());
                let (person, dob, household) = truth[&key].clone();
                prepared.truth.push((person, household));
                prepared.dobs.push(dob);
            }
        }
    }
    prepared
}

/// Links the involvements in `order` (indices into `prepared`), as uploads
/// would arrive: `streams` says, for each position, which upload stream it
/// belongs to; when a stream's last involvement is in, that stream's
/// involvements are re-linked (as the node does when an upload ends).
/// Returns each involvement's profile (by index).
#[allow(dead_code)]
pub fn link_in_order(prepared: &Prepared, order: &[usize], streams: &[usize]) -> Vec<u64> {
    link_in_order_with(prepared, order, streams).0
}

/// As [`link_in_order`], also returning the linker and each involvement's
/// id in it.
#[allow(dead_code)]
pub fn link_in_order_with(prepared: &Prepared, order: &[usize], streams: &[usize]) -> (Vec<u64>, Linker, Vec<u64>) {
    let mut linker = Linker::new(LinkerConfig::default());
    let mut id_of = vec![0u64; prepared.involvements.len()];
    let mut remaining: HashMap<usize, usize> = HashMap::new();
    for &stream in streams {
        *remaining.entry(stream).or_default() += 1;
    }
    let mut members: HashMap<usize, Vec<u64>> = HashMap::new();
    // As the node does: an upload is settled when it started before the
    // model's first fit.
    let mut unfitted_at_start: HashMap<usize, bool> = HashMap::new();
    for (position, &index) in order.iter().enumerate() {
        let id = position as u64 + 1;
        id_of[index] = id;
        let stream = streams[position];
        unfitted_at_start.entry(stream).or_insert_with(|| linker.model().pairs_at_last_fit() == 0);
        linker.insert(id, &prepared.involvements[index]);
        members.entry(stream).or_default().push(id);
        let left = remaining.get_mut(&stream).expect("stream");
        *left -= 1;
        if *left == 0 {
            let ids = members.remove(&stream).unwrap_or_default();
            if unfitted_at_start[&stream] {
                linker.relink(&ids);
            }
        }
    }
    if std::env::var("BRAID_RELINK_ALL").is_ok() {
        linker.relink_everything();
    }
    if std::env::var("BRAID_DIAGNOSE").is_ok() && order.iter().enumerate().all(|(position, &index)| position == index) {
        diagnose(prepared, &linker);
    }
    // Profiles named by a content-independent member: the smallest index.
    let profiles = linker.profiles();
    let mut name: HashMap<u64, usize> = HashMap::new();
    for (index, &id) in id_of.iter().enumerate() {
        let root = profiles.find(id);
        let entry = name.entry(root).or_insert(index);
        *entry = (*entry).min(index);
    }
    let labels = id_of.iter().map(|&id| name[&profiles.find(id)] as u64).collect();
    (labels, linker, id_of)
}

/// Pairwise F1 of one clustering against another (by involvement index).
#[allow(dead_code)]
pub fn agreement(a: &[u64], b: &[u64]) -> f64 {
    let labels: Vec<String> = a.iter().map(|p| p.to_string()).collect();
    let items: Vec<(&str, u64)> = labels.iter().map(String::as_str).zip(b.iter().copied()).collect();
    evaluate(&items).f1
}
