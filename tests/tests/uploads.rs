//! Uploads that are interrupted and resumed store every record, whatever
//! batch size the resumed upload uses, and report numbers that add up.

use braid_proto::v1::ingest_service_client::IngestServiceClient;
use braid_tests::*;

/// The numbers in `… N records uploaded (a new, b replaced, c unchanged, d
/// rejected[, e already stored by an earlier attempt…])`, not those of the
/// earlier attempt's own breakdown.
fn summary_numbers(stdout: &str) -> Vec<u64> {
    let head = stdout.split("by an earlier attempt").next().unwrap_or(stdout);
    head.split(|c: char| !c.is_ascii_digit()).filter(|part| !part.is_empty()).filter_map(|part| part.parse().ok()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_upload_with_another_batch_size_stores_every_record() {
    let prepared = prepare(1200);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let file = prepared.path("CSC-NORTH.bpx");
    let (header, records) = read_extract(std::path::Path::new(&file));
    let total = records.len();
    assert!(total > 600, "the extract has {total} records");

    // The first attempt sends 5 batches of 100 of the submission, then the
    // connection is lost.
    let channel = mtls_channel(&prepared.path("keys"), "csc-north", &url).await.expect("connect");
    let mut client = IngestServiceClient::new(channel);
    let batches = upload_batches(&header, &records[..500], 100);
    let mut acks = client.upload(tokio_stream::iter(batches)).await.expect("upload").into_inner();
    let mut acked = 0;
    while let Some(ack) = acks.message().await.expect("ack") {
        assert!(!ack.replayed);
        acked += 1;
    }
    assert_eq!(acked, 5);
    drop(client);

    // The resumed upload cuts the same submission into batches of 250.
    let keys = prepared.path("keys");
    let (url_for, file_for) = (url.clone(), file.clone());
    let stdout = blocking(move || ok(&braid_as(&keys, "csc-north", &["agency", "upload", "--node", &url_for, "--batch-size", "250", &file_for]))).await;
    let numbers = summary_numbers(&stdout);
    // [records, new, replaced, unchanged, rejected]: every record is
    // accounted for, and the 500 stored before are recognised as unchanged.
    assert_eq!(numbers[0] as usize, total, "{stdout}");
    assert_eq!(numbers[1..5].iter().sum::<u64>() as usize, total, "{stdout}");
    assert_eq!(numbers[3], 500, "{stdout}");
    let held = stats(&prepared.path("keys"), &url);
    assert_eq!(held["records"].as_u64(), Some(total as u64), "{held}");

    // Re-sending with the default size changes nothing and says so.
    let keys = prepared.path("keys");
    let (url_for, file_for) = (url.clone(), file.clone());
    let again = blocking(move || ok(&braid_as(&keys, "csc-north", &["agency", "upload", "--node", &url_for, &file_for]))).await;
    let numbers = summary_numbers(&again);
    assert_eq!(numbers[0] as usize, total, "{again}");
    assert_eq!(numbers[3] as usize, total, "every record unchanged: {again}");

    // Records withdrawn since are stored again when the same file is sent
    // again, and reported as new, not as "already stored".
    let keys = prepared.path("keys");
    let withdrawn: Vec<String> = records[..3].iter().map(|r| r.record_ref.clone()).collect();
    let (url_for, file_for) = (url.clone(), file.clone());
    let (resent, held) = blocking(move || {
        let mut args = vec!["agency", "withdraw", "--node", &url_for, "--agency", "CSC-NORTH"];
        for record_ref in &withdrawn {
            args.extend(["--record-ref", record_ref.as_str()]);
        }
        ok(&braid_as(&keys, "csc-north", &args));
        assert_eq!(stats(&keys, &url_for)["records"].as_u64(), Some(total as u64 - 3));
        let resent = ok(&braid_as(&keys, "csc-north", &["agency", "upload", "--node", &url_for, &file_for]));
        (resent, stats(&keys, &url_for))
    })
    .await;
    assert_eq!(held["records"].as_u64(), Some(total as u64), "the withdrawn records are back: {held}");
    let numbers = summary_numbers(&resent);
    assert_eq!(numbers[1], 3, "three new records: {resent}");
    assert_eq!(numbers[1..].iter().sum::<u64>() as usize, total, "{resent}");

    // The agency's upload history, newest first: the four uploads, each
    // with what its records did; no other agency may read it.
    let keys = prepared.path("keys");
    let (history, table, refused) = blocking(move || {
        let history = json(&ok(&braid_as(&keys, "csc-north", &["agency", "uploads", "--node", &url, "--agency", "CSC-NORTH", "--json"])));
        let table = ok(&braid_as(&keys, "csc-north", &["agency", "uploads", "--node", &url, "--agency", "CSC-NORTH"]));
        let refused = failed(&braid_as(&keys, "pol-north", &["agency", "uploads", "--node", &url, "--agency", "CSC-NORTH"]));
        (history, table, refused)
    })
    .await;
    let uploads = history["uploads"].as_array().expect("uploads");
    assert_eq!(uploads.len(), 4, "{history}");
    let count = |upload: &serde_json::Value, what: &str| upload[what].as_u64().unwrap_or_else(|| panic!("{what}: {upload}")) as usize;
    let newest = &uploads[0];
    assert_eq!((count(newest, "new"), newest["ended"].as_str()), (3, Some("completed")), "{newest}");
    assert_eq!(count(newest, "new") + count(newest, "unchanged") + count(newest, "already_stored"), total, "{newest}");
    let oldest = &uploads[3];
    assert_eq!((count(oldest, "batches"), count(oldest, "new")), (5, 500), "{oldest}");
    assert_eq!(uploads[1]["submission_id"], header.submission_id.as_str(), "{history}");
    assert!(table.contains(&header.submission_id) && table.contains("completed"), "{table}");
    assert!(refused.contains("only its own"), "{refused}");
}

/// A node on a fresh data directory, and children's services' extract of
/// 300 children (over 200 records): its header and records.
async fn node_and_extract() -> (Prepared, tempfile::TempDir, braid_node::RunningNode, braid_proto::v1::UploadHeader, Vec<braid_proto::v1::CaseRecord>) {
    let prepared = prepare(300);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let (header, records) = read_extract(std::path::Path::new(&prepared.path("CSC-NORTH.bpx")));
    assert!(records.len() > 200, "the extract has {} records", records.len());
    (prepared, data, node, header, records)
}

/// An upload begun before the linkage model's first fit is decided with
/// the model's starting values and settled once it ends; an interrupted
/// one too, since its resumption may begin after the fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_is_settled_as_a_completed_one_is() {
    let (prepared, _data, node, header, records) = node_and_extract().await;
    let url = node.url();

    // Four batches are acknowledged, then the connection is lost while the
    // stream is still open: the client's runtime, and with it the
    // connection, is dropped.
    let (keys, url_for) = (prepared.path("keys"), url.clone());
    blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let open = runtime.block_on(open_upload(&keys, "csc-north", &url_for, upload_batches(&header, &records[..200], 50)));
        drop(runtime);
        drop(open);
    })
    .await;

    let keys = prepared.path("keys");
    // The interrupted upload is kept in the agency's history at once, and
    // settled after.
    let (settled, history) = blocking(move || {
        let settled = || {
            let log = json(&ok(&braid_as(&keys, "auditor", &["audit", "log", "--node", &url, "--action", "ingest.settle", "--json"])));
            log["entries"].as_array().map_or(0, Vec::len)
        };
        let mut found = settled();
        for _ in 0..100 {
            if found > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            found = settled();
        }
        let history = json(&ok(&braid_as(&keys, "csc-north", &["agency", "uploads", "--node", &url, "--agency", "CSC-NORTH", "--json"])));
        (found, history)
    })
    .await;
    assert_eq!(settled, 1, "the interrupted upload's 200 records are settled: {history}");
    assert_eq!(history["uploads"][0]["ended"].as_str(), Some("interrupted"), "{history}");
}

