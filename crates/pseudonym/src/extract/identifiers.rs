//! Identifiers an extract records for people who cannot be one: a
//! placeholder or a default a system fills in, left out before upload.

use std::collections::HashMap;

use super::{ExtractOutput, RowIssue};
use crate::date::Date;

/// One person as a row records them: the name ("forename surname",
/// normalised; empty when neither is recorded), the date of birth, and
/// whether they were a child at the case's date.
pub(super) type Person = (String, Option<Date>, bool);

/// Where one NHS number or other identifier is recorded in an extract.
#[derive(Default)]
pub(super) struct IdentifierUse {
    /// The people it is recorded with (no more are kept once there are
    /// more than [`MOST_SPELLINGS`]).
    people: std::collections::BTreeSet<Person>,
    /// The lines it is on.
    lines: Vec<u64>,
    /// Each case it is recorded in (a hash of its id), with the first
    /// person it is recorded for there (a hash of the person id, and the
    /// person).
    cases: HashMap<u64, (u64, Person)>,
    /// Whether one case records it for two people who are not one person
    /// mistyped: a case's or a family's id read as a person's, or one
    /// number given to two people.
    two_in_a_case: bool,
    /// The field it is in: `nhs_number`, or `ids.NAME`.
    pub(super) field: String,
}

/// A 64-bit hash of a case or person id, to tell them apart cheaply.
fn id_hash(text: &str) -> u64 {
    let digest = blake3::hash(text.as_bytes());
    u64::from_le_bytes(digest.as_bytes()[..8].try_into().unwrap_or_default())
}

impl IdentifierUse {
    /// Notes the identifier on `line`, in `case` for `person_id`, recorded
    /// with `person`.
    pub(super) fn note(&mut self, line: u64, case: &str, person_id: &str, person: Person) {
        self.lines.push(line);
        if self.two_in_a_case || self.people.len() > MOST_SPELLINGS {
            // Already known to be left out.
            return;
        }
        let person_hash = id_hash(person_id);
        match self.cases.get(&id_hash(case)) {
            Some((first, first_person)) => self.two_in_a_case |= *first != person_hash && !one_person(first_person, &person),
            None => {
                self.cases.insert(id_hash(case), (person_hash, person.clone()));
            }
        }
        self.people.insert(person);
    }
}

/// Whether two of one case's people are one person recorded twice: one
/// name (or one mistyped) and one date of birth.
fn one_person((a, x, _): &Person, (b, y, _): &Person) -> bool {
    x == y && (a == b || names_alike(a, b))
}

/// Names longer than this are compared whole, not letter by letter.
const LONGEST_COMPARED: usize = 64;

/// Whether two names ("forename surname") are one name mistyped: a typing
/// error or two apart (a letter added, dropped, changed, or two swapped;
/// one in a name under twelve letters), in either order.
fn names_alike(a: &str, b: &str) -> bool {
    let (length_a, length_b) = (a.chars().count(), b.chars().count());
    if length_a.abs_diff(length_b) > 2 || length_a > LONGEST_COMPARED || length_b > LONGEST_COMPARED {
        return a == b;
    }
    let swapped = |name: &str| name.split_once(' ').map(|(forename, surname)| format!("{surname} {forename}"));
    let distance = strsim::osa_distance(a, b).min(swapped(b).map_or(usize::MAX, |b| strsim::osa_distance(a, &b)));
    distance <= 2 && distance * 6 <= length_a.min(length_b)
}

/// Twelve years in days: a parent and a child, who may share a name, are
/// at least this far apart.
const GENERATION_DAYS: i64 = 12 * 365;

/// Whether two of an identifier's people are shown to be two: dates of
/// birth more than two years apart (the node's own test) with names that
/// are not one name mistyped; or, whatever the names, a generation apart
/// with one of them a child at their case's date (a parent's number on a
/// child's record: a parent may share the child's name). One name, or one
/// mistyped, with a date mistyped otherwise, is one person.
fn two_people((a, x, a_child): (&str, Date, bool), (b, y, b_child): (&str, Date, bool)) -> bool {
    let apart = (x.days_since_epoch() - y.days_since_epoch()).abs();
    let one_name = a == b || names_alike(a, b);
    apart > 730 && (!one_name || (apart >= GENERATION_DAYS && (a_child || b_child)))
}

