//! Per-customer churn figures, the churn-risk definition, and the small-store fallback.
//!
//! **Churn risk** = the probability of no purchase in the next N days (N a store setting, default
//! 90), computed as exp(−E[purchases in N days | history]) from the fitted Pareto/NBD: the chance
//! of zero orders for a Poisson count with the model's expected count. Why not the model's exact
//! P(no purchase) ([`CountModel::p_no_purchase`], also reported as `p_no_purchase_model`): on the
//! CDNOW holdout the exact probability ranks customers worse (AUC 0.7744 at 90 days) than the
//! expected count does (0.7787), because the model's exponential lifetimes write off heavy buyers
//! who pause and come back; and it is no better calibrated (mean over customers for the 39-week
//! holdout: exact 0.738, Poisson form 0.681, observed 0.710). BG/NBD's P(alive) is never used as a
//! risk: it is 1 for every one-time buyer (AUC 0.316). See docs/churn-model.md.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::gamma_gamma::predicted_clv_minor;
use super::{
    BgNbdParams, ChurnError, CountModel, CustomerSummary, Diagnostics, FitData, FitInputs,
    GammaGammaParams, ParetoNbdParams, TimeUnit,
};

/// Risk buckets: low below `medium`, medium from `medium`, high from `high`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskThresholds {
    pub medium: f64,
    pub high: f64,
}

impl Default for RiskThresholds {
    fn default() -> Self {
        RiskThresholds {
            medium: 0.5,
            high: 0.8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskBucket {
    Low,
    Medium,
    High,
}

impl RiskThresholds {
    pub fn new(medium: f64, high: f64) -> Result<Self, ChurnError> {
        if !(0.0 < medium && medium <= high && high < 1.0) {
            return Err(ChurnError::InvalidParameter {
                name: "risk thresholds (0 < medium ≤ high < 1)",
                value: medium,
            });
        }
        Ok(RiskThresholds { medium, high })
    }

    pub fn bucket(&self, risk: f64) -> RiskBucket {
        if risk >= self.high {
            RiskBucket::High
        } else if risk >= self.medium {
            RiskBucket::Medium
        } else {
            RiskBucket::Low
        }
    }
}

/// Store settings for scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringSettings {
    /// N in "no purchase in the next N days".
    pub horizon_days: u32,
    pub thresholds: RiskThresholds,
    /// Below any of these the models are not fitted (see [`ChurnModel::build`]).
    pub min_customers: usize,
    pub min_repeat_customers: usize,
    pub min_history_days: i64,
    pub clv_months: u32,
    pub monthly_discount: f64,
}

impl Default for ScoringSettings {
    fn default() -> Self {
        ScoringSettings {
            horizon_days: 90,
            thresholds: RiskThresholds::default(),
            min_customers: 200,
            min_repeat_customers: 50,
            min_history_days: 90,
            clv_months: 12,
            monthly_discount: 0.01,
        }
    }
}

/// The fixed priors of the small-store fallback: the Pareto/NBD fitted to CDNOW (2,357 customers,
/// 39 weeks), in days. A typical young online store's buyers, rather than a fit to noise.
pub const FALLBACK_PRIORS_DAYS: ParetoNbdParams = ParetoNbdParams {
    r: 0.55328,
    alpha: 10.5777 * 7.0,
    s: 0.60624,
    beta: 11.6687 * 7.0,
};

/// How a store's figures were made; said in every result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Method {
    /// Pareto/NBD (and Gamma-Gamma where it could be fitted) fitted to the store's own history.
    Fitted {
        customers: usize,
        repeat_customers: usize,
    },
    /// Too little data, or the fit failed: fixed priors, and the customer's own average order
    /// value instead of a spend model.
    FallbackPriors { reason: String },
}

impl Method {
    pub fn describe(&self) -> String {
        match self {
            Method::Fitted { customers, repeat_customers } => format!(
                "Pareto/NBD fitted to this store's {customers} customers ({repeat_customers} repeat buyers)"
            ),
            Method::FallbackPriors { reason } => format!(
                "fallback: fixed priors (the published CDNOW Pareto/NBD), not fitted, because {reason}"
            ),
        }
    }
}

/// A store's churn model, ready to score customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    pub method: Method,
    /// In days.
    pub counts: ParetoNbdParams,
    pub spend: Option<GammaGammaParams>,
    /// Repeat buyers the spend model left out: their repeat purchases total zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spend_left_out: u64,
    /// How the purchase-count fit went (`None`: not attempted, the store was too small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Diagnostics>,
    pub settings: ScoringSettings,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The churn figures of one customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerRisk {
    pub churn_risk: f64,
    pub bucket: RiskBucket,
    /// The model's exact probability of no purchase in the horizon.
    pub p_no_purchase_model: f64,
    pub p_alive: f64,
    pub expected_purchases: f64,
    /// If the customer is still active: today + (α + T)/(r + x), the inverse of their posterior
    /// mean purchase rate. `None` when the customer is more likely gone than not.
    pub expected_next_order: Option<NaiveDate>,
    /// Expected value of the next order, minor units.
    pub expected_order_value_minor: i64,
    /// Predicted value over `clv_months`, discounted, minor units.
    pub predicted_clv_minor: i64,
}

impl ChurnModel {
    /// Fits the store's model from customer summaries at `end` (see [`ChurnModel::fit`]).
    pub fn build(
        summaries: &[CustomerSummary],
        end: NaiveDate,
        settings: ScoringSettings,
    ) -> ChurnModel {
        ChurnModel::fit(&FitInputs::from_summaries(summaries, end), settings)
    }

