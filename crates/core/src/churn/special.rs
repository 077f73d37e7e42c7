//! Special functions the models need, written here rather than pulled from a statistics crate:
//! the models use only log-gamma and two Gauss hypergeometric series whose parameters are known in
//! advance, and each can be put in the form that converges fastest for exactly that use (see
//! `pareto.rs` and `bgnbd.rs`). A general-purpose `2F1` would be slower and, near z = 1, less
//! accurate than the transformed series.

/// ln Γ(x) for x > 0, by the Lanczos approximation (g = 7, 9 terms; relative error ≈ 1e-15),
/// which is accurate over the whole range the likelihoods use (shape parameters from 1e-4 to 1e6).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the approximation inside its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// ψ(x) = d ln Γ(x)/dx for x > 0: the recurrence ψ(x) = ψ(x+1) − 1/x up to x ≥ 12, then the
/// asymptotic series to x^-10 (next term < 2e-15 there). For the analytic likelihood gradients.
pub fn digamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 12.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    acc + x.ln()
        - 0.5 * inv
        - inv2
            * (1.0 / 12.0
                - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 / 132.0))))
}

/// ln B(a, b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(e^u + e^v) without overflow or underflow; -inf terms are allowed.
pub fn log_add_exp(u: f64, v: f64) -> f64 {
    let (hi, lo) = if u >= v { (u, v) } else { (v, u) };
    if hi == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// ln(e^u − e^v) for u ≥ v; returns -inf when they are equal (an empty interval).
pub fn log_sub_exp(u: f64, v: f64) -> f64 {
    if v >= u {
        return f64::NEG_INFINITY;
    }
    u + (-(v - u).exp()).ln_1p()
}

/// The largest number of series terms before a series is declared not to converge. With
/// ratios bounded by z the tail bound below makes this reachable only for z > 0.9999.
pub const MAX_SERIES_TERMS: usize = 200_000;

/// Σ_{n≥0} (a)_n / (c)_n · z^n for 0 ≤ z < 1 and 0 < a ≤ c: the `2F1(1, a; c; z)` that both
/// branches of the Pareto/NBD likelihood reduce to after Euler's transformation. Every term is
/// positive and each ratio (a+n)/(c+n)·z is below z, so the tail after a term u is < u·z/(1−z):
/// the sum stops when that bound is below machine precision. `None` if it does not converge.
pub fn hyp_1_a_c(a: f64, c: f64, z: f64) -> Option<f64> {
    hyp_1_a_c_to(a, c, z, f64::EPSILON * 0.5)
}

/// [`hyp_1_a_c`] to a relative precision `tolerance`: probabilities shown to a store need 1e-12,
/// not the 1e-16 a log-likelihood sum over a million customers does, and each digit less is a term
/// less per customer when scoring millions.
pub fn hyp_1_a_c_to(a: f64, c: f64, z: f64, tolerance: f64) -> Option<f64> {
    debug_assert!((0.0..1.0).contains(&z));
    let mut sum = 1.0;
    let mut term = 1.0;
    let tail_factor = z / (1.0 - z);
    for n in 0..MAX_SERIES_TERMS {
        let nf = n as f64;
        term *= (a + nf) / (c + nf) * z;
        sum += term;
        if term * tail_factor <= tolerance * sum {
            return Some(sum);
        }
    }
    None
}

/// Σ_{n≥1} (p)_n (q)_{n−1} / ((c)_n n!) · z^n: the part of `2F1(p, q−1; c; z)` divided by
/// (q − 1), so that BG/NBD's conditional expectation stays finite and accurate as a → 1.
/// Terms may alternate in sign when p < 0; it stops when a term no longer moves the sum.
pub fn hyp_tail_over_b(p: f64, q: f64, c: f64, z: f64) -> Option<f64> {
    debug_assert!((0.0..1.0).contains(&z));
    let mut term = p / c * z;
    let mut sum = term;
    for n in 1..MAX_SERIES_TERMS {
        let nf = n as f64;
        term *= (p + nf) * (q + nf - 1.0) / ((c + nf) * (nf + 1.0)) * z;
        sum += term;
        if term.abs() <= f64::EPSILON * 0.25 * sum.abs() && nf > (p.abs() + q.abs()) * z {
            return Some(sum);
        }
        if !sum.is_finite() {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ln_gamma_matches_known_values() {
        assert!((ln_gamma(1.0)).abs() < 1e-14);
        assert!((ln_gamma(2.0)).abs() < 1e-14);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-14);
        // ln(10!) = ln 3628800
        assert!((ln_gamma(11.0) - 3_628_800f64.ln()).abs() < 1e-12);
        // Stirling territory: ln Γ(1e6) = 12815504.569147612...
        assert!((ln_gamma(1e6) - 12_815_504.569_147_61).abs() / 1.28e7 < 1e-14);
        // Small arguments: Γ(1e-3) = 999.42377...
        assert!((ln_gamma(1e-3) - 999.423_772_484_595_5f64.ln()).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn digamma_is_the_derivative_of_ln_gamma(x in 0.01f64..1e4) {
            let h = 1e-5 * x.max(1.0);
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            prop_assert!((digamma(x) - numeric).abs() < 1e-6 * (1.0 + numeric.abs()), "{} vs {}", digamma(x), numeric);
        }

        #[test]
        fn ln_gamma_recurrence(x in 1e-3f64..1e4) {
            // Γ(x+1) = x Γ(x)
            let lhs = ln_gamma(x + 1.0);
            let rhs = ln_gamma(x) + x.ln();
            prop_assert!((lhs - rhs).abs() <= 1e-12 * (1.0 + lhs.abs()));
        }

        #[test]
        fn log_add_and_sub_are_inverse(u in -700f64..700.0, d in 1e-6f64..50.0) {
            let v = u - d;
            let s = log_add_exp(u, v);
            prop_assert!((log_sub_exp(s, v) - u).abs() < 1e-9 * (1.0 + u.abs()));
        }

        #[test]
        fn hyp_1_a_c_matches_naive_sum(a in 0.01f64..50.0, extra in 0.0f64..20.0, z in 0.0f64..0.95) {
            let c = a + extra + 0.01;
            let fast = hyp_1_a_c(a, c, z).unwrap();
            let mut naive = 0.0;
            let mut term = 1.0;
            for n in 0..20_000 {
                naive += term;
                term *= (a + n as f64) / (c + n as f64) * z;
            }
            prop_assert!((fast - naive).abs() <= 1e-13 * naive);
        }
    }

    #[test]
    fn digamma_known_values() {
        // ψ(1) = −γ (Euler–Mascheroni), ψ(1/2) = −γ − 2 ln 2.
        let euler = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + euler).abs() < 1e-13);
        assert!((digamma(0.5) + euler + 2.0 * 2f64.ln()).abs() < 1e-13);
    }

    #[test]
    fn closed_form_of_hyp_1_a_c() {
        // 2F1(1, 1; 2; z) = −ln(1 − z)/z
        let z = 0.7;
        let exact = -(1.0f64 - z).ln() / z;
        assert!((hyp_1_a_c(1.0, 2.0, z).unwrap() - exact).abs() < 1e-14);
    }
}
