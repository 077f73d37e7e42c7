//! An unsubscribe passed on to the store's platform. Contract tests: the adapters against the local
//! Shopify and WooCommerce stand-in, which checks each request against the documented
//! `customerEmailMarketingConsentUpdate` and `PUT /wp-json/wc/v3/customers/<id>` shapes and
//! answers with their documented responses, errors included. Then end to end against moto: the
//! one-click POST through customer-pages' wiring (credentials from SSM) reaches the platform, and a
//! platform that is down changes nothing of the customer's answer or of the withdrawal here.

use crate::coupons::contract::retry;
use crate::customer_pages::{marketing_allowed, subscribed_customer};
use chrono::{DateTime, Duration as Days, Utc};
use lambda_http::http::Method;
use retention_core::email::link::{Claims, LinkSecret};
use retention_core::webhook::Platform;
use retention_core::{CustomerId, StoreId};
use retention_platforms::consent::PlatformConsents;
use retention_platforms::mock::{self, Answer, Mock, Recorded};
use retention_platforms::{Credentials, PlatformClient, PlatformError};
use retention_tests::*;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn at() -> DateTime<Utc> {
    "2026-12-04T10:00:00Z".parse().unwrap()
}

fn shopify_creds(mock: &Mock, token: &str) -> Value {
    json!({ "platform": "shopify", "shop_url": mock.url, "access_token": token })
}

fn woo_creds(mock: &Mock) -> Value {
    json!({ "platform": "woocommerce", "base_url": format!("{}/", mock.url),
        "consumer_key": mock::WOO_KEY, "consumer_secret": mock::WOO_SECRET })
}

fn client(creds: Value) -> PlatformClient {
    PlatformClient::with_retry(
        Credentials::from_json(&SecretString::from(creds.to_string())).unwrap(),
        retry(),
    )
}

fn customer(id: &str) -> CustomerId {
    CustomerId::parse(id).unwrap()
}

async fn shopify_mock(script: Vec<Answer>) -> Mock {
    Mock::start(mock::shopify_check, script, mock::shopify_consent_updated).await
}

async fn woo_mock(script: Vec<Answer>) -> Mock {
    Mock::start(mock::woo_check, script, mock::woo_customer_updated).await
}

#[tokio::test]
async fn shopify_records_the_unsubscribe_with_the_documented_mutation() {
    let m = shopify_mock(vec![]).await;
    let c = client(shopify_creds(&m, mock::SHOPIFY_TOKEN));
    // Twice: the second is the same request (the platform keeps the state it has).
    for _ in 0..2 {
        assert_eq!(c.unsubscribe(&customer("207119551"), at()).await, Ok(true));
    }
    assert_eq!(m.violations(), Vec::<String>::new());
    let reqs = m.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.path, "/admin/api/2025-01/graphql.json");
        assert_eq!(
            r.body["variables"]["input"],
            json!({ "customerId": "gid://shopify/Customer/207119551",
                "emailMarketingConsent": { "marketingState": "UNSUBSCRIBED",
                    "consentUpdatedAt": "2026-12-04T10:00:00Z" } })
        );
    }
}

