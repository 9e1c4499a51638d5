//! Hardened Bloom-filter encodings (cryptographic long-term keys, CLKs) of a
//! person's name, date-of-birth and postcode q-grams, for fuzzy similarity
//! (Dice coefficient) at the node.
//!
//! Hardening against frequency attacks on the encodings:
//! * positions come from a keyed PRF (BLAKE3 keyed hash, extended output),
//!   independently per position ("random hashing"), not from double hashing,
//!   whose structure known pattern-mining attacks exploit;
//! * each attribute is salted with its own tag, so the same bigram in a
//!   forename and a surname sets unrelated bits;
//! * the number of hash functions per attribute is chosen so that each
//!   attribute's bit contribution is balanced rather than dominated by names.

use crate::keys::Keys;
use crate::normalise::NormalisedIdentity;

/// Length of every encoding in bits; a multiple of 64 so the node can compare
/// packed `u64` words.
pub const BLOOM_BITS: usize = 1024;

/// Parameters of the encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BloomParams {
    /// Hash positions per forename bigram.
    pub forename_k: usize,
    /// Hash positions per surname bigram.
    pub surname_k: usize,
    /// Hash positions per date-of-birth token.
    pub dob_k: usize,
    /// Hash positions per postcode token.
    pub postcode_k: usize,
}

impl Default for BloomParams {
    fn default() -> BloomParams {
        BloomParams { forename_k: 20, surname_k: 20, dob_k: 20, postcode_k: 15 }
    }
}

/// Padded bigrams of a folded name: `_a`, `am`, `my`, `y_` for "amy".
pub fn bigrams(text: &str) -> Vec<[char; 2]> {
    let mut chars: Vec<char> = Vec::with_capacity(text.len() + 2);
    chars.push('_');
    chars.extend(text.chars().filter(|c| !c.is_whitespace()));
    chars.push('_');
    chars.windows(2).map(|pair| [pair[0], pair[1]]).collect()
}

struct Encoder<'a> {
    key: &'a [u8; 32],
    bits: Vec<u64>,
}

impl Encoder<'_> {
    fn add(&mut self, attribute: u8, token: &[u8], k: usize) {
        let mut hasher = blake3::Hasher::new_keyed(self.key);
        hasher.update(&[attribute]);
        hasher.update(token);
        let mut reader = hasher.finalize_xof();
        let mut buffer = [0u8; 64];
        let mut remaining = k;
        while remaining > 0 {
            let take = remaining.min(buffer.len() / 2);
            reader.fill(&mut buffer[..take * 2]);
            for pair in buffer[..take * 2].chunks_exact(2) {
                let position = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % BLOOM_BITS;
                self.bits[position / 64] |= 1u64 << (position % 64);
            }
            remaining -= take;
        }
    }
}

const FORENAME: u8 = 1;
const SURNAME: u8 = 2;
const DOB_DAY: u8 = 3;
const DOB_MONTH: u8 = 4;
const DOB_YEAR: u8 = 5;
const POSTCODE_DISTRICT: u8 = 6;
const POSTCODE_FULL: u8 = 7;

/// Encodes one identity into `BLOOM_BITS / 8` bytes (little-endian `u64`
/// words).
pub fn encode(keys: &Keys, identity: &NormalisedIdentity, params: &BloomParams) -> Vec<u8> {
    let mut encoder = Encoder { key: &keys.bloom_key, bits: vec![0u64; BLOOM_BITS / 64] };
    let mut token = [0u8; 8];
    let mut add_bigrams = |encoder: &mut Encoder, attribute: u8, text: &str, k: usize| {
        for [a, b] in bigrams(text) {
            let mut length = a.encode_utf8(&mut token[..4]).len();
            length += b.encode_utf8(&mut token[length..]).len();
            encoder.add(attribute, &token[..length], k);
        }
    };
    if let Some(forename) = &identity.forename {
        add_bigrams(&mut encoder, FORENAME, forename, params.forename_k);
    }
    if let Some(surname) = &identity.surname {
        add_bigrams(&mut encoder, SURNAME, surname, params.surname_k);
    }
    if let Some(dob) = identity.dob_parts {
        if let Some(day) = dob.day {
            encoder.add(DOB_DAY, &day.to_le_bytes(), params.dob_k);
        }
        if let Some(month) = dob.month {
            encoder.add(DOB_MONTH, &month.to_le_bytes(), params.dob_k);
        }
        if let Some(year) = dob.year {
            encoder.add(DOB_YEAR, &year.to_le_bytes(), params.dob_k);
        }
    }
    if let Some(postcode) = &identity.postcode {
        if postcode.uk {
            encoder.add(POSTCODE_DISTRICT, postcode.district.as_bytes(), params.postcode_k);
        }
        if !postcode.full.is_empty() {
            encoder.add(POSTCODE_FULL, postcode.full.as_bytes(), params.postcode_k);
        }
    }
    encoder.bits.iter().flat_map(|word| word.to_le_bytes()).collect()
}

/// Dice coefficient of two encodings of equal length: 2|A∩B| / (|A|+|B|).
pub fn dice(a: &[u8], b: &[u8]) -> f64 {
    let mut common = 0u32;
    let mut total = 0u32;
    for (x, y) in a.iter().zip(b) {
        common += (x & y).count_ones();
        total += x.count_ones() + y.count_ones();
    }
    if total == 0 {
        0.0
    } else {
        2.0 * f64::from(common) / f64::from(total)
    }
}
