//! Linkage quality against ground truth: pairwise precision, recall and F1,
//! and cluster-level scores (B-cubed and exact cluster recovery).

use std::collections::HashMap;
use std::hash::Hash;

/// Quality scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Items evaluated (present in both truth and prediction).
    pub items: u64,
    /// Pairs linked that truly belong together.
    pub true_pairs_linked: u64,
    /// Pairs linked.
    pub predicted_pairs: u64,
    /// Pairs that truly belong together.
    pub true_pairs: u64,
    /// Pairwise precision.
    pub precision: f64,
    /// Pairwise recall.
    pub recall: f64,
    /// Pairwise F1.
    pub f1: f64,
    /// B-cubed precision (per item, averaged).
    pub bcubed_precision: f64,
    /// B-cubed recall.
    pub bcubed_recall: f64,
    /// B-cubed F1.
    pub bcubed_f1: f64,
    /// Share of true clusters recovered exactly.
    pub exact_clusters: f64,
    /// Number of true clusters.
    pub true_clusters: u64,
    /// Number of predicted clusters.
    pub predicted_clusters: u64,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

fn harmonic(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Scores a predicted clustering against the truth; `items` pairs each item's
/// true cluster with its predicted cluster.
pub fn evaluate<T: Hash + Eq, P: Hash + Eq>(items: &[(T, P)]) -> Scores {
    let mut cell: HashMap<(&T, &P), u64> = HashMap::new();
    let mut truth_size: HashMap<&T, u64> = HashMap::new();
    let mut predicted_size: HashMap<&P, u64> = HashMap::new();
    for (truth, predicted) in items {
        *cell.entry((truth, predicted)).or_default() += 1;
        *truth_size.entry(truth).or_default() += 1;
        *predicted_size.entry(predicted).or_default() += 1;
    }
    let true_pairs_linked: u64 = cell.values().map(|&n| pairs(n)).sum();
    let predicted_pairs: u64 = predicted_size.values().map(|&n| pairs(n)).sum();
    let true_pairs: u64 = truth_size.values().map(|&n| pairs(n)).sum();
    let precision = ratio(true_pairs_linked, predicted_pairs);
    let recall = ratio(true_pairs_linked, true_pairs);
    // B-cubed: for each item, |cell| / |predicted cluster| and |cell| / |true cluster|.
    let n = items.len() as f64;
    let (mut bp, mut br) = (0.0, 0.0);
    for ((truth, predicted), &count) in &cell {
        let c = count as f64;
        bp += c * c / predicted_size[predicted] as f64;
        br += c * c / truth_size[truth] as f64;
    }
    let (bp, br) = if n == 0.0 { (1.0, 1.0) } else { (bp / n, br / n) };
    let exact = cell.iter().filter(|((truth, predicted), &count)| truth_size[truth] == count && predicted_size[predicted] == count).count() as u64;
    Scores {
        items: items.len() as u64,
        true_pairs_linked,
        predicted_pairs,
        true_pairs,
        precision,
        recall,
        f1: harmonic(precision, recall),
        bcubed_precision: bp,
        bcubed_recall: br,
        bcubed_f1: harmonic(bp, br),
        exact_clusters: ratio(exact, truth_size.len() as u64),
        true_clusters: truth_size.len() as u64,
        predicted_clusters: predicted_size.len() as u64,
    }
}

/// How a clustering treats people who share a household (siblings and
/// twins: same surname and postcode, twins also the date of birth).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HouseholdScores {
    /// Pairs of involvements within one household that were linked.
    pub linked_pairs: u64,
    /// Of those, pairs that are truly one person.
    pub linked_pairs_correct: u64,
    /// Precision on household pairs: correct / linked.
    pub precision: f64,
    /// Pairs of involvements of two different people of one household.
    pub sibling_pairs: u64,
    /// Of those, pairs wrongly put in one profile.
    pub sibling_pairs_merged: u64,
}

/// Scores within-household pairs; each item is (true person, household or
/// `None`, predicted cluster).
pub fn evaluate_households<T: Hash + Eq, H: Hash + Eq, P: Hash + Eq>(items: &[(T, Option<H>, P)]) -> HouseholdScores {
    let mut by_household: HashMap<&H, Vec<(&T, &P)>> = HashMap::new();
    for (truth, household, predicted) in items {
        if let Some(household) = household {
            by_household.entry(household).or_default().push((truth, predicted));
        }
    }
    let (mut linked, mut correct, mut sibling, mut merged) = (0u64, 0u64, 0u64, 0u64);
    for members in by_household.values() {
        let mut cell: HashMap<(&T, &P), u64> = HashMap::new();
        let mut per_truth: HashMap<&T, u64> = HashMap::new();
        let mut per_predicted: HashMap<&P, u64> = HashMap::new();
        for (truth, predicted) in members {
            *cell.entry((truth, predicted)).or_default() += 1;
            *per_truth.entry(truth).or_default() += 1;
            *per_predicted.entry(predicted).or_default() += 1;
        }
        let all = pairs(members.len() as u64);
        let same_person: u64 = per_truth.values().map(|&n| pairs(n)).sum();
        let same_profile: u64 = per_predicted.values().map(|&n| pairs(n)).sum();
        let both: u64 = cell.values().map(|&n| pairs(n)).sum();
        linked += same_profile;
        correct += both;
        sibling += all - same_person;
        merged += same_profile - both;
    }
    HouseholdScores {
        linked_pairs: linked,
        linked_pairs_correct: correct,
        precision: ratio(correct, linked),
        sibling_pairs: sibling,
        sibling_pairs_merged: merged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_imperfect_clusterings_score_as_expected() {
        let perfect = [("a", 1), ("a", 1), ("b", 2)];
        let scores = evaluate(&perfect);
        assert_eq!((scores.precision, scores.recall, scores.f1), (1.0, 1.0, 1.0));
        assert_eq!(scores.exact_clusters, 1.0);

        // One true pair split, one false pair merged.
        let items = [("a", 1), ("a", 2), ("b", 3), ("c", 3)];
        let scores = evaluate(&items);
        assert_eq!(scores.true_pairs, 1);
        assert_eq!(scores.predicted_pairs, 1);
        assert_eq!(scores.true_pairs_linked, 0);
        assert_eq!(scores.precision, 0.0);
        assert_eq!(scores.recall, 0.0);
        assert_eq!(scores.exact_clusters, 0.0);

        let items = [("a", 1), ("a", 1), ("a", 1), ("b", 1)];
        let scores = evaluate(&items);
        assert_eq!(scores.true_pairs_linked, 3);
        assert_eq!(scores.predicted_pairs, 6);
        assert!((scores.precision - 0.5).abs() < 1e-9);
        assert_eq!(scores.recall, 1.0);
    }

    #[test]
    fn household_pairs_count_merged_siblings() {
        // Household h: twins a (two records) and b (one); b merged with a.
        let items = [("a", Some("h"), 1), ("a", Some("h"), 1), ("b", Some("h"), 1), ("c", None, 2)];
        let scores = evaluate_households(&items);
        assert_eq!(scores.linked_pairs, 3);
        assert_eq!(scores.linked_pairs_correct, 1);
        assert_eq!(scores.sibling_pairs, 2);
        assert_eq!(scores.sibling_pairs_merged, 2);
    }
}