/// Whether `values` hold at least `enough` that are unlike all before them.
fn at_least_distinct<T: Copy>(values: impl Iterator<Item = T>, enough: usize, alike: impl Fn(T, T) -> bool) -> bool {
    let mut kept: Vec<T> = Vec::new();
    for value in values {
        if !kept.iter().any(|&k| alike(k, value)) {
            kept.push(value);
            if kept.len() >= enough {
                return true;
            }
        }
    }
    false
}

/// More people than one person's records spell differently: a default.
const MOST_SPELLINGS: usize = 32;

/// Whether the people one identifier is recorded with in an extract cannot
/// be one person: one case records it for two people; two of them are
/// shown to be two ([`two_people`]); three names, none a typing error of
/// another, with three dates of birth among them, or with none recorded (a
/// default a system gives everyone); or more of them than one person's
/// records spell. One child's records under several local ids, a name or a
/// date mistyped, keep it.
fn not_one_person(used: &IdentifierUse) -> bool {
    let named: Vec<&Person> = used.people.iter().filter(|(name, ..)| !name.trim().is_empty()).collect();
    let known: Vec<(&str, Date, bool)> = named.iter().filter_map(|(name, born, child)| Some((name.as_str(), (*born)?, *child))).collect();
    let three_names = || at_least_distinct(named.iter().map(|(name, ..)| name.as_str()), 3, |a, b| a == b || names_alike(a, b));
    let dates = || known.iter().map(|(_, born, _)| *born);
    used.two_in_a_case
        || used.people.len() > MOST_SPELLINGS
        || known.iter().enumerate().any(|(i, &a)| known[i + 1..].iter().any(|&b| two_people(a, b)))
        || ((known.is_empty() || at_least_distinct(dates(), 3, |x, y| x == y)) && three_names())
}

/// Whether a match key is an identifier's: the NHS number, or one named in
/// `[identity.ids]`.
pub(super) fn is_identifier(kind: crate::MatchKeyKind) -> bool {
    matches!(kind, crate::MatchKeyKind::NhsNumber | crate::MatchKeyKind::OtherId)
}

