//! Fellegi–Sunter scoring: each compared pair is reduced to an agreement
//! pattern over a few comparison features; m (agreement among true matches)
//! and u (agreement among non-matches) probabilities per feature level are
//! estimated by expectation–maximisation from the pattern counts of the pairs
//! the node itself compares, with no ground truth, and refitted as the counts
//! grow. Until enough pairs have been seen, documented starting values are
//! used (they are also EM's starting point).
//!
//! Features are chosen to be close to conditionally independent: the eight
//! match-key rungs are correlated with each other, so they form one feature
//! whose level is the strongest rung that agrees, rather than eight features
//! that would count one name several times. The match-key level and the Dice
//! band are also dependent (a name swap agrees on the either-order key but
//! scrambles the encoding), so the model treats the pair of them as one
//! joint factor with its own m and u per combination: the factors are NHS
//! number, (match keys × Dice band), and agency/person ref.

/// A comparison feature and its levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// Name in explanations.
    pub name: &'static str,
    /// Level names; the index is the level.
    pub levels: &'static [&'static str],
}

/// NHS number: both present and equal, both present and different, or not
/// comparable.
pub const NHS: Feature = Feature {
    name: "nhs-number",
    levels: &["agree", "disagree", "not-comparable"],
};
/// The strongest match-key rung that agrees.
pub const KEYS: Feature = Feature {
    name: "match-keys",
    levels: &[
        "name+dob",
        "name+dob-variant",
        "name+district-or-forename+dob",
        "initial+surname+dob",
        "name+postcode",
        "none-agree",
        "not-comparable",
    ],
};
/// Dice similarity band of the Bloom encodings.
pub const DICE: Feature = Feature {
    name: "encoding-dice",
    levels: &[
        ">=0.95", "0.92-0.95", "0.88-0.92", "0.84-0.88", "0.80-0.84", "0.75-0.80", "0.70-0.75", "<0.70",
        "not-comparable",
    ],
};
/// Whether the two involvements come from one agency, and whether that
/// agency gave them the same person ref.
pub const PERSON: Feature = Feature {
    name: "agency-person-ref",
    levels: &["other-agency", "same-agency-same-person", "same-agency-other-person"],
};

/// Every feature, in pattern order.
pub const FEATURES: [Feature; 4] = [NHS, KEYS, DICE, PERSON];

/// The model's factors: groups of features whose levels are estimated
/// jointly.
pub const FACTORS: [&[usize]; 3] = [&[0], &[1, 2], &[3]];
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
pub const DICE_BANDS: [f32; 7] = [0.95, 0.92, 0.88, 0.84, 0.80, 0.75, 0.70];

/// The Dice band of a similarity; `None` → not comparable.
pub fn dice_level(dice: Option<f32>) -> u8 {
    match dice {
        None => 8,
        Some(value) => DICE_BANDS.iter().position(|low| value >= *low).unwrap_or(7) as u8,
    }
}

/// The levels of one compared pair, one per feature.
pub type Levels = [u8; 4];

fn pattern_count() -> usize {
    FEATURES.iter().map(|f| f.levels.len()).product()
}

fn pattern_index(levels: &Levels) -> usize {
    let mut index = 0;
    for (feature, level) in FEATURES.iter().zip(levels) {
        index = index * feature.levels.len() + usize::from(*level);
    }
    index
}

fn pattern_levels(mut index: usize) -> Levels {
    let mut levels = [0u8; 4];
    for (slot, feature) in levels.iter_mut().zip(FEATURES.iter()).rev() {
        *slot = (index % feature.levels.len()) as u8;
        index /= feature.levels.len();
    }
    levels
}

/// Starting m and u values per factor level (documented in ARCHITECTURE.md):
/// per-feature values, multiplied out for joint factors.
fn starting_values() -> ([Vec<f64>; NF], [Vec<f64>; NF], f64) {
    let (m, u) = feature_starting_values();
    let join = |values: &[Vec<f64>; 4]| -> [Vec<f64>; NF] {
        std::array::from_fn(|factor| {
            let mut out = vec![1.0];
            for &f in FACTORS[factor] {
                out = out.iter().flat_map(|a| values[f].iter().map(move |b| a * b)).collect();
            }
            out
        })
    };
    (join(&m), join(&u), 0.05)
}

