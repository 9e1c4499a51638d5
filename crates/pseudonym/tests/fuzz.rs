//! Fuzz tests, on the stable toolchain, of the two parsers an agency feeds
//! with its own files: the extract reader ([`pseudonymise_extract`]) and the
//! mapping loader ([`Mapping::parse`]).
//!
//! - The extract reader gets arbitrary bytes, arbitrary bytes after a valid
//!   header, and structured but hostile CSV: headers drawn from the mapping's
//!   real column names (shuffled, repeated, missing, padded with strangers),
//!   rows of any width whose cells are plausible values, random text, quotes,
//!   separators, line breaks, invalid UTF-8 and cells of up to 1 MB. It must
//!   return `Ok` or `Err`, never panic, and every message it produces (the
//!   error of a refused extract, and each rejected row's or warning's field
//!   and reason) stays short.
//! - Identity normalisation and pseudonymisation, which the reader runs on
//!   every row, get arbitrary names, postcodes and identifiers, Latin letters
//!   mixed with letters that fold to no ASCII letter: never a panic.
//! - The mapping loader gets arbitrary text and mutations of a real mapping
//!   (lines dropped, repeated or swapped, values replaced, bytes flipped, and
//!   edits of its TOML tree); it must never panic, and a mapping it accepts
//!   must serialise and load again and read an extract without a panic.
//!
//! Inputs that once failed are kept as plain `regression_*` tests.
//!
//! `cargo test -p braid-pseudonym --test fuzz` runs a few hundred cases per
//! target. For a long run set `BRAID_FUZZ_CASES`, e.g.
//! `BRAID_FUZZ_CASES=1000000 cargo test --release -p braid-pseudonym --test fuzz`.

use std::collections::HashMap;
use std::sync::OnceLock;

use braid_fuzz::{fuzz, no_panic};
use braid_pseudonym::{normalise, pseudonymise, pseudonymise_extract, Date, ExtractOutput, Identity, Keys, Mapping, SchemeSecret};
use braid_template::{FieldKind, Template};
use proptest::prelude::*;

/// Longest message a refused extract may produce.
const MAX_ERROR_CHARS: usize = 2000;
/// Longest field name a row issue may carry.
const MAX_FIELD_CHARS: usize = 200;
/// Size of the "huge" cells.
const HUGE: usize = 1 << 20;

// ---------------------------------------------------------------------------
// The mapping and keys
// ---------------------------------------------------------------------------

/// The case, identity, role and case-type part of the mapping: every kind of
/// column the reader resolves.
const MAPPING_HEAD: &str = r#"
[agency]
code = "CSC-NORTH"
type = "children_services"

[columns]
record_ref = "Case ID"
person_ref = "Person ID"
role = "Role"
case_type = "Case Type"
event_date = "Referral Date"
incident_start = "Abuse Started"
last_occurrence = "Last Occurred"
date_format = "%d/%m/%Y"

[identity]
forename = "Forename"
surname = "Surname"
date_of_birth = "DOB"
date_of_birth_format = "%Y-%m-%d"
sex = "Sex"
postcode = "Postcode"
nhs_number = "NHS No"
alternative_surnames = ["Previous Surname", "Alias"]
address = "Street"
house = "House"
ids = { upn = "UPN", pnc = "PNC ID" }

[roles]
Victim = "known_victim"
"Possible victim" = "suspected_victim"
Suspect = "perpetrator"
HSB = "hsb"

[case_types]
"Sexual abuse" = "CSA"
Exploitation = "CSE"
"Harmful sexual behaviour" = "HSB"

[fields."victim.sex"]
column = "Gender"
labels = { G = "Female", B = "Male", U = "Not known" }

[fields."context.abuse_types"]
column = "Abuse"
separator = "|"
labels = { Rape = "Rape/any form of penetration", Grooming = "Grooming with intention to abuse", Other = "Something else", "?" = "Not known" }
"#;

/// A real mapping's text: [`MAPPING_HEAD`] and every other template item
/// under a column named by its item number.
fn mapping_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = MAPPING_HEAD.to_owned();
        for field in Template::standard().fields() {
            if !MAPPING_HEAD.contains(&format!("[fields.\"{}\"]", field.id)) {
                text.push_str(&format!("\n[fields.\"{}\"]\ncolumn = \"{} {}\"\n", field.id, field.item, field.id));
            }
        }
        text
    })
}

fn mapping() -> &'static Mapping {
    static MAPPING: OnceLock<Mapping> = OnceLock::new();
    MAPPING.get_or_init(|| Mapping::parse(mapping_text()).unwrap_or_else(|error| panic!("the fuzz mapping: {error}")))
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::derive(&SchemeSecret::new(1, [7u8; 32]), "CSC-NORTH"))
}

