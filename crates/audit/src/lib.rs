//! The tamper-evident audit log.
//!
//! Every call to the node becomes an [`Entry`]: who (principal and role),
//! what (action, the record refs or profile ids touched, how many results),
//! why (purpose and case reference), when, and the outcome. Entries are the
//! leaves of an append-only Merkle tree shaped as in RFC 6962/9162 (see
//! [`merkle`]); each stored entry also carries the tree root *after* it, so
//! a verifier that recomputes the tree names the first entry that was
//! edited, deleted, reordered or inserted. The node signs [`Checkpoint`]s
//! (size, root, time) with Ed25519; an auditor keeps the checkpoints it has
//! seen, and a node that later rewrites history cannot produce a tree
//! consistent with them.
//!
//! This crate does no I/O: the node stores entries and checkpoints (in the
//! same RocksDB write as the action they record) and feeds them to
//! [`verify`].

pub mod merkle;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use merkle::{Frontier, Hash};
use prost::Message;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

/// One audited call.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    /// Position in the log, from 0.
    #[prost(uint64, tag = "1")]
    pub index: u64,
    /// Milliseconds since the Unix epoch.
    #[prost(uint64, tag = "2")]
    pub time_ms: u64,
    /// Who called (the certificate's principal).
    #[prost(string, tag = "3")]
    pub principal: String,
    /// Their role (`agency:CODE`, `panel:PARTNERSHIP`, `auditor`, `admin`).
    #[prost(string, tag = "4")]
    pub role: String,
    /// The call, e.g. `ingest.upload`, `panel.profile`.
    #[prost(string, tag = "5")]
    pub action: String,
    /// The stated purpose (panel queries).
    #[prost(string, tag = "6")]
    pub purpose: String,
    /// The case reference given with the purpose.
    #[prost(string, tag = "7")]
    pub case_reference: String,
    /// Record refs or profile ids touched.
    #[prost(string, repeated, tag = "8")]
    pub touched: Vec<String>,
    /// Rows or items returned or written.
    #[prost(uint64, tag = "9")]
    pub result_count: u64,
    /// `ok`, or the refusal (e.g. `permission-denied`).
    #[prost(string, tag = "10")]
    pub outcome: String,
    /// The tree root after this entry was appended.
    #[prost(bytes = "vec", tag = "11")]
    pub root_after: Vec<u8>,
    /// True when the principal was only claimed by the caller, not proven
    /// by a certificate (a node started with `--insecure-dev`).
    #[prost(bool, tag = "12")]
    pub claimed_principal: bool,
}

/// The leaf hash of an entry: its encoding without `root_after`.
pub fn leaf_of(entry: &Entry) -> Hash {
    if entry.root_after.is_empty() {
        return merkle::leaf_hash(&entry.encode_to_vec());
    }
    let mut content = entry.clone();
    content.root_after.clear();
    merkle::leaf_hash(&content.encode_to_vec())
}

/// The field number of `root_after` in a stored entry.
const ROOT_AFTER_FIELD: u64 = 11;

/// The leaf hash of a stored entry: the stored bytes themselves, every
/// field but `root_after` exactly as stored. For an entry the node wrote
/// this equals [`leaf_of`] of the decoded entry; bytes that decode to the
/// same entry but differ (an unknown field slipped in, a value re-encoded)
/// give another leaf, so the tree catches them too. `None` when the bytes
/// are not protobuf.
pub fn leaf_of_stored(bytes: &[u8]) -> Option<Hash> {
    let mut content = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let start = rest;
        let key = prost::encoding::decode_varint(&mut rest).ok()?;
        let length = match key & 7 {
            0 => {
                prost::encoding::decode_varint(&mut rest).ok()?;
                0
            }
            1 => 8,
            2 => usize::try_from(prost::encoding::decode_varint(&mut rest).ok()?).ok()?,
            5 => 4,
            _ => return None,
        };
        rest = rest.get(length..)?;
        let field = &start[..start.len() - rest.len()];
        if key >> 3 != ROOT_AFTER_FIELD {
            content.extend_from_slice(field);
        }
    }
    Some(merkle::leaf_hash(&content))
}

/// The log as a writer holds it: the tree's frontier.
#[derive(Debug, Clone, Default)]
pub struct Log {
    frontier: Frontier,
}

