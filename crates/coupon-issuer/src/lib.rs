//! The coupon-issuer function:
//!
//! - `POST /stores/{store_id}/coupons` issues a coupon (idempotently) and creates it on the store's
//!   platform so its checkout accepts it;
//! - `GET /stores/{store_id}/coupons/{code}?customer_id=…&order_total=…&currency=…` says whether a
//!   code is valid, and why not (what generic stores' checkouts ask).
//!
//! Both take `Authorization: Bearer <store API key>`. [`Issuer::issue`] is also the library entry
//! point that the scan and survey flows call directly, with the same core code.

use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use retention_aws::coupons::credentials::PlatformSecrets;
use retention_aws::coupons::{Dedupe, IssueError, Issued};
use retention_aws::{AwsError, StoreCache, Table};
use retention_core::coupon::{
    CheckoutSync, CodePrefix, Coupon, CouponCode, Discount, FieldError, IssueRequest,
};
use retention_core::store::Store;
use retention_core::webhook::Platform;
use retention_core::{Currency, CustomerId, Money, StoreId};
use retention_function::{body_bytes, header, reply};
use retention_platforms::{Credentials, PlatformClient, PlatformError, RetryPolicy};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;
/// Where codes come from: the OS CSPRNG in production, something predictable in tests.
pub type CodeSource = Arc<dyn Fn(Option<&CodePrefix>) -> CouponCode + Send + Sync>;

/// Why a coupon was not issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueFailure {
    #[error("unknown store {0}")]
    UnknownStore(StoreId),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("the Idempotency-Key was already used with a different request")]
    KeyReused,
    #[error(transparent)]
    Failed(#[from] AwsError),
}

/// A coupon as issued, and whether this call created it.
#[derive(Debug, Clone)]
pub struct Issue {
    pub coupon: Coupon,
    pub created: bool,
}

/// How long a warm instance trusts its copy of a store's registration and platform client.
const CACHE_TTL: Duration = Duration::from_secs(60);

type PlatformCache = Mutex<HashMap<StoreId, (Instant, Option<Arc<PlatformClient>>)>>;

/// Everything issuing needs, built once per Lambda instance (or per CLI run).
pub struct Issuer {
    table: Table,
    /// `None`: never create codes on platforms (tests of the pure table path, generic-only setups).
    secrets: Option<PlatformSecrets>,
    clock: Clock,
    codes: CodeSource,
    retry: RetryPolicy,
    stores: StoreCache,
    platforms: PlatformCache,
    cache_ttl: Duration,
}

