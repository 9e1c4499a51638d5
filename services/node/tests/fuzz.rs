//! Fuzz tests, on the stable toolchain, of the node's request validation
//! ([`validate_record`]): arbitrary case records, from nearly valid to
//! absurd (empty, padded, non-ASCII and 1 MB strings; unknown, repeated and
//! misplaced field ids; enum numbers out of range; category codes past the
//! last category; integers at and past their ranges; impossible dates;
//! repeated fields of any length, a thousand involvements and more). It must
//! never panic, and every refusal's `field` and `reason` stay short: they
//! never echo a long client-supplied string.
//!
//! `cargo test -p braid-node --test fuzz` runs a few hundred cases. For a
//! long run set `BRAID_FUZZ_CASES`, e.g.
//! `BRAID_FUZZ_CASES=1000000 cargo test --release -p braid-node --test fuzz`.

use braid_fuzz::{fuzz, no_panic};
use braid_node::validate::{validate_record, BLOOM_BYTES, DOB_WINDOWS, MATCH_KEY_BYTES, MAX_ID_TOKENS, MAX_INVOLVEMENTS, MAX_MATCH_KEYS, MAX_OTHER_NAMES};
use braid_proto::v1::{self, template_value::Value as WireValue};
use braid_template::{Field, FieldKind, Section, Template, MAX_TEXT_CHARS, MAX_WRITE_IN_CHARS};
use proptest::prelude::*;

/// Longest `field` or `reason` a refusal may carry, in characters.
const MAX_MESSAGE_CHARS: usize = 200;
/// A runaway client string.
const HUGE: usize = 1 << 20;

