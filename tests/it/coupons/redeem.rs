//! Redemption: orders that carry a code redeem it once, link the order to its campaign, and a use
//! beyond the limit or after expiry is recorded as invalid, never counted.

use super::*;
use crate::fixtures::shopify_order;
use retention_core::coupon::{CouponCode, IssueRequest, RedeemOutcome, Status};
use retention_core::webhook::{self, Change, Order, Parsed};

/// The order-webhook app and an issuer on the same table.
struct Shop {
    app: TestApp,
    issuer: Issuer,
}

impl Shop {
    async fn new(test: &str) -> Self {
        let app = TestApp::new(test, Platform::Shopify).await;
        let issuer = issuer(app.table(), None, Default::default(), Duration::ZERO);
        Self { app, issuer }
    }

    async fn issue(&self, customer: &str, usage_limit: u32) -> CouponCode {
        let mut body = winback(customer);
        body["usage_limit"] = json!(usage_limit);
        let req = IssueRequest::from_value(&body).unwrap();
        self.issuer
            .issue(&self.app.store, &req, None)
            .await
            .unwrap()
            .coupon
            .code
    }

    /// A Shopify order by `customer` carrying `codes`, placed at `placed`.
    fn order(&self, id: u64, customer: u64, codes: &[&str], placed: DateTime<Utc>) -> Value {
        let mut o = shopify_order(
            id,
            customer,
            &format!("c{customer}@example.com"),
            "80.00",
            &placed.to_rfc3339(),
        );
        o["created_at"] = json!(placed.to_rfc3339());
        o["discount_codes"] = json!(codes
            .iter()
            .map(|c| json!({"code": c, "amount": "12.00", "type": "percentage"}))
            .collect::<Vec<_>>());
        o
    }

    /// Delivers the order webhook: the order-webhook function records the codes it carries.
    async fn deliver(&self, body: &Value, delivery: &str) -> Order {
        let bytes = serde_json::to_vec(body).unwrap();
        let (status, resp) = self
            .app
            .send(shopify_webhook(
                &self.app.store,
                "orders/create",
                delivery,
                SECRET,
                &bytes,
            ))
            .await;
        assert_eq!(status, 200, "{resp}");
        parse_order(&bytes)
    }

    async fn coupon(&self, code: &CouponCode) -> retention_core::coupon::Coupon {
        self.app
            .table()
            .get_coupon(&self.app.store, code)
            .await
            .unwrap()
            .unwrap()
    }
}

fn parse_order(bytes: &[u8]) -> Order {
    match webhook::parse(Platform::Shopify, Some("orders/create"), bytes).unwrap() {
        Parsed::Change(c) => match *c {
            Change::Order(o) => o,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_order_redeems_its_coupon_once_and_links_the_campaign() {
    let s = Shop::new("redeem-once").await;
    let code = s.issue("501", 1).await;
    let now = Utc::now();
    // Typed loosely by the customer, next to one of the store's own codes.
    let typed = code.normalized().to_lowercase();
    let order = s.order(1001, 501, &[&typed, "WELCOME10"], now);
    let before = s.app.table().requests();
    let parsed = s.deliver(&order, "d1").await;
    // The store read (uncached in tests), the order's transaction, then for our code one read and
    // one transaction (coupon + order link); WELCOME10 costs nothing.
    assert_eq!(s.app.table().requests() - before, 4);
    let c = s.coupon(&code).await;
    assert_eq!(c.redemptions.len(), 1);
    assert_eq!(c.redemptions[0].order_id.as_str(), "1001");
    assert_eq!(c.status(now), Status::Redeemed);
    let links = s
        .app
        .table()
        .order_coupon_links(
            &s.app.store,
            &retention_core::OrderId::parse("1001").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        links,
        vec![(code.display().to_string(), "winback-2026".to_string(), true)]
    );
    // A replay of the delivery, a later state of the same order, and a direct call change nothing.
    s.deliver(&order, "d1").await;
    s.deliver(&order, "d2").await;
    let out = retention_app::delivery::redeem_codes(s.app.table(), &s.app.store, &parsed)
        .await
        .unwrap();
    assert_eq!(out, vec![(code.clone(), RedeemOutcome::AlreadyRecorded)]);
    let mut updated = order.clone();
    updated["updated_at"] = json!((now + chrono::Duration::minutes(5)).to_rfc3339());
    s.deliver(&updated, "d3").await;
    let c = s.coupon(&code).await;
    assert_eq!((c.redemptions.len(), c.invalid_redemptions.len()), (1, 0));
}

#[tokio::test]
async fn uses_beyond_the_limit_or_after_expiry_are_recorded_as_invalid() {
    let s = Shop::new("redeem-invalid").await;
    let now = Utc::now();
    let code = s.issue("501", 1).await;
    s.deliver(&s.order(2001, 501, &[code.display()], now), "a")
        .await;
    s.deliver(&s.order(2002, 501, &[code.display()], now), "b")
        .await;
    let reasons = |c: &retention_core::coupon::Coupon| {
        c.invalid_redemptions
            .iter()
            .map(|r| (r.order_id.to_string(), r.reason.code()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reasons(&s.coupon(&code).await),
        vec![("2002".to_string(), "used_up")]
    );
    // Someone else's order with the code: invalid too.
    let two = s.issue("502", 5).await;
    s.deliver(&s.order(2003, 999, &[two.display()], now), "c")
        .await;
    // Placed after the coupon expired.
    let late = now + chrono::Duration::days(31);
    s.deliver(&s.order(2004, 502, &[two.display()], late), "d")
        .await;
    assert_eq!(
        reasons(&s.coupon(&two).await),
        vec![
            ("2003".to_string(), "other_customer"),
            ("2004".to_string(), "expired")
        ]
    );
    let c = s.coupon(&code).await;
    assert_eq!((c.redemptions.len(), c.invalid_redemptions.len()), (1, 1));
    let c2 = s.coupon(&two).await;
    assert_eq!((c2.redemptions.len(), c2.invalid_redemptions.len()), (0, 2));
    let links = s
        .app
        .table()
        .order_coupon_links(
            &s.app.store,
            &retention_core::OrderId::parse("2002").unwrap(),
        )
        .await
        .unwrap();
    assert!(!links[0].2, "the order is linked, as an invalid use");
}

#[tokio::test]
async fn two_orders_racing_for_the_last_use_count_once() {
    let s = Arc::new(Shop::new("redeem-race").await);
    let code = s.issue("501", 1).await;
    let now = Utc::now();
    let mut running = tokio::task::JoinSet::new();
    for id in [3001u64, 3002, 3003, 3004] {
        let body = s.order(id, 501, &[code.display()], now);
        let s = s.clone();
        running.spawn(async move { s.deliver(&body, &format!("r{id}")).await });
    }
    while let Some(r) = running.join_next().await {
        r.unwrap();
    }
    let c = s.coupon(&code).await;
    assert_eq!(c.redemptions.len(), 1, "{c:?}");
    assert_eq!(c.invalid_redemptions.len(), 3);
    assert!(c
        .invalid_redemptions
        .iter()
        .all(|r| r.reason.code() == "used_up"));
}
