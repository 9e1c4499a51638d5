//! Field tokens: short keyed hashes that let the node compare two records
//! field by field, so that it can tell a date of birth that *disagrees* from
//! one that is *missing*, and weigh a common name less than a rare one.
//!
//! Every token is a 32-bit prefix of a BLAKE3 keyed hash under its own key
//! (derived from the scheme secret), so it reveals only equality. What the
//! node learns from equality is bounded by what each token covers:
//! * identity-revealing values are only ever hashed together with something
//!   specific to the person: the full name (`name`, `name_any_order`,
//!   `other_names`), the full date of birth (`dob`, `dob_any_order`), the
//!   full postcode or address line, or an identifier's value;
//! * coarse values (sex, postcode district, which two-year window of birth)
//!   are hashed together with the person's phonetic name class or full date
//!   of birth, so equal tokens never group different people by sex, district
//!   or age, only one person's records with each other.
//!
//! No token groups people by a single forename, surname, birth year or month,
//! which is what frequency attacks need. The node counts how often each `name`
//! token occurs for the term-frequency adjustment: a full name's frequency,
//! which is flat enough that aligning it with a list of common names recovers
//! almost nobody (`tests/frequency_attack.rs`).

use crate::keys::Keys;
use crate::normalise::NormalisedIdentity;

/// How many date-of-birth windows a person gets (grids offset by a quarter
/// of the window each).
pub const DOB_WINDOWS: usize = 4;
/// Width of a date-of-birth window in days (two years). Two dates more than
/// this apart never share a window; two dates less than three quarters of it
/// apart always share at least one.
pub const DOB_WINDOW_DAYS: i64 = 730;

/// One person's field tokens. Zero means the field was not recorded (or could
/// not be used); no token is ever zero otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldTokens {
    /// Forename (nickname resolved) and surname.
    pub name: u32,
    /// Forename and surname in either order.
    pub name_any_order: u32,
    /// The phonetic codes (Double Metaphone) of forename and surname, in
    /// either order: absorbs spelling and transliteration variants.
    pub name_phonetic: u32,
    /// Forename with each part of a multi-part surname and with each
    /// previous or alternative surname, hashed as `name` is; then the same
    /// pairs in either order, hashed as `name_any_order` is.
    pub other_names: Vec<u32>,
    /// Forename, salted with the date of birth (either order): tells a
    /// changed surname from a different person when the dates agree.
    pub forename_by_dob: u32,
    /// Surname, salted with the date of birth (either order).
    pub surname_by_dob: u32,
    /// The whole forename as a prefix and as a suffix, salted with surname
    /// and date of birth: with [`FieldTokens::forename_parts`], tells a
    /// short form ("Alex", "Seun", "Emeka") of a longer forename
    /// ("Alexander", "Oluwaseun", "Chukwuemeka") from a different name.
    pub forename_whole: [u32; 2],
    /// The forename's prefixes, then its suffixes, of 3 to 6 letters
    /// (shorter than the name), salted as `forename_whole`; 0 where the name
    /// has no such part.
    pub forename_parts: [u32; 8],
    /// Date of birth (year, month, day as recorded).
    pub dob: u32,
    /// Date of birth with day and month in either order.
    pub dob_any_order: u32,
    /// The two-year windows the date of birth falls in, one per offset grid,
    /// each salted with the phonetic name class: two records of people with
    /// the same name class share a window only when their dates of birth are
    /// under two years apart, and always when under eighteen months apart.
    pub dob_windows: Vec<u32>,
    /// Sex, salted with the phonetic name class.
    pub sex_by_name: u32,
    /// Sex, salted with the date of birth (either order).
    pub sex_by_dob: u32,
    /// The full postcode.
    pub postcode: u32,
    /// The postcode district, salted with the phonetic name class.
    pub district: u32,
    /// The first line of the address.
    pub address: u32,
    /// Other identifiers: (which identifier, its value).
    pub ids: Vec<(u32, u32)>,
}

const NAME: u8 = 1;
const NAME_ANY_ORDER: u8 = 2;
const NAME_PHONETIC: u8 = 3;
const DOB: u8 = 4;
const DOB_ANY_ORDER: u8 = 5;
const DOB_WINDOW: u8 = 6;
const SEX_BY_NAME: u8 = 7;
const SEX_BY_DOB: u8 = 8;
const POSTCODE: u8 = 9;
const DISTRICT: u8 = 10;
const ADDRESS: u8 = 11;
const ID_KIND: u8 = 12;
const ID_VALUE: u8 = 13;
const FORENAME_BY_DOB: u8 = 14;
const SURNAME_BY_DOB: u8 = 15;
const FORENAME_PREFIX: u8 = 16;
const FORENAME_SUFFIX: u8 = 17;

