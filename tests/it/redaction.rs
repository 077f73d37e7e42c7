//! Privacy topics: personal data goes, anonymous figures stay; a shop's data goes entirely.

use crate::fixtures::*;
use retention_app::ports::Customers;
use retention_core::webhook::Platform;
use retention_core::{CustomerId, Email, OrderId};
use retention_tests::*;
use serde_json::json;

#[tokio::test]
async fn customers_redact_erases_personal_data_but_keeps_figures() {
    let t = TestApp::new("redact", Platform::Shopify).await;
    let order = bytes(&shopify_order(
        5001,
        191167,
        "john@example.com",
        "13.00",
        "2024-03-01T10:00:00-05:00",
    ));
    t.send(shopify_webhook(
        &t.store,
        "orders/create",
        "o1",
        SECRET,
        &order,
    ))
    .await;
    let id = CustomerId::parse("191167").unwrap();
    let email = Email::parse("john@example.com").unwrap();
    assert_eq!(
        t.table().find_by_email(&t.store, &email).await.unwrap(),
        vec![id.clone()]
    );

    let redact = json!({"shop_id": 1, "shop_domain": "test.myshopify.com", "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"}, "orders_to_redact": [5001]});
    let (s, b) = t
        .send(shopify_webhook(
            &t.store,
            "customers/redact",
            "r1",
            SECRET,
            &bytes(&redact),
        ))
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("processed")), "{b}");

    let p = t.table().get_profile(&t.store, &id).await.unwrap().unwrap();
    assert!(p.redacted);
    assert_eq!(
        p.person,
        Default::default(),
        "no email, name, phone or consent left"
    );
    assert_eq!(
        (p.stats().orders, p.stats().total_spent[0].minor),
        (1, 1300),
        "figures stay"
    );
    assert!(t
        .table()
        .find_by_email(&t.store, &email)
        .await
        .unwrap()
        .is_empty());
    let item = t
        .table()
        .order_item(&t.store, &OrderId::parse("5001").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        item.get("email").is_none_or(|v| v.is_null()),
        "order keeps no email: {item:?}"
    );

    // A late order of the same customer does not bring the data back.
    let late = bytes(&shopify_order(
        5002,
        191167,
        "john@example.com",
        "5.00",
        "2024-03-09T10:00:00-05:00",
    ));
    t.send(shopify_webhook(
        &t.store,
        "orders/create",
        "o2",
        SECRET,
        &late,
    ))
    .await;
    let p = t.table().get_profile(&t.store, &id).await.unwrap().unwrap();
    assert_eq!(p.person, Default::default());
    assert_eq!(p.stats().orders, 2);
    // Nor does a customer update.
    let update = bytes(&shopify_customer(
        191167,
        "john@example.com",
        "John",
        true,
        "2030-01-01T00:00:00Z",
    ));
    t.send(shopify_webhook(
        &t.store,
        "customers/update",
        "u1",
        SECRET,
        &update,
    ))
    .await;
    assert_eq!(
        t.table()
            .get_profile(&t.store, &id)
            .await
            .unwrap()
            .unwrap()
            .person,
        Default::default()
    );
}

#[tokio::test]
async fn shop_redact_erases_the_store() {
    let t = TestApp::new("shopredact", Platform::Shopify).await;
    let order = bytes(&shopify_order(
        6001,
        1,
        "a@example.com",
        "1.00",
        "2024-03-01T10:00:00Z",
    ));
    t.send(shopify_webhook(
        &t.store,
        "orders/create",
        "o1",
        SECRET,
        &order,
    ))
    .await;
    let (s, b) = t
        .send(shopify_webhook(
            &t.store,
            "shop/redact",
            "x",
            SECRET,
            br#"{"shop_id": 1, "shop_domain": "test.myshopify.com"}"#,
        ))
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("processed")), "{b}");
    assert_eq!(t.table().count_store_items(&t.store).await.unwrap(), 0);
    // The store is gone: its webhooks are now for an unknown store.
    assert_eq!(
        t.send(shopify_webhook(
            &t.store,
            "orders/create",
            "o2",
            SECRET,
            &order
        ))
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn data_requests_are_recorded() {
    let t = TestApp::new("datareq", Platform::Shopify).await;
    let body = br#"{"shop_id": 1, "shop_domain": "t.myshopify.com", "orders_requested": [1], "customer": {"id": 7, "email": "q@example.com"}, "data_request": {"id": 9999}}"#;
    let (s, b) = t
        .send(shopify_webhook(
            &t.store,
            "customers/data_request",
            "dr",
            SECRET,
            body,
        ))
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("processed")), "{b}");
    assert_eq!(
        t.table().count_store_items(&t.store).await.unwrap(),
        3,
        "store, delivery, request"
    );
}
