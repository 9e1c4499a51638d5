//! Reading an agency's extract: one CSV row per involvement, grouped into case
//! records, identities pseudonymised, template items parsed through the
//! mapping's labels. Bad rows are reported by row number and field and
//! skipped; good rows are never lost because of them.

use std::collections::HashMap;
use std::io::Read;

use braid_template::{Answers, LabelMap, OutcomeKind, Template, Value};

use crate::date::{parse_date, parse_date_parts, Date, DateFormat};
use crate::keys::Keys;
use crate::mapping::{fold, CaseType, Mapping, MappingError, Role};
use crate::normalise::{normalise_as_of, Identity};
use crate::{pseudonymise, PersonPseudonyms};

mod identifiers;
mod rows;
use identifiers::{drop_shared_nhs_numbers, is_identifier, IdentifierUse};
use rows::{content_digest, implausible_dates, LineBreaks};

/// One involvement, pseudonymised.
#[derive(Debug, Clone)]
pub struct PseudonymisedInvolvement {
    /// Opaque person ref.
    pub person_ref: String,
    /// Role in the case.
    pub role: Role,
    /// Match keys and Bloom encoding.
    pub pseudonyms: PersonPseudonyms,
    /// Template items of section A or B.
    pub fields: Vec<(String, Value)>,
}

/// One case record, pseudonymised: ready to upload.
#[derive(Debug, Clone)]
pub struct PseudonymisedRecord {
    /// Opaque record ref.
    pub record_ref: String,
    /// Classification by this agency; none for an outcome event.
    pub case_type: Option<CaseType>,
    /// Set for an outcome event: what happened (on `referral_date`).
    pub outcome: Option<OutcomeKind>,
    /// Referral or event date.
    pub referral_date: Option<Date>,
    /// When the abuse started.
    pub incident_start: Option<Date>,
    /// When the abuse last occurred.
    pub last_occurrence: Option<Date>,
    /// Template items of sections C, D and case-level extensions.
    pub fields: Vec<(String, Value)>,
    /// The people involved.
    pub involvements: Vec<PseudonymisedInvolvement>,
    /// CSV line of the record's first row.
    pub source_row: u32,
}

/// A problem with one row, by CSV line number (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    /// CSV line number.
    pub row: u64,
    /// The column or identity field at fault.
    pub field: String,
    /// What is wrong; never an identity value.
    pub reason: String,
}

impl std::fmt::Display for RowIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}: {}: {}", self.row, self.field, self.reason)
    }
}

/// One line of the agency's re-identification map, which never leaves its
/// premises: opaque refs back to its own ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReidEntry {
    /// Opaque record ref.
    pub record_ref: String,
    /// The agency's case id.
    pub case_id: String,
    /// Opaque person ref.
    pub person_ref: String,
    /// The agency's local person id.
    pub person_id: String,
}

/// Everything produced from one extract.
#[derive(Debug, Default)]
pub struct ExtractOutput {
    /// Records ready to upload.
    pub records: Vec<PseudonymisedRecord>,
    /// Rows skipped, with the reason.
    pub rejected: Vec<RowIssue>,
    /// Rows kept, with a value that could not be used.
    pub warnings: Vec<RowIssue>,
    /// The local re-identification map.
    pub reid: Vec<ReidEntry>,
    /// Data rows read (excluding the header).
    pub rows_read: u64,
    /// Involvements kept.
    pub involvements: u64,
}

/// Errors that stop the whole extract (as opposed to one row).
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The mapping does not fit the extract.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The header could not be read.
    #[error("extract header: {0}")]
    Header(String),
}

struct Columns {
    record_ref: usize,
    person_ref: usize,
    role: Option<usize>,
    case_type: Option<usize>,
    outcome: Option<usize>,
    event_date: usize,
    incident_start: Option<usize>,
    last_occurrence: Option<usize>,
    forename: Option<usize>,
    surname: Option<usize>,
    date_of_birth: Option<usize>,
    sex: Option<usize>,
    postcode: Option<usize>,
    nhs_number: Option<usize>,
    other_surnames: Vec<usize>,
    address: Option<usize>,
    house: Option<usize>,
    ids: Vec<(String, usize)>,
    fields: Vec<(String, usize)>,
}

