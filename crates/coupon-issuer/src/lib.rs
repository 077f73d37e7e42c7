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
use retention_aws::coupons::{Dedupe, IssueError, Issued};
use retention_aws::{AwsError, StoreCache, Table};
use retention_core::coupon::{
    CheckoutSync, CodePrefix, Coupon, CouponCode, Discount, FieldError, IssueRequest,
};
use retention_core::store::Store;
use retention_core::webhook::Platform;
use retention_core::{Currency, CustomerId, Money, StoreId};
use retention_function::{body_within, header, json, Outcome, RequestLog, Router};
use retention_platforms::{Credentials, PlatformClient, PlatformError, RetryPolicy};
use retention_ssm::PlatformSecrets;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

pub use retention_function::Clock;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Issue,
    Check,
}

/// The template's coupon routes.
static ROUTES: LazyLock<Router<Route>> = LazyLock::new(|| {
    Router::new()
        .route(Method::POST, "/stores/{store_id}/coupons", Route::Issue)
        .route(
            Method::GET,
            "/stores/{store_id}/coupons/{code}",
            Route::Check,
        )
});

/// What the caller learns when issuing failed on our side: retrying is safe.
const FAILED: &str = "internal error; nothing was issued twice, retry with the same request";

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
        .map_err(|e| Outcome::failed(e, FAILED))?;
    let Some(hash) = hash else {
        return match issuer
            .store(store)
            .await
            .map_err(|e| Outcome::failed(e, FAILED))?
        {
            None => Err(Outcome::rejected(
                StatusCode::NOT_FOUND,
                format!("unknown store {store}"),
            )),
            Some(_) => Err(Outcome::rejected(
                StatusCode::UNAUTHORIZED,
                "the store has no API key yet; create one with `retention store rotate-key`",
            )),
        };
    };
    match presented {
        None => Err(Outcome::rejected(
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer <store API key>",
        )),
        Some(key) if hash.verify(key) => Ok(()),
        Some(_) => Err(Outcome::rejected(
            StatusCode::UNAUTHORIZED,
            "the API key is not valid for this store",
        )),
    }
}

/// The whole request path, as a value: what to answer, and what the log line says.
pub async fn process(issuer: &Issuer, req: &Request, log: &mut RequestLog) -> Outcome {
    let route = match ROUTES.find(req.method(), req.uri().path()) {
        Ok(r) => r,
        Err(rejection) => return rejection.into(),
    };
    log.route(route.pattern);
    let Ok(store) = StoreId::parse(route.param("store_id")) else {
        return Outcome::rejected(StatusCode::NOT_FOUND, "unknown store");
    };
    log.store(&store);
    if let Err(o) = authenticate(issuer, req, &store).await {
        return o;
    }
    match route.id {
        Route::Issue => issue(issuer, req, &store, log).await,
        Route::Check => check(issuer, req, &store, route.param("code"), log).await,
    }
}

async fn issue(issuer: &Issuer, req: &Request, store: &StoreId, log: &mut RequestLog) -> Outcome {
    let body = match body_within(req, MAX_BODY_BYTES) {
        Ok(b) => b,
        Err(rejection) => return rejection.into(),
    };
    let key = header(req, "idempotency-key").map(str::trim);
    if let Some(k) = key {
        if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY || k.chars().any(|c| c.is_control()) {
            return Outcome::rejected(
                StatusCode::BAD_REQUEST,
                format!("header Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"),
            );
        }
    }
    let parsed = match IssueRequest::from_json(body) {
        Ok(r) => r,
        Err(e) => return Outcome::rejected(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let issued = match issuer.issue(store, &parsed, key).await {
        Ok(issue) => issue,
        Err(IssueFailure::UnknownStore(s)) => {
            return Outcome::rejected(StatusCode::NOT_FOUND, format!("unknown store {s}"))
        }
        Err(IssueFailure::Invalid(e)) => {
            return Outcome::rejected(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e @ IssueFailure::KeyReused) => {
            return Outcome::rejected(StatusCode::CONFLICT, e.to_string())
        }
        Err(IssueFailure::Failed(e)) => return Outcome::failed(e, FAILED),
    };
    log.code(&issued.coupon.code);
    let mut view = coupon_view(&issued.coupon, issuer.now());
    view["created"] = json!(issued.created);
    if issued.created {
        Outcome::answered("issued", json(StatusCode::CREATED, view))
    } else {
        Outcome::answered("existing", json(StatusCode::OK, view))
    }
}

async fn check(
    issuer: &Issuer,
    req: &Request,
    store: &StoreId,
    code: &str,
    log: &mut RequestLog,
) -> Outcome {
    let Ok(code) = CouponCode::parse(code) else {
        return Outcome::rejected(StatusCode::NOT_FOUND, "unknown code");
    };
    log.code(&code);
    let params = req.query_string_parameters();
    let bad = |field: &str, why: String| {
        Outcome::rejected(
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
            return Outcome::rejected(
                StatusCode::NOT_FOUND,
                format!("unknown code {code} for store {store}"),
            )
        }
        Err(e) => return Outcome::failed(e, FAILED),
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
    let valid = view["valid"] == true;
    Outcome::answered("checked", json(StatusCode::OK, view)).with_detail(if valid {
        "valid"
    } else {
        "invalid"
    })
}

/// The Lambda handler: one structured log line per request, then the answer.
pub async fn handle(
    issuer: &Issuer,
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    let mut log = RequestLog::start("coupon-issuer");
    let outcome = process(issuer, &req, &mut log).await;
    Ok(log.finish(outcome))
}
