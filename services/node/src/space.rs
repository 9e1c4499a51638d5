//! Free space on the data directory's filesystem.
//!
//! RocksDB cannot recover in place from a write that found the disk full
//! (it stops taking writes until the store is reopened), and opening a
//! store on a full disk can abort inside RocksDB. So the node keeps away
//! from a full disk instead:
//!
//! - changes (uploads, withdrawals, re-linking) are refused while less
//!   than `min_free_mb` is free or the reserve is missing, so RocksDB
//!   keeps room for the small writes reads need (every read is audited);
//! - a reserve file of `reserve_mb` is kept in the data directory. When a
//!   write still meets a full disk (something else filled it), the reserve
//!   is released and the node shuts down to be restarted; at start-up the
//!   reserve is released if the store would not otherwise have room to
//!   open. It is re-made, and changes accepted again, once space allows.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Deserialize;

/// The reserve file's name in the data directory.
pub const RESERVE_FILE: &str = "braid.reserve";

/// Room the store needs to open, besides its write-ahead logs (which are
/// flushed into tables on opening): a new log, manifest and options file.
const OPEN_MARGIN: u64 = 8 << 20;

const MIB: u64 = 1 << 20;

/// The `[storage]` settings.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageLimits {
    /// Size of the reserve file kept in the data directory, in MiB
    /// (0: none; then a full disk may stop the node from restarting).
    pub reserve_mb: u64,
    /// Changes are refused while less than this is free, in MiB.
    pub min_free_mb: u64,
}

impl Default for StorageLimits {
    fn default() -> StorageLimits {
        StorageLimits { reserve_mb: 64, min_free_mb: 256 }
    }
}

/// Why changes are refused for lack of space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the node's disk is nearly full ({} MiB free; changes need {} MiB free and the {} MiB reserve in place): uploads and other changes are refused until space is freed, reads continue",
    free / MIB, needed / MIB, reserve / MIB
)]
pub struct SpaceShort {
    /// Bytes free now.
    pub free: u64,
    /// Bytes that must stay free.
    pub needed: u64,
    /// The reserve's size in bytes.
    pub reserve: u64,
}

/// The data directory's free space and reserve.
#[derive(Debug)]
pub struct DiskSpace {
    dir: PathBuf,
    limits: StorageLimits,
    /// Whether changes are refused for lack of space (as last checked).
    low: AtomicBool,
    /// Bytes free when last checked.
    free: AtomicU64,
    /// Held while the reserve is being made (one maker at a time).
    making: std::sync::Mutex<()>,
}

/// Bytes free to an unprivileged writer on `dir`'s filesystem.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

impl DiskSpace {
    /// Watches `dir` (which must exist) under `limits`.
    pub fn new(dir: &Path, limits: StorageLimits) -> DiskSpace {
        DiskSpace { dir: dir.to_owned(), limits, low: AtomicBool::new(false), free: AtomicU64::new(0), making: std::sync::Mutex::new(()) }
    }

    fn reserve_path(&self) -> PathBuf {
        self.dir.join(RESERVE_FILE)
    }

    fn reserve_bytes(&self) -> u64 {
        self.limits.reserve_mb.saturating_mul(MIB)
    }

    fn min_free_bytes(&self) -> u64 {
        self.limits.min_free_mb.saturating_mul(MIB)
    }

    /// Whether the reserve is in place (always, when none is configured).
    fn reserve_in_place(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        // Its blocks, not only its length: a sparse file reserves nothing.
        self.reserve_bytes() == 0
            || std::fs::metadata(self.reserve_path()).is_ok_and(|m| m.len() >= self.reserve_bytes() && m.blocks().saturating_mul(512) >= self.reserve_bytes())
    }

    /// Makes sure the store has room to open: releases the reserve when it
    /// would not. Call before opening the store.
    pub fn before_open(&self) -> anyhow::Result<()> {
        let logs: u64 = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        let needed = logs + OPEN_MARGIN;
        // A reserve left half-made by an earlier run is not kept.
        let _ = std::fs::remove_file(self.dir.join(format!("{RESERVE_FILE}.partial")));
        let mut free = free_bytes(&self.dir)?;
        if free < needed && self.reserve_path().exists() {
            std::fs::remove_file(self.reserve_path())?;
            free = free_bytes(&self.dir)?;
            tracing::warn!(
                free_mib = free / MIB,
                "the disk was too full to open the store: the reserve was released; changes are refused until space is freed"
            );
        }
        anyhow::ensure!(
            free >= needed,
            "the data directory's disk has {} MiB free and the store needs {} MiB to open: free space on it and start again",
            free / MIB,
            needed.div_ceil(MIB)
        );
        Ok(())
    }

