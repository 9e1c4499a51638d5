//! `braid agency …`: pseudonymise an extract on the agency's premises, upload
//! it, withdraw records, and resolve opaque refs back to local ids.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use braid_client::{NodeArgs, UploadEvent, UploadSummary};
use braid_proto::v1;
use braid_pseudonym::{pseudonymise_extract, ExtractOutput, Keys, Mapping, ReidEntry, SchemeSecret};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{convert, extract_file};

/// Reads a scheme secret file.
pub fn read_secret(path: &Path) -> Result<SchemeSecret> {
    braid_client::private_file(path, "the scheme secret")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("read the scheme secret {}", path.display()))?;
    SchemeSecret::parse(&text).with_context(|| format!("read the scheme secret {}", path.display()))
}

/// Reads a mapping file.
pub fn read_mapping(path: &Path) -> Result<Mapping> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read the mapping {}", path.display()))?;
    Mapping::parse(&text).with_context(|| format!("read the mapping {}", path.display()))
}

fn progress(length: u64, what: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// The result of pseudonymising one extract.
pub struct Pseudonymised {
    /// What the reader produced, its records moved into `records`.
    pub output: ExtractOutput,
    /// Header for the upload.
    pub header: v1::UploadHeader,
    /// Records in API form.
    pub records: Vec<v1::CaseRecord>,
}

/// Pseudonymises an extract in memory.
pub fn pseudonymise(mapping: &Mapping, secret: &SchemeSecret, input: &Path, show_progress: bool) -> Result<Pseudonymised> {
    let file = std::fs::File::open(input).with_context(|| format!("open the extract {}", input.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    pseudonymise_from(mapping, secret, std::io::BufReader::new(file), size, input, show_progress)
}

/// Pseudonymises an extract of `size` bytes read from `reader` (`input`
/// names it in messages).
fn pseudonymise_from(
    mapping: &Mapping,
    secret: &SchemeSecret,
    reader: impl std::io::Read,
    size: u64,
    input: &Path,
    show_progress: bool,
) -> Result<Pseudonymised> {
    let keys = Keys::derive(secret, &mapping.agency.code);
    // Roughly 150 bytes a row; the bar is a guide, not a promise.
    let bar = progress(size / 150 + 1, "pseudonymising", show_progress);
    let mut output = pseudonymise_extract(reader, mapping, &keys, |rows| {
        if rows % 512 == 0 {
            bar.set_position(rows);
        }
    })
    .with_context(|| format!("pseudonymise {}", input.display()))?;
    bar.finish_and_clear();
    // Each record is dropped once converted, so the two forms are not
    // held whole side by side (the output keeps its counts, issues and
    // re-identification entries).
    let records: Vec<v1::CaseRecord> = std::mem::take(&mut output.records).into_iter().map(|record| convert::record(&record)).collect();
    // The submission id is derived from the content (the digest the file's
    // trailer carries), so a damaged file cannot pass for it, and tagged
    // with this run, so an extract pseudonymised again is sent as new data
    // (its records replace what the node holds) while re-sending this file
    // is a retry.
    let submission_id = extract_file::submission_id(&extract_file::records_digest(&records));
    let header = v1::UploadHeader {
        agency: mapping.agency.code.clone(),
        agency_type: mapping.agency.agency_type.clone(),
        epoch_fingerprint: keys.epoch_fingerprint().to_owned(),
        submission_id,
        bridge_epoch_fingerprint: String::new(),
        // An outcomes extract says nothing of the template items the
        // agency's system holds (its case extract does).
        items_held: mapping.outcome.is_none().then(|| items_held(mapping)),
    };
    Ok(Pseudonymised { output, header, records })
}

/// The items the agency's system holds, as its mapping declares: mapped
/// items in categories, the `[system]` lists as written.
fn items_held(mapping: &Mapping) -> v1::ItemsHeld {
    v1::ItemsHeld {
        in_categories: mapping.fields.keys().cloned().collect(),
        in_free_text: mapping.system.free_text.clone(),
        not_held: mapping.system.not_held.clone(),
    }
}

/// Pseudonymises an extract during a key rotation: under `secret` (the
/// epoch the node is moving to), each person also carrying their ref and
/// pseudonyms under `bridge` (the epoch it is moving from), and each record
/// the ref it had, which the upload replaces.
pub fn pseudonymise_bridged(mapping: &Mapping, secret: &SchemeSecret, bridge: &SchemeSecret, input: &Path, show_progress: bool) -> Result<Pseudonymised> {
    // Read once, so that both epochs' records come from the same rows.
    let extract = std::fs::read(input).with_context(|| format!("read the extract {}", input.display()))?;
    let size = extract.len() as u64;
    let mut moved = pseudonymise_from(mapping, secret, extract.as_slice(), size, input, show_progress)?;
    let old = pseudonymise_from(mapping, bridge, extract.as_slice(), size, input, false)?;
    anyhow::ensure!(
        moved.header.epoch_fingerprint != old.header.epoch_fingerprint,
        "--secret and --bridge-secret are the same scheme secret; --secret is the new epoch's, --bridge-secret the one the node is moving from"
    );
    // The same rows give the same records in the same order.
    anyhow::ensure!(moved.records.len() == old.records.len(), "the two epochs' records of {} do not pair up", input.display());
    for (record, old) in moved.records.iter_mut().zip(old.records) {
        anyhow::ensure!(record.involvements.len() == old.involvements.len(), "the two epochs' records of {} do not pair up", input.display());
        record.previous_ref = old.record_ref;
        for (involvement, old) in record.involvements.iter_mut().zip(old.involvements) {
            involvement.bridge_person_ref = old.person_ref;
            involvement.bridge_pseudonyms = old.pseudonyms;
        }
    }
    moved.header.bridge_epoch_fingerprint = old.header.epoch_fingerprint;
    moved.header.submission_id = extract_file::submission_id(&extract_file::records_digest(&moved.records));
    Ok(moved)
}

/// Writes the re-identification map, which stays on the agency's premises.
pub fn write_reid(path: &Path, agency: &str, entries: &[ReidEntry]) -> Result<()> {
    write_reid_rows(path, entries.iter().map(|entry| (agency, entry)))
}

/// Writes a re-identification map of (agency, entry) rows.
fn write_reid_rows<'a>(path: &Path, rows: impl Iterator<Item = (&'a str, &'a ReidEntry)>) -> Result<()> {
    // Only the agency's own account may read the map back to its ids.
    let file = private_output(path)?;
    let mut writer = csv::Writer::from_writer(file);
    writer.write_record(["agency", "record_ref", "case_id", "person_ref", "person_id"])?;
    for (agency, entry) in rows {
        writer.write_record([agency, &entry.record_ref, &entry.case_id, &entry.person_ref, &entry.person_id])?;
    }
    // On disk before anything relies on it (the map is what erasure by
    // case id needs).
    writer
        .into_inner()
        .map_err(|error| anyhow::anyhow!("write {}: {}", path.display(), error.error()))?
        .sync_all()
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// Before a map is written over one that holds cases the new one lacks
/// (an extract of recent cases after a full one), the old map is kept
/// beside it as `….previous`, with a warning: without it, those cases
/// could no longer be withdrawn by case id. A `….previous` kept before
/// takes the old map's rows in beside its own, so that each run adds to it
/// and none empties it.
fn keep_cases_the_map_would_lose(path: &Path, new: &[ReidEntry]) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let previous = PathBuf::from(format!("{}.previous", path.display()));
    let lost = match read_reid(path) {
        Ok(old) => {
            let kept: std::collections::HashSet<&str> = new.iter().map(|entry| entry.case_id.as_str()).collect();
            old.iter().map(|(_, entry)| entry.case_id.as_str()).filter(|case| !kept.contains(case)).collect::<std::collections::HashSet<_>>().len()
        }
        // A map that cannot be read is kept too, rather than overwritten.
        Err(_) => usize::MAX,
    };
    if lost > 0 {
        let (previous, added) = keep_as_previous(path, &previous)?;
        let kept = if added { format!("its rows are added to {}", previous.display()) } else { format!("it is kept as {}", previous.display()) };
        let what = match lost {
            usize::MAX => "could not be read".to_owned(),
            1 => "held 1 case this extract does not have".to_owned(),
            _ => format!("held {lost} cases this extract does not have"),
        };
        // (A closed stderr must not stop the new map being written.)
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "warning {} {what}: {kept} (withdraw those cases with --reid {}); the new map holds this extract's cases",
            path.display(),
            previous.display()
        );
    }
    Ok(())
}

/// Keeps the map at `path` as `previous`: renamed, or, where a map was
/// kept there before, its rows added to that one's (a kept map that cannot
/// be read is left as it is, and this one kept beside it under the first
/// free `….previous.N`).
/// Returns where it went, and whether it was added to a kept map.
fn keep_as_previous(path: &Path, previous: &Path) -> Result<(PathBuf, bool)> {
    if !previous.exists() {
        std::fs::rename(path, previous).with_context(|| format!("keep {} as {}", path.display(), previous.display()))?;
        return Ok((previous.to_path_buf(), false));
    }
    if let (Ok(kept), Ok(mut rows)) = (read_reid(previous), read_reid(path)) {
        // The newer map's rows first: withdrawing by case id takes the
        // first row of the case, which is then its latest ref (after a key
        // rotation a case has a row under each epoch).
        let known: std::collections::HashSet<(String, String, String)> =
            rows.iter().map(|(agency, entry)| (agency.clone(), entry.record_ref.clone(), entry.person_ref.clone())).collect();
        rows.extend(kept.into_iter().filter(|(agency, entry)| !known.contains(&(agency.clone(), entry.record_ref.clone(), entry.person_ref.clone()))));
        // Written beside (afresh: never through a link left there) and
        // renamed over once on disk, so that a failure part way leaves the
        // kept map whole.
        let merged = PathBuf::from(format!("{}.merging", previous.display()));
        if std::fs::symlink_metadata(&merged).is_ok() {
            std::fs::remove_file(&merged).with_context(|| format!("remove {}", merged.display()))?;
        }
        write_reid_rows(&merged, rows.iter().map(|(agency, entry)| (agency.as_str(), entry)))?;
        std::fs::rename(&merged, previous).with_context(|| format!("update {}", previous.display()))?;
        std::fs::remove_file(path).with_context(|| format!("remove {}", path.display()))?;
        return Ok((previous.to_path_buf(), true));
    }
    let free = (2..).map(|n| PathBuf::from(format!("{}.{n}", previous.display()))).find(|candidate| !candidate.exists()).unwrap_or_default();
    std::fs::rename(path, &free).with_context(|| format!("keep {} as {}", path.display(), free.display()))?;
    Ok((free, false))
}

/// What `braid agency pseudonymise` does beside writing the upload file and
/// the map.
pub struct PseudonymiseOptions<'a> {
    /// Write nothing if any row is rejected.
    pub fail_on_bad_rows: bool,
    /// Also write `<out>.truth.csv` from this evaluation column.
    pub truth_column: Option<&'a str>,
}

