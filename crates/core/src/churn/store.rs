//! Everything about one store's customers in one call: the model (fitted or fallback), and per
//! customer the churn figures, RFM scores, segment and reasons. What the scan and the CLI show.

use chrono::NaiveDate;
use serde::Serialize;

use super::rfm::{reasons, rfm_scores, RfmScore, Segment};
use super::score::{ChurnModel, CustomerRisk, ScoringSettings};
use super::{summarize_all, CustomerSummary, Purchase, TimeUnit};

#[derive(Debug, Clone, Serialize)]
pub struct CustomerChurnReport<K> {
    pub customer: K,
    pub summary: CustomerSummary,
    pub risk: CustomerRisk,
    pub rfm: RfmScore,
    pub segment: Segment,
    pub reasons: Vec<String>,
}

/// Summarizes the store's purchases at `end` (in days), builds its churn model and scores every
/// customer who bought on or before `end`.
pub fn score_store<K: Ord + Clone>(
    purchases: impl IntoIterator<Item = (K, Purchase)>,
    end: NaiveDate,
    settings: ScoringSettings,
) -> (ChurnModel, Vec<CustomerChurnReport<K>>) {
    let by_customer = summarize_all(purchases, end, TimeUnit::Days);
    let (customers, summaries): (Vec<K>, Vec<CustomerSummary>) = by_customer.into_iter().unzip();
    let horizon = settings.horizon_days;
    let model = ChurnModel::build(&summaries, end, settings);
    let rfm = rfm_scores(&summaries, end);
    let reports = customers
        .into_iter()
        .zip(summaries)
        .zip(rfm)
        .map(|((customer, summary), rfm)| {
            let risk = model.score(&summary, end);
            let reasons = reasons(&summary, end, &risk, &model.method, horizon);
            CustomerChurnReport {
                customer,
                segment: Segment::of(rfm),
                rfm,
                reasons,
                risk,
                summary,
            }
        })
        .collect();
    (model, reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::score::Method;
    use crate::churn::simulate::{simulate_pareto, Resolution};
    use crate::churn::ParetoNbdParams;
    use chrono::Duration;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Purchases of simulated customers: first purchase spread over a year, repeat days as
    /// simulated, $25.00 each.
    fn simulated_store(n: usize) -> Vec<(u32, Purchase)> {
        let p = ParetoNbdParams::new(0.55, 74.0, 0.6, 82.0).unwrap();
        let end = d("2024-12-31");
        simulate_pareto(
            &p,
            n,
            30.0,
            365.0,
            9,
            Resolution::WholeDays { days_per_unit: 1.0 },
        )
        .into_iter()
        .enumerate()
        .flat_map(|(i, (x, t_x, t))| {
            let first = end - Duration::days(t as i64);
            let mut v = vec![(
                i as u32,
                Purchase {
                    date: first,
                    amount_minor: 2500,
                },
            )];
            // x repeat days, the last at t_x, the others spread before it.
            for k in 1..=x as i64 {
                let day = (t_x as i64 * k) / x as i64;
                v.push((
                    i as u32,
                    Purchase {
                        date: first + Duration::days(day),
                        amount_minor: 2500,
                    },
                ));
            }
            v
        })
        .collect()
    }

    #[test]
    fn a_real_sized_store_is_fitted_and_explained() {
        let (model, reports) = score_store(
            simulated_store(3_000),
            d("2024-12-31"),
            ScoringSettings::default(),
        );
        assert!(
            matches!(model.method, Method::Fitted { .. }),
            "{:?}",
            model.method
        );
        assert_eq!(reports.len(), 3_000);
        let repeat = reports.iter().find(|r| r.summary.frequency >= 2).unwrap();
        assert!(
            repeat.reasons[0].contains("days since the last order; usually orders every"),
            "{:?}",
            repeat.reasons
        );
        assert!(repeat
            .reasons
            .last()
            .unwrap()
            .contains("fitted to this store"));
        for r in &reports {
            assert!((0.0..=1.0).contains(&r.risk.churn_risk));
        }
    }

    #[test]
    fn a_tiny_store_says_it_used_the_fallback() {
        let rows: Vec<(u32, Purchase)> = simulated_store(3_000)
            .into_iter()
            .filter(|(c, _)| *c < 40)
            .collect();
        let (model, reports) = score_store(rows, d("2024-12-31"), ScoringSettings::default());
        assert!(matches!(model.method, Method::FallbackPriors { .. }));
        assert!(reports.iter().all(|r| r
            .reasons
            .last()
            .unwrap()
            .starts_with("fallback: fixed priors")));
    }
}
