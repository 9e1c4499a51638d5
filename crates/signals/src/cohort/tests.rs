use super::*;
use crate::facts::{Concern, NewInvolvement, OutcomeFacts, RecordFacts};
use crate::test_groups::Groups;

#[derive(Default)]
struct World {
    facts: Facts,
    groups: Groups,
    fingerprints: u64,
}

impl World {
    fn case(&mut self, agency: &str, case_type: CaseType, day: i32, people: &[(u64, Role)]) {
        let agency = self.facts.agency_number(agency, "police");
        self.fingerprints += 1;
        let involvements: Vec<NewInvolvement> = people.iter().map(|&(id, role)| NewInvolvement { id, role, identified: true, age: None }).collect();
        let record = RecordFacts {
            agency,
            record_ref: format!("r-{}", self.fingerprints),
            case_type,
            day,
            re_referral: false,
            concern: Concern::Current,
            institution: false,
            involvements: people.iter().map(|p| p.0).collect(),
        };
        self.facts.add_record(self.fingerprints, record, &involvements);
    }

    fn outcome(&mut self, agency: &str, kind: OutcomeKind, day: i32, involvement: u64) -> u64 {
        let agency = self.facts.agency_number(agency, "children_services");
        self.fingerprints += 1;
        let fingerprint = self.fingerprints;
        self.facts.add_outcome(fingerprint, OutcomeFacts { agency, record_ref: format!("o-{fingerprint}"), kind, day, involvement });
        fingerprint
    }

    fn counts(&self, case_type: CaseType, include: impl Fn(u16) -> bool + Copy, today: i32) -> CohortCounts {
        let entered = case_type_cohort(&self.facts, &self.groups, case_type, include);
        cohort_outcomes(&self.facts, &self.groups, &entered, include, today)
    }
}

fn with(counts: &CohortCounts, kind: OutcomeKind) -> u64 {
    counts.with.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n)
}

const V: Role = Role::KnownVictim;

#[test]
fn outcomes_count_from_the_day_a_child_entered_to_twelve_months_after() {
    let mut w = World::default();
    // Child 1: CSA on day 1000; missing on day 1000 and 1365 (counted), a
    // placement move on day 1366 (too late), an arrest on day 999 (before).
    w.case("POL", CaseType::Csa, 1000, &[(1, V), (2, Role::Perpetrator)]);
    w.outcome("CSC", OutcomeKind::MissingEpisode, 1000, 10);
    w.outcome("CSC", OutcomeKind::MissingEpisode, 1365, 11);
    w.outcome("CSC", OutcomeKind::PlacementMove, 1366, 12);
    w.outcome("CSC", OutcomeKind::ArrestOrCharge, 999, 13);
    w.groups.set(&[1, 10, 11, 12, 13]);
    // Child 3: a second CSA case later; enters on the earlier one.
    w.case("POL", CaseType::Csa, 2000, &[(3, V)]);
    w.case("CSC", CaseType::Csa, 1500, &[(4, V)]);
    w.outcome("CSC", OutcomeKind::PlacementMove, 1600, 14);
    w.groups.set(&[3, 4, 14]);
    // Child 5: a CSE case only: not in the CSA cohort.
    w.case("POL", CaseType::Cse, 1000, &[(5, V)]);
    w.outcome("CSC", OutcomeKind::MissingEpisode, 1001, 15);
    w.groups.set(&[5, 15]);

    let counts = w.counts(CaseType::Csa, |_| true, 1800);
    assert_eq!(counts.children, 2, "two children, the perpetrator not among them");
    assert_eq!(counts.followed_up, 1, "child 1's year is over by day 1800, child 3's (from day 1500) is not");
    assert_eq!(with(&counts, OutcomeKind::MissingEpisode), 1);
    assert_eq!(with(&counts, OutcomeKind::PlacementMove), 1, "child 3's move at day 1600 counts; child 1's at day 1366 does not");
    assert_eq!(with(&counts, OutcomeKind::ArrestOrCharge), 0, "an event before entering does not count");
    assert_eq!(counts.any, 2);

    let cse = w.counts(CaseType::Cse, |_| true, 1800);
    assert_eq!((cse.children, cse.any, with(&cse, OutcomeKind::MissingEpisode)), (1, 1, 1));
}

#[test]
fn outcome_events_are_never_cases_and_go_when_withdrawn() {
    let mut w = World::default();
    w.case("POL", CaseType::Csa, 1000, &[(1, V)]);
    let event = w.outcome("CSC", OutcomeKind::SchoolExclusion, 1100, 2);
    w.groups.set(&[1, 2]);
    assert_eq!(w.facts.records().count(), 1, "the outcome event is not a record");
    assert!(w.facts.involvement(2).is_none(), "nor a case involvement");
    assert_eq!(w.facts.outcome(2).map(|o| o.kind), Some(OutcomeKind::SchoolExclusion));
    assert_eq!(w.counts(CaseType::Csa, |_| true, 5000).any, 1);

    assert_eq!(w.facts.remove_record(event), vec![2]);
    assert!(w.facts.outcome(2).is_none());
    assert_eq!(w.facts.outcome_count(), 0);
    assert_eq!(w.counts(CaseType::Csa, |_| true, 5000).any, 0);
}

#[test]
fn only_the_admitted_agencies_events_and_cases_count() {
    let mut w = World::default();
    w.case("POL", CaseType::Csa, 1000, &[(1, V)]);
    w.case("OUT", CaseType::Csa, 1000, &[(2, V)]);
    w.outcome("OUT", OutcomeKind::ArrestOrCharge, 1010, 3);
    w.groups.set(&[1, 3]);
    let pol = w.facts.find_agency("POL").expect("POL");
    let counts = w.counts(CaseType::Csa, |a| a == pol, 5000);
    assert_eq!(counts.children, 1, "the outside agency's child is not in the cohort");
    assert_eq!(counts.any, 0, "the outside agency's event is not counted");
}

#[test]
fn kinds_round_trip_through_their_numbers_and_codes() {
    for kind in OutcomeKind::ALL {
        assert_eq!(OutcomeKind::from_number(kind.number()), Some(kind));
        assert_eq!(OutcomeKind::from_code(kind.code()), Some(kind));
    }
    assert_eq!(OutcomeKind::from_number(0), None);
    assert_eq!(OutcomeKind::from_number(9), None);
    assert_eq!(OutcomeKind::from_code("missing"), None);
}
