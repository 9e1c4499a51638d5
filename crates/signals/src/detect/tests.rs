use super::*;
use crate::facts::NewInvolvement;
use crate::test_groups::Groups;

struct World {
    facts: Facts,
    groups: Groups,
    book: SignalBook,
    next_record: u64,
}

impl World {
    fn new() -> World {
        World { facts: Facts::new(), groups: Groups::default(), book: SignalBook::new(SignalConfig::default()), next_record: 0 }
    }

    /// Adds a record; `people` are (involvement id, role, age).
    fn record(&mut self, agency: &str, case_type: CaseType, day: i32, people: &[(u64, Role, Option<u8>)]) -> u64 {
        self.record_with(agency, case_type, day, false, Concern::Current, people)
    }

    fn record_with(&mut self, agency: &str, case_type: CaseType, day: i32, re_referral: bool, concern: Concern, people: &[(u64, Role, Option<u8>)]) -> u64 {
        let agency = self.facts.agency_number(agency, "");
        self.next_record += 1;
        let involvements: Vec<NewInvolvement> = people.iter().map(|&(id, role, age)| NewInvolvement { id, role, identified: true, age }).collect();
        self.facts.add_record(
            self.next_record,
            RecordFacts {
                agency,
                record_ref: format!("r-{}", self.next_record),
                case_type,
                day,
                re_referral,
                concern,
                institution: false,
                involvements: people.iter().map(|p| p.0).collect(),
            },
            &involvements,
        );
        self.next_record
    }

    /// Puts `members` in one profile, each joined to the first by a very
    /// high link.
    fn link(&mut self, members: &[u64]) {
        self.groups.set(members);
        for &member in members.iter().skip(1) {
            self.facts.set_strong_links(member, &[members[0]]);
        }
    }

    fn refresh(&mut self, changed: &[u64]) {
        self.book.refresh(&self.facts, &self.groups, changed.iter().copied());
    }

    /// Settles after `moved` changed profile (a merge or a split), as the
    /// node notes it.
    fn refresh_moved(&mut self, moved: &[u64]) {
        self.book.note_moved(moved.iter().copied());
        self.book.settle(&self.facts, &self.groups);
    }

    /// The kinds a book worked out afresh gives `key`.
    fn fresh_kinds(&self, key: u64) -> Vec<(SignalKind, String)> {
        let mut book = SignalBook::new(SignalConfig::default());
        book.refresh(&self.facts, &self.groups, 0..self.facts.id_bound() as u64);
        kinds_in(&book, key)
    }

    fn kinds(&self, key: u64) -> Vec<(SignalKind, String)> {
        kinds_in(&self.book, key)
    }
}

/// The kinds and details of `key`'s signals in `book`, sorted.
fn kinds_in(book: &SignalBook, key: u64) -> Vec<(SignalKind, String)> {
    let mut out: Vec<(SignalKind, String)> = book.profile(key).iter().map(|s| (s.kind, s.detail.clone())).collect();
    out.sort();
    out
}

const V: Role = Role::KnownVictim;
const P: Role = Role::Perpetrator;

#[test]
fn one_incident_at_two_agencies_is_one_case_not_revictimisation() {
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, Some(9)), (2, P, Some(40))]);
    w.record("POL", CaseType::Csa, 1006, &[(3, V, Some(9)), (4, P, Some(40))]);
    w.link(&[1, 3]);
    w.link(&[2, 4]);
    w.refresh(&[1, 2, 3, 4]);
    assert_eq!(w.kinds(1), vec![]);
    assert_eq!(w.kinds(2), vec![], "one victim, seen twice");
    assert!(w.book.is_empty());
}

#[test]
fn cases_apart_in_time_are_revictimisation_with_the_case_types() {
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, Some(8))]);
    w.record("CSC", CaseType::Csa, 1000 + 89, &[(2, V, Some(8))]);
    w.link(&[1, 2]);
    w.refresh(&[1, 2]);
    assert_eq!(w.kinds(1), vec![], "one agency's cases 89 days apart are not yet re-victimisation");
    w.record("YOT", CaseType::Cse, 1000 + 2000, &[(3, V, Some(14))]);
    w.link(&[1, 2, 3]);
    w.refresh(&[3]);
    assert_eq!(w.kinds(1), vec![(SignalKind::Revictimisation, "CSA→CSE".to_owned())]);
    let signal = &w.book.profile(1)[0];
    assert_eq!(signal.evidence, vec![3, 2, 1], "newest first");
    assert_eq!((signal.first_day, signal.last_day), (1000, 3000));
}

