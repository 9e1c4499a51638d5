//! A case record between the API's message and the node's stored schema
//! ([`braid_store::RecordBody`]): the one place that converts them, so the
//! wire can change without changing what is on disk.

use braid_linkage::Tokens;
use braid_proto::v1;
use braid_store::{BodyAnswer, BodyCodes, BodyDate, BodyInvolvement, BodyValue, RecordBody, StoredRecord, RECORD_SCHEMA};
use prost::Message;

use crate::engine::{IncomingBatch, IncomingInvolvement, IncomingRecord};
use crate::validate::validate_record;

/// An upload batch as sent, in the node's terms: each record validated,
/// its content hashed as sent (what tells an unchanged record from a
/// changed one), its pseudonyms as the node keeps them, and a digest of the
/// whole batch (what binds a stored acknowledgement to the batch it
/// answers).
pub fn incoming_batch(records: Vec<v1::CaseRecord>) -> IncomingBatch {
    let mut hasher = blake3::Hasher::new();
    for record in &records {
        hasher.update(&record.encode_length_delimited_to_vec());
    }
    IncomingBatch { digest: *hasher.finalize().as_bytes(), records: records.into_iter().map(incoming_record).collect() }
}

fn incoming_record(mut record: v1::CaseRecord) -> IncomingRecord {
    let source_row = record.source_row;
    if let Err(problem) = validate_record(&record) {
        return IncomingRecord::invalid(source_row, record.record_ref, problem);
    }
    let body = body_of(&record);
    record.source_row = 0;
    let previous_ref = Some(std::mem::take(&mut record.previous_ref)).filter(|r| !r.is_empty());
    // What only carries the record across a key rotation is set aside
    // before its content is hashed: sent again after the rotation, without
    // bridge pseudonyms, the record is unchanged.
    let bridges: Vec<(String, Option<v1::Pseudonyms>)> =
        record.involvements.iter_mut().map(|i| (std::mem::take(&mut i.bridge_person_ref), i.bridge_pseudonyms.take())).collect();
    let content_hash = blake3::hash(&record.encode_to_vec()).as_bytes().to_vec();
    // A record moving to a new key epoch is the same record as the one
    // stored under its previous ref when, sent under that epoch, it would
    // have had that one's content.
    let moved_hash = previous_ref.as_ref().map(|previous| {
        let mut before = record.clone();
        before.record_ref = previous.clone();
        for (involvement, (person_ref, pseudonyms)) in before.involvements.iter_mut().zip(&bridges) {
            involvement.person_ref = person_ref.clone();
            involvement.pseudonyms = pseudonyms.clone();
        }
        blake3::hash(&before.encode_to_vec()).as_bytes().to_vec()
    });
    let involvements = record
        .involvements
        .iter_mut()
        .zip(bridges)
        .map(|(involvement, (bridge_person_ref, bridge))| IncomingInvolvement {
            has_pseudonyms: involvement.pseudonyms.is_some(),
            pseudonyms: stored_pseudonyms(involvement.pseudonyms.take().unwrap_or_default()),
            bridge_person_ref,
            bridge_pseudonyms: bridge.map(stored_pseudonyms),
        })
        .collect();
    IncomingRecord { source_row, record_ref: record.record_ref, previous_ref, invalid: None, content_hash, moved_hash, body, involvements }
}

/// Bytes of each match key's hash the node keeps: the linker compares 56-bit
/// fingerprints, so storing all 32 bytes would only keep more pseudonym at
/// rest and write more.
pub(crate) const STORED_KEY_BYTES: usize = 8;

/// A person's pseudonyms as the node keeps them.
fn stored_pseudonyms(wire: v1::Pseudonyms) -> braid_store::StoredPseudonyms {
    braid_store::StoredPseudonyms {
        match_keys: wire.match_keys.iter().map(|key| [&[key.kind as u8][..], key.hash.get(..STORED_KEY_BYTES).unwrap_or(&key.hash)].concat()).collect(),
        bloom: wire.bloom,
        tokens: wire.fields.as_ref().map(linker_tokens).unwrap_or_default().to_words(),
    }
}

