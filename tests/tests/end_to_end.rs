//! End-to-end tests: the real `braid` binary against a real node serving gRPC
//! on loopback over a real RocksDB directory.

use std::process::Command;

use braid_tests::*;

/// The counts a report JSON shows (those that are numbers, not "<5"): its
/// cells, the arrays named in `margins` and its total.
fn shown_counts(report: &serde_json::Value, margins: &[&str]) -> Vec<u64> {
    report["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .flat_map(|row| row.as_array().expect("row").iter())
        .chain(margins.iter().flat_map(|margin| report[*margin].as_array().expect("totals")))
        .chain(std::iter::once(&report["total"]))
        .filter_map(|cell| cell.as_str().expect("cell").parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_upload_link_and_evaluate_with_high_precision() {
    let prepared = prepare(400);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let p = prepared.path("");
    let url_for = url.clone();
    let (eval, clusters_before) = blocking(move || {
        let path = |name: &str| format!("{p}/{name}");
        for agency in AGENCIES {
            ok(&upload(&path("keys"), &url_for, agency, &path(&format!("{agency}.bpx"))));
        }
        ok(&braid_as(&path("keys"), "admin", &["admin", "clusters", "--node", &url_for, "--out", &path("clusters.csv")]));
        let mut args = vec!["eval".to_owned(), "--truth".into(), path("synth/truth.csv"), "--clusters".into(), path("clusters.csv"), "--json".into()];
        for agency in AGENCIES {
            args.push("--reid".into());
            args.push(path(&format!("{agency}.reid.csv")));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let eval: serde_json::Value = serde_json::from_str(&ok(&braid(&args))).expect("eval json");
        // A truth with a tenth of its true_person cells blank: those rows
        // are left out (not taken for one shared person), the rest score as
        // before; with every cell blank the command says so.
        let truth = std::fs::read_to_string(path("synth/truth.csv")).expect("truth");
        let column = truth.lines().next().expect("header").split(',').position(|h| h == "true_person").expect("true_person column");
        let blank = |every: usize| {
            truth
                .lines()
                .enumerate()
                .map(|(n, line)| {
                    let mut cells: Vec<&str> = line.split(',').collect();
                    if n > 0 && n % every == 0 {
                        cells[column] = "";
                    }
                    cells.join(",")
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let with_truth = |file: &str| args.iter().map(|a| if a.ends_with("synth/truth.csv") { path(file) } else { a.to_string() }).collect::<Vec<String>>();
        std::fs::write(path("truth-gaps.csv"), blank(10)).expect("write");
        let gaps: Vec<String> = with_truth("truth-gaps.csv");
        let partial: serde_json::Value = serde_json::from_str(&ok(&braid(&gaps.iter().map(String::as_str).collect::<Vec<_>>()))).expect("eval json");
        assert!(partial["precision"].as_f64().expect("precision") >= 0.99, "{partial}");
        assert!(partial["involvements"].as_u64() < eval["involvements"].as_u64() && partial["unmatched"].as_u64() > Some(0), "{partial}");
        std::fs::write(path("truth-blank.csv"), blank(1)).expect("write");
        let none: Vec<String> = with_truth("truth-blank.csv");
        let refused = failed(&braid(&none.iter().map(String::as_str).collect::<Vec<_>>()));
        assert!(refused.contains("names no true person"), "{refused}");
        // The export is its owner's only; `--out -` writes the same rows to
        // standard output (and no file named "-").
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path("clusters.csv")).expect("written").permissions().mode() & 0o777, 0o600);
        let piped = ok(&braid_as(&path("keys"), "admin", &["admin", "clusters", "--node", &url_for, "--out", "-"]));
        assert_eq!(piped, std::fs::read_to_string(path("clusters.csv")).expect("clusters"));
        assert!(!std::path::Path::new("-").exists());
        (eval, std::fs::read_to_string(path("clusters.csv")).expect("clusters"))
    })
    .await;
    let precision = eval["precision"].as_f64().expect("precision");
    let recall = eval["recall"].as_f64().expect("recall");
    assert!(precision >= 0.99, "precision {precision}");
    assert!(recall >= 0.97, "recall {recall}");
    assert!(eval["household_pair_precision"].as_f64().expect("households") >= 0.99, "{eval}");
    assert_eq!(eval["unmatched"], 0);
    let before = stats(&prepared.path("keys"), &url);
    assert!(before["profiles_multi_agency"].as_u64().expect("count") > 100);
    assert!(before["model_pairs_at_fit"].as_u64().expect("fit") > 0, "the model was fitted by EM: {before}");

    // Every link of a profile is explained, through the profile id and
    // through a member's record ref.
    let mut reader = csv::Reader::from_reader(clusters_before.as_bytes());
    let mut members: std::collections::HashMap<String, Vec<(String, String)>> = std::collections::HashMap::new();
    for row in reader.records() {
        let row = row.expect("row");
        members.entry(row[4].to_owned()).or_default().push((row[0].to_owned(), row[1].to_owned()));
    }
    let (profile, records) = members.iter().max_by_key(|(id, m)| (m.len(), id.to_string())).expect("a profile");
    assert!(records.len() >= 3);
    let (agency, record_ref) = records[0].clone();
    let url_for = url.clone();
    let profile_for = profile.clone();
    let keys = prepared.path("keys");
    let (by_profile, by_record, missing) = blocking(move || {
        let by_profile = ok(&braid_as(&keys, "admin", &["admin", "explain", "--node", &url_for, "--profile", &profile_for, "--json"]));
        let by_record = ok(&braid_as(&keys, "admin", &["admin", "explain", "--node", &url_for, "--agency", &agency, "--record-ref", &record_ref]));
        let missing = failed(&braid_as(&keys, "admin", &["admin", "explain", "--node", &url_for, "--profile", "P9999999"]));
        (by_profile, by_record, missing)
    })
    .await;
    let explained: serde_json::Value = serde_json::from_str(&by_profile).expect("explain json");
    let first = &explained["profiles"][0];
    assert_eq!(first["profile_id"].as_str(), Some(profile.as_str()));
    let member_count = first["members"].as_array().expect("members").len();
    assert_eq!(member_count, records.len());
    let links = first["links"].as_array().expect("links");
    assert_eq!(links.len(), member_count - 1, "a spanning tree of links: {first}");
    for link in links {
        assert!(link["probability"].as_f64().expect("p") >= 0.7, "{link}");
        assert!(link["dice_band"].as_str().is_some_and(|band| !band.is_empty()));
        assert!(link["evidence"]["name"].is_string() && link["evidence"]["date-of-birth"].is_string(), "{link}");
    }
    assert!(by_record.contains(&format!("profile {profile}")), "{by_record}");
    assert!(by_record.contains("weight") && by_record.contains("keys:"), "{by_record}");
    // A link on an agency's own person ref says so beside its probability.
    let own = links.iter().filter(|link| link["evidence"]["agency-person-ref"] == "same-agency-same-person").count();
    assert!(by_record.matches("(the agency's own person ref)").count() >= own, "{own} such links: {by_record}");
    assert!(missing.contains("no profile has that id"), "{missing}");

    // Profiles survive a restart of the node on the same RocksDB directory.
    node.stop().await.expect("stop");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let p = prepared.path("");
    let url_for = url.clone();
    let clusters_after = blocking(move || {
        ok(&braid_as(&format!("{p}/keys"), "admin", &["admin", "clusters", "--node", &url_for, "--out", &format!("{p}/after.csv")]));
        std::fs::read_to_string(format!("{p}/after.csv")).expect("clusters")
    })
    .await;
    assert_eq!(clusters_before, clusters_after);
    node.stop().await.expect("stop");
}

#[test]
fn pseudonymised_output_holds_no_raw_identifier() {
    let prepared = prepare(150);
    for agency in AGENCIES {
        let output = std::fs::read(prepared.dir.path().join(format!("{agency}.bpx"))).expect("output");
        let mut reader = csv::Reader::from_path(prepared.dir.path().join(format!("synth/{agency}.csv"))).expect("extract");
        let header = reader.headers().expect("header").clone();
        let mapping =
            braid_pseudonym::Mapping::parse(&std::fs::read_to_string(prepared.dir.path().join(format!("synth/{agency}.mapping.toml"))).expect("mapping"))
                .expect("parse mapping");
        let identity = &mapping.identity;
        let columns: Vec<usize> = [&identity.forename, &identity.surname, &identity.date_of_birth, &identity.postcode, &identity.nhs_number]
            .into_iter()
            .flatten()
            .filter_map(|name| header.iter().position(|h| h == name))
            .collect();
        let mut checked = 0;
        for row in reader.records() {
            let row = row.expect("row");
            for &column in &columns {
                let value = row[column].trim();
                // Short strings occur by chance in random hash bytes; every
                // date, postcode and most names are five characters or more.
                if value.chars().count() < 5 {
                    continue;
                }
                let variants = [value.to_owned(), value.to_lowercase(), value.to_uppercase(), value.replace(' ', "")];
                for variant in variants {
                    assert!(
                        !output.windows(variant.len()).any(|w| w == variant.as_bytes()),
                        "{agency}: an identity value from column {column} appears in the output"
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 20, "{agency}: checked {checked} values");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_an_upload_is_idempotent_and_a_wrong_epoch_is_refused() {
    let prepared = prepare(120);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let p = prepared.path("");
    let url_for = url.clone();
    let (first, second) = blocking(move || {
        let first = ok(&upload(&format!("{p}/keys"), &url_for, "CSC-NORTH", &format!("{p}/CSC-NORTH.bpx")));
        let second = ok(&upload(&format!("{p}/keys"), &url_for, "CSC-NORTH", &format!("{p}/CSC-NORTH.bpx")));
        (first, second)
    })
    .await;
    assert!(first.contains("0 unchanged"), "{first}");
    let after_first = stats(&prepared.path("keys"), &url);
    assert_eq!(stats(&prepared.path("keys"), &url), after_first);
    assert!(second.contains("0 new"), "{second}");

    // A second secret under another epoch: the node names the problem.
    let p = prepared.path("");
    let url_for = url.clone();
    let refused = blocking(move || {
        ok(&braid(&["keys", "init", "--epoch", "2", "--out", &format!("{p}/keys2")]));
        ok(&braid(&[
            "agency",
            "pseudonymise",
            "--mapping",
            &format!("{p}/synth/POL-NORTH.mapping.toml"),
            "--secret",
            &format!("{p}/keys2/scheme.secret"),
            "--input",
            &format!("{p}/synth/POL-NORTH.csv"),
            "--out",
            &format!("{p}/POL-epoch2.bpx"),
        ]));
        failed(&upload(&format!("{p}/keys"), &url_for, "POL-NORTH", &format!("{p}/POL-epoch2.bpx")))
    })
    .await;
    assert!(refused.contains("key epoch e2-"), "{refused}");
    assert!(refused.contains("re-pseudonymise"), "{refused}");
    assert_eq!(stats(&prepared.path("keys"), &url), after_first, "nothing of the refused upload was stored");
    node.stop().await.expect("stop");
}

#[test]
fn an_unreachable_node_gets_a_clear_error() {
    let prepared = prepare(30);
    // Bind and release a port so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let stderr = failed(&braid_as(
        &prepared.path("keys"),
        "csc-north",
        &["agency", "upload", "--retries", "1", "--node", &format!("https://127.0.0.1:{port}"), &prepared.path("CSC-NORTH.bpx")],
    ));
    assert!(stderr.contains("cannot reach the node"), "{stderr}");
    assert!(stderr.contains("gave up after 2 attempts"), "{stderr}");

    // Careless inputs are refused with what is wrong, before any call: a
    // window that ends before it starts, a batch of no records, another
    // agency's re-identification map.
    let (keys, url) = (prepared.path("keys"), format!("https://127.0.0.1:{port}"));
    for (command, more) in [("report", &["--by", "victim.sex"][..]), ("signals", &[]), ("signal-counts", &[])] {
        let reversed = failed(&panel(&keys, command, &url, "north", &[&["--since", "2025-01-01", "--until", "2024-01-01"], more].concat()));
        assert!(reversed.contains("--since 2025-01-01 is after --until 2024-01-01"), "{command}: {reversed}");
    }
    let empty_batches = failed(&braid_as(&keys, "csc-north", &["agency", "upload", "--batch-size", "0", "--node", &url, &prepared.path("CSC-NORTH.bpx")]));
    assert!(empty_batches.contains("--batch-size"), "{empty_batches}");
    let pol_map = prepared.path("POL-NORTH.reid.csv");
    let pol_case = std::fs::read_to_string(&pol_map).expect("map").lines().nth(1).expect("a row").split(',').nth(2).expect("case id").to_owned();
    let wrong_map =
        failed(&braid_as(&keys, "csc-north", &["agency", "withdraw", "--node", &url, "--agency", "CSC-NORTH", "--case-id", &pol_case, "--reid", &pol_map]));
    assert!(wrong_map.contains("is POL-NORTH's in") && wrong_map.contains("not CSC-NORTH's"), "{wrong_map}");
    // The right map with the agency code in lower case is told the code.
    let lower =
        failed(&braid_as(&keys, "pol-north", &["agency", "withdraw", "--node", &url, "--agency", "pol-north", "--case-id", &pol_case, "--reid", &pol_map]));
    assert!(lower.contains("the agency is POL-NORTH (agency codes are upper case)"), "{lower}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_after_the_node_restarts_without_duplicates() {
    use braid_proto::v1;
    let prepared = prepare(300);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let address = node.address;
    let url = node.url();

    // The first three batches arrive, then the node goes away.
    let file = prepared.dir.path().join("CSC-NORTH.bpx");
    let (header, records) = read_extract(&file);
    let batches = upload_batches(&header, &records[..records.len().min(150)], 50);
    let mut client = v1::ingest_service_client::IngestServiceClient::new(mtls_channel(&prepared.path("keys"), "csc-north", &url).await.expect("connect"));
    let mut acks = client.upload(tokio_stream::iter(batches)).await.expect("upload").into_inner();
    let mut acked = 0;
    while let Some(ack) = acks.message().await.expect("ack") {
        assert_eq!(ack.accepted, 50);
        acked += 1;
    }
    assert_eq!(acked, 3);
    drop(client);
    node.stop().await.expect("stop");

    // The agency retries while the node is down; it comes back on the same port.
    let path = file.display().to_string();
    let keys = prepared.path("keys");
    let upload = std::thread::spawn(move || {
        braid_as(&keys, "csc-north", &["agency", "upload", "--batch-size", "50", "--retries", "8", "--node", &format!("https://{address}"), &path])
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let node = start_node(&prepared.path("keys"), data.path(), address).await;
    let output = blocking(move || upload.join().expect("upload thread")).await;
    let stdout = ok(&output);
    assert!(stdout.contains("after"), "the upload needed a retry: {stdout}");
    assert!(stdout.contains(&format!("{} new", records.len() - 150)), "{stdout}");
    assert!(stdout.contains("150 already stored by an earlier attempt: 150 new, 0 replaced, 0 unchanged"), "{stdout}");
    let involvements: usize = records.iter().map(|r| r.involvements.len()).sum();
    let stats = stats(&prepared.path("keys"), &node.url());
    assert_eq!(stats["records"].as_u64(), Some(records.len() as u64));
    assert_eq!(stats["involvements"].as_u64(), Some(involvements as u64));
    node.stop().await.expect("stop");
}

#[test]
fn bad_rows_are_named_and_skipped_and_good_rows_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["synth", "--children", "20", "--out", &path("synth")]));
    ok(&braid(&["keys", "init", "--out", &path("keys")]));
    let mapping = std::fs::read_to_string(path("synth/CSC-NORTH.mapping.toml")).expect("mapping");
    let csv = std::fs::read_to_string(path("synth/CSC-NORTH.csv")).expect("csv");
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    let good = lines.len() - 1;
    // Line 2: unknown role label; line 3: impossible date of birth; line 4:
    // a malformed row; line 5: an unknown template category label.
    lines[1] =
        lines[1].replacen(",Victim,", ",Bystander,", 1).replacen(",Alleged perpetrator,", ",Bystander,", 1).replacen(",Suspected victim,", ",Bystander,", 1);
    let fields: Vec<String> = lines[2].split(',').map(str::to_owned).collect();
    lines[2] = fields.iter().enumerate().map(|(i, f)| if i == 7 { "31/02/2010".to_owned() } else { f.clone() }).collect::<Vec<_>>().join(",");
    lines[3] = "CSC-999999,P1,Victim".to_owned();
    let header: Vec<&str> = lines[0].split(',').collect();
    let recorded_as = header.iter().position(|h| *h == "Recorded As").expect("column");
    let mut fields: Vec<String> = lines[4].split(',').map(str::to_owned).collect();
    fields[recorded_as] = "Grooming".to_owned();
    lines[4] = fields.join(",");
    std::fs::write(path("bad.csv"), lines.join("\n") + "\n").expect("write");
    let output = braid(&[
        "agency",
        "pseudonymise",
        "--mapping",
        &path("synth/CSC-NORTH.mapping.toml"),
        "--secret",
        &path("keys/scheme.secret"),
        "--input",
        &path("bad.csv"),
        "--out",
        &path("bad.bpx"),
    ]);
    let stdout = ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("row 2: role: unknown label `Bystander`"), "{stderr}");
    // An impossible date of birth is a warning: the row is kept and its
    // usable parts are linked on.
    assert!(stderr.contains("warning row 3: date_of_birth: is not a real calendar date; its usable parts were kept"), "{stderr}");
    assert!(stderr.contains("row 4: row: has 3 fields but the header has"), "{stderr}");
    assert!(stderr.contains("row 5: services.recorded_as: unknown label `Grooming`"), "{stderr}");
    assert!(stdout.contains(&format!("{} involvements", good - 3)), "{stdout}");
    assert!(stdout.contains("3 rows rejected"), "{stdout}");
    // No raw value of the bad date reaches the message.
    assert!(!stderr.contains("31/02/2010"));

    // Asked to, the tool writes nothing when any row is bad.
    let strict = failed(&braid(&[
        "agency",
        "pseudonymise",
        "--fail-on-bad-rows",
        "--mapping",
        &path("synth/CSC-NORTH.mapping.toml"),
        "--secret",
        &path("keys/scheme.secret"),
        "--input",
        &path("bad.csv"),
        "--out",
        &path("strict.bpx"),
    ]));
    assert!(strict.contains("3 rows were rejected"), "{strict}");
    assert!(!dir.path().join("strict.bpx").exists());

    // A mapping naming a column the extract lacks stops before any row.
    std::fs::write(path("missing.toml"), mapping.replace("\"Last Name\"", "\"Family Name\"")).expect("write");
    let missing = failed(&braid(&[
        "agency",
        "pseudonymise",
        "--mapping",
        &path("missing.toml"),
        "--secret",
        &path("keys/scheme.secret"),
        "--input",
        &path("synth/CSC-NORTH.csv"),
        "--out",
        &path("missing.bpx"),
    ]));
    assert!(missing.contains("the extract has no column `Family Name`, which the mapping names for surname"), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawing_a_record_removes_it_and_recomputes_its_profile() {
    let prepared = prepare(150);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let p = prepared.path("");
    let url_for = url.clone();
    let (before, after, withdrawn_ref) = blocking(move || {
        ok(&upload(&format!("{p}/keys"), &url_for, "CSC-NORTH", &format!("{p}/CSC-NORTH.bpx")));
        ok(&upload(&format!("{p}/keys"), &url_for, "POL-NORTH", &format!("{p}/POL-NORTH.bpx")));
        ok(&braid_as(&format!("{p}/keys"), "admin", &["admin", "clusters", "--node", &url_for, "--out", &format!("{p}/before.csv")]));
        let reid = std::fs::read_to_string(format!("{p}/CSC-NORTH.reid.csv")).expect("reid");
        let line = reid.lines().nth(1).expect("a reid row");
        let fields: Vec<&str> = line.split(',').collect();
        let (record_ref, case_id) = (fields[1].to_owned(), fields[2].to_owned());
        let out = ok(&braid_as(
            &format!("{p}/keys"),
            "csc-north",
            &["agency", "withdraw", "--node", &url_for, "--agency", "CSC-NORTH", "--case-id", &case_id, "--reid", &format!("{p}/CSC-NORTH.reid.csv")],
        ));
        assert!(out.contains("1 records withdrawn, 0 not found (audit entry "), "{out}");
        // The same erasure again: nothing is held under that ref any more,
        // and the command says so and fails instead of passing for done.
        let again = braid_as(
            &format!("{p}/keys"),
            "csc-north",
            &["agency", "withdraw", "--node", &url_for, "--agency", "CSC-NORTH", "--case-id", &case_id, "--reid", &format!("{p}/CSC-NORTH.reid.csv")],
        );
        assert!(String::from_utf8_lossy(&again.stdout).contains("0 records withdrawn, 1 not found"), "{again:?}");
        let error = failed(&again);
        assert!(error.contains("1 of the 1 records named are not held by the node for CSC-NORTH"), "{error}");
        assert!(!error.contains(&record_ref), "no ref in the error: {error}");
        ok(&braid_as(&format!("{p}/keys"), "admin", &["admin", "clusters", "--node", &url_for, "--out", &format!("{p}/after.csv")]));
        (std::fs::read_to_string(format!("{p}/before.csv")).expect("before"), std::fs::read_to_string(format!("{p}/after.csv")).expect("after"), record_ref)
    })
    .await;
    assert!(before.contains(&withdrawn_ref));
    assert!(!after.contains(&withdrawn_ref));
    assert!(after.lines().count() < before.lines().count());
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_two_csvs_with_a_mapping_and_a_truth_column_can_be_linked_and_evaluated() {
    // Two agencies' extracts in their own layouts, each with an extra column
    // naming the true person, as an evaluation dataset would have.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["synth", "--children", "200", "--seed", "5", "--noise", "high", "--out", &path("synth")]));
    ok(&braid(&["keys", "init", "--out", &path("keys")]));
    let mut truth_reader = csv::Reader::from_path(path("synth/truth.csv")).expect("truth");
    let mut truth = std::collections::HashMap::new();
    for row in truth_reader.records() {
        let row = row.expect("row");
        truth.insert((row[0].to_owned(), row[1].to_owned(), row[2].to_owned()), row[4].to_owned());
    }
    for agency in ["CSC-NORTH", "POL-NORTH"] {
        let mapping =
            braid_pseudonym::Mapping::parse(&std::fs::read_to_string(path(&format!("synth/{agency}.mapping.toml"))).expect("mapping")).expect("parse mapping");
        let mut reader = csv::Reader::from_path(path(&format!("synth/{agency}.csv"))).expect("extract");
        let header = reader.headers().expect("header").clone();
        let case = header.iter().position(|h| h == mapping.columns.record_ref).expect("case column");
        let person = header.iter().position(|h| h == mapping.columns.person_ref).expect("person column");
        let mut writer = csv::Writer::from_path(path(&format!("{agency}.csv"))).expect("write");
        let mut with_truth: Vec<&str> = header.iter().collect();
        with_truth.push("true_id");
        writer.write_record(&with_truth).expect("header");
        for row in reader.records() {
            let row = row.expect("row");
            let id = truth[&(agency.to_owned(), row[case].to_owned(), row[person].to_owned())].clone();
            let mut cells: Vec<&str> = row.iter().collect();
            cells.push(&id);
            writer.write_record(&cells).expect("row");
        }
        writer.flush().expect("flush");
        let out = ok(&braid(&[
            "agency",
            "pseudonymise",
            "--mapping",
            &path(&format!("synth/{agency}.mapping.toml")),
            "--secret",
            &path("keys/scheme.secret"),
            "--input",
            &path(&format!("{agency}.csv")),
            "--out",
            &path(&format!("{agency}.bpx")),
            "--truth-column",
            "true_id",
        ]));
        assert!(out.contains("not uploaded"), "{out}");
        let uploaded = std::fs::read(path(&format!("{agency}.bpx"))).expect("bpx");
        assert!(!uploaded.windows(7).any(|w| w == b"T000001"), "the truth column must not be uploaded");
    }
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let dir_path = dir.path().to_path_buf();
    let eval = blocking(move || {
        let path = |name: &str| dir_path.join(name).display().to_string();
        for agency in ["CSC-NORTH", "POL-NORTH"] {
            ok(&upload(&path("keys"), &url, agency, &path(&format!("{agency}.bpx"))));
        }
        ok(&braid_as(&path("keys"), "admin", &["admin", "clusters", "--node", &url, "--out", &path("clusters.csv")]));
        let table = ok(&braid(&[
            "eval",
            "--clusters",
            &path("clusters.csv"),
            "--truth",
            &path("CSC-NORTH.truth.csv"),
            "--truth",
            &path("POL-NORTH.truth.csv"),
            "--reid",
            &path("CSC-NORTH.reid.csv"),
            "--reid",
            &path("POL-NORTH.reid.csv"),
        ]));
        assert!(table.contains("pairwise F1"), "{table}");
        let json = ok(&braid(&[
            "eval",
            "--json",
            "--clusters",
            &path("clusters.csv"),
            "--truth",
            &path("CSC-NORTH.truth.csv"),
            "--truth",
            &path("POL-NORTH.truth.csv"),
            "--reid",
            &path("CSC-NORTH.reid.csv"),
            "--reid",
            &path("POL-NORTH.reid.csv"),
        ]));
        serde_json::from_str::<serde_json::Value>(&json).expect("eval json")
    })
    .await;
    assert_eq!(eval["unmatched"], 0, "{eval}");
    assert!(eval["f1"].as_f64().expect("f1") >= 0.97, "{eval}");
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_are_stored_once_and_the_profiles_survive_a_restart_unchanged() {
    let prepared = prepare(300);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let p = prepared.path("");
    let url_for = url.clone();
    let before = blocking(move || {
        // All four agencies upload at once, in small batches so that their
        // linking and writes interleave.
        let children: Vec<_> = AGENCIES
            .iter()
            .map(|agency| {
                Command::new(braid_binary())
                    .env("BRAID_TLS", format!("{p}/keys/{}", agency.to_lowercase()))
                    .args(["agency", "upload", "--node", &url_for, "--batch-size", "20", &format!("{p}/{agency}.bpx")])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start braid")
            })
            .collect();
        for child in children {
            ok(&child.wait_with_output().expect("run braid"));
        }
        ok(&braid_as(&format!("{p}/keys"), "admin", &["admin", "clusters", "--node", &url_for, "--out", &format!("{p}/concurrent.csv")]));
        std::fs::read_to_string(format!("{p}/concurrent.csv")).expect("clusters")
    })
    .await;
    let stats_before = stats(&prepared.path("keys"), &url);
    let rows = before.lines().count() - 1;
    assert_eq!(stats_before["involvements"].as_u64(), Some(rows as u64));
    node.stop().await.expect("stop");

    // What the node rebuilds from RocksDB is exactly what it held in memory.
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let p = prepared.path("");
    let url_for = url.clone();
    let after = blocking(move || {
        ok(&braid_as(&format!("{p}/keys"), "admin", &["admin", "clusters", "--node", &url_for, "--out", &format!("{p}/restarted.csv")]));
        std::fs::read_to_string(format!("{p}/restarted.csv")).expect("clusters")
    })
    .await;
    assert_eq!(before, after);
    assert_eq!(stats(&prepared.path("keys"), &url)["records"], stats_before["records"]);
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_on_default_synthetic_data_match_what_was_planted() {
    // `braid synth` with its defaults: 2,000 children, seed 42.
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().display().to_string();
    let keys = format!("{p}/keys");
    ok(&braid(&["keys", "init", "--out", &keys]));
    // A fixed scheme secret, so that the figures are the same on every run:
    // Bloom positions follow the secret, and a few links (and so a few
    // signals) differ from one secret to the next. BENCHMARKS.md gives the
    // spread over secrets.
    let secret = braid_pseudonym::SchemeSecret::new(1, [42u8; 32]);
    std::fs::write(format!("{keys}/scheme.secret"), secret.to_file_text()).expect("write the secret");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let scores = blocking(move || {
        ok(&braid(&["synth", "--out", &format!("{p}/synth")]));
        upload_and_score_signals(&p, "synth", &AGENCIES, &url, "north")
    })
    .await;
    let signals = &scores["signals"];
    for kind in ["revictimisation", "victim-hsb-overlap", "victim-as-offender", "shared-perpetrator", "network", "classification-conflict"] {
        let score = &signals[kind];
        assert!(score["planted"].as_u64().expect("planted") >= 5, "{kind} is planted: {score}");
        assert!(score["precision"].as_f64().expect("precision") >= 0.95, "{kind}: {score}");
        assert!(score["recall"].as_f64().expect("recall") >= 0.95, "{kind}: {score}");
    }
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panels_see_their_partnership_only_and_never_a_pseudonym() {
    let prepared = prepare(400);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&prepared.path("keys"), data.path()).await;
    let url = node.url();
    let p = prepared.path("");
    blocking(move || {
        let path = |name: &str| format!("{p}/{name}");
        for agency in AGENCIES {
            ok(&upload(&path("keys"), &url, agency, &path(&format!("{agency}.bpx"))));
        }
        ok(&braid_as(&path("keys"), "admin", &["admin", "clusters", "--node", &url, "--out", &path("clusters.csv")]));
        let clusters = std::fs::read_to_string(path("clusters.csv")).expect("clusters");
        let person_refs: Vec<String> = clusters.lines().skip(1).map(|l| l.split(',').nth(2).expect("person_ref").to_owned()).collect();
        let no_pseudonym = |text: &str| {
            for person_ref in &person_refs {
                assert!(!text.contains(person_ref.as_str()), "a person ref reached a panel");
            }
        };

        // A person known to children's services and to the YOT, as the
        // statutory panel sees them: the YOT's records only counted.
        let rows: Vec<Vec<String>> = clusters.lines().skip(1).map(|l| l.split(',').map(str::to_owned).collect()).collect();
        let mut agencies_of: std::collections::HashMap<&str, std::collections::HashSet<&str>> = std::collections::HashMap::new();
        for row in &rows {
            agencies_of.entry(row[4].as_str()).or_default().insert(row[0].as_str());
        }
        let (profile, _) = agencies_of
            .iter()
            .filter(|(_, a)| a.contains("CSC-NORTH") && a.contains("YOT-NORTH"))
            .min_by_key(|(id, _)| id.to_string())
            .expect("someone known to both");
        let csc_record = rows.iter().find(|r| r[4] == *profile && r[0] == "CSC-NORTH").expect("their CSC record")[1].clone();
        let yot_record = rows.iter().find(|r| r[4] == *profile && r[0] == "YOT-NORTH").expect("their YOT record")[1].clone();
        let text = ok(&panel(&path("keys"), "profile", &url, "statutory", &["--agency", "CSC-NORTH", "--record-ref", &csc_record, "--json"]));
        no_pseudonym(&text);
        let view = json(&text);
        let person = view["profiles"].as_array().expect("profiles").iter().find(|p| p["profile_id"] == *profile).expect("the profile");
        let records = person["records"].as_array().expect("records");
        assert!(records.iter().all(|r| r["agency"] == "CSC-NORTH" || r["agency"] == "POL-NORTH"), "{person}");
        let outside_yot = &person["outside"]["yot"];
        assert!(outside_yot == "<5" || outside_yot.as_u64().is_some_and(|n| n >= 5), "counted outside, small counts as <5: {person}");
        assert!(!text.contains(&yot_record), "an outside record ref reached the panel");
        for record in records {
            let band = record["confidence"].as_str().expect("confidence");
            assert!(["very high", "high", "moderate", "agency's own id", "only record"].contains(&band), "{band}");
            assert!(!record["fields"].as_object().expect("fields").is_empty(), "template fields are shown: {record}");
        }
        let table = ok(&panel(&path("keys"), "profile", &url, "north", &["--profile", profile]));
        assert!(table.contains("YOT-NORTH") && table.contains("link "), "{table}");

        // Refusals.
        let refused = failed(&panel(&path("keys"), "profile", &url, "statutory", &["--agency", "YOT-NORTH", "--record-ref", &yot_record]));
        assert!(refused.contains("not in the partnership"), "{refused}");
        let outside = failed(&panel_as(&path("keys"), "panel-statutory", "signals", &url, "north", &[]));
        assert!(outside.contains("a panel of statutory may query only its own partnership, not north"), "{outside}");
        let no_purpose = failed(&braid_as(
            &path("keys"),
            "panel-north",
            &["panel", "signals", "--node", &url, "--partnership", "north", "--purpose", " ", "--case-ref", "T-1"],
        ));
        assert!(no_purpose.contains("must state its purpose"), "{no_purpose}");

        // Signals by kind and date, newest first; statutory sees fewer.
        let all = json(&ok(&panel(&path("keys"), "signals", &url, "north", &["--limit", "100000", "--full", "--json"])));
        let statutory = json(&ok(&panel(&path("keys"), "signals", &url, "statutory", &["--limit", "100000", "--json"])));
        assert!(statutory["matched"].as_u64() <= all["matched"].as_u64());
        assert!(
            statutory["signals"].as_array().expect("signals").iter().all(|s| s["outside"].as_object().is_some_and(|o| o.is_empty())),
            "a partnership's signals rest on its own records only"
        );
        let text = ok(&panel(&path("keys"), "signals", &url, "statutory", &["--kind", "revictimisation", "--since", "2023-01-01", "--limit", "500", "--json"]));
        no_pseudonym(&text);
        let listed = json(&text);
        let listed = listed["signals"].as_array().expect("signals");
        assert!(!listed.is_empty());
        let lasts: Vec<&str> = listed.iter().map(|s| s["last"].as_str().expect("last")).collect();
        assert!(lasts.iter().all(|d| *d >= "2023-01-01"), "{lasts:?}");
        assert!(lasts.windows(2).all(|w| w[0] >= w[1]), "newest first");
        assert!(listed.iter().all(|s| s["kind"] == "revictimisation"));
        assert!(listed.iter().flat_map(|s| s["records"].as_array().expect("records")).all(|r| r["agency"] == "CSC-NORTH" || r["agency"] == "POL-NORTH"));
        // Counts over time agree with the listing: distinct people per kind.
        let counts = json(&ok(&panel(&path("keys"), "signal-counts", &url, "north", &["--period", "year", "--json"])));
        for row in counts["rows"].as_array().expect("rows") {
            let kind = row["kind"].as_str().expect("kind");
            let listed: std::collections::HashSet<&str> =
                all["signals"].as_array().expect("signals").iter().filter(|s| s["kind"] == kind).map(|s| s["profile_id"].as_str().expect("id")).collect();
            let total = row["total"].as_str().expect("total");
            // Counts by period are rounded down to a multiple of 5.
            match listed.len() {
                0 => assert_eq!(total, "0", "{row}"),
                1..=4 => assert_eq!(total, "<5", "{row}"),
                n => assert_eq!(total, (n / 5 * 5).to_string(), "{kind}: {row}"),
            }
            for cell in row["cells"].as_array().expect("cells") {
                let cell = cell.as_str().expect("cell");
                assert!(cell == "<5" || cell == "*" || cell.parse::<u64>().is_ok_and(|n| n == 0 || n >= 5), "{row}");
            }
        }
        let bad_kind = failed(&panel(&path("keys"), "signals", &url, "north", &["--kind", "nonsense"]));
        assert!(bad_kind.contains("unknown signal kind"), "{bad_kind}");
        // A resolved concern is shown as resolved, never as a current label.
        let resolved =
            all["signals"].as_array().expect("signals").iter().find(|s| s["status"] == "resolved" && s["kind"] != "network").expect("a resolved signal");
        let subject = resolved["profile_id"].as_str().expect("id");
        let person = json(&ok(&panel(&path("keys"), "profile", &url, "north", &["--profile", subject, "--json"])));
        let evidence: Vec<&str> = resolved["records"].as_array().expect("records").iter().map(|r| r["record_ref"].as_str().expect("ref")).collect();
        for record in person["profiles"][0]["records"].as_array().expect("records") {
            if evidence.contains(&record["record_ref"].as_str().expect("ref")) {
                assert!(record["concern"] == "resolved" || record["concern"] == "not recorded", "{record}");
            }
        }

        // The network around a perpetrator: text, DOT and SVG.
        let shared = all["signals"].as_array().expect("signals").iter().find(|s| s["kind"] == "shared-perpetrator").expect("a shared perpetrator");
        let harmer = shared["profile_id"].as_str().expect("id");
        let network = json(&ok(&panel(&path("keys"), "network", &url, "north", &["--profile", harmer, "--format", "json"])));
        let ids: Vec<&str> = network["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].as_str().expect("id")).collect();
        assert_eq!(ids[0], harmer);
        for victim in shared["related_profiles"].as_array().expect("victims") {
            assert!(ids.contains(&victim.as_str().expect("id")), "{victim} is in the network");
        }
        let dot = ok(&panel(&path("keys"), "network", &url, "north", &["--profile", harmer, "--format", "dot"]));
        assert!(dot.starts_with("digraph network {") && dot.contains(&format!("\"{harmer}\"")), "{dot}");
        let svg_path = path("network.svg");
        ok(&panel(&path("keys"), "network", &url, "north", &["--profile", harmer, "--format", "svg", "--out", &svg_path]));
        let svg = std::fs::read_to_string(&svg_path).expect("svg");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>") && svg.contains(harmer));
        no_pseudonym(&svg);

        // An aggregate report: distinct people, no small count shown.
        let report = json(&ok(&panel(&path("keys"), "report", &url, "north", &["--by", "victim.sex", "--by", "case_type", "--json"])));
        let cells: Vec<&str> =
            report["cells"].as_array().expect("cells").iter().flat_map(|r| r.as_array().expect("row").iter().map(|c| c.as_str().expect("cell"))).collect();
        let totals = report["row_totals"]
            .as_array()
            .expect("totals")
            .iter()
            .chain(report["column_totals"].as_array().expect("totals"))
            .map(|c| c.as_str().expect("cell"));
        for cell in cells.iter().copied().chain(totals) {
            if let Ok(n) = cell.parse::<u64>() {
                assert!(n == 0 || n >= 5, "a small count is shown: {report}");
            } else {
                assert!(cell == "<5" || cell == "*", "{cell}");
            }
        }
        let victims: u64 = report["total"].as_str().expect("total").parse().expect("the total is shown");
        assert!(victims > 300 && victims <= 400 + 50, "distinct victims, not records: {victims}");
        // A multi-choice item: children in every type their records tick,
        // each once in the total.
        let abuse = json(&ok(&panel(&path("keys"), "report", &url, "north", &["--by", "context.abuse_types", "--json"])));
        assert_eq!(abuse["rows_overlap"], true, "{abuse}");
        assert_eq!(abuse["total"], report["total"], "the same children, each once: {abuse}");
        let two_multi = failed(&panel(&path("keys"), "report", &url, "north", &["--by", "context.abuse_types", "--by", "context.locations"]));
        assert!(two_multi.contains("both multi-choice items"), "{two_multi}");
        // A whole-number item: one row per age of a child.
        let ages = json(&ok(&panel(&path("keys"), "report", &url, "north", &["--by", "victim.age_at_referral", "--json"])));
        let labels: Vec<&str> = ages["row_labels"].as_array().expect("labels").iter().map(|l| l.as_str().expect("label")).collect();
        assert_eq!(&labels[..3], ["0", "1", "2"]);
        assert_eq!(labels.len(), 18 + 1 + 2, "0 to 17, young adults, not known, not recorded");
        assert_eq!(labels[18], "18–24 (young adult)");
        assert_eq!(ages["total"], report["total"], "the same people, counted once either way");
        // Over time: a window and a period dimension.
        let yearly = json(&ok(&panel(&path("keys"), "report", &url, "north", &["--by", "period:year", "--json"])));
        let years: Vec<&str> = yearly["row_labels"].as_array().expect("labels").iter().map(|l| l.as_str().expect("label")).collect();
        assert!(years.len() >= 2 && years.windows(2).all(|w| w[1].parse::<i32>().expect("year") == w[0].parse::<i32>().expect("year") + 1), "{years:?}");
        // By period the counts are rounded down to a multiple of 5.
        assert_eq!(yearly["rounded"], true, "{yearly}");
        let exact: u64 = report["total"].as_str().expect("total").parse().expect("shown");
        assert_eq!(yearly["total"], (exact / 5 * 5).to_string(), "each person once, under the year of their first case");
        let window = json(&ok(&panel(
            &path("keys"),
            "report",
            &url,
            "north",
            &["--by", "period:quarter", "--by", "victim.sex", "--since", &format!("{}-01-01", years[1]), "--until", &format!("{}-12-31", years[1]), "--json"],
        )));
        let quarters: Vec<&str> = window["row_labels"].as_array().expect("labels").iter().map(|l| l.as_str().expect("label")).collect();
        assert!(!quarters.is_empty() && quarters.iter().all(|q| q.starts_with(years[1]) && q.contains(" Q")), "{quarters:?}");
        let in_window: u64 = window["total"].as_str().expect("total").parse().expect("shown");
        assert!(in_window > 0 && in_window < victims, "{in_window} of {victims}");
        // Over a window, counts of 5 or more are rounded down to a multiple of 5
        // (reports of nested windows cannot be subtracted); without one,
        // they are exact.
        assert_eq!(window["rounded"], true, "{window}");
        assert!(window["legend"].as_str().expect("legend").contains("rounded down to a multiple of 5"), "{window}");
        let shown = shown_counts(&window, &["row_totals", "column_totals"]);
        assert!(shown.iter().any(|&n| n >= 5) && shown.iter().all(|&n| n == 0 || n % 5 == 0), "{window}");
        assert_eq!(report["rounded"], false, "not over time, exact: {report}");
        // A report of everyone is rounded too: beside the victims' and the
        // harmers' (exact), it would give the number who are both.
        let everyone = json(&ok(&panel(&path("keys"), "report", &url, "north", &["--by", "agency", "--population", "all", "--json"])));
        assert_eq!(everyone["rounded"], true, "{everyone}");
        assert!(everyone["legend"].as_str().expect("legend").contains("cannot be subtracted from the victims' and the harmers' reports"), "{everyone}");
        let everyone_cells = shown_counts(&everyone, &[]);
        assert!(everyone_cells.iter().any(|&n| n >= 5) && everyone_cells.iter().all(|&n| n % 5 == 0), "{everyone}");
        let nothing = failed(&panel(&path("keys"), "report", &url, "north", &["--by", "period:year", "--since", "1901-01-01", "--until", "1901-12-31"]));
        assert!(nothing.contains("no case of the partnership falls in that window"), "{nothing}");
        let weekly = failed(&panel(&path("keys"), "report", &url, "north", &["--by", "period:week"]));
        assert!(weekly.contains("period:month, period:quarter or period:year"), "{weekly}");

        // Completeness and interconnectedness.
        let quality = json(&ok(&panel(&path("keys"), "quality", &url, "statutory", &["--json"])));
        let agencies = quality["agencies"].as_array().expect("agencies");
        assert_eq!(agencies.len(), 2);
        let police = agencies.iter().find(|a| a["agency"] == "POL-NORTH").expect("police");
        let item = |id: &str| police["items"].as_array().expect("items").iter().find(|i| i["field_id"] == id).cloned();
        let sex = item("victim.sex").expect("police record victim sex");
        assert!(sex["known"].as_u64().expect("known") > 0);
        let status = item("victim.status").expect("counted as missing where it applies");
        assert_eq!(status["known"], 0, "police never record victim.status: {status}");
        assert!(status["missing"].as_u64().expect("missing") > 0);
        let table = ok(&panel(&path("keys"), "quality", &url, "statutory", &[]));
        assert!(table.contains("A3 victim.sex"), "{table}");
        // The police system holds victim.status only as narrative text, as
        // its mapping declares.
        assert_eq!(status["held"], "free text", "{status}");
        assert_eq!(sex["held"], "categories", "{sex}");

        // The pilot's form: per item and agency type, the agencies whose
        // system collects the item and holds it in categories, worked out
        // here from the mapping files; the answers' shares from the counts.
        let pilot = json(&ok(&panel(&path("keys"), "quality", &url, "north", &["--format", "pilot", "--json"])));
        let mappings: Vec<braid_pseudonym::Mapping> = AGENCIES
            .iter()
            .map(|a| braid_pseudonym::Mapping::parse(&std::fs::read_to_string(path(&format!("synth/{a}.mapping.toml"))).expect("mapping")).expect("parse"))
            .collect();
        let by_items = json(&ok(&panel(&path("keys"), "quality", &url, "north", &["--json"])));
        let items = pilot["items"].as_array().expect("items");
        assert_eq!(items.len(), braid_template::Template::standard().fields().len(), "every template item");
        let mut compared = 0;
        for item in items {
            let id = item["field_id"].as_str().expect("id");
            for cell in item["by_type"].as_array().expect("types") {
                let of_type: Vec<&braid_pseudonym::Mapping> = mappings.iter().filter(|m| m.agency.agency_type == cell["agency_type"]).collect();
                assert_eq!(cell["agencies"], of_type.len(), "{cell}");
                let categories = of_type.iter().filter(|m| m.fields.contains_key(id)).count();
                let free_text = of_type.iter().filter(|m| m.system.free_text.iter().any(|f| f == id)).count();
                let not_held = of_type.iter().filter(|m| m.system.not_held.iter().any(|f| f == id)).count();
                assert_eq!(cell["reportable"], categories, "{id} {cell}");
                assert_eq!(cell["collected"], categories + free_text, "{id} {cell}");
                assert_eq!(cell["declared"], categories + free_text + not_held, "{id} {cell}");
                // Answers: the sum of the type's agencies' published counts.
                if let Some(answers) = cell["answers"].as_object() {
                    let agencies = by_items["agencies"].as_array().expect("agencies").iter().filter(|a| a["agency_type"] == cell["agency_type"]);
                    let counted = |key: &str| -> u64 {
                        agencies
                            .clone()
                            .filter_map(|a| a["items"].as_array().expect("items").iter().find(|i| i["field_id"] == id).map(|i| i[key].as_u64().expect("plain")))
                            .sum()
                    };
                    assert_eq!(answers["not_known"], counted("not_known"), "{id} {cell}");
                    assert_eq!(answers["not_recorded"], counted("missing"), "{id} {cell}");
                    assert_eq!(answers["applies"], counted("known") + counted("not_known") + counted("missing"), "{id} {cell}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 20, "answers compared for {compared} item and type pairs");
        let table = ok(&panel(&path("keys"), "quality", &url, "north", &["--format", "pilot"]));
        assert!(table.contains("the pilot report's Tables 2–9") && table.contains("police (1): collected / reportable"), "{table}");
        let unknown = failed(&panel(&path("keys"), "quality", &url, "north", &["--format", "pilots"]));
        assert!(unknown.contains("possible values: items, pilot"), "{unknown}");
        // No count from 1 to 4 reaches a panel, and none can be worked out
        // from the others: where one is small, another is withheld.
        let mut small = 0;
        for agency in agencies {
            for item in agency["items"].as_array().expect("items") {
                let cells: Vec<&serde_json::Value> = ["known", "not_known", "missing"].iter().map(|k| &item[*k]).collect();
                for cell in &cells {
                    assert!(cell.as_u64().is_none_or(|n| n == 0 || n >= 5) && (cell.is_u64() || *cell == "<5" || *cell == "*"), "{item}");
                }
                if cells.iter().any(|c| *c == "<5") {
                    small += 1;
                    assert!(cells.iter().filter(|c| c.is_string()).count() >= 2, "a lone <5 could be worked out from the total: {item}");
                }
            }
        }
        assert!(small > 0, "some completeness counts are small on this population");
        // An agency sees its own counts exactly.
        let own = json(&ok(&braid_as(&path("keys"), "pol-north", &["agency", "quality", "--node", &url, "--agency", "POL-NORTH", "--json"])));
        let exact = own["agencies"][0]["items"].as_array().expect("items");
        assert!(exact.iter().all(|i| i["known"].is_u64() && i["missing"].is_u64()));
        let services = json(&ok(&panel(&path("keys"), "services", &url, "north", &["--json"])));
        let matrix = services["rows"].as_array().expect("rows");
        assert_eq!(matrix.len(), 4);
        for (a, row) in matrix.iter().enumerate() {
            for (b, cell) in row.as_array().expect("row").iter().enumerate() {
                assert_eq!(cell, &matrix[b][a], "the matrix is symmetric");
            }
        }
        assert!(matrix[0][1].as_str().expect("cell").parse::<u64>().expect("children known to both") > 50);
    })
    .await;
    node.stop().await.expect("stop");
}

/// Signals kept current upload by upload (the panel asks after every
/// agency's upload, so each later upload's links, merges included, are
/// settled into an existing book) list exactly what a restarted node works
/// out from the stored records at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_kept_current_through_uploads_match_what_a_restarted_node_works_out() {
    let prepared = prepare(300);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&prepared.path("keys"), data.path()).await;
    let url = node.url();
    let p = prepared.path("");
    let live = blocking(move || {
        let mut listing = serde_json::Value::Null;
        for agency in AGENCIES {
            ok(&upload(&format!("{p}/keys"), &url, agency, &format!("{p}/{agency}.bpx")));
            listing = json(&ok(&panel(&format!("{p}/keys"), "signals", &url, "north", &["--limit", "100000", "--json"])));
        }
        listing
    })
    .await;
    node.stop().await.expect("stop");
    let node = start_panel_node(&prepared.path("keys"), data.path()).await;
    let url = node.url();
    let keys = prepared.path("keys");
    let restarted = blocking(move || json(&ok(&panel(&keys, "signals", &url, "north", &["--limit", "100000", "--json"])))).await;
    assert!(live["signals"].as_array().is_some_and(|signals| signals.len() > 100), "{live}");
    assert_eq!(restarted, live);
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_follow_withdrawals_and_survive_a_restart() {
    let prepared = prepare(300);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&prepared.path("keys"), data.path()).await;
    let url = node.url();
    let p = prepared.path("");
    let url_for = url.clone();
    let (before, withdrawn, subject, after) = blocking(move || {
        for agency in AGENCIES {
            ok(&upload(&format!("{p}/keys"), &url_for, agency, &format!("{p}/{agency}.bpx")));
        }
        let before = json(&ok(&panel(&format!("{p}/keys"), "signals", &url_for, "north", &["--limit", "100000", "--json"])));
        // A re-victimised child with one record at each of two agencies, one
        // of which is withdrawn.
        let signal = before["signals"]
            .as_array()
            .expect("signals")
            .iter()
            .find(|s| {
                let records = s["records"].as_array().expect("records");
                s["kind"] == "revictimisation" && s["detail"] != "re-referral" && records.len() == 2 && records[0]["agency"] != records[1]["agency"]
            })
            .expect("a suitable signal")
            .clone();
        let record = signal["records"][1].clone();
        let (agency, record_ref) = (record["agency"].as_str().expect("agency"), record["record_ref"].as_str().expect("ref"));
        ok(&braid_as(
            &format!("{p}/keys"),
            &agency.to_lowercase(),
            &["agency", "withdraw", "--node", &url_for, "--agency", agency, "--record-ref", record_ref],
        ));
        let after = json(&ok(&panel(&format!("{p}/keys"), "signals", &url_for, "north", &["--limit", "100000", "--json"])));
        (before, record_ref.to_owned(), signal["profile_id"].as_str().expect("id").to_owned(), after)
    })
    .await;
    let mentions = |listing: &serde_json::Value| listing.to_string().contains(&withdrawn);
    assert!(mentions(&before));
    assert!(!mentions(&after), "no signal rests on a withdrawn record");
    // One victim record is left: no re-victimisation unless it is itself
    // recorded as a re-referral.
    let still: Vec<&serde_json::Value> =
        after["signals"].as_array().expect("signals").iter().filter(|s| s["kind"] == "revictimisation" && s["profile_id"] == subject.as_str()).collect();
    assert!(still.iter().all(|s| s["detail"] == "re-referral"), "{still:?}");
    // Signals are derived from RocksDB: a restarted node lists the same,
    // a victim recorded as an offender among them (it rests on the very
    // high links rebuilt from the stored ones).
    assert!(after["signals"].as_array().expect("signals").iter().any(|s| s["kind"] == "victim-as-offender"), "{after}");
    node.stop().await.expect("stop");
    let node = start_panel_node(&prepared.path("keys"), data.path()).await;
    let url = node.url();
    let keys = prepared.path("keys");
    let restarted = blocking(move || json(&ok(&panel(&keys, "signals", &url, "north", &["--limit", "100000", "--json"])))).await;
    assert_eq!(restarted, after);
    node.stop().await.expect("stop");
}

#[test]
fn keys_init_writes_a_secret_certificates_and_the_policy_that_grants_roles() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("keys");
    let out_text = out.display().to_string();
    let printed = ok(&braid(&["keys", "init", "--out", &out_text, "--partnership", "north", "--partnership", "south"]));
    assert!(printed.contains("fingerprint e1-"), "{printed}");
    let policy = braid_access::Policy::from_toml(&std::fs::read_to_string(out.join("node/policy.toml")).expect("policy")).expect("valid policy");
    for agency in AGENCIES {
        let principal = agency.to_lowercase();
        assert_eq!(policy.grant_of(&principal), Some(&braid_access::Grant::Agency(agency.to_owned())));
        for file in ["ca.crt", "client.crt", "client.key"] {
            assert!(out.join(&principal).join(file).exists(), "{principal}/{file}");
        }
    }
    assert_eq!(policy.grant_of("panel-south"), Some(&braid_access::Grant::Panel("south".to_owned())));
    assert_eq!(policy.grant_of("auditor"), Some(&braid_access::Grant::Auditor));
    assert_eq!(policy.grant_of("admin"), Some(&braid_access::Grant::Admin));
    for name in ["scheme.secret", "ca/ca.key", "node/node.key", "panel-north/client.key", "csc-north/client.key", "auditor/client.key"] {
        let mode = std::fs::metadata(out.join(name)).expect(name).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is private");
    }
    assert!(!out.join("node/ca.key").exists() && !out.join("auditor/ca.key").exists(), "the CA key stays in ca/");
    let certificate = std::fs::read_to_string(out.join("node/node.crt")).expect("node certificate");
    assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
    let client = std::fs::read(out.join("panel-south/client.crt")).expect("client certificate");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&client).expect("PEM");
    assert_eq!(braid_access::principal_of(&pem.contents).as_deref(), Some("panel-south"));
    // Nothing is overwritten.
    let refused = failed(&braid(&["keys", "init", "--out", &out_text]));
    assert!(refused.contains("refusing to overwrite"), "{refused}");
}

/// Two partnerships sharing children: north sees only the YOT's and the
/// voluntary service's records, statutory only children's services' and
/// the police's. Every signal and network a panel sees is computed from its
/// own partnership's records: none rests on, dates from, or takes a role
/// from a record held outside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partnership_sees_signals_and_networks_from_its_own_records_only() {
    let prepared = prepare(400);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = braid_node::spawn(braid_node::NodeConfig {
        partnerships: [
            ("north".to_owned(), vec!["YOT-NORTH".to_owned(), "VOL-NORTH".to_owned()]),
            ("statutory".to_owned(), vec!["CSC-NORTH".to_owned(), "POL-NORTH".to_owned()]),
        ]
        .into(),
        ..node_config(&keys, data.path(), loopback())
    })
    .await
    .expect("start node");
    let url = node.url();
    let p = prepared.path("");
    blocking(move || {
        let keys = format!("{p}/keys");
        for agency in AGENCIES {
            ok(&upload(&keys, &url, agency, &format!("{p}/{agency}.bpx")));
        }
        let mut shared_children = 0;
        for (partnership, own) in [("north", ["YOT-NORTH", "VOL-NORTH"]), ("statutory", ["CSC-NORTH", "POL-NORTH"])] {
            let listing = json(&ok(&panel(&keys, "signals", &url, partnership, &["--limit", "100000", "--full", "--json"])));
            let signals = listing["signals"].as_array().expect("signals");
            assert!(!signals.is_empty(), "{partnership} sees signals");
            for signal in signals {
                let records = signal["records"].as_array().expect("records");
                assert!(records.iter().all(|r| own.contains(&r["agency"].as_str().expect("agency"))), "{partnership}: {signal}");
                assert!(signal["outside"].as_object().expect("outside").is_empty(), "{partnership}: {signal}");
                let first = signal["first"].as_str().expect("first");
                let last = signal["last"].as_str().expect("last");
                let dates: Vec<&str> = records.iter().map(|r| r["date"].as_str().expect("date")).collect();
                if signal["kind"] != "network" {
                    assert!(dates.contains(&first) && dates.contains(&last), "dates come from the partnership's records: {signal}");
                }
                // Each signal says how strong the links it rests on are, from
                // the partnership's own records.
                let bands = ["agency's own id", "very high", "high", "moderate", "only record"];
                let weakest = signal["weakest_link"].as_str().expect("weakest link");
                assert!(bands.contains(&weakest) || weakest == "none: each record stands alone", "{signal}");
                assert!(records.iter().all(|r| bands.contains(&r["link"].as_str().expect("link"))), "{signal}");
                if signal["kind"] == "victim-as-offender" {
                    let perpetrators = records.iter().filter(|r| r["role"] == "perpetrator");
                    assert!(
                        perpetrators.clone().count() > 0
                            && perpetrators.clone().all(|r| ["very high", "agency's own id"].contains(&r["link"].as_str().expect("link"))),
                        "accused over a weak link: {signal}"
                    );
                }
                let roles: Vec<&str> = records.iter().map(|r| r["role"].as_str().expect("role")).collect();
                let victim = roles.iter().any(|r| r.ends_with("victim"));
                let harmer = roles.iter().any(|r| *r == "perpetrator" || *r == "hsb");
                match signal["kind"].as_str().expect("kind") {
                    // Cases apart in time, or one recorded as a re-referral.
                    "revictimisation" => assert!((records.len() >= 2 || signal["detail"] == "re-referral") && victim, "{signal}"),
                    "victim-as-offender" | "victim-hsb-overlap" => assert!(victim && harmer, "{signal}"),
                    "shared-perpetrator" => assert!(harmer, "{signal}"),
                    _ => {}
                }
            }
            // A record's band in a signal is its band in its profile as the
            // partnership sees it: from its links to the partnership's own
            // records, never from a link to a record held outside.
            let mut compared = 0;
            for signal in signals.iter().filter(|s| s["kind"] != "network").take(40) {
                let subject = signal["profile_id"].as_str().expect("id");
                let person = json(&ok(&panel(&keys, "profile", &url, partnership, &["--profile", subject, "--json"])));
                // By record and role: a record names several people, each in
                // their own profile.
                let key = |r: &serde_json::Value| (r["record_ref"].as_str().expect("ref").to_owned(), r["role"].as_str().expect("role").to_owned());
                let shown: std::collections::HashMap<(String, String), &str> = person["profiles"][0]["records"]
                    .as_array()
                    .expect("records")
                    .iter()
                    .map(|r| (key(r), r["confidence"].as_str().expect("confidence")))
                    .collect();
                for record in signal["records"].as_array().expect("records") {
                    let Some(&band) = shown.get(&key(record)) else { continue };
                    assert_eq!(record["link"].as_str(), Some(band), "{partnership}: {signal}\n{person}");
                    compared += 1;
                }
            }
            assert!(compared > 20, "{partnership}: {compared} records compared");
            // The network around each shared perpetrator: its people and
            // edges, with roles from the partnership's records only.
            for signal in signals.iter().filter(|s| s["kind"] == "shared-perpetrator").take(5) {
                let subject = signal["profile_id"].as_str().expect("id");
                let network = json(&ok(&panel(&keys, "network", &url, partnership, &["--profile", subject, "--format", "json"])));
                for edge in network["edges"].as_array().expect("edges") {
                    assert_eq!(edge["outside_records"], 0, "{partnership}: an edge rests on an outside record: {edge}");
                    assert!(edge["records"].as_array().expect("records").iter().all(|r| own.contains(&r["agency"].as_str().expect("agency"))));
                }
                for node in network["nodes"].as_array().expect("nodes") {
                    assert_eq!(node["outside"], false, "{partnership}: {node}");
                    let id = node["id"].as_str().expect("id");
                    let person = json(&ok(&panel(&keys, "profile", &url, partnership, &["--profile", id, "--json"])));
                    let seen: Vec<String> =
                        person["profiles"][0]["records"].as_array().expect("records").iter().map(|r| r["role"].as_str().expect("role").to_owned()).collect();
                    if person["profiles"][0]["outside"].as_object().is_some_and(|o| !o.is_empty()) {
                        shared_children += 1;
                    }
                    for role in node["roles"].as_array().expect("roles") {
                        let role = role.as_str().expect("role");
                        let wire = match role {
                            "known victim" => "known_victim",
                            "suspected victim" => "suspected_victim",
                            "displays HSB" => "hsb",
                            other => other,
                        };
                        assert!(seen.iter().any(|r| r == wire), "{partnership}: the role `{role}` of {id} is not in its records there: {seen:?}");
                    }
                }
            }
        }
        assert!(shared_children > 0, "the two partnerships share people");
    })
    .await;
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_ends_open_uploads_at_their_next_batch() {
    use braid_proto::v1;
    let prepared = prepare(300);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let (address, url) = (node.address, node.url());
    let file = prepared.dir.path().join("CSC-NORTH.bpx");
    let (header, records) = read_extract(&file);
    // One record a batch: a long upload.
    let batches = upload_batches(&header, &records[..records.len().min(150)], 1);
    let mut client = v1::ingest_service_client::IngestServiceClient::new(mtls_channel(&prepared.path("keys"), "csc-north", &url).await.expect("connect"));
    let mut acks = client.upload(tokio_stream::iter(batches)).await.expect("upload").into_inner();
    let mut acked = 0u64;
    while acked < 2 {
        acks.message().await.expect("ack").expect("an ack");
        acked += 1;
    }
    // Stopping does not wait for the rest of the upload: the stream ends
    // with a refusal the client retries, and nothing acknowledged is lost.
    let stopping = tokio::spawn(node.stop());
    let ended = loop {
        match acks.message().await {
            Ok(Some(_)) => acked += 1,
            Ok(None) => panic!("the upload ran to its end: {acked} batches"),
            Err(status) => break status,
        }
    };
    stopping.await.expect("join").expect("stop");
    assert_eq!(ended.code(), tonic::Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains("shutting down"), "{ended:?}");
    assert!(acked < 150, "{acked}");
    drop(client);
    let node = start_node(&prepared.path("keys"), data.path(), address).await;
    let held = stats(&prepared.path("keys"), &node.url())["records"].as_u64().expect("records");
    assert!(held >= acked && held < 150, "{held} held, {acked} acknowledged");
    node.stop().await.expect("stop");
}
