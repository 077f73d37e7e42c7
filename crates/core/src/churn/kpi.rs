//! Retention KPIs of a store over a period, and the cohort retention table.
//!
//! "A customer at a date" means an *active* customer: one who ordered in the `active_window_days`
//! before that date (default 365). Without such a window nobody ever leaves and the retention rate
//! is 1 by construction.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::Purchase;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionKpis {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// S: active customers at the start.
    pub customers_at_start: usize,
    /// E: active customers at the end.
    pub customers_at_end: usize,
    /// N: customers whose first order is in the period.
    pub new_customers: usize,
    /// (E − N) / S; `None` when S = 0.
    pub customer_retention_rate: Option<f64>,
    /// 1 − CRR: the share of the starting customers no longer active at the end.
    pub churn_rate: Option<f64>,
    /// Share of the period's customers with more than one order day up to the period end.
    pub repeat_purchase_rate: Option<f64>,
    pub orders: usize,
    pub revenue_minor: i64,
    /// Revenue / orders, rounded to the minor unit.
    pub average_order_value_minor: Option<i64>,
    /// Orders per customer who ordered in the period.
    pub purchase_frequency: Option<f64>,
    /// Historic CLV: all revenue up to the period end divided by all customers so far, minor units.
    pub historic_clv_minor: Option<i64>,
}

fn div_round(num: i64, den: i64) -> i64 {
    // Round half away from zero in integers: money stays exact.
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den.abs() {
        q + num.signum() * den.signum()
    } else {
        q
    }
}

/// KPIs for [start, end] (inclusive) over `(customer, purchase)` rows.
pub fn retention_kpis<K: Ord + Clone>(
    rows: &[(K, Purchase)],
    start: NaiveDate,
    end: NaiveDate,
    active_window_days: i64,
) -> RetentionKpis {
    let mut by_customer: BTreeMap<&K, Vec<Purchase>> = BTreeMap::new();
    for (k, p) in rows {
        by_customer.entry(k).or_default().push(*p);
    }
    let period = KpiPeriod {
        start,
        end,
        active_window_days,
    };
    let mut tally = KpiTally::default();
    for purchases in by_customer.values() {
        tally.add(&period, purchases);
    }
    tally.kpis(&period)
}

/// The period KPIs are taken over, and what "active" means in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiPeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub active_window_days: i64,
}

/// The KPIs' counts and sums, customer by customer: every figure of [`RetentionKpis`] is a sum
/// over customers, so the tallies of a store's segments merge into the store's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiTally {
    pub customers: u64,
    pub at_start: u64,
    pub at_end: u64,
    pub new: u64,
    pub buyers: u64,
    pub repeaters: u64,
    pub orders: u64,
    pub revenue_minor: i64,
    pub all_revenue_minor: i64,
}

impl KpiTally {
    /// Adds one customer's purchases (any order).
    pub fn add(&mut self, period: &KpiPeriod, purchases: &[Purchase]) {
        let KpiPeriod {
            start,
            end,
            active_window_days,
        } = *period;
        let days: BTreeSet<NaiveDate> = purchases
            .iter()
            .map(|p| p.date)
            .filter(|d| *d <= end)
            .collect();
        let Some(first) = days.first().copied() else {
            return;
        };
        let active_at = |at: NaiveDate| {
            days.range(at - Duration::days(active_window_days - 1)..=at)
                .next()
                .is_some()
        };
        self.customers += 1;
        self.at_start += u64::from(active_at(start - Duration::days(1)));
        self.at_end += u64::from(active_at(end));
        self.new += u64::from(first >= start);
        let in_period = purchases
            .iter()
            .filter(|p| p.date >= start && p.date <= end);
        let (orders, revenue) = in_period.fold((0u64, 0i64), |(n, r), p| {
            (n + 1, r.saturating_add(p.amount_minor))
        });
        if orders > 0 {
            self.buyers += 1;
            self.repeaters += u64::from(days.len() > 1);
        }
        self.orders += orders;
        self.revenue_minor = self.revenue_minor.saturating_add(revenue);
        let all: i64 = purchases
            .iter()
            .filter(|p| p.date <= end)
            .map(|p| p.amount_minor)
            .sum();
        self.all_revenue_minor = self.all_revenue_minor.saturating_add(all);
    }

