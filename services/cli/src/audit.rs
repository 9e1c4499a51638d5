//! `braid audit …`: what an auditor does. Read who looked at what, fetch
//! and save signed checkpoints, check inclusion and consistency proofs, and
//! verify the whole log: every entry recomputed into the Merkle tree, every
//! checkpoint's signature and root checked, and the log checked against
//! checkpoints saved earlier (a node that rewrote history cannot match
//! them).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use braid_audit::merkle::{self, Hash};
use braid_audit::{Checkpoint, Verified};
use braid_proto::v1::{self, audit_service_client::AuditServiceClient};
use clap::Subcommand;
use time::macros::format_description;

use braid_client::{refused, NodeArgs, Transport};

/// The auditor's commands.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// List audit entries, oldest first (or --newest): who, in which role,
    /// did what, why, touching which records or profiles, with how many
    /// results.
    Log {
        #[command(flatten)]
        node: NodeArgs,
        /// Only this principal's calls.
        #[arg(long)]
        caller: Option<String>,
        /// Only this action (e.g. panel.profile, ingest.upload).
        #[arg(long)]
        action: Option<String>,
        /// Only calls that touched this profile id or record ref.
        #[arg(long)]
        profile: Option<String>,
        /// From this date or time (2026-11-24 or 2026-11-24T09:30, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Before this date or time.
        #[arg(long)]
        until: Option<String>,
        /// Start looking at this entry index.
        #[arg(long, default_value_t = 0)]
        from_index: u64,
        /// Most entries to list (1 to 10000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// The newest matching entries, newest first.
        #[arg(long)]
        newest: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch the node's current signed checkpoint (size and root of the
    /// log); --save keeps it for later `verify --saved` and `prove --from`.
    Checkpoint {
        #[command(flatten)]
        node: NodeArgs,
        /// Write the checkpoint to this file (never overwritten).
        #[arg(long)]
        save: Option<PathBuf>,
        /// The node's checkpoint key as you recorded it earlier (the
        /// signed-note verifier key `braid audit checkpoint` prints,
        /// braid-node+<id>+<key>): refuse a node whose key differs (a
        /// re-keyed or replaced store).
        #[arg(long, env = "BRAID_VERIFIER_KEY")]
        verifier_key: Option<String>,
    },
    /// Prove that an entry is in the log (--index), or that the log is an
    /// append-only extension of a checkpoint saved earlier (--from).
    Prove {
        #[command(flatten)]
        node: NodeArgs,
        /// The entry to prove included.
        #[arg(long, conflicts_with = "from", required_unless_present = "from")]
        index: Option<u64>,
        /// A saved checkpoint: prove the current log (or --to) extends it.
        #[arg(long)]
        from: Option<PathBuf>,
        /// A later saved checkpoint to prove against (default: the node's
        /// current one).
        #[arg(long)]
        to: Option<PathBuf>,
        /// The node's checkpoint key as you recorded it earlier (the
        /// signed-note verifier key `braid audit checkpoint` prints,
        /// braid-node+<id>+<key>): refuse a node whose key differs (a
        /// re-keyed or replaced store).
        #[arg(long, env = "BRAID_VERIFIER_KEY")]
        verifier_key: Option<String>,
    },
    /// Recompute the whole tree from the stored entries, check every
    /// checkpoint's signature and root, and check the log against
    /// checkpoints saved earlier. Names the first bad entry.
    Verify {
        /// Node URL (with --tls): verify through a running node.
        #[arg(long, env = "BRAID_NODE")]
        node: Option<String>,
        /// Your certificate bundle directory (see `braid audit log --help`).
        #[arg(long, env = "BRAID_TLS", value_name = "DIR")]
        tls: Option<PathBuf>,
        /// Against an --insecure-dev node only: the principal to act as.
        #[arg(long, env = "BRAID_PRINCIPAL", conflicts_with = "tls")]
        principal: Option<String>,
        /// Checkpoints saved earlier (repeat).
        #[arg(long)]
        saved: Vec<PathBuf>,
        /// Verify a stopped node's data directory directly instead of
        /// asking a running node (--node, and BRAID_NODE, are then ignored).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The node's checkpoint key as you recorded it earlier (the
        /// signed-note verifier key `braid audit checkpoint` prints,
        /// braid-node+<id>+<key>): refuse a node whose key differs (a
        /// re-keyed or replaced store).
        #[arg(long, env = "BRAID_VERIFIER_KEY")]
        verifier_key: Option<String>,
    },
}

