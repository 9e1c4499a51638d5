//! `braid eval`: linkage quality of a cluster export against ground truth,
//! and with `--signals` the signals a node raised against the patterns
//! planted in synthetic data (the scoring is `braid-eval`'s).

use std::path::{Path, PathBuf};

use anyhow::Result;
use braid_eval::clusters::{evaluate_clusters, print_table, read_clusters, read_truth, to_json};
use braid_eval::signals::{self, RaisedSignal};

use crate::agency::read_reid;

/// The signals of a listing as the node returned it.
pub fn raised(response: &braid_proto::v1::SignalsResponse) -> Vec<RaisedSignal> {
    response
        .signals
        .iter()
        .map(|s| RaisedSignal {
            kind: s.kind.clone(),
            profile_id: s.profile_id.clone(),
            records: s.records.iter().map(|r| (r.agency.clone(), r.record_ref.clone())).collect(),
            related: s.related_profiles.clone(),
        })
        .collect()
}

/// `braid eval`.
pub fn eval_command(truth: &[PathBuf], clusters: &Path, reid: &[PathBuf], signals: Option<&Path>, json: bool) -> Result<()> {
    let truth_paths = truth;
    let clusters_path = clusters;
    let mut lines = Vec::new();
    for path in truth {
        lines.extend(read_truth(path)?);
    }
    let truth = lines;
    anyhow::ensure!(
        !truth.is_empty(),
        "the truth ({}) names no true person: its true_person column is empty",
        truth_paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    let clusters = read_clusters(clusters)?;
    anyhow::ensure!(!clusters.is_empty(), "{} holds no cluster rows (export them with braid admin clusters)", clusters_path.display());
    let mut maps = Vec::new();
    for path in reid {
        maps.extend(read_reid(path)?);
    }
    let evaluation = evaluate_clusters(&truth, &clusters, &maps);
    anyhow::ensure!(evaluation.matched > 0, "no cluster row matches a truth row; pass each agency's re-identification map with --reid");
    let signal_scores = match signals {
        Some(path) => {
            let mut planted = Vec::new();
            for file in truth_paths {
                planted.extend(signals::read_planted(file)?);
            }
            let listing = signals::read_listing(path)?;
            Some(signals::evaluate(&planted, &clusters, &maps, &listing))
        }
        None => None,
    };
    if json {
        let mut value = to_json(&evaluation);
        if let Some(scores) = &signal_scores {
            value["signals"] = signals::to_json(scores);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_table(&evaluation);
        if let Some(scores) = &signal_scores {
            println!();
            signals::print_table(scores);
        }
    }
    Ok(())
}
