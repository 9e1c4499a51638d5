//! `braid demo`: the whole flow on synthetic data with an embedded node on
//! loopback and a temporary RocksDB directory. Every call goes over mTLS
//! with the caller's own certificate, and the demo ends with the auditor
//! verifying the audit log.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use braid_client::NodeArgs;
use braid_eval::clusters::{evaluate_clusters, print_table, ClusterLine, TruthLine};
use braid_eval::signals as signal_eval;
use braid_synth::{generate, NoiseLevel, SynthConfig};

use crate::{admin, agency, audit, keys, panel};

/// The demo's partnership: every synthetic agency.
const PARTNERSHIP: &str = "north";

/// Runs the demo.
pub async fn run(children: usize, seed: u64, keep: Option<PathBuf>) -> Result<()> {
    let started = Instant::now();
    let temporary = tempfile::tempdir().context("create a temporary directory")?;
    let kept = keep.is_some();
    let work = keep.unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;

    println!("1. synthesising {children} children's records across four agencies (seed {seed})");
    let synthetic = generate(&SynthConfig { children, seed, noise: NoiseLevel::Default });
    let extracts_dir = work.join("extracts");
    synthetic.write_to(&extracts_dir).context("write the synthetic extracts")?;

    println!("2. key custodian: a new scheme secret (epoch 1), a development CA, and a certificate for the node and each principal");
    let keys_dir = work.join("keys");
    let agencies: Vec<String> = synthetic.extracts.iter().map(|e| e.agency.clone()).collect();
    let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    let written = keys::keys_init(&keys::KeysInit { out: &keys_dir, epoch: 1, agencies: &agencies, partnerships: &[PARTNERSHIP.to_owned()], hosts: &hosts })?;
    let secret = agency::read_secret(&written.secret)?;
    let roles: Vec<String> = written.principals.iter().map(|(principal, role)| format!("{principal} ({role})")).collect();
    println!("   {}", roles.join(", "));

    println!("3. each agency pseudonymises its extract on its own premises");
    let (uploads, reid) = pseudonymise_all(&synthetic, &extracts_dir, &secret)?;

    println!("4. starting a linkage node on loopback with a fresh RocksDB store, mTLS only");
    let node = braid_node::spawn(braid_node::NodeConfig {
        listen: "127.0.0.1:0".parse().context("loopback address")?,
        data_dir: work.join("node-data"),
        partnerships: [(PARTNERSHIP.to_owned(), agencies.clone())].into(),
        tls: Some(braid_node::TlsFiles::in_dir(&keys_dir.join("node"))),
        policy: Some(keys_dir.join("node/policy.toml")),
        operations_listen: None,
        ..braid_node::NodeConfig::default()
    })
    .await?;
    let url = node.url();
    let as_principal = |principal: &str| NodeArgs::mtls(&url, &keys_dir.join(principal));

    println!("5. each agency uploads over mTLS with its own certificate ({url})");
    for upload in uploads {
        let principal = keys::agency_principal(&upload.header.agency);
        let what = if upload.records.first().is_some_and(|r| r.outcome != 0) { "outcome events" } else { "records" };
        let summary = agency::upload(&as_principal(&principal), &upload.header, upload.records, 500, 3, false).await?;
        println!("   {:<10} {:>5} {what} accepted", upload.header.agency, summary.accepted + summary.replaced + summary.unchanged + summary.already_stored());
    }

    let admin_node = as_principal("admin");
    let stats = admin::fetch_stats(&admin_node).await?;
    let rows = admin::fetch_clusters(&admin_node).await?;
    admin::write_clusters(&work.join("clusters.csv"), &rows)?;

    let auditor = as_principal("auditor");
    let saved_checkpoint = work.join("auditor-checkpoint.txt");
    audit::save_checkpoint(&auditor, &saved_checkpoint).await?;

    println!();
    println!("6. the {PARTNERSHIP} panel looks at what no single agency could see");
    let args = panel::PanelArgs {
        node: as_principal(&keys::panel_principal(PARTNERSHIP)),
        partnership: PARTNERSHIP.to_owned(),
        purpose: "demo: monthly multi-agency panel review".to_owned(),
        case_ref: "DEMO-1".to_owned(),
    };
    let (all, listing) = signals_raised(&args).await?;
    println!();
    println!("   the newest victim-as-offender signal:");
    panel::signals_command(&args, &panel::SignalFilter { kinds: vec!["victim-as-offender".to_owned()], limit: 1, full: false, ..all.clone() }, false).await?;
    println!();
    panel::report_command(&args, &["victim.sex".to_owned(), "case_type".to_owned()], "victims", &panel::Window::default(), false).await?;
    println!();
    panel::services_command(&args, false).await?;
    println!();
    panel::cohort_command(&args, "case_type:CSE", &panel::Window::default(), false).await?;
    println!();
    println!("   the panel's certificate does not allow a cluster export:");
    match admin::fetch_clusters(&args.node).await {
        Ok(_) => anyhow::bail!("the node let a panel member export clusters"),
        Err(error) => println!("   refused: {error}"),
    }

    println!();
    print_summary(&stats);
    println!();
    println!("Linkage quality against the synthetic truth");
    score(&synthetic, &rows, &reid, &extracts_dir, &listing)?;

    println!();
    println!("7. the auditor reviews who looked at what, and verifies the log");
    auditor_review(&auditor, &url, saved_checkpoint).await?;
    node.stop().await?;
    println!();
    println!("done in {:.1}s", started.elapsed().as_secs_f64());
    print_next_steps(kept, &work, &keys_dir, &agencies)
}

