//! Identity evidence through the real CLI and node: a record whose date of
//! birth is impossible is kept and linked by its other fields; a child and
//! an adult who share a common name and address but were born twenty years
//! apart are never one profile; nor are two people one case names apart,
//! or twins of different sexes.

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
"#;

const HEADER: &str = "case,person,role,type,date,forename,surname,dob,sex,postcode";

/// Case id → profile id, from a cluster export and the agencies' maps.
fn profiles_by_case(clusters: &str, reid_files: &[String]) -> HashMap<String, String> {
    let mut case_of: HashMap<(String, String), String> = HashMap::new();
    for file in reid_files {
        let text = std::fs::read_to_string(file).expect("reid");
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            case_of.insert((f[0].to_owned(), f[1].to_owned()), f[2].to_owned());
        }
    }
    let text = std::fs::read_to_string(clusters).expect("clusters");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Some((case_of.get(&(f[0].to_owned(), f[1].to_owned()))?.clone(), f[4].to_owned()))
        })
        .collect()
}

/// Uploads the two agencies' pseudonymised files in `dir` (with the keys
/// `braid keys init` wrote there) to a new node over mTLS and exports its
/// clusters; returns the export's path.
async fn link_through_a_node(dir: &std::path::Path) -> String {
    let path = |name: &str| dir.join(name).display().to_string();
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let (keys, clusters, csc, pol) = (path("keys"), path("clusters.csv"), path("CSC-NORTH.bpx"), path("POL-NORTH.bpx"));
    let out = clusters.clone();
    blocking(move || {
        ok(&upload(&keys, &url, "CSC-NORTH", &csc));
        ok(&upload(&keys, &url, "POL-NORTH", &pol));
        ok(&braid_as(&keys, "admin", &["admin", "clusters", "--node", &url, "--out", &clusters]));
    })
    .await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_date_of_birth_links_by_the_other_fields_and_years_apart_never_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys")]));
    let extracts = [
        (
            "CSC-NORTH",
            "children_services",
            vec![
                // 31 February: kept, with a warning, and linked.
                "C1,P1,Victim,CSA,01/03/2020,Amelia,Hargreaves,31/02/2010,F,LS6 2QB",
                "C2,P2,Victim,CSA,05/04/2020,John,Smith,16/03/2009,M,LS6 1AA",
            ],
        ),
        (
            "POL-NORTH",
            "police",
            vec![
                "R1,N1,Victim,CSA,02/03/2020,Amelia,Hargreaves,28/02/2010,F,LS6 2QB",
                // The boy's father: one name, one address, twenty years older.
                "R2,N2,Suspect,CSA,06/04/2020,John,Smith,16/03/1989,M,LS6 1AA",
                // The boy again, his day of birth mistyped.
                "R3,N3,Victim,CSA,07/04/2020,John,Smith,18/03/2009,M,LS6 1AA",
            ],
        ),
    ];
    let mut reid = Vec::new();
    for (agency, kind, rows) in &extracts {
        let output = pseudonymise_rows(dir.path(), agency, kind, MAPPING, HEADER, rows);
        if *agency == "CSC-NORTH" {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("warning row 2: date_of_birth: is not a real calendar date; its usable parts were kept"), "{stderr}");
            assert!(!stderr.contains("31/02/2010"), "{stderr}");
        }
        reid.push(path(&format!("{agency}.reid.csv")));
    }
    let clusters = link_through_a_node(dir.path()).await;
    let profile = profiles_by_case(&clusters, &reid);
    assert_eq!(profile["C1"], profile["R1"], "the record with 31 February is linked: {profile:?}");
    assert_eq!(profile["C2"], profile["R3"], "a mistyped day of birth still links: {profile:?}");
    assert_ne!(profile["C2"], profile["R2"], "a father and son twenty years apart are two people: {profile:?}");
    assert_ne!(profile["R3"], profile["R2"], "{profile:?}");
}

