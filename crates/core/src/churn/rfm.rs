//! RFM: recency, frequency and monetary quintile scores, named segments, and the reasons behind a
//! customer's risk in plain words.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::score::{CustomerRisk, Method, RiskBucket};
use super::CustomerSummary;

/// Scores 1 (worst) to 5 (best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmScore {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
}

/// The segments: a grid over the recency and frequency scores (monetary only splits "can't lose"
/// from "at risk"), covering all 25 cells.
///
/// | R \ F | 1 | 2 | 3 | 4 | 5 |
/// |---|---|---|---|---|---|
/// | 5 | new | promising | promising | champions | champions |
/// | 4 | promising | promising | promising | champions | champions |
/// | 3 | hibernating | hibernating | loyal | loyal | loyal |
/// | 2 | hibernating | hibernating | at risk | at risk / can't lose (M ≥ 4) | same |
/// | 1 | lost | lost | at risk | at risk / can't lose (M ≥ 4) | same |
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Champions,
    Loyal,
    Promising,
    New,
    AtRisk,
    CantLose,
    Hibernating,
    Lost,
}

impl Segment {
    pub fn of(score: RfmScore) -> Segment {
        let RfmScore {
            recency: r,
            frequency: f,
            monetary: m,
        } = score;
        match (r, f) {
            (4..=5, 4..=5) => Segment::Champions,
            (5, 1) => Segment::New,
            (4..=5, _) => Segment::Promising,
            (3, 3..=5) => Segment::Loyal,
            (3, _) | (2, 1..=2) => Segment::Hibernating,
            (_, 4..=5) if m >= 4 => Segment::CantLose,
            (_, 3..=5) => Segment::AtRisk,
            _ => Segment::Lost,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::Promising => "promising",
            Segment::New => "new",
            Segment::AtRisk => "at risk",
            Segment::CantLose => "can't lose",
            Segment::Hibernating => "hibernating",
            Segment::Lost => "lost",
        }
    }
}

/// Quintile score of each value: 1 + ⌊5 · (share of customers with a strictly worse value)⌋, so
/// that ties share a score (with most customers buying once, they all get frequency 1 rather than
/// being split arbitrarily between scores).
pub fn quintile_scores(values: &[f64], higher_is_better: bool) -> Vec<u8> {
    let n = values.len();
    let mut sorted: Vec<f64> = values
        .iter()
        .map(|v| if higher_is_better { *v } else { -*v })
        .collect();
    sorted.sort_by(|a, b| a.total_cmp(b));
    values
        .iter()
        .map(|v| {
            let key = if higher_is_better { *v } else { -*v };
            let worse = sorted.partition_point(|s| *s < key);
            (1 + (5 * worse) / n.max(1)).min(5) as u8
        })
        .collect()
}

/// RFM scores of every customer at `end`: recency = days since the last purchase, frequency =
/// purchase days, monetary = total spend.
pub fn rfm_scores(summaries: &[CustomerSummary], end: NaiveDate) -> Vec<RfmScore> {
    let rec: Vec<f64> = summaries
        .iter()
        .map(|s| s.days_since_last_purchase(end) as f64)
        .collect();
    let freq: Vec<f64> = summaries.iter().map(|s| s.frequency as f64 + 1.0).collect();
    let mon: Vec<f64> = summaries
        .iter()
        .map(|s| s.total_value_minor as f64)
        .collect();
    let (r, f, m) = (
        quintile_scores(&rec, false),
        quintile_scores(&freq, true),
        quintile_scores(&mon, true),
    );
    (0..summaries.len())
        .map(|i| RfmScore {
            recency: r[i],
            frequency: f[i],
            monetary: m[i],
        })
        .collect()
}

/// The reasons behind a customer's risk, in plain words.
pub fn reasons(
    s: &CustomerSummary,
    end: NaiveDate,
    risk: &CustomerRisk,
    method: &Method,
    horizon_days: u32,
) -> Vec<String> {
    let since = s.days_since_last_purchase(end);
    let mut out = Vec::new();
    if s.frequency == 0 {
        out.push(format!("one order so far, {since} days ago"));
    } else {
        let every = (s.last_purchase - s.first_purchase).num_days() as f64 / s.frequency as f64;
        out.push(format!(
            "{since} days since the last order; usually orders every {} days ({} orders)",
            every.round() as i64,
            s.frequency + 1
        ));
        if since as f64 > 2.0 * every {
            out.push("overdue: more than twice the usual gap".to_string());
        }
    }
    out.push(format!(
        "{:.0}% chance of no order in the next {horizon_days} days ({} risk)",
        100.0 * risk.churn_risk,
        match risk.bucket {
            RiskBucket::Low => "low",
            RiskBucket::Medium => "medium",
            RiskBucket::High => "high",
        }
    ));
    if let Some(next) = risk.expected_next_order {
        out.push(format!("next order expected around {next}"));
    }
    out.push(method.describe());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_cell_has_a_segment_and_the_corners_are_right() {
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    Segment::of(RfmScore {
                        recency: r,
                        frequency: f,
                        monetary: m,
                    });
                }
            }
        }
        let s = |r, f, m| {
            Segment::of(RfmScore {
                recency: r,
                frequency: f,
                monetary: m,
            })
        };
        assert_eq!(s(5, 5, 5), Segment::Champions);
        assert_eq!(s(5, 1, 1), Segment::New);
        assert_eq!(s(1, 1, 1), Segment::Lost);
        assert_eq!(s(1, 5, 5), Segment::CantLose);
        assert_eq!(s(1, 5, 1), Segment::AtRisk);
        assert_eq!(s(3, 4, 2), Segment::Loyal);
        assert_eq!(s(2, 2, 2), Segment::Hibernating);
    }

    #[test]
    fn ties_share_a_score() {
        let scores = quintile_scores(&[1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], true);
        assert_eq!(&scores[..4], &[1, 1, 1, 1]);
        assert_eq!(scores[9], 5);
        assert_eq!(quintile_scores(&[10.0, 1.0], false), vec![1, 3]);
    }

    proptest! {
        #[test]
        fn scores_are_monotone(values in proptest::collection::vec(0.0f64..100.0, 1..50)) {
            let scores = quintile_scores(&values, true);
            for i in 0..values.len() {
                prop_assert!((1..=5).contains(&scores[i]));
                for j in 0..values.len() {
                    if values[i] < values[j] { prop_assert!(scores[i] <= scores[j]); }
                }
            }
        }
    }
}
