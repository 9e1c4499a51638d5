//! Field tokens as the linker holds them, and the comparison of two records
//! field by field: agreement, disagreement, or nothing to compare.
//!
//! The agency sends short keyed hashes (see `braid_pseudonym::tokens`): the
//! node can only test them for equality. Tokens salted with the person's
//! phonetic name class (the date-of-birth windows, sex, district) are
//! comparable only when the two records' name classes are equal, and those
//! salted with the date of birth only when the dates are.

use crate::model::at;

/// How many date-of-birth windows a record carries.
pub const WINDOWS: usize = 4;
/// Most other-name tokens kept per record.
pub const OTHER_NAMES: usize = 4;
/// Most identifier tokens kept per record.
pub const IDS: usize = 4;

/// One record's field tokens; 0 means not recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Forename and surname.
    pub name: u32,
    /// Both names in either order.
    pub name_any_order: u32,
    /// Phonetic name class.
    pub name_phonetic: u32,
    /// Forename with surname parts and alternative surnames.
    pub other_names: [u32; OTHER_NAMES],
    /// Forename salted with the date of birth.
    pub forename_by_dob: u32,
    /// Surname salted with the date of birth.
    pub surname_by_dob: u32,
    /// The whole forename as a prefix and as a suffix (salted with surname
    /// and date of birth).
    pub forename_whole: [u32; 2],
    /// The forename's prefixes then suffixes of 3 to 6 letters, salted
    /// likewise.
    pub forename_parts: [u32; 8],
    /// Date of birth.
    pub dob: u32,
    /// Date of birth, day and month either way.
    pub dob_any_order: u32,
    /// Two-year windows of the date of birth (salted with the name class).
    pub dob_windows: [u32; WINDOWS],
    /// Sex salted with the name class.
    pub sex_by_name: u32,
    /// Sex salted with the date of birth.
    pub sex_by_dob: u32,
    /// Full postcode.
    pub postcode: u32,
    /// Postcode district salted with the name class.
    pub district: u32,
    /// Address line.
    pub address: u32,
    /// Other identifiers: (kind, value).
    pub ids: [(u32, u32); IDS],
    /// The NHS number's key (low bits of its match-key fingerprint), filled
    /// in by the linker.
    pub nhs: u32,
}

/// Whether an identifier comparison agrees, disagrees or cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdState {
    /// One identifier is equal on both sides.
    Agree,
    /// The same kind of identifier differs and none agrees.
    Disagree,
    /// No kind of identifier is recorded on both sides.
    None,
}

impl Tokens {
    fn has_windows(&self) -> bool {
        self.dob_windows[0] != 0
    }

    /// Whether anything in this record can raise a hard conflict with
    /// another (an NHS number, or a date of birth with its windows).
    pub fn can_conflict(&self) -> bool {
        self.nhs != 0 || self.has_windows()
    }

    /// Whether the two look like twins: the same surname and date of birth,
    /// forenames recorded on both sides that are different names (not the
    /// same, not a swap, not a variant or phonetically alike).
    pub fn twin_like(&self, other: &Tokens) -> bool {
        self.forename_by_dob != 0
            && other.forename_by_dob != 0
            && self.forename_by_dob != other.forename_by_dob
            && self.surname_by_dob != 0
            && self.surname_by_dob == other.surname_by_dob
            && self.name_level(other) == 4
    }

    /// Whether the record says the person is male or female (the only
    /// sexes the tokens carry).
    pub fn has_sex(&self) -> bool {
        self.sex_by_name != 0 || self.sex_by_dob != 0
    }

    /// Whether both full names are recorded and share nothing: not equal,
    /// not swapped, no surname part or alternative surname in common, not
    /// phonetically alike, no short form, and neither the surname nor the
    /// forename agrees under one date of birth.
    pub fn names_differ(&self, other: &Tokens) -> bool {
        self.name_level(other) == 6
    }

