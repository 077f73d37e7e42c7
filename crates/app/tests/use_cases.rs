//! The use cases over the in-memory ports: the round-1 behaviours (duplicates once, every delivery
//! order converges, refunds before orders, delete and restore, redaction, coupon issue and
//! redemption) and streaming a store through segments, without AWS.

use chrono::{DateTime, Duration, Utc};
use retention_app::coupons::{Issuer, IssuerPorts};
use retention_app::customers::{self, Stream};
use retention_app::memory::Memory;
use retention_app::{Applied, Deliveries};
use retention_core::coupon::IssueRequest;
use retention_core::segment::Segment;
use retention_core::store::Store;
use retention_core::webhook::{Change, Order, OrderStatus, Person, Platform, Refund};
use retention_core::{Currency, CustomerId, Email, Money, OrderId, RefundId, StoreId};
use std::collections::HashSet;
use std::sync::Arc;

fn t(days: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::days(days)
}
fn store() -> StoreId {
    StoreId::parse("s1").unwrap()
}
fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::parse("USD").unwrap())
}
fn order(id: &str, customer: &str, updated: i64, status: OrderStatus) -> Order {
    Order {
        id: OrderId::parse(id).unwrap(),
        customer_id: CustomerId::parse(customer).unwrap(),
        customer: Person {
            email: Some(Email::parse(format!("{customer}@example.com")).unwrap()),
            first_name: Some("Maya".into()),
            ..Person::default()
        },
        created_at: t(0),
        updated_at: t(updated),
        total: usd(5000),
        status,
        items: vec![],
        coupon_codes: vec![],
        refunds: vec![],
    }
}
fn refund(order: &str, id: &str) -> Refund {
    Refund {
        id: RefundId::parse(id).unwrap(),
        order_id: OrderId::parse(order).unwrap(),
        amount: usd(1000),
        created_at: t(3),
    }
}

fn deliveries(m: &Arc<Memory>) -> Deliveries {
    Deliveries {
        ledger: m.clone(),
        erasure: m.clone(),
        redemptions: m.clone(),
    }
}

