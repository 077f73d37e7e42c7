//! Gamma-Gamma spend model: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves".
//!
//! Each repeat purchase's value is Gamma(p, ν) with ν ~ Gamma(q, γ) across customers, so a
//! customer's mean of x values, z̄, has a closed-form marginal density; spend is assumed
//! independent of the purchase process. The model is scale-free: amounts in any unit give the same
//! p and q and a γ in that unit. Here the input is minor units; the fit runs on values divided by
//! their mean (well-conditioned whatever the currency) and γ is scaled back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fit::{fit_positive, Diagnostics, Likelihood};
use super::special::{digamma, ln_gamma};
use super::{ChurnError, CountModel};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    /// Scale, in the unit of the fitted amounts (minor units unless stated).
    pub gamma: f64,
}

/// One customer's spend data: x repeat purchase days and the mean value of those days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpendRow {
    pub x: f64,
    pub mean: f64,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GammaGammaFit {
    pub params: GammaGammaParams,
    /// p, q, γ.
    pub standard_errors: Vec<Option<f64>>,
    pub diagnostics: Diagnostics,
    pub customers: f64,
}

impl GammaGammaParams {
    pub const NAMES: [&'static str; 3] = ["p", "q", "gamma"];

    pub fn new(p: f64, q: f64, gamma: f64) -> Result<Self, ChurnError> {
        super::check_positive(&[("p", p), ("q", q), ("gamma", gamma)])?;
        Ok(GammaGammaParams { p, q, gamma })
    }

    /// Groups (x, mean) pairs of repeat buyers (x ≥ 1, mean > 0) into weighted rows.
    pub fn rows(pairs: impl IntoIterator<Item = (u32, f64)>) -> Result<Vec<SpendRow>, ChurnError> {
        let mut counts: BTreeMap<(u32, u64), f64> = BTreeMap::new();
        for (x, mean) in pairs {
            if x == 0 {
                continue;
            }
            if !(mean.is_finite() && mean > 0.0) {
                return Err(ChurnError::InvalidSpend { x, mean });
            }
            *counts.entry((x, mean.to_bits())).or_insert(0.0) += 1.0;
        }
        Ok(counts
            .into_iter()
            .map(|((x, m), w)| SpendRow {
                x: x as f64,
                mean: f64::from_bits(m),
                weight: w,
            })
            .collect())
    }

    /// Log-likelihood of the means (a density: it depends on the amounts' unit).
    pub fn log_likelihood(&self, rows: &[SpendRow]) -> f64 {
        self.log_likelihood_and_gradient_opt(rows, false).0
    }

    /// The log-likelihood and its gradient in (p, q, γ).
    pub fn log_likelihood_and_gradient(&self, rows: &[SpendRow]) -> (f64, [f64; 3]) {
        self.log_likelihood_and_gradient_opt(rows, true)
    }

    /// Rows are sorted by x (see [`GammaGammaParams::rows`]), so the gamma and digamma functions
    /// of p·x are computed once per distinct x: per row only ln(γ + m x) remains.
    fn log_likelihood_and_gradient_opt(
        &self,
        rows: &[SpendRow],
        with_gradient: bool,
    ) -> (f64, [f64; 3]) {
        let GammaGammaParams { p, q, gamma } = *self;
        let (ln_gamma_scale, psi_q) = (gamma.ln(), if with_gradient { digamma(q) } else { 0.0 });
        let mut cached_x = f64::NAN;
        let (mut per_x, mut ln_x, mut psi_pxq, mut psi_px) = (0.0, 0.0, 0.0, 0.0);
        let mut value = 0.0;
        let mut grad = [0.0; 3];
        let mut n = 0.0;
        for r in rows {
            let px = p * r.x;
            if r.x != cached_x {
                cached_x = r.x;
                ln_x = r.x.ln();
                per_x = ln_gamma(px + q) - ln_gamma(px) + px * ln_x;
                if with_gradient {
                    psi_pxq = digamma(px + q);
                    psi_px = digamma(px);
                }
            }
            let ln_m = r.mean.ln();
            let total = gamma + r.mean * r.x;
            let ln_total = total.ln();
            let w = r.weight;
            n += w;
            value += w * (per_x + (px - 1.0) * ln_m - (px + q) * ln_total);
            if with_gradient {
                grad[0] += w * r.x * (psi_pxq - psi_px + ln_m + ln_x - ln_total);
                grad[1] += w * (psi_pxq - ln_total);
                grad[2] -= w * (px + q) / total;
            }
        }
        value += n * (-ln_gamma(q) + q * ln_gamma_scale);
        if with_gradient {
            grad[1] += n * (-psi_q + ln_gamma_scale);
            grad[2] += n * q / gamma;
        }
        (value, grad)
    }

    /// Maximum-likelihood fit on repeat buyers' spend.
    pub fn fit(rows: &[SpendRow]) -> Result<GammaGammaFit, ChurnError> {
        let n: f64 = rows.iter().map(|r| r.weight).sum();
        if n < 1.0 {
            return Err(ChurnError::NoRepeatBuyers);
        }
        let scale = rows.iter().map(|r| r.mean * r.weight).sum::<f64>() / n;
        let scaled: Vec<SpendRow> = rows
            .iter()
            .map(|r| SpendRow {
                mean: r.mean / scale,
                ..*r
            })
            .collect();
        let value = |v: &[f64]| {
            GammaGammaParams {
                p: v[0],
                q: v[1],
                gamma: v[2],
            }
            .log_likelihood(&scaled)
        };
        let gradient = |v: &[f64]| {
            let (ll, g) = GammaGammaParams {
                p: v[0],
                q: v[1],
                gamma: v[2],
            }
            .log_likelihood_and_gradient(&scaled);
            (ll, g.to_vec())
        };
        let fit = fit_positive(
            Likelihood {
                value: &value,
                gradient: Some(&gradient),
                total_weight: n,
            },
            None,
            &[1.0, 1.0, 1.0],
        );
        let params = GammaGammaParams {
            p: fit.params[0],
            q: fit.params[1],
            gamma: fit.params[2] * scale,
        };
        let mut diagnostics = fit.diagnostics;
        // Back to the density of the unscaled amounts.
        diagnostics.log_likelihood = params.log_likelihood(rows);
        if !diagnostics.log_likelihood.is_finite() {
            return Err(ChurnError::FitFailed {
                model: "Gamma-Gamma",
                reason: diagnostics.stop_reason.describe().to_string(),
            });
        }
        let mut standard_errors = fit.standard_errors;
        if let Some(Some(se)) = standard_errors.get_mut(2) {
            *se *= scale;
        }
        Ok(GammaGammaFit {
            params,
            standard_errors,
            diagnostics,
            customers: n,
        })
    }

    /// Expected value of a customer's future purchase, given x repeat purchases averaging `mean`
    /// (for x = 0, the population mean p γ / (q − 1)). `None` when q ≤ 1, where the population
    /// mean is infinite.
    pub fn expected_average_value(&self, x: u32, mean: f64) -> Option<f64> {
        let GammaGammaParams { p, q, gamma } = *self;
        let x = x as f64;
        let denominator = p * x + q - 1.0;
        (denominator > 0.0).then(|| p * (gamma + x * mean) / denominator)
    }
}

/// Predicted customer lifetime value over `months` months with a monthly discount rate, in minor
/// units: Σᵢ (E[Y(i months)] − E[Y(i−1 months)]) · E[M] / (1 + d)^i, a month being 365.25/12 days.
#[allow(clippy::too_many_arguments)]
pub fn predicted_clv_minor(
    count_model: &dyn CountModel,
    unit: super::TimeUnit,
    x: f64,
    t_x: f64,
    t: f64,
    expected_value_minor: f64,
    months: u32,
    monthly_discount: f64,
) -> i64 {
    let month = unit.from_days(365.25 / 12.0);
    let mut previous = 0.0;
    let mut clv = 0.0;
    for i in 1..=months {
        let cumulative = count_model.expected_purchases(month * i as f64, x, t_x, t);
        clv += (cumulative - previous) * expected_value_minor
            / (1.0 + monthly_discount).powi(i as i32);
        previous = cumulative;
    }
    clv.round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_free() {
        let rows = GammaGammaParams::rows([
            (1, 10.0),
            (2, 20.0),
            (3, 15.0),
            (1, 40.0),
            (5, 12.0),
            (2, 9.0),
        ])
        .unwrap();
        let cents: Vec<SpendRow> = rows
            .iter()
            .map(|r| SpendRow {
                mean: r.mean * 100.0,
                ..*r
            })
            .collect();
        let a = GammaGammaParams::fit(&rows).unwrap();
        let b = GammaGammaParams::fit(&cents).unwrap();
        assert!((a.params.p - b.params.p).abs() < 1e-4 * a.params.p);
        assert!((a.params.gamma * 100.0 - b.params.gamma).abs() < 1e-4 * b.params.gamma);
    }

    #[test]
    fn analytic_gradient_matches_differences() {
        let rows = GammaGammaParams::rows([(1, 10.0), (2, 20.0), (3, 15.0), (7, 12.0)]).unwrap();
        let g = GammaGammaParams::new(2.5, 3.5, 12.0).unwrap();
        let (_, grad) = g.log_likelihood_and_gradient(&rows);
        let theta = [g.p, g.q, g.gamma];
        for i in 0..3 {
            let h = 1e-6 * theta[i];
            let f = |d: f64| {
                let mut t = theta;
                t[i] += d;
                GammaGammaParams::new(t[0], t[1], t[2])
                    .unwrap()
                    .log_likelihood(&rows)
            };
            let numeric = (f(h) - f(-h)) / (2.0 * h);
            assert!(
                (grad[i] - numeric).abs() < 1e-6 * (1.0 + numeric.abs()),
                "{i}: {} vs {numeric}",
                grad[i]
            );
        }
    }

    #[test]
    fn rejects_non_positive_means() {
        assert!(GammaGammaParams::rows([(1, 0.0)]).is_err());
        assert!(matches!(
            GammaGammaParams::fit(&[]),
            Err(ChurnError::NoRepeatBuyers)
        ));
    }

    #[test]
    fn expected_value_shrinks_towards_population_mean() {
        let g = GammaGammaParams::new(6.25, 3.74, 15.44).unwrap();
        let population = g.expected_average_value(0, 0.0).unwrap();
        let one = g.expected_average_value(1, 100.0).unwrap();
        let many = g.expected_average_value(50, 100.0).unwrap();
        assert!(population < one && one < many && many < 100.0);
    }
}
