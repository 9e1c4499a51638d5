//! Agency-side pseudonymisation: everything that touches a raw identity.
//!
//! Runs only on an agency's premises. [`normalise`] turns the identifiers of
//! one extract row into a [`NormalisedIdentity`] (UK-first rules: folded case
//! and accents, titles and punctuation dropped, nicknames, multi-part
//! surnames, dates, postcodes, NHS number check). [`Keys`] derives per-purpose
//! keys from the partnership's [`SchemeSecret`] with HKDF; [`match_keys`]
//! computes the hierarchy of keyed hashes and [`bloom::encode`] the hardened
//! Bloom-filter encoding. Nothing in this crate logs.
//!
//! Architecture invariant: the linkage node never depends on this crate; it
//! never normalises or hashes identities and never holds the scheme secret.
//! Start at [`pseudonymise`].

pub mod bloom;
mod date;
pub mod extract;
mod keys;
pub mod mapping;
mod matchkeys;
pub mod nicknames;
mod normalise;
pub mod tokens;

pub use bloom::{BloomParams, BLOOM_BITS};
pub use braid_template::OutcomeKind;
pub use date::{parse_date, parse_date_parts, Date, DateFormat, DateParts};
pub use extract::{pseudonymise_extract, ExtractError, ExtractOutput, PseudonymisedInvolvement, PseudonymisedRecord, ReidEntry, RowIssue};
pub use keys::{Keys, SchemeSecret};
pub use mapping::{CaseType, Mapping, MappingError, OutcomeSection, Role, OUTCOME_CODES};
pub use matchkeys::{match_keys, MatchKeyKind};
pub use normalise::{
    fold_text, nhs_number_is_valid, normalise, normalise_address, normalise_as_of, normalise_forename, normalise_postcode, normalise_surname, Identity,
    NormalisedIdentity, Postcode, Sex, Warning,
};
pub use tokens::{field_tokens, FieldTokens};

/// Errors from reading secrets or normalising identifiers. Messages name the
/// field and the rule broken, never the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The scheme secret file is malformed.
    #[error("scheme secret: {0}")]
    Secret(String),
    /// A date that does not match the expected format or does not exist.
    #[error("{field}: {reason}")]
    Date {
        /// Which identity field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A date format string this crate cannot read.
    #[error("date format `{0}` is not supported: it takes one day (%d), one month (%m, %b or %B) and one year (%Y or %y), with separators (%F and %D too)")]
    DateFormat(String),
    /// A date format string with a time of day in it.
    #[error("date format `{0}` has a time of day in it: give the date's parts only (%d, %m, %Y…); a time written after a date is read and left aside")]
    DateFormatWithTime(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One person's pseudonyms: what leaves the agency in place of identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonPseudonyms {
    /// One keyed hash per match-key rung the identity supports.
    pub match_keys: Vec<(MatchKeyKind, [u8; 32])>,
    /// Hardened Bloom encoding; empty when no name is known.
    pub bloom: Vec<u8>,
    /// Field tokens, for comparisons field by field at the node.
    pub tokens: FieldTokens,
}

/// Computes a person's pseudonyms from a normalised identity.
pub fn pseudonymise(keys: &Keys, identity: &NormalisedIdentity) -> PersonPseudonyms {
    let match_keys = match_keys(keys, identity);
    let bloom = if identity.forename.is_some() || identity.surname.is_some() { bloom::encode(keys, identity, &BloomParams::default()) } else { Vec::new() };
    let bloom = if bloom.iter().any(|b| *b != 0) { bloom } else { Vec::new() };
    let tokens = field_tokens(keys, identity);
    PersonPseudonyms { match_keys, bloom, tokens }
}

#[cfg(test)]
mod tests;
