//! RocksDB storage for the linkage node.
//!
//! Architecture invariant: this is the only crate that names RocksDB. Every
//! other crate sees typed reads and a [`WriteSet`] that is applied as one
//! atomic, synced `WriteBatch`: when [`Store::write`] returns, the write is
//! durable.
//!
//! Column families, one per kind of data:
//! * `meta` — the key epoch fingerprint, the next involvement id and the
//!   linkage model (pattern counts and fitted parameters);
//! * `records` — `agency \0 record_ref` → [`StoredRecord`];
//! * `involvements` — id (big-endian) → [`StoredInvolvement`];
//! * `parents` — id → parent id, for ids that are not profile roots;
//! * `links` — id → [`StoredLinks`]: how the involvement was linked, with
//!   the evidence, and the pairs sent to review;
//! * `submissions` — `agency \0 submission \0 sequence` → stored batch
//!   acknowledgement, so re-sent batches are idempotent;
//! * `audit` — entry index (big-endian) → encoded audit entry;
//! * `audit_checkpoints` — tree size (big-endian) → signed checkpoint text.
//!
//! The node's checkpoint signing key is in `meta`.

mod links;
mod maintenance;
mod record;
mod upload;

use std::path::Path;

pub use links::{StoredLink, StoredLinks};
pub use record::{BodyAnswer, BodyCodes, BodyDate, BodyInvolvement, BodyValue, RecordBody, RECORD_SCHEMA};
pub use upload::{StoredAck, StoredItemsHeld, StoredRejection, StoredUploadSummary};

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};

/// Errors from the store. Messages never contain stored values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// RocksDB refused an operation.
    #[error("storage: {0}")]
    Rocks(String),
    /// A stored value could not be decoded.
    #[error("storage: corrupt {0} entry")]
    Corrupt(&'static str),
}

impl From<rocksdb::Error> for Error {
    fn from(error: rocksdb::Error) -> Error {
        Error::Rocks(error.into_string())
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

const META: &str = "meta";
const RECORDS: &str = "records";
const INVOLVEMENTS: &str = "involvements";
const PARENTS: &str = "parents";
const LINKS: &str = "links";
const SUBMISSIONS: &str = "submissions";
/// The column family that holds audit entries (index, big-endian → entry).
pub const AUDIT: &str = "audit";
/// The column family that holds signed audit checkpoints (size → text).
pub const AUDIT_CHECKPOINTS: &str = "audit_checkpoints";
const COLUMN_FAMILIES: [&str; 8] = [META, RECORDS, INVOLVEMENTS, PARENTS, LINKS, SUBMISSIONS, AUDIT, AUDIT_CHECKPOINTS];

const EPOCH_KEY: &[u8] = b"epoch";
const NEXT_EPOCH_KEY: &[u8] = b"next-epoch";
const NEXT_ID_KEY: &[u8] = b"next_involvement";
const MODEL_KEY: &[u8] = b"linkage_model";
const AUDIT_KEY: &[u8] = b"audit_signing_key";
/// Set once every stored record is in the node's schema (its number, as
/// little-endian `u32`): later opens skip the migration's scan.
const RECORD_SCHEMA_KEY: &[u8] = b"record_schema";
/// Set while erased data may still be in the store's files (a compaction
/// that was cut short or failed), so that the next start or sweep
/// compacts.
const COMPACTION_OWED_KEY: &[u8] = b"compaction_owed";
/// Before an involvement id (big-endian): decided with the linkage
/// model's starting values and not yet settled (see
/// [`WriteSet::mark_unsettled`]).
const UNSETTLED_PREFIX: &[u8] = b"unsettled/";
/// Before an agency's code, a zero byte and a time (big-endian
/// milliseconds): one of the agency's upload summaries.
const UPLOADS_PREFIX: &[u8] = b"uploads/";

/// Records written per synced batch when [`Store::migrate_records`] moves
/// them to the node's schema.
pub const MIGRATION_BATCH: usize = 1_000;

/// A case record as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredRecord {
    /// BLAKE3 of the record's canonical encoding, to detect re-sends.
    #[prost(bytes = "vec", tag = "1")]
    pub content_hash: Vec<u8>,
    /// The record's involvements.
    #[prost(uint64, repeated, tag = "2")]
    pub involvement_ids: Vec<u64>,
    /// Schema 0 (records stored before the node had its own schema): the
    /// record in the API's encoding. Since: [`StoredRecord::NOT_API`], bytes
    /// no API decoder reads, so that an earlier build refuses the store
    /// (as corrupt) instead of reading every record as empty.
    #[prost(bytes = "vec", tag = "3")]
    pub record: Vec<u8>,
    /// The submitting agency's type.
    #[prost(string, tag = "4")]
    pub agency_type: String,
    /// When this version was stored (Unix milliseconds; 0 for records
    /// stored before the node kept it).
    #[prost(uint64, tag = "5")]
    pub stored_ms: u64,
    /// How many times the record was re-sent with changed content (a
    /// reclassification, an update) since it was first stored.
    #[prost(uint32, tag = "6")]
    pub changes: u32,
    /// The versions this one replaced, oldest first (at most
    /// [`StoredRecord::HISTORY`]; `changes` counts them all).
    #[prost(message, repeated, tag = "7")]
    pub history: Vec<RecordVersion>,
    /// The record's content in the node's own schema, for panel queries,
    /// reports and retention.
    #[prost(message, optional, tag = "8")]
    pub body: Option<RecordBody>,
}

impl StoredRecord {
    /// Replaced versions kept per record.
    pub const HISTORY: usize = 16;

