//! `braid panel …`: what a multi-agency panel sees. Every call names the
//! partnership and states a purpose; identities and pseudonyms never
//! appear, and records held outside the partnership are only counted.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use braid_client::{refused, NodeArgs};
use braid_proto::v1;
use braid_signals::network::{dot, svg, Drawing, Shade};
use braid_signals::report::LEGEND;

use crate::agency::read_reid;
use crate::convert::role_name;

/// Who is asking, and why.
#[derive(Debug, Clone, clap::Args)]
pub struct PanelArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The partnership the panel belongs to (as named in the node's config).
    #[arg(long)]
    pub partnership: String,
    /// Why the query is made (required, in words a reviewer would
    /// understand).
    #[arg(long)]
    pub purpose: String,
    /// The panel's case or meeting reference (required; recorded in the
    /// audit log with the purpose).
    #[arg(long)]
    pub case_ref: String,
}

/// Whom a profile or network query is about.
#[derive(Debug, Clone, clap::Args)]
pub struct SubjectArgs {
    /// A profile id from a signal or network (P0000123).
    #[arg(long, conflicts_with_all = ["agency", "record_ref", "case_id"])]
    pub profile: Option<String>,
    /// The agency that holds the record (one of the partnership's).
    #[arg(long)]
    pub agency: Option<String>,
    /// The agency's opaque record ref (r-…).
    #[arg(long, requires = "agency", conflicts_with = "case_id")]
    pub record_ref: Option<String>,
    /// The agency's own case id, turned into its ref with --reid.
    #[arg(long, requires_all = ["agency", "reid"])]
    pub case_id: Option<String>,
    /// The agency's re-identification map (for --case-id).
    #[arg(long)]
    pub reid: Option<PathBuf>,
}

impl SubjectArgs {
    fn resolve(&self) -> Result<Subject> {
        if let Some(profile) = &self.profile {
            return Ok(Subject::Profile(profile.clone()));
        }
        let agency = self.agency.clone().context("give --profile, or --agency with --record-ref or --case-id")?;
        let record_ref = match (&self.record_ref, &self.case_id, &self.reid) {
            (Some(record_ref), _, _) => record_ref.clone(),
            (None, Some(case_id), Some(reid)) => read_reid(reid)?
                .into_iter()
                .find(|(a, e)| *a == agency && e.case_id == *case_id)
                .map(|(_, e)| e.record_ref)
                .with_context(|| format!("that case id is not in {}", reid.display()))?,
            _ => anyhow::bail!("give --record-ref, or --case-id with --reid"),
        };
        Ok(Subject::Record(v1::RecordSubject { agency, record_ref }))
    }
}

enum Subject {
    Profile(String),
    Record(v1::RecordSubject),
}

fn context(args: &PanelArgs) -> Option<v1::PanelContext> {
    Some(v1::PanelContext { partnership: args.partnership.clone(), purpose: args.purpose.clone(), case_reference: args.case_ref.clone() })
}

fn date_text(date: Option<&v1::Date>) -> String {
    date.map_or_else(|| "-".to_owned(), v1::Date::to_string)
}

fn parse_date(text: &str) -> Result<v1::Date> {
    let date = braid_template::Date::from_iso(text).with_context(|| format!("`{text}` is not a date like 2024-03-31"))?;
    Ok(date.into())
}

/// An outcome kind's name, from its API number.
pub(crate) fn outcome_name(number: i32) -> &'static str {
    braid_template::OutcomeKind::from_number(number).map_or("unknown", braid_template::OutcomeKind::name)
}

pub(crate) fn case_type_name(number: i32) -> &'static str {
    braid_signals::CaseType::from_number(number).map_or("?", braid_signals::CaseType::name)
}

pub(crate) fn outside_text(outside: &[v1::OutsideCount]) -> Vec<String> {
    outside
        .iter()
        .map(|o| {
            if o.fewer_than_five {
                format!("known to {} outside the partnership (fewer than 5 records)", o.agency_type)
            } else {
                format!("known to {} outside the partnership ({} record{})", o.agency_type, o.records, if o.records == 1 { "" } else { "s" })
            }
        })
        .collect()
}

