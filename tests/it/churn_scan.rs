//! The churn-scan function against moto: a simulated store (a year of orders from a known
//! Pareto/NBD), its run started by a scheduled event, its 64 segments fanned out through a real
//! SQS queue to 4 poller workers, the first invocations killed mid-work (a Lambda timeout) and
//! redelivered. The held-back next 90 days judge the scores against the days-since-last-order
//! baseline. A second scheduled event the same day writes nothing.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use churn_scan::{handle, App, Ports};
use retention_app::ports::{ScanRuns, ScanState};
use retention_app::scan::{RunReport, ScanSettings};
use retention_core::churn::evaluate::auc;
use retention_core::churn::score::FALLBACK_PRIORS_DAYS;
use retention_core::churn::simulate::simulate_pareto_histories;
use retention_core::scan::Phase;
use retention_core::store::Store;
use retention_core::webhook::{Change, Order, OrderStatus, Person, Platform};
use retention_core::{Currency, CustomerId, Money, OrderId, StoreId};
use retention_dynamodb::Table;
use retention_sqs::JobQueue;
use retention_tests::poller::{self, Poll, Queues};
use retention_tests::{aws, deliveries, fresh_table};
use serde_json::{json, Value};
use std::sync::Arc;

const CUSTOMERS: usize = 600;
/// Days of history before the scan; the 90 after it are held back to judge the scores.
const YEAR: f64 = 365.0;
const HORIZON: f64 = 90.0;

