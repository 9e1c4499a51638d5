//! Fellegi–Sunter scoring over per-field comparison levels: each compared
//! pair is reduced to an agreement pattern — identifiers, name, the Dice band
//! of the encodings, date of birth, sex, place, and agency/person ref — each
//! with levels for agreement, partial agreement, *disagreement* and "not
//! comparable" (a field missing on either side, which is no evidence either
//! way). m (how often true matches show a level) and u (how often
//! non-matches do) per level, and the match share, are estimated by
//! expectation–maximisation from the pattern counts of the pairs the node
//! itself compares, with no ground truth, and refitted as the counts grow.
//! Until enough pairs have been seen, documented starting values are used
//! (they are also EM's starting point).
//!
//! The name level and the Dice band are dependent (a misspelt name lowers
//! both), so they form one joint factor with its own m and u per
//! combination; the other features are taken as conditionally independent.
//! After each fit the weights are kept on the side their meaning puts them:
//! agreement never counts against a pair and disagreement never for it, so a
//! fit that drifts on an odd data set cannot turn a conflict into evidence.
//! Within each name level the Dice bands are kept in order in every M step
//! (adjacent bands pooled where a lower one would weigh more), so a closer
//! pair of encodings never counts for less than a further one — above the
//! bands that level's sign holds at or below zero.

/// A comparison feature and its levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// Name in explanations.
    pub name: &'static str,
    /// Level names; the index is the level.
    pub levels: &'static [&'static str],
}

/// NHS number and other identifiers: one of them agrees; the same kind of
/// identifier differs (and none agrees); or none is recorded on both sides.
pub const IDS: Feature = Feature { name: "identifiers", levels: &["agree", "disagree", "not-comparable"] };
/// Names: forename and surname exactly (nicknames resolved); in either
/// order; through a surname part or an alternative surname; by their
/// phonetic codes, or a forename's short form; the surname only, or the forename only (known when
/// the dates of birth agree); different; or not recorded on both sides.
pub const NAME: Feature = Feature {
    name: "name",
    levels: &["exact", "either-order", "other-surname", "phonetic-or-short-form", "surname-only", "forename-only", "differs", "not-comparable"],
};
/// Dice similarity band of the Bloom encodings.
pub const DICE: Feature = Feature {
    name: "encoding-dice",
    levels: &[">=0.95", "0.92-0.95", "0.88-0.92", "0.84-0.88", "0.80-0.84", "0.75-0.80", "0.70-0.75", "0.55-0.70", "0.40-0.55", "<0.40", "not-comparable"],
};
/// Date of birth: exact; day and month transposed; how far apart, from the
/// two-year windows (under 6, 12, 18 or 24 months; more than 18 months);
/// different, distance unknown; or not recorded on both sides.
pub const DOB: Feature = Feature {
    name: "date-of-birth",
    levels: &[
        "exact",
        "day-month-either-way",
        "within-6-months",
        "within-a-year",
        "within-18-months",
        "within-2-years",
        "over-18-months-apart",
        "differs",
        "not-comparable",
    ],
};
/// Sex: agrees, disagrees, or not comparable.
pub const SEX: Feature = Feature { name: "sex", levels: &["agree", "disagree", "not-comparable"] };
/// Place: full postcode or address line agrees; postcode district agrees;
/// differs; or not comparable.
pub const PLACE: Feature = Feature { name: "place", levels: &["postcode-or-address", "district", "differs", "not-comparable"] };
/// Whether the two involvements come from one agency, and whether that
/// agency gave them the same person ref.
pub const PERSON: Feature = Feature { name: "agency-person-ref", levels: &["other-agency", "same-agency-same-person", "same-agency-other-person"] };

/// Every feature, in pattern order.
pub const FEATURES: [Feature; 7] = [IDS, NAME, DICE, DOB, SEX, PLACE, PERSON];

/// Positions of the features in [`Levels`].
pub mod at {
    /// Identifiers.
    pub const IDS: usize = 0;
    /// Names.
    pub const NAME: usize = 1;
    /// Dice band.
    pub const DICE: usize = 2;
    /// Date of birth.
    pub const DOB: usize = 3;
    /// Sex.
    pub const SEX: usize = 4;
    /// Place.
    pub const PLACE: usize = 5;
    /// Agency and person ref.
    pub const PERSON: usize = 6;
}