impl Log {
    /// An empty log.
    pub fn new() -> Log {
        Log::default()
    }

    /// A log continuing from stored leaves (in order).
    pub fn resume(leaves: impl IntoIterator<Item = Hash>) -> Log {
        let mut frontier = Frontier::new();
        for leaf in leaves {
            frontier.push(leaf);
        }
        Log { frontier }
    }

    /// Entries so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Appends an entry: sets its index and `root_after` and returns it with
    /// its encoding, ready to store, and its leaf hash.
    pub fn append(&mut self, mut entry: Entry) -> (Entry, Vec<u8>, Hash) {
        entry.index = self.frontier.size();
        entry.root_after.clear();
        let leaf = leaf_of(&entry);
        self.frontier.push(leaf);
        entry.root_after = self.frontier.root().to_vec();
        let encoded = entry.encode_to_vec();
        (entry, encoded, leaf)
    }
}

/// A signed statement of the log's size and root at a time, in the text
/// form of a C2SP checkpoint (`tlog-checkpoint`) wrapped in a signed note
/// (`signed-note`), so that independent tools can check it:
///
/// ```text
/// braid.audit/3f9c2a1b7d4e6f80      origin: this node's log
/// 1042                              tree size
/// 9vQm…base64 root…=                root hash (BLAKE3 tree, base64)
/// time 1795000000000                extension line: when it was signed
///
/// — braid-node AbCd…base64(key id ‖ Ed25519 signature)…
/// ```
///
/// The signature covers every line before the blank one. The key id is the
/// first four bytes of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key), as for
/// any Ed25519 note key; [`verifier_key`] gives the key in the note
/// verifier-key form (`braid-node+<id>+<base64>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (derived from the node's public key).
    pub origin: String,
    /// Entries covered.
    pub size: u64,
    /// The root of the first `size` entries.
    pub root: Hash,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The signing key's id (see above).
    pub key_id: [u8; 4],
    /// Ed25519 signature over [`Checkpoint::body`].
    pub signature: Vec<u8>,
}

/// The name the node's key signs notes under.
pub const KEY_NAME: &str = "braid-node";
/// Ed25519 in the signed-note key-type registry.
const ED25519_NOTE_TYPE: u8 = 0x01;

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The note key id of an Ed25519 public key under [`KEY_NAME`].
pub fn key_id(public_key: &[u8]) -> [u8; 4] {
    let hash = sha256(&[KEY_NAME.as_bytes(), b"\n", &[ED25519_NOTE_TYPE], public_key]);
    [hash[0], hash[1], hash[2], hash[3]]
}

/// The origin line of the log a key signs for.
pub fn origin(public_key: &[u8]) -> String {
    format!("braid.audit/{}", hex(&sha256(&[public_key])[..8]))
}

/// The key in signed-note verifier-key form: `braid-node+<key id>+<base64(0x01 ‖ key)>`.
pub fn verifier_key(public_key: &[u8]) -> String {
    let mut typed = vec![ED25519_NOTE_TYPE];
    typed.extend_from_slice(public_key);
    format!("{KEY_NAME}+{}+{}", hex(&key_id(public_key)), BASE64.encode(typed))
}

/// The public key a verifier key (as [`verifier_key`] writes it) names,
/// checked: the name, the Ed25519 type, the key's length and its id.
pub fn parse_verifier_key(text: &str) -> Result<Vec<u8>, Error> {
    let bad = |why: &str| Error::Checkpoint(format!("not a verifier key ({why}); expected braid-node+<key id>+<base64 key>"));
    // The key is standard base64, which may itself hold '+'.
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("three parts joined by +"));
    };
    if name != KEY_NAME {
        return Err(bad("the key name is not braid-node"));
    }
    let typed = BASE64.decode(key).map_err(|_| bad("the key is not base64"))?;
    let Some((&ED25519_NOTE_TYPE, public_key)) = typed.split_first() else {
        return Err(bad("not an Ed25519 key"));
    };
    if public_key.len() != 32 {
        return Err(bad("an Ed25519 key is 32 bytes"));
    }
    if id != hex(&key_id(public_key)) {
        return Err(bad("the key id does not match the key"));
    }
    Ok(public_key.to_vec())
}

