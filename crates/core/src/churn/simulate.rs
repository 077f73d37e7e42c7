//! Simulating customers from known parameters, for the parameter-recovery tests and the
//! benchmarks. A small self-contained generator (xoshiro256**) with fixed seeds keeps the tests
//! reproducible across platforms without a `rand` dependency in the domain crate.

use super::{BgNbdParams, ParetoNbdParams};

/// xoshiro256** seeded through SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform on (0, 1): never exactly 0, so logarithms are safe.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn exponential(&mut self, rate: f64) -> f64 {
        -self.uniform().ln() / rate
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Gamma(shape, rate) by Marsaglia & Tsang, boosted for shape < 1.
    pub fn gamma(&mut self, shape: f64, rate: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform();
            return self.gamma(shape + 1.0, rate) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v / rate;
            }
        }
    }

    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        let y = self.gamma(b, 1.0);
        x / (x + y)
    }
}

/// How simulated purchase times are recorded.
#[derive(Debug, Clone, Copy)]
pub enum Resolution {
    /// Exact times: every customer distinct.
    Continuous,
    /// Rounded down to whole days, `days_per_unit` days a unit (7 for weeks); same-day purchases
    /// merge, as in a real store's summaries.
    WholeDays { days_per_unit: f64 },
}

fn record(times: &[f64], t_end: f64, resolution: Resolution) -> (f64, f64, f64) {
    match resolution {
        Resolution::Continuous => {
            let x = times.len() as f64;
            (x, times.last().copied().unwrap_or(0.0), t_end)
        }
        Resolution::WholeDays { days_per_unit } => {
            let day = |t: f64| (t * days_per_unit).floor();
            let mut last = 0.0;
            let mut x = 0.0;
            for &t in times.iter() {
                let d = day(t);
                if d > last {
                    x += 1.0;
                    last = d;
                }
            }
            (x, last / days_per_unit, day(t_end) / days_per_unit)
        }
    }
}

/// (x, t_x, T) of `n` BG/NBD customers with T uniform on [t_min, t_max].
pub fn simulate_bgnbd(
    p: &BgNbdParams,
    n: usize,
    t_min: f64,
    t_max: f64,
    seed: u64,
    resolution: Resolution,
) -> Vec<(f64, f64, f64)> {
    let mut rng = Rng::new(seed);
    let mut times = Vec::new();
    (0..n)
        .map(|_| {
            let t_end = t_min + (t_max - t_min) * rng.uniform();
            let lambda = rng.gamma(p.r, p.alpha);
            let drop = rng.beta(p.a, p.b);
            times.clear();
            let mut t = 0.0;
            loop {
                t += rng.exponential(lambda);
                if t > t_end {
                    break;
                }
                times.push(t);
                if rng.uniform() < drop {
                    break;
                }
            }
            record(&times, t_end, resolution)
        })
        .collect()
}

/// (x, t_x, T) of `n` Pareto/NBD customers with T uniform on [t_min, t_max].
pub fn simulate_pareto(
    p: &ParetoNbdParams,
    n: usize,
    t_min: f64,
    t_max: f64,
    seed: u64,
    resolution: Resolution,
) -> Vec<(f64, f64, f64)> {
    let mut rng = Rng::new(seed);
    let mut times = Vec::new();
    (0..n)
        .map(|_| {
            let t_end = t_min + (t_max - t_min) * rng.uniform();
            pareto_repeats(&mut rng, p, t_end, &mut times);
            record(&times, t_end, resolution)
        })
        .collect()
}

/// One Pareto/NBD customer's repeat purchase times after their first (at 0), up to `until`.
fn pareto_repeats(rng: &mut Rng, p: &ParetoNbdParams, until: f64, times: &mut Vec<f64>) {
    let lambda = rng.gamma(p.r, p.alpha);
    let mu = rng.gamma(p.s, p.beta);
    let stop = rng.exponential(mu).min(until);
    times.clear();
    let mut t = 0.0;
    loop {
        t += rng.exponential(lambda);
        if t > stop {
            break;
        }
        times.push(t);
    }
}

/// Whole purchase histories of `n` Pareto/NBD customers, for simulated stores: each first buys
/// at a time uniform on [0, first_before), then at their own rate until their lifetime ends or
/// `until`. Times are absolute (the unit is the parameters' own), first purchase included.
pub fn simulate_pareto_histories(
    p: &ParetoNbdParams,
    n: usize,
    first_before: f64,
    until: f64,
    seed: u64,
) -> Vec<Vec<f64>> {
    let mut rng = Rng::new(seed);
    let mut times = Vec::new();
    (0..n)
        .map(|_| {
            let birth = first_before * rng.uniform();
            pareto_repeats(&mut rng, p, until - birth, &mut times);
            std::iter::once(birth)
                .chain(times.iter().map(|t| birth + t))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_and_beta_moments() {
        let mut rng = Rng::new(7);
        let n = 200_000;
        for &(shape, rate) in &[(0.3, 2.0), (2.5, 0.5)] {
            let m: f64 = (0..n).map(|_| rng.gamma(shape, rate)).sum::<f64>() / n as f64;
            assert!((m - shape / rate).abs() < 0.02 * shape / rate, "{m}");
        }
        let m: f64 = (0..n).map(|_| rng.beta(0.8, 2.4)).sum::<f64>() / n as f64;
        assert!((m - 0.25).abs() < 0.005, "{m}");
    }

    #[test]
    fn whole_days_merge_same_day_purchases() {
        let times = vec![1.01, 1.02, 3.5];
        assert_eq!(
            record(&times, 10.0, Resolution::WholeDays { days_per_unit: 1.0 }),
            (2.0, 3.0, 10.0)
        );
    }
}
