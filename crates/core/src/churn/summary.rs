//! From a customer's purchases to the (x, t_x, T) summary the models read.
//!
//! Conventions (those of the Buy-Till-You-Die literature and of the CDNOW reference fits):
//! purchases on the same day are one purchase occasion; x counts the *repeat* days (distinct days
//! − 1); t_x is the time from the first to the last purchase day and T from the first purchase
//! day to the end date of the observation, which is inclusive for purchases (a purchase on the end
//! date counts) and measured to the start of that day. Times are whole days divided by the unit.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The time unit the models' t_x, T and forecast horizons are expressed in. It changes α and β
/// (rates per unit) but not r, s, a, b, nor any probability or expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    #[default]
    Days,
    Weeks,
}

impl TimeUnit {
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
        }
    }

    /// Converts a number of days into this unit.
    pub fn from_days(self, days: f64) -> f64 {
        days / self.days()
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Days => "days",
            TimeUnit::Weeks => "weeks",
        }
    }
}

/// One purchase: the day it was made and its value in the store currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purchase {
    pub date: NaiveDate,
    pub amount_minor: i64,
}

/// A customer's purchase history, summarized at an observation end date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerSummary {
    /// x: number of repeat purchase days.
    pub frequency: u32,
    /// t_x: time of the last purchase day since the first, in `unit`.
    pub recency: f64,
    /// T: time from the first purchase day to the end date, in `unit`.
    pub age: f64,
    pub unit: TimeUnit,
    pub first_purchase: NaiveDate,
    pub last_purchase: NaiveDate,
    /// Sum of the repeat days' totals (the first day excluded), in minor units.
    pub repeat_value_minor: i64,
    /// Sum of all purchases up to the end date, in minor units.
    pub total_value_minor: i64,
    /// Number of purchase records (not days) up to the end date.
    pub orders: u32,
}

impl CustomerSummary {
    /// Average value of a repeat purchase day, in minor units, as the spend model's input: a model
    /// quantity, not a payable amount, hence f64. `None` for one-time buyers.
    pub fn mean_repeat_value_minor(&self) -> Option<f64> {
        (self.frequency > 0).then(|| self.repeat_value_minor as f64 / self.frequency as f64)
    }

    /// Days from the last purchase to the end date.
    pub fn days_since_last_purchase(&self, end: NaiveDate) -> i64 {
        (end - self.last_purchase).num_days()
    }
}

/// Summarizes one customer's purchases at `end` (inclusive). Purchases after `end` are ignored;
/// `None` if there are none on or before it.
pub fn summarize(
    purchases: &[Purchase],
    end: NaiveDate,
    unit: TimeUnit,
) -> Option<CustomerSummary> {
    let mut days: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    let mut orders = 0u32;
    for p in purchases.iter().filter(|p| p.date <= end) {
        *days.entry(p.date).or_insert(0) += p.amount_minor;
        orders += 1;
    }
    let (&first, &first_value) = days.iter().next()?;
    let (&last, _) = days.iter().next_back()?;
    let total: i64 = days.values().sum();
    let day_count = |a: NaiveDate, b: NaiveDate| (b - a).num_days() as f64;
    Some(CustomerSummary {
        frequency: (days.len() - 1) as u32,
        recency: unit.from_days(day_count(first, last)),
        age: unit.from_days(day_count(first, end)),
        unit,
        first_purchase: first,
        last_purchase: last,
        repeat_value_minor: total - first_value,
        total_value_minor: total,
        orders,
    })
}

/// Summarizes every customer in `transactions` at `end`; customers whose first purchase is after
/// `end` are left out.
pub fn summarize_all<K: Ord + Clone>(
    transactions: impl IntoIterator<Item = (K, Purchase)>,
    end: NaiveDate,
    unit: TimeUnit,
) -> BTreeMap<K, CustomerSummary> {
    let mut by_customer: BTreeMap<K, Vec<Purchase>> = BTreeMap::new();
    for (k, p) in transactions {
        by_customer.entry(k).or_default().push(p);
    }
    by_customer
        .into_iter()
        .filter_map(|(k, ps)| summarize(&ps, end, unit).map(|s| (k, s)))
        .collect()
}

/// FxHash's multiply-rotate hash: the keys are our own float bit patterns, not attacker-chosen,
/// so SipHash's flooding resistance buys nothing here and costs most of the grouping time.
#[derive(Default)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    /// SplitMix64's finalizer: whole-number floats have all-zero low bits, and a multiplicative
    /// hash alone would leave the low bits (the bucket index) zero for every key.
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

type BuildFastHasher = BuildHasherDefault<FastHasher>;