/// An upload begun before the model's first fit and cut short by the
/// node's stop is not settled then (the node is stopping); it is settled,
/// by the node itself, when the node starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_short_by_a_stop_is_settled_at_the_next_start() {
    let (prepared, data, node, header, records) = node_and_extract().await;
    let url = node.url();

    // Four batches are acknowledged and the stream stays open while the
    // node stops; the client goes away only after.
    let (keys, url_for) = (prepared.path("keys"), url.clone());
    let (opened, open) = std::sync::mpsc::channel();
    let (leave, left) = tokio::sync::oneshot::channel::<()>();
    let client = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let open = open_upload(&keys, "csc-north", &url_for, upload_batches(&header, &records[..200], 50)).await;
            opened.send(()).expect("say the batches are in");
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), left).await;
            drop(open);
        });
    });
    blocking(move || open.recv().expect("four batches acknowledged")).await;
    let stopping = tokio::spawn(node.stop());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = leave.send(());
    stopping.await.expect("join").expect("stop");
    blocking(move || client.join().expect("client")).await;

    let keys = prepared.path("keys");
    let settles = move |url: String| {
        let keys = keys.clone();
        blocking(move || {
            let log = json(&ok(&braid_as(&keys, "auditor", &["audit", "log", "--node", &url, "--action", "ingest.settle", "--json"])));
            log["entries"].as_array().cloned().unwrap_or_default()
        })
    };
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let mut entries = settles(url.clone()).await;
    for _ in 0..100 {
        if !entries.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        entries = settles(url.clone()).await;
    }
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["principal"].as_str(), Some("braid-node"), "{entry}");
    let held = stats(&prepared.path("keys"), &url);
    assert_eq!(held["records"].as_u64(), Some(200), "{held}");
    assert_eq!(entry["result_count"].as_u64(), held["involvements"].as_u64(), "every involvement of the four batches is settled: {entry} {held}");

    // Nothing is left marked unsettled.
    node.stop().await.expect("stop");
    let store = braid_store::Store::open_read_only(data.path()).expect("open the store");
    assert_eq!(store.unsettled().expect("read the marks"), Vec::<u64>::new());
}

/// `braid agency pseudonymise` on `csv` with the mapping in `mapping`.
fn pseudonymise(dir: &std::path::Path, mapping: &str, csv: &str, out: &str) -> std::process::Output {
    let path = |name: &str| dir.join(name).display().to_string();
    std::fs::write(path("m.toml"), mapping).expect("mapping");
    std::fs::write(path("x.csv"), csv).expect("csv");
    braid(&["agency", "pseudonymise", "--mapping", &path("m.toml"), "--secret", &path("keys/scheme.secret"), "--input", &path("x.csv"), "--out", &path(out)])
}

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
"#;

const HEADER: &str = "case,person,role,type,date,forename,surname,dob,sex";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_extract_is_refused_and_the_good_one_then_uploads_whole() {
    let prepared = prepare(200);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let good = prepared.path("CSC-NORTH.bpx");
    let bytes = std::fs::read(&good).expect("extract");
    let (_, records) = read_extract(std::path::Path::new(&good));
    // One byte changed in the middle of the records.
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x20;
    let bad = prepared.path("damaged.bpx");
    std::fs::write(&bad, &damaged).expect("write");
    let keys = prepared.path("keys");
    let (url_for, bad_for, good_for) = (url.clone(), bad.clone(), good.clone());
    let (refused, stdout) = blocking(move || {
        let refused = failed(&braid_as(&keys, "csc-north", &["agency", "upload", "--node", &url_for, &bad_for]));
        let stdout = ok(&braid_as(&keys, "csc-north", &["agency", "upload", "--node", &url_for, &good_for]));
        (refused, stdout)
    })
    .await;
    assert!(refused.contains("is damaged"), "{refused}");
    assert!(!stdout.contains("already stored"), "{stdout}");
    let numbers = summary_numbers(&stdout);
    assert_eq!(numbers[1] as usize, records.len(), "every record new: {stdout}");
    let held = stats(&prepared.path("keys"), &url);
    assert_eq!(held["records"].as_u64(), Some(records.len() as u64), "{held}");
    // A file cut short is refused too.
    std::fs::write(&bad, &bytes[..bytes.len() - 10]).expect("write");
    let keys = prepared.path("keys");
    let cut = blocking(move || failed(&braid_as(&keys, "csc-north", &["agency", "upload", "--node", &url, &bad]))).await;
    assert!(cut.contains("is damaged"), "{cut}");
}

