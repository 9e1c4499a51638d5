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

use braid_proto::v1::audit_service_client::AuditServiceClient;
use braid_proto::v1::panel_service_client::PanelServiceClient;

use crate::connect::{NodeArgs, Transport};
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
        self.transport.get_or_try_init(|| crate::connect::connect(&self.node)).await.cloned().map_err(|error| format!("{error:#}"))
    }

    async fn panel(&self) -> Result<PanelServiceClient<Transport>, String> {
        Ok(crate::panel::client_over(self.transport().await?))
    }

    async fn audit(&self) -> Result<AuditServiceClient<Transport>, String> {
        Ok(crate::audit::client_over(self.transport().await?))
    }
}

/// The node's answer, or its refusal in its own words.
fn reply<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> Result<T, String> {
    answer.map(tonic::Response::into_inner).map_err(|status| status.message().to_owned())
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
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serve the console")
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
    /// 1-based page of [`SIGNALS_PER_PAGE`].
    page: Option<u32>,
}

/// Signals on one page of the console.
const SIGNALS_PER_PAGE: u32 = 50;

async fn signals_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(filter): Query<SignalFilter>) -> Response {
    let purpose = match purpose_or_start(&console, &headers) {
        Ok(purpose) => purpose,
        Err(redirect) => return *redirect,
    };
    let kind = filter.kind.filter(|k| KINDS.iter().any(|(name, _)| name == k));
    let current_only = filter.current.is_some();
    let page_number = filter.page.unwrap_or(1).clamp(1, 1_000_000 / SIGNALS_PER_PAGE);
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

/// An agency's own records against the template: per item, how many
/// records answer it, say "not known", or leave it blank.
async fn agency_page(State(console): State<Arc<Console>>) -> Response {
    let agency = console.agency.clone().unwrap_or_default();
    let request = v1::AgencyCompletenessRequest { agency: agency.clone() };
    let answer = async { reply(v1::ingest_service_client::IngestServiceClient::new(console.transport().await?).completeness(request).await) }.await;
    let uploads_request = v1::AgencyUploadsRequest { agency: agency.clone() };
    let uploads = async { reply(v1::ingest_service_client::IngestServiceClient::new(console.transport().await?).uploads(uploads_request).await) }.await;
    let questions: HashMap<&str, &str> = braid_template::Template::standard().fields().iter().map(|f| (f.id.as_str(), f.question.as_str())).collect();
    let body = match answer {
        Err(message) => refused(&message),
        Ok(answer) => html! {
            @for a in &answer.agencies {
                h1 { "Completeness of " (a.agency) "'s records" }
                p { (a.records) " records held by the node. For each template item: records that answer it, that say it is not known, and that leave it blank (where the item applies)." }
                table class="report" {
                    thead { tr { th scope="col" { "Item" } th scope="col" { "Question" } th scope="col" { "Answered" } th scope="col" { "Not known" } th scope="col" { "Blank" } th scope="col" { "Answered (%)" } } }
                    tbody {
                        @for item in &a.items {
                            @let applies = item.known + item.not_known + item.missing;
                            tr {
                                th scope="row" { (item.item) }
                                td class="question" { (questions.get(item.field_id.as_str()).copied().unwrap_or(item.field_id.as_str())) }
                                td { (item.known) }
                                td { (item.not_known) }
                                td { (item.missing) }
                                td { @if applies > 0 { (format!("{:.0}", 100.0 * item.known as f64 / applies as f64)) } @else { "—" } }
                            }
                        }
                    }
                }
            }
            (uploads_table(uploads))
        },
    };
    layout("Completeness", html! { p class="purpose" { "Agency " strong { (agency) } } }, body).into_response()
}

/// An agency's uploads, newest first, with the first rejections' reasons.
fn uploads_table(uploads: Result<v1::AgencyUploadsResponse, String>) -> Markup {
    let answer = match uploads {
        Err(message) => return html! { h2 { "Your uploads" } (refused(&message)) },
        Ok(answer) => answer,
    };
    let when = |ms: u64| {
        let seconds = ms / 1000;
        let day = braid_template::Date::from_days_since_epoch((seconds / 86_400) as i64);
        let date = v1::Date { year: day.year, month: day.month as i32, day: day.day as i32 };
        format!("{}, {:02}:{:02} UTC", date_words(Some(&date)), seconds % 86_400 / 3600, seconds % 3600 / 60)
    };
    html! {
        h2 { "Your uploads" }
        @if answer.uploads.is_empty() {
            p { "Nothing uploaded to this node yet." }
        } @else {
            table class="report uploads" {
                caption { "Each upload, newest first: what its records did at the node. \"Sent before\" counts records in batches an earlier attempt had already stored." }
                thead { tr { th scope="col" { "Finished" } th scope="col" { "File (submission)" } th scope="col" { "Batches" } th scope="col" { "New" } th scope="col" { "Replaced" } th scope="col" { "Unchanged" } th scope="col" { "Rejected" } th scope="col" { "Sent before" } th scope="col" { "Ended" } } }
                tbody {
                    @for u in &answer.uploads {
                        tr {
                            th scope="row" { (when(u.finished_ms)) }
                            td { code { (u.submission_id) } }
                            td { (u.batches) }
                            td { (u.accepted) }
                            td { (u.replaced) }
                            td { (u.unchanged) }
                            td { (u.rejected) }
                            td { (u.already_stored) }
                            td { (u.ended) }
                        }
                    }
                }
            }
            @for u in answer.uploads.iter().filter(|u| !u.rejections.is_empty()) {
                details {
                    summary { "Why rows of the upload finished " (when(u.finished_ms)) " were rejected" }
                    ul {
                        @for r in &u.rejections { li { "Row " (r.source_row) ", " code { (r.field) } ": " (r.reason) } }
                        @if (u.rejections.len() as u64) < u.rejected { li { "… and " (u.rejected - u.rejections.len() as u64) " more" } }
                    }
                }
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
struct LogFilter {
    caller: Option<String>,
    action: Option<String>,
    touched: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// Non-empty, trimmed, at most `most` characters.
fn filter_value(value: &Option<String>, most: usize) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(|v| v.chars().take(most).collect())
}

/// The audit log, newest first, with filters.
async fn audit_page(State(console): State<Arc<Console>>, Query(filter): Query<LogFilter>) -> Response {
    let (caller, action, touched) = (filter_value(&filter.caller, 200), filter_value(&filter.action, 100), filter_value(&filter.touched, 100));
    let (since, until) = (filter_value(&filter.since, 30), filter_value(&filter.until, 30));
    let bounds =
        (since.as_deref().map(|t| crate::audit::time_ms(t, "From")).transpose(), until.as_deref().map(|t| crate::audit::time_ms(t, "Until")).transpose());
    let answer = match bounds {
        (Err(error), _) | (_, Err(error)) => Err(format!("{error:#}")),
        (Ok(since_ms), Ok(until_ms)) => {
            let request = v1::LogRequest {
                principal: caller.clone().unwrap_or_default(),
                action: action.clone().unwrap_or_default(),
                touched: touched.clone().unwrap_or_default(),
                since_ms: since_ms.unwrap_or(0),
                until_ms: until_ms.unwrap_or(0),
                from_index: 0,
                limit: 200,
                newest_first: true,
            };
            async { reply(console.audit().await?.log(request).await) }.await
        }
    };
    let form = html! {
        form method="get" action="/audit" class="filters" {
            label for="caller" { "Caller" } input id="caller" name="caller" value=(caller.as_deref().unwrap_or(""));
            label for="action" { "Action" } input id="action" name="action" placeholder="panel.profile" value=(action.as_deref().unwrap_or(""));
            label for="touched" { "Profile or record" } input id="touched" name="touched" value=(touched.as_deref().unwrap_or(""));
            label for="since" { "From" } input id="since" name="since" placeholder="2026-11-24" value=(since.as_deref().unwrap_or(""));
            label for="until" { "Until" } input id="until" name="until" placeholder="2026-11-30T17:00" value=(until.as_deref().unwrap_or(""));
            button type="submit" { "Show" }
        }
    };
    let body = match answer {
        Err(message) => html! { h1 { "Audit log" } (form) (refused(&message)) },
        Ok(answer) => html! {
            h1 { "Audit log" }
            p { "The log holds " (answer.log_size) " entries. " a href="/audit/verify" { "Verify the whole log" } }
            (form)
            @if answer.entries.is_empty() {
                p { "No entry matches." }
            } @else {
                p { (answer.entries.len()) " matching entries, newest first (at most 200)." }
                table {
                    thead { tr { th scope="col" { "#" } th scope="col" { "When (UTC)" } th scope="col" { "Caller" } th scope="col" { "Role" } th scope="col" { "Action" } th scope="col" { "Purpose" } th scope="col" { "Reference" } th scope="col" { "Results" } th scope="col" { "Outcome" } } }
                    tbody {
                        @for e in &answer.entries {
                            tr {
                                td { a href=(format!("/audit/entry/{}", e.index)) { (e.index) } }
                                td { (crate::audit::time_text(e.time_ms)) }
                                td { (crate::audit::printable(&e.principal)) @if e.claimed_principal { " (claimed)" } }
                                td { (e.role) }
                                td { (e.action) }
                                td { (crate::audit::printable(&e.purpose)) }
                                td { (crate::audit::printable(&e.case_reference)) }
                                td { (e.result_count) }
                                td { (e.outcome) }
                            }
                        }
                    }
                }
            }
        },
    };
    auditor_page("Audit log", body).into_response()
}

/// One entry in full.
async fn audit_entry_page(State(console): State<Arc<Console>>, Path(index): Path<u64>) -> Response {
    let request = v1::LogRequest { from_index: index, limit: 1, ..v1::LogRequest::default() };
    let answer = async { reply(console.audit().await?.log(request).await) }.await;
    let body = match answer.map(|a| a.entries.into_iter().find(|e| e.index == index)) {
        Err(message) => refused(&message),
        Ok(None) => html! { h1 { "Entry " (index) } p { "The log has no such entry." } },
        Ok(Some(e)) => html! {
            h1 { "Entry " (e.index) }
            dl {
                dt { "When (UTC)" } dd { (crate::audit::time_text(e.time_ms)) }
                dt { "Caller" } dd { (crate::audit::printable(&e.principal)) @if e.claimed_principal { " (claimed, not proven by a certificate)" } }
                dt { "Role" } dd { (e.role) }
                dt { "Action" } dd { (e.action) }
                dt { "Purpose" } dd { (crate::audit::printable(&e.purpose)) }
                dt { "Case or meeting reference" } dd { (crate::audit::printable(&e.case_reference)) }
                dt { "Results" } dd { (e.result_count) }
                dt { "Outcome" } dd { (e.outcome) }
                dt { "Profiles and records touched" } dd { @if e.touched.is_empty() { "none" } @else { (e.touched.iter().map(|t| crate::audit::printable(t)).collect::<Vec<_>>().join(", ")) } }
                dt { "Log root after this entry" } dd class="hash" { (crate::audit::hex(&e.root_after)) }
            }
            p { a href="/audit" { "Back to the log" } }
        },
    };
    auditor_page("Audit entry", body).into_response()
}

/// The node's checkpoints and the verification form.
async fn verify_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some(csrf) = with_session(&console, &headers, |s| s.csrf.clone()) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let answer = async { reply(console.audit().await?.checkpoints(v1::CheckpointsRequest {}).await) }.await;
    let checkpoints: Vec<braid_audit::Checkpoint> =
        answer.as_ref().map(|a| a.checkpoints.iter().filter_map(|t| braid_audit::Checkpoint::from_text(t).ok()).collect()).unwrap_or_default();
    let body = html! {
        h1 { "Verify the audit log" }
        p { "Recomputes every entry's hash and the log's root, checks each checkpoint the node signed, and, given a checkpoint you saved earlier (" code { "braid audit checkpoint --save FILE" } "), that the log still extends it: nothing was removed or rewritten since." }
        form method="post" action="/audit/verify" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            label for="saved" { "A checkpoint you saved (optional)" }
            input id="saved" name="saved" type="file";
            button type="submit" { "Verify now" }
        }
        @match &answer {
            Err(message) => (refused(message)),
            Ok(_) => {
                h2 { "Checkpoints the node signed" }
                @if checkpoints.is_empty() { p { "None yet." } } @else {
                    table {
                        thead { tr { th scope="col" { "Entries" } th scope="col" { "Signed (UTC)" } th scope="col" { "Root" } } }
                        tbody { @for c in checkpoints.iter().rev().take(50) { tr { td { (c.size) } td { (crate::audit::time_text(c.time_ms)) } td class="hash" { (crate::audit::hex(&c.root)) } } } }
                    }
                }
            }
        }
    };
    auditor_page("Verify", body).into_response()
}

async fn verify(State(console): State<Arc<Console>>, headers: HeaderMap, mut form: axum::extract::Multipart) -> Response {
    let mut csrf = None;
    let mut saved: Option<Option<String>> = None;
    let unreadable = || (StatusCode::BAD_REQUEST, "the form could not be read whole (a checkpoint file is a few hundred bytes of text)").into_response();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return unreadable(),
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.ok(),
            Some("saved") => {
                // Empty: no file chosen. Anything else must be a checkpoint,
                // or the page says it is not one (never "verified" without
                // it).
                let Ok(bytes) = field.bytes().await else { return unreadable() };
                if !bytes.is_empty() {
                    saved = Some(String::from_utf8(bytes.to_vec()).ok());
                }
            }
            _ => {}
        }
    }
    let genuine = with_session(&console, &headers, |s| csrf.as_deref().is_some_and(|c| same(&s.csrf, c)));
    if genuine != Some(true) {
        return (StatusCode::FORBIDDEN, "this form did not come from this console's page").into_response();
    }
    let saved: Vec<braid_audit::Checkpoint> = match saved.map(|text| text.map(|t| braid_audit::Checkpoint::from_text(&t))) {
        None => Vec::new(),
        Some(Some(Ok(checkpoint))) => vec![checkpoint],
        Some(_) => {
            let body = html! { h1 { "Verify the audit log" } div class="refused" role="alert" { p { "That file is not a checkpoint saved by " code { "braid audit checkpoint --save" } "." } } p { a href="/audit/verify" { "Try again" } } };
            return (StatusCode::BAD_REQUEST, auditor_page("Verify", body)).into_response();
        }
    };
    let body = match crate::audit::verify_online(&console.node, &saved, None).await {
        Ok(verified) => html! {
            h1 { "Verify the audit log" }
            div class="intact" role="status" {
                p { strong { "The audit log is intact." } }
                p { (verified.entries) " entries recomputed (root " span class="hash" { (crate::audit::hex(&verified.root)) } "); " (verified.checkpoints) " checkpoints signed by the node and matching; consistent with " (verified.saved) " checkpoint(s) you saved." }
            }
            p { a href="/audit/verify" { "Verify again" } " · " a href="/audit" { "Back to the log" } }
        },
        Err(error) => html! {
            h1 { "Verify the audit log" }
            div class="refused" role="alert" { p { strong { "The audit log does NOT verify." } } p { (format!("{error:#}")) } }
            p { a href="/audit" { "Back to the log" } }
        },
    };
    auditor_page("Verify", body).into_response()
}

fn auditor_page(title: &str, body: Markup) -> Html<String> {
    let banner = html! {
        nav aria-label="Pages" { a href="/audit" { "Audit log" } " " a href="/audit/verify" { "Verify" } }
        p class="purpose" { "Auditor" }
    };
    layout(title, banner, body)
}

/// The people linked to a profile through who harmed whom, drawn as the
/// CLI draws it (an SVG with no script and no inline style), with a legend
/// in words.
async fn network_page(State(console): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let purpose = match purpose_or_start(&console, &headers) {
        Ok(purpose) => purpose,
        Err(redirect) => return *redirect,
    };
    if !is_profile_id(&id) {
        return (StatusCode::BAD_REQUEST, page("Network", Some(&purpose), refused("A profile id looks like P0000123."))).into_response();
    }
    let request =
        v1::NetworkRequest { context: context(&purpose), subject: Some(v1::network_request::Subject::ProfileId(id.clone())), depth: 2, max_people: 60 };
    let answer = async { reply(console.panel().await?.network(request).await) }.await;
    let body = match answer {
        Err(message) => refused(&message),
        Ok(network) => {
            let drawing = braid_signals::network::svg(&crate::panel::drawing(&network));
            html! {
                h1 { "Network around " (id) }
                p { (network.nodes.len()) " people and " (network.edges.len()) " links within two steps. An arrow runs from the person who harmed to the person harmed; hover over a line for the records behind it." }
                ul class="legend-keys" {
                    li { span class="swatch victim" {} "Harmed" }
                    li { span class="swatch harmer" {} "Harmed others" }
                    li { span class="swatch both" {} "Both harmed and harmed others" }
                    li { span class="swatch outside" {} "Known only outside the partnership (no detail)" }
                    li { "The thick circle is " (id) "." }
                }
                @if network.truncated { p { "More people are linked than are drawn here." } }
                div class="network" role="img" aria-label=(format!("Network of {} people around {id}", network.nodes.len())) { (maud::PreEscaped(drawing)) }
                p { a href=(format!("/profile/{id}")) { "Back to the profile" } }
            }
        }
    };
    page("Network", Some(&purpose), body).into_response()
}

#[derive(serde::Deserialize, Default)]
struct ReportForm {
    by: Option<String>,
    by2: Option<String>,
    population: Option<String>,
}

/// What a report may be by: the template's choice and number items,
/// case type and periods.
fn dimensions() -> Vec<(String, String)> {
    let mut out = vec![
        ("case_type".to_owned(), "Case type (CSA, CSE, HSB)".to_owned()),
        ("period:quarter".to_owned(), "Quarter of the first case".to_owned()),
        ("period:year".to_owned(), "Year of the first case".to_owned()),
    ];
    for field in braid_template::Template::standard().fields() {
        if matches!(field.kind, braid_template::FieldKind::Single | braid_template::FieldKind::Multi | braid_template::FieldKind::Integer) {
            out.push((field.id.clone(), format!("{} {}", field.item, field.question)));
        }
    }
    out
}

/// A report by one or two items, with the node's disclosure control.
async fn report_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(form): Query<ReportForm>) -> Response {
    let purpose = match purpose_or_start(&console, &headers) {
        Ok(purpose) => purpose,
        Err(redirect) => return *redirect,
    };
    let choices = dimensions();
    let known = |v: &Option<String>| v.as_deref().filter(|v| choices.iter().any(|(id, _)| id == v)).map(str::to_owned);
    let (by, by2) = (known(&form.by), known(&form.by2));
    let population = form.population.filter(|p| ["victims", "harmers", "all"].contains(&p.as_str())).unwrap_or_else(|| "victims".to_owned());
    let select = |name: &str, label: &str, chosen: &Option<String>, optional: bool| {
        html! {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                @if optional { option value="" { "(none)" } }
                @for (id, words) in &choices { option value=(id) selected[chosen.as_deref() == Some(id.as_str())] { (words) } }
            }
        }
    };
    let form_markup = html! {
        form method="get" action="/report" class="report" {
            (select("by", "Rows by", &by, false))
            (select("by2", "Columns by (optional)", &by2, true))
            label for="population" { "Whose profiles" }
            select id="population" name="population" {
                @for (value, words) in [("victims", "Victims"), ("harmers", "People who harmed"), ("all", "Everyone")] {
                    option value=(value) selected[population == value] { (words) }
                }
            }
            button type="submit" { "Show the table" }
        }
    };
    let Some(by) = by else {
        return page("Reports", Some(&purpose), html! { h1 { "Reports" } p { "Distinct children counted by one or two template items. Counts of 1 to 4 show as <5, and further cells are withheld (*) so that no <5 can be worked out from the totals." } (form_markup) }).into_response();
    };
    let request = v1::ReportRequest {
        context: context(&purpose),
        by: std::iter::once(by).chain(by2).collect(),
        population: population.clone(),
        ..v1::ReportRequest::default()
    };
    let answer = async { reply(console.panel().await?.report(request).await) }.await;
    let body = match answer {
        Err(message) => html! { h1 { "Reports" } (form_markup) (refused(&message)) },
        Ok(r) => html! {
            h1 { "Reports" }
            (form_markup)
            table class="report" {
                caption { (r.population) " by " (r.rows_by) @if !r.columns_by.is_empty() { " and " (r.columns_by) } }
                thead { tr { th scope="col" { (r.rows_by) } @for c in &r.column_labels { th scope="col" { (c) } } th scope="col" { "Total" } } }
                tbody {
                    @for ((label, row), total) in r.row_labels.iter().zip(&r.rows).zip(r.row_totals.iter().map(String::as_str).chain(std::iter::repeat(""))) {
                        tr { th scope="row" { (label) } @for cell in &row.cells { td { (cell) } } td { (total) } }
                    }
                    tr class="total" { th scope="row" { "Total" } @for t in &r.column_totals { td { (t) } } td { (r.total) } }
                }
            }
            p class="legend" { (r.legend) }
            @if r.rows_overlap || r.columns_overlap { p class="legend" { "A child may be counted under several categories of a tick-all-that-apply item; the totals count distinct children." } }
        },
    };
    page("Reports", Some(&purpose), body).into_response()
}

