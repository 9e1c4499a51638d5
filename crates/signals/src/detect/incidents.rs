//! A child's victim records grouped into incidents: what re-victimisation
//! and classification conflicts are judged over.

use super::{Item, SignalConfig};

/// Whether a child's incidents (from [`victim_incidents`]) hold two cases
/// at least `revictimisation_days` apart.
pub(super) fn distinct_cases_apart(config: &SignalConfig, incidents: &[Vec<Item<'_>>]) -> bool {
    let starts = incidents.iter().filter_map(|incident| incident.first()).map(|item| item.record.day);
    match (starts.clone().min(), starts.max()) {
        (Some(first), Some(last)) => last - first >= config.revictimisation_days,
        _ => false,
    }
}

/// Groups a child's date-sorted victim items into incidents, in the order
/// of their first records. A record joins the latest incident that began
/// at most `cross_agency_days` before it and can take it: not one where
/// its agency already holds another case (one agency's two cases are two
/// incidents), nor one it shares nobody with when both name harmers, or
/// both name other children harmed (two agencies' records of different
/// harmers, or of this child harmed with different children, are two
/// incidents; see [`may_share_incident`]); a record that joins
/// none begins an incident. So an incident left behind by another
/// perpetrator's record stays open to later records of its own. `others`
/// gives the profile keys of the identified harmers and other victims a
/// record names.
pub(super) fn victim_incidents<'a>(config: &SignalConfig, sorted: &[Item<'a>], others: &dyn Fn(&Item<'_>) -> Vec<(Named, u64)>) -> Vec<Vec<Item<'a>>> {
    if sorted.len() < 2 {
        return sorted.iter().map(|item| vec![*item]).collect();
    }
    let mut incidents: Vec<Vec<Item<'a>>> = Vec::new();
    // Each incident's other people, sorted: worked out only when a record could
    // join it on time and agency.
    let mut named: Vec<Option<Vec<(Named, u64)>>> = Vec::new();
    for item in sorted {
        let mut theirs: Option<Vec<(Named, u64)>> = None;
        let mut joins = None;
        // Latest first; incidents are in the order they began, so once one
        // began too long ago, so did every one before it.
        for index in (0..incidents.len()).rev() {
            let incident = &incidents[index];
            if item.record.day - incident[0].record.day > config.cross_agency_days {
                break;
            }
            if incident.iter().any(|other| other.record.agency == item.record.agency && other.record.record_ref != item.record.record_ref) {
                continue;
            }
            let theirs = theirs.get_or_insert_with(|| others(item));
            let named = named[index].get_or_insert_with(|| {
                let mut named: Vec<(Named, u64)> = incident.iter().flat_map(others).collect();
                named.sort_unstable();
                named.dedup();
                named
            });
            if may_share_incident(named, theirs) {
                joins = Some(index);
                break;
            }
        }
        match joins {
            Some(index) => {
                incidents[index].push(*item);
                if let (Some(named), Some(theirs)) = (named[index].as_mut(), theirs) {
                    named.extend(theirs);
                    named.sort_unstable();
                    named.dedup();
                }
            }
            None => {
                incidents.push(vec![*item]);
                named.push(None);
            }
        }
    }
    incidents
}

/// A person another record names besides the child: a harmer, or another
/// child harmed with this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Named {
    Harmer,
    Victim,
}

/// Whether a record naming `theirs` may be of the incident whose records
/// named `named`: they name someone in common, or no kind of person (harmers,
/// other victims) is named on both sides. Two records that name harmers and
/// share none are two incidents, and so are two that name other children
/// harmed and share none of them.
fn may_share_incident(named: &[(Named, u64)], theirs: &[(Named, u64)]) -> bool {
    let shared = theirs.iter().any(|(_, person)| named.iter().any(|(_, other)| other == person));
    let named_on_both = [Named::Harmer, Named::Victim].iter().any(|kind| theirs.iter().any(|(k, _)| k == kind) && named.iter().any(|(k, _)| k == kind));
    shared || !named_on_both
}
