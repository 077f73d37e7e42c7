//! A store's customers streamed from the table: page by page with a resumable cursor, and as N
//! disjoint segments that together yield every customer exactly once, whole (every order, also for
//! a customer larger than a page).

use chrono::{DateTime, Duration, Utc};
use retention_app::customers::Stream;
use retention_app::ports::{Ledger, Markers};
use retention_core::ledger::{self, Decision, Known, Write};
use retention_core::segment::Segment;
use retention_core::webhook::{Change, Order, OrderStatus, Person};
use retention_core::{Currency, CustomerId, Email, Money, OrderId, StoreId};
use retention_dynamodb::Table;
use retention_tests::fresh_table;
use std::collections::HashMap;

const CUSTOMERS: u32 = 300;
/// Items per page: small, so thousands of customers cross many page boundaries.
const PAGE: usize = 50;
/// One customer with more orders than a page holds items.
const BIG: &str = "big-spender";
const BIG_ORDERS: u32 = 60;

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

/// The store's customers and how many orders each has, written through the ledger port in
/// transactions of up to ~96 items (the writes the core decides for each new order).
async fn seed(table: &Table, store: &StoreId) -> HashMap<CustomerId, usize> {
    let mut expected = HashMap::new();
    let mut orders = Vec::new();
    for i in 0..CUSTOMERS {
        let c = CustomerId::parse(format!("c{i}")).unwrap();
        let n = 1 + (i % 3);
        for k in 0..n {
            orders.push(order(&c, format!("{i}-{k}"), k));
        }
        expected.insert(c, n as usize);
    }
    let big = CustomerId::parse(BIG).unwrap();
    for k in 0..BIG_ORDERS {
        orders.push(order(&big, format!("big-{k}"), k));
    }
    expected.insert(big, BIG_ORDERS as usize);
    let now = Utc::now();
    let markers = Markers {
        ids: &[],
        kind: "order",
        at: now,
    };
    // One customer's orders go in different transactions (a transaction writes an item once).
    let mut pending: Vec<Write> = Vec::new();
    let mut customers_in_batch = std::collections::HashSet::new();
    for o in orders {
        if pending.len() + 3 > 96 || customers_in_batch.contains(&o.customer_id) {
            assert_eq!(
                table.commit(store, &markers, &pending).await.unwrap(),
                retention_app::ports::Commit::Committed
            );
            pending.clear();
            customers_in_batch.clear();
        }
        customers_in_batch.insert(o.customer_id.clone());
        let Decision::Write { writes, .. } = ledger::decide(&Change::Order(o), Known::Nothing, now)
        else {
            panic!("a new order is a write")
        };
        pending.extend(writes);
    }
    table.commit(store, &markers, &pending).await.unwrap();
    expected
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

    // Stopped after three pages and resumed from the cursor: the rest, no customer twice or lost.
    let whole = read(&table, &store, Segment::whole()).await;
    let mut first = Stream::new(&table, &store, Segment::whole()).with_page_items(PAGE);
    let mut head = Vec::new();
    for _ in 0..3 {
        head.extend(first.next_page().await.unwrap().unwrap());
    }
    let cursor = first.cursor().cloned().expect("a cursor after a page");
    let json = serde_json::to_string(&cursor).unwrap();
    assert!(json.len() < 400, "a checkpoint is small: {json}");
    let mut resumed = Stream::resume(
        &table,
        &store,
        Segment::whole(),
        Some(serde_json::from_str(&json).unwrap()),
    )
    .with_page_items(PAGE);
    let mut rest = Vec::new();
    while let Some(page) = resumed.next_page().await.unwrap() {
        rest.extend(page);
    }
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