/// The model's factors: groups of features whose levels are estimated
/// jointly.
pub const FACTORS: [&[usize]; 6] = [&[0], &[1, 2], &[3], &[4], &[5], &[6]];
const NF: usize = FACTORS.len();

fn factor_size(factor: usize) -> usize {
    FACTORS[factor].iter().map(|f| FEATURES[*f].levels.len()).product()
}

fn factor_level(factor: usize, levels: &Levels) -> usize {
    let mut index = 0;
    for &f in FACTORS[factor] {
        index = index * FEATURES[f].levels.len() + usize::from(levels[f]);
    }
    index
}

/// Lower bounds of the Dice bands (the last band is everything below).
pub const DICE_BANDS: [f32; 9] = [0.95, 0.92, 0.88, 0.84, 0.80, 0.75, 0.70, 0.55, 0.40];
// One level per band, one for everything below the last, one for not comparable.
const _: () = assert!(DICE.levels.len() == DICE_BANDS.len() + 2);

/// The Dice band of a similarity; `None` → not comparable.
pub fn dice_level(dice: Option<f32>) -> u8 {
    match dice {
        None => DICE_BANDS.len() as u8 + 1,
        Some(value) => DICE_BANDS.iter().position(|low| value >= *low).unwrap_or(DICE_BANDS.len()) as u8,
    }
}

/// The levels of one compared pair, one per feature.
pub type Levels = [u8; 7];

fn pattern_count() -> usize {
    FEATURES.iter().map(|f| f.levels.len()).product()
}

fn pattern_index(levels: &Levels) -> u32 {
    let mut index = 0u32;
    for (feature, level) in FEATURES.iter().zip(levels) {
        index = index * feature.levels.len() as u32 + u32::from(*level);
    }
    index
}

fn pattern_levels(mut index: u32) -> Levels {
    let mut levels = [0u8; 7];
    for (slot, feature) in levels.iter_mut().zip(FEATURES.iter()).rev() {
        let n = feature.levels.len() as u32;
        *slot = (index % n) as u8;
        index /= n;
    }
    levels
}

/// Whether a level means agreement (+1), disagreement (−1) or neither (0),
/// which bounds the sign of its weight after a fit.
fn level_sign(feature: usize, level: u8) -> i8 {
    match (feature, level) {
        (at::IDS, 0) | (at::SEX, 0) | (at::PLACE, 0) | (at::PLACE, 1) => 1,
        (at::IDS, 1) | (at::SEX, 1) | (at::PLACE, 2) => -1,
        (at::DOB, 0..=2) => 1,
        (at::DOB, 6) | (at::DOB, 7) => -1,
        _ => 0,
    }
}

/// The Dice band's distribution given the name level, for matches (m) and
/// non-matches (u): a swap of forename and surname scrambles the encoding,
/// a misspelling lowers it a little, two different people with one name
/// share its bigrams.
fn dice_given_name(matches: bool) -> [[f64; 11]; 8] {
    if matches {
        [
            [0.55, 0.15, 0.10, 0.07, 0.05, 0.03, 0.02, 0.015, 0.004, 0.001, 0.01],
            [0.01, 0.01, 0.01, 0.02, 0.03, 0.05, 0.07, 0.10, 0.29, 0.40, 0.01],
            [0.05, 0.05, 0.10, 0.15, 0.15, 0.15, 0.10, 0.14, 0.07, 0.03, 0.01],
            [0.10, 0.15, 0.20, 0.20, 0.15, 0.08, 0.05, 0.04, 0.015, 0.005, 0.01],
            [0.02, 0.03, 0.05, 0.10, 0.15, 0.20, 0.15, 0.17, 0.09, 0.03, 0.01],
            [0.02, 0.03, 0.05, 0.10, 0.15, 0.20, 0.15, 0.17, 0.09, 0.03, 0.01],
            [0.01, 0.02, 0.04, 0.08, 0.12, 0.15, 0.15, 0.22, 0.14, 0.06, 0.01],
            [0.05, 0.05, 0.10, 0.10, 0.10, 0.10, 0.10, 0.15, 0.10, 0.05, 0.10],
        ]
    } else {
        [
            [0.01, 0.02, 0.05, 0.15, 0.25, 0.25, 0.15, 0.08, 0.02, 0.01, 0.01],
            [0.001, 0.001, 0.002, 0.004, 0.01, 0.02, 0.05, 0.05, 0.20, 0.661, 0.001],
            [0.001, 0.005, 0.01, 0.03, 0.05, 0.10, 0.15, 0.30, 0.20, 0.153, 0.001],
            [0.005, 0.01, 0.03, 0.06, 0.10, 0.15, 0.15, 0.25, 0.15, 0.094, 0.001],
            [0.001, 0.002, 0.005, 0.01, 0.03, 0.07, 0.12, 0.30, 0.30, 0.161, 0.001],
            [0.001, 0.002, 0.005, 0.01, 0.03, 0.07, 0.12, 0.30, 0.30, 0.161, 0.001],
            [0.0005, 0.001, 0.002, 0.005, 0.01, 0.03, 0.06, 0.10, 0.25, 0.5405, 0.001],
            [0.01, 0.01, 0.02, 0.03, 0.05, 0.08, 0.10, 0.20, 0.20, 0.20, 0.10],
        ]
    }
}

