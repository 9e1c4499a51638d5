//! UK-first normalisation of identifiers.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::date::{Date, DateParts};
use crate::nicknames::canonical_forename;

/// Recorded sex, as far as identity matching uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
    /// Recorded, but neither; carries no matching weight.
    Other,
}

impl Sex {
    /// Reads common codings (M/F, male/female, B/G for boy and girl, 1/2 as
    /// in NHS data, X or other); `None` for "not known" and for text that is no coding of a
    /// sex (see [`Sex::read`]).
    pub fn parse(text: &str) -> Option<Sex> {
        Sex::read(text).ok().flatten()
    }

    /// As [`Sex::parse`], telling a sex recorded as not known (`Ok(None)`)
    /// from text that is no coding of a sex (`Err`: a column mapped wrongly,
    /// or a cell shifted, whose text must not count as a sex two records
    /// could agree on).
    pub(crate) fn read(text: &str) -> Result<Option<Sex>, ()> {
        let one = |word: &str| match word {
            "m" | "male" | "b" | "boy" | "man" | "1" => Ok(Some(Sex::Male)),
            "f" | "female" | "g" | "girl" | "woman" | "2" => Ok(Some(Sex::Female)),
            "x" | "o" | "i" | "other" | "indeterminate" | "intersex" | "non binary" | "nonbinary" | "3" => Ok(Some(Sex::Other)),
            "" | "u" | "unknown" | "not known" | "not stated" | "not specified" | "unspecified" | "not applicable" | "na" | "prefer not to say" | "unborn"
            | "0" | "9" => Ok(None),
            _ => Err(()),
        };
        // A code with its label ("1 - Male", "2: Female"): read when the
        // two say the same.
        let spaced: String = text.chars().map(|c| if matches!(c, '-' | ':' | '=') { ' ' } else { c }).collect();
        let folded = fold_text(&spaced);
        if let Some((code, label)) = folded.split_once(' ') {
            if let (Ok(a), Ok(b)) = (one(code), one(label)) {
                return if a == b { Ok(a) } else { Err(()) };
            }
        }
        one(&folded)
    }

    fn code(self) -> &'static str {
        match self {
            Sex::Male => "m",
            Sex::Female => "f",
            Sex::Other => "x",
        }
    }
}

/// A postcode, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Postcode {
    /// The full postcode without spaces, upper case, e.g. `SW1A1AA`;
    /// empty when only the district was written.
    pub full: String,
    /// The outward code (postcode district), e.g. `SW1A`; empty for a
    /// postcode that is not a UK one.
    pub district: String,
    /// Whether it is a valid UK postcode. Another country's postcode is
    /// compared only as written (no district, no match keys).
    pub uk: bool,
}

/// Raw identifiers of one person as read from an extract row. Lives only on
/// the agency's premises.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Given name(s) as recorded.
    pub forename: Option<String>,
    /// Family name(s) as recorded.
    pub surname: Option<String>,
    /// Date of birth, already parsed in the agency's format.
    pub date_of_birth: Option<Date>,
    /// The parts of a recorded date of birth that is not a real date
    /// (31 February); used when `date_of_birth` is `None`.
    pub date_of_birth_parts: Option<DateParts>,
    /// Sex as recorded.
    pub sex: Option<String>,
    /// Postcode as recorded.
    pub postcode: Option<String>,
    /// NHS number as recorded.
    pub nhs_number: Option<String>,
    /// Previous or alternative family names as recorded.
    pub other_surnames: Vec<String>,
    /// First line of the address (with the house number or name).
    pub address: Option<String>,
    /// Other identifiers by name (a unique pupil number, a police national
    /// computer id, a local child id), as recorded.
    pub ids: Vec<(String, String)>,
}

