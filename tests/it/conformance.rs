//! Every real payload in the conformance corpus, through the real handler against moto.

use retention_core::webhook::{self, Change, Parsed, Platform};
use retention_tests::*;

/// File name → (platform, topic) for the topics the engine routes.
fn topic_of(file: &str) -> Option<(Platform, String)> {
    let stem = file.strip_suffix(".json")?;
    if stem.ends_with(".headers") || stem == "hmac_vectors" {
        return None;
    }
    if let Some(rest) = stem.strip_prefix("shopify_") {
        for topic in [
            "orders/create",
            "orders/updated",
            "orders/paid",
            "orders/cancelled",
            "refunds/create",
            "customers/create",
            "customers/update",
            "customers/redact",
            "customers/data_request",
            "checkouts/create",
            "shop/redact",
        ] {
            if rest.starts_with(&format!("{}_", topic.replace('/', "_"))) {
                return Some((Platform::Shopify, topic.into()));
            }
        }
        return None;
    }
    let rest = stem.strip_prefix("woocommerce_")?;
    let mut parts = rest.splitn(3, '_');
    let (resource, event) = (parts.next()?, parts.next()?);
    Some((Platform::Woocommerce, format!("{resource}.{event}")))
}

#[tokio::test]
async fn every_supported_payload_is_accepted_and_applied() {
    let Some(dir) = conformance_dir() else { return };
    let mut files: Vec<_> = std::fs::read_dir(dir.join("webhooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut checked = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some((platform, topic)) = topic_of(&name) else {
            continue;
        };
        let body = std::fs::read(&path).unwrap();
        let t = TestApp::new(&format!("conf{checked}"), platform).await;
        let req = match platform {
            Platform::Shopify => shopify_webhook(&t.store, &topic, &name, SECRET, &body),
            _ => woo_webhook(&t.store, &topic, &name, SECRET, &body),
        };
        let (status, answer) = t.send(req).await;
        assert_eq!(status, 200, "{name} ({topic}): {answer}");
        let parsed = webhook::parse(platform, Some(&topic), &body).unwrap();
        match parsed {
            Parsed::Ignored(_) => assert_eq!(answer["status"], "ignored", "{name}"),
            Parsed::Change(change) => {
                assert_eq!(answer["status"], "processed", "{name}: {answer}");
                if let Change::Order(order) = *change {
                    let p = t
                        .table()
                        .get_profile(&t.store, &order.customer_id)
                        .await
                        .unwrap()
                        .unwrap_or_else(|| panic!("{name}: no profile"));
                    assert!(
                        p.orders.contains_key(&order.id),
                        "{name}: order not on the profile"
                    );
                    let expected = usize::from(order.status == webhook::OrderStatus::Open) as u32;
                    assert_eq!(p.stats().orders, expected, "{name}");
                    if expected == 1 {
                        let refunded: i64 = order.refunds.iter().map(|r| r.amount.minor).sum();
                        assert_eq!(
                            p.stats().total_spent[0].minor,
                            order.total.minor - refunded,
                            "{name}"
                        );
                    }
                }
            }
        }
        // A redelivery of the same payload changes nothing.
        let again = match platform {
            Platform::Shopify => shopify_webhook(&t.store, &topic, &name, SECRET, &body),
            _ => woo_webhook(&t.store, &topic, &name, SECRET, &body),
        };
        let (status, answer) = t.send(again).await;
        assert_eq!(
            status,
            if topic == "shop/redact" { 404 } else { 200 },
            "{name} again: {answer}"
        );
        checked += 1;
    }
    assert!(
        checked >= 25,
        "only {checked} conformance payloads were routed"
    );
    eprintln!("conformance: {checked} payloads through the handler");
}