async fn apply(d: &Deliveries, change: Change, id: &str) -> Applied {
    d.apply(&store(), &change, &[id.to_string()], t(30))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_delivery_takes_effect_once() {
    let m = Arc::new(Memory::new());
    let d = deliveries(&m);
    let c = Change::Order(order("o1", "c1", 1, OrderStatus::Open));
    assert_eq!(apply(&d, c.clone(), "d1").await, Applied::Processed);
    assert_eq!(apply(&d, c, "d1").await, Applied::Duplicate);
    let p = customers::show(m.as_ref(), &store(), &CustomerId::parse("c1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stats.orders, 1);
    assert_eq!(p.profile.person.first_name.as_deref(), Some("Maya"));
}

#[tokio::test]
async fn every_delivery_order_converges() {
    let changes = [
        Change::Order(order("o1", "c1", 1, OrderStatus::Open)),
        Change::Order(order("o1", "c1", 2, OrderStatus::Open)),
        Change::Order(order("o1", "c1", 3, OrderStatus::Cancelled)),
        Change::Refund(refund("o1", "r1")),
    ];
    let mut outcomes = HashSet::new();
    for perm in permutations(changes.len()) {
        let m = Arc::new(Memory::new());
        let d = deliveries(&m);
        for (n, i) in perm.iter().enumerate() {
            apply(&d, changes[*i].clone(), &format!("d{n}")).await;
        }
        let p = customers::show(m.as_ref(), &store(), &CustomerId::parse("c1").unwrap())
            .await
            .unwrap()
            .unwrap();
        outcomes.insert(format!("{:?}", p.profile));
        assert_eq!(
            p.stats.orders, 0,
            "{perm:?}: the cancellation is the newest state"
        );
        assert_eq!(p.profile.refunds.len(), 1, "{perm:?}: the refund is kept");
    }
    assert_eq!(
        outcomes.len(),
        1,
        "every order of delivery gives the same profile"
    );
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

#[tokio::test]
async fn a_deleted_order_stays_out_until_restored() {
    let m = Arc::new(Memory::new());
    let d = deliveries(&m);
    let id = CustomerId::parse("c1").unwrap();
    let del = Change::OrderDeleted {
        order_id: OrderId::parse("o1").unwrap(),
    };
    apply(
        &d,
        Change::Order(order("o1", "c1", 1, OrderStatus::Open)),
        "a",
    )
    .await;
    apply(&d, del.clone(), "b").await;
    assert_eq!(apply(&d, del, "b2").await, Applied::Stale);
    let shown = customers::show(m.as_ref(), &store(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.stats.orders, 0);
    // An older state is stale; the restore (a state newer than the deletion) counts again.
    let old = Change::Order(order("o1", "c1", 2, OrderStatus::Open));
    assert_eq!(apply(&d, old, "c").await, Applied::Stale);
    let restored = Change::Order(order("o1", "c1", 40, OrderStatus::Open));
    assert_eq!(apply(&d, restored, "e").await, Applied::Processed);
    let shown = customers::show(m.as_ref(), &store(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.stats.orders, 1);
}

#[tokio::test]
async fn redaction_erases_and_later_orders_do_not_bring_it_back() {
    let m = Arc::new(Memory::new());
    let d = deliveries(&m);
    let id = CustomerId::parse("c1").unwrap();
    apply(
        &d,
        Change::Order(order("o1", "c1", 1, OrderStatus::Open)),
        "a",
    )
    .await;
    let redact = Change::RedactCustomer {
        customer_id: Some(id.clone()),
        email: None,
        orders: vec![],
    };
    assert_eq!(apply(&d, redact.clone(), "r").await, Applied::Processed);
    assert_eq!(apply(&d, redact, "r").await, Applied::Duplicate);
    apply(
        &d,
        Change::Order(order("o2", "c1", 2, OrderStatus::Open)),
        "b",
    )
    .await;
    let shown = customers::show(m.as_ref(), &store(), &id)
        .await
        .unwrap()
        .unwrap();
    assert!(shown.profile.redacted);
    assert_eq!(shown.profile.person, Person::default());
    assert_eq!(shown.stats.orders, 2, "orders and figures stay, anonymous");
}

#[tokio::test]
async fn a_customer_with_5000_orders_is_shown_whole() {
    let m = Arc::new(Memory::new());
    let d = deliveries(&m);
    for i in 0..5000 {
        let mut o = order(&format!("o{i}"), "c1", 1, OrderStatus::Open);
        o.created_at = t(i % 365);
        apply(&d, Change::Order(o), &format!("d{i}")).await;
    }
    let shown = customers::show(m.as_ref(), &store(), &CustomerId::parse("c1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.stats.orders, 5000);
}

#[tokio::test]
async fn segments_yield_every_customer_exactly_once_and_resume_from_a_cursor() {
    let m = Arc::new(Memory::new());
    let d = deliveries(&m);
    let n = 3000;
    for i in 0..n {
        let c = Change::Order(order(
            &format!("o{i}"),
            &format!("c{i}"),
            1,
            OrderStatus::Open,
        ));
        apply(&d, c, &format!("d{i}")).await;
    }
    for of in [1, 7, 64] {
        let mut seen = HashSet::new();
        for seg in Segment::all(of).unwrap() {
            let mut s = Stream::new(m.as_ref(), &store(), seg).with_page_items(97);
            while let Some(page) = s.next_page().await.unwrap() {
                for (id, p) in page {
                    assert!(seg.contains(&id));
                    assert_eq!(p.stats().orders, 1);
                    assert!(seen.insert(id), "seen twice");
                }
            }
        }
        assert_eq!(seen.len(), n, "{of} segments");
    }
    // Stopped after one page and resumed from its cursor: the rest, nothing twice.
    let mut first = Stream::new(m.as_ref(), &store(), Segment::whole()).with_page_items(500);
    let mut seen: Vec<CustomerId> = first
        .next_page()
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let cursor = first.cursor().cloned();
    let mut rest = Stream::resume(m.as_ref(), &store(), Segment::whole(), cursor);
    while let Some(page) = rest.next_page().await.unwrap() {
        seen.extend(page.into_iter().map(|(id, _)| id));
    }
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (n, n));
}

fn issuer(m: &Arc<Memory>) -> Issuer {
    Issuer::new(IssuerPorts {
        stores: m.clone(),
        coupons: m.clone(),
        customers: m.clone(),
        checkouts: None,
    })
    .with_clock(Arc::new(|| t(1)))
}

fn issue_request(customer: &str) -> IssueRequest {
    IssueRequest::from_value(&serde_json::json!({
        "customer_id": customer,
        "campaign": "winback",
        "kind": "percentage",
        "value": "10",
        "expires_in_days": 30,
    }))
    .unwrap()
}

#[tokio::test]
async fn one_coupon_per_campaign_and_customer_and_an_order_redeems_it_once() {
    let m = Arc::new(Memory::new());
    m.add_store(Store {
        id: store(),
        platform: Platform::Generic,
        webhook_secrets: vec!["secret-1234".into()],
        name: None,
        from_email: None,
        timezone: None,
        currency: None,
        mail: Default::default(),
    });
    let i = issuer(&m);
    let a = i.issue(&store(), &issue_request("c1"), None).await.unwrap();
    let b = i.issue(&store(), &issue_request("c1"), None).await.unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.coupon.code, b.coupon.code);
    let d = deliveries(&m);
    let mut o = order("o1", "c1", 1, OrderStatus::Open);
    o.created_at = t(2);
    o.coupon_codes = vec![a.coupon.code.display().to_string()];
    apply(&d, Change::Order(o.clone()), "x").await;
    apply(&d, Change::Order(o), "y").await;
    let c = i.coupon(&store(), &a.coupon.code).await.unwrap().unwrap();
    assert_eq!(c.redemptions.len(), 1, "a redelivery redeems nothing more");
}