/// Every column the mapping names.
fn column_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let m = mapping();
        let c = &m.columns;
        let i = &m.identity;
        let mut names = vec![c.record_ref.clone(), c.person_ref.clone()];
        names.extend([&c.role, &c.case_type].into_iter().flatten().cloned());
        names.push(c.event_date.clone());
        names.extend([&c.incident_start, &c.last_occurrence].into_iter().flatten().cloned());
        names.extend([&i.forename, &i.surname, &i.date_of_birth, &i.sex, &i.postcode, &i.nhs_number, &i.address, &i.house].into_iter().flatten().cloned());
        names.extend(i.alternative_surnames.iter().cloned());
        names.extend(i.ids.values().cloned());
        names.extend(m.fields.values().map(|field| field.column.clone()));
        names
    })
}

/// Values a column of a real extract might hold: ones that should be read
/// without complaint, and the near misses a real extract has (impossible
/// dates, out-of-range numbers, unknown labels, repeated categories).
#[derive(Default)]
struct Pool {
    good: Vec<String>,
    bad: Vec<String>,
}

/// The pool of each column the mapping names, by column name.
fn column_values() -> &'static HashMap<String, Pool> {
    static VALUES: OnceLock<HashMap<String, Pool>> = OnceLock::new();
    VALUES.get_or_init(|| {
        let m = mapping();
        let owned = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
        let pool = |good: &[&str], bad: &[&str]| Pool { good: owned(good), bad: owned(bad) };
        let dates = pool(
            &["01/03/2020", "1/3/2020", "28/02/2019", "29/02/2020", "31/12/1999", ""],
            &["31/02/2010", "29/02/2021", "00/00/0000", "01/13/2020", "2020-03-01", "1/1/1", "99/99/99999999999"],
        );
        let names = [
            "Amelia",
            "Hargreaves",
            "O'Brien-Smith",
            "Mr John Smith",
            "Zoë",
            "Smith; Jones",
            "Jo",
            "-",
            "Ö'-",
            "",
            "ß",
            "Dəniz",
            "Сидоров",
            "Smithя",
            "Χρήστος",
            "李小龙",
            "Ŋgozi",
        ];
        let c = &m.columns;
        let i = &m.identity;
        let mut values = HashMap::new();
        values.insert(c.record_ref.clone(), pool(&["C1", "C2", "C3", "c1", " C1 "], &[""]));
        values.insert(c.person_ref.clone(), pool(&["P1", "P2", "P3", "P1 "], &[""]));
        let mut roles = pool(&["VICTIM", "  possible   victim "], &["Witness", ""]);
        roles.good.extend(m.roles.keys().cloned());
        values.insert(c.role.clone().expect("a case mapping has a role column"), roles);
        let mut case_types = pool(&["sexual  ABUSE"], &["Neglect", ""]);
        case_types.good.extend(m.case_types.keys().cloned());
        values.insert(c.case_type.clone().expect("a case mapping has a case-type column"), case_types);
        for column in [Some(&c.event_date), c.incident_start.as_ref(), c.last_occurrence.as_ref()].into_iter().flatten() {
            values.insert(column.clone(), Pool { good: dates.good.clone(), bad: dates.bad.clone() });
        }
        // Identity never rejects a row: every value is a good one.
        let identity: [(&Option<String>, &[&str]); 8] = [
            (&i.forename, &names),
            (&i.surname, &names),
            (&i.date_of_birth, &["2010-02-28", "2010-02-31", "2010-13-01", "0000-00-00", "28/02/2010", "2010", "1899-01-01", "2999-12-31", ""]),
            (&i.sex, &["M", "F", "Male", "female", "X", "U", ""]),
            (&i.postcode, &["LS6 2QB", "ls62qb", "SW1A 1AA", "LS6", "ZZ99 9ZZ", ""]),
            (&i.nhs_number, &["943 476 5919", "9434765919", "9434765918", "0000000000", "94347659", ""]),
            (&i.address, &["12 High Street", "Flat 3, 4 Mill Lane", "High St.", ""]),
            (&i.house, &["12", "Rose Cottage", "3a", ""]),
        ];
        for (column, good) in identity {
            if let Some(column) = column {
                values.insert(column.clone(), pool(good, &[]));
            }
        }
        for column in i.alternative_surnames.iter().chain(i.ids.values()) {
            values.insert(column.clone(), pool(&[&names[..], &["A123456789012", "12/345678A", "x;y;;z"]].concat(), &[]));
        }
        let template = Template::standard();
        for (id, column) in &m.fields {
            let Ok(field) = template.field(id) else { continue };
            let mut pool = pool(&["Not known", "NOT  known"], &["Unknown label"]);
            pool.good.extend(column.labels.keys().cloned());
            pool.good.extend(field.categories.iter().map(|c| c.label.clone()));
            for category in field.categories.iter().filter(|c| c.write_in) {
                let short = category.label.trim_end_matches("(write in)").trim().to_owned();
                pool.good.extend([format!("{short}: detail"), format!("{short}:")]);
                pool.bad.push(format!("{}: {}", category.label, "w".repeat(201)));
            }
            if let Some((low, high)) = field.range {
                pool.good.extend([low, (low + high) / 2, high].map(|n| n.to_string()));
                pool.bad.extend([low - 1, high + 1, i64::MAX].map(|n| n.to_string()));
                pool.bad.extend(owned(&["99999999999999999999999", "1e3", "five"]));
            }
            if field.kind == FieldKind::Multi {
                let separator = column.separator.to_string();
                let labels: Vec<&str> = field.categories.iter().map(|c| c.label.as_str()).collect();
                pool.good.push(labels[..2].join(&separator));
                pool.good.push(format!("{}{separator}{}", labels[0], labels[0]));
                pool.good.push(format!("{}{separator}Not known", labels[0]));
                pool.good.push(separator.repeat(3));
                pool.bad.push(labels.join(&separator));
            }
            if field.kind == FieldKind::Text {
                pool.good.extend(["England".to_owned(), "x".repeat(2000)]);
                pool.bad.push("x".repeat(2001));
            }
            // Most template items are unanswered in a real extract.
            pool.good.extend(std::iter::repeat_n(String::new(), pool.good.len() * 2));
            values.insert(column.column.clone(), pool);
        }
        values
    })
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Text for any cell: random, awkward or long.
fn hostile_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(String::new()),
        1 => "[ \t]{1,4}",
        3 => "\\PC{0,40}",
        2 => "[\",;|:\\r\\n a-z]{0,12}",
        1 => any::<String>(),
        // Long, but about the template's text limit.
        1 => (1990usize..2010).prop_map(|n| "x".repeat(n)),
        1 => (0usize..64).prop_map(|n| "é".repeat(n * 8)),
    ]
}

