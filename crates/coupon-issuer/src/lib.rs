//! The coupon-issuer function:
//!
//! - `POST /stores/{store_id}/coupons` issues a coupon (idempotently) and creates it on the store's
//!   platform so its checkout accepts it;
//! - `GET /stores/{store_id}/coupons/{code}?customer_id=…&order_total=…&currency=…` says whether a
//!   code is valid, and why not (what generic stores' checkouts ask).
//!
//! Both take `Authorization: Bearer <store API key>`. Issuing is the use case
//! [`retention_app::coupons::Issuer`], which the CLI, the scan and the surveys call too; this crate
//! is its HTTP edge only.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
pub use retention_app::coupons::{view as coupon_view, Issue, IssueFailure, Issuer, IssuerPorts};
use retention_core::coupon::{CouponCode, IssueRequest};
use retention_core::{Currency, CustomerId, Money, StoreId};
use retention_function::{body_within, header, json, Outcome, RequestLog, Router};
use serde_json::{json, Value};
use std::sync::LazyLock;

/// The use case on the one table, creating codes through `checkouts` when the store has a
/// platform: the wiring `main.rs` uses, and the one tests/it/infra.rs holds against the role.
pub fn ports(
    table: std::sync::Arc<retention_dynamodb::Table>,
    checkouts: Option<std::sync::Arc<dyn retention_app::ports::Checkouts>>,
) -> IssuerPorts {
    IssuerPorts {
        stores: table.clone(),
        coupons: table.clone(),
        customers: table,
        checkouts,
    }
}

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

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
        .api_key(store)
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
    let coupon = match issuer.coupon(store, &code).await {
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
