//! Cases: which children were harmed, by whom, and when.
//!
//! Every child is the victim in at least one case; some in more. A case of
//! child sexual abuse (CSA) has a perpetrator from the household or an
//! outside adult; a case of exploitation (CSE) has up to four adults, often
//! ones already named in other exploitation cases (so networks form); a case
//! of harmful sexual behaviour (HSB) has a child aged ten or more as the one
//! who harmed. New outside adults sometimes carry a child's full name.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::calendar::Date;
use crate::names::Names;
use crate::population::{date_between, weighted_index as pick, Population, Sex, REFERENCE};
use crate::Config;

/// A person's part in a case: a known or suspected victim, an adult
/// perpetrator, or a child who displayed harmful sexual behaviour.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    KnownVictim,
    SuspectedVictim,
    Perpetrator,
    Hsb,
}

impl Role {
    /// Every role, in the order agencies list their labels.
    pub const ALL: [Role; 4] = [Role::KnownVictim, Role::SuspectedVictim, Role::Perpetrator, Role::Hsb];

    /// The mapping name.
    pub fn name(self) -> &'static str {
        ["known_victim", "suspected_victim", "perpetrator", "hsb"][self as usize]
    }

    /// Whether the role is a victim's.
    pub fn is_victim(self) -> bool {
        matches!(self, Role::KnownVictim | Role::SuspectedVictim)
    }
}

/// How a case is classified: child sexual abuse, child sexual exploitation,
/// harmful sexual behaviour.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CaseType {
    Csa,
    Cse,
    Hsb,
}

impl CaseType {
    /// Every case type, in the order agencies list their labels.
    pub const ALL: [CaseType; 3] = [CaseType::Csa, CaseType::Cse, CaseType::Hsb];

    /// The mapping name.
    pub fn name(self) -> &'static str {
        ["CSA", "CSE", "HSB"][self as usize]
    }
}

/// One true case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// What kind of case it is.
    pub case_type: CaseType,
    /// When it came to notice.
    pub date: Date,
    /// (person index, role).
    pub parts: Vec<(usize, Role)>,
}

const FIRST: Date = Date { year: 2019, month: 1, day: 1 };
const LAST: Date = Date { year: 2024, month: 12, day: 31 };

/// Builds the cases: first one around every child not yet in a case, then
/// repeat victimisation for a share of children.
pub fn build(population: &mut Population, names: &Names, config: &Config, rng: &mut impl Rng) -> Vec<Case> {
    let mut builder = Builder {
        children: (0..population.people.len()).filter(|&i| population.people[i].is_child()).collect(),
        csa_adults: Vec::new(),
        cse_adults: Vec::new(),
        population,
        names,
        config,
    };
    let mut order = builder.children.clone();
    order.shuffle(rng);
    let mut covered = BTreeSet::new();
    let mut cases = Vec::new();
    for &child in &order {
        if !covered.contains(&child) {
            let case = builder.case_around(child, rng);
            for (p, _) in &case.parts {
                covered.insert(*p);
            }
            cases.push(case);
        }
    }
    for &child in &order {
        if rng.gen::<f64>() < config.repeat_share {
            cases.push(builder.case_around(child, rng));
        }
    }
    cases.sort_by_key(|c| c.date);
    cases
}

struct Builder<'a> {
    population: &'a mut Population,
    names: &'a Names,
    config: &'a Config,
    children: Vec<usize>,
    /// Outside adults named in CSA or CSE cases, once per case: drawing from
    /// these favours those already named often.
    csa_adults: Vec<usize>,
    cse_adults: Vec<usize>,
}