impl Checkpoint {
    /// The signed lines.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\ntime {}\n", self.origin, self.size, BASE64.encode(self.root), self.time_ms)
    }

    /// Whether the holder of `public_key` signed it (for this key's log).
    pub fn verify_signature(&self, public_key: &[u8]) -> bool {
        self.key_id == key_id(public_key)
            && self.origin == origin(public_key)
            && UnparsedPublicKey::new(&ED25519, public_key).verify(self.body().as_bytes(), &self.signature).is_ok()
    }

    /// The signed note, as saved by auditors and handed back to `verify`.
    pub fn to_text(&self) -> String {
        let mut signed = self.key_id.to_vec();
        signed.extend_from_slice(&self.signature);
        format!("{}\n\u{2014} {KEY_NAME} {}\n", self.body(), BASE64.encode(signed))
    }

    /// Reads [`Checkpoint::to_text`].
    pub fn from_text(text: &str) -> Result<Checkpoint, Error> {
        let bad = |what: &str| Error::Checkpoint(format!("checkpoint: {what}"));
        let (body, signatures) = text.split_once("\n\n").ok_or_else(|| bad("not a signed note (no blank line before the signatures)"))?;
        let mut lines = body.lines();
        let origin = lines.next().filter(|l| !l.is_empty()).ok_or_else(|| bad("no origin line"))?.to_owned();
        let size = lines.next().and_then(|l| l.parse().ok()).ok_or_else(|| bad("the second line is not a tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|l| BASE64.decode(l).ok())
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| bad("the third line is not a base64 32-byte root"))?;
        let time_ms = lines.find_map(|l| l.strip_prefix("time ")).and_then(|t| t.parse().ok()).ok_or_else(|| bad("no `time` extension line"))?;
        let prefix = format!("\u{2014} {KEY_NAME} ");
        let signed = signatures
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|b| BASE64.decode(b).ok())
            .filter(|bytes| bytes.len() == 4 + 64)
            .ok_or_else(|| bad(&format!("no `{KEY_NAME}` signature line")))?;
        let key_id = [signed[0], signed[1], signed[2], signed[3]];
        let checkpoint = Checkpoint { origin, size, root, time_ms, key_id, signature: signed[4..].to_vec() };
        if checkpoint.body() != format!("{body}\n") {
            return Err(bad("unexpected lines in the note body"));
        }
        Ok(checkpoint)
    }
}

/// The node's checkpoint signing key.
pub struct Signer {
    key: Ed25519KeyPair,
}

impl Signer {
    /// A new key; returns it and its PKCS#8 document to store.
    pub fn generate() -> Result<(Signer, Vec<u8>), Error> {
        let rng = ring::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| Error::Key("could not generate a key".into()))?;
        let bytes = document.as_ref().to_vec();
        Ok((Signer::from_pkcs8(&bytes)?, bytes))
    }

    /// From a stored PKCS#8 document.
    pub fn from_pkcs8(document: &[u8]) -> Result<Signer, Error> {
        let key = Ed25519KeyPair::from_pkcs8(document).map_err(|_| Error::Key("not an Ed25519 PKCS#8 key".into()))?;
        Ok(Signer { key })
    }

    /// The public key auditors verify with.
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// Signs the log's state.
    pub fn checkpoint(&self, size: u64, root: Hash, time_ms: u64) -> Checkpoint {
        let public_key = self.public_key();
        let mut checkpoint = Checkpoint { origin: origin(&public_key), size, root, time_ms, key_id: key_id(&public_key), signature: Vec::new() };
        checkpoint.signature = self.key.sign(checkpoint.body().as_bytes()).as_ref().to_vec();
        checkpoint
    }
}

/// Why a log does not verify. Messages name positions, never entry content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An entry is missing, altered, out of order or inserted.
    #[error("audit entry {index}: {reason}")]
    Entry {
        /// The first bad position.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint does not match the log or is not validly signed.
    #[error("{0}")]
    Checkpoint(String),
    /// A key could not be used.
    #[error("audit key: {0}")]
    Key(String),
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries recomputed.
    pub entries: u64,
    /// The root of all of them.
    pub root: Hash,
    /// The node's checkpoints whose signature and root were checked.
    pub checkpoints: usize,
    /// The auditor's saved checkpoints the log is consistent with.
    pub saved: usize,
}

