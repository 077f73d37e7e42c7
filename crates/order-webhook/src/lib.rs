//! The order-webhook function: `POST /webhooks/{platform}/{store_id}`. Verifies the platform's
//! signature over the raw body, parses the delivery into a core [`Change`], and applies it to the table
//! once, however often it is delivered.

use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use retention_aws::{Applied, AwsError, StoreCache, Table};
use retention_core::signature::{self, SignatureError, GENERIC_HEADER};
use retention_core::store::Store;
use retention_core::webhook::{self, Change, Parsed, Platform};
use retention_core::StoreId;
use retention_function::{body_bytes, header, reply};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Platforms send far less; anything larger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything the handler needs, built once per Lambda instance.
pub struct App {
    table: Table,
    clock: Clock,
    /// Store registrations, cached so that a warm instance spends one request (the write) per webhook.
    stores: StoreCache,
}

impl App {
    pub fn new(table: Table) -> Self {
        Self::with(table, Arc::new(Utc::now), Duration::from_secs(30))
    }

    /// `store_ttl` bounds how long a removed secret keeps verifying on a warm instance.
    pub fn with(table: Table, clock: Clock, store_ttl: Duration) -> Self {
        Self {
            table,
            clock,
            stores: StoreCache::new(store_ttl),
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    async fn store(&self, id: &StoreId) -> Result<Option<Store>, AwsError> {
        self.stores.get(&self.table, id).await
    }
}

/// How a request ended, for the answer and the log line.
#[derive(Debug)]
pub enum Outcome {
    Done(Applied),
    Ignored(String),
    Rejected(StatusCode, String),
    Failed(AwsError),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Done(Applied::Processed) | Outcome::Done(Applied::Stale) => "processed",
            Outcome::Done(Applied::Duplicate) => "duplicate",
            Outcome::Ignored(_) => "ignored",
            Outcome::Rejected(..) => "rejected",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// `/webhooks/{platform}/{store}`, wherever a stage prefix puts it.
fn route(path: &str) -> Option<(&str, &str)> {
    let mut parts = path
        .trim_end_matches('/')
        .split('/')
        .skip_while(|p| *p != "webhooks");
    parts.next()?;
    let platform = parts.next()?;
    let store = parts.next()?;
    parts.next().is_none().then_some((platform, store))
}

/// WooCommerce's unsigned ping when a webhook is created: `webhook_id=<digits>`.
fn is_woocommerce_ping(body: &[u8]) -> bool {
    std::str::from_utf8(body)
        .ok()
        .and_then(|b| b.trim().strip_prefix("webhook_id="))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// The ids that identify this delivery across retries. Several may apply; any one seen before makes
/// it a duplicate.
fn delivery_ids(platform: Platform, req: &Request, body: &[u8]) -> Vec<String> {
    let mut ids = Vec::new();
    match platform {
        Platform::Shopify => {
            if let Some(id) = header(req, "x-shopify-event-id") {
                ids.push(format!("shopify-event#{id}"));
            }
            if let Some(id) = header(req, "x-shopify-webhook-id") {
                ids.push(format!("shopify-webhook#{id}"));
            }
        }
        Platform::Woocommerce => {
            if let Some(id) = header(req, "x-wc-webhook-delivery-id") {
                ids.push(format!(
                    "wc#{}#{id}",
                    header(req, "x-wc-webhook-id").unwrap_or("-")
                ));
            }
        }
        Platform::Generic => {}
    }
    if ids.is_empty() {
        ids.push(format!("sha256#{}", hex::encode(Sha256::digest(body))));
    }
    // Delivery ids become sort keys: keep them printable and bounded.
    ids.into_iter()
        .map(|id| {
            id.chars()
                .filter(|c| c.is_ascii_graphic())
                .take(200)
                .collect()
        })
        .collect()
}

/// The whole request path, as a value: what to answer, and what happened.
pub async fn process(app: &App, req: &Request) -> (Outcome, Option<String>, Option<String>) {
    use Outcome::Rejected;
    if req.method() != Method::POST {
        return (
            Rejected(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {} is not allowed; use POST", req.method()),
            ),
            None,
            None,
        );
    }
    let Some((platform, store_id)) = route(req.uri().path()) else {
        return (
            Rejected(
                StatusCode::NOT_FOUND,
                "no such route; use /webhooks/{platform}/{store_id}".into(),
            ),
            None,
            None,
        );
    };
    let Some(platform) = Platform::parse(platform) else {
        return (
            Rejected(
                StatusCode::NOT_FOUND,
                format!("unknown platform {platform:?}; use shopify, woocommerce or generic"),
            ),
            None,
            None,
        );
    };
    let Ok(store_id) = StoreId::parse(store_id) else {
        return (
            Rejected(StatusCode::NOT_FOUND, "unknown store".into()),
            None,
            None,
        );
    };
    let store_label = Some(store_id.to_string());
    let body = body_bytes(req);
    if body.len() > MAX_BODY_BYTES {
        return (
            Rejected(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "body is {} bytes; the limit is {MAX_BODY_BYTES}",
                    body.len()
                ),
            ),
            store_label,
            None,
        );
    }
    let store = match app.store(&store_id).await {
        Ok(Some(s)) if s.platform == platform => s,
        Ok(_) => {
            return (
                Rejected(
                    StatusCode::NOT_FOUND,
                    format!("unknown {platform} store {store_id}"),
                ),
                store_label,
                None,
            )
        }
        Err(e) => return (Outcome::Failed(e), store_label, None),
    };
    let signature_header = match platform {
        Platform::Shopify => "x-shopify-hmac-sha256",
        Platform::Woocommerce => "x-wc-webhook-signature",
        Platform::Generic => GENERIC_HEADER,
    };
    let claimed = header(req, signature_header);
    if platform == Platform::Woocommerce && claimed.is_none() && is_woocommerce_ping(body) {
        return (
            Outcome::Ignored("webhook created (ping)".into()),
            store_label,
            Some("ping".into()),
        );
    }
    let verified = match platform {
        Platform::Shopify => signature::verify_base64_body(
            "X-Shopify-Hmac-Sha256",
            &store.webhook_secrets,
            body,
            claimed,
        ),
        Platform::Woocommerce => signature::verify_base64_body(
            "X-WC-Webhook-Signature",
            &store.webhook_secrets,
            body,
            claimed,
        ),
        Platform::Generic => signature::verify_generic(
            &store.webhook_secrets,
            body,
            claimed,
            (app.clock)().timestamp(),
        ),
    };
    if let Err(e) = verified {
        let text = match e {
            SignatureError::Missing(_)
            | SignatureError::Malformed(_)
            | SignatureError::Stale(_) => e.to_string(),
            // Say no more than that: which secret or byte is wrong is for the operator's logs.
            SignatureError::Mismatch => "signature does not match".into(),
        };
        return (Rejected(StatusCode::UNAUTHORIZED, text), store_label, None);
    }
    let topic = match platform {
        Platform::Shopify => header(req, "x-shopify-topic"),
        Platform::Woocommerce => header(req, "x-wc-webhook-topic"),
        Platform::Generic => None,
    };
    if platform != Platform::Generic && topic.is_none() {
        let name = if platform == Platform::Shopify {
            "X-Shopify-Topic"
        } else {
            "X-WC-Webhook-Topic"
        };
        return (
            Rejected(StatusCode::BAD_REQUEST, format!("missing header {name}")),
            store_label,
            None,
        );
    }
    let topic_label = topic.map(str::to_string);
    let change: Change = match webhook::parse(platform, topic, body) {
        Ok(Parsed::Change(c)) => *c,
        Ok(Parsed::Ignored(why)) => return (Outcome::Ignored(why), store_label, topic_label),
        Err(e) => {
            return (
                Rejected(StatusCode::BAD_REQUEST, e.to_string()),
                store_label,
                topic_label,
            )
        }
    };
    let topic_label = topic_label.or_else(|| Some(change.kind().to_string()));
    let ids = delivery_ids(platform, req, body);
    let outcome = match app
        .table()
        .apply(&store_id, &change, &ids, (app.clock)())
        .await
    {
        Ok(applied) => {
            if matches!(change, Change::RedactShop) {
                app.stores.forget(&store_id);
            }
            Outcome::Done(applied)
        }
        Err(e) => Outcome::Failed(e),
    };
    (outcome, store_label, topic_label)
}

/// The Lambda handler: one structured log line per request, then the answer.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    let started = Instant::now();
    let (outcome, store, topic) = process(app, &req).await;
    let delivery =
        header(&req, "x-shopify-webhook-id").or_else(|| header(&req, "x-wc-webhook-delivery-id"));
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let label = outcome.label();
    let response = match &outcome {
        Outcome::Done(applied) => {
            tracing::info!(store, topic, delivery, outcome = label, detail = ?applied, latency_ms, "webhook");
            reply(StatusCode::OK, json!({ "status": label }))
        }
        Outcome::Ignored(why) => {
            tracing::info!(store, topic, delivery, outcome = label, detail = %why, latency_ms, "webhook");
            reply(
                StatusCode::OK,
                json!({ "status": "ignored", "reason": why }),
            )
        }
        Outcome::Rejected(status, why) => {
            tracing::warn!(store, topic, delivery, outcome = label, status = status.as_u16(), detail = %why, latency_ms, "webhook");
            reply(*status, json!({ "error": why }))
        }
        Outcome::Failed(e) => {
            // Our fault: the cause goes to the log, the platform gets an opaque 500 and retries.
            tracing::error!(store, topic, delivery, outcome = label, error = %e, latency_ms, "webhook");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "internal error; the delivery was not applied and may be retried" }),
            )
        }
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_and_without_stage() {
        assert_eq!(route("/webhooks/shopify/demo"), Some(("shopify", "demo")));
        assert_eq!(
            route("/prod/webhooks/woocommerce/s1/"),
            Some(("woocommerce", "s1"))
        );
        assert_eq!(route("/webhooks/shopify"), None);
        assert_eq!(route("/webhooks/shopify/a/b"), None);
        assert_eq!(route("/other"), None);
    }

    #[test]
    fn recognises_only_the_real_ping() {
        assert!(is_woocommerce_ping(b"webhook_id=12"));
        assert!(!is_woocommerce_ping(b"webhook_id="));
        assert!(!is_woocommerce_ping(b"webhook_id=1&x=2"));
        assert!(!is_woocommerce_ping(b"{}"));
    }
}
