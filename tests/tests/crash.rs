//! kill -9 during concurrent uploads, through the real `braid-node` and
//! `braid` binaries and a real RocksDB directory: the node is killed at
//! random moments while agencies upload at once, restarted, and the
//! uploads re-run; at the end the node holds exactly the records of an
//! uninterrupted run and its audit log verifies. `BRAID_CRASH_ROUNDS` runs
//! more rounds than the default three.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use braid_tests::*;

/// The `braid-node` binary built beside this test.
fn node_binary() -> PathBuf {
    let binary = braid_binary().with_file_name("braid-node");
    assert!(binary.exists(), "{} is missing: run `cargo test --workspace`", binary.display());
    binary
}

/// A running `braid-node`, the address it reported listening on and its
/// stderr, read to the end by a thread so that the pipe never fills.
struct Node {
    /// `None` once stopped by [`Node::kill`] or [`Node::terminate`].
    child: Option<Child>,
    address: SocketAddr,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Node {
    fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// kill -9, then reap.
    fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        self.stderr.take().expect("stderr reader").join().expect("stderr reader");
    }

    /// SIGTERM, then (status, stdout, stderr).
    fn terminate(mut self) -> (std::process::ExitStatus, String, String) {
        let child = self.child.take().expect("running");
        let killed = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill");
        assert!(killed.success());
        let output = child.wait_with_output().expect("reap");
        let stderr = self.stderr.take().expect("stderr reader").join().expect("stderr reader");
        (output.status, String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
    }
}

impl Drop for Node {
    /// A test that fails before stopping its node leaves no node running.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `command` (a `braid-node` told to listen on port 0, so that no
/// other test can take its port between a stop and a restart) and waits
/// until its log says where it listens.
fn spawn_listening(command: &mut Command) -> Node {
    let mut child = command.env("RUST_LOG", "info").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start braid-node");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let (mut all, mut bytes) = (String::new(), Vec::new());
        let mut stderr = std::io::BufReader::new(stderr);
        // Read on to the end whatever the bytes, so the node never blocks
        // on a full pipe.
        while stderr.read_until(b'\n', &mut bytes).is_ok_and(|read| read > 0) {
            let line = String::from_utf8_lossy(&bytes);
            if let Some(address) = listening_address(&line) {
                let _ = sender.send(address);
            }
            all.push_str(line.trim_end_matches('\n'));
            all.push('\n');
            bytes.clear();
        }
        all
    });
    let Ok(address) = receiver.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("braid-node did not start listening: {}", reader.join().unwrap_or_default());
    };
    Node { child: Some(child), address, stderr: Some(reader) }
}

/// The address in the node's "braid-node listening" log line, written as
/// text or as JSON.
fn listening_address(line: &str) -> Option<SocketAddr> {
    if !line.contains("braid-node listening") {
        return None;
    }
    let at = line.find("127.0.0.1:")?;
    let rest = &line[at..];
    let end = rest["127.0.0.1:".len()..].find(|c: char| !c.is_ascii_digit()).map_or(rest.len(), |n| n + "127.0.0.1:".len());
    rest[..end].parse().ok()
}

/// Starts `braid-node` with `args` on an address of its own choosing.
fn start_node(args: &[&std::ffi::OsStr]) -> Node {
    let mut command = Command::new(node_binary());
    command.args(args);
    spawn_listening(&mut command)
}

/// Starts `braid-node` on `data` with the certificates and policy in `keys`.
fn start(keys: &str, data: &Path) -> Node {
    let node_dir = Path::new(keys).join("node");
    let policy = node_dir.join("policy.toml");
    let args: Vec<&std::ffi::OsStr> = vec![
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--operations-listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--tls".as_ref(),
        node_dir.as_os_str(),
        "--policy".as_ref(),
        policy.as_os_str(),
    ];
    start_node(&args)
}

/// An agency's upload, started in the background (no retries: the node is
/// about to die).
fn upload_in_background(keys: &str, url: &str, agency: &str, file: &str) -> Child {
    Command::new(braid_binary())
        .env("BRAID_TLS", Path::new(keys).join(agency.to_lowercase()))
        .args(["agency", "upload", "--node", url, "--batch-size", "50", "--retries", "0", file])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run braid")
}