fn day0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-01T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_simulated_store_is_scored_through_sqs_with_killed_workers_and_beats_the_baseline() {
    let table = Arc::new(fresh_table("scan").await);
    let store = StoreId::parse("sim-shop").unwrap();
    let usd = Currency::parse("USD").unwrap();
    let registered = Store {
        id: store.clone(),
        platform: Platform::Generic,
        webhook_secrets: vec!["test-secret-123".into()],
        name: Some("Simulated".into()),
        from_email: None,
        timezone: Some("America/New_York".into()),
        currency: Some(usd),
        mail: Default::default(),
    };
    assert!(table.put_store(&registered, 0).await.unwrap());

    // First orders over the first 300 days; every order up to day 365 is written, the next 90
    // days are only remembered.
    let histories =
        simulate_pareto_histories(&FALLBACK_PRIORS_DAYS, CUSTOMERS, 300.0, YEAR + HORIZON, 11);
    let d = deliveries(&table);
    let mut came_back = Vec::new();
    for (i, days) in histories.iter().enumerate() {
        for (k, t) in days.iter().filter(|t| **t < YEAR).enumerate() {
            let at = day0() + Duration::minutes((t * 1440.0) as i64);
            let o = Order {
                id: OrderId::parse(format!("{i}-{k}")).unwrap(),
                customer_id: CustomerId::parse(format!("c{i}")).unwrap(),
                customer: Person::default(),
                created_at: at,
                updated_at: at,
                total: Money::new(1_500 + ((i * 37 + k * 11) % 50) as i64 * 100, usd),
                status: OrderStatus::Open,
                items: vec![],
                coupon_codes: vec![],
                refunds: vec![],
            };
            d.apply(&store, &Change::Order(o), &[format!("d{i}-{k}")], at)
                .await
                .unwrap();
        }
        came_back.push(days.iter().any(|t| *t >= YEAR && *t < YEAR + HORIZON));
    }
    let as_of: NaiveDate = (day0() + Duration::days(YEAR as i64 - 1)).date_naive();

    let sqs = retention_sqs::client(&aws());
    let queues = Queues::create(sqs.clone(), &format!("scan-{}", std::process::id()), 5).await;
    let queue = Arc::new(JobQueue::new(sqs, queues.url.clone()));
    let settings = ScanSettings {
        page_items: 200,
        ..ScanSettings::default()
    };
    // The function's own handle on the same table, so that its requests and read units are
    // counted apart from the test's (the orders above, the polls for the end below).
    let scan_table = Arc::new(Table::new(table.client().clone(), table.name()));
    let app = App::new(Ports::on(scan_table.clone(), queue)).with_settings(settings);
    let scheduled = |detail: Value| {
        json!({
            "version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2025-12-31T08:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/retention-scan"],
            "detail": detail
        })
    };
    let begun = handle(
        &app,
        scheduled(json!({ "store_id": "sim-shop", "as_of": as_of, "segments": 64 })),
    )
    .await
    .unwrap();
    assert_eq!(begun["created"], true, "{begun}");

    // Done when the run is, and the queue is empty: redelivered copies of killed jobs come back
    // after the run finished, and are skipped.
    let done = || async {
        matches!(table.run(&store, as_of).await.unwrap(), Some((r, _)) if r.phase == Phase::Done)
            && queues.depth().await.0 == 0
    };
    let polled = poller::run(
        &queues,
        &Poll {
            workers: 4,
            batch: 2,
            visibility: 2,
            kills: 6,
            kill_after: std::time::Duration::from_millis(40),
            deadline: std::time::Duration::from_secs(600),
        },
        |event| {
            let app = &app;
            async move { handle(app, event).await.unwrap() }
        },
        done,
    )
    .await;
    eprintln!("poller: {polled:?}");
    assert!(polled.killed > 0, "some invocations were killed mid-work");
    // The scan's reads, from the scheduled event to the run's end, killed work included, by
    // DynamoDB's rule (moto reports a constant per request: printed beside, not judged). Two
    // parts: the pages of customers, which grow with the store, and each job's bookkeeping (the
    // store, the run, its checkpoint and the fitted model: strong reads of one 4 KB step each),
    // which grows with the messages. With 600 customers in 64 segments (9 a segment) the second
    // part dominates; with 10 million in 256 segments it is a rounding error (BENCHMARKS.md).
    let reads = scan_table.reads_by_purpose();
    let per_customer = |units: f64| units / CUSTOMERS as f64;
    for (purpose, r) in &reads {
        eprintln!(
            "reads {purpose:?}: {} requests, {} read units by DynamoDB's rule ({:.3} per customer), {} as moto reports them",
            r.requests,
            r.by_rule,
            per_customer(r.by_rule),
            r.reported
        );
    }
    let total = scan_table.read_units_by_rule();
    let pages = reads["reading a page of customers"].by_rule;
    let messages = polled.deleted + polled.killed;
    let per_message = (total - pages) / messages as f64;
    eprintln!(
        "read units per customer per scan: {:.3} in all; the two passes over the customers' pages {:.3}; \
         the rest {per_message:.2} per job message ({messages} handled or killed); {} requests",
        per_customer(total),
        per_customer(pages),
        scan_table.requests(),
    );
    assert!(
        per_customer(pages) <= 1.0,
        "{} read units per customer in pages",
        per_customer(pages)
    );
    assert!(
        per_message <= 8.0,
        "{per_message} read units of bookkeeping per job"
    );

    let json = table
        .document(&store, as_of, Phase::Done, 0)
        .await
        .unwrap()
        .expect("the report is stored");
    let report: RunReport = serde_json::from_slice(&json).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(report.customers_read, CUSTOMERS as u64);
    assert_eq!(report.scores.scored, CUSTOMERS as u64);
    assert_eq!(
        report.scores.written, CUSTOMERS as u64,
        "exact totals despite the kills"
    );
    assert_eq!(report.method, "fitted", "{}", report.method_detail);

    // Every customer's score, read back with the profiles.
    let mut risk = Vec::new();
    let mut since = Vec::new();
    let mut labels = Vec::new();
    let mut stream = retention_app::customers::Stream::new(
        table.as_ref(),
        &store,
        retention_core::segment::Segment::whole(),
    );
    while let Some(page) = stream.next_page().await.unwrap() {
        for (id, p) in page {
            let i: usize = id.as_str()[1..].parse().unwrap();
            let s = p.score.clone().expect("every customer scored");
            assert_eq!(s.as_of, as_of);
            risk.push(s.churn_risk);
            let last = p.stats().last_order_at.unwrap().date_naive();
            since.push((as_of - last).num_days() as f64);
            labels.push(!came_back[i]);
        }
    }
    assert_eq!(risk.len(), CUSTOMERS);
    let model = auc(&risk, &labels).unwrap();
    let baseline = auc(&since, &labels).unwrap();
    eprintln!(
        "AUC of churn risk for no order in the next 90 days: {model:.4} (days since last order: {baseline:.4}); {} of {CUSTOMERS} did not come back",
        labels.iter().filter(|l| **l).count()
    );
    assert!(model > 0.7, "AUC {model}");
    assert!(
        model >= baseline - 0.01,
        "model {model} vs baseline {baseline}"
    );

    // The same day again: the run is done, nothing is sent or written.
    let items_before = table.count_store_items(&store).await.unwrap();
    let requests_before = scan_table.requests();
    let again = handle(
        &app,
        scheduled(json!({ "store_id": "sim-shop", "as_of": as_of })),
    )
    .await
    .unwrap();
    assert_eq!(again["created"], false);
    assert_eq!(again["phase"], "done");
    // Three reads (the store, the run, that its report is stored), no write.
    assert_eq!(scan_table.requests() - requests_before, 3);
    assert_eq!(
        queues.depth().await,
        (0, 0),
        "nothing queued, nothing dead-lettered"
    );
    assert_eq!(table.count_store_items(&store).await.unwrap(), items_before);
}

