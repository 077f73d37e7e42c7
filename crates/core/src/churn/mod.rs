//! Churn risk: who is likely to buy again, how much, and when — from the store's own history.
//!
//! The published Buy-Till-You-Die models, fitted by maximum likelihood: BG/NBD and Pareto/NBD for
//! purchase counts and dropout, Gamma-Gamma for spend; RFM scores and segments for the plain-words
//! view; retention KPIs for the store as a whole. Pure computation, no I/O: the scan, the CLI and
//! the benchmarks share it. The design and the churn-risk definition are in docs/churn-model.md.

pub mod bgnbd;
pub mod evaluate;
pub mod fit;
pub mod gamma_gamma;
pub mod inputs;
pub mod kpi;
pub mod pareto;
pub mod report;
pub mod rfm;
pub mod score;
pub mod scored;
pub mod simulate;
pub mod special;
pub mod store;
pub mod summary;
pub mod transactions;

pub use bgnbd::{BgNbdFit, BgNbdParams};
pub use fit::{Diagnostics, StopReason};
pub use gamma_gamma::{GammaGammaFit, GammaGammaParams};
pub use inputs::FitInputs;
pub use pareto::{ParetoNbdFit, ParetoNbdParams};
pub use summary::{summarize, summarize_all, CustomerSummary, FitData, Purchase, TimeUnit};

/// What can go wrong in the churn models; every variant is the caller's data or settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChurnError {
    #[error("parameter {name} must be a positive finite number, got {value}")]
    InvalidParameter { name: &'static str, value: f64 },
    #[error("no customers to fit")]
    NoCustomers,
    #[error("no customer has any observation time (every first purchase is on the end date)")]
    NoObservationTime,
    #[error("impossible summary x = {x}, t_x = {t_x}, T = {t}: need whole x ≥ 0, 0 ≤ t_x ≤ T, t_x > 0 when x > 0")]
    InvalidSummary { x: f64, t_x: f64, t: f64 },
    #[error("a repeat buyer (x = {x}) has a non-positive or non-finite mean spend {mean}")]
    InvalidSpend { x: u32, mean: f64 },
    #[error("no repeat buyers: the spend model needs customers with at least one repeat purchase")]
    NoRepeatBuyers,
    #[error("the {model} fit failed: {reason}")]
    FitFailed { model: &'static str, reason: String },
}

pub(crate) fn check_positive(values: &[(&'static str, f64)]) -> Result<(), ChurnError> {
    for &(name, value) in values {
        if !(value.is_finite() && value > 0.0) {
            return Err(ChurnError::InvalidParameter { name, value });
        }
    }
    Ok(())
}

/// A fitted purchase-count model, queried per customer summary (x, t_x, T), times in the model's
/// unit.
pub trait CountModel {
    /// ln of the probability (density in the purchase times) of the history.
    fn ln_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64;

    /// Probability that the customer is still alive at T.
    fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64;

    /// Expected number of purchases in (T, T + horizon].
    fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> f64;

    /// Probability of no purchase in (T, T + horizon]. The likelihood of (x, t_x, T + h) is the
    /// probability of the same history followed by h of silence, so the ratio of the two
    /// likelihoods is exactly this conditional probability, for either model, and it inherits
    /// their numerically stable evaluation.
    fn p_no_purchase(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> f64 {
        if horizon <= 0.0 {
            return 1.0;
        }
        let ratio = (self.ln_likelihood(x, t_x, t + horizon) - self.ln_likelihood(x, t_x, t)).exp();
        ratio.clamp(0.0, 1.0)
    }
}
