//! A customer's figures as the scan writes them, and when a new score is worth a write.
//!
//! The scan scores every customer every day, but the figures of most customers barely move from
//! one day to the next; writing them all would cost one write per customer per day. A score is
//! written only when it **changed materially** against the stored one ([`CustomerScore::changed_materially`]):
//!
//! | figure | material change |
//! |---|---|
//! | churn risk, P(alive) | 0.01 or more (one percentage point) |
//! | expected purchases in the horizon | 0.05 or more, and 5 % or more |
//! | predicted CLV | 1 % or more, and 100 minor units or more |
//! | risk bucket, RFM scores and segment, fitted or fallback | any change |
//! | expected next order | appears, disappears, or moves by 2 days or more |
//!
//! The reasons are words about the figures as of `as_of` (days since the last order, say), so
//! they move every day and never cause a write by themselves.

use super::inputs::RfmScorer;
use super::rfm::{reasons, RfmScore, Segment};
use super::score::{ChurnModel, Method, RiskBucket};
use super::CustomerSummary;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What the scan stores per customer, and what `retention scores` exports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerScore {
    /// The day the figures are for (the run's `--as-of`).
    pub as_of: NaiveDate,
    pub churn_risk: f64,
    pub p_alive: f64,
    pub expected_purchases: f64,
    pub bucket: RiskBucket,
    pub rfm: RfmScore,
    pub segment: Segment,
    pub expected_next_order: Option<NaiveDate>,
    pub predicted_clv_minor: i64,
    /// Whether the store's model was fitted (false: the fallback priors).
    pub fitted: bool,
    pub reasons: Vec<String>,
}

impl CustomerScore {
    /// The figures of one customer at `end`, with the store's model and quintiles.
    pub fn of(s: &CustomerSummary, model: &ChurnModel, rfm: &RfmScorer, end: NaiveDate) -> Self {
        let risk = model.score(s, end);
        let rfm = rfm.score(s, end);
        let reasons = reasons(s, end, &risk, &model.method, model.settings.horizon_days);
        CustomerScore {
            as_of: end,
            churn_risk: risk.churn_risk,
            p_alive: risk.p_alive,
            expected_purchases: risk.expected_purchases,
            bucket: risk.bucket,
            rfm,
            segment: Segment::of(rfm),
            expected_next_order: risk.expected_next_order,
            predicted_clv_minor: risk.predicted_clv_minor,
            fitted: matches!(model.method, Method::Fitted { .. }),
            reasons,
        }
    }