impl Issuer {
    pub fn new(table: Table, secrets: Option<PlatformSecrets>) -> Self {
        Self {
            table,
            secrets,
            clock: Arc::new(Utc::now),
            codes: Arc::new(CouponCode::generate_secure),
            retry: RetryPolicy::default(),
            stores: StoreCache::new(CACHE_TTL),
            platforms: Mutex::new(HashMap::new()),
            cache_ttl: CACHE_TTL,
        }
    }
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
    pub fn with_codes(mut self, codes: CodeSource) -> Self {
        self.codes = codes;
        self
    }
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self.stores = StoreCache::new(ttl);
        self
    }
    pub fn table(&self) -> &Table {
        &self.table
    }
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    async fn store(&self, id: &StoreId) -> Result<Option<Store>, AwsError> {
        self.stores.get(&self.table, id).await
    }

    /// Issues a coupon for `req`, or returns the one an identical earlier request got: per
    /// (campaign, customer), or per `idempotency_key` when one is given (ad-hoc issues). New coupons
    /// of Shopify and WooCommerce stores are then created on the platform; a coupon whose creation
    /// failed earlier is retried when it is issued again.
    #[tracing::instrument(skip_all, fields(store = %store, campaign = %req.campaign))]
    pub async fn issue(
        &self,
        store: &StoreId,
        req: &IssueRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Issue, IssueFailure> {
        let now = self.now();
        let registration = self
            .store(store)
            .await?
            .ok_or_else(|| IssueFailure::UnknownStore(store.clone()))?;
        let terms = req.terms(now)?;
        let mut email = req.email.clone();
        if email.is_none() && registration.platform == Platform::Woocommerce {
            // WooCommerce restricts codes by address: take it from the profile when not given.
            email = self
                .table
                .get_profile(store, &req.customer_id)
                .await?
                .and_then(|p| p.person.email);
        }
        let checkout = match registration.platform {
            Platform::Generic => CheckoutSync::NotNeeded,
            _ => CheckoutSync::Pending { since: now },
        };
        let template = Coupon {
            code: CouponCode::parse("PENDING").expect("a valid placeholder"),
            store: store.clone(),
            campaign: req.campaign.clone(),
            customer_id: req.customer_id.clone(),
            email,
            terms,
            issued_at: now,
            revoked_at: None,
            redemptions: vec![],
            invalid_redemptions: vec![],
            checkout,
        };
        let fingerprint = req.fingerprint();
        let dedupe = match idempotency_key {
            Some(key) => Dedupe::Key {
                key,
                fingerprint: &fingerprint,
            },
            None => Dedupe::Grant,
        };
        let codes = self.codes.clone();
        let prefix = req.prefix.clone();
        let mut new_code = move || codes(prefix.as_ref());
        let issued = self
            .table
            .issue_coupon(&template, dedupe, &mut new_code)
            .await
            .map_err(|e| match e {
                IssueError::KeyReused => IssueFailure::KeyReused,
                IssueError::Aws(e) => IssueFailure::Failed(e),
            })?;
        let created = matches!(issued, Issued::New(_));
        let mut coupon = issued.into_coupon();
        let attempt = if created {
            coupon.checkout != CheckoutSync::NotNeeded
        } else {
            coupon.checkout.needs_attempt(now)
        };
        if attempt {
            coupon.checkout = self.create_on_platform(&registration, &coupon).await;
            self.table
                .set_checkout(store, &coupon.code, &coupon.checkout)
                .await?;
        }
        Ok(Issue { coupon, created })
    }

    async fn platform(&self, store: &StoreId) -> Result<Option<Arc<PlatformClient>>, String> {
        if let Some((at, c)) = self.platforms.lock().expect("platform cache").get(store) {
            if at.elapsed() < self.cache_ttl {
                return Ok(c.clone());
            }
        }
        let Some(secrets) = &self.secrets else {
            return Ok(None);
        };
        let client = match secrets.get(store).await.map_err(|e| e.to_string())? {
            None => None,
            Some(secret) => Some(Arc::new(PlatformClient::with_retry(
                Credentials::from_json(&secret).map_err(|e| e.to_string())?,
                self.retry,
            ))),
        };
        self.platforms
            .lock()
            .expect("platform cache")
            .insert(store.clone(), (Instant::now(), client.clone()));
        Ok(client)
    }

    /// Creates the code on the store's platform; what happened becomes the coupon's checkout state.
    async fn create_on_platform(&self, store: &Store, coupon: &Coupon) -> CheckoutSync {
        let now = self.now();
        let failed = |error: String| {
            tracing::warn!(store = %store.id, code = %coupon.code, error, "coupon not created on the platform");
            CheckoutSync::Failed { error, at: now }
        };
        let client = match self.platform(&store.id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return failed(format!(
                    "no {} credentials stored for this store; add them with `retention coupons set-credentials`",
                    store.platform
                ))
            }
            Err(e) => return failed(e),
        };
        match client.create_coupon(coupon).await {
            Ok(created) => CheckoutSync::Created {
                remote_id: created.remote_id,
            },
            Err(e @ PlatformError::Unauthorized(_)) => {
                // A rotated token: read it again next time instead of caching the dead one.
                self.platforms
                    .lock()
                    .expect("platform cache")
                    .remove(&store.id);
                failed(e.to_string())
            }
            Err(e) => failed(e.to_string()),
        }
    }
}

