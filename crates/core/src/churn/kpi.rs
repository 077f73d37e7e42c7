//! Retention KPIs of a store over a period, and the cohort retention table.
//!
//! "A customer at a date" means an *active* customer: one who ordered in the `active_window_days`
//! before that date (default 365). Without such a window nobody ever leaves and the retention rate
//! is 1 by construction.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use super::Purchase;

#[derive(Debug, Clone, PartialEq, Serialize)]
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
    let mut first: BTreeMap<&K, NaiveDate> = BTreeMap::new();
    let mut days: BTreeMap<&K, BTreeSet<NaiveDate>> = BTreeMap::new();
    for (k, p) in rows.iter().filter(|(_, p)| p.date <= end) {
        let f = first.entry(k).or_insert(p.date);
        *f = (*f).min(p.date);
        days.entry(k).or_default().insert(p.date);
    }
    let active_at = |k: &K, at: NaiveDate| {
        days[k]
            .range(at - Duration::days(active_window_days - 1)..=at)
            .next()
            .is_some()
    };
    let s = first
        .keys()
        .filter(|k| active_at(k, start - Duration::days(1)))
        .count();
    let e = first.keys().filter(|k| active_at(k, end)).count();
    let n = first
        .values()
        .filter(|d| **d >= start && **d <= end)
        .count();
    let in_period: Vec<&(K, Purchase)> = rows
        .iter()
        .filter(|(_, p)| p.date >= start && p.date <= end)
        .collect();
    let buyers: BTreeSet<&K> = in_period.iter().map(|(k, _)| k).collect();
    let repeaters = buyers.iter().filter(|k| days[**k].len() > 1).count();
    let revenue: i64 = in_period.iter().map(|(_, p)| p.amount_minor).sum();
    let all_revenue: i64 = rows
        .iter()
        .filter(|(_, p)| p.date <= end)
        .map(|(_, p)| p.amount_minor)
        .sum();
    let crr = (s > 0).then(|| (e as f64 - n as f64) / s as f64);
    RetentionKpis {
        period_start: start,
        period_end: end,
        customers_at_start: s,
        customers_at_end: e,
        new_customers: n,
        customer_retention_rate: crr,
        churn_rate: crr.map(|c| 1.0 - c),
        repeat_purchase_rate: (!buyers.is_empty()).then(|| repeaters as f64 / buyers.len() as f64),
        orders: in_period.len(),
        revenue_minor: revenue,
        average_order_value_minor: (!in_period.is_empty())
            .then(|| div_round(revenue, in_period.len() as i64)),
        purchase_frequency: (!buyers.is_empty())
            .then(|| in_period.len() as f64 / buyers.len() as f64),
        historic_clv_minor: (!first.is_empty()).then(|| div_round(all_revenue, first.len() as i64)),
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
