//! The population, its cases, and how each agency records them.

use std::collections::HashMap;

use braid_pseudonym::nicknames::NICKNAMES;
use braid_pseudonym::Date;
use braid_template::{FieldKind, Role, Template};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::agencies::{mapping, recorded_fields, AGENCIES, CSC, POL, VOL, YOT};
use crate::names::{BOYS, DISTRICTS, GIRLS, SURNAMES, UNIT_LETTERS};
use crate::noise::{typo, Rates};
use crate::{Extract, NoiseLevel, Synthetic, TruthRow};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Children in the population; every one appears in at least one case.
    pub children: usize,
    /// Random seed; the same seed gives the same output.
    pub seed: u64,
    /// Recording noise.
    pub noise: NoiseLevel,
}

impl Default for SynthConfig {
    fn default() -> SynthConfig {
        SynthConfig { children: 2000, seed: 42, noise: NoiseLevel::Default }
    }
}

#[derive(Debug, Clone)]
struct Person {
    id: usize,
    forename: &'static str,
    surname: String,
    dob: Date,
    male: bool,
    postcode: String,
    moved_postcode: String,
    nhs: String,
    ethnicity: u32,
    /// Some perpetrators are never identified.
    unknown: bool,
    /// The household of a child (siblings share one).
    household: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Csa,
    Cse,
    Hsb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PersonRole {
    Known,
    Suspected,
    Perpetrator,
    Hsb,
}

impl PersonRole {
    fn index(self) -> usize {
        match self {
            PersonRole::Known => 0,
            PersonRole::Suspected => 1,
            PersonRole::Perpetrator => 2,
            PersonRole::Hsb => 3,
        }
    }
    /// The shared vocabulary's role, whose name truth files carry.
    fn role(self) -> Role {
        [Role::KnownVictim, Role::SuspectedVictim, Role::Perpetrator, Role::Hsb][self.index()]
    }
}

struct Incident {
    id: usize,
    kind: Kind,
    date: Date,
    people: Vec<(usize, PersonRole)>,
    agencies: Vec<usize>,
    /// One agency records a CSA case as CSE or the reverse.
    conflict_agency: Option<usize>,
}

const REFERENCE_YEAR: i32 = 2025;

fn random_date(rng: &mut impl Rng, from_year: i32, to_year: i32) -> Date {
    loop {
        let year = rng.gen_range(from_year..=to_year);
        let month = rng.gen_range(1..=12);
        let day = rng.gen_range(1..=31);
        if let Some(date) = Date::new(year, month, day) {
            return date;
        }
    }
}

fn date_from_days(days: i64) -> Date {
    Date::from_days_since_epoch(days)
}

fn nhs_number(rng: &mut impl Rng) -> String {
    loop {
        let digits: Vec<u32> = (0..9).map(|_| rng.gen_range(0..10)).collect();
        let sum: u32 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        let check = 11 - sum % 11;
        let check = match check {
            11 => 0,
            10 => continue,
            c => c,
        };
        return digits.iter().chain(std::iter::once(&check)).map(|d| d.to_string()).collect();
    }
}

fn postcode(rng: &mut impl Rng, district: &str) -> String {
    let a = UNIT_LETTERS[rng.gen_range(0..UNIT_LETTERS.len())] as char;
    let b = UNIT_LETTERS[rng.gen_range(0..UNIT_LETTERS.len())] as char;
    format!("{district} {}{a}{b}", rng.gen_range(1..10))
}

struct Builder {
    rng: ChaCha8Rng,
    people: Vec<Person>,
}

impl Builder {
    fn person(&mut self, surname: String, postcode_text: String, dob: Date, male: bool) -> usize {
        let rng = &mut self.rng;
        let forename = if male { BOYS[rng.gen_range(0..BOYS.len())] } else { GIRLS[rng.gen_range(0..GIRLS.len())] };
        let district = DISTRICTS[rng.gen_range(0..DISTRICTS.len())];
        let person = Person {
            id: self.people.len(),
            forename,
            surname,
            dob,
            male,
            moved_postcode: postcode(rng, district),
            postcode: postcode_text,
            nhs: nhs_number(rng),
            ethnicity: if rng.gen_bool(0.7) { 1 } else { rng.gen_range(2..=16) },
            unknown: false,
            household: None,
        };
        self.people.push(person);
        self.people.len() - 1
    }