/// The coupon as callers see it: amounts as decimal strings, the terms in words.
pub fn coupon_view(c: &Coupon, now: DateTime<Utc>) -> Value {
    let (kind, value, currency) = match c.terms.discount {
        Discount::Percentage { basis_points } => {
            ("percentage", Some(percent_text(basis_points)), None)
        }
        Discount::FixedAmount { amount } => (
            "fixed_amount",
            Some(amount.to_decimal().to_string()),
            Some(amount.currency.to_string()),
        ),
        Discount::FreeShipping => ("free_shipping", None, None),
    };
    json!({
        "code": c.code.display(),
        "campaign": c.campaign,
        "customer_id": c.customer_id,
        "kind": kind,
        "value": value,
        "currency": currency.or_else(|| c.terms.minimum_order.map(|m| m.currency.to_string())),
        "minimum_order": c.terms.minimum_order.map(|m| m.to_decimal().to_string()),
        "expires_at": c.terms.expires_at.to_rfc3339(),
        "usage_limit": c.terms.usage_limit,
        "uses": c.redemptions.len(),
        "invalid_uses": c.invalid_redemptions.len(),
        "status": c.status(now).to_string(),
        "terms": c.terms.to_string(),
        "checkout": c.checkout,
    })
}

fn percent_text(basis_points: u32) -> String {
    let text = format!("{}.{:02}", basis_points / 100, basis_points % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `/stores/{store}/coupons[/{code}]`, wherever a stage prefix puts it.
fn route(path: &str) -> Option<(&str, Option<&str>)> {
    let mut parts = path
        .trim_end_matches('/')
        .split('/')
        .skip_while(|p| *p != "stores");
    parts.next()?;
    let store = parts.next()?;
    if parts.next()? != "coupons" {
        return None;
    }
    let code = parts.next();
    parts.next().is_none().then_some((store, code))
}

/// How a request ended, for the answer and the log line.
#[derive(Debug)]
pub enum Outcome {
    Issued(Box<Issue>),
    Checked(Value),
    Rejected(StatusCode, String),
    Failed(AwsError),
}

async fn authenticate(issuer: &Issuer, req: &Request, store: &StoreId) -> Result<(), Outcome> {
    let presented = header(req, "authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim);
    let hash = issuer
        .table
        .get_api_key(store)
        .await
        .map_err(Outcome::Failed)?;
    let Some(hash) = hash else {
        return match issuer.store(store).await.map_err(Outcome::Failed)? {
            None => Err(Outcome::Rejected(
                StatusCode::NOT_FOUND,
                format!("unknown store {store}"),
            )),
            Some(_) => Err(Outcome::Rejected(
                StatusCode::UNAUTHORIZED,
                "the store has no API key yet; create one with `retention store rotate-key`".into(),
            )),
        };
    };
    match presented {
        None => Err(Outcome::Rejected(
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer <store API key>".into(),
        )),
        Some(key) if hash.verify(key) => Ok(()),
        Some(_) => Err(Outcome::Rejected(
            StatusCode::UNAUTHORIZED,
            "the API key is not valid for this store".into(),
        )),
    }
}

/// The whole request path, as a value.
pub async fn process(issuer: &Issuer, req: &Request) -> (Outcome, Option<String>) {
    use Outcome::Rejected;
    let Some((store, code)) = route(req.uri().path()) else {
        return (
            Rejected(
                StatusCode::NOT_FOUND,
                "no such route; use /stores/{store_id}/coupons[/{code}]".into(),
            ),
            None,
        );
    };
    let Ok(store) = StoreId::parse(store) else {
        return (
            Rejected(StatusCode::NOT_FOUND, "unknown store".into()),
            None,
        );
    };
    let label = Some(store.to_string());
    let allowed = match code {
        None => Method::POST,
        Some(_) => Method::GET,
    };
    if req.method() != allowed {
        return (
            Rejected(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {} is not allowed here; use {allowed}", req.method()),
            ),
            label,
        );
    }
    if let Err(o) = authenticate(issuer, req, &store).await {
        return (o, label);
    }
    let outcome = match code {
        None => issue(issuer, req, &store).await,
        Some(code) => check(issuer, req, &store, code).await,
    };
    (outcome, label)
}

async fn issue(issuer: &Issuer, req: &Request, store: &StoreId) -> Outcome {
    let body = body_bytes(req);
    if body.len() > MAX_BODY_BYTES {
        return Outcome::Rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            ),
        );
    }
    let key = header(req, "idempotency-key").map(str::trim);
    if let Some(k) = key {
        if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY || k.chars().any(|c| c.is_control()) {
            return Outcome::Rejected(
                StatusCode::BAD_REQUEST,
                format!("header Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"),
            );
        }
    }
    let parsed = match IssueRequest::from_json(body) {
        Ok(r) => r,
        Err(e) => return Outcome::Rejected(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match issuer.issue(store, &parsed, key).await {
        Ok(issue) => Outcome::Issued(Box::new(issue)),
        Err(IssueFailure::UnknownStore(s)) => {
            Outcome::Rejected(StatusCode::NOT_FOUND, format!("unknown store {s}"))
        }
        Err(IssueFailure::Invalid(e)) => Outcome::Rejected(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ IssueFailure::KeyReused) => Outcome::Rejected(StatusCode::CONFLICT, e.to_string()),
        Err(IssueFailure::Failed(e)) => Outcome::Failed(e),
    }
}

async fn check(issuer: &Issuer, req: &Request, store: &StoreId, code: &str) -> Outcome {
    let Ok(code) = CouponCode::parse(code) else {
        return Outcome::Rejected(StatusCode::NOT_FOUND, "unknown code".into());
    };
    let params = req.query_string_parameters();
    let bad = |field: &str, why: String| {
        Outcome::Rejected(
            StatusCode::BAD_REQUEST,
            format!("query parameter `{field}` {why}"),
        )
    };
    let customer = match params
        .first("customer_id")
        .map(CustomerId::parse)
        .transpose()
    {
        Ok(c) => c,
        Err(e) => return bad("customer_id", e.reason),
    };
    let total = match (params.first("order_total"), params.first("currency")) {
        (None, _) => None,
        (Some(_), None) => return bad("currency", "is required with `order_total`".into()),
        (Some(t), Some(c)) => {
            let currency = match Currency::parse(c) {
                Ok(c) => c,
                Err(e) => return bad("currency", e.to_string()),
            };
            match Money::parse(t, currency) {
                Ok(m) => Some(m),
                Err(e) => return bad("order_total", e.to_string()),
            }
        }
    };
    let coupon = match issuer.table.get_coupon(store, &code).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Outcome::Rejected(
                StatusCode::NOT_FOUND,
                format!("unknown code {code} for store {store}"),
            )
        }
        Err(e) => return Outcome::Failed(e),
    };
    let now = issuer.now();
    let mut view = coupon_view(&coupon, now);
    match coupon.validate(customer.as_ref(), now, total) {
        Ok(()) => {
            view["valid"] = json!(true);
            view["reason"] = Value::Null;
        }
        Err(why) => {
            view["valid"] = json!(false);
            view["reason"] = json!(why.code());
            view["message"] = json!(why.to_string());
        }
    }
    Outcome::Checked(view)
}

/// The Lambda handler: one structured log line per request, then the answer.
pub async fn handle(
    issuer: &Issuer,
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    let started = Instant::now();
    let (outcome, store) = process(issuer, &req).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let now = issuer.now();
    let response = match &outcome {
        Outcome::Issued(i) => {
            tracing::info!(store, outcome = if i.created { "issued" } else { "existing" }, code = %i.coupon.code, latency_ms, "coupon");
            let status = if i.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut view = coupon_view(&i.coupon, now);
            view["created"] = json!(i.created);
            reply(status, view)
        }
        Outcome::Checked(v) => {
            tracing::info!(store, outcome = "checked", valid = %v["valid"], latency_ms, "coupon");
            reply(StatusCode::OK, v.clone())
        }
        Outcome::Rejected(status, why) => {
            tracing::warn!(store, outcome = "rejected", status = status.as_u16(), detail = %why, latency_ms, "coupon");
            reply(*status, json!({ "error": why }))
        }
        Outcome::Failed(e) => {
            tracing::error!(store, outcome = "failed", error = %e, latency_ms, "coupon");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "internal error; nothing was issued twice, retry with the same request" }),
            )
        }
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/stores/s1/coupons"), Some(("s1", None)));
        assert_eq!(
            route("/prod/stores/s1/coupons/ABC-DEF/"),
            Some(("s1", Some("ABC-DEF")))
        );
        assert_eq!(route("/stores/s1"), None);
        assert_eq!(route("/stores/s1/other"), None);
        assert_eq!(route("/stores/s1/coupons/a/b"), None);
    }
}
