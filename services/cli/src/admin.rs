//! `braid admin …`: operator reads of the linkage state.

use std::path::Path;

use anyhow::{bail, Context, Result};
use braid_client::NodeArgs;
use braid_proto::v1;

use crate::convert::role_name;

/// Every involvement and its profile.
pub async fn fetch_clusters(node: &NodeArgs) -> Result<Vec<v1::ClusterRow>> {
    let mut client = braid_client::admin(node).await?;
    let mut stream = client
        .export_clusters(v1::ExportClustersRequest {})
        .await
        .map_err(|status| braid_client::refused_to(&status, "the node refused the export"))?
        .into_inner();
    let mut rows = Vec::new();
    while let Some(row) = stream.message().await.map_err(|status| braid_client::refused_to(&status, "the export was interrupted"))? {
        rows.push(row);
    }
    Ok(rows)
}

/// Writes `agency,record_ref,person_ref,role,profile_id,identified` into a
/// file only its owner may read (it holds every record's pseudonyms).
pub fn write_clusters(path: &Path, rows: &[v1::ClusterRow]) -> Result<()> {
    let file = crate::agency::private_output(path)?;
    write_cluster_rows(file, rows).with_context(|| format!("write {}", path.display()))
}

fn write_cluster_rows(output: impl std::io::Write, rows: &[v1::ClusterRow]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(output);
    writer.write_record(["agency", "record_ref", "person_ref", "role", "profile_id", "identified"])?;
    for row in rows {
        let identified = if row.identified { "yes" } else { "no" };
        writer.write_record([&row.agency, &row.record_ref, &row.person_ref, role_name(row.role), &row.profile_id, identified])?;
    }
    writer.flush()?;
    Ok(())
}

/// `braid admin clusters`.
pub async fn clusters_command(node: &NodeArgs, out: &Path) -> Result<()> {
    let rows = fetch_clusters(node).await?;
    if out == Path::new("-") {
        write_cluster_rows(std::io::stdout().lock(), &rows)?;
        eprintln!("{} involvements written", rows.len());
    } else {
        write_clusters(out, &rows)?;
        println!("{} involvements written to {}", rows.len(), out.display());
    }
    Ok(())
}

/// Node statistics.
pub async fn fetch_stats(node: &NodeArgs) -> Result<v1::StatsResponse> {
    let mut client = braid_client::admin(node).await?;
    Ok(client.stats(v1::StatsRequest {}).await.map_err(braid_client::refused)?.into_inner())
}

/// `braid admin relink`.
pub async fn relink_command(node: &NodeArgs) -> Result<()> {
    let mut client = braid_client::admin(node).await?;
    eprintln!("re-deciding every profile (the node answers other calls once it is done)…");
    let answer = client.relink(v1::RelinkRequest {}).await.map_err(braid_client::refused)?.into_inner();
    println!("{} involvements re-decided; {} profiles before, {} after", answer.involvements, answer.profiles_before, answer.profiles_after);
    Ok(())
}

/// `braid admin backup`.
pub async fn backup_command(node: &NodeArgs, name: String) -> Result<()> {
    let mut client = braid_client::admin(node).await?;
    let answer = client.backup(v1::BackupRequest { name }).await.map_err(braid_client::refused)?.into_inner();
    println!("backup written on the node's host to {}", answer.path);
    println!("it holds {} records and {} audit entries", answer.records, answer.audit_entries);
    println!("restore: stop the node, then braid-node --restore {} --data-dir NEW-DIR, and start it on NEW-DIR", answer.path);
    Ok(())
}