/// The fitting data: distinct (x, t_x, T) rows with how many customers share each. Customers
/// summarized to whole days repeat these triples often (CDNOW: 2,357 customers, fewer distinct
/// rows), and every likelihood evaluation is then a sum over distinct rows only.
///
/// Rows are sorted by x. The distinct time values (t_x and T together) and the distinct (x, time)
/// pairs are indexed too: with whole-day data they are far fewer than the rows (CDNOW: ~600 times;
/// 1M simulated customers: ~280k rows but ~30k pairs), so the likelihoods compute ln(α + t) once per
/// time and the Pareto/NBD hypergeometric term once per pair, not once per row.
#[derive(Debug, Clone, Default)]
pub struct FitData {
    pub rows: Vec<RfmRow>,
    pub total_weight: f64,
    pub(crate) times: Vec<f64>,
    /// (x, index into `times`).
    pub(crate) pairs: Vec<(f64, u32)>,
}

/// One distinct (x, t_x, T) with its weight (number of customers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmRow {
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
    pub weight: f64,
    pub(crate) t_x_time: u32,
    pub(crate) t_time: u32,
    pub(crate) t_x_pair: u32,
    pub(crate) t_pair: u32,
}

impl FitData {
    /// Groups identical triples. Input values must be finite with 0 ≤ t_x ≤ T (checked by
    /// [`FitData::validate`]).
    pub fn from_triples(triples: impl IntoIterator<Item = (f64, f64, f64)>) -> FitData {
        FitData::from_weighted(triples.into_iter().map(|(x, t_x, t)| (x, t_x, t, 1.0)))
    }

    /// As [`FitData::from_triples`], for rows that already carry a weight.
    pub fn from_weighted(rows: impl IntoIterator<Item = (f64, f64, f64, f64)>) -> FitData {
        // A hash map with a multiplicative hash groups identical triples in one pass (a million
        // customers repeat a few hundred thousand triples); sorting the distinct keys then orders
        // rows by x (non-negative floats sort like their bits), which the likelihoods rely on.
        let mut grouped: HashMap<(u64, u64, u64), f64, BuildFastHasher> = HashMap::default();
        for (x, t_x, t, w) in rows {
            *grouped
                .entry((x.to_bits(), t_x.to_bits(), t.to_bits()))
                .or_insert(0.0) += w;
        }
        let mut counts: Vec<((u64, u64, u64), f64)> = grouped.into_iter().collect();
        counts.sort_unstable_by_key(|k| k.0);
        let mut times: Vec<f64> = counts
            .iter()
            .flat_map(|&((_, tx, t), _)| [f64::from_bits(tx), f64::from_bits(t)])
            .collect();
        times.sort_by(f64::total_cmp);
        times.dedup_by(|a, b| a.to_bits() == b.to_bits());
        let time_index = |v: f64| times.partition_point(|u| u.total_cmp(&v).is_lt()) as u32;
        let mut pairs: Vec<(f64, u32)> = counts
            .iter()
            .flat_map(|&((x, tx, t), _)| {
                let x = f64::from_bits(x);
                [
                    (x, time_index(f64::from_bits(tx))),
                    (x, time_index(f64::from_bits(t))),
                ]
            })
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        pairs.dedup();
        let pair_index = |p: (f64, u32)| {
            pairs.partition_point(|q| q.0.total_cmp(&p.0).then(q.1.cmp(&p.1)).is_lt()) as u32
        };
        let rows: Vec<RfmRow> = counts
            .into_iter()
            .map(|((x, tx, t), w)| {
                let (x, t_x, t) = (f64::from_bits(x), f64::from_bits(tx), f64::from_bits(t));
                let (t_x_time, t_time) = (time_index(t_x), time_index(t));
                RfmRow {
                    x,
                    t_x,
                    t,
                    weight: w,
                    t_x_time,
                    t_time,
                    t_x_pair: pair_index((x, t_x_time)),
                    t_pair: pair_index((x, t_time)),
                }
            })
            .collect();
        let total_weight = rows.iter().map(|r| r.weight).sum();
        FitData {
            rows,
            total_weight,
            times,
            pairs,
        }
    }