#[test]
fn two_agencies_months_apart_are_one_incident_recorded_at_different_moments() {
    let mut w = World::new();
    // The police record the crime; the voluntary service opens its case
    // four months later, and calls it exploitation.
    w.record("POL", CaseType::Csa, 1000, &[(1, V, Some(13))]);
    w.record("VOL", CaseType::Cse, 1000 + 120, &[(2, V, Some(13))]);
    w.link(&[1, 2]);
    w.refresh(&[1, 2]);
    assert_eq!(w.kinds(1), vec![(SignalKind::ClassificationConflict, "CSA at 1 agency(ies), CSE at 1".to_owned())], "one incident, not two");
    // The same agency's second case 100 days on is a second incident.
    w.record("VOL", CaseType::Cse, 1000 + 220, &[(3, V, Some(14))]);
    w.link(&[1, 2, 3]);
    w.refresh(&[3]);
    assert!(w.kinds(1).contains(&(SignalKind::Revictimisation, "CSA→CSE".to_owned())), "{:?}", w.kinds(1));
    // Another agency's record beyond six months is a second incident too.
    let mut w = World::new();
    w.record("POL", CaseType::Csa, 1000, &[(1, V, Some(13))]);
    w.record("CSC", CaseType::Csa, 1000 + 181, &[(2, V, Some(13))]);
    w.link(&[1, 2]);
    w.refresh(&[1, 2]);
    assert_eq!(w.kinds(1), vec![(SignalKind::Revictimisation, "CSA→CSA".to_owned())]);
    let mut w = World::new();
    w.record("POL", CaseType::Csa, 1000, &[(1, V, Some(13))]);
    w.record("CSC", CaseType::Csa, 1000 + 180, &[(2, V, Some(13))]);
    w.link(&[1, 2]);
    w.refresh(&[1, 2]);
    assert_eq!(w.kinds(1), vec![], "within six months at two agencies");
}

#[test]
fn two_agencies_naming_different_harmers_months_apart_are_two_incidents() {
    let mut w = World::new();
    w.record("POL", CaseType::Csa, 1000, &[(1, V, Some(13)), (2, P, None)]);
    w.record("VOL", CaseType::Cse, 1000 + 120, &[(3, V, Some(13)), (4, P, None)]);
    w.link(&[1, 3]);
    w.refresh(&[1, 2, 3, 4]);
    assert_eq!(w.kinds(1), vec![(SignalKind::Revictimisation, "CSA→CSE".to_owned())], "different perpetrators, two incidents");
    // Once the two perpetrators' records link, it is one incident again.
    w.link(&[2, 4]);
    w.refresh(&[2, 4]);
    assert_eq!(w.kinds(1), vec![(SignalKind::ClassificationConflict, "CSA at 1 agency(ies), CSE at 1".to_owned())]);
}

#[test]
fn the_revictimisation_detail_names_each_incidents_first_record() {
    // CSA at the police, then a second case (CSE) at the police by another
    // perpetrator; the voluntary service records the first case last.
    let mut w = World::new();
    w.record("POL", CaseType::Csa, 1000, &[(1, V, Some(13)), (2, P, None)]);
    w.record("POL", CaseType::Cse, 1120, &[(3, V, Some(13)), (4, P, None)]);
    w.record("VOL", CaseType::Csa, 1170, &[(5, V, Some(13)), (6, P, None)]);
    w.link(&[1, 3, 5]);
    w.link(&[2, 6]);
    w.refresh(&[1, 2, 3, 4, 5, 6]);
    assert_eq!(w.kinds(1), vec![(SignalKind::Revictimisation, "CSA→CSE".to_owned())], "the latest record belongs to the first incident");
}

