//! Packed Bloom encodings and the Dice kernel.
//!
//! An encoding is 1024 bits held as sixteen `u64` words with its popcount
//! cached, so a Dice coefficient costs one AND and one popcount per word:
//! `2 |A ∩ B| / (|A| + |B|)`. [`dice_many`] compares one encoding with many;
//! on x86-64 it uses AVX-512 `VPOPCNTQ` or the `POPCNT` instruction when the
//! processor has them (detected at run time) and portable code otherwise.

/// Words in an encoding.
pub const WORDS: usize = 16;
/// Bits in an encoding.
pub const BITS: usize = WORDS * 64;

/// One packed encoding.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Bloom {
    words: [u64; WORDS],
}

impl std::fmt::Debug for Bloom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the bits: an encoding is a pseudonym.
        write!(f, "Bloom({} bits set)", self.ones())
    }
}

impl Bloom {
    /// An encoding with no bits set.
    pub const EMPTY: Bloom = Bloom { words: [0; WORDS] };

    /// Reads little-endian words; `None` unless exactly `BITS / 8` bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Bloom> {
        if bytes.len() != BITS / 8 {
            return None;
        }
        let mut words = [0u64; WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut array = [0u8; 8];
            array.copy_from_slice(chunk);
            *word = u64::from_le_bytes(array);
        }
        Some(Bloom { words })
    }

    /// From words.
    pub fn from_words(words: [u64; WORDS]) -> Bloom {
        Bloom { words }
    }

    /// The words.
    pub fn words(&self) -> &[u64; WORDS] {
        &self.words
    }

    /// Bits set.
    pub fn ones(&self) -> u32 {
        self.words.iter().map(|word| word.count_ones()).sum()
    }

    /// True when no bit is set (no identity was encoded).
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|word| *word == 0)
    }

    /// Whether bit `index` (0..BITS) is set.
    pub fn bit(&self, index: usize) -> bool {
        self.words[index / 64] >> (index % 64) & 1 == 1
    }
}

/// Dice coefficient from a common count and the two popcounts.
#[inline]
pub fn dice_from_counts(common: u32, ones_a: u32, ones_b: u32) -> f32 {
    let total = ones_a + ones_b;
    if total == 0 {
        0.0
    } else {
        2.0 * common as f32 / total as f32
    }
}

/// Dice coefficient of two encodings (portable).
pub fn dice(a: &Bloom, b: &Bloom) -> f32 {
    let common: u32 = a.words.iter().zip(&b.words).map(|(x, y)| (x & y).count_ones()).sum();
    dice_from_counts(common, a.ones(), b.ones())
}

/// Which implementation [`dice_many`] uses on this processor.
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if kernel::has_avx512() {
            return "avx512-vpopcntq";
        }
        if std::arch::is_x86_feature_detected!("popcnt") {
            return "popcnt";
        }
    }
    "portable"
}

/// Dice coefficients of `query` against every encoding in `candidates`, whose
/// popcounts are `ones` (same length). Results are appended to `out`.
pub fn dice_many(query: &Bloom, candidates: &[Bloom], ones: &[u32], out: &mut Vec<f32>) {
    let start = out.len();
    out.resize(start + candidates.len(), 0.0);
    let common = &mut out[start..];
    common_counts(query, candidates, common);
    let query_ones = query.ones();
    for ((slot, &ones_b), _) in common.iter_mut().zip(ones).zip(candidates) {
        let shared = *slot as u32;
        *slot = dice_from_counts(shared, query_ones, ones_b);
    }
}

/// Writes `|query ∩ candidate|` (as `f32`) for each candidate into `out`.
fn common_counts(query: &Bloom, candidates: &[Bloom], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if kernel::has_avx512() {
            kernel::avx512(query, candidates, out);
            return;
        }
        if std::arch::is_x86_feature_detected!("popcnt") {
            kernel::popcnt(query, candidates, out);
            return;
        }
    }
    portable(query, candidates, out);
}