fn feature_starting_values() -> ([Vec<f64>; 4], [Vec<f64>; 4]) {
    let m = [
        vec![0.25, 0.01, 0.74],
        vec![0.70, 0.10, 0.08, 0.04, 0.02, 0.03, 0.03],
        vec![0.55, 0.15, 0.10, 0.07, 0.05, 0.03, 0.02, 0.02, 0.01],
        vec![0.60, 0.30, 0.10],
    ];
    let u = [
        vec![0.0001, 0.25, 0.7499],
        vec![0.001, 0.001, 0.002, 0.004, 0.001, 0.959, 0.032],
        vec![0.0005, 0.001, 0.003, 0.008, 0.02, 0.05, 0.08, 0.8365, 0.001],
        vec![0.55, 0.0001, 0.4499],
    ];
    (m, u)
}

/// Pairs seen before the first fit.
pub const FIRST_FIT_PAIRS: u64 = 5_000;
/// A refit happens when the pair count has grown by this factor.
pub const REFIT_GROWTH: f64 = 1.25;

/// The scoring model: pattern counts, fitted parameters and the derived
/// per-pattern weight and match probability.
#[derive(Debug, Clone)]
pub struct Model {
    counts: Vec<u64>,
    total: u64,
    fitted_total: u64,
    m: [Vec<f64>; NF],
    u: [Vec<f64>; NF],
    lambda: f64,
    weight: Vec<f32>,
    probability: Vec<f32>,
}

impl Default for Model {
    fn default() -> Model {
        Model::new()
    }
}

/// A scored pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Log2 likelihood ratio, Σ log2(m/u).
    pub weight: f32,
    /// Posterior probability that the pair is one person.
    pub probability: f32,
}

impl Model {
    /// A model at its starting values with no counts.
    pub fn new() -> Model {
        let (m, u, lambda) = starting_values();
        let mut model = Model {
            counts: vec![0; pattern_count()],
            total: 0,
            fitted_total: 0,
            m,
            u,
            lambda,
            weight: Vec::new(),
            probability: Vec::new(),
        };
        model.tabulate();
        model
    }

    /// Scores one pattern.
    #[inline]
    pub fn score(&self, levels: &Levels) -> Score {
        let index = pattern_index(levels);
        Score {
            weight: self.weight[index],
            probability: self.probability[index],
        }
    }

    /// Counts one compared pair; refits when the counts have grown enough.
    /// Returns true when a refit happened.
    pub fn observe(&mut self, levels: &Levels) -> bool {
        self.counts[pattern_index(levels)] += 1;
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

    /// Re-estimates m, u and the match share from the counts by EM.
    pub fn fit(&mut self) {
        let observed: Vec<(Levels, f64)> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(index, count)| (pattern_levels(index), *count as f64))
            .collect();
        let total: f64 = observed.iter().map(|(_, c)| c).sum();
        if total == 0.0 {
            return;
        }
        const SMOOTHING: f64 = 0.5;
        for _ in 0..200 {
            let mut m_acc: [Vec<f64>; NF] = std::array::from_fn(|f| vec![0.0; factor_size(f)]);
            let mut u_acc = m_acc.clone();
            let mut matched = 0.0;
            for (levels, count) in &observed {
                let (mut lm, mut lu) = (self.lambda, 1.0 - self.lambda);
                for f in 0..NF {
                    lm *= self.m[f][factor_level(f, levels)];
                    lu *= self.u[f][factor_level(f, levels)];
                }
                let g = if lm + lu > 0.0 { lm / (lm + lu) } else { 0.0 };
                matched += count * g;
                for f in 0..NF {
                    m_acc[f][factor_level(f, levels)] += count * g;
                    u_acc[f][factor_level(f, levels)] += count * (1.0 - g);
                }
            }
            let previous = self.lambda;
            self.lambda = (matched / total).clamp(1e-6, 1.0 - 1e-6);
            for f in 0..NF {
                let n = factor_size(f) as f64;
                let (m_sum, u_sum) = (matched, total - matched);
                for level in 0..factor_size(f) {
                    self.m[f][level] = ((m_acc[f][level] + SMOOTHING) / (m_sum + SMOOTHING * n)).max(1e-9);
                    self.u[f][level] = ((u_acc[f][level] + SMOOTHING) / (u_sum + SMOOTHING * n)).max(1e-9);
                }
            }
            if (previous - self.lambda).abs() < 1e-9 {
                break;
            }
        }
        self.fitted_total = self.total;
        self.tabulate();
    }