    fn surname(&mut self) -> String {
        let rng = &mut self.rng;
        let first = SURNAMES[rng.gen_range(0..SURNAMES.len())];
        if rng.gen_bool(0.05) {
            let second = SURNAMES[rng.gen_range(0..SURNAMES.len())];
            if second != first {
                return format!("{first}-{second}");
            }
        }
        first.to_owned()
    }

    fn address(&mut self) -> String {
        let district = DISTRICTS[self.rng.gen_range(0..DISTRICTS.len())];
        postcode(&mut self.rng, district)
    }
}

/// Households of children: siblings share surname and postcode; some
/// twins. Returns the children and each one's household surname and
/// address.
fn households(builder: &mut Builder, count: usize) -> (Vec<usize>, HashMap<usize, (String, String)>) {
    let mut children: Vec<usize> = Vec::new();
    let mut household_of: HashMap<usize, (String, String)> = HashMap::new();
    let mut households = 0usize;
    while children.len() < count {
        let surname = builder.surname();
        let address = builder.address();
        let size = *[1, 1, 1, 1, 1, 2, 2, 2, 3, 4].choose(&mut builder.rng).unwrap_or(&1);
        let twins = size >= 2 && builder.rng.gen_bool(0.08);
        households += 1;
        let mut previous_dob = None;
        for index in 0..size {
            if children.len() >= count {
                break;
            }
            let dob = match (twins, index, previous_dob) {
                (true, 1, Some(dob)) => dob,
                _ => random_date(&mut builder.rng, REFERENCE_YEAR - 17, REFERENCE_YEAR - 4),
            };
            previous_dob = Some(dob);
            let male = builder.rng.gen_bool(0.3);
            let id = builder.person(surname.clone(), address.clone(), dob, male);
            builder.people[id].household = Some(households);
            household_of.insert(id, (surname.clone(), address.clone()));
            children.push(id);
        }
    }
    (children, household_of)
}

/// Adds who harmed `child` to an incident's `people`, by `roll` (0–99):
/// unknown, an adult of the household, a peer who displays harmful sexual
/// behaviour, or an adult from the pool (skewed so some recur). Returns
/// whether it is a peer.
fn add_perpetrator(
    builder: &mut Builder,
    roll: i32,
    child: usize,
    children: &[usize],
    household_of: &HashMap<usize, (String, String)>,
    adult_pool: &[usize],
    people: &mut Vec<(usize, PersonRole)>,
) -> bool {
    let mut peer = false;
    if roll < 12 {
        // Unknown perpetrator: recorded without identity.
        let surname = builder.surname();
        let address = builder.address();
        let dob = random_date(&mut builder.rng, 1960, 2000);
        let id = builder.person(surname, address, dob, true);
        builder.people[id].unknown = true;
        people.push((id, PersonRole::Perpetrator));
    } else if roll < 27 {
        // Intra-familial: an adult of the household.
        let (surname, address) = household_of[&child].clone();
        let dob = random_date(&mut builder.rng, 1965, 1995);
        let male = builder.rng.gen_bool(0.85);
        let id = builder.person(surname, address, dob, male);
        people.push((id, PersonRole::Perpetrator));
    } else if roll < 35 && children.len() > 1 {
        // A peer who displays harmful sexual behaviour; the peer is a
        // child of the population and so often a victim elsewhere.
        let other = children[builder.rng.gen_range(0..children.len())];
        if other != child {
            people.push((other, PersonRole::Hsb));
            peer = true;
        }
    } else {
        // A perpetrator from the pool, skewed so some recur.
        let skew: f64 = builder.rng.gen::<f64>().powi(3);
        let index = (skew * adult_pool.len() as f64) as usize;
        people.push((adult_pool[index.min(adult_pool.len() - 1)], PersonRole::Perpetrator));
    }
    peer
}

/// The agencies that record one case: social care most often, police,
/// the voluntary service, the youth offending team for a peer; at least
/// one.
fn case_agencies(builder: &mut Builder, peer: bool) -> Vec<usize> {
    let mut agencies: Vec<usize> = Vec::new();
    if builder.rng.gen_bool(0.8) {
        agencies.push(CSC);
    }
    if builder.rng.gen_bool(0.55) {
        agencies.push(POL);
    }
    if builder.rng.gen_bool(0.3) {
        agencies.push(VOL);
    }
    if peer && builder.rng.gen_bool(0.8) {
        agencies.push(YOT);
    }
    if agencies.is_empty() {
        agencies.push(CSC);
    }
    agencies
}

/// Generates a population and every agency's extract of it.
pub fn generate(config: &SynthConfig) -> Synthetic {
    let mut builder = Builder { rng: ChaCha8Rng::seed_from_u64(config.seed), people: Vec::new() };
    let rates = Rates::for_level(config.noise);

    let (children, household_of) = households(&mut builder, config.children);

    // Adult perpetrators: a pool from which some are drawn repeatedly, which
    // plants networks (one perpetrator, several victims).
    let adult_pool: Vec<usize> = (0..(config.children / 3).max(4))
        .map(|_| {
            let surname = builder.surname();
            let address = builder.address();
            let dob = random_date(&mut builder.rng, 1960, REFERENCE_YEAR - 19);
            let male = builder.rng.gen_bool(0.9);
            builder.person(surname, address, dob, male)
        })
        .collect();

    let mut incidents: Vec<Incident> = Vec::new();
    let start_days = Date::new(2019, 1, 1).map_or(0, |d| d.days_since_epoch());
    let end_days = Date::new(2025, 6, 1).map_or(0, |d| d.days_since_epoch());
    for &child in &children {
        let cases = match builder.rng.gen_range(0..100) {
            0..=71 => 1,
            72..=91 => 2,
            _ => 3,
        };
        let mut day = builder.rng.gen_range(start_days..end_days - 400);
        for case_index in 0..cases {
            if case_index > 0 {
                day += builder.rng.gen_range(120..500);
                if day >= end_days {
                    break;
                }
            }
            let date = date_from_days(day);
            let age = date.year - builder.people[child].dob.year;
            if age < 2 {
                continue;
            }
            let kind = if age >= 12 && builder.rng.gen_bool(0.45) { Kind::Cse } else { Kind::Csa };
            let victim_role = if builder.rng.gen_bool(0.75) { PersonRole::Known } else { PersonRole::Suspected };
            let mut people = vec![(child, victim_role)];
            // Who the perpetrator is.
            let roll = builder.rng.gen_range(0..100);
            let peer = add_perpetrator(&mut builder, roll, child, &children, &household_of, &adult_pool, &mut people);
            let agencies = case_agencies(&mut builder, peer);
            let conflict_agency = (agencies.len() >= 2 && age >= 11 && builder.rng.gen_bool(0.15)).then(|| agencies[builder.rng.gen_range(1..agencies.len())]);
            incidents.push(Incident { id: incidents.len(), kind: if peer { Kind::Hsb } else { kind }, date, people, agencies, conflict_agency });
        }
    }

    // Victims recorded as offenders: a few exploited children appear as
    // suspects in a police record of their own.
    let cse_victims: Vec<usize> = incidents.iter().filter(|incident| incident.kind == Kind::Cse).map(|incident| incident.people[0].0).collect();
    for &child in cse_victims.iter().step_by(25) {
        let other = children[builder.rng.gen_range(0..children.len())];
        if other == child {
            continue;
        }
        let day = builder.rng.gen_range(start_days..end_days);
        incidents.push(Incident {
            id: incidents.len(),
            kind: Kind::Cse,
            date: date_from_days(day),
            people: vec![(other, PersonRole::Known), (child, PersonRole::Perpetrator)],
            agencies: vec![POL],
            conflict_agency: None,
        });
    }

    let mut synthetic = record_extracts(&mut builder, &incidents, &rates, config);
    (synthetic.outcomes, synthetic.outcome_truth) = outcomes::outcome_extracts(&builder.people, &incidents, &rates, config.seed);
    synthetic
}

mod outcomes;

struct Row {
    cells: Vec<String>,
}

fn record_extracts(builder: &mut Builder, incidents: &[Incident], rates: &Rates, config: &SynthConfig) -> Synthetic {
    let template = Template::standard();
    let mut truth = Vec::new();
    let mut extracts = Vec::new();
    for (agency, spec) in AGENCIES.iter().enumerate() {
        let mapping = mapping(agency);
        let fields = recorded_fields(agency);
        let mut header: Vec<String> = spec.columns.iter().filter(|c| !c.is_empty()).map(|c| (*c).to_owned()).collect();
        header.extend(fields.iter().map(|(_, column)| (*column).to_owned()));
        let mut rows: Vec<Row> = Vec::new();
        let mut local_ids: HashMap<usize, String> = HashMap::new();
        let mut cases_seen: HashMap<usize, usize> = HashMap::new();
        let mut next_person = 1000;
        for incident in incidents.iter().filter(|i| i.agencies.contains(&agency)) {
            let case_id = format!("{}-{:06}", &spec.code[..3], incident.id + 1);
            let kind = if incident.conflict_agency == Some(agency) {
                match incident.kind {
                    Kind::Csa => Kind::Cse,
                    Kind::Cse => Kind::Csa,
                    Kind::Hsb => Kind::Hsb,
                }
            } else {
                incident.kind
            };
            let offset = builder.rng.gen_range(0..10);
            let event = date_from_days(incident.date.days_since_epoch() + offset);
            let victim = incident.people[0].0;
            let victim_cases = cases_seen.entry(victim).or_insert(0);
            *victim_cases += 1;
            let re_referral = *victim_cases > 1;
            // A case's own items are one answer per case: every row of it
            // repeats its first row's (drawn for every row all the same, so
            // the rest of the population is what it was).
            let mut case_answers: HashMap<&str, String> = HashMap::new();
            for &(person_index, role) in &incident.people {
                let person = builder.people[person_index].clone();
                let rng = &mut builder.rng;
                let local = if person.unknown {
                    format!("UNK-{}", incident.id)
                } else if rng.gen_bool(rates.duplicate_person_id) || !local_ids.contains_key(&person.id) {
                    next_person += 1;
                    let id = format!("{}{next_person}", &spec.code[..1]);
                    local_ids.entry(person.id).or_insert_with(|| id.clone());
                    id
                } else {
                    local_ids[&person.id].clone()
                };
                let mut cells = vec![
                    case_id.clone(),
                    local.clone(),
                    spec.roles[role.index()].to_owned(),
                    spec.case_types[match kind {
                        Kind::Csa => 0,
                        Kind::Cse => 1,
                        Kind::Hsb => 2,
                    }]
                    .to_owned(),
                    format_date(event, spec.date_format),
                ];
                cells.extend(identity_cells(rng, &person, rates, agency));
                let age = event.year - person.dob.year;
                for (id, _) in fields {
                    let value = field_value(rng, template, id, role, kind, age, &person, re_referral, agency);
                    let case_level = template.field(id).is_ok_and(|field| field.section.is_case_level());
                    cells.push(if case_level { case_answers.entry(id).or_insert(value).clone() } else { value });
                }
                truth.push(TruthRow {
                    agency: spec.code.to_owned(),
                    case_id: case_id.clone(),
                    person_id: local,
                    role: role.role().file_name().to_owned(),
                    true_person: format!("T{:06}", person.id),
                    incident: format!("I{:06}", incident.id),
                    household: person.household.map(|h| format!("H{h:06}")).unwrap_or_default(),
                    incident_date: format_date(incident.date, "%Y-%m-%d"),
                    age: incident.date.year - person.dob.year,
                    recorded_as: ["CSA", "CSE", "HSB"][match kind {
                        Kind::Csa => 0,
                        Kind::Cse => 1,
                        Kind::Hsb => 2,
                    }]
                    .to_owned(),
                    re_referral,
                });
                rows.push(Row { cells });
            }
        }
        let mut writer = csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record(&header);
        for row in &rows {
            let _ = writer.write_record(&row.cells);
        }
        let csv = String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default();
        extracts.push(Extract { agency: spec.code.to_owned(), csv, mapping, rows: rows.len() });
    }
    Synthetic { extracts, truth, outcomes: Vec::new(), outcome_truth: Vec::new(), children: config.children }
}

fn format_date(date: Date, format: &str) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format
        .replace("%d", &format!("{:02}", date.day))
        .replace("%m", &format!("{:02}", date.month))
        .replace("%Y", &format!("{:04}", date.year))
        .replace("%b", MONTHS[(date.month - 1) as usize])
}

