//! The four agencies and how each writes what it knows.
//!
//! Each agency has its own columns, labels, date format and sex coding, knows
//! its own share of each kind of case, records its own subset of the people
//! in a case, and makes its own recording errors at its own rates. A person
//! gets a local id the first time an agency records them and usually keeps
//! it; sometimes a second record (and id) is opened by mistake. Most agencies
//! keep one identity record per local id, so its errors repeat on every row;
//! the voluntary service fills in a form per case.

use std::collections::BTreeMap;

use rand::Rng;

use crate::calendar::Date;
use crate::cases::{Case, CaseType, Role};
use crate::errors::{impossible_dob, phonetic, typo, wrong_dob};
use crate::names::Names;
use crate::population::{Origin, Person, Population};

/// What a CSV column holds. `Address` is written but not mapped; `TrueId`
/// is the ground truth.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    CaseId,
    PersonId,
    RoleLabel,
    TypeLabel,
    EventDate,
    Forename,
    Surname,
    Dob,
    SexCode,
    Postcode,
    Nhs,
    Address,
    TrueId,
}

/// Probabilities for CSC, POL, YOT and VOL, in that order.
type Rates = [f64; 4];

/// How often each agency (CSC, POL, YOT, VOL) gets each thing wrong:
/// probabilities per identity record unless said otherwise.
struct Habits {
    // Names: a keyboard slip, a sound-alike spelling, a short forename, another
    // transliteration, given and family names swapped (South Asian, Arabic, West
    // African), half a double-barrelled surname, the middle name written into the
    // forename column, names in lower case.
    typo: Rates,
    phonetic: Rates,
    nickname: Rates,
    variant: Rates,
    order_swap: Rates,
    hyphen_half: Rates,
    middle_name: Rates,
    lower_case: Rates,
    // Blanks (dates of birth three times, postcodes twice as often for adults).
    blank_forename: Rates,
    blank_dob: Rates,
    blank_postcode: Rates,
    blank_sex: Rates,
    // Dates of birth: day and month swapped, day a little out, year out, a date
    // that cannot exist.
    dob_swap: Rates,
    dob_day: Rates,
    dob_year: Rates,
    impossible_dob: Rates,
    // Postcodes from before a move, or written without their space.
    stale_postcode: Rates,
    postcode_nospace: Rates,
    // A second local id for someone already known; CSA and CSE confused (per
    // case); known and suspected victims confused, or a child who harmed
    // recorded as a perpetrator (per row); share of records with the NHS
    // number, where there is a column.
    duplicate: Rates,
    case_type_disagree: Rates,
    role_shift: Rates,
    nhs_share: Rates,
}

/// Every agency's habits, side by side.
const HABITS: Habits = Habits {
    //                   CSC    POL    YOT    VOL
    typo: [0.030, 0.040, 0.025, 0.060],
    phonetic: [0.020, 0.030, 0.015, 0.050],
    nickname: [0.040, 0.080, 0.100, 0.150],
    variant: [0.200, 0.350, 0.250, 0.400],
    order_swap: [0.020, 0.050, 0.030, 0.060],
    hyphen_half: [0.300, 0.500, 0.350, 0.500],
    middle_name: [0.050, 0.400, 0.000, 0.000],
    lower_case: [0.000, 0.000, 0.000, 0.150],
    blank_forename: [0.005, 0.004, 0.002, 0.020],
    blank_dob: [0.020, 0.050, 0.010, 0.120],
    blank_postcode: [0.040, 0.080, 0.030, 0.150],
    blank_sex: [0.010, 0.005, 0.020, 0.060],
    dob_swap: [0.010, 0.015, 0.008, 0.020],
    dob_day: [0.015, 0.020, 0.010, 0.030],
    dob_year: [0.010, 0.015, 0.008, 0.020],
    impossible_dob: [0.005, 0.005, 0.006, 0.007],
    stale_postcode: [0.300, 0.450, 0.250, 0.400],
    postcode_nospace: [0.000, 0.000, 0.000, 0.300],
    duplicate: [0.030, 0.050, 0.020, 0.080],
    case_type_disagree: [0.050, 0.100, 0.080, 0.120],
    role_shift: [0.100, 0.200, 0.100, 0.150],
    nhs_share: [0.700, 0.000, 0.400, 0.000],
};

