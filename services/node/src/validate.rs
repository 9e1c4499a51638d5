//! Validation of submitted records at the API boundary: every field is
//! checked before anything is stored. Rejections name the field, never a
//! value.

use braid_proto::v1::{self, template_value::Value as WireValue};
use braid_template::{Answers, Section, Template, Value};

/// Length of a match-key hash.
pub const MATCH_KEY_BYTES: usize = 32;
/// Length of a Bloom encoding (1024 bits).
pub const BLOOM_BYTES: usize = 128;
/// Most involvements one record may carry.
pub const MAX_INVOLVEMENTS: usize = 1000;
/// Most match keys one involvement may carry.
pub const MAX_MATCH_KEYS: usize = 64;
/// Most other-name tokens one involvement may carry.
pub const MAX_OTHER_NAMES: usize = 8;
/// Date-of-birth windows, when present.
pub const DOB_WINDOWS: usize = 4;
/// Most identifier tokens one involvement may carry.
pub const MAX_ID_TOKENS: usize = 4;

/// Why a record is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field at fault.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), reason: reason.into() }
}

fn check_date(date: &Option<v1::Date>, field: &str) -> Result<(), Invalid> {
    if let Some(date) = date {
        let valid = date.to_date().is_some();
        if !valid || !(1900..=2200).contains(&date.year) {
            return Err(invalid(field, "is not a real calendar date"));
        }
    }
    Ok(())
}

pub(crate) fn to_value(wire: &v1::TemplateValue) -> Option<Value> {
    let write_in = (!wire.write_in.is_empty()).then(|| wire.write_in.clone());
    Some(match wire.value.as_ref()? {
        WireValue::Category(code) => Value::Single { code: *code, write_in },
        WireValue::Categories(codes) => Value::Multi { codes: codes.codes.clone(), write_in },
        WireValue::Integer(number) => Value::Integer(*number),
        WireValue::Text(text) => Value::Text(text.clone()),
        WireValue::NotKnown(_) => Value::NotKnown,
    })
}

fn convert_fields(template: &Template, fields: &[v1::TemplateValue], prefix: &str, allowed: impl Fn(Section) -> bool) -> Result<Vec<(String, Value)>, Invalid> {
    let mut out: Vec<(String, Value)> = Vec::with_capacity(fields.len());
    if fields.len() > template.fields().len() {
        return Err(invalid(format!("{prefix}fields"), format!("more answers than the template's {} fields", template.fields().len())));
    }
    for wire in fields {
        // The id is the client's: shown only when it is a plausible one.
        let shown = if wire.field_id.len() <= 48 && wire.field_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            wire.field_id.as_str()
        } else {
            "?"
        };
        let name = format!("{prefix}fields[{shown}]");
        let field = template.field(&wire.field_id).map_err(|_| invalid(&name, "is not a template field"))?;
        if !allowed(field.section) {
            return Err(invalid(&name, "does not belong at this level of the record"));
        }
        if out.iter().any(|(id, _)| id == &wire.field_id) {
            return Err(invalid(&name, "is given twice"));
        }
        let value = to_value(wire).ok_or_else(|| invalid(&name, "has no value"))?;
        field.validate(&value).map_err(|error| invalid(&name, error.reason()))?;
        out.push((wire.field_id.clone(), value));
    }
    Ok(out)
}

/// Checks one person's pseudonyms (`name` is the field, for errors): hash
/// lengths, bounded lists, the Bloom encoding's size.
fn check_pseudonyms(pseudonyms: &v1::Pseudonyms, name: &str) -> Result<(), Invalid> {
    for (key_index, key) in pseudonyms.match_keys.iter().enumerate() {
        if key.hash.len() != MATCH_KEY_BYTES || key.kind == 0 || key.kind > 255 {
            return Err(invalid(format!("{name}.match_keys[{key_index}]"), format!("must be a kind from 1 to 255 and a {MATCH_KEY_BYTES}-byte hash")));
        }
    }
    if let Some(tokens) = &pseudonyms.fields {
        let field = format!("{name}.fields");
        if tokens.other_names.len() > MAX_OTHER_NAMES {
            return Err(invalid(format!("{field}.other_names"), format!("at most {MAX_OTHER_NAMES}")));
        }
        if !tokens.dob_windows.is_empty() && tokens.dob_windows.len() != DOB_WINDOWS {
            return Err(invalid(format!("{field}.dob_windows"), format!("none or exactly {DOB_WINDOWS}")));
        }
        if (!tokens.forename_whole.is_empty() || !tokens.forename_parts.is_empty()) && (tokens.forename_whole.len() != 2 || tokens.forename_parts.len() != 8) {
            return Err(invalid(format!("{field}.forename_whole"), "none, or 2 with 8 forename_parts"));
        }
        if tokens.ids.len() > MAX_ID_TOKENS {
            return Err(invalid(format!("{field}.ids"), format!("at most {MAX_ID_TOKENS}")));
        }
    }
    if pseudonyms.match_keys.len() > MAX_MATCH_KEYS {
        return Err(invalid(format!("{name}.match_keys"), format!("at most {MAX_MATCH_KEYS}")));
    }
    if !pseudonyms.bloom.is_empty() && pseudonyms.bloom.len() != BLOOM_BYTES {
        return Err(invalid(format!("{name}.bloom"), format!("must be empty or {BLOOM_BYTES} bytes")));
    }
    Ok(())
}

