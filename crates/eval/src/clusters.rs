//! Linkage quality: a cluster export scored against ground truth.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use braid_linkage::{evaluate, evaluate_households, HouseholdScores, Scores};

/// One row of a cluster export.
#[derive(Debug, Clone)]
pub struct ClusterLine {
    /// Agency code.
    pub agency: String,
    /// Opaque record ref.
    pub record_ref: String,
    /// Opaque person ref.
    pub person_ref: String,
    /// Profile id.
    pub profile_id: String,
    /// False when the involvement carried no identity (nothing can link it).
    pub identified: bool,
}

/// One row of the truth: which real person an agency's (case, person) is.
#[derive(Debug, Clone)]
pub struct TruthLine {
    /// Agency code.
    pub agency: String,
    /// Local case id.
    pub case_id: String,
    /// Local person id.
    pub person_id: String,
    /// The real person.
    pub true_person: String,
    /// The person's household, when known (siblings and twins share one).
    pub household: Option<String>,
}

/// Scores with how many rows could be matched.
pub struct Evaluation {
    /// The scores.
    pub scores: Scores,
    /// Cluster rows found in the truth.
    pub matched: usize,
    /// Cluster rows not found in the truth.
    pub unmatched: usize,
    /// Rows left out because they carry no identity.
    pub unidentified: usize,
    /// Scores on pairs within households (siblings and twins), when the
    /// truth names households.
    pub households: Option<HouseholdScores>,
}

/// The agencies' re-identification maps as a look-up from a cluster row's
/// opaque refs to (agency, local case id, local person id). Without a map,
/// refs are taken to be the local ids themselves.
pub struct LocalIds<'a> {
    map: HashMap<(&'a str, &'a str, &'a str), (&'a str, &'a str)>,
}

impl<'a> LocalIds<'a> {
    /// Indexes the maps.
    pub fn new(reid: &'a [(String, braid_pseudonym::ReidEntry)]) -> LocalIds<'a> {
        LocalIds {
            map: reid
                .iter()
                .map(|(agency, e)| ((agency.as_str(), e.record_ref.as_str(), e.person_ref.as_str()), (e.case_id.as_str(), e.person_id.as_str())))
                .collect(),
        }
    }

    /// The local ids of a cluster row.
    pub fn of(&self, line: &'a ClusterLine) -> (&'a str, &'a str, &'a str) {
        let key = (line.agency.as_str(), line.record_ref.as_str(), line.person_ref.as_str());
        let (case_id, person_id) = self.map.get(&key).copied().unwrap_or((key.1, key.2));
        (key.0, case_id, person_id)
    }
}

/// Joins clusters to truth through the agencies' re-identification maps
/// (opaque refs → local ids) and scores them. Without maps, refs are taken to
/// be the local ids themselves.
pub fn evaluate_clusters(truth: &[TruthLine], clusters: &[ClusterLine], reid: &[(String, braid_pseudonym::ReidEntry)]) -> Evaluation {
    let truth_index: HashMap<(&str, &str, &str), &TruthLine> =
        truth.iter().map(|t| ((t.agency.as_str(), t.case_id.as_str(), t.person_id.as_str()), t)).collect();
    let local_ids = LocalIds::new(reid);
    let mut items = Vec::with_capacity(clusters.len());
    let mut household_items = Vec::with_capacity(clusters.len());
    let (mut unmatched, mut unidentified) = (0, 0);
    for line in clusters {
        if !line.identified {
            // No identity was recorded: no linker can place it.
            unidentified += 1;
            continue;
        }
        match truth_index.get(&local_ids.of(line)) {
            Some(t) => {
                items.push((t.true_person.as_str(), line.profile_id.as_str()));
                household_items.push((t.true_person.as_str(), t.household.as_deref(), line.profile_id.as_str()));
            }
            None => unmatched += 1,
        }
    }
    let households = household_items.iter().any(|(_, h, _)| h.is_some()).then(|| evaluate_households(&household_items));
    Evaluation { scores: evaluate(&items), matched: items.len(), unmatched, unidentified, households }
}

/// Reads the named columns; a column whose name ends in `?` is optional and
/// reads as empty when absent.
pub fn read_csv(path: &Path, columns: &[&str]) -> Result<Vec<Vec<String>>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("open {}", path.display()))?;
    let header = reader.headers().with_context(|| format!("read the header of {}", path.display()))?.clone();
    let positions: Vec<Option<usize>> = columns
        .iter()
        .map(|column| match column.strip_suffix('?') {
            Some(optional) => Ok(header.iter().position(|h| h == optional)),
            None => header.iter().position(|h| h == *column).map(Some).with_context(|| format!("{} has no column `{column}`", path.display())),
        })
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {} is not valid CSV", path.display(), index + 2))?;
        rows.push(positions.iter().map(|p| p.and_then(|p| row.get(p)).unwrap_or("").to_owned()).collect());
    }
    Ok(rows)
}