#[test]
fn perpetrators_merging_through_another_childs_record_rejoin_the_incidents() {
    // The union-find reports only the member whose parent changed; it may
    // sit in another child's record, or be that child or a perpetrator's
    // own victim record, so the first child is reached through the merged
    // profile, not through a record that changed.
    for moved in [8, 5] {
        let mut w = World::new();
        w.record("POL", CaseType::Csa, 1000, &[(1, V, Some(13)), (2, P, None)]);
        w.record("VOL", CaseType::Cse, 1000 + 120, &[(3, V, Some(13)), (4, P, None)]);
        // Each perpetrator has another record: one harmed another child,
        // the other was harmed as a child.
        w.record("CSC", CaseType::Csa, 500, &[(5, V, Some(9))]);
        w.record("YOT", CaseType::Csa, 600, &[(7, V, Some(10)), (8, P, None)]);
        w.link(&[1, 3]);
        w.link(&[2, 5]);
        w.link(&[4, 8]);
        w.refresh(&[1, 2, 3, 4, 5, 7, 8]);
        assert_eq!(w.kinds(1), vec![(SignalKind::Revictimisation, "CSA→CSE".to_owned())], "different perpetrators, two incidents");
        w.link(&[2, 4, 5, 8]);
        w.refresh_moved(&[moved]);
        assert_eq!(w.kinds(1), vec![(SignalKind::ClassificationConflict, "CSA at 1 agency(ies), CSE at 1".to_owned())], "merge noted at {moved}");
        assert_eq!(w.kinds(1), w.fresh_kinds(1), "settled as a book worked out afresh");
    }
}

#[test]
fn an_incident_stays_open_to_its_perpetrator_after_another_perpetrators_record() {
    let mut w = World::new();
    w.record("POL", CaseType::Csa, 1000, &[(1, V, Some(13)), (2, P, None)]);
    w.record("VOL", CaseType::Csa, 1030, &[(3, V, Some(13)), (4, P, None)]);
    w.record("CSC", CaseType::Cse, 1100, &[(5, V, Some(13)), (6, P, None)]);
    w.link(&[1, 3, 5]);
    w.link(&[2, 6]);
    w.refresh(&[1, 2, 3, 4, 5, 6]);
    // Two incidents, starting 30 days apart: the police's and children's
    // services' records of one perpetrator, and the voluntary service's of
    // another. Not re-victimisation; the first is a conflict.
    assert_eq!(w.kinds(1), vec![(SignalKind::ClassificationConflict, "CSA at 1 agency(ies), CSE at 1".to_owned())]);
}

#[test]
fn a_recorded_re_referral_is_revictimisation_and_resolved_concerns_show_as_resolved() {
    let mut w = World::new();
    w.record_with("CSC", CaseType::Csa, 1000, true, Concern::Resolved, &[(1, V, None)]);
    w.refresh(&[1]);
    assert_eq!(w.kinds(1), vec![(SignalKind::Revictimisation, "re-referral".to_owned())]);
    assert!(w.book.profile(1)[0].resolved);
}

#[test]
fn csa_at_one_agency_and_cse_at_another_is_a_conflict() {
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, Some(13))]);
    w.record("POL", CaseType::Cse, 1004, &[(2, V, Some(13))]);
    w.record("VOL", CaseType::Csa, 1400, &[(3, V, Some(14))]);
    w.link(&[1, 2, 3]);
    w.refresh(&[1, 2, 3]);
    let kinds = w.kinds(1);
    assert!(kinds.iter().any(|k| k.0 == SignalKind::ClassificationConflict), "{kinds:?}");
    let conflict = w.book.profile(1).iter().find(|s| s.kind == SignalKind::ClassificationConflict).expect("conflict");
    assert_eq!(conflict.evidence, vec![2, 1], "only the incident's own records");
    // Seen through the perpetrator when the victim's records did not link,
    // and only once when they did.
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, Some(12)), (2, P, None)]);
    w.record("POL", CaseType::Cse, 1003, &[(3, V, Some(12)), (4, P, None)]);
    w.link(&[2, 4]);
    w.refresh(&[1, 2, 3, 4]);
    assert_eq!(w.kinds(2).len(), 1);
    assert_eq!(w.kinds(2)[0].0, SignalKind::ClassificationConflict);
    w.link(&[1, 3]);
    w.refresh(&[1, 3]);
    assert_eq!(w.kinds(2), vec![]);
    assert_eq!(w.kinds(1)[0].0, SignalKind::ClassificationConflict);
    // One agency changing its mind about two different incidents is no conflict.
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, Some(13))]);
    w.record("CSC", CaseType::Cse, 1010, &[(2, V, Some(13))]);
    w.link(&[1, 2]);
    w.refresh(&[1, 2]);
    assert!(w.kinds(1).iter().all(|k| k.0 != SignalKind::ClassificationConflict));
}