    /// NHS number and other identifiers compared.
    pub fn ids_state(&self, other: &Tokens) -> IdState {
        let mut disagree = false;
        if self.nhs != 0 && other.nhs != 0 {
            if self.nhs == other.nhs {
                return IdState::Agree;
            }
            disagree = true;
        }
        for (kind, value) in self.ids.iter().filter(|(kind, _)| *kind != 0) {
            for (other_kind, other_value) in other.ids.iter().filter(|(k, _)| k == kind) {
                debug_assert_eq!(kind, other_kind);
                if value == other_value {
                    return IdState::Agree;
                }
                disagree = true;
            }
        }
        if disagree {
            IdState::Disagree
        } else {
            IdState::None
        }
    }

    /// How many date-of-birth windows the two share, when they can be
    /// compared (same name class, both recorded).
    pub fn shared_windows(&self, other: &Tokens) -> Option<usize> {
        if self.name_phonetic == 0 || self.name_phonetic != other.name_phonetic || !self.has_windows() || !other.has_windows() {
            return None;
        }
        Some(self.dob_windows.iter().zip(&other.dob_windows).filter(|(a, b)| a == b).count())
    }

    /// True when both dates of birth are recorded and are shown to be more
    /// than eighteen months apart (in particular, whenever they are more
    /// than two years apart and the names are of one class).
    pub fn dob_apart(&self, other: &Tokens) -> bool {
        self.dob_any_order != other.dob_any_order && self.shared_windows(other) == Some(0)
    }

    fn names_of(&self) -> impl Iterator<Item = u32> + '_ {
        [self.name, self.name_any_order].into_iter().chain(self.other_names.iter().copied()).filter(|t| *t != 0)
    }

    /// Whether one forename is a short form of the other: the whole of one
    /// is a prefix ("Alex", "Alexander") or a suffix ("Seun", "Oluwaseun")
    /// of the other, with the same surname and date of birth.
    pub fn forename_short_form(&self, other: &Tokens) -> bool {
        let within = |short: &Tokens, long: &Tokens| {
            (short.forename_whole[0] != 0 && long.forename_parts[..4].contains(&short.forename_whole[0]))
                || (short.forename_whole[1] != 0 && long.forename_parts[4..].contains(&short.forename_whole[1]))
        };
        within(self, other) || within(other, self)
    }

    /// The name level (see [`crate::model::NAME`]).
    pub fn name_level(&self, other: &Tokens) -> u8 {
        let same = |a: u32, b: u32| a != 0 && a == b;
        if self.name != 0 && other.name != 0 {
            if self.name == other.name {
                return 0;
            }
            if self.name_any_order == other.name_any_order {
                return 1;
            }
            if self.names_of().any(|a| other.names_of().any(|b| a == b)) {
                return 2;
            }
            if self.name_phonetic == other.name_phonetic || self.forename_short_form(other) {
                return 3;
            }
        }
        if same(self.surname_by_dob, other.surname_by_dob) {
            4
        } else if same(self.forename_by_dob, other.forename_by_dob) {
            5
        } else if self.name != 0 && other.name != 0 {
            6
        } else {
            7
        }
    }

    /// The date-of-birth level (see [`crate::model::DOB`]).
    pub fn dob_level(&self, other: &Tokens) -> u8 {
        if self.dob == 0 || other.dob == 0 {
            return 8;
        }
        if self.dob == other.dob {
            return 0;
        }
        if self.dob_any_order == other.dob_any_order {
            return 1;
        }
        match self.shared_windows(other) {
            Some(4) => 2,
            Some(3) => 3,
            Some(2) => 4,
            Some(1) => 5,
            Some(_) => 6,
            None => 7,
        }
    }

    /// The sex level (see [`crate::model::SEX`]): comparable through the
    /// name class or the date of birth.
    pub fn sex_level(&self, other: &Tokens) -> u8 {
        let mut comparable = false;
        if self.sex_by_name != 0 && other.sex_by_name != 0 && self.name_phonetic == other.name_phonetic {
            if self.sex_by_name == other.sex_by_name {
                return 0;
            }
            comparable = true;
        }
        if self.sex_by_dob != 0 && other.sex_by_dob != 0 && self.dob_any_order == other.dob_any_order {
            if self.sex_by_dob == other.sex_by_dob {
                return 0;
            }
            comparable = true;
        }
        if comparable {
            1
        } else {
            2
        }
    }

    /// The place level (see [`crate::model::PLACE`]).
    pub fn place_level(&self, other: &Tokens) -> u8 {
        let both = |a: u32, b: u32| a != 0 && b != 0;
        if (both(self.postcode, other.postcode) && self.postcode == other.postcode) || (both(self.address, other.address) && self.address == other.address) {
            return 0;
        }
        if both(self.district, other.district) && self.district == other.district && self.name_phonetic == other.name_phonetic {
            return 1;
        }
        if both(self.postcode, other.postcode) || both(self.address, other.address) {
            2
        } else {
            3
        }
    }

    /// The identifier level (see [`crate::model::IDS`]).
    pub fn ids_level(&self, other: &Tokens) -> u8 {
        match self.ids_state(other) {
            IdState::Agree => 0,
            IdState::Disagree => 1,
            IdState::None => 2,
        }
    }

    /// Fills the levels the tokens decide (all but Dice and person).
    pub fn fill_levels(&self, other: &Tokens, levels: &mut crate::model::Levels) {
        levels[at::IDS] = self.ids_level(other);
        levels[at::NAME] = self.name_level(other);
        levels[at::DOB] = self.dob_level(other);
        levels[at::SEX] = self.sex_level(other);
        levels[at::PLACE] = self.place_level(other);
    }
}

