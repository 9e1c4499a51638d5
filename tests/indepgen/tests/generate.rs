//! Properties of the generated extracts, mappings and truth.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use indepgen::agencies::{agencies, Col};
use indepgen::calendar::{read, Reading};
use indepgen::names::Names;
use indepgen::population::{nhs_check_digit, Origin};
use indepgen::{count_impossible, generate, Config, Output};

fn default_output() -> &'static Output {
    static OUTPUT: OnceLock<Output> = OnceLock::new();
    OUTPUT.get_or_init(|| generate(&Config::default()))
}

fn rows(csv_text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().expect("header").iter().map(str::to_owned).collect();
    let rows = reader.records().map(|r| r.expect("row").iter().map(str::to_owned).collect()).collect();
    (header, rows)
}

#[test]
fn same_seed_same_output_and_another_seed_differs() {
    let config = Config { people: 500, seed: 7, ..Config::default() };
    let (a, b) = (generate(&config), generate(&config));
    assert_eq!(a.extracts, b.extracts);
    assert_eq!(a.people_csv(), b.people_csv());
    assert_eq!(a.involvements_csv(), b.involvements_csv());
    let c = generate(&Config { seed: 8, ..config });
    assert_ne!(a.extracts[0].csv, c.extracts[0].csv);
}

#[test]
fn mappings_are_braid_mappings_of_their_extracts() {
    let allowed_sections = ["agency", "columns", "identity", "roles", "case_types"];
    let columns_keys = ["record_ref", "person_ref", "role", "case_type", "event_date", "date_format"];
    let identity_keys = ["forename", "surname", "date_of_birth", "sex", "postcode", "nhs_number"];
    let output = default_output();
    let mut formats = BTreeSet::new();
    for (agency, extract) in agencies().iter().zip(&output.extracts) {
        let mapping: toml::Table = toml::from_str(&extract.mapping).expect("mapping is TOML");
        let sections: Vec<&str> = mapping.keys().map(String::as_str).collect();
        assert_eq!(sections.len(), 5, "{sections:?}");
        assert!(sections.iter().all(|s| allowed_sections.contains(s)), "{sections:?}");
        assert_eq!(mapping["agency"]["code"].as_str(), Some(extract.code.as_str()));
        let kind = mapping["agency"]["type"].as_str().expect("type");
        assert!(["children_services", "police", "yot", "voluntary"].contains(&kind));

        let (header, data) = rows(&extract.csv);
        assert!(header.contains(&"true_id".to_owned()));
        let column = |section: &str, key: &str| -> usize {
            let name = mapping[section][key].as_str().expect("column name");
            header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{} has no {name}", extract.code))
        };
        let columns = mapping["columns"].as_table().expect("columns");
        let keys: BTreeSet<&str> = columns.keys().map(String::as_str).collect();
        assert_eq!(keys, columns_keys.into_iter().collect());
        let identity = mapping["identity"].as_table().expect("identity");
        assert!(identity.keys().all(|k| identity_keys.contains(&k.as_str())));
        assert_eq!(identity.len(), if agency.header(Col::Nhs).is_some() { 6 } else { 5 });

        let format = columns["date_format"].as_str().expect("format");
        assert_ne!(format, "%m/%d/%Y");
        formats.insert(format.to_owned());
        let roles = mapping["roles"].as_table().expect("roles");
        let types = mapping["case_types"].as_table().expect("case types");
        assert!(roles.values().all(|v| ["known_victim", "suspected_victim", "perpetrator", "hsb"].contains(&v.as_str().unwrap_or(""))));
        assert!(types.values().all(|v| ["CSA", "CSE", "HSB"].contains(&v.as_str().unwrap_or(""))));
        let (role, kind, event, dob) =
            (column("columns", "role"), column("columns", "case_type"), column("columns", "event_date"), column("identity", "date_of_birth"));
        for key in identity_keys.iter().filter(|k| identity.contains_key(**k)) {
            column("identity", key);
        }
        column("columns", "record_ref");
        column("columns", "person_ref");
        for row in &data {
            assert!(roles.contains_key(&row[role]), "{}", row[role]);
            assert!(types.contains_key(&row[kind]), "{}", row[kind]);
            assert!(matches!(read(&row[event], format), Reading::Real(_)), "{}", row[event]);
            assert!(row[dob].is_empty() || read(&row[dob], format) != Reading::Unreadable, "{}", row[dob]);
        }
    }
    assert_eq!(formats.len(), 4, "each agency has its own date format");
}