    pub fn from_summaries<'a>(summaries: impl IntoIterator<Item = &'a CustomerSummary>) -> FitData {
        FitData::from_triples(
            summaries
                .into_iter()
                .map(|s| (s.frequency as f64, s.recency, s.age)),
        )
    }

    /// Every row must be a possible history: x a whole number ≥ 0, 0 ≤ t_x ≤ T, T > 0 … and
    /// t_x > 0 when x > 0 (two purchase days cannot be zero time apart).
    pub fn validate(&self) -> Result<(), super::ChurnError> {
        if self.rows.is_empty() {
            return Err(super::ChurnError::NoCustomers);
        }
        for r in &self.rows {
            let ok = r.x.is_finite()
                && r.x >= 0.0
                && r.x.fract() == 0.0
                && r.t_x.is_finite()
                && r.t.is_finite()
                && r.t_x >= 0.0
                && r.t_x <= r.t
                && (r.x == 0.0 || r.t_x > 0.0)
                && r.weight > 0.0;
            if !ok {
                return Err(super::ChurnError::InvalidSummary {
                    x: r.x,
                    t_x: r.t_x,
                    t: r.t,
                });
            }
        }
        if self.rows.iter().all(|r| r.t == 0.0) {
            return Err(super::ChurnError::NoObservationTime);
        }
        Ok(())
    }

    /// A systematic sample of about `rows` of the distinct rows (every k-th; rows are sorted by x,
    /// so every frequency stays represented), weights kept: a cheap fit on it is a warm start for
    /// the fit on all the data.
    pub fn thinned(&self, rows: usize) -> FitData {
        let step = (self.rows.len() / rows.max(1)).max(1);
        FitData::from_weighted(
            self.rows
                .iter()
                .step_by(step)
                .map(|r| (r.x, r.t_x, r.t, r.weight)),
        )
    }

    /// Number of customers with at least one repeat purchase.
    pub fn repeat_customers(&self) -> f64 {
        self.rows
            .iter()
            .filter(|r| r.x > 0.0)
            .map(|r| r.weight)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn same_day_purchases_are_one_occasion() {
        let ps = [
            Purchase {
                date: d("1997-01-01"),
                amount_minor: 1000,
            },
            Purchase {
                date: d("1997-01-01"),
                amount_minor: 500,
            },
            Purchase {
                date: d("1997-01-15"),
                amount_minor: 700,
            },
            Purchase {
                date: d("1997-01-29"),
                amount_minor: 300,
            },
            Purchase {
                date: d("1997-01-29"),
                amount_minor: 300,
            },
            Purchase {
                date: d("1997-03-01"),
                amount_minor: 9999,
            },
        ];
        let s = summarize(&ps, d("1997-02-12"), TimeUnit::Weeks).unwrap();
        assert_eq!(s.frequency, 2);
        assert_eq!(s.recency, 4.0);
        assert_eq!(s.age, 6.0);
        assert_eq!(s.repeat_value_minor, 1300);
        assert_eq!(s.mean_repeat_value_minor(), Some(650.0));
        assert_eq!(s.total_value_minor, 2800);
        assert_eq!(s.orders, 5);
        let days = summarize(&ps, d("1997-02-12"), TimeUnit::Days).unwrap();
        assert_eq!((days.recency, days.age), (28.0, 42.0));
    }

    #[test]
    fn no_purchase_before_end_gives_none() {
        let ps = [Purchase {
            date: d("1997-03-01"),
            amount_minor: 1,
        }];
        assert!(summarize(&ps, d("1997-02-12"), TimeUnit::Days).is_none());
    }

    #[test]
    fn whole_day_triples_group_quickly_and_correctly() {
        // Whole-number floats: the case a weak hash would pile into one bucket.
        let triples: Vec<(f64, f64, f64)> = (0..200_000u32)
            .map(|i| ((i % 7) as f64, (i % 300) as f64, 300.0 + (i % 400) as f64))
            .collect();
        let started = std::time::Instant::now();
        let data = FitData::from_triples(triples.iter().copied());
        assert!(started.elapsed().as_secs_f64() < 5.0);
        assert_eq!(data.total_weight, 200_000.0);
        assert!(data.rows.windows(2).all(|w| w[0].x <= w[1].x));
        let distinct: std::collections::BTreeSet<(u64, u64, u64)> = triples
            .iter()
            .map(|t| (t.0.to_bits(), t.1.to_bits(), t.2.to_bits()))
            .collect();
        assert_eq!(data.rows.len(), distinct.len());
    }

    #[test]
    fn identical_rows_are_weighted() {
        let data = FitData::from_triples([(0.0, 0.0, 5.0), (0.0, 0.0, 5.0), (1.0, 2.0, 5.0)]);
        assert_eq!(data.rows.len(), 2);
        assert_eq!(data.total_weight, 3.0);
        assert!(data.validate().is_ok());
        let bad = FitData::from_triples([(1.0, 6.0, 5.0)]);
        assert!(bad.validate().is_err());
    }
}