#[tokio::test]
async fn shopify_guests_are_not_sent_and_refusals_say_why() {
    let m = shopify_mock(vec![mock::shopify_consent_unknown_customer()]).await;
    let c = client(shopify_creds(&m, mock::SHOPIFY_TOKEN));
    assert_eq!(
        c.unsubscribe(&customer("guest:ada@example.com"), at())
            .await,
        Ok(false)
    );
    assert!(m.requests().is_empty(), "a guest has no Shopify customer");
    match c.unsubscribe(&customer("42"), at()).await {
        Err(PlatformError::Rejected(why)) => {
            assert_eq!(why, "Customer does not exist (input.customerId)")
        }
        other => panic!("{other:?}"),
    }
    // Refused once: not retried.
    assert_eq!(m.requests().len(), 1);

    let m = shopify_mock(vec![mock::shopify_invalid_token()]).await;
    let c = client(shopify_creds(&m, "shpat_revoked"));
    match c.unsubscribe(&customer("42"), at()).await {
        Err(PlatformError::Unauthorized(why)) => {
            assert!(why.contains("Invalid API key"), "{why}");
            assert!(
                !why.contains("shpat_revoked"),
                "the token is never in an error"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn shopify_rate_limits_are_waited_out_and_a_platform_that_stays_down_is_given_up_on() {
    let m = shopify_mock(vec![mock::shopify_429("0.01"), mock::shopify_throttled()]).await;
    let c = client(shopify_creds(&m, mock::SHOPIFY_TOKEN));
    assert_eq!(c.unsubscribe(&customer("42"), at()).await, Ok(true));
    assert_eq!(m.requests().len(), 3);

    let down = Mock::start(mock::shopify_check, vec![], |_| {
        Answer::json(500, json!({ "errors": "Internal Server Error" }))
    })
    .await;
    let c = client(shopify_creds(&down, mock::SHOPIFY_TOKEN));
    assert_eq!(
        c.unsubscribe(&customer("42"), at()).await,
        Err(PlatformError::Unavailable("HTTP 500".into()))
    );
    assert_eq!(down.requests().len(), 3, "max_attempts");
    assert_eq!(down.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn woocommerce_records_the_unsubscribe_as_customer_meta() {
    let m = woo_mock(vec![]).await;
    let c = client(woo_creds(&m));
    assert_eq!(c.unsubscribe(&customer("42"), at()).await, Ok(true));
    assert_eq!(
        c.unsubscribe(&customer("guest:tony@example.com"), at())
            .await,
        Ok(false)
    );
    assert_eq!(m.violations(), Vec::<String>::new());
    let reqs = m.requests();
    assert_eq!(reqs.len(), 1, "a guest has no WooCommerce customer");
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("PUT", "/wp-json/wc/v3/customers/42")
    );
    assert_eq!(
        reqs[0].body,
        json!({ "meta_data": [
            { "key": "retention_email_marketing", "value": "unsubscribed" },
            { "key": "retention_email_marketing_updated_at", "value": "2026-12-04T10:00:00Z" },
        ] })
    );
}

#[tokio::test]
async fn woocommerce_refusals_say_why_and_only_transient_failures_are_retried() {
    let m = woo_mock(vec![
        mock::woo_customer_not_found(),
        mock::woo_unauthorized(),
        mock::woo_429("0.01"),
        Answer::json(503, json!({ "code": "unavailable", "message": "busy" })),
    ])
    .await;
    let c = client(woo_creds(&m));
    assert_eq!(
        c.unsubscribe(&customer("404"), at()).await,
        Err(PlatformError::Rejected(
            "HTTP 404: Invalid resource ID. (woocommerce_rest_invalid_id)".into()
        ))
    );
    assert!(matches!(
        c.unsubscribe(&customer("42"), at()).await,
        Err(PlatformError::Unauthorized(_))
    ));
    // 429, then 503, then the update: three requests, one success.
    assert_eq!(c.unsubscribe(&customer("42"), at()).await, Ok(true));
    assert_eq!(m.requests().len(), 5);
    assert_eq!(m.violations(), Vec::<String>::new());
}

/// The contract checks themselves: a request off the documented shape is caught, not answered.
#[tokio::test]
async fn the_stand_in_refuses_requests_off_the_contract() {
    let bad: [(bool, Value); 4] = [
        (
            true,
            json!({ "query": retention_platforms::shopify::CONSENT_MUTATION,
                "variables": { "input": { "customerId": "gid://shopify/Customer/1",
                    "emailMarketingConsent": { "marketingState": "NOT_SUBSCRIBED" } } } }),
        ),
        (
            true,
            json!({ "query": retention_platforms::shopify::CONSENT_MUTATION,
                "variables": { "input": { "customerId": "42",
                    "emailMarketingConsent": { "marketingState": "UNSUBSCRIBED" } } } }),
        ),
        (
            false,
            json!({ "meta_data": [{ "key": "_retention_email_marketing", "value": "x" }] }),
        ),
        (false, json!({ "accepts_marketing": false })),
    ];
    for (shopify, body) in bad {
        let check: mock::Check = if shopify {
            mock::shopify_check
        } else {
            mock::woo_check
        };
        let r = Recorded {
            method: if shopify { "POST" } else { "PUT" }.into(),
            path: if shopify {
                "/admin/api/2025-01/graphql.json"
            } else {
                "/wp-json/wc/v3/customers/42"
            }
            .into(),
            headers: [
                ("content-type".to_string(), "application/json".to_string()),
                (
                    "x-shopify-access-token".to_string(),
                    mock::SHOPIFY_TOKEN.to_string(),
                ),
                (
                    "authorization".to_string(),
                    "Basic Y2tfdGVzdDpjc190ZXN0".to_string(),
                ),
            ]
            .into(),
            body: body.clone(),
        };
        assert!(check(&r).is_err(), "{body} passed the contract check");
    }
}

// ---- end to end, against moto ----------------------------------------------------------------

const LINK_SECRET: &str = "a-deployment-secret-0123456789";

/// customer-pages as `main.rs` wires it, over `aws` (recorded or not), with credentials under
/// `prefix`.
fn pages(aws: &retention_aws::Aws, table: &str, prefix: &str) -> customer_pages::App {
    let table = Arc::new(retention_dynamodb::Table::new(
        retention_dynamodb::client(aws),
        table,
    ));
    let secrets = Arc::new(retention_ssm::PlatformSecrets::new(aws, prefix));
    let platform = PlatformConsents::new(secrets, retry(), Duration::from_secs(60));
    customer_pages::App::new(
        customer_pages::ports(table, Some(Arc::new(platform))),
        LinkSecret::new(LINK_SECRET).unwrap(),
    )
}

fn one_click(store: &StoreId, c: &CustomerId) -> lambda_http::Request {
    let token = Claims::unsubscribe(store, c).sign(&LinkSecret::new(LINK_SECRET).unwrap());
    request(
        Method::POST,
        &format!("/u/{token}"),
        &[(
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        )],
        b"List-Unsubscribe=One-Click".to_vec(),
    )
}

fn open(store: &StoreId, c: &CustomerId) -> lambda_http::Request {
    let token = Claims::unsubscribe(store, c).sign(&LinkSecret::new(LINK_SECRET).unwrap());
    request(Method::GET, &format!("/u/{token}"), &[], vec![])
}

async fn status(app: &customer_pages::App, req: lambda_http::Request) -> u16 {
    customer_pages::handle(app, req)
        .await
        .expect("infallible")
        .status()
        .as_u16()
}

/// A store on `platform` whose credentials (`creds`) are stored under `prefix`, and its subscribed
/// customer `id`.
async fn store_with_platform(
    table: &retention_dynamodb::Table,
    prefix: &str,
    store: &str,
    platform: Platform,
    creds: Option<Value>,
    id: &str,
) -> (StoreId, CustomerId) {
    let store = StoreId::parse(store).unwrap();
    register(table, &store, platform, &["whsec"]).await;
    if let Some(creds) = creds {
        retention_ssm::PlatformSecrets::new(&aws(), prefix)
            .put(&store, &SecretString::from(creds.to_string()))
            .await
            .unwrap();
    }
    let c = customer(id);
    subscribed_customer(table, &store, &c, at() - Days::days(30)).await;
    (store, c)
}

#[tokio::test]
async fn a_one_click_unsubscribe_reaches_the_stores_platform() {
    let table = fresh_table("consent-e2e").await;
    let prefix = format!("/t/consent-e2e-{}", std::process::id());
    let shopify = shopify_mock(vec![]).await;
    let woo = woo_mock(vec![]).await;
    let (s1, c1) = store_with_platform(
        &table,
        &prefix,
        "consent-shopify",
        Platform::Shopify,
        Some(shopify_creds(&shopify, mock::SHOPIFY_TOKEN)),
        "207119551",
    )
    .await;
    let (s2, c2) = store_with_platform(
        &table,
        &prefix,
        "consent-woo",
        Platform::Woocommerce,
        Some(woo_creds(&woo)),
        "42",
    )
    .await;
    let app = pages(&aws(), table.name(), &prefix);

    // A link scanner's GET tells nobody anything.
    assert_eq!(status(&app, open(&s1, &c1)).await, 200);
    assert!(shopify.requests().is_empty());

    assert_eq!(status(&app, one_click(&s1, &c1)).await, 200);
    assert_eq!(status(&app, one_click(&s2, &c2)).await, 200);
    assert!(!marketing_allowed(&table, &s1, &c1).await);
    assert!(!marketing_allowed(&table, &s2, &c2).await);
    assert_eq!(shopify.violations(), Vec::<String>::new());
    assert_eq!(woo.violations(), Vec::<String>::new());
    let sent = shopify.requests();
    assert_eq!(sent.len(), 1);
    let input = &sent[0].body["variables"]["input"];
    assert_eq!(input["customerId"], "gid://shopify/Customer/207119551");
    assert_eq!(
        input["emailMarketingConsent"]["marketingState"],
        "UNSUBSCRIBED"
    );
    let sent = woo.requests();
    assert_eq!(
        (sent.len(), sent[0].path.as_str()),
        (1, "/wp-json/wc/v3/customers/42")
    );
    assert_eq!(sent[0].body["meta_data"][0]["value"], "unsubscribed");
}

#[tokio::test]
async fn a_platform_that_is_down_or_absent_changes_nothing_of_the_unsubscribe() {
    let table = fresh_table("consent-down").await;
    let prefix = format!("/t/consent-down-{}", std::process::id());
    let down = Mock::start(mock::shopify_check, vec![], |_| {
        Answer::json(500, json!({ "errors": "Internal Server Error" }))
    })
    .await;
    let (s1, c1) = store_with_platform(
        &table,
        &prefix,
        "consent-down",
        Platform::Shopify,
        Some(shopify_creds(&down, mock::SHOPIFY_TOKEN)),
        "207119551",
    )
    .await;
    // No credentials stored: nobody to tell.
    let (s2, c2) = store_with_platform(
        &table,
        &prefix,
        "consent-none",
        Platform::Shopify,
        None,
        "99",
    )
    .await;
    // Credentials stored, but not JSON we can read: logged, the customer still unsubscribed.
    let (s3, c3) = store_with_platform(
        &table,
        &prefix,
        "consent-garbled",
        Platform::Woocommerce,
        Some(json!("not an object")),
        "7",
    )
    .await;
    let app = pages(&aws(), table.name(), &prefix);
    for (s, c) in [(&s1, &c1), (&s2, &c2), (&s3, &c3)] {
        assert_eq!(status(&app, one_click(s, c)).await, 200, "{s}");
        assert!(!marketing_allowed(&table, s, c).await, "{s}");
    }
    assert_eq!(down.requests().len(), 3, "retried, then given up");
    // A second click passes it on again: the platform's retry.
    assert_eq!(status(&app, one_click(&s1, &c1)).await, 200);
    assert_eq!(down.requests().len(), 6);
}

/// customer-pages, through its `main.rs` wiring (link secret and platform credentials from SSM),
/// shows a link and takes a one-click unsubscribe for a Shopify store with credentials: what it
/// sent is exactly what its role grants.
#[tokio::test]
async fn customer_pages_sends_exactly_what_its_role_grants() {
    let setup = fresh_table("iam-pages").await;
    let prefix = format!("/t/iam-pages-{}", std::process::id());
    let shopify = shopify_mock(vec![]).await;
    let (store, c) = store_with_platform(
        &setup,
        &prefix,
        "iam-pages-shop",
        Platform::Shopify,
        Some(shopify_creds(&shopify, mock::SHOPIFY_TOKEN)),
        "207119551",
    )
    .await;
    let parameter = format!("{prefix}/link-secret");
    aws_sdk_ssm::Client::new(aws().sdk_config())
        .put_parameter()
        .name(&parameter)
        .value(LINK_SECRET)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();

    let (recorded, wire) = wire::Wire::around(&aws());
    let secret = retention_ssm::link_secret_from(&recorded, |k| {
        (k == retention_ssm::PARAMETER_VAR).then(|| parameter.clone())
    })
    .await
    .unwrap();
    let table = Arc::new(retention_dynamodb::Table::new(
        retention_dynamodb::client(&recorded),
        setup.name(),
    ));
    let secrets = Arc::new(retention_ssm::PlatformSecrets::new(&recorded, &prefix));
    let platform = PlatformConsents::new(secrets, retry(), Duration::from_secs(60));
    let app = customer_pages::App::new(
        customer_pages::ports(table, Some(Arc::new(platform))),
        secret,
    );
    assert_eq!(status(&app, open(&store, &c)).await, 200);
    assert_eq!(status(&app, one_click(&store, &c)).await, 200);
    assert_eq!(shopify.requests().len(), 1);

    let used = wire
        .actions()
        .iter()
        .map(|a| crate::infra::as_deployed(a, setup.name(), &prefix))
        .collect();
    crate::infra::assert_role_matches("CustomerPagesFunction", &used);
}
