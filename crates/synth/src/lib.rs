//! Synthetic agencies' extracts with ground truth, for tests, demos and
//! benchmarks.
//!
//! [`generate`] builds a population of children in households (siblings share
//! a surname and postcode; some are twins), adult and peer perpetrators, and
//! cases known to one or several of children's services, police, a youth
//! offending team and a voluntary service. Each agency records what it knows
//! in its own columns, labels and date format, with realistic recording noise
//! (typos, nicknames, surname changes, day/month swaps, moves, missing fields,
//! duplicate local person ids). Planted patterns: re-victimisation, victim/HSB
//! overlap, victims recorded as offenders, perpetrator networks and CSA/CSE
//! disagreement between agencies. [`Synthetic::truth`] says who is who.
//!
//! Deterministic for a given [`SynthConfig`]. Does no I/O except in
//! [`Synthetic::write_to`].

mod agencies;
mod names;
mod noise;
mod population;

use std::path::Path;

pub use agencies::{mapping, AgencySpec, AGENCIES};
pub use population::{generate, SynthConfig};

/// How much recording noise to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoiseLevel {
    /// A third of the default rates.
    Low,
    /// Rates in line with what agencies' records show.
    #[default]
    Default,
    /// Two and a half times the default rates.
    High,
}

impl NoiseLevel {
    /// The multiplier on every noise rate.
    pub fn factor(self) -> f64 {
        match self {
            NoiseLevel::Low => 0.33,
            NoiseLevel::Default => 1.0,
            NoiseLevel::High => 2.5,
        }
    }

    /// Reads `low`, `default` or `high`.
    pub fn parse(text: &str) -> Option<NoiseLevel> {
        match text {
            "low" => Some(NoiseLevel::Low),
            "default" => Some(NoiseLevel::Default),
            "high" => Some(NoiseLevel::High),
            _ => None,
        }
    }
}

/// One agency's extract.
#[derive(Debug, Clone)]
pub struct Extract {
    /// Agency code.
    pub agency: String,
    /// CSV text, one row per involvement.
    pub csv: String,
    /// The mapping that reads it.
    pub mapping: braid_pseudonym::Mapping,
    /// Data rows.
    pub rows: usize,
}

/// One line of the ground truth: which real person an agency's row is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthRow {
    /// Agency code.
    pub agency: String,
    /// The agency's local case id.
    pub case_id: String,
    /// The agency's local person id.
    pub person_id: String,
    /// Role name (`known_victim`, ...).
    pub role: String,
    /// The real person (`T000123`); unknown perpetrators have their own.
    pub true_person: String,
    /// The real incident the record is about (`I000045`).
    pub incident: String,
    /// The child's household (`H000012`), shared by siblings and twins;
    /// empty for adults.
    pub household: String,
    /// When the incident really happened (ISO date); agencies record it a
    /// few days apart.
    pub incident_date: String,
    /// The person's age in whole years at the incident.
    pub age: i32,
    /// How this agency classified the case: `CSA`, `CSE` or `HSB` (an agency
    /// may disagree with the others).
    pub recorded_as: String,
    /// Whether this agency had already had a case with the same victim, so
    /// that the case is a re-referral there (recorded as such unless the
    /// cell was left blank).
    pub re_referral: bool,
}

/// One outcome event of the ground truth: whose it is, what and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeTruthRow {
    /// Agency code.
    pub agency: String,
    /// The agency's event id.
    pub event_id: String,
    /// The agency's person id.
    pub person_id: String,
    /// The real person.
    pub true_person: String,
    /// The outcome kind's code (`missing_episode`…).
    pub kind: String,
    /// When, `YYYY-MM-DD`.
    pub date: String,
}

/// Everything generated.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// One extract per agency.
    pub extracts: Vec<Extract>,
    /// Ground truth for every row of every extract.
    pub truth: Vec<TruthRow>,
    /// Each agency's extract of outcome events (an agency that records
    /// none has none), with an outcomes mapping.
    pub outcomes: Vec<Extract>,
    /// Ground truth for every outcome event.
    pub outcome_truth: Vec<OutcomeTruthRow>,
    /// Number of children in the population.
    pub children: usize,
}

/// Errors writing the output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be written.
    #[error("write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl Synthetic {
    /// The outcome truth as CSV (agency, event_id, person_id, true_person,
    /// kind, date).
    pub fn outcome_truth_csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record(["agency", "event_id", "person_id", "true_person", "kind", "date"]);
        for row in &self.outcome_truth {
            let _ = writer.write_record([&row.agency, &row.event_id, &row.person_id, &row.true_person, &row.kind, &row.date]);
        }
        String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// The truth as CSV: `agency,case_id,person_id,role,true_person,incident,
    /// household,incident_date,age,recorded_as,re_referral`.
    pub fn truth_csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record([
            "agency",
            "case_id",
            "person_id",
            "role",
            "true_person",
            "incident",
            "household",
            "incident_date",
            "age",
            "recorded_as",
            "re_referral",
        ]);
        for row in &self.truth {
            let _ = writer.write_record([
                row.agency.as_str(),
                &row.case_id,
                &row.person_id,
                &row.role,
                &row.true_person,
                &row.incident,
                &row.household,
                &row.incident_date,
                &row.age.to_string(),
                &row.recorded_as,
                if row.re_referral { "yes" } else { "no" },
            ]);
        }
        String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// Writes `<agency>.csv`, `<agency>.mapping.toml` for each agency and
    /// `truth.csv` into `dir`, which is created if needed. Returns the paths.
    pub fn write_to(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
        let write = |name: String, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| Error::Write { path: path.display().to_string(), source })?;
            Ok(path)
        };
        std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: dir.display().to_string(), source })?;
        let mut paths = Vec::new();
        for extract in &self.extracts {
            paths.push(write(format!("{}.csv", extract.agency), &extract.csv)?);
            paths.push(write(format!("{}.mapping.toml", extract.agency), &extract.mapping.to_toml())?);
        }
        for extract in &self.outcomes {
            paths.push(write(format!("{}-outcomes.csv", extract.agency), &extract.csv)?);
            paths.push(write(format!("{}-outcomes.mapping.toml", extract.agency), &extract.mapping.to_toml())?);
        }
        paths.push(write("truth.csv".to_owned(), &self.truth_csv())?);
        if !self.outcome_truth.is_empty() {
            paths.push(write("outcomes_truth.csv".to_owned(), &self.outcome_truth_csv())?);
        }
        Ok(paths)
    }
}