/// The sign of a (name, Dice band) cell: a forename or surname that differs
/// entirely (not a variant, not phonetically) while the encodings are also
/// far apart (Dice under 0.80) is disagreement — twins share a surname, a
/// date of birth and an address, and only their forenames tell them apart.
fn name_dice_sign(cell: usize) -> i8 {
    let dice_levels = DICE.levels.len();
    let (name, dice) = (cell / dice_levels, cell % dice_levels);
    if (4..=6).contains(&name) && (5..=DICE_BANDS.len()).contains(&dice) {
        -1
    } else {
        0
    }
}

/// Pools adjacent levels of a ladder (levels from the strongest evidence to
/// the weakest) until their likelihood ratios m/u never rise down the
/// ladder. Pooled levels share one ratio; each keeps its u and m becomes
/// ratio × u, so both still sum to what they did.
fn pool_ladder(m: &mut [f64], u: &mut [f64], ladder: &[usize]) {
    // Blocks of (sum m, sum u, levels in it).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(ladder.len());
    for &level in ladder {
        blocks.push((m[level], u[level], 1));
        while blocks.len() >= 2 {
            let (m1, u1, _) = blocks[blocks.len() - 2];
            let (m2, u2, _) = blocks[blocks.len() - 1];
            if m1 * u2 >= m2 * u1 {
                break;
            }
            let (m2, u2, n2) = blocks.pop().expect("two blocks");
            let last = blocks.last_mut().expect("one block");
            *last = (last.0 + m2, last.1 + u2, last.2 + n2);
        }
    }
    let mut at = 0;
    for (sum_m, sum_u, n) in blocks {
        for &level in &ladder[at..at + n] {
            m[level] = sum_m / sum_u * u[level];
        }
        at += n;
    }
}

/// Keeps each name level's Dice bands in order: within one name level,
/// encodings closer together are never weaker evidence of one person than
/// encodings further apart. EM fitted on the pairs the node compares can
/// otherwise give a middle band less weight than a lower one where a band
/// holds few pairs, and which band a pair falls in moves a little with the
/// scheme secret (the encodings' hash positions), so such a dip decided
/// different pairs under different secrets. The bands a name level's sign
/// holds at or below zero (names that differ, or twins, with encodings far
/// apart: see [`name_dice_sign`]) are left off its ladder, so what that
/// bound discards is never pooled into a closer band.
fn keep_dice_bands_in_order(m: &mut [f64], u: &mut [f64]) {
    let bands = DICE.levels.len();
    let mut ladder = Vec::with_capacity(DICE_BANDS.len() + 1);
    for name in 0..NAME.levels.len() {
        // The bands from the highest to the lowest; not comparable is no band.
        ladder.clear();
        ladder.extend((0..=DICE_BANDS.len()).map(|band| name * bands + band).take_while(|&cell| name_dice_sign(cell) >= 0));
        pool_ladder(m, u, &ladder);
    }
}

/// The joint factor of the name level and the Dice band.
const NAME_DICE_FACTOR: usize = 1;
const _: () = assert!(FACTORS[NAME_DICE_FACTOR].len() == 2 && FACTORS[NAME_DICE_FACTOR][0] == at::NAME && FACTORS[NAME_DICE_FACTOR][1] == at::DICE);