/// Text a caller supplied, safe to print on one line of a terminal:
/// control characters (newlines, escape sequences) and invisible ones
/// (zero-width, right-to-left overrides) are shown escaped, so an entry
/// cannot forge another line, repaint the screen or read backwards.
pub(crate) fn printable(text: &str) -> String {
    braid_template::printable(text)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads `2026-11-24` or `2026-11-24T09:30[:15][Z]` as milliseconds since
/// the Unix epoch (UTC).
pub(crate) fn time_ms(text: &str, flag: &str) -> Result<u64> {
    let bad = || anyhow::anyhow!("{flag} must be a date (2026-11-24) or a UTC time (2026-11-24T09:30)");
    let day = format_description!("[year]-[month]-[day]");
    let minute = format_description!("[year]-[month]-[day]T[hour]:[minute][optional [:[second]]][optional [Z]]");
    let at = match time::Date::parse(text, day) {
        Ok(date) => date.midnight(),
        Err(_) => time::PrimitiveDateTime::parse(text, minute).map_err(|_| bad())?,
    };
    u64::try_from(at.assume_utc().unix_timestamp_nanos() / 1_000_000).map_err(|_| bad())
}

/// Milliseconds since the Unix epoch written in `format` (UTC), or as a
/// count of milliseconds when the time is beyond what a calendar holds.
fn utc_text(ms: u64, format: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(format).ok())
        .unwrap_or_else(|| format!("{ms} ms after 1970"))
}

/// Milliseconds since the Unix epoch as a UTC time, `2026-11-24T09:30:15Z`.
pub(crate) fn time_text(ms: u64) -> String {
    utc_text(ms, format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
}

/// Milliseconds since the Unix epoch in words, to the minute:
/// `24 November 2026, 09:30 UTC`.
pub(crate) fn time_words(ms: u64) -> String {
    utc_text(ms, format_description!("[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"))
}

fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    // A checkpoint is a few hundred bytes: read no more than a little over
    // (`--saved /dev/zero` must not eat the memory).
    use std::io::Read;
    const MOST: u64 = 16 * 1024;
    let mut text = String::new();
    let file = std::fs::File::open(path).with_context(|| format!("read {}", path.display()))?;
    file.take(MOST + 1).read_to_string(&mut text).with_context(|| format!("read {} (a checkpoint is text)", path.display()))?;
    anyhow::ensure!(text.len() as u64 <= MOST, "{} is over {} KiB: not a checkpoint (`braid audit checkpoint --out` writes one)", path.display(), MOST / 1024);
    Checkpoint::from_text(&text).with_context(|| path.display().to_string())
}

/// Refuses a data directory a running node holds: its store changes while
/// it is read (files compacted away mid-read). RocksDB holds a POSIX lock on
/// its `LOCK` file while the store is open; this process holds none there,
/// so probing for it and closing the file release nobody's lock.
fn refuse_if_in_use(dir: &Path) -> Result<()> {
    let Ok(file) = std::fs::File::open(dir.join("LOCK")) else { return Ok(()) };
    match rustix::fs::fcntl_lock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Err(error) if error == rustix::io::Errno::AGAIN || error == rustix::io::Errno::ACCESS => {
            bail!("{} is in use by a running node: verify through the node (`braid audit verify --node URL --tls DIR`), or stop it first", dir.display())
        }
        _ => Ok(()),
    }
}

