//! An independent synthetic generator of agency extracts with ground truth,
//! for scoring Braid's linkage on data it was not tuned on.
//!
//! [`generate`] builds a population of children in households with their
//! parents (about a third, by default, of South Asian, Arabic, East
//! European, West African or Turkish origin; twins, siblings, sons named
//! after their fathers), the adults who harmed them and the cases that
//! brought them to notice, then writes what each of four agencies
//! (children's services, police, youth offending, a voluntary service) would
//! hold: its own CSV layout, labels, date format and sex coding, and its own
//! recording errors (typos, sound-alike spellings, nicknames, other
//! transliterations, swapped name order, half a double-barrelled surname,
//! blanks, wrong or impossible dates of birth, postcodes from before a move,
//! duplicate local records). Each extract comes with a Braid mapping file
//! and a `true_id` column; `people.csv` and `involvements.csv` hold the
//! truth.
//!
//! Output is a function of [`Config`] alone: one `ChaCha8Rng` seeded from
//! [`Config::seed`] drives every draw, and nothing iterates a hash map.
//!
//! Modules: [`names`] (name tables), [`population`] (people and households),
//! [`cases`] (who harmed whom), [`agencies`] (what each agency writes),
//! [`errors`] (how records go wrong), [`calendar`] (dates and formats).

pub mod agencies;
pub mod calendar;
pub mod cases;
pub mod errors;
pub mod names;
pub mod population;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use agencies::{agencies, Book, Involvement};
use calendar::{read, Reading};
use population::{Origin, Person, Population, Sex};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Children (aged 0–17 on 2025-01-01) to generate; adults are added as
    /// household members and perpetrators.
    pub people: usize,
    /// Seed of the random stream.
    pub seed: u64,
    /// Share of households (and outside adults) of origins other than British.
    pub diverse_share: f64,
    /// Share of children who have a twin.
    pub twin_rate: f64,
    /// Share of boys living with their father who carry his forename (girls
    /// with their mother's: a quarter of this).
    pub junior_rate: f64,
    /// Share of new outside adults who carry a child's forename and surname.
    pub namesake_rate: f64,
    /// Share of children harmed again in a later case.
    pub repeat_share: f64,
}

impl Default for Config {
    fn default() -> Self {
        let (twin_rate, junior_rate, namesake_rate, repeat_share) = (0.015, 0.04, 0.03, 0.15);
        Config { people: 4000, seed: 1, diverse_share: 0.33, twin_rate, junior_rate, namesake_rate, repeat_share }
    }
}

/// One agency's extract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extract {
    /// Agency code, e.g. `POL-A`.
    pub code: String,
    /// The CSV text.
    pub csv: String,
    /// The mapping TOML text.
    pub mapping: String,
    /// Data rows in the CSV.
    pub rows: usize,
}

/// Everything generated.
#[derive(Debug, Clone)]
pub struct Output {
    /// The four agencies' extracts.
    pub extracts: Vec<Extract>,
    /// Ground truth of every row of every extract.
    pub involvements: Vec<Involvement>,
    /// The whole population, including parents who never come to notice.
    pub population: Vec<Person>,
    /// Whether each person in `population` appears in some extract.
    pub involved: Vec<bool>,
}

/// Generates the population, cases and extracts for `config`.
pub fn generate(config: &Config) -> Output {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let names = names::Names::new();
    let mut population = Population::build(config, &names, &mut rng);
    let cases = cases::build(&mut population, &names, config, &mut rng);
    let agencies = agencies();
    let mut books: Vec<Book> = agencies.iter().map(Book::new).collect();
    for (incident, case) in cases.iter().enumerate() {
        let kind = case.case_type as usize;
        let mut knowing: Vec<bool> = agencies.iter().map(|a| rng.gen::<f64>() < a.knows[kind]).collect();
        if !knowing.contains(&true) {
            knowing[0] = true;
        }
        for (book, knows) in books.iter_mut().zip(knowing) {
            if knows {
                book.enter(&mut rng, &names, (incident, case), &population);
            }
        }
    }
    let index: BTreeMap<&str, usize> = population.people.iter().enumerate().map(|(i, p)| (p.true_id.as_str(), i)).collect();
    let mut involved = vec![false; population.people.len()];
    let mut involvements = Vec::new();
    let mut extracts = Vec::new();
    for (agency, book) in agencies.iter().zip(&books) {
        for row in &book.truth {
            involved[index[row.true_id.as_str()]] = true;
        }
        involvements.extend(book.truth.iter().cloned());
        extracts.push(Extract { code: agency.code.to_owned(), csv: book.csv(), mapping: agency.mapping(), rows: book.rows.len() });
    }
    Output { extracts, involvements, population: population.people, involved }
}

