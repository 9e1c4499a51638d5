//! Console page times (a bench binary, run with `cargo bench -p braid-benches
//! --bench console`): the demo's data (2,000 synthetic children;
//! `BRAID_BENCH_CONSOLE_CHILDREN` to change) in a real node on loopback,
//! the real `braid console` binary in front of it as a panel member, an
//! auditor and an agency, and each page asked for over HTTP as a browser
//! would (with the session cookie), from request to the last byte of the
//! page. Prints p50, p99 and the worst time of each page against the
//! target of 300 ms. `BRAID_BENCH_CONSOLE_ONLY=signals` times only the
//! pages whose names contain that text (for a large store).

/// The allocator `braid-node` runs with, so the figures are its figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use braid_benches as common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use braid_node::Engine;

/// Times each page is asked for.
const ROUNDS: usize = 30;
/// The target for every page.
const TARGET: Duration = Duration::from_millis(300);

/// A console process, stopped when dropped.
struct Console {
    child: Child,
    port: u16,
    cookie: String,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange: (status, header block in lower case, body).
fn http(port: u16, method: &str, path: &str, cookie: Option<&str>, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the console");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    (status, head.to_lowercase(), body.to_owned())
}

/// Starts `braid console` as the holder of `bundle` and opens its session.
fn console(url: &str, bundle: &std::path::Path, role: &str, agency: Option<&str>) -> Console {
    let mut command = Command::new(common::braid_binary());
    command.args(["console", "--node", url, "--tls", &bundle.display().to_string(), "--role", role]);
    if let Some(agency) = agency {
        command.args(["--agency", agency]);
    }
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start braid console");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    while !line.contains("token=") {
        line.clear();
        assert!(out.read_line(&mut line).expect("read") > 0, "the console printed no link");
    }
    let link = line.split_whitespace().find(|w| w.contains("token=")).expect("link").to_owned();
    let port: u16 = link.split("127.0.0.1:").nth(1).and_then(|rest| rest.split('/').next()).and_then(|p| p.parse().ok()).expect("port");
    let token = link.split("token=").nth(1).expect("token");
    let (_, head, _) = http(port, "GET", &format!("/?token={token}"), None, "");
    // (The header block comes back in lower case; the cookie's name and
    // value are lower case already.)
    let cookie = head.lines().find_map(|l| l.strip_prefix("set-cookie: ")).and_then(|c| c.split(';').next()).expect("a session cookie").to_owned();
    Console { child, port, cookie }
}

/// Asks for `path` `ROUNDS` times; prints p50, p99 and the worst.
fn time_page(console: &Console, name: &str, path: &str) -> Duration {
    if std::env::var("BRAID_BENCH_CONSOLE_ONLY").is_ok_and(|only| !name.contains(&only)) {
        return Duration::ZERO;
    }
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let (status, _, body) = http(console.port, "GET", path, Some(&console.cookie), "");
        times.push(started.elapsed());
        assert_eq!(status, 200, "{name}: {body}");
    }
    times.sort();
    let at = |share: f64| times[((times.len() as f64 * share).ceil() as usize).clamp(1, times.len()) - 1];
    let worst = *times.last().expect("times");
    println!(
        "{name:<44} p50 {:>6.1} ms  p99 {:>6.1} ms  worst {:>6.1} ms  {}",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0,
        if worst <= TARGET { "within 300 ms" } else { "OVER 300 ms" }
    );
    worst
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // Drives the `braid` binary: found (or said to be missing) first.
    common::braid_binary();
    let children: usize = std::env::var("BRAID_BENCH_CONSOLE_CHILDREN").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let engine = Engine::open(dir.path(), None, 5000, Default::default()).expect("open");
        let (_, involvements) = tokio::task::block_in_place(|| common::fill(&engine, children, "console-bench"));
        println!("store: {involvements} involvements from {children} children");
    }
    let keys_dir = tempfile::tempdir().expect("keys dir");
    common::development_keys(keys_dir.path(), &["north"]);
    let node = braid_node::spawn(braid_node::NodeConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        operations_listen: None,
        data_dir: dir.path().to_path_buf(),
        tls: Some(braid_node::TlsFiles::in_dir(&keys_dir.path().join("node"))),
        policy: Some(keys_dir.path().join("node/policy.toml")),
        partnerships: [("north".to_owned(), common::AGENCIES.iter().map(|a| (*a).to_owned()).collect())].into(),
        ..braid_node::NodeConfig::default()
    })
    .await
    .expect("start node");
    let url = node.url();

    tokio::task::block_in_place(|| {
        // A panel member's session, past the purpose form.
        let panel = console(&url, &keys_dir.path().join("panel-north"), "panel", None);
        let (_, _, start) = http(panel.port, "GET", "/start", Some(&panel.cookie), "");
        let csrf = start.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("the form's CSRF token").to_owned();
        let (status, _, _) =
            http(panel.port, "POST", "/start", Some(&panel.cookie), &format!("csrf={csrf}&partnership=north&purpose=page+times&case_reference=BENCH-1"));
        assert!(status == 303 || status == 302, "the purpose form: {status}");
        // A profile with a network: the first signal's.
        let (_, _, signals) = http(panel.port, "GET", "/signals", Some(&panel.cookie), "");
        let profile = signals.split("href=\"/profile/").nth(1).and_then(|rest| rest.split('"').next()).expect("a profile link").to_owned();

        let mut worst = Duration::ZERO;
        for (name, path) in [
            ("panel: start (purpose form)", "/start".to_owned()),
            ("panel: signals, first page", "/signals".to_owned()),
            ("panel: signals, page 3", "/signals?page=3".to_owned()),
            ("panel: signals, one kind, current only", "/signals?kind=revictimisation&current=1".to_owned()),
            ("panel: profile", format!("/profile/{profile}")),
            ("panel: network", format!("/network/{profile}")),
            ("panel: report, one item", "/report?by=victim.sex".to_owned()),
            ("panel: report, two items", "/report?by=victim.ethnicity&by2=case_type".to_owned()),
            ("panel: report, multi-choice by agency", "/report?by=context.locations&by2=agency".to_owned()),
            ("panel: agencies together", "/services".to_owned()),
            ("panel: outcomes, CSA cohort", "/cohort?cohort=case_type:CSA".to_owned()),
            ("panel: outcomes, re-victimised cohort", "/cohort?cohort=signal:revictimisation".to_owned()),
        ] {
            worst = worst.max(time_page(&panel, name, &path));
        }
        drop(panel);
        let auditor = console(&url, &keys_dir.path().join("auditor"), "auditor", None);
        for (name, path) in [
            ("auditor: audit log", "/audit".to_owned()),
            ("auditor: audit log, filtered", "/audit?action=panel.profile".to_owned()),
            ("auditor: one entry", "/audit/entry/1".to_owned()),
            ("auditor: verify (form)", "/audit/verify".to_owned()),
        ] {
            worst = worst.max(time_page(&auditor, name, &path));
        }
        drop(auditor);
        let agency = console(&url, &keys_dir.path().join("csc-north"), "agency", Some("CSC-NORTH"));
        worst = worst.max(time_page(&agency, "agency: completeness and uploads", "/agency"));
        println!(
            "worst page: {:.1} ms ({})",
            worst.as_secs_f64() * 1000.0,
            if worst <= TARGET { "every page within 300 ms" } else { "over the 300 ms target" }
        );
    });
    node.stop().await.expect("stop");
}
