//! The pseudonymised extract file: what `braid agency pseudonymise` writes and
//! `braid agency upload` sends. A header (`UploadHeader`) followed by case
//! records, each length-delimited protobuf, and a trailer with the BLAKE3
//! digest of the header and the records. The submission id is made from the
//! records' own digest and a tag of the run that wrote it. A damaged file — header or records — is refused
//! before anything is sent, and can never be taken for the good one. It
//! holds pseudonyms and template codes only, never a raw identifier.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use braid_proto::v1;
use prost::Message;

const MAGIC: &[u8; 8] = b"BRAIDPX3";
/// Earlier versions: without a checksum, and with one over the records
/// only.
const OLD_MAGICS: [&[u8; 8]; 2] = [b"BRAIDPX1", b"BRAIDPX2"];
/// Starts the trailer; the digest follows.
const TRAILER: &[u8; 8] = b"BRAIDEND";

/// The digest of an extract's records (each length-delimited, in order).
pub fn records_digest(records: &[v1::CaseRecord]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for record in records {
        hasher.update(&record.encode_length_delimited_to_vec());
    }
    *hasher.finalize().as_bytes()
}

/// The digest the trailer holds: the header's bytes, then the records'.
fn file_digest(header: &[u8], records: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(header);
    hasher.update(records);
    *hasher.finalize().as_bytes()
}

/// The submission id of records with this digest, as one run of
/// pseudonymise writes them: the digest's prefix, then a tag of its own
/// run. Re-sending one file is a retry of one submission (what the node
/// already holds from it is answered from its stored acknowledgements, and
/// a later upload's changes stay); pseudonymising again is a new
/// submission, whose records replace whatever versions the node holds, even
/// when the extract has gone back to an earlier state.
pub fn submission_id(digest: &[u8; 32]) -> String {
    format!("{}-{:08x}", digest_part(digest), rand::random::<u32>())
}

/// The part of a submission id that its records' digest fixes (the whole
/// id of a file written before ids carried a run's tag).
fn digest_part(digest: &[u8; 32]) -> String {
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("s-{hex}")
}

/// Whether `id` is a submission id of records with this digest.
fn is_submission_of(id: &str, digest: &[u8; 32]) -> bool {
    let prefix = digest_part(digest);
    id.strip_prefix(prefix.as_str())
        .is_some_and(|run| run.is_empty() || (run.len() == 9 && run.starts_with('-') && run[1..].chars().all(|c| c.is_ascii_hexdigit())))
}

/// Writes the file.
pub fn write(path: &Path, header: &v1::UploadHeader, records: &[v1::CaseRecord]) -> Result<()> {
    let temporary = path.with_extension("partial");
    {
        let file = std::fs::File::create(&temporary).with_context(|| format!("create {}", temporary.display()))?;
        let mut writer = BufWriter::new(file);
        let header_bytes = header.encode_length_delimited_to_vec();
        let mut hasher = blake3::Hasher::new();
        hasher.update(&header_bytes);
        writer.write_all(MAGIC)?;
        writer.write_all(&header_bytes)?;
        for record in records {
            let bytes = record.encode_length_delimited_to_vec();
            hasher.update(&bytes);
            writer.write_all(&bytes)?;
        }
        writer.write_all(TRAILER)?;
        writer.write_all(hasher.finalize().as_bytes())?;
        let file = writer.into_inner().context("flush the output")?;
        file.sync_all().context("sync the output")?;
    }
    std::fs::rename(&temporary, path).with_context(|| format!("move output into {}", path.display()))?;
    Ok(())
}

/// Reads the file.
pub fn read(path: &Path) -> Result<(v1::UploadHeader, Vec<v1::CaseRecord>)> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut bytes = Vec::new();
    BufReader::new(file).read_to_end(&mut bytes).with_context(|| format!("read {}", path.display()))?;
    anyhow::ensure!(
        !OLD_MAGICS.iter().any(|magic| bytes.starts_with(*magic)),
        "{} was written by an earlier version of braid, whose checksum did not cover the whole file; pseudonymise the extract again",
        path.display()
    );
    anyhow::ensure!(bytes.starts_with(MAGIC), "{} is not a pseudonymised extract (run `braid agency pseudonymise` first)", path.display());
    let damaged = || anyhow::anyhow!("{} is damaged (it does not match the checksum written with it); pseudonymise the extract again", path.display());
    let body_end = bytes.len().checked_sub(TRAILER.len() + 32).filter(|end| *end >= MAGIC.len()).ok_or_else(damaged)?;
    let (body, trailer) = bytes.split_at(body_end);
    if &trailer[..TRAILER.len()] != TRAILER {
        return Err(damaged());
    }
    let content = &body[MAGIC.len()..];
    let mut rest = content;
    let header = v1::UploadHeader::decode_length_delimited(&mut rest).map_err(|_| damaged())?;
    let header_bytes = &content[..content.len() - rest.len()];
    if trailer[TRAILER.len()..] != file_digest(header_bytes, rest)[..] {
        return Err(damaged());
    }
    let mut records = Vec::new();
    while !rest.is_empty() {
        records.push(v1::CaseRecord::decode_length_delimited(&mut rest).map_err(|_| damaged())?);
    }
    let digest = records_digest(&records);
    anyhow::ensure!(
        is_submission_of(&header.submission_id, &digest),
        "{} is damaged (its submission id does not match its records); pseudonymise the extract again",
        path.display()
    );
    Ok((header, records))
}

#[cfg(test)]
#[path = "extract_file_fuzz.rs"]
mod fuzz;