#[test]
fn victim_who_harms_elsewhere_raises_overlap_and_criminalisation() {
    let mut w = World::new();
    // A child victim at 12 who, two years on, is a suspect (age from the
    // victim record) in someone else's case.
    w.record("CSC", CaseType::Cse, 1000, &[(1, V, Some(12))]);
    w.record("POL", CaseType::Cse, 1730, &[(9, V, Some(13)), (2, P, None)]);
    w.link(&[1, 2]);
    w.refresh(&[1, 2, 9]);
    assert_eq!(
        w.kinds(1),
        vec![
            (SignalKind::VictimHsbOverlap, "victim and perpetrator under 18".to_owned()),
            (SignalKind::VictimAsOffender, "CSE victim recorded as perpetrator".to_owned()),
        ]
    );
    // An adult perpetrator who was once a victim is recorded as an
    // offender but is no HSB overlap.
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, Some(10))]);
    w.record("POL", CaseType::Csa, 1000 + 365 * 12, &[(9, V, Some(9)), (2, P, None)]);
    w.link(&[1, 2]);
    w.refresh(&[1, 2]);
    assert_eq!(w.kinds(1), vec![(SignalKind::VictimAsOffender, "CSA victim recorded as perpetrator".to_owned())]);
    // A child of 9 and a man of 55 in one profile are a linkage error, not
    // a criminalised victim.
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, Some(9))]);
    w.record("POL", CaseType::Csa, 1400, &[(9, V, Some(9)), (2, P, Some(55))]);
    w.record("VOL", CaseType::Csa, 1500, &[(3, V, Some(10))]);
    // A record of the man with no age recorded is no evidence either.
    w.record("YOT", CaseType::Csa, 1600, &[(8, V, Some(9)), (4, P, None)]);
    w.link(&[1, 2, 3, 4]);
    w.refresh(&[1, 2, 3, 4]);
    assert_eq!(w.kinds(1), vec![(SignalKind::Revictimisation, "CSA→CSA".to_owned())]);
    // Nor is a weak link between a child and an adult whose age is not
    // recorded.
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, Some(13))]);
    w.record("VOL", CaseType::Cse, 1200, &[(9, V, Some(15)), (2, P, None)]);
    w.link(&[1, 2]);
    w.facts.set_link(2, 0.91);
    w.refresh(&[1, 2]);
    assert_eq!(w.kinds(1), vec![]);
    w.facts.set_link(2, 0.995);
    w.refresh(&[2]);
    assert_eq!(w.kinds(1).len(), 2, "victim/HSB overlap and criminalisation");
}

#[test]
fn a_victim_and_an_offender_joined_through_a_weaker_step_are_not_one_person_holding_two_roles() {
    // A child's two records, an adult's two records; every record linked
    // very high to its own group, and the two groups put in one profile by
    // a weaker step that neither group's records show.
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, None)]);
    w.record("POL", CaseType::Csa, 1400, &[(2, V, None)]);
    w.record("POL", CaseType::Csa, 1500, &[(3, P, None)]);
    w.record("YOT", CaseType::Csa, 1600, &[(4, P, None)]);
    w.groups.set(&[1, 2, 3, 4]);
    w.facts.set_strong_links(2, &[1]);
    w.facts.set_strong_links(4, &[3]);
    w.refresh(&[1, 2, 3, 4]);
    assert!(w.kinds(1).iter().all(|(kind, _)| *kind != SignalKind::VictimAsOffender), "{:?}", w.kinds(1));
    // A very high link between the groups makes it one person.
    w.facts.set_strong_links(3, &[2]);
    w.refresh(&[3]);
    assert!(w.kinds(1).iter().any(|(kind, _)| *kind == SignalKind::VictimAsOffender), "{:?}", w.kinds(1));
}