/// Validates `record`: no panic, and a refusal's message is short.
fn check(record: &v1::CaseRecord) -> Result<(), TestCaseError> {
    let result = no_panic("validate_record", || validate_record(record))?;
    if let Err(invalid) = result {
        for (what, text) in [("field", &invalid.field), ("reason", &invalid.reason)] {
            prop_assert!(
                text.chars().count() <= MAX_MESSAGE_CHARS,
                "a refusal's {} of {} characters: {}…",
                what,
                text.chars().count(),
                text.chars().take(120).collect::<String>()
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Strategies. Each record has a hostility, `bad` in 1000: at every choice
// the generators take an odd value with that chance and a plausible one
// otherwise, so that some records are wholly valid, some have one flaw deep
// inside, and some are nonsense throughout.
// ---------------------------------------------------------------------------

/// `good`, or `bad` in 1000 times `odd`.
fn mix<T: std::fmt::Debug + 'static>(bad: u32, good: impl Strategy<Value = T> + 'static, odd: impl Strategy<Value = T> + 'static) -> BoxedStrategy<T> {
    match bad {
        0 => good.boxed(),
        1000.. => odd.boxed(),
        _ => proptest::strategy::Union::new_weighted(vec![(1000 - bad, good.boxed()), (bad, odd.boxed())]).boxed(),
    }
}

/// A client string for a ref: plausible, or empty, at and past the limit,
/// non-ASCII, or huge.
fn client_ref(bad: u32) -> BoxedStrategy<String> {
    let odd = prop_oneof![
        4 => Just(String::new()),
        4 => "[ \t\n]{1,4}",
        4 => (126usize..131).prop_map(|n| "r".repeat(n)),
        4 => (40usize..70).prop_map(|n| "é".repeat(n)),
        4 => "\\PC{0,40}",
        4 => any::<String>(),
        // Rarely: every huge string costs a megabyte of copying.
        1 => Just("R".repeat(HUGE)),
    ];
    mix(bad, "[a-z]-[0-9a-f]{4,12}", odd)
}

fn enum_number(bad: u32, valid: std::ops::Range<i32>) -> BoxedStrategy<i32> {
    mix(bad, valid, prop_oneof![Just(0), any::<i32>(), Just(-1), Just(i32::MIN), Just(i32::MAX)])
}

fn date(bad: u32) -> BoxedStrategy<Option<v1::Date>> {
    let year = mix(bad, 1900i32..=2200, prop_oneof![Just(1899), Just(2201), Just(0), any::<i32>()]);
    let month = mix(bad, 1i32..=12, prop_oneof![Just(0), Just(13), Just(-1), any::<i32>()]);
    let day = mix(bad, 1i32..=28, prop_oneof![29i32..=31, Just(0), Just(32), Just(-1), any::<i32>()]);
    proptest::option::of((year, month, day).prop_map(|(year, month, day)| v1::Date { year, month, day })).boxed()
}

/// A field id that is not the template's: near misses and nonsense of any
/// length.
fn odd_field_id() -> impl Strategy<Value = String> {
    let ids: Vec<String> = Template::standard().fields().iter().map(|field| field.id.clone()).collect();
    prop_oneof![
        8 => (0..ids.len()).prop_map(move |index| format!("{}.x", ids[index])),
        4 => Just(String::new()),
        4 => (46usize..52).prop_map(|n| format!("victim.{}", "a".repeat(n))),
        4 => "[a-z._]{1,60}",
        4 => "\\PC{0,30}",
        1 => Just(format!("victim.{}", "a".repeat(HUGE))),
        1 => Just("\u{202e}".repeat(HUGE / 3)),
    ]
}

/// Odd text for a free-text answer or write-in detail.
fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(String::new()),
        4 => "[ \t]{1,3}",
        4 => ((MAX_WRITE_IN_CHARS - 1)..(MAX_WRITE_IN_CHARS + 2)).prop_map(|n| "w".repeat(n)),
        4 => ((MAX_TEXT_CHARS - 1)..(MAX_TEXT_CHARS + 2)).prop_map(|n| "t".repeat(n)),
        4 => (0usize..3).prop_map(|n| "ü".repeat(MAX_TEXT_CHARS - 1 + n)),
        4 => "\\PC{0,30}",
        1 => Just("T".repeat(HUGE)),
    ]
}

/// Any value of any kind, for any field.
fn odd_value() -> impl Strategy<Value = Option<WireValue>> {
    let code = prop_oneof![8 => 0u32..20, 1 => 20u32..100, 1 => Just(u32::MAX)];
    let integer = prop_oneof![4 => -2i64..1003, 1 => Just(i64::MIN), 1 => Just(i64::MAX), 1 => any::<i64>()];
    let value = prop_oneof![
        3 => code.clone().prop_map(WireValue::Category),
        2 => prop_oneof![
            6 => proptest::collection::vec(code.clone(), 0..6),
            1 => proptest::collection::vec(code, 6..80),
            1 => Just(vec![1; 10_000]),
        ]
        .prop_map(|codes| WireValue::Categories(v1::CategoryCodes { codes })),
        2 => integer.prop_map(WireValue::Integer),
        2 => odd_text().prop_map(WireValue::Text),
        1 => any::<bool>().prop_map(WireValue::NotKnown),
    ];
    proptest::option::weighted(0.95, value)
}

/// An answer to one of the template fields in `sections`: a good one, or
/// with `bad` in 1000 an odd id, an odd value or odd write-in detail.
fn template_value(bad: u32, sections: &[Section]) -> BoxedStrategy<v1::TemplateValue> {
    let fields: Vec<&'static Field> = Template::standard().fields().iter().filter(|field| sections.contains(&field.section)).collect();
    let all: Vec<&'static Field> = Template::standard().fields().iter().collect();
    // The field: mostly one of `sections`, else any field or an odd id.
    // `None` stands for an odd id.
    let field = mix(bad, proptest::sample::select(fields).prop_map(Some), prop_oneof![proptest::sample::select(all).prop_map(Some), Just(None)]);
    (
        field,
        odd_field_id(),
        any::<prop::sample::Index>(),
        any::<bool>(),
        mix(bad, Just(None), odd_value().prop_map(Some)),
        mix(bad, Just(String::new()), odd_text()),
    )
        .prop_map(|(field, odd_id, pick, not_known, odd, write_in)| {
            let Some(field) = field else {
                let value = odd.unwrap_or(Some(WireValue::NotKnown(true)));
                return v1::TemplateValue { field_id: odd_id, value, write_in };
            };
            let count = field.categories.len().max(1);
            let good = if not_known {
                WireValue::NotKnown(true)
            } else {
                match field.kind {
                    FieldKind::Single => WireValue::Category(pick.index(count) as u32 + 1),
                    FieldKind::Multi => WireValue::Categories(v1::CategoryCodes { codes: vec![pick.index(count) as u32 + 1] }),
                    FieldKind::Integer => {
                        let (low, high) = field.range.unwrap_or((0, 10));
                        WireValue::Integer(low + pick.index((high - low + 1) as usize) as i64)
                    }
                    FieldKind::Text => WireValue::Text("England".to_owned()),
                }
            };
            v1::TemplateValue { field_id: field.id.clone(), value: odd.unwrap_or(Some(good)), write_in }
        })
        .boxed()
}

/// The answers at one level of a record: a few, or (rarely) about as many
/// as the template has fields, or more.
fn fields(bad: u32, sections: &'static [Section]) -> BoxedStrategy<Vec<v1::TemplateValue>> {
    let field_count = Template::standard().fields().len();
    prop_oneof![
        20 => proptest::collection::vec(template_value(bad, sections), 0..5),
        1 => proptest::collection::vec(template_value(bad, sections), (field_count - 1)..(field_count + 3)),
    ]
    .boxed()
}

/// `usual`, or with `bad` in 1000 any length up to twice it.
fn length(bad: u32, usual: std::ops::RangeInclusive<usize>) -> BoxedStrategy<usize> {
    let most = usual.end() * 2 + 2;
    mix(bad, usual, 0..most)
}

fn fixed32s(len: BoxedStrategy<usize>) -> BoxedStrategy<Vec<u32>> {
    len.prop_flat_map(|len| proptest::collection::vec(any::<u32>(), len..=len)).boxed()
}

fn pseudonyms(bad: u32) -> BoxedStrategy<v1::Pseudonyms> {
    let match_key = (mix(bad, 1u32..=255, prop_oneof![Just(0), Just(256), any::<u32>()]), length(bad, MATCH_KEY_BYTES..=MATCH_KEY_BYTES))
        .prop_map(|(kind, len)| v1::MatchKey { kind, hash: vec![0xAB; len] });
    let match_keys = length(bad, 0..=MAX_MATCH_KEYS).prop_flat_map(move |len| proptest::collection::vec(match_key.clone(), len..=len));
    let tokens = (
        fixed32s(length(bad, 0..=MAX_OTHER_NAMES)),
        fixed32s(mix(bad, prop_oneof![Just(0), Just(DOB_WINDOWS)], 0usize..10)),
        mix(bad, prop_oneof![Just((0, 0)), Just((2, 8))], (0usize..4, 0usize..12)),
        fixed32s(length(bad, 0..=MAX_ID_TOKENS)),
        any::<u32>(),
    )
        .prop_flat_map(|(other_names, dob_windows, (whole, parts), ids, name)| {
            let whole = proptest::collection::vec(any::<u32>(), whole..=whole);
            let parts = proptest::collection::vec(any::<u32>(), parts..=parts);
            (Just(other_names), Just(dob_windows), whole, parts, Just(ids), Just(name))
        })
        .prop_map(|(other_names, dob_windows, forename_whole, forename_parts, ids, name)| v1::FieldTokens {
            name,
            other_names,
            dob_windows,
            forename_whole,
            forename_parts,
            ids: ids.into_iter().map(|value| v1::IdToken { kind: value % 5, value }).collect(),
            ..Default::default()
        });
    let bloom = mix(bad, prop_oneof![Just(0), Just(BLOOM_BYTES)], 0..(BLOOM_BYTES * 2 + 2));
    (match_keys, bloom, proptest::option::weighted(0.8, tokens))
        .prop_map(|(match_keys, bloom, fields)| v1::Pseudonyms { match_keys, bloom: vec![0x5A; bloom], fields })
        .boxed()
}

/// An involvement: a victim's or a perpetrator's with answers of their
/// section, or (with `bad` in 1000) one of an odd role with answers of
/// either.
fn involvement(bad: u32) -> BoxedStrategy<v1::Involvement> {
    let with = |role: BoxedStrategy<i32>, sections: &'static [Section]| {
        // A tenth carry bridge pseudonyms, as in an upload during a key
        // rotation.
        let bridge = proptest::option::weighted(0.1, (client_ref(bad), pseudonyms(bad)));
        (client_ref(bad), role, proptest::option::weighted(0.9, pseudonyms(bad)), fields(bad, sections), bridge).prop_map(
            |(person_ref, role, pseudonyms, fields, bridge)| {
                let (bridge_person_ref, bridge_pseudonyms) = bridge.map_or((String::new(), None), |(r, p)| (r, Some(p)));
                v1::Involvement { person_ref, role, pseudonyms, fields, bridge_person_ref, bridge_pseudonyms }
            },
        )
    };
    let victim = with(prop_oneof![Just(v1::Role::KnownVictim as i32), Just(v1::Role::SuspectedVictim as i32)].boxed(), &[Section::Victim]);
    let perpetrator = with(prop_oneof![Just(v1::Role::Perpetrator as i32), Just(v1::Role::Hsb as i32)].boxed(), &[Section::Perpetrator]);
    let odd_role = prop_oneof![Just(0), Just(5), Just(-1), any::<i32>(), Just(i32::MIN), Just(i32::MAX)];
    let odd = with(odd_role.boxed(), &[Section::Victim, Section::Perpetrator]);
    mix(bad, prop_oneof![victim, perpetrator], odd)
}