/// Shortest and longest short form of a forename that is compared.
const SHORT_FORMS: std::ops::RangeInclusive<usize> = 3..=6;

fn token(key: &[u8; 32], tag: u8, parts: &[&[u8]]) -> u32 {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(&[tag]);
    for part in parts {
        hasher.update(&[0x1f]);
        hasher.update(part);
    }
    let bytes = hasher.finalize();
    let head = u32::from_le_bytes([bytes.as_bytes()[0], bytes.as_bytes()[1], bytes.as_bytes()[2], bytes.as_bytes()[3]]);
    head.max(1)
}

/// The primary Double Metaphone code of a folded name. Names repeat a lot
/// in an extract, so codes are remembered (per thread, up to a bound).
pub fn phonetic(name: &str) -> String {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static ENCODER: rphonetic::DoubleMetaphone = rphonetic::DoubleMetaphone::default();
        static KNOWN: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    }
    if let Some(code) = KNOWN.with(|known| known.borrow().get(name).cloned()) {
        return code;
    }
    // The encoder indexes its input by byte and panics on a letter outside
    // ASCII (`dəniz`); folded names have no sound it knows there, so it is
    // given the name without them.
    let ascii: String = name.chars().filter(char::is_ascii).collect();
    let code = ENCODER.with(|encoder| encoder.double_metaphone(&ascii).primary());
    let code = if code.is_empty() { name.to_owned() } else { code };
    KNOWN.with(|known| {
        let mut known = known.borrow_mut();
        if known.len() >= 100_000 {
            known.clear();
        }
        known.insert(name.to_owned(), code.clone());
    });
    code
}

