//! Identifiers an extract records for people who cannot be one: a
//! placeholder or a default a system fills in, left out before upload.

use std::collections::HashMap;

use super::{ExtractOutput, RowIssue};
use crate::date::Date;

/// The people (name token, date of birth) one NHS number is recorded with
/// in an extract, and the lines it is on.
pub(super) type NhsUse = (std::collections::BTreeSet<(u32, Option<Date>)>, Vec<u64>);

/// Whether the people one NHS number is recorded with in an extract cannot
/// be one person: two whose names differ and whose dates of birth are more
/// than two years apart (the node's own test for two people), or three
/// names and three dates of birth among them. One child's records under
/// several local ids, a name or a date mistyped, keep it.
fn not_one_person(people: &std::collections::BTreeSet<(u32, Option<Date>)>) -> bool {
    let known: Vec<(u32, Date)> = people.iter().filter_map(|&(name, born)| Some((name, born?))).filter(|(name, _)| *name != 0).collect();
    let apart = known.iter().any(|&(a, x)| known.iter().any(|&(b, y)| a != b && (x.days_since_epoch() - y.days_since_epoch()).abs() > 730));
    let names: std::collections::BTreeSet<u32> = known.iter().map(|(name, _)| *name).collect();
    let dates: std::collections::BTreeSet<Date> = known.iter().map(|(_, born)| *born).collect();
    apart || (names.len() >= 3 && dates.len() >= 3)
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
        nhs_people.into_iter().filter(|(_, (people, _))| not_one_person(people)).map(|(hash, (_, lines))| (hash, lines)).collect();
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