#[tokio::test]
async fn a_message_that_is_no_scan_job_is_reported_failed_and_others_in_its_batch_are_not() {
    let table = Arc::new(fresh_table("scan-bad").await);
    let sqs = retention_sqs::client(&aws());
    let queues = Queues::create(sqs.clone(), &format!("scan-bad-{}", std::process::id()), 2).await;
    let app = App::new(Ports::on(
        table,
        Arc::new(JobQueue::new(sqs, queues.url.clone())),
    ));
    let answer = handle(
        &app,
        json!({ "Records": [
            { "messageId": "m1", "body": "not json", "eventSource": "aws:sqs" },
            { "messageId": "m2", "body": r#"{"store":"nope","as_of":"2026-01-01","phase":"reduce","segment":0}"#, "eventSource": "aws:sqs" }
        ]}),
    )
    .await
    .unwrap();
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    // m1 is no job; m2 names a run that does not exist: both go back (and on to the DLQ).
    assert_eq!(failed, ["m1", "m2"]);
    let ignored = handle(&app, json!({ "hello": "world" })).await.unwrap();
    assert!(ignored["ignored"].is_string());
}

fn sample(name: &str) -> Value {
    let path = retention_tests::workspace_root()
        .join("events/scan")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn the_hourly_schedule_starts_each_store_on_its_own_day_and_the_samples_run() {
    let table = Arc::new(fresh_table("scan-tick").await);
    let eur = Currency::parse("EUR").unwrap();
    let usd = Currency::parse("USD").unwrap();
    for (id, tz, currency) in [
        ("demo-shop", "Europe/Rome", Some(eur)),
        ("ny-shop", "America/New_York", Some(usd)),
        ("no-currency", "UTC", None),
    ] {
        let s = Store {
            id: StoreId::parse(id).unwrap(),
            platform: Platform::Generic,
            webhook_secrets: vec!["test-secret-123".into()],
            name: None,
            from_email: None,
            timezone: Some(tz.into()),
            currency,
            mail: Default::default(),
        };
        assert!(table.put_store(&s, 0).await.unwrap());
    }
    let sqs = retention_sqs::client(&aws());
    let queues = Queues::create(sqs.clone(), &format!("scan-tick-{}", std::process::id()), 3).await;
    // 07:30 UTC: 08:30 in Rome, 02:30 in New York (before the scan hour, 3).
    let now = DateTime::parse_from_rfc3339("2026-12-03T07:30:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let app = App::new(Ports::on(
        table.clone(),
        Arc::new(JobQueue::new(sqs, queues.url.clone())),
    ))
    .with_clock(retention_function::fixed_clock(now));
    let ticked = handle(&app, sample("scheduled.json")).await.unwrap();
    let outcome = |t: &Value, id: &str| {
        t["stores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["store"] == id)
            .unwrap_or_else(|| panic!("{id} in {t}"))
            .clone()
    };
    assert_eq!(
        outcome(&ticked, "demo-shop")["outcome"],
        "started",
        "{ticked}"
    );
    assert_eq!(outcome(&ticked, "demo-shop")["as_of"], "2026-12-03");
    assert_eq!(outcome(&ticked, "ny-shop")["outcome"], "not_yet");
    let refused = outcome(&ticked, "no-currency");
    assert_eq!(refused["outcome"], "refused");
    assert!(refused["reason"].as_str().unwrap().contains("currency"));
    // The next hour: the run is still going, its unfinished jobs go out again.
    let again = handle(&app, sample("scheduled.json")).await.unwrap();
    assert_eq!(outcome(&again, "demo-shop")["outcome"], "resent");
    // The sample SQS batch is segment 0 of that run's reduce phase.
    let answer = handle(&app, sample("sqs-job.json")).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let (run, _) = table
        .run(
            &StoreId::parse("demo-shop").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(run.finished.contains(&0), "{run:?}");
    // The one-store sample names demo-shop: the same run, not a second one.
    let one = handle(&app, sample("demo-shop.json")).await.unwrap();
    assert_eq!(one["created"], false, "{one}");
}