/// CSV text of a header and rows.
pub(crate) fn to_csv(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let write = |writer: &mut csv::Writer<Vec<u8>>| -> csv::Result<()> {
        writer.write_record(header)?;
        for row in rows {
            writer.write_record(&row)?;
        }
        writer.flush()?;
        Ok(())
    };
    write(&mut writer).expect("writing CSV to memory cannot fail");
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

impl Output {
    /// `people.csv`: one row per person who appears in some extract.
    pub fn people_csv(&self) -> String {
        let rows = self.population.iter().zip(&self.involved).filter(|(_, i)| **i).map(|(p, _)| {
            vec![
                p.true_id.clone(),
                p.origin.label().to_owned(),
                if p.sex == Sex::Male { "m" } else { "f" }.to_owned(),
                p.dob.year.to_string(),
                p.age_band().to_owned(),
                format!("H{:06}", p.household + 1),
            ]
        });
        to_csv(&["true_id", "origin", "sex", "birth_year", "age_band", "household"], rows)
    }

    /// `involvements.csv`: the truth of every extract row.
    pub fn involvements_csv(&self) -> String {
        let rows = self.involvements.iter().map(|i| {
            vec![
                i.agency.clone(),
                i.case_id.clone(),
                i.person_id.clone(),
                i.true_id.clone(),
                i.role.name().to_owned(),
                i.case_type.name().to_owned(),
                i.event_date.iso(),
            ]
        });
        to_csv(&["agency", "case_id", "person_id", "true_id", "role", "case_type", "event_date"], rows)
    }

    /// `truth.csv`: every extract row as `braid eval --signals` reads a
    /// truth file (the columns `braid synth` writes): the role and case
    /// type the agency recorded, the true incident, when it happened and
    /// the person's age then. No agency here records re-referrals, so
    /// `re_referral` is `no` throughout.
    pub fn signal_truth_csv(&self) -> String {
        let rows = self.involvements.iter().map(|i| {
            vec![
                i.agency.clone(),
                i.case_id.clone(),
                i.person_id.clone(),
                i.recorded_role.name().to_owned(),
                i.true_id.clone(),
                format!("I{:06}", i.incident + 1),
                i.incident_date.iso(),
                i.age.to_string(),
                i.recorded_type.name().to_owned(),
                "no".to_owned(),
            ]
        });
        to_csv(&["agency", "case_id", "person_id", "role", "true_person", "incident", "incident_date", "age", "recorded_as", "re_referral"], rows)
    }

    /// Writes every file into `dir` (created if needed); returns their paths.
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut files: Vec<(String, String)> = Vec::new();
        for e in &self.extracts {
            files.push((format!("{}.csv", e.code), e.csv.clone()));
            files.push((format!("{}.mapping.toml", e.code), e.mapping.clone()));
        }
        files.push(("people.csv".to_owned(), self.people_csv()));
        files.push(("involvements.csv".to_owned(), self.involvements_csv()));
        files.push(("truth.csv".to_owned(), self.signal_truth_csv()));
        files
            .into_iter()
            .map(|(name, text)| {
                let path = dir.join(name);
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                Ok(path)
            })
            .collect()
    }

    /// Counts describing what was generated.
    pub fn summary(&self) -> Summary {
        let people = &self.population;
        let involved = |i: usize| self.involved[i];
        let children: Vec<usize> = (0..people.len()).filter(|&i| people[i].is_child()).collect();
        let mut origins: BTreeMap<Origin, usize> = BTreeMap::new();
        for p in people.iter().zip(&self.involved).filter(|(_, i)| **i).map(|(p, _)| p) {
            *origins.entry(p.origin).or_default() += 1;
        }
        let same_name = |a: &Person, b: &Person| a.forename.eq_ignore_ascii_case(&b.forename) && a.surname.eq_ignore_ascii_case(&b.surname);
        let with_twin = children.iter().filter(|&&c| people[c].twin.is_some()).count();
        let boys_with_father: Vec<usize> = children.iter().copied().filter(|&c| people[c].sex == Sex::Male && people[c].father.is_some()).collect();
        let juniors = |both_involved: bool| {
            children
                .iter()
                .flat_map(|&c| [people[c].father, people[c].mother].into_iter().flatten().map(move |p| (c, p)))
                .filter(|&(c, p)| same_name(&people[c], &people[p]) && (!both_involved || (involved(c) && involved(p))))
                .count()
        };
        let father_son = boys_with_father.iter().filter(|&&b| people[b].father.is_some_and(|f| same_name(&people[b], &people[f]))).count();
        // Child–adult pairs with one name in different households.
        let mut by_name: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for (i, p) in people.iter().enumerate() {
            by_name.entry((p.forename.to_lowercase(), p.surname.to_lowercase())).or_default().push(i);
        }
        let (mut unrelated, mut unrelated_involved) = (0, 0);
        for group in by_name.values() {
            for &c in group.iter().filter(|&&c| people[c].is_child()) {
                for &a in group.iter().filter(|&&a| !people[a].is_child() && people[a].household != people[c].household) {
                    unrelated += 1;
                    unrelated_involved += usize::from(involved(a) && involved(c));
                }
            }
        }
        let impossible_dobs = self.extracts.iter().map(|e| (e.code.clone(), count_impossible(e))).collect();
        Summary {
            people: people.len(),
            involved: self.involved.iter().filter(|i| **i).count(),
            children: children.len(),
            rows: self.extracts.iter().map(|e| (e.code.clone(), e.rows)).collect(),
            origins: origins.into_iter().collect(),
            twin_pairs: with_twin / 2,
            children_with_twin: with_twin,
            boys_with_father: boys_with_father.len(),
            father_son_same_name: father_son,
            parent_child_same_name: juniors(false),
            parent_child_same_name_involved: juniors(true),
            unrelated_same_name: unrelated,
            unrelated_same_name_involved: unrelated_involved,
            impossible_dobs,
        }
    }
}

