use super::*;
use crate::facts::{CaseType, Concern, NewInvolvement, Role};
use crate::test_groups::Groups;

#[derive(Default)]
struct World {
    facts: Facts,
    groups: Groups,
    records: u64,
}

/// A person in a record: (involvement id, role, recorded age, identified).
type Person = (u64, Role, Option<u8>, bool);

impl World {
    fn record(&mut self, agency: &str, agency_type: &str, day: i32, institution: bool, people: &[Person]) {
        let agency = self.facts.agency_number(agency, agency_type);
        self.records += 1;
        let involvements: Vec<NewInvolvement> = people.iter().map(|&(id, role, age, identified)| NewInvolvement { id, role, identified, age }).collect();
        let record = RecordFacts {
            agency,
            record_ref: format!("r-{}", self.records),
            case_type: CaseType::Csa,
            day,
            re_referral: false,
            concern: Concern::Current,
            institution,
            involvements: people.iter().map(|p| p.0).collect(),
        };
        self.facts.add_record(self.records, record, &involvements);
    }

    /// One person: the listed involvements, each after the first joined
    /// with `probability`.
    fn link(&mut self, members: &[u64], probability: f32) {
        let key = *members.iter().min().expect("members");
        for &m in members {
            self.groups.key.insert(m, key);
            if m != key {
                self.facts.set_link(m, probability);
            }
        }
    }

    fn derive(&self, id: u64) -> Vec<(&'static str, String)> {
        derive(&SignalConfig::default(), &self.facts, &self.groups, id).into_iter().map(|d| (d.field_id, d.value)).collect()
    }
}

/// One involvement's derived answers.
fn derive(config: &SignalConfig, facts: &Facts, profiles: &impl Profiles, id: u64) -> Vec<Derived> {
    derive_profile(config, facts, profiles, &[id]).pop().unwrap_or_default()
}

const V: Role = Role::KnownVictim;
const P: Role = Role::Perpetrator;

#[test]
fn an_earlier_case_makes_a_suspect_or_a_person_of_concern() {
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, Some(12), true), (2, P, Some(40), true)]);
    w.record("CSC", "children_services", 900, false, &[(3, V, Some(9), true), (4, P, Some(42), true)]);
    w.link(&[2, 4], 0.999);
    assert_eq!(w.derive(4), vec![("perpetrator.previous_involvement", "Yes, suspect".to_owned())]);
    assert!(w.derive(2).is_empty(), "the earlier case has no earlier case: {:?}", w.derive(2));

    let mut w = World::default();
    w.record("VOL", "voluntary", 100, false, &[(1, V, None, true), (2, P, None, true)]);
    w.record("CSC", "children_services", 900, false, &[(3, V, None, true), (4, P, None, true)]);
    w.link(&[2, 4], 0.999);
    assert_eq!(w.derive(4), vec![("perpetrator.previous_involvement", "Yes, person of concern".to_owned())]);
}

#[test]
fn no_previous_involvement_from_one_incident_a_weak_link_or_ages_apart() {
    // Two agencies' records of one incident, days apart.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, None, true), (2, P, None, true)]);
    w.record("CSC", "children_services", 110, false, &[(3, V, None, true), (4, P, None, true)]);
    w.link(&[2, 4], 1.0);
    assert!(w.derive(4).iter().all(|d| d.0 != "perpetrator.previous_involvement"), "{:?}", w.derive(4));
    // A link below very high.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, None, true), (2, P, None, true)]);
    w.record("CSC", "children_services", 900, false, &[(3, V, None, true), (4, P, None, true)]);
    w.link(&[2, 4], 0.95);
    assert!(w.derive(4).is_empty(), "{:?}", w.derive(4));
    // A father and a son of one name merged: ages 25 years apart.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, None, true), (2, P, Some(45), true)]);
    w.record("CSC", "children_services", 900, false, &[(3, V, None, true), (4, P, Some(22), true)]);
    w.link(&[2, 4], 1.0);
    assert!(w.derive(4).is_empty(), "{:?}", w.derive(4));
}

#[test]
fn perpetrators_of_one_incident_are_counted_only_when_surely_different_people() {
    // The police name one man; children's services name him (linked) and
    // another man beside him, for one child within days: at least two.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, Some(13), true), (2, P, None, true)]);
    w.record("CSC", "children_services", 105, false, &[(3, V, Some(13), true), (4, P, None, true), (6, P, None, true)]);
    w.link(&[1, 3], 1.0);
    w.link(&[2, 4], 1.0);
    let derived = w.derive(2);
    assert!(derived.contains(&("perpetrator.lone", "No".to_owned())), "{derived:?}");
    assert!(derived.contains(&("perpetrator.count", "2".to_owned())), "{derived:?}");
    // Another agency's record of the child that does not name this man may
    // be another incident (an uncle, then a peer at school, in one month):
    // nothing said, even with ages years apart.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, Some(13), true), (2, P, Some(50), true)]);
    w.record("CSC", "children_services", 105, false, &[(3, V, Some(13), true), (4, P, Some(30), true)]);
    w.link(&[1, 3], 1.0);
    assert!(w.derive(2).is_empty(), "{:?}", w.derive(2));
    // One record naming three (one unknown) and this man's other record:
    // three, the man counted once.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, None, true), (2, P, None, true), (3, P, None, true), (4, P, None, false)]);
    w.record("CSC", "children_services", 105, false, &[(5, V, None, true), (6, P, None, true)]);
    w.link(&[1, 5], 1.0);
    w.link(&[2, 6], 1.0);
    assert!(w.derive(6).contains(&("perpetrator.count", "3".to_owned())), "{:?}", w.derive(6));
    // One man recorded twice in one record is one man.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, None, true), (2, P, None, true), (3, P, None, true)]);
    w.link(&[2, 3], 1.0);
    assert!(w.derive(2).is_empty(), "{:?}", w.derive(2));
    // A weakly linked child's other record is not this incident.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, None, true), (2, P, None, true)]);
    w.record("CSC", "children_services", 105, false, &[(3, V, None, true), (4, P, None, true), (6, P, None, true)]);
    w.link(&[1, 3], 0.95);
    w.link(&[2, 4], 1.0);
    assert!(w.derive(2).is_empty(), "{:?}", w.derive(2));
}