/// Identifiers after normalisation; the input to match keys and encodings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalisedIdentity {
    /// First given name, folded, nickname resolved to its canonical form.
    pub forename: Option<String>,
    /// Family name, folded, parts joined without spaces (`smithjones`).
    pub surname: Option<String>,
    /// The family name's parts (`smith`, `jones`); one part for most people.
    pub surname_parts: Vec<String>,
    /// Date of birth, when it is a real date.
    pub date_of_birth: Option<Date>,
    /// The usable parts of the recorded date of birth (the date's own parts
    /// when it is real).
    pub dob_parts: Option<DateParts>,
    /// Previous or alternative family names, folded and joined like
    /// `surname`, without the surname itself.
    pub other_surnames: Vec<String>,
    /// First line of the address, folded, with common street words
    /// abbreviated (`12 acacia ave`).
    pub address: Option<String>,
    /// Other identifiers: (name folded, value upper case without spaces or
    /// punctuation).
    pub ids: Vec<(String, String)>,
    /// Sex (male or female only; other codings carry no matching weight).
    pub sex: Option<Sex>,
    /// Postcode, when it is a valid UK postcode.
    pub postcode: Option<Postcode>,
    /// NHS number, when it passes the mod-11 check.
    pub nhs_number: Option<String>,
}

impl NormalisedIdentity {
    /// The sex code used in keys, when it discriminates.
    pub(crate) fn sex_code(&self) -> Option<&'static str> {
        self.sex.filter(|s| *s != Sex::Other).map(Sex::code)
    }
}

/// What normalisation could not use, by field name; the row is still kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The identity field (`ids.NAME` for an identifier of `[identity.ids]`).
    pub field: std::borrow::Cow<'static, str>,
    /// What was wrong; never the value.
    pub reason: &'static str,
}

/// Most alternative surnames kept per person.
pub const MAX_OTHER_SURNAMES: usize = 4;
/// Most other identifiers kept per person.
pub const MAX_IDS: usize = 4;

/// Folds case and accents, turns punctuation into spaces (apostrophes are
/// dropped: O'Brien → obrien) and collapses white space.
pub fn fold_text(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let mut pending_space = false;
    // Lower case before folding, and decompose again what lowercasing
    // produced: capital sharp s lowers to a letter folded below.
    for c in text.nfkd().flat_map(char::to_lowercase).nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && !folded.is_empty() {
                folded.push(' ');
            }
            pending_space = false;
            // Letters that Unicode does not decompose into a base letter.
            match c {
                'ø' => folded.push('o'),
                'æ' => folded.push_str("ae"),
                'œ' => folded.push_str("oe"),
                'ß' => folded.push_str("ss"),
                'ł' => folded.push('l'),
                'đ' | 'ð' => folded.push('d'),
                'þ' => folded.push_str("th"),
                'ı' => folded.push('i'),
                _ => folded.push(c),
            }
        } else if matches!(c, '\'' | '’' | '‘' | '`') {
            // Apostrophes join: O'Brien, D'Souza.
        } else if matches!(c, '\u{ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}') {
            // Invisible characters a word processor or a web form leaves
            // inside a word (a soft hyphen, a zero-width space or joiner)
            // are no part of the name and split no words.
        } else {
            pending_space = true;
        }
    }
    folded
}

const TITLES: &[&str] = &["mr", "mrs", "ms", "miss", "mx", "master", "dr", "prof", "rev", "sir", "dame", "lady", "lord"];

/// What exports write in a cell for "no value", compared lower case as
/// written (so initials such as "N.A." or "N K" stay names).
const MISSING: &[&str] =
    &["null", "n/a", "none", "unknown", "not known", "nk", "n/k", "not recorded", "not stated", "not given", "not provided", "tbc", "tba", "tbd"];

/// Whether a cell holds no value, however the export wrote that: one of
/// [`MISSING`], a dash or question marks alone, or a date of zeros
/// (`00/00/0000`; a number of zeros is left to the field's own checks).
/// ("NA" and "Nil" are not among them: they are surnames.)
pub fn is_missing(text: &str) -> bool {
    let text = text.trim();
    if text.chars().all(|c| matches!(c, '-' | '?' | '.' | '_')) {
        return true;
    }
    if text.contains('0') && text.contains(['/', '-', '.']) && text.chars().all(|c| matches!(c, '0' | '/' | '-' | '.' | ' ' | ':' | 'T')) {
        return true;
    }
    let lower: String = text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    MISSING.contains(&lower.as_str())
}

