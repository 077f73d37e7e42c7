//! Contract tests: the platform adapters against a local server that checks each request against
//! the documented Shopify Admin GraphQL and WooCommerce REST shapes and answers with their documented
//! responses, errors included. No moto needed.

use chrono::{Duration as Days, TimeZone, Utc};
use retention_core::coupon::{CampaignId, CheckoutSync, Coupon, CouponCode, CouponTerms, Discount};
use retention_core::{Currency, CustomerId, Email, Money, StoreId};
use retention_platforms::mock::{self, Answer, Mock};
use retention_platforms::{Credentials, PlatformClient, PlatformError, RetryPolicy};
use secrecy::SecretString;
use serde_json::json;
use std::time::{Duration, Instant};

fn coupon(discount: Discount, customer: &str) -> Coupon {
    let usd = Currency::parse("USD").unwrap();
    let issued = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
    Coupon {
        code: CouponCode::parse("WINBACK-7KQ4-M9XH-T2PC-RW3N").unwrap(),
        store: StoreId::parse("shop").unwrap(),
        campaign: CampaignId::parse("winback-2026").unwrap(),
        customer_id: CustomerId::parse(customer).unwrap(),
        email: Some(Email::parse("ada@example.com").unwrap()),
        terms: CouponTerms {
            discount,
            minimum_order: Some(Money::new(5000, usd)),
            expires_at: issued + Days::days(30),
            usage_limit: 1,
        },
        issued_at: issued,
        revoked_at: None,
        redemptions: vec![],
        invalid_redemptions: vec![],
        checkout: CheckoutSync::Pending { since: issued },
    }
}

fn pct() -> Discount {
    Discount::Percentage { basis_points: 1500 }
}

pub(crate) fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        budget: Duration::from_secs(5),
    }
}

fn shopify(mock: &Mock, token: &str) -> PlatformClient {
    let json = json!({ "platform": "shopify", "shop_url": mock.url, "access_token": token });
    PlatformClient::with_retry(
        Credentials::from_json(&SecretString::from(json.to_string())).unwrap(),
        retry(),
    )
}

fn woo(mock: &Mock) -> PlatformClient {
    let json = json!({ "platform": "woocommerce", "base_url": format!("{}/", mock.url),
        "consumer_key": mock::WOO_KEY, "consumer_secret": mock::WOO_SECRET });
    PlatformClient::with_retry(
        Credentials::from_json(&SecretString::from(json.to_string())).unwrap(),
        retry(),
    )
}

async fn shopify_mock(script: Vec<Answer>) -> Mock {
    Mock::start(mock::shopify_check, script, |_| mock::shopify_created(1)).await
}

#[tokio::test]
async fn shopify_amount_off_coupons_match_the_documented_mutation() {
    let usd = Currency::parse("USD").unwrap();
    for discount in [
        pct(),
        Discount::FixedAmount {
            amount: Money::new(1000, usd),
        },
    ] {
        let m = shopify_mock(vec![mock::shopify_created(42)]).await;
        let created = shopify(&m, mock::SHOPIFY_TOKEN)
            .create_coupon(&coupon(discount, "501"))
            .await
            .unwrap();
        assert_eq!(created.remote_id, "gid://shopify/DiscountCodeNode/42");
        assert!(m.violations().is_empty(), "{:?}", m.violations());
        let r = &m.requests()[0];
        let input = &r.body["variables"]["basicCodeDiscount"];
        assert_eq!(input["code"], "WINBACK-7KQ4-M9XH-T2PC-RW3N");
        assert_eq!(
            input["customerSelection"],
            json!({ "customers": { "add": ["gid://shopify/Customer/501"] } })
        );
        assert_eq!(input["appliesOncePerCustomer"], true);
        assert_eq!(input["usageLimit"], 1);
        assert_eq!(input["endsAt"], "2026-03-31T10:00:00+00:00");
        assert_eq!(
            input["minimumRequirement"]["subtotal"]["greaterThanOrEqualToSubtotal"],
            "50.00"
        );
        match discount {
            Discount::Percentage { .. } => {
                assert_eq!(input["customerGets"]["value"]["percentage"], json!(0.15))
            }
            _ => assert_eq!(
                input["customerGets"]["value"]["discountAmount"]["amount"],
                "10.00"
            ),
        }
    }
}