fn record_json(r: &v1::SignalRecord) -> serde_json::Value {
    serde_json::json!({
        "agency": r.agency,
        "record_ref": r.record_ref,
        "role": role_name(r.role),
        "case_type": case_type_name(r.case_type),
        "date": date_text(r.date.as_ref()),
        "link": r.link,
    })
}

fn outside_json(outside: &[v1::OutsideCount]) -> serde_json::Value {
    outside
        .iter()
        .map(|o| {
            let count = if o.fewer_than_five { serde_json::Value::from("<5") } else { serde_json::Value::from(o.records) };
            (o.agency_type.clone(), count)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A signal as JSON.
pub fn signal_json(s: &v1::PanelSignal) -> serde_json::Value {
    serde_json::json!({
        "kind": s.kind,
        "detail": s.detail,
        "profile_id": s.profile_id,
        "status": s.status,
        "first": date_text(s.first.as_ref()),
        "last": date_text(s.last.as_ref()),
        "records": s.records.iter().map(record_json).collect::<Vec<_>>(),
        "records_not_shown": s.records_not_shown,
        "outside": outside_json(&s.outside),
        "related_profiles": s.related_profiles,
        "related_not_shown": s.related_not_shown,
        "related_outside": s.related_outside,
        "weakest_link": s.weakest_link,
    })
}

fn print_signal(s: &v1::PanelSignal) {
    let status = if s.status == "resolved" { " [resolved]" } else { "" };
    let weakest = if s.weakest_link.is_empty() { String::new() } else { format!("  (weakest link: {})", s.weakest_link) };
    println!("{:<24} {:<36} {}  {} to {}{status}{weakest}", s.kind, s.detail, s.profile_id, date_text(s.first.as_ref()), date_text(s.last.as_ref()));
    for r in &s.records {
        println!(
            "    {:<12} {:<22} {:<17} {} {}  link {}",
            r.agency,
            r.record_ref,
            role_name(r.role),
            case_type_name(r.case_type),
            date_text(r.date.as_ref()),
            r.link
        );
    }
    if s.records_not_shown > 0 {
        println!("    … and {} more records", s.records_not_shown);
    }
    for line in outside_text(&s.outside) {
        println!("    {line}");
    }
    if !s.related_profiles.is_empty() {
        let shown: Vec<&str> = s.related_profiles.iter().take(12).map(String::as_str).collect();
        let more = s.related_profiles.len().saturating_sub(shown.len()) + s.related_not_shown as usize;
        let more = if more > 0 { format!(" … and {more} more") } else { String::new() };
        println!("    with: {}{more}", shown.join(", "));
    }
    if s.related_outside > 0 {
        println!("    and {} people known only outside the partnership", s.related_outside);
    }
}

/// A profile as `braid panel profile --json` prints it.
fn profile_json(p: &v1::PanelProfile) -> serde_json::Value {
    serde_json::json!({
        "profile_id": p.profile_id,
        "records": p.records.iter().map(|r| serde_json::json!({
            "agency": r.agency,
            "agency_type": r.agency_type,
            "record_ref": r.record_ref,
            "role": role_name(r.role),
            "case_type": case_type_name(r.case_type),
            "referral_date": date_text(r.referral_date.as_ref()),
            "incident_start": date_text(r.incident_start.as_ref()),
            "last_occurrence": date_text(r.last_occurrence.as_ref()),
            "concern": r.concern,
            "confidence": r.confidence,
            "fields": r.fields.iter().map(|f| (f.field_id.clone(), serde_json::Value::from(f.value.clone()))).collect::<serde_json::Map<_, _>>(),
            "derived": r.derived.iter().map(|d| serde_json::json!({
                "field_id": d.field_id,
                "item": d.item,
                "value": d.value,
                "basis": d.basis,
            })).collect::<Vec<_>>(),
            "history": r.history.iter().map(|v| serde_json::json!({
                "stored": date_text(v.stored.as_ref()),
                "case_type": case_type_name(v.case_type),
                "concern": v.concern,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "records_not_shown": p.records_not_shown,
        "outcomes_not_shown": p.outcomes_not_shown,
        "outcomes": p.outcomes.iter().map(|o| serde_json::json!({
            "agency": o.agency,
            "agency_type": o.agency_type,
            "record_ref": o.record_ref,
            "outcome": outcome_name(o.outcome),
            "date": date_text(o.date.as_ref()),
        })).collect::<Vec<_>>(),
        "outside": outside_json(&p.outside),
        "signals": p.signals.iter().map(signal_json).collect::<Vec<_>>(),
    })
}

/// `braid panel profile`.
pub async fn profile_command(args: &PanelArgs, subject: &SubjectArgs, json: bool) -> Result<()> {
    let subject = match subject.resolve()? {
        Subject::Profile(id) => v1::profile_request::Subject::ProfileId(id),
        Subject::Record(record) => v1::profile_request::Subject::Record(record),
    };
    let response = braid_client::panel(&args.node)
        .await?
        .profile(v1::ProfileRequest { context: context(args), subject: Some(subject) })
        .await
        .map_err(refused)?
        .into_inner();
    if json {
        let profiles: Vec<serde_json::Value> = response.profiles.iter().map(profile_json).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "profiles": profiles }))?);
        return Ok(());
    }
    for p in &response.profiles {
        println!("profile {} — {} record(s) in the partnership", p.profile_id, p.records.len());
        for r in &p.records {
            println!(
                "  {:<12} {:<22} {:<17} {}  referred {}  concern {}  link {}",
                r.agency,
                r.record_ref,
                role_name(r.role),
                case_type_name(r.case_type),
                date_text(r.referral_date.as_ref()),
                r.concern,
                r.confidence
            );
            for f in &r.fields {
                println!("      {:<4} {:<38} {}", f.item, f.field_id, f.value);
            }
            for d in &r.derived {
                println!("      {:<4} {:<38} {}  [{}]", d.item, d.field_id, d.value, d.basis);
            }
            if !r.history.is_empty() {
                let before: Vec<String> = r
                    .history
                    .iter()
                    .map(|v| format!("{} (concern {}, stored {})", case_type_name(v.case_type), v.concern, date_text(v.stored.as_ref())))
                    .collect();
                println!("      earlier versions: {}", before.join(" → "));
            }
        }
        if p.records_not_shown > 0 {
            println!("  … and {} older records", p.records_not_shown);
        }
        if !p.outcomes.is_empty() {
            println!("  outcome events (not cases):");
            for o in &p.outcomes {
                println!("  {:<12} {:<22} {:<28} {}", o.agency, o.record_ref, outcome_name(o.outcome), date_text(o.date.as_ref()));
            }
            if p.outcomes_not_shown > 0 {
                println!("  … and {} older outcome events", p.outcomes_not_shown);
            }
        }
        for line in outside_text(&p.outside) {
            println!("  {line}");
        }
        if p.signals.is_empty() {
            println!("  no signals");
        } else {
            println!("  signals:");
            for s in &p.signals {
                print!("  ");
                print_signal(s);
            }
        }
    }
    Ok(())
}

/// What `braid panel signals` filters on.
#[derive(Debug, Clone, clap::Args)]
pub struct SignalFilter {
    /// Only these kinds (repeat): revictimisation, victim-hsb-overlap,
    /// victim-as-offender, shared-perpetrator, network,
    /// classification-conflict.
    #[arg(long = "kind")]
    pub kinds: Vec<String>,
    /// Only signals with evidence on or after this date (YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<String>,
    /// Only signals with evidence on or before this date.
    #[arg(long)]
    pub until: Option<String>,
    /// Only this profile's signals (and networks it is part of).
    #[arg(long)]
    pub profile: Option<String>,
    /// Leave out signals whose concerns are all resolved.
    #[arg(long)]
    pub current_only: bool,
    /// At most this many, newest first (1 to 100000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    /// Skip this many of the newest first (the next page: --offset 100
    /// with the default --limit).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub offset: u32,
    /// List every record and related person of each signal (for exports
    /// and `braid eval --signals`); by default each lists at most 20
    /// records and 50 related people.
    #[arg(long)]
    pub full: bool,
}

/// Fetches signals.
pub async fn fetch_signals(args: &PanelArgs, filter: &SignalFilter) -> Result<v1::SignalsResponse> {
    let (since, until) = date_window(filter.since.as_deref(), filter.until.as_deref())?;
    let request = v1::SignalsRequest {
        context: context(args),
        kinds: filter.kinds.clone(),
        since,
        until,
        limit: filter.limit,
        current_only: filter.current_only,
        profile_id: filter.profile.clone().unwrap_or_default(),
        full: filter.full,
        offset: filter.offset,
    };
    Ok(braid_client::panel(&args.node).await?.signals(request).await.map_err(refused)?.into_inner())
}

/// `braid panel signals`.
pub async fn signals_command(args: &PanelArgs, filter: &SignalFilter, json: bool) -> Result<()> {
    let response = fetch_signals(args, filter).await?;
    if json {
        let value = serde_json::json!({
            "matched": response.matched,
            "signals": response.signals.iter().map(signal_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    for s in &response.signals {
        print_signal(s);
    }
    match (filter.offset, response.signals.len()) {
        (0, shown) => println!("{shown} of {} matching signals shown", response.matched),
        (_, 0) => println!("none of {} matching signals shown (--offset {} is past the last)", response.matched, filter.offset),
        (offset, shown) => println!("signals {}–{} of {} matching shown", offset + 1, offset as usize + shown, response.matched),
    }
    Ok(())
}

/// How to print a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkFormat {
    /// People and links as text.
    Table,
    /// Graphviz DOT.
    Dot,
    /// A self-contained SVG picture.
    Svg,
    /// JSON.
    Json,
}

/// The drawing of a network answer.
pub fn drawing(response: &v1::NetworkResponse) -> Drawing {
    Drawing {
        nodes: response
            .nodes
            .iter()
            .map(|n| {
                let roles: std::collections::BTreeSet<&str> = n.roles.iter().map(String::as_str).collect();
                let mut lines = vec![n.id.clone()];
                lines.push(n.roles.join(", "));
                if !n.agencies.is_empty() {
                    lines.push(n.agencies.join(", "));
                }
                (n.id.clone(), lines, Shade::of(&roles, !n.outside), n.depth)
            })
            .collect(),
        edges: response
            .edges
            .iter()
            .map(|e| {
                let mut parts: Vec<String> =
                    e.records.iter().map(|r| format!("{} {} {}", r.agency, case_type_name(r.case_type), date_text(r.date.as_ref()))).collect();
                if e.outside_records > 0 {
                    parts.push(format!("{} outside", e.outside_records));
                }
                (e.victim as usize, e.harmer as usize, parts.join("; "))
            })
            .collect(),
    }
}

/// `braid panel network`.
pub async fn network_command(args: &PanelArgs, subject: &SubjectArgs, depth: u32, max_people: u32, format: NetworkFormat, out: Option<&Path>) -> Result<()> {
    let subject = match subject.resolve()? {
        Subject::Profile(id) => v1::network_request::Subject::ProfileId(id),
        Subject::Record(record) => v1::network_request::Subject::Record(record),
    };
    let response = braid_client::panel(&args.node)
        .await?
        .network(v1::NetworkRequest { context: context(args), subject: Some(subject), depth, max_people })
        .await
        .map_err(refused)?
        .into_inner();
    let text = match format {
        NetworkFormat::Dot => dot(&drawing(&response)),
        NetworkFormat::Svg => svg(&drawing(&response)),
        NetworkFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
            "nodes": response.nodes.iter().map(|n| serde_json::json!({
                "id": n.id, "outside": n.outside, "roles": n.roles, "agencies": n.agencies, "depth": n.depth,
            })).collect::<Vec<_>>(),
            "edges": response.edges.iter().map(|e| serde_json::json!({
                "victim": response.nodes.get(e.victim as usize).map(|n| n.id.clone()),
                "harmer": response.nodes.get(e.harmer as usize).map(|n| n.id.clone()),
                "records": e.records.iter().map(record_json).collect::<Vec<_>>(),
                "outside_records": e.outside_records,
            })).collect::<Vec<_>>(),
            "truncated": response.truncated,
        }))?,
        NetworkFormat::Table => {
            let mut text = String::new();
            for n in &response.nodes {
                text.push_str(&format!("{}{:<12} {:<45} {}\n", "  ".repeat(n.depth as usize), n.id, n.roles.join(", "), n.agencies.join(", ")));
            }
            text.push_str("links (who harmed → who was harmed):\n");
            for e in &response.edges {
                let name = |i: u32| response.nodes.get(i as usize).map(|n| n.id.clone()).unwrap_or_default();
                let records: Vec<String> = e.records.iter().map(|r| format!("{} {}", r.agency, r.record_ref)).collect();
                let outside = if e.outside_records > 0 { format!(" + {} outside", e.outside_records) } else { String::new() };
                text.push_str(&format!("  {} → {}   {}{outside}\n", name(e.harmer), name(e.victim), records.join(", ")));
            }
            if response.truncated {
                text.push_str("(more people are linked; raise --max-people or lower --depth)\n");
            }
            text
        }
    };
    match out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("write {}", path.display()))?;
            println!("{} people, {} links written to {}", response.nodes.len(), response.edges.len(), path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// A table as the node published it (every cell already suppressed), with
/// what it counts and how to read it: printed by `braid panel …`, written
/// as CSV and HTML by `braid panel pack`.
pub struct Table {
    /// What it counts.
    pub title: String,
    /// The heading of the row labels.
    pub corner: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Row label and cells.
    pub rows: Vec<(String, Vec<String>)>,
    /// How to read it (totals, suppression marks).
    pub notes: Vec<String>,
}

impl Table {
    /// Prints it for the terminal.
    pub fn print(&self) {
        if !self.title.is_empty() {
            println!("{}", self.title);
        }
        print_table(&self.corner, &self.columns, &self.rows);
        for note in &self.notes {
            println!("{note}");
        }
    }
}

pub(crate) fn print_table(corner: &str, columns: &[String], rows: &[(String, Vec<String>)]) {
    let first = rows.iter().map(|(l, _)| l.chars().count()).chain([corner.chars().count()]).max().unwrap_or(8).min(48);
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| rows.iter().map(|(_, r)| r.get(i).map_or(0, |v| v.chars().count())).chain([c.chars().count()]).max().unwrap_or(4))
        .collect();
    let mut header = format!("{corner:<first$}");
    for (c, w) in columns.iter().zip(&widths) {
        header.push_str(&format!("  {c:>w$}"));
    }
    println!("{header}");
    for (label, cells) in rows {
        let label: String = label.chars().take(first).collect();
        let mut line = format!("{label:<first$}");
        for (v, w) in cells.iter().zip(&widths) {
            line.push_str(&format!("  {v:>w$}"));
        }
        println!("{line}");
    }
}

/// `--since` and `--until` read as dates; a window that ends before it
/// starts is refused (nothing could fall in it).
fn date_window(since: Option<&str>, until: Option<&str>) -> Result<(Option<v1::Date>, Option<v1::Date>)> {
    let since_date = since.map(parse_date).transpose().context("--since")?;
    let until_date = until.map(parse_date).transpose().context("--until")?;
    if let (Some(from), Some(to)) = (&since_date, &until_date) {
        anyhow::ensure!(
            (from.year, from.month, from.day) <= (to.year, to.month, to.day),
            "--since {} is after --until {}: nothing can fall in that window (swap them?)",
            since.unwrap_or_default(),
            until.unwrap_or_default()
        );
    }
    Ok((since_date, until_date))
}

/// A date window for reports and counts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Window {
    /// Only what happened on or after this date (2024-04-01): a case's
    /// event date (incident start, else referral), or a signal's latest
    /// evidence.
    #[arg(long)]
    pub since: Option<String>,
    /// Only what happened on or before this date.
    #[arg(long)]
    pub until: Option<String>,
}

impl Window {
    fn dates(&self) -> Result<(Option<v1::Date>, Option<v1::Date>)> {
        date_window(self.since.as_deref(), self.until.as_deref())
    }

    /// ", cases from … to …" for a heading, or nothing.
    pub(crate) fn describe(&self, what: &str) -> String {
        match (&self.since, &self.until) {
            (None, None) => String::new(),
            (since, until) => format!(", {what} from {} to {}", since.as_deref().unwrap_or("the first"), until.as_deref().unwrap_or("the last")),
        }
    }
}

/// A report from the node.
pub async fn fetch_report(args: &PanelArgs, by: &[String], population: &str, window: &Window) -> Result<v1::ReportResponse> {
    let (since, until) = window.dates()?;
    Ok(braid_client::panel(&args.node)
        .await?
        .report(v1::ReportRequest { context: context(args), by: by.to_vec(), population: population.to_owned(), since, until })
        .await
        .map_err(refused)?
        .into_inner())
}

/// `braid panel report`.
pub async fn report_command(args: &PanelArgs, by: &[String], population: &str, window: &Window, json: bool) -> Result<()> {
    let response = fetch_report(args, by, population, window).await?;
    if json {
        let value = serde_json::json!({
            "population": response.population,
            "rows_by": response.rows_by,
            "columns_by": response.columns_by,
            "row_labels": response.row_labels,
            "column_labels": response.column_labels,
            "cells": response.rows.iter().map(|r| r.cells.clone()).collect::<Vec<_>>(),
            "row_totals": response.row_totals,
            "column_totals": response.column_totals,
            "total": response.total,
            "legend": response.legend,
            "rows_overlap": response.rows_overlap,
            "columns_overlap": response.columns_overlap,
            "answers_per_agency": response.answers_per_agency,
            "rounded": response.rounded,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    report_table(&response, window).print();
    Ok(())
}

/// A report as a table, with what it counts and how to read it.
pub fn report_table(response: &v1::ReportResponse, window: &Window) -> Table {
    let two = !response.columns_by.is_empty();
    let by_period = response.rows_by.starts_with("period:") || response.columns_by.starts_with("period:");
    let window = window.describe("cases");
    let overlapping = response.rows_overlap || response.columns_overlap;
    let multi = if response.rows_overlap { &response.rows_by } else { &response.columns_by };
    let period = if by_period { " and the period of their first case" } else { "" };
    let how = if response.answers_per_agency {
        let (agency, other) = if response.rows_overlap { (&response.rows_by, &response.columns_by) } else { (&response.columns_by, &response.rows_by) };
        let other = if other.starts_with("period:") {
            "the period of their first case there".to_owned()
        } else {
            format!("{other} as that {} records it", agency.replace('_', " "))
        };
        format!("each person under every {} whose records name them, by {other}", agency.replace('_', " "))
    } else if overlapping {
        let other = if response.rows_overlap { &response.columns_by } else { &response.rows_by };
        let once = if two { format!("; by {other} once, under their latest known answer{period}") } else { String::new() };
        format!("each person under every category of {multi} any of their records ticks{once}")
    } else {
        format!("each person counted once, under their latest known answer{period}")
    };
    let title = format!(
        "distinct {} by {}{}{window} ({how})",
        response.population,
        response.rows_by,
        if two { format!(" and {}", response.columns_by) } else { String::new() },
    );
    // Who the totals count, where a person may be in several rows or
    // columns.
    let people = if response.population == "victims" { "children" } else { "people" };
    let mut columns = response.column_labels.clone();
    if response.columns_overlap {
        columns.push(format!("total (distinct {people})"));
    } else if two {
        columns.push("total".to_owned());
    }
    let mut rows: Vec<(String, Vec<String>)> = response
        .row_labels
        .iter()
        .zip(&response.rows)
        .enumerate()
        .map(|(i, (label, row))| {
            let mut cells = row.cells.clone();
            if two {
                cells.push(response.row_totals.get(i).cloned().unwrap_or_default());
            }
            (label.clone(), cells)
        })
        .collect();
    let mut totals = if two { response.column_totals.clone() } else { Vec::new() };
    // By agency crossed with its own answers, the other dimension has no
    // totals: its blanks keep the grand total in its column.
    totals.resize(if two { response.column_labels.len() } else { 0 }, String::new());
    totals.push(response.total.clone());
    rows.push((if response.rows_overlap { format!("Total (distinct {people})") } else { "total".to_owned() }, totals));
    let mut notes = Vec::new();
    if response.answers_per_agency {
        let singular = if people == "children" { "a child" } else { "a person" };
        notes.push(format!("Total: distinct {people}; {singular} is counted under every agency that knows them, with that agency's own answer, so one {} may be in different categories under different agencies", if people == "children" { "child" } else { "person" }));
    } else if overlapping {
        let singular = if people == "children" { "a child" } else { "a person" };
        let (lines, across) = if response.rows_overlap { ("rows", "down a column") } else { ("columns", "along a row") };
        notes.push(format!("Total: distinct {people}; {singular} may be counted in several {lines}, so the counts {across} can add up to more than its total"));
    }
    notes.push(if response.legend.is_empty() { LEGEND } else { response.legend.as_str() }.to_owned());
    Table { title, corner: response.rows_by.clone(), columns, rows, notes }
}

mod figures;

pub use figures::*;