/// Words written in a name's place when no name is known ("XX", "Unknown
/// Male", "Baby Girl"): a name made only of them would make strangers agree.
const NAME_PLACEHOLDERS: &[&str] = &["unknown", "nk", "null", "tbc", "tba", "x", "xx", "xxx", "anonymous", "unnamed", "noname", "male", "female"];

/// Words for a child not yet named ("Baby Smith", "Unborn"): placeholders
/// only for someone born within the last two years or with no date of
/// birth ("Baby" is also a given name, in Kerala and the Philippines).
const INFANT_PLACEHOLDERS: &[&str] = &["baby", "unborn", "newborn", "infant", "boy", "girl"];

/// Whether a name is a placeholder: every word of it is one (see
/// [`NAME_PLACEHOLDERS`], and [`INFANT_PLACEHOLDERS`] when `infant`), or it
/// is "No name". "No" and "Name" count only beside another placeholder
/// word ("Name unknown"): on their own they are surnames.
pub(crate) fn is_placeholder_name(text: &str, infant: bool) -> bool {
    let folded = fold_text(text);
    let words: Vec<&str> = folded.split(' ').filter(|word| !word.is_empty()).collect();
    let placeholder = |word: &&str| NAME_PLACEHOLDERS.contains(word) || (infant && INFANT_PLACEHOLDERS.contains(word));
    let filler = |word: &&str| matches!(*word, "no" | "name");
    words == ["no", "name"] || (words.iter().any(placeholder) && words.iter().all(|word| placeholder(word) || filler(word)))
}

/// Whether a date of birth is a placeholder: 1 January 1900 (what many
/// systems write for "not known"; also 1 January of an earlier year), or
/// any day before 1900 (no one alive was born then).
pub fn is_placeholder_birth(parts: &crate::DateParts) -> bool {
    match parts.year {
        Some(year) if year < 1900 => true,
        Some(1900) => parts.month == Some(1) && parts.day == Some(1),
        _ => false,
    }
}

/// Folded name tokens without leading titles. A title that is the whole name
/// is kept: "Lord" and "Sir" are surnames too.
fn name_tokens(text: &str) -> Vec<String> {
    let folded = fold_text(text);
    let tokens: Vec<&str> = folded.split(' ').filter(|token| !token.is_empty()).collect();
    let leading_titles = tokens.iter().take_while(|token| TITLES.contains(token)).count().min(tokens.len().saturating_sub(1));
    tokens[leading_titles..].iter().map(|t| (*t).to_owned()).collect()
}

/// The first given name, folded, with its nickname resolved.
pub fn normalise_forename(text: &str) -> Option<String> {
    let tokens = name_tokens(text);
    let first = tokens.into_iter().next()?;
    Some(canonical_forename(&first).to_owned())
}

/// The family name folded, its parts split on hyphens and spaces; returns the
/// joined form and the parts. Particles such as "van" or "de" stay part of the
/// name.
pub fn normalise_surname(text: &str) -> Option<(String, Vec<String>)> {
    let tokens = name_tokens(text);
    if tokens.is_empty() {
        return None;
    }
    let joined = tokens.concat();
    let parts = if tokens.len() > 1 { tokens } else { vec![joined.clone()] };
    Some((joined, parts))
}

/// Words of street names that agencies abbreviate differently.
const STREET_WORDS: &[(&str, &str)] = &[
    ("street", "st"),
    ("road", "rd"),
    ("avenue", "ave"),
    ("av", "ave"),
    ("lane", "ln"),
    ("drive", "dr"),
    ("close", "cl"),
    ("court", "ct"),
    ("crescent", "cres"),
    ("place", "pl"),
    ("gardens", "gdns"),
    ("terrace", "ter"),
    ("grove", "gr"),
    ("square", "sq"),
    ("flat", "flat"),
    ("apartment", "flat"),
    ("apt", "flat"),
];

