//! The panel's figures beyond reports: data quality (completeness, in the
//! pilot report's form too), signal counts, cohorts, disagreements between
//! agencies, freshness and interconnectedness.

use super::*;

/// How `braid panel quality` lays completeness out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QualityFormat {
    /// Template items by agency: known and not-known shares.
    Items,
    /// The pilot report's form (its Tables 2–9): each item by agency type,
    /// the share of agencies whose system collects it and holds it in
    /// reportable categories, and the shares of answers not known and not
    /// recorded.
    Pilot,
}

/// `braid panel quality`: completeness per agency and template item, or
/// in the pilot report's form.
pub async fn quality_command(args: &PanelArgs, format: QualityFormat, json: bool) -> Result<()> {
    let response = fetch_completeness(args).await?;
    match format {
        QualityFormat::Items => print_completeness(&response, json),
        QualityFormat::Pilot if json => {
            println!("{}", serde_json::to_string_pretty(&pilot_json(&response))?);
            Ok(())
        }
        QualityFormat::Pilot => {
            completeness_pilot_table(&response).print();
            Ok(())
        }
    }
}

/// One agency type's figures for one item in the pilot's form.
#[derive(Debug, Default)]
pub(super) struct PilotCell {
    /// Agencies of the type with records.
    agencies: u64,
    /// Of those, how many declared how their system holds the item.
    declared: u64,
    /// Held in categories or as free text (the pilot's "collected").
    collected: u64,
    /// Held in categories (the pilot's "reportable").
    reportable: u64,
    /// Answers where the item applies, not known and not recorded, summed
    /// over the agencies; None where an agency's counts are suppressed.
    answers: Option<(u64, u64, u64)>,
}

impl PilotCell {
    fn of(response: &v1::CompletenessResponse, agency_type: &str, field_id: &str) -> PilotCell {
        let mut cell = PilotCell { answers: Some((0, 0, 0)), ..PilotCell::default() };
        for agency in response.agencies.iter().filter(|a| a.agency_type == agency_type && a.records > 0) {
            cell.agencies += 1;
            let Some(item) = agency.items.iter().find(|i| i.field_id == field_id) else { continue };
            cell.declared += u64::from(!item.held.is_empty());
            cell.collected += u64::from(item.held == "categories" || item.held == "free text");
            cell.reportable += u64::from(item.held == "categories");
            // Only published numbers are added up: a suppressed count
            // leaves the type's shares unknown.
            let plain = [&item.known_shown, &item.not_known_shown, &item.missing_shown].iter().all(|s| s.is_empty() || s.parse::<u64>().is_ok());
            cell.answers = match (cell.answers, plain) {
                (Some((all, not_known, missing)), true) => {
                    Some((all + item.known + item.not_known + item.missing, not_known + item.not_known, missing + item.missing))
                }
                _ => None,
            };
        }
        cell
    }

    fn share(part: u64, whole: u64) -> String {
        if whole == 0 {
            "-".to_owned()
        } else {
            format!("{:.0}%", 100.0 * part as f64 / whole as f64)
        }
    }

    /// "collected % / reportable %" and "not known % / not recorded %".
    fn texts(&self) -> [String; 2] {
        let answers = match self.answers {
            Some((all, not_known, missing)) => format!("{} / {}", Self::share(not_known, all), Self::share(missing, all)),
            None => "*".to_owned(),
        };
        [format!("{} / {}", Self::share(self.collected, self.declared), Self::share(self.reportable, self.declared)), answers]
    }
}