/// The linker's view of an upload's field tokens (already validated:
/// bounded lists, windows none or four).
fn linker_tokens(wire: &v1::FieldTokens) -> Tokens {
    let mut out = Tokens {
        name: wire.name,
        name_any_order: wire.name_any_order,
        name_phonetic: wire.name_phonetic,
        forename_by_dob: wire.forename_by_dob,
        surname_by_dob: wire.surname_by_dob,
        dob: wire.dob,
        dob_any_order: wire.dob_any_order,
        sex_by_name: wire.sex_by_name,
        sex_by_dob: wire.sex_by_dob,
        postcode: wire.postcode,
        district: wire.district,
        address: wire.address,
        ..Tokens::default()
    };
    for (slot, value) in out.other_names.iter_mut().zip(&wire.other_names) {
        *slot = *value;
    }
    if wire.dob_windows.len() == out.dob_windows.len() {
        out.dob_windows.copy_from_slice(&wire.dob_windows);
    }
    for (slot, id) in out.ids.iter_mut().zip(&wire.ids) {
        *slot = (id.kind, id.value);
    }
    if wire.forename_whole.len() == 2 && wire.forename_parts.len() == 8 {
        out.forename_whole.copy_from_slice(&wire.forename_whole);
        out.forename_parts.copy_from_slice(&wire.forename_parts);
    }
    out
}

/// The stored content of a record as it is kept: pseudonyms, bridge refs,
/// the source row and the previous ref are not part of it (they are set
/// aside before a record is stored).
pub(crate) fn body_of(record: &v1::CaseRecord) -> RecordBody {
    RecordBody {
        schema: RECORD_SCHEMA,
        record_ref: record.record_ref.clone(),
        case_type: record.case_type,
        referral_date: record.referral_date.map(body_date),
        incident_start: record.incident_start.map(body_date),
        last_occurrence: record.last_occurrence.map(body_date),
        fields: record.fields.iter().map(body_value).collect(),
        involvements: record
            .involvements
            .iter()
            .map(|involvement| BodyInvolvement {
                person_ref: involvement.person_ref.clone(),
                role: involvement.role,
                fields: involvement.fields.iter().map(body_value).collect(),
            })
            .collect(),
        outcome: record.outcome,
    }
}

/// A stored record's content as the API's message (what the panel and
/// report code reads), taken out of `stored` (its content is
/// moved, not copied: the hot paths read every record).
pub(crate) fn take_case_record(stored: &mut StoredRecord) -> Result<v1::CaseRecord, braid_store::Error> {
    match stored.body.take() {
        Some(body) if body.schema == RECORD_SCHEMA => Ok(api_record(body)),
        Some(_) => Err(braid_store::Error::Corrupt("record")),
        // Schema 0, before the store was migrated (the node migrates it
        // when it opens the store; a read-only copy may still hold it).
        None => v1::CaseRecord::decode(stored.record.as_slice()).map_err(|_| braid_store::Error::Corrupt("record")),
    }
}

/// A stored record's content in the node's schema (read from the API's
/// encoding when it is still stored so), taken out of `stored`.
pub(crate) fn take_body(stored: &mut StoredRecord) -> Result<RecordBody, braid_store::Error> {
    match stored.body.take() {
        Some(body) if body.schema == RECORD_SCHEMA => Ok(body),
        Some(_) => Err(braid_store::Error::Corrupt("record")),
        None => body_of_api_bytes(&stored.record).ok_or(braid_store::Error::Corrupt("record")),
    }
}

/// As [`take_body`], leaving `stored` as it is.
pub(crate) fn body(stored: &StoredRecord) -> Result<RecordBody, braid_store::Error> {
    take_body(&mut StoredRecord { body: stored.body.clone(), record: stored.record.clone(), ..StoredRecord::default() })
}

/// Reads a record stored in the API's encoding (schema 0), for the
/// migration; `None` when the bytes are not a record.
pub(crate) fn body_of_api_bytes(bytes: &[u8]) -> Option<RecordBody> {
    v1::CaseRecord::decode(bytes).ok().map(|record| body_of(&record))
}

fn api_record(body: RecordBody) -> v1::CaseRecord {
    v1::CaseRecord {
        record_ref: body.record_ref,
        case_type: body.case_type,
        referral_date: body.referral_date.map(api_date),
        incident_start: body.incident_start.map(api_date),
        last_occurrence: body.last_occurrence.map(api_date),
        fields: body.fields.into_iter().map(api_value).collect(),
        involvements: body
            .involvements
            .into_iter()
            .map(|involvement| v1::Involvement {
                person_ref: involvement.person_ref,
                role: involvement.role,
                fields: involvement.fields.into_iter().map(api_value).collect(),
                ..v1::Involvement::default()
            })
            .collect(),
        outcome: body.outcome,
        ..v1::CaseRecord::default()
    }
}

fn body_date(date: v1::Date) -> BodyDate {
    BodyDate { year: date.year, month: date.month, day: date.day }
}