/// `braid admin retention [--dry-run]`.
pub async fn retention_command(node: &NodeArgs, dry_run: bool, json: bool) -> Result<()> {
    let mut client = braid_client::admin(node).await?;
    let answer = client.retention(v1::RetentionRequest { dry_run }).await.map_err(braid_client::refused)?.into_inner();
    let date = |d: Option<&v1::Date>| d.map(v1::Date::to_string);
    if json {
        let agencies: Vec<serde_json::Value> = answer
            .agencies
            .iter()
            .map(|a| {
                serde_json::json!({
                    "agency": a.agency,
                    "rule": a.rule,
                    "records": a.records,
                    "expired": a.expired,
                    "next_expiry": date(a.next_expiry.as_ref()),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "dry_run": answer.dry_run, "today": date(answer.today.as_ref()), "erased": answer.erased, "agencies": agencies }));
        return Ok(());
    }
    let today = date(answer.today.as_ref()).unwrap_or_default();
    if answer.agencies.is_empty() {
        println!("the node holds no records (dates compared with {today})");
    }
    let width = answer.agencies.iter().map(|a| a.agency.len()).max().unwrap_or(6).max(6);
    if !answer.agencies.is_empty() {
        println!("{:<width$}  {:>8}  {:>8}  {:<12}  rule", "agency", "records", "expired", "next expiry");
    }
    for a in &answer.agencies {
        let next = date(a.next_expiry.as_ref()).unwrap_or_else(|| "-".to_owned());
        println!("{:<width$}  {:>8}  {:>8}  {:<12}  {}", a.agency, a.records, a.expired, next, a.rule);
    }
    let expired: u64 = answer.agencies.iter().map(|a| a.expired).sum();
    if answer.dry_run {
        println!("dry run on {today}: {expired} records are past their retention date; nothing was erased (run without --dry-run to erase them)");
    } else {
        let compacted = match (answer.erased, answer.compacted) {
            (_, false) if answer.erased > 0 => {
                "; the store is not compacted yet (see the node's log): their pseudonyms stay in its files until the next start or sweep"
            }
            (_, false) => "",
            (0, true) => "; the store compacted, taking away what an earlier erasure left in its files",
            (_, true) => "; the store compacted",
        };
        println!("{} records erased on {today} (withdrawn, their profiles re-computed; one audit entry){compacted}", answer.erased);
        if answer.erased < expired {
            println!("{} were re-sent with a later date while the sweep ran and were kept", expired - answer.erased);
        }
    }
    Ok(())
}

/// `braid admin epochs [--begin FINGERPRINT | --finish]`.
pub async fn epochs_command(node: &NodeArgs, begin: Option<String>, finish: bool, cancel: bool, json: bool) -> Result<()> {
    if begin.as_deref().is_some_and(|fingerprint| fingerprint.trim().is_empty()) {
        bail!("--begin needs the new key epoch's fingerprint, as `braid keys next-epoch` prints it (e.g. e2-0123456789abcdef)");
    }
    let mut client = braid_client::admin(node).await?;
    if finish {
        eprintln!("finishing the key rotation (uploads wait until it is done)…");
    }
    let answer =
        client.epochs(v1::EpochsRequest { begin: begin.clone().unwrap_or_default(), finish, cancel }).await.map_err(braid_client::refused)?.into_inner();
    if json {
        let agencies: Vec<serde_json::Value> =
            answer.agencies.iter().map(|a| serde_json::json!({ "agency": a.agency, "records": a.records, "moved": a.moved })).collect();
        println!(
            "{}",
            serde_json::json!({
                "current": answer.current,
                "next": (!answer.next.is_empty()).then_some(&answer.next),
                "dropped": (!answer.dropped.is_empty()).then_some(&answer.dropped),
                "cancelled": (!answer.cancelled.is_empty()).then_some(&answer.cancelled),
                "agencies": agencies,
            })
        );
        return Ok(());
    }
    if answer.current.is_empty() {
        println!("the node holds no key epoch yet (it takes the epoch of its first upload)");
        return Ok(());
    }
    if !answer.cancelled.is_empty() {
        println!("rotation to {} cancelled: uploads under it are refused again", answer.cancelled);
    } else if !answer.dropped.is_empty() {
        println!("rotation finished: uploads are accepted under {} only; the pseudonyms under {} are gone from the store", answer.current, answer.dropped);
    } else if begin.is_some() {
        println!("rotation opened: the node accepts uploads under {} and, with bridge pseudonyms, under {}", answer.current, answer.next);
        println!("each agency now runs `braid agency pseudonymise --secret NEW --bridge-secret CURRENT …` and uploads the result");
    }
    if answer.next.is_empty() {
        println!("key epoch {}; no rotation open", answer.current);
    } else {
        println!("key epoch {}, moving to {}", answer.current, answer.next);
    }
    if answer.agencies.is_empty() {
        return Ok(());
    }
    let width = answer.agencies.iter().map(|a| a.agency.len()).max().unwrap_or(6).max(6);
    if answer.next.is_empty() {
        println!("{:<width$}  {:>8}", "agency", "records");
        for a in &answer.agencies {
            println!("{:<width$}  {:>8}", a.agency, a.records);
        }
        return Ok(());
    }
    println!("{:<width$}  {:>8}  {:>8}  status", "agency", "records", "moved");
    for a in &answer.agencies {
        let status = if a.moved == a.records {
            "moved"
        } else if a.moved == 0 {
            "not started"
        } else {
            "moving"
        };
        println!("{:<width$}  {:>8}  {:>8}  {status}", a.agency, a.records, a.moved);
    }
    let behind = answer.agencies.iter().filter(|a| a.moved < a.records).count();
    if behind == 0 {
        println!("every agency has moved: finish with `braid admin epochs --finish`");
    } else {
        println!("{behind} of {} agencies still hold records under {} only", answer.agencies.len(), answer.current);
    }
    Ok(())
}

/// `braid admin stats`.
pub async fn stats_command(node: &NodeArgs, json: bool) -> Result<()> {
    let stats = fetch_stats(node).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "records": stats.records,
                "outcome_events": stats.outcome_events,
                "involvements": stats.involvements,
                "profiles": stats.profiles,
                "profiles_multi_agency": stats.profiles_multi_agency,
                "agencies": stats.agencies,
                "epoch_fingerprint": stats.epoch_fingerprint,
                "review_items": stats.review_items,
                "model_pairs": stats.model_pairs,
                "model_pairs_at_fit": stats.model_pairs_at_fit,
            })
        );
    } else {
        println!("case records                {}", stats.records);
        println!("outcome events              {}", stats.outcome_events);
        println!("involvements                {}", stats.involvements);
        println!("profiles (people)           {}", stats.profiles);
        println!("known to 2+ agencies        {}", stats.profiles_multi_agency);
        println!("agencies                    {}", stats.agencies);
        println!("key epoch                   {}", stats.epoch_fingerprint);
        println!("pairs left for review       {}", stats.review_items);
        let fitted = if stats.model_pairs_at_fit == 0 { "starting values".to_owned() } else { format!("EM fit at {} pairs", stats.model_pairs_at_fit) };
        println!("linkage model               {} pairs compared; {fitted}", stats.model_pairs);
    }
    Ok(())
}