/// An address's first line, folded, with common street words abbreviated;
/// `None` when nothing is left.
pub fn normalise_address(text: &str) -> Option<String> {
    let folded = fold_text(text);
    let words: Vec<&str> =
        folded.split(' ').filter(|w| !w.is_empty()).map(|w| STREET_WORDS.iter().find(|(long, _)| *long == w).map_or(w, |(_, short)| short)).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// An identifier's value: letters and digits only, upper case.
fn normalise_id(text: &str) -> Option<String> {
    let value: String = text.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    (!value.is_empty()).then_some(value)
}

/// A postcode as written, when it is not a UK one: letters and digits, upper
/// case (another country's postcode is still compared as written).
fn other_postcode(text: &str) -> Option<Postcode> {
    let full: String = text.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    (!full.is_empty() && full.len() <= 12).then(|| Postcode { full, district: String::new(), uk: false })
}

/// A UK postcode in the standard shapes (A9 9AA, A99 9AA, A9A 9AA, AA9 9AA,
/// AA99 9AA, AA9A 9AA); `None` when the text is not one.
pub fn normalise_postcode(text: &str) -> Option<Postcode> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    if !(5..=7).contains(&compact.len()) || !compact.is_ascii() {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let inward_ok = {
        let b = inward.as_bytes();
        b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphabetic()
    };
    (inward_ok && is_outward_code(outward)).then(|| Postcode { district: outward.to_owned(), full: compact.clone(), uk: true })
}

/// Whether `text` (upper case, no spaces) is a UK outward code: A9, A99,
/// A9A, AA9, AA99 or AA9A.
fn is_outward_code(text: &str) -> bool {
    let o = text.as_bytes();
    match o.len() {
        2 => o[0].is_ascii_alphabetic() && o[1].is_ascii_digit(),
        3 => o[0].is_ascii_alphabetic() && ((o[1].is_ascii_digit() && o[2].is_ascii_alphanumeric()) || (o[1].is_ascii_alphabetic() && o[2].is_ascii_digit())),
        4 => o[0].is_ascii_alphabetic() && o[1].is_ascii_alphabetic() && o[2].is_ascii_digit() && o[3].is_ascii_alphanumeric(),
        _ => false,
    }
}

/// A postcode written as its district alone ("LS6"): compared as a
/// district, with no full postcode (`full` is empty).
fn district_only(text: &str) -> Option<Postcode> {
    // Written as one word: "M1 1" is a full postcode cut short, not M11.
    let district = text.trim().to_ascii_uppercase();
    (district.is_ascii() && is_outward_code(&district)).then_some(Postcode { full: String::new(), district, uk: true })
}

/// Whether a postcode cell says there is no address: "NFA", "No fixed
/// abode", or the NHS's ZZ99 pseudo-postcodes (no fixed abode, address not
/// known): many people share them.
fn is_placeholder_postcode(text: &str) -> bool {
    let folded = fold_text(text);
    let compact: String = folded.chars().filter(|c| !c.is_whitespace()).collect();
    matches!(folded.as_str(), "nfa" | "no fixed abode" | "no fixed address" | "homeless" | "no address") || compact.starts_with("zz99")
}

/// True when the text is a ten-digit NHS number whose check digit is right
/// (modulus 11 with weights 10 down to 2).
pub fn nhs_number_is_valid(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_digit(10)).collect::<Option<Vec<u32>>>().unwrap_or_default();
    if digits.len() != 10 {
        return false;
    }
    let sum: u32 = digits[..9].iter().zip((2..=10).rev()).map(|(digit, weight)| digit * weight).sum();
    let check = 11 - (sum % 11);
    match check {
        11 => digits[9] == 0,
        10 => false,
        check => digits[9] == check,
    }
}

/// An NHS number's ten digits, when the cell holds one that passes the
/// mod-11 check and is not a placeholder; otherwise a warning says why not.
fn nhs_number(text: &str, warnings: &mut Vec<Warning>) -> Option<String> {
    let text = without_spreadsheet_quoting(text);
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if text.chars().any(|c| !c.is_ascii_digit() && !c.is_whitespace() && c != '-') {
        warnings.push(Warning {
            field: "nhs_number".into(),
            reason: "holds characters other than digits, spaces and hyphens (a prefix or a note?) and was not used",
        });
        None
    } else if digits.len() != 10 {
        warnings.push(Warning { field: "nhs_number".into(), reason: "does not have the ten digits of an NHS number and was not used" });
        None
    } else if !nhs_number_is_valid(text) {
        warnings.push(Warning { field: "nhs_number".into(), reason: "fails the NHS number mod-11 check and was not used" });
        None
    } else if nhs_number_is_placeholder(&digits) {
        warnings.push(Warning { field: "nhs_number".into(), reason: "is a placeholder (one digit repeated), not a person's number, and was not used" });
        None
    } else {
        Some(digits)
    }
}

