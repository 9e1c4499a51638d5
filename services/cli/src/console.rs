//! `braid console`: the panel's web console, served on the user's own
//! machine. It talks to the node exactly as `braid panel` does — over mTLS
//! as the holder of the certificate bundle, every call with the panel's
//! purpose and case reference, every call audited by the node — and keeps
//! nothing on disk.
//!
//! Who may use the page: only a browser on this machine that opened the
//! one-time link the console printed. The listener binds loopback only;
//! every request must name the console's own host and port (no DNS
//! rebinding); the link's token is exchanged once for a session cookie
//! (HttpOnly, SameSite=Strict); every form carries the session's CSRF
//! token; every answer carries a Content-Security-Policy that allows only
//! the console's own stylesheet (no script, no external font, image or
//! style), so the page works offline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use braid_proto::v1;
use maud::{html, Markup, DOCTYPE};

use braid_client::{NodeArgs, Transport};
use braid_proto::v1::audit_service_client::AuditServiceClient;
use braid_proto::v1::panel_service_client::PanelServiceClient;

use crate::convert::role_name;
use crate::panel::{case_type_name, outcome_name, outside_text};

/// The session cookie's name, followed by the console's port: browsers
/// share cookies between ports of one host, so two consoles on one machine
/// (a panel member's and an auditor's) keep their sessions apart.
const COOKIE: &str = "braid_session_";

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("console.css");

/// The signal kinds, as the node names them, with the words a panel reads.
const KINDS: [(&str, &str); 6] = [
    ("revictimisation", "Re-victimisation"),
    ("victim-hsb-overlap", "Victim who also displays harmful sexual behaviour"),
    ("victim-as-offender", "Victim recorded as offender"),
    ("shared-perpetrator", "Shared perpetrator"),
    ("network", "Network"),
    ("classification-conflict", "CSA/CSE classification conflict"),
];

/// Why and for which meeting the panel is looking: asked at the start of a
/// session, shown on every page and sent with every call.
#[derive(Clone, Debug)]
struct Purpose {
    partnership: String,
    purpose: String,
    case_reference: String,
}

struct Session {
    csrf: String,
    purpose: Option<Purpose>,
}

/// Whose console this is: the pages follow the certificate holder's role
/// (the node refuses anything else in any case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsoleRole {
    /// A panel member (`panel:PARTNERSHIP`): signals and profiles.
    Panel,
    /// An auditor: the audit log, its entries and checkpoints, and a
    /// verification of the whole log.
    Auditor,
    /// An agency (`agency:CODE`): the completeness of its own records
    /// against the template, nothing about other agencies.
    Agency,
}

impl ConsoleRole {
    /// The first page of a session.
    fn home(self) -> &'static str {
        match self {
            ConsoleRole::Panel => "/start",
            ConsoleRole::Auditor => "/audit",
            ConsoleRole::Agency => "/agency",
        }
    }

    /// Whether a page belongs to this role's console.
    fn serves(self, path: &str) -> bool {
        match self {
            ConsoleRole::Auditor => path.starts_with("/audit"),
            ConsoleRole::Agency => path.starts_with("/agency"),
            ConsoleRole::Panel => !path.starts_with("/audit") && !path.starts_with("/agency"),
        }
    }
}

struct Console {
    node: NodeArgs,
    role: ConsoleRole,
    /// The agency a console with the agency role speaks for.
    agency: Option<String>,
    /// The session cookie's name (with the port).
    cookie: String,
    /// The host headers a request may carry (the bound address, or
    /// `localhost` with its port).
    hosts: [String; 2],
    /// The one-time token of the printed link; taken when used.
    token: Mutex<Option<String>>,
    sessions: Mutex<HashMap<String, Session>>,
    /// The connection to the node: made for the first page, shared by every
    /// page after (the channel reconnects by itself).
    transport: tokio::sync::OnceCell<Transport>,
    partnership: Option<String>,
}

impl Console {
    async fn transport(&self) -> Result<Transport, String> {
        self.transport.get_or_try_init(|| braid_client::connect(&self.node)).await.cloned().map_err(|error| format!("{error:#}"))
    }