const CASE_LEVEL: &[Section] = &[Section::Context, Section::Services, Section::Case];

fn record_with(bad: u32) -> BoxedStrategy<v1::CaseRecord> {
    let involvements = prop_oneof![
        40 => proptest::collection::vec(involvement(bad), 1..4),
        1 => Just(Vec::new()),
        1 => proptest::collection::vec(involvement(bad), 4..40),
        // At and past the limit: plain involvements, then a generated one.
        1 => (involvement(bad), MAX_INVOLVEMENTS..(MAX_INVOLVEMENTS + 3)).prop_map(|(last, count)| {
            let plain = v1::Involvement { person_ref: "p-0001".to_owned(), role: v1::Role::Perpetrator as i32, ..Default::default() };
            let mut all = vec![plain; count - 1];
            all.push(last);
            all
        }),
    ];
    let previous_ref = proptest::option::weighted(0.1, client_ref(bad)).prop_map(Option::unwrap_or_default);
    (client_ref(bad), enum_number(bad, 1..4), (date(bad), date(bad), date(bad)), fields(bad, CASE_LEVEL), involvements, any::<u32>(), previous_ref)
        .prop_map(|(record_ref, case_type, (referral_date, incident_start, last_occurrence), fields, involvements, source_row, previous_ref)| v1::CaseRecord {
            record_ref,
            case_type,
            referral_date,
            incident_start,
            last_occurrence,
            fields,
            involvements,
            source_row,
            previous_ref,
            outcome: 0,
        })
        .boxed()
}

