//! The order-webhook function: `POST /webhooks/{platform}/{store_id}`. Verifies the platform's
//! signature over the raw body, parses the delivery into a core [`Change`], and applies it once,
//! however often it is delivered, through the delivery use case ([`Deliveries`]). The function
//! holds only the ports in [`Ports`]; its IAM role grants what their DynamoDB adapter calls.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use retention_app::ports::StoreDirectory;
use retention_app::{Applied, Deliveries, PortError, StoreCache};
use retention_core::signature::{self, SignatureError, GENERIC_HEADER};
use retention_core::store::Store;
use retention_core::webhook::{self, Change, Parsed, Platform};
use retention_core::StoreId;
use retention_function::{
    body_within, header, json, system_clock, Outcome, Rejection, RequestLog, Router,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

pub use retention_function::Clock;

/// Platforms send far less; anything larger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The one route (the template's `POST /webhooks/{platform}/{store_id}`).
static ROUTES: LazyLock<Router<()>> =
    LazyLock::new(|| Router::new().route(Method::POST, "/webhooks/{platform}/{store_id}", ()));

/// What the platform learns when the delivery failed on our side: it retries.
const FAILED: &str = "internal error; the delivery was not applied and may be retried";

/// The ports the function holds: store registrations, and what a delivery writes.
#[derive(Clone)]
pub struct Ports {
    pub stores: Arc<dyn StoreDirectory>,
    pub deliveries: Deliveries,
}

impl Ports {
    /// Every port on the one table: the wiring `main.rs` uses, and the one tests/it/infra.rs holds
    /// against the function's IAM role.
    pub fn on(table: Arc<retention_dynamodb::Table>) -> Self {
        Self {
            stores: table.clone(),
            deliveries: Deliveries {
                ledger: table.clone(),
                erasure: table.clone(),
                redemptions: table,
            },
        }
    }
}

/// Everything the handler needs, built once per Lambda instance.
pub struct App {
    deliveries: Deliveries,
    clock: Clock,
    /// Store registrations, cached so that a warm instance spends one request (the write) per webhook.
    stores: StoreCache,
}

impl App {
    pub fn new(ports: Ports) -> Self {
        Self::with(ports, system_clock(), Duration::from_secs(30))
    }

    /// `store_ttl` bounds how long a removed secret keeps verifying on a warm instance.
    pub fn with(ports: Ports, clock: Clock, store_ttl: Duration) -> Self {
        Self {
            deliveries: ports.deliveries,
            clock,
            stores: StoreCache::new(ports.stores, store_ttl),
        }
    }

    async fn store(&self, id: &StoreId) -> Result<Option<Store>, PortError> {
        self.stores.store(id).await
    }
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

/// The whole request path, as a value: what to answer, and what the log line says.
pub async fn process(app: &App, req: &Request, log: &mut RequestLog) -> Outcome {
    if let Some(delivery) =
        header(req, "x-shopify-webhook-id").or_else(|| header(req, "x-wc-webhook-delivery-id"))
    {
        log.delivery(delivery);
    }
    let route = match ROUTES.find(req.method(), req.uri().path()) {
        Ok(r) => r,
        Err(rejection) => return rejection.into(),
    };
    log.route(route.pattern);
    let (platform, store_id) = (route.param("platform"), route.param("store_id"));
    let Some(platform) = Platform::parse(platform) else {
        return Outcome::rejected(
            StatusCode::NOT_FOUND,
            format!("unknown platform {platform:?}; use shopify, woocommerce or generic"),
        );
    };
    let Ok(store_id) = StoreId::parse(store_id) else {
        return Outcome::rejected(StatusCode::NOT_FOUND, "unknown store");
    };
    log.store(&store_id);
    let body = match body_within(req, MAX_BODY_BYTES) {
        Ok(b) => b,
        Err(rejection) => return rejection.into(),
    };
    let store = match app.store(&store_id).await {
        Ok(Some(s)) if s.platform == platform => s,
        Ok(_) => {
            return Outcome::rejected(
                StatusCode::NOT_FOUND,
                format!("unknown {platform} store {store_id}"),
            )
        }
        Err(e) => return Outcome::failed(e, FAILED),
    };
    let signature_header = match platform {
        Platform::Shopify => "x-shopify-hmac-sha256",
        Platform::Woocommerce => "x-wc-webhook-signature",
        Platform::Generic => GENERIC_HEADER,
    };
    let claimed = header(req, signature_header);
    if platform == Platform::Woocommerce && claimed.is_none() && is_woocommerce_ping(body) {
        log.topic("ping");
        return ignored("webhook created (ping)".into());
    }
    if let Err(rejection) = verify(app, &store, body, claimed) {
        return rejection.into();
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
        return Outcome::rejected(StatusCode::BAD_REQUEST, format!("missing header {name}"));
    }
    if let Some(topic) = topic {
        log.topic(topic);
    }
    let change: Change = match webhook::parse(platform, topic, body) {
        Ok(Parsed::Change(c)) => *c,
        Ok(Parsed::Ignored(why)) => return ignored(why),
        Err(e) => return Outcome::rejected(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if topic.is_none() {
        log.topic(change.kind());
    }
    let ids = delivery_ids(platform, req, body);
    match app
        .deliveries
        .apply(&store_id, &change, &ids, (app.clock)())
        .await
    {
        Ok(applied) => {
            if matches!(change, Change::RedactShop) {
                app.stores.forget(&store_id);
            }
            let label = match applied {
                Applied::Processed | Applied::Stale => "processed",
                Applied::Duplicate => "duplicate",
            };
            Outcome::answered(label, json(StatusCode::OK, json!({ "status": label })))
                .with_detail(format!("{applied:?}"))
        }
        Err(e) => Outcome::failed(e, FAILED),
    }
}

/// Whether one of the store's secrets signed `body`; the rejection says no more than the caller
/// needs to fix its request.
fn verify(app: &App, store: &Store, body: &[u8], claimed: Option<&str>) -> Result<(), Rejection> {
    let secrets = &store.webhook_secrets;
    let verified = match store.platform {
        Platform::Shopify => {
            signature::verify_base64_body("X-Shopify-Hmac-Sha256", secrets, body, claimed)
        }
        Platform::Woocommerce => {
            signature::verify_base64_body("X-WC-Webhook-Signature", secrets, body, claimed)
        }
        Platform::Generic => {
            signature::verify_generic(secrets, body, claimed, (app.clock)().timestamp())
        }
    };
    verified.map_err(|e| {
        let text = match e {
            SignatureError::Missing(_)
            | SignatureError::Malformed(_)
            | SignatureError::Stale(_) => e.to_string(),
            // Say no more than that: which secret or byte is wrong is for the operator's logs.
            SignatureError::Mismatch => "signature does not match".into(),
        };
        Rejection::new(StatusCode::UNAUTHORIZED, text)
    })
}

fn ignored(why: String) -> Outcome {
    Outcome::answered(
        "ignored",
        json(
            StatusCode::OK,
            json!({ "status": "ignored", "reason": &why }),
        ),
    )
    .with_detail(why)
}

/// The Lambda handler: one structured log line per request, then the answer.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    let mut log = RequestLog::start("order-webhook");
    let outcome = process(app, &req, &mut log).await;
    Ok(log.finish(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_the_real_ping() {
        assert!(is_woocommerce_ping(b"webhook_id=12"));
        assert!(!is_woocommerce_ping(b"webhook_id="));
        assert!(!is_woocommerce_ping(b"webhook_id=1&x=2"));
        assert!(!is_woocommerce_ping(b"{}"));
    }
}