fn resolve_columns(mapping: &Mapping, header: &csv::StringRecord) -> Result<Columns, MappingError> {
    let text: String = header.iter().collect();
    if text.trim().is_empty() {
        return Err(MappingError::Unreadable("is empty: it has no header row"));
    }
    // Files that are not text at all, by their first bytes (as read).
    if text.starts_with("PK\u{3}\u{4}") {
        return Err(MappingError::Unreadable("is a zip file (an Excel workbook, .xlsx?), not CSV text; save it as CSV UTF-8"));
    }
    if text.starts_with("\u{d0}\u{cf}\u{11}\u{e0}") {
        return Err(MappingError::Unreadable("is an Excel 97-2003 workbook (.xls), not CSV text; save it as CSV UTF-8"));
    }
    if text.starts_with('\u{1f}') {
        return Err(MappingError::Unreadable("is compressed (gzip?), not CSV text; unpack it first"));
    }
    if text.contains('\0') || text.starts_with("\u{ff}\u{fe}") || text.starts_with("\u{fe}\u{ff}") {
        return Err(MappingError::Unreadable("is UTF-16 (Excel's \"Unicode Text\"); save it as CSV UTF-8"));
    }
    // A carriage return not followed by a line feed (a CRLF line's ends
    // its last field; a quoted header cell may hold a CRLF).
    if text.split('\r').skip(1).any(|after| !after.is_empty() && !after.starts_with('\n')) {
        return Err(MappingError::Unreadable(
            "has lines ending in a carriage return alone (an old Mac format), so it reads as one line; save it with Windows or Unix line endings",
        ));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n')) {
        return Err(MappingError::Unreadable("is not CSV text: its first line holds control characters (a binary file?)"));
    }
    if header.len() == 1 {
        if let Some(separator) = [(';', ";"), ('\t', "\\t"), ('|', "|")].iter().find(|(c, _)| header[0].contains(*c)).map(|(_, shown)| (*shown).to_owned()) {
            return Err(MappingError::WrongSeparator { separator });
        }
    }
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    // A column is found by its exact name, else by its name in any case
    // when only one column has it; a name the header repeats is refused.
    let find = |column: &str, purpose: &str| {
        let column = column.trim();
        let exact: Vec<usize> = (0..names.len()).filter(|&i| names[i] == column).collect();
        let matches = if exact.is_empty() { (0..names.len()).filter(|&i| names[i].eq_ignore_ascii_case(column)).collect() } else { exact };
        match matches[..] {
            [index] => Ok(index),
            [] => Err(MappingError::MissingColumn { column: column.to_owned(), purpose: purpose.to_owned() }),
            _ => Err(MappingError::RepeatedColumn { column: column.to_owned(), count: matches.len(), purpose: purpose.to_owned() }),
        }
    };
    let optional = |column: &Option<String>, purpose: &str| column.as_deref().map(|c| find(c, purpose)).transpose();
    let c = &mapping.columns;
    let i = &mapping.identity;
    Ok(Columns {
        record_ref: find(&c.record_ref, "record_ref")?,
        person_ref: find(&c.person_ref, "person_ref")?,
        role: optional(&c.role, "role")?,
        case_type: optional(&c.case_type, "case_type")?,
        outcome: mapping.outcome.as_ref().map(|o| find(&o.column, "outcome")).transpose()?,
        event_date: find(&c.event_date, "event_date")?,
        incident_start: optional(&c.incident_start, "incident_start")?,
        last_occurrence: optional(&c.last_occurrence, "last_occurrence")?,
        forename: optional(&i.forename, "forename")?,
        surname: optional(&i.surname, "surname")?,
        date_of_birth: optional(&i.date_of_birth, "date_of_birth")?,
        sex: optional(&i.sex, "sex")?,
        postcode: optional(&i.postcode, "postcode")?,
        nhs_number: optional(&i.nhs_number, "nhs_number")?,
        other_surnames: i.alternative_surnames.iter().map(|column| find(column, "alternative_surnames")).collect::<Result<_, MappingError>>()?,
        address: optional(&i.address, "address")?,
        house: optional(&i.house, "house")?,
        ids: i.ids.iter().map(|(name, column)| Ok((name.clone(), find(column, &format!("ids.{name}"))?))).collect::<Result<_, MappingError>>()?,
        fields: mapping.fields.iter().map(|(id, field)| Ok((id.clone(), find(&field.column, id)?))).collect::<Result<_, MappingError>>()?,
    })
}