/// `braid agency pseudonymise`.
pub fn pseudonymise_command(
    mapping: &Path,
    secret: &Path,
    bridge_secret: Option<&Path>,
    input: &Path,
    out: &Path,
    reid: Option<PathBuf>,
    options: PseudonymiseOptions,
) -> Result<()> {
    let PseudonymiseOptions { fail_on_bad_rows, truth_column } = options;
    let reid = reid.unwrap_or_else(|| out.with_extension("reid.csv"));
    let previous = PathBuf::from(format!("{}.previous", reid.display()));
    let mut inputs = vec![mapping, secret, input];
    inputs.extend(bridge_secret);
    let (issues, partial, truth_file) = (out.with_extension("issues.csv"), out.with_extension("partial"), out.with_extension("truth.csv"));
    let mut outputs = vec![out, &reid, &issues, &partial, &previous];
    if truth_column.is_some() {
        outputs.push(&truth_file);
    }
    check_outputs(&inputs, &outputs)?;
    if let Some(column) = truth_column {
        check_truth_column(input, column)?;
    }
    let mapping = read_mapping(mapping)?;
    if !mapping.identity.any() {
        eprintln!("warning: the mapping's [identity] names no column (name, date of birth, NHS number, postcode, address or other id): these records will link to other agencies' by nothing");
    }
    let secret = read_secret(secret)?;
    let result = match bridge_secret {
        Some(bridge) => pseudonymise_bridged(&mapping, &secret, &read_secret(bridge)?, input, true)?,
        None => pseudonymise(&mapping, &secret, input, true)?,
    };
    let output = &result.output;
    for issue in output.rejected.iter().take(50) {
        eprintln!("rejected {issue}");
    }
    if output.rejected.len() > 50 {
        eprintln!("… and {} more rejected", counted(output.rejected.len() - 50, "row", "rows"));
    }
    for issue in output.warnings.iter().take(20) {
        eprintln!("warning {issue}");
    }
    if output.warnings.len() > 20 {
        eprintln!("… and {} more", counted(output.warnings.len() - 20, "warning", "warnings"));
    }
    if let Some((path, by_field)) = write_issues(out, output)? {
        eprintln!("every issue, by row, in {} ({by_field})", path.display());
    }
    let mut hinted = Vec::new();
    for (field, format) in [
        ("event_date", Some(&mapping.columns.date_format)),
        ("date_of_birth", mapping.identity.date_of_birth_format.as_ref().or(Some(&mapping.columns.date_format))),
    ] {
        if let Some(hint) = format.and_then(|format| month_first_hint(output, field, format)) {
            eprintln!("{hint}");
            hinted.push(field);
        }
    }
    for hint in column_hints(output, &mapping, &hinted) {
        eprintln!("{hint}");
    }
    refuse_nothing_useful(&result, input, out, fail_on_bad_rows)?;
    extract_file::write(out, &result.header, &result.records)?;
    keep_cases_the_map_would_lose(&reid, &output.reid)?;
    write_reid(&reid, &mapping.agency.code, &output.reid)?;
    println!(
        "{}: read {}; {} in {} written to {}; {} rejected, {}",
        mapping.agency.code,
        counted(output.rows_read, "row", "rows"),
        counted(output.involvements, "involvement", "involvements"),
        counted(result.records.len(), "record", "records"),
        out.display(),
        counted(output.rejected.len(), "row", "rows"),
        counted(output.warnings.len(), "warning", "warnings")
    );
    println!("key epoch {}; re-identification map (keep on premises): {}", result.header.epoch_fingerprint, reid.display());
    if !result.header.bridge_epoch_fingerprint.is_empty() {
        println!(
            "for a key rotation: each record also carries its ref and pseudonyms under epoch {} and replaces the record held under that ref",
            result.header.bridge_epoch_fingerprint
        );
    }
    match truth_column {
        Some(column) => truth_command(&mapping, input, out, column),
        None => Ok(()),
    }
}

