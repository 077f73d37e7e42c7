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
    // One stable sort of every row and a pass over its runs: a map entry per customer, grown one
    // purchase at a time, costs a node walk and an allocation per row instead (twice the time on a
    // 400,000-row export).
    let mut rows: Vec<(K, Purchase)> = transactions.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut purchases = Vec::new();
    rows.chunk_by(|a, b| a.0 == b.0)
        .filter_map(|run| {
            purchases.clear();
            purchases.extend(run.iter().map(|(_, p)| *p));
            summarize(&purchases, end, unit).map(|s| (run[0].0.clone(), s))
        })
        .collect()
}

/// FxHash's multiply-rotate step with SplitMix64's finalizer, for the small maps of distinct float
/// bit patterns used while grouping: the keys are our own, not attacker-chosen, so SipHash's
/// flooding resistance buys nothing and costs most of the grouping time. The finalizer matters:
/// whole-number floats have all-zero low bits, which a multiplicative hash alone would keep.
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
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

type BuildFastHasher = BuildHasherDefault<FastHasher>;

/// Distinct (x, t_x, T) as bit patterns with summed weights, sorted by x.
type Grouped = Vec<(u64, u64, u64, f64)>;

/// The fast path for data with few distinct values (whole days: a few hundred times, a few dozen
/// frequencies): each row packs into one u64 (x's rank, then t_x's and T's ids) and a sort of
/// plain integers groups them. `None` when the distinct values do not fit in the bits.
/// Takes the rows as an iterator so that a million customers are not first copied into a vector;
/// when the values do not fit, the rows read so far are decoded back from their keys and returned
/// with the rest, for the general path.
fn group_packed(
    rows: impl IntoIterator<Item = (f64, f64, f64, f64)>,
) -> Result<Grouped, Vec<(f64, f64, f64, f64)>> {
    const TIME_BITS: u32 = 21;
    const X_BITS: u32 = 64 - 2 * TIME_BITS;
    const SMALL_X: f64 = 65_536.0;
    let mut x_ids: HashMap<u64, u64, BuildFastHasher> = HashMap::default();
    let mut time_ids: HashMap<u64, u64, BuildFastHasher> = HashMap::default();
    let mut x_values = Vec::new();
    let mut time_values = Vec::new();
    let mut rows = rows.into_iter();
    let mut keys: Vec<(u64, f64)> = Vec::with_capacity(rows.size_hint().0);
    while let Some((x, t_x, t, w)) = rows.next() {
        let id =
            |map: &mut HashMap<u64, u64, BuildFastHasher>, values: &mut Vec<u64>, bits: u64| {
                *map.entry(bits).or_insert_with(|| {
                    values.push(bits);
                    (values.len() - 1) as u64
                })
            };
        // Whole-number frequencies (every real summary) are their own ids, no lookup needed.
        let xi = if x.fract() == 0.0 && (0.0..SMALL_X).contains(&x) {
            x as u64
        } else {
            id(&mut x_ids, &mut x_values, x.to_bits()) + SMALL_X as u64
        };
        let txi = id(&mut time_ids, &mut time_values, t_x.to_bits());
        let ti = id(&mut time_ids, &mut time_values, t.to_bits());
        if x_values.len() + SMALL_X as usize >= 1 << X_BITS || time_values.len() >= 1 << TIME_BITS {
            let time_mask = (1u64 << TIME_BITS) - 1;
            let decode_x = |xi: u64| {
                if xi < SMALL_X as u64 {
                    xi as f64
                } else {
                    f64::from_bits(x_values[(xi - SMALL_X as u64) as usize])
                }
            };
            let mut all: Vec<(f64, f64, f64, f64)> = keys
                .iter()
                .map(|&(k, w)| {
                    (
                        decode_x(k >> (2 * TIME_BITS)),
                        f64::from_bits(time_values[((k >> TIME_BITS) & time_mask) as usize]),
                        f64::from_bits(time_values[(k & time_mask) as usize]),
                        w,
                    )
                })
                .collect();
            all.push((x, t_x, t, w));
            all.extend(rows);
            return Err(all);
        }
        keys.push(((xi << (2 * TIME_BITS)) | (txi << TIME_BITS) | ti, w));
    }
    // x ids: 0..SMALL_X are the whole numbers themselves; the others are re-numbered by value
    // (after them: they are either fractional, which validation rejects later, or larger).
    let mut x_of_id: Vec<u64> = (0..SMALL_X as u64).map(|v| (v as f64).to_bits()).collect();
    let mut order: Vec<usize> = (0..x_values.len()).collect();
    order.sort_by(|&i, &j| f64::from_bits(x_values[i]).total_cmp(&f64::from_bits(x_values[j])));
    let mut rank = vec![0u64; x_values.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = SMALL_X as u64 + r as u64;
        x_of_id.push(x_values[i]);
    }
    if !x_values.is_empty() {
        let low = (1u64 << (2 * TIME_BITS)) - 1;
        for k in keys.iter_mut() {
            let xi = k.0 >> (2 * TIME_BITS);
            if xi >= SMALL_X as u64 {
                k.0 = (rank[(xi - SMALL_X as u64) as usize] << (2 * TIME_BITS)) | (k.0 & low);
            }
        }
    }
    let time_mask = (1u64 << TIME_BITS) - 1;
    keys.sort_unstable_by_key(|k| k.0);
    let mut out: Grouped = Vec::new();
    let mut last = None;
    for (key, w) in keys {
        if last == Some(key) {
            out.last_mut().expect("a previous key").3 += w;
            continue;
        }
        last = Some(key);
        out.push((
            x_of_id[(key >> (2 * TIME_BITS)) as usize],
            time_values[((key >> TIME_BITS) & time_mask) as usize],
            time_values[(key & time_mask) as usize],
            w,
        ));
    }
    Ok(out)
}

