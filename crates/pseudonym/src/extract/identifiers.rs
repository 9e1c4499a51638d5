//! Identifiers an extract records for people who cannot be one: a
//! placeholder or a default a system fills in, left out before upload; or
//! one person's identifier also recorded on another's rows, kept on the
//! rows of the person most of them record.

use std::collections::HashMap;

use super::{ExtractOutput, RowIssue};
use crate::date::Date;

/// One person as a row records them: the name ("forename surname",
/// normalised; empty when neither is recorded), the date of birth, and
/// whether they were a child at the case's date.
pub(super) type Person = (String, Option<Date>, bool);

/// Where one row's involvement is in the extract's output: the record's
/// index and the involvement's index in it.
pub(super) type Place = (usize, usize);

/// Where one NHS number or other identifier is recorded in an extract.
#[derive(Default)]
pub(super) struct IdentifierUse {
    /// The people it is recorded with, each with how many rows record it
    /// for them (no more are kept once there are more than
    /// [`MOST_SPELLINGS`]).
    people: Vec<(Person, usize)>,
    /// The lines it is on, where each row's involvement is, and whose
    /// (an index into `people`; none past [`MOST_SPELLINGS`]).
    rows: Vec<(u64, Place, Option<usize>)>,
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
    /// Notes the identifier on `line`, whose involvement is at `place`, in
    /// `case` for `person_id`, recorded with `person`.
    pub(super) fn note(&mut self, line: u64, place: Place, case: &str, person_id: &str, person: Person) {
        if self.two_in_a_case || self.people.len() > MOST_SPELLINGS {
            // Already known to be left out.
            self.rows.push((line, place, None));
            return;
        }
        let person_hash = id_hash(person_id);
        match self.cases.get(&id_hash(case)) {
            Some((first, first_person)) => self.two_in_a_case |= *first != person_hash && !one_person(first_person, &person),
            None => {
                self.cases.insert(id_hash(case), (person_hash, person.clone()));
            }
        }
        let index = match self.people.iter().position(|(known, _)| *known == person) {
            Some(index) => index,
            None => {
                self.people.push((person, 0));
                self.people.len() - 1
            }
        };
        self.people[index].1 += 1;
        self.rows.push((line, place, Some(index)));
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

/// What is done with one identifier.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Its people can be one: kept on every row.
    Kept,
    /// Its people cannot be one and none of them holds most of its rows:
    /// left out of every row.
    LeftOut,
    /// Kept on the rows of the people marked (one person, as far as names
    /// and dates of birth tell, recorded on most of its rows) and left out
    /// of the others' rows.
    KeptFor(Vec<bool>),
}

/// What to do with an identifier ([`IdentifierUse`]). It is left out when
/// it is no person's: one case records it for two people; more people than
/// one person's records spell; three names, none a typing error of
/// another, with three dates of birth among them, or with none recorded (a
/// default a system gives everyone). Where two of its people are shown to
/// be two ([`two_people`]: a parent's number on a child's record, one
/// mistyped into another's), it is kept on the rows of the largest set of
/// people who can be one, if they hold most of its rows, and left out
/// elsewhere. One child's records under several local ids, a name or a
/// date mistyped, keep it.
fn verdict(used: &IdentifierUse) -> Verdict {
    if used.two_in_a_case || used.people.len() > MOST_SPELLINGS {
        return Verdict::LeftOut;
    }
    let people: Vec<&Person> = used.people.iter().map(|(person, _)| person).collect();
    let named: Vec<&str> = people.iter().map(|(name, ..)| name.as_str()).filter(|name| !name.trim().is_empty()).collect();
    let dates: Vec<Date> = people.iter().filter(|(name, ..)| !name.trim().is_empty()).filter_map(|(_, born, _)| *born).collect();
    let three_names = || at_least_distinct(named.iter().copied(), 3, |a, b| a == b || names_alike(a, b));
    if (dates.is_empty() || at_least_distinct(dates.iter().copied(), 3, |x, y| x == y)) && three_names() {
        return Verdict::LeftOut;
    }
    let known = |i: usize| match &people[i] {
        (name, Some(born), child) if !name.trim().is_empty() => Some((name.as_str(), *born, *child)),
        _ => None,
    };
    let n = people.len();
    let conflict: Vec<Vec<bool>> =
        (0..n).map(|i| (0..n).map(|j| i != j && matches!((known(i), known(j)), (Some(a), Some(b)) if two_people(a, b))).collect()).collect();
    if conflict.iter().flatten().all(|two| !two) {
        return Verdict::Kept;
    }
    let rows: Vec<usize> = used.people.iter().map(|(_, rows)| *rows).collect();
    let kept = largest_one_person(&conflict, &rows);
    // A row with no date of birth or no name, whose name is one a left-out
    // person has, could be either's.
    let left_out: Vec<&str> = (0..n).filter(|&i| !kept[i]).map(|i| people[i].0.as_str()).collect();
    let kept: Vec<bool> = (0..n)
        .map(|i| {
            kept[i]
                && (known(i).is_some()
                    || !left_out.iter().any(|other| people[i].0.trim().is_empty() || *other == people[i].0 || names_alike(other, &people[i].0)))
        })
        .collect();
    let kept_rows: usize = (0..n).filter(|&i| kept[i]).map(|i| rows[i]).sum();
    if kept_rows * 2 > rows.iter().sum::<usize>() {
        Verdict::KeptFor(kept)
    } else {
        Verdict::LeftOut
    }
}

/// The set of people, none shown to be two with another, that holds the
/// most rows: from each person in turn (those on most rows first), the
/// others that fit are taken in that order.
fn largest_one_person(conflict: &[Vec<bool>], rows: &[usize]) -> Vec<bool> {
    let n = rows.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(rows[i]));
    let mut best = (0, vec![false; n]);
    for &start in &order {
        let mut kept = vec![false; n];
        kept[start] = true;
        for &next in &order {
            if !kept[next] && (0..n).all(|k| !kept[k] || !conflict[k][next]) {
                kept[next] = true;
            }
        }
        let total: usize = (0..n).filter(|&i| kept[i]).map(|i| rows[i]).sum();
        if total > best.0 {
            best = (total, kept);
        }
    }
    best.1
}

