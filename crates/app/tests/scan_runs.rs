//! Whole churn-scan runs over the in-memory ports: every job through a queue, several workers,
//! faults anywhere, and the edge cases of a store's data, each ending in a clear state.

use async_trait::async_trait;
use chrono::NaiveDate;
use retention_app::memory::Memory;
use retention_app::ports::{ScanQueue, ScanRuns, ScanState, Scores};
use retention_app::scan::{
    begin, drain, report, work, LocalQueue, RunReport, ScanPorts, ScanSettings,
};
use retention_app::{Deliveries, ErrorKind, PortError, Result};
use retention_core::churn::score::FALLBACK_PRIORS_DAYS;
use retention_core::churn::scored::CustomerScore;
use retention_core::churn::simulate::simulate_pareto_histories;
use retention_core::scan::{Phase, ScanJob};
use retention_core::store::Store;
use retention_core::webhook::{Change, Order, OrderStatus, Person, Platform};
use retention_core::{Currency, CustomerId, Money, OrderId, StoreId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

mod common;
use common::{at, store, usd};

fn as_of() -> NaiveDate {
    common::end()
}

fn registered(currency: Option<Currency>) -> Arc<Memory> {
    let m = Arc::new(Memory::new());
    m.add_store(Store {
        id: store(),
        platform: Platform::Generic,
        webhook_secrets: vec!["secret-1234".into()],
        name: None,
        from_email: None,
        timezone: None,
        currency,
        mail: Default::default(),
    });
    m
}

async fn order(m: &Arc<Memory>, customer: &str, n: u32, day: u32, total: i64) {
    let d = Deliveries {
        ledger: m.clone(),
        erasure: m.clone(),
        redemptions: m.clone(),
    };
    let o = Order {
        id: OrderId::parse(format!("{customer}-{n}")).unwrap(),
        customer_id: CustomerId::parse(customer).unwrap(),
        customer: Person::default(),
        created_at: at(day),
        updated_at: at(day),
        total: Money::new(total, usd()),
        status: OrderStatus::Open,
        items: vec![],
        coupon_codes: vec![],
        refunds: vec![],
    };
    d.apply(
        &store(),
        &Change::Order(o),
        &[format!("d-{customer}-{n}")],
        at(0),
    )
    .await
    .unwrap();
}

/// `customers` customers simulated from a Pareto/NBD with typical (CDNOW) parameters, first
/// orders over the year, each order 10 to 70 dollars.
async fn seeded(customers: u32) -> Arc<Memory> {
    let m = registered(Some(usd()));
    let histories =
        simulate_pareto_histories(&FALLBACK_PRIORS_DAYS, customers as usize, 330.0, 365.0, 7);
    for (i, days) in histories.iter().enumerate() {
        for (k, day) in days.iter().enumerate() {
            let total = 1_000 + ((i * 31 + k * 17) % 60) as i64 * 100;
            order(&m, &format!("c{i}"), k as u32, *day as u32, total).await;
        }
    }
    m
}

fn settings() -> ScanSettings {
    ScanSettings {
        page_items: 37,
        ..ScanSettings::default()
    }
}

async fn registration(m: &Memory) -> Store {
    retention_app::ports::StoreDirectory::store(m, &store())
        .await
        .unwrap()
        .expect("registered")
}

fn memory_ports<'a>(m: &'a Memory, q: &'a dyn ScanQueue) -> ScanPorts<'a> {
    ScanPorts {
        stores: m,
        customers: m,
        runs: m,
        state: m,
        scores: m,
        queue: q,
    }
}

async fn run_all(m: &Arc<Memory>, segments: u32, workers: usize) -> RunReport {
    let q = LocalQueue::default();
    let ports = memory_ports(m, &q);
    begin(
        ports,
        &registration(m.as_ref()).await,
        as_of(),
        Some(segments),
    )
    .await
    .unwrap();
    drain(ports, &settings(), &q, workers, &|_, _| {})
        .await
        .unwrap();
    stored_report(m, ports).await
}

async fn stored_report(m: &Arc<Memory>, ports: ScanPorts<'_>) -> RunReport {
    let (run, _) = m.run(&store(), as_of()).await.unwrap().unwrap();
    assert_eq!(run.phase, Phase::Done);
    let json = m
        .document(&store(), as_of(), Phase::Done, 0)
        .await
        .unwrap()
        .expect("the report is stored");
    let stored: RunReport = serde_json::from_slice(&json).unwrap();
    assert_eq!(stored, report(ports, &run).await.unwrap());
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scan_scores_every_customer_once_and_a_second_scan_that_day_writes_nothing() {
    let m = seeded(400).await;
    let r = run_all(&m, 16, 4).await;
    assert_eq!(r.customers_read, 400);
    assert_eq!(r.scores.scored, 400);
    assert_eq!(r.scores.written, 400, "first scan: everyone is new");
    assert_eq!(m.score_writes(), 400);
    eprintln!(
        "{:?} {:?}",
        r.durations_ms,
        r.model.as_ref().map(|m| &m.diagnostics)
    );
    assert_eq!(r.method, "fitted", "{}", r.method_detail);
    assert_eq!(r.scores.by_bucket.values().sum::<u64>(), 400);
    assert_eq!(r.scores.by_segment.values().sum::<u64>(), 400);
    assert!(r.kpis.as_ref().unwrap().average_order_value_minor.is_some());
    assert!(r.durations_ms.reduce.is_some() && r.durations_ms.score.is_some());
    // Every customer's figures are stored with the profile.
    let p = retention_app::ports::Customers::profile(
        m.as_ref(),
        &store(),
        &CustomerId::parse("c7").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let score = p.score.expect("scored");
    assert_eq!(score.as_of, as_of());
    assert!(!score.reasons.is_empty());
    // The same day again: the same run, already done. Nothing is sent, nothing written.
    let again = run_all(&m, 3, 2).await;
    assert_eq!(again, r);
    assert_eq!(m.score_writes(), 400);
}

/// Ports that fail now and then, as a Lambda times out or DynamoDB throttles: every `every`-th
/// checkpoint or score write fails (half of them after the write landed).
struct Faulty {
    m: Arc<Memory>,
    calls: AtomicU64,
    every: u64,
}

impl Faulty {
    fn strike(&self) -> Option<bool> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        n.is_multiple_of(self.every)
            .then_some(n.is_multiple_of(2 * self.every))
    }
}

fn killed() -> PortError {
    PortError::bare(ErrorKind::Retryable, "killed")
}

#[async_trait]
impl ScanState for Faulty {
    async fn document(
        &self,
        s: &StoreId,
        d: NaiveDate,
        p: Phase,
        g: u32,
    ) -> Result<Option<Vec<u8>>> {
        self.m.document(s, d, p, g).await
    }
    async fn put_document(
        &self,
        s: &StoreId,
        d: NaiveDate,
        p: Phase,
        g: u32,
        json: &[u8],
    ) -> Result<()> {
        match self.strike() {
            None => self.m.put_document(s, d, p, g, json).await,
            Some(after) => {
                if after {
                    self.m.put_document(s, d, p, g, json).await?;
                }
                Err(killed())
            }
        }
    }
    async fn documents(&self, s: &StoreId, d: NaiveDate, p: Phase) -> Result<Vec<(u32, Vec<u8>)>> {
        self.m.documents(s, d, p).await
    }
}

#[async_trait]
impl Scores for Faulty {
    async fn put_scores(&self, s: &StoreId, scores: &[(CustomerId, CustomerScore)]) -> Result<()> {
        match self.strike() {
            None => self.m.put_scores(s, scores).await,
            Some(after) => {
                if after {
                    self.m.put_scores(s, scores).await?;
                }
                Err(killed())
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_anywhere_resume_with_exact_totals_and_no_score_written_twice() {
    let clean = run_all(&seeded(400).await, 8, 1).await;
    let m = seeded(400).await;
    let faulty = Faulty {
        m: m.clone(),
        calls: AtomicU64::new(0),
        every: 5,
    };
    let q = LocalQueue::default();
    let ports = ScanPorts {
        stores: m.as_ref(),
        customers: m.as_ref(),
        runs: m.as_ref(),
        state: &faulty,
        scores: &faulty,
        queue: &q,
    };
    begin(ports, &registration(m.as_ref()).await, as_of(), Some(8))
        .await
        .unwrap();
    drain(ports, &settings(), &q, 4, &|_, _| {}).await.unwrap();
    assert!(
        faulty.calls.load(Ordering::Relaxed) > 20,
        "faults were injected"
    );
    let r = stored_report(&m, ports).await;
    assert_eq!(r.scores, clean.scores);
    assert_eq!(r.customers_read, clean.customers_read);
    assert_eq!(r.model, clean.model);
    // Writes that failed before landing were done again; none that landed was repeated.
    assert_eq!(m.score_writes(), 400);
}

/// A queue the test empties by hand, to change the store between jobs.
#[derive(Default)]
struct Manual(Mutex<Vec<ScanJob>>);

#[async_trait]
impl ScanQueue for Manual {
    async fn send(&self, jobs: &[ScanJob]) -> Result<()> {
        self.0.lock().unwrap().extend(jobs.iter().cloned());
        Ok(())
    }
}

#[tokio::test]
async fn orders_and_erasures_during_a_run_end_in_a_clear_state() {
    let m = seeded(300).await;
    let q = Manual::default();
    let ports = memory_ports(&m, &q);
    begin(ports, &registration(m.as_ref()).await, as_of(), Some(4))
        .await
        .unwrap();
    let mut phase_seen = Phase::Reduce;
    loop {
        let Some(job) = q.0.lock().unwrap().pop() else {
            break;
        };
        if job.phase == Phase::Score && phase_seen != Phase::Score {
            phase_seen = Phase::Score;
            // Between the fit and the scoring: a new customer orders, another is erased.
            order(&m, "late-comer", 0, 300, 5_000).await;
            let d = Deliveries {
                ledger: m.clone(),
                erasure: m.clone(),
                redemptions: m.clone(),
            };
            d.apply(
                &store(),
                &Change::RedactCustomer {
                    customer_id: Some(CustomerId::parse("c5").unwrap()),
                    email: None,
                    orders: vec![],
                },
                &["redact-c5".into()],
                at(1),
            )
            .await
            .unwrap();
        }
        work(ports, &settings(), &job).await.unwrap();
    }
    let r = stored_report(&m, ports).await;
    assert_eq!(r.customers_read, 300);
    assert_eq!(
        r.scores.scored, 301,
        "the late-comer is scored with the day's model"
    );
    assert_noted(&r, "changed during the run");
    // The erased customer's figures carry nothing personal: only numbers and words about them.
    let p = retention_app::ports::Customers::profile(
        m.as_ref(),
        &store(),
        &CustomerId::parse("c5").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(p.redacted);
}

fn assert_noted(r: &RunReport, words: &str) {
    assert!(
        r.notes.iter().any(|n| n.contains(words)),
        "{words:?} not in {:?}",
        r.notes
    );
}

#[tokio::test]
async fn small_empty_one_time_and_free_stores_each_end_in_a_clear_state() {
    // No orders at all.
    let m = registered(Some(usd()));
    let r = run_all(&m, 4, 2).await;
    assert_eq!(
        (r.customers_read, r.scores.scored, r.scores.written),
        (0, 0, 0)
    );
    assert_eq!(r.method, "fallback");
    assert_noted(&r, "no customers");

    // One customer.
    let m = registered(Some(usd()));
    order(&m, "solo", 0, 10, 2_500).await;
    let r = run_all(&m, 4, 2).await;
    assert_eq!((r.customers_read, r.scores.scored), (1, 1));
    assert_eq!(r.method, "fallback");
    assert!(
        r.method_detail.contains("1 customers"),
        "{}",
        r.method_detail
    );

    // Only one-time buyers.
    let m = registered(Some(usd()));
    for i in 0..250 {
        order(&m, &format!("once{i}"), 0, i % 360, 1_000).await;
    }
    let r = run_all(&m, 4, 2).await;
    assert_eq!(r.scores.scored, 250);
    assert_eq!(r.method, "fallback");
    assert_noted(&r, "ordered once");

    // Free orders: zero totals everywhere (100 % coupons); the repeat buyers' spend is left out.
    let m = registered(Some(usd()));
    for i in 0..300u32 {
        for k in 0..(1 + i % 3) {
            order(&m, &format!("free{i}"), k, (i * 5 + k * 60) % 360, 0).await;
        }
    }
    let r = run_all(&m, 4, 2).await;
    assert_eq!(r.scores.scored, 300);
    assert_noted(&r, "left out of the spend model");
    let model = r.model.unwrap();
    assert!(model.spend.is_none());
    assert_eq!(model.spend_left_out, 200);
}

/// A store that passes every eligibility test (200 customers, 50 repeat buyers, 120 days) but on
/// which the Pareto/NBD fit cannot converge: 150 customers ordered once, 120 days ago, and 50 have
/// ordered every day since (no gamma mix of purchase rates fits that; see the core's
/// `a_fit_that_does_not_converge_falls_back_and_says_why`). The run completes on the fallback
/// priors, says so and why, and scores everyone.
#[tokio::test]
async fn a_fit_that_does_not_converge_ends_on_the_fallback_with_everyone_scored() {
    let m = registered(Some(usd()));
    let first_day = 365 - 120;
    for i in 0..150 {
        order(&m, &format!("once{i}"), 0, first_day, 2_500).await;
    }
    for i in 0..50 {
        for k in 0..=120 {
            order(&m, &format!("daily{i}"), k, first_day + k, 1_200).await;
        }
    }
    let r = run_all(&m, 4, 2).await;
    assert_eq!(r.customers_read, 200);
    assert_eq!(r.scores.scored, 200, "every customer is scored");
    assert_eq!(r.scores.written, 200);
    assert_eq!(r.scores.by_bucket.values().sum::<u64>(), 200);
    assert_eq!(r.method, "fallback");
    assert!(
        r.method_detail
            .contains("because the Pareto/NBD fit did not converge ("),
        "{}",
        r.method_detail
    );
    let model = r.model.expect("the fallback model is stored");
    assert_eq!(model.counts, FALLBACK_PRIORS_DAYS);
    let diagnostics = model
        .diagnostics
        .expect("with the failed fit's diagnostics");
    assert!(!diagnostics.converged, "{diagnostics:?}");
    assert!(
        r.method_detail.contains(diagnostics.stop_reason.describe()),
        "{}",
        r.method_detail
    );
}

#[tokio::test]
async fn a_store_without_a_currency_is_told_what_to_set() {
    let m = registered(None);
    let q = LocalQueue::default();
    let ports = memory_ports(&m, &q);
    let e = begin(ports, &registration(m.as_ref()).await, as_of(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--currency"), "{e}");
    assert!(
        m.run(&store(), as_of()).await.unwrap().is_none(),
        "no run started"
    );
}
