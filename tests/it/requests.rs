//! What every request gets answered, and that rejected requests write nothing.

use crate::fixtures::*;
use lambda_http::http::Method;
use retention_core::webhook::Platform;
use retention_core::CustomerId;
use retention_tests::*;

#[tokio::test]
async fn answers_bad_input_clearly_and_writes_nothing() {
    let t = TestApp::new("answers", Platform::Shopify).await;
    let store = t.store.clone();
    let order = bytes(&shopify_order(
        1001,
        501,
        "ada@example.com",
        "13.00",
        "2024-03-01T10:00:00-05:00",
    ));
    let before = t.table().count_store_items(&store).await.unwrap();

    let other = retention_core::StoreId::parse("other-store").unwrap();
    let big = vec![b' '; 1024 * 1024 + 1];
    let cases: Vec<(&str, lambda_http::Request, u16, &str)> = vec![
        ("wrong secret", shopify_webhook(&store, "orders/create", "d1", "not-the-secret", &order), 401, "signature"),
        ("no signature", request(Method::POST, &format!("/webhooks/shopify/{store}"), &[("x-shopify-topic", "orders/create".into())], order.clone()), 401, "X-Shopify-Hmac-Sha256"),
        ("garbage signature", request(Method::POST, &format!("/webhooks/shopify/{store}"), &[("x-shopify-topic", "orders/create".into()), ("x-shopify-hmac-sha256", "%%%".into())], order.clone()), 401, "malformed"),
        ("unknown store", shopify_webhook(&other, "orders/create", "d1", SECRET, &order), 404, "unknown"),
        ("unknown platform", request(Method::POST, &format!("/webhooks/magento/{store}"), &[], order.clone()), 404, "platform"),
        ("wrong platform for store", woo_webhook(&store, "order.created", "d1", SECRET, &order), 404, "unknown woocommerce store"),
        ("GET", request(Method::GET, &format!("/webhooks/shopify/{store}"), &[], vec![]), 405, "POST"),
        ("too large", shopify_webhook(&store, "orders/create", "d1", SECRET, &big), 413, "limit"),
        ("malformed JSON", shopify_webhook(&store, "orders/create", "d1", SECRET, b"{\"id\": 1,"), 400, "JSON"),
        ("missing topic", request(Method::POST, &format!("/webhooks/shopify/{store}"), &[("x-shopify-hmac-sha256", retention_core::signature::sign_base64_body(SECRET.as_bytes(), &order))], order.clone()), 400, "X-Shopify-Topic"),
        ("no order id", shopify_webhook(&store, "orders/create", "d1", SECRET, br#"{"email": "a@example.com", "created_at": "2024-03-01T10:00:00Z", "total_price": "1.00", "currency": "USD"}"#), 400, "id"),
        ("money as a float", shopify_webhook(&store, "orders/create", "d1", SECRET, br#"{"id": 5, "email": "a@example.com", "created_at": "2024-03-01T10:00:00Z", "total_price": "1.0.0", "currency": "USD"}"#), 400, "total"),
    ];
    for (name, req, status, needle) in cases {
        let (got, body) = t.send(req).await;
        assert_eq!(got, status, "{name}: {body}");
        let text = body.to_string();
        assert!(
            text.to_lowercase().contains(&needle.to_lowercase()),
            "{name}: {text} should mention {needle}"
        );
    }
    assert_eq!(
        t.table().count_store_items(&store).await.unwrap(),
        before,
        "rejected requests wrote something"
    );

    // An unknown topic is answered 200 so the platform stops retrying, and ignored.
    let (status, body) = t
        .send(shopify_webhook(
            &store,
            "products/create",
            "d2",
            SECRET,
            b"{}",
        ))
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    assert_eq!(t.table().count_store_items(&store).await.unwrap(), before);

    // The same body, rightly signed, goes through.
    let (status, body) = t
        .send(shopify_webhook(
            &store,
            "orders/create",
            "d3",
            SECRET,
            &order,
        ))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    let profile = t
        .table()
        .get_profile(&store, &CustomerId::parse("501").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profile.stats().orders, 1);
}

#[tokio::test]
async fn a_body_signed_for_one_store_is_rejected_by_another() {
    let t = TestApp::new("crossstore", Platform::Shopify).await;
    let other = retention_core::StoreId::parse("second-shop").unwrap();
    register(t.table(), &other, Platform::Shopify, &["second-secret-456"]).await;
    let order = bytes(&shopify_order(
        1,
        2,
        "x@example.com",
        "1.00",
        "2024-03-01T10:00:00Z",
    ));
    let (status, _) = t
        .send(shopify_webhook(
            &other,
            "orders/create",
            "d",
            SECRET,
            &order,
        ))
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        t.table().count_store_items(&other).await.unwrap(),
        1,
        "only the store registration"
    );
}

#[tokio::test]
async fn rotated_secrets_both_verify_until_the_old_one_is_removed() {
    let t = TestApp::new("rotation", Platform::Woocommerce).await;
    let (mut store, rev) = t.table().get_store(&t.store).await.unwrap().unwrap();
    store.add_secret("new-secret-789".into());
    assert!(t.table().put_store(&store, rev).await.unwrap());
    for (i, secret) in [SECRET, "new-secret-789"].iter().enumerate() {
        let body = bytes(&woo_order(
            70 + i as u64,
            9,
            "g@example.com",
            "20.00",
            "2024-04-01T09:00:00",
            "processing",
        ));
        let (status, body) = t
            .send(woo_webhook(
                &t.store,
                "order.created",
                &format!("r{i}"),
                secret,
                &body,
            ))
            .await;
        assert_eq!(status, 200, "{secret}: {body}");
    }
}

#[tokio::test]
async fn woocommerce_ping_is_answered_without_writing() {
    let t = TestApp::new("ping", Platform::Woocommerce).await;
    let before = t.table().count_store_items(&t.store).await.unwrap();
    let req = request(
        Method::POST,
        &format!("/webhooks/woocommerce/{}", t.store),
        &[("content-type", "application/x-www-form-urlencoded".into())],
        b"webhook_id=12".to_vec(),
    );
    let (status, body) = t.send(req).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    assert_eq!(t.table().count_store_items(&t.store).await.unwrap(), before);
    // An unsigned body that is not the ping is still a missing signature.
    let req = request(
        Method::POST,
        &format!("/webhooks/woocommerce/{}", t.store),
        &[],
        b"webhook_id=12&x=1".to_vec(),
    );
    assert_eq!(t.send(req).await.0, 401);
}

#[tokio::test]
async fn generic_deliveries_are_signed_with_a_timestamp() {
    let t = TestApp::new("generic", Platform::Generic).await;
    let body = br#"{"type":"order","id":"g-1","customer_id":"cust-1","email":"g@example.com","created_at":"2024-05-01T12:00:00Z","updated_at":"2024-05-01T12:00:00Z","total":"42.50","currency":"GBP","status":"open","items":[{"title":"Catnip","category":"Cat toys","quantity":3}],"coupon_codes":["HELLO"]}"#;
    let now = chrono::Utc::now().timestamp();
    let (status, b) = t
        .send(generic_webhook(&t.store, SECRET, body, now - 301))
        .await;
    assert_eq!(status, 401, "{b}");
    let (status, b) = t.send(generic_webhook(&t.store, SECRET, body, now)).await;
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("processed")),
        "{b}"
    );
    // The same body again (same hash) is a duplicate, even with a fresh timestamp.
    let (status, b) = t
        .send(generic_webhook(&t.store, SECRET, body, now + 1))
        .await;
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("duplicate")),
        "{b}"
    );
    let p = t
        .table()
        .get_profile(&t.store, &CustomerId::parse("cust-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    let s = p.stats();
    assert_eq!(s.total_spent[0].minor, 4250);
    assert_eq!(s.categories.get("Cat toys"), Some(&3));
}