#[test]
fn killing_the_node_during_concurrent_uploads_loses_nothing_it_acknowledged() {
    let rounds: u64 = std::env::var("BRAID_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let prepared = prepare(150);
    let keys = prepared.path("keys");
    let files: Vec<(&str, String)> = AGENCIES.iter().map(|a| (*a, prepared.path(&format!("{a}.bpx")))).collect();
    let expected: usize = files.iter().map(|(_, file)| read_extract(Path::new(file)).1.len()).sum();
    let data = tempfile::tempdir().expect("data dir");

    // A small deterministic generator picks when to kill.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..rounds {
        let node = start(&keys, data.path());
        let url = node.url();
        let uploads: Vec<Child> = files.iter().skip(round as usize % 2).take(3).map(|(agency, file)| upload_in_background(&keys, &url, agency, file)).collect();
        std::thread::sleep(Duration::from_millis(100 + next() % 700));
        node.kill();
        for mut upload in uploads {
            upload.wait().expect("upload ends");
        }
    }

    // Restart once more and let every upload finish: each resumes.
    let node = start(&keys, data.path());
    let url = node.url();
    for (agency, file) in &files {
        ok(&upload(&keys, &url, agency, file));
    }
    let after = stats(&keys, &url);
    assert_eq!(after["records"].as_u64(), Some(expected as u64), "{after}");
    let verified = ok(&braid_as(&keys, "auditor", &["audit", "verify", "--node", &url]));
    assert!(verified.contains("audit log verified"), "{verified}");
    node.kill();
    // The store also verifies offline after the last kill, and verifying
    // writes nothing into it (a copy kept as evidence stays as it was,
    // and may sit on a read-only mount).
    let listing = |dir: &Path| -> Vec<(String, u64)> {
        let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry"))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().expect("meta").len()))
            .collect();
        files.sort();
        files
    };
    let before = listing(data.path());
    let offline = ok(&braid_as(&keys, "auditor", &["audit", "verify", "--data-dir", &data.path().display().to_string()]));
    assert!(offline.contains("audit log verified"), "{offline}");
    assert_eq!(listing(data.path()), before, "verifying changed the data directory");

    // An uninterrupted run of the same uploads holds the same records and
    // involvements.
    let reference_data = tempfile::tempdir().expect("data dir");
    let reference = start(&keys, reference_data.path());
    let url = reference.url();
    for (agency, file) in &files {
        ok(&upload(&keys, &url, agency, file));
    }
    let reference_stats = stats(&keys, &url);
    reference.kill();
    for count in ["records", "involvements"] {
        assert_eq!(after[count], reference_stats[count], "{count}: {after} against {reference_stats}");
    }
}

