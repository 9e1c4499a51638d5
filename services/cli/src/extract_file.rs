//! The pseudonymised extract file: what `braid agency pseudonymise` writes and
//! `braid agency upload` sends. A header (`UploadHeader`) followed by case
//! records, each length-delimited protobuf. It holds pseudonyms and template
//! codes only, never a raw identifier.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use braid_proto::v1;
use prost::Message;

const MAGIC: &[u8; 8] = b"BRAIDPX1";

/// Writes the file.
pub fn write(path: &Path, header: &v1::UploadHeader, records: &[v1::CaseRecord]) -> Result<()> {
    let temporary = path.with_extension("partial");
    {
        let file = std::fs::File::create(&temporary)
            .with_context(|| format!("create {}", temporary.display()))?;
        let mut writer = BufWriter::new(file);
        writer.write_all(MAGIC)?;
        writer.write_all(&header.encode_length_delimited_to_vec())?;
        for record in records {
            writer.write_all(&record.encode_length_delimited_to_vec())?;
        }
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
    BufReader::new(file)
        .read_to_end(&mut bytes)
        .with_context(|| format!("read {}", path.display()))?;
    anyhow::ensure!(
        bytes.starts_with(MAGIC),
        "{} is not a pseudonymised extract (run `braid agency pseudonymise` first)",
        path.display()
    );
    let mut rest = &bytes[MAGIC.len()..];
    let header = v1::UploadHeader::decode_length_delimited(&mut rest).context("read the extract header")?;
    let mut records = Vec::new();
    while !rest.is_empty() {
        let record = v1::CaseRecord::decode_length_delimited(&mut rest)
            .with_context(|| format!("read record {} of the extract (the file is damaged)", records.len() + 1))?;
        records.push(record);
    }
    Ok((header, records))
}