/// One agency: its file layout and labels, what it gets to know, and its
/// recording habits.
#[derive(Debug, Clone)]
pub struct Agency {
    /// Code, e.g. `CSC-A`; also the file name.
    pub code: &'static str,
    /// Braid agency type.
    pub kind: &'static str,
    /// Format of every date column.
    pub date_format: &'static str,
    /// Columns in file order.
    pub columns: &'static [(&'static str, Col)],
    // Labels of known victim, suspected victim, perpetrator, HSB; of CSA,
    // CSE, HSB; codes of male, female, unknown.
    roles: [&'static str; 4],
    case_types: [&'static str; 3],
    sex: [&'static str; 3],
    // Chance of knowing a CSA, CSE, HSB case; of recording a victim, an
    // adult perpetrator, a child who harmed; days from the case coming to
    // notice to this agency's event date.
    pub(crate) knows: [f64; 3],
    records: [f64; 3],
    delay: (i64, i64),
    // Surnames in capitals; identity written afresh on every row; NHS
    // numbers written `485 777 3456`.
    upper_surname: bool,
    per_row: bool,
    nhs_spaced: bool,
    /// Column of this agency in [`Habits`].
    index: usize,
}

use Col::*;

/// The agencies: children's services, police, youth offending, voluntary.
pub fn agencies() -> [Agency; 4] {
    [
        Agency {
            index: 0,
            code: "CSC-A",
            kind: "children_services",
            date_format: "%d/%m/%Y",
            columns: &[
                ("referral_id", CaseId),
                ("person_no", PersonId),
                ("first_name", Forename),
                ("last_name", Surname),
                ("dob", Dob),
                ("gender", SexCode),
                ("postcode", Postcode),
                ("nhs_no", Nhs),
                ("involvement_type", RoleLabel),
                ("category", TypeLabel),
                ("referral_date", EventDate),
                ("true_id", TrueId),
            ],
            roles: ["Subject - confirmed", "Subject - concern", "Alleged abuser", "Child displaying HSB"],
            case_types: ["Sexual abuse", "Sexual exploitation", "Harmful sexual behaviour"],
            sex: ["M", "F", ""],
            knows: [0.9, 0.8, 0.85],
            records: [1.0, 0.7, 1.0],
            delay: (0, 14),
            upper_surname: false,
            per_row: false,
            nhs_spaced: true,
        },
        Agency {
            index: 1,
            code: "POL-A",
            kind: "police",
            date_format: "%Y-%m-%d",
            columns: &[
                ("occurrence_ref", CaseId),
                ("date_recorded", EventDate),
                ("crime_flag", TypeLabel),
                ("nominal_ref", PersonId),
                ("involvement", RoleLabel),
                ("family_name", Surname),
                ("forenames", Forename),
                ("date_of_birth", Dob),
                ("sex", SexCode),
                ("address_line1", Address),
                ("post_code", Postcode),
                ("true_id", TrueId),
            ],
            roles: ["Victim", "Potential victim", "Suspect", "Youth suspect (HSB)"],
            case_types: ["Child sexual abuse", "CSE marker", "Peer-on-peer sexual harm"],
            sex: ["Male", "Female", ""],
            knows: [0.6, 0.7, 0.45],
            records: [0.95, 0.95, 0.95],
            delay: (-20, 30),
            upper_surname: true,
            per_row: false,
            nhs_spaced: false,
        },
        Agency {
            index: 2,
            code: "YOT-A",
            kind: "yot",
            date_format: "%d-%b-%Y",
            columns: &[
                ("yot_case_no", CaseId),
                ("yp_id", PersonId),
                ("given_name", Forename),
                ("surname", Surname),
                ("birth_date", Dob),
                ("sex_code", SexCode),
                ("home_postcode", Postcode),
                ("nhs_number", Nhs),
                ("person_role", RoleLabel),
                ("offence_category", TypeLabel),
                ("start_date", EventDate),
                ("true_id", TrueId),
            ],
            roles: ["victim", "possible victim", "adult (alleged)", "young person (HSB)"],
            case_types: ["csa", "cse/exploitation", "hsb"],
            sex: ["1", "2", "0"],
            knows: [0.05, 0.25, 0.6],
            records: [0.8, 0.4, 1.0],
            delay: (10, 90),
            upper_surname: false,
            per_row: false,
            nhs_spaced: false,
        },
        Agency {
            index: 3,
            code: "VOL-A",
            kind: "voluntary",
            date_format: "%d.%m.%Y",
            columns: &[
                ("case_number", CaseId),
                ("date_opened", EventDate),
                ("client_id", PersonId),
                ("name_first", Forename),
                ("name_last", Surname),
                ("dob", Dob),
                ("gender", SexCode),
                ("address", Address),
                ("postcode", Postcode),
                ("role", RoleLabel),
                ("concern_type", TypeLabel),
                ("true_id", TrueId),
            ],
            roles: ["Service user", "Service user (concern)", "Named abuser", "Young person (HSB)"],
            case_types: ["Abuse", "Exploitation", "Harmful behaviour"],
            sex: ["M", "F", "Unknown"],
            knows: [0.2, 0.35, 0.2],
            records: [1.0, 0.3, 0.6],
            delay: (0, 120),
            upper_surname: false,
            per_row: true,
            nhs_spaced: false,
        },
    ]
}

fn toml_str(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn chance(rng: &mut impl Rng, rate: f64) -> bool {
    rng.gen::<f64>() < rate
}

/// An identity as one agency recorded it: the cells of the identity columns.
#[derive(Debug, Clone)]
struct Recorded {
    forename: String,
    surname: String,
    dob: String,
    sex: String,
    postcode: String,
    address: String,
    nhs: String,
}

impl Agency {
    /// The header of the column holding `col`.
    pub fn header(&self, col: Col) -> Option<&'static str> {
        self.columns.iter().find(|(_, c)| *c == col).map(|(h, _)| *h)
    }

    /// The Braid mapping of this agency's extract.
    pub fn mapping(&self) -> String {
        let column = |col: Col| toml_str(self.header(col).unwrap_or_default());
        let mut out = format!("[agency]\ncode = {}\ntype = {}\n\n[columns]\n", toml_str(self.code), toml_str(self.kind));
        let case_columns = [("record_ref", CaseId), ("person_ref", PersonId), ("role", RoleLabel), ("case_type", TypeLabel)];
        for (key, col) in case_columns.into_iter().chain([("event_date", EventDate)]) {
            out += &format!("{key} = {}\n", column(col));
        }
        out += &format!("date_format = {}\n\n[identity]\n", toml_str(self.date_format));
        let identity = [("forename", Forename), ("surname", Surname), ("date_of_birth", Dob), ("sex", SexCode), ("postcode", Postcode), ("nhs_number", Nhs)];
        for (key, col) in identity {
            if self.header(col).is_some() {
                out += &format!("{key} = {}\n", column(col));
            }
        }
        out += "\n[roles]\n";
        for (label, role) in self.roles.iter().zip(crate::cases::Role::ALL) {
            out += &format!("{} = {}\n", toml_str(label), toml_str(role.name()));
        }
        out += "\n[case_types]\n";
        for (label, kind) in self.case_types.iter().zip(crate::cases::CaseType::ALL) {
            out += &format!("{} = {}\n", toml_str(label), toml_str(kind.name()));
        }
        out
    }

    /// How this agency records `person` when it sees them on `on`.
    fn record(&self, rng: &mut impl Rng, names: &Names, person: &Person, on: Date) -> Recorded {
        let h = |rates: [f64; 4]| rates[self.index];
        let mut forename = person.forename.clone();
        let mut surname = person.surname.clone();
        for name in [&mut forename, &mut surname] {
            if let Some(group) = names.variants_of(name).filter(|_| chance(rng, h(HABITS.variant))) {
                *name = group[rng.gen_range(0..group.len())].to_owned();
            }
        }
        let short = names.nicknames_of(&person.forename);
        if !short.is_empty() && chance(rng, h(HABITS.nickname)) {
            forename = short[rng.gen_range(0..short.len())].to_owned();
        }
        if surname.contains('-') && chance(rng, h(HABITS.hyphen_half)) {
            let halves: Vec<&str> = surname.split('-').collect();
            surname = halves[rng.gen_range(0..halves.len())].to_owned();
        }
        for (rate, slip) in [(h(HABITS.phonetic), phonetic as fn(&mut _, &str) -> String), (h(HABITS.typo), typo)] {
            if chance(rng, rate) {
                let name = if rng.gen::<bool>() { &mut forename } else { &mut surname };
                *name = slip(rng, name);
            }
        }
        if let Some(middle) = person.middle.as_ref().filter(|_| chance(rng, h(HABITS.middle_name))) {
            forename = format!("{forename} {middle}");
        }
        let swaps = matches!(person.origin, Origin::SouthAsian | Origin::Arabic | Origin::WestAfrican);
        if swaps && chance(rng, h(HABITS.order_swap)) {
            std::mem::swap(&mut forename, &mut surname);
        }
        if self.upper_surname {
            surname = surname.to_uppercase();
        }
        if chance(rng, h(HABITS.lower_case)) {
            (forename, surname) = (forename.to_lowercase(), surname.to_lowercase());
        }
        if chance(rng, h(HABITS.blank_forename)) {
            forename.clear();
        }

        let adult = person.dob.age_on(on) >= 18;
        let dob = if chance(rng, h(HABITS.blank_dob) * if adult { 3.0 } else { 1.0 }) {
            String::new()
        } else if chance(rng, h(HABITS.impossible_dob)) {
            impossible_dob(rng, person.dob, self.date_format)
        } else {
            let mut dob = person.dob;
            for (kind, rate) in [(0, h(HABITS.dob_swap)), (1, h(HABITS.dob_day)), (2, h(HABITS.dob_year))] {
                if chance(rng, rate) {
                    dob = wrong_dob(rng, dob, kind);
                }
            }
            dob.render(self.date_format)
        };
        // Unknown, or now and then the other sex.
        let sex = match (chance(rng, h(HABITS.blank_sex)), chance(rng, 0.002)) {
            (true, _) => self.sex[2],
            (false, wrong) => self.sex[person.sex as usize ^ usize::from(wrong)],
        };
        let home = if chance(rng, h(HABITS.stale_postcode)) { &person.homes[0] } else { person.home_on(on) };
        let mut postcode = home.postcode.clone();
        if chance(rng, h(HABITS.postcode_nospace)) {
            postcode.retain(|c| c != ' ');
        }
        if chance(rng, h(HABITS.blank_postcode) * if adult { 2.0 } else { 1.0 }) {
            postcode.clear();
        }
        let nhs = if self.header(Nhs).is_some() && chance(rng, h(HABITS.nhs_share)) {
            let n = &person.nhs;
            if self.nhs_spaced {
                format!("{} {} {}", &n[..3], &n[3..6], &n[6..])
            } else {
                n.clone()
            }
        } else {
            String::new()
        };
        Recorded { forename, surname, dob, sex: sex.to_owned(), postcode, address: home.address.clone(), nhs }
    }
}

/// One row of ground truth: an involvement as an agency recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Involvement {
    /// Agency code.
    pub agency: String,
    /// Agency case id.
    pub case_id: String,
    /// Agency person id.
    pub person_id: String,
    /// True person.
    pub true_id: String,
    /// True role in the case.
    pub role: Role,
    /// True case type.
    pub case_type: CaseType,
    /// The agency's event date.
    pub event_date: Date,
    /// The role the agency recorded (known and suspected victims confused,
    /// a child who harmed recorded as a perpetrator).
    pub recorded_role: Role,
    /// The case type the agency recorded.
    pub recorded_type: CaseType,
    /// The true case (its index among all cases): one incident.
    pub incident: usize,
    /// When the case really happened.
    pub incident_date: Date,
    /// The person's age in whole years then.
    pub age: i32,
}

/// What one agency has written so far.
pub struct Book<'a> {
    agency: &'a Agency,
    ids: BTreeMap<usize, Vec<String>>,
    records: BTreeMap<String, Recorded>,
    cases: usize,
    people: usize,
    /// CSV rows, cells in column order.
    pub rows: Vec<Vec<String>>,
    /// Ground truth of every row.
    pub truth: Vec<Involvement>,
}