#[derive(serde::Deserialize, Default)]
struct CohortForm {
    cohort: Option<String>,
}

/// The cohorts a panel may pick, in words.
const COHORTS: [(&str, &str); 7] = [
    ("case_type:CSA", "Children in a CSA case"),
    ("case_type:CSE", "Children in a CSE case"),
    ("case_type:HSB", "Children in an HSB case"),
    ("signal:revictimisation", "Children re-victimised"),
    ("signal:victim-hsb-overlap", "Victims who also display harmful sexual behaviour"),
    ("signal:victim-as-offender", "Victims recorded as offenders"),
    ("signal:classification-conflict", "Children whose case is CSA at one agency and CSE at another"),
];

/// A cohort's outcomes in the 12 months after entering it, as the node
/// publishes them.
async fn cohort_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(form): Query<CohortForm>) -> Response {
    let purpose = match purpose_or_start(&console, &headers) {
        Ok(purpose) => purpose,
        Err(redirect) => return *redirect,
    };
    let chosen = form.cohort.filter(|c| COHORTS.iter().any(|(id, _)| id == c));
    let form_markup = html! {
        form method="get" action="/cohort" class="cohort" {
            label for="cohort" { "Which children" }
            select id="cohort" name="cohort" {
                @for (id, words) in COHORTS { option value=(id) selected[chosen.as_deref() == Some(id)] { (words) } }
            }
            button type="submit" { "Show their outcomes" }
        }
    };
    let intro = html! {
        h1 { "Outcomes" }
        p { "How many children of a cohort had each kind of outcome event in the 12 months after they entered it, from the partnership's agencies. Counts of 1 to 4 show as <5, and every count is rounded down to a multiple of 5." }
        (form_markup)
    };
    let Some(cohort) = chosen else {
        return page("Outcomes", Some(&purpose), intro).into_response();
    };
    let request = v1::CohortRequest { context: context(&purpose), cohort, ..v1::CohortRequest::default() };
    let answer = async { reply(console.panel().await?.cohort(request).await) }.await;
    let body = match answer {
        Err(message) => html! { (intro) (refused(&message)) },
        Ok(r) => html! {
            (intro)
            table class="cohort" {
                caption { (r.cohort) ": " (r.children) " children, " (r.followed_up) " of them for a full 12 months" }
                thead { tr { th scope="col" { "Outcome" } th scope="col" { "Children" } th scope="col" { "Share of the cohort" } } }
                tbody {
                    @for row in &r.rows { tr { th scope="row" { (row.outcome) } td { (row.children) } td { (row.share) } } }
                }
            }
            p class="legend" { (r.legend) }
        },
    };
    page("Outcomes", Some(&purpose), body).into_response()
}