impl Tokens {
    /// Words in [`Tokens::to_words`].
    pub const WORDS: usize = 38;

    /// The tokens as a flat list of words, for storage (the NHS key is
    /// left out: it comes from the match keys).
    pub fn to_words(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(Tokens::WORDS);
        out.extend([self.name, self.name_any_order, self.name_phonetic]);
        out.extend(self.other_names);
        out.extend([self.forename_by_dob, self.surname_by_dob, self.dob, self.dob_any_order]);
        out.extend(self.dob_windows);
        out.extend([self.sex_by_name, self.sex_by_dob, self.postcode, self.district, self.address]);
        for (kind, value) in self.ids {
            out.extend([kind, value]);
        }
        out.extend(self.forename_whole);
        out.extend(self.forename_parts);
        out
    }

    /// Reads [`Tokens::to_words`]; empty words are no tokens, any other
    /// length is `None`.
    pub fn from_words(words: &[u32]) -> Option<Tokens> {
        if words.is_empty() {
            return Some(Tokens::default());
        }
        if words.len() != Tokens::WORDS {
            return None;
        }
        let w = |i: usize| words[i];
        let four = |at: usize| [w(at), w(at + 1), w(at + 2), w(at + 3)];
        Some(Tokens {
            name: w(0),
            name_any_order: w(1),
            name_phonetic: w(2),
            other_names: four(3),
            forename_by_dob: w(7),
            surname_by_dob: w(8),
            dob: w(9),
            dob_any_order: w(10),
            dob_windows: four(11),
            sex_by_name: w(15),
            sex_by_dob: w(16),
            postcode: w(17),
            district: w(18),
            address: w(19),
            ids: [(w(20), w(21)), (w(22), w(23)), (w(24), w(25)), (w(26), w(27))],
            forename_whole: [w(28), w(29)],
            forename_parts: [w(30), w(31), w(32), w(33), w(34), w(35), w(36), w(37)],
            nhs: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_words() {
        let mut t = Tokens { name: 1, dob: 9, address: 20, ..Tokens::default() };
        t.dob_windows = [3, 4, 5, 6];
        t.ids[1] = (7, 8);
        t.other_names[3] = 11;
        assert_eq!(Tokens::from_words(&t.to_words()), Some(t));
        assert_eq!(Tokens::from_words(&[]), Some(Tokens::default()));
        assert_eq!(Tokens::from_words(&[1, 2]), None);
    }

    #[test]
    fn a_surname_part_in_either_order_meets_the_name_in_either_order() {
        // "Okafor" / "Chinedu Emeka" against "Chinedu" / "Okafor": the
        // agency sends the forename with each surname part in either order.
        let usual = Tokens { name: 1, name_any_order: 2, name_phonetic: 3, ..Tokens::default() };
        let mut swapped = Tokens { name: 4, name_any_order: 5, name_phonetic: 6, ..Tokens::default() };
        assert_eq!(usual.name_level(&swapped), 6);
        swapped.other_names = [7, 8, 2, 9];
        assert_eq!(usual.name_level(&swapped), 2);
        assert_eq!(swapped.name_level(&usual), 2);
    }
}
