//! Coupons against moto: the coupon-issuer handler, redemption by order webhooks, platform adapters
//! against a local stand-in that holds them to the documented contract, and the bulk CLI.

pub(crate) mod contract;
mod issue;
mod platform;
mod redeem;

use chrono::{DateTime, Utc};
use coupon_issuer::Issuer;
use lambda_http::http::Method;
use lambda_http::{Body, RequestExt};
use retention_core::coupon::ApiKey;
use retention_core::webhook::Platform;
use retention_core::StoreId;
use retention_platforms::RetryPolicy;
use retention_ssm::PlatformSecrets;
use retention_tests::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An issuer on a fresh table with one store and its API key, and a clock the test can move.
pub struct Coupons {
    pub issuer: Arc<Issuer>,
    table: retention_dynamodb::Table,
    pub store: StoreId,
    pub key: String,
    now_ms: Arc<AtomicI64>,
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
        budget: Duration::from_secs(5),
    }
}

static PARAM_COUNTER: AtomicU32 = AtomicU32::new(0);

/// SSM on moto, under a prefix of the test's own.
pub async fn secrets(test: &str) -> PlatformSecrets {
    PlatformSecrets::new(
        &aws(),
        format!(
            "/t/{test}-{}-{}",
            std::process::id(),
            PARAM_COUNTER.fetch_add(1, Ordering::Relaxed)
        ),
    )
}

impl Coupons {
    pub async fn new(test: &str, platform: Platform, secrets: Option<PlatformSecrets>) -> Self {
        let table = fresh_table(test).await;
        let store = StoreId::parse(format!("{platform}-shop")).unwrap();
        register(&table, &store, platform, &[SECRET]).await;
        let key = ApiKey::generate_secure();
        table
            .put_api_key(&store, &key.hash(), Utc::now())
            .await
            .unwrap();
        let now_ms = Arc::new(AtomicI64::new(Utc::now().timestamp_millis()));
        let clock = now_ms.clone();
        let issuer =
            issuer(&table, secrets, fast_retry(), Duration::ZERO).with_clock(Arc::new(move || {
                DateTime::from_timestamp_millis(clock.load(Ordering::Relaxed)).unwrap()
            }));
        Self {
            issuer: Arc::new(issuer),
            table,
            store,
            key: key.expose().to_string(),
            now_ms,
        }
    }

    pub fn table(&self) -> &retention_dynamodb::Table {
        &self.table
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.now_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }

    pub async fn post_as(
        &self,
        store: &str,
        body: &Value,
        key: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(k) = key {
            headers.push(("authorization", format!("Bearer {k}")));
        }
        if let Some(k) = idempotency_key {
            headers.push(("idempotency-key", k.to_string()));
        }
        let req = request(
            Method::POST,
            &format!("/stores/{store}/coupons"),
            &headers,
            body.to_string().into_bytes(),
        );
        answer(&self.issuer, req).await
    }

    pub async fn post(&self, body: &Value) -> (u16, Value) {
        self.post_as(self.store.as_str(), body, Some(&self.key), None)
            .await
    }

    pub async fn check(&self, code: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let req = request(
            Method::GET,
            &format!("/stores/{}/coupons/{code}", self.store),
            &[("authorization", format!("Bearer {}", self.key))],
            vec![],
        )
        .with_query_string_parameters(
            query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<String, String>>(),
        );
        answer(&self.issuer, req).await
    }
}

pub async fn answer(issuer: &Issuer, req: lambda_http::Request) -> (u16, Value) {
    let resp = coupon_issuer::handle(issuer, req)
        .await
        .expect("infallible");
    let status = resp.status().as_u16();
    let body = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::String(t.clone())),
        _ => Value::Null,
    };
    (status, body)
}

/// A win-back offer for customer 501: 15 % off orders of 50.00 USD or more, 30 days.
pub fn winback(customer: &str) -> Value {
    json!({
        "customer_id": customer,
        "email": format!("c{customer}@example.com"),
        "campaign": "winback-2026",
        "kind": "percentage",
        "value": 15,
        "currency": "USD",
        "minimum_order": "50.00",
        "expires_in_days": 30,
        "prefix": "WINBACK"
    })
}
