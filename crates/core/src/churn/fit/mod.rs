//! Maximum-likelihood fitting shared by the models: an unconstrained quasi-Newton minimizer,
//! run on the logarithms of the (positive) parameters, and the diagnostics every fit reports.

pub mod optimizer;

pub use optimizer::{Diagnostics, StopReason};

use optimizer::{minimize_with_gradient, Options};

use super::summary::FitData;
use super::ChurnError;

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

/// A log-likelihood in natural parameters, its gradient if known, and the total weight of its data.
pub(crate) struct Likelihood<'a> {
    pub value: &'a dyn Fn(&[f64]) -> f64,
    pub gradient: Option<ValueAndGradient<'a>>,
    pub total_weight: f64,
}

type LogSpaceObjective<'a> = (
    Box<dyn Fn(&[f64]) -> f64 + 'a>,
    Option<Box<dyn Fn(&[f64]) -> (f64, Vec<f64>) + 'a>>,
);

/// −ll(e^z)/W and, with it, its gradient −θ ⊙ ∇ll/W; +∞ where the likelihood is not finite.
fn log_space<'a>(l: &Likelihood<'a>) -> LogSpaceObjective<'a> {
    let (value, w) = (l.value, l.total_weight);
    let scaled = move |ll: f64| {
        if ll.is_finite() {
            -ll / w
        } else {
            f64::INFINITY
        }
    };
    let objective = Box::new(move |z: &[f64]| {
        let theta: Vec<f64> = z.iter().map(|v| v.exp()).collect();
        scaled(value(&theta))
    });
    let gradient = l.gradient.map(|g| {
        Box::new(move |z: &[f64]| -> (f64, Vec<f64>) {
            let theta: Vec<f64> = z.iter().map(|v| v.exp()).collect();
            let (ll, grad) = g(&theta);
            (
                scaled(ll),
                grad.iter().zip(&theta).map(|(d, t)| -d * t / w).collect(),
            )
        }) as Box<dyn Fn(&[f64]) -> (f64, Vec<f64>) + 'a>
    });
    (objective, gradient)
}

/// Maximizes a log-likelihood over positive parameters. The search runs on ln θ so that
/// positivity needs no constraint and scale differences between parameters (α in weeks vs. days)
/// do not distort the steps; the objective is divided by the total weight so that the tolerances
/// mean the same for 2,000 customers as for a million. With `warm` (the same likelihood on a sample
/// of the data, see [`WARM_START_ROWS`]) the full fit starts from the sample's optimum and its
/// curvature.
pub(crate) fn fit_positive(
    full: Likelihood<'_>,
    warm: Option<Likelihood<'_>>,
    start: &[f64],
) -> LogSpaceFit {
    let total_weight = full.total_weight;
    let mut z0: Vec<f64> = start.iter().map(|v| v.ln()).collect();
    let mut options = Options::default();
    let mut warm_iterations = 0;
    if let Some(warm) = warm {
        let (objective, gradient) = log_space(&warm);
        let m = minimize_with_gradient(&objective, gradient.as_deref(), &z0, &Options::default());
        if m.diagnostics.converged {
            z0 = m.x;
            options.initial_inverse_hessian = Some(m.inverse_hessian);
            warm_iterations = m.diagnostics.iterations;
        }
    }
    let (objective, gradient) = log_space(&full);
    let grad_ref = gradient.as_deref();
    let min = minimize_with_gradient(&objective, grad_ref, &z0, &options);
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
    diagnostics.warm_start_iterations = warm_iterations;
    LogSpaceFit {
        params,
        standard_errors,
        diagnostics,
    }
}

/// A purchase-count model (BG/NBD, Pareto/NBD) as its fit sees it: a parameter vector and the
/// log-likelihood of the summaries, with its gradient.
pub(crate) trait CountModelFit: Sized {
    /// For errors: "BG/NBD".
    const NAME: &'static str;
    fn from_params(p: &[f64]) -> Self;
    fn value(&self, data: &FitData) -> f64;
    fn value_and_gradient(&self, data: &FitData) -> (f64, Vec<f64>);
}

/// Maximum-likelihood fit of a count model from `start`, warm-started on a systematic sample when
/// the data has more than 4 × [`WARM_START_ROWS`] distinct rows; an error when the likelihood at the
/// end is not finite.
pub(crate) fn fit_count_model<M: CountModelFit>(
    data: &FitData,
    start: &[f64],
) -> Result<LogSpaceFit, ChurnError> {
    let value = |p: &[f64]| M::from_params(p).value(data);
    let gradient = |p: &[f64]| M::from_params(p).value_and_gradient(data);
    let thin = (data.rows.len() > 4 * WARM_START_ROWS).then(|| data.thinned(WARM_START_ROWS));
    let thin_data = thin.as_ref().unwrap_or(data);
    let thin_value = |p: &[f64]| M::from_params(p).value(thin_data);
    let thin_gradient = |p: &[f64]| M::from_params(p).value_and_gradient(thin_data);
    let fit = fit_positive(
        Likelihood {
            value: &value,
            gradient: Some(&gradient),
            total_weight: data.total_weight,
        },
        thin.as_ref().map(|t| Likelihood {
            value: &thin_value,
            gradient: Some(&thin_gradient),
            total_weight: t.total_weight,
        }),
        start,
    );
    if !fit.diagnostics.log_likelihood.is_finite() {
        return Err(ChurnError::FitFailed {
            model: M::NAME,
            reason: fit.diagnostics.stop_reason.describe().to_string(),
        });
    }
    Ok(fit)
}