/// The factor that holds sex alone.
const SEX_FACTOR: usize = 3;
const _: () = assert!(FACTORS[SEX_FACTOR].len() == 1 && FACTORS[SEX_FACTOR][0] == at::SEX);

/// The most sex agreement may weigh, as a likelihood ratio: one bit. Sex
/// has two values, so two people taken at random agree on it at least half
/// the time (u ≥ ½), and agreement can never be more than twice as likely
/// among matches (m ≤ 1). Over the compared pairs alone EM can find
/// otherwise — where most non-matches compared are a brother and a sister,
/// it settles on "same sex" as what makes a match, and then every
/// same-named pair of one sex with dates of birth a year apart scores as
/// one person. So every E step weighs agreement at most so (which pairs EM
/// takes for matches never rests on more), and so does scoring; m and u
/// themselves are estimated as for any level. Arithmetic, not fitted to
/// any data set.
const SEX_AGREEMENT_MOST: f64 = 2.0;

/// m for sex agreement as the E step and scoring use it (see
/// [`SEX_AGREEMENT_MOST`]).
fn bounded_sex_agreement(m: &[f64], u: &[f64]) -> f64 {
    m[0].min(SEX_AGREEMENT_MOST * u[0])
}

/// Starting m and u values per feature level (documented in the module):
/// multiplied out for joint factors, the Dice band conditioned on the name
/// level.
fn starting_values() -> ([Vec<f64>; NF], [Vec<f64>; NF], f64) {
    let m: [Vec<f64>; 7] = [
        vec![0.20, 0.005, 0.795],
        vec![0.70, 0.02, 0.02, 0.08, 0.04, 0.04, 0.08, 0.02],
        vec![0.55, 0.15, 0.10, 0.07, 0.05, 0.03, 0.02, 0.012, 0.005, 0.003, 0.01],
        vec![0.82, 0.02, 0.03, 0.02, 0.005, 0.003, 0.002, 0.02, 0.08],
        vec![0.88, 0.01, 0.11],
        vec![0.55, 0.10, 0.15, 0.20],
        vec![0.60, 0.30, 0.10],
    ];
    let u: [Vec<f64>; 7] = [
        vec![0.0005, 0.15, 0.8495],
        vec![0.05, 0.002, 0.01, 0.03, 0.02, 0.02, 0.85, 0.018],
        vec![0.0005, 0.001, 0.003, 0.008, 0.02, 0.05, 0.08, 0.20, 0.30, 0.3365, 0.001],
        vec![0.01, 0.001, 0.01, 0.01, 0.01, 0.01, 0.05, 0.75, 0.149],
        vec![0.20, 0.10, 0.70],
        vec![0.05, 0.03, 0.12, 0.80],
        vec![0.55, 0.0001, 0.4499],
    ];
    let join = |values: &[Vec<f64>; 7], matches: bool| -> [Vec<f64>; NF] {
        std::array::from_fn(|factor| {
            if FACTORS[factor] == [at::NAME, at::DICE] {
                let dice = dice_given_name(matches);
                return values[at::NAME].iter().enumerate().flat_map(|(name, p)| dice[name].iter().map(move |d| p * d)).collect();
            }
            let mut out = vec![1.0];
            for &f in FACTORS[factor] {
                out = out.iter().flat_map(|a| values[f].iter().map(move |b| a * b)).collect();
            }
            out
        })
    };
    let (mut m, mut u) = (join(&m, true), join(&u, false));
    keep_dice_bands_in_order(&mut m[NAME_DICE_FACTOR], &mut u[NAME_DICE_FACTOR]);
    (m, u, 0.05)
}

/// The shape of [`Model::to_bytes`]: 3 since the Dice bands below 0.70
/// were split in three.
pub const MODEL_VERSION: u8 = 3;

/// Whether stored model bytes are of an earlier shape than this build's (a
/// model the node no longer reads, to be fitted afresh), as opposed to
/// damaged ones.
pub fn is_earlier_shape(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|&version| (1..MODEL_VERSION).contains(&version))
}

/// Pairs seen before the first fit.
pub const FIRST_FIT_PAIRS: u64 = 1_000;
/// A refit happens when the pair count has grown by this factor.
pub const REFIT_GROWTH: f64 = 1.25;

