//! Young adults (18 to 24) known to youth services, through the real
//! `braid` binary and a node serving mTLS over RocksDB: the template's age
//! at referral is 0 to 17, and 18 to 24 is accepted only where the record
//! says the victim is a young adult (`victim.young_adult`, a Braid
//! extension item); reports count them in one band of their own.

use braid_tests::*;

const MAPPING: &str = r#"
[agency]
code = "YOT-NORTH"
type = "yot"

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
CSE = "CSE"

[fields."victim.age_at_referral"]
column = "age"

[fields."victim.young_adult"]
column = "young_adult"
labels = { Y = "Yes", N = "No" }
"#;

const FORENAMES: [&str; 8] = ["Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Mia", "Arthur"];
const SURNAMES: [&str; 3] = ["Whitlock", "Penhaligon", "Okonkwo"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ages_18_to_24_are_accepted_for_young_adults_only_and_reported_in_their_own_band() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys"), "--partnership", "north"]));
    // Eight children of 15, seven young adults of 20 (flagged), one person
    // of 21 flagged "not a young adult" and one of 22 not flagged.
    let mut csv = String::from("case,person,role,type,date,forename,surname,dob,age,young_adult\n");
    let people: Vec<(u32, &str)> = std::iter::repeat_n((15, ""), 8).chain(std::iter::repeat_n((20, "Y"), 7)).chain([(21, "N"), (22, "")]).collect();
    for (n, (age, flag)) in people.iter().enumerate() {
        let dob = braid_template::Date::from_days_since_epoch(9_000 + 53 * n as i64);
        let (forename, surname) = (FORENAMES[n % 8], SURNAMES[n / 8]);
        csv.push_str(&format!("Y{n:03},P{n:03},Victim,CSE,10/03/2025,{forename},{surname},{:02}/{:02}/{},{age},{flag}\n", dob.day, dob.month, dob.year));
    }
    std::fs::write(path("m.toml"), MAPPING).expect("mapping");
    std::fs::write(path("x.csv"), csv).expect("extract");
    let run = braid(&[
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
    ]);
    let (stdout, stderr) = (ok(&run), String::from_utf8_lossy(&run.stderr).into_owned());
    assert!(stdout.contains("2 rows rejected"), "{stdout}");
    // Both refusals name the row, the item and the rule.
    for row in [17, 18] {
        assert!(
            stderr.lines().any(|l| l.contains(&format!("row {row}"))
                && l.contains("victim.age_at_referral")
                && l.contains("18 to 24 only where victim.young_adult = Yes")),
            "row {row}: {stderr}"
        );
    }

    let data = tempfile::tempdir().expect("data dir");
    let node = braid_node::spawn(braid_node::NodeConfig {
        partnerships: [("north".to_owned(), vec!["YOT-NORTH".to_owned()])].into(),
        agencies: [("YOT-NORTH".to_owned(), "yot".to_owned())].into(),
        ..node_config(&path("keys"), data.path(), loopback())
    })
    .await
    .expect("start node");
    let (k, u, file) = (path("keys"), node.url(), path("x.bpx"));
    let (by_age, by_flag) = blocking(move || {
        ok(&braid_as(&k, "yot-north", &["agency", "upload", "--node", &u, &file]));
        let report = |by: &str| json(&ok(&panel(&k, "report", &u, "north", &["--by", by, "--json"])));
        (report("victim.age_at_referral"), report("victim.young_adult"))
    })
    .await;
    let cell = |report: &serde_json::Value, label: &str| -> String {
        let labels: Vec<&str> = report["row_labels"].as_array().expect("rows").iter().map(|l| l.as_str().expect("label")).collect();
        let at = labels.iter().position(|l| *l == label).unwrap_or_else(|| panic!("no row {label}: {report}"));
        report["cells"][at][0].as_str().expect("cell").to_owned()
    };
    assert_eq!(cell(&by_age, "18–24 (young adult)"), "7", "{by_age}");
    assert_eq!(cell(&by_age, "15"), "8", "{by_age}");
    assert_eq!(cell(&by_flag, "Yes"), "7", "{by_flag}");
    node.stop().await.expect("stop");
}
