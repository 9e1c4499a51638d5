//! The true population: children in households with their parents, and the
//! adults who come to notice as perpetrators.
//!
//! Households are built one at a time until the wanted number of children
//! (aged 0–17 on [`REFERENCE`]) exists. A household draws an origin, a family
//! name, one home (or two, when it moved during 2019–2024), one to five
//! births spaced a year or more apart (a birth is sometimes twins), a mother
//! and usually a father. Surnames follow the family's customs (feminine
//! forms, Kaur, Begum, a mother keeping her own name, double-barrelled
//! children). Some boys carry their father's full name, and some unrelated
//! adults carry a child's forename and surname (see `cases`).

use std::collections::BTreeSet;

use rand::Rng;

use crate::calendar::Date;
use crate::names::{gendered_surname, street, Names};
use crate::Config;

/// The day ages and age bands are measured on.
pub const REFERENCE: Date = Date { year: 2025, month: 1, day: 1 };

/// Where a person's family comes from, as far as naming goes: British,
/// South Asian (Pakistani, Indian, Bangladeshi), Arabic, East European
/// (Polish, Romanian, Lithuanian, Czech), West African (Nigerian, Ghanaian)
/// or Turkish.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    British,
    SouthAsian,
    Arabic,
    EastEuropean,
    WestAfrican,
    Turkish,
}

impl Origin {
    /// Every origin, British first.
    pub const ALL: [Origin; 6] = [Origin::British, Origin::SouthAsian, Origin::Arabic, Origin::EastEuropean, Origin::WestAfrican, Origin::Turkish];

    /// The label written to `people.csv`.
    pub fn label(self) -> &'static str {
        ["british", "south_asian", "arabic", "east_european", "west_african", "turkish"][self as usize]
    }

    /// Draws an origin: British with probability `1 - diverse`, otherwise
    /// one of the others in fixed proportions.
    pub fn draw(rng: &mut impl Rng, diverse: f64) -> Origin {
        if rng.gen::<f64>() >= diverse {
            return Origin::British;
        }
        let shares = [0.38, 0.14, 0.22, 0.17, 0.09];
        let mut x = rng.gen::<f64>();
        for (origin, share) in Origin::ALL[1..].iter().zip(shares) {
            if x < share {
                return *origin;
            }
            x -= share;
        }
        Origin::Turkish
    }
}

/// Sex at birth.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// Male with probability `male_share`.
    pub fn draw(rng: &mut impl Rng, male_share: f64) -> Sex {
        if rng.gen::<f64>() < male_share {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    fn other(self) -> Sex {
        if self == Sex::Male {
            Sex::Female
        } else {
            Sex::Male
        }
    }
}

/// A place a person lived, from a date on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// UK postcode, e.g. `LS6 2QB`.
    pub postcode: String,
    /// First address line, e.g. `12 Acacia Avenue`.
    pub address: String,
    /// Lived here from this date.
    pub from: Date,
}

/// One true person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// `T000001`-style identity, written as `true_id`.
    pub true_id: String,
    /// Naming origin.
    pub origin: Origin,
    /// Sex.
    pub sex: Sex,
    /// Given name.
    pub forename: String,
    /// Middle name, if any.
    pub middle: Option<String>,
    /// Family name as the person carries it.
    pub surname: String,
    /// Date of birth.
    pub dob: Date,
    /// Household index.
    pub household: usize,
    /// Homes, oldest first.
    pub homes: Vec<Home>,
    /// NHS number (10 digits, valid check digit).
    pub nhs: String,
    /// Father in the household.
    pub father: Option<usize>,
    /// Mother in the household.
    pub mother: Option<usize>,
    /// Twin.
    pub twin: Option<usize>,
    /// The unrelated child whose forename and surname this adult was given.
    pub namesake_of: Option<usize>,
}

impl Person {
    /// Whether the person is under 18 on [`REFERENCE`].
    pub fn is_child(&self) -> bool {
        self.dob.age_on(REFERENCE) < 18
    }