/// A cell without the quoting spreadsheets add to keep a number as text: a
/// leading apostrophe (`'9434765919`) or a formula of one string
/// (`="9434765919"`).
fn without_spreadsheet_quoting(text: &str) -> &str {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix("=\"").and_then(|rest| rest.strip_suffix('"')) {
        return inner;
    }
    text.strip_prefix('\'').unwrap_or(text)
}

/// True for a number systems write where none is known: one digit
/// repeated (0000000000 to 9999999999 all pass the mod-11 check), which
/// would otherwise join everyone it is written for.
pub fn nhs_number_is_placeholder(digits: &str) -> bool {
    let mut chars = digits.chars();
    chars.next().is_some_and(|first| chars.all(|c| c == first))
}

/// The identifiers named in `[identity.ids]`, each name folded and value
/// normalised, one per name, at most [`MAX_IDS`]. One character repeated
/// ("0", "000000", "XXXX") is what a system fills in, not anyone's
/// identifier: left out, with a warning.
fn normalise_ids(ids: &[(String, String)], warnings: &mut Vec<Warning>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = ids
        .iter()
        .filter_map(|(name, value)| Some((fold_text(name), normalise_id(value)?)))
        .filter(|(name, value)| {
            let placeholder = nhs_number_is_placeholder(value);
            if placeholder {
                warnings.push(Warning {
                    field: format!("ids.{name}").into(),
                    reason: "is a placeholder (one character repeated), not a person's identifier, and was not used",
                });
            }
            !placeholder
        })
        .collect();
    out.sort_unstable();
    out.dedup_by(|a, b| a.0 == b.0);
    out.truncate(MAX_IDS);
    out
}

/// Normalises one person's identifiers as of today (see
/// [`normalise_as_of`]).
pub fn normalise(identity: &Identity) -> (NormalisedIdentity, Vec<Warning>) {
    normalise_as_of(identity, crate::date::today())
}