#[test]
fn one_incident_naming_two_victim_profiles_at_two_agencies_is_no_shared_perpetrator() {
    // The victim's two records did not link; the perpetrator's did.
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, None), (2, P, None)]);
    w.record("POL", CaseType::Csa, 1004, &[(3, V, None), (4, P, None)]);
    w.link(&[2, 4]);
    w.refresh(&[1, 2, 3, 4]);
    assert_eq!(w.kinds(2), vec![]);
    // Two victims named in one record are two victims.
    w.record("VOL", CaseType::Csa, 1010, &[(5, V, None), (6, V, None), (7, P, None)]);
    w.link(&[2, 4, 7]);
    w.refresh(&[5, 6, 7]);
    assert_eq!(w.kinds(2), vec![(SignalKind::SharedPerpetrator, "4 victims in 3 records".to_owned())]);
}

#[test]
fn a_perpetrator_of_two_victims_is_shared_and_networks_follow_links() {
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, None), (2, P, None)]);
    w.record("POL", CaseType::Csa, 1003, &[(3, V, None), (4, P, None)]);
    w.link(&[1, 3]);
    w.link(&[2, 4]);
    w.refresh(&[1, 2, 3, 4]);
    assert_eq!(w.kinds(2), vec![], "the same victim twice");
    let third = w.record("VOL", CaseType::Cse, 1500, &[(5, V, None), (6, P, None)]);
    w.link(&[2, 4, 6]);
    w.refresh(&[5, 6]);
    assert_eq!(w.kinds(2), vec![(SignalKind::SharedPerpetrator, "2 victims in 3 records".to_owned())]);
    assert_eq!(w.book.profile(2)[0].related, vec![1, 5]);
    assert!(
        {
            w.book.update_networks(&w.facts, &w.groups);
            w.book.networks()
        }
        .is_empty(),
        "three people are below the network size"
    );
    // A second perpetrator of victim 5 makes a network of four.
    w.record("POL", CaseType::Cse, 1600, &[(7, V, None), (8, P, None)]);
    w.link(&[5, 7]);
    w.refresh(&[7, 8]);
    let networks = {
        w.book.update_networks(&w.facts, &w.groups);
        w.book.networks()
    }
    .to_vec();
    assert_eq!(networks.len(), 1);
    assert_eq!(networks[0].related, vec![1, 2, 5, 8]);
    assert_eq!(networks[0].detail, "4 people: 2 harmed, 2 who harmed");
    // Withdrawing the record that named victim 5 with perpetrator 2
    // un-shares the perpetrator and breaks the network.
    let gone = w.facts.remove_record(third);
    w.groups.key.remove(&5);
    w.groups.key.remove(&6);
    w.groups.set(&[2, 4]);
    w.groups.set(&[7]);
    let mut changed = gone;
    changed.extend([2, 4, 7]);
    w.refresh(&changed);
    assert_eq!(w.kinds(2), vec![]);
    assert!({
        w.book.update_networks(&w.facts, &w.groups);
        w.book.networks()
    }
    .is_empty());
}

#[test]
fn merging_profiles_moves_signals_to_the_oldest_member() {
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 1000, &[(1, V, None)]);
    w.record("POL", CaseType::Csa, 1500, &[(2, V, None)]);
    w.record("VOL", CaseType::Csa, 2000, &[(3, V, None)]);
    w.link(&[2, 3]);
    w.refresh(&[1, 2, 3]);
    assert_eq!(w.book.len(), 1);
    assert_eq!(w.kinds(2).len(), 1);
    w.link(&[1, 2, 3]);
    w.refresh(&[2]);
    assert_eq!(w.book.len(), 1, "the old profile's signal is gone");
    assert_eq!(w.kinds(1), vec![(SignalKind::Revictimisation, "CSA→CSA".to_owned())]);
}