/// An upload that a kill -9 cuts short is in its agency's history with
/// every batch it had acknowledged (its summary is kept with each batch),
/// marked cut short at the next start; what it decided with the model's
/// starting values is settled by the node at that start; and resuming it
/// counts each record new once across the two.
#[test]
fn an_upload_a_kill_cuts_short_is_in_its_history_and_settled_at_the_next_start() {
    let prepared = prepare(300);
    let keys = prepared.path("keys");
    let file = prepared.path("CSC-NORTH.bpx");
    let (header, records) = read_extract(Path::new(&file));
    assert!(records.len() > 200, "the extract has {} records", records.len());
    let data = tempfile::tempdir().expect("data dir");
    let node = start(&keys, data.path());
    let url = node.url();

    // Four batches of 50 are acknowledged, the stream still open, and the
    // node is killed.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let batches = upload_batches(&header, &records[..200], 50);
    let open = runtime.block_on(open_upload(&keys, "csc-north", &url, batches.clone()));
    assert!(open.acks.iter().all(|ack| !ack.replayed));
    node.kill();
    drop(open);

    let node = start(&keys, data.path());
    let url = node.url();
    let history = || json(&ok(&braid_as(&keys, "csc-north", &["agency", "uploads", "--node", &url, "--agency", "CSC-NORTH", "--json"])));
    let cut_short = history();
    let uploads = cut_short["uploads"].as_array().expect("uploads");
    assert_eq!(uploads.len(), 1, "{cut_short}");
    let first = &uploads[0];
    assert_eq!((first["batches"].as_u64(), first["new"].as_u64()), (Some(4), Some(200)), "{first}");
    assert!(first["ended"].as_str().is_some_and(|ended| ended.starts_with("cut short")), "{first}");

    let settles = || {
        let log = json(&ok(&braid_as(&keys, "auditor", &["audit", "log", "--node", &url, "--action", "ingest.settle", "--json"])));
        log["entries"].as_array().cloned().unwrap_or_default()
    };
    let mut entries = settles();
    for _ in 0..100 {
        if !entries.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        entries = settles();
    }
    let held = stats(&keys, &url);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["principal"].as_str(), Some("braid-node"), "{entries:?}");
    assert_eq!(entries[0]["result_count"].as_u64(), held["involvements"].as_u64(), "every involvement of the four batches is settled: {entries:?} {held}");

    // The same four batches sent again are answered from their stored
    // acknowledgements; killed again, that attempt is in the history too,
    // its batches counted as already stored.
    let open = runtime.block_on(open_upload(&keys, "csc-north", &url, batches));
    assert!(open.acks.iter().all(|ack| ack.replayed));
    node.kill();
    drop((open, runtime));
    let node = start(&keys, data.path());
    let url = node.url();
    let history = || json(&ok(&braid_as(&keys, "csc-north", &["agency", "uploads", "--node", &url, "--agency", "CSC-NORTH", "--json"])));
    let replayed = history();
    let second = &replayed["uploads"][0];
    assert_eq!((second["batches"].as_u64(), second["new"].as_u64(), second["already_stored"].as_u64()), (Some(4), Some(0), Some(200)), "{replayed}");
    assert!(second["ended"].as_str().is_some_and(|ended| ended.starts_with("cut short")), "{second}");

    // The resumed upload stores the rest; each record is counted new once.
    ok(&upload(&keys, &url, "CSC-NORTH", &file));
    let after = history();
    let uploads = after["uploads"].as_array().expect("uploads");
    assert_eq!(uploads.len(), 3, "{after}");
    let counted: u64 = uploads.iter().map(|upload| upload["new"].as_u64().expect("new")).sum();
    assert_eq!(counted as usize, records.len(), "{after}");
    assert_eq!(uploads[0]["ended"].as_str(), Some("completed"), "{after}");
    node.kill();
    // Nothing is left marked unsettled.
    let store = braid_store::Store::open_read_only(data.path()).expect("open the store");
    assert_eq!(store.unsettled().expect("read the marks"), Vec::<u64>::new());
}

