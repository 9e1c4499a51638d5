//! Recording noise: how one person's identity drifts between records.

use rand::Rng;

use crate::NoiseLevel;

/// Base rates per row, scaled by the noise level.
pub struct Rates {
    pub typo_forename: f64,
    pub typo_surname: f64,
    pub nickname: f64,
    pub surname_change: f64,
    pub day_month_swap: f64,
    pub wrong_day: f64,
    pub moved: f64,
    pub missing_postcode: f64,
    pub missing_dob: f64,
    pub missing_sex: f64,
    pub name_swap: f64,
    pub half_surname: f64,
    pub duplicate_person_id: f64,
    pub invalid_nhs: f64,
}

impl Rates {
    pub fn for_level(level: NoiseLevel) -> Rates {
        let f = level.factor();
        Rates {
            typo_forename: 0.03 * f,
            typo_surname: 0.03 * f,
            nickname: 0.06 * f,
            surname_change: 0.02 * f,
            day_month_swap: 0.02 * f,
            wrong_day: 0.01 * f,
            moved: 0.08 * f,
            missing_postcode: 0.05 * f,
            missing_dob: 0.02 * f,
            missing_sex: 0.02 * f,
            name_swap: 0.01 * f,
            half_surname: (0.3 * f).min(0.9),
            duplicate_person_id: 0.04 * f,
            invalid_nhs: 0.01 * f,
        }
    }
}

/// One keyboard-style typo: substitute, delete, insert or transpose.
pub fn typo(rng: &mut impl Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    if chars.len() < 3 {
        return text.to_owned();
    }
    let at = rng.gen_range(1..chars.len() - 1);
    let letter = char::from(b'a' + rng.gen_range(0..26u8));
    match rng.gen_range(0..4) {
        0 => chars[at] = letter,
        1 => {
            chars.remove(at);
        }
        2 => chars.insert(at, letter),
        _ => chars.swap(at, at + 1),
    }
    chars.into_iter().collect()
}