    /// [`StoredRecord::record`] of a record in the node's schema: a
    /// truncated varint, which no protobuf decoder accepts.
    pub const NOT_API: &'static [u8] = &[0xff];
}

/// What a replaced version of a record said, for reclassifications.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordVersion {
    /// When that version was stored (Unix milliseconds; 0: unknown).
    #[prost(uint64, tag = "1")]
    pub stored_ms: u64,
    /// Its case type (as numbered in the API).
    #[prost(int32, tag = "2")]
    pub case_type: i32,
    /// Its concern status (current, resolved, not known, not recorded).
    #[prost(string, tag = "3")]
    pub concern: String,
}

/// One involvement as stored: what linkage and exports need.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredInvolvement {
    /// Submitting agency.
    #[prost(string, tag = "1")]
    pub agency: String,
    /// The record's opaque ref.
    #[prost(string, tag = "2")]
    pub record_ref: String,
    /// The person's opaque ref.
    #[prost(string, tag = "3")]
    pub person_ref: String,
    /// Role number as in the API.
    #[prost(int32, tag = "4")]
    pub role: i32,
    /// Match keys: each the rung number, then the first bytes of its keyed
    /// hash (the node keeps 8).
    #[prost(bytes = "vec", repeated, tag = "5")]
    pub match_keys: Vec<Vec<u8>>,
    /// Bloom encoding.
    #[prost(bytes = "vec", tag = "6")]
    pub bloom: Vec<u8>,
    /// Field tokens, packed as the linker holds them (see
    /// [`StoredInvolvement::TOKEN_WORDS`]); empty when none were sent.
    #[prost(fixed32, repeated, tag = "7")]
    pub tokens: Vec<u32>,
    /// During a key rotation, the person's pseudonyms under the epoch the
    /// node is moving to, kept unused until every agency has moved; the
    /// fields above then hold those under the current epoch.
    #[prost(message, optional, tag = "8")]
    pub next: Option<StoredPseudonyms>,
    /// During a key rotation, the person's ref under the current epoch
    /// (`person_ref` is the one under the next); empty otherwise.
    #[prost(string, tag = "9")]
    pub link_person_ref: String,
}

/// A person's pseudonyms as the node keeps them (see
/// [`StoredInvolvement`]).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredPseudonyms {
    /// As [`StoredInvolvement::match_keys`].
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub match_keys: Vec<Vec<u8>>,
    /// As [`StoredInvolvement::bloom`].
    #[prost(bytes = "vec", tag = "2")]
    pub bloom: Vec<u8>,
    /// As [`StoredInvolvement::tokens`].
    #[prost(fixed32, repeated, tag = "3")]
    pub tokens: Vec<u32>,
}

impl StoredInvolvement {
    /// The number of words in packed field tokens: name, name in either
    /// order, phonetic name, four other names, forename and surname by date
    /// of birth, date of birth, either order, four windows, sex by name and
    /// by date of birth, postcode, district, address, four (kind, value)
    /// identifiers, the whole forename as prefix and suffix, eight of its
    /// parts.
    pub const TOKEN_WORDS: usize = 38;
}

/// A stored message, if there is one; bytes that are not one are `what`
/// corrupt.
fn decode_message<M: prost::Message + Default>(bytes: Option<&[u8]>, what: &'static str) -> Result<Option<M>> {
    bytes.map(|bytes| M::decode(bytes).map_err(|_| Error::Corrupt(what))).transpose()
}

/// The node's database.
pub struct Store {
    db: DB,
    /// Set once a write failed (see [`WriteFailure`]): RocksDB then takes
    /// no more writes until the store is reopened, and trying again can
    /// abort inside RocksDB. 0: none; 1: other; 2: the disk was full.
    failure: std::sync::atomic::AtomicU8,
    /// Opened with [`Store::open_read_only`].
    read_only: bool,
}

/// Why a write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    /// The disk was full.
    DiskFull,
    /// Anything else.
    Other,
}

