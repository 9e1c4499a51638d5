//! The quarterly pack through the real `braid` binary and a node serving
//! mTLS over RocksDB: `braid panel pack --period YYYY-Qn --out DIR` writes
//! every table as CSV and one self-contained HTML page, each table exactly
//! what the matching `braid panel` command gets for that quarter (so every
//! cell is already suppressed), every call audited with the panel's purpose.

use std::collections::HashMap;

use braid_pseudonym::{pseudonymise_extract, Keys, Mapping, Role, SchemeSecret};
use braid_tests::*;

/// Children known as victims with a case whose event date (incident
/// start, else referral) lies in `since..=until`, by the case type of their
/// latest such case: worked out from who each row truly is (the synthetic
/// truth), not from the node's linkage. Indexed CSA, CSE, HSB.
fn victims_by_case_type_from_truth(dir: &str, since: i64, until: i64) -> [u64; 3] {
    let mut truth: HashMap<(String, String, String), String> = HashMap::new();
    let mut reader = csv::Reader::from_path(format!("{dir}/synth/truth.csv")).expect("truth");
    for row in reader.records() {
        let row = row.expect("truth row");
        truth.insert((row[0].to_owned(), row[1].to_owned(), row[2].to_owned()), row[4].to_owned());
    }
    // Per true person: the latest (day, case type) of their cases in the
    // window, ties to the first case type (as the node breaks them).
    let mut latest: HashMap<String, (i64, usize)> = HashMap::new();
    for agency in AGENCIES {
        let mapping = Mapping::parse(&std::fs::read_to_string(format!("{dir}/synth/{agency}.mapping.toml")).expect("mapping")).expect("a mapping");
        let csv = std::fs::read(format!("{dir}/synth/{agency}.csv")).expect("extract");
        let output = pseudonymise_extract(csv.as_slice(), &mapping, &Keys::derive(&SchemeSecret::new(1, [9; 32]), agency), |_| {}).expect("read");
        let case_of: HashMap<&str, &str> = output.reid.iter().map(|e| (e.record_ref.as_str(), e.case_id.as_str())).collect();
        let person_of: HashMap<&str, &str> = output.reid.iter().map(|e| (e.person_ref.as_str(), e.person_id.as_str())).collect();
        for record in &output.records {
            let Some(day) = record.incident_start.or(record.referral_date).map(|d| d.days_since_epoch()) else { continue };
            if day < since || day > until {
                continue;
            }
            let Some(case_type) = record.case_type.map(|t| t as usize) else { continue };
            for involvement in record.involvements.iter().filter(|i| matches!(i.role, Role::KnownVictim | Role::SuspectedVictim)) {
                let key = (agency.to_owned(), case_of[record.record_ref.as_str()].to_owned(), person_of[involvement.person_ref.as_str()].to_owned());
                let person = truth.get(&key).unwrap_or_else(|| panic!("{key:?} is not in the truth")).clone();
                let entry = latest.entry(person).or_insert((day, case_type));
                if (day, std::cmp::Reverse(case_type)) > (entry.0, std::cmp::Reverse(entry.1)) {
                    *entry = (day, case_type);
                }
            }
        }
    }
    let mut counts = [0u64; 3];
    for (_, case_type) in latest.values() {
        counts[*case_type] += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarterly_pack_holds_what_the_panel_commands_give_for_the_quarter() {
    let prepared = prepare(400);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let out = prepared.path("pack");
    let (k, u, o) = (keys.clone(), url.clone(), out.clone());
    let (quarter, pack_said, by_case_type, counts, log, refused) = blocking(move || {
        for agency in AGENCIES {
            ok(&upload(&k, &u, agency, &format!("{}/{agency}.bpx", k.trim_end_matches("/keys"))));
        }
        // The busiest quarter.
        let by_quarter = json(&ok(&panel(&k, "report", &u, "north", &["--by", "period:quarter", "--json"])));
        let labels: Vec<String> = by_quarter["row_labels"].as_array().expect("labels").iter().map(|l| l.as_str().expect("label").to_owned()).collect();
        let counts: Vec<u64> = by_quarter["cells"].as_array().expect("cells").iter().map(|c| c[0].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)).collect();
        let busiest = labels[counts.iter().enumerate().max_by_key(|(_, n)| **n).expect("a quarter").0].clone();
        let (year, q) = busiest.split_once(" Q").expect("YYYY Qn");
        let quarter = (year.parse::<i32>().expect("year"), q.parse::<u32>().expect("quarter"));
        let period = format!("{}-Q{}", quarter.0, quarter.1);
        let pack_said = ok(&panel(&k, "pack", &u, "north", &["--period", &period, "--out", &o]));
        let (since, until) =
            (format!("{}-{:02}-01", quarter.0, quarter.1 * 3 - 2), format!("{}-{:02}-{}", quarter.0, quarter.1 * 3, [31, 30, 30, 31][quarter.1 as usize - 1]));
        let by_case_type = json(&ok(&panel(&k, "report", &u, "north", &["--by", "case_type", "--since", &since, "--until", &until, "--json"])));
        let counts = json(&ok(&panel(&k, "signal-counts", &u, "north", &["--period", "month", "--since", &since, "--until", &until, "--json"])));
        let log = json(&ok(&braid_as(&k, "auditor", &["audit", "log", "--node", &u, "--caller", "panel-north", "--limit", "1000", "--json"])));
        let refused = failed(&panel(&k, "pack", &u, "north", &["--period", &period, "--out", &o]));
        // A period with no case: refused by the node, and no directory is
        // left behind.
        let empty = format!("{o}-far");
        let nothing = failed(&panel(&k, "pack", &u, "north", &["--period", "2099-Q1", "--out", &empty]));
        assert!(nothing.contains("no case of the partnership falls in that window") && !std::path::Path::new(&empty).exists(), "{nothing}");
        (quarter, pack_said, by_case_type, counts, log, refused)
    })
    .await;
    assert!(pack_said.contains("9 tables as CSV"), "{pack_said}");
    let read = |name: &str| std::fs::read_to_string(format!("{out}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    let csv_rows = |name: &str| -> Vec<Vec<String>> {
        csv::Reader::from_reader(read(name).as_bytes()).records().map(|r| r.expect("row").iter().map(str::to_owned).collect()).collect()
    };
    // Children by case type: the report's rows and total, cell for cell.
    let rows = csv_rows("01-victims-by-case-type.csv");
    let labels: Vec<&str> = by_case_type["row_labels"].as_array().expect("labels").iter().map(|l| l.as_str().expect("label")).collect();
    for (label, cells) in labels.iter().zip(by_case_type["cells"].as_array().expect("cells")) {
        let row = rows.iter().find(|r| r[0] == *label).unwrap_or_else(|| panic!("no {label} row: {rows:?}"));
        assert_eq!(row[1], cells[0].as_str().expect("cell"), "{label}");
    }
    assert_eq!(rows.last().expect("total")[1], by_case_type["total"].as_str().expect("total"));
    assert!(by_case_type["total"].as_str().expect("total").parse::<u64>().expect("a number") > 0, "the quarter has cases");
    // The same counts worked out from the truth: equal but for linkage
    // errors (a child split in two, or two merged), so within a few, and
    // for rounding down to a multiple of 5 (the pack is over a window).
    let first = braid_template::Date::new(quarter.0, quarter.1 * 3 - 2, 1).expect("date").days_since_epoch();
    let next = if quarter.1 == 4 { braid_template::Date::new(quarter.0 + 1, 1, 1) } else { braid_template::Date::new(quarter.0, quarter.1 * 3 + 1, 1) };
    let expected = victims_by_case_type_from_truth(out.trim_end_matches("/pack"), first, next.expect("date").days_since_epoch() - 1);
    let mut compared = 0;
    for (label, want) in ["CSA", "CSE", "HSB"].iter().zip(expected) {
        let Some(row) = rows.iter().find(|r| r[0] == *label) else { continue };
        match row[1].parse::<u64>() {
            Ok(got) => {
                let tolerance = 2.max(want / 50) + 4;
                assert_eq!(got % 5, 0, "{label}: counts over a window are rounded: {got}");
                assert!(got.abs_diff(want) <= tolerance, "{label}: the pack says {got}, the truth {want}");
                compared += 1;
            }
            Err(_) if row[1] == "<5" => assert!(want < 5 + 2, "{label}: <5, the truth {want}"),
            Err(_) => {}
        }
    }
    let total: u64 = expected.iter().sum();
    let got: u64 = rows.last().expect("total")[1].parse().expect("the total is never withheld");
    assert!(got.abs_diff(total) <= 2.max(total / 50) + 4, "total: the pack says {got}, the truth {total}");
    eprintln!("children by case type in the quarter, pack {:?} against truth {expected:?}", rows.iter().map(|r| r[1].clone()).collect::<Vec<_>>());
    assert!(compared >= 1, "at least one count compared: {rows:?}");
    // Signals by month: the quarter's three months (then the total), as
    // signal-counts gives them.
    let header = read("04-signals-by-month.csv").lines().next().expect("header").to_owned();
    let months: Vec<String> = counts["period_labels"].as_array().expect("labels").iter().map(|l| l.as_str().expect("label").to_owned()).collect();
    assert!(months.len() <= 3 && months.iter().all(|m| m.starts_with(&quarter.0.to_string())), "{months:?}");
    assert_eq!(header, format!("signal,{},total", months.join(",")));
    // The page: every table, self-contained, counts only.
    let page = read("index.html");
    assert_eq!(page.matches("<table>").count(), 9);
    assert!(page.contains(&format!("{} quarter {}", quarter.0, quarter.1)) && page.contains("<style>"));
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"), "nothing to fetch");
    assert!(!page.contains(" r-") && !page.contains("P00"), "no refs or profile ids");
    for file in [
        "02-victims-by-month.csv",
        "03-harmers-by-case-type.csv",
        "05-disagreements.csv",
        "06-agencies-together.csv",
        "07-completeness.csv",
        "08-freshness.csv",
        "09-completeness-pilot-form.csv",
    ] {
        assert!(csv_rows(file).len() > 1, "{file} has rows");
    }
    // Every table was asked with the panel's purpose; a pack is never
    // written over another.
    let entries = log["entries"].as_array().expect("entries");
    for action in ["panel.report", "panel.signal_counts", "panel.disagreements", "panel.interconnectedness", "panel.completeness", "panel.freshness"] {
        assert!(entries.iter().any(|e| e["action"] == action), "{action} audited: {log}");
    }
    assert!(refused.contains("not empty"), "{refused}");
    node.stop().await.expect("stop");
}
