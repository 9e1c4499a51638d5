//! Derived perpetrator answers through the real CLI and node: previous
//! involvement (B1), lone perpetrator and number of perpetrators (B2, B2a)
//! and institutional network (B10) are worked out from the linked history,
//! marked as derived with their basis, never replace what the agency
//! recorded, and rest only on the asking partnership's records.

use std::collections::HashMap;

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
sex = "sex"
postcode = "postcode"

[roles]
Victim = "known_victim"
Suspect = "perpetrator"

[case_types]
CSA = "CSA"

[fields."perpetrator.age"]
column = "age"

[fields."perpetrator.previous_involvement"]
column = "previous"

[fields."context.locations"]
column = "where"
"#;

const HEADER: &str = "case,person,role,type,date,forename,surname,dob,sex,postcode,age,previous,where";

/// The derived answers of one record's perpetrator, by item.
fn derived_of(profiles: &serde_json::Value, record_ref: &str) -> HashMap<String, (String, String)> {
    let record = profiles["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .flat_map(|p| p["records"].as_array().expect("records").iter())
        .find(|r| r["record_ref"] == record_ref && r["role"] == "perpetrator")
        .unwrap_or_else(|| panic!("no perpetrator record in {profiles}"));
    record["derived"]
        .as_array()
        .expect("derived")
        .iter()
        .map(|d| {
            (d["item"].as_str().expect("item").to_owned(), (d["value"].as_str().expect("value").to_owned(), d["basis"].as_str().expect("basis").to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perpetrator_items_are_derived_from_the_linked_history_beside_what_agencies_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys"), "--partnership", "north", "--partnership", "statutory"]));
    let extracts = [
        (
            "YOT-NORTH",
            "yot",
            vec![
                // One man's three cases, two years apart, at three agencies.
                "Y1,Y-01,Victim,CSA,10/01/2017,Amelia,Hargreaves,03/04/2004,F,BD7 1DP,,,",
                "Y1,Y-02,Suspect,CSA,10/01/2017,Gareth,Pennington,12/05/1975,M,BD7 3RT,41,,",
            ],
        ),
        (
            "POL-NORTH",
            "police",
            vec![
                "R1,N-01,Victim,CSA,14/02/2019,Olivia,Brennan,21/09/2008,F,BD9 4QA,,,",
                "R1,N-02,Suspect,CSA,14/02/2019,Gareth,Pennington,12/05/1975,M,BD7 3RT,43,,",
                // One child, two men, a residential home: the police know one.
                "R2,N-03,Victim,CSA,01/03/2022,Sophie,Whitfield,17/07/2009,F,BD3 8HW,,,In a residential home",
                "R2,N-04,Suspect,CSA,01/03/2022,Darren,Kelsall,02/02/1981,M,BD5 0NL,41,,In a residential home",
            ],
        ),
        (
            "CSC-NORTH",
            "children_services",
            vec![
                // The agency records B1 as not known; the derived answer sits beside it.
                "C1,P-01,Victim,CSA,01/06/2021,Chloe,Ashworth,30/11/2011,F,BD2 1LP,,,",
                "C1,P-02,Suspect,CSA,01/06/2021,Gareth,Pennington,12/05/1975,M,BD7 3RT,46,Not known,",
                // The same child a week later; children's services know
                // the police's man and another beside him.
                "C2,P-03,Victim,CSA,08/03/2022,Sophie,Whitfield,17/07/2009,F,BD3 8HW,,,In a residential home",
                "C2,P-05,Suspect,CSA,08/03/2022,Darren,Kelsall,02/02/1981,M,BD5 0NL,41,,In a residential home",
                "C2,P-04,Suspect,CSA,08/03/2022,Connor,Ashdown,19/10/2000,M,BD4 6JS,21,,In a residential home",
            ],
        ),
    ];
    for (agency, kind, rows) in &extracts {
        pseudonymise_rows(dir.path(), agency, kind, MAPPING, HEADER, rows);
    }
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&path("keys"), data.path()).await;
    let url = node.url();
    let keys = path("keys");
    let dir_path = dir.path().to_owned();
    let (north, statutory, text, console_records) = blocking(move || {
        for (agency, _, _) in &extracts {
            ok(&upload(&keys, &url, agency, &dir_path.join(format!("{agency}.bpx")).display().to_string()));
        }
        let ask = |partnership: &str, agency: &str, case: &str, json: bool| {
            let reid = dir_path.join(format!("{agency}.reid.csv")).display().to_string();
            let mut rest = vec!["--agency", agency, "--case-id", case, "--reid", &reid];
            if json {
                rest.push("--json");
            }
            ok(&panel(&keys, "profile", &url, partnership, &rest))
        };
        let mut north = HashMap::new();
        let mut statutory = HashMap::new();
        for (agency, case) in [("YOT-NORTH", "Y1"), ("POL-NORTH", "R1"), ("POL-NORTH", "R2"), ("CSC-NORTH", "C1"), ("CSC-NORTH", "C2")] {
            north.insert(case, json(&ask("north", agency, case, true)));
            if agency != "YOT-NORTH" {
                statutory.insert(case, json(&ask("statutory", agency, case, true)));
            }
        }
        let text = ask("north", "CSC-NORTH", "C1", false);
        (north, statutory, text, dir_path.join("CSC-NORTH.reid.csv"))
    })
    .await;
    // Record refs by case id.
    let mut refs: HashMap<String, String> = HashMap::new();
    for agency in ["YOT-NORTH", "POL-NORTH", "CSC-NORTH"] {
        let file = console_records.with_file_name(format!("{agency}.reid.csv"));
        for line in std::fs::read_to_string(&file).expect("reid").lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            refs.insert(f[2].to_owned(), f[1].to_owned());
        }
    }
    let derived = |answers: &HashMap<&str, serde_json::Value>, case: &str| derived_of(&answers[case], &refs[case]);

    // B1: the first case has no earlier one; the later ones do, a suspect
    // once the police have named him.
    assert!(derived(&north, "Y1").is_empty(), "{:?}", derived(&north, "Y1"));
    let r1 = derived(&north, "R1");
    assert_eq!(r1["B1"].0, "Yes, person of concern", "{r1:?}");
    assert!(r1["B1"].1.starts_with("derived: 1 earlier case as a harmer (yot)"), "{r1:?}");
    let c1 = derived(&north, "C1");
    assert_eq!(c1["B1"].0, "Yes, suspect", "{c1:?}");
    assert!(c1["B1"].1.contains("2 earlier cases"), "{c1:?}");
    assert_eq!(c1.len(), 1, "a lone case says nothing of B2: {c1:?}");
    // What the agency recorded stays as it recorded it.
    let recorded = north["C1"]["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .flat_map(|p| p["records"].as_array().expect("records").iter())
        .find(|r| r["record_ref"] == refs["C1"].as_str() && r["role"] == "perpetrator")
        .expect("record")["fields"]["perpetrator.previous_involvement"]
        .clone();
    assert_eq!(recorded, "Not known");
    assert!(text.contains("B1   perpetrator.previous_involvement") && text.contains("Yes, suspect  [derived: 2 earlier cases"), "{text}");

    // B2, B2a and B10: two men harmed one child in a residential home;
    // the police know one of them.
    let r2 = derived(&north, "R2");
    assert!(r2["B2a"].1.contains("(2 records of this person at 2 agencies)"), "{r2:?}");
    for case in ["R2", "C2"] {
        let answers = derived(&north, case);
        assert_eq!(answers["B2"].0, "No", "{case}: {answers:?}");
        assert_eq!(answers["B2a"].0, "2", "{case}: {answers:?}");
        assert!(answers["B2a"].1.starts_with("derived: at least 2 people harmed the child in this incident"), "{case}: {answers:?}");
        assert_eq!(answers["B10"].0, "Yes (write in)", "{case}: {answers:?}");
        assert!(answers["B10"].1.contains("1 child also harmed by 1 other person"), "{case}: {answers:?}");
        assert!(!answers.contains_key("B1"), "{case}: {answers:?}");
    }

    // The statutory partnership does not see the youth offending team: the
    // police case has no earlier case for it; the rest is unchanged.
    assert!(derived(&statutory, "R1").is_empty(), "{:?}", derived(&statutory, "R1"));
    let c1 = derived(&statutory, "C1");
    assert_eq!(c1["B1"].0, "Yes, suspect", "{c1:?}");
    assert!(c1["B1"].1.contains("1 earlier case as a harmer (police)"), "{c1:?}");
    assert_eq!(derived(&statutory, "C2"), derived(&north, "C2"));

    // Victims' records carry no derived perpetrator answers.
    for answers in north.values() {
        for record in answers["profiles"].as_array().expect("profiles").iter().flat_map(|p| p["records"].as_array().expect("records").iter()) {
            if record["role"] != "perpetrator" {
                assert!(record["derived"].as_array().expect("derived").is_empty(), "{record}");
            }
        }
    }
}