    async fn panel(&self) -> Result<PanelServiceClient<Transport>, String> {
        Ok(braid_client::panel_over(self.transport().await?))
    }

    async fn audit(&self) -> Result<AuditServiceClient<Transport>, String> {
        Ok(braid_client::audit_over(self.transport().await?))
    }
}

/// The node's answer, or its refusal in its own words (a node that cannot
/// be reached, or went away, said as the CLI says it).
fn reply<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> Result<T, String> {
    answer.map(tonic::Response::into_inner).map_err(|status| braid_client::no_answer(&status).unwrap_or_else(|| status.message().to_owned()))
}

/// A profile id as the node writes them (`P0000123`).
fn is_profile_id(id: &str) -> bool {
    id.len() <= 20 && id.strip_prefix('P').is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
}

fn random_hex() -> String {
    crate::audit::hex(&rand::random::<[u8; 32]>())
}

/// Equal strings, compared in time that does not depend on where they
/// differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the console on `listen` (loopback only) until interrupted.
pub async fn run(node: NodeArgs, listen: SocketAddr, role: ConsoleRole, partnership: Option<String>, agency: Option<String>) -> Result<()> {
    anyhow::ensure!(role != ConsoleRole::Agency || agency.is_some(), "--role agency needs --agency CODE: the agency whose records the console shows");
    anyhow::ensure!(listen.ip().is_loopback(), "the console listens on this machine only: give a loopback address such as 127.0.0.1:0");
    node.tls.as_ref().context("give --tls: the console acts as the holder of a certificate bundle")?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listen on {listen}"))?;
    let address = listener.local_addr()?;
    let token = random_hex();
    let console = Arc::new(Console {
        node,
        role,
        agency,
        cookie: format!("{COOKIE}{}", address.port()),
        hosts: [address.to_string(), format!("localhost:{}", address.port())],
        token: Mutex::new(Some(token.clone())),
        sessions: Mutex::new(HashMap::new()),
        transport: tokio::sync::OnceCell::new(),
        partnership,
    });
    let app = Router::new()
        .route("/", get(enter))
        .route("/start", get(start_page).post(start))
        .route("/signals", get(signals_page))
        .route("/profile/{id}", get(profile_page))
        .route("/network/{id}", get(network_page))
        .route("/report", get(report_page))
        .route("/services", get(services_page))
        .route("/cohort", get(cohort_page))
        .route("/agency", get(agency_page))
        .route("/audit", get(audit_page))
        .route("/audit/entry/{index}", get(audit_entry_page))
        .route("/audit/verify", get(verify_page).post(verify))
        .route("/style.css", get(style))
        .layer(middleware::from_fn_with_state(Arc::clone(&console), guard))
        .with_state(console);
    // Written so that a closed stdout (the link already read) never stops
    // the console.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "braid console: open http://{address}/?token={token}");
        let _ = writeln!(out, "(the link works once, in one browser on this machine; stop the console with Ctrl-C)");
        let _ = out.flush();
    }
    serve(listener, app).await
}

/// The most connections the console holds open at once: one browser uses a
/// few; more are closed as they arrive.
const MOST_CONNECTIONS: usize = 64;

/// How long a connection may take to send a request's headers: one that
/// stalls is closed.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long one connection may stay open, requests and all: then it
/// finishes the request in hand and closes (a browser opens another), or
/// is closed after [`CLOSING_GRACE`] more.
const CONNECTION_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);
const CLOSING_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Serves `app` on `listener` until interrupted, each connection with a
/// header-read timeout and a time limit, at most [`MOST_CONNECTIONS`] at
/// once.
async fn serve(listener: tokio::net::TcpListener, app: Router) -> Result<()> {
    let open = Arc::new(tokio::sync::Semaphore::new(MOST_CONNECTIONS));
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // (Out of file descriptors, say: the next may succeed.)
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut interrupted => return Ok(()),
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = tokio::time::sleep(CONNECTION_TIME_LIMIT) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(CLOSING_GRACE, connection).await;
                }
            }
            drop(permit);
        });
    }
}