/// Whether a match key is an identifier's: the NHS number, or one named in
/// `[identity.ids]`.
pub(super) fn is_identifier(kind: crate::MatchKeyKind) -> bool {
    matches!(kind, crate::MatchKeyKind::NhsNumber | crate::MatchKeyKind::OtherId)
}

/// Leaves an NHS number or other identifier out of the rows of people it
/// cannot be ([`verdict`]: a placeholder, a default a system fills in, a
/// parent's number on a child's record, a case id read as a person's): as
/// a match key it would join them all, past the node's guards, which an
/// agreeing identifier overrides. Each row it was left out of gets a
/// warning.
pub(super) fn drop_shared_nhs_numbers(output: &mut ExtractOutput, nhs_people: HashMap<[u8; 32], IdentifierUse>) {
    let mut left_out: HashMap<Place, Vec<[u8; 32]>> = HashMap::new();
    let mut issues = Vec::new();
    for (hash, used) in &nhs_people {
        let (reason, kept) = match verdict(used) {
            Verdict::Kept => continue,
            Verdict::LeftOut => (LEFT_OUT, None),
            Verdict::KeptFor(kept) => (LEFT_OUT_HERE, Some(kept)),
        };
        for &(row, place, person) in &used.rows {
            if kept.as_ref().is_some_and(|kept| person.is_some_and(|person| kept[person])) {
                continue;
            }
            left_out.entry(place).or_default().push(*hash);
            issues.push(RowIssue { row, field: used.field.clone(), reason: reason.to_owned() });
        }
    }
    if left_out.is_empty() {
        return;
    }
    for (record_index, record) in output.records.iter_mut().enumerate() {
        for (involvement_index, involvement) in record.involvements.iter_mut().enumerate() {
            let Some(hashes) = left_out.get(&(record_index, involvement_index)) else { continue };
            let pseudonyms = &mut involvement.pseudonyms;
            // The identifiers named in [identity.ids] give their match keys
            // and their field tokens in one order: the n-th such key is the
            // n-th token.
            let mut nth_other = 0;
            let mut dropped_tokens = Vec::new();
            pseudonyms.match_keys.retain(|(kind, hash)| {
                let other = *kind == crate::MatchKeyKind::OtherId;
                let keep = !is_identifier(*kind) || !hashes.contains(hash);
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
    issues.sort_by_key(|issue| issue.row);
    output.warnings.extend(issues);
}

/// Why an identifier was left out of every row.
const LEFT_OUT: &str = "is recorded in this extract for people who cannot be one (other names and dates of birth, a generation apart, or two people in one case; a placeholder or a case id?), so it was not used";

/// Why an identifier was left out of some rows.
const LEFT_OUT_HERE: &str =
    "is recorded in this extract for people who cannot be one (other names and dates of birth, or a generation apart); it was kept on the rows of the person most of its rows are about and not used on this one";

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
            used.note(line as u64 + 2, (line, 0), case, person, (name.to_owned(), Date::new(year, 2, 1), 2024 - year < 18));
        }
        used
    }

    #[test]
    fn an_identifier_of_two_people_is_dropped_and_one_persons_mistyped_is_kept() {
        // A child and an adult of other names; of one name a generation
        // apart (a parent's number on the child's record): two people.
        assert_eq!(Verdict::LeftOut, verdict(&used(&[("C1", "P1", "jo smith", 2011), ("C2", "P2", "mark smith", 1981)])));
        assert_eq!(Verdict::LeftOut, verdict(&used(&[("C1", "P1", "peregrine obi", 2011), ("C2", "P2", "peregrine obi", 1986)])));
        // One person: a name mistyped, a date mistyped by under twelve
        // years, or by more where neither was a child.
        assert_eq!(Verdict::Kept, verdict(&used(&[("C1", "P1", "emma matthews", 1982), ("C2", "P2", "emma mattehws", 1991)])));
        assert_eq!(Verdict::Kept, verdict(&used(&[("C1", "P1", "emma matthews", 1962), ("C2", "P2", "emma mattehws", 1991)])));
        // One case records it for two people: a case id read as a person's;
        // but one person entered twice in a case keeps it.
        assert_eq!(Verdict::LeftOut, verdict(&used(&[("C1", "P1", "gus hale", 2012), ("C1", "P2", "ray hale", 1980)])));
        assert_eq!(Verdict::Kept, verdict(&used(&[("C1", "P1", "amy jones", 2011), ("C1", "P2", "amy jones", 2011)])));
        // Three names and no date of birth: a default.
        let mut undated = IdentifierUse::default();
        for (line, name) in ["amy jones", "bea okafor", "cy lee"].into_iter().enumerate() {
            undated.note(line as u64, (line, 0), &format!("C{line}"), &format!("P{line}"), (name.to_owned(), None, false));
        }
        assert_eq!(Verdict::LeftOut, verdict(&undated));
        // A default given to three children.
        assert_eq!(Verdict::LeftOut, verdict(&used(&[("C1", "P1", "cy lee", 2013), ("C2", "P2", "di khan", 2014), ("C3", "P3", "fay bell", 2015)])));
        // Three mistypings of one name within a year or two: kept.
        assert_eq!(
            Verdict::Kept,
            verdict(&used(&[("C1", "P1", "nathan priest", 1971), ("C2", "P2", "nathab priest", 1972), ("C3", "P3", "nathsan priest", 1971)]))
        );
    }

    #[test]
    fn an_identifier_is_kept_on_the_rows_of_the_person_most_of_them_are_about() {
        // A child's number on three of her rows, and once on her mother's.
        let child = [("C1", "P1", "amy khan", 2012), ("C2", "P2", "amy kahn", 2012), ("C3", "P3", "amy khan", 2012)];
        let mut rows = child.to_vec();
        rows.push(("C4", "P4", "sara khan", 1985));
        assert_eq!(Verdict::KeptFor(vec![true, true, false]), verdict(&used(&rows)));
        // A father's number on three of his rows and once on his son's,
        // who shares his name: a row of that name with no date of birth
        // could be either's.
        let mut father =
            used(&[("C1", "P1", "john smith", 1980), ("C2", "P2", "john smith", 1980), ("C5", "P5", "john smith", 1980), ("C3", "P3", "john smith", 2012)]);
        father.note(9, (9, 0), "C9", "P9", ("john smith".to_owned(), None, false));
        assert_eq!(Verdict::KeptFor(vec![true, false, false]), verdict(&father));
        // Two rows of two people: neither holds most of them.
        assert_eq!(
            Verdict::LeftOut,
            verdict(&used(&[
                ("C1", "P1", "jo smith", 2011),
                ("C2", "P2", "jo smith", 2011),
                ("C3", "P3", "mark smith", 1981),
                ("C4", "P4", "mark smith", 1981)
            ]))
        );
    }

    #[test]
    fn an_identifier_shared_by_many_is_judged_without_comparing_every_pair() {
        let rows: Vec<(String, String, String, i32)> = (0..20_000).map(|i| (format!("C{i}"), format!("P{i}"), format!("child {i}"), 2010 + i % 2)).collect();
        let rows: Vec<(&str, &str, &str, i32)> = rows.iter().map(|(c, p, n, y)| (c.as_str(), p.as_str(), n.as_str(), *y)).collect();
        let started = std::time::Instant::now();
        assert_eq!(Verdict::LeftOut, verdict(&used(&rows)));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