    /// Whether `self` differs from the stored `before` enough to be written (see the module
    /// documentation for the thresholds).
    pub fn changed_materially(&self, before: &CustomerScore) -> bool {
        let moved = |a: f64, b: f64, abs: f64, rel: f64| {
            let d = (a - b).abs();
            d >= abs && d >= rel * b.abs()
        };
        let next_moved = match (self.expected_next_order, before.expected_next_order) {
            (Some(a), Some(b)) => (a - b).num_days().abs() >= 2,
            (None, None) => false,
            _ => true,
        };
        moved(self.churn_risk, before.churn_risk, 0.01, 0.0)
            || moved(self.p_alive, before.p_alive, 0.01, 0.0)
            || moved(
                self.expected_purchases,
                before.expected_purchases,
                0.05,
                0.05,
            )
            || moved(
                self.predicted_clv_minor as f64,
                before.predicted_clv_minor as f64,
                100.0,
                0.01,
            )
            || self.bucket != before.bucket
            || self.rfm != before.rfm
            || self.segment != before.segment
            || self.fitted != before.fitted
            || next_moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::inputs::FitInputs;
    use crate::churn::score::ScoringSettings;
    use crate::churn::TimeUnit;
    use chrono::Duration;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn summary(first: &str, last: &str, x: u32, end: NaiveDate) -> CustomerSummary {
        let (first, last) = (d(first), d(last));
        CustomerSummary {
            frequency: x,
            recency: (last - first).num_days() as f64,
            age: (end - first).num_days() as f64,
            unit: TimeUnit::Days,
            first_purchase: first,
            last_purchase: last,
            repeat_value_minor: i64::from(x) * 4_000,
            total_value_minor: i64::from(x + 1) * 4_000,
            orders: x + 1,
        }
    }

    /// A one-customer store's model and quintiles, and that customer's score.
    fn scored(s: &CustomerSummary, end: NaiveDate) -> (ChurnModel, RfmScorer, CustomerScore) {
        let inputs = FitInputs::from_summaries([s], end);
        let model = ChurnModel::fit(&inputs, ScoringSettings::default());
        let scorer = inputs.rfm_scorer();
        let score = CustomerScore::of(s, &model, &scorer, end);
        (model, scorer, score)
    }

    type Change<'a> = Box<dyn Fn(&mut CustomerScore) + 'a>;

    #[test]
    fn a_day_later_most_scores_need_no_write_and_a_new_order_does() {
        let end = d("2026-06-30");
        let s = summary("2025-09-01", "2026-06-01", 4, end);
        let (model, scorer, today) = scored(&s, end);
        assert!(!today.fitted, "one customer: the fallback");
        assert!(!today.changed_materially(&today));
        let tomorrow_end = end + Duration::days(1);
        let s1 = summary("2025-09-01", "2026-06-01", 4, tomorrow_end);
        let tomorrow = CustomerScore::of(&s1, &model, &scorer, tomorrow_end);
        assert_ne!(tomorrow.reasons, today.reasons, "the day counts moved");
        assert!(
            !tomorrow.changed_materially(&today),
            "a day's drift is not material: {today:?} → {tomorrow:?}"
        );
        // A new order moves the figures.
        let s2 = summary("2025-09-01", "2026-06-30", 5, tomorrow_end);
        let after_order = CustomerScore::of(&s2, &model, &scorer, tomorrow_end);
        assert!(after_order.changed_materially(&today));
        // And the stored form reads back (serde_json parses floats to within an ulp).
        let json = serde_json::to_string(&today).unwrap();
        let back: CustomerScore = serde_json::from_str(&json).unwrap();
        assert!(!back.changed_materially(&today));
        assert_eq!((back.as_of, &back.reasons), (today.as_of, &today.reasons));
    }

    #[test]
    fn each_threshold_is_a_material_change() {
        let end = d("2026-06-30");
        let (_, _, base) = scored(&summary("2025-09-01", "2026-05-01", 2, end), end);
        let changes: Vec<(&str, Change)> = vec![
            ("risk", Box::new(|c| c.churn_risk += 0.01)),
            ("p_alive", Box::new(|c| c.p_alive -= 0.011)),
            (
                "purchases",
                Box::new(|c| c.expected_purchases = c.expected_purchases * 1.2 + 0.05),
            ),
            (
                "clv",
                Box::new(|c| c.predicted_clv_minor += 100 + c.predicted_clv_minor / 50),
            ),
            (
                "bucket",
                Box::new(|c| {
                    c.bucket = if c.bucket == RiskBucket::High {
                        RiskBucket::Low
                    } else {
                        RiskBucket::High
                    }
                }),
            ),
            ("fitted", Box::new(|c| c.fitted = !c.fitted)),
            (
                "next",
                Box::new(|c| {
                    c.expected_next_order = match c.expected_next_order {
                        Some(n) => Some(n + Duration::days(2)),
                        None => Some(end),
                    }
                }),
            ),
        ];
        for (name, change) in changes {
            let mut c = base.clone();
            change(&mut c);
            assert!(c.changed_materially(&base), "{name}");
        }
        let mut small = base.clone();
        small.churn_risk += 0.009;
        small.predicted_clv_minor += 99;
        assert!(!small.changed_materially(&base));
    }
}
