//! Keeping the store: compactions that take erased data from its files,
//! checkpoints (backups) and a full checksum scan.

use std::path::Path;

use rocksdb::IteratorMode;

use crate::{Result, Store, COLUMN_FAMILIES, INVOLVEMENTS, LINKS, META, PARENTS, RECORDS, SUBMISSIONS};

impl Store {
    /// Reads every entry of every column family, checking each block's
    /// checksum as it is read (none is taken from the cache): a damaged or
    /// truncated file fails here. Returns the entries read.
    pub fn verify_checksums(&self) -> Result<u64> {
        let mut count = 0;
        for name in COLUMN_FAMILIES {
            let mut options = rocksdb::ReadOptions::default();
            options.set_verify_checksums(true);
            options.fill_cache(false);
            for item in self.db.iterator_cf_opt(self.cf(name)?, options, IteratorMode::Start) {
                item?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Flushes and compacts the column families that records live in, so that what was deleted
    /// is gone from the files on disk, not only hidden by tombstones: the
    /// memtables go to new files (the write-ahead logs that held the
    /// deleted values become obsolete and are removed) and compaction
    /// drops the deleted values and their tombstones.
    pub fn compact(&self) -> Result<()> {
        self.writable()?;
        // Every memtable is flushed, so that no write-ahead log that held
        // deleted values stays needed; only the families that hold records
        // and what was derived from them are compacted (the audit log is
        // append-only and never deleted from).
        for name in COLUMN_FAMILIES {
            self.db.flush_cf(self.cf(name)?)?;
        }
        for name in [RECORDS, INVOLVEMENTS, LINKS, PARENTS, SUBMISSIONS, META] {
            let cf = self.cf(name)?;
            let mut options = rocksdb::CompactOptions::default();
            options.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
            self.db.compact_range_cf_opt(cf, None::<&[u8]>, None::<&[u8]>, &options);
        }
        Ok(())
    }

    /// Writes a consistent backup of the database into `path` (a RocksDB
    /// checkpoint: hard links where possible).
    pub fn backup(&self, path: &Path) -> Result<()> {
        self.writable()?;
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db)?;
        checkpoint.create_checkpoint(path)?;
        Ok(())
    }
}
