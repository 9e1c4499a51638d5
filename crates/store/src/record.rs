//! The node's own schema for a case record's content: what panels, reports
//! and retention read of a record once it is stored. It is kept apart from
//! the API's messages so that the wire can change without changing what is
//! on disk (the node converts between the two, see the node's `record`
//! module); pseudonyms are not part of it (each involvement keeps its own,
//! see [`crate::StoredInvolvement`]). Enumerations are numbered as the API
//! numbers them; a new API number needs no change here.
//!
//! Versions: records stored before the schema existed hold the API's
//! encoding in [`crate::StoredRecord::record`] (schema 0) and are moved to
//! this one by [`crate::Store::migrate_records`] when the node opens the
//! store.

/// The schema version this build writes.
pub const RECORD_SCHEMA: u32 = 1;

/// A case record's content.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordBody {
    /// [`RECORD_SCHEMA`] when written.
    #[prost(uint32, tag = "1")]
    pub schema: u32,
    /// The agency's opaque ref.
    #[prost(string, tag = "2")]
    pub record_ref: String,
    /// Case type, as numbered in the API.
    #[prost(int32, tag = "3")]
    pub case_type: i32,
    /// Referral date.
    #[prost(message, optional, tag = "4")]
    pub referral_date: Option<BodyDate>,
    /// When the abuse started, if recorded.
    #[prost(message, optional, tag = "5")]
    pub incident_start: Option<BodyDate>,
    /// When it last happened, if recorded.
    #[prost(message, optional, tag = "6")]
    pub last_occurrence: Option<BodyDate>,
    /// Template answers about the case.
    #[prost(message, repeated, tag = "7")]
    pub fields: Vec<BodyValue>,
    /// The people involved, in the order the record gave them.
    #[prost(message, repeated, tag = "8")]
    pub involvements: Vec<BodyInvolvement>,
    /// The outcome event a record of that kind stands for, as numbered in
    /// the API (0: a case).
    #[prost(int32, tag = "9")]
    pub outcome: i32,
}

/// A calendar date as recorded.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct BodyDate {
    /// Year.
    #[prost(int32, tag = "1")]
    pub year: i32,
    /// Month, 1 to 12.
    #[prost(int32, tag = "2")]
    pub month: i32,
    /// Day of the month.
    #[prost(int32, tag = "3")]
    pub day: i32,
}

/// One person's part in a record.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BodyInvolvement {
    /// The agency's opaque person ref.
    #[prost(string, tag = "1")]
    pub person_ref: String,
    /// Role, as numbered in the API.
    #[prost(int32, tag = "2")]
    pub role: i32,
    /// Template answers about this person.
    #[prost(message, repeated, tag = "3")]
    pub fields: Vec<BodyValue>,
}

/// One template answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BodyValue {
    /// The template field.
    #[prost(string, tag = "1")]
    pub field_id: String,
    /// The answer.
    #[prost(oneof = "BodyAnswer", tags = "2, 3, 4, 5, 6")]
    pub answer: Option<BodyAnswer>,
    /// The agency's own words beside an "other" category.
    #[prost(string, tag = "7")]
    pub write_in: String,
}

/// A template answer's value.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum BodyAnswer {
    /// One category code.
    #[prost(uint32, tag = "2")]
    Category(u32),
    /// Several category codes (a multi-choice item).
    #[prost(message, tag = "3")]
    Categories(BodyCodes),
    /// A number.
    #[prost(int64, tag = "4")]
    Integer(i64),
    /// Text.
    #[prost(string, tag = "5")]
    Text(String),
    /// Recorded as not known.
    #[prost(bool, tag = "6")]
    NotKnown(bool),
}

/// Category codes of a multi-choice answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BodyCodes {
    /// The codes.
    #[prost(uint32, repeated, tag = "1")]
    pub codes: Vec<u32>,
}