#[tokio::test]
async fn shopify_free_shipping_uses_its_own_mutation() {
    let m = shopify_mock(vec![]).await;
    shopify(&m, mock::SHOPIFY_TOKEN)
        .create_coupon(&coupon(Discount::FreeShipping, "501"))
        .await
        .unwrap();
    assert!(m.violations().is_empty(), "{:?}", m.violations());
    let body = &m.requests()[0].body;
    assert!(body["query"]
        .as_str()
        .unwrap()
        .contains("discountCodeFreeShippingCreate"));
    assert_eq!(
        body["variables"]["freeShippingCodeDiscount"]["destination"],
        json!({ "all": true })
    );
}

#[tokio::test]
async fn shopify_rate_limits_are_retried_after_the_requested_wait() {
    // 429 with Retry-After, then a GraphQL THROTTLED error, then success.
    let m = shopify_mock(vec![
        mock::shopify_429("0.03"),
        mock::shopify_throttled(),
        mock::shopify_created(7),
    ])
    .await;
    let started = Instant::now();
    let created = shopify(&m, mock::SHOPIFY_TOKEN)
        .create_coupon(&coupon(pct(), "501"))
        .await
        .unwrap();
    assert_eq!(created.remote_id, "gid://shopify/DiscountCodeNode/7");
    assert_eq!(m.requests().len(), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "Retry-After was honoured"
    );
    // A platform that stays rate-limited is given up on, with a clear state.
    let m = Mock::start(mock::shopify_check, vec![], |_| mock::shopify_429("0.01")).await;
    let err = shopify(&m, mock::SHOPIFY_TOKEN)
        .create_coupon(&coupon(pct(), "501"))
        .await
        .unwrap_err();
    assert_eq!(err, PlatformError::RateLimited(3));
    assert_eq!(m.requests().len(), 3);
    // A wait that would overrun the time budget is not started: the failure is recorded in time.
    let m = Mock::start(mock::shopify_check, vec![], |_| mock::shopify_429("0.05")).await;
    let json =
        json!({ "platform": "shopify", "shop_url": m.url, "access_token": mock::SHOPIFY_TOKEN });
    let tight = PlatformClient::with_retry(
        Credentials::from_json(&SecretString::from(json.to_string())).unwrap(),
        RetryPolicy {
            budget: Duration::from_millis(20),
            ..retry()
        },
    );
    let err = tight
        .create_coupon(&coupon(pct(), "501"))
        .await
        .unwrap_err();
    assert_eq!(err, PlatformError::RateLimited(1));
}