/// Normalises one person's identifiers. Unusable values are left out and
/// reported as warnings; the rest is kept. `today` decides who is young
/// enough to be a child not yet named ("Baby Smith").
pub fn normalise_as_of(identity: &Identity, today: Date) -> (NormalisedIdentity, Vec<Warning>) {
    let mut warnings = Vec::new();
    let present = |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    // Someone born in the last two years, or with no date of birth, may be
    // a child not yet named.
    let infant = match identity.date_of_birth {
        Some(born) => today.days_since_epoch() - born.days_since_epoch() <= 731,
        None => identity.date_of_birth_parts.is_none(),
    };
    let mut placeholder = |value: Option<String>, field: &'static str| {
        value.filter(|text| {
            // A cell with no letter at all (a date, a number) is not a name:
            // most often the mapping names the wrong column.
            if !text.chars().any(char::is_alphabetic) {
                warnings.push(Warning { field: field.into(), reason: "has no letters, so is not a name, and was not used" });
                return false;
            }
            let keep = !is_placeholder_name(text, infant);
            if !keep {
                warnings.push(Warning { field: field.into(), reason: "is a placeholder (Unknown, XX, Baby for an infant…), not a name, and was not used" });
            }
            keep
        })
    };
    let forename = placeholder(present(&identity.forename), "forename").and_then(|f| normalise_forename(&f));
    let surname_text = placeholder(present(&identity.surname), "surname");
    let (surname, surname_parts) = match surname_text.and_then(|s| normalise_surname(&s)) {
        Some((joined, parts)) => (Some(joined), parts),
        None => (None, Vec::new()),
    };
    let postcode = present(&identity.postcode).and_then(|text| {
        if is_placeholder_postcode(&text) {
            warnings.push(Warning { field: "postcode".into(), reason: "says no fixed abode (NFA, ZZ99), not a place, and was not used" });
            return None;
        }
        let postcode = normalise_postcode(&text);
        if postcode.is_none() {
            if let Some(district) = district_only(&text) {
                warnings.push(Warning { field: "postcode".into(), reason: "is a postcode district only; it is compared as a district" });
                return Some(district);
            }
            warnings.push(Warning { field: "postcode".into(), reason: "is not a valid UK postcode; it is compared only as written" });
            return other_postcode(&text);
        }
        postcode
    });
    let nhs_number = present(&identity.nhs_number).and_then(|text| nhs_number(&text, &mut warnings));
    let mut other_surnames: Vec<String> = identity
        .other_surnames
        .iter()
        .filter(|text| !is_placeholder_name(text, infant))
        .filter_map(|text| normalise_surname(text))
        .map(|(joined, _)| joined)
        .filter(|joined| Some(joined) != surname.as_ref())
        .collect();
    other_surnames.sort_unstable();
    other_surnames.dedup();
    other_surnames.truncate(MAX_OTHER_SURNAMES);
    let ids = normalise_ids(&identity.ids, &mut warnings);
    let dob_parts = identity.date_of_birth.map(DateParts::of).or(identity.date_of_birth_parts);
    let normalised = NormalisedIdentity {
        forename,
        surname,
        surname_parts,
        date_of_birth: identity.date_of_birth,
        dob_parts,
        other_surnames,
        address: present(&identity.address).and_then(|a| normalise_address(&a)),
        ids,
        sex: present(&identity.sex).and_then(|text| {
            Sex::read(&text).unwrap_or_else(|()| {
                warnings
                    .push(Warning { field: "sex".into(), reason: "is not a sex this reads (M/F, Male/Female, B/G, 1/2, X/Other, Unknown) and was not used" });
                None
            })
        }),
        postcode,
        nhs_number,
    };
    (normalised, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_no_value() {
        for text in ["NULL", "n/a", "N/A", "Not Known", "NK", "n/k", "unknown", "-", "?", "00/00/0000", "0000-00-00", "TBC"] {
            assert!(is_missing(text), "{text}");
        }
        for text in ["Na", "NA", "Nil", "Smith", "01/01/2010", "0", "0000000000", "Noel", "N.A.", "N K"] {
            assert!(!is_missing(text), "{text}");
        }
        for (text, infant) in [
            ("Baby", true),
            ("Unknown", false),
            ("XX", false),
            ("Baby Girl", true),
            ("Unknown Male", false),
            ("Unborn", true),
            ("No name", false),
            ("Name unknown", false),
            ("NONAME", false),
        ] {
            assert!(is_placeholder_name(text, infant), "{text}");
        }
        for (text, infant) in [
            ("Baby", false),
            ("R", false),
            ("O", false),
            ("Child", false),
            ("Anon", false),
            ("Boy", false),
            ("Person", false),
            ("Ng", false),
            ("Baby John", true),
            ("No", false),
            ("Name", false),
            ("No No", false),
            ("Name Name", false),
        ] {
            assert!(!is_placeholder_name(text, infant), "{text}");
        }
        for text in ["NFA", "No fixed abode", "ZZ99 3VZ", "zz993cz"] {
            assert!(is_placeholder_postcode(text), "{text}");
        }
        assert!(!is_placeholder_postcode("LS6 2QB"));
        let born = |year, month, day| crate::DateParts { year: Some(year), month: Some(month), day: Some(day) };
        assert!(is_placeholder_birth(&born(1900, 1, 1)) && is_placeholder_birth(&born(1899, 6, 5)));
        assert!(!is_placeholder_birth(&born(1900, 3, 5)) && !is_placeholder_birth(&born(2010, 1, 1)));
        let identity = Identity { forename: Some("Baby".into()), surname: Some("Smith".into()), postcode: Some("NFA".into()), ..Identity::default() };
        let (normalised, warnings) = normalise(&identity);
        assert_eq!((normalised.forename, normalised.surname.as_deref(), normalised.postcode), (None, Some("smith"), None));
        assert_eq!(warnings.iter().map(|w| w.field.as_ref()).collect::<Vec<_>>(), ["forename", "postcode"]);
    }

    #[test]
    fn a_name_in_any_script_is_a_name_and_a_cell_without_letters_is_not() {
        for name in ["محمد", "王", "राम", "Ωmega", "Nguyễn", "J0hn"] {
            let identity = Identity { forename: Some(name.into()), surname: Some(name.into()), ..Identity::default() };
            let (normalised, warnings) = normalise(&identity);
            assert!(normalised.forename.is_some() && normalised.surname.is_some() && warnings.is_empty(), "{name}: {warnings:?}");
        }
        for cell in ["01/02/2003", "0", "١٢٣", "12345"] {
            let identity = Identity { forename: Some(cell.into()), surname: Some(cell.into()), ..Identity::default() };
            let (normalised, warnings) = normalise(&identity);
            assert!(normalised.forename.is_none() && normalised.surname.is_none(), "{cell}");
            assert!(warnings.iter().all(|w| w.reason.starts_with("has no letters")), "{cell}: {warnings:?}");
            assert_eq!(warnings.len(), 2, "{cell}");
        }
    }

    #[test]
    fn a_sex_is_read_from_its_codings_and_other_text_is_not_a_sex() {
        for (text, sex) in [
            ("M", Some(Sex::Male)),
            ("female", Some(Sex::Female)),
            ("2", Some(Sex::Female)),
            ("X", Some(Sex::Other)),
            ("Unknown", None),
            ("9", None),
            ("Not Specified ", None),
            ("Prefer not to say", None),
            ("1 - Male", Some(Sex::Male)),
            ("2: Female", Some(Sex::Female)),
            ("Non-binary", Some(Sex::Other)),
        ] {
            assert_eq!(Sex::read(text), Ok(sex), "{text}");
        }
        for text in ["Jade Campbell 16/07/2019", "White British", "14/09/2012", "MF", "1 - Female"] {
            assert_eq!(Sex::read(text), Err(()), "{text}");
            let (normalised, warnings) = normalise(&Identity { sex: Some(text.into()), ..Identity::default() });
            assert_eq!((normalised.sex, warnings.iter().map(|w| w.field.as_ref()).collect::<Vec<_>>()), (None, vec!["sex"]), "{text}");
        }
    }

    #[test]
    fn a_postcode_district_alone_is_compared_as_a_district() {
        let (normalised, warnings) = normalise(&Identity { postcode: Some(" ls6 ".into()), ..Identity::default() });
        assert_eq!(normalised.postcode, Some(Postcode { full: String::new(), district: "LS6".to_owned(), uk: true }));
        assert_eq!(
            warnings.iter().map(|w| (w.field.as_ref(), w.reason)).collect::<Vec<_>>(),
            [("postcode", "is a postcode district only; it is compared as a district")]
        );
        // A full postcode cut short is no district ("M1 1" is not M11).
        assert_eq!(normalise(&Identity { postcode: Some("M1 1".into()), ..Identity::default() }).0.postcode.map(|p| p.district), Some(String::new()));
        // Not an outward code: another country's postcode, compared as written.
        let (normalised, _) = normalise(&Identity { postcode: Some("75001".into()), ..Identity::default() });
        assert_eq!(normalised.postcode, Some(Postcode { full: "75001".to_owned(), district: String::new(), uk: false }));
        // A full postcode still is one.
        assert_eq!(normalise(&Identity { postcode: Some("LS6 2QB".into()), ..Identity::default() }).0.postcode.map(|p| p.district), Some("LS6".to_owned()));
    }

    #[test]
    fn names_fold_case_accents_titles_and_punctuation() {
        assert_eq!(fold_text("  Zoë  O'Brien-Smith "), "zoe obrien smith");
        assert_eq!(normalise_forename("Mr. JOHN paul"), Some("john".to_owned()));
        assert_eq!(normalise_forename("Bill"), Some("william".to_owned()));
        assert_eq!(normalise_forename("  "), None);
        assert_eq!(normalise_surname("Smith-Jones"), Some(("smithjones".to_owned(), vec!["smith".to_owned(), "jones".to_owned()])));
        assert_eq!(normalise_surname("Smith Jones"), normalise_surname("SMITH-JONES"));
        assert_eq!(normalise_surname("Dr Ødegård"), Some(("odegard".to_owned(), vec!["odegard".to_owned()])));
        // Capital sharp s lowers to a letter that folds in turn.
        assert_eq!(fold_text("STRAẞE"), "strasse");
        assert_eq!(fold_text("Straße"), fold_text("STRAẞE"));
        // Invisible characters inside a word neither split nor change it.
        assert_eq!(fold_text("Jay\u{ad}den"), "jayden");
        assert_eq!(fold_text("Jay\u{200b}den O\u{feff}'Brien"), "jayden obrien");
        assert_eq!(fold_text("ÆRØ ŁÐÞ"), "aero ldth");
    }

    #[test]
    fn postcodes_are_validated_with_their_district() {
        let p = normalise_postcode("sw1a 1aa").unwrap();
        assert_eq!((p.full.as_str(), p.district.as_str()), ("SW1A1AA", "SW1A"));
        assert_eq!(normalise_postcode("M1 1AE").unwrap().district, "M1");
        assert_eq!(normalise_postcode("B33 8TH").unwrap().district, "B33");
        assert_eq!(normalise_postcode("CR2 6XH").unwrap().district, "CR2");
        assert_eq!(normalise_postcode("DN55 1PT").unwrap().district, "DN55");
        assert!(normalise_postcode("12345").is_none());
        assert!(normalise_postcode("SW1A").is_none());
        assert!(normalise_postcode("SW1A 1A1").is_none());
    }

    #[test]
    fn nhs_numbers_are_checked_mod_11() {
        assert!(nhs_number_is_valid("943 476 5919"));
        assert!(nhs_number_is_valid("9434765919"));
        assert!(!nhs_number_is_valid("9434765918"));
        assert!(!nhs_number_is_valid("943476591"));
        assert!(!nhs_number_is_valid("abcdefghij"));
        // Every repeated digit passes mod 11: placeholders, never used.
        for digit in '0'..='9' {
            let placeholder: String = std::iter::repeat_n(digit, 10).collect();
            assert!(nhs_number_is_valid(&placeholder) && nhs_number_is_placeholder(&placeholder), "{placeholder}");
            let (normalised, warnings) = normalise(&Identity { nhs_number: Some(placeholder), ..Identity::default() });
            assert!(normalised.nhs_number.is_none() && warnings[0].reason.contains("placeholder"));
        }
        assert!(!nhs_number_is_placeholder("9434765919"));
        // A spreadsheet's text quoting is no part of the number; a prefix or
        // a note is, and is named as such (not as a failed check).
        for kept in ["'9434765919", "=\"9434765919\"", " 943-476-5919 "] {
            let (normalised, warnings) = normalise(&Identity { nhs_number: Some(kept.into()), ..Identity::default() });
            assert_eq!(normalised.nhs_number.as_deref(), Some("9434765919"), "{kept}: {warnings:?}");
        }
        for refused in ["NHS9434765919", "943 476 5919x"] {
            let (normalised, warnings) = normalise(&Identity { nhs_number: Some(refused.into()), ..Identity::default() });
            assert!(normalised.nhs_number.is_none() && warnings[0].reason.contains("other than digits"), "{refused}: {warnings:?}");
        }
    }

    #[test]
    fn bad_identifiers_become_warnings_not_values() {
        let identity =
            Identity { forename: Some("Amy".into()), postcode: Some("nowhere".into()), nhs_number: Some("1234567890".into()), ..Identity::default() };
        let (normalised, warnings) = normalise(&identity);
        // Not a UK postcode: compared only as written (no district).
        assert!(normalised.postcode.as_ref().is_some_and(|p| !p.uk && p.district.is_empty()));
        assert!(normalised.nhs_number.is_none());
        let fields: Vec<&str> = warnings.iter().map(|w| w.field.as_ref()).collect();
        assert_eq!(fields, ["postcode", "nhs_number"]);
    }
}
