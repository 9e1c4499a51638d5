//! Outcome events of the synthetic children: what each agency records of
//! them after their first referral (missing episodes, placement moves,
//! school concerns, arrests, service engagement), as a separate extract per
//! agency, with its own truth. Drawn from a generator of their own, so
//! the case extracts are the same with or without them.

use std::collections::BTreeMap;

use braid_pseudonym::mapping::{CaseColumns, OutcomeSection};
use braid_pseudonym::{Mapping, OutcomeKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{date_from_days, format_date, identity_cells, Incident, Person, PersonRole};
use crate::agencies::{mapping, AGENCIES, CSC, POL, VOL, YOT};
use crate::noise::Rates;
use crate::{Extract, OutcomeTruthRow};

/// What each agency records, in its own words: (label, kind, chance per
/// child, chance for a child displaying HSB, most events per child).
type Recorded = (&'static str, OutcomeKind, f64, f64, u32);

fn recorded(agency: usize) -> &'static [Recorded] {
    match agency {
        CSC => &[
            ("Missing from care", OutcomeKind::MissingEpisode, 0.30, 0.40, 3),
            ("Placement move", OutcomeKind::PlacementMove, 0.15, 0.25, 2),
            ("Returned home", OutcomeKind::ReturnHome, 0.06, 0.06, 1),
            ("Attendance concern", OutcomeKind::AttendanceConcern, 0.12, 0.20, 1),
            ("Excluded from school", OutcomeKind::SchoolExclusion, 0.04, 0.15, 1),
        ],
        POL => &[("ARREST", OutcomeKind::ArrestOrCharge, 0.03, 0.30, 1), ("MISSING PERSON", OutcomeKind::MissingEpisode, 0.10, 0.10, 2)],
        YOT => &[("Charged", OutcomeKind::ArrestOrCharge, 0.0, 0.20, 1)],
        VOL => &[("engaged", OutcomeKind::ServiceEngagement, 0.40, 0.30, 1), ("clinic attended", OutcomeKind::HealthAppointmentAttended, 0.20, 0.10, 1)],
        _ => &[],
    }
}

/// Each agency's outcome extract, and the truth of every event.
pub(super) fn outcome_extracts(people: &[Person], incidents: &[Incident], rates: &Rates, seed: u64) -> (Vec<Extract>, Vec<OutcomeTruthRow>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6f75_7463_6f6d_6573);
    // Each child's first referral (as a victim or displaying HSB), and
    // whether they displayed HSB.
    let mut first: BTreeMap<usize, (i64, bool)> = BTreeMap::new();
    for incident in incidents {
        for &(person, role) in &incident.people {
            let child = matches!(role, PersonRole::Known | PersonRole::Suspected | PersonRole::Hsb) && !people[person].unknown;
            if !child || incident.date.year - people[person].dob.year >= 18 {
                continue;
            }
            let day = incident.date.days_since_epoch();
            let entry = first.entry(person).or_insert((day, false));
            entry.0 = entry.0.min(day);
            entry.1 |= role == PersonRole::Hsb;
        }
    }
    let mut truth = Vec::new();
    let mut extracts = Vec::new();
    for (agency, spec) in AGENCIES.iter().enumerate() {
        let mut header: Vec<String> = ["event_id", "person_id", "event_type", "event_date"].map(str::to_owned).to_vec();
        header.extend(spec.columns[5..].iter().filter(|c| !c.is_empty()).map(|c| (*c).to_owned()));
        let mut writer = csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record(&header);
        let mut rows = 0;
        for (&person, &(day, hsb)) in &first {
            for &(label, kind, chance, hsb_chance, most) in recorded(agency) {
                if !rng.gen_bool(if hsb { hsb_chance } else { chance }) {
                    continue;
                }
                for _ in 0..rng.gen_range(1..=most) {
                    // Up to 18 months after the first referral: some fall
                    // outside the 12 months a cohort report counts.
                    let date = date_from_days(day + rng.gen_range(0..540));
                    rows += 1;
                    let event_id = format!("{}-E{rows:06}", &spec.code[..3]);
                    let person_id = format!("{}O{}", &spec.code[..1], people[person].id);
                    let mut cells = vec![event_id.clone(), person_id.clone(), label.to_owned(), format_date(date, spec.date_format)];
                    cells.extend(identity_cells(&mut rng, &people[person], rates, agency));
                    let _ = writer.write_record(&cells);
                    truth.push(OutcomeTruthRow {
                        agency: spec.code.to_owned(),
                        event_id,
                        person_id,
                        true_person: format!("T{:06}", people[person].id),
                        kind: kind.code().to_owned(),
                        date: format_date(date, "%Y-%m-%d"),
                    });
                }
            }
        }
        if rows == 0 {
            continue;
        }
        let csv = String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default();
        extracts.push(Extract { agency: spec.code.to_owned(), csv, mapping: outcome_mapping(agency), rows });
    }
    (extracts, truth)
}

/// The mapping of an agency's outcome extract: its identity columns and
/// date format, its own labels.
fn outcome_mapping(agency: usize) -> Mapping {
    let cases = mapping(agency);
    Mapping {
        agency: cases.agency,
        columns: CaseColumns {
            record_ref: "event_id".to_owned(),
            person_ref: "person_id".to_owned(),
            role: None,
            case_type: None,
            event_date: "event_date".to_owned(),
            incident_start: None,
            last_occurrence: None,
            date_format: cases.columns.date_format,
        },
        identity: cases.identity,
        roles: BTreeMap::new(),
        case_types: BTreeMap::new(),
        fields: BTreeMap::new(),
        system: Default::default(),
        outcome: Some(OutcomeSection {
            column: "event_type".to_owned(),
            labels: recorded(agency).iter().map(|&(label, kind, ..)| (label.to_owned(), kind.code().to_owned())).collect(),
        }),
    }
}