/// Refuses `key` unless it is the pinned verifier key (when one is given).
fn check_pin(key: &[u8], pinned: Option<&str>) -> Result<()> {
    if let Some(pinned) = pinned {
        let expected = braid_audit::parse_verifier_key(pinned).context("--verifier-key")?;
        anyhow::ensure!(
            expected == key,
            "the node signs its audit log with a different key ({}) from the one you pinned: the store was re-keyed or replaced, \
             so its log cannot be trusted as the one you checked before",
            braid_audit::verifier_key(key)
        );
    }
    Ok(())
}

/// The node's current checkpoint and key (the pinned key, when given).
async fn current_checkpoint(client: &mut AuditServiceClient<Transport>, pinned: Option<&str>) -> Result<(Checkpoint, Vec<u8>)> {
    let response = client.checkpoint(v1::CheckpointRequest {}).await.map_err(refused)?.into_inner();
    check_pin(&response.public_key, pinned)?;
    let checkpoint = Checkpoint::from_text(&response.checkpoint).context("the node's checkpoint")?;
    anyhow::ensure!(checkpoint.verify_signature(&response.public_key), "the node's checkpoint is not signed by the key it presents");
    Ok((checkpoint, response.public_key))
}

fn hashes(response: v1::ProofResponse) -> Result<Vec<Hash>> {
    response.hashes.into_iter().map(|hash| hash.try_into().map_err(|_| anyhow::anyhow!("the node sent a proof hash that is not 32 bytes"))).collect()
}

fn write_checkpoint(checkpoint: &Checkpoint, path: &Path) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("create {} (saved checkpoints are never overwritten)", path.display()))?;
    file.write_all(checkpoint.to_text().as_bytes())?;
    Ok(())
}

/// Fetches the node's current checkpoint and saves it to `path`.
pub async fn save_checkpoint(node: &NodeArgs, path: &Path) -> Result<Checkpoint> {
    let (checkpoint, _) = current_checkpoint(&mut braid_client::audit(node).await?, None).await?;
    write_checkpoint(&checkpoint, path)?;
    Ok(checkpoint)
}

