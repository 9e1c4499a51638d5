//! Reports by a multi-choice (tick all that apply) template item, through
//! the real `braid` binary and a node serving mTLS over RocksDB: a child is
//! counted in every category their records tick and once in the total, the
//! margins of a crossed table are the one-way reports, small counts are
//! `<5` and a count the total would give away is withheld.

use braid_tests::*;

const MAPPING: &str = r#"
[agency]
code = "CSC-NORTH"
type = "children_services"

[columns]
record_ref = "case"
person_ref = "person"
role = "role"
case_type = "type"
event_date = "date"
date_format = "%d/%m/%Y"

[identity]
forename = "forename"
surname = "surname"
date_of_birth = "dob"

[roles]
Victim = "known_victim"

[case_types]
CSA = "CSA"

[fields."victim.sex"]
column = "sex"
labels = { G = "Female", B = "Male" }

[fields."context.locations"]
column = "locations"
separator = ";"

[fields."context.abuse_types"]
column = "abuse"
separator = ";"
labels = { C = "Other contact abuse (such as sexual activity/assault)", GR = "Grooming with intention to abuse" }
"#;

const FORENAMES: [&str; 12] = ["Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Mia", "Arthur", "Ivy", "Oscar", "Freya", "Theo"];
const SURNAMES: [&str; 3] = ["Whitlock", "Penhaligon", "Okonkwo"];

/// The children: (sex, locations, abuse types), one case each, plus one
/// girl with two cases that tick a location each.
///
/// Locations: 12 online only (6 girls), 9 in a vehicle only (4 girls), 5
/// both (2 girls) and the girl with two cases (online, then in a
/// vehicle), 2 girls in school, 7 not recorded (3 girls): 36 children, 18
/// girls. Abuse types: 3 boys (online only) grooming only, every other
/// child contact abuse.
fn children() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out = Vec::new();
    let mut add = |n: usize, sex: &'static str, locations: &'static str| {
        out.extend(std::iter::repeat_n((sex, locations, "C"), n));
    };
    add(6, "G", "Online");
    add(3, "B", "Online");
    add(4, "G", "In a vehicle");
    add(5, "B", "In a vehicle");
    add(2, "G", "Online; In a vehicle");
    add(3, "B", "Online; In a vehicle");
    add(2, "G", "In school/college");
    add(3, "G", "");
    add(4, "B", "");
    out.extend(std::iter::repeat_n(("B", "Online", "GR"), 3));
    out
}

fn extract() -> String {
    let mut csv = String::from("case,person,role,type,date,forename,surname,dob,sex,locations,abuse\n");
    let row = |case: usize, person: usize, date: &str, sex: &str, locations: &str, abuse: &str| {
        let (forename, surname) = (FORENAMES[person % 12], SURNAMES[person / 12]);
        // Birthdays weeks apart: no two children look alike.
        let dob = braid_template::Date::from_days_since_epoch(14_000 + 41 * person as i64);
        format!("C{case:03},P{person:03},Victim,CSA,{date},{forename},{surname},{:02}/{:02}/{},{sex},{locations},{abuse}\n", dob.day, dob.month, dob.year)
    };
    let mut case = 0;
    for (person, (sex, locations, abuse)) in children().into_iter().enumerate() {
        case += 1;
        csv.push_str(&row(case, person, "10/03/2025", sex, locations, abuse));
    }
    // The girl with two cases: online in one, in a vehicle in the other.
    let person = children().len();
    csv.push_str(&row(case + 1, person, "02/02/2025", "G", "Online", "C"));
    csv.push_str(&row(case + 2, person, "20/06/2025", "G", "In a vehicle", "C"));
    csv
}

/// A report's JSON; `rest` after `report`.
fn report(keys: &str, url: &str, rest: &[&str]) -> serde_json::Value {
    let mut args = rest.to_vec();
    args.push("--json");
    json(&ok(&panel(keys, "report", url, "north", &args)))
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value.as_array().expect("array").iter().map(|v| v.as_str().expect("string").to_owned()).collect()
}

