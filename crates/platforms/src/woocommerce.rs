//! WooCommerce REST: `POST {site}/wp-json/wc/v3/coupons`, authenticated with the REST API consumer
//! key and secret (HTTP Basic, which WooCommerce accepts over HTTPS). The coupon is restricted to the
//! customer's address (`email_restrictions`), to its uses (`usage_limit`, `usage_limit_per_user`)
//! and ends on `date_expires`.
//!
//! WooCommerce has no email-marketing consent of its own (newsletter plugins keep theirs), so an
//! unsubscribe made here is written on the customer as meta, `PUT /wp-json/wc/v3/customers/<id>`
//! with [`CONSENT_KEY`] = `unsubscribed` and [`CONSENT_AT_KEY`] = the RFC 3339 time: visible in the
//! admin and to any plugin or export that reads customer meta (docs/platform-consent.md). The keys
//! have no leading underscore, because WooCommerce's REST API refuses to write protected meta.

use crate::{retry_after, send, Attempt, Created, PlatformError};
use chrono::{DateTime, SecondsFormat, Utc};
use retention_core::coupon::{Coupon, Discount};
use retention_core::CustomerId;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

/// The customer meta that holds the consent we last recorded, and when it changed.
pub const CONSENT_KEY: &str = "retention_email_marketing";
pub const CONSENT_AT_KEY: &str = "retention_email_marketing_updated_at";

/// The customer's WooCommerce id; `None` for a guest (`guest:<email>`) or an id that is not one.
pub fn customer_number(customer: &CustomerId) -> Option<u64> {
    customer.as_str().parse().ok().filter(|n| *n > 0)
}

/// The customer update that records them as unsubscribed at `at`.
pub fn consent_body(at: DateTime<Utc>) -> Value {
    json!({ "meta_data": [
        { "key": CONSENT_KEY, "value": "unsubscribed" },
        { "key": CONSENT_AT_KEY, "value": at.to_rfc3339_opts(SecondsFormat::Secs, true) },
    ] })
}

fn percent_text(basis_points: u32) -> String {
    let text = format!("{}.{:02}", basis_points / 100, basis_points % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The coupon as WooCommerce's coupon resource.
pub fn request_body(coupon: &Coupon) -> Value {
    let t = &coupon.terms;
    let (discount_type, amount, free_shipping) = match t.discount {
        Discount::Percentage { basis_points } => ("percent", percent_text(basis_points), false),
        Discount::FixedAmount { amount } => ("fixed_cart", amount.to_decimal().to_string(), false),
        Discount::FreeShipping => ("fixed_cart", "0".to_string(), true),
    };
    let mut body = json!({
        "code": coupon.code.display(),
        "discount_type": discount_type,
        "amount": amount,
        "description": format!("{} (retention engine)", coupon.campaign),
        "individual_use": true,
        "usage_limit": t.usage_limit,
        "usage_limit_per_user": t.usage_limit,
        // WooCommerce reads this in the site's time zone; UTC keeps it a bound we can state.
        "date_expires": t.expires_at.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "free_shipping": free_shipping,
        "email_restrictions": coupon.email.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
    });
    if let Some(min) = &t.minimum_order {
        body["minimum_amount"] = json!(min.to_decimal().to_string());
    }
    body
}

/// One REST exchange: the status and the JSON answer, or what the lack of one says to do.
async fn exchange(
    req: reqwest::RequestBuilder,
    key: &SecretString,
    secret: &SecretString,
    body: &Value,
) -> Attempt<(u16, Value, Option<std::time::Duration>)> {
    match send(
        req.basic_auth(key.expose_secret(), Some(secret.expose_secret()))
            .json(body),
    )
    .await
    {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let after = retry_after(&resp);
            Attempt::Done((status, resp.json().await.unwrap_or(Value::Null), after))
        }
        Err(retry) => retry,
    }
}

/// WooCommerce's error answer, `message (code)`.
fn message(body: &Value) -> String {
    let code = body["code"].as_str().unwrap_or("");
    format!(
        "{} ({})",
        body["message"].as_str().unwrap_or("no message"),
        if code.is_empty() { "no code" } else { code }
    )
}

/// What a status that is not the call's own success or known refusal means.
fn otherwise<T>(status: u16, body: &Value, after: Option<std::time::Duration>) -> Attempt<T> {
    match status {
        429 => Attempt::Retry {
            after,
            rate_limited: true,
            why: "rate limited (429)".into(),
        },
        401 | 403 => Attempt::Fail(PlatformError::Unauthorized(message(body))),
        s if s >= 500 => Attempt::Retry {
            after,
            rate_limited: false,
            why: format!("HTTP {s}"),
        },
        s => Attempt::Fail(PlatformError::Rejected(format!(
            "HTTP {s}: {}",
            message(body)
        ))),
    }
}

pub(crate) async fn create(
    http: &reqwest::Client,
    base_url: &str,
    key: &SecretString,
    secret: &SecretString,
    coupon: &Coupon,
) -> Attempt<Created> {
    let req = http.post(format!("{base_url}/wp-json/wc/v3/coupons"));
    let answer = exchange(req, key, secret, &request_body(coupon)).await;
    answer.then(|(status, body, after)| match status {
        200 | 201 => match &body["id"] {
            Value::Number(n) => Attempt::Done(Created {
                remote_id: n.to_string(),
            }),
            _ => Attempt::Fail(PlatformError::Rejected("answer without a coupon id".into())),
        },
        400 if body["code"] == "woocommerce_rest_coupon_code_already_exists" => {
            Attempt::Done(Created {
                remote_id: "existing".into(),
            })
        }
        s => otherwise(s, &body, after),
    })
}

pub(crate) async fn unsubscribe(
    http: &reqwest::Client,
    base_url: &str,
    key: &SecretString,
    secret: &SecretString,
    customer: u64,
    at: DateTime<Utc>,
) -> Attempt<()> {
    let req = http.put(format!("{base_url}/wp-json/wc/v3/customers/{customer}"));
    let answer = exchange(req, key, secret, &consent_body(at)).await;
    answer.then(|(status, body, after)| match status {
        200 => Attempt::Done(()),
        s => otherwise(s, &body, after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_plain_numbers() {
        assert_eq!(percent_text(1500), "15");
        assert_eq!(percent_text(1250), "12.5");
        assert_eq!(percent_text(1), "0.01");
        assert_eq!(percent_text(10_000), "100");
    }
}
