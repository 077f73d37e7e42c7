//! What a store's churn model is fitted from, as sufficient statistics that merge.
//!
//! The scan reads a store in segments, in parallel and in any order. Each segment reduces its
//! customers to a [`FitInputs`]: customer counts, the span of history, the distinct (x, t_x, T)
//! triples with how many customers share each, and the distinct (x, repeat spend) pairs of repeat
//! buyers. [`FitInputs::merge`] adds two of them; merging is associative and commutative, so the
//! store's model ([`ChurnModel::fit`](super::score::ChurnModel::fit)) is the same whatever the
//! segmentation, and equal to the one fitted from every customer at once. Its size is bounded by the
//! distinct values, not the customers: with whole-day data, a few hundred thousand rows at most
//! for any store, small enough to store per segment and read back in the fitting phase.

use super::gamma_gamma::SpendRow;
use super::rfm::RfmScore;
use super::CustomerSummary;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The sufficient statistics of a set of customers at one end date, times in days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Rows", into = "Rows")]
pub struct FitInputs {
    pub customers: u64,
    pub repeat_customers: u64,
    /// Days from the earliest first purchase to the end date.
    pub history_days: i64,
    /// Repeat buyers whose repeat purchases total zero or less (free orders, 100 % coupons): they
    /// count for the purchase models but cannot inform a spend model, so it leaves them out.
    pub spend_left_out: u64,
    /// (x, t_x bits, T bits) → customers.
    counts: Tally<(u32, u64, u64)>,
    /// (x, repeat value in minor units) → repeat buyers.
    spend: Tally<(u32, i64)>,
    /// Days since the last purchase → customers (RFM recency, exact).
    recency: Tally<i64>,
    /// Total spend bucket ([`spend_bucket`]) → customers (RFM monetary, to 1 %).
    monetary: Tally<i64>,
}

/// Customer counts by key: how every part of [`FitInputs`] is kept and merged.
type Tally<K> = BTreeMap<K, u64>;

fn tally<K: Ord>(rows: impl IntoIterator<Item = (K, u64)>) -> Tally<K> {
    let mut out = Tally::new();
    add_all(&mut out, rows);
    out
}

fn add_all<K: Ord>(into: &mut Tally<K>, rows: impl IntoIterator<Item = (K, u64)>) {
    for (k, n) in rows {
        *into.entry(k).or_default() += n;
    }
}

fn copied<K: Copy>(t: &Tally<K>) -> impl Iterator<Item = (K, u64)> + '_ {
    t.iter().map(|(&k, &n)| (k, n))
}

/// Per key, ascending, the customers under lower keys.
fn below<K: Copy>(t: &Tally<K>) -> Vec<(K, u64)> {
    let mut seen = 0;
    t.iter()
        .map(|(&k, &n)| {
            let row = (k, seen);
            seen += n;
            row
        })
        .collect()
}

/// The count stored beside `key` in rows sorted by key (0 for a key not there).
fn lookup<K: Ord>(rows: &[(K, u64)], key: K) -> u64 {
    rows.binary_search_by(|r| r.0.cmp(&key))
        .map_or(0, |i| rows[i].1)
}

/// Buckets of total spend for the monetary quintiles, each 1 % wide: the boundaries of a store's
/// quintiles are then known to 1 % of spend whatever the number of customers, and the
/// distribution stays a few thousand rows. Nothing or less (refunded in full) is one bucket.
pub fn spend_bucket(minor: i64) -> i64 {
    if minor <= 0 {
        -1
    } else {
        ((minor as f64).ln() / 1.01f64.ln()).floor() as i64
    }
}

/// RFM quintile scores from a store's merged [`FitInputs`]: a customer's score is
/// 1 + ⌊5 · (share of customers with a strictly worse value)⌋, as in
/// [`rfm_scores`](super::rfm::rfm_scores), read from the distribution instead of a sort of every
/// customer. Recency and frequency are exact; monetary compares 1 % buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmScorer {
    customers: u64,
    /// (days since last purchase, customers with more days), ascending.
    recency: Vec<(i64, u64)>,
    /// (purchase days, customers with fewer), ascending.
    frequency: Vec<(u32, u64)>,
    /// (spend bucket, customers in lower buckets), ascending.
    monetary: Vec<(i64, u64)>,
}

