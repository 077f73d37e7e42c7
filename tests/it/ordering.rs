//! Delivery order does not matter: every permutation of a story ends in the in-order profile.

use crate::fixtures::*;
use retention_core::profile::ProfileStats;
use retention_core::webhook::Platform;
use retention_core::CustomerId;
use retention_tests::*;

#[derive(Clone, Copy, Debug)]
enum Step {
    Create,
    Update,
    Cancel,
    Refund,
}

fn request_for(store: &retention_core::StoreId, step: Step, i: usize) -> lambda_http::Request {
    let created = shopify_order(
        4001,
        801,
        "o@example.com",
        "13.00",
        "2024-03-01T10:00:00-05:00",
    );
    let (topic, body) = match step {
        Step::Create => ("orders/create", created),
        Step::Update => (
            "orders/updated",
            shopify_order(
                4001,
                801,
                "o@example.com",
                "15.00",
                "2024-03-02T10:00:00-05:00",
            ),
        ),
        Step::Cancel => (
            "orders/cancelled",
            cancelled(
                shopify_order(4001, 801, "o@example.com", "15.00", "x"),
                "2024-03-03T10:00:00-05:00",
            ),
        ),
        Step::Refund => ("refunds/create", shopify_refund(9001, 4001, "4.00")),
    };
    shopify_webhook(
        store,
        topic,
        &format!("step-{i}-{step:?}"),
        SECRET,
        &bytes(&body),
    )
}

async fn run(test: &str, steps: &[Step]) -> ProfileStats {
    let t = TestApp::new(test, Platform::Shopify).await;
    for (i, step) in steps.iter().enumerate() {
        let (status, b) = t.send(request_for(&t.store, *step, i)).await;
        assert_eq!(status, 200, "{steps:?} step {step:?}: {b}");
    }
    t.table()
        .get_profile(&t.store, &CustomerId::parse("801").unwrap())
        .await
        .unwrap()
        .unwrap()
        .stats()
}

fn permutations(steps: &[Step]) -> Vec<Vec<Step>> {
    if steps.len() <= 1 {
        return vec![steps.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..steps.len() {
        let mut rest = steps.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn update_and_refund_in_any_order() {
    let story = [Step::Create, Step::Update, Step::Refund];
    let expected = run("inorder-a", &story).await;
    assert_eq!(
        (expected.orders, expected.total_spent[0].minor),
        (1, 1100),
        "15.00 less the 4.00 refund"
    );
    for (i, p) in permutations(&story).into_iter().enumerate() {
        assert_eq!(run(&format!("perm-a{i}"), &p).await, expected, "{p:?}");
    }
}

#[tokio::test]
async fn cancellation_in_any_order() {
    let story = [Step::Create, Step::Update, Step::Cancel, Step::Refund];
    let expected = run("inorder-b", &story).await;
    assert_eq!((expected.orders, expected.cancelled_orders), (0, 1));
    assert!(expected.total_spent.is_empty());
    for (i, p) in permutations(&story).into_iter().enumerate() {
        assert_eq!(run(&format!("perm-b{i}"), &p).await, expected, "{p:?}");
    }
}

#[tokio::test]
async fn a_woocommerce_deletion_before_its_order_is_final() {
    let t = TestApp::new("woo-delete", Platform::Woocommerce).await;
    let (s, b) = t
        .send(woo_webhook(
            &t.store,
            "order.deleted",
            "w1",
            SECRET,
            br#"{"id": 77}"#,
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    let order = bytes(&woo_order(
        77,
        31,
        "h@example.com",
        "20.00",
        "2024-04-01T09:00:00",
        "processing",
    ));
    let (s, b) = t
        .send(woo_webhook(&t.store, "order.created", "w2", SECRET, &order))
        .await;
    assert_eq!(s, 200, "{b}");
    let p = t
        .table()
        .get_profile(&t.store, &CustomerId::parse("31").unwrap())
        .await
        .unwrap();
    assert_eq!(p.map(|p| p.stats().orders).unwrap_or(0), 0);

    // And after its order: the order stops counting.
    let order = bytes(&woo_order(
        78,
        31,
        "h@example.com",
        "30.00",
        "2024-04-01T09:00:00",
        "processing",
    ));
    t.send(woo_webhook(&t.store, "order.created", "w3", SECRET, &order))
        .await;
    let s1 = t
        .table()
        .get_profile(&t.store, &CustomerId::parse("31").unwrap())
        .await
        .unwrap()
        .unwrap()
        .stats();
    assert_eq!(s1.orders, 1);
    t.send(woo_webhook(
        &t.store,
        "order.deleted",
        "w4",
        SECRET,
        br#"{"id": 78}"#,
    ))
    .await;
    let s2 = t
        .table()
        .get_profile(&t.store, &CustomerId::parse("31").unwrap())
        .await
        .unwrap()
        .unwrap()
        .stats();
    assert_eq!(s2.orders, 0);
}

#[tokio::test]
async fn an_older_customer_update_does_not_overwrite_a_newer_one() {
    let t = TestApp::new("cust-order", Platform::Shopify).await;
    let newer = bytes(&shopify_customer(
        901,
        "new@example.com",
        "Newer",
        false,
        "2024-06-02T00:00:00Z",
    ));
    let older = bytes(&shopify_customer(
        901,
        "old@example.com",
        "Older",
        true,
        "2024-06-01T00:00:00Z",
    ));
    t.send(shopify_webhook(
        &t.store,
        "customers/update",
        "c2",
        SECRET,
        &newer,
    ))
    .await;
    let (s, b) = t
        .send(shopify_webhook(
            &t.store,
            "customers/update",
            "c1",
            SECRET,
            &older,
        ))
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("processed")));
    let p = t
        .table()
        .get_profile(&t.store, &CustomerId::parse("901").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.person.first_name.as_deref(), Some("Newer"));
    assert!(!p.marketing_consent().allows_marketing());
    assert_eq!(p.person.email.unwrap().as_str(), "new@example.com");
}

#[tokio::test]
async fn a_restored_woocommerce_order_counts_again() {
    let t = TestApp::new("woo-restore", Platform::Woocommerce).await;
    let order = bytes(&woo_order(
        90,
        32,
        "r@example.com",
        "20.00",
        "2024-04-01T09:00:00",
        "processing",
    ));
    t.send(woo_webhook(&t.store, "order.created", "x1", SECRET, &order))
        .await;
    t.send(woo_webhook(
        &t.store,
        "order.deleted",
        "x2",
        SECRET,
        br#"{"id": 90}"#,
    ))
    .await;
    let id = CustomerId::parse("32").unwrap();
    assert_eq!(
        t.table()
            .get_profile(&t.store, &id)
            .await
            .unwrap()
            .unwrap()
            .stats()
            .orders,
        0
    );
    // A late redelivery of the old state stays out; the restore, modified after the trashing, gets in.
    t.send(woo_webhook(&t.store, "order.updated", "x3", SECRET, &order))
        .await;
    assert_eq!(
        t.table()
            .get_profile(&t.store, &id)
            .await
            .unwrap()
            .unwrap()
            .stats()
            .orders,
        0
    );
    let modified = (chrono::Utc::now() + chrono::Duration::seconds(5))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let restored = bytes(&woo_order(
        90,
        32,
        "r@example.com",
        "20.00",
        &modified,
        "processing",
    ));
    let (s, b) = t
        .send(woo_webhook(
            &t.store,
            "order.restored",
            "x4",
            SECRET,
            &restored,
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        t.table()
            .get_profile(&t.store, &id)
            .await
            .unwrap()
            .unwrap()
            .stats()
            .orders,
        1
    );
}
