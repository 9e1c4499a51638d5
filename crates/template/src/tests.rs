use std::collections::HashMap;

use super::*;

fn identity_labels() -> LabelMap {
    LabelMap::new(&HashMap::new(), ';')
}

#[test]
fn the_template_has_37_core_items_and_marked_extensions() {
    let template = Template::standard();
    // Sub-items (A1a, B2a, ...) carry a letter after the number.
    let core_numbered: Vec<&Field> =
        template.fields().iter().filter(|field| !field.extension).filter(|field| field.item[1..].chars().all(|c| c.is_ascii_digit())).collect();
    assert_eq!(core_numbered.len(), 37);
    let extensions: Vec<&str> = template.fields().iter().filter(|field| field.extension).map(|field| field.id.as_str()).collect();
    assert_eq!(
        extensions,
        ["victim.family_difficulties", "case.concern_status", "context.exploitation_source", "victim.missing_episodes", "victim.young_adult"]
    );
    // Braid's own extensions are all marked so.
    let own = Template::parse(&format!("{}\n{}", crate::TEMPLATE_TOML, crate::EXTENSIONS_TOML)).unwrap();
    assert!(own.fields().iter().skip(Template::parse(crate::TEMPLATE_TOML).unwrap().fields().len()).all(|field| field.extension));
}

#[test]
fn every_category_of_every_field_parses_from_its_template_label() {
    let template = Template::standard();
    let labels = identity_labels();
    let mut categories_seen = 0;
    for field in template.fields() {
        match field.kind {
            FieldKind::Single | FieldKind::Multi | FieldKind::Text => {
                for category in &field.categories {
                    let value = labels
                        .parse(field, &category.label.to_uppercase())
                        .unwrap_or_else(|e| panic!("{}: {}: {e}", field.id, category.label))
                        .expect("a non-empty cell is an answer");
                    let expected_code = category.code;
                    match (&value, field.kind) {
                        (Value::Single { code, .. }, FieldKind::Single | FieldKind::Text) => {
                            assert_eq!(*code, expected_code, "{}", field.id)
                        }
                        (Value::Multi { codes, .. }, FieldKind::Multi) => {
                            assert_eq!(codes, &vec![expected_code], "{}", field.id)
                        }
                        other => panic!("{}: unexpected {other:?}", field.id),
                    }
                    assert_eq!(field.is_not_known(&value), category.not_known);
                    categories_seen += 1;
                }
                if field.kind != FieldKind::Text {
                    assert!(!field.categories.is_empty(), "{} has categories", field.id);
                    let error = labels.parse(field, "no such category").unwrap_err();
                    assert!(matches!(error, Error::UnknownLabel { .. }), "{}", field.id);
                }
            }
            FieldKind::Integer => {
                let (low, high) = field.wider.as_ref().map(|w| w.range).or(field.range).expect("integer fields have a range");
                for number in [low, high] {
                    assert_eq!(labels.parse(field, &number.to_string()).unwrap(), Some(Value::Integer(number)));
                }
                assert!(labels.parse(field, &(high + 1).to_string()).is_err());
                assert!(labels.parse(field, &(low - 1).to_string()).is_err());
                assert!(labels.parse(field, "twelve").is_err());
            }
        }
        // An empty cell is missing, never "not known".
        assert_eq!(labels.parse(field, "  ").unwrap(), None, "{}", field.id);
    }
    assert_eq!(categories_seen, 252);
}

#[test]
fn categories_are_numbered_core_first_then_extensions() {
    let template = Template::standard();
    let sex = template.field("victim.sex").unwrap();
    let labels: Vec<(u32, &str, bool)> = sex.categories.iter().map(|c| (c.code, c.label.as_str(), c.extension)).collect();
    assert_eq!(labels, [(1, "Male", false), (2, "Female", false), (3, "Other (write in)", true), (4, "Not known", true)]);
    // D6 shares D4's categories.
    let receiving = template.field("services.receiving_agency").unwrap();
    let referring = template.field("services.referring_agency").unwrap();
    assert_eq!(receiving.categories, referring.categories);
    assert_eq!(template.field("perpetrator.ethnicity").unwrap().categories.len(), 17);
}

