//! Signal quality: the signals a node raised, scored against the patterns
//! planted in synthetic data.
//!
//! The planted truth is worked out from the truth file alone (true people,
//! true incidents and their dates, each agency's classification), by the
//! definitions the node implements but without its shortcuts: the node
//! sees only linked profiles and record dates, the truth knows which
//! records are one incident.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use braid_signals::SignalKind;
use braid_template::Role;
use petgraph::unionfind::UnionFind;

use crate::clusters::{read_csv, ClusterLine, LocalIds};

/// One truth row with what signals need.
#[derive(Debug, Clone)]
pub struct PlantedRow {
    agency: String,
    case_id: String,
    person_id: String,
    /// The person's part in the case (`None` for an outcome event's child).
    role: Option<Role>,
    true_person: String,
    incident: String,
    day: i64,
    age: i64,
    recorded_as: String,
    re_referral: bool,
}

fn parse_day(text: &str) -> Option<i64> {
    braid_template::Date::from_iso(text).map(|d| d.days_since_epoch())
}

/// Reads the columns signal evaluation needs from a truth file.
pub fn read_planted(path: &Path) -> Result<Vec<PlantedRow>> {
    let rows =
        read_csv(path, &["agency", "case_id", "person_id", "role", "true_person", "incident?", "incident_date?", "age?", "recorded_as?", "re_referral?"])?;
    anyhow::ensure!(
        rows.iter().all(|r| !r[5].is_empty() && !r[6].is_empty() && !r[8].is_empty()),
        "{} lacks incident, incident_date, age, recorded_as or re_referral; signal evaluation needs the truth.csv that braid synth writes",
        path.display()
    );
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(PlantedRow {
                day: parse_day(&r[6]).with_context(|| format!("{}: row {}: incident_date is not a date", path.display(), i + 2))?,
                age: r[7].parse().with_context(|| format!("{}: row {}: age is not a number", path.display(), i + 2))?,
                agency: r[0].clone(),
                case_id: r[1].clone(),
                person_id: r[2].clone(),
                role: Role::parse(&r[3]),
                true_person: r[4].clone(),
                incident: r[5].clone(),
                recorded_as: r[8].clone(),
                re_referral: r[9] == "yes",
            })
        })
        .collect()
}

/// One raised signal, as `braid panel signals --json` lists it.
#[derive(Debug, Clone)]
pub struct RaisedSignal {
    /// The kind's name.
    pub kind: String,
    /// The subject's profile id.
    pub profile_id: String,
    /// The records it rests on: (agency, record ref).
    pub records: Vec<(String, String)>,
    /// Related profiles' ids (a network's members).
    pub related: Vec<String>,
}

/// Reads a `braid panel signals --json` listing.
pub fn read_listing(path: &Path) -> Result<Vec<RaisedSignal>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON from braid panel signals --json", path.display()))?;
    let signals = value["signals"].as_array().with_context(|| format!("{} has no `signals` list", path.display()))?;
    if let (Some(matched), listed) = (value["matched"].as_u64(), signals.len()) {
        anyhow::ensure!(matched as usize == listed, "{} lists {listed} of {matched} signals; list them all (a larger --limit)", path.display());
    }
    anyhow::ensure!(
        signals.iter().all(|s| s["records_not_shown"].as_u64().unwrap_or(0) == 0 && s["related_not_shown"].as_u64().unwrap_or(0) == 0),
        "{} leaves records or related people out; list the signals with --full",
        path.display()
    );
    let text_of = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    Ok(signals
        .iter()
        .map(|s| RaisedSignal {
            kind: text_of(&s["kind"]),
            profile_id: text_of(&s["profile_id"]),
            records: s["records"]
                .as_array()
                .map(|records| records.iter().map(|r| (text_of(&r["agency"]), text_of(&r["record_ref"]))).collect())
                .unwrap_or_default(),
            related: s["related_profiles"].as_array().map(|r| r.iter().map(text_of).collect()).unwrap_or_default(),
        })
        .collect())
}

/// Precision and recall for one kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct KindScore {
    /// Planted units (people, or incidents for conflicts).
    pub planted: usize,
    /// Raised units.
    pub raised: usize,
    /// Raised units that were planted.
    pub raised_correct: usize,
    /// Planted units that were raised.
    pub planted_found: usize,
}