/// Runs an audit command.
pub async fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Log { node, caller, action, profile, since, until, from_index, limit, newest, json } => {
            let request = v1::LogRequest {
                principal: caller.unwrap_or_default(),
                action: action.unwrap_or_default(),
                touched: profile.unwrap_or_default(),
                since_ms: since.as_deref().map(|t| time_ms(t, "--since")).transpose()?.unwrap_or(0),
                until_ms: until.as_deref().map(|t| time_ms(t, "--until")).transpose()?.unwrap_or(0),
                from_index,
                limit,
                newest_first: newest,
            };
            let response = braid_client::audit(&node).await?.log(request).await.map_err(refused)?.into_inner();
            print_log(&response, json)
        }
        AuditCommand::Checkpoint { node, save, verifier_key } => {
            let (checkpoint, key) = current_checkpoint(&mut braid_client::audit(&node).await?, verifier_key.as_deref()).await?;
            println!("size {}  root {}  signed {}", checkpoint.size, hex(&checkpoint.root), time_text(checkpoint.time_ms));
            println!("node key {} (signed-note verifier key)", braid_audit::verifier_key(&key));
            if let Some(path) = save {
                write_checkpoint(&checkpoint, &path)?;
                println!("saved to {}", path.display());
            }
            Ok(())
        }
        AuditCommand::Prove { node, index, from, to, verifier_key } => {
            let mut client = braid_client::audit(&node).await?;
            let (current, key) = current_checkpoint(&mut client, verifier_key.as_deref()).await?;
            let target = match &to {
                Some(path) => read_checkpoint(path)?,
                None => current,
            };
            anyhow::ensure!(target.verify_signature(&key), "the checkpoint to prove against is not signed by this node's key");
            if let Some(index) = index {
                anyhow::ensure!(index < target.size, "entry {index} is beyond the checkpoint (size {})", target.size);
                let mut stream = client.entries(v1::EntriesRequest { from_index: index, to_index: index + 1 }).await.map_err(refused)?.into_inner();
                let stored = stream
                    .message()
                    .await
                    .map_err(refused)?
                    .and_then(|chunk| chunk.entries.into_iter().next())
                    .filter(|stored| stored.index == index)
                    .with_context(|| format!("the node has no entry {index}"))?;
                let entry = <braid_audit::Entry as prost::Message>::decode(stored.entry.as_slice())
                    .map_err(|_| anyhow::anyhow!("entry {index} is not a readable audit entry"))?;
                let proof = client.inclusion_proof(v1::InclusionProofRequest { index, size: target.size }).await.map_err(refused)?.into_inner();
                let leaf = braid_audit::leaf_of(&entry);
                if !merkle::verify_inclusion(&leaf, index, target.size, &hashes(proof)?, &target.root) {
                    bail!("entry {index} is NOT included in the log of size {} signed {}", target.size, time_text(target.time_ms));
                }
                println!("entry {index} is included in the log of size {} (root {}) signed {}", target.size, hex(&target.root), time_text(target.time_ms));
                return Ok(());
            }
            let old = read_checkpoint(from.as_deref().context("give --index or --from")?)?;
            anyhow::ensure!(old.verify_signature(&key), "the saved checkpoint is not signed by this node's key");
            if old.size > target.size {
                bail!("the log now holds {} entries, fewer than the {} of the saved checkpoint: history was truncated", target.size, old.size);
            }
            let consistent = if old.size == target.size {
                old.root == target.root
            } else if old.size == 0 {
                true
            } else {
                let proof =
                    client.consistency_proof(v1::ConsistencyProofRequest { old_size: old.size, new_size: target.size }).await.map_err(refused)?.into_inner();
                merkle::verify_consistency(old.size, target.size, &hashes(proof)?, &old.root, &target.root)
            };
            if !consistent {
                bail!("the log of size {} is NOT an extension of the saved checkpoint of size {}: history was rewritten", target.size, old.size);
            }
            println!("the log of size {} extends the saved checkpoint of size {} (append-only)", target.size, old.size);
            Ok(())
        }
        AuditCommand::Verify { node, tls, principal, saved, data_dir, verifier_key } => {
            let saved: Vec<Checkpoint> = saved.iter().map(|path| read_checkpoint(path)).collect::<Result<_>>()?;
            let pinned = verifier_key.as_deref();
            let verified = match (data_dir, node) {
                (Some(dir), _) => {
                    refuse_if_in_use(&dir)?;
                    braid_node::verify_directory(&dir, &saved, &|key| check_pin(key, pinned))?
                }
                (None, Some(node)) => verify_online(&NodeArgs { node, tls, principal }, &saved, pinned).await?,
                (None, None) => bail!("give --node (with --tls) to verify through a running node, or --data-dir for a stopped one"),
            };
            println!(
                "audit log verified: {} entries, root {}; {} node checkpoints signed and matching; consistent with {} saved checkpoints",
                verified.entries,
                hex(&verified.root),
                verified.checkpoints,
                verified.saved
            );
            Ok(())
        }
    }
}