/// An extract of three cases' rows.
fn three_rows(row: &dyn Fn(&str, &str) -> String) -> String {
    format!("{HEADER}\n{}\n{}\n{}\n", row("C1", "P1"), row("C2", "P2"), row("C3", "P3"))
}

#[test]
fn pseudonymise_fails_when_it_would_write_nothing_useful_and_names_mapping_mistakes() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys")]));
    let row = |case: &str, person: &str| format!("{case},{person},Victim,CSA,01/03/2020,Amy,Jones,04/05/2011,G");

    // A header and no rows.
    let empty = failed(&pseudonymise(dir.path(), MAPPING, &format!("{HEADER}\n"), "a.bpx"));
    assert!(empty.contains("no record could be read"), "{empty}");
    assert!(!dir.path().join("a.bpx").exists());

    // Every row rejected (an event date in another format; ISO 8601 is
    // read whatever the mapping says, as it cannot be mistaken).
    let rejected = format!("{HEADER}\n{}\n", row("C1", "P1").replace("01/03/2020", "1st March 2020"));
    let all_bad = failed(&pseudonymise(dir.path(), MAPPING, &rejected, "b.bpx"));
    assert!(all_bad.contains("no record could be read") && all_bad.contains("1 rejected"), "{all_bad}");
    assert!(!dir.path().join("b.bpx").exists());
    // An output an earlier run left is named as not this extract's.
    ok(&pseudonymise(dir.path(), MAPPING, &format!("{HEADER}\n{}\n", row("C1", "P1")), "b.bpx"));
    let stale = failed(&pseudonymise(dir.path(), MAPPING, &rejected, "b.bpx"));
    assert!(stale.contains("b.bpx is from an earlier run and was left as it was: it is not this extract"), "{stale}");

    // A mapping that reads names from the wrong column: the dates are not
    // used as names (a cell with no letters is no name), each row says so,
    // and a hint names the column the mapping reads.
    let three = format!("{HEADER}\n{}\n{}\n{}\n", row("C1", "P1"), row("C2", "P2"), row("C3", "P3"));
    let wrong_column = MAPPING.replace("forename = \"forename\"", "forename = \"dob\"");
    let output = pseudonymise(dir.path(), &wrong_column, &three, "names.bpx");
    assert!(ok(&output).contains("3 involvements in 3 records"), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning row 2: forename: has no letters, so is not a name, and was not used"), "{stderr}");
    assert!(
        stderr.contains("hint: 3 of 3 rows' forename could not be used as written (most often: it has no letters, so is not a name, and was not used): is `dob`, the column the mapping reads as forename, the right one?"),
        "{stderr}"
    );
    let (_, records) = read_extract(&dir.path().join("names.bpx"));
    let tokens = records[0].involvements[0].pseudonyms.as_ref().and_then(|p| p.fields.as_ref()).expect("tokens");
    assert_eq!(tokens.forename_whole, Vec::<u32>::new(), "no forename was used");
    // The right mapping draws no such hint.
    let output = pseudonymise(dir.path(), MAPPING, &three, "names2.bpx");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hint:"), "{output:?}");

    // Outputs that are not ordinary files are never replaced by one (a
    // pipe here; /dev/null as root would be), a truth file may not be the
    // map or the input, and a wrong file given as the mapping is not quoted.
    let p = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(dir.path().join("three.csv"), &three).expect("csv");
    std::fs::write(dir.path().join("m.toml"), MAPPING).expect("mapping");
    let fifo = dir.path().join("pipe.bpx");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let common = |out: &str| {
        ["agency", "pseudonymise", "--mapping", &p("m.toml"), "--secret", &p("keys/scheme.secret"), "--input", &p("three.csv"), "--out", out].map(str::to_owned)
    };
    let piped = failed(&braid(&common(&p("pipe.bpx")).iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(piped.contains("is not an ordinary file (a device or a pipe)"), "{piped}");
    assert!(std::fs::symlink_metadata(&fifo).expect("still there").file_type().is_fifo(), "the pipe is left as it was");
    let mut truth_over_map: Vec<String> = common(&p("t.bpx")).to_vec();
    truth_over_map.extend(["--reid", &p("t.truth.csv"), "--truth-column", "person"].map(str::to_owned));
    let refused = failed(&braid(&truth_over_map.iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(refused.contains("is named for two outputs"), "{refused}");
    let wrong_mapping = failed(&braid(&[
        "agency",
        "pseudonymise",
        "--mapping",
        &p("three.csv"),
        "--secret",
        &p("keys/scheme.secret"),
        "--input",
        &p("three.csv"),
        "--out",
        &p("w.bpx"),
    ]));
    assert!(
        wrong_mapping.contains("mapping file: line 1, column") && !wrong_mapping.contains("Amy") && !wrong_mapping.contains("04/05/2011"),
        "{wrong_mapping}"
    );

    // A repeated row is skipped, with a warning naming both rows.
    let repeated = format!("{HEADER}\n{}\n{}\n{}\n", row("C1", "P1"), row("C1", "P1"), row("C1", "P2"));
    let output = pseudonymise(dir.path(), MAPPING, &repeated, "c.bpx");
    let stdout = ok(&output);
    assert!(stdout.contains("2 involvements in 1 record written"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning row 3: row: repeats row 2 and was skipped"), "{stderr}");

    // Rows keep their line numbers after blank lines.
    let gaps =
        format!("{HEADER}\n{}\n\n\n\n{}\n{}\n", row("C1", "P1"), row("C2", "P2").replace("Victim", "Viktim"), row("C3", "P3").replace("Victim", "Viktim"));
    let output = pseudonymise(dir.path(), MAPPING, &gaps, "gaps.bpx");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rejected row 6: role") && stderr.contains("rejected row 7: role"), "{stderr}");

    // A row naming the same case and person with other values is refused,
    // not skipped as a repeat: the first row is the one used.
    let conflicting = format!("{HEADER}\n{}\n{}\n", row("C1", "P1"), row("C1", "P1").replace("Amy", "Ann"));
    let output = pseudonymise(dir.path(), MAPPING, &conflicting, "c3.bpx");
    assert!(ok(&output).contains("1 involvement in 1 record written"), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rejected row 3: person_ref: names the case and person of row 2 again, with other values"), "{stderr}");

    // A quote opened in row 2 and closed in row 4 reads three rows as one
    // with the same number of cells: refused, naming the lines it took in.
    let unclosed = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n",
        row("C1", "P1").replace("Amy", "\"Amy"),
        row("C2", "P2"),
        row("C3", "P3").replace("Amy", "Amy\""),
        row("C4", "P4")
    );
    let output = pseudonymise(dir.path(), MAPPING, &unclosed, "c4.bpx");
    assert!(ok(&output).contains("1 involvement in 1 record written"), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rejected row 2: forename: holds a line break, so the row runs on to line 4")
            && stderr.contains("lines 3 to 4 were read into this row"),
        "{stderr}"
    );
    assert!(!stderr.contains("Amy"), "{stderr}");

    // Two labels of a template item that a cell cannot tell apart, and two
    // identifiers whose names read as one, are mapping mistakes.
    let clashing = MAPPING.replace("labels = { G = \"Female\", B = \"Male\" }", "labels = { G = \"Female\", g = \"Male\" }");
    let refused = failed(&pseudonymise(dir.path(), &clashing, &three_rows(&row), "c5.bpx"));
    assert!(refused.contains("fields.\"victim.sex\".labels: the labels `G` and `g` read as one label"), "{refused}");
    let ids = MAPPING.replace("[roles]", "[identity.ids]\nUPN = \"case\"\nupn = \"person\"\n\n[roles]");
    let refused = failed(&pseudonymise(dir.path(), &ids, &three_rows(&row), "c6.bpx"));
    assert!(refused.contains("[identity.ids] names `UPN` and `upn`, which read as one identifier"), "{refused}");

    // A later row of a case giving another case type or event date adds
    // its person; the case keeps its first row's, with a warning naming
    // the row and each field.
    let disagreeing = format!("{HEADER}\n{}\n{}\n", row("C1", "P1"), row("C1", "P2").replace("CSA,01/03/2020", "CSE,01/04/2021"));
    let both_types = MAPPING.replace("CSA = \"CSA\"", "CSA = \"CSA\"\nCSE = \"CSE\"");
    let output = pseudonymise(dir.path(), &both_types, &disagreeing, "c2.bpx");
    assert!(ok(&output).contains("2 involvements in 1 record written"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for field in ["case_type", "event_date"] {
        let expected = format!("warning row 3: {field}: differs from row 2 of the same case; the case keeps that row's");
        assert!(stderr.contains(&expected), "{expected}: {stderr}");
    }
    let (_, records) = read_extract(&dir.path().join("c2.bpx"));
    assert_eq!((records.len(), records[0].case_type), (1, braid_proto::v1::CaseType::Csa as i32));

    // Extracts as systems export them: Windows line endings (rows still
    // numbered by their line), a row in the Windows code page (kept, read
    // as Windows-1252, with a warning), a header in other case.
    let raw = |dir: &std::path::Path, bytes: &[u8], out: &str| {
        std::fs::write(dir.join("raw.csv"), bytes).expect("csv");
        std::fs::write(dir.join("m.toml"), MAPPING).expect("mapping");
        let p = |name: &str| dir.join(name).display().to_string();
        braid(&["agency", "pseudonymise", "--mapping", &p("m.toml"), "--secret", &p("keys/scheme.secret"), "--input", &p("raw.csv"), "--out", &p(out)])
    };
    let mut windows = format!("{}\r\n{}\r\n", HEADER.to_uppercase().replace("DOB", "dob"), row("C1", "P1")).into_bytes();
    windows.extend_from_slice(b"C2,P2,Victim,CSA,01/03/2020,Zo\xeb,Ren\xe9e,04/05/2011,G\r\nC3,P3,Viktim,CSA,01/03/2020,Amy,Jones,04/05/2011,G\r\n");
    let output = raw(dir.path(), &windows, "w.bpx");
    assert!(ok(&output).contains("2 involvements in 2 records"), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning row 3: row: is not UTF-8 and was read as Windows-1252"), "{stderr}");
    assert!(stderr.contains("rejected row 4: role: unknown label `Viktim`"), "rows keep their line numbers: {stderr}");
    // Every issue is listed in a private file beside the output, counted
    // by field on the terminal.
    assert!(stderr.contains("w.issues.csv (rejected role: 1, warning row: 1)"), "{stderr}");
    let issues = std::fs::read_to_string(dir.path().join("w.issues.csv")).expect("issues");
    assert_eq!(
        issues.lines().collect::<Vec<_>>()[1..],
        ["rejected,4,role,unknown label `Viktim`", "warning,3,row,is not UTF-8 and was read as Windows-1252 (export the extract as UTF-8)"]
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(dir.path().join("w.issues.csv")).expect("issues").permissions().mode() & 0o777, 0o600);
    // A trailing comma on every row adds an empty field, and a row of
    // commas is empty: neither rejects anything.
    let padded = format!("{HEADER}\n{},\n,,,,,,,,,\n{},\n", row("C1", "P1"), row("C2", "P2"));
    let output = raw(dir.path(), padded.as_bytes(), "pad.bpx");
    assert!(ok(&output).contains("2 involvements in 2 records") && ok(&output).contains("0 rows rejected"), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("warning row 3: row: is empty and was skipped"), "{output:?}");
    // A stray comma inside the first row alone pads that row only: it is
    // refused (its cells shifted), not read as the exporter's padding.
    let stray = format!("{HEADER}\n{}\n{}\n", row("C1", "P1").replacen(',', ",,", 1).replace(",G", ","), row("C2", "P2"));
    let output = raw(dir.path(), stray.as_bytes(), "stray.bpx");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(ok(&output).contains("1 involvement in 1 record written") && stderr.contains("rejected row 2: row: has"), "{stderr}");
    // In a file that pads every row, a malformed second row is refused
    // alone: it does not decide for the file.
    let padded_with_a_bad_row = format!("{HEADER}\n{},\n{},,\n{},\n", row("C1", "P1"), row("C2", "P2"), row("C3", "P3"));
    let output = raw(dir.path(), padded_with_a_bad_row.as_bytes(), "pad2.bpx");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(ok(&output).contains("2 involvements in 2 records") && stderr.contains("rejected row 3: row: has 11 fields"), "{stderr}");
    // A quote opened and never closed swallows the lines after it: the row
    // says how far it ran.
    let unclosed = format!("{HEADER}\n{}\n{}\n{}\n", row("C1", "P1").replacen(',', ",\"", 1), row("C2", "P2"), row("C3", "P3"));
    let output = raw(dir.path(), unclosed.as_bytes(), "quote.bpx");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rejected row 2: row: has") && stderr.contains("(it runs on to line 4: a quote opened and never closed?)"), "{stderr}");
    // An empty file, a workbook and a compressed file are named as such.
    for (bytes, expected) in [
        (b"".to_vec(), "is empty: it has no header row"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00".to_vec(), "is a zip file (an Excel workbook, .xlsx?)"),
        (vec![0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, b'\n'], "is compressed (gzip?)"),
    ] {
        let refused = failed(&raw(dir.path(), &bytes, "odd.bpx"));
        assert!(refused.contains(expected), "{refused}");
    }
    // A case or person id written NULL is no id: each such row would
    // otherwise be one case, or one person.
    let nulls = format!("{HEADER}\n{}\n{}\n{}\n", row("C1", "NULL"), row("C2", "NULL"), row("NULL", "P3"));
    let output = raw(dir.path(), nulls.as_bytes(), "nulls.bpx");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in ["rejected row 2: person_ref: says no value", "rejected row 3: person_ref: says no value", "rejected row 4: record_ref: says no value"] {
        assert!(stderr.contains(expected), "`{expected}` not in {stderr}");
    }
    // A file saved with carriage returns alone, or as UTF-16, is named as
    // such instead of as a missing column.
    let old_mac = format!("{HEADER}\r{}\r", row("C1", "P1"));
    let refused = failed(&raw(dir.path(), old_mac.as_bytes(), "mac.bpx"));
    assert!(refused.contains("carriage return alone"), "{refused}");
    let utf16: Vec<u8> = [0xff, 0xfe].into_iter().chain(format!("{HEADER}\r\n{}\r\n", row("C1", "P1")).encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let refused = failed(&raw(dir.path(), &utf16, "u16.bpx"));
    assert!(refused.contains("is UTF-16"), "{refused}");
    // A truth column the extract lacks is refused before anything is
    // written.
    let p = |name: &str| dir.path().join(name).display().to_string();
    let no_truth = failed(&braid(&[
        "agency",
        "pseudonymise",
        "--mapping",
        &p("m.toml"),
        "--secret",
        &p("keys/scheme.secret"),
        "--input",
        &p("raw.csv"),
        "--out",
        &p("nt.bpx"),
        "--truth-column",
        "truth",
    ]));
    assert!(no_truth.contains("has no column `truth` (--truth-column); nothing was written") && !dir.path().join("nt.bpx").exists(), "{no_truth}");
    // A file separated by semicolons, and a header naming a mapped column
    // twice, are refused before any row is read, saying why.
    let semicolons = failed(&raw(dir.path(), format!("{}\n{}\n", HEADER, row("C1", "P1")).replace(',', ";").as_bytes(), "s.bpx"));
    assert!(semicolons.contains("header is one column holding `;`"), "{semicolons}");
    let twice = failed(&raw(dir.path(), format!("{HEADER},dob\n{},01/01/2001\n", row("C1", "P1")).as_bytes(), "t.bpx"));
    assert!(twice.contains("column `dob` 2 times"), "{twice}");

    // Dates written month first under a day-first mapping: the rows whose
    // day is over 12 are refused, with a hint at the format.
    let month_first: Vec<String> = (13..=16).map(|day| row(&format!("M{day}"), "P1").replace("01/03/2020", &format!("03/{day}/2020"))).collect();
    let output = pseudonymise(dir.path(), MAPPING, &format!("{HEADER}\n{}\n", month_first.join("\n")), "mf.bpx");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hint: 4 of 4 rows give event_date a month above 12; the mapping reads it as %d/%m/%Y"), "{stderr}");
    // Dates no record can truly have are kept as written, with a warning:
    // a date of birth after the case's date, a case dated in the future.
    let implausible = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        row("C1", "P1").replace("04/05/2011", "04/05/2021"),
        row("C2", "P2").replace("01/03/2020", "01/03/2999").replace("04/05/2011", "04/05/2998"),
        row("C3", "P3").replace("01/03/2020", "01/03/0020").replace("04/05/2011", "")
    );
    let output = pseudonymise(dir.path(), MAPPING, &implausible, "i.bpx");
    assert!(ok(&output).contains("3 involvements in 3 records"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "warning row 2: date_of_birth: is after the event_date; kept as written",
        "warning row 3: event_date: is in the future; kept as written",
        "warning row 3: date_of_birth: is in the future; kept as written",
        "warning row 4: event_date: is before 1900 (a mistyped year?); kept as written",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }

    // A mapping whose [identity] names nothing works, with a warning that
    // its records can link to nobody else's.
    let anonymous = MAPPING.replace("forename = \"forename\"\nsurname = \"surname\"\ndate_of_birth = \"dob\"\n", "");
    assert_ne!(anonymous, MAPPING);
    let output = pseudonymise(dir.path(), &anonymous, &repeated, "n.bpx");
    ok(&output);
    assert!(String::from_utf8_lossy(&output.stderr).contains("[identity] names no column"), "{output:?}");
    // A label mapped to a category the template lacks is the mapping's
    // fault, reported before any row is read.
    let wrong = MAPPING.replace("B = \"Male\"", "B = \"Boy\"");
    let mapping_error = failed(&pseudonymise(dir.path(), &wrong, &repeated, "d.bpx"));
    assert!(mapping_error.contains("`Boy`, which is not a category of victim.sex"), "{mapping_error}");
    assert!(!mapping_error.contains("row 2"), "{mapping_error}");
    // So are two labels an extract's cell cannot tell apart that map to
    // different targets.
    let clash = MAPPING.replace("Victim = \"known_victim\"", "Victim = \"known_victim\"\n\"victim \" = \"perpetrator\"");
    let clashing = failed(&pseudonymise(dir.path(), &clash, &repeated, "d.bpx"));
    assert!(clashing.contains("mapping roles: the labels `Victim` and `victim ` read as one label"), "{clashing}");
    // So is a [system] declaration naming an item the template lacks, one
    // the mapping already maps, or one twice.
    for (system, expected) in [
        ("free_text = [\"victim.shoe_size\"]", "mapping system.free_text: `victim.shoe_size` is not a template item"),
        ("not_held = [\"victim.sex\"]", "mapping system.not_held: victim.sex is mapped to a column in [fields]"),
        ("free_text = [\"perpetrator.age\"]\nnot_held = [\"perpetrator.age\"]", "mapping system.not_held: perpetrator.age is listed twice"),
        ("free_text = [\"perpetrator.age\"]\nheld = []", "unknown field `held`"),
    ] {
        let declared = format!("{MAPPING}\n[system]\n{system}\n");
        let error = failed(&pseudonymise(dir.path(), &declared, &repeated, "d.bpx"));
        assert!(error.contains(expected), "{error}");
    }
    let declared = format!("{MAPPING}\n[system]\nfree_text = [\"perpetrator.age\"]\nnot_held = [\"victim.sexual_orientation\"]\n");
    ok(&pseudonymise(dir.path(), &declared, &repeated, "d.bpx"));
    let (header, _) = read_extract(&dir.path().join("d.bpx"));
    let held = header.items_held.expect("declared");
    assert_eq!(
        (held.in_categories, held.in_free_text, held.not_held),
        (vec!["victim.sex".to_owned()], vec!["perpetrator.age".to_owned()], vec!["victim.sexual_orientation".to_owned()])
    );

    // A huge cell is quoted by a short prefix only.
    let huge = "X".repeat(1_000_000);
    let big = format!("{HEADER}\n{}\n{}\n", row("C1", "P1"), row("C2", "P2").replace(",G", &format!(",{huge}")));
    let output = pseudonymise(dir.path(), MAPPING, &big, "e.bpx");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("(1000000 characters)"), "{}", &stderr[..stderr.len().min(500)]);
    assert!(stderr.len() < 2_000, "the message echoed the cell: {} bytes", stderr.len());
}

#[test]
fn the_secret_and_the_reidentification_map_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    ok(&braid(&["keys", "init", "--out", &path("keys")]));
    let csv = format!("{HEADER}\nC1,P1,Victim,CSA,01/03/2020,Amy,Jones,04/05/2011,G\n");
    let output = pseudonymise(dir.path(), MAPPING, &csv, "a.bpx");
    ok(&output);
    let mode = std::fs::metadata(path("a.reid.csv")).expect("reid").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the map is written for its owner only");
    // Pseudonymising an extract that lacks a case the map holds keeps the
    // old map beside the new one, with a warning.
    let fewer = pseudonymise(dir.path(), MAPPING, &format!("{HEADER}\nC2,P2,Victim,CSA,01/03/2020,Bea,Okafor,04/05/2012,G\n"), "a.bpx");
    let warned = String::from_utf8_lossy(&fewer.stderr).into_owned();
    ok(&fewer);
    assert!(warned.contains("a.reid.csv held 1 case this extract does not have: it is kept as") && warned.contains("a.reid.csv.previous"), "{warned}");
    let (previous, current) = (std::fs::read_to_string(path("a.reid.csv.previous")).expect("kept"), std::fs::read_to_string(path("a.reid.csv")).expect("new"));
    assert!(previous.contains(",C1,") && !current.contains(",C1,") && current.contains(",C2,"), "{previous}\n{current}");
    assert_eq!(std::fs::metadata(path("a.reid.csv.previous")).expect("kept").permissions().mode() & 0o777, 0o600);
    // A third extract without either case adds the map's rows to the kept
    // one: neither case is lost.
    let third = pseudonymise(dir.path(), MAPPING, &format!("{HEADER}\nC3,P3,Victim,CSA,01/03/2020,Cy,Lee,04/05/2013,G\n"), "a.bpx");
    let warned = String::from_utf8_lossy(&third.stderr).into_owned();
    ok(&third);
    assert!(warned.contains("a.reid.csv held 1 case this extract does not have: its rows are added to") && warned.contains("a.reid.csv.previous"), "{warned}");
    let (previous, current) = (std::fs::read_to_string(path("a.reid.csv.previous")).expect("kept"), std::fs::read_to_string(path("a.reid.csv")).expect("new"));
    assert!(previous.contains(",C1,") && previous.contains(",C2,") && current.contains(",C3,") && !current.contains(",C2,"), "{previous}\n{current}");
    assert_eq!(previous.lines().count(), 3, "a header and one row each: {previous}");
    assert!(previous.lines().nth(1).is_some_and(|row| row.contains(",C2,")), "the newer map's rows first: {previous}");
    assert_eq!(std::fs::metadata(path("a.reid.csv.previous")).expect("kept").permissions().mode() & 0o777, 0o600);
    // The same extract again loses nothing: no warning.
    let again = pseudonymise(dir.path(), MAPPING, &format!("{HEADER}\nC3,P3,Victim,CSA,01/03/2020,Cy,Lee,04/05/2013,G\n"), "a.bpx");
    ok(&again);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("kept as"), "{again:?}");
    // A map others can read is refused where it is used.
    std::fs::set_permissions(path("a.reid.csv"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let withdraw =
        failed(&braid(&["agency", "withdraw", "--node", "https://127.0.0.1:9", "--agency", "CSC-NORTH", "--case-id", "C1", "--reid", &path("a.reid.csv")]));
    assert!(withdraw.contains("can be read by other users") && withdraw.contains("chmod 600"), "{withdraw}");
    // So is a scheme secret others can read.
    std::fs::set_permissions(path("keys/scheme.secret"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = failed(&pseudonymise(dir.path(), MAPPING, &csv, "b.bpx"));
    assert!(refused.contains("the scheme secret") && refused.contains("can be read by other users"), "{refused}");
    // And a certificate bundle's private key, before any connection, and
    // the CA's key when revoking.
    std::fs::set_permissions(path("keys/csc-north/client.key"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let bundle = failed(&braid(&["agency", "uploads", "--node", "https://127.0.0.1:9", "--tls", &path("keys/csc-north"), "--agency", "CSC-NORTH"]));
    assert!(bundle.contains("the private key") && bundle.contains("client.key can be read by other users"), "{bundle}");
    std::fs::set_permissions(path("keys/ca/ca.key"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let revoke = failed(&braid(&["keys", "revoke", "--keys", &path("keys"), "csc-north"]));
    assert!(revoke.contains("the CA's private key") && revoke.contains("can be read by other users"), "{revoke}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freshness_shows_each_agencys_last_change_and_the_records_re_sent_with_changes() {
    let prepared = prepare(150);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let file = prepared.path("CSC-NORTH.bpx");
    let (k, u, f) = (keys.clone(), url.clone(), file.clone());
    blocking(move || ok(&upload(&k, &u, "CSC-NORTH", &f))).await;
    let (header, mut records) = read_extract(std::path::Path::new(&file));

    // Eight records re-sent reclassified (CSA <-> CSE), under a new submission.
    for record in records.iter_mut().take(8) {
        record.case_type = if record.case_type == 1 { 2 } else { 1 };
    }
    let header = braid_proto::v1::UploadHeader { submission_id: format!("{}-reclassified", header.submission_id), ..header };
    let mut client = IngestServiceClient::new(mtls_channel(&keys, "csc-north", &url).await.expect("connect"));
    let mut acks = client.upload(tokio_stream::iter(upload_batches(&header, &records[..8], 8))).await.expect("upload").into_inner();
    let ack = acks.message().await.expect("ack").expect("one ack");
    assert_eq!(ack.replaced, 8, "{ack:?}");

    let (k, u) = (keys.clone(), url.clone());
    let text = blocking(move || ok(&panel(&k, "freshness", &u, "north", &["--months", "1", "--json"]))).await;
    let value = json(&text);
    let agencies = value["agencies"].as_array().expect("agencies");
    let csc = agencies.iter().find(|a| a["agency"] == "CSC-NORTH").expect("CSC-NORTH row");
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() / 86_400;
    let today = braid_template::Date::from_days_since_epoch(days as i64);
    assert_eq!(csc["last_change"], format!("{:04}-{:02}-{:02}", today.year, today.month, today.day), "{text}");
    assert_eq!(csc["records"], records.len().to_string(), "{text}");
    assert_eq!(csc["changed"], "8", "{text}");
    assert_eq!(csc["reclassified"], "8", "{text}");
    assert_eq!(csc["current_unchanged"], "0", "everything was stored just now: {text}");
    let pol = agencies.iter().find(|a| a["agency"] == "POL-NORTH").expect("every agency of the partnership has a row");
    assert_eq!((pol["records"].as_str(), pol["last_change"].as_str()), (Some("0"), Some("-")), "{text}");
    // Only the partnership's own agencies.
    assert!(agencies.iter().all(|a| a["agency"].as_str().is_some_and(|code| AGENCIES.contains(&code))), "{text}");

    // A reclassified record's profile shows the version it replaced; a
    // record never re-sent has no history.
    let profile_record = |record_ref: String| {
        let (k, u) = (keys.clone(), url.clone());
        async move {
            let profile = blocking({
                let record_ref = record_ref.clone();
                move || json(&ok(&panel(&k, "profile", &u, "north", &["--agency", "CSC-NORTH", "--record-ref", &record_ref, "--json"])))
            })
            .await;
            profile["profiles"][0]["records"]
                .as_array()
                .expect("records")
                .iter()
                .find(|r| r["record_ref"] == record_ref.as_str())
                .cloned()
                .unwrap_or_else(|| panic!("the record in its profile: {profile}"))
        }
    };
    let was = if records[0].case_type == 1 { "CSE" } else { "CSA" };
    let record = profile_record(records[0].record_ref.clone()).await;
    let history = record["history"].as_array().expect("history");
    assert_eq!(history.len(), 1, "{record}");
    assert_eq!(history[0]["case_type"], was, "{record}");
    assert_eq!(history[0]["stored"], csc["last_change"], "{record}");
    let plain = profile_record(records[9].record_ref.clone()).await;
    assert_eq!(plain["history"].as_array().map(Vec::len), Some(0), "{plain}");
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_sent_batch_restores_withdrawn_records_and_never_undoes_a_later_correction() {
    let prepared = prepare(60);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let (header, records) = read_extract(std::path::Path::new(&prepared.path("CSC-NORTH.bpx")));
    let (a, b) = (records[0].clone(), records[1].clone());
    let send = |header: braid_proto::v1::UploadHeader, batch: Vec<braid_proto::v1::CaseRecord>| {
        let (keys, url) = (keys.clone(), url.clone());
        async move {
            let mut client = IngestServiceClient::new(mtls_channel(&keys, "csc-north", &url).await.expect("connect"));
            let mut acks = client.upload(tokio_stream::iter(upload_batches(&header, &batch, 10))).await.expect("upload").into_inner();
            acks.message().await.expect("ack").expect("one ack")
        }
    };
    // A and B in one batch; then A corrected (reclassified) by a later
    // submission; then B withdrawn.
    let first = send(header.clone(), vec![a.clone(), b.clone()]).await;
    assert_eq!(first.accepted, 2, "{first:?}");
    let mut corrected = a.clone();
    corrected.case_type = if a.case_type == 1 { 2 } else { 1 };
    let later = braid_proto::v1::UploadHeader { submission_id: format!("{}-corrected", header.submission_id), ..header.clone() };
    assert_eq!(send(later, vec![corrected.clone()]).await.replaced, 1);
    let (k, u, b_ref) = (keys.clone(), url.clone(), b.record_ref.clone());
    blocking(move || ok(&braid_as(&k, "csc-north", &["agency", "withdraw", "--node", &u, "--agency", "CSC-NORTH", "--record-ref", &b_ref]))).await;

    // The first batch sent again: B comes back; A keeps its correction.
    let again = send(header, vec![a.clone(), b]).await;
    assert_eq!((again.accepted, again.unchanged, again.replaced, again.replayed), (1, 1, 0, false), "{again:?}");
    let (k, u, a_ref) = (keys.clone(), url.clone(), a.record_ref.clone());
    let (profile, held) = blocking(move || {
        let profile = json(&ok(&panel(&k, "profile", &u, "north", &["--agency", "CSC-NORTH", "--record-ref", &a_ref, "--json"])));
        (profile, stats(&k, &u))
    })
    .await;
    assert_eq!(held["records"].as_u64(), Some(2), "{held}");
    let record = profile["profiles"][0]["records"].as_array().expect("records").iter().find(|r| r["record_ref"] == a.record_ref.as_str()).cloned().expect("A");
    let wanted = if corrected.case_type == 1 { "CSA" } else { "CSE" };
    assert_eq!(record["case_type"], wanted, "the correction stands: {record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extract_pseudonymised_again_is_new_data_and_a_re_sent_file_never_undoes_a_later_change() {
    let prepared = prepare(20);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let (url, dir) = (node.url(), prepared.path(""));
    let mapping = MAPPING.replace("CSA = \"CSA\"", "CSA = \"CSA\"\nCSE = \"CSE\"");
    let rows = |first_type: &str| {
        format!("{HEADER}\nC1,P1,Victim,{first_type},01/03/2020,Amy,Jones,04/05/2011,G\nC2,P2,Victim,CSA,02/03/2020,Bea,Okafor,05/06/2012,G\n")
    };
    let case_type_held = move |keys: &str, url: &str, record_ref: &str| {
        let profile = json(&ok(&panel(keys, "profile", url, "north", &["--agency", "CSC-NORTH", "--record-ref", record_ref, "--json"])));
        let records = profile["profiles"][0]["records"].as_array().expect("records").clone();
        records.iter().find(|r| r["record_ref"] == record_ref).expect("the record")["case_type"].as_str().expect("a case type").to_owned()
    };
    let (first, resent, again, held_after_resend, held_after_again) = blocking(move || {
        let dir = std::path::Path::new(&dir);
        let up = |file: &str| ok(&upload(&keys, &url, "CSC-NORTH", &dir.join(file).display().to_string()));
        // Day 1 the first case is CSA; day 2 it is corrected to CSE.
        ok(&pseudonymise(dir, &mapping, &rows("CSA"), "day1.bpx"));
        ok(&pseudonymise(dir, &mapping, &rows("CSE"), "day2.bpx"));
        let first = up("day1.bpx");
        up("day2.bpx");
        let record_ref = read_extract(&dir.join("day1.bpx")).1[0].record_ref.clone();
        // Day 1's file sent again is a retry of day 1's submission: the
        // later correction stays.
        let resent = up("day1.bpx");
        let held_after_resend = case_type_held(&keys, &url, &record_ref);
        // Day 3 the extract goes back to CSA: pseudonymised again, it is new
        // data, and it replaces the correction.
        ok(&pseudonymise(dir, &mapping, &rows("CSA"), "day3.bpx"));
        let again = up("day3.bpx");
        let held_after_again = case_type_held(&keys, &url, &record_ref);
        (first, resent, again, held_after_resend, held_after_again)
    })
    .await;
    assert!(first.contains("(2 new, 0 replaced, 0 unchanged, 0 rejected)"), "{first}");
    assert!(resent.contains("2 already stored by an earlier attempt"), "{resent}");
    assert_eq!(held_after_resend, "CSE", "a re-sent file never undoes a later change");
    assert!(again.contains("(0 new, 1 replaced, 1 unchanged, 0 rejected)"), "{again}");
    assert_eq!(held_after_again, "CSA", "the extract pseudonymised again is what the node holds");
    node.stop().await.expect("stop");
}
