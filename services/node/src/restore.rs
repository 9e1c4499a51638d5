//! `braid-node --restore`: a backup copied into a new data directory,
//! checked whole before the directory takes its name.

use std::path::Path;

use anyhow::Context;

/// What a restore copied and checked.
#[derive(Debug)]
pub struct Restored {
    /// Bytes copied (0 when an earlier restore's checked copy was moved
    /// into place instead, see `finished_earlier`).
    pub bytes: u64,
    /// Entries read with their checksums checked, over every column family.
    pub entries: u64,
    /// Audit log entries verified.
    pub audit_entries: u64,
    /// An earlier restore into the same directory had checked its copy and
    /// was cut short while moving it into place: that copy was moved into
    /// place and checked again, and the backup given now was not used.
    pub finished_earlier: bool,
}

/// Copies the backup in `backup` into `data_dir` (absent or empty) and
/// checks it: every file's blocks against their checksums, then the audit
/// log. The copy is made in a private directory inside `data_dir` (so on
/// its filesystem, a volume mounted there included), synced, and moved up
/// only once it has passed, so a damaged or truncated backup leaves
/// nothing behind and a good one can be restored into the same place next.
///
/// While the checked files move up, a marker beside them says so: the node
/// will not start on the directory (see [`cut_short`]), and a restore cut
/// short there is finished by the next `--restore` into the directory
/// (which then reports `finished_earlier`): nothing is deleted.
pub fn restore_backup(backup: &Path, data_dir: &Path) -> anyhow::Result<Restored> {
    use std::os::unix::fs::PermissionsExt;
    let staging = data_dir.join(STAGING);
    if data_dir.join(MOVING).exists() {
        move_up(&staging, data_dir)?;
        let (entries, audit_entries) = check(data_dir, &format!("the restore finished in {}", data_dir.display()), "")?;
        return Ok(Restored { bytes: 0, entries, audit_entries, finished_earlier: true });
    }
    anyhow::ensure!(backup.join("CURRENT").exists(), "{} is not a backup (no RocksDB CURRENT file)", backup.display());
    let existed = data_dir.exists();
    if existed {
        let others = std::fs::read_dir(data_dir)
            .with_context(|| format!("read {}", data_dir.display()))?
            .filter(|entry| entry.as_ref().map_or(true, |e| e.file_name() != STAGING))
            .count();
        anyhow::ensure!(others == 0, "{} is not empty: restore into a new directory, so nothing is overwritten", data_dir.display());
    }
    crate::space::create_private_dir(data_dir).with_context(|| format!("create {}", data_dir.display()))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)).with_context(|| format!("make {} private", data_dir.display()))?;
    // What an earlier restore cut short while copying or checking left.
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("remove the unfinished {}", staging.display()))?;
    }
    crate::space::create_private_dir(&staging).with_context(|| format!("create {}", staging.display()))?;
    let restored = copy_and_check(backup, &staging);
    if restored.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        if !existed {
            let _ = std::fs::remove_dir(data_dir);
        }
        return restored;
    }
    // Marked first, taken away last.
    std::fs::File::create(data_dir.join(MOVING))?.sync_all()?;
    sync_dir(data_dir)?;
    move_up(&staging, data_dir)?;
    restored
}

/// Moves the checked files in `staging` up into `data_dir` (those a move
/// cut short left), removes `staging`, then the marker.
fn move_up(staging: &Path, data_dir: &Path) -> anyhow::Result<()> {
    if staging.exists() {
        for file in std::fs::read_dir(staging).with_context(|| format!("read {}", staging.display()))? {
            let file = file?;
            std::fs::rename(file.path(), data_dir.join(file.file_name()))
                .with_context(|| format!("move {} into {}", file.path().display(), data_dir.display()))?;
        }
        sync_dir(data_dir)?;
        std::fs::remove_dir(staging).with_context(|| format!("remove {}", staging.display()))?;
        sync_dir(data_dir)?;
    }
    std::fs::remove_file(data_dir.join(MOVING)).with_context(|| format!("remove {}", data_dir.join(MOVING).display()))?;
    sync_dir(data_dir)
}

/// The directory inside the data directory that a restore copies into.
const STAGING: &str = ".restoring";
/// In the data directory while a restore's checked files move up.
const MOVING: &str = ".restore-moving";

/// Whether `data_dir` holds a restore that is unfinished (copying,
/// checking or moving up): not a store to start on.
pub(crate) fn cut_short(data_dir: &Path) -> bool {
    data_dir.join(STAGING).exists() || data_dir.join(MOVING).exists()
}

fn copy_and_check(backup: &Path, staging: &Path) -> anyhow::Result<Restored> {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = 0u64;
    for file in std::fs::read_dir(backup).with_context(|| format!("read {}", backup.display()))? {
        let file = file?;
        anyhow::ensure!(file.file_type()?.is_file(), "{} holds something that is not a file", backup.display());
        anyhow::ensure!(
            file.file_name() != MOVING && file.file_name() != STAGING,
            "{} holds a file named {:?}, which no backup has",
            backup.display(),
            file.file_name()
        );
        let target = staging.join(file.file_name());
        bytes += std::fs::copy(file.path(), &target).with_context(|| format!("copy {}", file.path().display()))?;
        // Private, as the node keeps its store, and on disk before the
        // directory takes its name.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
        std::fs::File::open(&target)?.sync_all().with_context(|| format!("sync {}", target.display()))?;
    }
    sync_dir(staging)?;
    let (entries, audit_entries) = check(staging, &format!("the backup {}", backup.display()), ", nothing was restored")?;
    Ok(Restored { bytes, entries, audit_entries, finished_earlier: false })
}

/// Reads a store directory whole, checking every block's checksum, then
/// verifies its audit log: (entries read, audit entries verified). An
/// error names `what` and adds `then`.
fn check(dir: &Path, what: &str, then: &str) -> anyhow::Result<(u64, u64)> {
    let damaged = |error: braid_store::Error| anyhow::anyhow!("{what} is damaged or incomplete{then}: {error}");
    let entries = braid_store::Store::open_read_only(dir).map_err(damaged)?.verify_checksums().map_err(damaged)?;
    let verified = crate::verify_directory(dir, &[], &|_| Ok(())).map_err(|error| anyhow::anyhow!("{what}'s audit log does not verify{then}: {error:#}"))?;
    Ok((entries, verified.entries))
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir).and_then(|dir| dir.sync_all()).with_context(|| format!("sync {}", dir.display()))
}
