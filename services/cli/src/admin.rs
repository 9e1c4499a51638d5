//! `braid admin …`: operator reads of the linkage state.

use std::path::Path;

use anyhow::{Context, Result};
use braid_proto::v1::{self, admin_service_client::AdminServiceClient};

use crate::convert::role_name;

async fn client(node: &str) -> Result<AdminServiceClient<tonic::transport::Channel>> {
    AdminServiceClient::connect(node.to_owned())
        .await
        .with_context(|| format!("connect to the node at {node}"))
}

/// Every involvement and its profile.
pub async fn fetch_clusters(node: &str) -> Result<Vec<v1::ClusterRow>> {
    let mut client = client(node).await?;
    let mut stream = client
        .export_clusters(v1::ExportClustersRequest {})
        .await
        .map_err(|status| anyhow::anyhow!("the node refused the export: {}", status.message()))?
        .into_inner();
    let mut rows = Vec::new();
    while let Some(row) = stream
        .message()
        .await
        .map_err(|status| anyhow::anyhow!("the export was interrupted: {}", status.message()))?
    {
        rows.push(row);
    }
    Ok(rows)
}

/// Writes `agency,record_ref,person_ref,role,profile_id`.
pub fn write_clusters(path: &Path, rows: &[v1::ClusterRow]) -> Result<()> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("create {}", path.display()))?;
    writer.write_record(["agency", "record_ref", "person_ref", "role", "profile_id"])?;
    for row in rows {
        writer.write_record([&row.agency, &row.record_ref, &row.person_ref, role_name(row.role), &row.profile_id])?;
    }
    writer.flush()?;
    Ok(())
}

/// `braid admin clusters`.
pub async fn clusters_command(node: &str, out: &Path) -> Result<()> {
    let rows = fetch_clusters(node).await?;
    write_clusters(out, &rows)?;
    println!("{} involvements written to {}", rows.len(), out.display());
    Ok(())
}

/// Node statistics.
pub async fn fetch_stats(node: &str) -> Result<v1::StatsResponse> {
    let mut client = client(node).await?;
    Ok(client
        .stats(v1::StatsRequest {})
        .await
        .map_err(|status| anyhow::anyhow!("the node refused: {}", status.message()))?
        .into_inner())
}

/// `braid admin stats`.
pub async fn stats_command(node: &str, json: bool) -> Result<()> {
    let stats = fetch_stats(node).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "records": stats.records,
                "involvements": stats.involvements,
                "profiles": stats.profiles,
                "profiles_multi_agency": stats.profiles_multi_agency,
                "agencies": stats.agencies,
                "epoch_fingerprint": stats.epoch_fingerprint,
            })
        );
    } else {
        println!("records                     {}", stats.records);
        println!("involvements                {}", stats.involvements);
        println!("profiles (people)           {}", stats.profiles);
        println!("known to 2+ agencies        {}", stats.profiles_multi_agency);
        println!("agencies                    {}", stats.agencies);
        println!("key epoch                   {}", stats.epoch_fingerprint);
    }
    Ok(())
}