/// An outcome event: the kind, the day, the child as its one involvement;
/// with `bad` in 1000 an odd kind, a case type, several or no
/// involvements, another role.
fn outcome_with(bad: u32) -> BoxedStrategy<v1::CaseRecord> {
    let subject = (client_ref(bad), proptest::option::weighted(0.9, pseudonyms(bad)), enum_number(bad, 5..6))
        .prop_map(|(person_ref, pseudonyms, role)| v1::Involvement { person_ref, role, pseudonyms, ..Default::default() })
        .boxed();
    let involvements = mix(bad, proptest::collection::vec(subject.clone(), 1..2), proptest::collection::vec(subject, 0..4));
    let case_type = mix(bad, Just(0), enum_number(bad, 1..4));
    (client_ref(bad), enum_number(bad, 1..9), case_type, date(bad), involvements, any::<u32>())
        .prop_map(|(record_ref, outcome, case_type, referral_date, involvements, source_row)| v1::CaseRecord {
            record_ref,
            outcome,
            case_type,
            referral_date,
            involvements,
            source_row,
            ..Default::default()
        })
        .boxed()
}

/// A record of a random hostility.
fn record() -> BoxedStrategy<v1::CaseRecord> {
    // Built once per hostility, not per case: building a strategy (its
    // regular expressions above all) costs far more than drawing from it.
    let hostilities = [0u32, 2, 10, 50, 250, 1000];
    let cases = proptest::strategy::Union::new(hostilities.map(record_with));
    let outcomes = proptest::strategy::Union::new(hostilities.map(outcome_with));
    prop_oneof![4 => cases, 1 => outcomes].boxed()
}

/// Shows a record with its long strings cut short.
#[derive(Clone)]
struct Shown(v1::CaseRecord);

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = format!("{:?}", self.0);
        if text.len() <= 4000 {
            f.write_str(&text)
        } else {
            let cut = (0..=4000).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            write!(f, "{}… ({} bytes in all)", &text[..cut], text.len())
        }
    }
}

#[test]
fn fuzz_validate_record() {
    fuzz(512, record().prop_map(Shown), |Shown(record)| check(&record));
}

