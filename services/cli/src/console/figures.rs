//! The panel's pages beyond signals and profiles: a profile's network,
//! reports by template item, cohorts and agencies together.

use super::*;

/// The people linked to a profile through who harmed whom, drawn as the
/// CLI draws it (an SVG with no script and no inline style), with a legend
/// in words.
pub(super) async fn network_page(State(console): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
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
pub(super) struct ReportForm {
    by: Option<String>,
    by2: Option<String>,
    population: Option<String>,
}

/// What a report may be by: the template's choice and number items,
/// case type and periods.
pub(super) fn dimensions() -> Vec<(String, String)> {
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
pub(super) async fn report_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(form): Query<ReportForm>) -> Response {
    let purpose = match purpose_or_start(&console, &headers) {
        Ok(purpose) => purpose,
        Err(redirect) => return *redirect,
    };
    let choices = dimensions();
    let known = |v: &Option<String>| v.as_deref().filter(|v| choices.iter().any(|(id, _)| id == v)).map(str::to_owned);
    let (by, by2) = (known(&form.by), known(&form.by2));
    // What the address asked for that is not a choice is said, not
    // quietly replaced.
    let mut unknown = Vec::new();
    for (name, asked, chosen) in [("by", &form.by, &by), ("by2", &form.by2, &by2)] {
        if let Some(asked) = asked.as_deref().filter(|a| !a.is_empty() && chosen.is_none()) {
            unknown.push(format!("{name} `{}` is not an item a report can be by", braid_template::quote(asked)));
        }
    }
    if let Some(asked) = form.population.as_deref().filter(|p| !p.is_empty() && !["victims", "harmers", "all"].contains(p)) {
        unknown.push(format!("population `{}` is not one of victims, harmers, all", braid_template::quote(asked)));
    }
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
    if !unknown.is_empty() {
        return page("Reports", Some(&purpose), html! { h1 { "Reports" } (form_markup) (refused(&unknown.join("; "))) }).into_response();
    }
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
pub(super) struct CohortForm {
    cohort: Option<String>,
}

/// The cohorts a panel may pick, in words.
pub(super) const COHORTS: [(&str, &str); 7] = [
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
pub(super) async fn cohort_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(form): Query<CohortForm>) -> Response {
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
pub(super) async fn services_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
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
