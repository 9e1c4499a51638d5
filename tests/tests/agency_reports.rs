//! Reports by agency and the disagreement report, through the real `braid`
//! binary and a node serving mTLS over RocksDB: a child known to two
//! agencies is counted under each, with each agency's own answer (one calls
//! it CSA, the other CSE), once in the total; records from outside the
//! partnership never count; small counts are `<5` and a count a row total
//! would give away is withheld; and a child whose records at two agencies
//! give different sexes and case types is in the disagreement report for
//! that pair.

use braid_tests::*;

const MAPPING: &str = r#"
[agency]
code = "AGENCY"
type = "TYPE"

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
postcode = "postcode"

[roles]
Victim = "known_victim"

[case_types]
CSA = "CSA"
CSE = "CSE"

[fields."victim.sex"]
column = "sex"
labels = { G = "Female", B = "Male" }
"#;

const HEADER: &str = "case,person,role,type,date,forename,surname,dob,postcode,sex";

const FORENAMES: [&str; 12] = ["Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Mia", "Arthur", "Ivy", "Oscar", "Freya", "Theo"];
const SURNAMES: [&str; 3] = ["Whitlock", "Penhaligon", "Okonkwo"];

/// One record of child `child` at an agency.
fn row(case: &str, child: usize, case_type: &str, sex: &str) -> String {
    let (forename, surname) = (FORENAMES[child % 12], SURNAMES[child / 12]);
    // Birthdays weeks apart: no two children look alike.
    let dob = braid_template::Date::from_days_since_epoch(14_000 + 41 * child as i64);
    format!("{case},P{child:03},Victim,{case_type},10/03/2025,{forename},{surname},{:02}/{:02}/{},LS6 {}AB,{sex}", dob.day, dob.month, dob.year, child % 9 + 1)
}

/// The extracts. Children 0–6 are known to social care (CSA, girls) and
/// to police (CSE, girls; child 0 a boy there); 7–16 to social care only
/// (CSA, 5 girls, 5 boys); 17–22 to police only (CSE, 3 girls, 3 boys);
/// 23–27 to the youth offending team only (CSE, girls), which also records
/// child 1 (CSA, a boy). The partnership `statutory` is social care and
/// police; `north` has the youth offending team too.
fn extracts() -> Vec<(&'static str, &'static str, Vec<String>)> {
    let mut csc = Vec::new();
    let mut pol = Vec::new();
    let mut yot = Vec::new();
    for child in 0..7 {
        csc.push(row(&format!("C{child:03}"), child, "CSA", "G"));
        pol.push(row(&format!("R{child:03}"), child, "CSE", if child == 0 { "B" } else { "G" }));
    }
    for child in 7..17 {
        csc.push(row(&format!("C{child:03}"), child, "CSA", if child < 12 { "G" } else { "B" }));
    }
    for child in 17..23 {
        pol.push(row(&format!("R{child:03}"), child, "CSE", if child < 20 { "G" } else { "B" }));
    }
    for child in 23..28 {
        yot.push(row(&format!("Y{child:03}"), child, "CSE", "G"));
    }
    yot.push(row("Y001", 1, "CSA", "B"));
    vec![("CSC-NORTH", "children_services", csc), ("POL-NORTH", "police", pol), ("YOT-NORTH", "yot", yot)]
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value.as_array().unwrap_or_else(|| panic!("not an array: {value}")).iter().map(|v| v.as_str().expect("string").to_owned()).collect()
}

/// Row `label`'s cells.
fn cells(report: &serde_json::Value, label: &str) -> Vec<String> {
    let at = strings(&report["row_labels"]).iter().position(|l| l == label).unwrap_or_else(|| panic!("no row {label}: {report}"));
    strings(&report["cells"][at])
}

/// Row `label`'s cell in column `column`.
fn cell(report: &serde_json::Value, label: &str, column: &str) -> String {
    let at = strings(&report["column_labels"]).iter().position(|c| c == column).unwrap_or_else(|| panic!("no column {column}: {report}"));
    cells(report, label)[at].clone()
}

