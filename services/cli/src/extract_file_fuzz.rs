//! Fuzz tests, on the stable toolchain, of the `.bpx` reader
//! ([`super::read`]): a valid file written by [`super::write`] is mutated
//! (bytes flipped or overwritten, truncated, extended, ranges deleted,
//! duplicated or moved, random bytes inserted) and read back. The reader
//! must never panic, and must never return `Ok` for a file whose bytes differ
//! from the valid one unless the records it reads are the original's (the
//! digest covers the records as decoded, so a change that decodes to the
//! same records, such as an unknown field, is not damage). Random records
//! also round-trip through `write` and `read` exactly.
//!
//! `cargo test -p braid-cli --bin braid fuzz` runs a few hundred cases per
//! target. For a long run set `BRAID_FUZZ_CASES`, e.g.
//! `BRAID_FUZZ_CASES=1000000 cargo test --release -p braid-cli --bin braid fuzz`.

use std::path::{Path, PathBuf};

use braid_fuzz::{fuzz, no_panic};
use braid_proto::v1;
use proptest::prelude::*;

fn date(year: i32, month: i32, day: i32) -> Option<v1::Date> {
    Some(v1::Date { year, month, day })
}

fn category(field_id: &str, code: u32) -> v1::TemplateValue {
    v1::TemplateValue { field_id: field_id.to_owned(), value: Some(v1::template_value::Value::Category(code)), write_in: String::new() }
}

/// A small but complete extract: every kind of field a record carries.
fn original() -> (v1::UploadHeader, Vec<v1::CaseRecord>) {
    let involvement = |n: u8, role: v1::Role| v1::Involvement {
        person_ref: format!("p-{n:02x}{n:02x}"),
        role: role as i32,
        pseudonyms: Some(v1::Pseudonyms {
            match_keys: (1..=3).map(|kind| v1::MatchKey { kind, hash: vec![n ^ kind as u8; 32] }).collect(),
            bloom: vec![n; 128],
            fields: Some(v1::FieldTokens {
                name: u32::from(n) * 7,
                dob: 0xDEAD_BEEF,
                dob_windows: vec![1, 2, 3, 4],
                forename_whole: vec![5, 6],
                forename_parts: (0..8).collect(),
                ids: vec![v1::IdToken { kind: 1, value: 99 }],
                ..Default::default()
            }),
        }),
        fields: vec![
            category("victim.sex", 2),
            v1::TemplateValue { field_id: "victim.age_at_referral".to_owned(), value: Some(v1::template_value::Value::Integer(14)), write_in: String::new() },
        ],
        ..Default::default()
    };
    let records: Vec<v1::CaseRecord> = (0..4u8)
        .map(|n| v1::CaseRecord {
            record_ref: format!("r-{n:02x}ab"),
            case_type: v1::CaseType::Cse as i32,
            referral_date: date(2020, 3, 1 + i32::from(n)),
            incident_start: date(2019, 1, 1),
            last_occurrence: None,
            fields: vec![
                v1::TemplateValue {
                    field_id: "context.abuse_types".to_owned(),
                    value: Some(v1::template_value::Value::Categories(v1::CategoryCodes { codes: vec![1, 9] })),
                    write_in: "detail".to_owned(),
                },
                v1::TemplateValue {
                    field_id: "victim.country_of_birth".to_owned(),
                    value: Some(v1::template_value::Value::Text("England".to_owned())),
                    write_in: String::new(),
                },
                v1::TemplateValue {
                    field_id: "case.concern_status".to_owned(),
                    value: Some(v1::template_value::Value::NotKnown(true)),
                    write_in: String::new(),
                },
            ],
            involvements: vec![involvement(n, v1::Role::KnownVictim), involvement(n + 100, v1::Role::Perpetrator)],
            source_row: u32::from(n) + 2,
            previous_ref: String::new(),
            outcome: 0,
        })
        .collect();
    let header = v1::UploadHeader {
        agency: "CSC-NORTH".to_owned(),
        agency_type: "children_services".to_owned(),
        epoch_fingerprint: "e-0123456789ab".to_owned(),
        submission_id: super::submission_id(&super::records_digest(&records)),
        bridge_epoch_fingerprint: String::new(),
        items_held: None,
    };
    (header, records)
}