/// Rows of `extract` whose date of birth cannot exist.
pub fn count_impossible(extract: &Extract) -> usize {
    let Some(agency) = agencies().into_iter().find(|a| a.code == extract.code) else { return 0 };
    let mut reader = csv::Reader::from_reader(extract.csv.as_bytes());
    let header = reader.headers().cloned().unwrap_or_default();
    let Some(column) = header.iter().position(|h| Some(h) == agency.header(agencies::Col::Dob)) else { return 0 };
    let records = reader.records().filter_map(Result::ok);
    records.filter(|r| read(r.get(column).unwrap_or(""), agency.date_format) == Reading::Impossible).count()
}

/// Counts describing an [`Output`].
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Everyone generated.
    pub people: usize,
    /// People appearing in some extract.
    pub involved: usize,
    /// Children (0–17 on 2025-01-01).
    pub children: usize,
    /// Data rows per agency.
    pub rows: Vec<(String, usize)>,
    /// Involved people by origin.
    pub origins: Vec<(Origin, usize)>,
    /// Twin pairs among children.
    pub twin_pairs: usize,
    /// Children who have a twin.
    pub children_with_twin: usize,
    /// Boys living with their father.
    pub boys_with_father: usize,
    /// Of those, boys with their father's forename and surname.
    pub father_son_same_name: usize,
    /// Parent–child pairs sharing forename and surname.
    pub parent_child_same_name: usize,
    /// Those pairs where both appear in some extract.
    pub parent_child_same_name_involved: usize,
    /// Child–adult pairs in different households sharing forename and surname.
    pub unrelated_same_name: usize,
    /// Those pairs where both appear in some extract.
    pub unrelated_same_name_involved: usize,
    /// Rows with an impossible date of birth, per agency.
    pub impossible_dobs: Vec<(String, usize)>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "people: {} generated, {} in some extract, {} children", self.people, self.involved, self.children)?;
        for (code, rows) in &self.rows {
            writeln!(f, "  {code}: {rows} rows")?;
        }
        write!(f, "origins of people in extracts:")?;
        for (origin, n) in &self.origins {
            write!(f, " {} {:.1}%", origin.label(), 100.0 * *n as f64 / self.involved.max(1) as f64)?;
        }
        writeln!(f)?;
        writeln!(f, "twins: {} pairs ({:.2}% of children)", self.twin_pairs, 100.0 * self.children_with_twin as f64 / self.children.max(1) as f64)?;
        writeln!(
            f,
            "same-name parent/child pairs: {} ({} both in extracts); boys named after their father: {} of {} ({:.1}%)",
            self.parent_child_same_name,
            self.parent_child_same_name_involved,
            self.father_son_same_name,
            self.boys_with_father,
            100.0 * self.father_son_same_name as f64 / self.boys_with_father.max(1) as f64
        )?;
        writeln!(f, "unrelated same-name child/adult pairs: {} ({} both in extracts)", self.unrelated_same_name, self.unrelated_same_name_involved)?;
        write!(f, "impossible dates of birth:")?;
        for (code, n) in &self.impossible_dobs {
            write!(f, " {code} {n}")?;
        }
        writeln!(f)
    }
}
