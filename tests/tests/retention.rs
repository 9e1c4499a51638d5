//! Retention through the real `braid` binary and a node serving mTLS over
//! RocksDB: `braid admin retention --dry-run` shows each agency's rule and
//! what has expired without erasing anything; `braid admin retention`
//! erases it as a withdrawal would, with one audit entry for the sweep, and
//! the erased records' pseudonyms are gone from every file of the data
//! directory while the kept records' are still there.

use std::collections::BTreeMap;
use std::path::Path;

use braid_node::NodeConfig;
use braid_node::{RetentionRule, RetentionSettings};
use braid_tests::*;

fn mapping(agency: &str, kind: &str) -> String {
    format!(
        r#"
[agency]
code = "{agency}"
type = "{kind}"

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

[fields."victim.age_at_referral"]
column = "age"
"#
    )
}

/// One agency's extract: (case, person, referral date, age at referral).
fn extract(rows: &[(&str, usize, &str, &str)]) -> String {
    let names = ["Amelia Whitlock", "Oliver Penhaligon", "Isla Okonkwo", "Noah Trevithick", "Ava Marchetti", "Leo Abernethy"];
    let mut csv = String::from("case,person,role,type,date,forename,surname,dob,age\n");
    for (case, person, date, age) in rows {
        let (forename, surname) = names[*person].split_once(' ').expect("two names");
        let dob = braid_template::Date::from_days_since_epoch(12_000 + 97 * *person as i64);
        csv.push_str(&format!("{case},P{person},Victim,CSA,{date},{forename},{surname},{:02}/{:02}/{},{age}\n", dob.day, dob.month, dob.year));
    }
    csv
}

/// The files under `dir` that hold `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    files_holding(dir, &[needle.to_vec()]).remove(0)
}