/// A hint when many of a date field's rows have a month above 12 (a tenth
/// of the rows, at least three): the extract probably writes its dates
/// month first while the mapping reads them day first, or the other way.
fn month_first_hint(output: &braid_pseudonym::ExtractOutput, field: &str, format: &str) -> Option<String> {
    let months = output.rejected.iter().chain(&output.warnings).filter(|issue| issue.field == field && issue.reason.contains("month outside 1 to 12")).count();
    (months >= 3 && months as u64 * 10 >= output.rows_read).then(|| {
        format!(
            "hint: {months} of {} rows give {field} a month above 12; the mapping reads it as {format}: are the dates written month first (or day first)?",
            output.rows_read
        )
    })
}

/// A hint for each identity column whose values could not be used in at
/// least half the rows (and three; only values left out count, not those
/// kept with a warning, such as a postcode district): most often the
/// mapping names the wrong
/// column (names read as dates, a date of birth read from the referral
/// date…), which would otherwise link these records by nothing, or by
/// something that is not who they are. Fields in `hinted` already have a
/// more precise hint.
fn column_hints(output: &braid_pseudonym::ExtractOutput, mapping: &braid_pseudonym::Mapping, hinted: &[&str]) -> Vec<String> {
    let mut hints = Vec::new();
    // Fields read for their shape (an address or house is taken as written),
    // and each identifier of [identity.ids].
    let single = mapping
        .identity
        .single_columns()
        .into_iter()
        .filter(|(field, _)| !matches!(*field, "address" | "house"))
        .map(|(field, column)| (field.to_owned(), column));
    let ids = mapping.identity.ids.iter().map(|(name, column)| (format!("ids.{}", braid_pseudonym::fold_text(name)), Some(column.as_str())));
    for (field, column) in single.chain(ids) {
        let Some(column) = column else { continue };
        if hinted.contains(&field.as_str()) {
            continue;
        }
        let mut rows = std::collections::HashSet::new();
        let mut reasons: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for issue in output.rejected.iter().chain(&output.warnings).filter(|issue| issue.field == field && value_left_out(issue)) {
            rows.insert(issue.row);
            *reasons.entry(issue.reason.as_str()).or_default() += 1;
        }
        let n = rows.len() as u64;
        if n >= 3 && n * 2 >= output.rows_read {
            let commonest = reasons.iter().max_by_key(|(reason, count)| (**count, std::cmp::Reverse(**reason))).map_or("", |(reason, _)| *reason);
            hints.push(format!(
                "hint: {n} of {} rows' {field} could not be used as written (most often: it {commonest}): is `{}`, the column the mapping reads as {field}, the right one?",
                output.rows_read,
                braid_template::quote(column),
            ));
        }
    }
    hints
}