fn identity_cells(rng: &mut impl Rng, person: &Person, rates: &Rates, agency: usize) -> Vec<String> {
    let spec = &AGENCIES[agency];
    if person.unknown {
        let width = spec.columns[5..].iter().filter(|c| !c.is_empty()).count();
        return vec![String::new(); width];
    }
    let mut forename = person.forename.to_owned();
    if rng.gen_bool(rates.nickname) {
        let folded = forename.to_lowercase();
        let options: Vec<&str> = NICKNAMES.iter().filter(|(_, full)| *full == folded).map(|(short, _)| *short).collect();
        if let Some(short) = options.choose(rng) {
            let mut chars = short.chars();
            forename = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
        }
    }
    if rng.gen_bool(rates.typo_forename) {
        forename = typo(rng, &forename);
    }
    let mut surname = person.surname.clone();
    if surname.contains('-') && rng.gen_bool(rates.half_surname) {
        let parts: Vec<&str> = surname.split('-').collect();
        surname = parts[rng.gen_range(0..parts.len())].to_owned();
    } else if surname.contains('-') && rng.gen_bool(0.3) {
        surname = surname.replace('-', " ");
    }
    if rng.gen_bool(rates.surname_change) {
        surname = SURNAMES[rng.gen_range(0..SURNAMES.len())].to_owned();
    }
    if rng.gen_bool(rates.typo_surname) {
        surname = typo(rng, &surname);
    }
    if rng.gen_bool(0.15) {
        surname = surname.to_uppercase();
    }
    if rng.gen_bool(rates.name_swap) {
        std::mem::swap(&mut forename, &mut surname);
    }
    let mut dob = person.dob;
    if dob.day <= 12 && dob.day != dob.month && rng.gen_bool(rates.day_month_swap) {
        dob = Date::new(dob.year, dob.day, dob.month).unwrap_or(dob);
    } else if rng.gen_bool(rates.wrong_day) {
        dob = Date::new(dob.year, dob.month, (dob.day % 28) + 1).unwrap_or(dob);
    }
    let dob_text = if rng.gen_bool(rates.missing_dob) { String::new() } else { format_date(dob, spec.date_format) };
    let sex = if rng.gen_bool(rates.missing_sex) { String::new() } else { spec.sex[usize::from(!person.male)].to_owned() };
    let postcode = if rng.gen_bool(rates.missing_postcode) {
        String::new()
    } else if rng.gen_bool(rates.moved) {
        person.moved_postcode.clone()
    } else if rng.gen_bool(0.3) {
        person.postcode.replace(' ', "").to_lowercase()
    } else {
        person.postcode.clone()
    };
    let mut cells = vec![forename, surname, dob_text, sex, postcode];
    if !spec.columns[10].is_empty() {
        let nhs = if rng.gen_bool(spec.nhs_share) {
            if rng.gen_bool(rates.invalid_nhs) {
                let mut digits = person.nhs.clone().into_bytes();
                digits[9] = b'0' + (digits[9] - b'0' + 1) % 10;
                String::from_utf8(digits).unwrap_or_default()
            } else {
                person.nhs.clone()
            }
        } else {
            String::new()
        };
        cells.push(nhs);
    }
    cells
}

