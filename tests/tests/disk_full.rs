//! A full disk, through the real `braid-node` and `braid` binaries on a
//! small tmpfs mounted in a private mount namespace (`unshare`, as root):
//! changes are refused before RocksDB meets the full disk while reads go on
//! and readiness says why; SIGTERM stops the node cleanly; it restarts on a
//! full disk (releasing its reserve); a write that does meet a full disk
//! makes the node exit for a restart; and once space is freed everything
//! recovers by itself, nothing acknowledged lost.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use braid_tests::*;

/// A tmpfs of `mib` MiB at `at`, seen only by processes run through
/// [`Tmpfs::command`]; the test reaches it through `/proc/PID/root`.
struct Tmpfs {
    holder: Child,
    at: PathBuf,
}

impl Tmpfs {
    fn mount(at: &Path, mib: u64) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mount point");
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!("mount -t tmpfs -o size={mib}m braid-disk-test {} && echo mounted && exec sleep 100000", at.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run unshare (util-linux)");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
        if line.trim() != "mounted" {
            let mut error = String::new();
            let _ = holder.stderr.take().expect("stderr").read_to_string(&mut error);
            panic!("could not mount a tmpfs in a private mount namespace (this test runs as root): {error}");
        }
        Tmpfs { holder, at: at.to_owned() }
    }

    /// `program` run inside the namespace that sees the tmpfs.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("nsenter");
        command.arg(format!("--mount=/proc/{}/ns/mnt", self.holder.id())).arg("--").arg(program);
        command
    }

    /// A path inside the tmpfs, as this process reaches it.
    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{}", self.holder.id(), self.at.display())).join(name)
    }

    /// Fills the tmpfs with `name` until the disk is full, then frees
    /// `leave` bytes of it.
    fn fill(&self, name: &str, leave: u64) {
        let mut file = std::fs::File::create(self.path(name)).expect("filler");
        // Large writes first, then ever smaller ones down to a byte, so
        // that no part of a page is left free (a write that fails half-way
        // would otherwise leave up to a chunk free once truncated).
        let chunk = vec![0xa5u8; 256 * 1024];
        let (mut written, mut size) = (0u64, chunk.len());
        loop {
            match file.write(&chunk[..size]) {
                Ok(n) if n > 0 => written += n as u64,
                _ if size > 1 => size /= 2,
                _ => break,
            }
        }
        let _ = file.flush();
        drop(file);
        let file = std::fs::OpenOptions::new().write(true).open(self.path(name)).expect("filler");
        file.set_len(written.saturating_sub(leave)).expect("shrink the filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address")
}

/// One plain HTTP GET on the operations listener: (status, body).
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the operations listener");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default())
}

