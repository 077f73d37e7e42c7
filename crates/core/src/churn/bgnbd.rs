//! BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way".
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each purchase
//! they drop out with probability p ~ Beta(a, b). Dropout happens only right after a purchase, so a
//! customer with no repeat purchase is certainly alive (P(alive) = 1): that is why BG/NBD's P(alive)
//! must not be used as a churn-risk figure (see `score.rs`).

use serde::Serialize;

use super::fit::{fit_count_model, CountModelFit, Diagnostics};
use super::special::{digamma, hyp_tail_over_b, ln_beta, ln_gamma, log_add_exp};
use super::summary::FitData;
use super::{ChurnError, CountModel};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbdParams {
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self, ChurnError> {
        super::check_positive(&[("r", r), ("alpha", alpha), ("a", a), ("b", b)])?;
        Ok(BgNbdParams { r, alpha, a, b })
    }

    fn from_slice(p: &[f64]) -> Self {
        BgNbdParams {
            r: p[0],
            alpha: p[1],
            a: p[2],
            b: p[3],
        }
    }

    pub const NAMES: [&'static str; 4] = ["r", "alpha", "a", "b"];

    pub fn as_array(&self) -> [f64; 4] {
        [self.r, self.alpha, self.a, self.b]
    }

    /// Sum of the weighted log-likelihoods of `data`.
    pub fn log_likelihood(&self, data: &FitData) -> f64 {
        self.log_likelihood_and_gradient(data, false).0
    }

    /// The log-likelihood of `data` and, if `with_gradient`, its gradient in (r, α, a, b), in one
    /// pass. ln(α + t) is computed once per distinct time and the gamma functions of x once per
    /// distinct x (rows are sorted by x), which is most of the cost of an evaluation.
    pub fn log_likelihood_and_gradient(
        &self,
        data: &FitData,
        with_gradient: bool,
    ) -> (f64, [f64; 4]) {
        let BgNbdParams { r, alpha, a, b } = *self;
        let ln_alpha_t: Vec<f64> = data.times.iter().map(|t| (alpha + t).ln()).collect();
        let inv_alpha_t: Vec<f64> = if with_gradient {
            data.times.iter().map(|t| 1.0 / (alpha + t)).collect()
        } else {
            Vec::new()
        };
        let ln_a = a.ln();
        let ln_gamma_a = ln_gamma(a);
        let mut cached_x = f64::NAN;
        let (mut per_x, mut ln_b_x1) = (0.0, 0.0);
        let mut per_x_grad = [0.0; 3]; // r, a, b
        let mut value = 0.0;
        let mut grad = [0.0; 4];
        for row in &data.rows {
            let x = row.x;
            let rx = r + x;
            if x != cached_x {
                cached_x = x;
                // ln Γ(r+x) + ln B(a, b+x).
                per_x = ln_gamma(rx) + ln_gamma_a + ln_gamma(b + x) - ln_gamma(a + b + x);
                ln_b_x1 = ln_a - (b + x - 1.0).ln();
                if with_gradient {
                    let psi_abx = digamma(a + b + x);
                    per_x_grad = [digamma(rx), digamma(a) - psi_abx, digamma(b + x) - psi_abx];
                }
            }
            let ln_alive = -rx * ln_alpha_t[row.t_time as usize];
            // tail = ln(A + B), with w_b = B / (A + B) the weight of "dropped out after t_x".
            // ln(1 + e) rather than ln_1p(e): half the cost, and its absolute error (1e-16) is
            // what a sum of log-likelihoods needs.
            let (tail, w_b) = if x > 0.0 {
                let ln_dropped = ln_b_x1 - rx * ln_alpha_t[row.t_x_time as usize];
                if ln_alive >= ln_dropped {
                    let e = (ln_dropped - ln_alive).exp();
                    (ln_alive + (1.0 + e).ln(), e / (1.0 + e))
                } else {
                    let e = (ln_alive - ln_dropped).exp();
                    (ln_dropped + (1.0 + e).ln(), 1.0 / (1.0 + e))
                }
            } else {
                (ln_alive, 0.0)
            };
            let w = row.weight;
            value += w * (per_x + tail);
            if with_gradient {
                let w_a = 1.0 - w_b;
                let (lt, ltx) = (
                    ln_alpha_t[row.t_time as usize],
                    ln_alpha_t[row.t_x_time as usize],
                );
                let (it, itx) = (
                    inv_alpha_t[row.t_time as usize],
                    inv_alpha_t[row.t_x_time as usize],
                );
                grad[0] += w * (per_x_grad[0] - w_a * lt - w_b * ltx);
                grad[1] -= w * rx * (w_a * it + w_b * itx);
                grad[2] += w * (per_x_grad[1] + w_b / a);
                grad[3] += w * (per_x_grad[2] - if x > 0.0 { w_b / (b + x - 1.0) } else { 0.0 });
            }
        }
        // Terms shared by every customer: −ln Γ(r) + r ln α − ln B(a, b).
        let n = data.total_weight;
        value += n * (-ln_gamma(r) + r * alpha.ln() - ln_beta(a, b));
        if with_gradient {
            let psi_ab = digamma(a + b);
            grad[0] += n * (-digamma(r) + alpha.ln());
            grad[1] += n * r / alpha;
            // ∂/∂a of ln Γ(a) in B(a, b+x) is already in per_x_grad; − ln B(a, b) adds −ψ(a) + ψ(a+b).
            grad[2] += n * (-digamma(a) + psi_ab);
            grad[3] += n * (-digamma(b) + psi_ab);
        }
        (value, grad)
    }

    /// Maximum-likelihood fit.
    pub fn fit(data: &FitData) -> Result<BgNbdFit, ChurnError> {
        data.validate()?;
        let mean_t = data.rows.iter().map(|r| r.t * r.weight).sum::<f64>() / data.total_weight;
        let start = [1.0, mean_t.max(1e-3), 1.0, 1.0];
        let fit = fit_count_model::<BgNbdParams>(data, &start)?;
        Ok(BgNbdFit {
            params: BgNbdParams::from_slice(&fit.params),
            standard_errors: fit.standard_errors,
            diagnostics: fit.diagnostics,
        })
    }
}

/// A fitted BG/NBD model.
#[derive(Debug, Clone, Serialize)]
pub struct BgNbdFit {
    pub params: BgNbdParams,
    /// In the order of [`BgNbdParams::NAMES`]; `None` where the information matrix gave none.
    pub standard_errors: Vec<Option<f64>>,
    pub diagnostics: Diagnostics,
}

impl CountModelFit for BgNbdParams {
    const NAME: &'static str = "BG/NBD";
    fn from_params(p: &[f64]) -> Self {
        Self::from_slice(p)
    }
    fn value(&self, data: &FitData) -> f64 {
        self.log_likelihood(data)
    }
    fn value_and_gradient(&self, data: &FitData) -> (f64, Vec<f64>) {
        let (v, g) = self.log_likelihood_and_gradient(data, true);
        (v, g.to_vec())
    }
}

impl CountModel for BgNbdParams {
    fn ln_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let rx = self.r + x;
        let mut ll = ln_gamma(rx) - ln_gamma(self.r)
            + self.r * self.alpha.ln()
            + ln_beta(self.a, self.b + x)
            - ln_beta(self.a, self.b);
        let alive = -rx * (self.alpha + t).ln();
        ll += if x > 0.0 {
            log_add_exp(
                alive,
                self.a.ln() - (self.b + x - 1.0).ln() - rx * (self.alpha + t_x).ln(),
            )
        } else {
            alive
        };
        ll
    }

    fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        let ln_odds = self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + t).ln() - (self.alpha + t_x).ln());
        1.0 / (1.0 + ln_odds.exp())
    }

    fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> f64 {
        if horizon <= 0.0 {
            return 0.0;
        }
        let BgNbdParams { r, alpha, a, b } = *self;
        // z and ln(1 − z) from their parts, so that small horizons keep their precision.
        let z = horizon / (alpha + t + horizon);
        let ln_1mz = -(horizon / (alpha + t)).ln_1p();
        let am1 = a - 1.0;
        // K = (1 − (1−z)^(a−1)) / (a − 1), with its limit −ln(1 − z) at a = 1.
        let k = if am1.abs() < 1e-12 {
            -ln_1mz
        } else {
            -(am1 * ln_1mz).exp_m1() / am1
        };
        let g = hyp_tail_over_b(a + b - 1.0 - r, a, a + b + x - 1.0, z).unwrap_or(f64::NAN);
        let bracket = k - (am1 * ln_1mz).exp() * g;
        (a + b + x - 1.0) * bracket * self.p_alive(x, t_x, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cdnow() -> BgNbdParams {
        BgNbdParams::new(0.24259, 4.4136, 0.79292, 2.42591).unwrap()
    }

    /// E[Y(t) | …] by the published formula, with a plain 2F1 series: checks the transformed one.
    fn expected_by_paper(p: &BgNbdParams, h: f64, x: f64, t_x: f64, t: f64) -> f64 {
        let (aa, bb, cc) = (p.r + x, p.b + x, p.a + p.b + x - 1.0);
        let z = h / (p.alpha + t + h);
        let mut f = 0.0;
        let mut term = 1.0;
        for n in 0..100_000 {
            f += term;
            let n = n as f64;
            term *= (aa + n) * (bb + n) / ((cc + n) * (n + 1.0)) * z;
        }
        let num = 1.0 - ((p.alpha + t) / (p.alpha + t + h)).powf(p.r + x) * f;
        let den = if x > 0.0 {
            1.0 + p.a / (p.b + x - 1.0) * ((p.alpha + t) / (p.alpha + t_x)).powf(p.r + x)
        } else {
            1.0
        };
        (p.a + p.b + x - 1.0) / (p.a - 1.0) * num / den
    }

    #[test]
    fn expectation_matches_published_formula() {
        let p = cdnow();
        for &(x, t_x, t) in &[(0.0, 0.0, 38.86), (2.0, 30.43, 38.86), (7.0, 35.0, 37.0)] {
            let fast = p.expected_purchases(39.0, x, t_x, t);
            let slow = expected_by_paper(&p, 39.0, x, t_x, t);
            assert!((fast - slow).abs() < 1e-9 * slow, "{fast} vs {slow}");
        }
        // Near a = 1 the published form divides 0 by 0; the transformed one stays smooth.
        let near = BgNbdParams::new(0.5, 4.0, 1.0 + 1e-13, 2.0).unwrap();
        let at = BgNbdParams::new(0.5, 4.0, 1.0, 2.0).unwrap();
        let e1 = near.expected_purchases(10.0, 1.0, 5.0, 20.0);
        let e2 = at.expected_purchases(10.0, 1.0, 5.0, 20.0);
        assert!((e1 - e2).abs() < 1e-9 && e1 > 0.0);
    }

    #[test]
    fn fitted_model_total_likelihood_equals_row_sum() {
        let p = cdnow();
        let data = FitData::from_triples([(0.0, 0.0, 30.0), (0.0, 0.0, 30.0), (3.0, 20.0, 35.0)]);
        let by_row: f64 = [(0.0, 0.0, 30.0), (0.0, 0.0, 30.0), (3.0, 20.0, 35.0)]
            .iter()
            .map(|&(x, tx, t)| p.ln_likelihood(x, tx, t))
            .sum();
        assert!((p.log_likelihood(&data) - by_row).abs() < 1e-10);
    }

    proptest! {
        #[test]
        fn analytic_gradient_matches_differences(r in 0.05f64..3.0, alpha in 0.5f64..20.0, a in 0.2f64..3.0, b in 0.5f64..5.0) {
            let data = FitData::from_triples([(0.0, 0.0, 30.0), (0.0, 0.0, 12.0), (3.0, 20.0, 35.0), (1.0, 0.5, 35.0), (12.0, 29.0, 30.0)]);
            let p = BgNbdParams::new(r, alpha, a, b).unwrap();
            let (v, g) = p.log_likelihood_and_gradient(&data, true);
            prop_assert!((v - p.log_likelihood(&data)).abs() < 1e-12 * v.abs());
            let theta = p.as_array();
            for i in 0..4 {
                let h = 1e-6 * theta[i];
                let mut up = theta;
                up[i] += h;
                let mut down = theta;
                down[i] -= h;
                let f = |t: [f64; 4]| BgNbdParams::new(t[0], t[1], t[2], t[3]).unwrap().log_likelihood(&data);
                let numeric = (f(up) - f(down)) / (2.0 * h);
                prop_assert!((g[i] - numeric).abs() < 1e-5 * (1.0 + numeric.abs()), "param {i}: {} vs {numeric}", g[i]);
            }
        }

        #[test]
        fn probabilities_are_probabilities(x in 0u32..200, frac in 0.0f64..1.0, t in 0.1f64..500.0, h in 0.0f64..500.0) {
            let p = cdnow();
            let x = x as f64;
            let t_x = if x == 0.0 { 0.0 } else { (frac * t).max(1e-3) };
            let alive = p.p_alive(x, t_x, t);
            let none = p.p_no_purchase(h, x, t_x, t);
            prop_assert!((0.0..=1.0).contains(&alive));
            prop_assert!((0.0..=1.0).contains(&none));
            let e = p.expected_purchases(h, x, t_x, t);
            prop_assert!(e.is_finite() && e >= 0.0);
            // No purchase in h is at least as likely as being dead already.
            prop_assert!(none + 1e-12 >= 1.0 - alive);
        }
    }
}