fn portable(query: &Bloom, candidates: &[Bloom], out: &mut [f32]) {
    for (slot, candidate) in out.iter_mut().zip(candidates) {
        let common: u32 = query.words.iter().zip(&candidate.words).map(|(x, y)| (x & y).count_ones()).sum();
        *slot = common as f32;
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod kernel {
    //! The only unsafe code in Braid: calls into functions compiled for CPU
    //! features, made only after run-time detection confirms the features,
    //! and cache prefetch hints.
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi64, _mm512_and_si512, _mm512_loadu_si512, _mm512_popcnt_epi64, _mm512_reduce_add_epi64, _mm_prefetch, _MM_HINT_T0,
    };

    #[inline]
    pub(super) fn prefetch(start: *const i8, bytes: usize) {
        let mut offset = 0;
        while offset < bytes {
            // SAFETY: a prefetch is a hint: it never faults and never reads
            // into the program; SSE is part of every x86-64 processor. The
            // address stays within (or one line past) a live reference.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
            offset += 64;
        }
    }

    use super::{Bloom, WORDS};

    pub(super) fn has_avx512() -> bool {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
    }

    pub(super) fn avx512(query: &Bloom, candidates: &[Bloom], out: &mut [f32]) {
        // SAFETY: callers check `has_avx512()` first.
        unsafe { avx512_inner(query, candidates, out) }
    }

    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn avx512_inner(query: &Bloom, candidates: &[Bloom], out: &mut [f32]) {
        let q = query.words.as_ptr() as *const __m512i;
        // SAFETY: a Bloom is 128 bytes (two 512-bit vectors); unaligned loads
        // are used, so alignment is not assumed.
        let (q0, q1) = unsafe { (_mm512_loadu_si512(q), _mm512_loadu_si512(q.add(1))) };
        for (slot, candidate) in out.iter_mut().zip(candidates) {
            let c = candidate.words.as_ptr() as *const __m512i;
            // SAFETY: as above.
            let (c0, c1) = unsafe { (_mm512_loadu_si512(c), _mm512_loadu_si512(c.add(1))) };
            let counts = _mm512_add_epi64(_mm512_popcnt_epi64(_mm512_and_si512(q0, c0)), _mm512_popcnt_epi64(_mm512_and_si512(q1, c1)));
            *slot = _mm512_reduce_add_epi64(counts) as f32;
        }
    }

    pub(super) fn popcnt(query: &Bloom, candidates: &[Bloom], out: &mut [f32]) {
        // SAFETY: callers check for the `popcnt` feature first.
        unsafe { popcnt_inner(query, candidates, out) }
    }

    #[target_feature(enable = "popcnt")]
    fn popcnt_inner(query: &Bloom, candidates: &[Bloom], out: &mut [f32]) {
        for (slot, candidate) in out.iter_mut().zip(candidates) {
            let mut common = 0u32;
            for i in 0..WORDS {
                common += (query.words[i] & candidate.words[i]).count_ones();
            }
            *slot = common as f32;
        }
    }
}

/// Asks the processor to start loading the memory of `value` into cache,
/// so that several independent loads overlap instead of waiting one after
/// another. Has no effect on correctness.
#[inline]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    kernel::prefetch((value as *const T).cast::<i8>(), std::mem::size_of::<T>());
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(seed: u64) -> Bloom {
        let mut state = seed;
        let mut words = [0u64; WORDS];
        for word in &mut words {
            state = crate::mix(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
            *word = state & crate::mix(state ^ 0x1234);
        }
        Bloom::from_words(words)
    }

    #[test]
    fn every_kernel_agrees_with_the_portable_definition() {
        let blooms: Vec<Bloom> = (0..300).map(pseudo_random).collect();
        let ones: Vec<u32> = blooms.iter().map(Bloom::ones).collect();
        let query = pseudo_random(7);
        let mut out = Vec::new();
        dice_many(&query, &blooms, &ones, &mut out);
        let mut reference = vec![0.0; blooms.len()];
        portable(&query, &blooms, &mut reference);
        for (i, b) in blooms.iter().enumerate() {
            assert!((out[i] - dice(&query, b)).abs() < 1e-6, "kernel {}", kernel_name());
            let expected = dice_from_counts(reference[i] as u32, query.ones(), b.ones());
            assert!((out[i] - expected).abs() < 1e-6);
        }
        assert_eq!(dice(&query, &query), 1.0);
        assert_eq!(dice(&Bloom::EMPTY, &Bloom::EMPTY), 0.0);
    }

    #[test]
    fn bytes_round_trip_and_wrong_lengths_are_refused() {
        let bloom = pseudo_random(3);
        let bytes: Vec<u8> = bloom.words().iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(Bloom::from_bytes(&bytes), Some(bloom));
        assert_eq!(Bloom::from_bytes(&bytes[1..]), None);
        assert!(!format!("{bloom:?}").contains(&format!("{:x}", bloom.words()[0])));
    }
}