    /// The home on a date.
    pub fn home_on(&self, date: Date) -> &Home {
        self.homes.iter().rev().find(|h| h.from <= date).unwrap_or(&self.homes[0])
    }

    /// Age band on [`REFERENCE`].
    pub fn age_band(&self) -> &'static str {
        match self.dob.age_on(REFERENCE) {
            ..=9 => "0-9",
            10..=13 => "10-13",
            14..=17 => "14-17",
            18..=24 => "18-24",
            _ => "25+",
        }
    }
}

/// What members of one household share.
struct Family<'n> {
    names: &'n Names,
    origin: Origin,
    household: usize,
    homes: Vec<Home>,
}

/// Everyone, with households as lists of members.
#[derive(Debug, Clone, Default)]
pub struct Population {
    /// People by index.
    pub people: Vec<Person>,
    /// Members of each household.
    pub households: Vec<Vec<usize>>,
    nhs_used: BTreeSet<String>,
}

/// Postcode districts of the area, and of places people move away to.
const LOCAL: &str = "LS4 LS5 LS6 LS7 LS8 LS9 LS10 LS11 LS12 LS13 LS14 LS15 LS16 LS17 LS27 LS28 \
    BD1 BD2 BD3 BD4 BD5 BD7 BD8 BD9 BD10 WF1 WF2 WF10 WF13 WF17 HD1 HD2 HX1 HX3";
const AWAY: &str = "M14 M8 B12 B23 L8 S2 NG7 LE2 BB1 OL1 E17 N15";
/// Letters used in the inward half of a postcode.
const INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

fn new_postcode(rng: &mut impl Rng, away: bool) -> String {
    let districts: Vec<&str> = if away { AWAY } else { LOCAL }.split_whitespace().collect();
    let letter = |rng: &mut dyn rand::RngCore| INWARD[rng.gen_range(0..INWARD.len())] as char;
    let district = districts[rng.gen_range(0..districts.len())];
    let digit = rng.gen_range(1..=9);
    let (a, b) = (letter(rng), letter(rng));
    format!("{district} {digit}{a}{b}")
}

/// A random date between two dates, inclusive.
pub fn date_between(rng: &mut impl Rng, from: Date, to: Date) -> Date {
    Date::from_ordinal(rng.gen_range(from.ordinal()..=to.ordinal().max(from.ordinal())))
}

/// A date of birth giving `age` whole years on [`REFERENCE`].
pub fn born_aged(rng: &mut impl Rng, age: i32) -> Date {
    let latest = Date { year: REFERENCE.year - age, ..REFERENCE };
    let earliest = Date { year: REFERENCE.year - age - 1, ..REFERENCE }.plus_days(1);
    date_between(rng, earliest, latest)
}

/// Ages of the child around whom a household is drawn: skewed to the teens,
/// as children known for sexual abuse and exploitation are.
const ANCHOR_AGES: [u32; 18] = [2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 10, 11, 12, 12, 11, 9];

