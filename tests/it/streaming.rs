//! A store's customers streamed from the table: page by page with a resumable cursor, and as N
//! disjoint segments that together yield every customer exactly once, whole (every order, also for
//! a customer larger than a page).

use chrono::{DateTime, Duration, Utc};
use retention_app::customers::Stream;
use retention_app::ports::{Commit, Ledger, Markers};
use retention_core::ledger::{self, Decision, Known, Write};
use retention_core::segment::Segment;
use retention_core::webhook::{Change, Order, OrderStatus, Person};
use retention_core::{Currency, CustomerId, Email, Money, OrderId, StoreId};
use retention_dynamodb::Table;
use retention_tests::fresh_table;
use std::collections::{HashMap, HashSet};

const CUSTOMERS: u32 = 2000;
/// Items per page: small enough that thousands of customers cross many page boundaries (and
/// every segment of 64 spans several pages), large enough that moto, which sorts the whole
/// partition for every Query, reads the store in seconds.
const PAGE: usize = 400;
/// One customer with more orders than a page holds items.
const BIG: &str = "big-spender";
const BIG_ORDERS: u32 = 420;

fn order(customer: &CustomerId, id: String, day: u32) -> Order {
    let at: DateTime<Utc> =
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + Duration::days(day.into());
    Order {
        id: OrderId::parse(id).unwrap(),
        customer_id: customer.clone(),
        customer: Person {
            email: Some(Email::parse(format!("{customer}@example.com")).unwrap()),
            ..Person::default()
        },
        created_at: at,
        updated_at: at,
        total: Money::new(1000, Currency::parse("USD").unwrap()),
        status: OrderStatus::Open,
        items: vec![],
        coupon_codes: vec![],
        refunds: vec![],
    }
}

/// The store's customers and how many orders each has, written through the ledger port (the
/// writes the core decides for each new order), in transactions of up to ~96 items.
async fn seed(table: &Table, store: &StoreId) -> HashMap<CustomerId, usize> {
    let customers: Vec<(CustomerId, u32)> = (0..CUSTOMERS)
        .map(|i| {
            let orders = if i % 3 == 0 { 2 } else { 1 };
            (CustomerId::parse(format!("c{i}")).unwrap(), orders)
        })
        .chain([(CustomerId::parse(BIG).unwrap(), BIG_ORDERS)])
        .collect();
    write_orders(table, store, &customers).await;
    customers
        .into_iter()
        .map(|(c, n)| (c, n as usize))
        .collect()
}

/// The customers' orders through the ledger port, round by round (every customer's first order,
/// then every second one, …), so a transaction holds many customers and writes each item once.
async fn write_orders(table: &Table, store: &StoreId, customers: &[(CustomerId, u32)]) {
    let now = Utc::now();
    let markers = Markers {
        ids: &[],
        kind: "order",
        at: now,
    };
    let markers = &markers;
    let commit = |writes: Vec<Write>| async move {
        assert_eq!(
            table.commit(store, markers, &writes).await.unwrap(),
            Commit::Committed
        );
    };
    let rounds = customers.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let mut batch: Vec<Write> = Vec::new();
    let mut in_batch = HashSet::new();
    for k in 0..rounds {
        for (c, _) in customers.iter().filter(|(_, n)| k < *n) {
            if batch.len() + 3 > 96 || in_batch.contains(c) {
                commit(std::mem::take(&mut batch)).await;
                in_batch.clear();
            }
            in_batch.insert(c.clone());
            let o = order(c, format!("{c}-{k}"), k);
            let Decision::Write { writes, .. } =
                ledger::decide(&Change::Order(o), Known::Nothing, now)
            else {
                panic!("a new order is a write")
            };
            batch.extend(writes);
        }
    }
    commit(batch).await;
}

/// Reads a whole segment, checking each page's shape; returns (customer, orders) in order.
async fn read(table: &Table, store: &StoreId, segment: Segment) -> Vec<(CustomerId, usize)> {
    let mut out = Vec::new();
    let mut stream = Stream::new(table, store, segment).with_page_items(PAGE);
    while let Some(page) = stream.next_page().await.unwrap() {
        let items: usize = page.iter().map(|(_, p)| 1 + p.orders.len()).sum();
        assert!(
            items <= PAGE || page.len() == 1,
            "a page holds about {PAGE} items, or one customer larger than that: {items}"
        );
        out.extend(page.into_iter().map(|(c, p)| (c, p.orders.len())));
    }
    out
}

#[tokio::test]
async fn a_store_streams_whole_customers_exactly_once_through_1_7_and_64_segments() {
    let table = fresh_table("stream").await;
    let store = StoreId::parse("stream-shop").unwrap();
    let expected = seed(&table, &store).await;

    for n in [1u32, 7, 64] {
        let mut seen: HashMap<CustomerId, usize> = HashMap::new();
        for segment in Segment::all(n).unwrap() {
            for (c, orders) in read(&table, &store, segment).await {
                assert!(segment.contains(&c), "{c} read by segment {segment}");
                assert!(
                    seen.insert(c.clone(), orders).is_none(),
                    "{c} read twice ({n} segments)"
                );
            }
        }
        assert_eq!(seen.len(), expected.len(), "{n} segments");
        assert_eq!(seen, expected, "every customer whole, {n} segments");
    }

    // A worker stopped after two pages of its segment and resumed from the cursor: the rest, no
    // customer twice or lost.
    let segment = Segment::new(0, 3).unwrap();
    let whole = read(&table, &store, segment).await;
    let mut first = Stream::new(&table, &store, segment).with_page_items(PAGE);
    let mut head = Vec::new();
    for _ in 0..2 {
        head.extend(first.next_page().await.unwrap().unwrap());
    }
    let cursor = first.cursor().cloned().expect("a cursor after a page");
    let json = serde_json::to_string(&cursor).unwrap();
    assert!(json.len() < 400, "a checkpoint is small: {json}");
    let mut resumed = Stream::resume(
        &table,
        &store,
        segment,
        Some(serde_json::from_str(&json).unwrap()),
    )
    .with_page_items(PAGE);
    let mut rest = Vec::new();
    while let Some(page) = resumed.next_page().await.unwrap() {
        rest.extend(page);
    }
    assert!(!rest.is_empty(), "the segment is longer than two pages");
    let joined: Vec<(CustomerId, usize)> = head
        .into_iter()
        .chain(rest)
        .map(|(c, p)| (c, p.orders.len()))
        .collect();
    assert_eq!(joined, whole);

    // A cursor of another segment is refused, not misread.
    let other = Segment::new(0, 2).unwrap();
    let mut s = Stream::new(&table, &store, other).with_page_items(PAGE);
    s.next_page().await.unwrap();
    let foreign = s.cursor().cloned().unwrap();
    let mut wrong = Stream::resume(&table, &store, Segment::new(1, 2).unwrap(), Some(foreign));
    assert!(wrong.next_page().await.is_err());
}