#[test]
fn agency_labels_map_to_template_categories_with_write_ins() {
    let template = Template::standard();
    let field = template.field("victim.ethnicity").unwrap();
    let map: HashMap<String, String> = [("WBRI", "White British"), ("OTH", "Any other ethnic background (write in)"), ("NK", "Not known")]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    let labels = LabelMap::new(&map, ';');
    assert_eq!(labels.parse(field, "wbri").unwrap(), Some(Value::Single { code: 1, write_in: None }));
    assert_eq!(labels.parse(field, "OTH: Roma").unwrap(), Some(Value::Single { code: 16, write_in: Some("Roma".to_owned()) }));
    let not_known = labels.parse(field, "NK").unwrap().unwrap();
    assert!(field.is_not_known(&not_known));

    let multi = template.field("context.locations").unwrap();
    assert_eq!(labels.parse(multi, "Online; In a vehicle").unwrap(), Some(Value::Multi { codes: vec![8, 7], write_in: None }));
}

#[test]
fn not_known_is_distinct_from_missing_even_without_a_category() {
    let template = Template::standard();
    let age = template.field("victim.age_at_referral").unwrap();
    let labels = identity_labels();
    assert_eq!(labels.parse(age, "Not known").unwrap(), Some(Value::NotKnown));
    assert_eq!(labels.parse(age, "").unwrap(), None);
}