#[test]
fn an_institutional_network_needs_another_harmer_of_the_same_child_in_an_institution() {
    let mut w = World::default();
    w.record("POL", "police", 100, true, &[(1, V, None, true), (2, P, Some(50), true)]);
    w.record("CSC", "children_services", 400, true, &[(3, V, None, true), (4, P, Some(25), true)]);
    w.link(&[1, 3], 1.0);
    assert_eq!(w.derive(2), vec![("perpetrator.institutional_network", "Yes (write in)".to_owned())]);
    assert_eq!(w.derive(4), vec![("perpetrator.institutional_network", "Yes (write in)".to_owned())]);
    // A profile's records at once answer as each does alone (a record of
    // another profile gets nothing).
    let config = SignalConfig::default();
    let together = derive_profile(&config, &w.facts, &w.groups, &[2, 1]);
    assert_eq!(together, vec![derive(&config, &w.facts, &w.groups, 2), Vec::new()]);
    // Without ages the two records may be one man the linkage missed.
    let mut w = World::default();
    w.record("POL", "police", 100, true, &[(1, V, None, true), (2, P, None, true)]);
    w.record("CSC", "children_services", 400, true, &[(3, V, None, true), (4, P, None, true)]);
    w.link(&[1, 3], 1.0);
    assert!(w.derive(2).is_empty() && w.derive(4).is_empty(), "{:?} {:?}", w.derive(2), w.derive(4));
    // Outside an institution: nothing.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, None, true), (2, P, Some(50), true)]);
    w.record("CSC", "children_services", 400, true, &[(3, V, None, true), (4, P, Some(25), true)]);
    w.link(&[1, 3], 1.0);
    assert!(w.derive(2).is_empty() && w.derive(4).is_empty(), "{:?} {:?}", w.derive(2), w.derive(4));
    // Victims and children displaying HSB are never given derived
    // perpetrator answers.
    assert!(w.derive(1).is_empty());
    let mut w = World::default();
    w.record("SCH", "education", 100, true, &[(1, V, None, true), (2, Role::Hsb, Some(14), true), (3, Role::Hsb, Some(15), true)]);
    assert!(w.derive(2).is_empty() && w.derive(3).is_empty());
}

#[test]
fn undated_records_are_no_earlier_case_and_one_case_at_three_agencies_is_one() {
    let mut w = World::default();
    w.record("POL", "police", 0, false, &[(1, V, None, true), (2, P, None, true)]);
    w.record("CSC", "children_services", 9000, false, &[(3, V, None, true), (4, P, None, true)]);
    w.link(&[2, 4], 1.0);
    assert!(w.derive(4).is_empty(), "an undated record is not a case 9000 days earlier: {:?}", w.derive(4));
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, None, true), (2, P, None, true)]);
    w.record("CSC", "children_services", 104, false, &[(3, V, None, true), (4, P, None, true)]);
    w.record("VOL", "voluntary", 110, false, &[(5, V, None, true), (6, P, None, true)]);
    w.record("YOT", "yot", 900, false, &[(7, V, None, true), (8, P, None, true)]);
    w.link(&[2, 4, 6, 8], 1.0);
    let answers = derive(&SignalConfig::default(), &w.facts, &w.groups, 8);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(answers[0].basis.starts_with("derived: 1 earlier case as a harmer (children services, police, voluntary)"), "{answers:?}");
}

#[test]
fn a_record_where_this_person_is_a_victim_or_an_undated_one_proves_no_second_harmer() {
    // This man and the child are both victims in children's services'
    // record (of a third man): not a second harmer of this incident.
    let mut w = World::default();
    w.record("POL", "police", 100, false, &[(1, V, None, true), (2, P, None, true)]);
    w.record("CSC", "children_services", 105, false, &[(3, V, None, true), (4, V, None, true), (6, P, None, true)]);
    w.link(&[1, 3], 1.0);
    w.link(&[2, 4], 1.0);
    assert!(w.derive(2).is_empty(), "{:?}", w.derive(2));
    // An undated record's recorded age says nothing about a birth year: a
    // man of the same age there is not surely someone else.
    let mut w = World::default();
    w.record("POL", "police", 100, true, &[(1, V, None, true), (2, P, Some(50), true)]);
    w.record("CSC", "children_services", 0, true, &[(3, V, None, true), (4, P, Some(50), true)]);
    w.link(&[1, 3], 1.0);
    assert!(w.derive(2).is_empty(), "{:?}", w.derive(2));
}
