//! The issuer creates coupons on the store's platform with credentials from SSM (moto), records the
//! outcome on the coupon, and retries a failed creation when the coupon is issued again.

use super::*;
use retention_core::coupon::{CheckoutSync, CouponCode};
use retention_core::webhook::{Change, Order, OrderStatus, Person};
use retention_core::{Currency, CustomerId, Email, Money, OrderId};
use retention_platforms::mock::{self, Mock};
use secrecy::SecretString;

async fn with_credentials(
    test: &str,
    platform: Platform,
    creds: Value,
) -> (Coupons, PlatformSecrets) {
    let secrets = secrets(test).await;
    let store = StoreId::parse(format!("{platform}-shop")).unwrap();
    secrets
        .put(&store, &SecretString::from(creds.to_string()))
        .await
        .unwrap();
    (
        Coupons::new(test, platform, Some(secrets.clone())).await,
        secrets,
    )
}

#[tokio::test]
async fn shopify_stores_get_the_code_created_in_their_checkout() {
    let m = Mock::start(mock::shopify_check, vec![], |_| mock::shopify_created(55)).await;
    let (t, _) = with_credentials(
        "platform-shopify",
        Platform::Shopify,
        json!({ "platform": "shopify", "shop_url": m.url, "access_token": mock::SHOPIFY_TOKEN }),
    )
    .await;
    let (status, body) = t.post(&winback("501")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["checkout"],
        json!({ "state": "created", "remote_id": "gid://shopify/DiscountCodeNode/55" })
    );
    assert!(m.violations().is_empty(), "{:?}", m.violations());
    let sent = &m.requests()[0].body["variables"]["basicCodeDiscount"];
    assert_eq!(sent["code"], body["code"]);
    // Issued again: the platform is not asked twice.
    let (status, _) = t.post(&winback("501")).await;
    assert_eq!(status, 200);
    assert_eq!(m.requests().len(), 1);
    let code = CouponCode::parse(body["code"].as_str().unwrap()).unwrap();
    let stored = t
        .table()
        .get_coupon(&t.store, &code)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(stored.checkout, CheckoutSync::Created { .. }));
}

#[tokio::test]
async fn a_rejected_token_leaves_a_clear_failure_that_a_reissue_retries() {
    let m = Mock::start(
        mock::shopify_check,
        vec![mock::shopify_invalid_token()],
        |_| mock::shopify_created(56),
    )
    .await;
    let (t, secrets) = with_credentials(
        "platform-retry",
        Platform::Shopify,
        json!({ "platform": "shopify", "shop_url": m.url, "access_token": "shpat_old_token" }),
    )
    .await;
    let (status, body) = t.post(&winback("501")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["checkout"]["state"], "failed", "{body}");
    let error = body["checkout"]["error"].as_str().unwrap();
    assert!(error.contains("Invalid API key or access token"), "{error}");
    assert!(!body.to_string().contains("shpat_old_token"));
    // The operator stores the new token; issuing the same coupon again creates it, same code.
    let fixed =
        json!({ "platform": "shopify", "shop_url": m.url, "access_token": mock::SHOPIFY_TOKEN });
    secrets
        .put(&t.store, &SecretString::from(fixed.to_string()))
        .await
        .unwrap();
    let (status, again) = t.post(&winback("501")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["code"], body["code"]);
    assert_eq!(again["checkout"]["state"], "created", "{again}");
    assert_eq!(m.requests().len(), 2);
}

#[tokio::test]
async fn woocommerce_codes_are_restricted_to_the_customer_address_from_the_profile() {
    let m = Mock::start(mock::woo_check, vec![], |_| mock::woo_created(800, "x")).await;
    let (t, _) = with_credentials(
        "platform-woo",
        Platform::Woocommerce,
        json!({ "platform": "woocommerce", "base_url": m.url,
                "consumer_key": mock::WOO_KEY, "consumer_secret": mock::WOO_SECRET }),
    )
    .await;
    // No email in the request: the profile's address is used (the customer has ordered before).
    let now = Utc::now();
    let order = Order {
        id: OrderId::parse("9001").unwrap(),
        customer_id: CustomerId::parse("77").unwrap(),
        customer: Person {
            email: Some(Email::parse("grace@example.com").unwrap()),
            ..Person::default()
        },
        created_at: now,
        updated_at: now,
        total: Money::new(4200, Currency::parse("USD").unwrap()),
        status: OrderStatus::Open,
        items: vec![],
        coupon_codes: vec![],
        refunds: vec![],
    };
    deliveries(t.table())
        .apply(&t.store, &Change::Order(order), &["w1".into()], now)
        .await
        .unwrap();
    let mut body = winback("77");
    body.as_object_mut().unwrap().remove("email");
    let (status, issued) = t.post(&body).await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["checkout"]["remote_id"], "800", "{issued}");
    assert!(m.violations().is_empty(), "{:?}", m.violations());
    assert_eq!(
        m.requests()[0].body["email_restrictions"],
        json!(["grace@example.com"])
    );
}
