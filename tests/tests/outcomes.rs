//! Outcome events through the real CLI and node: an agency's extract of
//! outcome events (missing episodes, placement moves, arrests…) is
//! pseudonymised and uploaded like a case extract, linked to the
//! children's profiles, never counted as cases, and counted by the cohort
//! report: children with a case type or a signal, and their outcomes in
//! the 12 months after, for the asking partnership only, with suppression
//! and rounding.

use std::collections::BTreeMap;

use braid_tests::*;

const CASES: &str = r#"
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
CSE = "CSE"

[system]
not_held = ["victim.sexual_orientation"]
"#;

const CASE_HEADER: &str = "case,person,role,type,date,forename,surname,dob,sex,postcode";

const OUTCOMES: &str = r#"
[agency]
code = "AGENCY"
type = "TYPE"

[columns]
record_ref = "event"
person_ref = "person"
event_date = "when"
date_format = "%d/%m/%Y"

[outcome]
column = "what"

[outcome.labels]
"Missing from care" = "missing_episode"
"Placement change" = "placement_move"
"Charged" = "arrest_or_charge"

[identity]
forename = "forename"
surname = "surname"
date_of_birth = "dob"
sex = "sex"
postcode = "postcode"
"#;

const OUTCOME_HEADER: &str = "event,person,what,when,forename,surname,dob,sex,postcode";

const FORENAMES: [&str; 29] = [
    "Amelia", "Olivia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Florence", "Rosie", "Evie", "Grace", "Ella", "Sophie", "Poppy", "Harper", "Willow",
    "Daisy", "Alice", "Sienna", "Matilda", "Erin", "Phoebe", "Ruby", "Esme", "Imogen", "Maisie", "Thea", "Beatrice",
];
const SURNAMES: [&str; 29] = [
    "Hargreaves",
    "Brennan",
    "Whitfield",
    "Ashworth",
    "Pennington",
    "Kelsall",
    "Ashdown",
    "Thornton",
    "Blackburn",
    "Sutcliffe",
    "Holroyd",
    "Greenwood",
    "Crowther",
    "Ackroyd",
    "Haigh",
    "Barraclough",
    "Priestley",
    "Illingworth",
    "Rushworth",
    "Oldroyd",
    "Firth",
    "Wadsworth",
    "Lumb",
    "Mitchell",
    "Broadbent",
    "Sugden",
    "Hebden",
    "Tattersall",
    "Ormerod",
];

/// Child `i`'s identity columns.
fn identity(i: usize) -> String {
    format!("{},{},{:02}/{:02}/{},F,BD{} {}QA", FORENAMES[i], SURNAMES[i], 1 + i % 28, 1 + i % 12, 2008 + i % 6, 1 + i % 9, 1 + i % 7)
}

/// The 24 CSA children (0 to 23) are referred to the police on day 1+i of
/// March 2024; children 24 to 27 are CSE victims. Children 0 and 1 are
/// referred again to children's services in September (re-victimised).
fn case_rows() -> (Vec<String>, Vec<String>) {
    let police = (0..28)
        .map(|i| {
            let kind = if i < 24 { "CSA" } else { "CSE" };
            format!("R{i},N-{i},Victim,{kind},{:02}/03/2024,{}", 1 + i, identity(i))
        })
        .collect();
    let csc = (0..2).map(|i| format!("C{i},P-{i},Victim,CSA,{:02}/09/2024,{}", 1 + i, identity(i))).collect();
    (police, csc)
}

/// One outcome event: (child, agency, label, date).
type Event = (usize, &'static str, &'static str, String);