/// A scratch directory for the test's files, removed when dropped.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().unwrap_or_else(|error| panic!("a temporary directory: {error}")) }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Reads `bytes` as a `.bpx` file, catching a panic.
    fn read(&self, bytes: &[u8]) -> Result<anyhow::Result<(v1::UploadHeader, Vec<v1::CaseRecord>)>, TestCaseError> {
        let path = self.path("fuzz.bpx");
        std::fs::write(&path, bytes).unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
        no_panic("read", || super::read(&path))
    }
}

/// The valid file's bytes, as `write` writes them.
fn valid_bytes(scratch: &Scratch, header: &v1::UploadHeader, records: &[v1::CaseRecord]) -> Vec<u8> {
    let path = scratch.path("valid.bpx");
    super::write(&path, header, records).unwrap_or_else(|error| panic!("write the valid file: {error:#}"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("read the valid file back: {error}"))
}

/// One change to a file's bytes. Positions are taken modulo the length.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(usize, u8),
    /// Overwrite one byte.
    Set(usize, u8),
    /// Keep only a prefix.
    Truncate(usize),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Remove a range.
    Delete(usize, usize),
    /// Copy a range of the file to another position (a repeated or moved
    /// record, a second header...).
    Splice { from: usize, len: usize, to: usize },
    /// Swap two ranges of equal length.
    Swap { a: usize, b: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![any::<u8>(), Just(0u8), Just(0xFF), Just(0x80), Just(0x7F), Just(0x0A), Just(0x12)];
    let bytes = proptest::collection::vec(byte.clone(), 1..48);
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        2 => (any::<usize>(), byte).prop_map(|(at, value)| Mutation::Set(at, value)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => bytes.clone().prop_map(Mutation::Extend),
        1 => (any::<usize>(), bytes).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete(at, len)),
        1 => (any::<usize>(), 1usize..400, any::<usize>()).prop_map(|(from, len, to)| Mutation::Splice { from, len, to }),
        1 => (any::<usize>(), any::<usize>(), 1usize..32).prop_map(|(a, b, len)| Mutation::Swap { a, b, len }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    let at = |position: usize| if len == 0 { 0 } else { position % len };
    match mutation {
        Mutation::Flip(position, mask) if len > 0 => bytes[at(*position)] ^= mask,
        Mutation::Set(position, value) if len > 0 => bytes[at(*position)] = *value,
        Mutation::Truncate(position) => bytes.truncate(position % (len + 1)),
        Mutation::Extend(extra) => bytes.extend_from_slice(extra),
        Mutation::Insert(position, extra) => {
            let position = position % (len + 1);
            bytes.splice(position..position, extra.iter().copied());
        }
        Mutation::Delete(position, count) => {
            let start = at(*position);
            bytes.drain(start..(start + count).min(len));
        }
        Mutation::Splice { from, len: count, to } if len > 0 => {
            let start = at(*from);
            let piece = bytes[start..(start + count).min(len)].to_vec();
            let to = to % (len + 1);
            bytes.splice(to..to, piece);
        }
        Mutation::Swap { a, b, len: count } if len >= 2 * count => {
            let (a, b) = (a % (len - count + 1), b % (len - count + 1));
            if a + count <= b || b + count <= a {
                for offset in 0..*count {
                    bytes.swap(a + offset, b + offset);
                }
            }
        }
        _ => {}
    }
}

/// Reads `bytes` as a `.bpx` file and checks the reader's verdict against
/// the valid file's: whatever it accepts is the original header and records.
fn check_mutated(scratch: &Scratch, bytes: &[u8], valid: &[u8], header: &v1::UploadHeader, records: &[v1::CaseRecord]) -> Result<(), TestCaseError> {
    match scratch.read(bytes)? {
        Ok((read_header, read)) => prop_assert!(
            bytes == valid || (read == records && &read_header == header),
            "a changed file ({} bytes, valid {}) was read as a header and {} records that are not the original's",
            bytes.len(),
            valid.len(),
            read.len()
        ),
        Err(error) => {
            prop_assert!(bytes != valid, "the valid file was refused: {error:#}");
            // The reason is what the user reads first, not buried in a cause.
            let said = error.to_string();
            prop_assert!(
                ["is damaged", "is not a pseudonymised extract", "earlier version of braid"].iter().any(|reason| said.contains(reason)),
                "a changed file was refused without saying why: {error:#}"
            );
        }
    }
    Ok(())
}

#[test]
fn the_valid_file_reads_back() {
    let scratch = Scratch::new();
    let (header, records) = original();
    let valid = valid_bytes(&scratch, &header, &records);
    let (read_header, read_records) = super::read(&scratch.path("valid.bpx")).unwrap_or_else(|error| panic!("{error:#}"));
    assert_eq!((read_header, read_records), (header, records));
    assert!(valid.len() > 400, "a file of {} bytes is too small to fuzz usefully", valid.len());
}

#[test]
fn a_submission_id_is_its_records_digest_and_a_tag_of_its_run() {
    let (_, records) = original();
    let digest = super::records_digest(&records);
    let (one, two) = (super::submission_id(&digest), super::submission_id(&digest));
    assert_ne!(one, two, "each run of pseudonymise tags its own submission");
    assert!(super::is_submission_of(&one, &digest) && super::is_submission_of(&two, &digest));
    // Files written before ids carried a run's tag still read.
    assert!(super::is_submission_of(&super::digest_part(&digest), &digest));
    let other = super::records_digest(&records[1..]);
    assert!(!super::is_submission_of(&one, &other), "another content's id");
    for tampered in [format!("{one}0"), one[..one.len() - 1].to_owned(), format!("{}-zzzzzzzz", super::digest_part(&digest))] {
        assert!(!super::is_submission_of(&tampered, &digest), "{tampered}");
    }
}

#[test]
fn fuzz_bpx_mutations() {
    let scratch = Scratch::new();
    let (header, records) = original();
    let valid = valid_bytes(&scratch, &header, &records);
    fuzz(2048, proptest::collection::vec(mutation(), 1..5), |mutations| {
        let mut bytes = valid.clone();
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        check_mutated(&scratch, &bytes, &valid, &header, &records)
    });
}

#[test]
fn fuzz_bpx_arbitrary_bytes() {
    let scratch = Scratch::new();
    let (header, records) = original();
    let valid = valid_bytes(&scratch, &header, &records);
    let magic_then_anything = proptest::collection::vec(any::<u8>(), 0..600).prop_map(|tail| [&super::MAGIC[..], &tail].concat());
    fuzz(1024, prop_oneof![proptest::collection::vec(any::<u8>(), 0..600), magic_then_anything], |bytes| {
        check_mutated(&scratch, &bytes, &valid, &header, &records)
    });
}

/// Arbitrary records, valid for the node or not: the file format must carry
/// whatever it is given.
fn record() -> impl Strategy<Value = v1::CaseRecord> {
    let value = prop_oneof![
        any::<u32>().prop_map(v1::template_value::Value::Category),
        proptest::collection::vec(any::<u32>(), 0..4).prop_map(|codes| v1::template_value::Value::Categories(v1::CategoryCodes { codes })),
        any::<i64>().prop_map(v1::template_value::Value::Integer),
        ".{0,20}".prop_map(v1::template_value::Value::Text),
        any::<bool>().prop_map(v1::template_value::Value::NotKnown),
    ];
    let field = (".{0,24}", proptest::option::of(value), ".{0,8}").prop_map(|(field_id, value, write_in)| v1::TemplateValue { field_id, value, write_in });
    let date = proptest::option::of((any::<i32>(), any::<i32>(), any::<i32>()).prop_map(|(year, month, day)| v1::Date { year, month, day }));
    let involvement = (
        ".{0,16}",
        any::<i32>(),
        proptest::option::of((
            proptest::collection::vec((any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..4),
            proptest::collection::vec(any::<u8>(), 0..130),
        )),
        proptest::collection::vec(field.clone(), 0..3),
    )
        .prop_map(|(person_ref, role, pseudonyms, fields)| v1::Involvement {
            person_ref,
            role,
            pseudonyms: pseudonyms.map(|(keys, bloom)| v1::Pseudonyms {
                match_keys: keys.into_iter().map(|(kind, hash)| v1::MatchKey { kind, hash }).collect(),
                bloom,
                fields: None,
            }),
            fields,
            ..Default::default()
        });
    (
        ".{0,16}",
        any::<i32>(),
        (date.clone(), date.clone(), date),
        proptest::collection::vec(field, 0..4),
        proptest::collection::vec(involvement, 0..3),
        any::<u32>(),
    )
        .prop_map(|(record_ref, case_type, (referral_date, incident_start, last_occurrence), fields, involvements, source_row)| v1::CaseRecord {
            record_ref,
            case_type,
            referral_date,
            incident_start,
            last_occurrence,
            fields,
            involvements,
            source_row,
            ..Default::default()
        })
}

#[test]
fn fuzz_bpx_round_trip() {
    let scratch = Scratch::new();
    let header = (".{0,16}", ".{0,16}", ".{0,16}").prop_map(|(agency, agency_type, epoch_fingerprint)| v1::UploadHeader {
        agency,
        agency_type,
        epoch_fingerprint,
        submission_id: String::new(),
        bridge_epoch_fingerprint: String::new(),
        items_held: None,
    });
    fuzz(256, (header, proptest::collection::vec(record(), 0..6)), |(mut header, records)| {
        header.submission_id = super::submission_id(&super::records_digest(&records));
        let path = scratch.path("round.bpx");
        super::write(&path, &header, &records).map_err(|error| TestCaseError::fail(format!("{error:#}")))?;
        let read = no_panic("read", || super::read(&path))?;
        let read = read.map_err(|error| TestCaseError::fail(format!("a file just written is refused: {error:#}")))?;
        prop_assert_eq!(read, (header, records));
        Ok(())
    });
}

/// A path that does not exist, and a directory, are errors, not panics.
#[test]
fn unreadable_paths_are_errors() {
    let scratch = Scratch::new();
    assert!(super::read(&scratch.path("missing.bpx")).is_err());
    assert!(super::read(Path::new(scratch.dir.path())).is_err());
}

/// Once accepted: a file whose header's agency was damaged (`CSC-)ORTH`)
/// read as valid, since the checksum covered the records only.
#[test]
fn regression_a_damaged_header_is_refused() {
    let scratch = Scratch::new();
    let (header, records) = original();
    let valid = valid_bytes(&scratch, &header, &records);
    let at = valid.windows(header.agency.len()).position(|w| w == header.agency.as_bytes()).expect("the agency is in the header");
    let mut bytes = valid.clone();
    bytes[at + header.agency.len() - 1] ^= 0x01;
    let verdict = scratch.read(&bytes).expect("read");
    assert!(verdict.is_err(), "a damaged header was accepted");
}

#[test]
fn a_run_of_zeros_is_refused_before_anything_is_decoded() {
    // Zero bytes read as empty records: decoded before the checksum was
    // checked, 32 MB of them would have held millions of records.
    let scratch = Scratch::new();
    let (header, records) = original();
    let valid = valid_bytes(&scratch, &header, &records);
    let header_end = super::MAGIC.len() + prost::Message::encode_length_delimited_to_vec(&header).len();
    let mut bytes = valid[..header_end].to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 32 << 20));
    bytes.extend_from_slice(&valid[valid.len() - super::TRAILER.len() - 32..]);
    let error = scratch.read(&bytes).expect("read").expect_err("refused");
    assert!(error.to_string().contains("is damaged"), "{error:#}");
}

#[test]
fn what_is_not_an_ordinary_file_is_refused_by_name() {
    let error = super::read(Path::new("/dev/null")).expect_err("refused");
    assert!(error.to_string().contains("is not an ordinary file"), "{error:#}");
}
