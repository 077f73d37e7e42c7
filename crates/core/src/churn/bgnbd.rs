//! BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way".
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each purchase
//! they drop out with probability p ~ Beta(a, b). Dropout happens only right after a purchase, so a
//! customer with no repeat purchase is certainly alive (P(alive) = 1): that is why BG/NBD's P(alive)
//! must not be used as a churn-risk figure (see `score.rs`).

use serde::Serialize;

use super::fit::{fit_positive, Diagnostics};
use super::special::{hyp_tail_over_b, ln_beta, ln_gamma, log_add_exp};
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
        // ln Γ(r) and ln B(a, b) are the same for every row: computed once per evaluation.
        let shared = -ln_gamma(self.r) + self.r * self.alpha.ln() - ln_beta(self.a, self.b);
        let ln_a = self.a.ln();
        let ln_gamma_ab = ln_gamma(self.a);
        data.rows
            .iter()
            .map(|row| {
                let x = row.x;
                let rx = self.r + x;
                // ln B(a, b+x) with ln Γ(a) hoisted.
                let ln_beta_x = ln_gamma_ab + ln_gamma(self.b + x) - ln_gamma(self.a + self.b + x);
                let alive = -rx * (self.alpha + row.t).ln();
                let tail = if x > 0.0 {
                    log_add_exp(
                        alive,
                        ln_a - (self.b + x - 1.0).ln() - rx * (self.alpha + row.t_x).ln(),
                    )
                } else {
                    alive
                };
                row.weight * (ln_gamma(rx) + ln_beta_x + tail)
            })
            .sum::<f64>()
            + shared * data.total_weight
    }

    /// Maximum-likelihood fit.
    pub fn fit(data: &FitData) -> Result<BgNbdFit, ChurnError> {
        data.validate()?;
        let mean_t = data.rows.iter().map(|r| r.t * r.weight).sum::<f64>() / data.total_weight;
        let start = [1.0, mean_t.max(1e-3), 1.0, 1.0];
        let fit = fit_positive(
            |p| BgNbdParams::from_slice(p).log_likelihood(data),
            &start,
            data.total_weight,
        );
        if !fit.diagnostics.log_likelihood.is_finite() {
            return Err(ChurnError::FitFailed {
                model: "BG/NBD",
                reason: fit.diagnostics.stop_reason.describe().to_string(),
            });
        }
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
