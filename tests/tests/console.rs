//! The panel's web console (`braid console`) in a real browser — headless
//! Chromium driven through chromedriver (`deploy/bootstrap.sh` installs
//! both) — against a real node serving mTLS over RocksDB: the one-time link
//! starts a session, the purpose asked first is shown on every page and
//! recorded by the node with every call, signals link to profiles; and
//! nothing gets in without the link, from another host name, or by a form
//! from elsewhere.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use braid_tests::*;
use fantoccini::{ClientBuilder, Locator};

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Chrome DevTools command sent through chromedriver (WebDriver has no
/// command for print media).
#[derive(Debug)]
struct DevTools(serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

/// How an element is displayed (its computed `display`).
async fn display_of(browser: &fantoccini::Client, selector: &str) -> String {
    let script = format!("return getComputedStyle(document.querySelector({selector:?})).display");
    browser.execute(&script, Vec::new()).await.expect("computed style").as_str().unwrap_or_default().to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// One HTTP/1.1 exchange: (status, header block in lower case, body).
fn http(port: u16, method: &str, path: &str, host: &str, cookie: Option<&str>, body: &str) -> (u16, String, String) {
    http_with(port, method, path, host, cookie, "", body)
}

/// The same, with `extra` header lines (each ending in \r\n).
fn http_with(port: u16, method: &str, path: &str, host: &str, cookie: Option<&str>, extra: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the console");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    request.push_str(extra);
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    (status, head.to_lowercase(), body.to_owned())
}

/// Waits until something listens on `port`.
fn wait_for(port: u16, what: &str) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start listening on port {port}");
}

/// Waits until the browser has moved to a page whose URL `arrived` says is
/// the one a click led to (a click returns before the next page loads).
async fn arrive(browser: &fantoccini::Client, arrived: impl Fn(&url::Url) -> bool) {
    for _ in 0..200 {
        if browser.current_url().await.is_ok_and(|u| arrived(&u)) && browser.find(Locator::Css("main")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the browser did not reach the expected page: {:?}", browser.current_url().await);
}

/// Saves a screenshot of the page under the test's temp directory.
async fn snap(browser: &fantoccini::Client, name: &str) {
    let shot = browser.screenshot().await.expect("screenshot");
    assert!(shot.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("console-{name}.png")), &shot).expect("save screenshot");
}

/// Starts `braid console` as the holder of `bundle`; returns it, its
/// one-time link and its port.
fn start_console(url: &str, bundle: &str, role: &str) -> (Running, String, u16) {
    let mut child = Command::new(braid_binary())
        .args(["console", "--node", url, "--tls", bundle, "--role", role, "--partnership", "north", "--agency", "CSC-NORTH"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start braid console");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let running = Running(child);
    let first = lines.next().expect("a line").expect("read");
    let link = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no link in {first:?}")).to_owned();
    let port: u16 = link.trim_start_matches("http://127.0.0.1:").split('/').next().and_then(|p| p.parse().ok()).expect("port");
    (running, link, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_reads_signals_and_a_profile_in_a_browser_and_nothing_else_gets_in() {
    let chromedriver = std::path::Path::new("/usr/bin/chromedriver");
    assert!(chromedriver.exists(), "no /usr/bin/chromedriver: run deploy/bootstrap.sh, which installs chromium and chromium-driver");
    let prepared = prepare(400);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    for agency in AGENCIES {
        let (k, u, file) = (keys.clone(), url.clone(), prepared.path(&format!("{agency}.bpx")));
        blocking(move || ok(&upload(&k, &u, agency, &file))).await;
    }

    // The console prints its one-time link.
    let (_console, link, port) = start_console(&url, &format!("{keys}/panel-north"), "panel");
    let host = format!("127.0.0.1:{port}");
    let token = link.split("token=").nth(1).expect("token").to_owned();

    // Without the link there is no session, and every answer carries the
    // security headers; another host name is refused (DNS rebinding); a
    // wrong token is refused without using up the right one.
    let (status, head, _) = http(port, "GET", "/signals", &host, None, "");
    assert_eq!(status, 403, "{head}");
    assert!(head.contains("content-security-policy: default-src 'none'; style-src 'self'"), "{head}");
    assert!(head.contains("x-frame-options: deny") && head.contains("cache-control: no-store"), "{head}");
    let (status, _, _) = http(port, "GET", &format!("/?token={token}"), &format!("attacker.example:{port}"), None, "");
    assert_eq!(status, 421, "another host name must be refused");
    let (status, _, _) = http(port, "GET", "/?token=0000", &host, None, "");
    assert_eq!(status, 403);

    // The console will not listen beyond this machine.
    let (k, u) = (keys.clone(), url.clone());
    let refused = blocking(move || failed(&braid(&["console", "--node", &u, "--tls", &format!("{k}/panel-north"), "--listen", "0.0.0.0:0"]))).await;
    assert!(refused.contains("loopback"), "{refused}");

    // Connections that never finish their headers are closed, and no more
    // than 64 are held at once: one beyond them is closed at once.
    let stalled_host = host.clone();
    let (beyond, stalled_for) = blocking(move || {
        use std::io::{Read, Write};
        let stall = || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream.write_all(format!("GET / HTTP/1.1\r\nHost: {stalled_host}\r\n").as_bytes()).expect("write");
            stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).expect("timeout");
            stream
        };
        // Closed by the console: an end of stream or a reset, not the
        // read timing out.
        let closed = |stream: &mut std::net::TcpStream| match stream.read(&mut [0u8; 64]) {
            Ok(n) => n == 0,
            Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        };
        let started = std::time::Instant::now();
        let mut held: Vec<std::net::TcpStream> = (0..64).map(|_| stall()).collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut extra = stall();
        let beyond = closed(&mut extra);
        assert!(closed(&mut held[0]), "a stalled connection is closed");
        (beyond, started.elapsed())
    })
    .await;
    assert!(beyond, "a connection beyond the limit is closed at once");
    assert!(stalled_for < std::time::Duration::from_secs(30), "stalled headers are timed out: {stalled_for:?}");

    // A real browser opens the link.
    let driver_port = free_port();
    let driver = Running(
        Command::new(chromedriver).arg(format!("--port={driver_port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start chromedriver"),
    );
    wait_for(driver_port, "chromedriver");
    let profile_dir = tempfile::tempdir().expect("browser profile");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--window-size=1280,900", format!("--user-data-dir={}", profile_dir.path().display()),
            ],
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a browser session");

    browser.goto(&link).await.expect("open the link");
    let current = browser.current_url().await.expect("url");
    assert_eq!(current.path(), "/start", "the link leads to the purpose form");
    // The link is spent.
    let (status, _, _) = http(port, "GET", &format!("/?token={token}"), &host, None, "");
    assert_eq!(status, 403, "the link works once");
    // The session cookie is HttpOnly and SameSite=Strict.
    let cookie = browser.get_named_cookie(&format!("braid_session_{port}")).await.expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let session = format!("braid_session_{port}={}", cookie.value());

    // A form posted without the page's CSRF token is refused, even with
    // the session cookie.
    let (status, _, _) = http(port, "POST", "/start", &host, Some(&session), "csrf=forged&partnership=north&purpose=x&case_reference=y");
    assert_eq!(status, 403, "a form from elsewhere must be refused");
    // A page of another site (even another port of this machine, which a
    // browser sends the cookie from) may not read through the session.
    let (status, _, _) = http_with(port, "GET", "/start", &host, Some(&session), "Sec-Fetch-Site: same-site\r\n", "");
    assert_eq!(status, 403, "a request from another site must be refused");
    let (status, _, _) = http_with(port, "GET", "/start", &host, Some(&session), "Sec-Fetch-Site: same-origin\r\n", "");
    assert_eq!(status, 200);

    // A blank purpose is refused by the console itself, not only by the
    // browser's form checks.
    let start_page = http(port, "GET", "/start", &host, Some(&session), "").2;
    let csrf = start_page.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("the form's CSRF token").to_owned();
    let (status, _, _) = http(port, "POST", "/start", &host, Some(&session), &format!("csrf={csrf}&partnership=north&purpose=+&case_reference=R-1"));
    assert_eq!(status, 400, "a blank purpose must be refused");
    snap(&browser, "start").await;

    let purpose = "console test: monthly CSE panel";
    browser.find(Locator::Id("purpose")).await.expect("purpose field").send_keys(purpose).await.expect("type");
    browser.find(Locator::Id("case_reference")).await.expect("reference field").send_keys("MACE-26-12").await.expect("type");
    browser.find(Locator::Css("button[type=submit]")).await.expect("continue").click().await.expect("click");
    arrive(&browser, |u| u.path() == "/signals").await;
    snap(&browser, "signals").await;

    // Signals, newest first, each linking to its profile; the purpose on
    // the page.
    let heading = browser.find(Locator::Css("main h1")).await.expect("heading").text().await.expect("text");
    assert_eq!(heading, "Signals");
    let banner = browser.find(Locator::Css("header .purpose")).await.expect("purpose banner").text().await.expect("text");
    assert!(banner.contains(purpose) && banner.contains("MACE-26-12"), "{banner}");
    let rows = browser.find_all(Locator::Css("main table tbody tr")).await.expect("rows");
    assert_eq!(rows.len(), 50, "a page of signals");
    // Paging: the next page starts where this one ended.
    let first_page = browser.find(Locator::Css("main table tbody")).await.expect("rows").text().await.expect("text");
    browser.find(Locator::LinkText("Older")).await.expect("a next page").click().await.expect("click");
    arrive(&browser, |u| u.query().is_some_and(|q| q.contains("page=2"))).await;
    let counted = browser.find(Locator::Css("main > p")).await.expect("the count").text().await.expect("text");
    assert!(counted.starts_with("Signals 51–"), "{counted}");
    let second_page = browser.find(Locator::Css("main table tbody")).await.expect("rows").text().await.expect("text");
    assert_ne!(first_page, second_page);
    browser.find(Locator::LinkText("Newer")).await.expect("back").click().await.expect("click");
    arrive(&browser, |u| u.query().is_some_and(|q| q.contains("page=1"))).await;
    // Filter by kind through the form.
    let select = browser.find(Locator::Id("kind")).await.expect("kind filter");
    select.select_by_value("revictimisation").await.expect("choose a kind");
    browser.find(Locator::Css("form.filters button")).await.expect("show").click().await.expect("click");
    arrive(&browser, |u| u.query().is_some_and(|q| q.contains("kind=revictimisation"))).await;
    let kinds: Vec<String> = {
        let mut out = Vec::new();
        for cell in browser.find_all(Locator::Css("main table tbody tr td:first-child")).await.expect("cells") {
            out.push(cell.text().await.expect("text"));
        }
        out
    };
    assert!(!kinds.is_empty() && kinds.iter().all(|k| k == "Re-victimisation"), "{kinds:?}");

    // A profile: records by agency, dates as people read them.
    browser.find(Locator::Css("main table tbody tr td a")).await.expect("a profile link").click().await.expect("click");
    arrive(&browser, |u| u.path().starts_with("/profile/")).await;
    let heading = browser.find(Locator::Css("main h1")).await.expect("heading").text().await.expect("text");
    assert!(heading.starts_with("Profile P"), "{heading}");
    let page = browser.source().await.expect("page");
    assert!(
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
            .iter()
            .any(|m| page.contains(m)),
        "dates in words"
    );
    assert!(page.contains("known victim") || page.contains("perpetrator") || page.contains("suspected victim"), "roles in words");
    snap(&browser, "profile").await;
    // The page shows what the same certificate gets from the CLI, no more.
    let profile_id = heading.trim_start_matches("Profile ").to_owned();
    let mut on_page = Vec::new();
    for row in browser.find_all(Locator::Css("main table:not(.derived):not(.outcomes) tbody tr")).await.expect("rows") {
        let cells: Vec<String> = {
            let mut out = Vec::new();
            for cell in row.find_all(Locator::Css("td")).await.expect("cells") {
                out.push(cell.text().await.expect("text"));
            }
            out
        };
        let agency = cells[0].split_whitespace().next().unwrap_or_default().to_owned();
        on_page.push((agency, cells[1].clone(), cells[2].clone()));
    }
    let (k, u, id) = (keys.clone(), url.clone(), profile_id.clone());
    let cli = blocking(move || {
        json(&ok(&braid_as(
            &k,
            "panel-north",
            &["panel", "profile", "--node", &u, "--partnership", "north", "--purpose", "console comparison", "--case-ref", "T-2", "--profile", &id, "--json"],
        )))
    })
    .await;
    let mut from_cli: Vec<(String, String, String)> = cli["profiles"][0]["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["agency"].as_str().unwrap_or_default().to_owned(),
                r["role"].as_str().unwrap_or_default().replace('_', " "),
                r["case_type"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    on_page.sort();
    from_cli.sort();
    assert_eq!(on_page, from_cli, "the console's profile is the CLI's");
    // Derived perpetrator answers: the same ones, apart from the records.
    let mut derived_on_page = Vec::new();
    for row in browser.find_all(Locator::Css("main table.derived tbody tr")).await.expect("rows") {
        let mut cells = Vec::new();
        for cell in row.find_all(Locator::Css("td")).await.expect("cells") {
            cells.push(cell.text().await.expect("text"));
        }
        derived_on_page.push((cells[1].clone(), cells[2].clone()));
    }
    let mut derived_from_cli: Vec<(String, String)> = cli["profiles"][0]["records"]
        .as_array()
        .expect("records")
        .iter()
        .flat_map(|r| r["derived"].as_array().expect("derived").iter())
        .map(|d| (d["item"].as_str().unwrap_or_default().to_owned(), d["value"].as_str().unwrap_or_default().to_owned()))
        .collect();
    derived_on_page.sort();
    derived_from_cli.sort();
    assert_eq!(derived_on_page, derived_from_cli, "the console's derived answers are the CLI's");

    // Printed, the page is a panel paper: navigation and forms go, the
    // purpose and the records stay.
    browser.issue_cmd(DevTools(serde_json::json!({ "cmd": "Emulation.setEmulatedMedia", "params": { "media": "print" } }))).await.expect("print media");
    assert_eq!(display_of(&browser, "nav").await, "none", "no navigation on paper");
    assert_ne!(display_of(&browser, "header .purpose").await, "none", "the purpose on paper");
    assert_ne!(display_of(&browser, "main table").await, "none", "the records on paper");
    snap(&browser, "profile-print").await;
    browser.issue_cmd(DevTools(serde_json::json!({ "cmd": "Emulation.setEmulatedMedia", "params": { "media": "" } }))).await.expect("screen media");
    assert_ne!(display_of(&browser, "nav").await, "none", "navigation on screen");

    // The network around the person, drawn, with its legend in words.
    browser.find(Locator::LinkText("The network around this person")).await.expect("network link").click().await.expect("click");
    arrive(&browser, |u| u.path().starts_with("/network/")).await;
    let drawn = browser.find_all(Locator::Css("div.network svg circle")).await.expect("circles");
    assert!(!drawn.is_empty(), "the person at least");
    let legend = browser.find(Locator::Css("ul.legend-keys")).await.expect("legend").text().await.expect("text");
    assert!(legend.contains("Harmed others") && legend.contains("outside the partnership"), "{legend}");
    snap(&browser, "network").await;

    // A report picked in the form: the node's table, with its legend.
    browser.find(Locator::LinkText("Reports")).await.expect("reports link").click().await.expect("click");
    arrive(&browser, |u| u.path() == "/report").await;
    browser.find(Locator::Id("by")).await.expect("rows").select_by_value("victim.sex").await.expect("choose");
    browser.find(Locator::Id("by2")).await.expect("columns").select_by_value("case_type").await.expect("choose");
    browser.find(Locator::Css("form.report button")).await.expect("show").click().await.expect("click");
    arrive(&browser, |u| u.query().is_some_and(|q| q.contains("by=victim.sex"))).await;
    let caption = browser.find(Locator::Css("table.report caption")).await.expect("a table").text().await.expect("text");
    assert!(caption.contains("victim.sex") && caption.contains("case_type"), "{caption}");
    let headers: Vec<String> = {
        let mut out = Vec::new();
        for cell in browser.find_all(Locator::Css("table.report thead th")).await.expect("headers") {
            out.push(cell.text().await.expect("text"));
        }
        out
    };
    assert!(headers.iter().any(|h| h == "CSE") && headers.last().is_some_and(|h| h == "Total"), "{headers:?}");
    snap(&browser, "report").await;
    // A small count shows as <5 and its meaning is said in words.
    browser.find(Locator::Id("by")).await.expect("rows").select_by_value("victim.age_at_referral").await.expect("choose");
    browser.find(Locator::Id("by2")).await.expect("columns").select_by_value("").await.expect("none");
    browser.find(Locator::Css("form.report button")).await.expect("show").click().await.expect("click");
    arrive(&browser, |u| u.query().is_some_and(|q| q.contains("by=victim.age_at_referral"))).await;
    let table = browser.find(Locator::Css("table.report")).await.expect("a table").text().await.expect("text");
    let legend = browser.find(Locator::Css("p.legend")).await.expect("legend").text().await.expect("text");
    assert!(table.contains("<5") && legend.contains("<5"), "{table}\n{legend}");
    // The agencies side by side, shaded.
    browser.find(Locator::LinkText("Agencies together")).await.expect("link").click().await.expect("click");
    arrive(&browser, |u| u.path() == "/services").await;
    let shaded = browser.find_all(Locator::Css("table.heat td.heat4")).await.expect("cells");
    assert!(!shaded.is_empty(), "the largest count is shaded darkest");
    snap(&browser, "services").await;
    // An address that asks for what is not there is told so, not quietly
    // given something else.
    for (path, said) in [
        ("/signals?kind=bogus", "is not a kind of signal"),
        ("/signals?page=-1", "page must be a number from 1"),
        ("/report?by=bogus", "is not an item a report can be by"),
        ("/report?by=case_type&population=bogus", "is not one of victims, harmers, all"),
    ] {
        browser.goto(&format!("http://127.0.0.1:{port}{path}")).await.expect("open");
        let refusal = browser.find(Locator::Css("div.refused")).await.expect("a refusal").text().await.expect("text");
        assert!(refusal.contains(said), "{path}: {refusal}");
    }
    // A cohort's outcomes: the node's table, as the CLI gets it.
    browser.find(Locator::LinkText("Outcomes")).await.expect("link").click().await.expect("click");
    arrive(&browser, |u| u.path() == "/cohort").await;
    browser.find(Locator::Id("cohort")).await.expect("cohorts").select_by_value("case_type:CSA").await.expect("choose");
    browser.find(Locator::Css("form.cohort button")).await.expect("show").click().await.expect("click");
    arrive(&browser, |u| u.query().is_some_and(|q| q.contains("cohort=case_type"))).await;
    let caption = browser.find(Locator::Css("table.cohort caption")).await.expect("a table").text().await.expect("text");
    let mut cohort_on_page = Vec::new();
    for row in browser.find_all(Locator::Css("table.cohort tbody tr")).await.expect("rows") {
        let outcome = row.find(Locator::Css("th")).await.expect("th").text().await.expect("text");
        let children = row.find(Locator::Css("td")).await.expect("td").text().await.expect("text");
        cohort_on_page.push((outcome, children));
    }
    let (k, u) = (keys.clone(), url.clone());
    let cli = blocking(move || {
        json(&ok(&braid_as(
            &k,
            "panel-north",
            &[
                "panel",
                "cohort",
                "--node",
                &u,
                "--partnership",
                "north",
                "--purpose",
                "console comparison",
                "--case-ref",
                "T-2",
                "--cohort",
                "case_type:CSA",
                "--json",
            ],
        )))
    })
    .await;
    let cohort_from_cli: Vec<(String, String)> = cli["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["outcome"].as_str().unwrap_or_default().to_owned(), r["children"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(cohort_on_page, cohort_from_cli, "the console's cohort is the CLI's");
    snap(&browser, "cohort").await;
    assert!(caption.contains("CSA case") && caption.contains(&format!(": {} children", cli["children"].as_str().expect("children"))), "{caption}");

    // An auditor's console: the log shows the panel's calls with their
    // purpose; an entry in full; the whole log verified against a
    // checkpoint saved earlier, uploaded through the page.
    let saved = prepared.path("saved.checkpoint");
    let (k, u, file) = (keys.clone(), url.clone(), saved.clone());
    blocking(move || ok(&braid_as(&k, "auditor", &["audit", "checkpoint", "--node", &u, "--save", &file]))).await;
    let (_auditor_console, auditor_link, auditor_port) = start_console(&url, &format!("{keys}/auditor"), "auditor");
    browser.goto(&auditor_link).await.expect("open the auditor's link");
    assert_eq!(browser.current_url().await.expect("url").path(), "/audit");
    snap(&browser, "audit").await;
    // The panel's pages are not the auditor's.
    let (status, _, _) = http(auditor_port, "GET", "/signals", &format!("127.0.0.1:{auditor_port}"), None, "");
    assert_eq!(status, 403);
    browser.find(Locator::Id("action")).await.expect("action filter").send_keys("panel.profile").await.expect("type");
    browser.find(Locator::Css("form.filters button")).await.expect("show").click().await.expect("click");
    arrive(&browser, |u| u.query().is_some_and(|q| q.contains("action=panel.profile"))).await;
    let actions: Vec<String> = {
        let mut out = Vec::new();
        for cell in browser.find_all(Locator::Css("main table tbody tr td:nth-child(5)")).await.expect("cells") {
            out.push(cell.text().await.expect("text"));
        }
        out
    };
    assert!(!actions.is_empty() && actions.iter().all(|a| a == "panel.profile"), "{actions:?}");
    let listing = browser.source().await.expect("page");
    assert!(listing.contains(purpose) && listing.contains("panel-north"), "the panel's purpose in the log");
    // The newest entry made through the console (the CLI asked too).
    let mut link = None;
    for row in browser.find_all(Locator::Css("main table tbody tr")).await.expect("rows") {
        if row.text().await.expect("text").contains(purpose) {
            link = Some(row.find(Locator::Css("td a")).await.expect("the entry's link"));
            break;
        }
    }
    link.expect("an entry with the console's purpose").click().await.expect("click");
    arrive(&browser, |u| u.path().starts_with("/audit/entry/")).await;
    let entry = browser.find(Locator::Css("main dl")).await.expect("the entry").text().await.expect("text");
    assert!(entry.contains(purpose) && entry.contains("MACE-26-12") && entry.contains("panel.profile"), "{entry}");
    browser.goto(&format!("http://127.0.0.1:{auditor_port}/audit/verify")).await.expect("verify page");
    browser.find(Locator::Id("saved")).await.expect("file field").send_keys(&saved).await.expect("choose the file");
    browser.find(Locator::Css("main form button")).await.expect("verify now").click().await.expect("click");
    let verdict = browser.wait().for_element(Locator::Css("main [role=status]")).await.expect("a verdict").text().await.expect("text");
    assert!(verdict.contains("The audit log is intact.") && verdict.contains("consistent with 1 checkpoint"), "{verdict}");
    snap(&browser, "verify").await;
    // A file that is not a checkpoint is said to be so.
    let bogus = prepared.path("bogus.checkpoint");
    std::fs::write(&bogus, "not a checkpoint\n").expect("write");
    browser.goto(&format!("http://127.0.0.1:{auditor_port}/audit/verify")).await.expect("verify page");
    browser.find(Locator::Id("saved")).await.expect("file field").send_keys(&bogus).await.expect("choose the file");
    browser.find(Locator::Css("main form button")).await.expect("verify now").click().await.expect("click");
    let alert = browser.wait().for_element(Locator::Css("main [role=alert]")).await.expect("an alert").text().await.expect("text");
    assert!(alert.contains("not a checkpoint"), "{alert}");
    // Nor is a file that is not even text (a checkpoint saved as UTF-16,
    // say): never "verified" without the checkpoint that was chosen.
    let utf16 = prepared.path("utf16.checkpoint");
    std::fs::write(&utf16, [0xff, 0xfe, b'b', 0, b'r', 0, 0xd8, 0x00]).expect("write");
    browser.goto(&format!("http://127.0.0.1:{auditor_port}/audit/verify")).await.expect("verify page");
    browser.find(Locator::Id("saved")).await.expect("file field").send_keys(&utf16).await.expect("choose the file");
    browser.find(Locator::Css("main form button")).await.expect("verify now").click().await.expect("click");
    let alert = browser.wait().for_element(Locator::Css("main [role=alert]")).await.expect("an alert").text().await.expect("text");
    assert!(alert.contains("not a checkpoint"), "{alert}");

    // An agency's console: its own completeness, nothing else.
    let (_agency_console, agency_link, agency_port) = start_console(&url, &format!("{keys}/csc-north"), "agency");
    browser.goto(&agency_link).await.expect("open the agency's link");
    assert_eq!(browser.current_url().await.expect("url").path(), "/agency");
    let heading = browser.find(Locator::Css("main h1")).await.expect("heading").text().await.expect("text");
    assert_eq!(heading, "Completeness of CSC-NORTH's records");
    let items = browser.find_all(Locator::Css("main table tbody tr")).await.expect("rows");
    assert!(items.len() >= 10, "one row per template item that applies");
    let page_text = browser.find(Locator::Css("main")).await.expect("main").text().await.expect("text");
    assert!(page_text.contains("Age at point of referral"), "the template's own wording");
    // Its uploads: the one file it sent, with what its records did; none
    // of another agency's.
    let (csc_header, csc_records) = read_extract(std::path::Path::new(&prepared.path("CSC-NORTH.bpx")));
    let (pol_header, _) = read_extract(std::path::Path::new(&prepared.path("POL-NORTH.bpx")));
    let uploads = browser.find(Locator::Css("table.uploads tbody")).await.expect("the uploads table").text().await.expect("text");
    assert!(uploads.contains(&csc_header.submission_id) && uploads.contains(&csc_records.len().to_string()) && uploads.contains("completed"), "{uploads}");
    assert!(!page_text.contains(&pol_header.submission_id), "another agency's upload on the page");
    snap(&browser, "agency").await;
    for (path, status) in [("/signals", 404), ("/audit", 404)] {
        let cookie = browser.get_named_cookie(&format!("braid_session_{agency_port}")).await.expect("cookie");
        let (got, _, _) =
            http(agency_port, "GET", path, &format!("127.0.0.1:{agency_port}"), Some(&format!("braid_session_{agency_port}={}", cookie.value())), "");
        assert_eq!(got, status, "{path} is not an agency's page");
    }
    // The node audited the console's calls as the panel member's, with the
    // purpose and reference given in the browser.
    let (k, u) = (keys.clone(), url.clone());
    let log =
        blocking(move || json(&ok(&braid_as(&k, "auditor", &["audit", "log", "--node", &u, "--caller", "panel-north", "--limit", "1000", "--json"])))).await;
    let entries = log["entries"].as_array().expect("entries");
    for action in ["panel.signals", "panel.profile"] {
        assert!(
            entries.iter().any(|e| e["action"] == action && e["purpose"] == purpose && e["case_reference"] == "MACE-26-12"),
            "no {action} entry with the console's purpose: {log}"
        );
    }
    node.stop().await.expect("stop");

    // Someone with disk access edits entry 5 of the stopped node's log. A
    // normal start refuses the log; started audit-only, the node serves it
    // as stored to auditors (and nothing to anyone else), and the
    // auditor's console names the entry.
    let stored = {
        let db = raw_db(data.path());
        let stored = stored_entries(&db);
        let (index, bytes) = stored[5].clone();
        let mut entry = <braid_audit::Entry as prost::Message>::decode(bytes.as_slice()).expect("entry");
        entry.purpose = "nothing to see here".to_owned();
        db.put_cf(db.cf_handle(braid_store::AUDIT).expect("cf"), index.to_be_bytes(), prost::Message::encode_to_vec(&entry)).expect("put");
        stored.len()
    };
    let refused = braid_node::spawn(panel_node_config(&keys, data.path())).await.err().expect("a normal start refuses the log");
    assert!(format!("{refused:#}").contains("audit entry 5:"), "{refused:#}");
    let node = braid_node::spawn(braid_node::NodeConfig { audit_only: true, ..panel_node_config(&keys, data.path()) }).await.expect("audit-only start");
    let url = node.url();
    let (k, u) = (keys.clone(), url.clone());
    let (panel_refused, cli_verdict) =
        blocking(move || (failed(&panel(&k, "signals", &u, "north", &[])), failed(&braid_as(&k, "auditor", &["audit", "verify", "--node", &u])))).await;
    assert!(panel_refused.contains("runs audit-only"), "{panel_refused}");
    assert!(cli_verdict.contains("audit entry 5:"), "{cli_verdict}");
    let (_forensic_console, forensic_link, forensic_port) = start_console(&url, &format!("{keys}/auditor"), "auditor");
    browser.goto(&forensic_link).await.expect("open the auditor's link");
    browser.goto(&format!("http://127.0.0.1:{forensic_port}/audit/verify")).await.expect("verify page");
    browser.find(Locator::Id("saved")).await.expect("file field").send_keys(&saved).await.expect("choose the file");
    browser.find(Locator::Css("main form button")).await.expect("verify now").click().await.expect("click");
    let alert = browser.wait().for_element(Locator::Css("main [role=alert]")).await.expect("a verdict").text().await.expect("text");
    assert!(alert.contains("The audit log does NOT verify.") && alert.contains("audit entry 5:"), "{alert}");
    snap(&browser, "verify-tampered").await;
    // The edited entry reads as stored, so the auditor sees what was done.
    browser.goto(&format!("http://127.0.0.1:{forensic_port}/audit/entry/5")).await.expect("entry page");
    let shown = browser.find(Locator::Css("main dl")).await.expect("the entry").text().await.expect("text");
    assert!(shown.contains("nothing to see here"), "{shown}");
    browser.close().await.expect("close the browser");
    drop(driver);
    node.stop().await.expect("stop");
    // Nothing was added to the log under examination.
    assert_eq!(stored_entries(&raw_db(data.path())).len(), stored, "the audit-only node added to the log");
}