/// (Agency, case id, person id) → profile id, from a cluster export and
/// the agencies' maps.
fn profiles_by_person(clusters: &str, reid_files: &[String]) -> HashMap<(String, String, String), String> {
    let mut ids_of: HashMap<(String, String, String), (String, String)> = HashMap::new();
    for file in reid_files {
        let text = std::fs::read_to_string(file).expect("reid");
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            ids_of.insert((f[0].to_owned(), f[1].to_owned(), f[3].to_owned()), (f[2].to_owned(), f[4].to_owned()));
        }
    }
    let text = std::fs::read_to_string(clusters).expect("clusters");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let (case, person) = ids_of.get(&(f[0].to_owned(), f[1].to_owned(), f[2].to_owned()))?.clone();
            Some(((f[0].to_owned(), case, person), f[4].to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_one_case_names_and_twins_of_different_sexes_are_never_one_profile() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys")]));
    let extracts = [
        (
            "CSC-NORTH",
            "children_services",
            vec![
                // One case names a girl and her mother, who has her name
                // and address and no date of birth recorded: the case
                // itself says they are two people.
                "C1,P1,Victim,CSA,01/03/2020,Amy,Jones,14/09/2012,F,LS6 2QB",
                "C1,P2,Suspect,CSA,01/03/2020,Amy,Jones,,F,LS6 2QB",
                // A boy whose twin sister the police know.
                "C2,P3,Victim,CSA,05/04/2020,Oliver,Morgan,02/02/2011,M,M1 1AE",
            ],
        ),
        (
            "POL-NORTH",
            "police",
            vec![
                "R1,N1,Victim,CSA,02/03/2020,Amy,Jones,14/09/2012,F,LS6 2QB",
                "R3,N3,Victim,CSA,06/04/2020,Olivia,Morgan,02/02/2011,F,M1 1AE",
                "R4,N4,Victim,CSA,07/04/2020,Oliver,Morgan,02/02/2011,M,M1 1AE",
            ],
        ),
    ];
    let mut reid = Vec::new();
    for (agency, kind, rows) in &extracts {
        pseudonymise_rows(dir.path(), agency, kind, MAPPING, HEADER, rows);
        reid.push(path(&format!("{agency}.reid.csv")));
    }
    let clusters = link_through_a_node(dir.path()).await;
    let profiles = profiles_by_person(&clusters, &reid);
    let profile = |agency: &str, case: &str, person: &str| profiles[&(agency.to_owned(), case.to_owned(), person.to_owned())].clone();
    let amy = profile("CSC-NORTH", "C1", "P1");
    assert_ne!(amy, profile("CSC-NORTH", "C1", "P2"), "one case names two people: {profiles:?}");
    assert_eq!(profile("POL-NORTH", "R1", "N1"), amy, "{profiles:?}");
    let oliver = profile("CSC-NORTH", "C2", "P3");
    assert_eq!(profile("POL-NORTH", "R4", "N4"), oliver, "{profiles:?}");
    assert_ne!(profile("POL-NORTH", "R3", "N3"), oliver, "twins of different sexes are two children: {profiles:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholder_names_dates_and_postcodes_never_link_strangers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys")]));
    // What systems write when they must fill a field and know nothing:
    // each row is a different person.
    let extracts = [
        (
            "CSC-NORTH",
            "children_services",
            vec![
                // (43891: the spreadsheet's day number of 01/03/2020.)
                "C1,P1,Victim,CSA,43891,Unknown,Unknown,01/01/1900,M,NFA",
                "C2,P2,Victim,CSA,NULL,NULL,NULL,00/00/0000,M,NULL",
                "C3,P3,Victim,CSA,01/03/2020,Baby,X,01/01/1900,F,ZZ99 3VZ",
            ],
        ),
        (
            "POL-NORTH",
            "police",
            vec![
                "R1,N1,Victim,CSA,02/03/2020,UNKNOWN,UNKNOWN,01/01/1900,Male,NFA",
                "R2,N2,Victim,CSA,N/A,N/A,N/A,N/A,M,N/A",
                "R3,N3,Victim,CSA,02/03/2020,Baby,X,01/01/1900,F,ZZ99 3VZ",
            ],
        ),
    ];
    let mut reid = Vec::new();
    for (agency, kind, rows) in &extracts {
        // No row is rejected: an event date written NULL is no date.
        let output = pseudonymise_rows(dir.path(), agency, kind, MAPPING, HEADER, rows);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if *agency == "POL-NORTH" {
            assert!(stderr.contains("warning row 3: event_date: says no value (TBC, Not known…) and was read as empty"), "{stderr}");
        }
        if *agency == "CSC-NORTH" {
            for expected in [
                "warning row 2: event_date: is a spreadsheet's day number",
                "warning row 2: date_of_birth: is 1 January 1900 or before 1900: a placeholder",
                "warning row 2: postcode: says no fixed abode",
                "warning row 4: forename: is a placeholder",
                "warning row 4: surname: is a placeholder",
            ] {
                assert!(stderr.contains(expected), "`{expected}` not in: {stderr}");
            }
        }
        reid.push(path(&format!("{agency}.reid.csv")));
    }
    let clusters = link_through_a_node(dir.path()).await;
    let profiles = profiles_by_person(&clusters, &reid);
    let profile = |agency: &str, case: &str, person: &str| profiles[&(agency.to_owned(), case.to_owned(), person.to_owned())].clone();
    for (csc, pol) in [(("C1", "P1"), ("R1", "N1")), (("C2", "P2"), ("R2", "N2")), (("C3", "P3"), ("R3", "N3"))] {
        assert_ne!(profile("CSC-NORTH", csc.0, csc.1), profile("POL-NORTH", pol.0, pol.1), "{csc:?} and {pol:?}: {profiles:?}");
    }

    // `agency resolve` gives an agency its own ids back, for its account
    // only; it refuses a file that is not a cluster export, and an output
    // that is its input.
    let resolved = path("resolved.csv");
    ok(&braid(&["agency", "resolve", "--reid", &reid[0], "--input", &clusters, "--out", &resolved]));
    let text = std::fs::read_to_string(&resolved).expect("resolved");
    assert!(text.starts_with("agency,case_id,person_id,role,profile_id\n") && text.contains("CSC-NORTH,C1,P1,"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&resolved).expect("resolved").permissions().mode() & 0o777, 0o600);
    let not_an_export = failed(&braid(&["agency", "resolve", "--reid", &reid[0], "--input", &path("CSC-NORTH.csv"), "--out", &path("r2.csv")]));
    assert!(not_an_export.contains("is not a cluster export"), "{not_an_export}");
    let over = failed(&braid(&["agency", "resolve", "--reid", &reid[0], "--input", &clusters, "--out", &clusters]));
    assert!(over.contains("is also read"), "{over}");
}