/// The Bloom encoding of each record's (first) person in a pseudonymised
/// file, by the record's case (the re-identification map says which ref is
/// which case): the node stores it whole.
fn encodings(dir: &Path, name: &str) -> BTreeMap<String, Vec<u8>> {
    let (_, records) = read_extract(&dir.join(format!("{name}.bpx")));
    let reid = std::fs::read_to_string(dir.join(format!("{name}.reid.csv"))).expect("reid map");
    let mut case_of = BTreeMap::new();
    let mut lines = reid.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let (ref_at, case_at) =
        (header.iter().position(|h| *h == "record_ref").expect("record_ref column"), header.iter().position(|h| *h == "case_id").expect("case_id column"));
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        case_of.insert(cells[ref_at].to_owned(), cells[case_at].to_owned());
    }
    records
        .iter()
        .map(|record| {
            let key = record.involvements[0].pseudonyms.as_ref().expect("pseudonyms").bloom.clone();
            (case_of[&record.record_ref].clone(), key)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_records_are_shown_then_erased_from_the_profiles_the_audit_log_and_the_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys"), "--partnership", "north"]));
    let pseudonymise = |agency: &str| {
        let file = |suffix: &str| path(&format!("{agency}{suffix}"));
        ok(&braid(&[
            "agency",
            "pseudonymise",
            "--mapping",
            &file(".toml"),
            "--secret",
            &path("keys/scheme.secret"),
            "--input",
            &file(".csv"),
            "--out",
            &file(".bpx"),
        ]));
    };
    // Children's services keep a record 7 years after its last event, or
    // until the child is 25; everyone else 7 years (the default).
    // CSC: C1 (2010, aged 15: 25 in 2020) and C2 (2011, no age) have
    // expired; C3 (2012, aged 5: 25 by 2032) and C4 (2025) are kept.
    // Police: R1 (2012, aged 5: the default has no age rule) has expired;
    // R2 (2024) is kept. Person 0 is known to both (C1 and R2).
    let csc = extract(&[("C1", 0, "01/02/2010", "15"), ("C2", 1, "03/04/2011", ""), ("C3", 2, "05/06/2012", "5"), ("C4", 3, "10/03/2025", "9")]);
    let pol = extract(&[("R1", 4, "07/08/2012", "5"), ("R2", 0, "09/10/2024", "")]);
    for (agency, kind, csv) in [("CSC-NORTH", "children_services", csc), ("POL-NORTH", "police", pol)] {
        std::fs::write(path(&format!("{agency}.toml")), mapping(agency, kind)).expect("mapping");
        std::fs::write(path(&format!("{agency}.csv")), csv).expect("extract");
        pseudonymise(agency);
    }
    let mut keys_of = encodings(dir.path(), "CSC-NORTH");
    keys_of.extend(encodings(dir.path(), "POL-NORTH"));

    let data = tempfile::tempdir().expect("data dir");
    let seven = RetentionRule { years_after_last_event: Some(7), until_age: None };
    let rules = |sweep_minutes: u64| RetentionSettings {
        sweep_minutes,
        default: Some(seven),
        agencies: [("CSC-NORTH".to_owned(), RetentionRule { years_after_last_event: Some(7), until_age: Some(25) })].into(),
    };
    let partnerships: std::collections::BTreeMap<String, Vec<String>> = [("north".to_owned(), AGENCIES.iter().map(|a| (*a).to_owned()).collect())].into();
    // The records are stored while no rule applies (a node holding them
    // from before its rules were set): with rules, an upload refuses a
    // record already past its date, as the end of this test shows.
    let unruled = || NodeConfig { partnerships: partnerships.clone(), ..node_config(&path("keys"), data.path(), loopback()) };
    let node = braid_node::spawn(unruled()).await.expect("start node");
    let url = node.url();
    let keys = path("keys");
    for agency in ["CSC-NORTH", "POL-NORTH"] {
        let (k, u, file) = (keys.clone(), url.clone(), path(&format!("{agency}.bpx")));
        blocking(move || ok(&upload(&k, &u, agency, &file))).await;
    }
    // Before any sweep, every record's pseudonyms are in the data directory
    // (in the write-ahead log): the scan below can find them.
    for (case, key) in &keys_of {
        assert!(!holding(data.path(), key).is_empty(), "{case}'s encoding should be on disk before the sweep");
    }
    node.stop().await.expect("stop");
    let config = NodeConfig { retention: rules(0), partnerships: partnerships.clone(), ..node_config(&path("keys"), data.path(), loopback()) };
    let node = braid_node::spawn(config).await.expect("start node with rules");
    let url = node.url();

    let (k, u) = (keys.clone(), url.clone());
    let (before, dry, dry_text, after_dry) = blocking(move || {
        let before = stats(&k, &u);
        let dry = json(&ok(&braid_as(&k, "admin", &["admin", "retention", "--node", &u, "--dry-run", "--json"])));
        let text = ok(&braid_as(&k, "admin", &["admin", "retention", "--node", &u, "--dry-run"]));
        (before, dry, text, stats(&k, &u))
    })
    .await;
    assert_eq!(before["records"], 6, "{before}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["erased"], 0);
    let agency = |answer: &serde_json::Value, code: &str| {
        answer["agencies"].as_array().expect("agencies").iter().find(|a| a["agency"] == code).cloned().unwrap_or_else(|| panic!("no {code}: {answer}"))
    };
    let csc = agency(&dry, "CSC-NORTH");
    assert_eq!((csc["records"].as_u64(), csc["expired"].as_u64()), (Some(4), Some(2)), "{csc}");
    assert!(csc["rule"].as_str().expect("rule").contains("until the youngest victim is 25"), "{csc}");
    // C3 is kept until the day after its child's 25th birthday at the latest.
    assert_eq!(csc["next_expiry"], "2032-06-06", "{csc}");
    let pol = agency(&dry, "POL-NORTH");
    assert_eq!((pol["records"].as_u64(), pol["expired"].as_u64()), (Some(2), Some(1)), "{pol}");
    assert_eq!(pol["rule"], "7 years after the last event", "{pol}");
    assert!(dry_text.contains("3 records are past their retention date; nothing was erased"), "{dry_text}");
    assert_eq!(after_dry["records"], 6, "a dry run erases nothing: {after_dry}");

    let (k, u) = (keys.clone(), url.clone());
    let (run, after, log, verified) = blocking(move || {
        let run = json(&ok(&braid_as(&k, "admin", &["admin", "retention", "--node", &u, "--json"])));
        let after = stats(&k, &u);
        let log = json(&ok(&braid_as(&k, "auditor", &["audit", "log", "--node", &u, "--action", "admin.retention", "--json"])));
        let verified = ok(&braid_as(&k, "auditor", &["audit", "verify", "--node", &u]));
        (run, after, log, verified)
    })
    .await;
    assert_eq!(run["erased"], 3, "{run}");
    assert_eq!(after["records"], 3, "{after}");
    // Person 0 is now known to the police only: one profile per person left.
    assert_eq!(after["profiles"], 3, "{after}");
    assert_eq!(after["profiles_multi_agency"], 0, "{after}");
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "one audit entry for the sweep: {log}");
    assert_eq!(entries[0]["result_count"], 3, "{log}");
    assert_eq!(entries[0]["purpose"], "expired: CSC-NORTH 2, POL-NORTH 1", "whose records went: {log}");
    assert!(verified.contains("intact") || verified.contains("verified"), "{verified}");

    // The erased records' pseudonyms are gone from every file (the store
    // was compacted, and the log that held them is obsolete); the kept
    // records' are still there, so the scan sees into the store's files.
    // (C1 and R2 are one person with one encoding: R2 keeps it on disk.)
    let erased = ["C1", "C2", "R1"];
    let kept: Vec<&Vec<u8>> = keys_of.iter().filter(|(case, _)| !erased.contains(&case.as_str())).map(|(_, key)| key).collect();
    let mut checked = 0;
    for (case, key) in &keys_of {
        let found = holding(data.path(), key);
        if !erased.contains(&case.as_str()) {
            assert!(!found.is_empty(), "{case} was kept but its encoding is in no file");
        } else if !kept.contains(&key) {
            assert!(found.is_empty(), "{case} was erased but its encoding is still in {found:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 2, "C2 and R1 are nobody else's");

    // A second sweep finds nothing more.
    let (k, u) = (keys.clone(), url.clone());
    let again = blocking(move || json(&ok(&braid_as(&k, "admin", &["admin", "retention", "--node", &u, "--json"])))).await;
    assert_eq!(again["erased"], 0, "{again}");
    // Panels and agencies may not run it.
    let (k, u) = (keys.clone(), url.clone());
    let refused = blocking(move || failed(&braid_as(&k, "panel-north", &["admin", "retention", "--node", &u, "--dry-run"]))).await;
    assert!(refused.contains("may not"), "{refused}");

    // Children's services send a new extract holding the old records again
    // and a new one: the expired C1 and C2 are refused, named by row, and
    // the rest is stored.
    let csc = extract(&[
        ("C1", 0, "01/02/2010", "15"),
        ("C2", 1, "03/04/2011", ""),
        ("C3", 2, "05/06/2012", "5"),
        ("C4", 3, "10/03/2025", "9"),
        ("C5", 5, "11/11/2025", "12"),
    ]);
    std::fs::write(path("CSC-NORTH.csv"), csc).expect("extract");
    pseudonymise("CSC-NORTH");
    let (k, u, file) = (keys.clone(), url.clone(), path("CSC-NORTH.bpx"));
    let (refused_expired, resent) = blocking(move || (upload(&k, &u, "CSC-NORTH", &file), stats(&k, &u))).await;
    let summary = ok(&refused_expired);
    assert!(summary.contains("(1 new, 0 replaced, 2 unchanged, 2 rejected)"), "{summary}");
    let reasons = String::from_utf8_lossy(&refused_expired.stderr);
    assert_eq!(
        reasons.matches("event_date: is past this agency's retention period (7 years after the last event, or until the youngest victim is 25").count(),
        2,
        "{reasons}"
    );
    assert_eq!(resent["records"], 4, "{resent}");
    // An upload every record of which is refused fails, though each batch
    // was answered.
    std::fs::write(path("CSC-NORTH.csv"), extract(&[("C1", 0, "01/02/2010", "15"), ("C2", 1, "03/04/2011", "")])).expect("extract");
    pseudonymise("CSC-NORTH");
    let (k, u, file) = (keys.clone(), url.clone(), path("CSC-NORTH.bpx"));
    let all_refused = blocking(move || failed(&upload(&k, &u, "CSC-NORTH", &file))).await;
    assert!(all_refused.contains("the node rejected every record of") && all_refused.contains("nothing was stored"), "{all_refused}");
    node.stop().await.expect("stop");

    // Sent again to a node without rules, C1 and C2 are stored; the node
    // then restarts with sweeps scheduled: the first runs at start, as the
    // node itself, with one audit entry.
    let node = braid_node::spawn(unruled()).await.expect("start node");
    pseudonymise("CSC-NORTH");
    let (k, u, file) = (keys.clone(), node.url(), path("CSC-NORTH.bpx"));
    let back = blocking(move || {
        ok(&upload(&k, &u, "CSC-NORTH", &file));
        stats(&k, &u)
    })
    .await;
    assert_eq!(back["records"], 6, "{back}");
    node.stop().await.expect("stop");
    let config = NodeConfig { retention: rules(60), ..node_config(&path("keys"), data.path(), loopback()) };
    let node = braid_node::spawn(config).await.expect("restart node");
    let url = node.url();
    let mut records = 0;
    for _ in 0..100 {
        let (k, u) = (keys.clone(), url.clone());
        records = blocking(move || stats(&k, &u)["records"].as_u64().expect("records")).await;
        if records == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(records, 4, "the scheduled sweep should erase C1 and C2 again");
    let (k, u) = (keys.clone(), url.clone());
    let log = blocking(move || json(&ok(&braid_as(&k, "auditor", &["audit", "log", "--node", &u, "--action", "retention.sweep", "--json"])))).await;
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!((entries[0]["principal"].as_str(), entries[0]["result_count"].as_u64()), (Some("braid-node"), Some(2)), "{log}");
    node.stop().await.expect("stop");

    // A node stopped after an erasure and before its compaction (as kill -9
    // would) leaves the compaction owed; the next start or sweep pays it,
    // and says so, instead of leaving the erased pseudonyms in the files.
    {
        let store = braid_store::Store::open(data.path()).expect("store");
        let mut set = braid_store::WriteSet::new();
        set.set_compaction_owed(true);
        store.write(set).expect("write");
    }
    let node = braid_node::spawn(unruled()).await.expect("start node");
    let (k, u) = (keys.clone(), node.url());
    let swept = blocking(move || ok(&braid_as(&k, "admin", &["admin", "retention", "--node", &u]))).await;
    assert!(swept.contains("0 records erased"), "{swept}");
    node.stop().await.expect("stop");
    let store = braid_store::Store::open(data.path()).expect("store");
    assert!(!store.compaction_owed().expect("read"), "the owed compaction was paid");
}