impl<'a> Book<'a> {
    /// An empty book for `agency`.
    pub fn new(agency: &'a Agency) -> Book<'a> {
        let (ids, records) = (BTreeMap::new(), BTreeMap::new());
        Book { agency, ids, records, cases: 0, people: 0, rows: Vec::new(), truth: Vec::new() }
    }

    /// The local id for `person` on this row: the usual one, or a new one
    /// when none exists or a duplicate record is opened.
    fn person_id(&mut self, rng: &mut impl Rng, person: usize) -> String {
        let agency = self.agency;
        let next = self.people;
        let known = self.ids.entry(person).or_default();
        if known.is_empty() || chance(rng, HABITS.duplicate[agency.index]) {
            let id = match agency.code {
                "CSC-A" => format!("{}", 4_100_000 + next * 3),
                "POL-A" => format!("NOM{:07}", 220_000 + next),
                "YOT-A" => format!("YP-{:05}", 1 + next),
                _ => format!("{}", 7001 + next),
            };
            known.push(id.clone());
            self.people += 1;
            return id;
        }
        let pick = if rng.gen::<f64>() < 0.8 { 0 } else { rng.gen_range(0..known.len()) };
        known[pick].clone()
    }

    /// Records `case`, known to this agency.
    pub fn enter(&mut self, rng: &mut impl Rng, names: &Names, (incident, case): (usize, &Case), population: &Population) {
        let agency = self.agency;
        let slot = |role: Role| match role {
            Role::Perpetrator => 1,
            Role::Hsb => 2,
            _ => 0,
        };
        let parts: Vec<(usize, Role)> = case.parts.iter().copied().filter(|(_, role)| chance(rng, agency.records[slot(*role)])).collect();
        if parts.is_empty() {
            return;
        }
        self.cases += 1;
        let event = case.date.plus_days(rng.gen_range(agency.delay.0..=agency.delay.1));
        let case_id = match agency.code {
            "CSC-A" => format!("REF{:06}", 100_000 + self.cases),
            "POL-A" => format!("CR/{}/{:05}", event.year, self.cases),
            "YOT-A" => format!("YOT{:05}", self.cases),
            _ => format!("VS-{:04}", self.cases),
        };
        let mut recorded_type = case.case_type;
        if chance(rng, HABITS.case_type_disagree[agency.index]) {
            recorded_type = match case.case_type {
                CaseType::Csa => CaseType::Cse,
                CaseType::Cse | CaseType::Hsb => CaseType::Csa,
            };
        }
        for (index, role) in parts {
            let person = &population.people[index];
            let person_id = self.person_id(rng, index);
            let recorded = if agency.per_row || !self.records.contains_key(&person_id) {
                let fresh = agency.record(rng, names, person, event);
                self.records.insert(person_id.clone(), fresh.clone());
                fresh
            } else {
                self.records[&person_id].clone()
            };
            let shifted = chance(rng, HABITS.role_shift[agency.index]);
            let recorded_role = match role {
                Role::KnownVictim if shifted => Role::SuspectedVictim,
                Role::SuspectedVictim if shifted => Role::KnownVictim,
                Role::Hsb if shifted && rng.gen::<bool>() => Role::Perpetrator,
                other => other,
            };
            let row = agency
                .columns
                .iter()
                .map(|(_, col)| match col {
                    CaseId => case_id.clone(),
                    PersonId => person_id.clone(),
                    RoleLabel => agency.roles[recorded_role as usize].to_owned(),
                    TypeLabel => agency.case_types[recorded_type as usize].to_owned(),
                    EventDate => event.render(agency.date_format),
                    Forename => recorded.forename.clone(),
                    Surname => recorded.surname.clone(),
                    Dob => recorded.dob.clone(),
                    SexCode => recorded.sex.clone(),
                    Postcode => recorded.postcode.clone(),
                    Nhs => recorded.nhs.clone(),
                    Address => recorded.address.clone(),
                    TrueId => person.true_id.clone(),
                })
                .collect();
            self.rows.push(row);
            self.truth.push(Involvement {
                agency: agency.code.to_owned(),
                case_id: case_id.clone(),
                person_id,
                true_id: person.true_id.clone(),
                role,
                case_type: case.case_type,
                event_date: event,
                recorded_role,
                recorded_type,
                incident,
                incident_date: case.date,
                age: person.dob.age_on(case.date),
            });
        }
    }

    /// The CSV text.
    pub fn csv(&self) -> String {
        let header: Vec<&str> = self.agency.columns.iter().map(|(h, _)| *h).collect();
        crate::to_csv(&header, self.rows.iter().cloned())
    }
}
