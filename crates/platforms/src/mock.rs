//! A local stand-in for Shopify and WooCommerce (feature `mock`, for tests only): an HTTP server on
//! 127.0.0.1 that checks every request against the documented shape of the call and answers from a
//! script of documented responses, errors included. A request that breaks the contract is answered
//! 422 and listed in [`Mock::violations`], so a test fails with the reason.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![],
            body,
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

pub type Check = fn(&Recorded) -> Result<(), String>;

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    violations: Vec<String>,
    script: VecDeque<Answer>,
}

/// A running mock platform. The server task ends with the test's runtime.
#[derive(Clone)]
pub struct Mock {
    pub url: String,
    state: Arc<Mutex<State>>,
    fallback: Arc<dyn Fn(&Recorded) -> Answer + Send + Sync>,
}

impl Mock {
    /// Serves `script` in order, then `fallback` for every request after it.
    pub async fn start(
        check: Check,
        script: Vec<Answer>,
        fallback: impl Fn(&Recorded) -> Answer + Send + Sync + 'static,
    ) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mock = Mock {
            url,
            state: Arc::new(Mutex::new(State {
                script: script.into(),
                ..State::default()
            })),
            fallback: Arc::new(fallback),
        };
        let server = mock.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let m = server.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let m = m.clone();
                        async move { Ok::<_, std::convert::Infallible>(m.answer(check, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        mock
    }

    async fn answer(&self, check: Check, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let bytes = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let rec = Recorded {
            method,
            path,
            headers,
            body,
        };
        let verdict = check(&rec);
        let answer = {
            let mut st = self.state.lock().expect("mock state");
            st.requests.push(rec.clone());
            match verdict {
                Err(why) => {
                    st.violations.push(why.clone());
                    Answer::json(422, json!({ "contract_violation": why }))
                }
                Ok(()) => match st.script.pop_front() {
                    Some(a) => a,
                    None => (self.fallback)(&rec),
                },
            }
        };
        let mut resp = Response::builder()
            .status(answer.status)
            .header("content-type", "application/json");
        for (k, v) in &answer.headers {
            resp = resp.header(k, v);
        }
        resp.body(Full::new(Bytes::from(answer.body.to_string())))
            .expect("a valid response")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("mock state").requests.clone()
    }
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().expect("mock state").violations.clone()
    }
}

fn field<'a>(o: &'a Value, path: &str) -> Result<&'a Value, String> {
    let mut v = o;
    for p in path.split('.') {
        v = v.get(p).ok_or_else(|| format!("missing field `{path}`"))?;
    }
    Ok(v)
}

fn only_keys(o: &Value, what: &str, known: &[&str]) -> Result<(), String> {
    let map = o
        .as_object()
        .ok_or_else(|| format!("{what} is not an object"))?;
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("{what} has an undocumented field `{k}`")),
        None => Ok(()),
    }
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

fn is_decimal_text(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_digit() || c == '.')
            && s.matches('.').count() <= 1
    })
}

// ---- Shopify -------------------------------------------------------------------------------------

pub const SHOPIFY_TOKEN: &str = "shpat_test_token_0123456789";

/// `DiscountCodeBasicInput` / `DiscountCodeFreeShippingInput` fields (Admin API 2025-01).
const SHOPIFY_INPUT_FIELDS: &[&str] = &[
    "appliesOncePerCustomer",
    "code",
    "combinesWith",
    "customerGets",
    "customerSelection",
    "context",
    "endsAt",
    "minimumRequirement",
    "recurringCycleLimit",
    "startsAt",
    "title",
    "usageLimit",
    "destination",
    "maximumShippingPrice",
    "appliesOnOneTimePurchase",
    "appliesOnSubscription",
];