/// A partnership's view for the tests: the members it holds, in the parts
/// their own joins make (as the node's scoped view divides a profile).
struct Parted<'a> {
    groups: &'a Groups,
    facts: &'a Facts,
    inside: HashSet<u64>,
}

impl Parted<'_> {
    fn parts(&self, id: u64) -> Vec<Vec<u64>> {
        let inside: Vec<u64> = self.groups.members(id).into_iter().filter(|m| self.inside.contains(m)).collect();
        crate::joined_parts(self.facts, &inside)
    }
}

impl Profiles for Parted<'_> {
    fn key(&self, id: u64) -> u64 {
        self.parts(id).into_iter().find(|part| part.contains(&id)).map_or(self.groups.key(id), |part| part[0])
    }
    fn members(&self, id: u64) -> Vec<u64> {
        self.parts(id).into_iter().find(|part| part.contains(&id)).unwrap_or_default()
    }
    fn includes(&self, id: u64) -> bool {
        self.inside.contains(&id)
    }
    fn keys_around(&self, id: u64) -> Vec<u64> {
        self.parts(id).iter().map(|part| part[0]).collect()
    }
}

#[test]
fn records_that_only_a_record_outside_the_view_joins_are_two_people_to_it() {
    let mut w = World::new();
    w.record("CSC", CaseType::Csa, 0, &[(1, Role::KnownVictim, Some(9))]);
    w.record("VOL", CaseType::Csa, 200, &[(2, Role::KnownVictim, Some(9))]);
    w.record("CSC", CaseType::Cse, 900, &[(3, Role::KnownVictim, Some(11))]);
    // One profile, the voluntary sector's record between the two others.
    w.groups.set(&[1, 2, 3]);
    w.facts.set_links(2, Box::new([(1, 1.0)]));
    w.facts.set_links(3, Box::new([(2, 1.0)]));
    w.refresh(&[1, 2, 3]);
    assert!(w.kinds(1).iter().any(|(kind, _)| *kind == SignalKind::Revictimisation), "seen whole, one child re-victimised");
    // Through a view of children's services alone, two children, neither
    // re-victimised; the outside record's profile has both parts.
    let view = Parted { groups: &w.groups, facts: &w.facts, inside: [1, 3].into() };
    assert_eq!(view.keys_around(2), vec![1, 3]);
    let mut scoped = SignalBook::new(SignalConfig::default());
    scoped.refresh(&w.facts, &view, [1, 2, 3]);
    assert!(scoped.profile(1).is_empty() && scoped.profile(3).is_empty(), "{:?}", scoped.iter().collect::<Vec<_>>());
    // Once the two records are joined directly, the view sees one child,
    // and settling what changed finds it.
    w.facts.set_links(3, Box::new([(2, 1.0), (1, 0.5)]));
    let view = Parted { groups: &w.groups, facts: &w.facts, inside: [1, 3].into() };
    scoped.refresh(&w.facts, &view, [3]);
    assert!(scoped.profile(1).iter().any(|s| s.kind == SignalKind::Revictimisation), "{:?}", scoped.iter().collect::<Vec<_>>());
    assert!(scoped.profile(3).is_empty());
}

#[test]
fn noted_ids_are_taken_once_each_in_the_order_first_noted() {
    let mut noted = Noted::default();
    assert!(noted.is_empty());
    noted.extend([5, 3, 5, 9, 64, 3]);
    noted.extend([3, 200]);
    assert_eq!(noted.take(), vec![5, 3, 9, 64, 200]);
    assert!(noted.is_empty());
    // Taken ids can be noted again; noting the same ids batch after batch
    // lists each once.
    for _ in 0..30 {
        noted.extend((0..20_000u64).rev());
        assert_eq!(noted.ids.len(), 20_000);
    }
    assert_eq!(noted.take(), (0..20_000u64).rev().collect::<Vec<_>>());
    noted.extend([5]);
    assert_eq!(noted.take(), vec![5]);
}
