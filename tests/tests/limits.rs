//! Limits and trust at the listener, through the real TLS listener, the
//! real `braid` binary and a real node: peers without an acceptable
//! certificate never reach message decoding, slow or surplus connections
//! are closed, revoked certificates and principals lose access (open
//! upload streams included), every request field is bounded, and refusals
//! cannot grow the audit log without bound.

use std::path::Path;
use std::time::Duration;

use braid_proto::v1;
use braid_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS channel trusting the node's CA and presenting the bundle in
/// `identity`, if any.
async fn channel(keys: &str, identity: Option<&Path>, url: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    tls_channel(&Path::new(keys).join("ca/ca.crt"), identity, url).await
}

/// Asks for the node's statistics over `channel`, or says why it could not.
async fn stats_over(channel: Result<tonic::transport::Channel, tonic::transport::Error>) -> Result<(), String> {
    let channel = channel.map_err(|error| format!("connect: {error:?}"))?;
    v1::admin_service_client::AdminServiceClient::new(channel)
        .stats(v1::StatsRequest {})
        .await
        .map(|_| ())
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

/// The audit log's entries as the auditor lists them.
fn audit_entries(keys: &str, url: &str) -> Vec<serde_json::Value> {
    let listing = json(&ok(&braid_as(keys, "auditor", &["audit", "log", "--node", url, "--limit", "10000", "--json"])));
    listing["entries"].as_array().expect("entries").clone()
}

/// Waits until `count` reaches `want` (the listener counts on its own tasks).
async fn eventually(what: &str, want: u64, count: impl Fn() -> u64) {
    for _ in 0..400 {
        if count() >= want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: {} after 10 s, expected {want}", count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_without_an_acceptable_certificate_are_refused_in_the_handshake_and_counted() {
    let prepared = prepare(30);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let counts = || braid_node::ListenerCounts::get(&node.listener_counts().handshake_failed);

    // No certificate: the handshake fails; no call is decoded or audited.
    let before = audit_entries(&keys, &url).len();
    let bare = stats_over(channel(&keys, None, &url).await).await;
    assert!(bare.is_err(), "a peer without a certificate was served");
    eventually("handshakes refused", 1, counts).await;

    // A certificate from another CA: refused likewise, and the CLI says it
    // is a certificate problem, not an unreachable node.
    let other = prepared.path("other-keys");
    ok(&braid(&["keys", "init", "--out", &other]));
    let stranger = stats_over(channel(&keys, Some(Path::new(&format!("{other}/admin"))), &url).await).await;
    assert!(stranger.is_err(), "a certificate from another CA was served");
    eventually("handshakes refused", 2, counts).await;
    let (k, o, u) = (keys.clone(), other.clone(), url.clone());
    let said = blocking(move || {
        let unknown_ca = failed(&braid_as(&o, "admin", &["admin", "stats", "--node", &u]));
        ok(&braid_as(&k, "admin", &["admin", "stats", "--node", &u]));
        (unknown_ca,)
    })
    .await;
    assert!(said.0.contains("certificate"), "{}", said.0);
    assert!(!said.0.contains("is braid-node running"), "{}", said.0);

    // A certificate the CA issued whose common name is not exactly a valid
    // principal (a leading space before "admin") is no principal at all.
    let ca = braid_access::pki::DevCa::load(
        &std::fs::read_to_string(format!("{keys}/ca/ca.crt")).expect("CA certificate"),
        &std::fs::read_to_string(format!("{keys}/ca/ca.key")).expect("CA key"),
    )
    .expect("load the CA");
    let spoof = ca.client(" admin").expect("issue");
    let spoof_dir = prepared.path("spoof");
    std::fs::create_dir(&spoof_dir).expect("dir");
    std::fs::write(format!("{spoof_dir}/client.crt"), &spoof.certificate_pem).expect("write");
    std::fs::write(format!("{spoof_dir}/client.key"), &spoof.key_pem).expect("write");
    let refused = stats_over(channel(&keys, Some(Path::new(&spoof_dir)), &url).await).await.expect_err("refused");
    assert!(refused.starts_with("PermissionDenied") && refused.contains("names no valid principal"), "{refused}");

    // Only that last, admitted-then-refused call reached the audit log
    // (besides the auditor's own listing and the admin's stats).
    let after = audit_entries(&keys, &url);
    let new: Vec<&serde_json::Value> = after[before..].iter().filter(|e| e["action"] != "audit.log").collect();
    assert_eq!(new.len(), 2, "{new:#?}");

    // Revoking a certificate (the CA's list, reloaded as on SIGHUP) refuses
    // its holder in the handshake; everyone else carries on.
    ok(&braid(&["keys", "revoke", "--keys", &keys, "csc-north"]));
    node.reload_tls().expect("reload TLS");
    let (k, u, p) = (keys.clone(), url.clone(), prepared.path(""));
    let (revoked, others) = blocking(move || {
        let revoked = failed(&upload(&k, &u, "CSC-NORTH", &format!("{p}/CSC-NORTH.bpx")));
        let listing = failed(&braid_as(&k, "csc-north", &["agency", "uploads", "--node", &u, "--agency", "CSC-NORTH"]));
        let others = ok(&upload(&k, &u, "POL-NORTH", &format!("{p}/POL-NORTH.bpx")));
        (format!("{revoked}\n{listing}"), others)
    })
    .await;
    assert!(revoked.matches("certificate").count() >= 2, "both calls say it is the certificate: {revoked}");
    assert!(!revoked.contains("is braid-node running"), "{revoked}");
    assert!(others.contains("records uploaded"), "{others}");
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handshakes_and_surplus_connections_are_closed() {
    let prepared = prepare(10);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let mut config = node_config(&keys, data.path(), loopback());
    // Three seconds leave the surplus peer's refusal well inside the
    // silent peers' handshake time on a loaded machine.
    config.limits.handshake_seconds = 3;
    config.limits.max_connections = 2;
    let node = braid_node::spawn(config).await.expect("start node");
    let address = node.address;

    // Two peers open connections and say nothing; a third is closed on
    // arrival.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(tokio::net::TcpStream::connect(address).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(address).await.expect("connect");
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_millis(1500), third.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the surplus connection was not closed at once: {read:?}");
    assert_eq!(braid_node::ListenerCounts::get(&node.listener_counts().over_connection_limit), 1);

    // The silent two are dropped once the handshake time is up, which
    // frees their places.
    eventually("handshakes timed out", 2, || braid_node::ListenerCounts::get(&node.listener_counts().handshake_timed_out)).await;
    for mut stream in silent {
        let read = tokio::time::timeout(Duration::from_secs(4), stream.read(&mut buffer)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a silent peer kept its connection: {read:?}");
    }
    // Plain text is not TLS: refused in the handshake, never decoded.
    let mut plain = tokio::net::TcpStream::connect(address).await.expect("connect");
    plain.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.expect("write");
    let read = tokio::time::timeout(Duration::from_secs(2), plain.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(_)) | Ok(Err(_))), "{read:?}");
    eventually("handshakes refused", 1, || braid_node::ListenerCounts::get(&node.listener_counts().handshake_failed)).await;
    // A real client still gets in.
    let url = node.url();
    let k = keys.clone();
    blocking(move || ok(&braid_as(&k, "admin", &["admin", "stats", "--node", &url]))).await;
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_dev_with_tls_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys").display().to_string();
    ok(&braid(&["keys", "init", "--out", &keys]));
    let data = tempfile::tempdir().expect("data dir");
    let mut config = node_config(&keys, data.path(), loopback());
    config.insecure_dev = true;
    let error = braid_node::spawn(config).await.err().expect("refused");
    assert!(format!("{error:#}").contains("cannot be combined with TLS"), "{error:#}");
}

/// Children's services' upload stream, open, with the first half of its
/// records acknowledged.
struct HalfUploaded {
    channel: tonic::transport::Channel,
    sender: tokio::sync::mpsc::Sender<v1::UploadBatch>,
    acks: tonic::Streaming<v1::BatchAck>,
    records: Vec<v1::CaseRecord>,
    half: usize,
}

async fn half_uploaded(keys: &str, url: &str, file: &str) -> HalfUploaded {
    let (header, records) = read_extract(Path::new(file));
    assert!(records.len() >= 4, "{} records", records.len());
    let channel = mtls_channel(keys, "csc-north", url).await.expect("connect");
    let mut client = v1::ingest_service_client::IngestServiceClient::new(channel.clone());
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut acks = client.upload(tokio_stream::wrappers::ReceiverStream::new(receiver)).await.expect("upload").into_inner();
    let half = records.len() / 2;
    sender.send(v1::UploadBatch { header: Some(header), sequence: 0, records: records[..half].to_vec() }).await.expect("send");
    let first = acks.message().await.expect("first ack").expect("an ack");
    assert_eq!(first.accepted as usize, half);
    HalfUploaded { channel, sender, acks, records, half }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_upload_stream_loses_its_rights_when_the_policy_revokes_them() {
    let prepared = prepare(40);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let HalfUploaded { channel: _, sender, mut acks, records, half } = half_uploaded(&keys, &url, &prepared.path("CSC-NORTH.bpx")).await;

    // The principal is removed from the policy while the stream is open.
    let policy_path = format!("{keys}/node/policy.toml");
    let policy = std::fs::read_to_string(&policy_path).expect("policy");
    let without: String = policy.lines().filter(|line| !line.contains("csc-north")).map(|line| format!("{line}\n")).collect();
    std::fs::write(&policy_path, without).expect("write policy");
    node.reload_policy().expect("reload");
    sender.send(v1::UploadBatch { header: None, sequence: 1, records: records[half..].to_vec() }).await.expect("send");
    let second = acks.message().await.expect_err("refused after the revocation");
    assert_eq!(second.code(), tonic::Code::PermissionDenied, "{second:?}");
    let stats = stats(&keys, &url);
    assert_eq!(stats["records"].as_u64(), Some(half as u64), "{stats}");
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_on_one_data_directory_is_refused_saying_why() {
    let prepared = prepare(10);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = braid_node::spawn(node_config(&keys, data.path(), loopback())).await.expect("start node");
    let error = braid_node::spawn(node_config(&keys, data.path(), loopback())).await.err().expect("a second node is refused");
    assert!(format!("{error:#}").contains("another braid-node (or a tool) is using this data directory"), "{error:#}");
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_connection_loses_its_rights_when_its_certificate_is_revoked() {
    let prepared = prepare(40);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let HalfUploaded { channel, sender, mut acks, records, half } = half_uploaded(&keys, &url, &prepared.path("CSC-NORTH.bpx")).await;

    // The CA revokes the certificate and the node re-reads its list (as on
    // SIGHUP) while the stream and its connection are open: the handshake
    // can no longer refuse it, the gate does.
    ok(&braid(&["keys", "revoke", "--keys", &keys, "csc-north"]));
    node.reload_tls().expect("reload TLS");
    sender.send(v1::UploadBatch { header: None, sequence: 1, records: records[half..].to_vec() }).await.expect("send");
    let second = acks.message().await.expect_err("refused after the revocation");
    assert_eq!(second.code(), tonic::Code::PermissionDenied, "{second:?}");
    assert!(second.message().contains("revoked"), "{second:?}");
    let again = v1::ingest_service_client::IngestServiceClient::new(channel)
        .withdraw(v1::WithdrawRequest { agency: "CSC-NORTH".to_owned(), record_refs: vec![records[0].record_ref.clone()] })
        .await
        .expect_err("a new call on the open connection is refused");
    assert_eq!(again.code(), tonic::Code::PermissionDenied, "{again:?}");
    let stats = stats(&keys, &url);
    assert_eq!(stats["records"].as_u64(), Some(half as u64), "{stats}");
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_field_is_bounded_and_refusals_cannot_flood_the_audit_log() {
    let prepared = prepare(30);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let mut config = node_config(&keys, data.path(), loopback());
    config.limits.audited_denials_per_minute = 5;
    config.partnerships = [("north".to_owned(), AGENCIES.iter().map(|a| (*a).to_owned()).collect())].into();
    let node = braid_node::spawn(config).await.expect("start node");
    let url = node.url();

    // Panel context: purpose, case reference and partnership are bounded,
    // and the audit entry keeps only a prefix of what was sent.
    let long_purpose = "p".repeat(501);
    let long_case = "c".repeat(101);
    let (k, u) = (keys.clone(), url.clone());
    let (purpose, case) = blocking(move || {
        let purpose = failed(&braid_as(
            &k,
            "panel-north",
            &["panel", "signals", "--node", &u, "--partnership", "north", "--purpose", &long_purpose, "--case-ref", "R-1"],
        ));
        let case = failed(&braid_as(
            &k,
            "panel-north",
            &["panel", "signals", "--node", &u, "--partnership", "north", "--purpose", "review", "--case-ref", &long_case],
        ));
        (purpose, case)
    })
    .await;
    assert!(purpose.contains("purpose must be at most 500 characters"), "{purpose}");
    assert!(case.contains("case reference must be at most 100 characters"), "{case}");
    let entries = audit_entries(&keys, &url);
    assert!(entries.iter().all(|e| e["purpose"].as_str().unwrap_or("").chars().count() <= 500), "an audit entry holds a long purpose");

    // A panel request larger than any real one is refused before decoding.
    let panel_channel = mtls_channel(&keys, "panel-north", &url).await.expect("connect");
    let huge = v1::SignalsRequest {
        context: Some(v1::PanelContext { partnership: "north".to_owned(), purpose: "x".repeat(400 * 1024), case_reference: "R-1".to_owned() }),
        ..Default::default()
    };
    let status = v1::panel_service_client::PanelServiceClient::new(panel_channel).signals(huge).await.expect_err("too large");
    assert!(status.message().contains("message length too large"), "{status:?}");

    // Withdrawals: at most 10,000 refs, each 1 to 128 characters.
    let mut ingest = v1::ingest_service_client::IngestServiceClient::new(mtls_channel(&keys, "csc-north", &url).await.expect("connect"));
    let many = v1::WithdrawRequest { agency: "CSC-NORTH".to_owned(), record_refs: (0..10_001).map(|i| format!("r{i}")).collect() };
    let status = ingest.withdraw(many).await.expect_err("too many refs");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("at most 10000 record refs"), "{}", status.message());
    let long = v1::WithdrawRequest { agency: "CSC-NORTH".to_owned(), record_refs: vec!["ok".to_owned(), "r".repeat(129)] };
    let status = ingest.withdraw(long).await.expect_err("a long ref");
    assert!(status.message().contains("record_refs[1] must be 1 to 128 characters"), "{}", status.message());

    // Records: a free-text answer beyond its bound and a field id nobody
    // would send are refused by name, without echoing what was sent.
    let (header, records) = read_extract(Path::new(&prepared.path("CSC-NORTH.bpx")));
    let mut text = records[0].clone();
    text.record_ref = "long-text".to_owned();
    text.source_row = 900_001;
    let victim =
        text.involvements.iter_mut().find(|i| matches!(v1::Role::try_from(i.role), Ok(v1::Role::KnownVictim | v1::Role::SuspectedVictim))).expect("a victim");
    victim.fields.retain(|f| f.field_id != "victim.country_of_birth");
    victim.fields.push(v1::TemplateValue {
        field_id: "victim.country_of_birth".to_owned(),
        write_in: String::new(),
        value: Some(v1::template_value::Value::Text("y".repeat(2001))),
    });
    let mut forged = records[0].clone();
    forged.record_ref = "forged-id".to_owned();
    forged.source_row = 900_002;
    forged.fields.push(v1::TemplateValue { field_id: "z".repeat(100_000), write_in: String::new(), value: Some(v1::template_value::Value::NotKnown(true)) });
    let outcome = upload_batch(&keys, &url, header, vec![text, forged]).await;
    let reasons: Vec<String> = outcome
        .iter()
        .map(|r| {
            let which = if r.source_row == 900_001 { "long-text" } else { "forged-id" };
            format!("{which} {}: {}", r.field, r.reason)
        })
        .collect();
    assert!(reasons.iter().any(|r| r.starts_with("forged-id fields[?]:")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("long-text") && r.contains("victim.country_of_birth") && r.contains("longer than 2000 characters")),
        "{reasons:?}"
    );
    assert!(reasons.iter().all(|r| r.len() < 300), "{reasons:?}");

    // What the header declares of the agency's system names template
    // items, each once, in bounded lists: else the upload is refused by
    // the list and position, quoting at most a prefix.
    let (header, records) = read_extract(Path::new(&prepared.path("CSC-NORTH.bpx")));
    let declared = header.items_held.clone().expect("the mapping's declaration travels in the file");
    assert!(declared.in_categories.iter().any(|id| id == "victim.sex") && !declared.in_free_text.is_empty(), "{declared:?}");
    let bad = [
        (v1::ItemsHeld { in_free_text: vec!["victim.sex".to_owned(), "x".repeat(10_000)], ..Default::default() }, "header.items_held.in_free_text[1]: `xxxx"),
        (
            v1::ItemsHeld { in_categories: vec!["victim.sex".to_owned()], not_held: vec!["victim.sex".to_owned()], ..Default::default() },
            "not_held[0]: victim.sex is declared twice",
        ),
        (v1::ItemsHeld { not_held: vec!["victim.sex".to_owned(); 500], ..Default::default() }, "header.items_held.not_held lists 500 items"),
    ];
    let mut headers: Vec<(v1::UploadHeader, &str)> =
        bad.into_iter().map(|(held, expected)| (v1::UploadHeader { items_held: Some(held), ..header.clone() }, expected)).collect();
    // The epoch fingerprints must have the shape `braid keys` writes.
    for (epoch, bridge, expected) in [
        ("e1-not-hex-digits!".to_owned(), String::new(), "header.epoch_fingerprint must be"),
        ("x".repeat(100), String::new(), "header.epoch_fingerprint must be"),
        (header.epoch_fingerprint.clone(), "e2-0123".to_owned(), "header.bridge_epoch_fingerprint must be"),
    ] {
        headers.push((v1::UploadHeader { epoch_fingerprint: epoch, bridge_epoch_fingerprint: bridge, ..header.clone() }, expected));
    }
    for (header, expected) in headers {
        let mut client = v1::ingest_service_client::IngestServiceClient::new(mtls_channel(&keys, "csc-north", &url).await.expect("connect"));
        let header = v1::UploadHeader { submission_id: "declared".to_owned(), ..header };
        let batch = v1::UploadBatch { header: Some(header), sequence: 0, records: records[..1].to_vec() };
        let status = match client.upload(tokio_stream::iter(vec![batch])).await {
            Ok(response) => response.into_inner().message().await.expect_err("refused"),
            Err(status) => status,
        };
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(expected) && status.message().len() < 200, "{}", status.message());
    }

    // Refusals: past five a minute for one principal they are refused but
    // not audited, and counted.
    let before = audit_entries(&keys, &url).iter().filter(|e| e["outcome"].as_str().unwrap_or("").starts_with("denied")).count();
    let (k, u) = (keys.clone(), url.clone());
    blocking(move || {
        for _ in 0..8 {
            failed(&braid_as(&k, "auditor", &["admin", "stats", "--node", &u]));
        }
    })
    .await;
    let denied = audit_entries(&keys, &url).iter().filter(|e| e["outcome"].as_str().unwrap_or("").starts_with("denied")).count();
    assert_eq!(denied - before, 5, "refusals audited");
    assert_eq!(node.unaudited_denials(), 3);
    node.stop().await.expect("stop");
}

/// Uploads one batch as CSC-NORTH and returns its rejections.
async fn upload_batch(keys: &str, url: &str, header: v1::UploadHeader, records: Vec<v1::CaseRecord>) -> Vec<v1::Rejection> {
    let mut client = v1::ingest_service_client::IngestServiceClient::new(mtls_channel(keys, "csc-north", url).await.expect("connect"));
    let mut header = header;
    header.submission_id = "bounds-test".to_owned();
    let batch = v1::UploadBatch { header: Some(header), sequence: 0, records };
    let mut acks = client.upload(tokio_stream::iter(vec![batch])).await.expect("upload").into_inner();
    acks.message().await.expect("ack").expect("an ack").rejections
}

#[test]
fn a_closed_stdout_ends_the_cli_quietly() {
    // `braid … | head`: the reader goes away before braid has printed.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("keys").display().to_string();
    let mut child = std::process::Command::new(braid_binary())
        .args(["keys", "init", "--out", &out])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run braid");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    // `braid … 2>&1 | head`: stderr goes too, while warnings are printed.
    let synth = dir.path().join("synth").display().to_string();
    ok(&braid(&["synth", "--out", &synth, "--children", "200"]));
    let file = |name: &str| format!("{synth}/{name}");
    let secret = format!("{out}/scheme.secret");
    let extract = dir.path().join("x.bpx").display().to_string();
    let mut child = std::process::Command::new(braid_binary())
        .args([
            "agency",
            "pseudonymise",
            "--mapping",
            &file("CSC-NORTH.mapping.toml"),
            "--secret",
            &secret,
            "--input",
            &file("CSC-NORTH.csv"),
            "--out",
            &extract,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run braid");
    drop(child.stdout.take());
    drop(child.stderr.take());
    assert_eq!(child.wait().expect("wait").code(), Some(141));
}

#[test]
fn a_node_that_accepts_and_never_answers_is_given_up_on() {
    // A port that takes the connection and says nothing (a hung node):
    // the CLI says so instead of waiting for ever.
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys").display().to_string();
    ok(&braid(&["keys", "init", "--out", &keys]));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let started = std::time::Instant::now();
    let stderr = failed(&braid_as(&keys, "admin", &["admin", "stats", "--node", &url]));
    assert!(stderr.contains("did not complete the connection in 10 s"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_takes_agency_types_from_its_config_and_bounds_open_uploads() {
    let prepared = prepare(40);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let mut config = node_config(&keys, data.path(), loopback());
    // The police's upload claims children_services in its header; the
    // node's own record of who is who wins. VOL-NORTH is not listed.
    config.agencies = [("CSC-NORTH", "children_services"), ("POL-NORTH", "yot"), ("YOT-NORTH", "yot")]
        .into_iter()
        .map(|(code, kind)| (code.to_owned(), kind.to_owned()))
        .collect();
    config.partnerships = [("north".to_owned(), vec!["CSC-NORTH".to_owned()])].into();
    config.limits.uploads_per_principal = 1;
    let node = braid_node::spawn(config).await.expect("start node");
    let url = node.url();

    // One open upload per principal: a second one is refused while the
    // first is open, and allowed once it ends.
    let (header, records) = read_extract(Path::new(&prepared.path("POL-NORTH.bpx")));
    let mut client = v1::ingest_service_client::IngestServiceClient::new(mtls_channel(&keys, "pol-north", &url).await.expect("connect"));
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut acks = client.upload(tokio_stream::wrappers::ReceiverStream::new(receiver)).await.expect("upload").into_inner();
    let mut claimed = header.clone();
    claimed.agency_type = "children_services".to_owned();
    sender.send(v1::UploadBatch { header: Some(claimed), sequence: 0, records: records.clone() }).await.expect("send");
    acks.message().await.expect("ack").expect("an ack");
    let (k, u, p) = (keys.clone(), url.clone(), prepared.path(""));
    let second = blocking(move || failed(&upload(&k, &u, "POL-NORTH", &format!("{p}/POL-NORTH.bpx")))).await;
    assert!(second.contains("uploads open"), "{second}");
    drop(sender);
    assert!(acks.message().await.expect("the stream ends").is_none());
    let (k, u, p) = (keys.clone(), url.clone(), prepared.path(""));
    let (again, unlisted) = blocking(move || {
        let again = ok(&upload(&k, &u, "POL-NORTH", &format!("{p}/POL-NORTH.bpx")));
        let unlisted = failed(&upload(&k, &u, "VOL-NORTH", &format!("{p}/VOL-NORTH.bpx")));
        ok(&upload(&k, &u, "CSC-NORTH", &format!("{p}/CSC-NORTH.bpx")));
        (again, unlisted)
    })
    .await;
    assert!(again.contains("records uploaded"), "{again}");
    assert!(unlisted.contains("no type in the node's [agencies]"), "{unlisted}");

    // A children's services panel sees the police records counted under
    // the type the node was configured with.
    let clusters = prepared.path("clusters.csv");
    let (k, u, c) = (keys.clone(), url.clone(), clusters.clone());
    blocking(move || ok(&braid_as(&k, "admin", &["admin", "clusters", "--node", &u, "--out", &c]))).await;
    let text = std::fs::read_to_string(&clusters).expect("clusters");
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let profile = rows
        .iter()
        .find(|r| r[0] == "CSC-NORTH" && rows.iter().any(|o| o[4] == r[4] && o[0] == "POL-NORTH"))
        .map(|r| r[4].to_owned())
        .expect("someone known to both");
    let (k, u) = (keys.clone(), url.clone());
    let view = blocking(move || json(&ok(&panel(&k, "profile", &u, "north", &["--profile", &profile, "--json"])))).await;
    let outside = view["profiles"][0]["outside"].as_object().expect("outside");
    assert!(outside.contains_key("yot") && !outside.contains_key("children_services") && !outside.contains_key("police"), "{view}");
    node.stop().await.expect("stop");
}

/// A plain HTTP/1.1 GET: (status, body).
async fn http_get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_prometheus_get_health_and_metrics_without_a_certificate_and_nothing_else() {
    let prepared = prepare(40);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let operations = node.operations.expect("an operations listener");

    assert_eq!(http_get(operations, "/healthz").await.0, 200);
    assert_eq!(http_get(operations, "/readyz").await, (200, "ready\n".to_owned()));
    for path in ["/", "/admin", "/metrics/../healthz", "/profiles"] {
        assert_eq!(http_get(operations, path).await.0, 404, "{path}");
    }

    // Some traffic: uploads, a panel query, a refusal, a peer without a
    // certificate.
    let (k, u, p) = (keys.clone(), url.clone(), prepared.path(""));
    blocking(move || {
        for agency in ["CSC-NORTH", "POL-NORTH"] {
            ok(&upload(&k, &u, agency, &format!("{p}/{agency}.bpx")));
        }
        ok(&panel(&k, "signals", &u, "north", &[]));
        failed(&braid_as(&k, "auditor", &["admin", "stats", "--node", &u]));
        // The operations port given for the node's: said so.
        let wrong = failed(&braid_as(&k, "admin", &["admin", "stats", "--node", &format!("https://{operations}")]));
        assert!(wrong.contains("does not speak TLS") && wrong.contains("operations"), "{wrong}");
    })
    .await;
    assert!(stats_over(channel(&keys, None, &url).await).await.is_err());
    eventually("handshakes refused", 1, || braid_node::ListenerCounts::get(&node.listener_counts().handshake_failed)).await;

    // The standard gRPC health service, on the mTLS port.
    let health = tonic_health::pb::health_client::HealthClient::new(mtls_channel(&keys, "admin", &url).await.expect("connect"))
        .check(tonic_health::pb::HealthCheckRequest { service: "braid.v1.PanelService".to_owned() })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(health.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    let (status, metrics) = http_get(operations, "/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        "braid_upload_batches_total{agency=\"CSC-NORTH\"}",
        "braid_upload_involvements_total{agency=\"POL-NORTH\"}",
        "braid_upload_batch_seconds_count",
        "braid_call_seconds_count{action=\"panel.signals\"}",
        "braid_denials_total{action=\"admin.stats\"} 1",
        "braid_listener_refused_total{reason=\"handshake_failed\"}",
        "braid_linkage_decisions_total{decision=\"joined\"}",
        "braid_healthy 1",
        "braid_audit_entries",
        "braid_rocksdb_sst_bytes",
    ] {
        assert!(metrics.contains(expected), "`{expected}` missing from:\n{metrics}");
    }
    // Every audit entry is timed, those written with an upload's batch
    // included.
    let metric = |name: &str| -> u64 {
        let line = metrics.lines().find(|line| line.starts_with(name)).unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"));
        line.rsplit(' ').next().and_then(|value| value.parse().ok()).unwrap_or_else(|| panic!("{line}"))
    };
    assert_eq!(metric("braid_audit_append_seconds_count "), metric("braid_audit_entries "), "{metrics}");
    // Children's services send their extract again: every batch is
    // answered from its stored acknowledgement and counted as re-sent, and
    // the records applied stay the records the node holds.
    let csc_records = read_extract(Path::new(&prepared.path("CSC-NORTH.bpx"))).1.len();
    let applied = format!("braid_upload_records_total{{agency=\"CSC-NORTH\"}} {csc_records}\n");
    assert!(metrics.contains(&applied), "`{applied}` missing from:\n{metrics}");
    let (k, u, p) = (keys.clone(), url.clone(), prepared.path(""));
    blocking(move || ok(&upload(&k, &u, "CSC-NORTH", &format!("{p}/CSC-NORTH.bpx")))).await;
    let metrics = http_get(operations, "/metrics").await.1;
    assert!(metrics.contains(&applied), "a re-sent upload counted as applied records:\n{metrics}");
    assert!(metrics.contains("braid_upload_replayed_batches_total{agency=\"CSC-NORTH\"} 1\n"), "{metrics}");
    // No identifier, pseudonym, profile id or principal in any line.
    for agency in ["CSC-NORTH", "POL-NORTH"] {
        let (_, records) = read_extract(Path::new(&prepared.path(&format!("{agency}.bpx"))));
        for record in &records {
            assert!(!metrics.contains(&record.record_ref), "a record ref is in the metrics");
            for involvement in &record.involvements {
                assert!(!metrics.contains(&involvement.person_ref), "a person ref is in the metrics");
            }
        }
    }
    for principal in ["csc-north", "pol-north", "panel-north", "auditor", "admin\""] {
        assert!(!metrics.contains(principal), "the principal {principal} is in the metrics");
    }
    assert!(!metrics.lines().any(|l| l.contains("P0")), "a profile id is in the metrics");
    node.stop().await.expect("stop");
}

/// Lists the services through gRPC server reflection as `principal`.
async fn reflected_services(keys: &str, principal: &str, url: &str) -> Result<Vec<String>, tonic::Status> {
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let channel = mtls_channel(keys, principal, url).await.expect("connect");
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut replies = ServerReflectionClient::new(channel).server_reflection_info(tokio_stream::iter([request])).await?.into_inner();
    let reply = replies.message().await?.expect("a reply");
    match reply.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => Ok(list.service.into_iter().map(|s| s.name).collect()),
        other => panic!("not a service list: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_reflection_is_off_by_default_and_lists_the_api_when_switched_on() {
    let prepared = prepare(20);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&keys, data.path(), loopback()).await;
    let refused = reflected_services(&keys, "auditor", &node.url()).await.expect_err("off by default");
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused:?}");
    node.stop().await.expect("stop");

    let node = braid_node::spawn(braid_node::NodeConfig { reflection: true, ..node_config(&keys, data.path(), loopback()) }).await.expect("start node");
    let services = reflected_services(&keys, "auditor", &node.url()).await.expect("reflection");
    for service in ["braid.v1.IngestService", "braid.v1.PanelService", "braid.v1.AdminService", "braid.v1.AuditService"] {
        assert!(services.iter().any(|s| s == service), "{service} in {services:?}");
    }
    // Still behind the certificate: no client certificate, no handshake.
    let bundle = std::path::Path::new(&keys).join("auditor");
    assert!(reflected_services_without_certificate(&bundle, &node.url()).await, "a peer without a certificate is refused");
    node.stop().await.expect("stop");
}

/// Whether a reflection call without a client certificate fails.
async fn reflected_services_without_certificate(bundle: &std::path::Path, url: &str) -> bool {
    use tonic_reflection::pb::v1::{server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest, ServerReflectionRequest};
    let Ok(channel) = tls_channel(&bundle.join("ca.crt"), None, url).await else { return true };
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    ServerReflectionClient::new(channel).server_reflection_info(tokio_stream::iter([request])).await.is_err()
}
