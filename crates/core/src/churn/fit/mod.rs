//! Maximum-likelihood fitting shared by the models: an unconstrained quasi-Newton minimizer,
//! run on the logarithms of the (positive) parameters, and the diagnostics every fit reports.

pub mod optimizer;

pub use optimizer::{Diagnostics, StopReason};

use optimizer::{minimize_with_gradient, Options};

/// A log-likelihood with its gradient, both in natural parameters.
pub(crate) type ValueAndGradient<'a> = &'a dyn Fn(&[f64]) -> (f64, Vec<f64>);

/// Above this many distinct rows, a fit first runs on a systematic sample of about this size and
/// starts the full fit from its result: most BFGS iterations are spent far from the optimum, and
/// there a sample's likelihood points the same way at a fraction of the cost. The full fit still
/// runs to the same convergence test, so the result does not depend on the warm start.
pub const WARM_START_ROWS: usize = 20_000;

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
///
/// `gradient`, where given, returns the log-likelihood and its gradient in θ; otherwise central
/// differences are used.
pub(crate) fn fit_positive(
    log_likelihood: impl Fn(&[f64]) -> f64,
    gradient: Option<ValueAndGradient<'_>>,
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
    // d(−ll/W)/d ln θᵢ = −θᵢ ∂ll/∂θᵢ / W.
    let log_space_gradient = gradient.map(|g| {
        move |z: &[f64]| -> Vec<f64> {
            let theta: Vec<f64> = z.iter().map(|v| v.exp()).collect();
            let (_, grad) = g(&theta);
            grad.iter()
                .zip(&theta)
                .map(|(d, t)| -d * t / total_weight)
                .collect()
        }
    });
    let grad_ref = log_space_gradient
        .as_ref()
        .map(|g| g as &dyn Fn(&[f64]) -> Vec<f64>);
    let z0: Vec<f64> = start.iter().map(|v| v.ln()).collect();
    let min = minimize_with_gradient(&objective, grad_ref, &z0, &Options::default());
    let params: Vec<f64> = min.x.iter().map(|v| v.exp()).collect();
    let standard_errors =
        optimizer::log_space_standard_errors(&objective, grad_ref, &min.x, total_weight)
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