/// Every request: the right host, then a session (but for the entry link
/// and the stylesheet); every answer: the security headers.
async fn guard(State(console): State<Arc<Console>>, request: Request<axum::body::Body>, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    // A browser says where a request comes from: a page of another site,
    // even another port of this machine, may not use the session (the
    // cookie alone would let it, as a browser counts every port of a host
    // as one site).
    let fetched_from = request.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let mut response = if !console.hosts.iter().any(|h| h == host) {
        (StatusCode::MISDIRECTED_REQUEST, "this console answers only at its own address on this machine").into_response()
    } else if fetched_from.is_some_and(|site| site != "same-origin" && site != "none") {
        (StatusCode::FORBIDDEN, "this console answers only its own pages").into_response()
    } else if matches!(request.uri().path(), "/" | "/style.css") {
        next.run(request).await
    } else if session_of(&console, request.headers()).is_some() {
        if console.role.serves(request.uri().path()) {
            next.run(request).await
        } else {
            (StatusCode::NOT_FOUND, page_without_session("There is no such page in this console.")).into_response()
        }
    } else {
        (StatusCode::FORBIDDEN, page_without_session("Open the link `braid console` printed to start a session.")).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The session id the request's cookie names, if it is one of ours.
fn session_of(console: &Console, headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).map(str::trim);
    let id = cookies.filter_map(|c| c.strip_prefix(console.cookie.as_str()).and_then(|rest| rest.strip_prefix('='))).next()?;
    let sessions = console.sessions.lock().ok()?;
    sessions.keys().find(|known| same(known, id)).cloned()
}

#[derive(serde::Deserialize)]
struct Entry {
    token: Option<String>,
}

/// `/?token=…`: the printed link, good once, exchanged for a session.
async fn enter(State(console): State<Arc<Console>>, headers: HeaderMap, Query(entry): Query<Entry>) -> Response {
    if session_of(&console, &headers).is_some() {
        let home = if console.role == ConsoleRole::Panel { "/signals" } else { console.role.home() };
        return Redirect::to(home).into_response();
    }
    let Some(offered) = entry.token else {
        return (StatusCode::FORBIDDEN, page_without_session("Open the link `braid console` printed to start a session.")).into_response();
    };
    let taken = {
        let mut token = console.token.lock().expect("token lock");
        match token.as_deref() {
            Some(expected) if same(expected, &offered) => token.take().is_some(),
            _ => false,
        }
    };
    if !taken {
        return (StatusCode::FORBIDDEN, page_without_session("That link has been used or is not this console's. Start `braid console` again for a new one."))
            .into_response();
    }
    let id = random_hex();
    console.sessions.lock().expect("sessions lock").insert(id.clone(), Session { csrf: random_hex(), purpose: None });
    let mut response = Redirect::to(console.role.home()).into_response();
    let cookie = format!("{}={id}; HttpOnly; SameSite=Strict; Path=/", console.cookie);
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie header"));
    response
}

fn with_session<T>(console: &Console, headers: &HeaderMap, read: impl FnOnce(&mut Session) -> T) -> Option<T> {
    let id = session_of(console, headers)?;
    let mut sessions = console.sessions.lock().ok()?;
    sessions.get_mut(&id).map(read)
}

/// The purpose form.
async fn start_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some((csrf, purpose)) = with_session(&console, &headers, |s| (s.csrf.clone(), s.purpose.clone())) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let partnership = purpose.as_ref().map(|p| p.partnership.clone()).or_else(|| console.partnership.clone()).unwrap_or_default();
    page(
        "Start",
        purpose.as_ref(),
        html! {
            h1 { "Why are you looking?" }
            p { "Every page you open is recorded in the audit log with the purpose and the case or meeting reference you give here." }
            form method="post" action="/start" {
                input type="hidden" name="csrf" value=(csrf);
                label for="partnership" { "Partnership" }
                input id="partnership" name="partnership" required value=(partnership);
                label for="purpose" { "Purpose" }
                input id="purpose" name="purpose" required maxlength="500" placeholder="e.g. monthly CSE panel review" value=(purpose.as_ref().map(|p| p.purpose.as_str()).unwrap_or(""));
                label for="case_reference" { "Case or meeting reference" }
                input id="case_reference" name="case_reference" required maxlength="100" value=(purpose.as_ref().map(|p| p.case_reference.as_str()).unwrap_or(""));
                button type="submit" { "Continue" }
            }
        },
    )
    .into_response()
}