fn events() -> Vec<Event> {
    let mut events = Vec::new();
    for i in 0..13 {
        events.push((i, "CSC-NORTH", "Missing from care", format!("{:02}/04/2024", 1 + i)));
    }
    // Fourteen months after entering: too late; before entering: too early.
    events.push((13, "CSC-NORTH", "Missing from care", "14/05/2025".to_owned()));
    events.push((14, "CSC-NORTH", "Missing from care", "01/02/2024".to_owned()));
    // A second missing episode of one child: still one child.
    events.push((6, "CSC-NORTH", "missing episode", "20/10/2024".to_owned()));
    for i in 0..3 {
        events.push((i, "CSC-NORTH", "Placement change", format!("{:02}/06/2024", 1 + i)));
    }
    for i in 0..6 {
        events.push((i, "CSC-NORTH", "return_home", format!("{:02}/08/2024", 1 + i)));
    }
    for i in 10..21 {
        events.push((i, "YOT-NORTH", "Charged", format!("{:02}/07/2024", 1 + i)));
    }
    // A CSE child's missing episode.
    events.push((25, "CSC-NORTH", "Missing from care", "02/04/2024".to_owned()));
    // The police charge child 3 under an event id equal to the child's
    // case id: the event does not replace the case.
    events.push((3, "POL-NORTH", "Charged", "15/07/2024".to_owned()));
    // Child 28's first record is an outcome event; a case comes later.
    events.push((28, "CSC-NORTH", "Missing from care", "03/03/2025".to_owned()));
    events
}

/// Day number of a `dd/mm/yyyy` date.
fn day(text: &str) -> i64 {
    let p: Vec<u32> = text.split('/').map(|x| x.parse().expect("number")).collect();
    braid_template::Date::new(p[2] as i32, p[1], p[0]).expect("date").days_since_epoch()
}

/// The published form of an exact count: <5, or rounded down to a
/// multiple of 5.
fn published(count: usize) -> String {
    match count {
        0 => "0".to_owned(),
        1..=4 => "<5".to_owned(),
        n => (n / 5 * 5).to_string(),
    }
}

/// The CSA cohort's outcome counts worked out from the rows above: per
/// outcome name, the children with such an event from an agency of
/// `agencies` between the day they entered and 365 days after.
fn expected(agencies: &[&str]) -> BTreeMap<&'static str, String> {
    let kind = |label: &str| match label {
        "Missing from care" | "missing episode" => "missing episode",
        "Placement change" => "placement move",
        "return_home" => "return home",
        "Charged" => "arrest or charge",
        other => panic!("{other}"),
    };
    let mut children: BTreeMap<&'static str, std::collections::BTreeSet<usize>> = BTreeMap::new();
    for (child, agency, label, date) in events() {
        let entered = day(&format!("{:02}/03/2024", 1 + child));
        let when = day(&date);
        if child < 24 && agencies.contains(&agency) && (entered..=entered + 365).contains(&when) {
            children.entry(kind(label)).or_default().insert(child);
            children.entry("any outcome").or_default().insert(child);
        }
    }
    let mut out: BTreeMap<&'static str, String> = [
        "missing episode",
        "placement move",
        "school exclusion",
        "attendance concern",
        "health appointment attended",
        "arrest or charge",
        "return home",
        "service engagement",
        "any outcome",
    ]
    .into_iter()
    .map(|name| (name, "0".to_owned()))
    .collect();
    for (name, set) in children {
        out.insert(name, published(set.len()));
    }
    out
}