/// Strategies for every cell, built once: building one (its regular
/// expressions above all) costs far more than drawing from it.
#[derive(Clone)]
struct Cells {
    /// Good and near-miss values by column name.
    pools: HashMap<String, (BoxedStrategy<String>, Option<BoxedStrategy<String>>)>,
    hostile: BoxedStrategy<String>,
}

impl Cells {
    fn new() -> Cells {
        let pick = |values: &[String]| {
            let values = values.to_vec();
            (0..values.len()).prop_map(move |index| values[index].clone()).boxed()
        };
        let pools = column_values().iter().map(|(name, pool)| (name.clone(), (pick(&pool.good), (!pool.bad.is_empty()).then(|| pick(&pool.bad))))).collect();
        Cells { pools, hostile: hostile_cell().boxed() }
    }

    /// A cell of the column `name`: with `hostility` in 1000, a near miss
    /// from the column's pool, and as often a hostile cell; otherwise a good
    /// value.
    fn cell(&self, name: &str, hostility: u32) -> BoxedStrategy<String> {
        let Some((good, bad)) = self.pools.get(name.trim()) else {
            return self.hostile.clone();
        };
        let mut choices = Vec::new();
        if hostility < 1000 {
            choices.push((1000 - hostility, good.clone()));
        }
        if hostility > 0 {
            choices.extend(bad.iter().map(|bad| (hostility, bad.clone())));
            choices.push((hostility, self.hostile.clone()));
        }
        proptest::strategy::Union::new_weighted(choices).boxed()
    }
}

/// A runaway cell of about 1 MB, of one of a few shapes.
fn huge_cell(kind: u8) -> String {
    match kind % 5 {
        0 => "A".repeat(HUGE),
        1 => format!("Other (write in): {}", "w".repeat(HUGE)),
        2 => "Victim ".repeat(HUGE / 7),
        3 => "01/03/2020;".repeat(HUGE / 11),
        _ => format!("\"{}", "q\"\",\n".repeat(HUGE / 5)),
    }
}

/// Names for the header: real columns, padded or cased, strangers, empty.
fn header_name() -> impl Strategy<Value = String> {
    let real = column_names().len();
    prop_oneof![
        12 => (0..real).prop_map(|index| column_names()[index].clone()),
        2 => (0..real).prop_map(|index| format!(" {} ", column_names()[index])),
        1 => (0..real).prop_map(|index| column_names()[index].to_uppercase()),
        2 => "\\PC{0,12}",
        1 => Just(String::new()),
    ]
}

