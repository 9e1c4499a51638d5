//! `braid-node --restore`: a backup copied into a new data directory,
//! checked whole before the directory takes its name.

use std::path::{Path, PathBuf};

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
/// log. The copy is made in a private directory beside `data_dir`, synced,
/// and renamed to `data_dir` only once it has passed, so a damaged or
/// truncated backup leaves nothing behind and a good one can be restored
/// into the same place next.
pub fn restore_backup(backup: &Path, data_dir: &Path) -> anyhow::Result<Restored> {
    anyhow::ensure!(backup.join("CURRENT").exists(), "{} is not a backup (no RocksDB CURRENT file)", backup.display());
    if data_dir.exists() {
        let empty = std::fs::read_dir(data_dir).with_context(|| format!("read {}", data_dir.display()))?.next().is_none();
        anyhow::ensure!(empty, "{} is not empty: restore into a new directory, so nothing is overwritten", data_dir.display());
    }
    let staging = staging_dir(data_dir)?;
    let restored = copy_and_check(backup, &staging);
    let restored = restored.and_then(|restored| {
        if data_dir.exists() {
            std::fs::remove_dir(data_dir).with_context(|| format!("replace the empty {}", data_dir.display()))?;
        }
        std::fs::rename(&staging, data_dir).with_context(|| format!("move the checked copy to {}", data_dir.display()))?;
        sync_dir(data_dir.parent().unwrap_or(Path::new(".")))?;
        Ok(restored)
    });
    if restored.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    restored
}

/// A new private directory beside `data_dir` to copy into.
fn staging_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let absolute = std::path::absolute(data_dir).with_context(|| format!("resolve {}", data_dir.display()))?;
    let parent = absolute.parent().context("the data directory has no parent directory")?;
    crate::space::create_private_dir(parent).with_context(|| format!("create {}", parent.display()))?;
    let name = absolute.file_name().context("the data directory has no name")?.to_string_lossy().into_owned();
    let staging = parent.join(format!(".{name}.restoring-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("remove the unfinished {}", staging.display()))?;
    }
    crate::space::create_private_dir(&staging).with_context(|| format!("create {}", staging.display()))?;
    Ok(staging)
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