/// Reads an extract and pseudonymises it. `on_row` is called after each data
/// row with the number read so far, for progress display.
pub fn pseudonymise_extract<R: Read>(input: R, mapping: &Mapping, keys: &Keys, mut on_row: impl FnMut(u64)) -> Result<ExtractOutput, ExtractError> {
    // Records end at a line feed (a CRLF line's carriage return is trimmed
    // with the cell), so that rows are numbered by their line in the file
    // whichever line ending it has.
    let input = LineBreaks::new(input);
    let lines = input.seen();
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::None).terminator(csv::Terminator::Any(b'\n')).from_reader(input);
    let (header, _) = text_record(reader.byte_headers().map_err(|error| ExtractError::Header(error.to_string()))?.clone());
    let columns = resolve_columns(mapping, &header)?;
    let context = RowContext {
        template: Template::standard(),
        label_maps: mapping.label_maps(),
        roles: mapping.roles.iter().filter_map(|(label, target)| Some((fold(label), Role::parse(target)?))).collect(),
        case_types: mapping.case_types.iter().filter_map(|(label, target)| Some((fold(label), CaseType::parse(target)?))).collect(),
        outcomes: outcome_labels(mapping),
        date_format: mapping.date_format()?,
        dob_format: mapping.date_of_birth_format()?,
        keys,
        columns,
        width: header.len(),
        today: crate::date::today(),
    };

    let mut collected = Collected::default();
    let mut bytes = csv::ByteRecord::new();
    // An exporter that ends every data row with a comma adds an empty
    // field: the first two well-formed data rows say whether this file does (a stray
    // comma inside the first row pads it alone, and shifts its cells), and
    // then every row may be so (a stray comma inside a later row still
    // shifts its cells, and is refused).
    let mut padded_file: Option<bool> = None;
    // The first data row, while the second is awaited to decide that.
    let mut first_padded: Option<(csv::StringRecord, u64, u64)> = None;
    loop {
        let line = lines.line_of(reader.position().byte());
        match reader.read_byte_record(&mut bytes) {
            Ok(false) => break,
            Ok(true) => {
                collected.output.rows_read += 1;
                // The line the row ends on, and from it the one it starts on:
                // a quoted cell may hold line breaks (or a quote was never
                // closed), and blank lines before a row are read with it.
                let end = lines.line_of(reader.position().byte().saturating_sub(1));
                let line = if end == line {
                    end
                } else {
                    let breaks: u64 = bytes.iter().map(|cell| memchr::memchr_iter(b'\n', cell).count() as u64).sum();
                    end.saturating_sub(breaks).max(2)
                };
                let (row, windows_1252) = text_record(std::mem::take(&mut bytes));
                if windows_1252 {
                    collected.output.warnings.push(RowIssue {
                        row: line,
                        field: "row".to_owned(),
                        reason: "is not UTF-8 and was read as Windows-1252 (export the extract as UTF-8)".to_owned(),
                    });
                }
                let trailing = row.len() == context.width + 1 && row.get(context.width).is_some_and(|field| field.trim().is_empty());
                // Only a row of the header's width, or padded, can decide
                // (a blank or malformed one is read, or refused, alone).
                let decides = trailing || row.len() == context.width && !row.iter().all(|field| field.trim().is_empty());
                if padded_file.is_none() && decides {
                    if let Some((first, first_line, first_end)) = first_padded.take() {
                        padded_file = Some(trailing);
                        context.take_row(first, first_line, first_end, trailing, &mut collected);
                    } else if trailing {
                        first_padded = Some((row, line, end));
                        on_row(collected.output.rows_read);
                        continue;
                    } else {
                        padded_file = Some(false);
                    }
                }
                context.take_row(row, line, end, trailing && padded_file == Some(true), &mut collected);
            }
            Err(error) => {
                collected.output.rows_read += 1;
                let line = error.position().map_or(line, |p| lines.line_of(p.byte()));
                collected.output.rejected.push(RowIssue { row: line, field: "row".to_owned(), reason: "is not a well-formed CSV row".to_owned() });
            }
        }
        on_row(collected.output.rows_read);
    }
    if let Some((first, line, end)) = first_padded.take() {
        // The only data row: taken as the exporter's padding.
        context.take_row(first, line, end, true, &mut collected);
    }
    let mut output = collected.output;
    drop_shared_nhs_numbers(&mut output, collected.nhs_people);
    Ok(output)
}