#[test]
fn a_backup_taken_during_uploads_restores_to_a_node_that_verifies_and_resumes() {
    let prepared = prepare(150);
    let keys = prepared.path("keys");
    let files: Vec<(&str, String)> = AGENCIES.iter().map(|a| (*a, prepared.path(&format!("{a}.bpx")))).collect();
    let expected: usize = files.iter().map(|(_, file)| read_extract(Path::new(file)).1.len()).sum();
    let dir = prepared.dir.path();
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\noperations_listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nbackups_dir = {:?}\npolicy = {:?}\n[tls]\ncertificate = {:?}\nprivate_key = {:?}\nclient_ca = {:?}\n",
            dir.join("data"),
            dir.join("backups"),
            Path::new(&keys).join("node/policy.toml"),
            Path::new(&keys).join("node/node.crt"),
            Path::new(&keys).join("node/node.key"),
            Path::new(&keys).join("node/ca.crt"),
        ),
    )
    .expect("write config");
    let start_with = |data: &Path| start_node(&["--config".as_ref(), config.as_os_str(), "--data-dir".as_ref(), data.as_os_str()]);

    let node = start_with(&dir.join("data"));
    let url = node.url();
    for (agency, file) in &files[..2] {
        ok(&upload(&keys, &url, agency, file));
    }
    let saved = prepared.path("saved.checkpoint");
    ok(&braid_as(&keys, "auditor", &["audit", "checkpoint", "--node", &url, "--save", &saved]));
    let before = stats(&keys, &url)["records"].as_u64().expect("records");
    // The backup is taken while two agencies upload.
    let uploads: Vec<Child> = files[2..].iter().map(|(agency, file)| upload_in_background(&keys, &url, agency, file)).collect();
    std::thread::sleep(Duration::from_millis(50));
    let backup = ok(&braid_as(&keys, "admin", &["admin", "backup", "--node", &url, "--out", "during-uploads"]));
    assert!(backup.contains("backup written"), "{backup}");
    // The log says the backup began (the backup holds that entry) and,
    // once it was written, that it was.
    let log = ok(&braid_as(&keys, "auditor", &["audit", "log", "--node", &url, "--action", "admin.backup", "--json"]));
    let log: serde_json::Value = serde_json::from_str(&log).expect("JSON");
    let outcomes: Vec<&str> = log["entries"].as_array().expect("entries").iter().map(|e| e["outcome"].as_str().expect("outcome")).collect();
    assert_eq!(outcomes, ["begun", "ok"], "{log}");
    {
        use std::os::unix::fs::PermissionsExt;
        let backup = dir.join("backups/during-uploads");
        assert_eq!(std::fs::metadata(&backup).expect("backup").permissions().mode() & 0o777, 0o700);
        for file in std::fs::read_dir(&backup).expect("backup") {
            assert_eq!(file.expect("file").metadata().expect("meta").permissions().mode() & 0o077, 0, "a backup file is private");
        }
    }
    for mut upload in uploads {
        upload.wait().expect("upload ends");
    }
    for (agency, file) in &files[2..] {
        ok(&upload(&keys, &url, agency, file));
    }
    ok(&braid_as(&keys, "admin", &["admin", "relink", "--node", &url]));
    let original = stats(&keys, &url);
    assert_eq!(original["records"].as_u64(), Some(expected as u64));
    // A name that is a path is refused.
    let refused = failed(&braid_as(&keys, "admin", &["admin", "backup", "--node", &url, "--out", "../elsewhere"]));
    assert!(refused.contains("backup name"), "{refused}");
    // Two backups asked for at once: one is written, and the other is
    // refused in words (two checkpoints at once failed each other with
    // RocksDB's errors and left no backup).
    let both: Vec<std::process::Output> = std::thread::scope(|scope| {
        let asks: Vec<_> =
            ["twin-a", "twin-b"].map(|name| scope.spawn(|| braid_as(&keys, "admin", &["admin", "backup", "--node", &url, "--out", name]))).into();
        asks.into_iter().map(|ask| ask.join().expect("backup call")).collect()
    });
    assert!(both.iter().any(|output| output.status.success()), "{both:?}");
    for output in both.iter().filter(|output| !output.status.success()) {
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains("another backup is being written"), "{said}");
    }
    node.kill();

    // A damaged copy of the backup (bytes overwritten in its largest file)
    // is refused as damaged, and leaves nothing behind.
    let restored = dir.join("restored");
    // A restore names where it goes: never a default directory the
    // operator did not choose.
    let nowhere = Command::new(node_binary())
        .arg("--restore")
        .arg(dir.join("backups/during-uploads"))
        .current_dir(dir)
        .env_remove("BRAID_DATA_DIR")
        .output()
        .expect("restore");
    assert!(!nowhere.status.success() && String::from_utf8_lossy(&nowhere.stderr).contains("--restore needs --data-dir"), "{nowhere:?}");
    assert!(!dir.join("braid-data").exists());
    let damaged = dir.join("damaged-backup");
    std::fs::create_dir(&damaged).expect("dir");
    let mut largest = (0, PathBuf::new());
    for file in std::fs::read_dir(dir.join("backups/during-uploads")).expect("backup") {
        let file = file.expect("file");
        let copy = damaged.join(file.file_name());
        let size = std::fs::copy(file.path(), &copy).expect("copy");
        if size > largest.0 && file.file_name().to_string_lossy().ends_with(".sst") {
            largest = (size, copy);
        }
    }
    let mut bytes = std::fs::read(&largest.1).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0xff);
    std::fs::write(&largest.1, bytes).expect("damage");
    let refused = Command::new(node_binary()).arg("--restore").arg(&damaged).arg("--data-dir").arg(&restored).output().expect("restore");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("is damaged or incomplete, nothing was restored"), "{stderr}");
    assert!(!restored.exists(), "a refused restore leaves no directory");
    assert_eq!(std::fs::read_dir(dir).expect("dir").filter(|e| e.as_ref().expect("entry").file_name().to_string_lossy().contains("restoring")).count(), 0);

    // Restore into a new directory: the copy verifies, the node starts on
    // it and holds at least what was uploaded before the backup.
    let restore =
        Command::new(node_binary()).arg("--restore").arg(dir.join("backups/during-uploads")).arg("--data-dir").arg(&restored).output().expect("restore");
    assert!(restore.status.success(), "{}", String::from_utf8_lossy(&restore.stderr));
    let said = String::from_utf8_lossy(&restore.stdout);
    assert!(said.contains("audit log verified") && said.contains("checksums checked") && said.contains("since then are not in it"), "{said}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&restored).expect("restored").permissions().mode() & 0o777, 0o700, "the restored store is private");
    let again =
        Command::new(node_binary()).arg("--restore").arg(dir.join("backups/during-uploads")).arg("--data-dir").arg(&restored).output().expect("restore");
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("not empty"), "a restore never overwrites");

    // A restore cut short while moving its checked files up (half moved,
    // half still staged): the node will not start on it, and the next
    // restore moves the checked copy into place, deleting nothing.
    let cut = dir.join("cut-short");
    let restore_into = |target: &Path| {
        Command::new(node_binary()).arg("--restore").arg(dir.join("backups/during-uploads")).arg("--data-dir").arg(target).output().expect("restore")
    };
    assert!(restore_into(&cut).status.success());
    let mut names: Vec<_> = std::fs::read_dir(&cut).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    names.sort();
    let staging = cut.join(".restoring");
    std::fs::create_dir(&staging).expect("staging");
    for name in &names[..names.len() / 2] {
        std::fs::rename(cut.join(name), staging.join(name)).expect("stage");
    }
    std::fs::write(cut.join(".restore-moving"), b"").expect("marker");
    let node_on = |data: &Path, check: bool| {
        let mut command = Command::new(node_binary());
        if check {
            command.arg("--check-config");
        }
        command.arg("--config").arg(&config).arg("--data-dir").arg(data).output().expect("run braid-node")
    };
    for check in [true, false] {
        let refused = node_on(&cut, check);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success() && stderr.contains("holds a restore that was cut short"), "check-config {check}: {stderr}");
    }
    let over = restore_into(&cut);
    let said = String::from_utf8_lossy(&over.stdout);
    assert!(over.status.success() && said.contains("cut short while moving it into place"), "{said} {}", String::from_utf8_lossy(&over.stderr));
    let mut after: Vec<_> = std::fs::read_dir(&cut).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    after.sort();
    assert_eq!(after, names, "the same files as a restore that was not cut short");
    let node = start_with(&restored);
    let url = node.url();
    let held = stats(&keys, &url)["records"].as_u64().expect("records");
    assert!(held >= before && held <= expected as u64, "{before} ≤ {held} ≤ {expected}");
    let verified = ok(&braid_as(&keys, "auditor", &["audit", "verify", "--node", &url, "--saved", &saved]));
    assert!(verified.contains("consistent with 1 saved checkpoints"), "{verified}");
    // Every upload resumes against the restored node: nothing lost, nothing
    // twice, and the same profiles once re-decided.
    for (agency, file) in &files {
        ok(&upload(&keys, &url, agency, file));
    }
    ok(&braid_as(&keys, "admin", &["admin", "relink", "--node", &url]));
    let resumed = stats(&keys, &url);
    for count in ["records", "involvements", "profiles"] {
        assert_eq!(resumed[count], original[count], "{count}: {resumed} against {original}");
    }
    node.kill();
}