/// The disagreement count for `item` and the pair `a`, `b`.
fn disagreeing(reply: &serde_json::Value, item: &str, a: &str, b: &str) -> String {
    let rows = reply["rows"].as_array().expect("rows");
    let found = rows
        .iter()
        .find(|r| r["item"] == item && ((r["agency_a"] == a && r["agency_b"] == b) || (r["agency_a"] == b && r["agency_b"] == a)))
        .unwrap_or_else(|| panic!("no row for {item}, {a}–{b}: {reply}"));
    found["children"].as_str().expect("children").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_are_report_dimensions_and_disagreements_are_counted_per_pair() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys"), "--partnership", "north", "--partnership", "statutory"]));
    for (agency, kind, rows) in extracts() {
        pseudonymise_rows(dir.path(), agency, kind, MAPPING, HEADER, &rows);
    }
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&path("keys"), data.path()).await;
    let url = node.url();
    let keys = path("keys");
    let files: Vec<(String, String)> = ["CSC-NORTH", "POL-NORTH", "YOT-NORTH"].iter().map(|a| ((*a).to_owned(), path(&format!("{a}.bpx")))).collect();
    let (k, u) = (keys.clone(), url.clone());
    blocking(move || {
        for (agency, file) in &files {
            ok(&upload(&k, &u, agency, file));
        }
    })
    .await;

    let (k, u) = (keys.clone(), url.clone());
    let report = move |partnership: &str, by: &[&str]| {
        let mut args = Vec::new();
        for b in by {
            args.extend(["--by", *b]);
        }
        args.push("--json");
        json(&ok(&panel(&k, "report", &u, partnership, &args)))
    };
    let (k, u) = (keys.clone(), url.clone());
    let disagreements = move |partnership: &str, rest: &[&str]| {
        let mut args = rest.to_vec();
        args.push("--json");
        json(&ok(&panel(&k, "disagreements", &u, partnership, &args)))
    };
    let (k, u) = (keys.clone(), url.clone());
    let (by_agency, by_type, by_case_type, agency_case_type, case_type_agency, agency_sex, north, north_case_type, both, text) = blocking(move || {
        (
            report("statutory", &["agency"]),
            report("statutory", &["agency_type"]),
            report("statutory", &["case_type"]),
            report("statutory", &["agency", "case_type"]),
            report("statutory", &["case_type", "agency"]),
            report("statutory", &["agency", "victim.sex"]),
            report("north", &["agency"]),
            report("north", &["agency", "case_type"]),
            failed(&panel(&k, "report", &u, "statutory", &["--by", "agency", "--by", "agency_type"])),
            ok(&panel(&k, "report", &u, "statutory", &["--by", "agency", "--by", "case_type"])),
        )
    })
    .await;

    // By agency: 17 children known to social care, 13 to police, 7 of them
    // to both: 23 distinct children. The youth offending team is outside
    // the partnership: no row, and its five children are not counted.
    assert_eq!(strings(&by_agency["row_labels"]), ["CSC-NORTH", "POL-NORTH"], "{by_agency}");
    assert_eq!(cells(&by_agency, "CSC-NORTH"), ["17"], "{by_agency}");
    assert_eq!(cells(&by_agency, "POL-NORTH"), ["13"], "{by_agency}");
    assert_eq!(by_agency["total"], "23", "each child once: {by_agency}");
    assert_eq!(by_agency["rows_overlap"], true);
    assert_eq!(by_case_type["total"], by_agency["total"], "the same children: {by_case_type}");
    assert_eq!(strings(&by_type["row_labels"]), ["children_services", "police"], "{by_type}");
    assert_eq!(cells(&by_type, "police"), ["13"], "{by_type}");

    // By agency and case type: each child under every agency that knows
    // them, with that agency's own case type: the seven both know are CSA
    // at social care and CSE at police.
    assert_eq!(agency_case_type["answers_per_agency"], true, "{agency_case_type}");
    assert_eq!(cell(&agency_case_type, "CSC-NORTH", "CSA"), "17", "{agency_case_type}");
    assert_eq!(cell(&agency_case_type, "CSC-NORTH", "CSE"), "0", "{agency_case_type}");
    assert_eq!(cell(&agency_case_type, "POL-NORTH", "CSE"), "13", "{agency_case_type}");
    assert_eq!(cell(&agency_case_type, "POL-NORTH", "CSA"), "0", "{agency_case_type}");
    assert_eq!(strings(&agency_case_type["row_totals"]), strings(&by_agency["row_totals"]), "the one-way report by agency: {agency_case_type}");
    assert_eq!(agency_case_type["total"], "23", "17 + 13 under agencies, 23 children: {agency_case_type}");
    assert!(strings(&agency_case_type["column_totals"]).is_empty(), "{agency_case_type}");
    // Turned round, the same table.
    assert_eq!(case_type_agency["columns_overlap"], true, "{case_type_agency}");
    assert_eq!(strings(&case_type_agency["column_totals"]), strings(&by_agency["row_totals"]), "{case_type_agency}");
    assert_eq!(cell(&case_type_agency, "CSE", "POL-NORTH"), "13", "{case_type_agency}");

    // By agency and sex: police has 4 boys (child 0 and three of its own):
    // <5; its 9 girls are the row total 13 less them, so withheld.
    assert_eq!(cell(&agency_sex, "POL-NORTH", "Male"), "<5", "{agency_sex}");
    assert_eq!(cell(&agency_sex, "POL-NORTH", "Female"), "*", "{agency_sex}");
    assert_eq!(cells(&agency_sex, "POL-NORTH").iter().filter(|c| *c == "13").count(), 0, "{agency_sex}");
    for row in agency_sex["cells"].as_array().expect("cells") {
        for c in strings(row) {
            assert!(c == "<5" || c == "*" || c.parse::<u64>().is_ok_and(|n| n == 0 || n >= 5), "{c} in {agency_sex}");
        }
    }

    // The partnership with the youth offending team: its row, its children.
    assert_eq!(cells(&north, "YOT-NORTH"), ["6"], "{north}");
    assert_eq!(north["total"], "28", "{north}");
    // It knows 6: 5 CSE, 1 CSA. Withholding the 5 alone would leave "5 or
    // more" and give the 1 away: its whole row is withheld, the rest shown.
    assert_eq!(cells(&north_case_type, "YOT-NORTH"), ["*", "*", "*"], "{north_case_type}");
    assert_eq!(cell(&north_case_type, "CSC-NORTH", "CSA"), "17", "{north_case_type}");
    assert_eq!(cell(&north_case_type, "POL-NORTH", "CSE"), "13", "{north_case_type}");

    // Two agency dimensions cannot be crossed, and it says so.
    assert!(both.contains("both agency dimensions"), "{both}");
    // As printed: whom the total counts, and how.
    assert!(text.contains("each person under every agency whose records name them, by case_type as that agency records it"), "{text}");
    assert!(text.contains("Total (distinct children)"), "{text}");
    println!("{text}");

    // Disagreements: the seven both know are CSA at social care and CSE at
    // police (7); child 0 is a girl at one and a boy at the other (<5);
    // nobody's ethnicity or disability is recorded, so nothing disagrees.
    let (k, u) = (keys.clone(), url.clone());
    let (statutory, north_disagreements, sex_only, text) = blocking(move || {
        (
            disagreements("statutory", &[]),
            disagreements("north", &[]),
            disagreements("statutory", &["--item", "victim.sex"]),
            ok(&panel(&k, "disagreements", &u, "statutory", &[])),
        )
    })
    .await;
    assert_eq!(disagreeing(&statutory, "case_type", "CSC-NORTH", "POL-NORTH"), "7", "{statutory}");
    assert_eq!(disagreeing(&statutory, "victim.sex", "CSC-NORTH", "POL-NORTH"), "<5", "{statutory}");
    assert_eq!(disagreeing(&statutory, "victim.ethnicity", "CSC-NORTH", "POL-NORTH"), "0", "{statutory}");
    assert_eq!(disagreeing(&statutory, "victim.disabilities", "CSC-NORTH", "POL-NORTH"), "0", "{statutory}");
    assert_eq!(statutory["rows"].as_array().expect("rows").len(), 4, "one pair, four items: {statutory}");
    assert!(statutory.to_string().find("YOT-NORTH").is_none(), "outside the partnership: {statutory}");
    // With the youth offending team: child 1 is a boy there (a girl at
    // social care) and CSA there (CSE at police).
    assert_eq!(disagreeing(&north_disagreements, "victim.sex", "CSC-NORTH", "YOT-NORTH"), "<5", "{north_disagreements}");
    assert_eq!(disagreeing(&north_disagreements, "case_type", "POL-NORTH", "YOT-NORTH"), "<5", "{north_disagreements}");
    assert_eq!(disagreeing(&north_disagreements, "case_type", "CSC-NORTH", "YOT-NORTH"), "0", "{north_disagreements}");
    assert_eq!(disagreeing(&north_disagreements, "case_type", "CSC-NORTH", "POL-NORTH"), "7", "{north_disagreements}");
    assert_eq!(north_disagreements["rows"].as_array().expect("rows").len(), 4 * 6, "six pairs of four agencies: {north_disagreements}");
    assert_eq!(sex_only["rows"].as_array().expect("rows").len(), 1, "{sex_only}");
    assert!(text.contains("victim.sex (A3)") && text.contains("CSC-NORTH") && text.contains("<5"), "{text}");
    println!("{text}");

    // Every call went through the gate: audited with its purpose.
    let (k, u) = (keys.clone(), url.clone());
    let (log, refused) = blocking(move || {
        (
            json(&ok(&braid_as(&k, "auditor", &["audit", "log", "--node", &u, "--action", "panel.disagreements", "--json"]))),
            failed(&panel(&k, "disagreements", &u, "statutory", &["--item", "victim.country_of_birth"])),
        )
    })
    .await;
    let entries = log["entries"].as_array().expect("entries");
    assert!(entries.len() >= 4, "{log}");
    assert!(entries.iter().all(|e| e["purpose"] == "test: panel review" && e["case_reference"] == "T-1"), "{log}");
    assert!(refused.contains("items: `victim.country_of_birth` is not a single-choice or multi-choice item"), "{refused}");
    node.stop().await.expect("stop");
}