    fn tabulate(&mut self) {
        let n = pattern_count();
        self.weight = Vec::with_capacity(n);
        self.probability = Vec::with_capacity(n);
        let prior = (self.lambda / (1.0 - self.lambda)).log2();
        for index in 0..n {
            let levels = pattern_levels(index);
            let weight: f64 = (0..NF)
                .map(|f| (self.m[f][factor_level(f, &levels)] / self.u[f][factor_level(f, &levels)]).log2())
                .sum();
            let odds = (weight + prior).clamp(-1000.0, 1000.0);
            self.weight.push(weight as f32);
            self.probability.push((1.0 / (1.0 + (-odds).exp2())) as f32);
        }
    }

    /// The model as bytes for storage: counts and fitted parameters.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.counts.len() * 8 + 256);
        out.push(1u8);
        out.extend(self.total.to_le_bytes());
        out.extend(self.fitted_total.to_le_bytes());
        out.extend(self.lambda.to_le_bytes());
        for f in 0..NF {
            for (m, u) in self.m[f].iter().zip(&self.u[f]) {
                out.extend(m.to_le_bytes());
                out.extend(u.to_le_bytes());
            }
        }
        for count in &self.counts {
            out.extend(count.to_le_bytes());
        }
        out
    }

    /// Reads [`Model::to_bytes`]; `None` when the bytes are not a model of
    /// this shape.
    pub fn from_bytes(bytes: &[u8]) -> Option<Model> {
        let mut model = Model::new();
        let (&version, mut rest) = bytes.split_first()?;
        if version != 1 {
            return None;
        }
        let mut take = || -> Option<[u8; 8]> {
            let (head, tail) = rest.split_at_checked(8)?;
            rest = tail;
            head.try_into().ok()
        };
        model.total = u64::from_le_bytes(take()?);
        model.fitted_total = u64::from_le_bytes(take()?);
        model.lambda = f64::from_le_bytes(take()?);
        for f in 0..NF {
            for level in 0..factor_size(f) {
                model.m[f][level] = f64::from_le_bytes(take()?);
                model.u[f][level] = f64::from_le_bytes(take()?);
            }
        }
        for count in model.counts.iter_mut() {
            *count = u64::from_le_bytes(take()?);
        }
        if !rest.is_empty() {
            return None;
        }
        model.tabulate();
        Some(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_round_trip() {
        for index in 0..pattern_count() {
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
                [2, if noisy { 3 } else { 0 }, if noisy { 3 } else { 0 }, 0]
            } else {
                [2, 4, if noisy { 5 } else { 7 }, if i % 3 == 0 { 2 } else { 0 }]
            };
            model.observe(&levels);
        }
        model.fit();
        assert!((model.match_share() - 0.02).abs() < 0.005, "match share {}", model.match_share());
        assert!(model.score(&[2, 0, 0, 0]).probability > 0.999);
        assert!(model.score(&[2, 3, 3, 0]).probability > 0.99);
        assert!(model.score(&[2, 4, 7, 0]).probability < 0.001);
        let restored = Model::from_bytes(&model.to_bytes()).expect("round trip");
        assert_eq!(restored.score(&[2, 3, 3, 0]), model.score(&[2, 3, 3, 0]));
        assert!(Model::from_bytes(&model.to_bytes()[1..]).is_none());
    }

    #[test]
    fn dice_bands() {
        assert_eq!(dice_level(Some(1.0)), 0);
        assert_eq!(dice_level(Some(0.93)), 1);
        assert_eq!(dice_level(Some(0.1)), 7);
        assert_eq!(dice_level(None), 8);
    }
}
