//! Duplicates take effect once, and a new order costs one DynamoDB request.

use crate::fixtures::*;
use retention_core::webhook::Platform;
use retention_core::{CustomerId, OrderId};
use retention_tests::*;
use std::sync::Arc;

#[tokio::test]
async fn a_hundred_concurrent_identical_deliveries_make_one_order() {
    let t = TestApp::new("hundred", Platform::Shopify).await;
    let body = bytes(&shopify_order(
        2001,
        601,
        "c@example.com",
        "13.00",
        "2024-03-01T10:00:00-05:00",
    ));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let app = Arc::clone(&t.app);
        let req = shopify_webhook(&t.store, "orders/create", "same-delivery", SECRET, &body);
        tasks.push(tokio::spawn(async move { send(&app, req).await }));
    }
    let mut processed = 0;
    let mut duplicate = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        match body["status"].as_str() {
            Some("processed") => processed += 1,
            Some("duplicate") => duplicate += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((processed, duplicate), (1, 99));
    let p = t
        .table()
        .get_profile(&t.store, &CustomerId::parse("601").unwrap())
        .await
        .unwrap()
        .unwrap();
    let s = p.stats();
    assert_eq!((s.orders, s.purchase_days), (1, 1));
    assert_eq!(s.total_spent[0].minor, 1300);
    assert_eq!(s.categories.get("Cat food"), Some(&2));
    assert_eq!(
        t.table().count_store_items(&t.store).await.unwrap(),
        1 + 1 + 1 + 1 + 1,
        "store, delivery, order, profile, the profile's copy of the order"
    );
}

#[tokio::test]
async fn the_same_order_under_new_delivery_ids_still_counts_once() {
    let t = TestApp::new("redeliver", Platform::Shopify).await;
    let body = bytes(&shopify_order(
        2002,
        602,
        "d@example.com",
        "10.00",
        "2024-03-01T10:00:00-05:00",
    ));
    for (i, topic) in [
        "orders/create",
        "orders/paid",
        "orders/updated",
        "orders/create",
    ]
    .iter()
    .enumerate()
    {
        let (status, b) = t
            .send(shopify_webhook(
                &t.store,
                topic,
                &format!("id-{i}"),
                SECRET,
                &body,
            ))
            .await;
        assert_eq!(status, 200, "{b}");
    }
    let (_, b) = t
        .send(shopify_webhook(
            &t.store,
            "orders/create",
            "id-0",
            SECRET,
            &body,
        ))
        .await;
    assert_eq!(b["status"], "duplicate");
    let s = t
        .table()
        .get_profile(&t.store, &CustomerId::parse("602").unwrap())
        .await
        .unwrap()
        .unwrap()
        .stats();
    assert_eq!((s.orders, s.total_spent[0].minor), (1, 1000));
    assert_eq!(s.coupon_codes.iter().collect::<Vec<_>>(), vec!["WELCOME10"]);
}

/// The figure in BENCHMARKS.md: a new order on a warm instance is one request, a write transaction.
#[tokio::test]
async fn a_new_order_webhook_costs_one_dynamodb_request() {
    let table = fresh_table("requests").await;
    let store = retention_core::StoreId::parse("count-shop").unwrap();
    register(&table, &store, Platform::Shopify, &[SECRET]).await;
    let app = order_webhook::App::new(webhook_ports(&table));
    let warm = bytes(&shopify_order(
        3000,
        700,
        "w@example.com",
        "1.00",
        "2024-03-01T10:00:00Z",
    ));
    assert_eq!(
        send(
            &app,
            shopify_webhook(&store, "orders/create", "warm", SECRET, &warm)
        )
        .await
        .0,
        200
    );
    for (i, order) in [3001u64, 3002, 3003].iter().enumerate() {
        let before = table.requests();
        let body = bytes(&shopify_order(
            *order,
            701 + i as u64,
            "n@example.com",
            "2.00",
            "2024-03-01T10:00:00Z",
        ));
        let (status, b) = send(
            &app,
            shopify_webhook(&store, "orders/create", &format!("n{i}"), SECRET, &body),
        )
        .await;
        assert_eq!((status, b["status"].as_str()), (200, Some("processed")));
        assert_eq!(
            table.requests() - before,
            1,
            "requests for new order {order}"
        );
    }
    let item = table
        .order_item(&store, &OrderId::parse("3001").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        item.get("coupon_codes")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.len()),
        Some(1),
        "coupon stored on the order"
    );
}