fn record_key(agency: &str, record_ref: &str) -> Vec<u8> {
    [agency.as_bytes(), &[0], record_ref.as_bytes()].concat()
}

/// A 64-bit fingerprint of a record's key, for an in-memory "might be
/// stored" set that spares a read for records never seen before.
pub fn record_fingerprint(agency: &str, record_ref: &str) -> u64 {
    fingerprint(&record_key(agency, record_ref))
}

/// A 64-bit fingerprint of any bytes (the first 8 bytes of their BLAKE3
/// hash), for in-memory sets and comparisons.
pub fn fingerprint(key: &[u8]) -> u64 {
    let hash = blake3::hash(key);
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(head)
}

/// Upload summaries live in `meta` under `uploads/AGENCY\0`, then the time.
fn upload_prefix(agency: &str) -> Vec<u8> {
    [UPLOADS_PREFIX, agency.as_bytes(), &[0]].concat()
}

fn ack_key(agency: &str, submission: &str, sequence: u32) -> Vec<u8> {
    [agency.as_bytes(), &[0], submission.as_bytes(), &[0], &sequence.to_be_bytes()].concat()
}

fn decode_id(bytes: &[u8], what: &'static str) -> Result<u64> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| Error::Corrupt(what))?;
    Ok(u64::from_be_bytes(array))
}

/// RocksDB's size and write-stall state (see [`Store::health`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// Bytes in SST files.
    pub sst_bytes: u64,
    /// Bytes in memtables.
    pub memtable_bytes: u64,
    /// Writes are stopped (a stall).
    pub write_stopped: bool,
    /// Writes are being slowed to this many bytes/s (0: not delayed).
    pub delayed_write_rate: u64,
}

