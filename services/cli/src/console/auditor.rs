//! An agency's own page (its records against the template, its uploads)
//! and the auditor's pages: the log, one entry, and verifying the log
//! against a saved checkpoint.

use super::*;

/// An agency's own records against the template: per item, how many
/// records answer it, say "not known", or leave it blank.
pub(super) async fn agency_page(State(console): State<Arc<Console>>) -> Response {
    let agency = console.agency.clone().unwrap_or_default();
    let request = v1::AgencyCompletenessRequest { agency: agency.clone() };
    let answer = async { reply(braid_client::ingest_over(console.transport().await?).completeness(request).await) }.await;
    let uploads_request = v1::AgencyUploadsRequest { agency: agency.clone() };
    let uploads = async { reply(braid_client::ingest_over(console.transport().await?).uploads(uploads_request).await) }.await;
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
pub(super) fn uploads_table(uploads: Result<v1::AgencyUploadsResponse, String>) -> Markup {
    let answer = match uploads {
        Err(message) => return html! { h2 { "Your uploads" } (refused(&message)) },
        Ok(answer) => answer,
    };
    let when = crate::audit::time_words;
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
pub(super) struct LogFilter {
    caller: Option<String>,
    action: Option<String>,
    touched: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// Non-empty, trimmed, at most `most` characters.
pub(super) fn filter_value(value: &Option<String>, most: usize) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(|v| v.chars().take(most).collect())
}

/// The audit log, newest first, with filters.
pub(super) async fn audit_page(State(console): State<Arc<Console>>, Query(filter): Query<LogFilter>) -> Response {
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
pub(super) async fn audit_entry_page(State(console): State<Arc<Console>>, Path(index): Path<u64>) -> Response {
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
pub(super) async fn verify_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
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

pub(super) async fn verify(State(console): State<Arc<Console>>, headers: HeaderMap, mut form: axum::extract::Multipart) -> Response {
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

pub(super) fn auditor_page(title: &str, body: Markup) -> Html<String> {
    let banner = html! {
        nav aria-label="Pages" { a href="/audit" { "Audit log" } " " a href="/audit/verify" { "Verify" } }
        p class="purpose" { "Auditor" }
    };
    layout(title, banner, body)
}