/// Whether an identity issue left the value out (its reason says it was
/// not used), rather than keeping it with a warning.
fn value_left_out(issue: &braid_pseudonym::RowIssue) -> bool {
    issue.reason.contains("was not used")
}

/// Fails, writing nothing, when the run would write nothing useful: no
/// record read, or a row rejected under `--fail-on-bad-rows`.
fn refuse_nothing_useful(result: &Pseudonymised, input: &Path, out: &Path, fail_on_bad_rows: bool) -> Result<()> {
    // An output left from an earlier run is not this extract's (looked for
    // only when the run fails).
    let earlier = || {
        if out.exists() {
            format!(" ({} is from an earlier run and was left as it was: it is not this extract)", out.display())
        } else {
            String::new()
        }
    };
    if fail_on_bad_rows && !result.output.rejected.is_empty() {
        bail!("{} rows were rejected and --fail-on-bad-rows was given; nothing was written{}", result.output.rejected.len(), earlier());
    }
    if result.records.is_empty() {
        let rejected = match result.output.rejected.len() {
            0 => "none rejected".to_owned(),
            n => format!("{n} rejected (see above)"),
        };
        bail!(
            "no record could be read from {}: {}, {rejected}; nothing was written{}",
            input.display(),
            counted(result.output.rows_read, "data row", "data rows"),
            earlier()
        );
    }
    Ok(())
}