/// Polls `/readyz` until it answers `want` (200 and "ready\n": uploads
/// accepted; 200 and a body saying the disk is nearly full: reads only).
fn wait_ready(operations: SocketAddr, want: &str) -> String {
    let started = Instant::now();
    loop {
        let (status, body) = get(operations, "/readyz");
        let matches = status == 200 && if want == "ready" { body == "ready\n" } else { body.contains(want) };
        if matches {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "/readyz stayed {status}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Node {
    child: Child,
    log: PathBuf,
}

impl Node {
    fn start(disk: &Tmpfs, config: &Path, log: &Path, address: SocketAddr) -> Node {
        let node = braid_binary().with_file_name("braid-node");
        let child = disk
            .command(&node)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .env("RUST_BACKTRACE", "0")
            .stdout(std::fs::File::create(log).expect("node log"))
            .stderr(std::fs::File::create(log.with_extension("err")).expect("node errors"))
            .spawn()
            .expect("start braid-node");
        let started = Instant::now();
        let mut node = Node { child, log: log.to_owned() };
        while TcpStream::connect(address).is_err() {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("braid-node exited ({status}): {}", node.log());
            }
            assert!(started.elapsed() < Duration::from_secs(60), "braid-node did not start: {}", node.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    fn log(&self) -> String {
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        read(&self.log) + &read(&self.log.with_extension("err"))
    }

    /// Waits (at most a minute) for the node to exit by itself.
    fn exits(mut self) -> (ExitStatus, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, self.log());
            }
            assert!(started.elapsed() < Duration::from_secs(60), "braid-node did not exit: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn terminate(self) -> (ExitStatus, String) {
        let killed = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill");
        assert!(killed.success());
        self.exits()
    }
}

fn write_config(path: &Path, keys: &str, data: &Path, address: SocketAddr, operations: SocketAddr, min_free_mb: u64) {
    let node_dir = Path::new(keys).join("node");
    std::fs::write(
        path,
        format!(
            "listen = \"{address}\"\noperations_listen = \"{operations}\"\ndata_dir = {:?}\npolicy = {:?}\n\
             [partnerships]\nnorth = {:?}\n\
             [tls]\ncertificate = {:?}\nprivate_key = {:?}\nclient_ca = {:?}\n\
             [storage]\nreserve_mb = 12\nmin_free_mb = {min_free_mb}\n",
            data,
            node_dir.join("policy.toml"),
            AGENCIES,
            node_dir.join("node.crt"),
            node_dir.join("node.key"),
            node_dir.join("ca.crt"),
        ),
    )
    .expect("write config");
}

fn records(keys: &str, url: &str) -> u64 {
    stats(keys, url)["records"].as_u64().expect("records")
}

#[test]
fn a_full_disk_refuses_changes_keeps_reads_and_recovers_by_itself() {
    let prepared = prepare(150);
    let keys = prepared.path("keys");
    let dir = prepared.dir.path();
    let data = dir.join("data");
    let disk = Tmpfs::mount(&data, 56);
    let (address, operations) = (free_port(), free_port());
    let url = format!("https://{address}");
    let config = dir.join("node.toml");
    write_config(&config, &keys, &data, address, operations, 10);
    let file = |agency: &str| prepared.path(&format!("{agency}.bpx"));
    let count = |agency: &str| read_extract(Path::new(&file(agency))).1.len() as u64;
    let record_ref = read_extract(Path::new(&file("CSC-NORTH"))).1[0].record_ref.clone();
    let log = |n: u32| dir.join(format!("node-{n}.log"));

    // Room: the reserve is made and an upload is stored.
    let node = Node::start(&disk, &config, &log(1), address);
    ok(&upload(&keys, &url, "CSC-NORTH", &file("CSC-NORTH")));
    wait_ready(operations, "ready");
    assert!(disk.path("braid.reserve").exists(), "the reserve is made");
    let stored = records(&keys, &url);
    assert_eq!(stored, count("CSC-NORTH"));

    // Nearly full: changes are refused with a clear error before RocksDB
    // meets the full disk; readiness and the metrics say why; reads go on.
    disk.fill("filler", 4 << 20);
    // Still in rotation for reads (200), saying why uploads are refused.
    let body = wait_ready(operations, "nearly full");
    assert!(body.contains("uploads and other changes are refused"), "{body}");
    assert_eq!(get(operations, "/healthz").0, 200, "alive: a restart would not help");
    assert!(get(operations, "/metrics").1.contains("data_disk_low 1"));
    let refused = failed(&upload(&keys, &url, "POL-NORTH", &file("POL-NORTH")));
    assert!(refused.contains("disk is nearly full") && refused.contains("reads continue"), "{refused}");
    assert_eq!(records(&keys, &url), stored, "reads are served (and audited)");
    let profile = ok(&panel(&keys, "profile", &url, "north", &["--agency", "CSC-NORTH", "--record-ref", &record_ref]));
    assert!(profile.contains(&record_ref), "{profile}");
    assert!(node.log().contains("disk is nearly full"), "{}", node.log());

    // SIGTERM on a nearly full disk: a clean stop.
    let (status, text) = node.terminate();
    assert!(status.success(), "{status}: {text}");
    assert!(!text.contains("Assertion"), "{text}");

    // Completely full: the node still starts (its reserve makes room),
    // serves reads and refuses changes.
    disk.fill("filler-2", 0);
    let node = Node::start(&disk, &config, &log(2), address);
    assert!(node.log().contains("reserve was released"), "{}", node.log());
    assert_eq!(records(&keys, &url), stored);
    assert!(failed(&upload(&keys, &url, "POL-NORTH", &file("POL-NORTH"))).contains("nearly full"));

    // Space freed: uploads are accepted again without a restart.
    std::fs::remove_file(disk.path("filler")).expect("free space");
    std::fs::remove_file(disk.path("filler-2")).expect("free space");
    wait_ready(operations, "ready");
    ok(&upload(&keys, &url, "POL-NORTH", &file("POL-NORTH")));
    let stored = records(&keys, &url);
    assert_eq!(stored, count("CSC-NORTH") + count("POL-NORTH"));
    let (status, text) = node.terminate();
    assert!(status.success(), "{status}: {text}");

    // With no free-space margin, a write meets the full disk: the node
    // stops by itself for its supervisor to restart it — exit status 75
    // after releasing its reserve, or, when RocksDB's own assertion fires
    // first, an abort (as a crash, which loses nothing acknowledged).
    write_config(&config, &keys, &data, address, operations, 0);
    let node = Node::start(&disk, &config, &log(3), address);
    wait_ready(operations, "ready");
    disk.fill("filler", 0);
    let upload_failed = upload(&keys, &url, "VOL-NORTH", &file("VOL-NORTH"));
    assert!(!upload_failed.status.success());
    let (status, text) = node.exits();
    use std::os::unix::process::ExitStatusExt;
    let released_on_exit = status.code() == Some(75) && text.contains("reserve was released");
    assert!(released_on_exit || status.signal() == Some(6), "{status}: {text}");

    // Restarted while the disk is still full: reads, no changes.
    let node = Node::start(&disk, &config, &log(4), address);
    assert!(released_on_exit || node.log().contains("reserve was released"), "{}", node.log());
    assert_eq!(records(&keys, &url), stored, "nothing acknowledged was lost");
    assert!(failed(&upload(&keys, &url, "VOL-NORTH", &file("VOL-NORTH"))).contains("nearly full"));

    // Space freed: the upload resumes and completes; the audit log verifies.
    std::fs::remove_file(disk.path("filler")).expect("free space");
    wait_ready(operations, "ready");
    ok(&upload(&keys, &url, "VOL-NORTH", &file("VOL-NORTH")));
    assert_eq!(records(&keys, &url), count("CSC-NORTH") + count("POL-NORTH") + count("VOL-NORTH"));
    let verified = ok(&braid_as(&keys, "auditor", &["audit", "verify", "--node", &url]));
    assert!(verified.contains("audit log verified"), "{verified}");
    let (status, text) = node.terminate();
    assert!(status.success(), "{status}: {text}");
}

#[test]
fn a_store_in_the_api_encoding_starts_on_a_nearly_full_disk_and_moves_once_there_is_room() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys").display().to_string();
    ok(&braid(&["keys", "init", "--out", &keys, "--partnership", "north"]));
    let data = dir.path().join("data");
    let disk = Tmpfs::mount(&data, 40);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-api-encoded");
    for entry in std::fs::read_dir(fixture.join("store")).expect("fixture store") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), disk.path(&entry.file_name().to_string_lossy())).expect("copy the fixture");
    }
    let answers: serde_json::Value = json(&std::fs::read_to_string(fixture.join("answers.json")).expect("answers"));
    let (address, operations) = (free_port(), free_port());
    let url = format!("https://{address}");
    let config = dir.path().join("node.toml");
    write_config(&config, &keys, &data, address, operations, 10);
    let signals = || ok(&panel(&keys, "signals", &url, "north", &["--limit", "100000", "--json"]));

    // Room to open the store but less than the free-space minimum: the
    // node starts and answers from the records as they are, moving none.
    disk.fill("filler", 9 << 20);
    let node = Node::start(&disk, &config, &dir.path().join("node-1.log"), address);
    wait_ready(operations, "nearly full");
    assert_eq!(signals(), answers["signals"].as_str().expect("signals"));
    let (status, text) = node.terminate();
    assert!(status.success(), "{status}: {text}");
    let (all, moved) = record_schemas(&disk.path(""));
    assert!(all > 100 && moved == 0, "{moved} of {all} records moved on a nearly full disk");

    // Space freed: the next start moves every record, and the answers stay.
    std::fs::remove_file(disk.path("filler")).expect("free space");
    let node = Node::start(&disk, &config, &dir.path().join("node-2.log"), address);
    wait_ready(operations, "ready");
    assert_eq!(signals(), answers["signals"].as_str().expect("signals"));
    assert!(node.log().contains("moved to the node's own record schema"), "{}", node.log());
    let (status, text) = node.terminate();
    assert!(status.success(), "{status}: {text}");
    assert_eq!(record_schemas(&disk.path("")), (all, all));
}