impl KindScore {
    /// Share of raised that were planted (1 when nothing was raised).
    pub fn precision(&self) -> f64 {
        if self.raised == 0 {
            1.0
        } else {
            self.raised_correct as f64 / self.raised as f64
        }
    }
    /// Share of planted that were raised (1 when nothing was planted).
    pub fn recall(&self) -> f64 {
        if self.planted == 0 {
            1.0
        } else {
            self.planted_found as f64 / self.planted as f64
        }
    }
}

/// The planted signals: for each kind, the true people (or incidents)
/// that carry it.
fn planted_units(rows: &[PlantedRow], identified: &HashSet<&str>, config: &braid_signals::SignalConfig) -> BTreeMap<SignalKind, HashSet<String>> {
    let mut out: BTreeMap<SignalKind, HashSet<String>> = SignalKind::ALL.iter().map(|k| (*k, HashSet::new())).collect();
    let mut by_person: HashMap<&str, Vec<&PlantedRow>> = HashMap::new();
    let mut by_incident: HashMap<&str, Vec<&PlantedRow>> = HashMap::new();
    for row in rows {
        by_person.entry(&row.true_person).or_default().push(row);
        by_incident.entry(&row.incident).or_default().push(row);
    }
    for (person, rows) in &by_person {
        let victim: Vec<&&PlantedRow> = rows.iter().filter(|r| r.role.is_some_and(Role::is_victim)).collect();
        if victim.is_empty() {
            continue;
        }
        let first = victim.iter().map(|r| r.day).min().unwrap_or(0);
        let last = victim.iter().map(|r| r.day).max().unwrap_or(0);
        if last - first >= i64::from(config.revictimisation_days) || victim.iter().any(|r| r.re_referral) {
            out.entry(SignalKind::Revictimisation).or_default().insert((*person).to_owned());
        }
        let elsewhere = |r: &&PlantedRow| victim.iter().any(|v| v.incident != r.incident);
        if rows.iter().any(|r| elsewhere(r) && (r.role == Some(Role::Hsb) || (r.role == Some(Role::Perpetrator) && r.age < 18))) {
            out.entry(SignalKind::VictimHsbOverlap).or_default().insert((*person).to_owned());
        }
        if rows.iter().any(|r| elsewhere(r) && r.role == Some(Role::Perpetrator)) {
            out.entry(SignalKind::VictimAsOffender).or_default().insert((*person).to_owned());
        }
    }
    // Shared perpetrators and networks, over identified people only.
    // People numbered as they first appear in a linking incident, for the
    // sets.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut linked: Vec<(usize, usize)> = Vec::new();
    let mut victims_of: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (incident, rows) in &by_incident {
        let victims: HashSet<&str> = rows
            .iter()
            .filter(|r| r.role.is_some_and(Role::is_victim) && identified.contains(r.true_person.as_str()))
            .map(|r| r.true_person.as_str())
            .collect();
        let harmers: HashSet<&str> = rows
            .iter()
            .filter(|r| r.role.is_some_and(Role::is_harmer) && identified.contains(r.true_person.as_str()))
            .map(|r| r.true_person.as_str())
            .collect();
        for &h in &harmers {
            victims_of.entry(h).or_default().extend(victims.iter().filter(|v| **v != h));
        }
        if !victims.is_empty() && !harmers.is_empty() {
            let mut all = victims.iter().chain(&harmers).map(|&p| {
                let next = index.len();
                *index.entry(p).or_insert(next)
            });
            let first = all.next().unwrap_or_default();
            linked.extend(all.map(|p| (first, p)));
        }
        // One incident, CSA at one agency and CSE at another.
        let types: HashSet<&str> = rows.iter().map(|r| r.recorded_as.as_str()).collect();
        if types.contains("CSA") && types.contains("CSE") {
            out.entry(SignalKind::ClassificationConflict).or_default().insert((*incident).to_owned());
        }
    }
    for (harmer, victims) in victims_of {
        if victims.len() >= 2 {
            out.entry(SignalKind::SharedPerpetrator).or_default().insert(harmer.to_owned());
        }
    }
    let mut sets = UnionFind::<usize>::new(index.len());
    for (a, b) in linked {
        sets.union(a, b);
    }
    let mut components: HashMap<usize, Vec<&str>> = HashMap::new();
    for (p, i) in index {
        components.entry(sets.find_mut(i)).or_default().push(p);
    }
    for members in components.values().filter(|m| m.len() >= config.network_min_size) {
        out.entry(SignalKind::Network).or_default().extend(members.iter().map(|m| (*m).to_owned()));
    }
    out
}