#[derive(serde::Deserialize)]
struct StartForm {
    csrf: String,
    partnership: String,
    purpose: String,
    case_reference: String,
}

async fn start(State(console): State<Arc<Console>>, headers: HeaderMap, Form(form): Form<StartForm>) -> Response {
    let fields = [(&form.partnership, 100), (&form.purpose, 500), (&form.case_reference, 100)];
    if fields.iter().any(|(value, most)| value.trim().is_empty() || value.chars().count() > *most) {
        return (StatusCode::BAD_REQUEST, "give a partnership, a purpose (at most 500 characters) and a reference (at most 100)").into_response();
    }
    let accepted = with_session(&console, &headers, |session| {
        if !same(&session.csrf, &form.csrf) {
            return false;
        }
        session.purpose = Some(Purpose {
            partnership: form.partnership.trim().to_owned(),
            purpose: form.purpose.trim().to_owned(),
            case_reference: form.case_reference.trim().to_owned(),
        });
        true
    });
    match accepted {
        Some(true) => Redirect::to("/signals").into_response(),
        _ => (StatusCode::FORBIDDEN, "this form did not come from this console's page").into_response(),
    }
}

fn context(purpose: &Purpose) -> Option<v1::PanelContext> {
    Some(v1::PanelContext { partnership: purpose.partnership.clone(), purpose: purpose.purpose.clone(), case_reference: purpose.case_reference.clone() })
}

/// The session's purpose, or a redirect to ask for it.
fn purpose_or_start(console: &Console, headers: &HeaderMap) -> Result<Purpose, Box<Response>> {
    with_session(console, headers, |s| s.purpose.clone()).flatten().ok_or_else(|| Box::new(Redirect::to("/start").into_response()))
}

#[derive(serde::Deserialize, Default)]
struct SignalFilter {
    kind: Option<String>,
    current: Option<String>,
    /// 1-based page of [`SIGNALS_PER_PAGE`] (read as text, so that a bad
    /// number is said on the page).
    page: Option<String>,
}

/// Signals on one page of the console.
const SIGNALS_PER_PAGE: u32 = 50;