    /// Checks the space, re-making the reserve when there is room for it
    /// and for `min_free_mb` besides. Returns whether changes are allowed;
    /// logs when that changes.
    pub fn refresh(&self) -> Result<(), SpaceShort> {
        let room_for_reserve = |free: u64| free >= self.reserve_bytes().saturating_add(self.min_free_bytes());
        let mut free = free_bytes(&self.dir).unwrap_or(0);
        if !self.reserve_in_place() && room_for_reserve(free) && self.make_reserve().is_ok() {
            free = free_bytes(&self.dir).unwrap_or(0);
        }
        self.free.store(free, Ordering::Relaxed);
        // Short: less than the minimum free, or no reserve and no room to
        // make one (a reserve still being made, with room for it, is fine).
        let short = if free < self.min_free_bytes() || (!self.reserve_in_place() && !room_for_reserve(free)) {
            Some(SpaceShort { free, needed: self.min_free_bytes(), reserve: self.reserve_bytes() })
        } else {
            None
        };
        let was_low = self.low.swap(short.is_some(), Ordering::SeqCst);
        match short {
            Some(short) => {
                if !was_low {
                    tracing::error!(
                        free_mib = short.free / MIB,
                        needed_mib = short.needed / MIB,
                        reserve_in_place = self.reserve_in_place(),
                        "the data directory's disk is nearly full: uploads and other changes are refused, reads continue; they resume by themselves once space is freed"
                    );
                }
                Err(short)
            }
            None => {
                if was_low {
                    tracing::info!(free_mib = free / MIB, "disk space recovered: changes are accepted again");
                }
                Ok(())
            }
        }
    }

    /// Whether changes were refused for lack of space at the last check.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::SeqCst)
    }

    /// Bytes free at the last check.
    pub fn last_free(&self) -> u64 {
        self.free.load(Ordering::Relaxed)
    }

    /// Releases the reserve (a write met a full disk), so the store has
    /// room when it is next opened.
    pub fn release_reserve(&self) {
        if std::fs::remove_file(self.reserve_path()).is_ok() {
            tracing::warn!("a write met a full disk: the reserve was released so the store can reopen");
        }
        self.low.store(true, Ordering::SeqCst);
    }

    /// Writes the reserve file with its blocks allocated (written as a
    /// temporary file, then renamed, so a half-made reserve never counts).
    fn make_reserve(&self) -> std::io::Result<()> {
        let size = self.reserve_bytes();
        if size == 0 {
            return Ok(());
        }
        // Another caller is making it: leave it to them.
        let Ok(_making) = self.making.try_lock() else { return Ok(()) };
        if self.reserve_in_place() {
            return Ok(());
        }
        let partial = self.dir.join(format!("{RESERVE_FILE}.partial"));
        let made = (|| {
            let file = std::fs::File::create(&partial)?;
            if rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size).is_err() {
                // A filesystem without fallocate: write the blocks.
                use std::io::Write;
                let mut writer = std::io::BufWriter::new(&file);
                let zeros = vec![0u8; MIB as usize];
                let mut left = size;
                while left > 0 {
                    let n = left.min(MIB);
                    writer.write_all(&zeros[..n as usize])?;
                    left -= n;
                }
                writer.flush()?;
            }
            file.sync_all()?;
            std::fs::rename(&partial, self.reserve_path())
        })();
        if made.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        made
    }
}

/// Creates `dir` and any missing parents for the node's account only (the
/// store and its backups hold every pseudonym).
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// The permission bits of `dir` when group or others may enter or read it;
/// `None` when it is private (or cannot be read).
pub fn open_to_others(dir: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_made_and_counted_and_released() {
        let dir = tempfile::tempdir().expect("dir");
        let space = DiskSpace::new(dir.path(), StorageLimits { reserve_mb: 2, min_free_mb: 0 });
        assert!(!space.reserve_in_place());
        // The temporary directory has more than 2 MiB free.
        space.refresh().expect("room");
        assert_eq!(std::fs::metadata(dir.path().join(RESERVE_FILE)).expect("reserve").len(), 2 * MIB);
        space.release_reserve();
        assert!(space.is_low());
        assert!(!dir.path().join(RESERVE_FILE).exists());
        space.refresh().expect("re-made");
        assert!(!space.is_low());
        assert!(dir.path().join(RESERVE_FILE).exists());
    }

    #[test]
    fn changes_are_refused_below_the_minimum() {
        let dir = tempfile::tempdir().expect("dir");
        let space = DiskSpace::new(dir.path(), StorageLimits { reserve_mb: 0, min_free_mb: u64::MAX / MIB });
        let short = space.refresh().expect_err("no disk is that large");
        assert!(short.to_string().contains("nearly full"), "{short}");
        assert!(space.is_low());
    }
}