impl RfmScorer {
    fn quintile(&self, worse: u64) -> u8 {
        (1 + (5 * worse) / self.customers.max(1)).min(5) as u8
    }

    pub fn score(&self, s: &CustomerSummary, end: NaiveDate) -> RfmScore {
        RfmScore {
            recency: self.quintile(lookup(&self.recency, s.days_since_last_purchase(end))),
            frequency: self.quintile(lookup(&self.frequency, s.frequency + 1)),
            monetary: self.quintile(lookup(&self.monetary, spend_bucket(s.total_value_minor))),
        }
    }
}

impl FitInputs {
    /// The inputs of `summaries` at `end`.
    pub fn from_summaries<'a>(
        summaries: impl IntoIterator<Item = &'a CustomerSummary>,
        end: NaiveDate,
    ) -> Self {
        let mut out = Self::default();
        for s in summaries {
            out.add(s, end);
        }
        out
    }

    /// Adds one customer's summary at `end`.
    pub fn add(&mut self, s: &CustomerSummary, end: NaiveDate) {
        let k = s.unit.days();
        self.customers += 1;
        self.history_days = self.history_days.max((end - s.first_purchase).num_days());
        let key = (
            s.frequency,
            (s.recency * k).to_bits(),
            (s.age * k).to_bits(),
        );
        add_all(&mut self.counts, [(key, 1)]);
        add_all(&mut self.recency, [(s.days_since_last_purchase(end), 1)]);
        add_all(&mut self.monetary, [(spend_bucket(s.total_value_minor), 1)]);
        if s.frequency > 0 {
            self.repeat_customers += 1;
            if s.repeat_value_minor > 0 {
                add_all(&mut self.spend, [((s.frequency, s.repeat_value_minor), 1)]);
            } else {
                self.spend_left_out += 1;
            }
        }
    }

    /// Adds another set of customers (of the same store and end date).
    pub fn merge(&mut self, other: &FitInputs) {
        self.customers += other.customers;
        self.repeat_customers += other.repeat_customers;
        self.history_days = self.history_days.max(other.history_days);
        self.spend_left_out += other.spend_left_out;
        add_all(&mut self.counts, copied(&other.counts));
        add_all(&mut self.spend, copied(&other.spend));
        add_all(&mut self.recency, copied(&other.recency));
        add_all(&mut self.monetary, copied(&other.monetary));
    }

    /// The RFM quintile scorer of these customers.
    pub fn rfm_scorer(&self) -> RfmScorer {
        // Recency: lower is better, so "worse" is every customer with more days.
        let mut above = self.customers;
        let recency = self
            .recency
            .iter()
            .map(|(&d, &n)| {
                above -= n;
                (d, above)
            })
            .collect();
        let frequency = tally(self.counts.iter().map(|(&(x, _, _), &n)| (x + 1, n)));
        let (frequency, monetary) = (below(&frequency), below(&self.monetary));
        RfmScorer {
            customers: self.customers,
            recency,
            frequency,
            monetary,
        }
    }

    /// The distinct (x, t_x, T) in days, with how many customers share each.
    pub fn weighted_triples(&self) -> impl Iterator<Item = (f64, f64, f64, f64)> + '_ {
        self.counts
            .iter()
            .map(|(&(x, t_x, t), &n)| (x as f64, f64::from_bits(t_x), f64::from_bits(t), n as f64))
    }

    /// The spend model's rows: per distinct (x, mean repeat value), the repeat buyers sharing it.
    pub fn spend_rows(&self) -> Vec<SpendRow> {
        let mut by_mean: BTreeMap<(u32, u64), f64> = BTreeMap::new();
        for (&(x, total), &n) in &self.spend {
            let mean = total as f64 / x as f64;
            *by_mean.entry((x, mean.to_bits())).or_default() += n as f64;
        }
        by_mean
            .into_iter()
            .map(|((x, mean), weight)| SpendRow {
                x: x as f64,
                mean: f64::from_bits(mean),
                weight,
            })
            .collect()
    }

    /// Distinct rows held (what storing these inputs costs).
    pub fn rows(&self) -> usize {
        self.counts.len() + self.spend.len() + self.recency.len() + self.monetary.len()
    }
}