async fn signals_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(filter): Query<SignalFilter>) -> Response {
    let purpose = match purpose_or_start(&console, &headers) {
        Ok(purpose) => purpose,
        Err(redirect) => return *redirect,
    };
    let mut unknown = Vec::new();
    if let Some(asked) = filter.kind.as_deref().filter(|k| !k.is_empty() && !KINDS.iter().any(|(name, _)| name == k)) {
        let names: Vec<&str> = KINDS.iter().map(|(name, _)| *name).collect();
        unknown.push(format!("kind `{}` is not a kind of signal ({})", braid_template::quote(asked), names.join(", ")));
    }
    let asked_page = match filter.page.as_deref().filter(|p| !p.is_empty()) {
        None => Some(1),
        Some(text) => text.parse::<u32>().ok().filter(|n| (1..=1_000_000 / SIGNALS_PER_PAGE).contains(n)),
    };
    if asked_page.is_none() {
        unknown.push(format!("page must be a number from 1 to {}", 1_000_000 / SIGNALS_PER_PAGE));
    }
    if !unknown.is_empty() {
        return page("Signals", Some(&purpose), html! { h1 { "Signals" } (refused(&unknown.join("; "))) p { a href="/signals" { "All signals" } } })
            .into_response();
    }
    let kind = filter.kind.filter(|k| KINDS.iter().any(|(name, _)| name == k));
    let current_only = filter.current.is_some();
    let page_number = asked_page.unwrap_or(1);
    let first = (page_number - 1) * SIGNALS_PER_PAGE;
    let request = v1::SignalsRequest {
        context: context(&purpose),
        kinds: kind.iter().cloned().collect(),
        limit: SIGNALS_PER_PAGE,
        offset: first,
        current_only,
        ..v1::SignalsRequest::default()
    };
    // Another page of the same listing.
    let page_link = |number: u32| {
        let mut query = vec![format!("page={number}")];
        if let Some(kind) = &kind {
            query.push(format!("kind={kind}"));
        }
        if current_only {
            query.push("current=1".to_owned());
        }
        format!("/signals?{}", query.join("&"))
    };
    let answer = async { reply(console.panel().await?.signals(request).await) }.await;
    let body = match answer {
        Err(message) => refused(&message),
        Ok(answer) => html! {
            h1 { "Signals" }
            form method="get" action="/signals" class="filters" {
                label for="kind" { "Kind" }
                select id="kind" name="kind" {
                    option value="" { "All kinds" }
                    @for (name, words) in KINDS {
                        option value=(name) selected[kind.as_deref() == Some(name)] { (words) }
                    }
                }
                label class="check" {
                    input type="checkbox" name="current" value="1" checked[current_only];
                    " Current only"
                }
                button type="submit" { "Show" }
            }
            @if answer.signals.is_empty() {
                p { @if answer.matched == 0 { "No signals match." } @else { "No signals on this page; " a href=(page_link(1)) { "the first page" } "." } }
            } @else {
                p { "Signals " (first + 1) "–" (first as usize + answer.signals.len()) " of " (answer.matched) ", newest evidence first." }
                table {
                    thead { tr { th scope="col" { "Kind" } th scope="col" { "About" } th scope="col" { "Detail" } th scope="col" { "Status" } th scope="col" { "Evidence from" } th scope="col" { "to" } th scope="col" { "Weakest link" } } }
                    tbody {
                        @for s in &answer.signals {
                            tr {
                                td { (kind_words(&s.kind)) }
                                td { a href=(format!("/profile/{}", s.profile_id)) { (s.profile_id) } }
                                td { (s.detail) }
                                td { (s.status) }
                                td { (date_words(s.first.as_ref())) }
                                td { (date_words(s.last.as_ref())) }
                                td { (s.weakest_link) }
                            }
                        }
                    }
                }
                nav class="pages" aria-label="Pages of signals" {
                    @if page_number > 1 { a href=(page_link(page_number - 1)) rel="prev" { "Newer" } " " }
                    @if u64::from(first) + (answer.signals.len() as u64) < answer.matched { a href=(page_link(page_number + 1)) rel="next" { "Older" } }
                }
            }
        },
    };
    page("Signals", Some(&purpose), body).into_response()
}