/// Writes every rejected row and warning of a pseudonymise run to
/// `<out>.issues.csv` (kind, row, field, reason; private, as it may quote a
/// label cell), or removes a list left by an earlier run when there is
/// none. Returns the file and the counts by kind and field, in words.
fn write_issues(out: &Path, output: &braid_pseudonym::ExtractOutput) -> Result<Option<(PathBuf, String)>> {
    let path = out.with_extension("issues.csv");
    if output.rejected.is_empty() && output.warnings.is_empty() {
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error).with_context(|| format!("remove {}", path.display())),
            _ => return Ok(None),
        }
    }
    let mut writer = csv::Writer::from_writer(private_output(&path)?);
    writer.write_record(["kind", "row", "field", "reason"])?;
    let mut counts: std::collections::BTreeMap<(&str, &str), usize> = std::collections::BTreeMap::new();
    for (kind, issues) in [("rejected", &output.rejected), ("warning", &output.warnings)] {
        for issue in issues {
            writer.write_record([kind, &issue.row.to_string(), &issue.field, &issue.reason])?;
            *counts.entry((kind, issue.field.as_str())).or_default() += 1;
        }
    }
    writer.flush().with_context(|| format!("write {}", path.display()))?;
    let by_field: Vec<String> = counts.iter().map(|((kind, field), n)| format!("{kind} {field}: {n}")).collect();
    Ok(Some((path, by_field.join(", "))))
}

/// Checks where a command will write before it reads anything: no output
/// is a folder or sits in a folder that does not exist, none is a file the
/// command reads (an extract written over its own input is lost), and no
/// two are one file.
pub(crate) fn check_outputs(inputs: &[&Path], outputs: &[&Path]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let same_file = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    };
    // Where a path that may not exist yet points: its folder resolved.
    let resolved = |path: &Path| {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::canonicalize(folder).ok().zip(path.file_name()).map(|(folder, name)| folder.join(name))
    };
    for (n, output) in outputs.iter().enumerate() {
        if output.is_dir() {
            bail!("{} is a folder: give the name of a file to write; nothing was written", output.display());
        }
        // Outputs are written beside and moved into place, so what is there
        // is replaced: only ever an ordinary file (never a device, a pipe or
        // a link, which would be replaced by a file).
        if let Ok(found) = std::fs::symlink_metadata(output) {
            if !found.file_type().is_file() {
                let what = if found.file_type().is_symlink() { "a link" } else { "not an ordinary file (a device or a pipe)" };
                bail!("{} is {what}: give the name of a new or ordinary file to write; nothing was written", output.display());
            }
        }
        let folder = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !folder.is_dir() {
            bail!("the folder {} does not exist (for {}); nothing was written", folder.display(), output.display());
        }
        if let Some(input) = inputs.iter().find(|input| same_file(input, output)) {
            bail!("{} is also read ({}): writing it would destroy it; give another output name; nothing was written", output.display(), input.display());
        }
        if outputs[..n].iter().any(|other| other == output || same_file(other, output) || (resolved(other).is_some() && resolved(other) == resolved(output))) {
            bail!("{} is named for two outputs; nothing was written", output.display());
        }
    }
    Ok(())
}