    /// Fits the store's model from its merged inputs, or falls back to the fixed priors when the
    /// store has fewer than the settings' minimum customers, repeat buyers or days of history, or
    /// when the fit does not converge. The spend model leaves out repeat buyers whose repeat
    /// purchases total zero (counted in `spend_left_out`); the purchase models keep them.
    pub fn fit(inputs: &FitInputs, settings: ScoringSettings) -> ChurnModel {
        let customers = inputs.customers as usize;
        let repeat = inputs.repeat_customers as usize;
        let history = inputs.history_days;
        let fallback = |reason: String| ChurnModel {
            method: Method::FallbackPriors { reason },
            counts: FALLBACK_PRIORS_DAYS,
            spend: None,
            spend_left_out: inputs.spend_left_out,
            diagnostics: None,
            settings: settings.clone(),
        };
        if customers < settings.min_customers {
            return fallback(format!(
                "the store has {customers} customers (minimum {})",
                settings.min_customers
            ));
        }
        if repeat < settings.min_repeat_customers {
            return fallback(format!(
                "only {repeat} customers ordered twice (minimum {})",
                settings.min_repeat_customers
            ));
        }
        if history < settings.min_history_days {
            return fallback(format!(
                "the history covers {history} days (minimum {})",
                settings.min_history_days
            ));
        }
        let data = FitData::from_weighted(inputs.weighted_triples());
        let (counts, diagnostics) = match ParetoNbdParams::fit(&data) {
            Ok(f) if f.diagnostics.converged => (f.params, f.diagnostics),
            Ok(f) => {
                return ChurnModel {
                    diagnostics: Some(f.diagnostics.clone()),
                    ..fallback(format!(
                        "the Pareto/NBD fit did not converge ({})",
                        f.diagnostics.stop_reason.describe()
                    ))
                }
            }
            Err(e) => return fallback(e.to_string()),
        };
        let spend = GammaGammaParams::fit(&inputs.spend_rows())
            .ok()
            .filter(|f| f.diagnostics.converged && f.params.q > 1.0)
            .map(|f| f.params);
        ChurnModel {
            method: Method::Fitted {
                customers,
                repeat_customers: repeat,
            },
            counts,
            spend,
            spend_left_out: inputs.spend_left_out,
            diagnostics: Some(diagnostics),
            settings,
        }
    }

    pub fn score(&self, s: &CustomerSummary, end: NaiveDate) -> CustomerRisk {
        let k = s.unit.days();
        let (x, t_x, t) = (s.frequency as f64, s.recency * k, s.age * k);
        let h = self.settings.horizon_days as f64;
        let m = &self.counts;
        let expected = m.expected_purchases(h, x, t_x, t);
        let churn_risk = (-expected).exp();
        let p_alive = m.p_alive(x, t_x, t);
        let wait_days = (m.alpha + t) / (m.r + x);
        let expected_next_order = (p_alive >= 0.5 && wait_days < 36_500.0)
            .then(|| end + Duration::days(wait_days.round() as i64));
        let own_mean = s.total_value_minor as f64 / (x + 1.0);
        let order_value = match &self.spend {
            Some(g) => g
                .expected_average_value(s.frequency, s.mean_repeat_value_minor().unwrap_or(0.0))
                .unwrap_or(own_mean),
            None => own_mean,
        };
        let clv = predicted_clv_minor(
            m,
            TimeUnit::Days,
            x,
            t_x,
            t,
            order_value,
            self.settings.clv_months,
            self.settings.monthly_discount,
        );
        CustomerRisk {
            churn_risk,
            bucket: self.settings.thresholds.bucket(churn_risk),
            p_no_purchase_model: m.p_no_purchase(h, x, t_x, t),
            p_alive,
            expected_purchases: expected,
            expected_next_order,
            expected_order_value_minor: order_value.round() as i64,
            predicted_clv_minor: clv,
        }
    }