/// A row's text: as UTF-8, else (a system exporting in its Windows code
/// page, where "Zoë" is not UTF-8) decoded as Windows-1252, so that no row
/// is lost to its encoding; the flag says which.
fn text_record(bytes: csv::ByteRecord) -> (csv::StringRecord, bool) {
    match csv::StringRecord::from_byte_record(bytes) {
        Ok(row) => (row, false),
        Err(error) => (error.into_byte_record().iter().map(|field| encoding_rs::WINDOWS_1252.decode_without_bom_handling(field).0).collect(), true),
    }
}

/// The records read so far, and what later rows are checked against.
#[derive(Default)]
struct Collected {
    output: ExtractOutput,
    /// Case id → its record's index in `output.records`.
    record_index: HashMap<String, usize>,
    /// (case id, person id) → the line that first had them and a digest of
    /// its cells: a repeated row would count one person's part in one case
    /// twice.
    seen_rows: HashMap<(String, String), (u64, u64)>,
    /// Each NHS number's and other identifier's keyed hash: the (name
    /// token, date of birth) pairs it is recorded with, and the lines it is
    /// on.
    nhs_people: HashMap<[u8; 32], IdentifierUse>,
}

impl Collected {
    /// Adds a row read on `line`: a new case's record, or one more person
    /// in a case already read; a repeated row is skipped with a warning.
    fn add(&mut self, parsed: ParsedRow, digest: u64, line: u64) {
        let output = &mut self.output;
        if let Some(&(first, first_digest)) = self.seen_rows.get(&(parsed.case_id.clone(), parsed.person_id.clone())) {
            if first_digest == digest {
                output.warnings.push(RowIssue { row: line, field: "row".to_owned(), reason: format!("repeats row {first} and was skipped") });
            } else {
                output.rejected.push(RowIssue {
                    row: line,
                    field: "person_ref".to_owned(),
                    reason: format!(
                        "names the case and person of row {first} again, with other values; one person's part in one case is one row, so row {first} was used and this one was not (check which is right)"
                    ),
                });
            }
            return;
        }
        if parsed.record.outcome.is_some() && self.record_index.contains_key(&parsed.case_id) {
            let first = output.records[self.record_index[&parsed.case_id]].source_row;
            output.rejected.push(RowIssue {
                row: line,
                field: "record_ref".to_owned(),
                reason: format!("repeats the event id of row {first}: an outcome event is about one child"),
            });
            return;
        }
        self.seen_rows.insert((parsed.case_id.clone(), parsed.person_id.clone()), (line, digest));
        let involvement = &parsed.record.involvements[0];
        let mut other_ids = parsed.id_names.iter();
        for (kind, hash) in involvement.pseudonyms.match_keys.iter().filter(|(kind, _)| is_identifier(*kind)) {
            // The n-th other identifier's key is the n-th named identifier's.
            let field = match kind {
                crate::MatchKeyKind::OtherId => format!("ids.{}", other_ids.next().map_or("", String::as_str)),
                _ => "nhs_number".to_owned(),
            };
            let used = self.nhs_people.entry(*hash).or_default();
            used.note(line, &parsed.case_id, &parsed.person_id, (parsed.name.clone(), parsed.date_of_birth, parsed.child));
            used.field = field;
        }
        output.reid.push(ReidEntry {
            record_ref: parsed.record.record_ref.clone(),
            case_id: parsed.case_id.clone(),
            person_ref: involvement.person_ref.clone(),
            person_id: parsed.person_id,
        });
        output.involvements += 1;
        match self.record_index.get(&parsed.case_id) {
            Some(&index) => {
                let existing = &mut output.records[index];
                for field in case_disagreements(existing, &parsed.record) {
                    output.warnings.push(RowIssue {
                        row: line,
                        field,
                        reason: format!("differs from row {} of the same case; the case keeps that row's", existing.source_row),
                    });
                }
                existing.involvements.extend(parsed.record.involvements);
            }
            None => {
                self.record_index.insert(parsed.case_id, output.records.len());
                output.records.push(parsed.record);
            }
        }
    }
}

