//! `braid-node --restore`: a backup copied into a new data directory,
//! checked whole before the directory takes its name.

use std::path::Path;

use anyhow::Context;

/// What a restore copied and checked.
#[derive(Debug)]
pub struct Restored {
    /// Bytes copied.
    pub bytes: u64,
    /// Entries read with their checksums checked, over every column family.
    pub entries: u64,
    /// Audit log entries verified.
    pub audit_entries: u64,
}

/// Copies the backup in `backup` into `data_dir` (absent or empty) and
/// checks it: every file's blocks against their checksums, then the audit
/// log. The copy is made in a private directory inside `data_dir` (so on
/// its filesystem, a volume mounted there included), synced, and moved up
/// only once it has passed, so a damaged or truncated backup leaves
/// nothing behind and a good one can be restored into the same place next.
pub fn restore_backup(backup: &Path, data_dir: &Path) -> anyhow::Result<Restored> {
    use std::os::unix::fs::PermissionsExt;
    anyhow::ensure!(backup.join("CURRENT").exists(), "{} is not a backup (no RocksDB CURRENT file)", backup.display());
    let staging = data_dir.join(STAGING);
    let existed = data_dir.exists();
    if staging.join(MOVING).exists() {
        // An earlier restore passed its checks and was cut short while
        // moving its files up: everything beside the staging directory is
        // what it had moved (it began on a directory holding nothing
        // else). Start over.
        for entry in std::fs::read_dir(data_dir).with_context(|| format!("read {}", data_dir.display()))? {
            let entry = entry?;
            if entry.file_name() != STAGING {
                std::fs::remove_file(entry.path()).with_context(|| format!("remove {}, moved by the restore that was cut short", entry.path().display()))?;
            }
        }
    }
    if existed {
        let others = std::fs::read_dir(data_dir)
            .with_context(|| format!("read {}", data_dir.display()))?
            .filter(|entry| entry.as_ref().map_or(true, |e| e.file_name() != STAGING))
            .count();
        anyhow::ensure!(others == 0, "{} is not empty: restore into a new directory, so nothing is overwritten", data_dir.display());
    }
    crate::space::create_private_dir(data_dir).with_context(|| format!("create {}", data_dir.display()))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)).with_context(|| format!("make {} private", data_dir.display()))?;
    // What an earlier restore cut short left.
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("remove the unfinished {}", staging.display()))?;
    }
    crate::space::create_private_dir(&staging).with_context(|| format!("create {}", staging.display()))?;
    let restored = copy_and_check(backup, &staging).and_then(|restored| {
        // Marked first, so that a restore cut short while moving is known
        // for one (the node refuses to start on it; the next restore
        // starts over), and taken away last.
        std::fs::File::create(staging.join(MOVING))?.sync_all()?;
        sync_dir(&staging)?;
        for file in std::fs::read_dir(&staging)? {
            let file = file?;
            if file.file_name() == MOVING {
                continue;
            }
            std::fs::rename(file.path(), data_dir.join(file.file_name()))
                .with_context(|| format!("move {} into {}", file.path().display(), data_dir.display()))?;
        }
        sync_dir(data_dir)?;
        std::fs::remove_file(staging.join(MOVING))?;
        std::fs::remove_dir(&staging)?;
        sync_dir(data_dir)?;
        Ok(restored)
    });
    if restored.is_err() && !staging.join(MOVING).exists() {
        // (Once files have moved, the marker stays for the next restore.)
        let _ = std::fs::remove_dir_all(&staging);
        if !existed {
            let _ = std::fs::remove_dir(data_dir);
        }
    }
    restored
}

/// The directory inside the data directory that a restore copies into.
const STAGING: &str = ".restoring";
/// In the staging directory while its checked files are moved up.
const MOVING: &str = ".moving";

/// Whether `data_dir` holds a restore that was cut short (copying,
/// checking or moving): not a store to start on.
pub(crate) fn cut_short(data_dir: &Path) -> bool {
    data_dir.join(STAGING).exists()
}

fn copy_and_check(backup: &Path, staging: &Path) -> anyhow::Result<Restored> {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = 0u64;
    for file in std::fs::read_dir(backup).with_context(|| format!("read {}", backup.display()))? {
        let file = file?;
        anyhow::ensure!(file.file_type()?.is_file(), "{} holds something that is not a file", backup.display());
        let target = staging.join(file.file_name());
        bytes += std::fs::copy(file.path(), &target).with_context(|| format!("copy {}", file.path().display()))?;
        // Private, as the node keeps its store, and on disk before the
        // directory takes its name.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
        std::fs::File::open(&target)?.sync_all().with_context(|| format!("sync {}", target.display()))?;
    }
    sync_dir(staging)?;
    let damaged = |error: braid_store::Error| anyhow::anyhow!("the backup {} is damaged or incomplete, nothing was restored: {error}", backup.display());
    let entries = braid_store::Store::open_read_only(staging).map_err(damaged)?.verify_checksums().map_err(damaged)?;
    let verified = crate::verify_directory(staging, &[], &|_| Ok(()))
        .map_err(|error| anyhow::anyhow!("the backup {}'s audit log does not verify, nothing was restored: {error:#}", backup.display()))?;
    Ok(Restored { bytes, entries, audit_entries: verified.entries })
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir).and_then(|dir| dir.sync_all()).with_context(|| format!("sync {}", dir.display()))
}