/// An index drawn with the given weights.
pub fn weighted_index(rng: &mut impl Rng, weights: &[u32]) -> usize {
    let mut x = rng.gen_range(0..weights.iter().sum::<u32>());
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

impl Population {
    /// Builds households until `config.people` children exist.
    pub fn build(config: &Config, names: &Names, rng: &mut impl Rng) -> Population {
        let mut population = Population::default();
        let mut children = 0;
        while children < config.people {
            children += population.add_household(config, names, rng, config.people - children);
        }
        population
    }

    /// A valid, unused NHS number: nine digits and a mod-11 check digit
    /// (weights 10 down to 2); a check value of 10 is not allowed.
    fn nhs(&mut self, rng: &mut impl Rng) -> String {
        loop {
            let mut digits: Vec<u32> = vec![[4, 6, 7][rng.gen_range(0..3)]];
            digits.extend((0..8).map(|_| rng.gen_range(0..10)));
            let Some(check) = nhs_check_digit(&digits) else { continue };
            digits.push(check);
            let text: String = digits.iter().map(|d| char::from(b'0' + *d as u8)).collect();
            if self.nhs_used.insert(text.clone()) {
                return text;
            }
        }
    }

    /// A home, and for a fifth of households a later one (a move during
    /// 2019–2024, sometimes out of the area).
    fn homes(rng: &mut impl Rng) -> Vec<Home> {
        let (postcode, address) = (new_postcode(rng, false), street(rng));
        let mut homes = vec![Home { postcode, address, from: Date { year: 1900, month: 1, day: 1 } }];
        if rng.gen::<f64>() < 0.2 {
            let away = rng.gen::<f64>() < 0.3;
            let (postcode, address) = (new_postcode(rng, away), street(rng));
            let from = date_between(rng, Date { year: 2019, month: 1, day: 1 }, REFERENCE);
            homes.push(Home { postcode, address, from });
        }
        homes
    }

    /// Adds a person to `family`'s household; some get a middle name.
    fn push(&mut self, rng: &mut impl Rng, family: &Family, sex: Sex, forename: String, surname: String, dob: Date) -> usize {
        let middle_share = match family.origin {
            Origin::British => 0.55,
            Origin::WestAfrican => 0.6,
            Origin::EastEuropean => 0.1,
            _ => 0.2,
        };
        let middle = (rng.gen::<f64>() < middle_share).then(|| family.names.forename(rng, family.origin, sex, dob.year)).filter(|m| *m != forename);
        let index = self.people.len();
        let (true_id, nhs, homes) = (format!("T{:06}", index + 1), self.nhs(rng), family.homes.clone());
        let (origin, household) = (family.origin, family.household);
        self.people.push(Person {
            true_id,
            origin,
            sex,
            forename,
            middle,
            surname,
            dob,
            household,
            homes,
            nhs,
            father: None,
            mother: None,
            twin: None,
            namesake_of: None,
        });
        self.households[household].push(index);
        index
    }

    fn family<'n>(&mut self, rng: &mut impl Rng, names: &'n Names, origin: Origin) -> Family<'n> {
        self.households.push(Vec::new());
        Family { names, origin, household: self.households.len() - 1, homes: Population::homes(rng) }
    }

    /// Adds one household; returns how many of its members are children.
    fn add_household(&mut self, config: &Config, names: &Names, rng: &mut impl Rng, room: usize) -> usize {
        let origin = Origin::draw(rng, config.diverse_share);
        let home = self.family(rng, names, origin);
        let family = names.surname(rng, origin);

        // Births: an anchor child, then siblings a year or more apart.
        let births = (1 + weighted_index(rng, &[30, 38, 20, 9, 3])).min(room.max(1));
        let anchor_age = weighted_index(rng, &ANCHOR_AGES) as i32;
        let mut dobs = vec![born_aged(rng, anchor_age)];
        let latest = REFERENCE.plus_days(-30).ordinal();
        while dobs.len() < births {
            let base = dobs[rng.gen_range(0..dobs.len())].ordinal();
            let gap = rng.gen_range(330..2400);
            let mut day = if rng.gen::<bool>() { base + gap } else { base - gap };
            if day > latest {
                day = base - gap;
            }
            if dobs.iter().all(|d| (d.ordinal() - day).abs() >= 300) {
                dobs.push(Date::from_ordinal(day));
            }
        }
        dobs.sort();
        let twin_per_birth = config.twin_rate / (2.0 - config.twin_rate);
        let twins: Vec<bool> = dobs.iter().map(|_| rng.gen::<f64>() < twin_per_birth).collect();

        // Parents.
        let oldest = dobs[0];
        let mother_dob = oldest.plus_days(-rng.gen_range(18 * 365..39 * 365));
        let father_share = if origin == Origin::British { 0.66 } else { 0.82 };
        let mut father = None;
        if rng.gen::<f64>() < father_share {
            let dob = mother_dob.plus_days(rng.gen_range(-2 * 365..8 * 365));
            let forename = names.forename(rng, origin, Sex::Male, dob.year);
            let surname = gendered_surname(&family, Sex::Male, true);
            father = Some(self.push(rng, &home, Sex::Male, forename, surname, dob));
        }
        let shares_name = rng.gen::<f64>() < if father.is_some() { 0.8 } else { 0.55 };
        let begum_family = ["Miah", "Uddin", "Rahman", "Islam", "Ahmed", "Ali", "Hussain"];
        let mother_surname = if origin == Origin::SouthAsian && begum_family.contains(&family.as_str()) && rng.gen::<bool>() {
            "Begum".to_owned()
        } else if shares_name {
            gendered_surname(&family, Sex::Female, true)
        } else {
            gendered_surname(&names.surname(rng, origin), Sex::Female, true)
        };
        let forename = names.forename(rng, origin, Sex::Female, mother_dob.year);
        let mother = self.push(rng, &home, Sex::Female, forename, mother_surname.clone(), mother_dob);

        // Children carry the family name; some British children of parents
        // with different names carry both.
        let hyphenated = origin == Origin::British && father.is_some() && mother_surname != family && rng.gen::<f64>() < 0.3;
        let child_family = match hyphenated {
            true if rng.gen::<bool>() => format!("{mother_surname}-{family}"),
            true => format!("{family}-{mother_surname}"),
            false => family.clone(),
        };
        let mut given: Vec<String> = Vec::new();
        let mut children = 0;
        for (dob, twin) in dobs.iter().zip(twins) {
            let first_sex = Sex::draw(rng, 0.5);
            let mut sexes = vec![first_sex];
            if twin {
                sexes.push(if rng.gen::<f64>() < 0.66 { first_sex } else { first_sex.other() });
            }
            let mut born = Vec::new();
            for sex in sexes {
                let parent = if sex == Sex::Male { father } else { Some(mother) };
                let junior_rate = if sex == Sex::Male { config.junior_rate } else { config.junior_rate / 4.0 };
                let parent_name = parent.map(|p| self.people[p].forename.clone());
                let mut forename = match parent_name {
                    Some(name) if rng.gen::<f64>() < junior_rate && !given.contains(&name) => name,
                    _ => names.forename(rng, origin, sex, dob.year),
                };
                while given.contains(&forename) {
                    forename = names.forename(rng, origin, sex, dob.year);
                }
                given.push(forename.clone());
                let surname = gendered_surname(&child_family, sex, dob.age_on(REFERENCE) >= 18);
                let index = self.push(rng, &home, sex, forename, surname, *dob);
                self.people[index].father = father;
                self.people[index].mother = Some(mother);
                children += usize::from(self.people[index].is_child());
                born.push(index);
            }
            if let [a, b] = born[..] {
                self.people[a].twin = Some(b);
                self.people[b].twin = Some(a);
            }
        }
        children
    }

    /// Adds an adult living alone, born on `dob`, of an origin other than
    /// British with probability `diverse`; with `namesake_of`, the adult
    /// carries that child's origin, forename and surname.
    pub fn add_adult(&mut self, rng: &mut impl Rng, names: &Names, diverse: f64, sex: Sex, dob: Date, namesake_of: Option<usize>) -> usize {
        let (origin, forename, surname) = match namesake_of.map(|c| &self.people[c]) {
            Some(child) => (child.origin, child.forename.clone(), child.surname.clone()),
            None => {
                let origin = Origin::draw(rng, diverse);
                let forename = names.forename(rng, origin, sex, dob.year);
                (origin, forename, gendered_surname(&names.surname(rng, origin), sex, true))
            }
        };
        let home = self.family(rng, names, origin);
        let index = self.push(rng, &home, sex, forename, surname, dob);
        self.people[index].namesake_of = namesake_of;
        index
    }
}

/// The NHS check digit of nine digits, or `None` when it would be 10.
pub fn nhs_check_digit(digits: &[u32]) -> Option<u32> {
    let sum: u32 = digits.iter().take(9).zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        check => Some(check),
    }
}