/// Recomputes the whole tree from the stored entries (`(stored position,
/// encoded entry)` in stored order), checks each entry's position and
/// `root_after`, checks every checkpoint's signature and root, and checks
/// that the log still contains, unchanged, the tree each saved checkpoint
/// describes.
pub fn verify(
    entries: impl IntoIterator<Item = (u64, Vec<u8>)>,
    checkpoints: &[Checkpoint],
    saved: &[Checkpoint],
    public_key: &[u8],
) -> Result<Verified, Error> {
    verify_visiting(entries, checkpoints, saved, public_key, |_| {})
}

/// [`verify`], also handing each entry's leaf hash to `on_leaf` in order
/// (a node resuming its log keeps them for proofs).
pub fn verify_visiting(
    entries: impl IntoIterator<Item = (u64, Vec<u8>)>,
    checkpoints: &[Checkpoint],
    saved: &[Checkpoint],
    public_key: &[u8],
    mut on_leaf: impl FnMut(Hash),
) -> Result<Verified, Error> {
    let mut wanted: Vec<u64> = checkpoints.iter().chain(saved).map(|c| c.size).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut roots = std::collections::HashMap::new();
    let mut frontier = Frontier::new();
    if wanted.first() == Some(&0) {
        roots.insert(0, frontier.root());
    }
    for (position, (stored_index, bytes)) in entries.into_iter().enumerate() {
        let position = position as u64;
        let bad = |reason: &str| Error::Entry { index: position, reason: reason.to_owned() };
        if stored_index != position {
            return Err(bad(if stored_index > position {
                "missing: the next stored entry has a later position (deleted?)"
            } else {
                "a second entry at an earlier position"
            }));
        }
        let entry = Entry::decode(bytes.as_slice()).map_err(|_| bad("not a readable entry"))?;
        if entry.index != position {
            return Err(bad("its recorded position differs from where it is stored (moved or reordered?)"));
        }
        let recorded_root = entry.root_after;
        let leaf = leaf_of_stored(&bytes).ok_or_else(|| bad("not a readable entry"))?;
        on_leaf(leaf);
        frontier.push(leaf);
        if recorded_root.as_slice() != frontier.root().as_slice() {
            return Err(bad("the tree recomputed up to it differs from the root recorded with it (altered, inserted or reordered)"));
        }
        if wanted.binary_search(&frontier.size()).is_ok() {
            roots.insert(frontier.size(), frontier.root());
        }
    }
    for checkpoint in checkpoints {
        if !checkpoint.verify_signature(public_key) {
            return Err(Error::Checkpoint(format!("checkpoint at size {}: the signature does not verify", checkpoint.size)));
        }
        match roots.get(&checkpoint.size) {
            Some(root) if *root == checkpoint.root => {}
            Some(_) if checkpoint.size == 0 && checkpoint.root == merkle::legacy_empty_root() => {}
            Some(_) => return Err(Error::Checkpoint(format!("checkpoint at size {}: the log's root at that size differs", checkpoint.size))),
            None => return Err(Error::Checkpoint(format!("checkpoint at size {}: the log is shorter than that", checkpoint.size))),
        }
    }
    for checkpoint in saved {
        if !checkpoint.verify_signature(public_key) {
            return Err(Error::Checkpoint(format!("saved checkpoint at size {}: not signed by this node's key", checkpoint.size)));
        }
        match roots.get(&checkpoint.size) {
            Some(root) if *root == checkpoint.root => {}
            Some(_) if checkpoint.size == 0 && checkpoint.root == merkle::legacy_empty_root() => {}
            Some(_) => {
                return Err(Error::Checkpoint(format!(
                    "saved checkpoint at size {}: the log is not consistent with it (history was rewritten)",
                    checkpoint.size
                )))
            }
            None => {
                return Err(Error::Checkpoint(format!("saved checkpoint at size {}: the log now holds fewer entries (history was truncated)", checkpoint.size)))
            }
        }
    }
    Ok(Verified { entries: frontier.size(), root: frontier.root(), checkpoints: checkpoints.len(), saved: saved.len() })
}

#[cfg(test)]
mod tests;