#[test]
fn nhs_numbers_have_valid_check_digits() {
    assert_eq!(nhs_check_digit(&[9, 4, 3, 4, 7, 6, 5, 9, 1]), Some(9));
    let mut seen = 0;
    for (agency, extract) in agencies().iter().zip(&default_output().extracts) {
        let Some(name) = agency.header(Col::Nhs) else { continue };
        let (header, data) = rows(&extract.csv);
        let column = header.iter().position(|h| h == name).expect("nhs column");
        for row in data.iter().filter(|r| !r[column].is_empty()) {
            let digits: Vec<u32> = row[column].chars().filter_map(|c| c.to_digit(10)).collect();
            assert_eq!(digits.len(), 10, "{}", row[column]);
            assert_eq!(nhs_check_digit(&digits), Some(digits[9]), "{}", row[column]);
            seen += 1;
        }
    }
    assert!(seen > 1000);
    for person in &default_output().population {
        let digits: Vec<u32> = person.nhs.chars().filter_map(|c| c.to_digit(10)).collect();
        assert_eq!(nhs_check_digit(&digits), Some(digits[9]));
    }
}

#[test]
fn rates_are_roughly_as_configured() {
    let output = default_output();
    let summary = output.summary();
    assert!((4000..4010).contains(&summary.children), "{summary}");
    let twins = summary.children_with_twin as f64 / summary.children as f64;
    assert!((0.007..0.03).contains(&twins), "{summary}");
    let juniors = summary.father_son_same_name as f64 / summary.boys_with_father as f64;
    assert!((0.025..0.09).contains(&juniors), "{summary}");
    assert!(summary.parent_child_same_name_involved > 5, "{summary}");
    assert!(summary.unrelated_same_name_involved > 20, "{summary}");

    let diverse = |output: &Output| {
        let children: Vec<_> = output.population.iter().filter(|p| p.is_child()).collect();
        children.iter().filter(|p| p.origin != Origin::British).count() as f64 / children.len() as f64
    };
    assert!((diverse(output) - 0.33).abs() < 0.05, "{}", diverse(output));
    let fewer = generate(&Config { people: 2000, diverse_share: 0.1, seed: 5, ..Config::default() });
    assert!((diverse(&fewer) - 0.1).abs() < 0.04, "{}", diverse(&fewer));
    let origins: BTreeSet<Origin> = output.population.iter().map(|p| p.origin).collect();
    assert_eq!(origins.len(), Origin::ALL.len());
}

#[test]
fn every_agency_has_an_impossible_date_of_birth() {
    for seed in [1, 2, 3] {
        let output = if seed == 1 { default_output().clone() } else { generate(&Config { seed, ..Config::default() }) };
        for extract in &output.extracts {
            let n = count_impossible(extract);
            assert!(n >= 1, "seed {seed}: {} has none", extract.code);
            assert!((n as f64) < 0.02 * extract.rows as f64, "{}: {n}", extract.code);
        }
    }
}

#[test]
fn truth_covers_every_row() {
    let output = default_output();
    let total: usize = output.extracts.iter().map(|e| e.rows).sum();
    assert_eq!(output.involvements.len(), total);
    let mut truth = output.involvements.iter();
    for extract in &output.extracts {
        let (header, data) = rows(&extract.csv);
        let true_id = header.iter().position(|h| h == "true_id").expect("true_id");
        for row in data {
            let expected = truth.next().expect("truth row");
            assert_eq!(expected.agency, extract.code);
            assert_eq!(expected.true_id, row[true_id]);
            assert!(row.contains(&expected.case_id) && row.contains(&expected.person_id));
        }
    }
    let (_, people) = rows(&output.people_csv());
    let listed: BTreeSet<&str> = people.iter().map(|r| r[0].as_str()).collect();
    let involved: BTreeSet<&str> = output.involvements.iter().map(|i| i.true_id.as_str()).collect();
    assert_eq!(listed, involved);
    // Roles: children are victims or harmed others; perpetrators are adults
    // at the time; some perpetrators are named in several cases.
    let mut victims_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for i in output.involvements.iter().filter(|i| i.role.name() == "perpetrator") {
        let case_victims =
            output.involvements.iter().filter(|j| j.agency == i.agency && j.case_id == i.case_id && j.role.is_victim()).map(|j| j.true_id.as_str());
        victims_of.entry(i.true_id.as_str()).or_default().extend(case_victims);
    }
    assert!(victims_of.values().filter(|v| v.len() >= 3).count() > 20);
}

#[test]
fn smith_heads_a_long_tail_of_british_surnames() {
    let names = Names::new();
    let smith = names.british_surnames.share("Smith");
    assert!((0.009..0.016).contains(&smith), "{smith}");
    assert!(names.british_surnames.share("Jones") < smith);
    assert!(names.british_surnames.len() > 1000);
    let forenames = names.recent.0.len() + names.recent.1.len() + names.earlier.0.len() + names.earlier.1.len();
    assert!(forenames > 250, "{forenames}");
}