/// The stored form: plain numbers, rows as arrays.
#[derive(Serialize, Deserialize)]
struct Rows {
    customers: u64,
    repeat_customers: u64,
    history_days: i64,
    #[serde(default)]
    spend_left_out: u64,
    /// [x, t_x, T, customers]
    counts: Vec<(u32, f64, f64, u64)>,
    /// [x, repeat value in minor units, customers]
    spend: Vec<(u32, i64, u64)>,
    /// [days since the last purchase, customers]
    recency: Vec<(i64, u64)>,
    /// [spend bucket, customers]
    monetary: Vec<(i64, u64)>,
}

impl From<FitInputs> for Rows {
    fn from(i: FitInputs) -> Self {
        Rows {
            customers: i.customers,
            repeat_customers: i.repeat_customers,
            history_days: i.history_days,
            spend_left_out: i.spend_left_out,
            counts: i
                .counts
                .iter()
                .map(|(&(x, tx, t), &n)| (x, f64::from_bits(tx), f64::from_bits(t), n))
                .collect(),
            spend: i.spend.iter().map(|(&(x, v), &n)| (x, v, n)).collect(),
            recency: i.recency.into_iter().collect(),
            monetary: i.monetary.into_iter().collect(),
        }
    }
}

impl From<Rows> for FitInputs {
    fn from(r: Rows) -> Self {
        FitInputs {
            customers: r.customers,
            repeat_customers: r.repeat_customers,
            history_days: r.history_days,
            spend_left_out: r.spend_left_out,
            counts: tally(
                r.counts
                    .into_iter()
                    .map(|(x, tx, t, n)| ((x, tx.to_bits(), t.to_bits()), n)),
            ),
            spend: tally(r.spend.into_iter().map(|(x, v, n)| ((x, v), n))),
            recency: tally(r.recency),
            monetary: tally(r.monetary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::score::{ChurnModel, Method, ScoringSettings, FALLBACK_PRIORS_DAYS};
    use crate::churn::simulate::{simulate_pareto, Resolution, Rng};
    use crate::churn::TimeUnit;
    use chrono::Duration;

    fn end() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()
    }

    /// A simulated store of `n` customers over a year, whole days, with repeat spend.
    fn store(n: usize, seed: u64) -> Vec<CustomerSummary> {
        let mut rng = Rng::new(seed ^ 0x5eed);
        simulate_pareto(
            &FALLBACK_PRIORS_DAYS,
            n,
            30.0,
            365.0,
            seed,
            Resolution::WholeDays { days_per_unit: 1.0 },
        )
        .into_iter()
        .map(|(x, t_x, t)| {
            let first = end() - Duration::days(t as i64);
            let repeat = (x * (2_000.0 + 6_000.0 * rng.uniform())).round() as i64;
            CustomerSummary {
                frequency: x as u32,
                recency: t_x,
                age: t,
                unit: TimeUnit::Days,
                first_purchase: first,
                last_purchase: first + Duration::days(t_x as i64),
                repeat_value_minor: repeat,
                total_value_minor: repeat + 3_000,
                orders: x as u32 + 1,
            }
        })
        .collect()
    }

    #[test]
    fn segments_merged_in_any_order_fit_the_model_of_the_whole_store() {
        let all = store(3_000, 7);
        let whole = FitInputs::from_summaries(&all, end());
        let expected = ChurnModel::fit(&whole, ScoringSettings::default());
        assert!(
            matches!(expected.method, Method::Fitted { .. }),
            "{:?}",
            expected.method
        );
        assert!(expected.spend.is_some());
        // The model of the inputs is the model of the summaries.
        let built = ChurnModel::build(&all, end(), ScoringSettings::default());
        assert_eq!(built.counts, expected.counts);
        assert_eq!(built.spend, expected.spend);
        for segments in [1usize, 7, 64] {
            let mut parts: Vec<FitInputs> = (0..segments)
                .map(|i| FitInputs::from_summaries(all.iter().skip(i).step_by(segments), end()))
                .collect();
            parts.reverse();
            let mut merged = FitInputs::default();
            for p in &parts {
                merged.merge(p);
            }
            assert_eq!(merged, whole, "{segments} segments");
            let model = ChurnModel::fit(&merged, ScoringSettings::default());
            assert_eq!(model.counts, expected.counts);
            assert_eq!(model.spend, expected.spend);
        }
        // Bounded by the distinct values, not the customers: whole days repeat, and spend falls in
        // 1 % buckets (2,000–40,000 minor units: about 300).
        assert!(whole.recency.len() <= 366, "{}", whole.recency.len());
        assert!(whole.monetary.len() <= 400, "{}", whole.monetary.len());
        assert!(whole.counts.len() < all.len(), "{}", whole.counts.len());
    }

    #[test]
    fn rfm_scores_from_the_merged_distribution_match_a_sort_of_every_customer() {
        let mut all = store(3_000, 5);
        // Spend varies per customer, some spent nothing net.
        let mut rng = Rng::new(99);
        for s in all.iter_mut() {
            s.total_value_minor = (rng.uniform() * 50_000.0) as i64 - 1_000;
        }
        let exact = crate::churn::rfm::rfm_scores(&all, end());
        let mut merged = FitInputs::default();
        for part in all.chunks(700) {
            merged.merge(&FitInputs::from_summaries(part, end()));
        }
        let scorer = merged.rfm_scorer();
        let mut monetary_off = 0;
        for (s, want) in all.iter().zip(&exact) {
            let got = scorer.score(s, end());
            assert_eq!(got.recency, want.recency);
            assert_eq!(got.frequency, want.frequency);
            assert!(got.monetary.abs_diff(want.monetary) <= 1);
            monetary_off += usize::from(got.monetary != want.monetary);
        }
        // Only customers within 1 % of a quintile boundary can differ.
        assert!(
            monetary_off * 100 < all.len(),
            "{monetary_off} of {}",
            all.len()
        );
    }

    #[test]
    fn stored_inputs_read_back_equal() {
        let inputs = FitInputs::from_summaries(&store(500, 3), end());
        let json = serde_json::to_string(&inputs).unwrap();
        let back: FitInputs = serde_json::from_str(&json).unwrap();
        assert_eq!(back, inputs);
        assert!(json.starts_with("{\"customers\":500"), "{json:.80}");
    }

    #[test]
    fn repeat_buyers_who_spent_nothing_are_left_out_of_the_spend_model_only() {
        let mut all = store(3_000, 11);
        let free = all.iter_mut().find(|s| s.frequency > 0).unwrap();
        free.repeat_value_minor = 0;
        free.total_value_minor = 0;
        let inputs = FitInputs::from_summaries(&all, end());
        assert_eq!(inputs.spend_left_out, 1);
        let model = ChurnModel::fit(&inputs, ScoringSettings::default());
        assert!(matches!(
            model.method,
            Method::Fitted {
                customers: 3_000,
                ..
            }
        ));
        assert!(model.spend.is_some(), "the spend model fits on the others");
        assert_eq!(model.spend_left_out, 1);
        let json = serde_json::to_value(&model).unwrap();
        assert_eq!(json["spend_left_out"], 1);
        // Without free orders the field is not there.
        let clean = ChurnModel::fit(
            &FitInputs::from_summaries(&store(3_000, 11), end()),
            ScoringSettings::default(),
        );
        assert!(serde_json::to_value(&clean)
            .unwrap()
            .get("spend_left_out")
            .is_none());
    }

    #[test]
    fn empty_inputs_fall_back_and_say_why() {
        let model = ChurnModel::fit(&FitInputs::default(), ScoringSettings::default());
        match model.method {
            Method::FallbackPriors { reason } => {
                assert!(reason.contains("0 customers"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