#[test]
fn check_config_names_every_problem_without_starting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys");
    ok(&braid(&["keys", "init", "--out", &keys.display().to_string()]));
    let check = |config: &str, extra: &[&str]| {
        let path = dir.path().join("node.toml");
        std::fs::write(&path, config).expect("write config");
        Command::new(node_binary())
            .arg("--check-config")
            .arg("--config")
            .arg(&path)
            .arg("--tls")
            .arg(keys.join("node"))
            .args(extra)
            .output()
            .expect("run braid-node")
    };
    let policy = keys.join("node/policy.toml");
    let good = check(&format!("policy = {policy:?}\n[partnerships]\nnorth = [\"CSC-NORTH\", \"POL-NORTH\"]\n"), &[]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(String::from_utf8_lossy(&good.stdout).contains("configuration OK"));

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(keys.join("node/node.key"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let bad = check(&format!("policy = {policy:?}\n[partnerships]\nnorth = [\"CSC-NORTH\", \"CSC-NROTH\"]\n[agencies]\nCSC-NORTH = \"social care\"\n"), &[]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    for problem in ["CSC-NROTH, which no principal in the policy uploads for", "can be read by others", "is not an agency type; it must be one of"] {
        assert!(stderr.contains(problem), "`{problem}` not in: {stderr}");
    }
    std::fs::set_permissions(keys.join("node/node.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // A data directory that is a file is named as one.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").expect("file");
    let on_file = check(
        &format!(
            "policy = {policy:?}
data_dir = {file:?}
"
        ),
        &[],
    );
    assert!(String::from_utf8_lossy(&on_file.stderr).contains("is a file, not a directory"), "{}", String::from_utf8_lossy(&on_file.stderr));

    // Configurations that would start and then not work: both listeners on
    // one port, a panel granted for a partnership nobody defined, an
    // upload grant for an agency [agencies] lacks, and an empty policy
    // (every caller refused).
    let same_port = check(
        &format!(
            "policy = {policy:?}
listen = \"127.0.0.1:7443\"\noperations_listen = \"127.0.0.1:7443\"\n"
        ),
        &[],
    );
    assert!(!same_port.status.success());
    assert!(String::from_utf8_lossy(&same_port.stderr).contains("would take the same address"), "{}", String::from_utf8_lossy(&same_port.stderr));
    let unused = check(
        &format!(
            "policy = {policy:?}
[partnerships]
south = [\"YOT-SOUTH\"]
[agencies]
YOT-SOUTH = \"yot\"
"
        ),
        &[],
    );
    let stderr = String::from_utf8_lossy(&unused.stderr);
    assert!(!unused.status.success());
    assert!(stderr.contains("a panel of `north`, which no [partnerships] entry defines"), "{stderr}");
    assert!(stderr.contains("upload for CSC-NORTH, which [agencies] does not name"), "{stderr}");
    let empty = dir.path().join("empty-policy.toml");
    std::fs::write(&empty, "").expect("write");
    let nobody = check(
        &format!(
            "policy = {empty:?}
"
        ),
        &[],
    );
    assert!(!nobody.status.success());
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("names no principal"), "{}", String::from_utf8_lossy(&nobody.stderr));

    // A client certificate installed as the node's: every client would
    // refuse the handshake, so the node says so before it starts.
    std::fs::copy(keys.join("admin/client.crt"), keys.join("node/node.crt")).expect("copy certificate");
    std::fs::copy(keys.join("admin/client.key"), keys.join("node/node.key")).expect("copy key");
    let client_certificate = check(&format!("policy = {policy:?}\n"), &[]);
    assert!(!client_certificate.status.success());
    let stderr = String::from_utf8_lossy(&client_certificate.stderr);
    assert!(stderr.contains("does not include server authentication"), "{stderr}");
}

/// Starts `braid-node` with `--log-format format` and stderr captured,
/// waits until it listens, stops it with SIGTERM and returns (stdout,
/// stderr).
fn logged_run(keys: &Path, data: &Path, format: &str) -> (String, String) {
    let node_dir = keys.join("node");
    let mut command = Command::new(node_binary());
    command
        .args(["--log-format", format, "--listen", "127.0.0.1:0", "--operations-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .arg("--tls")
        .arg(&node_dir)
        .arg("--policy")
        .arg(node_dir.join("policy.toml"));
    let (status, stdout, stderr) = spawn_listening(&mut command).terminate();
    assert!(status.success(), "{stderr}");
    (stdout, stderr)
}

#[test]
fn logs_go_to_stderr_as_json_lines_or_plain_text_and_say_what_start_up_did() {
    let prepared = prepare(30);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    // Something to rebuild and verify on the next start.
    start(&keys, data.path()).kill();

    let (stdout, stderr) = logged_run(Path::new(&keys), data.path(), "json");
    assert!(stdout.is_empty(), "logs stay off stdout: {stdout}");
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))).collect();
    let message = |text: &str| lines.iter().find(|l| l["fields"]["message"] == text).unwrap_or_else(|| panic!("no `{text}` in {stderr}"));
    assert!(message("index rebuilt")["fields"]["involvements"].is_u64(), "{stderr}");
    assert!(message("audit log verified")["fields"]["entries"].is_u64(), "{stderr}");
    message("shutting down");

    let (_, text) = logged_run(Path::new(&keys), data.path(), "text");
    assert!(text.contains("index rebuilt") && text.contains("audit log verified"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour codes when stderr is not a terminal: {text}");

    // A linkage model stored by an earlier version (other comparison
    // levels) is fitted afresh, with a warning that says what to run; the
    // node still starts.
    {
        let store = braid_store::Store::open(data.path()).expect("store");
        let mut set = braid_store::WriteSet::new();
        set.put_model(vec![2u8; 64]);
        store.write(set).expect("write");
    }
    let (_, text) = logged_run(Path::new(&keys), data.path(), "text");
    assert!(text.contains("stored linkage model is from an earlier version") && text.contains("braid admin relink"), "{text}");
}