/// The general path: sort the bit-pattern triples (non-negative floats sort like their bits).
fn group_sorted(rows: &[(f64, f64, f64, f64)]) -> Grouped {
    let mut keys: Vec<((u64, u64, u64), f64)> = rows
        .iter()
        .map(|&(x, t_x, t, w)| ((x.to_bits(), t_x.to_bits(), t.to_bits()), w))
        .collect();
    keys.sort_unstable_by_key(|k| k.0);
    let mut out: Grouped = Vec::with_capacity(keys.len());
    for ((x, tx, t), w) in keys {
        match out.last_mut() {
            Some(last) if (last.0, last.1, last.2) == (x, tx, t) => last.3 += w,
            _ => out.push((x, tx, t, w)),
        }
    }
    out
}

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
        let counts = group_packed(rows).unwrap_or_else(|all| group_sorted(&all));
        // Index the distinct times (in first-seen order: nothing needs them sorted) and, per
        // distinct x, the distinct (x, time) pairs. Rows come sorted by x, so one dense slot array
        // over the times, cleared between x values, finds each pair without sorting or searching.
        let mut time_ids: HashMap<u64, u32, BuildFastHasher> = HashMap::default();
        let mut times = Vec::new();
        let mut id_of = |bits: u64| {
            *time_ids.entry(bits).or_insert_with(|| {
                times.push(f64::from_bits(bits));
                (times.len() - 1) as u32
            })
        };
        let ids: Vec<(u32, u32)> = counts
            .iter()
            .map(|&(_, tx, t, _)| (id_of(tx), id_of(t)))
            .collect();
        let mut slot = vec![u32::MAX; times.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut pairs: Vec<(f64, u32)> = Vec::new();
        let mut current_x = None;
        let mut out = Vec::with_capacity(counts.len());
        for (&(x_bits, tx_bits, t_bits, weight), &(tx_id, t_id)) in counts.iter().zip(&ids) {
            if current_x != Some(x_bits) {
                for t in touched.drain(..) {
                    slot[t as usize] = u32::MAX;
                }
                current_x = Some(x_bits);
            }
            let x = f64::from_bits(x_bits);
            let mut pair_of = |time: u32| {
                if slot[time as usize] == u32::MAX {
                    slot[time as usize] = pairs.len() as u32;
                    pairs.push((x, time));
                    touched.push(time);
                }
                slot[time as usize]
            };
            let (t_x_pair, t_pair) = (pair_of(tx_id), pair_of(t_id));
            out.push(RfmRow {
                x,
                t_x: f64::from_bits(tx_bits),
                t: f64::from_bits(t_bits),
                weight,
                t_x_time: tx_id,
                t_time: t_id,
                t_x_pair,
                t_pair,
            });
        }
        let total_weight = out.iter().map(|r| r.weight).sum();
        FitData {
            rows: out,
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

    /// A manual probe of where 1M-customer fit time goes (`cargo test … timing_1m -- --ignored
    /// --nocapture`); the measured figures are the criterion bench's.
    #[test]
    #[ignore]
    fn timing_1m() {
        let p = crate::churn::BgNbdParams::new(0.243, 4.414, 0.793, 2.426).unwrap();
        let rows = crate::churn::simulate::simulate_bgnbd(
            &p,
            1_000_000,
            13.0,
            78.0,
            2024,
            crate::churn::simulate::Resolution::WholeDays { days_per_unit: 7.0 },
        );
        let t0 = std::time::Instant::now();
        let d = FitData::from_triples(rows.iter().copied());
        eprintln!(
            "total {:?} rows {} pairs {} times {}",
            t0.elapsed(),
            d.rows.len(),
            d.pairs.len(),
            d.times.len()
        );
        let t0 = std::time::Instant::now();
        let f = crate::churn::BgNbdParams::fit(&d).unwrap();
        eprintln!("fit {:?} {:?}", t0.elapsed(), f.diagnostics);
    }

    #[test]
    fn packed_and_sorted_grouping_agree() {
        let triples: Vec<(f64, f64, f64, f64)> = (0..5_000u32)
            .map(|i| {
                (
                    (i % 9) as f64,
                    (i % 50) as f64 / 7.0,
                    60.0 + (i % 13) as f64,
                    1.0,
                )
            })
            .collect();
        let mut packed = group_packed(triples.iter().copied()).unwrap();
        // Both sort by x; within an x the packed path orders by first appearance.
        assert!(packed
            .windows(2)
            .all(|w| f64::from_bits(w[0].0) <= f64::from_bits(w[1].0)));
        packed.sort_by_key(|k| (k.0, k.1, k.2));
        assert_eq!(packed, group_sorted(&triples));
        let data = FitData::from_weighted(triples.iter().copied());
        for r in &data.rows {
            assert_eq!(data.times[r.t_time as usize], r.t);
            assert_eq!(data.times[r.t_x_time as usize], r.t_x);
            assert_eq!(data.pairs[r.t_pair as usize], (r.x, r.t_time));
            assert_eq!(data.pairs[r.t_x_pair as usize], (r.x, r.t_x_time));
        }
    }

    #[test]
    fn too_many_distinct_times_fall_back_to_the_sorted_path() {
        // 3M distinct times overflow the 21-bit ids part way: the rows read so far must come back.
        let rows = (0..1_500_000u32).map(|i| ((i % 3) as f64, i as f64, i as f64 + 0.5, 1.0));
        let Err(all) = group_packed(rows) else {
            panic!("should not fit")
        };
        assert_eq!(all.len(), 1_500_000);
        assert_eq!(all[1_000_000], (1.0, 1_000_000.0, 1_000_000.5, 1.0));
        assert_eq!(all[7], (1.0, 7.0, 7.5, 1.0));
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