#[test]
fn placeholder_and_shared_nhs_numbers_are_never_used_to_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    ok(&braid(&["keys", "init", "--out", &dir.path().join("keys").display().to_string()]));
    let mapping = MAPPING.replace("postcode = \"postcode\"", "postcode = \"postcode\"\nnhs_number = \"nhs\"");
    let header = format!("{HEADER},nhs");
    // A placeholder; one number written for three people (a default a
    // system fills in), and one for a child and an adult; one number for
    // one child under two local ids (kept).
    let rows = [
        "C1,P1,Victim,CSA,01/03/2020,Amy,Jones,04/05/2011,F,M1 1AE,0000000000",
        "C2,P2,Victim,CSA,01/03/2020,Bea,Okafor,05/06/2012,F,M1 1AE,943 476 5919",
        "C3,P3,Victim,CSA,01/03/2020,Cy,Lee,06/07/2013,M,M1 1AE,9434765919",
        "C4,P4,Victim,CSA,01/03/2020,Di,Khan,07/08/2014,F,M1 1AE,943-476-5919",
        "C5,P5,Victim,CSA,01/03/2020,Ed,Nowak,08/09/2010,M,M1 1AE,4010232137",
        "C6,P6,Victim,CSA,01/03/2020,Ed,Nowak,08/09/2010,M,M1 1AE,4010232137",
        "C7,P7,Victim,CSA,01/03/2020,Jo,Smith,01/02/2011,M,M1 1AE,4505577104",
        "C8,P8,Suspect,CSA,01/03/2020,Mark,Smith,01/02/1981,M,M1 1AE,4505577104",
        // One woman's number with her name mistyped and her date of birth
        // wrong by years: one person (kept).
        "C9,P9,Victim,CSA,01/03/2020,Emma,Matthews,16/11/1962,F,M1 1AE,4857773457",
        "C10,P10,Victim,CSA,01/03/2020,Emma,Mattehws,26/04/1991,F,M1 1AE,4857773457",
        // A father's number on his son's record, one name: a child and an
        // adult a generation apart are two people.
        "C11,P11,Victim,CSA,01/03/2020,Peregrine,Obi,04/05/2011,M,M1 1AE,4857773465",
        "C12,P12,Suspect,CSA,01/03/2020,Peregrine,Obi,01/02/1986,M,M1 1AE,4857773465",
    ];
    let output = pseudonymise_file(dir.path(), "CSC-NORTH", "CSC-NORTH", "children_services", &mapping, &header, &rows);
    let stdout = ok(&output);
    assert!(stdout.contains("0 rows rejected"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning row 2: nhs_number: is a placeholder (one digit repeated)"), "{stderr}");
    for row in [3, 4, 5, 8, 9, 12, 13] {
        let expected = format!("warning row {row}: nhs_number: is recorded in this extract for people who cannot be one (other names and dates of birth");
        assert!(stderr.contains(&expected), "{expected}: {stderr}");
    }
    for row in [6, 7, 10, 11] {
        assert!(!stderr.contains(&format!("warning row {row}: nhs_number")), "{stderr}");
    }
    assert!(!stderr.contains("9434765919") && !stderr.contains("0000000000"), "no number in a message: {stderr}");
    let (_, records) = read_extract(&dir.path().join("CSC-NORTH.bpx"));
    let with_nhs: Vec<&str> = records
        .iter()
        .filter(|record| record.involvements.iter().any(|i| i.pseudonyms.as_ref().is_some_and(|p| p.match_keys.iter().any(|k| k.kind == 1))))
        .map(|record| record.record_ref.as_str())
        .collect();
    assert_eq!(with_nhs.len(), 4, "only C5, C6, C9 and C10 keep their number: {with_nhs:?}");
}

#[test]
fn a_case_date_of_another_shape_rejects_its_row_and_a_spreadsheet_birth_date_is_warned_of() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys").display().to_string();
    ok(&braid(&["keys", "init", "--out", &keys]));
    let rows = [
        // (39203: the spreadsheet's day number of 30/04/2007.)
        "C1,P1,Victim,CSA,01/03/2020,Amy,Jones,39203,F,LS6 2QB",
        "C2,P2,Victim,CSA,2020/03/01 at noon,Ben,Jones,01/02/2008,M,LS6 2QB",
        "C3,P3,Victim,CSA,TBC,Cara,Jones,01/02/2009,F,LS6 2QB",
    ];
    let output = pseudonymise_file(dir.path(), "CSC-NORTH", "CSC-NORTH", "children_services", MAPPING, HEADER, &rows);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    for expected in [
        "warning row 2: date_of_birth: is a spreadsheet's day number",
        "rejected row 3: event_date: does not match the date format %d/%m/%Y",
        "warning row 4: event_date: says no value (TBC, Not known…) and was read as empty",
    ] {
        assert!(stderr.contains(expected), "`{expected}` not in: {stderr}");
    }
    assert!(stdout.contains("1 row rejected"), "{stdout}");

    // A mapping that reads the surname column as the case type is refused
    // before any row is read: else each surname would be quoted back as an
    // unknown label.
    let careless = MAPPING.replace(r#"case_type = "type""#, r#"case_type = "Surname ""#);
    let refused = pseudonymise_file(dir.path(), "careless", "CSC-NORTH", "children_services", &careless, HEADER, &rows);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("names column `surname` both as identity.surname and as columns.case_type"), "{stderr}");
    assert!(!stderr.contains("Jones") && !dir.path().join("careless.bpx").exists(), "{stderr}");

    // A date format that is not one is refused before any row is read,
    // naming the field, once.
    let careless = MAPPING.replace("postcode = \"postcode\"", "postcode = \"postcode\"\ndate_of_birth_format = \"%d/%m/%Y %H:%M\"");
    let refused = pseudonymise_file(dir.path(), "careless", "CSC-NORTH", "children_services", &careless, HEADER, &rows);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("mapping identity.date_of_birth_format: date format `%d/%m/%Y %H:%M` has a time of day in it"), "{stderr}");
    assert_eq!(stderr.matches("has a time of day").count(), 1, "{stderr}");

    // Outputs are checked before anything is read: one that is an input, a
    // folder, or in a folder that does not exist is refused, and nothing is
    // written or moved.
    let path = |name: &str| dir.path().join(name).display().to_string();
    let extract_before = std::fs::read(path("CSC-NORTH.csv")).expect("extract");
    std::fs::create_dir(path("a-folder")).expect("folder");
    let pseudonymise = |out: &str, reid: &str| {
        let (mapping, secret, input) = (path("CSC-NORTH.toml"), path("keys/scheme.secret"), path("CSC-NORTH.csv"));
        failed(&braid(&["agency", "pseudonymise", "--mapping", &mapping, "--secret", &secret, "--input", &input, "--out", out, "--reid", reid]))
    };
    for (out, reid, expected) in [
        (path("CSC-NORTH.csv"), path("x.reid.csv"), "is also read"),
        (path("x.bpx"), path("CSC-NORTH.toml"), "is also read"),
        (path("x.bpx"), path("a-folder"), "is a folder"),
        (path("no-such-folder/x.bpx"), path("x.reid.csv"), "does not exist"),
        (path("x.bpx"), path("x.bpx"), "is named for two outputs"),
    ] {
        let stderr = pseudonymise(&out, &reid);
        assert!(stderr.contains(expected) && stderr.contains("nothing was written"), "{out} {reid}: {stderr}");
    }
    assert_eq!(std::fs::read(path("CSC-NORTH.csv")).expect("extract"), extract_before);
    assert!(!dir.path().join("x.bpx").exists() && dir.path().join("a-folder").is_dir() && !dir.path().join("a-folder.previous").exists());
}

