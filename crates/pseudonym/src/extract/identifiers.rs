//! Identifiers an extract records for people who cannot be one: a
//! placeholder or a default a system fills in, left out before upload.

use std::collections::HashMap;

use super::{ExtractOutput, RowIssue};
use crate::date::Date;

/// One person as a row records them: the name ("forename surname",
/// normalised; empty when neither is recorded) and the date of birth.
pub(super) type Person = (String, Option<Date>);

/// The people one NHS number or other identifier is recorded with in an
/// extract, the lines it is on, and whether it is an NHS number.
pub(super) type NhsUse = (std::collections::BTreeSet<Person>, Vec<u64>, bool);

/// Whether two names ("forename surname") are one name mistyped: a typing
/// error or two apart (a letter added, dropped, changed, or two swapped;
/// one in a name under twelve letters), in either order.
fn names_alike(a: &str, b: &str) -> bool {
    let swapped = |name: &str| name.split_once(' ').map(|(forename, surname)| format!("{surname} {forename}"));
    let distance = strsim::osa_distance(a, b).min(swapped(b).map_or(usize::MAX, |b| strsim::osa_distance(a, &b)));
    let shorter = a.chars().count().min(b.chars().count());
    distance <= 2 && distance * 6 <= shorter
}

/// Whether two of an identifier's people are shown to be two: names that
/// are not one name mistyped, and dates of birth more than two years apart
/// (the node's own test). One name with two dates of birth is one person
/// whose date was mistyped.
fn two_people((a, x): (&str, Date), (b, y): (&str, Date)) -> bool {
    !names_alike(a, b) && a != b && (x.days_since_epoch() - y.days_since_epoch()).abs() > 730
}

/// How many of `values` are unlike all before them.
fn distinct<T: Copy>(values: impl Iterator<Item = T>, alike: impl Fn(T, T) -> bool) -> usize {
    let mut kept: Vec<T> = Vec::new();
    for value in values {
        if !kept.iter().any(|&k| alike(k, value)) {
            kept.push(value);
        }
    }
    kept.len()
}

/// Whether the people one identifier is recorded with in an extract cannot
/// be one person: three names, none a typing error of another, and three
/// dates of birth among them (a default a system gives everyone); for an NHS
/// number, also two shown to be two ([`two_people`]: a parent's or a
/// sibling's number on a child's record is a known slip of health
/// records). Other identifiers a system assigns (a pupil number, a police
/// id) are kept where two records under one differ in name and date of
/// birth: one person recorded twice, with errors, is the likelier. One
/// child's records under several local ids, names and dates mistyped, keep
/// either.
fn not_one_person(people: &std::collections::BTreeSet<Person>, nhs: bool) -> bool {
    let known: Vec<(&str, Date)> =
        people.iter().filter_map(|(name, born)| Some((name.as_str(), (*born)?))).filter(|(name, _)| !name.trim().is_empty()).collect();
    let apart = nhs && known.iter().enumerate().any(|(i, &a)| known[i + 1..].iter().any(|&b| two_people(a, b)));
    let names = distinct(known.iter().map(|(name, _)| *name), |a, b| a == b || names_alike(a, b));
    let dates = distinct(known.iter().map(|(_, born)| *born), |x, y| x == y);
    apart || (names >= 3 && dates >= 3)
}

/// Whether a match key is an identifier's: the NHS number, or one named in
/// `[identity.ids]`.
pub(super) fn is_identifier(kind: crate::MatchKeyKind) -> bool {
    matches!(kind, crate::MatchKeyKind::NhsNumber | crate::MatchKeyKind::OtherId)
}

/// Leaves out an NHS number or other identifier the extract records for
/// people who cannot be one ([`not_one_person`]: a placeholder or a
/// default a system fills in): as a match key it would join them all, past
/// the node's date-of-birth guard, which an agreeing identifier overrides.
/// Each row it was on gets a warning.
pub(super) fn drop_shared_nhs_numbers(output: &mut ExtractOutput, nhs_people: HashMap<[u8; 32], NhsUse>) {
    let shared: HashMap<[u8; 32], Vec<u64>> =
        nhs_people.into_iter().filter(|(_, (people, _, nhs))| not_one_person(people, *nhs)).map(|(hash, (_, lines, _))| (hash, lines)).collect();
    if shared.is_empty() {
        return;
    }
    let mut fields: HashMap<[u8; 32], &'static str> = HashMap::new();
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
                if !keep {
                    fields.insert(*hash, if other { "ids" } else { "nhs_number" });
                    if other {
                        dropped_tokens.push(nth_other);
                    }
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
        .iter()
        .flat_map(|(hash, lines)| {
            let field = fields.get(hash).copied().unwrap_or("nhs_number");
            lines.iter().map(move |&row| RowIssue {
                row,
                field: field.to_owned(),
                reason: "is recorded in this extract for people who cannot be one (other names and dates of birth; a placeholder?), so it was not used"
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

    #[test]
    fn an_nhs_number_of_two_named_apart_is_dropped_and_a_default_given_to_three_of_any_identifier() {
        let date = |y, m, d| Date::new(y, m, d);
        let people =
            |rows: &[(&str, i32)]| rows.iter().map(|&(name, year)| (name.to_owned(), date(year, 2, 1))).collect::<std::collections::BTreeSet<Person>>();
        // A child and an adult: dropped for an NHS number, kept otherwise.
        let parent = people(&[("jo smith", 2011), ("mark smith", 1981)]);
        assert!(not_one_person(&parent, true) && !not_one_person(&parent, false));
        // One person mistyped: kept.
        assert!(!not_one_person(&people(&[("emma matthews", 1962), ("emma mattehws", 1991)]), true));
        // Three people: dropped whatever the identifier.
        let default = people(&[("cy lee", 2013), ("di khan", 2014), ("fay bell", 2015)]);
        assert!(not_one_person(&default, true) && not_one_person(&default, false));
        // Three mistypings of one: kept.
        assert!(!not_one_person(&people(&[("nathan priest", 1916), ("nathab priest", 1971), ("nathsan priest", 1961)]), false));
    }
}