impl Store {
    /// Opens an existing database in `path` for reading only: nothing in
    /// the directory is written (no log replayed into a new file, no
    /// compaction), so a store kept as evidence stays as it was. Every
    /// write is refused.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let options = Options::default();
        let db = DB::open_cf_for_read_only(&options, path, COLUMN_FAMILIES, false)?;
        Ok(Store { db, failure: std::sync::atomic::AtomicU8::new(0), read_only: true })
    }

    /// Opens (creating if needed) the database in `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_max_background_jobs(2);
        let descriptors = COLUMN_FAMILIES.iter().map(|name| {
            let mut cf_options = Options::default();
            if *name == RECORDS || *name == SUBMISSIONS {
                // Most look-ups on upload are for refs not stored yet: a
                // Bloom filter answers those without reading data blocks.
                let mut table = rocksdb::BlockBasedOptions::default();
                table.set_bloom_filter(10.0, false);
                cf_options.set_block_based_table_factory(&table);
            }
            if *name == INVOLVEMENTS {
                // Pseudonyms are stored only here, uncompressed: they are
                // high-entropy and gain little, and erasure (retention, key
                // rotation) can then be checked by a byte search of the data
                // directory, which a compressed block could hide.
                cf_options.set_compression_type(rocksdb::DBCompressionType::None);
            }
            ColumnFamilyDescriptor::new(*name, cf_options)
        });
        let db = DB::open_cf_descriptors(&options, path, descriptors)?;
        Ok(Store { db, failure: std::sync::atomic::AtomicU8::new(0), read_only: false })
    }

    /// The newest audit checkpoint as stored (its text), if any.
    pub fn last_audit_checkpoint(&self) -> Result<Option<Vec<u8>>> {
        let mut iter = self.db.iterator_cf(self.cf(AUDIT_CHECKPOINTS)?, rocksdb::IteratorMode::End);
        match iter.next() {
            Some(item) => Ok(Some(item?.1.into_vec())),
            None => Ok(None),
        }
    }

    /// What RocksDB reports of its health and size, summed over the
    /// column families: bytes in SST files, bytes in memtables, and whether
    /// writes are stopped or delayed (a write stall).
    pub fn health(&self) -> StoreHealth {
        let mut health = StoreHealth::default();
        for name in COLUMN_FAMILIES {
            let Ok(cf) = self.cf(name) else { continue };
            let value = |property: &str| self.db.property_int_value_cf(cf, property).ok().flatten().unwrap_or(0);
            health.sst_bytes += value("rocksdb.total-sst-files-size");
            health.memtable_bytes += value("rocksdb.cur-size-all-mem-tables");
            health.write_stopped |= value("rocksdb.is-write-stopped") != 0;
            health.delayed_write_rate = health.delayed_write_rate.max(value("rocksdb.actual-delayed-write-rate"));
        }
        health
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| Error::Rocks(format!("missing column family {name}")))
    }

    /// Messages of one column family, in the order of `keys`, read in one
    /// batch (RocksDB's MultiGet: one view of the store and one look-up per
    /// block shared among the keys, instead of a read per key).
    fn get_messages<M: prost::Message + Default>(&self, cf: &str, keys: &[Vec<u8>], what: &'static str) -> Result<Vec<Option<M>>> {
        self.db.batched_multi_get_cf(self.cf(cf)?, keys, false).into_iter().map(|value| decode_message(value?.as_deref(), what)).collect()
    }

    fn get_message<M: prost::Message + Default>(&self, cf: &str, key: &[u8], what: &'static str) -> Result<Option<M>> {
        decode_message(self.db.get_cf(self.cf(cf)?, key)?.as_deref(), what)
    }

    /// The key epoch the node holds, once set.
    pub fn epoch(&self) -> Result<Option<String>> {
        Ok(self.db.get_cf(self.cf(META)?, EPOCH_KEY)?.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The key epoch the node is moving to, while a rotation is open.
    pub fn next_epoch(&self) -> Result<Option<String>> {
        Ok(self.db.get_cf(self.cf(META)?, NEXT_EPOCH_KEY)?.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Whether erased data may still be in the store's files: a compaction
    /// was owed and has not finished since (see
    /// [`WriteSet::set_compaction_owed`]).
    pub fn compaction_owed(&self) -> Result<bool> {
        Ok(self.db.get_cf(self.cf(META)?, COMPACTION_OWED_KEY)?.is_some())
    }

    /// The next involvement id to assign (ids start at 1).
    pub fn next_involvement_id(&self) -> Result<u64> {
        match self.db.get_cf(self.cf(META)?, NEXT_ID_KEY)? {
            Some(bytes) => decode_id(&bytes, "meta"),
            None => Ok(1),
        }
    }

    /// A record by agency and ref.
    pub fn record(&self, agency: &str, record_ref: &str) -> Result<Option<StoredRecord>> {
        self.get_message(RECORDS, &record_key(agency, record_ref), "record")
    }

    /// Records by (agency, ref), in that order, in one batched read.
    pub fn records(&self, keys: &[(&str, &str)]) -> Result<Vec<Option<StoredRecord>>> {
        let keys: Vec<Vec<u8>> = keys.iter().map(|(agency, record_ref)| record_key(agency, record_ref)).collect();
        self.get_messages(RECORDS, &keys, "record")
    }

    /// An involvement by id.
    pub fn involvement(&self, id: u64) -> Result<Option<StoredInvolvement>> {
        self.get_message(INVOLVEMENTS, &id.to_be_bytes(), "involvement")
    }

    /// How an involvement was linked.
    pub fn links(&self, id: u64) -> Result<Option<StoredLinks>> {
        self.get_message(LINKS, &id.to_be_bytes(), "links")
    }

    /// How each of `ids` was linked, in that order, in one batched read.
    pub fn links_of(&self, ids: &[u64]) -> Result<Vec<Option<StoredLinks>>> {
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| id.to_be_bytes().to_vec()).collect();
        self.get_messages(LINKS, &keys, "links")
    }

    /// Visits every involvement's stored links in id order.
    pub fn for_each_links(&self, mut visit: impl FnMut(u64, StoredLinks) -> Result<()>) -> Result<()> {
        let cf = self.cf(LINKS)?;
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item?;
            let links = prost::Message::decode(value.as_ref()).map_err(|_| Error::Corrupt("links"))?;
            visit(decode_id(&key, "links")?, links)?;
        }
        Ok(())
    }

    /// The stored linkage model, if any.
    pub fn model(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(META)?, MODEL_KEY)?)
    }

    /// A stored batch acknowledgement.
    pub fn ack(&self, agency: &str, submission: &str, sequence: u32) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(SUBMISSIONS)?, ack_key(agency, submission, sequence))?)
    }

    /// The involvements marked unsettled, in id order.
    pub fn unsettled(&self) -> Result<Vec<u64>> {
        let iterator = self.db.iterator_cf(self.cf(META)?, rocksdb::IteratorMode::From(UNSETTLED_PREFIX, rocksdb::Direction::Forward));
        let mut out = Vec::new();
        for item in iterator {
            let (key, _) = item?;
            let Some(id) = key.strip_prefix(UNSETTLED_PREFIX) else { break };
            out.push(decode_id(id, "unsettled involvement key")?);
        }
        Ok(out)
    }

    /// Every stored parent pointer.
    pub fn parents(&self) -> Result<Vec<(u64, u64)>> {
        let cf = self.cf(PARENTS)?;
        self.db
            .iterator_cf(cf, IteratorMode::Start)
            .map(|item| {
                let (key, value) = item?;
                Ok((decode_id(&key, "parent")?, decode_id(&value, "parent")?))
            })
            .collect()
    }

    /// Visits every live involvement in id order.
    pub fn for_each_involvement(&self, mut visit: impl FnMut(u64, StoredInvolvement) -> Result<()>) -> Result<()> {
        let cf = self.cf(INVOLVEMENTS)?;
        for item in self.db.iterator_cf(cf, IteratorMode::From(&[], Direction::Forward)) {
            let (key, value) = item?;
            let id = decode_id(&key, "involvement")?;
            let involvement = prost::Message::decode(value.as_ref()).map_err(|_| Error::Corrupt("involvement"))?;
            visit(id, involvement)?;
        }
        Ok(())
    }

    /// The [`record_fingerprint`] of every stored record.
    pub fn record_fingerprints(&self) -> Result<Vec<u64>> {
        let cf = self.cf(RECORDS)?;
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (key, _) = item?;
            out.push(fingerprint(&key));
        }
        Ok(out)
    }

    /// Visits every stored record with its agency and ref.
    pub fn for_each_record(&self, mut visit: impl FnMut(&str, &str, StoredRecord) -> Result<()>) -> Result<()> {
        let cf = self.cf(RECORDS)?;
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item?;
            let split = key.iter().position(|b| *b == 0).ok_or(Error::Corrupt("record key"))?;
            let agency = std::str::from_utf8(&key[..split]).map_err(|_| Error::Corrupt("record key"))?;
            let record_ref = std::str::from_utf8(&key[split + 1..]).map_err(|_| Error::Corrupt("record key"))?;
            let record = prost::Message::decode(value.as_ref()).map_err(|_| Error::Corrupt("record"))?;
            visit(agency, record_ref, record)?;
        }
        Ok(())
    }

    /// Moves records stored in the API's encoding (schema 0) to the node's
    /// own schema: `convert` reads the old bytes (`None`: they are not a
    /// record). Written in synced batches of [`MIGRATION_BATCH`] records, so
    /// a migration cut short goes on where it stopped at the next open.
    /// Once every record is moved, a mark in `meta` says so and later
    /// calls read nothing (records written since are in the node's schema).
    /// Returns how many records were moved.
    pub fn migrate_records(&self, convert: impl Fn(&[u8]) -> Option<RecordBody>) -> Result<u64> {
        let done = RECORD_SCHEMA.to_le_bytes();
        if self.db.get_cf(self.cf(META)?, RECORD_SCHEMA_KEY)?.as_deref() == Some(&done[..]) {
            return Ok(0);
        }
        let cf = self.cf(RECORDS)?;
        let mut moved = 0u64;
        let mut set = WriteSet::new();
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item?;
            let mut record: StoredRecord = prost::Message::decode(value.as_ref()).map_err(|_| Error::Corrupt("record"))?;
            if record.body.is_some() {
                continue;
            }
            record.body = Some(convert(&record.record).ok_or(Error::Corrupt("record"))?);
            record.record = StoredRecord::NOT_API.to_vec();
            set.ops.push(Op::Put(RECORDS, key.to_vec(), prost::Message::encode_to_vec(&record)));
            moved += 1;
            if set.ops.len() == MIGRATION_BATCH {
                self.write(std::mem::take(&mut set))?;
            }
        }
        set.ops.push(Op::Put(META, RECORD_SCHEMA_KEY.to_vec(), done.to_vec()));
        self.write(set)?;
        Ok(moved)
    }

    /// Number of stored records.
    pub fn count_records(&self) -> Result<u64> {
        let cf = self.cf(RECORDS)?;
        let mut count = 0;
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            item?;
            count += 1;
        }
        Ok(count)
    }

    /// Stored audit entries from `from` in index order, as `(stored
    /// index, encoded entry)`, read as the iterator is advanced.
    pub fn audit_entries(&self, from: u64) -> Result<impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_> {
        let cf = self.cf(AUDIT)?;
        let start = from.to_be_bytes();
        Ok(self.db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)).map(|item| {
            let (key, value) = item?;
            Ok((decode_id(&key, "audit entry key")?, value.into_vec()))
        }))
    }

    /// Visits stored audit entries from `from` in index order as
    /// `(stored index, encoded entry)`, until `visit` returns false.
    pub fn for_each_audit_entry(&self, from: u64, mut visit: impl FnMut(u64, Vec<u8>) -> Result<bool>) -> Result<()> {
        for item in self.audit_entries(from)? {
            let (index, bytes) = item?;
            if !visit(index, bytes)? {
                break;
            }
        }
        Ok(())
    }

    /// One stored audit entry.
    pub fn audit_entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(AUDIT)?, index.to_be_bytes())?)
    }

    /// Every stored checkpoint as `(size, text)`, oldest first.
    pub fn audit_checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        let cf = self.cf(AUDIT_CHECKPOINTS)?;
        self.db
            .iterator_cf(cf, IteratorMode::Start)
            .map(|item| {
                let (key, value) = item?;
                Ok((decode_id(&key, "audit checkpoint key")?, value.into_vec()))
            })
            .collect()
    }

    /// The node's checkpoint signing key (PKCS#8), once made.
    pub fn audit_signing_key(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(META)?, AUDIT_KEY)?)
    }

    /// Applies a write set atomically and durably (the WAL is synced before
    /// this returns).
    pub fn write(&self, set: WriteSet) -> Result<()> {
        let mut batch = WriteBatch::default();
        for op in set.ops {
            let (cf, key, value) = match op {
                Op::Put(cf, key, value) => (cf, key, Some(value)),
                Op::Delete(cf, key) => (cf, key, None),
            };
            let handle = self.cf(cf)?;
            match value {
                Some(value) => batch.put_cf(handle, key, value),
                None => batch.delete_cf(handle, key),
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.writable()?;
        self.db.write_opt(batch, &options).inspect_err(|error| {
            let disk_full = error.to_string().contains("No space left on device");
            self.failure.store(if disk_full { 2 } else { 1 }, std::sync::atomic::Ordering::SeqCst);
        })?;
        Ok(())
    }

    /// Whether, and why, a write has failed since the store was opened (it
    /// then takes no more: reopen it).
    pub fn write_failure(&self) -> Option<WriteFailure> {
        match self.failure.load(std::sync::atomic::Ordering::SeqCst) {
            0 => None,
            2 => Some(WriteFailure::DiskFull),
            _ => Some(WriteFailure::Other),
        }
    }

    fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::Rocks("the store is open for reading only".to_owned()));
        }
        if self.write_failure().is_some() {
            return Err(Error::Rocks("an earlier write failed, so the store takes no more writes until it is reopened".to_owned()));
        }
        Ok(())
    }
}