/// Checks an opaque ref: at most 128 characters, each a printable one
/// other than a space (refs are shown to admins and panels and written
/// into exports: a control character would forge lines or colour there),
/// and none at all only where `optional`.
fn check_ref(text: &str, field: impl Into<String>, optional: bool) -> Result<(), Invalid> {
    if text.is_empty() && optional {
        return Ok(());
    }
    if text.is_empty() || text.len() > 128 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        let reason = if optional { "must be at most 128 characters" } else { "must be 1 to 128 characters" };
        return Err(invalid(field, format!("{reason}, each a letter, digit or punctuation mark (no space or control character)")));
    }
    Ok(())
}

/// Checks one record completely.
pub fn validate_record(record: &v1::CaseRecord) -> Result<(), Invalid> {
    let template = Template::standard();
    check_ref(&record.record_ref, "record_ref", false)?;
    check_ref(&record.previous_ref, "previous_ref", true)?;
    if record.outcome != 0 {
        return validate_outcome(record);
    }
    if !matches!(v1::CaseType::try_from(record.case_type), Ok(v1::CaseType::Csa | v1::CaseType::Cse | v1::CaseType::Hsb)) {
        return Err(invalid("case_type", "must be CSA, CSE or HSB"));
    }
    check_date(&record.referral_date, "referral_date")?;
    check_date(&record.incident_start, "incident_start")?;
    check_date(&record.last_occurrence, "last_occurrence")?;
    let case_fields = convert_fields(template, &record.fields, "", Section::is_case_level)?;
    if record.involvements.is_empty() {
        return Err(invalid("involvements", "a record needs at least one involvement"));
    }
    if record.involvements.len() > MAX_INVOLVEMENTS {
        return Err(invalid("involvements", format!("more than {MAX_INVOLVEMENTS}")));
    }
    for (index, involvement) in record.involvements.iter().enumerate() {
        let prefix = format!("involvements[{index}].");
        let role = v1::Role::try_from(involvement.role).unwrap_or(v1::Role::Unspecified);
        let section_allowed = match role {
            v1::Role::KnownVictim | v1::Role::SuspectedVictim => Section::Victim,
            v1::Role::Perpetrator | v1::Role::Hsb => Section::Perpetrator,
            v1::Role::OutcomeSubject => {
                return Err(invalid(format!("{prefix}role"), "is only for the child of an outcome event"));
            }
            v1::Role::Unspecified => {
                return Err(invalid(format!("{prefix}role"), "must be set"));
            }
        };
        check_person(involvement, &prefix)?;
        let person_fields = convert_fields(template, &involvement.fields, &prefix, |s| s == section_allowed)?;
        let answers: Answers = case_fields.iter().chain(person_fields.iter()).map(|(id, value)| (id.as_str(), value)).collect();
        // A case-level answer is named where it stands (the record's
        // fields), with the involvement it was read with.
        for (id, value) in &case_fields {
            template.validate_answer(id, value, &answers).map_err(|error| invalid(format!("fields[{id}] (with {prefix}fields)"), error.reason()))?;
        }
        for (id, value) in &person_fields {
            template.validate_answer(id, value, &answers).map_err(|error| invalid(format!("{prefix}fields[{id}]"), error.reason()))?;
        }
    }
    Ok(())
}

/// Checks an involvement's refs and pseudonyms (`prefix` names it).
fn check_person(involvement: &v1::Involvement, prefix: &str) -> Result<(), Invalid> {
    check_ref(&involvement.person_ref, format!("{prefix}person_ref"), false)?;
    if let Some(pseudonyms) = &involvement.pseudonyms {
        check_pseudonyms(pseudonyms, &format!("{prefix}pseudonyms"))?;
    }
    check_ref(&involvement.bridge_person_ref, format!("{prefix}bridge_person_ref"), true)?;
    if let Some(pseudonyms) = &involvement.bridge_pseudonyms {
        check_pseudonyms(pseudonyms, &format!("{prefix}bridge_pseudonyms"))?;
    }
    Ok(())
}

/// Checks an outcome event: a known kind, the day it happened, the child
/// as the one involvement, and nothing a case record has.
fn validate_outcome(record: &v1::CaseRecord) -> Result<(), Invalid> {
    if !matches!(v1::OutcomeKind::try_from(record.outcome), Ok(kind) if kind != v1::OutcomeKind::Unspecified) {
        return Err(invalid("outcome", "is not a known outcome kind"));
    }
    if record.case_type != 0 {
        return Err(invalid("case_type", "must not be set in an outcome event"));
    }
    if record.referral_date.is_none() {
        return Err(invalid("referral_date", "is required in an outcome event (the day it happened)"));
    }
    check_date(&record.referral_date, "referral_date")?;
    if record.incident_start.is_some() {
        return Err(invalid("incident_start", "an outcome event has one date, referral_date"));
    }
    if record.last_occurrence.is_some() {
        return Err(invalid("last_occurrence", "an outcome event has one date, referral_date"));
    }
    if !record.fields.is_empty() {
        return Err(invalid("fields", "an outcome event has no template items"));
    }
    let [involvement] = record.involvements.as_slice() else {
        return Err(invalid("involvements", "an outcome event has exactly one involvement, the child's"));
    };
    if involvement.role != v1::Role::OutcomeSubject as i32 {
        return Err(invalid("involvements[0].role", "must be the outcome subject in an outcome event"));
    }
    if !involvement.fields.is_empty() {
        return Err(invalid("involvements[0].fields", "an outcome event has no template items"));
    }
    check_person(involvement, "involvements[0].")
}