/// Scores the raised signals against the planted ones, per kind.
pub fn evaluate(
    planted: &[PlantedRow],
    clusters: &[ClusterLine],
    reid: &[(String, braid_pseudonym::ReidEntry)],
    raised: &[RaisedSignal],
) -> BTreeMap<SignalKind, KindScore> {
    let config = braid_signals::SignalConfig::default();
    // Refs → local ids, and local ids → truth.
    let local_ids = LocalIds::new(reid);
    let case_ids: HashMap<(&str, &str), &str> = reid.iter().map(|(agency, e)| ((agency.as_str(), e.record_ref.as_str()), e.case_id.as_str())).collect();
    let truth: HashMap<(&str, &str, &str), &PlantedRow> = planted.iter().map(|r| ((r.agency.as_str(), r.case_id.as_str(), r.person_id.as_str()), r)).collect();
    let incident_of: HashMap<(&str, &str), &str> = planted.iter().map(|r| ((r.agency.as_str(), r.case_id.as_str()), r.incident.as_str())).collect();
    // Profiles → their true person (the most common among members), and
    // which true people carry any identity at all.
    let mut votes: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    let mut identified: HashSet<&str> = HashSet::new();
    for line in clusters {
        let Some(row) = truth.get(&local_ids.of(line)) else { continue };
        if line.identified {
            identified.insert(row.true_person.as_str());
            *votes.entry(line.profile_id.as_str()).or_default().entry(row.true_person.as_str()).or_default() += 1;
        }
    }
    let person_of =
        |profile: &str| -> Option<&str> { votes.get(profile)?.iter().max_by_key(|(person, n)| (**n, std::cmp::Reverse(**person))).map(|(p, _)| *p) };
    let planted_units = planted_units(planted, &identified, &config);
    let mut raised_units: BTreeMap<SignalKind, Vec<Option<String>>> = BTreeMap::new();
    for signal in raised {
        let Some(kind) = SignalKind::parse(&signal.kind) else { continue };
        let units: Vec<Option<String>> = match kind {
            SignalKind::ClassificationConflict => {
                let mut incidents: HashMap<&str, usize> = HashMap::new();
                for (agency, record_ref) in &signal.records {
                    let case_id = case_ids.get(&(agency.as_str(), record_ref.as_str())).copied().unwrap_or(record_ref.as_str());
                    if let Some(incident) = incident_of.get(&(agency.as_str(), case_id)) {
                        *incidents.entry(incident).or_default() += 1;
                    }
                }
                vec![incidents.into_iter().max_by_key(|(i, n)| (*n, std::cmp::Reverse(*i))).map(|(i, _)| i.to_owned())]
            }
            SignalKind::Network => {
                let mut members: Vec<Option<String>> = signal.related.iter().map(|p| person_of(p).map(str::to_owned)).collect();
                members.sort();
                members.dedup();
                members
            }
            _ => vec![person_of(&signal.profile_id).map(str::to_owned)],
        };
        raised_units.entry(kind).or_default().extend(units);
    }
    let mut out = BTreeMap::new();
    for kind in SignalKind::ALL {
        let planted = planted_units.get(&kind).cloned().unwrap_or_default();
        let raised = raised_units.remove(&kind).unwrap_or_default();
        let found: HashSet<&String> = raised.iter().flatten().filter(|u| planted.contains(*u)).collect();
        out.insert(
            kind,
            KindScore {
                planted: planted.len(),
                raised: raised.len(),
                raised_correct: raised.iter().filter(|u| u.as_ref().is_some_and(|u| planted.contains(u))).count(),
                planted_found: found.len(),
            },
        );
    }
    out
}

/// Prints the scores.
pub fn print_table(scores: &BTreeMap<SignalKind, KindScore>) {
    println!("{:<26} {:>8} {:>8} {:>10} {:>8}", "signal", "planted", "raised", "precision", "recall");
    for (kind, s) in scores {
        println!("{:<26} {:>8} {:>8} {:>10.4} {:>8.4}", kind.name(), s.planted, s.raised, s.precision(), s.recall());
    }
    println!("units: people (networks: their members), incidents for classification conflicts");
}

/// The scores as JSON.
pub fn to_json(scores: &BTreeMap<SignalKind, KindScore>) -> serde_json::Value {
    scores
        .iter()
        .map(|(kind, s)| {
            (
                kind.name().to_owned(),
                serde_json::json!({
                    "planted": s.planted,
                    "raised": s.raised,
                    "raised_correct": s.raised_correct,
                    "planted_found": s.planted_found,
                    "precision": s.precision(),
                    "recall": s.recall(),
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}