/// Reads a truth file (agency, case_id, person_id, true_person columns;
/// household optional). A row whose true person is blank says nothing of
/// who it is and is left out (its rows count as not in the truth), never
/// taken for one person shared by every blank row.
pub fn read_truth(path: &Path) -> Result<Vec<TruthLine>> {
    Ok(read_csv(path, &["agency", "case_id", "person_id", "true_person", "household?"])?
        .into_iter()
        .filter(|r| !r[3].trim().is_empty())
        .map(|r| TruthLine {
            agency: r[0].clone(),
            case_id: r[1].clone(),
            person_id: r[2].clone(),
            true_person: r[3].clone(),
            household: (!r[4].is_empty()).then(|| r[4].clone()),
        })
        .collect())
}

/// Reads a cluster export.
pub fn read_clusters(path: &Path) -> Result<Vec<ClusterLine>> {
    // Outcome events are not in a truth of cases: they are left out.
    Ok(read_csv(path, &["agency", "record_ref", "person_ref", "profile_id", "identified?", "role?"])?
        .into_iter()
        .filter(|r| r[5] != "outcome_subject")
        .map(|r| ClusterLine { agency: r[0].clone(), record_ref: r[1].clone(), person_ref: r[2].clone(), profile_id: r[3].clone(), identified: r[4] != "no" })
        .collect())
}

/// Prints scores as a table.
pub fn print_table(evaluation: &Evaluation) {
    let s = &evaluation.scores;
    println!("{:<28} {:>10}", "measure", "value");
    println!("{:<28} {:>10}", "involvements evaluated", evaluation.matched);
    println!("{:<28} {:>10.4}", "pairwise precision", s.precision);
    println!("{:<28} {:>10.4}", "pairwise recall", s.recall);
    println!("{:<28} {:>10.4}", "pairwise F1", s.f1);
    println!("{:<28} {:>10.4}", "B-cubed F1 (cluster level)", s.bcubed_f1);
    println!("{:<28} {:>10.4}", "people recovered exactly", s.exact_clusters);
    println!("{:<28} {:>10}", "true people", s.true_clusters);
    println!("{:<28} {:>10}", "profiles", s.predicted_clusters);
    if let Some(h) = &evaluation.households {
        println!("{:<28} {:>10.4}", "household-pair precision", h.precision);
        println!("{:<28} {:>10}", "sibling/twin pairs", h.sibling_pairs);
        println!("{:<28} {:>10}", "  of which merged", h.sibling_pairs_merged);
    }
    if evaluation.unidentified > 0 {
        println!("{:<28} {:>10}", "left out: no identity", evaluation.unidentified);
    }
    if evaluation.unmatched > 0 {
        println!("{:<28} {:>10}", "rows not in the truth", evaluation.unmatched);
    }
}

/// The scores as JSON.
pub fn to_json(evaluation: &Evaluation) -> serde_json::Value {
    let s = &evaluation.scores;
    serde_json::json!({
        "involvements": evaluation.matched,
        "unmatched": evaluation.unmatched,
        "precision": s.precision,
        "recall": s.recall,
        "f1": s.f1,
        "true_pairs": s.true_pairs,
        "predicted_pairs": s.predicted_pairs,
        "true_pairs_linked": s.true_pairs_linked,
        "bcubed_precision": s.bcubed_precision,
        "bcubed_recall": s.bcubed_recall,
        "bcubed_f1": s.bcubed_f1,
        "exact_clusters": s.exact_clusters,
        "true_clusters": s.true_clusters,
        "predicted_clusters": s.predicted_clusters,
        "unidentified": evaluation.unidentified,
        "household_pair_precision": evaluation.households.map(|h| h.precision),
        "sibling_pairs": evaluation.households.map(|h| h.sibling_pairs),
        "sibling_pairs_merged": evaluation.households.map(|h| h.sibling_pairs_merged),
    })
}