/// Computes a person's field tokens.
pub fn field_tokens(keys: &Keys, identity: &NormalisedIdentity) -> FieldTokens {
    let key = &keys.token_key;
    let mut out = FieldTokens::default();
    let forename = identity.forename.as_deref();
    let surname = identity.surname.as_deref();
    let name_class = match (forename, surname) {
        (Some(f), Some(s)) => {
            out.name = token(key, NAME, &[f.as_bytes(), s.as_bytes()]);
            let canonical_surname = crate::nicknames::canonical_forename(s);
            let mut pair = [f, canonical_surname];
            pair.sort_unstable();
            out.name_any_order = token(key, NAME_ANY_ORDER, &[pair[0].as_bytes(), pair[1].as_bytes()]);
            let mut codes = [phonetic(f), phonetic(s)];
            codes.sort_unstable();
            out.name_phonetic = token(key, NAME_PHONETIC, &[codes[0].as_bytes(), codes[1].as_bytes()]);
            let parts = if identity.surname_parts.len() > 1 { &identity.surname_parts[..] } else { &[] };
            // Each as `name`, then each in either order as `name_any_order`
            // (so a given name written into the surname column beside the
            // family name, "Okafor" / "Chinedu Emeka" for Chinedu Okafor,
            // still meets the name recorded the usual way). A node that
            // keeps fewer keeps the former.
            let others = || parts.iter().chain(&identity.other_surnames);
            let as_names = others().map(|other| token(key, NAME, &[f.as_bytes(), other.as_bytes()]));
            let any_order = others().map(|other| {
                let mut pair = [f, crate::nicknames::canonical_forename(other)];
                pair.sort_unstable();
                token(key, NAME_ANY_ORDER, &[pair[0].as_bytes(), pair[1].as_bytes()])
            });
            for value in as_names.chain(any_order) {
                if value != out.name && value != out.name_any_order && !out.other_names.contains(&value) && out.other_names.len() < 8 {
                    out.other_names.push(value);
                }
            }
            Some(format!("{}\u{1f}{}", codes[0], codes[1]))
        }
        _ => None,
    };
    let dob_key = identity.dob_parts.and_then(|parts| {
        let (year, month, day) = parts.triple()?;
        out.dob = token(key, DOB, &[&year.to_le_bytes(), &month.to_le_bytes(), &day.to_le_bytes()]);
        let (low, high) = (month.min(day), month.max(day));
        let any_order = [year.to_le_bytes(), (low as i32).to_le_bytes(), (high as i32).to_le_bytes()].concat();
        out.dob_any_order = token(key, DOB_ANY_ORDER, &[&any_order]);
        Some(any_order)
    });
    let sex = identity.sex_code();
    if let Some(class) = &name_class {
        if let Some(days) = identity.dob_parts.and_then(|parts| parts.approximate()).map(|d| d.days_since_epoch()) {
            for grid in 0..DOB_WINDOWS as i64 {
                let window = (days + grid * DOB_WINDOW_DAYS / DOB_WINDOWS as i64).div_euclid(DOB_WINDOW_DAYS);
                out.dob_windows.push(token(key, DOB_WINDOW, &[class.as_bytes(), &grid.to_le_bytes(), &window.to_le_bytes()]));
            }
        }
        if let Some(sex) = sex {
            out.sex_by_name = token(key, SEX_BY_NAME, &[class.as_bytes(), sex.as_bytes()]);
        }
        if let Some(postcode) = identity.postcode.as_ref().filter(|p| p.uk) {
            out.district = token(key, DISTRICT, &[class.as_bytes(), postcode.district.as_bytes()]);
        }
    }
    if let Some(dob_key) = &dob_key {
        if let Some(f) = forename {
            out.forename_by_dob = token(key, FORENAME_BY_DOB, &[dob_key, f.as_bytes()]);
            if let Some(s) = surname {
                let chars: Vec<char> = f.chars().collect();
                let part = |tag: u8, text: String| token(key, tag, &[dob_key, s.as_bytes(), text.as_bytes()]);
                out.forename_whole = [part(FORENAME_PREFIX, f.to_owned()), part(FORENAME_SUFFIX, f.to_owned())];
                for (slot, length) in SHORT_FORMS.enumerate().take(4) {
                    if length < chars.len() {
                        out.forename_parts[slot] = part(FORENAME_PREFIX, chars[..length].iter().collect());
                        out.forename_parts[4 + slot] = part(FORENAME_SUFFIX, chars[chars.len() - length..].iter().collect());
                    }
                }
            }
        }
        if let Some(s) = surname {
            out.surname_by_dob = token(key, SURNAME_BY_DOB, &[dob_key, s.as_bytes()]);
        }
    }
    if let (Some(dob_key), Some(sex)) = (&dob_key, sex) {
        out.sex_by_dob = token(key, SEX_BY_DOB, &[dob_key, sex.as_bytes()]);
    }
    if let Some(postcode) = identity.postcode.as_ref().filter(|p| !p.full.is_empty()) {
        out.postcode = token(key, POSTCODE, &[postcode.full.as_bytes()]);
    }
    if let Some(address) = &identity.address {
        out.address = token(key, ADDRESS, &[address.as_bytes()]);
    }
    for (name, value) in &identity.ids {
        out.ids.push((token(key, ID_KIND, &[name.as_bytes()]), token(key, ID_VALUE, &[name.as_bytes(), value.as_bytes()])));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{normalise, Date, Identity, SchemeSecret};

    fn tokens(forename: &str, surname: &str, dob: Option<Date>, sex: &str) -> FieldTokens {
        let keys = Keys::derive(&SchemeSecret::new(1, [3u8; 32]), "CSC");
        let identity = Identity {
            forename: Some(forename.into()),
            surname: Some(surname.into()),
            date_of_birth: dob,
            sex: Some(sex.into()),
            postcode: Some("LS6 2QB".into()),
            ..Identity::default()
        };
        field_tokens(&keys, &normalise(&identity).0)
    }

    fn shared_windows(a: &FieldTokens, b: &FieldTokens) -> usize {
        a.dob_windows.iter().zip(&b.dob_windows).filter(|(x, y)| x == y).count()
    }

    #[test]
    fn transliterations_share_the_phonetic_token_and_not_the_name() {
        let dob = Date::new(2009, 3, 16);
        let a = tokens("Mohammed", "Hussain", dob, "M");
        let b = tokens("Muhammad", "Hussein", dob, "M");
        assert_ne!(a.name, b.name);
        assert_eq!(a.name_phonetic, b.name_phonetic);
        assert_eq!(a.dob, b.dob);
        assert_eq!(a.sex_by_name, b.sex_by_name);
        let swapped = tokens("Hussain", "Mohammed", dob, "M");
        assert_eq!(swapped.name_phonetic, a.name_phonetic);
    }

    #[test]
    fn windows_separate_dates_of_birth_years_apart() {
        let child = tokens("John", "Smith", Date::new(2008, 5, 1), "M");
        let adult = tokens("John", "Smith", Date::new(1998, 5, 1), "M");
        let close = tokens("John", "Smith", Date::new(2008, 9, 20), "M");
        let year_typo = tokens("John", "Smith", Date::new(2009, 5, 1), "M");
        assert_eq!(child.name, adult.name);
        assert_eq!(shared_windows(&child, &adult), 0);
        assert!(shared_windows(&child, &close) >= 2);
        assert!(shared_windows(&child, &year_typo) >= 1);
        // Windows say nothing across different name classes.
        let other = tokens("Amy", "Jones", Date::new(2008, 5, 1), "F");
        assert_eq!(shared_windows(&child, &other), 0);
        // Every pair under eighteen months apart shares a window; none over two years does.
        let base = Date::new(2005, 1, 1).unwrap().days_since_epoch();
        let at = |days: i64| {
            let d = Date::from_days_since_epoch(base + days);
            tokens("John", "Smith", Some(d), "M")
        };
        for start in (0..730).step_by(37) {
            let a = at(start);
            for gap in [0, 100, 300, 500, 547] {
                assert!(shared_windows(&a, &at(start + gap)) >= 1, "{start} {gap}");
            }
            for gap in [731, 900, 3650] {
                assert_eq!(shared_windows(&a, &at(start + gap)), 0, "{start} {gap}");
            }
        }
    }

    #[test]
    fn a_given_name_written_beside_the_family_name_meets_the_name_written_the_usual_way() {
        let dob = Date::new(2009, 3, 16);
        let usual = tokens("Chinedu", "Okafor", dob, "M");
        // A middle name written into the forename column, then the two
        // columns swapped.
        let swapped = tokens("Okafor", "Chinedu Emeka", dob, "M");
        assert_ne!(swapped.name_any_order, usual.name_any_order);
        assert!(swapped.other_names.contains(&usual.name_any_order), "{swapped:?}");
        assert!(!swapped.other_names.contains(&usual.name));
        // The forename with each surname part, as a name first: a node that
        // keeps fewer keeps those.
        let double = tokens("Amy", "Smith-Jones", dob, "F");
        let smith = tokens("Amy", "Smith", dob, "F");
        let jones = tokens("Amy", "Jones", dob, "F");
        assert_eq!(double.other_names, vec![smith.name, jones.name, smith.name_any_order, jones.name_any_order]);
    }

    #[test]
    fn missing_fields_have_no_token() {
        let keys = Keys::derive(&SchemeSecret::new(1, [3u8; 32]), "CSC");
        let only_name = normalise(&Identity { forename: Some("Amy".into()), surname: Some("Jones".into()), ..Identity::default() }).0;
        let t = field_tokens(&keys, &only_name);
        assert_ne!(t.name, 0);
        assert_eq!((t.dob, t.dob_any_order, t.sex_by_name, t.postcode, t.address), (0, 0, 0, 0, 0));
        assert!(t.dob_windows.is_empty() && t.ids.is_empty());
    }

    #[test]
    fn a_district_alone_meets_the_full_postcodes_district_and_nothing_else() {
        let keys = Keys::derive(&SchemeSecret::new(1, [3u8; 32]), "CSC");
        let with = |postcode: &str| {
            let identity = Identity { forename: Some("Amy".into()), surname: Some("Jones".into()), postcode: Some(postcode.into()), ..Identity::default() };
            field_tokens(&keys, &normalise(&identity).0)
        };
        let (alone, full) = (with("LS6"), with("LS6 2QB"));
        assert_eq!(alone.postcode, 0);
        assert!(alone.district != 0 && alone.district == full.district);
        let alone_keys = crate::match_keys(
            &keys,
            &normalise(&Identity { forename: Some("Amy".into()), surname: Some("Jones".into()), postcode: Some("LS6".into()), ..Identity::default() }).0,
        );
        assert!(
            alone_keys.iter().all(|(kind, _)| !matches!(kind, crate::MatchKeyKind::NamePostcode | crate::MatchKeyKind::PhoneticNamePostcode)),
            "{alone_keys:?}"
        );
    }
}