async fn profile_page(State(console): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let purpose = match purpose_or_start(&console, &headers) {
        Ok(purpose) => purpose,
        Err(redirect) => return *redirect,
    };
    if !is_profile_id(&id) {
        return (StatusCode::BAD_REQUEST, page("Profile", Some(&purpose), refused("A profile id looks like P0000123."))).into_response();
    }
    let request = v1::ProfileRequest { context: context(&purpose), subject: Some(v1::profile_request::Subject::ProfileId(id.clone())) };
    let answer = async { reply(console.panel().await?.profile(request).await) }.await;
    let body = match answer {
        Err(message) => refused(&message),
        Ok(answer) => html! {
            @for p in &answer.profiles {
                h1 { "Profile " (p.profile_id) }
                p { a href=(format!("/network/{}", p.profile_id)) { "The network around this person" } }
                p { (p.records.len()) " record(s) held by the partnership." }
                table {
                    thead { tr { th scope="col" { "Agency" } th scope="col" { "Role" } th scope="col" { "Case type" } th scope="col" { "Referred" } th scope="col" { "Concern" } th scope="col" { "Link" } th scope="col" { "Earlier versions" } } }
                    tbody {
                        @for r in &p.records {
                            tr {
                                td { (r.agency) " (" (r.agency_type.replace('_', " ")) ")" }
                                td { (role_name(r.role).replace('_', " ")) }
                                td { (case_type_name(r.case_type)) }
                                td { (date_words(r.referral_date.as_ref())) }
                                td { (r.concern) }
                                td { (r.confidence) }
                                td {
                                    @for v in &r.history {
                                        (case_type_name(v.case_type)) " (" (v.concern) ", " (date_words(v.stored.as_ref())) ") "
                                    }
                                }
                            }
                        }
                    }
                }
                @if p.records_not_shown > 0 { p { "… and " (p.records_not_shown) " older records." } }
                @for line in outside_text(&p.outside) { p class="outside" { (line) } }
                @if !p.outcomes.is_empty() {
                    h2 { "Outcome events" }
                    p { "What happened afterwards, as the partnership's agencies recorded it; these are not cases." }
                    table class="outcomes" {
                        thead { tr { th scope="col" { "Agency" } th scope="col" { "Event" } th scope="col" { "Date" } } }
                        tbody {
                            @for o in &p.outcomes {
                                tr { td { (o.agency) " (" (o.agency_type.replace('_', " ")) ")" } td { (outcome_name(o.outcome)) } td { (date_words(o.date.as_ref())) } }
                            }
                        }
                    }
                    @if p.outcomes_not_shown > 0 { p { "… and " (p.outcomes_not_shown) " older outcome events." } }
                }
                @if p.records.iter().any(|r| !r.derived.is_empty()) {
                    h2 { "Derived from the linked history" }
                    p { "Worked out by linkage, not recorded by any agency; the agency's own answers are unchanged." }
                    table class="derived" {
                        thead { tr { th scope="col" { "Record" } th scope="col" { "Item" } th scope="col" { "Answer" } th scope="col" { "Basis" } } }
                        tbody {
                            @for r in &p.records {
                                @for d in &r.derived {
                                    tr {
                                        td { (r.agency) ", referred " (date_words(r.referral_date.as_ref())) }
                                        td { (d.item) }
                                        td { (d.value) }
                                        td { (d.basis) }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 { "Signals" }
                @if p.signals.is_empty() {
                    p { "No signals." }
                } @else {
                    ul {
                        @for s in &p.signals {
                            li { (kind_words(&s.kind)) ": " (s.detail) " — " (s.status) ", " (date_words(s.first.as_ref())) " to " (date_words(s.last.as_ref())) " (weakest link: " (s.weakest_link) ")" }
                        }
                    }
                }
            }
        },
    };
    page("Profile", Some(&purpose), body).into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

fn kind_words(kind: &str) -> &str {
    KINDS.iter().find(|(name, _)| *name == kind).map_or(kind, |(_, words)| words)
}

/// A date as people read it: 12 March 2025.
fn date_words(date: Option<&v1::Date>) -> String {
    const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    match date {
        Some(d) if (1..=12).contains(&d.month) => format!("{} {} {}", d.day, MONTHS[(d.month - 1) as usize], d.year),
        _ => "not recorded".to_owned(),
    }
}

fn refused(message: &str) -> Markup {
    html! { div class="refused" role="alert" { h1 { "This could not be shown" } p { (message) } } }
}

fn page_without_session(message: &str) -> Html<String> {
    page("Braid", None, html! { h1 { "Braid console" } p { (message) } })
}

fn page(title: &str, purpose: Option<&Purpose>, body: Markup) -> Html<String> {
    let banner = html! {
        @if let Some(p) = purpose {
            nav aria-label="Pages" { a href="/signals" { "Signals" } " " a href="/report" { "Reports" } " " a href="/services" { "Agencies together" } " " a href="/cohort" { "Outcomes" } " " a href="/start" { "Change purpose" } }
            p class="purpose" { "Partnership " strong { (p.partnership) } " · Purpose: " strong { (p.purpose) } " · Reference: " strong { (p.case_reference) } }
        }
    };
    layout(title, banner, body)
}

/// Every page: the one stylesheet, a header (the brand, then `banner`:
/// the role's pages and who is asking) and the page's own content.
fn layout(title: &str, banner: Markup, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en-GB" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " — Braid" }
                    link rel="stylesheet" href="/style.css";
                }
                body {
                    header { span class="brand" { "Braid" } (banner) }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

mod auditor;
mod figures;

use auditor::*;
use figures::*;