/// The scoring model: pattern counts, fitted parameters and the derived
/// per-factor-level weights.
#[derive(Debug, Clone)]
pub struct Model {
    /// Pairs counted per pattern index (every pattern has a slot).
    counts: Vec<u64>,
    total: u64,
    fitted_total: u64,
    m: [Vec<f64>; NF],
    u: [Vec<f64>; NF],
    lambda: f64,
    /// log2(m/u) per factor level.
    weight: [Vec<f32>; NF],
    prior: f32,
}

impl Default for Model {
    fn default() -> Model {
        Model::new()
    }
}

/// A scored pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Log2 likelihood ratio, Σ log2(m/u), with any term-frequency
    /// adjustment.
    pub weight: f32,
    /// Posterior probability that the pair is one person.
    pub probability: f32,
}

impl Model {
    /// A model at its starting values with no counts.
    pub fn new() -> Model {
        let (m, u, lambda) = starting_values();
        let mut model =
            Model { counts: vec![0; pattern_count()], total: 0, fitted_total: 0, m, u, lambda, weight: std::array::from_fn(|_| Vec::new()), prior: 0.0 };
        model.tabulate();
        model
    }

    /// Scores one pattern, adding `adjustment` bits to its weight (the
    /// term-frequency adjustment of an agreeing name).
    #[inline]
    pub fn score_adjusted(&self, levels: &Levels, adjustment: f32) -> Score {
        let mut weight = adjustment;
        for f in 0..NF {
            weight += self.weight[f][factor_level(f, levels)];
        }
        let odds = (weight + self.prior).clamp(-1000.0, 1000.0);
        Score { weight, probability: 1.0 / (1.0 + (-odds).exp2()) }
    }

    /// Scores one pattern.
    #[inline]
    pub fn score(&self, levels: &Levels) -> Score {
        self.score_adjusted(levels, 0.0)
    }

    /// The weight one feature's level contributes on its own (for joint
    /// factors, the factor's weight), for explanations.
    pub fn factor_weights(&self, levels: &Levels) -> Vec<(usize, f32)> {
        (0..NF).map(|f| (FACTORS[f][0], self.weight[f][factor_level(f, levels)])).collect()
    }

    /// Counts one compared pair; refits when the counts have grown enough.
    /// Returns true when a refit happened.
    pub fn observe(&mut self, levels: &Levels) -> bool {
        self.counts[pattern_index(levels) as usize] += 1;
        self.total += 1;
        if self.total >= FIRST_FIT_PAIRS && self.total as f64 >= self.fitted_total as f64 * REFIT_GROWTH {
            self.fit();
            return true;
        }
        false
    }

    /// Pairs counted.
    pub fn pairs_seen(&self) -> u64 {
        self.total
    }

    /// Pairs counted at the last fit (0: starting values in use).
    pub fn pairs_at_last_fit(&self) -> u64 {
        self.fitted_total
    }

    /// Estimated share of compared pairs that are matches.
    pub fn match_share(&self) -> f64 {
        self.lambda
    }

    /// The prior log2 odds of a match that every pair's weight is added to.
    pub fn prior_bits(&self) -> f32 {
        self.prior
    }