/// The case-level fields (named as in the mapping, or by template item)
/// that a later row of a case answers otherwise than the case's first row:
/// a record holds one case type, dates and case items, so the later row
/// adds its person only. A field left blank on either row is no
/// disagreement.
fn case_disagreements(first: &PseudonymisedRecord, later: &PseudonymisedRecord) -> Vec<String> {
    let mut fields = Vec::new();
    let mut differs = |field: &str, differ: bool| {
        if differ {
            fields.push(field.to_owned());
        }
    };
    fn both<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
        matches!((a, b), (Some(a), Some(b)) if a != b)
    }
    differs("case_type", both(&first.case_type, &later.case_type));
    differs("event_date", both(&first.referral_date, &later.referral_date));
    differs("incident_start", both(&first.incident_start, &later.incident_start));
    differs("last_occurrence", both(&first.last_occurrence, &later.last_occurrence));
    for (item, value) in &later.fields {
        if first.fields.iter().any(|(first_item, first_value)| first_item == item && first_value != value) {
            fields.push(item.clone());
        }
    }
    fields
}

struct RowContext<'a> {
    template: &'static Template,
    label_maps: HashMap<String, LabelMap>,
    roles: HashMap<String, Role>,
    case_types: HashMap<String, CaseType>,
    outcomes: HashMap<String, OutcomeKind>,
    date_format: DateFormat,
    dob_format: DateFormat,
    /// The day the extract is read on: later dates are in the future.
    today: Date,
    keys: &'a Keys,
    columns: Columns,
    width: usize,
}

/// Template answers by field id, as a record carries them.
type Answered = Vec<(String, Value)>;

struct ParsedRow {
    case_id: String,
    person_id: String,
    record: PseudonymisedRecord,
    /// The person's date of birth, when a real one was read.
    date_of_birth: Option<Date>,
    /// The person's name ("forename surname", normalised), kept when the
    /// row has an identifier (to tell a shared one; see `identifiers`).
    name: String,
    /// The names of the row's `[identity.ids]` identifiers, in the order of
    /// their match keys.
    id_names: Vec<String>,
    /// Whether the person was a child at the case's date (or, with no case
    /// date, is one today).
    child: bool,
}

/// A row's identity cells (the date of birth is read apart).
fn identity_cells<'r>(c: &Columns, cell: impl Fn(usize) -> &'r str, optional_cell: impl Fn(Option<usize>) -> Option<String>) -> Identity {
    Identity {
        forename: optional_cell(c.forename),
        surname: optional_cell(c.surname),
        sex: optional_cell(c.sex),
        postcode: optional_cell(c.postcode),
        nhs_number: optional_cell(c.nhs_number),
        other_surnames: c
            .other_surnames
            .iter()
            .flat_map(|&index| {
                cell(index).split(';').map(str::trim).filter(|s| !s.is_empty() && !crate::normalise::is_missing(s)).map(str::to_owned).collect::<Vec<_>>()
            })
            .collect(),
        address: match (optional_cell(c.house), optional_cell(c.address)) {
            (Some(house), Some(line)) => Some(format!("{house} {line}")),
            (house, line) => line.or(house),
        },
        ids: c.ids.iter().filter_map(|(name, index)| Some((name.clone(), optional_cell(Some(*index))?))).collect(),
        ..Identity::default()
    }
}

/// The warning for a date written as a spreadsheet's day number.
const SPREADSHEET_DAY: &str = "is a spreadsheet's day number (days since 30 December 1899) and was read as the date it counts to";