enum Op {
    Put(&'static str, Vec<u8>, Vec<u8>),
    Delete(&'static str, Vec<u8>),
}

/// Changes to apply together in one atomic, durable write.
#[derive(Default)]
pub struct WriteSet {
    ops: Vec<Op>,
}

impl WriteSet {
    /// An empty set.
    pub fn new() -> WriteSet {
        WriteSet::default()
    }

    /// True when nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sets the key epoch.
    pub fn set_epoch(&mut self, fingerprint: &str) {
        self.ops.push(Op::Put(META, EPOCH_KEY.to_vec(), fingerprint.as_bytes().to_vec()));
    }

    /// Opens a key rotation towards `fingerprint`, or closes it (`None`).
    pub fn set_next_epoch(&mut self, fingerprint: Option<&str>) {
        match fingerprint {
            Some(fingerprint) => self.ops.push(Op::Put(META, NEXT_EPOCH_KEY.to_vec(), fingerprint.as_bytes().to_vec())),
            None => self.ops.push(Op::Delete(META, NEXT_EPOCH_KEY.to_vec())),
        }
    }

    /// Records that erased data is owed a compaction (before erasing), or
    /// that it has had one.
    pub fn set_compaction_owed(&mut self, owed: bool) {
        if owed {
            self.ops.push(Op::Put(META, COMPACTION_OWED_KEY.to_vec(), vec![1]));
        } else {
            self.ops.push(Op::Delete(META, COMPACTION_OWED_KEY.to_vec()));
        }
    }

    /// Stores a summary of one of `agency`'s uploads, made at `time_ms`.
    pub fn put_upload(&mut self, agency: &str, time_ms: u64, summary: Vec<u8>) {
        self.ops.push(Op::Put(META, [upload_prefix(agency), time_ms.to_be_bytes().to_vec()].concat(), summary));
    }

    /// Removes the summary of one of `agency`'s uploads.
    pub fn delete_upload(&mut self, agency: &str, time_ms: u64) {
        self.ops.push(Op::Delete(META, [upload_prefix(agency), time_ms.to_be_bytes().to_vec()].concat()));
    }

    /// Sets the next involvement id.
    pub fn set_next_involvement_id(&mut self, id: u64) {
        self.ops.push(Op::Put(META, NEXT_ID_KEY.to_vec(), id.to_be_bytes().to_vec()));
    }

    /// Stores a record.
    pub fn put_record(&mut self, agency: &str, record_ref: &str, record: &StoredRecord) {
        self.ops.push(Op::Put(RECORDS, record_key(agency, record_ref), prost::Message::encode_to_vec(record)));
    }

    /// Removes a record.
    pub fn delete_record(&mut self, agency: &str, record_ref: &str) {
        self.ops.push(Op::Delete(RECORDS, record_key(agency, record_ref)));
    }

    /// Stores an involvement already encoded as [`StoredInvolvement`].
    pub fn put_involvement_bytes(&mut self, id: u64, encoded: Vec<u8>) {
        self.ops.push(Op::Put(INVOLVEMENTS, id.to_be_bytes().to_vec(), encoded));
    }

    /// Removes an involvement and its links.
    pub fn delete_involvement(&mut self, id: u64) {
        self.ops.push(Op::Delete(INVOLVEMENTS, id.to_be_bytes().to_vec()));
        self.ops.push(Op::Delete(LINKS, id.to_be_bytes().to_vec()));
    }

    /// Replaces an involvement's links.
    pub fn put_links(&mut self, id: u64, links: &StoredLinks) {
        self.ops.push(Op::Put(LINKS, id.to_be_bytes().to_vec(), prost::Message::encode_to_vec(links)));
    }

    /// Replaces the linkage model.
    pub fn put_model(&mut self, bytes: Vec<u8>) {
        self.ops.push(Op::Put(META, MODEL_KEY.to_vec(), bytes));
    }

    /// Sets a parent pointer; a root (parent == id) has none stored.
    pub fn set_parent(&mut self, id: u64, parent: u64) {
        if id == parent {
            self.ops.push(Op::Delete(PARENTS, id.to_be_bytes().to_vec()));
        } else {
            self.ops.push(Op::Put(PARENTS, id.to_be_bytes().to_vec(), parent.to_be_bytes().to_vec()));
        }
    }

    /// Marks an involvement as decided with the linkage model's starting
    /// values, to be settled (re-decided) once its upload ends, or at the
    /// next start if the node stopped first.
    pub fn mark_unsettled(&mut self, id: u64) {
        self.ops.push(Op::Put(META, [UNSETTLED_PREFIX, &id.to_be_bytes()].concat(), Vec::new()));
    }

    /// Removes an involvement's unsettled mark.
    pub fn clear_unsettled(&mut self, id: u64) {
        self.ops.push(Op::Delete(META, [UNSETTLED_PREFIX, &id.to_be_bytes()].concat()));
    }

    /// Stores a batch acknowledgement.
    pub fn put_ack(&mut self, agency: &str, submission: &str, sequence: u32, ack: Vec<u8>) {
        self.ops.push(Op::Put(SUBMISSIONS, ack_key(agency, submission, sequence), ack));
    }

    /// Stores an audit entry at its index.
    pub fn put_audit_entry(&mut self, index: u64, entry: Vec<u8>) {
        self.ops.push(Op::Put(AUDIT, index.to_be_bytes().to_vec(), entry));
    }

    /// Stores a signed checkpoint of the first `size` audit entries.
    pub fn put_audit_checkpoint(&mut self, size: u64, text: Vec<u8>) {
        self.ops.push(Op::Put(AUDIT_CHECKPOINTS, size.to_be_bytes().to_vec(), text));
    }

    /// Stores the node's checkpoint signing key.
    pub fn set_audit_signing_key(&mut self, pkcs8: Vec<u8>) {
        self.ops.push(Op::Put(META, AUDIT_KEY.to_vec(), pkcs8));
    }

    /// Appends another set's operations after this one's.
    pub fn append(&mut self, other: WriteSet) {
        self.ops.extend(other.ops);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_the_api_encoding_move_to_the_node_schema_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let legacy = MIGRATION_BATCH * 2 + 7;
        let mut set = WriteSet::new();
        for n in 0..legacy {
            let record = StoredRecord { record: format!("r-{n}").into_bytes(), changes: 2, ..StoredRecord::default() };
            set.put_record("CSC", &format!("r-{n}"), &record);
        }
        let current = RecordBody { schema: RECORD_SCHEMA, record_ref: "kept".to_owned(), ..RecordBody::default() };
        set.put_record("POL", "kept", &StoredRecord { body: Some(current.clone()), ..StoredRecord::default() });
        store.write(set).expect("write");
        let convert = |bytes: &[u8]| Some(RecordBody { schema: RECORD_SCHEMA, record_ref: String::from_utf8(bytes.to_vec()).ok()?, ..RecordBody::default() });
        assert_eq!(store.migrate_records(convert).expect("migrate"), legacy as u64);
        let mut seen = 0;
        store
            .for_each_record(|agency, record_ref, record| {
                let body = record.body.expect("in the node's schema");
                if agency == "POL" {
                    assert_eq!(body, current);
                } else {
                    assert_eq!((body.record_ref.as_str(), record.changes), (record_ref, 2));
                    assert_eq!(record.record, StoredRecord::NOT_API);
                }
                seen += 1;
                Ok(())
            })
            .expect("read");
        assert_eq!(seen, legacy + 1);
        // Once done, the mark spares later opens the scan: a record in the
        // API's encoding written now (no build does) is not even read.
        let mut set = WriteSet::new();
        set.put_record("CSC", "late", &StoredRecord { record: b"late".to_vec(), ..StoredRecord::default() });
        store.write(set).expect("write");
        assert_eq!(store.migrate_records(|_| None).expect("again"), 0, "nothing is read twice");
        // Bytes that are not a record stop the move with an error, and the
        // mark is not set.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let mut set = WriteSet::new();
        set.put_record("CSC", "bad", &StoredRecord { record: vec![0xff], ..StoredRecord::default() });
        store.write(set).expect("write");
        assert!(matches!(store.migrate_records(|_| None), Err(Error::Corrupt("record"))));
        assert!(matches!(store.migrate_records(|_| None), Err(Error::Corrupt("record"))));
    }

    #[test]
    fn batched_reads_answer_each_key_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let mut set = WriteSet::new();
        for n in [3u64, 1, 7] {
            set.put_links(n, &StoredLinks { entries: vec![StoredLink { other: n * 10, ..StoredLink::default() }] });
            let record = StoredRecord { changes: n as u32, ..StoredRecord::default() };
            set.put_record("CSC", &format!("r-{n}"), &record);
        }
        store.write(set).expect("write");
        let links = store.links_of(&[7, 2, 1, 7]).expect("links");
        let others: Vec<Option<u64>> = links.iter().map(|l| l.as_ref().map(|l| l.entries[0].other)).collect();
        assert_eq!(others, vec![Some(70), None, Some(10), Some(70)]);
        for (id, batched) in [7, 2, 1, 7].into_iter().zip(links) {
            assert_eq!(batched, store.links(id).expect("one read"), "the same as one read of {id}");
        }
        let records = store.records(&[("CSC", "r-3"), ("POL", "r-3"), ("CSC", "r-1")]).expect("records");
        let changes: Vec<Option<u32>> = records.iter().map(|r| r.as_ref().map(|r| r.changes)).collect();
        assert_eq!(changes, vec![Some(3), None, Some(1)]);
        assert!(store.records(&[]).expect("none").is_empty());
        // Bytes that are not a record are an error, as in one read.
        let mut set = WriteSet::new();
        set.ops.push(Op::Put(LINKS, 9u64.to_be_bytes().to_vec(), vec![0xff; 3]));
        store.write(set).expect("write");
        assert!(matches!(store.links_of(&[1, 9]), Err(Error::Corrupt("links"))));
    }

    #[test]
    fn unsettled_marks_are_listed_in_id_order_until_taken_off() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let mut set = WriteSet::new();
        for id in [300, 2, 1 << 40] {
            set.mark_unsettled(id);
        }
        // Upload summaries live beside the marks and are not among them.
        set.put_upload("CSC", 5, vec![1]);
        store.write(set).expect("write");
        assert_eq!(store.unsettled().expect("read"), vec![2, 300, 1 << 40]);
        let mut set = WriteSet::new();
        set.clear_unsettled(300);
        set.clear_unsettled(7);
        store.write(set).expect("write");
        assert_eq!(store.unsettled().expect("read"), vec![2, 1 << 40]);
        assert_eq!(store.uploads("CSC").expect("uploads").len(), 1);
    }