impl Builder<'_> {
    fn age(&self, person: usize, on: Date) -> i32 {
        self.population.people[person].dob.age_on(on)
    }

    /// A random child (other than those in `not`) aged within `ages` on `on`.
    fn some_child(&self, rng: &mut impl Rng, on: Date, ages: RangeInclusive<i32>, not: &[usize]) -> Option<usize> {
        (0..40).map(|_| self.children[rng.gen_range(0..self.children.len())]).find(|&c| ages.contains(&self.age(c, on)) && !not.contains(&c))
    }

    fn case_around(&mut self, child: usize, rng: &mut impl Rng) -> Case {
        let age_now = self.age(child, REFERENCE);
        let case_type = match age_now {
            12.. => CaseType::ALL[pick(rng, &[40, 40, 20])],
            4.. => CaseType::ALL[pick(rng, &[75, 0, 25])],
            _ => CaseType::Csa,
        };
        let dob = self.population.people[child].dob;
        let youngest = if case_type == CaseType::Cse { 10 * 365 + 3 } else { 60 };
        let earliest = FIRST.max(dob.plus_days(youngest)).min(LAST);
        let date = date_between(rng, earliest, LAST);

        let mut victims = vec![child];
        let household = self.population.people[child].household;
        let siblings: Vec<usize> = self.population.households[household]
            .iter()
            .copied()
            .filter(|&s| s != child && (0..18).contains(&self.age(s, date)) && self.population.people[s].dob < date)
            .collect();
        match case_type {
            CaseType::Csa | CaseType::Hsb => {
                let share = if case_type == CaseType::Csa { 0.3 } else { 0.15 };
                victims.extend(siblings.iter().filter(|_| rng.gen::<f64>() < share));
            }
            CaseType::Cse => {
                for _ in 0..pick(rng, &[60, 30, 10]) {
                    if let Some(peer) = self.some_child(rng, date, 12..=17, &victims) {
                        victims.push(peer);
                    }
                }
            }
        }
        let mut parts: Vec<(usize, Role)> =
            victims.iter().map(|&v| (v, if rng.gen::<f64>() < 0.6 { Role::KnownVictim } else { Role::SuspectedVictim })).collect();

        match case_type {
            CaseType::Csa => {
                for _ in 0..pick(rng, &[12, 80, 8]) {
                    let members = self.population.households[household].iter().copied();
                    let family: Vec<usize> = members.filter(|&m| self.age(m, date) >= 18).collect();
                    let adult = if !family.is_empty() && rng.gen::<f64>() < 0.3 {
                        // Fathers more often than mothers or adult siblings.
                        let father = family.iter().copied().find(|&m| Some(m) == self.population.people[child].father);
                        match father {
                            Some(f) if rng.gen::<f64>() < 0.7 => f,
                            _ => family[rng.gen_range(0..family.len())],
                        }
                    } else {
                        self.outside_adult(rng, date, CaseType::Csa, 0.15, 0.92, 20..=62)
                    };
                    parts.push((adult, Role::Perpetrator));
                }
            }
            CaseType::Cse => {
                for _ in 0..pick(rng, &[10, 40, 28, 15, 7]) {
                    let adult = self.outside_adult(rng, date, CaseType::Cse, 0.45, 0.9, 18..=40);
                    parts.push((adult, Role::Perpetrator));
                }
            }
            CaseType::Hsb => {
                for _ in 0..1 + pick(rng, &[88, 12]) {
                    let taken: Vec<usize> = parts.iter().map(|(p, _)| *p).collect();
                    let sibling = siblings.iter().copied().find(|&s| self.age(s, date) >= 10 && !taken.contains(&s));
                    let harmer = match sibling {
                        Some(s) if rng.gen::<f64>() < 0.25 => Some(s),
                        _ => self.some_child(rng, date, 10..=17, &taken),
                    };
                    if let Some(h) = harmer {
                        parts.push((h, Role::Hsb));
                    }
                }
            }
        }
        let mut seen = BTreeSet::new();
        parts.retain(|(p, _)| seen.insert(*p));
        Case { case_type, date, parts }
    }

    /// An adult from outside the household: one already named in this kind
    /// of case (with probability `reuse`, when old enough) or a new one.
    fn outside_adult(&mut self, rng: &mut impl Rng, date: Date, kind: CaseType, reuse: f64, male_share: f64, ages: RangeInclusive<i32>) -> usize {
        let pool = if kind == CaseType::Cse { &self.cse_adults } else { &self.csa_adults };
        let known = (!pool.is_empty() && rng.gen::<f64>() < reuse).then(|| pool[rng.gen_range(0..pool.len())]).filter(|&a| self.age(a, date) >= 18);
        let adult = match known {
            Some(a) => a,
            None => {
                let sex = Sex::draw(rng, male_share);
                let namesake = (rng.gen::<f64>() < self.config.namesake_rate)
                    .then(|| (0..40).map(|_| self.children[rng.gen_range(0..self.children.len())]).find(|&c| self.population.people[c].sex == sex))
                    .flatten();
                let dob = date.plus_days(-(i64::from(rng.gen_range(ages)) * 365 + rng.gen_range(0..365)));
                self.population.add_adult(rng, self.names, self.config.diverse_share, sex, dob, namesake)
            }
        };
        let pool = if kind == CaseType::Cse { &mut self.cse_adults } else { &mut self.csa_adults };
        pool.push(adult);
        adult
    }
}