/// Creates (or truncates) `path` readable by its owner only, also when it
/// existed with wider permissions.
pub(crate) fn private_output(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).with_context(|| format!("create {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).with_context(|| format!("make {} private", path.display()))?;
    Ok(file)
}

/// Checks, before anything is written, that the extract has the truth
/// column `pseudonymise --truth-column` names.
fn check_truth_column(input: &Path, column: &str) -> Result<()> {
    let mut reader = csv::Reader::from_path(input).with_context(|| format!("open {}", input.display()))?;
    let header = reader.byte_headers().with_context(|| format!("read the header of {}", input.display()))?;
    anyhow::ensure!(
        header.iter().any(|h| String::from_utf8_lossy(h).trim() == column.trim()),
        "{} has no column `{column}` (--truth-column); nothing was written",
        input.display()
    );
    Ok(())
}

/// Writes `<out>.truth.csv` from an evaluation column of the extract:
/// agency, case_id, person_id, true_person.
fn truth_command(mapping: &Mapping, input: &Path, out: &Path, column: &str) -> Result<()> {
    let mut reader = csv::Reader::from_path(input).with_context(|| format!("open {}", input.display()))?;
    let header = reader.headers().with_context(|| format!("read the header of {}", input.display()))?.clone();
    let find = |name: &str| header.iter().position(|h| h.trim() == name.trim()).with_context(|| format!("{} has no column `{name}`", input.display()));
    let (case, person, truth) = (find(&mapping.columns.record_ref)?, find(&mapping.columns.person_ref)?, find(column)?);
    let path = out.with_extension("truth.csv");
    // It holds the agency's own case and person ids, as the map does.
    let file = private_output(&path)?;
    let mut writer = csv::Writer::from_writer(file);
    writer.write_record(["agency", "case_id", "person_id", "true_person"])?;
    let mut rows = 0u64;
    for (index, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {} is not valid CSV", input.display(), index + 2))?;
        let cell = |i: usize| row.get(i).unwrap_or("").trim();
        if cell(truth).is_empty() {
            continue;
        }
        writer.write_record([mapping.agency.code.as_str(), cell(case), cell(person), cell(truth)])?;
        rows += 1;
    }
    writer.flush()?;
    println!("truth for {rows} rows written to {} (for braid eval; not uploaded)", path.display());
    Ok(())
}

/// Uploads records in batches through [`braid_client::upload`] (which
/// resumes after interruptions without storing anything twice), with a
/// progress bar and a line per retry when `show_progress`.
pub async fn upload(
    node: &NodeArgs,
    header: &v1::UploadHeader,
    records: Vec<v1::CaseRecord>,
    batch_size: usize,
    retries: u32,
    show_progress: bool,
) -> Result<UploadSummary> {
    let bar = progress(records.len() as u64, "uploading", show_progress);
    let mut events = |event: UploadEvent| match event {
        UploadEvent::Attempt => bar.set_position(0),
        UploadEvent::Acknowledged(records) => bar.inc(records),
        UploadEvent::Retrying { reason, delay } => {
            if show_progress {
                bar.suspend(|| eprintln!("upload interrupted ({reason}); retrying in {:.1}s", delay.as_secs_f64()));
            }
        }
    };
    let summary = braid_client::upload(node, header, records, batch_size, retries, &mut events).await;
    match &summary {
        Ok(_) => bar.finish_and_clear(),
        Err(_) => bar.abandon(),
    }
    summary
}

/// `braid agency upload`.
pub async fn upload_command(node: &NodeArgs, file: &Path, batch_size: usize, retries: u32) -> Result<()> {
    let (header, records) = extract_file::read(file)?;
    let sent = records.len();
    let summary = upload(node, &header, records, batch_size, retries, true).await?;
    let accounted = summary.acknowledged();
    anyhow::ensure!(accounted == sent as u64, "the node's acknowledgements account for {accounted} of the {sent} records sent; upload again to complete it");
    for rejection in summary.rejections.iter().take(50) {
        eprintln!("rejected row {}: {}: {}", rejection.source_row, rejection.field, rejection.reason);
    }
    println!(
        "{}: {} uploaded ({} new, {} replaced, {} unchanged, {} rejected{}){}",
        header.agency,
        counted(sent, "record", "records"),
        summary.accepted,
        summary.replaced,
        summary.unchanged,
        summary.rejections.len(),
        if summary.already_stored() > 0 {
            let (new, replaced, unchanged) = summary.earlier;
            format!(", {} already stored by an earlier attempt: {new} new, {replaced} replaced, {unchanged} unchanged", summary.already_stored())
        } else {
            String::new()
        },
        if summary.attempts > 1 { format!(" after {} attempts", summary.attempts) } else { String::new() }
    );
    if sent > 0 && summary.rejections.len() == sent {
        bail!("the node rejected every record of {} (reasons above): nothing was stored", file.display());
    }
    Ok(())
}

/// Reads a re-identification map.
pub fn read_reid(path: &Path) -> Result<Vec<(String, ReidEntry)>> {
    anyhow::ensure!(!path.is_dir(), "{} is a folder: give the re-identification map (NAME.reid.csv) that pseudonymise wrote", path.display());
    braid_client::private_file(path, "the re-identification map")?;
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("open {}", path.display()))?;
    let mut entries = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", path.display(), index + 2))?;
        anyhow::ensure!(row.len() == 5, "{}: row {} should have 5 fields", path.display(), index + 2);
        entries.push((
            row[0].to_owned(),
            ReidEntry { record_ref: row[1].to_owned(), case_id: row[2].to_owned(), person_ref: row[3].to_owned(), person_id: row[4].to_owned() },
        ));
    }
    Ok(entries)
}