    #[test]
    fn writes_survive_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = Store::open(dir.path()).expect("open");
            let mut set = WriteSet::new();
            set.set_epoch("e1-abc");
            set.set_next_involvement_id(3);
            let involvement = StoredInvolvement {
                agency: "A".into(),
                record_ref: "r-1".into(),
                person_ref: "p-1".into(),
                role: 1,
                match_keys: vec![[vec![2u8], vec![9u8; 32]].concat()],
                bloom: vec![],
                tokens: Vec::new(),
                ..Default::default()
            };
            set.put_involvement_bytes(1, prost::Message::encode_to_vec(&involvement));
            set.put_involvement_bytes(2, prost::Message::encode_to_vec(&involvement));
            set.set_parent(2, 1);
            store.write(set).expect("write");
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.epoch().expect("epoch").as_deref(), Some("e1-abc"));
        assert_eq!(store.next_involvement_id().expect("id"), 3);
        assert_eq!(store.parents().expect("parents"), vec![(2, 1)]);
        assert_eq!(store.model().expect("model"), None);
        let mut set = WriteSet::new();
        let links = StoredLinks { entries: vec![StoredLink { decision: 1, other: 1, dice: Some(0.9), ..Default::default() }] };
        set.put_links(2, &links);
        set.put_model(vec![1, 2, 3]);
        store.write(set).expect("write");
        assert_eq!(store.links(2).expect("links"), Some(links));
        assert_eq!(store.model().expect("model"), Some(vec![1, 2, 3]));
        let mut set = WriteSet::new();
        set.delete_involvement(2);
        set.set_parent(2, 2);
        store.write(set).expect("write");
        assert!(store.involvement(2).expect("read").is_none());
        assert!(store.links(2).expect("links").is_none());
        assert!(store.parents().expect("parents").is_empty());
    }
}