/// How a structured extract is laid out as bytes.
#[derive(Debug, Clone)]
enum Layout {
    /// Quoted by a CSV writer where needed.
    Quoted,
    /// Cells joined with commas as they are: stray quotes, commas and line
    /// breaks break the structure.
    Raw,
}

/// A structured but hostile extract.
#[derive(Clone)]
struct Extract {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    layout: Layout,
    /// (line, cell, shape): cells (the header's too) replaced by a huge one.
    huge: Vec<(prop::sample::Index, prop::sample::Index, u8)>,
    /// (position, byte) pairs written over the laid-out bytes.
    damage: Vec<(usize, u8)>,
    line_end: &'static str,
}

impl std::fmt::Debug for Extract {
    // Huge cells would flood the failure report: show their length instead.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |cells: &[String]| -> Vec<String> {
            cells.iter().map(|cell| if cell.len() > 200 { format!("<{} bytes>", cell.len()) } else { cell.clone() }).collect()
        };
        f.debug_struct("Extract")
            .field("header", &short(&self.header))
            .field("rows", &self.rows.iter().map(|row| short(row)).collect::<Vec<_>>())
            .field("layout", &self.layout)
            .field("huge", &self.huge)
            .field("damage", &self.damage)
            .field("line_end", &self.line_end)
            .finish()
    }
}

impl Extract {
    fn bytes(&self) -> Vec<u8> {
        let mut lines: Vec<Vec<String>> = std::iter::once(&self.header).chain(&self.rows).cloned().collect();
        for (line, cell, kind) in &self.huge {
            let count = lines.len();
            let line = &mut lines[line.index(count)];
            if !line.is_empty() {
                let cell = cell.index(line.len());
                line[cell] = huge_cell(*kind);
            }
        }
        let mut bytes = Vec::new();
        for row in &lines {
            match self.layout {
                Layout::Quoted => {
                    let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
                    writer.write_record(row).unwrap_or_else(|error| panic!("write a test row: {error}"));
                    let written = writer.into_inner().unwrap_or_else(|error| panic!("flush a test row: {error}"));
                    bytes.extend_from_slice(written.strip_suffix(b"\n").unwrap_or(&written));
                }
                Layout::Raw => bytes.extend_from_slice(row.join(",").as_bytes()),
            }
            bytes.extend_from_slice(self.line_end.as_bytes());
        }
        if !bytes.is_empty() {
            for &(position, byte) in &self.damage {
                let len = bytes.len();
                bytes[position % len] = byte;
            }
        }
        bytes
    }
}

fn extract() -> impl Strategy<Value = Extract> {
    let header = prop_oneof![
        // The real header, in order.
        4 => Just(column_names().to_vec()),
        // The real header with extra or missing columns.
        1 => (proptest::collection::vec(header_name(), 0..3), proptest::collection::vec(any::<prop::sample::Index>(), 0..2))
            .prop_map(|(extra, drop)| {
                let mut header: Vec<String> = column_names().to_vec();
                for index in drop {
                    header.remove(index.index(header.len()));
                }
                header.extend(extra);
                header
            }),
        // The real header shuffled.
        2 => Just(column_names().to_vec()).prop_shuffle(),
        // Any names at all, repeats included.
        1 => proptest::collection::vec(header_name(), 0..60),
    ];
    let hostility = prop_oneof![Just(0u32), Just(2), Just(10), Just(50), Just(300), Just(1000)];
    let cells = Cells::new();
    (header, 0usize..8, hostility, prop_oneof![4 => Just(Layout::Quoted), 1 => Just(Layout::Raw)])
        .prop_flat_map(move |(header, rows, hostility, layout)| {
            let width = header.len();
            let row = prop_oneof![
                10 => header.iter().map(|name| cells.cell(name, hostility)).collect::<Vec<_>>(),
                1 => proptest::collection::vec(cells.hostile.clone(), 0..(width + 3)),
                1 => proptest::collection::vec(cells.hostile.clone(), 0..200),
            ];
            let damage = prop_oneof![
                6 => Just(Vec::new()),
                1 => proptest::collection::vec((any::<usize>(), prop_oneof![Just(0xFFu8), Just(0xC3), Just(0x80), Just(b'"'), Just(b'\n'), Just(0), any::<u8>()]), 1..4),
            ];
            let huge = prop_oneof![
                6 => Just(Vec::new()),
                1 => proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()), 1..3),
            ];
            let line_end = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
            (Just(header), proptest::collection::vec(row, rows..=rows), Just(layout), huge, damage, line_end)
        })
        .prop_map(|(header, rows, layout, huge, damage, line_end)| Extract { header, rows, layout, huge, damage, line_end })
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Reads `bytes` as an extract and checks that whatever comes back is sound:
/// no panic, and messages short whatever the cells hold.
fn check_extract(bytes: &[u8]) -> Result<(), TestCaseError> {
    match no_panic("pseudonymise_extract", || pseudonymise_extract(bytes, mapping(), keys(), |_| {}))? {
        Err(error) => {
            let message = error.to_string();
            prop_assert!(
                message.chars().count() <= MAX_ERROR_CHARS,
                "an error of {} characters: {}…",
                message.chars().count(),
                message.chars().take(200).collect::<String>()
            );
        }
        Ok(output) => check_output(&output)?,
    }
    Ok(())
}