#[test]
fn placeholder_and_shared_other_identifiers_are_never_used_to_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    ok(&braid(&["keys", "init", "--out", &dir.path().join("keys").display().to_string()]));
    let mapping = format!("{MAPPING}\n[identity.ids]\nupn = \"upn\"\n");
    let header = format!("{HEADER},upn");
    // A placeholder a system fills in for everyone ("0"), one written for
    // three different children, and one child's own under two local ids
    // (kept).
    let rows = [
        "C1,P1,Victim,CSA,01/03/2020,Amy,Jones,04/05/2011,F,M1 1AE,0",
        "C2,P2,Victim,CSA,01/03/2020,Bea,Okafor,05/06/2012,F,M1 1AE,0",
        "C3,P3,Victim,CSA,01/03/2020,Cy,Lee,06/07/2013,M,M1 1AE,A123",
        "C4,P4,Victim,CSA,01/03/2020,Di,Khan,07/08/2014,F,M1 1AE,A123",
        "C5,P5,Victim,CSA,01/03/2020,Fay,Bell,08/08/2015,F,M1 1AE,A123",
        "C6,P6,Victim,CSA,01/03/2020,Ed,Nowak,08/09/2010,M,M1 1AE,N9876",
        "C7,P7,Victim,CSA,01/03/2020,Ed,Nowak,08/09/2010,M,M1 1AE,N9876",
        // Two children of other names born years apart under one pupil
        // number; a case's id read as the people's (two in one case).
        "C8,P8,Victim,CSA,01/03/2020,Tahni,Murton,10/11/2012,F,M1 1AE,U555",
        "C9,P9,Victim,CSA,01/03/2020,Tahni,Skeen,09/09/2005,F,M1 1AE,U555",
        "C10,P10,Victim,CSA,01/03/2020,Gus,Hale,10/10/2012,M,M1 1AE,C10",
        "C10,P11,Suspect,CSA,01/03/2020,Ray,Hale,03/03/1980,M,M1 1AE,C10",
        // One child's number with the name mistyped: kept.
        "C12,P12,Victim,CSA,01/03/2020,Nathan,Priest,28/04/2012,M,M1 1AE,U777",
        "C13,P13,Victim,CSA,01/03/2020,Nathab,Priest,28/04/2012,M,M1 1AE,U777",
    ];
    let output = pseudonymise_file(dir.path(), "CSC-NORTH", "CSC-NORTH", "children_services", &mapping, &header, &rows);
    let stdout = ok(&output);
    assert!(stdout.contains("0 rows rejected"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for row in [2, 3] {
        assert!(stderr.contains(&format!("warning row {row}: ids.upn: is a placeholder (one character repeated)")), "{stderr}");
    }
    for row in [4, 5, 6, 9, 10, 11, 12] {
        let expected = format!("warning row {row}: ids.upn: is recorded in this extract for people who cannot be one (other names and dates of birth");
        assert!(stderr.contains(&expected), "{expected}: {stderr}");
    }
    for row in [7, 8, 13, 14] {
        assert!(!stderr.contains(&format!("warning row {row}: ids.upn")), "{stderr}");
    }
    assert!(!stderr.contains("A123") && !stderr.contains("N9876"), "no identifier in a message: {stderr}");
    let (_, records) = read_extract(&dir.path().join("CSC-NORTH.bpx"));
    let with_id: Vec<&str> = records
        .iter()
        .filter(|record| {
            record.involvements.iter().any(|i| {
                i.pseudonyms.as_ref().is_some_and(|p| {
                    p.match_keys.iter().any(|k| k.kind == braid_pseudonym::MatchKeyKind::OtherId as u32) || p.fields.as_ref().is_some_and(|f| !f.ids.is_empty())
                })
            })
        })
        .map(|record| record.record_ref.as_str())
        .collect();
    assert_eq!(with_id.len(), 4, "only C6, C7, C12 and C13 keep their identifier, as a key and as a token: {with_id:?}");
    // An identifier column none of whose values can be used is pointed at.
    let rows = [
        "C1,P1,Victim,CSA,01/03/2020,Amy,Jones,04/05/2011,F,M1 1AE,0",
        "C2,P2,Victim,CSA,01/03/2020,Bea,Okafor,05/06/2012,F,M1 1AE,0",
        "C3,P3,Victim,CSA,01/03/2020,Cy,Lee,06/07/2013,M,M1 1AE,0",
    ];
    let output = pseudonymise_file(dir.path(), "CSC-NORTH", "CSC-NORTH", "children_services", &mapping, &header, &rows);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hint: 3 of 3 rows' ids.upn could not be used") && stderr.contains("`upn`"), "{stderr}");
}

#[test]
fn the_sex_column_answering_victim_sex_stays_identity_never_rejects_and_is_never_quoted() {
    let dir = tempfile::tempdir().expect("temp dir");
    ok(&braid(&["keys", "init", "--out", &dir.path().join("keys").display().to_string()]));
    let mapping = format!("{MAPPING}\n[fields.\"victim.sex\"]\ncolumn = \"sex\"\nlabels = {{ F = \"Female\", M = \"Male\" }}\n");
    let rows = [
        "C1,P1,Victim,CSA,01/03/2020,Amy,Jones,04/05/2011,F,M1 1AE",
        "C1,P2,Suspect,CSA,01/03/2020,Mark,Jones,01/02/1981,M,M1 1AE",
        "C2,P3,Victim,CSA,01/03/2020,Bea,Okafor,05/06/2012,Campbell,M1 1AE",
    ];
    let output = pseudonymise_file(dir.path(), "CSC-NORTH", "CSC-NORTH", "children_services", &mapping, HEADER, &rows);
    let stdout = ok(&output);
    assert!(stdout.contains("3 involvements in 2 records") && stdout.contains("0 rows rejected"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning row 4: victim.sex: is not a label the mapping gives this item (the sex column) and was not used"), "{stderr}");
    assert!(!stderr.contains("Campbell"), "an identity cell is never quoted: {stderr}");
    assert!(!stderr.contains("does not apply to the role"), "the sex column is everyone's: {stderr}");
}

/// A partnership's records of one child that match each other directly
/// stay one person to it, even when every link the linker made for them
/// runs through a record held outside the partnership: here the police
/// record's strongest match is the youth offending team's (an NHS number
/// agrees), and it arrives when that record and children's services' are
/// already one profile, after the model's first fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partnerships_records_that_match_directly_are_one_person_whatever_joins_them_outside() {
    let prepared = prepare(400);
    let dir = prepared.dir.path().to_owned();
    let with_nhs = MAPPING.replace("postcode = \"postcode\"", "postcode = \"postcode\"\nnhs_number = \"nhs\"");
    let header = format!("{HEADER},nhs");
    let extracts = [
        ("CSC-NORTH", "children_services", "C1,P1,Victim,CSA,01/03/2020,Amelia,Hargreaves,14/02/2010,F,LS6 2QB,"),
        ("YOT-NORTH", "yot", "Y1,Q1,Victim,CSA,02/03/2020,Amelia,Hargreaves,14/02/2010,F,LS6 2QB,4857773457"),
        ("POL-NORTH", "police", "R1,N1,Victim,CSA,03/03/2020,Amelia,Hargreaves,14/02/2010,F,LS6 2QB,4857773457"),
    ];
    for (agency, kind, row) in extracts {
        ok(&pseudonymise_file(&dir, &format!("one-{agency}"), agency, kind, &with_nhs, &header, &[row]));
    }
    let data = tempfile::tempdir().expect("data dir");
    let keys = prepared.path("keys");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let reid = std::fs::read_to_string(dir.join("one-CSC-NORTH.reid.csv")).expect("reid");
    let record_ref = reid.lines().nth(1).and_then(|line| line.split(',').nth(1)).expect("record ref").to_owned();
    let (explained, seen) = blocking(move || {
        // Every agency's extract first, so that the model is fitted and no
        // upload is settled afresh; then the three records, one by one.
        for agency in AGENCIES {
            ok(&upload(&keys, &url, agency, &dir.join(format!("{agency}.bpx")).display().to_string()));
        }
        for (agency, _, _) in extracts {
            ok(&upload(&keys, &url, agency, &dir.join(format!("one-{agency}.bpx")).display().to_string()));
        }
        let explained = ok(&braid_as(&keys, "admin", &["admin", "explain", "--node", &url, "--agency", "CSC-NORTH", "--record-ref", &record_ref, "--json"]));
        let seen = ok(&panel(&keys, "profile", &url, "statutory", &["--agency", "CSC-NORTH", "--record-ref", &record_ref, "--json"]));
        (explained, seen)
    })
    .await;
    let explained: serde_json::Value = serde_json::from_str(&explained).expect("explain json");
    let linked = &explained["profiles"][0];
    assert_eq!(linked["members"].as_array().map(Vec::len), Some(3), "one child: {explained}");
    // The explanation shows the direct match the partnership's view rests on.
    let agency_of = |id: &serde_json::Value| {
        linked["members"].as_array().expect("members").iter().find(|m| &m["involvement"] == id).and_then(|m| m["agency"].as_str()).unwrap_or("")
    };
    let matched: Vec<(&str, &str)> =
        linked["matches"].as_array().expect("matches").iter().map(|m| (agency_of(&m["involvement"]), agency_of(&m["other_involvement"]))).collect();
    assert!(matched.contains(&("POL-NORTH", "CSC-NORTH")), "{matched:?}: {linked}");
    let seen: serde_json::Value = serde_json::from_str(&seen).expect("profile json");
    let profiles = seen["profiles"].as_array().expect("profiles");
    assert_eq!(profiles.len(), 1, "{seen}");
    let agencies: Vec<&str> = profiles[0]["records"].as_array().expect("records").iter().filter_map(|r| r["agency"].as_str()).collect();
    assert_eq!(agencies.len(), 2, "the partnership sees its two records as one child: {seen}\n{linked}");
    assert!(agencies.contains(&"CSC-NORTH") && agencies.contains(&"POL-NORTH"), "{seen}");
    node.stop().await.expect("stop");
}