    /// Re-estimates m, u and the match share from the counts by EM.
    pub fn fit(&mut self) {
        let observed: Vec<(Levels, f64)> =
            self.counts.iter().enumerate().filter(|(_, count)| **count > 0).map(|(index, count)| (pattern_levels(index as u32), *count as f64)).collect();
        let total: f64 = observed.iter().map(|(_, c)| c).sum();
        if total == 0.0 {
            return;
        }
        // Each pattern's level in every factor, worked out once.
        let cells: Vec<([usize; NF], f64)> = observed.iter().map(|(levels, count)| (std::array::from_fn(|f| factor_level(f, levels)), *count)).collect();
        // EM starts from the starting values at every fit, so a fit depends
        // only on the counts, not on the fits before it.
        let (mut m, mut u, mut lambda) = starting_values();
        const SMOOTHING: f64 = 0.5;
        for _ in 0..200 {
            let mut m_acc: [Vec<f64>; NF] = std::array::from_fn(|f| vec![0.0; factor_size(f)]);
            let mut u_acc = m_acc.clone();
            let mut matched = 0.0;
            let sex_agreement = bounded_sex_agreement(&m[SEX_FACTOR], &u[SEX_FACTOR]);
            for (at, count) in &cells {
                let (mut lm, mut lu) = (lambda, 1.0 - lambda);
                for f in 0..NF {
                    lm *= if f == SEX_FACTOR && at[f] == 0 { sex_agreement } else { m[f][at[f]] };
                    lu *= u[f][at[f]];
                }
                let g = if lm + lu > 0.0 { lm / (lm + lu) } else { 0.0 };
                matched += count * g;
                for f in 0..NF {
                    m_acc[f][at[f]] += count * g;
                    u_acc[f][at[f]] += count * (1.0 - g);
                }
            }
            let previous = lambda;
            lambda = (matched / total).clamp(1e-6, 1.0 - 1e-6);
            for f in 0..NF {
                let n = factor_size(f) as f64;
                let (m_sum, u_sum) = (matched, total - matched);
                for level in 0..factor_size(f) {
                    m[f][level] = ((m_acc[f][level] + SMOOTHING) / (m_sum + SMOOTHING * n)).max(1e-9);
                    u[f][level] = ((u_acc[f][level] + SMOOTHING) / (u_sum + SMOOTHING * n)).max(1e-9);
                }
            }
            keep_dice_bands_in_order(&mut m[NAME_DICE_FACTOR], &mut u[NAME_DICE_FACTOR]);
            if (previous - lambda).abs() < 1e-9 {
                break;
            }
        }
        (self.m, self.u, self.lambda) = (m, u, lambda);
        self.fitted_total = self.total;
        self.tabulate();
    }

    fn tabulate(&mut self) {
        self.prior = (self.lambda / (1.0 - self.lambda)).log2() as f32;
        for (f, features) in FACTORS.iter().enumerate() {
            self.weight[f] = (0..factor_size(f))
                .map(|level| {
                    let mut weight = (self.m[f][level] / self.u[f][level]).log2() as f32;
                    // The sign a level's meaning gives it.
                    let sign = if features.len() == 1 { level_sign(features[0], level as u8) } else { name_dice_sign(level) };
                    match sign {
                        1 => weight = weight.max(0.0),
                        -1 => weight = weight.min(0.0),
                        _ => {}
                    }
                    if f == SEX_FACTOR && level == 0 {
                        // As in every E step, also before the first fit.
                        weight = weight.min(SEX_AGREEMENT_MOST.log2() as f32);
                    }
                    weight
                })
                .collect();
        }
    }

