//! `braid panel pack`: the set of tables a multi-agency body receives each
//! quarter, for one period, as CSV files and one self-contained HTML page.
//! Every table is asked of the node exactly as the matching `braid panel`
//! command asks it (so every call is audited with the panel's purpose) and
//! every cell is written as the node published it: small counts `<5`,
//! withheld ones `*`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use maud::{html, Markup, DOCTYPE};

use crate::panel::{self, PanelArgs, Table, Window};

/// A period: its first and last day (YYYY-MM-DD) and its name.
fn period_window(period: &str) -> Result<(String, String, String)> {
    let bad = || anyhow::anyhow!("--period `{period}`: give a quarter (2026-Q3), a month (2026-07) or a year (2026)");
    let year_of = |text: &str| text.parse::<i32>().ok().filter(|y| (1900..=2200).contains(y)).ok_or_else(bad);
    let last_day = |year: i32, month: u32| (28..=31).rev().find(|&day| braid_template::Date::new(year, month, day).is_some()).unwrap_or(28);
    let (year, first_month, last_month, name) = if let Some((year, quarter)) = period.split_once("-Q") {
        let quarter: u32 = quarter.parse().ok().filter(|q| (1..=4).contains(q)).ok_or_else(bad)?;
        (year_of(year)?, quarter * 3 - 2, quarter * 3, format!("{year} quarter {quarter}"))
    } else if let Some((year, month)) = period.split_once('-') {
        let month: u32 = month.parse().ok().filter(|m| (1..=12).contains(m)).ok_or_else(bad)?;
        (year_of(year)?, month, month, format!("{year}-{month:02}"))
    } else {
        (year_of(period)?, 1, 12, period.to_owned())
    };
    Ok((format!("{year:04}-{first_month:02}-01"), format!("{year:04}-{last_month:02}-{:02}", last_day(year, last_month)), name))
}

/// One table of the pack: its file name, heading and the table.
struct Section {
    file: &'static str,
    heading: String,
    table: Table,
}

/// Writes a table as CSV: the row heading and column headings, then each
/// row.
fn write_csv(path: &Path, table: &Table) -> Result<()> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("create {}", path.display()))?;
    writer.write_record(std::iter::once(&table.corner).chain(&table.columns))?;
    for (label, cells) in &table.rows {
        writer.write_record(std::iter::once(label).chain(cells))?;
    }
    writer.flush()?;
    Ok(())
}

/// The page: every table with its heading and notes, styled inline (it is
/// a file to send on, with nothing to fetch).
fn page(partnership: &str, name: &str, window: (&str, &str), sections: &[Section]) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Braid quarterly pack: " (partnership) ", " (name) }
                style { (STYLE) }
            }
            body {
                h1 { "Braid pack: partnership " (partnership) ", " (name) }
                p { "Cases and signals from " (window.0) " to " (window.1) "; completeness, agencies together and freshness as the node holds them now. "
                    "Counts of people, never records. Small counts are shown as <5 and counts that would give one away as *." }
                @for section in sections {
                    section {
                        h2 { (section.heading) }
                        @if !section.table.title.is_empty() { p class="what" { (section.table.title) } }
                        table {
                            thead { tr { th scope="col" { (section.table.corner) } @for column in &section.table.columns { th scope="col" { (column) } } } }
                            tbody {
                                @for (label, cells) in &section.table.rows {
                                    tr { th scope="row" { (label) } @for cell in cells { td { (cell) } } }
                                }
                            }
                        }
                        @for note in &section.table.notes { p class="note" { (note) } }
                        p class="file" { "Also as " code { (section.file) } "." }
                    }
                }
            }
        }
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:80rem}\
table{border-collapse:collapse;margin:0.5rem 0}th,td{border:1px solid #bbb;padding:0.25rem 0.5rem}\
td{text-align:right}thead th{background:#eef1f5}.note,.what,.file{color:#444;font-size:0.9rem}\
@media print{section{break-inside:avoid}}";

/// `braid panel pack --period 2026-Q3 --out DIR`.
pub async fn pack_command(args: &PanelArgs, period: &str, out: &Path) -> Result<()> {
    let (since, until, name) = period_window(period)?;
    if out.exists() && std::fs::read_dir(out).with_context(|| format!("read {}", out.display()))?.next().is_some() {
        anyhow::bail!("{} is not empty; give a new directory for the pack", out.display());
    }
    let window = Window { since: Some(since.clone()), until: Some(until.clone()) };
    let mut sections = Vec::new();
    let mut add = |file: &'static str, heading: &str, table: Table| {
        eprintln!("  {heading}");
        sections.push(Section { file, heading: heading.to_owned(), table });
    };
    eprintln!("asking the node for the {name} pack of partnership {}:", args.partnership);
    let report = |by: &[&str], population: &str| {
        let by: Vec<String> = by.iter().map(|b| (*b).to_owned()).collect();
        let (population, window) = (population.to_owned(), window.clone());
        async move { panel::fetch_report(args, &by, &population, &window).await.map(|response| panel::report_table(&response, &window)) }
    };
    add("01-victims-by-case-type.csv", "Children known as victims, by case type", report(&["case_type"], "victims").await?);
    add(
        "02-victims-by-month.csv",
        "Children known as victims, by month of their first case and case type",
        report(&["period:month", "case_type"], "victims").await?,
    );
    add("03-harmers-by-case-type.csv", "People who harmed, by case type", report(&["case_type"], "harmers").await?);
    let counts = panel::fetch_signal_counts(args, "month", &window).await?;
    add("04-signals-by-month.csv", "Signals: people per kind, by month", panel::signal_counts_table(&counts, "month", &window));
    let disagreements = panel::fetch_disagreements(args, &[], &window).await?;
    add("05-disagreements.csv", "Where agencies disagree about one child", panel::disagreements_table(&disagreements, &window));
    add("06-agencies-together.csv", "Agencies working with the same children (now)", panel::services_table(&panel::fetch_services(args).await?));
    let completeness = panel::fetch_completeness(args).await?;
    add("07-completeness.csv", "Completeness by template item and agency (now)", panel::completeness_table(&completeness));
    add("08-freshness.csv", "Freshness of each agency's records (now)", panel::freshness_table(&panel::fetch_freshness(args, 6).await?));
    add(
        "09-completeness-pilot-form.csv",
        "Levels of data collection by agency type, in the pilot report's form (now)",
        panel::completeness_pilot_table(&completeness),
    );
    // Only once every table has come: a refused or failed query leaves no
    // half-made pack behind.
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    for section in &sections {
        write_csv(&out.join(section.file), &section.table)?;
    }
    let index: PathBuf = out.join("index.html");
    std::fs::write(&index, page(&args.partnership, &name, (&since, &until), &sections).into_string()).with_context(|| format!("write {}", index.display()))?;
    println!(
        "{name} pack for partnership {} written to {}: {} tables as CSV and {} (every cell as the node published it)",
        args.partnership,
        out.display(),
        sections.len(),
        index.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::period_window;

    #[test]
    fn periods_are_quarters_months_or_years() {
        assert_eq!(period_window("2026-Q3").unwrap(), ("2026-07-01".into(), "2026-09-30".into(), "2026 quarter 3".into()));
        assert_eq!(period_window("2024-02").unwrap().1, "2024-02-29");
        assert_eq!(period_window("2025").unwrap().0, "2025-01-01");
        for bad in ["2026-Q5", "2026-13", "Q3", "", "26-Q1"] {
            assert!(period_window(bad).is_err(), "{bad}");
        }
    }
}