fn check_output(output: &ExtractOutput) -> Result<(), TestCaseError> {
    for issue in output.rejected.iter().chain(&output.warnings) {
        prop_assert!(issue.field.chars().count() <= MAX_FIELD_CHARS, "a row issue's field of {} characters", issue.field.len());
        prop_assert!(
            issue.reason.chars().count() <= MAX_ERROR_CHARS,
            "a row issue's reason of {} characters: {}…",
            issue.reason.chars().count(),
            issue.reason.chars().take(200).collect::<String>()
        );
    }
    prop_assert_eq!(output.reid.len() as u64, output.involvements);
    let kept: usize = output.records.iter().map(|record| record.involvements.len()).sum();
    prop_assert_eq!(kept as u64, output.involvements);
    prop_assert!(output.involvements + output.rejected.len() as u64 <= output.rows_read);
    Ok(())
}

// ---------------------------------------------------------------------------
// The extract reader
// ---------------------------------------------------------------------------

#[test]
fn the_fuzz_mapping_reads_a_good_extract() {
    let header = column_names().join(",");
    let mut row: Vec<&str> = vec![""; column_names().len()];
    row[..5].copy_from_slice(&["C1", "P1", "Victim", "Sexual abuse", "01/03/2020"]);
    let bytes = format!("{header}\n{}\n", row.join(","));
    let output = pseudonymise_extract(bytes.as_bytes(), mapping(), keys(), |_| {}).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!((output.records.len(), output.rejected.len()), (1, 0), "{:?}", output.rejected);
}

#[test]
fn fuzz_extract_arbitrary_bytes() {
    fuzz(256, proptest::collection::vec(any::<u8>(), 0..4096), |bytes| check_extract(&bytes));
}

#[test]
fn fuzz_extract_arbitrary_bytes_after_a_valid_header() {
    let header = format!("{}\n", column_names().join(","));
    fuzz(256, proptest::collection::vec(any::<u8>(), 0..4096), move |bytes| check_extract(&[header.as_bytes(), &bytes].concat()));
}

#[test]
fn fuzz_extract_hostile_csv() {
    fuzz(192, extract(), |extract| check_extract(&extract.bytes()));
}

/// A 1 MB cell in every column in turn, and a 1 MB header name: messages
/// stay short.
#[test]
fn a_huge_cell_anywhere_gives_short_messages() {
    let names = column_names();
    let good: Vec<String> = {
        let mut row = vec![String::new(); names.len()];
        for (index, value) in ["C1", "P1", "Victim", "Sexual abuse", "01/03/2020"].into_iter().enumerate() {
            row[index] = value.to_owned();
        }
        row
    };
    // Every case and identity column, and one template column of each kind
    // and each with labels (the hostile-CSV target reaches the others).
    let template = Template::standard();
    let mut kinds_seen = Vec::new();
    let columns = (0..names.len()).filter(|&column| {
        let Some((id, field)) = mapping().fields.iter().find(|(_, field)| field.column == names[column]) else {
            return true;
        };
        let kind = template.field(id).map(|field| field.kind).ok();
        let first_of_kind = !kinds_seen.contains(&kind);
        kinds_seen.push(kind);
        first_of_kind || !field.labels.is_empty()
    });
    for column in columns {
        let mut row = good.clone();
        row[column] = huge_cell(column as u8);
        let extract = Extract { header: names.to_vec(), rows: vec![row], layout: Layout::Quoted, huge: Vec::new(), damage: Vec::new(), line_end: "\n" };
        check_extract(&extract.bytes()).unwrap_or_else(|error| panic!("column {}: {error}", names[column]));
    }
    let mut header = names.to_vec();
    header[0] = "H".repeat(HUGE);
    let extract = Extract { header, rows: vec![good], layout: Layout::Quoted, huge: Vec::new(), damage: Vec::new(), line_end: "\n" };
    check_extract(&extract.bytes()).unwrap_or_else(|error| panic!("a huge header name: {error}"));
}

// ---------------------------------------------------------------------------
// Identity: what the reader does with every row's identity cells
// ---------------------------------------------------------------------------