    pub fn merge(&mut self, other: &KpiTally) {
        self.customers += other.customers;
        self.at_start += other.at_start;
        self.at_end += other.at_end;
        self.new += other.new;
        self.buyers += other.buyers;
        self.repeaters += other.repeaters;
        self.orders += other.orders;
        self.revenue_minor = self.revenue_minor.saturating_add(other.revenue_minor);
        self.all_revenue_minor = self
            .all_revenue_minor
            .saturating_add(other.all_revenue_minor);
    }

    pub fn kpis(&self, period: &KpiPeriod) -> RetentionKpis {
        let (s, e, n) = (self.at_start, self.at_end, self.new);
        let crr = (s > 0).then(|| (e as f64 - n as f64) / s as f64);
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        RetentionKpis {
            period_start: period.start,
            period_end: period.end,
            customers_at_start: s as usize,
            customers_at_end: e as usize,
            new_customers: n as usize,
            customer_retention_rate: crr,
            churn_rate: crr.map(|c| 1.0 - c),
            repeat_purchase_rate: ratio(self.repeaters, self.buyers),
            orders: self.orders as usize,
            revenue_minor: self.revenue_minor,
            average_order_value_minor: (self.orders > 0)
                .then(|| div_round(self.revenue_minor, self.orders as i64)),
            purchase_frequency: ratio(self.orders, self.buyers),
            historic_clv_minor: (self.customers > 0)
                .then(|| div_round(self.all_revenue_minor, self.customers as i64)),
        }
    }
}

/// One row of the cohort table: customers whose first order is in `cohort` (a month), and the
/// share of them ordering in each month since (index 0 = the first month, always 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortRow {
    pub cohort: String,
    pub customers: usize,
    pub active: Vec<usize>,
    pub retention: Vec<f64>,
}

fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

/// Cohort retention by month of first order, up to `end`.
pub fn cohort_table<K: Ord + Clone>(rows: &[(K, Purchase)], end: NaiveDate) -> Vec<CohortRow> {
    let mut months: BTreeMap<&K, BTreeSet<i32>> = BTreeMap::new();
    for (k, p) in rows.iter().filter(|(_, p)| p.date <= end) {
        months.entry(k).or_default().insert(month_index(p.date));
    }
    let last = month_index(end);
    let mut cohorts: BTreeMap<i32, Vec<&BTreeSet<i32>>> = BTreeMap::new();
    for set in months.values() {
        cohorts
            .entry(*set.iter().next().unwrap())
            .or_default()
            .push(set);
    }
    cohorts
        .into_iter()
        .map(|(c, members)| {
            let width = (last - c + 1) as usize;
            let mut active = vec![0; width];
            for set in &members {
                for m in *set {
                    active[(m - c) as usize] += 1;
                }
            }
            let retention = active
                .iter()
                .map(|a| *a as f64 / members.len() as f64)
                .collect();
            CohortRow {
                cohort: format!("{:04}-{:02}", c.div_euclid(12), c.rem_euclid(12) + 1),
                customers: members.len(),
                active,
                retention,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn p(k: &str, date: &str, amount: i64) -> (String, Purchase) {
        (
            k.to_string(),
            Purchase {
                date: d(date),
                amount_minor: amount,
            },
        )
    }

    #[test]
    fn crr_by_the_textbook_formula() {
        // Start: a, b, c active. In the period: a buys again, d is new; b and c lapse out of a
        // 60-day window by the end.
        let rows = vec![
            p("a", "2024-01-10", 1000),
            p("b", "2024-01-15", 2000),
            p("c", "2024-01-20", 3000),
            p("a", "2024-03-01", 1500),
            p("d", "2024-03-10", 500),
        ];
        let k = retention_kpis(&rows, d("2024-02-01"), d("2024-03-31"), 60);
        assert_eq!(
            (k.customers_at_start, k.customers_at_end, k.new_customers),
            (3, 2, 1)
        );
        assert_eq!(k.customer_retention_rate, Some(1.0 / 3.0));
        assert_eq!(k.orders, 2);
        assert_eq!(k.average_order_value_minor, Some(1000));
        assert_eq!(k.repeat_purchase_rate, Some(0.5));
        assert_eq!(k.historic_clv_minor, Some(2000));
        let table = cohort_table(&rows, d("2024-03-31"));
        assert_eq!(table[0].cohort, "2024-01");
        assert_eq!(table[0].active, vec![3, 0, 1]);
        assert_eq!(table[1].cohort, "2024-03");
    }

    #[test]
    fn money_rounds_half_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
    }
}