impl RowContext<'_> {
    /// Reads one data row (without the exporter's padding field when
    /// `unpad`) into `collected`: a blank row is skipped with a warning, a
    /// row that cannot be read is rejected.
    fn take_row(&self, mut row: csv::StringRecord, line: u64, end: u64, unpad: bool, collected: &mut Collected) {
        if unpad {
            row.truncate(self.width);
        }
        if row.iter().all(|field| field.trim().is_empty()) {
            collected.output.warnings.push(RowIssue { row: line, field: "row".to_owned(), reason: "is empty and was skipped".to_owned() });
            return;
        }
        if let Some(issue) = self.unclosed_quote(&row, line, end) {
            collected.output.rejected.push(issue);
            return;
        }
        match self.read_row(&row, line, &mut collected.output.warnings) {
            Ok(parsed) => collected.add(parsed, content_digest(&row), line),
            Err(mut issue) => {
                if end > line && issue.field == "row" {
                    issue.reason = format!("{} (it runs on to line {end}: a quote opened and never closed?)", issue.reason);
                }
                collected.output.rejected.push(issue);
            }
        }
    }

    /// A date of birth as far as it can be used: a real date, else its
    /// plausible parts (with a warning), else nothing (with a warning).
    fn date_of_birth(
        &self,
        text: Option<String>,
        issue: impl Fn(&str, String) -> RowIssue,
        warnings: &mut Vec<RowIssue>,
    ) -> (Option<Date>, Option<crate::DateParts>) {
        let (mut date_of_birth, mut date_of_birth_parts) = (None, None);
        if let Some(text) = text {
            match parse_date_parts(&text, &self.dob_format, "date_of_birth") {
                Ok(parts) => {
                    let date = parse_date(&text, &self.dob_format, "date_of_birth");
                    // 1 January 1900 and the like: what a system writes when
                    // it must hold a date and none is known. Many people
                    // share it.
                    if crate::normalise::is_placeholder_birth(&parts) || date.as_ref().is_ok_and(|date| date.year < 1900) {
                        warnings
                            .push(issue("date_of_birth", "is 1 January 1900 or before 1900: a placeholder, not a date of birth, and was not used".to_owned()));
                    } else {
                        match date {
                            Ok(date) => {
                                if crate::date::is_spreadsheet_day(&text, &self.dob_format) {
                                    warnings.push(issue("date_of_birth", SPREADSHEET_DAY.to_owned()));
                                }
                                date_of_birth = Some(date);
                            }
                            Err(error) => {
                                warnings.push(issue("date_of_birth", format!("{}; its usable parts were kept", error_reason(&error))));
                                date_of_birth_parts = Some(parts);
                            }
                        }
                    }
                }
                Err(error) => warnings.push(issue("date_of_birth", format!("{} and was not used", error_reason(&error)))),
            }
        }
        (date_of_birth, date_of_birth_parts)
    }

    /// A row's case dates (event, incident start, last occurrence): empty
    /// where the cell is, or says no value ("TBC", with a warning); a date
    /// of another shape rejects the row. One read from a spreadsheet's day
    /// number is warned of too.
    fn case_dates<'c>(
        &self,
        cell: impl Fn(usize) -> &'c str,
        issue: &impl Fn(&str, String) -> RowIssue,
        warnings: &mut Vec<RowIssue>,
    ) -> Result<[Option<Date>; 3], RowIssue> {
        let c = &self.columns;
        let mut out = [None; 3];
        for (slot, (field, index)) in
            out.iter_mut().zip([("event_date", Some(c.event_date)), ("incident_start", c.incident_start), ("last_occurrence", c.last_occurrence)])
        {
            let text = index.map(&cell).unwrap_or("");
            if text.is_empty() {
                continue;
            }
            if crate::normalise::is_missing(text) {
                warnings.push(issue(field, "says no value (TBC, Not known…) and was read as empty".to_owned()));
                continue;
            }
            *slot = Some(parse_date(text, &self.date_format, field).map_err(|error| issue(field, error_reason(&error)))?);
            if crate::date::is_spreadsheet_day(text, &self.date_format) {
                warnings.push(issue(field, SPREADSHEET_DAY.to_owned()));
            }
        }
        Ok(out)
    }

    /// A row's template answers, case-level and the person's section, each
    /// checked against the template; an item that does not apply to the
    /// role is a warning.
    fn template_answers<'r>(
        &self,
        cell: impl Fn(usize) -> &'r str,
        issue: impl Fn(&str, String) -> RowIssue,
        role: Role,
        warnings: &mut Vec<RowIssue>,
    ) -> Result<(Answered, Answered), RowIssue> {
        let mut case_fields = Vec::new();
        let mut person_fields = Vec::new();
        for (id, index) in &self.columns.fields {
            let Ok(field) = self.template.field(id) else {
                continue;
            };
            let Some(labels) = self.label_maps.get(id) else {
                continue;
            };
            let text = cell(*index);
            // The identity's sex column may also answer a template item
            // (victim.sex): there it is identity, which never rejects a row
            // nor is quoted, and it is everyone's, whatever their role.
            let identity_sex = self.columns.sex == Some(*index);
            let value = match labels.parse(field, text) {
                Ok(value) => value,
                Err(_) if identity_sex => {
                    warnings.push(issue(id, "is not a label the mapping gives this item (the sex column) and was not used".to_owned()));
                    continue;
                }
                Err(error) => return Err(issue(id, error.reason())),
            };
            let Some(value) = value else { continue };
            use braid_template::Section;
            let applies = match field.section {
                Section::Victim => matches!(role, Role::KnownVictim | Role::SuspectedVictim),
                Section::Perpetrator => matches!(role, Role::Perpetrator | Role::Hsb),
                Section::Context | Section::Services | Section::Case => role != Role::OutcomeSubject,
            };
            if !applies {
                if !identity_sex {
                    warnings.push(issue(id, format!("does not apply to the role {} and was not used", role.file_name())));
                }
                continue;
            }
            if field.section.is_case_level() {
                case_fields.push((id.clone(), value));
            } else {
                person_fields.push((id.clone(), value));
            }
        }
        {
            let answers: Answers = case_fields.iter().chain(person_fields.iter()).map(|(id, value)| (id.as_str(), value)).collect();
            for (id, value) in case_fields.iter().chain(person_fields.iter()) {
                self.template.validate_answer(id, value, &answers).map_err(|error| issue(id, error.reason()))?;
            }
        }
        Ok((case_fields, person_fields))
    }

    fn read_row(&self, row: &csv::StringRecord, line: u64, warnings: &mut Vec<RowIssue>) -> Result<ParsedRow, RowIssue> {
        let issue = |field: &str, reason: String| RowIssue { row: line, field: field.to_owned(), reason };
        if row.len() != self.width {
            let fields = if row.len() == 1 { "1 field".to_owned() } else { format!("{} fields", row.len()) };
            return Err(issue("row", format!("has {fields} but the header has {}", self.width)));
        }
        let cell = |index: usize| row.get(index).map(str::trim).unwrap_or("");
        // Identity and date cells: what exports write for "no value"
        // (NULL, N/A, Not known, 00/00/0000) is no value.
        let optional_cell = |index: Option<usize>| index.map(cell).filter(|v| !v.is_empty() && !crate::normalise::is_missing(v)).map(str::to_owned);
        let required = |index: usize, field: &str| {
            let value = cell(index);
            if value.is_empty() {
                Err(issue(field, "is empty".to_owned()))
            } else {
                Ok(value.to_owned())
            }
        };
        // An id written NULL or Unknown is no id: taken as one, it would
        // make every such row one case, or one person.
        let required_id = |index: usize, field: &str| {
            let value = required(index, field)?;
            if crate::normalise::is_missing(&value) {
                return Err(issue(field, "says no value (NULL, Unknown…): an id is needed".to_owned()));
            }
            Ok(value)
        };
        let c = &self.columns;
        let case_id = required_id(c.record_ref, "record_ref")?;
        let person_id = required_id(c.person_ref, "person_ref")?;
        let label = |index: Option<usize>, field: &str| match index {
            Some(index) => required(index, field).map(Some),
            None => Ok(None),
        };
        let unknown = |field: &str, text: &str| issue(field, format!("unknown label `{}`", braid_template::quote(text)));
        // An outcomes extract's rows are outcome events; a case extract's
        // have a role and a case type (the mapping has one or the other).
        let outcome = match label(c.outcome, "outcome")? {
            Some(text) => Some(*self.outcomes.get(&fold(&text)).ok_or_else(|| unknown("outcome", &text))?),
            None => None,
        };
        let role = match label(c.role, "role")? {
            Some(text) => *self.roles.get(&fold(&text)).ok_or_else(|| unknown("role", &text))?,
            None => Role::OutcomeSubject,
        };
        let case_type = match label(c.case_type, "case_type")? {
            Some(text) => Some(*self.case_types.get(&fold(&text)).ok_or_else(|| unknown("case_type", &text))?),
            None => None,
        };
        let [referral_date, incident_start, last_occurrence] = self.case_dates(cell, &issue, warnings)?;
        if outcome.is_some() && referral_date.is_none() {
            return Err(issue("event_date", "is empty (an outcome event needs the day it happened)".to_owned()));
        }
        // Identity never rejects a row: a date of birth that is not a real
        // date keeps its plausible parts, one of another shape is left out.
        let (date_of_birth, date_of_birth_parts) = self.date_of_birth(optional_cell(c.date_of_birth), issue, warnings);
        implausible_dates(
            &issue,
            warnings,
            self.today,
            [("event_date", referral_date), ("incident_start", incident_start), ("last_occurrence", last_occurrence)],
            date_of_birth,
        );

        // Template items: case-level ones, and the person's section.
        let (case_fields, person_fields) = self.template_answers(cell, issue, role, warnings)?;

        let identity = Identity { date_of_birth, date_of_birth_parts, ..identity_cells(c, cell, optional_cell) };
        let (normalised, identity_warnings) = normalise_as_of(&identity, self.today);
        for warning in identity_warnings {
            warnings.push(issue(&warning.field, warning.reason.to_owned()));
        }
        let pseudonyms = pseudonymise(self.keys, &normalised);
        let record = PseudonymisedRecord {
            // An event id may equal a case id: its ref has its own prefix,
            // so an outcome event never replaces a case record.
            record_ref: self.keys.opaque_ref(if outcome.is_some() { "o" } else { "r" }, &case_id),
            case_type,
            outcome,
            referral_date,
            incident_start,
            last_occurrence,
            fields: case_fields,
            involvements: vec![PseudonymisedInvolvement { person_ref: self.keys.opaque_ref("p", &person_id), role, pseudonyms, fields: person_fields }],
            source_row: u32::try_from(line).unwrap_or(u32::MAX),
        };
        let (name, id_names) = if pseudonyms_have_identifier(&record) {
            let name = format!("{} {}", normalised.forename.as_deref().unwrap_or_default(), normalised.surname.as_deref().unwrap_or_default());
            (name, normalised.ids.iter().map(|(id_name, _)| id_name.clone()).collect())
        } else {
            (String::new(), Vec::new())
        };
        let case_date = record.referral_date.or(record.incident_start).or(record.last_occurrence).unwrap_or(self.today);
        let child = date_of_birth.is_some_and(|born| years_between(born, case_date) < 18);
        Ok(ParsedRow { case_id, person_id, record, date_of_birth, name, id_names, child })
    }
}

