//! The pseudonymised extract file: what `braid agency pseudonymise` writes and
//! `braid agency upload` sends. A header (`UploadHeader`) followed by case
//! records, each length-delimited protobuf, and a trailer with the BLAKE3
//! digest of the header and the records. The submission id is made from the
//! records' own digest and a tag of the run that wrote it. A damaged file — header or records — is refused
//! before anything is sent, and can never be taken for the good one. It
//! holds pseudonyms and template codes only, never a raw identifier.

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
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

/// Reads the file in two passes, neither holding the file whole: the
/// first checks the trailer's digest over every byte with nothing decoded
/// (so a damaged file is refused before it can cost memory), the second
/// decodes the records. Nothing is returned unless the digest and the
/// submission id vouch for every record read.
pub fn read(path: &Path) -> Result<(v1::UploadHeader, Vec<v1::CaseRecord>)> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let metadata = file.metadata().with_context(|| format!("read {}", path.display()))?;
    anyhow::ensure!(metadata.is_file(), "{} is not an ordinary file: give the .bpx file that pseudonymise wrote", path.display());
    let length = metadata.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let io = |error: std::io::Error| anyhow::Error::new(error).context(format!("read {}", path.display()));
    let mut magic = Vec::with_capacity(MAGIC.len());
    reader.by_ref().take(MAGIC.len() as u64).read_to_end(&mut magic).map_err(io)?;
    anyhow::ensure!(
        !OLD_MAGICS.iter().any(|old| magic == old[..]),
        "{} was written by an earlier version of braid, whose checksum did not cover the whole file; pseudonymise the extract again",
        path.display()
    );
    anyhow::ensure!(magic == MAGIC[..], "{} is not a pseudonymised extract (run `braid agency pseudonymise` first)", path.display());
    let damaged = || anyhow::anyhow!("{} is damaged (it does not match the checksum written with it); pseudonymise the extract again", path.display());
    let read_error = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => damaged(),
        _ => io(error),
    };
    let body = length.checked_sub((MAGIC.len() + TRAILER.len() + 32) as u64).ok_or_else(damaged)?;

    // First pass: the digest, nothing kept.
    let mut hasher = blake3::Hasher::new();
    if std::io::copy(&mut reader.by_ref().take(body), &mut hasher).map_err(io)? != body {
        return Err(damaged());
    }
    let mut trailer = [0u8; TRAILER.len() + 32];
    reader.read_exact(&mut trailer).map_err(read_error)?;
    let digest = hasher.finalize();
    if trailer[..TRAILER.len()] != TRAILER[..] || trailer[TRAILER.len()..] != digest.as_bytes()[..] {
        return Err(damaged());
    }

    // Second pass: the records, hashed again as they are read, in case the
    // file changed in between.
    reader.seek(SeekFrom::Start(MAGIC.len() as u64)).map_err(io)?;
    let mut body_reader = reader.by_ref().take(body);
    let mut again = blake3::Hasher::new();
    let mut message = Vec::new();
    let header = match next_message(&mut body_reader, &mut message, &mut again).map_err(read_error)? {
        Some(bytes) => v1::UploadHeader::decode(bytes).map_err(|_| damaged())?,
        None => return Err(damaged()),
    };
    let mut records = Vec::new();
    let mut records_hasher = blake3::Hasher::new();
    while let Some(bytes) = next_message(&mut body_reader, &mut message, &mut again).map_err(read_error)? {
        let record = v1::CaseRecord::decode(bytes).map_err(|_| damaged())?;
        records_hasher.update(&record.encode_length_delimited_to_vec());
        records.push(record);
    }
    anyhow::ensure!(again.finalize() == digest, "{} changed while it was being read; upload it again", path.display());
    anyhow::ensure!(
        is_submission_of(&header.submission_id, records_hasher.finalize().as_bytes()),
        "{} is damaged (its submission id does not match its records); pseudonymise the extract again",
        path.display()
    );
    Ok((header, records))
}

/// The next length-delimited message of `reader` (its payload, read into
/// `buffer`), with its length prefix and payload added to `hasher`; `None`
/// at the end. A prefix that is not a varint, or a payload cut short by the
/// end of the body, reads as damage (`InvalidData`); what is read for a
/// payload is bounded by what is left of the body.
fn next_message<'a>(reader: &mut impl Read, buffer: &'a mut Vec<u8>, hasher: &mut blake3::Hasher) -> std::io::Result<Option<&'a [u8]>> {
    let damaged = || std::io::Error::new(std::io::ErrorKind::InvalidData, "damaged");
    let mut length = 0u64;
    for index in 0..10 {
        let mut byte = [0u8; 1];
        if reader.read(&mut byte)? == 0 {
            return if index == 0 { Ok(None) } else { Err(damaged()) };
        }
        hasher.update(&byte);
        length |= u64::from(byte[0] & 0x7f) << (7 * index);
        if byte[0] & 0x80 == 0 {
            buffer.clear();
            let read = reader.take(length).read_to_end(buffer)?;
            if read as u64 != length {
                return Err(damaged());
            }
            hasher.update(buffer);
            return Ok(Some(buffer));
        }
    }
    Err(damaged())
}

#[cfg(test)]
#[path = "extract_file_fuzz.rs"]
mod fuzz;
