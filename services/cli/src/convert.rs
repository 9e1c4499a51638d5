//! Agency-side records to API messages.

use braid_proto::v1;
use braid_pseudonym::{PseudonymisedRecord, Role};
use braid_template::{Date, Value};

fn date(date: Option<Date>) -> Option<v1::Date> {
    date.map(v1::Date::from)
}

fn value(field_id: &str, value: &Value) -> v1::TemplateValue {
    use v1::template_value::Value as Wire;
    let (wire, write_in) = match value {
        Value::Single { code, write_in } => (Wire::Category(*code), write_in.clone()),
        Value::Multi { codes, write_in } => (Wire::Categories(v1::CategoryCodes { codes: codes.clone() }), write_in.clone()),
        Value::Integer(number) => (Wire::Integer(*number), None),
        Value::Text(text) => (Wire::Text(text.clone()), None),
        Value::NotKnown => (Wire::NotKnown(true), None),
    };
    v1::TemplateValue { field_id: field_id.to_owned(), value: Some(wire), write_in: write_in.unwrap_or_default() }
}

/// The API form of a pseudonymised record.
pub fn record(record: &PseudonymisedRecord) -> v1::CaseRecord {
    v1::CaseRecord {
        record_ref: record.record_ref.clone(),
        case_type: record.case_type.map_or(v1::CaseType::Unspecified, v1::CaseType::from) as i32,
        outcome: record.outcome.map_or(0, |kind| kind.number()),
        referral_date: date(record.referral_date),
        incident_start: date(record.incident_start),
        last_occurrence: date(record.last_occurrence),
        fields: record.fields.iter().map(|(id, v)| value(id, v)).collect(),
        involvements: record
            .involvements
            .iter()
            .map(|involvement| v1::Involvement {
                person_ref: involvement.person_ref.clone(),
                role: v1::Role::from(involvement.role) as i32,
                pseudonyms: Some(v1::Pseudonyms {
                    match_keys: involvement
                        .pseudonyms
                        .match_keys
                        .iter()
                        .map(|(kind, hash)| v1::MatchKey { kind: kind.number(), hash: hash.to_vec() })
                        .collect(),
                    bloom: involvement.pseudonyms.bloom.clone(),
                    fields: field_tokens(&involvement.pseudonyms.tokens),
                }),
                fields: involvement.fields.iter().map(|(id, v)| value(id, v)).collect(),
                bridge_person_ref: String::new(),
                bridge_pseudonyms: None,
            })
            .collect(),
        source_row: record.source_row,
        previous_ref: String::new(),
    }
}

/// The API form of a person's field tokens; `None` when nothing is known.
fn field_tokens(t: &braid_pseudonym::FieldTokens) -> Option<v1::FieldTokens> {
    let wire = v1::FieldTokens {
        name: t.name,
        name_any_order: t.name_any_order,
        name_phonetic: t.name_phonetic,
        other_names: t.other_names.clone(),
        forename_by_dob: t.forename_by_dob,
        surname_by_dob: t.surname_by_dob,
        dob: t.dob,
        dob_any_order: t.dob_any_order,
        dob_windows: t.dob_windows.clone(),
        sex_by_name: t.sex_by_name,
        sex_by_dob: t.sex_by_dob,
        postcode: t.postcode,
        district: t.district,
        address: t.address,
        ids: t.ids.iter().map(|(kind, value)| v1::IdToken { kind: *kind, value: *value }).collect(),
        forename_whole: if t.forename_whole[0] != 0 { t.forename_whole.to_vec() } else { Vec::new() },
        forename_parts: if t.forename_whole[0] != 0 { t.forename_parts.to_vec() } else { Vec::new() },
    };
    (wire != v1::FieldTokens::default()).then_some(wire)
}

/// The mapping-file name of an API role number.
pub fn role_name(role: i32) -> &'static str {
    Role::from_number(role).map_or("unspecified", Role::file_name)
}