fn rows_of(cohort: &serde_json::Value) -> BTreeMap<String, String> {
    cohort["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["outcome"].as_str().expect("outcome").to_owned(), r["children"].as_str().expect("children").to_owned()))
        .collect()
}

fn outcome_rows(events: &[Event], agency: &str) -> Vec<String> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.1 == agency)
        .map(|(n, (child, agency, label, date))| {
            let id = if *agency == "POL-NORTH" { format!("R{child}") } else { format!("E{n}") };
            format!("{id},K-{child},{label},{date},{}", identity(*child))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcome_events_link_to_children_count_in_cohorts_and_never_as_cases() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys"), "--partnership", "north", "--partnership", "statutory"]));
    let (police, csc) = case_rows();
    pseudonymise_rows(dir.path(), "POL-NORTH", "police", CASES, CASE_HEADER, &police);
    pseudonymise_rows(dir.path(), "CSC-NORTH", "children_services", CASES, CASE_HEADER, &csc);
    pseudonymise_rows(dir.path(), "VOL-NORTH", "voluntary", CASES, CASE_HEADER, &[format!("V28,W-28,Victim,CSE,10/03/2025,{}", identity(28))]);
    let events = events();
    for (agency, kind) in [("CSC-NORTH", "children_services"), ("YOT-NORTH", "yot"), ("POL-NORTH", "police")] {
        let output = pseudonymise_file(dir.path(), &format!("{agency}-outcomes"), agency, kind, OUTCOMES, OUTCOME_HEADER, &outcome_rows(&events, agency));
        let stdout = ok(&output);
        assert!(stdout.contains("0 rows rejected"), "{stdout}");
    }

    // A careless extract: an unknown kind, a missing date and a repeated
    // event id are refused by row and field; a mapping that mixes case
    // columns into an outcomes extract is refused before any row is read.
    let careless = [
        format!("X1,K-0,Went fishing,01/04/2024,{}", identity(0)),
        format!("X2,K-1,Charged,,{}", identity(1)),
        format!("X3,K-2,Charged,01/04/2024,{}", identity(2)),
        format!("X3,K-3,Charged,01/04/2024,{}", identity(3)),
    ];
    let output = pseudonymise_file(dir.path(), "careless", "CSC-NORTH", "children_services", OUTCOMES, OUTCOME_HEADER, &careless);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(stderr.contains("rejected row 2: outcome: unknown label `Went fishing`"), "{stderr}");
    assert!(stderr.contains("rejected row 3: event_date: is empty (an outcome event needs the day it happened)"), "{stderr}");
    assert!(stderr.contains("rejected row 5: record_ref: repeats the event id of row 4"), "{stderr}");
    let mixed = OUTCOMES.replace("[outcome]", "[fields.\"victim.sex\"]\ncolumn = \"sex\"\n\n[outcome]");
    let output = pseudonymise_file(dir.path(), "mixed", "CSC-NORTH", "children_services", &mixed, OUTCOME_HEADER, &careless[..1]);
    assert!(failed(&output).contains("[fields] is for case extracts; a mapping with [outcome] reads outcome events"), "{}", failed(&output));
    let bad_target = OUTCOMES.replace("= \"placement_move\"", "= \"moved\"");
    let output = pseudonymise_file(dir.path(), "target", "CSC-NORTH", "children_services", &bad_target, OUTCOME_HEADER, &careless[..1]);
    assert!(failed(&output).contains("outcome.labels: `moved` is not one of missing_episode, placement_move"), "{}", failed(&output));

    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&path("keys"), data.path()).await;
    let url = node.url();
    let keys = path("keys");
    let files = dir.path().to_owned();
    let (before, after, cohorts, profiles, refused) = blocking(move || {
        let file = |name: &str| files.join(format!("{name}.bpx")).display().to_string();
        for agency in ["POL-NORTH", "CSC-NORTH"] {
            ok(&upload(&keys, &url, agency, &file(agency)));
        }
        // What the panels see of cases, before and after the outcome events.
        let case_views = || {
            let ask = |command: &str, partnership: &str, rest: &[&str]| {
                let mut args = rest.to_vec();
                args.push("--json");
                json(&ok(&panel(&keys, command, &url, partnership, &args)))
            };
            // An agency's last change, and its type once it has uploaded
            // anything, are all the outcome events may change.
            let mut views = vec![
                ask("report", "north", &["--by", "case_type"]),
                ask("report", "north", &["--by", "case_type", "--population", "all"]),
                ask("signal-counts", "north", &[]),
                ask("disagreements", "north", &[]),
                ask("quality", "north", &[]),
                ask("freshness", "north", &[]),
                ask("signals", "north", &[]),
            ];
            for view in &mut views[4..6] {
                for agency in view["agencies"].as_array_mut().expect("agencies") {
                    let agency = agency.as_object_mut().expect("agency");
                    agency.remove("last_change");
                    agency.remove("agency_type");
                }
            }
            views
        };
        let before = case_views();
        for agency in ["CSC-NORTH", "YOT-NORTH", "POL-NORTH"] {
            let said = ok(&upload(&keys, &url, agency, &file(&format!("{agency}-outcomes"))));
            assert!(said.contains("0 rejected"), "{said}");
        }
        let after = case_views();
        let cohort = |partnership: &str, rest: &[&str]| {
            let mut args = rest.to_vec();
            args.push("--json");
            json(&ok(&panel(&keys, "cohort", &url, partnership, &args)))
        };
        let cohorts = vec![
            cohort("north", &["--cohort", "case_type:CSA"]),
            cohort("statutory", &["--cohort", "case_type:CSA"]),
            cohort("north", &["--cohort", "signal:revictimisation"]),
            cohort("north", &["--cohort", "case_type:CSA", "--since", "2024-03-11", "--until", "2024-03-20"]),
            cohort("north", &["--cohort", "case_type:CSA", "--since", "2025-01-01"]),
        ];
        let text = ok(&panel(&keys, "cohort", &url, "north", &["--cohort", "case_type:CSA"]));
        let profile = |partnership: &str, case: &str, json_out: bool| {
            let reid = files.join("POL-NORTH.reid.csv").display().to_string();
            let mut rest = vec!["--agency", "POL-NORTH", "--case-id", case, "--reid", &reid];
            if json_out {
                rest.push("--json");
            }
            ok(&panel(&keys, "profile", &url, partnership, &rest))
        };
        let profiles = (json(&profile("north", "R10", true)), json(&profile("statutory", "R10", true)), profile("north", "R0", false), text);
        let refused = [
            failed(&panel(&keys, "cohort", &url, "north", &["--cohort", "signal:shared-perpetrator"])),
            failed(&panel(&keys, "cohort", &url, "north", &["--cohort", "everyone"])),
        ];
        // Child 28's case arrives after the event: the profile's id is the
        // event's child's, and it is found by that id too.
        ok(&upload(&keys, &url, "VOL-NORTH", &file("VOL-NORTH")));
        let reid = files.join("VOL-NORTH.reid.csv").display().to_string();
        let by_case = json(&ok(&panel(&keys, "profile", &url, "north", &["--agency", "VOL-NORTH", "--case-id", "V28", "--reid", &reid, "--json"])));
        let id = by_case["profiles"][0]["profile_id"].as_str().expect("a profile").to_owned();
        let by_id = json(&ok(&panel(&keys, "profile", &url, "north", &["--profile", &id, "--json"])));
        assert_eq!(by_case, by_id, "the profile by its id is the profile by its case");
        assert_eq!(by_id["profiles"][0]["outcomes"].as_array().map(Vec::len), Some(1), "{by_id}");
        (before, after, cohorts, profiles, refused)
    })
    .await;

    // Outcome events are never cases: every case report, signal, count,
    // completeness and freshness figure is what it was without them.
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(before, after, "outcome events changed what panels see of cases");
    }
    assert!(before[0]["total"].as_str().expect("total").parse::<u64>().expect("a number") >= 25, "{}", before[0]);
    // What the agencies' case extracts declared of their systems stands.
    let held: Vec<&str> = after[4]["agencies"]
        .as_array()
        .expect("agencies")
        .iter()
        .filter(|a| a["agency"] == "CSC-NORTH" || a["agency"] == "POL-NORTH")
        .flat_map(|a| a["items"].as_array().expect("items").iter())
        .filter(|i| i["field_id"] == "victim.sexual_orientation")
        .map(|i| i["held"].as_str().expect("held"))
        .collect();
    assert!(held.len() == 2 && held.iter().all(|h| !h.is_empty()), "{held:?}");

    // The CSA cohort, for each partnership, against the rows above.
    let north = &cohorts[0];
    assert_eq!(north["children"], "20", "24 CSA children: {north}");
    assert_eq!(north["followed_up"], "20", "all entered in 2024: {north}");
    assert_eq!(north["rounded"], true);
    let want_north = expected(&["CSC-NORTH", "POL-NORTH", "YOT-NORTH", "VOL-NORTH"]);
    assert_eq!(rows_of(north).iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<BTreeMap<_, _>>(), want_north, "{north}");
    assert_eq!(want_north["missing episode"], "10", "13 children, published rounded down");
    assert_eq!(want_north["arrest or charge"], "10", "11 children charged (the youth offending team)");
    assert_eq!(want_north["placement move"], "<5");
    let share = north["rows"].as_array().expect("rows").iter().find(|r| r["outcome"] == "missing episode").expect("row")["share"].clone();
    assert_eq!(share, "41–70%", "10 of 20 published: 10 to 14 of 20 to 24: {north}");
    let statutory = &cohorts[1];
    let want_statutory = expected(&["CSC-NORTH", "POL-NORTH"]);
    assert_eq!(rows_of(statutory).iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<BTreeMap<_, _>>(), want_statutory, "{statutory}");
    assert_eq!(want_statutory["arrest or charge"], "<5", "the youth offending team is outside the statutory partnership; the police charged one child");

    // Children re-victimised: 2, entering in September, after their events.
    let revictimised = &cohorts[2];
    assert_eq!(revictimised["children"], "<5", "{revictimised}");
    assert_eq!(rows_of(revictimised)["any outcome"], "0", "{revictimised}");
    assert!(revictimised["cohort"].as_str().expect("cohort").contains("revictimisation"), "{revictimised}");

    // A window selects children by the day they entered: 10 to 19.
    let window = &cohorts[3];
    assert_eq!(window["children"], "10", "{window}");
    assert_eq!(rows_of(window)["arrest or charge"], "10", "children 10 to 19 were all charged: {window}");
    assert_eq!(rows_of(window)["missing episode"], "<5", "children 10 to 12 went missing: {window}");
    assert_eq!(cohorts[4]["children"], "0", "nobody entered in 2025: {}", cohorts[4]);

    // Profiles list the outcome events of the partnership's agencies, apart
    // from the case records.
    let (north_profile, statutory_profile, text, table) = profiles;
    let outcomes = |profile: &serde_json::Value| -> Vec<(String, String, String)> {
        profile["profiles"][0]["outcomes"]
            .as_array()
            .expect("outcomes")
            .iter()
            .map(|o| (o["agency"].as_str().expect("a").to_owned(), o["outcome"].as_str().expect("o").to_owned(), o["date"].as_str().expect("d").to_owned()))
            .collect()
    };
    assert_eq!(
        outcomes(&north_profile),
        vec![
            ("YOT-NORTH".to_owned(), "arrest or charge".to_owned(), "2024-07-11".to_owned()),
            ("CSC-NORTH".to_owned(), "missing episode".to_owned(), "2024-04-11".to_owned())
        ],
        "{north_profile}"
    );
    assert_eq!(outcomes(&statutory_profile), vec![("CSC-NORTH".to_owned(), "missing episode".to_owned(), "2024-04-11".to_owned())], "{statutory_profile}");
    assert_eq!(north_profile["profiles"][0]["records"].as_array().expect("records").len(), 1, "the events are not records: {north_profile}");
    assert!(text.contains("outcome events (not cases):") && text.contains("return home") && text.contains("placement move"), "{text}");
    assert!(table.contains("children (victims, or displaying HSB) in a CSA case") && table.contains("share of cohort"), "{table}");

    assert!(refused[0].contains("cohort is case_type:CSA"), "{}", refused[0]);
    assert!(refused[1].contains("cohort is case_type:CSA"), "{}", refused[1]);
}