fn api_date(date: BodyDate) -> v1::Date {
    v1::Date { year: date.year, month: date.month, day: date.day }
}

/// A stored answer as the template reads it; `None` when it holds no
/// value.
pub(crate) fn answer_value(value: &BodyValue) -> Option<braid_template::Value> {
    use braid_template::Value;
    let write_in = (!value.write_in.is_empty()).then(|| value.write_in.clone());
    Some(match value.answer.as_ref()? {
        BodyAnswer::Category(code) => Value::Single { code: *code, write_in },
        BodyAnswer::Categories(codes) => Value::Multi { codes: codes.codes.clone(), write_in },
        BodyAnswer::Integer(number) => Value::Integer(*number),
        BodyAnswer::Text(text) => Value::Text(text.clone()),
        BodyAnswer::NotKnown(_) => Value::NotKnown,
    })
}

/// A stored date as days since 1970-01-01, through the one conversion of
/// dates to calendar days; `None` when absent or not a real date.
pub(crate) fn body_day(date: Option<BodyDate>) -> Option<i64> {
    api_date(date?).days_since_epoch()
}

fn body_value(value: &v1::TemplateValue) -> BodyValue {
    use v1::template_value::Value;
    BodyValue {
        field_id: value.field_id.clone(),
        answer: value.value.as_ref().map(|answer| match answer {
            Value::Category(code) => BodyAnswer::Category(*code),
            Value::Categories(codes) => BodyAnswer::Categories(BodyCodes { codes: codes.codes.clone() }),
            Value::Integer(number) => BodyAnswer::Integer(*number),
            Value::Text(text) => BodyAnswer::Text(text.clone()),
            Value::NotKnown(flag) => BodyAnswer::NotKnown(*flag),
        }),
        write_in: value.write_in.clone(),
    }
}