/// Fetches every stored entry and checkpoint from the node and verifies.
pub(crate) async fn verify_online(node: &NodeArgs, saved: &[Checkpoint], pinned: Option<&str>) -> Result<Verified> {
    let mut client = braid_client::audit(node).await?;
    let checkpoints = client.checkpoints(v1::CheckpointsRequest {}).await.map_err(refused)?.into_inner();
    let key = checkpoints.public_key.clone();
    check_pin(&key, pinned)?;
    let checkpoints: Vec<Checkpoint> =
        checkpoints.checkpoints.iter().map(|text| Checkpoint::from_text(text)).collect::<Result<_, _>>().context("a checkpoint from the node")?;
    let mut stream = client.entries(v1::EntriesRequest { from_index: 0, to_index: 0 }).await.map_err(refused)?.into_inner();
    // Entries are verified as they arrive, a few chunks buffered, so memory
    // stays flat however long the log is.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<(u64, Vec<u8>)>>(4);
    let saved = saved.to_vec();
    let verifier = tokio::task::spawn_blocking(move || braid_audit::verify(receiver.into_iter().flatten(), &checkpoints, &saved, &key));
    let fetched = async {
        while let Some(chunk) = stream.message().await.map_err(refused)? {
            let entries = chunk.entries.into_iter().map(|stored| (stored.index, stored.entry)).collect();
            let sender = sender.clone();
            // The verifier stopped early (a bad entry): its answer says why.
            if tokio::task::spawn_blocking(move || sender.send(entries)).await.map_or(true, |sent| sent.is_err()) {
                break;
            }
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    drop(sender);
    let verified = verifier.await.context("the verifier stopped")?;
    fetched?;
    verified.map_err(|error| anyhow::anyhow!("the audit log does NOT verify: {error}"))
}

fn print_log(response: &v1::LogResponse, json: bool) -> Result<()> {
    if json {
        let entries: Vec<serde_json::Value> = response
            .entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "index": e.index,
                    "time": time_text(e.time_ms),
                    "principal": e.principal,
                    "role": e.role,
                    "action": e.action,
                    "purpose": e.purpose,
                    "case_reference": e.case_reference,
                    "touched": e.touched,
                    "result_count": e.result_count,
                    "outcome": e.outcome,
                    "claimed_principal": e.claimed_principal,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "log_size": response.log_size, "entries": entries }))?);
        return Ok(());
    }
    // One line per entry: what an auditor reads down a page.
    for e in &response.entries {
        let touched = match e.touched.len() {
            0 => String::new(),
            1..=3 => format!("  touched {}", e.touched.join(" ")),
            n => format!("  touched {} … ({n})", e.touched[..3].join(" ")),
        };
        let why = if e.purpose.is_empty() && e.case_reference.is_empty() {
            String::new()
        } else {
            format!("  for \"{}\" [{}]", printable(&e.purpose), printable(&e.case_reference))
        };
        let claimed = if e.claimed_principal { " (claimed, not proven)" } else { "" };
        let outcome = if e.outcome == "ok" { format!("ok, {} results", e.result_count) } else { printable(&e.outcome) };
        println!(
            "#{:<6} {}  {}{claimed} ({})  {}  {outcome}{why}{}",
            e.index,
            time_text(e.time_ms),
            printable(&e.principal),
            printable(&e.role),
            printable(&e.action),
            printable(&touched)
        );
    }
    println!("{} entries listed; the log holds {}", response.entries.len(), response.log_size);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{time_ms, time_text, time_words};

    #[test]
    fn times_are_read_and_absurd_years_are_an_error_not_an_overflow() {
        assert_eq!(time_ms("1970-01-02", "--since").expect("a date"), 86_400_000);
        assert_eq!(time_ms("1970-01-01T00:00:01", "--since").expect("a time"), 1000);
        assert_eq!(time_ms("2026-11-24T09:30Z", "--since").expect("a minute"), 1_795_512_600_000);
        for bad in ["2147483647-01-01", "1969-12-31", "2026-02-30", "2026-11-24T24:00", "2026-11-24 09:30", ""] {
            let error = time_ms(bad, "--since").expect_err(bad);
            assert!(error.to_string().contains("--since"), "{error}");
        }
    }

    #[test]
    fn times_are_written_in_utc_and_read_back() {
        assert_eq!(time_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(time_text(1_795_512_600_000 + 15_999), "2026-11-24T09:30:15Z");
        assert_eq!(time_ms(&time_text(1_795_512_600_000 + 15_000), "--since").expect("round trip"), 1_795_512_600_000 + 15_000);
        assert_eq!(time_text(u64::MAX), format!("{} ms after 1970", u64::MAX));
        assert_eq!(time_words(1_795_512_600_000 + 59_999), "24 November 2026, 09:30 UTC");
        assert_eq!(time_words(0), "1 January 1970, 00:00 UTC");
        assert_eq!(time_words(u64::MAX), format!("{} ms after 1970", u64::MAX));
    }
}