/// The agency types present in a completeness answer, in the template's
/// order, with how many agencies (with records) each has.
pub(super) fn pilot_types(response: &v1::CompletenessResponse) -> Vec<(&'static str, usize)> {
    braid_template::AGENCY_TYPES
        .iter()
        .map(|t| (*t, response.agencies.iter().filter(|a| a.agency_type == *t && a.records > 0).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

pub(super) const PILOT_NOTE: &str = "(n): the type's agencies; collected: share of them whose system holds the item, in categories or as narrative text, as their mappings declare; reportable: held in categories; agencies that declared nothing about an item are left out of both (-: none declared); not known / not recorded: share of the type's answers where the item applies";

/// Completeness in the pilot report's form: template items (A victims, B
/// perpetrators, C context, D services, then the extensions) by agency
/// type.
pub fn completeness_pilot_table(response: &v1::CompletenessResponse) -> Table {
    let template = braid_template::Template::standard();
    let types = pilot_types(response);
    let columns =
        types.iter().flat_map(|(t, n)| ["collected / reportable", "not known / not recorded"].map(|measure| format!("{t} ({n}): {measure}"))).collect();
    let by_item: Vec<Vec<PilotCell>> =
        template.fields().iter().map(|field| types.iter().map(|(t, _)| PilotCell::of(response, t, &field.id)).collect()).collect();
    let rows = template
        .fields()
        .iter()
        .zip(&by_item)
        .map(|(field, cells)| (format!("{} {}", field.item, field.question), cells.iter().flat_map(PilotCell::texts).collect()))
        .collect();
    let mut notes = vec![PILOT_NOTE.to_owned()];
    if by_item.iter().flatten().any(|cell| cell.answers.is_none()) {
        notes.push("*: an agency's count for the item is small and suppressed, so the type's shares of answers are not shown".to_owned());
    }
    Table { title: "Levels of data collection by agency type (the pilot report's Tables 2–9)".to_owned(), corner: "item".to_owned(), columns, rows, notes }
}

/// The pilot form as JSON: per item and agency type, counts of agencies and
/// of answers (null where suppressed).
pub(super) fn pilot_json(response: &v1::CompletenessResponse) -> serde_json::Value {
    let template = braid_template::Template::standard();
    let types = pilot_types(response);
    let items: Vec<serde_json::Value> = template
        .fields()
        .iter()
        .map(|field| {
            let by_type: Vec<serde_json::Value> = types
                .iter()
                .map(|(t, _)| {
                    let cell = PilotCell::of(response, t, &field.id);
                    let answers =
                        cell.answers.map(|(all, not_known, missing)| serde_json::json!({ "applies": all, "not_known": not_known, "not_recorded": missing }));
                    serde_json::json!({
                        "agency_type": t, "agencies": cell.agencies, "declared": cell.declared,
                        "collected": cell.collected, "reportable": cell.reportable, "answers": answers,
                    })
                })
                .collect();
            serde_json::json!({ "field_id": field.id, "item": field.item, "question": field.question, "by_type": by_type })
        })
        .collect();
    serde_json::json!({ "items": items, "note": PILOT_NOTE })
}

/// The partnership's completeness from the node.
pub async fn fetch_completeness(args: &PanelArgs) -> Result<v1::CompletenessResponse> {
    Ok(braid_client::panel(&args.node).await?.completeness(v1::CompletenessRequest { context: context(args) }).await.map_err(refused)?.into_inner())
}

/// Prints a completeness answer as a table (items by agency) or JSON.
pub fn print_completeness(response: &v1::CompletenessResponse, json: bool) -> Result<()> {
    if json {
        let value: Vec<serde_json::Value> = response
            .agencies
            .iter()
            .map(|a| {
                serde_json::json!({
                    "agency": a.agency,
                    "agency_type": a.agency_type,
                    "records": a.records,
                    "items": a.items.iter().map(|i| {
                        // A panel's view carries the published counts.
                        let count = |shown: &str, n: u64| if shown.is_empty() { serde_json::Value::from(n) } else if let Ok(n) = shown.parse::<u64>() { serde_json::Value::from(n) } else { serde_json::Value::from(shown) };
                        serde_json::json!({
                            "field_id": i.field_id, "item": i.item,
                            "known": count(&i.known_shown, i.known),
                            "not_known": count(&i.not_known_shown, i.not_known),
                            "missing": count(&i.missing_shown, i.missing),
                            "held": i.held,
                        })
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "agencies": value }))?);
        return Ok(());
    }
    completeness_table(response).print();
    Ok(())
}

/// Completeness as a table: template items by agency.
pub fn completeness_table(response: &v1::CompletenessResponse) -> Table {
    // Items as rows, agencies as columns: "known% / not known%" where the
    // item applies; "-" where the agency never records it.
    let template = braid_template::Template::standard();
    let columns: Vec<String> = response.agencies.iter().map(|a| format!("{} ({} records)", a.agency, a.records)).collect();
    let mut rows = Vec::new();
    for field in template.fields() {
        let cells: Vec<String> = response
            .agencies
            .iter()
            .map(|a| match a.items.iter().find(|i| i.field_id == field.id) {
                // Suppressed counts are shown as published, never as shares
                // (a share would give them away).
                Some(i) if [&i.known_shown, &i.not_known_shown, &i.missing_shown].iter().any(|s| *s == "<5" || *s == "*") => {
                    format!("{} / {} / {} (n)", i.known_shown, i.not_known_shown, i.missing_shown)
                }
                Some(i) if i.known + i.not_known > 0 => {
                    let total = (i.known + i.not_known + i.missing) as f64;
                    format!("{:.0}% / {:.0}%", 100.0 * i.known as f64 / total, 100.0 * i.not_known as f64 / total)
                }
                // Never answered: how the agency's system holds it, where
                // its mapping says.
                Some(i) if i.held == "free text" => "free text".to_owned(),
                Some(i) if i.held == "not held" => "not held".to_owned(),
                _ => "-".to_owned(),
            })
            .collect();
        if cells.iter().any(|c| c != "-" && c != "not held") {
            rows.push((format!("{} {}", field.item, field.id), cells));
        }
    }
    let mut notes = vec!["known% / not-known% of answers where the item applies; the rest is missing; -: never recorded; free text / not held: never recorded, and the agency's system holds it only as narrative text / has no place for it".to_owned()];
    if response.agencies.iter().flat_map(|a| &a.items).any(|i| !i.known_shown.is_empty()) {
        notes.push(format!("where a count is small: known / not known / missing as counts; {}", braid_signals::report::LEGEND));
    }
    Table { title: String::new(), corner: "item".to_owned(), columns, rows, notes }
}

/// `braid panel signal-counts`: people per signal kind over time.
pub async fn signal_counts_command(args: &PanelArgs, period: &str, window: &Window, json: bool) -> Result<()> {
    let response = fetch_signal_counts(args, period, window).await?;
    if json {
        let value = serde_json::json!({
            "period_labels": response.period_labels,
            "rows": response.rows.iter().map(|r| serde_json::json!({ "kind": r.kind, "cells": r.cells, "total": r.total })).collect::<Vec<_>>(),
            "legend": response.legend,
            "rounded": response.rounded,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    signal_counts_table(&response, period, window).print();
    Ok(())
}

/// Signal counts from the node.
pub async fn fetch_signal_counts(args: &PanelArgs, period: &str, window: &Window) -> Result<v1::SignalCountsResponse> {
    let (since, until) = window.dates()?;
    Ok(braid_client::panel(&args.node)
        .await?
        .signal_counts(v1::SignalCountsRequest { context: context(args), period: period.to_owned(), since, until })
        .await
        .map_err(refused)?
        .into_inner())
}

/// Signal counts as a table: kinds by period.
pub fn signal_counts_table(response: &v1::SignalCountsResponse, period: &str, window: &Window) -> Table {
    let title = format!(
        "distinct people per signal kind, by {period} of the signal's latest evidence{} (a person may be under several kinds)",
        window.describe("evidence")
    );
    let mut columns = response.period_labels.clone();
    columns.push("total".to_owned());
    let rows: Vec<(String, Vec<String>)> = response
        .rows
        .iter()
        .map(|r| {
            let mut cells = r.cells.clone();
            cells.push(r.total.clone());
            (r.kind.clone(), cells)
        })
        .collect();
    Table { title, corner: "signal".to_owned(), columns, rows, notes: vec![response.legend.clone()] }
}

/// `braid panel cohort`: a cohort of children and their outcomes in the
/// 12 months after they entered it.
pub async fn cohort_command(args: &PanelArgs, cohort: &str, window: &Window, json: bool) -> Result<()> {
    let response = fetch_cohort(args, cohort, window).await?;
    if json {
        let value = serde_json::json!({
            "cohort": response.cohort,
            "children": response.children,
            "followed_up": response.followed_up,
            "rows": response.rows.iter().map(|r| serde_json::json!({ "outcome": r.outcome, "children": r.children, "share": r.share })).collect::<Vec<_>>(),
            "legend": response.legend,
            "rounded": response.rounded,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    cohort_table(&response, window).print();
    Ok(())
}

/// A cohort's outcomes from the node.
pub async fn fetch_cohort(args: &PanelArgs, cohort: &str, window: &Window) -> Result<v1::CohortResponse> {
    let (since, until) = window.dates()?;
    Ok(braid_client::panel(&args.node)
        .await?
        .cohort(v1::CohortRequest { context: context(args), cohort: cohort.to_owned(), since, until })
        .await
        .map_err(refused)?
        .into_inner())
}

/// A cohort's outcomes as a table: one row per outcome kind.
pub fn cohort_table(response: &v1::CohortResponse, window: &Window) -> Table {
    let title = format!(
        "{}{}: {} children ({} of them entered 12 months or more ago); outcome events in the 12 months after entering",
        response.cohort,
        window.describe("entry"),
        response.children,
        response.followed_up
    );
    let rows = response.rows.iter().map(|r| (r.outcome.clone(), vec![r.children.clone(), r.share.clone()])).collect();
    Table {
        title,
        corner: "outcome".to_owned(),
        columns: vec!["children".to_owned(), "share of cohort".to_owned()],
        rows,
        notes: vec![response.legend.clone()],
    }
}

/// `braid panel disagreements`: per item and agency pair, the children
/// whose records at the two agencies give different known answers.
pub async fn disagreements_command(args: &PanelArgs, items: &[String], window: &Window, json: bool) -> Result<()> {
    let response = fetch_disagreements(args, items, window).await?;
    if json {
        let value = serde_json::json!({
            "rows": response.rows.iter().map(|r| serde_json::json!({
                "item": r.item, "item_number": r.item_number, "agency_a": r.agency_a, "agency_b": r.agency_b, "children": r.children,
            })).collect::<Vec<_>>(),
            "legend": response.legend,
            "rounded": response.rounded,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    disagreements_table(&response, window).print();
    Ok(())
}

/// Disagreements from the node.
pub async fn fetch_disagreements(args: &PanelArgs, items: &[String], window: &Window) -> Result<v1::DisagreementsResponse> {
    let (since, until) = window.dates()?;
    Ok(braid_client::panel(&args.node)
        .await?
        .disagreements(v1::DisagreementsRequest { context: context(args), items: items.to_vec(), since, until })
        .await
        .map_err(refused)?
        .into_inner())
}

/// Disagreements as a table: item, the two agencies, children.
pub fn disagreements_table(response: &v1::DisagreementsResponse, window: &Window) -> Table {
    let title = format!("children whose records at two agencies disagree{}", window.describe("records"));
    let rows: Vec<(String, Vec<String>)> = response
        .rows
        .iter()
        .map(|r| {
            let item = if r.item_number.is_empty() { r.item.clone() } else { format!("{} ({})", r.item, r.item_number) };
            (item, vec![r.agency_a.clone(), r.agency_b.clone(), r.children.clone()])
        })
        .collect();
    Table {
        title,
        corner: "item".to_owned(),
        columns: vec!["one agency".to_owned(), "the other agency".to_owned(), "children".to_owned()],
        rows,
        notes: vec![response.legend.clone()],
    }
}

/// `braid panel freshness`: each agency's last change and how current its
/// records are.
pub async fn freshness_command(args: &PanelArgs, months: u32, json: bool) -> Result<()> {
    let response = fetch_freshness(args, months).await?;
    let last = |a: &v1::AgencyFreshness| a.last_change.as_ref().map_or_else(|| "-".to_owned(), v1::Date::to_string);
    if json {
        let value = serde_json::json!({
            "months": response.months,
            "agencies": response.agencies.iter().map(|a| serde_json::json!({
                "agency": a.agency, "agency_type": a.agency_type, "last_change": last(a),
                "records": a.records, "current": a.current, "current_unchanged": a.current_unchanged, "changed": a.changed,
                "reclassified": a.reclassified,
            })).collect::<Vec<_>>(),
            "legend": response.legend,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    freshness_table(&response).print();
    Ok(())
}

/// Freshness from the node.
pub async fn fetch_freshness(args: &PanelArgs, months: u32) -> Result<v1::FreshnessResponse> {
    Ok(braid_client::panel(&args.node).await?.freshness(v1::FreshnessRequest { context: context(args), months }).await.map_err(refused)?.into_inner())
}

/// Freshness as a table: one row per agency.
pub fn freshness_table(response: &v1::FreshnessResponse) -> Table {
    let last = |a: &v1::AgencyFreshness| a.last_change.as_ref().map_or_else(|| "-".to_owned(), v1::Date::to_string);
    let columns =
        ["last change", "records", "current", &format!("current, unchanged {}+ months", response.months), "changed", "reclassified"].map(str::to_owned);
    let rows: Vec<(String, Vec<String>)> = response
        .agencies
        .iter()
        .map(|a| {
            (a.agency.clone(), vec![last(a), a.records.clone(), a.current.clone(), a.current_unchanged.clone(), a.changed.clone(), a.reclassified.clone()])
        })
        .collect();
    Table { title: String::new(), corner: "agency".to_owned(), columns: columns.to_vec(), rows, notes: vec![response.legend.clone()] }
}

/// `braid panel services`: which agencies work with the same children.
pub async fn services_command(args: &PanelArgs, json: bool) -> Result<()> {
    let response = fetch_services(args).await?;
    if json {
        let value = serde_json::json!({
            "agencies": response.agencies,
            "rows": response.rows.iter().map(|r| r.cells.clone()).collect::<Vec<_>>(),
            "legend": response.legend,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    services_table(&response).print();
    Ok(())
}

/// The agencies-together matrix from the node.
pub async fn fetch_services(args: &PanelArgs) -> Result<v1::InterconnectednessResponse> {
    Ok(braid_client::panel(&args.node).await?.interconnectedness(v1::InterconnectednessRequest { context: context(args) }).await.map_err(refused)?.into_inner())
}

/// The agencies-together matrix as a table.
pub fn services_table(response: &v1::InterconnectednessResponse) -> Table {
    let rows: Vec<(String, Vec<String>)> = response.agencies.iter().zip(&response.rows).map(|(a, r)| (a.clone(), r.cells.clone())).collect();
    Table { title: String::new(), corner: "children known to".to_owned(), columns: response.agencies.clone(), rows, notes: vec![response.legend.clone()] }
}