/// Two of a partnership's agencies of one type: a report by type would,
/// beside the report by agency, show how many children they share (the
/// two rows less the type's row), so it is refused and the report by agency
/// is offered instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_by_type_is_refused_where_a_type_merges_two_agencies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys"), "--partnership", "north", "--partnership", "statutory"]));
    for (agency, _, rows) in extracts().into_iter().filter(|(agency, _, _)| ["CSC-NORTH", "POL-NORTH"].contains(agency)) {
        // Both recorded as children's services.
        std::fs::write(path(&format!("{agency}.toml")), MAPPING.replace("AGENCY", agency).replace("TYPE", "children_services")).expect("mapping");
        std::fs::write(path(&format!("{agency}.csv")), format!("{HEADER}\n{}\n", rows.join("\n"))).expect("csv");
        ok(&braid(&[
            "agency",
            "pseudonymise",
            "--mapping",
            &path(&format!("{agency}.toml")),
            "--secret",
            &path("keys/scheme.secret"),
            "--input",
            &path(&format!("{agency}.csv")),
            "--out",
            &path(&format!("{agency}.bpx")),
        ]));
    }
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&path("keys"), data.path()).await;
    let (k, u) = (path("keys"), node.url());
    let files: Vec<(String, String)> = ["CSC-NORTH", "POL-NORTH"].iter().map(|a| ((*a).to_owned(), path(&format!("{a}.bpx")))).collect();
    let (refused, by_agency) = blocking(move || {
        for (agency, file) in &files {
            ok(&upload(&k, &u, agency, file));
        }
        (failed(&panel(&k, "report", &u, "statutory", &["--by", "agency_type"])), ok(&panel(&k, "report", &u, "statutory", &["--by", "agency", "--json"])))
    })
    .await;
    assert!(refused.contains("several agencies of one type") && refused.contains("report by agency"), "{refused}");
    assert_eq!(strings(&json(&by_agency)["row_labels"]), ["CSC-NORTH", "POL-NORTH"]);
    node.stop().await.expect("stop");
}