/// Whole years from `born` to `on` (negative when `on` is earlier).
fn years_between(born: Date, on: Date) -> i32 {
    let birthday_passed = (on.month, on.day) >= (born.month, born.day);
    on.year - born.year - i32::from(!birthday_passed)
}

/// Whether the record's (one) involvement has an identifier's match key.
fn pseudonyms_have_identifier(record: &PseudonymisedRecord) -> bool {
    record.involvements.iter().any(|involvement| involvement.pseudonyms.match_keys.iter().any(|(kind, _)| is_identifier(*kind)))
}

/// Outcome labels (folded) → kind: the mapping's own labels, then every
/// kind's code and name.
fn outcome_labels(mapping: &Mapping) -> HashMap<String, OutcomeKind> {
    let mut labels: HashMap<String, OutcomeKind> = HashMap::new();
    for kind in OutcomeKind::ALL {
        labels.insert(fold(kind.code()), kind);
        labels.insert(fold(kind.name()), kind);
    }
    if let Some(outcome) = &mapping.outcome {
        labels.extend(outcome.labels.iter().filter_map(|(label, target)| Some((fold(label), OutcomeKind::from_code(target.trim())?))));
    }
    labels
}

/// The reason part of a date error (the field is named separately).
fn error_reason(error: &crate::Error) -> String {
    match error {
        crate::Error::Date { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}
