//! Holdout evaluation: how well a ranking separates customers who bought again from those who did
//! not, and how close a forecast total comes to the actual one.

/// Area under the ROC curve of `scores` for predicting `positive`: the probability that a random
/// positive scores above a random negative, ties counting one half (the Mann–Whitney statistic, as
/// scikit-learn's `roc_auc_score` computes it). `None` without both classes or with a NaN score.
pub fn auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), positive.len(), "one label per score");
    if scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]));
    // Average ranks over ties, then the rank-sum formula.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if positive[k] {
                rank_sum_pos += average_rank;
            }
        }
        i = j + 1;
    }
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    Some((rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auc(&[1.0, 1.0], &[true, false]), Some(0.5));
        assert_eq!(auc(&[1.0, 2.0], &[true, true]), None);
    }

    proptest! {
        #[test]
        fn matches_pair_counting(v in proptest::collection::vec((0u8..6, any::<bool>()), 2..60)) {
            let scores: Vec<f64> = v.iter().map(|p| p.0 as f64).collect();
            let labels: Vec<bool> = v.iter().map(|p| p.1).collect();
            let mut wins = 0.0;
            let mut pairs = 0.0;
            for (i, &pi) in labels.iter().enumerate() {
                for (j, &pj) in labels.iter().enumerate() {
                    if pi && !pj {
                        pairs += 1.0;
                        wins += if scores[i] > scores[j] { 1.0 } else if scores[i] == scores[j] { 0.5 } else { 0.0 };
                    }
                }
            }
            let got = auc(&scores, &labels);
            if pairs == 0.0 { prop_assert!(got.is_none()); }
            else { prop_assert!((got.unwrap() - wins / pairs).abs() < 1e-12); }
        }
    }
}
