//! `braid demo`: the whole flow on synthetic data with an embedded node on
//! loopback and a temporary RocksDB directory.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use braid_pseudonym::SchemeSecret;
use braid_synth::{generate, NoiseLevel, SynthConfig};
use rand::RngCore;

use crate::eval::{evaluate_clusters, print_table, ClusterLine, TruthLine};
use crate::{admin, agency, panel, signal_eval};

/// The demo's partnership: every synthetic agency.
const PARTNERSHIP: &str = "north";

/// Runs the demo.
pub async fn run(children: usize, seed: u64, keep: Option<PathBuf>) -> Result<()> {
    let started = Instant::now();
    let temporary = tempfile::tempdir().context("create a temporary directory")?;
    let work = keep.unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;

    println!("1. synthesising {children} children's records across four agencies (seed {seed})");
    let synthetic = generate(&SynthConfig { children, seed, noise: NoiseLevel::Default });
    let extracts_dir = work.join("extracts");
    synthetic.write_to(&extracts_dir).context("write the synthetic extracts")?;

    println!("2. key custodian: a new scheme secret (epoch 1)");
    let mut secret_bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret_bytes);
    let secret = SchemeSecret::new(1, secret_bytes);

    println!("3. each agency pseudonymises its extract on its own premises");
    let mut uploads = Vec::new();
    let mut reid = Vec::new();
    for extract in &synthetic.extracts {
        let input = extracts_dir.join(format!("{}.csv", extract.agency));
        let result = agency::pseudonymise(&extract.mapping, &secret, &input, false)?;
        println!(
            "   {:<10} {:>6} rows -> {:>6} involvements in {:>5} records, {} rejected",
            extract.agency,
            result.output.rows_read,
            result.output.involvements,
            result.records.len(),
            result.output.rejected.len()
        );
        reid.extend(result.output.reid.iter().map(|e| (extract.agency.clone(), e.clone())));
        uploads.push(result);
    }

    println!("4. starting a linkage node on loopback with a fresh RocksDB store");
    let node = braid_node::spawn(braid_node::NodeConfig {
        listen: "127.0.0.1:0".parse().context("loopback address")?,
        data_dir: work.join("node-data"),
        partnerships: [(PARTNERSHIP.to_owned(), synthetic.extracts.iter().map(|e| e.agency.clone()).collect())].into(),
        ..braid_node::NodeConfig::default()
    })
    .await?;
    let url = node.url();

    println!("5. agencies upload over gRPC ({url})");
    for upload in &uploads {
        let summary = agency::upload(&url, &upload.header, &upload.records, 500, 3, false).await?;
        println!("   {:<10} {:>5} records accepted", upload.header.agency, summary.accepted + summary.replaced + summary.unchanged + summary.already_stored);
    }

    let stats = admin::fetch_stats(&url).await?;
    let rows = admin::fetch_clusters(&url).await?;
    admin::write_clusters(&work.join("clusters.csv"), &rows)?;

    println!();
    println!("6. the {PARTNERSHIP} panel looks at what no single agency could see");
    let args = panel::PanelArgs {
        node: url.clone(),
        partnership: PARTNERSHIP.to_owned(),
        purpose: "demo: monthly multi-agency panel review".to_owned(),
        case_ref: Some("DEMO-1".to_owned()),
    };
    let all = panel::SignalFilter {
        kinds: Vec::new(),
        since: None,
        until: None,
        profile: None,
        current_only: false,
        limit: 100_000,
        full: true,
    };
    let listing = panel::fetch_signals(&args, &all).await?;
    let mut by_kind: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for signal in &listing.signals {
        *by_kind.entry(signal.kind.as_str()).or_default() += 1;
    }
    println!("   signals raised:");
    for (kind, count) in &by_kind {
        println!("     {kind:<26} {count:>5}");
    }
    println!();
    println!("   the newest victim-as-offender signal:");
    panel::signals_command(&args, &panel::SignalFilter { kinds: vec!["victim-as-offender".to_owned()], limit: 1, full: false, ..all.clone() }, false).await?;
    println!();
    panel::report_command(&args, &["victim.sex".to_owned(), "case_type".to_owned()], "victims", false).await?;
    println!();
    panel::services_command(&args, false).await?;
    node.stop().await?;

    println!();
    println!("Summary");
    println!("   case records                 {}", stats.records);
    println!("   involvements                 {}", stats.involvements);
    println!("   linked profiles (people)     {}", stats.profiles);
    println!("   profiles known to 2+ agencies {}", stats.profiles_multi_agency);
    println!();
    println!("   pairs left for review         {}", stats.review_items);
    println!();
    println!("Linkage quality against the synthetic truth");
    let truth: Vec<TruthLine> = synthetic
        .truth
        .iter()
        .map(|t| TruthLine {
            agency: t.agency.clone(),
            case_id: t.case_id.clone(),
            person_id: t.person_id.clone(),
            true_person: t.true_person.clone(),
            household: (!t.household.is_empty()).then(|| t.household.clone()),
        })
        .collect();
    let clusters: Vec<ClusterLine> = rows
        .iter()
        .map(|r| ClusterLine {
            agency: r.agency.clone(),
            record_ref: r.record_ref.clone(),
            person_ref: r.person_ref.clone(),
            profile_id: r.profile_id.clone(),
            identified: r.identified,
        })
        .collect();
    let evaluation = evaluate_clusters(&truth, &clusters, &reid);
    print_table(&evaluation);
    println!();
    println!("Signals against the patterns planted in the synthetic data");
    let planted = signal_eval::read_planted(&extracts_dir.join("truth.csv"))?;
    let scores = signal_eval::evaluate(&planted, &clusters, &reid, &signal_eval::raised(&listing));
    signal_eval::print_table(&scores);
    println!();
    println!("done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