fn answers<'a>(pairs: &'a [(&'a str, Value)]) -> Answers<'a> {
    pairs.iter().map(|(id, value)| (*id, value)).collect()
}

#[test]
fn conditional_items_apply_only_when_their_parent_says_so() {
    let template = Template::standard();
    let single = |field: &str, label: &str| {
        let code = template.field(field).unwrap().category_by_label(label).unwrap().code;
        Value::Single { code, write_in: None }
    };
    let high_risk = single("victim.cse_risk_level", "High risk of CSE");

    let suspected_cse = [("victim.status", single("victim.status", "Suspected")), ("services.recorded_as", single("services.recorded_as", "CSE"))];
    template.validate_answer("victim.cse_risk_level", &high_risk, &answers(&suspected_cse)).unwrap();

    let known_cse = [("victim.status", single("victim.status", "Known")), ("services.recorded_as", single("services.recorded_as", "CSE"))];
    let error = template.validate_answer("victim.cse_risk_level", &high_risk, &answers(&known_cse)).unwrap_err();
    assert!(matches!(error, Error::NotApplicable { .. }));

    // An unanswered parent decides nothing, so the answer is kept.
    template.validate_answer("victim.cse_risk_level", &high_risk, &answers(&[])).unwrap();

    // B3a applies when B3 (age) is not known.
    let adult = single("perpetrator.age_band", "Adult (18 or over)");
    template.validate_answer("perpetrator.age_band", &adult, &answers(&[])).unwrap();
    let with_age = [("perpetrator.age", Value::Integer(40))];
    assert!(template.validate_answer("perpetrator.age_band", &adult, &answers(&with_age)).is_err());

    // C8a applies when C8 includes Online.
    let media = Value::Multi { codes: vec![2], write_in: None };
    let online = template.field("context.locations").unwrap().category_by_label("Online").unwrap().code;
    let with_online = [("context.locations", Value::Multi { codes: vec![online, 1], write_in: None })];
    template.validate_answer("context.online_media", &media, &answers(&with_online)).unwrap();
    let offline = [("context.locations", Value::Multi { codes: vec![1], write_in: None })];
    assert!(template.validate_answer("context.online_media", &media, &answers(&offline)).is_err());
}

#[test]
fn every_conditional_item_has_a_parsed_rule() {
    let template = Template::standard();
    let conditional: Vec<&str> = template.fields().iter().filter(|field| field.applies_when.is_some()).map(|field| field.item.as_str()).collect();
    assert_eq!(conditional, ["A1a", "B2a", "B3a", "C6", "C8a", "D9a"]);
}

#[test]
fn wrong_kinds_and_codes_are_refused() {
    let template = Template::standard();
    let sex = template.field("victim.sex").unwrap();
    assert!(sex.validate(&Value::Single { code: 9, write_in: None }).is_err());
    assert!(sex.validate(&Value::Integer(1)).is_err());
    assert!(sex.validate(&Value::Single { code: 1, write_in: Some("x".into()) }).is_err());
    let abuse = template.field("context.abuse_types").unwrap();
    assert!(abuse.validate(&Value::Multi { codes: vec![1, 1], write_in: None }).is_err());
    assert!(abuse.validate(&Value::Multi { codes: vec![], write_in: None }).is_err());
}

#[test]
fn completeness_counts_known_not_known_and_missing() {
    let template = Template::standard();
    let mut completeness = Completeness::default();
    let fields = ["victim.sex", "victim.ethnicity", "victim.age_at_referral", "victim.cse_risk_level"];
    let first = [("victim.sex", Value::Single { code: 2, write_in: None }), ("victim.ethnicity", Value::Single { code: 17, write_in: None })];
    completeness.record(template, fields, &answers(&first));
    let second = [("victim.age_at_referral", Value::NotKnown)];
    completeness.record(template, fields, &answers(&second));
    let sex = completeness.fields["victim.sex"];
    assert_eq!((sex.known, sex.not_known, sex.missing), (1, 0, 1));
    let ethnicity = completeness.fields["victim.ethnicity"];
    assert_eq!((ethnicity.known, ethnicity.not_known, ethnicity.missing), (0, 1, 1));
    let age = completeness.fields["victim.age_at_referral"];
    assert_eq!((age.known, age.not_known, age.missing), (0, 1, 1));
    // A1a never applied (its parents were unanswered), so it is not counted.
    assert!(!completeness.fields.contains_key("victim.cse_risk_level"));
}

#[test]
fn the_embedded_template_matches_the_shared_one() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/csa-data-collection-template.toml");
    if let Ok(text) = std::fs::read_to_string(&shared) {
        assert_eq!(text, model::TEMPLATE_TOML, "copy shared/ template into crates/template");
    } else {
        // Outside a checkout with shared/ beside it, the embedded copy stands.
        assert!(Template::parse(model::TEMPLATE_TOML).is_ok());
    }
}

#[test]
fn folding_compares_labels_as_lowering_and_joining_words_would() {
    let labels = [
        "Other (write in)",
        "  other   (WRITE in) ",
        "other\t(write\u{000B}in)",
        "Not known",
        "not  known",
        "NOT KNOWN ",
        "White British",
        "whitebritish",
        "White\u{00A0}British",
        "ΟΔΟΣ Σ",
        "οδος σ",
        "Çocuk İstismarı",
        "çocuk i̇stismarı",
        "",
        " ",
        "a",
        "A b",
    ];
    let slow = |label: &str| label.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    for a in labels {
        assert_eq!(model::fold_label(a), slow(a), "{a:?}");
        for b in labels {
            let folded = model::fold_label(b);
            assert_eq!(model::folds_to(a, &folded), slow(a) == folded, "{a:?} against {b:?}");
        }
    }
}

#[test]
fn a_young_adults_age_is_accepted_only_where_the_record_says_young_adult() {
    let template = Template::standard();
    let flag = template.field("victim.young_adult").unwrap();
    assert!(flag.extension && flag.section == crate::Section::Victim);
    let said = |label: &str| Value::Single { code: flag.category_by_label(label).unwrap().code, write_in: None };
    let twenty = Value::Integer(20);
    template.validate_answer("victim.age_at_referral", &twenty, &answers(&[("victim.young_adult", said("Yes"))])).unwrap();
    for others in [answers(&[("victim.young_adult", said("No"))]), answers(&[])] {
        let error = template.validate_answer("victim.age_at_referral", &twenty, &others).unwrap_err().to_string();
        assert!(error.contains("outside the range 0 to 17") && error.contains("18 to 24 only where victim.young_adult = Yes"), "{error}");
    }
    // A child's age needs no flag; beyond 24 nothing opens it.
    template.validate_answer("victim.age_at_referral", &Value::Integer(15), &answers(&[])).unwrap();
    assert!(template.validate_answer("victim.age_at_referral", &Value::Integer(25), &answers(&[("victim.young_adult", said("Yes"))])).is_err());
    // Only a whole-number item's range can be widened, and never narrowed.
    let narrowing = format!("{TEMPLATE}\n{}", crate::EXTENSIONS_TOML.replace("range = [0, 24]", "range = [3, 24]"), TEMPLATE = crate::TEMPLATE_TOML);
    assert!(Template::parse(&narrowing).is_err());
}

#[test]
fn a_quoted_cell_is_short_and_adds_no_line_of_its_own() {
    assert_eq!(crate::quote("Victim"), "Victim");
    assert_eq!(crate::quote("Vic\ntim\r\t\u{1b}[31m"), "Vic\\ntim\\r\\t\\u{1b}[31m");
    assert_eq!(crate::quote("Zoë"), "Zoë");
    let long = "a\n".repeat(100);
    let quoted = crate::quote(&long);
    assert!(!quoted.contains('\n') && quoted.ends_with("… (200 characters)"), "{quoted}");
}

#[test]
fn text_that_hides_or_turns_around_is_invisible_and_scripts_joiners_are_not() {
    for c in ['\u{200b}', '\u{2060}', '\u{feff}', '\u{202e}', '\u{2066}'] {
        assert!(crate::is_invisible(c), "{:?}", c);
    }
    // Persian and Indic joiners, direction marks in mixed Hebrew or Arabic
    // text, a soft hyphen pasted from a word processor: ordinary text.
    for c in ['\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{61c}', '\u{ad}', 'a', 'ش'] {
        assert!(!crate::is_invisible(c), "{:?}", c);
    }
    assert_eq!(crate::printable("a\u{202e}b\nc"), "a\\u{202e}b\\nc");
    // Blanks and fillers no script needs, and tag characters (a hidden
    // sentence), are invisible.
    for c in ['\u{34f}', '\u{115f}', '\u{3164}', '\u{ffa0}', '\u{2800}', '\u{180e}', '\u{17b4}', '\u{1d173}', '\u{e0001}', '\u{e0073}', '\u{2062}'] {
        assert!(crate::is_invisible(c), "{:?}", c);
    }
    // A value of nothing but marks and spaces shows nothing.
    for text in ["\u{200e}", " \u{200f}\u{200d} ", "\u{ad}", "\u{7}", ""] {
        assert!(!crate::shows_anything(text), "{text:?}");
    }
    for text in ["MACE-1", "\u{200f}MACE-1", "مراجعة", "a\u{200c}b"] {
        assert!(crate::shows_anything(text), "{text:?}");
    }
}

#[test]
fn a_toml_error_quotes_nothing_of_the_file() {
    // Given the wrong file: an extract's row, a scheme secret.
    let row = "case,person\nCSC-000001,Jade,Campbell,16/07/2019\n";
    let error = toml::from_str::<toml::Table>(row).expect_err("not TOML");
    let message = crate::toml_error(row, &error);
    assert!(message.starts_with("line 1, column "), "{message}");
    assert!(!message.contains("Jade") && !message.contains("case,person"), "{message}");
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        agency: String,
    }
    let secret = "secret = \"8f1c9a...\"\nepoch = 1\n";
    let error = toml::from_str::<Shape>(secret).expect_err("not the shape");
    let message = crate::toml_error(secret, &error);
    assert!(!message.contains("8f1c9a"), "{message}");
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    enum Kind {
        Police,
        Health,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Chosen {
        kind: Kind,
    }
    let misplaced = "kind = \"8f1c9a\"\n";
    let error = toml::from_str::<Chosen>(misplaced).expect_err("no such kind");
    let message = crate::toml_error(misplaced, &error);
    assert!(!message.contains("8f1c9a") && message.contains("Police") && message.contains("Health"), "{message}");
    let typed = "agency = 9434765919\n";
    let error = toml::from_str::<Shape>(typed).expect_err("not a string");
    let message = crate::toml_error(typed, &error);
    assert!(message.starts_with("line 1, column 10: invalid type") && !message.contains("9434765919"), "{message}");
    // A value holding backticks is left out whole; a key's name is shown.
    let ticked = "kind = \"8f1c`9a`77\"\n";
    let message = crate::toml_error(ticked, &toml::from_str::<Chosen>(ticked).expect_err("no such kind"));
    assert!(!message.contains("9a") && !message.contains("77"), "{message}");
    for leaky in ["kind = 'SECRET\"x'\n", "kind = \"a, expected b\"\n", "kind = \"SECRET\\\"x`y\"\n"] {
        let message = crate::toml_error(leaky, &toml::from_str::<Chosen>(leaky).expect_err("no such kind"));
        assert!(!message.contains("SECRET") && !message.contains("expected b") && !message.contains('y'), "{leaky}: {message}");
    }
    let unknown = "agency = \"CSC\"\nagnecy = \"x\"\n";
    let message = crate::toml_error(unknown, &toml::from_str::<Shape>(unknown).expect_err("unknown field"));
    assert!(message.contains("agnecy") && message.contains("agency"), "{message}");
    // A repeated key is named too; a runaway key's name is quoted short.
    let repeated = "agency = \"CSC\"\nagency = \"POL\"\n";
    let message = crate::toml_error(repeated, &toml::from_str::<Shape>(repeated).expect_err("repeated"));
    assert!(message.contains("duplicate key `agency`") && !message.contains("POL"), "{message}");
    // A message of two lines reads as one, with no escaped line break.
    let bare = "[agency]\ncode = POL-NORTH\n";
    let message = crate::toml_error(bare, &toml::from_str::<toml::Table>(bare).expect_err("a bare value"));
    assert!(message.starts_with("line 2, column 8: ") && message.contains("; expected") && !message.contains("\\n"), "{message}");
    let runaway = format!("{} = 1\n", "k".repeat(10_000));
    let message = crate::toml_error(&runaway, &toml::from_str::<Shape>(&runaway).expect_err("unknown field"));
    assert!(message.len() < 1_000 && message.contains("(10000 characters)"), "{}", &message[..message.len().min(300)]);
}