/// Which agencies work with the same children, as a table shaded like a
/// heat map (shading by class: the page allows no inline style).
async fn services_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let purpose = match purpose_or_start(&console, &headers) {
        Ok(purpose) => purpose,
        Err(redirect) => return *redirect,
    };
    let request = v1::InterconnectednessRequest { context: context(&purpose) };
    let answer = async { reply(console.panel().await?.interconnectedness(request).await) }.await;
    let body = match answer {
        Err(message) => refused(&message),
        Ok(r) => {
            let most = r.rows.iter().flat_map(|row| &row.cells).filter_map(|c| c.parse::<u64>().ok()).max().unwrap_or(0).max(1);
            let shade = |cell: &str| match cell.parse::<u64>() {
                Ok(0) => "heat0".to_owned(),
                Ok(n) => format!("heat{}", (n * 4).div_ceil(most).clamp(1, 4)),
                Err(_) => "heat-withheld".to_owned(),
            };
            html! {
                h1 { "Agencies working with the same children" }
                p { "Each cell: children known to both agencies (the diagonal: known to that agency). Darker is more." }
                table class="heat" {
                    thead { tr { th scope="col" { "" } @for a in &r.agencies { th scope="col" { (a) } } } }
                    tbody {
                        @for (agency, row) in r.agencies.iter().zip(&r.rows) {
                            tr { th scope="row" { (agency) } @for cell in &row.cells { td class=(shade(cell)) { (cell) } } }
                        }
                    }
                }
                p class="legend" { (r.legend) }
            }
        }
    };
    page("Agencies together", Some(&purpose), body).into_response()
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
    html! { div class="refused" role="alert" { h1 { "The node did not answer" } p { (message) } } }
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
