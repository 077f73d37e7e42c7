//! The adapter's CPU, no I/O.
//!
//! - **webhook**: the production path of a new order, for the 5,845-byte Shopify `orders/create`
//!   body of the conformance corpus: verify the signature, parse, let the core decide, build the
//!   `TransactWriteItems` elements (`ledger::commit_items`). The peer in the same run is the least
//!   any receiver must do with those bytes: one HMAC and a bare `serde_json` parse (goal ≤ 2×).
//! - **pages**: decoding a page of the customer collection (1,000 items) into whole customers, and
//!   a pass over 1,000,000 customers page by page with the peak heap reported (it must stay at one
//!   page's worth, not grow with the store).
//! - **scan**: the churn scan's score phase on one page, from DynamoDB items to the write decision:
//!   decode the page (profiles, orders and the stored scores), score every customer with the run's
//!   model, compare with the stored score. The stored scores are the ones this model gives, so the
//!   decision is "write nothing" for every customer, as on a second scan of unchanged data (goal
//!   ≥ 250,000 customers/s on one core). The same page through serde_dynamo, the reference
//!   decoder, runs beside it.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use retention_app::ports::Markers;
use retention_core::ledger::{self, Decision, Known};
use retention_core::profile::OrderSummary;
use retention_core::signature;
use retention_core::webhook::{self, OrderStatus, Parsed, Platform};
use retention_core::{Currency, CustomerId, Money, OrderId, StoreId};
use retention_dynamodb::customers::{decode_customers, decode_customers_via};
use retention_dynamodb::decode::Via;
use retention_dynamodb::keys::{customer_sk, order_copy_sk, store_pk};
use retention_dynamodb::ledger::commit_items;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes and their peak, for the 1,000,000-customer pass.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn body() -> Vec<u8> {
    let dir = std::env::var_os("RETENTION_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    let path = dir.join("webhooks/shopify_orders_create_gnikyt-laravel-shopify.json");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("CONFORMANCE CORPUS MISSING: {}: {e}", path.display()))
}

fn webhook(c: &mut Criterion) {
    let body = body();
    assert_eq!(body.len(), 5845);
    let secret = b"00000000000000000000000000000000";
    let signature = signature::sign_base64_body(secret, &body);
    let secrets = [retention_core::store::WebhookSecret::from(
        std::str::from_utf8(secret).unwrap(),
    )];
    let store = StoreId::parse("bench-shop").unwrap();
    let now = Utc::now();
    let ids = [
        "shopify-event#1".to_string(),
        "shopify-webhook#1".to_string(),
    ];

    let mut g = c.benchmark_group("shopify_orders_create_5845B");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("peer: hmac + serde_json::Value", |b| {
        b.iter(|| {
            let mac = signature::hmac_sha256(secret, &[black_box(&body)]);
            let v: serde_json::Value = serde_json::from_slice(black_box(&body)).unwrap();
            (mac, v)
        })
    });
    g.bench_function(
        "engine: verify + parse + decide + build the transaction",
        |b| {
            b.iter(|| {
                signature::verify_base64_body(
                    "X-Shopify-Hmac-Sha256",
                    &secrets,
                    black_box(&body),
                    Some(&signature),
                )
                .unwrap();
                let Ok(Parsed::Change(change)) =
                    webhook::parse(Platform::Shopify, Some("orders/create"), black_box(&body))
                else {
                    panic!("the corpus order must parse")
                };
                let Decision::Write { writes, .. } = ledger::decide(&change, Known::Nothing, now)
                else {
                    panic!("a new order is a write")
                };
                let markers = Markers {
                    ids: &ids,
                    kind: change.kind(),
                    at: now,
                };
                black_box(commit_items("retention", &store, &markers, &writes).unwrap())
            })
        },
    );
    g.finish();
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The items of customers `from..from + n`, each a profile and `orders` copies of orders, as
/// the adapter stores them, in key order.
fn page(store: &StoreId, from: usize, n: usize, orders: usize) -> Vec<Item> {
    let at: DateTime<Utc> = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let summary: AttributeValue = serde_dynamo::to_attribute_value(OrderSummary {
        created_at: at,
        updated_at: at,
        total: Money::new(4250, Currency::parse("USD").unwrap()),
        status: OrderStatus::Open,
        categories: BTreeMap::from([("Cat food".to_string(), 2), ("Toys".to_string(), 1)]),
        coupon_codes: vec![],
    })
    .unwrap();
    let mut customers: Vec<CustomerId> = (from..from + n)
        .map(|i| CustomerId::parse(format!("{}", 6_000_000_000u64 + i as u64)).unwrap())
        .collect();
    customers.sort_by_key(customer_sk);
    let mut out = Vec::with_capacity(n * (1 + orders));
    for c in customers {
        out.push(Item::from([
            ("PK".into(), s(store_pk(store))),
            ("SK".into(), s(customer_sk(&c))),
            ("email".into(), s(format!("{c}@example.com"))),
            ("first_name".into(), s("Ada")),
            ("accepts_marketing".into(), AttributeValue::Bool(true)),
            (
                "GSI1PK".into(),
                s(format!("STORE#{store}#EMAIL#{c}@example.com")),
            ),
            ("GSI1SK".into(), s(customer_sk(&c))),
        ]));
        for k in 0..orders {
            let o = OrderId::parse(format!("{c}{k}")).unwrap();
            out.push(Item::from([
                ("PK".into(), s(store_pk(store))),
                ("SK".into(), s(order_copy_sk(&c, &o))),
                ("o".into(), summary.clone()),
            ]));
        }
    }
    out
}

/// Customers per page: 1,000 items, each customer a profile and two orders.
const PER_PAGE: usize = 333;

fn pages(c: &mut Criterion) {
    let store = StoreId::parse("bench-shop").unwrap();
    let one = page(&store, 0, PER_PAGE, 2);
    let mut g = c.benchmark_group("customer_pages");
    g.throughput(Throughput::Elements(PER_PAGE as u64));
    g.bench_function("decode a page of 1,000 items (333 customers)", |b| {
        b.iter_batched(
            || one.clone(),
            |items| black_box(decode_customers(items).unwrap()),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // The whole store once, page by page, as a scan segment reads it.
    const CUSTOMERS: usize = 1_000_000;
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let (mut decoded, mut orders, mut decode_time) = (0usize, 0usize, std::time::Duration::ZERO);
    let mut from = 0;
    while from < CUSTOMERS {
        let n = PER_PAGE.min(CUSTOMERS - from);
        let items = page(&store, from, n, 2);
        let t = std::time::Instant::now();
        let customers = decode_customers(items).unwrap();
        decode_time += t.elapsed();
        decoded += customers.len();
        orders += customers.iter().map(|(_, p)| p.orders.len()).sum::<usize>();
        from += n;
    }
    assert_eq!((decoded, orders), (CUSTOMERS, 2 * CUSTOMERS));
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "1,000,000 customers ({} items) in pages of {PER_PAGE}: decoding {:.2} s ({:.0} customers/s), \
         whole pass {:.2} s with page generation; peak heap above the start {:.2} MiB",
        3 * CUSTOMERS,
        decode_time.as_secs_f64(),
        CUSTOMERS as f64 / decode_time.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        peak as f64 / (1024.0 * 1024.0)
    );
}

/// A score item as the adapter stores it (crates/dynamodb/src/scan.rs).
#[derive(serde::Serialize)]
struct ScoreItem<'a> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    score: &'a retention_core::churn::scored::CustomerScore,
}

fn scan(c: &mut Criterion) {
    use retention_app::scan::{reduce_page, score_page, ReduceTally};
    use retention_core::churn::score::{ChurnModel, ScoringSettings};
    use retention_core::scan::{FittedModel, ScoreTally};
    let store = StoreId::parse("bench-shop").unwrap();
    let usd = Currency::parse("USD").unwrap();
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let items = page(&store, 0, PER_PAGE, 2);
    let customers = decode_customers(items.clone()).unwrap();
    let mut reduced = ReduceTally::default();
    reduce_page(&customers, as_of, usd, &mut reduced);
    let fitted = FittedModel {
        as_of,
        model: ChurnModel::fit(&reduced.inputs, ScoringSettings::default()),
        rfm: reduced.inputs.rfm_scorer(),
        customers: reduced.inputs.customers,
        repeat_customers: reduced.inputs.repeat_customers,
        without_purchases: 0,
        history_days: reduced.inputs.history_days,
        kpis: reduced.kpis.kpis(&retention_app::scan::kpi_period(as_of)),
        fit_ms: 0,
    };
    // The stored scores: what this model says, in each customer's collection after their orders.
    let first = score_page(&customers, &fitted, usd, &mut ScoreTally::default());
    assert_eq!(first.len(), PER_PAGE);
    let score_item = |id: &CustomerId, score| -> Item {
        serde_dynamo::to_item(ScoreItem {
            pk: store_pk(&store),
            sk: format!("{}#S", customer_sk(id)),
            score,
        })
        .unwrap()
    };
    let mut with_scores = Vec::with_capacity(items.len() + PER_PAGE);
    let mut scores = first.iter().peekable();
    for item in items {
        let sk = item["SK"].as_s().unwrap().clone();
        while let Some((id, score)) = scores.peek() {
            if customer_sk(id) < sk && !sk.starts_with(&customer_sk(id)) {
                with_scores.push(score_item(id, score));
                scores.next();
            } else {
                break;
            }
        }
        with_scores.push(item);
    }
    for (id, score) in scores {
        with_scores.push(score_item(id, score));
    }
    let decide_via = |items: Vec<Item>, via: Via| {
        let customers = decode_customers_via(items, via).unwrap();
        let mut tally = ScoreTally::default();
        let writes = score_page(&customers, &fitted, usd, &mut tally);
        (writes.len(), tally.scored)
    };
    let decide = |items: Vec<Item>| decide_via(items, Via::Direct);
    assert_eq!(
        decide(with_scores.clone()),
        (0, PER_PAGE as u64),
        "unchanged: nothing to write"
    );
    assert_eq!(
        decode_customers_via(with_scores.clone(), Via::Serde).unwrap(),
        decode_customers(with_scores.clone()).unwrap(),
        "the direct decoder reads the page as serde_dynamo does"
    );
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(PER_PAGE as u64));
    g.bench_function(
        "page of 1,333 items to write decisions (333 customers)",
        |b| {
            b.iter_batched(
                || with_scores.clone(),
                |items| black_box(decide(items)),
                BatchSize::SmallInput,
            )
        },
    );
    g.bench_function(
        "the same, decoded by serde_dynamo (the reference decoder)",
        |b| {
            b.iter_batched(
                || with_scores.clone(),
                |items| black_box(decide_via(items, Via::Serde)),
                BatchSize::SmallInput,
            )
        },
    );
    g.bench_function("of which scoring and deciding, decoded", |b| {
        let decoded = decode_customers(with_scores.clone()).unwrap();
        b.iter(|| {
            let mut tally = ScoreTally::default();
            black_box(score_page(&decoded, &fitted, usd, &mut tally).len())
        })
    });
    g.finish();
}

criterion_group!(benches, webhook, pages, scan);
criterion_main!(benches);