#[allow(clippy::too_many_arguments)]
fn field_value(
    rng: &mut impl Rng,
    template: &Template,
    id: &str,
    role: PersonRole,
    kind: Kind,
    age: i32,
    person: &Person,
    re_referral: bool,
    agency: usize,
) -> String {
    let victim = matches!(role, PersonRole::Known | PersonRole::Suspected);
    let perpetrator = matches!(role, PersonRole::Perpetrator | PersonRole::Hsb);
    let Ok(field) = template.field(id) else {
        return String::new();
    };
    let spec = &AGENCIES[agency];
    let applies = match field.section {
        braid_template::Section::Victim => victim,
        braid_template::Section::Perpetrator => perpetrator && !person.unknown,
        _ => true,
    };
    // Agencies leave some cells blank.
    if !applies || rng.gen_bool(0.12) {
        return String::new();
    }
    let label = |code: u32| field.category(code).map(|c| c.label.clone()).unwrap_or_default();
    match id {
        "victim.status" => label(if role == PersonRole::Known { 1 } else { 2 }),
        "victim.cse_risk_level" => {
            if role == PersonRole::Suspected && kind == Kind::Cse {
                label(rng.gen_range(1..=3))
            } else {
                String::new()
            }
        }
        "victim.age_at_referral" => {
            if (0..=17).contains(&age) {
                age.to_string()
            } else {
                String::new()
            }
        }
        "perpetrator.age" => {
            if (0..=120).contains(&age) {
                age.to_string()
            } else {
                String::new()
            }
        }
        "victim.sex" | "perpetrator.sex" => spec.sex[usize::from(!person.male)].to_owned(),
        "victim.ethnicity" => {
            if spec.ethnicity.is_empty() {
                label(person.ethnicity)
            } else {
                spec.ethnicity[(person.ethnicity - 1) as usize].to_owned()
            }
        }
        "services.recorded_as" => label(match kind {
            Kind::Csa => 1,
            Kind::Cse => 2,
            Kind::Hsb => 3,
        }),
        "services.referral_type" => label(if re_referral { 2 } else { 1 }),
        "services.police_investigation" => label(1),
        "services.investigation_outcome" => label(rng.gen_range(1..=11)),
        _ => match field.kind {
            FieldKind::Single => label(rng.gen_range(1..=field.categories.len() as u32)),
            FieldKind::Multi => {
                let first = rng.gen_range(1..=field.categories.len() as u32);
                let first_label = label(first);
                if field.category(first).is_some_and(|c| c.not_known || c.label == "None") {
                    first_label
                } else {
                    let second = rng.gen_range(1..=field.categories.len() as u32);
                    let second_ok = second != first && field.category(second).is_some_and(|c| !c.not_known && c.label != "None");
                    if second_ok {
                        format!("{first_label}; {}", label(second))
                    } else {
                        first_label
                    }
                }
            }
            FieldKind::Integer => field.range.map(|(low, high)| rng.gen_range(low..=high.min(low + 20)).to_string()).unwrap_or_default(),
            FieldKind::Text => String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_every_row_has_truth() {
        let config = SynthConfig { children: 200, seed: 7, noise: NoiseLevel::Default };
        let a = generate(&config);
        let b = generate(&config);
        assert_eq!(a.truth, b.truth);
        let rows: usize = a.extracts.iter().map(|e| e.rows).sum();
        assert_eq!(rows, a.truth.len());
        assert_eq!(a.extracts.len(), 4);
        // Children appear at several agencies, and some are twins.
        let children_in_two = {
            let mut agencies: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
            for row in &a.truth {
                agencies.entry(&row.true_person).or_default().insert(&row.agency);
            }
            agencies.values().filter(|set| set.len() >= 2).count()
        };
        assert!(children_in_two > 50, "{children_in_two}");
    }

    #[test]
    fn outcome_extracts_read_whole_with_every_kind() {
        let config = SynthConfig { children: 300, seed: 11, noise: NoiseLevel::Default };
        let synthetic = generate(&config);
        assert_eq!(synthetic.outcome_truth, generate(&config).outcome_truth, "deterministic");
        assert_eq!(synthetic.outcomes.len(), 4, "every agency records some");
        let keys = braid_pseudonym::Keys::derive(&braid_pseudonym::SchemeSecret::new(1, [3; 32]), "synth");
        let mut kinds = std::collections::BTreeSet::new();
        for extract in &synthetic.outcomes {
            let output = braid_pseudonym::pseudonymise_extract(extract.csv.as_bytes(), &extract.mapping, &keys, |_| {}).expect("reads");
            assert!(output.rejected.is_empty(), "{}: {:?}", extract.agency, output.rejected.first());
            assert_eq!(output.records.len(), extract.rows, "{}: one record per event", extract.agency);
            assert!(output.records.iter().all(|r| r.outcome.is_some() && r.case_type.is_none() && r.referral_date.is_some()));
            kinds.extend(output.records.iter().filter_map(|r| r.outcome));
        }
        assert_eq!(synthetic.outcome_truth.len(), synthetic.outcomes.iter().map(|e| e.rows).sum::<usize>());
        assert_eq!(kinds.len(), 8, "every kind occurs: {kinds:?}");
    }
}