/// `braid agency withdraw`.
pub async fn withdraw_command(node: &NodeArgs, agency: &str, refs: Vec<String>, case_ids: Vec<String>, reid: Option<PathBuf>) -> Result<()> {
    let mut record_refs = refs;
    if !case_ids.is_empty() {
        let reid = reid.context("--case-id needs --reid, the re-identification map written by pseudonymise")?;
        let entries = read_reid(&reid)?;
        for case_id in &case_ids {
            let found = entries.iter().find(|(a, e)| a == agency && &e.case_id == case_id);
            match found {
                Some((_, entry)) => record_refs.push(entry.record_ref.clone()),
                None => match entries.iter().find(|(_, e)| &e.case_id == case_id) {
                    // Agency codes are written as the node and the
                    // certificates name them: upper case.
                    Some((other, _)) if other.eq_ignore_ascii_case(agency) => {
                        bail!("the agency is {other} (agency codes are upper case), not {agency}: give --agency {other}")
                    }
                    Some((other, _)) => bail!("case id {case_id} is {other}'s in {}, not {agency}'s: give {agency}'s own map", reid.display()),
                    None => bail!("case id {case_id} is not in {}", reid.display()),
                },
            }
        }
    }
    anyhow::ensure!(!record_refs.is_empty(), "name records with --record-ref or --case-id");
    let named = record_refs.len();
    let mut client = braid_client::ingest(node).await?;
    let response = client
        .withdraw(v1::WithdrawRequest { agency: agency.to_owned(), record_refs })
        .await
        .map_err(|status| braid_client::refused_to(&status, "the node refused the withdrawal"))?;
    let receipt = braid_client::receipt(&response).map(|index| format!(" (audit entry {index})")).unwrap_or_default();
    let response = response.into_inner();
    println!("{} records withdrawn, {} not found{receipt}", response.withdrawn, response.not_found);
    // An erasure that left a named record in place must not pass for done.
    anyhow::ensure!(
        response.not_found == 0,
        "{} of the {named} records named are not held by the node for {agency}, so nothing was withdrawn for them: \
         a record withdrawn already is not held, and after a key rotation the records have the refs of the new epoch's re-identification map",
        response.not_found
    );
    Ok(())
}

/// `braid agency quality`: the completeness of this agency's own records.
pub async fn quality_command(node: &NodeArgs, agency: &str, json: bool) -> Result<()> {
    let mut client = braid_client::ingest(node).await?;
    let response = client.completeness(v1::AgencyCompletenessRequest { agency: agency.to_owned() }).await.map_err(braid_client::refused)?.into_inner();
    crate::panel::print_completeness(&response, json)
}

