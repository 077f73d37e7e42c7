//! Maximum-likelihood fitting shared by the models: an unconstrained quasi-Newton minimizer,
//! run on the logarithms of the (positive) parameters, and the diagnostics every fit reports.

pub mod optimizer;

pub use optimizer::{Diagnostics, StopReason};

use optimizer::{minimize, Options};

/// A fitted parameter vector in natural units, with its standard errors and diagnostics.
#[derive(Debug, Clone)]
pub(crate) struct LogSpaceFit {
    pub params: Vec<f64>,
    pub standard_errors: Vec<Option<f64>>,
    pub diagnostics: Diagnostics,
}

/// Maximizes `log_likelihood(params)` over positive parameters. The search runs on ln θ so that
/// positivity needs no constraint and scale differences between parameters (α in weeks vs. days)
/// do not distort the steps; the objective is divided by `total_weight` so that the tolerances mean
/// the same for 2,000 customers as for a million.
pub(crate) fn fit_positive(
    log_likelihood: impl Fn(&[f64]) -> f64,
    start: &[f64],
    total_weight: f64,
) -> LogSpaceFit {
    let objective = |z: &[f64]| {
        let theta: Vec<f64> = z.iter().map(|v| v.exp()).collect();
        let ll = log_likelihood(&theta);
        if ll.is_finite() {
            -ll / total_weight
        } else {
            f64::INFINITY
        }
    };
    let z0: Vec<f64> = start.iter().map(|v| v.ln()).collect();
    let min = minimize(&objective, &z0, &Options::default());
    let params: Vec<f64> = min.x.iter().map(|v| v.exp()).collect();
    let standard_errors = optimizer::log_space_standard_errors(&objective, &min.x, total_weight)
        .map(|se| {
            se.iter()
                .zip(&params)
                .map(|(s, p)| s.map(|s| s * p))
                .collect()
        })
        .unwrap_or_else(|| vec![None; params.len()]);
    let mut diagnostics = min.diagnostics;
    diagnostics.log_likelihood = -min.f * total_weight;
    LogSpaceFit {
        params,
        standard_errors,
        diagnostics,
    }
}