/// Explanations from the node.
pub async fn fetch_explanation(node: &NodeArgs, profile: Option<String>, record: Option<(String, String)>) -> Result<v1::ExplainResponse> {
    let subject = match (profile, record) {
        (Some(profile), _) => v1::explain_request::Subject::ProfileId(profile),
        (None, Some((agency, record_ref))) => v1::explain_request::Subject::Record(v1::RecordSubject { agency, record_ref }),
        (None, None) => bail!("give --profile, or --agency with --record-ref"),
    };
    let mut client = braid_client::admin(node).await?;
    Ok(client.explain(v1::ExplainRequest { subject: Some(subject) }).await.map_err(braid_client::refused)?.into_inner())
}

fn link_json(link: &v1::LinkExplanation) -> serde_json::Value {
    serde_json::json!({
        "involvement": link.involvement,
        "other_involvement": link.other_involvement,
        "other_profile_id": link.other_profile_id,
        "decision": link.decision,
        "keys_agreeing": link.keys_agreeing,
        "dice_band": link.dice_band,
        "weight": link.weight,
        "probability": link.probability,
        "evidence": link.parts.iter().map(|p| (p.feature.clone(), serde_json::Value::from(p.level.clone()))).collect::<serde_json::Map<_, _>>(),
    })
}

fn print_link(link: &v1::LinkExplanation, show_profile: bool) {
    let keys = if link.keys_agreeing.is_empty() { "none".to_owned() } else { link.keys_agreeing.join(", ") };
    let other = if show_profile { format!(" ({})", link.other_profile_id) } else { String::new() };
    // Two records one agency gives one person ref are linked whatever
    // their fields weigh: say so, or p 1.000 beside a negative weight reads
    // as a contradiction.
    let own = link.parts.iter().any(|part| part.level == "same-agency-same-person");
    let why = if own { "  (the agency's own person ref)" } else { "" };
    println!(
        "  #{} -> #{}{}  {}  weight {:+.1}  p {:.3}{why}  dice {}  keys: {}",
        link.involvement, link.other_involvement, other, link.decision, link.weight, link.probability, link.dice_band, keys
    );
}

/// `braid admin explain`.
pub async fn explain_command(node: &NodeArgs, profile: Option<String>, record: Option<(String, String)>, json: bool) -> Result<()> {
    let response = fetch_explanation(node, profile, record).await?;
    if json {
        let profiles: Vec<serde_json::Value> = response
            .profiles
            .iter()
            .map(|p| {
                serde_json::json!({
                    "profile_id": p.profile_id,
                    "members": p.members.iter().map(|m| serde_json::json!({
                        "involvement": m.involvement, "agency": m.agency, "record_ref": m.record_ref, "role": role_name(m.role),
                    })).collect::<Vec<_>>(),
                    "links": p.links.iter().map(link_json).collect::<Vec<_>>(),
                    "reviews": p.reviews.iter().map(link_json).collect::<Vec<_>>(),
                    "matches": p.matches.iter().map(link_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "profiles": profiles }));
        return Ok(());
    }
    for p in &response.profiles {
        println!("profile {} — {} involvements", p.profile_id, p.members.len());
        for m in &p.members {
            println!("  #{:<8} {:<12} {:<20} {}", m.involvement, m.agency, m.record_ref, role_name(m.role));
        }
        println!("links ({}):", p.links.len());
        for link in &p.links {
            print_link(link, false);
        }
        if !p.matches.is_empty() {
            println!("also matching directly ({}; these join nothing):", p.matches.len());
            for link in &p.matches {
                print_link(link, false);
            }
        }
        if !p.reviews.is_empty() {
            println!("left for review ({}):", p.reviews.len());
            for link in &p.reviews {
                print_link(link, true);
            }
        }
    }
    Ok(())
}