    /// The model as bytes for storage: counts and fitted parameters.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.counts.len() * 12 + 4096);
        out.push(MODEL_VERSION);
        out.extend(self.total.to_le_bytes());
        out.extend(self.fitted_total.to_le_bytes());
        out.extend(self.lambda.to_le_bytes());
        for f in 0..NF {
            for (m, u) in self.m[f].iter().zip(&self.u[f]) {
                out.extend(m.to_le_bytes());
                out.extend(u.to_le_bytes());
            }
        }
        // Only the patterns seen, sparsely: most of the space is empty.
        let seen: Vec<(u32, u64)> = self.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| (i as u32, *c)).collect();
        out.extend((seen.len() as u64).to_le_bytes());
        for (index, count) in seen {
            out.extend(index.to_le_bytes());
            out.extend(count.to_le_bytes());
        }
        out
    }

    /// Reads [`Model::to_bytes`]; `None` when the bytes are not a model of
    /// this shape.
    pub fn from_bytes(bytes: &[u8]) -> Option<Model> {
        let mut model = Model::new();
        let (&version, mut rest) = bytes.split_first()?;
        if version != MODEL_VERSION {
            return None;
        }
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        let u64_of = |b: &[u8]| -> Option<u64> { Some(u64::from_le_bytes(b.try_into().ok()?)) };
        let f64_of = |b: &[u8]| -> Option<f64> { Some(f64::from_le_bytes(b.try_into().ok()?)) };
        model.total = u64_of(take(8)?)?;
        model.fitted_total = u64_of(take(8)?)?;
        model.lambda = f64_of(take(8)?)?;
        for f in 0..NF {
            for level in 0..factor_size(f) {
                model.m[f][level] = f64_of(take(8)?)?;
                model.u[f][level] = f64_of(take(8)?)?;
            }
        }
        let entries = u64_of(take(8)?)?;
        for _ in 0..entries {
            let index = u32::from_le_bytes(take(4)?.try_into().ok()?);
            let count = u64_of(take(8)?)?;
            *model.counts.get_mut(index as usize)? = count;
        }
        if !rest.is_empty() {
            return None;
        }
        // A model fitted before the bands were kept in order is read in order.
        keep_dice_bands_in_order(&mut model.m[NAME_DICE_FACTOR], &mut model.u[NAME_DICE_FACTOR]);
        model.tabulate();
        Some(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_round_trip() {
        let patterns: u32 = FEATURES.iter().map(|f| f.levels.len() as u32).product();
        for index in (0..patterns).step_by(7) {
            assert_eq!(pattern_index(&pattern_levels(index)), index);
        }
    }

    #[test]
    fn em_recovers_a_planted_mixture_without_labels() {
        // 2% matches that mostly agree; 98% non-matches that mostly do not.
        let mut model = Model::new();
        for i in 0..100_000u32 {
            let is_match = i % 50 == 0;
            let noisy = i % 7 == 0;
            let levels: Levels = if is_match {
                [2, if noisy { 3 } else { 0 }, if noisy { 3 } else { 0 }, 0, 0, if noisy { 2 } else { 0 }, 0]
            } else {
                [2, 6, if noisy { 5 } else { 7 }, if i % 5 == 0 { 6 } else { 7 }, 2, 3, if i % 3 == 0 { 2 } else { 0 }]
            };
            model.observe(&levels);
        }
        model.fit();
        assert!((model.match_share() - 0.02).abs() < 0.005, "match share {}", model.match_share());
        assert!(model.score(&[2, 0, 0, 0, 0, 0, 0]).probability > 0.999);
        assert!(model.score(&[2, 3, 3, 0, 0, 2, 0]).probability > 0.99);
        assert!(model.score(&[2, 6, 7, 7, 2, 3, 0]).probability < 0.001);
        let restored = Model::from_bytes(&model.to_bytes()).expect("round trip");
        assert_eq!(restored.score(&[2, 3, 3, 0, 0, 2, 0]), model.score(&[2, 3, 3, 0, 0, 2, 0]));
        assert!(Model::from_bytes(&model.to_bytes()[1..]).is_none());
    }

    #[test]
    fn disagreement_never_adds_weight_and_agreement_never_removes_it() {
        // A perverse sample where "dob over 18 months apart" is common among
        // what EM takes as matches.
        let model = fitted(20_000, |i| if i % 10 == 0 { [2, 0, 0, 6, 0, 0, 0] } else { [2, 6, 7, 7, 2, 3, 0] });
        let apart = model.factor_weights(&[2, 0, 0, 6, 0, 0, 0]);
        assert!(apart.iter().find(|(f, _)| *f == at::DOB).is_some_and(|(_, w)| *w <= 0.0), "{apart:?}");
    }

    /// A model that has counted `pairs` pairs, the `i`-th with `levels_of(i)`,
    /// and then been fitted.
    fn fitted(pairs: u32, levels_of: impl Fn(u32) -> Levels) -> Model {
        let mut model = Model::new();
        for i in 0..pairs {
            model.observe(&levels_of(i));
        }
        model.fit();
        model
    }

    #[test]
    fn pooling_a_ladder_keeps_its_ratios_falling_and_its_sums() {
        // Ratios 4, 1, 2, 0.5: the second and third are pooled to 0.5 / 0.3.
        let (mut m, mut u) = (vec![0.4, 0.1, 0.4, 0.1], vec![0.1, 0.1, 0.2, 0.2]);
        pool_ladder(&mut m, &mut u, &[0, 1, 2, 3]);
        let ratios: Vec<f64> = m.iter().zip(&u).map(|(m, u)| m / u).collect();
        assert!((ratios[0] - 4.0).abs() < 1e-12 && (ratios[3] - 0.5).abs() < 1e-12, "{ratios:?}");
        assert!((ratios[1] - 0.5 / 0.3).abs() < 1e-12 && (ratios[2] - 0.5 / 0.3).abs() < 1e-12, "{ratios:?}");
        assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(u, vec![0.1, 0.1, 0.2, 0.2]);
        // A pool that breaks the order with the level before it pools on:
        // ratios 2, 1, 3 become one pool of 6 / 3 = 2.
        let (mut m, mut u) = (vec![0.2, 0.1, 0.3], vec![0.1, 0.1, 0.1]);
        pool_ladder(&mut m, &mut u, &[0, 1, 2]);
        assert!(m.iter().zip(&u).all(|(m, u)| (m / u - 2.0).abs() < 1e-12), "{m:?}");
        // Levels at u's floor keep finite ratios.
        let (mut m, mut u) = (vec![0.5, 1e-9, 0.5], vec![0.5, 1e-9, 0.5 - 1e-9]);
        pool_ladder(&mut m, &mut u, &[0, 1, 2]);
        assert!(m.iter().all(|m| m.is_finite() && *m >= 0.0), "{m:?}");
        // A ladder already in order is left alone, and levels off it too.
        let (mut m, mut u) = (vec![0.5, 0.3, 0.2, 0.0], vec![0.1, 0.3, 0.6, 0.0]);
        pool_ladder(&mut m, &mut u, &[0, 1, 2]);
        assert_eq!((m, u), (vec![0.5, 0.3, 0.2, 0.0], vec![0.1, 0.3, 0.6, 0.0]));
    }

    #[test]
    fn a_closer_encoding_never_weighs_less_than_a_further_one_under_one_name_level() {
        // Matches with an exact name spread over the bands, with a dip:
        // hardly any in the 0.84–0.88 band, many more in 0.80–0.84.
        let model = fitted(60_000, |i| match i % 20 {
            0..=3 => [2, 0, 0, 0, 0, 0, 0],
            4 => [2, 0, 2, 0, 0, 0, 0],
            5..=6 => [2, 0, 4, 0, 0, 0, 0],
            7 if i % 400 == 7 => [2, 0, 3, 0, 0, 0, 0],
            8..=9 => [2, 0, 3, 7, 2, 3, 0],
            _ => [2, 6, 8, 7, 2, 3, 0],
        });
        for name in 0..NAME.levels.len() as u8 {
            let weights: Vec<f32> = (0..=DICE_BANDS.len() as u8)
                .filter(|&band| name_dice_sign(usize::from(name) * DICE.levels.len() + usize::from(band)) >= 0)
                .map(|band| model.factor_weights(&[2, name, band, 0, 0, 0, 0])[1].1)
                .collect();
            assert!(weights.windows(2).all(|pair| pair[0] >= pair[1] - 1e-4), "name level {name}: {weights:?}");
        }
        // So are the starting values, and a model read back.
        let fresh = Model::new();
        let read = Model::from_bytes(&model.to_bytes()).expect("round trip");
        for model in [&fresh, &read] {
            let weights: Vec<f32> = (0..=DICE_BANDS.len() as u8).map(|band| model.factor_weights(&[2, 0, band, 0, 0, 0, 0])[1].1).collect();
            assert!(weights.windows(2).all(|pair| pair[0] >= pair[1] - 1e-4), "{weights:?}");
        }
    }

    #[test]
    fn what_the_twins_bound_discards_never_raises_a_closer_band() {
        // Same surname and date of birth, other forenames: pairs with
        // far-apart encodings (0.70–0.75, held at or below zero) that agree
        // on everything else, which EM takes for matches, and pairs with
        // closer encodings (0.80–0.84) that mostly disagree on the rest.
        let model = fitted(60_000, |i| match i % 20 {
            0..=5 => [2, 0, 0, 0, 0, 0, 0],
            6 => [2, 4, 6, 0, 0, 0, 0],
            7 => [2, 4, 4, 0, 0, 0, 0],
            8..=11 => [2, 4, 4, 7, 2, 3, 0],
            _ => [2, 6, 8, 7, 2, 3, 0],
        });
        let band = |model: &Model, band: u8| model.factor_weights(&[2, 4, band, 0, 0, 0, 0])[1].1;
        assert!(band(&model, 6) <= 0.0, "held at or below zero");
        // The 0.80–0.84 band weighs what its own pairs say (four in five
        // are two people): pooled with the far bands' matches it weighed a
        // bit more.
        assert!(band(&model, 4) < -1.0, "{}", band(&model, 4));
    }

    #[test]
    fn dice_bands() {
        assert_eq!(dice_level(Some(1.0)), 0);
        assert_eq!(dice_level(Some(0.93)), 1);
        assert_eq!(dice_level(Some(0.6)), 7);
        assert_eq!(dice_level(Some(0.1)), 9);
        assert_eq!(dice_level(None), 10);
    }
}