/// The documented shape of `discountCodeBasicCreate` / `discountCodeFreeShippingCreate`.
pub fn shopify_check(r: &Recorded) -> Result<(), String> {
    if r.method != "POST" {
        return Err(format!("method {} instead of POST", r.method));
    }
    let version_ok = r
        .path
        .strip_prefix("/admin/api/")
        .and_then(|p| p.strip_suffix("/graphql.json"))
        .is_some_and(|v| v.len() == 7 && v.as_bytes()[4] == b'-');
    if !version_ok {
        return Err(format!(
            "path {} is not /admin/api/YYYY-MM/graphql.json",
            r.path
        ));
    }
    if r.headers.get("x-shopify-access-token").map(String::as_str) != Some(SHOPIFY_TOKEN) {
        // Let the scripted 401 speak for wrong tokens; a missing header is a contract error.
        if !r.headers.contains_key("x-shopify-access-token") {
            return Err("no X-Shopify-Access-Token header".into());
        }
    }
    if !r
        .headers
        .get("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err("content-type is not application/json".into());
    }
    only_keys(
        &r.body,
        "the body",
        &["query", "variables", "operationName"],
    )?;
    let query = field(&r.body, "query")?
        .as_str()
        .ok_or("query is not a string")?;
    if query.contains("customerEmailMarketingConsentUpdate") {
        return shopify_consent_check(query, &r.body);
    }
    let (var, input) = if query
        .contains("discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount)")
        && query.contains("$basicCodeDiscount: DiscountCodeBasicInput!")
    {
        (
            "basicCodeDiscount",
            field(&r.body, "variables.basicCodeDiscount")?,
        )
    } else if query.contains(
        "discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount)",
    ) && query.contains("$freeShippingCodeDiscount: DiscountCodeFreeShippingInput!")
    {
        (
            "freeShippingCodeDiscount",
            field(&r.body, "variables.freeShippingCodeDiscount")?,
        )
    } else {
        return Err(format!("not a documented discount mutation: {query}"));
    };
    if !query.contains("userErrors") || !query.contains("codeDiscountNode") {
        return Err("the mutation must select codeDiscountNode and userErrors".into());
    }
    only_keys(input, var, SHOPIFY_INPUT_FIELDS)?;
    for required in ["code", "title", "startsAt"] {
        field(input, required)?;
    }
    if !field(input, "code")?
        .as_str()
        .is_some_and(|c| !c.is_empty() && c.len() <= 255)
    {
        return Err("code must be a string of 1 to 255 characters".into());
    }
    if !is_rfc3339(field(input, "startsAt")?) || !is_rfc3339(field(input, "endsAt")?) {
        return Err("startsAt and endsAt must be ISO 8601 DateTimes".into());
    }
    let sel = field(input, "customerSelection")?;
    only_keys(
        sel,
        "customerSelection",
        &["all", "customers", "customerSegments"],
    )?;
    if let Some(c) = sel.get("customers") {
        only_keys(c, "customerSelection.customers", &["add", "remove"])?;
        let ids = c["add"].as_array().ok_or("customers.add must be a list")?;
        if ids.is_empty() || !ids.iter().all(is_customer_gid) {
            return Err("customers.add must hold gid://shopify/Customer/<id> ids".into());
        }
    } else if sel.get("all") != Some(&Value::Bool(true)) {
        return Err("customerSelection must name customers or all: true".into());
    }
    if let Some(u) = input.get("usageLimit") {
        if !u.as_u64().is_some_and(|n| (1..=99_999_999).contains(&n)) {
            return Err("usageLimit must be an Int from 1".into());
        }
    }
    if let Some(a) = input.get("appliesOncePerCustomer") {
        if !a.is_boolean() {
            return Err("appliesOncePerCustomer must be a Boolean".into());
        }
    }
    if let Some(m) = input.get("minimumRequirement") {
        if !is_decimal_text(field(m, "subtotal.greaterThanOrEqualToSubtotal")?) {
            return Err(
                "minimumRequirement.subtotal.greaterThanOrEqualToSubtotal must be a Decimal".into(),
            );
        }
    }
    if var == "basicCodeDiscount" {
        let gets = field(input, "customerGets")?;
        only_keys(
            gets,
            "customerGets",
            &[
                "value",
                "items",
                "appliesOnOneTimePurchase",
                "appliesOnSubscription",
            ],
        )?;
        if field(gets, "items.all")? != &Value::Bool(true) {
            return Err(
                "customerGets.items must be { all: true } for an order-wide discount".into(),
            );
        }
        let value = field(gets, "value")?;
        if let Some(p) = value.get("percentage") {
            if !p.as_f64().is_some_and(|p| p > 0.0 && p <= 1.0) {
                return Err("customerGets.value.percentage must be a Float in (0, 1]".into());
            }
        } else if let Some(d) = value.get("discountAmount") {
            only_keys(d, "discountAmount", &["amount", "appliesOnEachItem"])?;
            if !is_decimal_text(field(d, "amount")?) || !field(d, "appliesOnEachItem")?.is_boolean()
            {
                return Err(
                    "discountAmount needs amount (Decimal) and appliesOnEachItem (Boolean)".into(),
                );
            }
        } else {
            return Err("customerGets.value must be percentage or discountAmount".into());
        }
    } else if field(input, "destination.all")? != &Value::Bool(true) {
        return Err("destination must be { all: true }".into());
    }
    Ok(())
}