/// What the node holds after the uploads, in counts.
fn print_summary(stats: &braid_proto::v1::StatsResponse) {
    println!("Summary");
    println!("   case records                 {}", stats.records);
    println!("   outcome events               {}", stats.outcome_events);
    println!("   involvements                 {}", stats.involvements);
    println!("   linked profiles (people)     {}", stats.profiles);
    println!("   profiles known to 2+ agencies {}", stats.profiles_multi_agency);
    println!();
    println!("   pairs left for review         {}", stats.review_items);
}

/// Each agency's re-identification entries, as scoring reads them.
type Reid = Vec<(String, braid_pseudonym::ReidEntry)>;

/// Step 3: each agency pseudonymises its extract, then its outcome events;
/// returns what to upload and the re-identification entries (for scoring).
fn pseudonymise_all(
    synthetic: &braid_synth::Synthetic,
    extracts_dir: &std::path::Path,
    secret: &braid_pseudonym::SchemeSecret,
) -> Result<(Vec<agency::Pseudonymised>, Reid)> {
    let mut uploads = Vec::new();
    let mut reid = Vec::new();
    for extract in &synthetic.extracts {
        let input = extracts_dir.join(format!("{}.csv", extract.agency));
        let result = agency::pseudonymise(&extract.mapping, secret, &input, false)?;
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
    // Then its outcome events (missing episodes, placement moves, arrests…),
    // from an extract of their own.
    for extract in &synthetic.outcomes {
        let input = extracts_dir.join(format!("{}-outcomes.csv", extract.agency));
        let result = agency::pseudonymise(&extract.mapping, secret, &input, false)?;
        println!(
            "   {:<10} {:>6} rows -> {:>6} outcome events, {} rejected",
            extract.agency,
            result.output.rows_read,
            result.records.len(),
            result.output.rejected.len()
        );
        uploads.push(result);
    }
    Ok((uploads, reid))
}

/// The panel's whole signal listing, with a count of each kind printed.
async fn signals_raised(args: &panel::PanelArgs) -> Result<(panel::SignalFilter, braid_proto::v1::SignalsResponse)> {
    let all = panel::SignalFilter { kinds: Vec::new(), since: None, until: None, profile: None, current_only: false, limit: 100_000, full: true, offset: 0 };
    let listing = panel::fetch_signals(args, &all).await?;
    let mut by_kind: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for signal in &listing.signals {
        *by_kind.entry(signal.kind.as_str()).or_default() += 1;
    }
    println!("   signals raised:");
    for (kind, count) in &by_kind {
        println!("     {kind:<26} {count:>5}");
    }
    Ok((all, listing))
}

/// Scores linkage against the synthetic truth and the signals against the
/// patterns planted in it, and prints both.
fn score(
    synthetic: &braid_synth::Synthetic,
    rows: &[braid_proto::v1::ClusterRow],
    reid: &[(String, braid_pseudonym::ReidEntry)],
    extracts_dir: &std::path::Path,
    listing: &braid_proto::v1::SignalsResponse,
) -> Result<()> {
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
    // Outcome events are not in the truth: linkage is scored on cases.
    let clusters: Vec<ClusterLine> = rows
        .iter()
        .filter(|r| r.role != braid_proto::v1::Role::OutcomeSubject as i32)
        .map(|r| ClusterLine {
            agency: r.agency.clone(),
            record_ref: r.record_ref.clone(),
            person_ref: r.person_ref.clone(),
            profile_id: r.profile_id.clone(),
            identified: r.identified,
        })
        .collect();
    let evaluation = evaluate_clusters(&truth, &clusters, reid);
    print_table(&evaluation);
    println!();
    println!("Signals against the patterns planted in the synthetic data");
    let planted = signal_eval::read_planted(&extracts_dir.join("truth.csv"))?;
    let scores = signal_eval::evaluate(&planted, &clusters, reid, &crate::eval::raised(listing));
    signal_eval::print_table(&scores);
    Ok(())
}

/// Step 7: the auditor lists the panel's latest calls and verifies the
/// whole log against the checkpoint saved earlier.
async fn auditor_review(auditor: &NodeArgs, url: &str, saved_checkpoint: PathBuf) -> Result<()> {
    audit::run(audit::AuditCommand::Log {
        node: auditor.clone(),
        caller: Some(keys::panel_principal(PARTNERSHIP)),
        action: None,
        profile: None,
        since: None,
        until: None,
        from_index: 0,
        limit: 8,
        newest: true,
        json: false,
    })
    .await?;
    println!();
    println!("   braid audit verify --saved {}", saved_checkpoint.display());
    audit::run(audit::AuditCommand::Verify {
        node: Some(url.to_owned()),
        tls: auditor.tls.clone(),
        principal: None,
        saved: vec![saved_checkpoint],
        data_dir: None,
        verifier_key: None,
    })
    .await?;
    Ok(())
}

/// How to look at the demo's store in the web console, when it was kept
/// (then with a node config written beside it).
fn print_next_steps(kept: bool, work: &std::path::Path, keys_dir: &std::path::Path, agencies: &[String]) -> Result<()> {
    if kept {
        let config = work.join("node.toml");
        std::fs::write(&config, demo_node_config(work, keys_dir, agencies)?).with_context(|| format!("write {}", config.display()))?;
        println!();
        println!("to look at it in a browser, start the node on the kept store and open the panel's console:");
        println!("   braid-node --config {} &", config.display());
        println!(
            "   braid console --tls {} --node https://127.0.0.1:7443 --partnership {PARTNERSHIP}",
            keys_dir.join(format!("panel-{PARTNERSHIP}")).display()
        );
    } else {
        println!("(run `braid demo --keep DIR` to keep the store and look at it in the web console, `braid console`)");
    }
    Ok(())
}

/// A node config for the demo's kept store: loopback port 7443, the
/// demo's certificates, policy and partnership.
fn demo_node_config(work: &std::path::Path, keys_dir: &std::path::Path, agencies: &[String]) -> Result<String> {
    let text = |path: PathBuf| toml::Value::String(path.display().to_string());
    let mut tls = toml::Table::new();
    tls.insert("certificate".into(), text(keys_dir.join("node/node.crt")));
    tls.insert("private_key".into(), text(keys_dir.join("node/node.key")));
    tls.insert("client_ca".into(), text(keys_dir.join("node/ca.crt")));
    let mut partnerships = toml::Table::new();
    partnerships.insert(PARTNERSHIP.into(), toml::Value::Array(agencies.iter().map(|a| toml::Value::String(a.clone())).collect()));
    let mut config = toml::Table::new();
    config.insert("listen".into(), toml::Value::String("127.0.0.1:7443".into()));
    config.insert("data_dir".into(), text(work.join("node-data")));
    config.insert("policy".into(), text(keys_dir.join("node/policy.toml")));
    config.insert("tls".into(), toml::Value::Table(tls));
    config.insert("partnerships".into(), toml::Value::Table(partnerships));
    let config = toml::to_string(&config).context("write the demo's node config")?;
    // The node reads it back exactly so.
    braid_node::NodeConfig::from_toml(&config).context("the demo's node config")?;
    Ok(config)
}