/// This agency's uploads, newest first.
pub async fn fetch_uploads(node: &NodeArgs, agency: &str) -> Result<v1::AgencyUploadsResponse> {
    let mut client = braid_client::ingest(node).await?;
    Ok(client.uploads(v1::AgencyUploadsRequest { agency: agency.to_owned() }).await.map_err(braid_client::refused)?.into_inner())
}

/// `braid agency uploads`.
pub async fn uploads_command(node: &NodeArgs, agency: &str, json: bool) -> Result<()> {
    let answer = fetch_uploads(node, agency).await?;
    if json {
        let uploads: Vec<serde_json::Value> = answer
            .uploads
            .iter()
            .map(|u| {
                serde_json::json!({
                    "submission_id": u.submission_id,
                    "finished": crate::audit::time_text(u.finished_ms),
                    "ended": u.ended,
                    "batches": u.batches,
                    "new": u.accepted,
                    "replaced": u.replaced,
                    "unchanged": u.unchanged,
                    "rejected": u.rejected,
                    "already_stored": u.already_stored,
                    "involvements": u.involvements,
                    "rejections": u.rejections.iter().map(|r| serde_json::json!({ "row": r.source_row, "field": r.field, "reason": r.reason })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "agency": answer.agency, "uploads": uploads }));
        return Ok(());
    }
    if answer.uploads.is_empty() {
        println!("{} has no uploads on this node", answer.agency);
        return Ok(());
    }
    println!(
        "{:<20}  {:<26}  {:>7}  {:>7}  {:>8}  {:>9}  {:>8}  {:>8}  ended",
        "finished", "submission", "batches", "new", "replaced", "unchanged", "rejected", "earlier"
    );
    for u in &answer.uploads {
        println!(
            "{:<20}  {:<26}  {:>7}  {:>7}  {:>8}  {:>9}  {:>8}  {:>8}  {}",
            crate::audit::time_text(u.finished_ms),
            u.submission_id,
            u.batches,
            u.accepted,
            u.replaced,
            u.unchanged,
            u.rejected,
            u.already_stored,
            u.ended
        );
        for r in &u.rejections {
            println!("    row {}: {}: {}", r.source_row, r.field, r.reason);
        }
        if (u.rejections.len() as u64) < u.rejected {
            println!("    … and {} more rejected", counted(u.rejected - u.rejections.len() as u64, "row", "rows"));
        }
    }
    println!("(earlier: records in batches an earlier attempt had stored; the node keeps the last 200 uploads)");
    Ok(())
}

/// `braid agency resolve`: rewrites this agency's rows of a cluster export
/// with its own case and person ids.
pub fn resolve_command(reid: &Path, input: &Path, out: &Path) -> Result<()> {
    check_outputs(&[reid, input], &[out])?;
    let entries = read_reid(reid)?;
    let lookup: std::collections::HashMap<(&str, &str, &str), &ReidEntry> =
        entries.iter().map(|(agency, e)| ((agency.as_str(), e.record_ref.as_str(), e.person_ref.as_str()), e)).collect();
    let mut reader = csv::Reader::from_path(input).with_context(|| format!("open {}", input.display()))?;
    let header = reader.headers().with_context(|| format!("read the header of {}", input.display()))?;
    let expected = ["agency", "record_ref", "person_ref", "role", "profile_id"];
    anyhow::ensure!(
        header.iter().take(5).eq(expected.iter().copied()),
        "{} is not a cluster export (`braid admin clusters`): its header is not {}; nothing was written",
        input.display(),
        expected.join(",")
    );
    // Local case and person ids: for the agency's own account only.
    let mut writer = csv::Writer::from_writer(private_output(out)?);
    writer.write_record(["agency", "case_id", "person_id", "role", "profile_id"])?;
    let mut resolved = 0;
    for row in reader.records() {
        let row = row?;
        if row.len() < 5 {
            continue;
        }
        if let Some(entry) = lookup.get(&(&row[0], &row[1], &row[2])) {
            writer.write_record([&row[0], &entry.case_id, &entry.person_id, &row[3], &row[4]])?;
            resolved += 1;
        }
    }
    writer.flush()?;
    println!("{resolved} rows resolved to local ids in {}", out.display());
    Ok(())
}

/// `n` and the noun that goes with it: "1 row", "2 rows".
fn counted(n: impl TryInto<u64>, one: &str, many: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    format!("{n} {}", if n == 1 { one } else { many })
}
