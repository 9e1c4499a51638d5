//! Shared helpers of the end-to-end tests (`tests/*.rs`): the real `braid`
//! binary run as a given principal, nodes serving mTLS on loopback over real
//! RocksDB directories, and synthetic extracts ready to upload.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use braid_node::{NodeConfig, RunningNode};

/// The `braid` binary built beside this test (by `cargo test --workspace`).
pub fn braid_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let binary = dir.join("braid");
    assert!(binary.exists(), "{} is missing: run `cargo test --workspace`", binary.display());
    binary
}

/// Runs `braid` with no certificate.
pub fn braid(args: &[&str]) -> Output {
    Command::new(braid_binary()).args(args).output().expect("run braid")
}

/// Runs `braid` as the holder of `principal`'s certificate bundle (under
/// the `keys` directory `braid keys init` wrote).
pub fn braid_as(keys: &str, principal: &str, args: &[&str]) -> Output {
    Command::new(braid_binary()).env("BRAID_TLS", Path::new(keys).join(principal)).args(args).output().expect("run braid")
}

/// An agency uploads its own file.
pub fn upload(keys: &str, url: &str, agency: &str, file: &str) -> Output {
    braid_as(keys, &agency.to_lowercase(), &["agency", "upload", "--node", url, file])
}

/// The stdout of a run that must succeed (shows both streams otherwise).
pub fn ok(output: &Output) -> String {
    assert!(output.status.success(), "braid failed:\nstdout: {}\nstderr: {}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The stderr of a run that must fail.
pub fn failed(output: &Output) -> String {
    assert!(!output.status.success(), "braid should have failed: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The config of a node serving mTLS with the certificates and policy in
/// `keys`.
pub fn node_config(keys: &str, data: &Path, listen: SocketAddr) -> NodeConfig {
    NodeConfig {
        listen,
        data_dir: data.to_path_buf(),
        tls: Some(braid_node::TlsFiles::in_dir(&Path::new(keys).join("node"))),
        policy: Some(Path::new(keys).join("node/policy.toml")),
        operations_listen: Some(loopback()),
        ..NodeConfig::default()
    }
}

/// Starts a node serving mTLS with the certificates and policy in `keys`.
pub async fn start_node(keys: &str, data: &Path, listen: SocketAddr) -> RunningNode {
    braid_node::spawn(node_config(keys, data, listen)).await.expect("start node")
}

/// A gRPC channel over TLS trusting the CA certificate `ca` (a PEM file)
/// and presenting the certificate bundle in `identity` (a directory with
/// client.crt and client.key), if any.
pub async fn tls_channel(ca: &Path, identity: Option<&Path>, url: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let read = |path: PathBuf| std::fs::read(path).expect("certificate file");
    let mut tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(read(ca.to_path_buf())));
    if let Some(bundle) = identity {
        tls = tls.identity(tonic::transport::Identity::from_pem(read(bundle.join("client.crt")), read(bundle.join("client.key"))));
    }
    tonic::transport::Endpoint::from_shared(url.to_owned()).expect("url").tls_config(tls)?.connect().await
}

/// A gRPC channel over mTLS as `principal`.
pub async fn mtls_channel(keys: &str, principal: &str, url: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let bundle = Path::new(keys).join(principal);
    tls_channel(&bundle.join("ca.crt"), Some(&bundle), url).await
}

/// Any free port on loopback.
pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

/// The synthetic agencies.
pub const AGENCIES: [&str; 4] = ["CSC-NORTH", "POL-NORTH", "YOT-NORTH", "VOL-NORTH"];

/// Synthetic extracts, a secret and each agency's pseudonymised file.
pub struct Prepared {
    /// The directory everything is in.
    pub dir: tempfile::TempDir,
}

impl Prepared {
    /// A path inside the directory.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// Synthesises `children`, writes keys (partnerships north and statutory)
/// and pseudonymises each agency's extract.
pub fn prepare(children: usize) -> Prepared {
    let prepared = Prepared { dir: tempfile::tempdir().expect("temp dir") };
    ok(&braid(&["synth", "--children", &children.to_string(), "--seed", "11", "--out", &prepared.path("synth")]));
    ok(&braid(&["keys", "init", "--out", &prepared.path("keys"), "--partnership", "north", "--partnership", "statutory"]));
    for agency in AGENCIES {
        ok(&braid(&[
            "agency",
            "pseudonymise",
            "--mapping",
            &prepared.path(&format!("synth/{agency}.mapping.toml")),
            "--secret",
            &prepared.path("keys/scheme.secret"),
            "--input",
            &prepared.path(&format!("synth/{agency}.csv")),
            "--out",
            &prepared.path(&format!("{agency}.bpx")),
        ]));
    }
    prepared
}

/// Writes one agency's mapping (`mapping` with `AGENCY` and `TYPE` filled
/// in) and extract (`header`, then `rows`) into `dir` and pseudonymises it
/// with `dir/keys/scheme.secret` into `dir/AGENCY.bpx` (its map to
/// `dir/AGENCY.reid.csv`), checking that no row was rejected.
pub fn pseudonymise_rows<S: AsRef<str>>(dir: &Path, agency: &str, kind: &str, mapping: &str, header: &str, rows: &[S]) -> Output {
    let output = pseudonymise_file(dir, agency, agency, kind, mapping, header, rows);
    let stdout = ok(&output);
    assert!(stdout.contains("0 rows rejected"), "{agency}: {stdout}");
    output
}

/// As [`pseudonymise_rows`], into files named `name` (`dir/NAME.toml`,
/// `.csv`, `.bpx`, `.reid.csv`), without checking the outcome.
pub fn pseudonymise_file<S: AsRef<str>>(dir: &Path, name: &str, agency: &str, kind: &str, mapping: &str, header: &str, rows: &[S]) -> Output {
    let path = |file: String| dir.join(file).display().to_string();
    std::fs::write(path(format!("{name}.toml")), mapping.replace("AGENCY", agency).replace("TYPE", kind)).expect("mapping");
    let rows: Vec<&str> = rows.iter().map(AsRef::as_ref).collect();
    std::fs::write(path(format!("{name}.csv")), format!("{header}\n{}\n", rows.join("\n"))).expect("csv");
    braid(&[
        "agency",
        "pseudonymise",
        "--mapping",
        &path(format!("{name}.toml")),
        "--secret",
        &path("keys/scheme.secret".to_owned()),
        "--input",
        &path(format!("{name}.csv")),
        "--out",
        &path(format!("{name}.bpx")),
    ])
}

/// The node's statistics, asked as admin.
pub fn stats(keys: &str, url: &str) -> serde_json::Value {
    let text = ok(&braid_as(keys, "admin", &["admin", "stats", "--node", url, "--json"]));
    serde_json::from_str(&text).expect("stats json")
}

/// Runs blocking work (CLI runs) off the async workers.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.expect("blocking task")
}

/// A node whose config names two partnerships: `north` (every agency) and
/// `statutory` (children's services and police only).
pub async fn start_panel_node(keys: &str, data: &Path) -> RunningNode {
    braid_node::spawn(panel_node_config(keys, data)).await.expect("start node")
}

/// The configuration [`start_panel_node`] starts.
pub fn panel_node_config(keys: &str, data: &Path) -> NodeConfig {
    NodeConfig {
        partnerships: [
            ("north".to_owned(), AGENCIES.iter().map(|a| (*a).to_owned()).collect()),
            ("statutory".to_owned(), vec!["CSC-NORTH".to_owned(), "POL-NORTH".to_owned()]),
        ]
        .into(),
        ..node_config(keys, data, loopback())
    }
}

/// Pseudonymises each agency's extract under `dir/extracts` (with its
/// mapping there) using the secret in `dir/keys`, uploads it to the node at
/// `url`, exports the clusters and `partnership`'s full signal listing, and
/// scores both with `braid eval --signals` against `dir/extracts/truth.csv`:
/// the evaluation as JSON.
pub fn upload_and_score_signals(dir: &str, extracts: &str, agencies: &[&str], url: &str, partnership: &str) -> serde_json::Value {
    let path = |name: &str| format!("{dir}/{name}");
    for agency in agencies {
        ok(&braid(&[
            "agency",
            "pseudonymise",
            "--mapping",
            &path(&format!("{extracts}/{agency}.mapping.toml")),
            "--secret",
            &path("keys/scheme.secret"),
            "--input",
            &path(&format!("{extracts}/{agency}.csv")),
            "--out",
            &path(&format!("{agency}.bpx")),
        ]));
        ok(&upload(&path("keys"), url, agency, &path(&format!("{agency}.bpx"))));
    }
    ok(&braid_as(&path("keys"), "admin", &["admin", "clusters", "--node", url, "--out", &path("clusters.csv")]));
    let listing = ok(&panel(&path("keys"), "signals", url, partnership, &["--limit", "100000", "--full", "--json"]));
    std::fs::write(path("signals.json"), &listing).expect("write the listing");
    let mut args = vec!["eval".to_owned(), "--truth".into(), path(&format!("{extracts}/truth.csv")), "--clusters".into(), path("clusters.csv")];
    for agency in agencies {
        args.push("--reid".into());
        args.push(path(&format!("{agency}.reid.csv")));
    }
    args.extend(["--signals".into(), path("signals.json"), "--json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    json(&ok(&braid(&args)))
}

/// Parses JSON or shows what it was.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A panel member of `partnership` asks.
pub fn panel(keys: &str, command: &str, url: &str, partnership: &str, rest: &[&str]) -> Output {
    panel_as(keys, &format!("panel-{partnership}"), command, url, partnership, rest)
}

/// `principal` asks as a panel of `partnership`.
pub fn panel_as(keys: &str, principal: &str, command: &str, url: &str, partnership: &str, rest: &[&str]) -> Output {
    let mut args = vec!["panel", command, "--node", url, "--partnership", partnership, "--purpose", "test: panel review", "--case-ref", "T-1"];
    args.extend_from_slice(rest);
    braid_as(keys, principal, &args)
}

/// Reads a pseudonymised extract as `braid agency pseudonymise` writes it:
/// an 8-byte magic, the header, the records (each length-delimited), then
/// a trailer (8 bytes and a 32-byte digest).
pub fn read_extract(path: &Path) -> (braid_proto::v1::UploadHeader, Vec<braid_proto::v1::CaseRecord>) {
    use prost::Message;
    let bytes = std::fs::read(path).expect("read extract");
    let mut rest = &bytes[8..bytes.len() - 40];
    let header = braid_proto::v1::UploadHeader::decode_length_delimited(&mut rest).expect("header");
    let mut records = Vec::new();
    while !rest.is_empty() {
        records.push(braid_proto::v1::CaseRecord::decode_length_delimited(&mut rest).expect("record"));
    }
    (header, records)
}

/// An upload stream left open (see [`open_upload`]): dropping it ends the
/// stream.
pub struct OpenUpload {
    /// The acknowledgement of each batch sent, in order.
    pub acks: Vec<braid_proto::v1::BatchAck>,
    _sender: tokio::sync::mpsc::Sender<braid_proto::v1::UploadBatch>,
    _stream: tonic::Streaming<braid_proto::v1::BatchAck>,
}

/// Opens an upload stream as `principal`, sends `batches` and waits for an
/// acknowledgement of each; the stream stays open while the answer is held.
pub async fn open_upload(keys: &str, principal: &str, url: &str, batches: Vec<braid_proto::v1::UploadBatch>) -> OpenUpload {
    let channel = mtls_channel(keys, principal, url).await.expect("connect");
    let mut client = braid_proto::v1::ingest_service_client::IngestServiceClient::new(channel);
    let (sender, receiver) = tokio::sync::mpsc::channel(batches.len().max(1));
    let count = batches.len();
    for batch in batches {
        sender.send(batch).await.expect("queue a batch");
    }
    let mut stream = client.upload(tokio_stream::wrappers::ReceiverStream::new(receiver)).await.expect("upload").into_inner();
    let mut acks = Vec::new();
    for _ in 0..count {
        acks.push(stream.message().await.expect("ack").expect("an acknowledgement of each batch"));
    }
    OpenUpload { acks, _sender: sender, _stream: stream }
}

/// Upload batches of `size` records, the first carrying `header`, as
/// `braid agency upload` sends them.
pub fn upload_batches(header: &braid_proto::v1::UploadHeader, records: &[braid_proto::v1::CaseRecord], size: usize) -> Vec<braid_proto::v1::UploadBatch> {
    records
        .chunks(size)
        .enumerate()
        .map(|(index, chunk)| braid_proto::v1::UploadBatch { header: (index == 0).then(|| header.clone()), sequence: index as u32, records: chunk.to_vec() })
        .collect()
}

/// Every file under `dir` (the data directory of a node), read whole.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

/// For each of `needles`, the files under `dir` that hold it: to show that
/// erased pseudonyms are gone from every file of a store, and that kept
/// ones are found (so the scan sees into the store's files).
pub fn files_holding(dir: &Path, needles: &[Vec<u8>]) -> Vec<Vec<String>> {
    let files = files_under(dir);
    needles
        .iter()
        .map(|needle| {
            let finder = memchr::memmem::Finder::new(needle);
            files.iter().filter(|(_, bytes)| finder.find(bytes).is_some()).map(|(path, _)| path.clone()).collect()
        })
        .collect()
}

/// Opens a stopped node's RocksDB directly, as someone with disk access.
pub fn raw_db(dir: &Path) -> rocksdb::DB {
    let options = rocksdb::Options::default();
    let families = rocksdb::DB::list_cf(&options, dir).expect("column families");
    rocksdb::DB::open_cf(&options, dir, families).expect("open RocksDB")
}

/// Every stored audit entry, as stored: (index, bytes).
pub fn stored_entries(db: &rocksdb::DB) -> Vec<(u64, Vec<u8>)> {
    let cf = db.cf_handle(braid_store::AUDIT).expect("audit column family");
    db.iterator_cf(cf, rocksdb::IteratorMode::Start)
        .map(|item| {
            let (key, value) = item.expect("entry");
            (u64::from_be_bytes(key.as_ref().try_into().expect("key")), value.into_vec())
        })
        .collect()
}

/// The records of a stopped node's store: (all, in the node's own schema).
/// A record in the node's schema keeps bytes no API decoder reads where the
/// API's encoding was, so that an earlier build refuses it.
pub fn record_schemas(data: &Path) -> (usize, usize) {
    use prost::Message;
    let store = braid_store::Store::open_read_only(data).expect("open the store");
    let (mut all, mut moved) = (0, 0);
    store
        .for_each_record(|_, _, record| {
            all += 1;
            if record.body.is_some() {
                moved += 1;
                assert!(braid_proto::v1::CaseRecord::decode(record.record.as_slice()).is_err(), "an earlier build would read it as empty");
            }
            Ok(())
        })
        .expect("read records");
    (all, moved)
}
