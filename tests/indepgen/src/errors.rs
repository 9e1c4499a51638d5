//! Recording errors: the ways a name or a date of birth comes out wrong when
//! someone types it into a case system.

use rand::Rng;

use crate::calendar::{days_in_month, is_leap, render_parts, Date};

/// Keys next to each letter on a UK QWERTY keyboard.
const NEAR_KEYS: [&str; 26] = [
    "qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko", "huikmn", "jiolm", "kop", "njk", "bhjm", "iklp", "ol", "wa", "edft",
    "awedxz", "rfgy", "yhji", "cfgb", "qase", "zsdc", "tghu", "asx",
];

/// Keys next to `c` (lower case).
fn neighbours(c: char) -> Vec<char> {
    let index = (c.to_ascii_lowercase() as usize).wrapping_sub('a' as usize);
    NEAR_KEYS.get(index).map(|keys| keys.chars().collect()).unwrap_or_default()
}

fn same_case(model: char, c: char) -> char {
    if model.is_uppercase() {
        c.to_ascii_uppercase()
    } else {
        c
    }
}

/// One slip of the fingers: a neighbouring key instead of the right one, a
/// letter left out, a neighbouring key pressed as well, or two adjacent
/// letters swapped. Names shorter than three letters are left alone.
pub fn typo(rng: &mut impl Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let letters: Vec<usize> = (0..chars.len()).filter(|&i| chars[i].is_ascii_alphabetic()).collect();
    if letters.len() < 3 {
        return text.to_owned();
    }
    // Slips at the first letter are rarer than later ones.
    let first = usize::from(rng.gen::<f64>() < 0.9);
    let i = letters[rng.gen_range(first..letters.len())];
    let near = neighbours(chars[i]);
    let key = (!near.is_empty()).then(|| near[rng.gen_range(0..near.len())]);
    match (rng.gen_range(0..4), key) {
        (0, Some(key)) => chars[i] = same_case(chars[i], key),
        (1, _) => drop(chars.remove(i)),
        (2, Some(key)) => chars.insert(i + usize::from(rng.gen::<bool>()), key),
        _ => {
            let j = match i + 1 < chars.len() && chars[i + 1].is_ascii_alphabetic() {
                true => i + 1,
                false if i > 0 => i - 1,
                false => return text.to_owned(),
            };
            let (a, b) = (i.min(j), i.max(j));
            let (ca, cb) = (chars[a], chars[b]);
            (chars[a], chars[b]) = (same_case(ca, cb.to_ascii_lowercase()), same_case(cb, ca.to_ascii_lowercase()));
        }
    }
    chars.into_iter().collect()
}

/// Sound-alike spellings: (written, heard as). Each applies in either
/// direction; `^` anchors at the start of the name.
const SOUNDS: &[(&str, &str)] = &[
    ("ph", "f"),
    ("ck", "k"),
    ("^c", "^k"),
    ("ey", "ie"),
    ("ie", "y"),
    ("ee", "ea"),
    ("ai", "ay"),
    ("ou", "ow"),
    ("th", "t"),
    ("z", "s"),
    ("ine", "yn"),
    ("ah", "a"),
    ("sh", "ch"),
    ("ae", "ay"),
];

/// Capital after the start, a hyphen, an apostrophe or a space.
fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        out.extend(if start { c.to_uppercase().collect::<Vec<_>>() } else { vec![c] });
        start = matches!(c, '-' | '\'' | ' ');
    }
    out
}

/// A spelling that sounds the same: ph/f, ck/k, C/K at the start, ey/ie,
/// doubled letters written single or single ones doubled, and the like.
pub fn phonetic(rng: &mut impl Rng, text: &str) -> String {
    let lower = format!("^{}", text.to_lowercase());
    let mut options: Vec<(usize, usize, String)> = Vec::new();
    for (a, b) in SOUNDS {
        for (from, to) in [(a, b), (b, a)] {
            if let Some(at) = lower.find(from) {
                options.push((at, from.len(), (*to).to_owned()));
            }
        }
    }
    let chars: Vec<(usize, char)> = lower.char_indices().collect();
    for w in chars.windows(2) {
        let ((at, c), (_, d)) = (w[0], w[1]);
        if c == d && c.is_ascii_alphabetic() {
            options.push((at, 2, c.to_string()));
        } else if at > 1 && "lnrtsmp".contains(c) && !"lnrtsmp".contains(d) && d != c {
            options.push((at, 1, format!("{c}{c}")));
        }
    }
    if options.is_empty() {
        return text.to_owned();
    }
    let (at, len, with) = &options[rng.gen_range(0..options.len())];
    let changed = format!("{}{}{}", &lower[..*at], with, &lower[at + len..]);
    title_case(changed.trim_start_matches('^'))
}

/// A wrong but real date of birth: day and month swapped (when that still
/// makes a date), a day a little out, or a year off by one (or ten).
pub fn wrong_dob(rng: &mut impl Rng, dob: Date, kind: u32) -> Date {
    match kind {
        0 if dob.day <= 12 && dob.day != dob.month => Date { day: dob.month, month: dob.day, ..dob },
        0 | 1 => {
            let shift = rng.gen_range(1..=3) * if rng.gen::<bool>() { 1 } else { -1 };
            let day = (dob.day as i32 + shift).clamp(1, days_in_month(dob.year, dob.month) as i32);
            Date { day: day as u32, ..dob }
        }
        _ => {
            let shift = if rng.gen::<f64>() < 0.85 { 1 } else { 10 };
            let year = dob.year + if rng.gen::<bool>() { shift } else { -shift };
            Date::new(year, dob.month, dob.day).unwrap_or(Date { year, day: 28, ..dob })
        }
    }
}

/// A date of birth that cannot exist, written in `format`: day and month
/// swapped with the day above 12 (month 13 or more), 30 or 31 February,
/// 29 February in a common year, or 31 of a 30-day month. Month numbers
/// above 12 are used only where the format writes the month as a number.
pub fn impossible_dob(rng: &mut impl Rng, dob: Date, format: &str) -> String {
    let numeric_month = format.contains("%m");
    let (day, month) = match rng.gen_range(0..4) {
        0 if numeric_month && dob.day > 12 => (dob.month, dob.day),
        0 if numeric_month => (dob.day, 13),
        1 if !is_leap(dob.year) => (29, 2),
        2 => (31, [4, 6, 9, 11][rng.gen_range(0..4)]),
        _ => (rng.gen_range(30..=31), 2),
    };
    render_parts(day, month, dob.year, format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{read, Reading};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn slips_change_names_and_impossible_dates_are_impossible() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let dob = Date { year: 2011, month: 3, day: 14 };
        let mut changed = 0;
        for _ in 0..200 {
            changed += usize::from(typo(&mut rng, "Jessica") != "Jessica");
            changed += usize::from(phonetic(&mut rng, "Stephen") != "Stephen");
            for format in ["%d/%m/%Y", "%Y-%m-%d", "%d-%b-%Y"] {
                let text = impossible_dob(&mut rng, dob, format);
                assert_eq!(read(&text, format), Reading::Impossible, "{text}");
            }
        }
        assert!(changed > 380);
        assert_eq!(neighbours('A'), vec!['q', 'w', 's', 'z']);
        assert!(neighbours('é').is_empty());
        assert_eq!(title_case("o'brien-smith"), "O'Brien-Smith");
    }
}