/// A record the generators can build is accepted: the fuzzing reaches past
/// the first checks.
#[test]
fn a_plausible_record_is_accepted() {
    let record = v1::CaseRecord {
        record_ref: "r-0001".to_owned(),
        case_type: v1::CaseType::Csa as i32,
        referral_date: Some(v1::Date { year: 2020, month: 3, day: 1 }),
        involvements: vec![v1::Involvement {
            person_ref: "p-0001".to_owned(),
            role: v1::Role::KnownVictim as i32,
            pseudonyms: Some(v1::Pseudonyms {
                match_keys: vec![v1::MatchKey { kind: 1, hash: vec![1; MATCH_KEY_BYTES] }],
                bloom: vec![2; BLOOM_BYTES],
                fields: None,
            }),
            fields: vec![v1::TemplateValue { field_id: "victim.sex".to_owned(), value: Some(WireValue::Category(2)), write_in: String::new() }],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(validate_record(&record), Ok(()));
    let outcome = v1::CaseRecord {
        record_ref: "r-0002".to_owned(),
        outcome: v1::OutcomeKind::MissingEpisode as i32,
        referral_date: Some(v1::Date { year: 2020, month: 4, day: 1 }),
        involvements: vec![v1::Involvement { role: v1::Role::OutcomeSubject as i32, ..record.involvements[0].clone() }],
        ..Default::default()
    };
    let mut subject = outcome.involvements[0].clone();
    subject.fields.clear();
    let outcome = v1::CaseRecord { involvements: vec![subject], ..outcome };
    assert_eq!(validate_record(&outcome), Ok(()));
    // What only a case has is refused in an outcome event, by field.
    let refused = |record: v1::CaseRecord| validate_record(&record).expect_err("refused").field;
    assert_eq!(refused(v1::CaseRecord { case_type: v1::CaseType::Cse as i32, ..outcome.clone() }), "case_type");
    assert_eq!(refused(v1::CaseRecord { referral_date: None, ..outcome.clone() }), "referral_date");
    assert_eq!(refused(v1::CaseRecord { outcome: 9, ..outcome.clone() }), "outcome");
    assert_eq!(refused(v1::CaseRecord { involvements: vec![outcome.involvements[0].clone(); 2], ..outcome.clone() }), "involvements");
    assert_eq!(refused(v1::CaseRecord { fields: record.involvements[0].fields.clone(), ..outcome.clone() }), "fields");
    let mut victim = outcome.clone();
    victim.involvements[0].role = v1::Role::KnownVictim as i32;
    assert_eq!(refused(victim), "involvements[0].role");
    // And the outcome subject is refused in a case record.
    let mut case = record.clone();
    case.involvements[0].role = v1::Role::OutcomeSubject as i32;
    assert_eq!(refused(case), "involvements[0].role");
    // Refs are shown and exported: a control character or a space in one
    // would forge lines or colour there.
    for bad in ["r-\u{1b}[31mEVIL", "r-1\nX   known_victim", "r 1", "r-\u{7f}"] {
        assert_eq!(refused(v1::CaseRecord { record_ref: bad.to_owned(), ..record.clone() }), "record_ref", "{bad:?}");
        let mut person = record.clone();
        person.involvements[0].person_ref = bad.to_owned();
        assert_eq!(refused(person), "involvements[0].person_ref", "{bad:?}");
    }
}

/// A case-level answer that does not apply is named where it stands, in
/// the record's own fields, not as one of an involvement's.
#[test]
fn a_case_level_answer_that_does_not_apply_is_named_in_the_records_fields() {
    let code = |field: &str, label: &str| Template::standard().field(field).expect("field").category_by_label(label).expect("category").code;
    let answer = |field: &str, label: &str| v1::TemplateValue {
        field_id: field.to_owned(),
        value: Some(WireValue::Category(code(field, label))),
        write_in: String::new(),
    };
    let record = v1::CaseRecord {
        record_ref: "r-0002".to_owned(),
        case_type: v1::CaseType::Cse as i32,
        referral_date: Some(v1::Date { year: 2020, month: 3, day: 1 }),
        // A perpetrator's gain type although there was no gain.
        fields: vec![answer("context.material_gain", "No"), answer("context.perpetrator_gain_type", "Increased status")],
        involvements: vec![v1::Involvement { person_ref: "p-0002".to_owned(), role: v1::Role::KnownVictim as i32, ..Default::default() }],
        ..Default::default()
    };
    let refused = validate_record(&record).expect_err("does not apply");
    assert_eq!(refused.field, "fields[context.perpetrator_gain_type] (with involvements[0].fields)", "{refused:?}");
}