#[tokio::test]
async fn shopify_invalid_token_fails_at_once_without_leaking_it() {
    let m = shopify_mock(vec![mock::shopify_invalid_token()]).await;
    let err = shopify(&m, "shpat_revoked_secret_value")
        .create_coupon(&coupon(pct(), "501"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");
    assert!(err.to_string().contains("Invalid API key or access token"));
    assert!(!err.to_string().contains("shpat_revoked_secret_value"));
    assert_eq!(m.requests().len(), 1, "a bad token is not retried");
    let creds = Credentials::from_json(&SecretString::from(
        json!({ "platform": "shopify", "shop_url": m.url, "access_token": "shpat_revoked_secret_value" })
            .to_string(),
    ))
    .unwrap();
    assert!(!format!("{creds:?}").contains("shpat_revoked"));
    let bad = Credentials::from_json(&SecretString::from(
        "{\"platform\": \"shopify\", \"access_token\": \"shpat_revoked_secret_value\"".to_string(),
    ))
    .unwrap_err();
    assert!(!bad.to_string().contains("shpat_revoked"), "{bad}");
}

#[tokio::test]
async fn shopify_code_already_taken_counts_as_created() {
    // A retry after a lost answer finds its own code: success, not failure.
    let m = shopify_mock(vec![mock::shopify_taken()]).await;
    let created = shopify(&m, mock::SHOPIFY_TOKEN)
        .create_coupon(&coupon(pct(), "501"))
        .await
        .unwrap();
    assert_eq!(created.remote_id, "existing");
    // Guests have no Shopify customer: the code is for anyone who has it, still once.
    let m = shopify_mock(vec![]).await;
    shopify(&m, mock::SHOPIFY_TOKEN)
        .create_coupon(&coupon(pct(), "guest:ada@example.com"))
        .await
        .unwrap();
    assert!(m.violations().is_empty(), "{:?}", m.violations());
    assert_eq!(
        m.requests()[0].body["variables"]["basicCodeDiscount"]["customerSelection"],
        json!({ "all": true })
    );
}

#[tokio::test]
async fn woocommerce_coupons_match_the_documented_resource() {
    let usd = Currency::parse("USD").unwrap();
    let cases = [
        (pct(), "percent", "15", false),
        (
            Discount::FixedAmount {
                amount: Money::new(1000, usd),
            },
            "fixed_cart",
            "10.00",
            false,
        ),
        (Discount::FreeShipping, "fixed_cart", "0", true),
    ];
    for (discount, kind, amount, free) in cases {
        let m = Mock::start(mock::woo_check, vec![mock::woo_created(719, "x")], |_| {
            mock::woo_created(1, "x")
        })
        .await;
        let created = woo(&m)
            .create_coupon(&coupon(discount, "501"))
            .await
            .unwrap();
        assert_eq!(created.remote_id, "719");
        assert!(m.violations().is_empty(), "{:?}", m.violations());
        let b = &m.requests()[0].body;
        assert_eq!(b["discount_type"], kind);
        assert_eq!(b["amount"], amount);
        assert_eq!(b["free_shipping"], free);
        assert_eq!(b["email_restrictions"], json!(["ada@example.com"]));
        assert_eq!(b["usage_limit"], 1);
        assert_eq!(b["usage_limit_per_user"], 1);
        assert_eq!(b["date_expires"], "2026-03-31T10:00:00");
        assert_eq!(b["minimum_amount"], "50.00");
        assert_eq!(b["code"], "WINBACK-7KQ4-M9XH-T2PC-RW3N");
    }
}

#[tokio::test]
async fn woocommerce_errors_are_handled() {
    // Rate limit, then success.
    let m = Mock::start(
        mock::woo_check,
        vec![mock::woo_429("0.02"), mock::woo_created(9, "x")],
        |_| mock::woo_created(1, "x"),
    )
    .await;
    assert_eq!(
        woo(&m)
            .create_coupon(&coupon(pct(), "501"))
            .await
            .unwrap()
            .remote_id,
        "9"
    );
    assert_eq!(m.requests().len(), 2);
    // Bad keys: no retry, a clear failure.
    let m = Mock::start(mock::woo_check, vec![mock::woo_unauthorized()], |_| {
        mock::woo_created(1, "x")
    })
    .await;
    let err = woo(&m)
        .create_coupon(&coupon(pct(), "501"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PlatformError::Unauthorized(m) if m.contains("woocommerce_rest_authentication_error")),
        "{err:?}"
    );
    assert_eq!(m.requests().len(), 1);
    // The code exists already (a retry after a lost answer): success.
    let m = Mock::start(mock::woo_check, vec![mock::woo_exists()], |_| {
        mock::woo_created(1, "x")
    })
    .await;
    assert_eq!(
        woo(&m)
            .create_coupon(&coupon(pct(), "501"))
            .await
            .unwrap()
            .remote_id,
        "existing"
    );
    // Server errors are retried, then reported.
    let m = Mock::start(mock::woo_check, vec![], |_| {
        Answer::json(503, json!({ "code": "maintenance", "message": "Down" }))
    })
    .await;
    let err = woo(&m)
        .create_coupon(&coupon(pct(), "501"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");
    assert_eq!(m.requests().len(), 3);
}
