//! The sample events a developer invokes (`events/*.json`, `cargo lambda invoke --data-file`) are
//! proved: each goes through `lambda_http`'s own parsing of an API Gateway event into the real
//! order-webhook handler, in the story's order, and the story ends as events/README.md tells it.

use retention_app::ports::Customers;
use retention_core::store::Store;
use retention_core::webhook::Platform;
use retention_core::{Email, StoreId};
use retention_dynamodb::Table;
use retention_tests::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

#[tokio::test]
async fn every_sample_event_is_answered_by_the_real_handler_and_tells_the_story() {
    let table = fresh_table("events").await;
    let app = order_webhook::App::with(
        webhook_ports(&table),
        Arc::new(chrono::Utc::now),
        Duration::ZERO,
    );
    tell_the_story(&table, &app).await;
}

/// Registers the story's stores on `table` and sends every sample event to `app` (a handler on the
/// same table, however its clients are wired), checking the story on the way.
pub async fn tell_the_story(table: &Table, app: &order_webhook::App) {
    let dir = events_dir();
    let story: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("story.json")).unwrap()).unwrap();
    let secret = story["secret"].as_str().unwrap();
    for (id, platform) in story["stores"].as_object().unwrap() {
        let store = Store {
            id: StoreId::parse(id.as_str()).unwrap(),
            platform: Platform::parse(platform.as_str().unwrap()).unwrap(),
            webhook_secrets: vec![secret.into()],
            name: None,
            from_email: None,
            timezone: None,
            currency: None,
            mail: Default::default(),
        };
        assert!(table.put_store(&store, 0).await.unwrap());
    }
    let replay: Vec<String> = story["replay"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    // Every envelope in the directory is in the story, so none goes unproved.
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json") && f != "story.json")
        .collect();
    files.sort();
    let mut listed = replay.clone();
    listed.sort();
    assert_eq!(files, listed, "events/story.json lists every sample event");

    let shop = StoreId::parse("demo-shop").unwrap();
    for file in &replay {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{file} is not an API Gateway event: {e}"));
        let (status, body) = send(app, req).await;
        assert_eq!(status, 200, "{file}: {body}");
        let expected = if file == "woocommerce-ping.json" {
            "ignored"
        } else {
            "processed"
        };
        assert_eq!(body["status"], expected, "{file}: {body}");
        if file == "shopify-customers-redact.json" {
            // After step 10 (events/README.md): Maya has 2 orders and 78.40 spent net of the refund.
            let maya = Email::parse("maya.chen@example.com").unwrap();
            let ids = table.find_by_email(&shop, &maya).await.unwrap();
            assert_eq!(ids.len(), 1, "{ids:?}");
            let p = table.get_profile(&shop, &ids[0]).await.unwrap().unwrap();
            let s = p.stats();
            assert_eq!(s.orders, 2);
            assert_eq!(s.total_spent[0].minor, 7840);
            assert!(s.coupon_codes.contains("WELCOME10"), "{:?}", s.coupon_codes);
        }
    }
    assert_eq!(
        table.count_store_items(&shop).await.unwrap(),
        0,
        "shop/redact erased demo-shop"
    );
}