/// Row `label`'s cells.
fn row(report: &serde_json::Value, label: &str) -> Vec<String> {
    let at = strings(&report["row_labels"]).iter().position(|l| l == label).unwrap_or_else(|| panic!("no row {label}: {report}"));
    strings(&report["cells"][at])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_choice_item_counts_each_child_in_every_category_and_once_in_the_total() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys"), "--partnership", "north"]));
    std::fs::write(path("m.toml"), MAPPING).expect("mapping");
    std::fs::write(path("x.csv"), extract()).expect("extract");
    let written = ok(&braid(&[
        "agency",
        "pseudonymise",
        "--mapping",
        &path("m.toml"),
        "--secret",
        &path("keys/scheme.secret"),
        "--input",
        &path("x.csv"),
        "--out",
        &path("x.bpx"),
    ]));
    assert!(!written.contains("skipped"), "{written}");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&path("keys"), data.path()).await;
    let url = node.url();
    let (keys, file, u) = (path("keys"), path("x.bpx"), url.clone());
    blocking(move || ok(&upload(&keys, &u, "CSC-NORTH", &file))).await;
    let keys = path("keys");

    let k = keys.clone();
    let u = url.clone();
    let (locations, by_sex, crossed, transposed, by_case_type, abuse, text, both) = blocking(move || {
        (
            report(&k, &u, &["--by", "context.locations"]),
            report(&k, &u, &["--by", "victim.sex"]),
            report(&k, &u, &["--by", "context.locations", "--by", "victim.sex"]),
            report(&k, &u, &["--by", "case_type", "--by", "context.locations"]),
            report(&k, &u, &["--by", "case_type"]),
            report(&k, &u, &["--by", "context.abuse_types"]),
            ok(&panel(&k, "report", &u, "north", &["--by", "context.locations"])),
            failed(&panel(&k, "report", &u, "north", &["--by", "context.locations", "--by", "context.abuse_types"])),
        )
    })
    .await;

    // One row per category, then not known and not recorded; a child in
    // two rows is counted in both, and once in the total: 12 online only,
    // 9 in a vehicle only, 6 both (one of them from two cases), 2 in
    // school, 7 not recorded = 36 children.
    assert_eq!(locations["rows_overlap"], true, "{locations}");
    let labels = strings(&locations["row_labels"]);
    assert_eq!(labels.len(), 9 + 2, "nine places, not known, not recorded: {labels:?}");
    assert_eq!(row(&locations, "Online"), ["18"], "{locations}");
    assert_eq!(row(&locations, "In a vehicle"), ["15"], "{locations}");
    assert_eq!(row(&locations, "In school/college"), ["<5"], "{locations}");
    assert_eq!(row(&locations, "Not recorded"), ["7"], "{locations}");
    assert_eq!(row(&locations, "Not known"), ["0"], "{locations}");
    assert_eq!(row(&locations, "In a residential home"), ["0"], "{locations}");
    assert_eq!(locations["total"], "36", "each child once: {locations}");
    assert_eq!(by_sex["total"], locations["total"], "the same children: {by_sex}");

    // Crossed with sex: the margins are the one-way reports exactly, and a
    // small cell is <5.
    assert_eq!(crossed["rows_overlap"], true);
    assert_eq!(strings(&crossed["row_totals"]), strings(&locations["row_totals"]), "{crossed}");
    let sex_column: Vec<String> = by_sex["cells"].as_array().expect("cells").iter().map(|r| r[0].as_str().expect("cell").to_owned()).collect();
    assert_eq!(strings(&crossed["column_totals"]), sex_column, "{crossed} / {by_sex}");
    assert_eq!(crossed["total"], locations["total"]);
    let columns = strings(&crossed["column_labels"]);
    let girls = columns.iter().position(|c| c == "Female").expect("Female column");
    assert_eq!(row(&crossed, "In school/college")[girls], "<5", "{crossed}");
    for cell in strings(&crossed["cells"].as_array().expect("cells").iter().flat_map(|r| r.as_array().expect("row").clone()).collect::<serde_json::Value>()) {
        assert!(cell == "<5" || cell == "*" || cell.parse::<u64>().is_ok_and(|n| n == 0 || n >= 5), "{cell} in {crossed}");
    }

    // The multi-choice item as columns: the same table turned round.
    assert_eq!(transposed["columns_overlap"], true, "{transposed}");
    assert_eq!(transposed["rows_overlap"], false, "{transposed}");
    assert_eq!(strings(&transposed["column_totals"]), strings(&locations["row_totals"]), "{transposed}");
    let case_type_column: Vec<String> = by_case_type["cells"].as_array().expect("cells").iter().map(|r| r[0].as_str().expect("cell").to_owned()).collect();
    assert_eq!(strings(&transposed["row_totals"]), case_type_column, "{transposed}");

    // 33 of the 36 children have contact abuse: shown, "not contact
    // abuse" would be 3, so it is withheld; grooming (3) is <5.
    assert_eq!(abuse["total"], "36", "{abuse}");
    assert_eq!(row(&abuse, "Other contact abuse (such as sexual activity/assault)"), ["*"], "{abuse}");
    assert_eq!(row(&abuse, "Grooming with intention to abuse"), ["<5"], "{abuse}");

    // As printed: the total says whom it counts.
    assert!(text.contains("Total (distinct children)") && text.contains("a child may be counted in several rows"), "{text}");
    assert!(text.contains("each person under every category of context.locations any of their records ticks"), "{text}");
    // Two multi-choice items cannot be crossed, and it says so.
    assert!(both.contains("both multi-choice items"), "{both}");
    node.stop().await.expect("stop");
}