    /// Churn risk only, for ranking many customers fast (times in days).
    pub fn churn_risk(&self, x: f64, t_x: f64, t: f64) -> f64 {
        (-self
            .counts
            .expected_purchases(self.settings.horizon_days as f64, x, t_x, t))
        .exp()
    }
}

/// Churn risk (see the module documentation) from any count model, horizon in the model's unit.
pub fn churn_risk(model: &dyn CountModel, horizon: f64, x: f64, t_x: f64, t: f64) -> f64 {
    (-model.expected_purchases(horizon, x, t_x, t)).exp()
}

/// BG/NBD is kept for comparison and for the CLI; it is not the default scorer.
pub fn bgnbd_churn_risk(model: &BgNbdParams, horizon: f64, x: f64, t_x: f64, t: f64) -> f64 {
    churn_risk(model, horizon, x, t_x, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::{summarize, Purchase};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn small_store_falls_back_and_says_so() {
        let end = d("2024-06-30");
        let s = summarize(
            &[
                Purchase {
                    date: d("2024-01-01"),
                    amount_minor: 5000,
                },
                Purchase {
                    date: d("2024-02-01"),
                    amount_minor: 3000,
                },
            ],
            end,
            TimeUnit::Days,
        )
        .unwrap();
        let model = ChurnModel::build(std::slice::from_ref(&s), end, ScoringSettings::default());
        assert!(matches!(model.method, Method::FallbackPriors { .. }));
        assert!(model.method.describe().contains("1 customers"));
        let risk = model.score(&s, end);
        assert!((0.0..=1.0).contains(&risk.churn_risk));
        assert_eq!(risk.expected_order_value_minor, 4000);
    }

    #[test]
    fn recent_frequent_buyer_is_lower_risk_than_lapsed_one() {
        let model = ChurnModel::build(&[], d("2024-06-30"), ScoringSettings::default());
        let recent = model.churn_risk(10.0, 170.0, 180.0);
        let lapsed = model.churn_risk(10.0, 40.0, 180.0);
        assert!(recent < lapsed);
        assert_eq!(model.settings.thresholds.bucket(0.9), RiskBucket::High);
        assert!(RiskThresholds::new(0.9, 0.5).is_err());
    }

    /// Two kinds of customer and nothing between: 150 who ordered once, 50 who have ordered every
    /// day since (x = t_x = T = 120 days). No gamma distribution of purchase rates fits a point
    /// mass at zero beside one at a purchase a day: the likelihood climbs towards r, α → 0, the
    /// boundary of the parameter space, and the minimizer stops on rounding with a gradient far
    /// from zero. The store passes every eligibility test, so it is the fit itself that fails.
    #[test]
    fn a_fit_that_does_not_converge_falls_back_and_says_why() {
        let end = d("2024-06-30");
        let first = d("2024-03-02");
        let once = summarize(
            &[Purchase {
                date: first,
                amount_minor: 2500,
            }],
            end,
            TimeUnit::Days,
        )
        .unwrap();
        let daily_orders: Vec<Purchase> = (0..=120)
            .map(|k| Purchase {
                date: first + Duration::days(k),
                amount_minor: 1200,
            })
            .collect();
        let daily = summarize(&daily_orders, end, TimeUnit::Days).unwrap();
        assert_eq!(
            (daily.frequency, daily.recency, daily.age),
            (120, 120.0, 120.0)
        );
        let mut customers = vec![once.clone(); 150];
        customers.extend(std::iter::repeat_n(daily.clone(), 50));
        let settings = ScoringSettings::default();
        assert!(customers.len() >= settings.min_customers);

        let model = ChurnModel::build(&customers, end, settings);

        let Method::FallbackPriors { reason } = &model.method else {
            panic!("expected the fallback, got {:?}", model.method);
        };
        assert!(
            reason.starts_with("the Pareto/NBD fit did not converge ("),
            "{reason}"
        );
        let diagnostics = model
            .diagnostics
            .as_ref()
            .expect("the failed fit's diagnostics are kept");
        assert!(!diagnostics.converged);
        assert!(
            reason.contains(diagnostics.stop_reason.describe()),
            "{reason}"
        );
        assert!(diagnostics.gradient_max_abs > 1e-3, "{diagnostics:?}");
        assert_eq!(model.counts, FALLBACK_PRIORS_DAYS);
        assert!(model.spend.is_none());
        // Everyone is still scored, with the priors.
        for s in [&once, &daily] {
            let risk = model.score(s, end);
            assert!((0.0..=1.0).contains(&risk.churn_risk), "{risk:?}");
            assert!(risk.predicted_clv_minor >= 0);
        }
        assert!(model.score(&daily, end).churn_risk < model.score(&once, end).churn_risk);
    }
}