/// A name as an extract might hold it: Latin letters mixed with letters
/// that fold to no ASCII letter, punctuation, titles, or any text at all.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z][a-z]{0,8}",
        4 => "[A-Za-zəŋħıłøßéüñçΩωяжд日'’\\- .]{1,16}",
        1 => "(Mr|Mrs|Dr|Miss) [A-Z][a-z]{1,8}",
        2 => "\\PC{0,20}",
        1 => any::<String>(),
    ]
}

fn identity() -> impl Strategy<Value = Identity> {
    let text = || proptest::option::of(name());
    let date = proptest::option::of((1880i32..2100, 1u32..=12, 1u32..=28).prop_filter_map("a real date", |(y, m, d)| Date::new(y, m, d)));
    ((text(), text(), date, text(), text(), text()), (proptest::collection::vec(name(), 0..3), text(), proptest::collection::vec((name(), name()), 0..3)))
        .prop_map(|((forename, surname, date_of_birth, sex, postcode, nhs_number), (other_surnames, address, ids))| Identity {
            forename,
            surname,
            date_of_birth,
            date_of_birth_parts: None,
            sex,
            postcode,
            nhs_number,
            other_surnames,
            address,
            ids,
        })
}

/// Normalises and pseudonymises `identity`: never a panic.
fn check_identity(identity: &Identity) -> Result<(), TestCaseError> {
    let (normalised, _warnings) = no_panic("normalise", || normalise(identity))?;
    no_panic("pseudonymise", || pseudonymise(keys(), &normalised))?;
    Ok(())
}

#[test]
fn fuzz_identity() {
    fuzz(512, identity(), |identity| check_identity(&identity));
}

/// Found by `fuzz_extract_hostile_csv`: a surname whose folded form keeps a
/// letter with no ASCII form next to a consonant (`dəniz`, Azerbaijani
/// "Deniz") made the Double Metaphone encoder slice a string inside a
/// character, and the whole extract panicked.
#[test]
fn regression_a_name_with_a_letter_that_does_not_fold_to_ascii() {
    for name in ["Dəniz", "Cя", "Smithя", "Ωh", "c日"] {
        let identity = Identity { forename: Some(name.to_owned()), surname: Some(name.to_owned()), ..Identity::default() };
        check_identity(&identity).unwrap_or_else(|error| panic!("{name}: {error}"));
    }
    let header = column_names().join(",");
    let mut row: Vec<&str> = vec![""; column_names().len()];
    row[..7].copy_from_slice(&["C1", "P1", "Victim", "Sexual abuse", "01/03/2020", "", ""]);
    let forename = column_names().iter().position(|name| name == "Forename").unwrap_or_else(|| unreachable!());
    let surname = column_names().iter().position(|name| name == "Surname").unwrap_or_else(|| unreachable!());
    row[forename] = "Amelia";
    row[surname] = "Dəniz";
    let bytes = format!("{header}\n{}\n", row.join(","));
    check_extract(bytes.as_bytes()).unwrap_or_else(|error| panic!("{error}"));
}

// ---------------------------------------------------------------------------
// The mapping loader
// ---------------------------------------------------------------------------

/// A small extract in the fuzz mapping's shape: rows of good values.
fn sample_extract() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let names = column_names();
        let rows: Vec<Vec<String>> = (0..4)
            .map(|row| {
                names
                    .iter()
                    .enumerate()
                    .map(|(column, name)| {
                        let good = &column_values()[name].good;
                        good[(row * 7 + column) % good.len()].clone()
                    })
                    .collect()
            })
            .collect();
        Extract { header: names.to_vec(), rows, layout: Layout::Quoted, huge: Vec::new(), damage: Vec::new(), line_end: "\n" }.bytes()
    })
}

/// Loads `text` as a mapping: never a panic; what loads survives a round
/// trip through its own TOML, and reads an extract without a panic.
fn check_mapping(text: &str) -> Result<(), TestCaseError> {
    let parsed = no_panic("Mapping::parse", || Mapping::parse(text))?;
    if let Ok(mapping) = parsed {
        let again = no_panic("Mapping::parse of a loaded mapping's own TOML", || Mapping::parse(&mapping.to_toml()))?;
        prop_assert!(again.is_ok(), "a loaded mapping's own TOML is refused: {:?}", again.err());
        // Ok, or Err for a column the extract lacks: both are fine here.
        let _read = no_panic("pseudonymise_extract with a loaded mapping", || pseudonymise_extract(sample_extract(), &mapping, keys(), |_| {}))?;
    }
    Ok(())
}