fn is_customer_gid(v: &Value) -> bool {
    v.as_str()
        .and_then(|s| s.strip_prefix("gid://shopify/Customer/"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `customerEmailMarketingConsentUpdate(input: CustomerEmailMarketingConsentUpdateInput!)`: the
/// customer's gid and a `CustomerEmailMarketingConsentInput` whose state is one of the three the
/// mutation accepts (Admin API 2025-01).
fn shopify_consent_check(query: &str, body: &Value) -> Result<(), String> {
    if !query.contains("customerEmailMarketingConsentUpdate(input: $input)")
        || !query.contains("$input: CustomerEmailMarketingConsentUpdateInput!")
    {
        return Err(format!("not the documented consent mutation: {query}"));
    }
    if !query.contains("userErrors") {
        return Err("the mutation must select userErrors".into());
    }
    let input = field(body, "variables.input")?;
    only_keys(input, "input", &["customerId", "emailMarketingConsent"])?;
    if !is_customer_gid(field(input, "customerId")?) {
        return Err("customerId must be gid://shopify/Customer/<id>".into());
    }
    let consent = field(input, "emailMarketingConsent")?;
    only_keys(
        consent,
        "emailMarketingConsent",
        &[
            "consentUpdatedAt",
            "marketingOptInLevel",
            "marketingState",
            "sourceLocationId",
        ],
    )?;
    if !matches!(
        field(consent, "marketingState")?.as_str(),
        Some("SUBSCRIBED" | "UNSUBSCRIBED" | "PENDING")
    ) {
        return Err("marketingState must be SUBSCRIBED, UNSUBSCRIBED or PENDING".into());
    }
    if let Some(at) = consent.get("consentUpdatedAt") {
        if !is_rfc3339(at) {
            return Err("consentUpdatedAt must be an ISO 8601 DateTime".into());
        }
    }
    if let Some(level) = consent.get("marketingOptInLevel") {
        if !matches!(
            level.as_str(),
            Some("SINGLE_OPT_IN" | "CONFIRMED_OPT_IN" | "UNKNOWN")
        ) {
            return Err(
                "marketingOptInLevel must be SINGLE_OPT_IN, CONFIRMED_OPT_IN or UNKNOWN".into(),
            );
        }
    }
    Ok(())
}

/// The consent mutation's answer for the customer of `request` (its gid echoed, state as asked).
pub fn shopify_consent_updated(request: &Recorded) -> Answer {
    let input = &request.body["variables"]["input"];
    Answer::json(
        200,
        json!({ "data": { "customerEmailMarketingConsentUpdate": {
            "customer": { "id": input["customerId"], "emailMarketingConsent": {
                "marketingState": input["emailMarketingConsent"]["marketingState"],
                "consentUpdatedAt": input["emailMarketingConsent"]["consentUpdatedAt"],
            } },
            "userErrors": []
        } } }),
    )
}

/// A customer Shopify does not have (deleted since, or another shop's).
pub fn shopify_consent_unknown_customer() -> Answer {
    Answer::json(
        200,
        json!({ "data": { "customerEmailMarketingConsentUpdate": {
            "customer": null,
            "userErrors": [{ "field": ["input", "customerId"], "code": "INVALID",
                "message": "Customer does not exist" }]
        } } }),
    )
}

pub fn shopify_created(id: u64) -> Answer {
    Answer::json(
        200,
        json!({ "data": { "discountCodeBasicCreate": {
            "codeDiscountNode": { "id": format!("gid://shopify/DiscountCodeNode/{id}") },
            "userErrors": []
        } } }),
    )
}
pub fn shopify_invalid_token() -> Answer {
    Answer::json(
        401,
        json!({ "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)" }),
    )
}
pub fn shopify_429(retry_after: &str) -> Answer {
    Answer::json(
        429,
        json!({ "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." }),
    )
    .header("Retry-After", retry_after)
}
pub fn shopify_throttled() -> Answer {
    Answer::json(
        200,
        json!({
            "errors": [{ "message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"
            } }],
            "extensions": { "cost": { "requestedQueryCost": 10, "actualQueryCost": null,
                "throttleStatus": { "maximumAvailable": 1000.0, "currentlyAvailable": 2, "restoreRate": 50.0 } } }
        }),
    )
}
pub fn shopify_taken() -> Answer {
    Answer::json(
        200,
        json!({ "data": { "discountCodeBasicCreate": {
            "codeDiscountNode": null,
            "userErrors": [{ "field": ["basicCodeDiscount", "code"], "code": "TAKEN",
                "message": "Code must be unique. Please try a different code." }]
        } } }),
    )
}

// ---- WooCommerce ---------------------------------------------------------------------------------

pub const WOO_KEY: &str = "ck_test_0123456789abcdef";
pub const WOO_SECRET: &str = "cs_test_fedcba9876543210";

/// Writable properties of the WooCommerce v3 coupon resource.
const WOO_FIELDS: &[&str] = &[
    "code",
    "amount",
    "discount_type",
    "description",
    "date_expires",
    "date_expires_gmt",
    "individual_use",
    "product_ids",
    "excluded_product_ids",
    "usage_limit",
    "usage_limit_per_user",
    "limit_usage_to_x_items",
    "free_shipping",
    "product_categories",
    "excluded_product_categories",
    "exclude_sale_items",
    "minimum_amount",
    "maximum_amount",
    "email_restrictions",
    "meta_data",
];

/// Writable properties of the WooCommerce v3 customer resource.
const WOO_CUSTOMER_FIELDS: &[&str] = &[
    "email",
    "first_name",
    "last_name",
    "username",
    "password",
    "billing",
    "shipping",
    "meta_data",
];

/// The documented shape of `POST /wp-json/wc/v3/coupons` and `PUT /wp-json/wc/v3/customers/<id>`.
pub fn woo_check(r: &Recorded) -> Result<(), String> {
    woo_auth_check(r)?;
    let customer = r
        .path
        .strip_prefix("/wp-json/wc/v3/customers/")
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    match (r.method.as_str(), customer) {
        ("POST", _) if r.path == "/wp-json/wc/v3/coupons" => woo_coupon_check(r),
        ("PUT" | "POST" | "PATCH", Some(_)) => woo_customer_check(r),
        _ => Err(format!(
            "{} {} is neither POST /wp-json/wc/v3/coupons nor PUT /wp-json/wc/v3/customers/<id>",
            r.method, r.path
        )),
    }
}

fn woo_customer_check(r: &Recorded) -> Result<(), String> {
    only_keys(&r.body, "the customer", WOO_CUSTOMER_FIELDS)?;
    if let Some(meta) = r.body.get("meta_data") {
        let list = meta.as_array().ok_or("meta_data must be a list")?;
        for m in list {
            only_keys(m, "a meta_data entry", &["id", "key", "value"])?;
            if field(m, "key")?.as_str().is_none_or(|k| k.is_empty()) {
                return Err("a meta_data key must be a non-empty string".into());
            }
            if field(m, "key")?
                .as_str()
                .is_some_and(|k| k.starts_with('_'))
            {
                return Err(
                    "meta keys starting with _ are protected: the REST API ignores them".into(),
                );
            }
            field(m, "value")?;
        }
    }
    Ok(())
}

/// The customer resource WooCommerce answers an update with (the meta it was sent, with ids).
pub fn woo_customer_updated(request: &Recorded) -> Answer {
    let id: u64 = request
        .path
        .rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let meta: Vec<Value> = request.body["meta_data"]
        .as_array()
        .map(|a| {
            a.iter()
                .enumerate()
                .map(|(i, m)| json!({ "id": 9000 + i, "key": m["key"], "value": m["value"] }))
                .collect()
        })
        .unwrap_or_default();
    Answer::json(
        200,
        json!({ "id": id, "email": "customer@example.com", "role": "customer",
                "date_modified": "2026-12-04T10:00:00", "meta_data": meta }),
    )
}
pub fn woo_customer_not_found() -> Answer {
    Answer::json(
        404,
        json!({ "code": "woocommerce_rest_invalid_id", "message": "Invalid resource ID.",
                "data": { "status": 404 } }),
    )
}

fn woo_auth_check(r: &Recorded) -> Result<(), String> {
    use base64::Engine;
    let auth = r
        .headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Basic "))
        .ok_or("no HTTP Basic Authorization header")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .map_err(|_| "Authorization is not base64")?;
    if !String::from_utf8_lossy(&decoded).contains(':') {
        return Err("Authorization must be consumer_key:consumer_secret".into());
    }
    if !r
        .headers
        .get("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err("content-type is not application/json".into());
    }
    Ok(())
}

fn woo_coupon_check(r: &Recorded) -> Result<(), String> {
    only_keys(&r.body, "the coupon", WOO_FIELDS)?;
    let b = &r.body;
    if field(b, "code")?.as_str().is_none_or(|c| c.is_empty()) {
        return Err("code must be a non-empty string".into());
    }
    if !matches!(
        field(b, "discount_type")?.as_str(),
        Some("percent" | "fixed_cart" | "fixed_product")
    ) {
        return Err("discount_type must be percent, fixed_cart or fixed_product".into());
    }
    if !is_decimal_text(field(b, "amount")?) {
        return Err("amount must be a string holding a decimal".into());
    }
    for f in ["individual_use", "free_shipping"] {
        if b.get(f).is_some_and(|v| !v.is_boolean()) {
            return Err(format!("{f} must be a boolean"));
        }
    }
    for f in ["usage_limit", "usage_limit_per_user"] {
        if b.get(f).is_some_and(|v| !v.is_u64()) {
            return Err(format!("{f} must be an integer"));
        }
    }
    if let Some(m) = b.get("minimum_amount") {
        if !is_decimal_text(m) {
            return Err("minimum_amount must be a string holding a decimal".into());
        }
    }
    if let Some(e) = b.get("email_restrictions") {
        if !e.as_array().is_some_and(|a| {
            a.iter()
                .all(|x| x.as_str().is_some_and(|s| s.contains('@')))
        }) {
            return Err("email_restrictions must be a list of addresses".into());
        }
    }
    if let Some(d) = b.get("date_expires") {
        let ok = d.as_str().is_some_and(|s| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
                || chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
        });
        if !ok {
            return Err("date_expires must be an ISO 8601 date or date-time".into());
        }
    }
    Ok(())
}

pub fn woo_created(id: u64, code: &str) -> Answer {
    Answer::json(
        201,
        json!({ "id": id, "code": code.to_lowercase(), "discount_type": "percent",
                "date_created": "2026-03-01T10:00:00", "usage_count": 0 }),
    )
}
pub fn woo_unauthorized() -> Answer {
    Answer::json(
        401,
        json!({ "code": "woocommerce_rest_authentication_error",
                "message": "Consumer key is invalid.", "data": { "status": 401 } }),
    )
}
pub fn woo_429(retry_after: &str) -> Answer {
    Answer::json(
        429,
        json!({ "code": "woocommerce_rest_too_many_requests",
                "message": "Too many requests. Please wait and try again.", "data": { "status": 429 } }),
    )
    .header("Retry-After", retry_after)
}
pub fn woo_exists() -> Answer {
    Answer::json(
        400,
        json!({ "code": "woocommerce_rest_coupon_code_already_exists",
                "message": "The coupon code already exists", "data": { "status": 400 } }),
    )
}
