//! The match-key hierarchy: deterministic keyed hashes over combinations of
//! normalised fields, in the style of the ONS match-key linkage. Each rung is
//! designed to absorb one kind of recording variation; a missing component
//! means no key for that rung, never a key over blanks.

use ring::hmac;

use crate::keys::Keys;
use crate::nicknames::canonical_forename;
use crate::normalise::NormalisedIdentity;

/// The rungs of the hierarchy. The numbers travel in uploads and must not be
/// reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MatchKeyKind {
    /// NHS number (valid check digit).
    NhsNumber = 1,
    /// Forename + surname + date of birth.
    NameDob = 2,
    /// Forename + one part of a multi-part surname + date of birth; absorbs
    /// one agency recording only one half of a double-barrelled name.
    NameSurnamePartDob = 3,
    /// First initial + surname + date of birth + sex; absorbs a misspelt or
    /// unrecognised forename.
    InitialSurnameDobSex = 4,
    /// Forename + surname + date of birth with day and month unordered;
    /// absorbs day/month transposition.
    NameDobTransposed = 5,
    /// Both names in either order + date of birth; absorbs forename/surname
    /// swaps.
    NamesAnyOrderDob = 6,
    /// Forename + surname + birth year + postcode district; absorbs a wrong
    /// day or month of birth.
    NameYearDistrict = 7,
    /// Forename + date of birth + sex + postcode district; absorbs a change
    /// of surname.
    ForenameDobSexDistrict = 8,
    /// Forename + surname + full postcode; links a record whose date of
    /// birth is missing or wrong.
    NamePostcode = 9,
    /// Phonetic codes of both names (either order) + date of birth (day and
    /// month either way); absorbs misspelt and transliterated names.
    PhoneticNameDob = 10,
    /// One named identifier other than the NHS number (a unique pupil
    /// number, a police national computer id…).
    OtherId = 11,
    /// Phonetic codes of both names (either order) + full postcode.
    PhoneticNamePostcode = 12,
}

impl MatchKeyKind {
    /// Every rung, in order.
    pub const ALL: [MatchKeyKind; 12] = [
        MatchKeyKind::NhsNumber,
        MatchKeyKind::NameDob,
        MatchKeyKind::NameSurnamePartDob,
        MatchKeyKind::InitialSurnameDobSex,
        MatchKeyKind::NameDobTransposed,
        MatchKeyKind::NamesAnyOrderDob,
        MatchKeyKind::NameYearDistrict,
        MatchKeyKind::ForenameDobSexDistrict,
        MatchKeyKind::NamePostcode,
        MatchKeyKind::PhoneticNameDob,
        MatchKeyKind::OtherId,
        MatchKeyKind::PhoneticNamePostcode,
    ];

    /// The wire number.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The rung with this wire number.
    pub fn from_number(number: u32) -> Option<MatchKeyKind> {
        MatchKeyKind::ALL.into_iter().find(|kind| kind.number() == number)
    }
}

fn keyed_hash(keys: &Keys, kind: MatchKeyKind, components: &[&str]) -> [u8; 32] {
    let mut context = hmac::Context::with_key(&keys.match_key);
    context.update(&[kind as u8]);
    for component in components {
        context.update(&[0x1f]);
        context.update(component.as_bytes());
    }
    let tag = context.sign();
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Computes every rung the identity supports, in hierarchy order. Several keys
/// of one rung appear for a multi-part surname.
pub fn match_keys(keys: &Keys, identity: &NormalisedIdentity) -> Vec<(MatchKeyKind, [u8; 32])> {
    let mut out = Vec::with_capacity(10);
    let mut push = |kind: MatchKeyKind, components: &[&str]| {
        out.push((kind, keyed_hash(keys, kind, components)));
    };
    if let Some(nhs) = &identity.nhs_number {
        push(MatchKeyKind::NhsNumber, &[nhs]);
    }
    let forename = identity.forename.as_deref();
    let surname = identity.surname.as_deref();
    let dob = identity.dob_parts.and_then(|parts| parts.triple());
    let dob_text = dob.map(|(year, month, day)| format!("{year:04}{month:02}{day:02}"));
    let birth_year = identity.dob_parts.and_then(|parts| parts.year);
    let district = identity.postcode.as_ref().filter(|p| p.uk).map(|p| p.district.as_str());
    let sex = identity.sex_code();

    if let (Some(f), Some(s), Some(d)) = (forename, surname, dob_text.as_deref()) {
        push(MatchKeyKind::NameDob, &[f, s, d]);
    }
    if let (Some(f), Some(d)) = (forename, dob_text.as_deref()) {
        for other in identity.surname_parts.iter().chain(&identity.other_surnames) {
            push(MatchKeyKind::NameSurnamePartDob, &[f, other, d]);
        }
    }
    if let (Some(f), Some(s), Some(d), Some(x)) = (forename, surname, dob_text.as_deref(), sex) {
        let initial: String = f.chars().take(1).collect();
        push(MatchKeyKind::InitialSurnameDobSex, &[&initial, s, d, x]);
    }
    let unordered = dob.map(|(year, month, day)| format!("{year:04}{:02}{:02}", day.min(month), day.max(month)));
    if let (Some(f), Some(s), Some(u)) = (forename, surname, unordered.as_deref()) {
        push(MatchKeyKind::NameDobTransposed, &[f, s, u]);
    }
    if let (Some(f), Some(s), Some(d)) = (forename, surname, dob_text.as_deref()) {
        let mut names = [f, canonical_forename(s)];
        names.sort_unstable();
        push(MatchKeyKind::NamesAnyOrderDob, &[names[0], names[1], d]);
    }
    if let (Some(f), Some(s), Some(y), Some(p)) = (forename, surname, birth_year, district) {
        push(MatchKeyKind::NameYearDistrict, &[f, s, &y.to_string(), p]);
    }
    if let (Some(f), Some(d), Some(x), Some(p)) = (forename, dob_text.as_deref(), sex, district) {
        push(MatchKeyKind::ForenameDobSexDistrict, &[f, d, x, p]);
    }
    let full_postcode = identity.postcode.as_ref().filter(|p| !p.full.is_empty());
    if let (Some(f), Some(s), Some(p)) = (forename, surname, full_postcode) {
        push(MatchKeyKind::NamePostcode, &[f, s, &p.full]);
    }
    let phonetic = match (forename, surname) {
        (Some(f), Some(s)) => {
            let mut codes = [crate::tokens::phonetic(f), crate::tokens::phonetic(s)];
            codes.sort_unstable();
            Some(codes)
        }
        _ => None,
    };
    if let (Some([a, b]), Some(u)) = (&phonetic, unordered.as_deref()) {
        push(MatchKeyKind::PhoneticNameDob, &[a, b, u]);
    }
    for (name, value) in &identity.ids {
        push(MatchKeyKind::OtherId, &[name, value]);
    }
    if let (Some([a, b]), Some(p)) = (&phonetic, full_postcode) {
        push(MatchKeyKind::PhoneticNamePostcode, &[a, b, &p.full]);
    }
    out
}