/// One edit to a mapping's text, line by line.
#[derive(Debug, Clone)]
enum Edit {
    DropLine(prop::sample::Index),
    RepeatLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    /// Replaces what follows `=` on a line.
    ReplaceValue(prop::sample::Index, String),
    InsertLine(prop::sample::Index, String),
    FlipByte(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let value = prop_oneof![
        Just("\"\"".to_owned()),
        Just("\"known_victim\"".to_owned()),
        Just("\"Not known\"".to_owned()),
        Just("\"%d/%m/%Y\"".to_owned()),
        Just("\"%Q\"".to_owned()),
        Just("\"%\"".to_owned()),
        Just("\"%d%d%d%d%m%Y%y%b%B\"".to_owned()),
        Just("\"police\"".to_owned()),
        Just("\"victim.unknown\"".to_owned()),
        Just("\";;\"".to_owned()),
        Just("\"ab\"".to_owned()),
        Just("[\"a\", 1]".to_owned()),
        Just("{ a = \"b\" }".to_owned()),
        Just("{ a = \"b\", c = \"d\", e = \"f\", g = \"h\", i = \"j\" }".to_owned()),
        Just("{ \" \" = \"x\" }".to_owned()),
        Just("1".to_owned()),
        Just("true".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        "\"\\PC{0,20}\"",
        "\\PC{0,20}",
    ];
    let line = prop_oneof![
        Just("[fields.\"victim.status\"]".to_owned()),
        Just("[fields.\"no.such\"]".to_owned()),
        Just("[identity.ids]".to_owned()),
        Just("[roles]".to_owned()),
        Just("[[field]]".to_owned()),
        Just("separator = \"\"".to_owned()),
        Just("unknown_key = 1".to_owned()),
        "[a-z_.\"]{1,12} = \"\\PC{0,12}\"",
        "\\PC{0,30}",
    ];
    prop_oneof![
        1 => any::<prop::sample::Index>().prop_map(Edit::DropLine),
        1 => any::<prop::sample::Index>().prop_map(Edit::RepeatLine),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        3 => (any::<prop::sample::Index>(), value).prop_map(|(at, value)| Edit::ReplaceValue(at, value)),
        2 => (any::<prop::sample::Index>(), line).prop_map(|(at, line)| Edit::InsertLine(at, line)),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, byte)| Edit::FlipByte(at, byte)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for edit in edits {
        if lines.is_empty() {
            lines.push(String::new());
        }
        match edit {
            Edit::DropLine(at) => {
                lines.remove(at.index(lines.len()));
            }
            Edit::RepeatLine(at) => {
                let line = lines[at.index(lines.len())].clone();
                lines.insert(at.index(lines.len()), line);
            }
            Edit::SwapLines(a, b) => {
                let (a, b) = (a.index(lines.len()), b.index(lines.len()));
                lines.swap(a, b);
            }
            Edit::ReplaceValue(at, value) => {
                let count = lines.len();
                let line = &mut lines[at.index(count)];
                if let Some((key, _)) = line.split_once('=') {
                    *line = format!("{key}= {value}");
                }
            }
            Edit::InsertLine(at, line) => lines.insert(at.index(lines.len() + 1), line.clone()),
            Edit::FlipByte(at, byte) => {
                let mut bytes = lines.join("\n").into_bytes();
                let index = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
                if let Some(slot) = bytes.get_mut(index) {
                    *slot = *byte;
                }
                // The loader takes text: invalid UTF-8 is the caller's to refuse.
                lines = String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect();
            }
            Edit::Truncate(at) => {
                let text = lines.join("\n");
                let cut = at.index(text.len() + 1);
                let cut = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                lines = text[..cut].lines().map(str::to_owned).collect();
            }
        }
    }
    lines.join("\n")
}

#[test]
fn the_fuzz_mapping_loads_and_survives_a_round_trip() {
    check_mapping(mapping_text()).unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn fuzz_mapping_arbitrary_text() {
    fuzz(512, prop_oneof![any::<String>(), "[\\[\\]a-z_.=\"{},\n 0-9%]{0,200}"], |text| check_mapping(&text));
}

#[test]
fn fuzz_mapping_mutated() {
    fuzz(384, proptest::collection::vec(edit(), 1..4), |edits| check_mapping(&apply(mapping_text(), &edits)));
}

/// One edit to a mapping's TOML tree, which stays well-formed TOML: what
/// it exercises is the loader's checks of the mapping's shape and content.
#[derive(Debug, Clone)]
enum TreeEdit {
    /// Replaces a node (a table, an array or a value).
    Replace(prop::sample::Index, toml::Value),
    /// Removes a node.
    Remove(prop::sample::Index),
    /// Adds a key to a table.
    Insert(prop::sample::Index, String, toml::Value),
}

/// A path to a node of a TOML tree.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Position(usize),
}

/// Every node's path, the root's (empty) first.
fn nodes(value: &toml::Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(path.clone());
    match value {
        toml::Value::Table(table) => {
            for (key, child) in table {
                path.push(Step::Key(key.clone()));
                nodes(child, path, out);
                path.pop();
            }
        }
        toml::Value::Array(array) => {
            for (position, child) in array.iter().enumerate() {
                path.push(Step::Position(position));
                nodes(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(value: &'a toml::Value, path: &[Step]) -> Option<&'a toml::Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(key) => node.as_table()?.get(key),
        Step::Position(position) => node.as_array()?.get(*position),
    })
}

fn node_mut<'a>(value: &'a mut toml::Value, path: &[Step]) -> Option<&'a mut toml::Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(key) => node.as_table_mut()?.get_mut(key),
        Step::Position(position) => node.as_array_mut()?.get_mut(*position),
    })
}

fn apply_tree(edits: &[TreeEdit]) -> String {
    let mut tree: toml::Value = toml::from_str(mapping_text()).unwrap_or_else(|error| panic!("the fuzz mapping as TOML: {error}"));
    for edit in edits {
        let mut all = Vec::new();
        nodes(&tree, &mut Vec::new(), &mut all);
        match edit {
            TreeEdit::Replace(at, value) => {
                let path = &all[at.index(all.len())];
                if let Some(node) = node_mut(&mut tree, path).filter(|_| !path.is_empty()) {
                    *node = value.clone();
                }
            }
            TreeEdit::Remove(at) => {
                let path = &all[at.index(all.len())];
                if let Some((last, parent)) = path.split_last() {
                    match (node_mut(&mut tree, parent), last) {
                        (Some(toml::Value::Table(table)), Step::Key(key)) => {
                            table.remove(key);
                        }
                        (Some(toml::Value::Array(array)), Step::Position(position)) => {
                            array.remove(*position);
                        }
                        _ => {}
                    }
                }
            }
            TreeEdit::Insert(at, key, value) => {
                let tables: Vec<&Vec<Step>> = all.iter().filter(|path| node(&tree, path).is_some_and(toml::Value::is_table)).collect();
                let path = tables[at.index(tables.len())].clone();
                if let Some(toml::Value::Table(table)) = node_mut(&mut tree, &path) {
                    table.insert(key.clone(), value.clone());
                }
            }
        }
    }
    toml::to_string(&tree).unwrap_or_default()
}

/// Strings a mapping might hold: its own names and targets, and odd ones.
fn mapping_string() -> impl Strategy<Value = String> {
    let mut known: Vec<String> = [
        "known_victim",
        "suspected_victim",
        "perpetrator",
        "hsb",
        "HSB",
        "cse",
        "CSA",
        "Not known",
        "%d/%m/%Y",
        "%Y-%m-%d",
        "%b %y",
        "%B",
        "%Q",
        "%",
        "%d%d",
        "",
        " ",
        ";",
        "police",
        "yot",
        "children_services",
        "Case ID",
        "Forename",
        "Gender",
        "Other",
        "Other (write in)",
        "Male",
        "record_ref",
        "column",
        "labels",
        "separator",
        "ids",
        "upn",
    ]
    .map(str::to_owned)
    .to_vec();
    known.extend(Template::standard().fields().iter().map(|field| field.id.clone()));
    known.extend(column_names().iter().cloned());
    prop_oneof![
        6 => proptest::sample::select(known),
        2 => "\\PC{0,16}",
        1 => (0usize..3).prop_map(|n| "%d".repeat(n * 40)),
        1 => Just("L".repeat(10_000)),
    ]
}

/// A TOML value: mostly a string, as most of a mapping's values are.
fn toml_value() -> impl Strategy<Value = toml::Value> {
    let leaf = || {
        prop_oneof![
            12 => mapping_string().prop_map(toml::Value::String),
            1 => any::<i64>().prop_map(toml::Value::Integer),
            1 => any::<bool>().prop_map(toml::Value::Boolean),
            1 => any::<f64>().prop_map(toml::Value::Float),
        ]
    };
    let nested = leaf().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            proptest::collection::btree_map(mapping_string(), inner, 0..4).prop_map(|map| toml::Value::Table(map.into_iter().collect())),
        ]
    });
    prop_oneof![6 => leaf(), 1 => nested]
}

fn tree_edit() -> impl Strategy<Value = TreeEdit> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), toml_value()).prop_map(|(at, value)| TreeEdit::Replace(at, value)),
        2 => any::<prop::sample::Index>().prop_map(TreeEdit::Remove),
        1 => (any::<prop::sample::Index>(), mapping_string(), toml_value()).prop_map(|(at, key, value)| TreeEdit::Insert(at, key, value)),
    ]
}

#[test]
fn fuzz_mapping_tree_edits() {
    fuzz(384, proptest::collection::vec(tree_edit(), 1..4), |edits| check_mapping(&apply_tree(&edits)));
}