/// Leaves out an NHS number or other identifier the extract records for
/// people who cannot be one ([`not_one_person`]: a placeholder, a default
/// a system fills in, a parent's number on a child's record, a case id
/// read as a person's): as a match key it would join them all, past the
/// node's guards, which an agreeing identifier overrides.
/// Each row it was on gets a warning.
pub(super) fn drop_shared_nhs_numbers(output: &mut ExtractOutput, nhs_people: HashMap<[u8; 32], IdentifierUse>) {
    let shared: HashMap<[u8; 32], IdentifierUse> = nhs_people.into_iter().filter(|(_, used)| not_one_person(used)).collect();
    if shared.is_empty() {
        return;
    }
    for record in &mut output.records {
        for involvement in &mut record.involvements {
            let pseudonyms = &mut involvement.pseudonyms;
            // The identifiers named in [identity.ids] give their match keys
            // and their field tokens in one order: the n-th such key is the
            // n-th token.
            let mut nth_other = 0;
            let mut dropped_tokens = Vec::new();
            pseudonyms.match_keys.retain(|(kind, hash)| {
                let other = *kind == crate::MatchKeyKind::OtherId;
                let keep = !is_identifier(*kind) || !shared.contains_key(hash);
                if !keep && other {
                    dropped_tokens.push(nth_other);
                }
                nth_other += usize::from(other);
                keep
            });
            for index in dropped_tokens.into_iter().rev() {
                if index < pseudonyms.tokens.ids.len() {
                    pseudonyms.tokens.ids.remove(index);
                }
            }
        }
    }
    let mut issues: Vec<RowIssue> = shared
        .values()
        .flat_map(|used| {
            used.lines.iter().map(move |&row| RowIssue {
                row,
                field: used.field.clone(),
                reason: "is recorded in this extract for people who cannot be one (other names and dates of birth, a generation apart, or two people in one case; a placeholder or a case id?), so it was not used"
                    .to_owned(),
            })
        })
        .collect();
    issues.sort_by_key(|issue| issue.row);
    output.warnings.extend(issues);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_mistyped_is_alike_and_another_name_is_not() {
        assert!(names_alike("emma matthews", "emma mattehws"));
        assert!(names_alike("jack stubbs", "stubbs jack"));
        assert!(names_alike("charlote hyland", "charlotte hyland"));
        // One letter in a short name, two in a long one, no more.
        assert!(!names_alike("ed nowak", "al nowak"));
        assert!(!names_alike("tahni murton", "tahni skeen"));
        assert!(!names_alike("jo smith", "mark smith"));
    }

    /// Rows (case, person, name, year of birth), each a case of 2024.
    fn used(rows: &[(&str, &str, &str, i32)]) -> IdentifierUse {
        let mut used = IdentifierUse::default();
        for (line, &(case, person, name, year)) in rows.iter().enumerate() {
            used.note(line as u64 + 2, case, person, (name.to_owned(), Date::new(year, 2, 1), 2024 - year < 18));
        }
        used
    }

    #[test]
    fn an_identifier_of_two_people_is_dropped_and_one_persons_mistyped_is_kept() {
        // A child and an adult of other names; of one name a generation
        // apart (a parent's number on the child's record): two people.
        assert!(not_one_person(&used(&[("C1", "P1", "jo smith", 2011), ("C2", "P2", "mark smith", 1981)])));
        assert!(not_one_person(&used(&[("C1", "P1", "peregrine obi", 2011), ("C2", "P2", "peregrine obi", 1986)])));
        // One person: a name mistyped, a date mistyped by under twelve
        // years, or by more where neither was a child.
        assert!(!not_one_person(&used(&[("C1", "P1", "emma matthews", 1982), ("C2", "P2", "emma mattehws", 1991)])));
        assert!(!not_one_person(&used(&[("C1", "P1", "emma matthews", 1962), ("C2", "P2", "emma mattehws", 1991)])));
        // One case records it for two people: a case id read as a person's;
        // but one person entered twice in a case keeps it.
        assert!(not_one_person(&used(&[("C1", "P1", "gus hale", 2012), ("C1", "P2", "ray hale", 1980)])));
        assert!(!not_one_person(&used(&[("C1", "P1", "amy jones", 2011), ("C1", "P2", "amy jones", 2011)])));
        // Three names and no date of birth: a default.
        let mut undated = IdentifierUse::default();
        for (line, name) in ["amy jones", "bea okafor", "cy lee"].into_iter().enumerate() {
            undated.note(line as u64, &format!("C{line}"), &format!("P{line}"), (name.to_owned(), None, false));
        }
        assert!(not_one_person(&undated));
        // A default given to three children.
        assert!(not_one_person(&used(&[("C1", "P1", "cy lee", 2013), ("C2", "P2", "di khan", 2014), ("C3", "P3", "fay bell", 2015)])));
        // A mother's number on three of her daughter's referrals and on
        // her own record: which of them it belongs to cannot be told from
        // one extract (the owner's records elsewhere carry it too), so it
        // is left out of every row, however many rows one of them holds.
        assert!(not_one_person(&used(&[
            ("C1", "P1", "amy khan", 2012),
            ("C2", "P2", "amy khan", 2012),
            ("C3", "P3", "amy kahn", 2012),
            ("C4", "P4", "sara khan", 1985)
        ])));
        // Three mistypings of one name within a year or two: kept.
        assert!(!not_one_person(&used(&[("C1", "P1", "nathan priest", 1971), ("C2", "P2", "nathab priest", 1972), ("C3", "P3", "nathsan priest", 1971)])));
    }

    #[test]
    fn an_identifier_shared_by_many_is_judged_without_comparing_every_pair() {
        let rows: Vec<(String, String, String, i32)> = (0..20_000).map(|i| (format!("C{i}"), format!("P{i}"), format!("child {i}"), 2010 + i % 2)).collect();
        let rows: Vec<(&str, &str, &str, i32)> = rows.iter().map(|(c, p, n, y)| (c.as_str(), p.as_str(), n.as_str(), *y)).collect();
        let started = std::time::Instant::now();
        assert!(not_one_person(&used(&rows)));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