fn api_value(value: BodyValue) -> v1::TemplateValue {
    use v1::template_value::Value;
    v1::TemplateValue {
        field_id: value.field_id,
        value: value.answer.map(|answer| match answer {
            BodyAnswer::Category(code) => Value::Category(code),
            BodyAnswer::Categories(codes) => Value::Categories(v1::CategoryCodes { codes: codes.codes }),
            BodyAnswer::Integer(number) => Value::Integer(number),
            BodyAnswer::Text(text) => Value::Text(text),
            BodyAnswer::NotKnown(flag) => Value::NotKnown(flag),
        }),
        write_in: value.write_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(field_id: &str, value: v1::template_value::Value) -> v1::TemplateValue {
        v1::TemplateValue { field_id: field_id.to_owned(), value: Some(value), write_in: String::new() }
    }

    #[test]
    fn a_stored_record_reads_back_as_it_was_sent_without_what_is_set_aside() {
        use v1::template_value::Value;
        let date = |year, month, day| Some(v1::Date { year, month, day });
        let kept = v1::CaseRecord {
            record_ref: "r-1".to_owned(),
            case_type: v1::CaseType::Cse as i32,
            referral_date: date(2024, 3, 31),
            incident_start: date(2023, 12, 1),
            last_occurrence: None,
            fields: vec![
                value("a", Value::Category(3)),
                value("b", Value::Categories(v1::CategoryCodes { codes: vec![1, 4, 9] })),
                value("c", Value::Integer(-7)),
                value("d", Value::Text("words".to_owned())),
                value("e", Value::NotKnown(true)),
                v1::TemplateValue { field_id: "f".to_owned(), value: Some(Value::Category(99)), write_in: "other words".to_owned() },
                v1::TemplateValue { field_id: "g".to_owned(), value: None, write_in: String::new() },
            ],
            involvements: vec![
                v1::Involvement {
                    person_ref: "p-1".to_owned(),
                    role: v1::Role::KnownVictim as i32,
                    fields: vec![value("h", Value::Category(2))],
                    ..Default::default()
                },
                v1::Involvement { person_ref: "p-2".to_owned(), role: v1::Role::Perpetrator as i32, ..Default::default() },
            ],
            outcome: v1::OutcomeKind::MissingEpisode as i32,
            ..v1::CaseRecord::default()
        };
        let body = body_of(&kept);
        assert_eq!(body.schema, RECORD_SCHEMA);
        let case_record = |stored: &StoredRecord| take_case_record(&mut stored.clone());
        let stored = StoredRecord { body: Some(body.clone()), ..StoredRecord::default() };
        assert_eq!(case_record(&stored).expect("reads"), kept);
        // Schema 0 (the API's encoding) reads the same, and migrates to the
        // same body.
        let legacy = StoredRecord { record: kept.encode_to_vec(), ..StoredRecord::default() };
        assert_eq!(case_record(&legacy).expect("reads"), kept);
        // Read in the node's schema, either way stored.
        assert_eq!(super::body(&stored).expect("reads"), body);
        assert_eq!(super::body(&legacy).expect("reads"), body);
        assert_eq!(body_of_api_bytes(&kept.encode_to_vec()), Some(body));
        assert_eq!(body_of_api_bytes(b"\xff\xff"), None);
        // What only travels with an upload is not stored.
        let mut sent = kept.clone();
        sent.source_row = 12;
        sent.previous_ref = "r-0".to_owned();
        sent.involvements[0].pseudonyms = Some(v1::Pseudonyms { bloom: vec![1; 128], ..Default::default() });
        sent.involvements[0].bridge_person_ref = "p-0".to_owned();
        assert_eq!(case_record(&StoredRecord { body: Some(body_of(&sent)), ..StoredRecord::default() }).expect("reads"), kept);
        // A schema from a later build is refused, not misread.
        let later = StoredRecord { body: Some(RecordBody { schema: RECORD_SCHEMA + 1, ..body_of(&kept) }), ..StoredRecord::default() };
        assert!(case_record(&later).is_err());
        assert!(super::body(&later).is_err());
    }

    /// What stored data depends on: a record's content hash (the record as
    /// sent, without its row, previous ref and bridge fields), the hash it
    /// would have had under the epoch it moves from, and the batch's digest
    /// (each record length-delimited, as sent). Pinned as hex, so that a
    /// change to how they are made cannot pass unnoticed.
    #[test]
    fn hashes_of_an_incoming_batch_are_those_of_the_record_as_sent() {
        let pseudonyms = |n: u8| v1::Pseudonyms {
            match_keys: vec![v1::MatchKey { kind: 2, hash: vec![n; 32] }],
            bloom: vec![n; 128],
            fields: Some(v1::FieldTokens { name: u32::from(n), dob_windows: vec![1, 2, 3, 4], ..Default::default() }),
        };
        let sent = v1::CaseRecord {
            record_ref: "r-new".to_owned(),
            case_type: v1::CaseType::Csa as i32,
            referral_date: Some(v1::Date { year: 2024, month: 3, day: 31 }),
            involvements: vec![v1::Involvement {
                person_ref: "p-new".to_owned(),
                role: v1::Role::KnownVictim as i32,
                pseudonyms: Some(pseudonyms(7)),
                bridge_person_ref: "p-old".to_owned(),
                bridge_pseudonyms: Some(pseudonyms(9)),
                ..Default::default()
            }],
            source_row: 12,
            previous_ref: "r-old".to_owned(),
            ..v1::CaseRecord::default()
        };
        let batch = incoming_batch(vec![sent.clone()]);
        let record = &batch.records[0];
        assert!(record.invalid.is_none());
        let mut canonical = sent.clone();
        canonical.source_row = 0;
        canonical.previous_ref.clear();
        canonical.involvements[0].bridge_person_ref.clear();
        canonical.involvements[0].bridge_pseudonyms = None;
        assert_eq!(record.content_hash, blake3::hash(&canonical.encode_to_vec()).as_bytes().to_vec());
        let mut before = canonical.clone();
        before.record_ref = "r-old".to_owned();
        before.involvements[0].person_ref = "p-old".to_owned();
        before.involvements[0].pseudonyms = Some(pseudonyms(9));
        assert_eq!(record.moved_hash, Some(blake3::hash(&before.encode_to_vec()).as_bytes().to_vec()));
        assert_eq!(batch.digest, *blake3::hash(&sent.encode_length_delimited_to_vec()).as_bytes());
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(&record.content_hash), "2a205cde37aad0ccb253ee30d984738b8136ab8ebc15430466fdfbdcdeae79df");
        assert_eq!(hex(record.moved_hash.as_deref().unwrap_or_default()), "3217b85ad4caa10bea9c881961adf50312ac06e1b8b409252192ca0158ae5aad");
        assert_eq!(hex(&batch.digest), "f07dde6b4a42b79509bdb3b9c0245dcca5e16ba199d373659a42c8d21b21c529");
        // The person's pseudonyms as kept: keys cut to the stored length.
        assert_eq!(record.involvements[0].pseudonyms.match_keys, vec![[&[2u8][..], &[7u8; STORED_KEY_BYTES][..]].concat()]);
        assert!(record.involvements[0].has_pseudonyms);
        assert_eq!(record.involvements[0].bridge_person_ref, "p-old");
    }
}
