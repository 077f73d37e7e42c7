//! Shopify Admin GraphQL: `POST {shop}/admin/api/{version}/graphql.json` with
//! `X-Shopify-Access-Token`. Amount-off coupons use `discountCodeBasicCreate`, free shipping
//! `discountCodeFreeShippingCreate`; both limited to the customer (`customerSelection`), once per
//! customer, to the usage limit, and ending at the coupon's expiry. An unsubscribe made here is
//! `customerEmailMarketingConsentUpdate` (needs the `write_customers` scope), `UNSUBSCRIBED` at the
//! time the customer clicked.

use crate::{retry_after, send, Attempt, Created, PlatformError};
use chrono::{DateTime, SecondsFormat, Utc};
use retention_core::coupon::{Coupon, Discount};
use retention_core::CustomerId;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

pub const BASIC_MUTATION: &str = "mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) { discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) { codeDiscountNode { id } userErrors { field code message } } }";
pub const CONSENT_MUTATION: &str = "mutation customerEmailMarketingConsentUpdate($input: CustomerEmailMarketingConsentUpdateInput!) { customerEmailMarketingConsentUpdate(input: $input) { customer { id emailMarketingConsent { marketingState consentUpdatedAt } } userErrors { field code message } } }";
pub const FREE_SHIPPING_MUTATION: &str = "mutation discountCodeFreeShippingCreate($freeShippingCodeDiscount: DiscountCodeFreeShippingInput!) { discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount) { codeDiscountNode { id } userErrors { field code message } } }";

/// Basis points as Shopify's percentage, a fraction of one (1500 → 0.15), written exactly.
fn percent_fraction(basis_points: u32) -> Value {
    let text = format!("{}.{:04}", basis_points / 10_000, basis_points % 10_000);
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    serde_json::from_str(trimmed).unwrap_or(Value::Null)
}

/// The customer's Shopify id, `gid://shopify/Customer/<n>`; `None` for a guest.
pub fn customer_gid(customer: &CustomerId) -> Option<String> {
    let id = customer.as_str();
    if id.starts_with("gid://") {
        return Some(id.to_string());
    }
    // Guests (`guest:<email>`) have no Shopify customer to restrict the code to.
    id.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| format!("gid://shopify/Customer/{id}"))
}

/// The mutation and its variables for `coupon`.
pub fn request_body(coupon: &Coupon) -> Value {
    let t = &coupon.terms;
    let customers = match customer_gid(&coupon.customer_id) {
        Some(gid) => json!({ "customers": { "add": [gid] } }),
        // The code is still unguessable and use-limited; it just cannot name its owner.
        None => json!({ "all": true }),
    };
    let mut input = json!({
        "title": format!("{} {}", coupon.campaign, coupon.code),
        "code": coupon.code.display(),
        "startsAt": coupon.issued_at.to_rfc3339(),
        "endsAt": t.expires_at.to_rfc3339(),
        "customerSelection": customers,
        "usageLimit": t.usage_limit,
        "appliesOncePerCustomer": t.usage_limit == 1,
    });
    if let Some(min) = &t.minimum_order {
        input["minimumRequirement"] =
            json!({ "subtotal": { "greaterThanOrEqualToSubtotal": min.to_decimal().to_string() } });
    }
    match t.discount {
        Discount::Percentage { basis_points } => {
            input["customerGets"] = json!({
                "value": { "percentage": percent_fraction(basis_points) },
                "items": { "all": true },
            });
            json!({ "query": BASIC_MUTATION, "variables": { "basicCodeDiscount": input } })
        }
        Discount::FixedAmount { amount } => {
            input["customerGets"] = json!({
                "value": { "discountAmount": {
                    "amount": amount.to_decimal().to_string(),
                    "appliesOnEachItem": false,
                } },
                "items": { "all": true },
            });
            json!({ "query": BASIC_MUTATION, "variables": { "basicCodeDiscount": input } })
        }
        Discount::FreeShipping => {
            input["destination"] = json!({ "all": true });
            json!({ "query": FREE_SHIPPING_MUTATION, "variables": { "freeShippingCodeDiscount": input } })
        }
    }
}

/// The mutation and its variables that record `customer` (a gid) as unsubscribed at `at`.
pub fn consent_body(customer_gid: &str, at: DateTime<Utc>) -> Value {
    json!({ "query": CONSENT_MUTATION, "variables": { "input": {
        "customerId": customer_gid,
        "emailMarketingConsent": {
            "marketingState": "UNSUBSCRIBED",
            "consentUpdatedAt": at.to_rfc3339_opts(SecondsFormat::Secs, true),
        },
    } } })
}

/// One Admin GraphQL exchange: the mutation's payload (`data`'s one field), or what the status,
/// the top-level `errors` or a throttle say to do.
async fn graphql(
    http: &reqwest::Client,
    shop_url: &str,
    api_version: &str,
    token: &SecretString,
    body: &Value,
) -> Attempt<Value> {
    let url = format!("{shop_url}/admin/api/{api_version}/graphql.json");
    let resp = match send(
        http.post(&url)
            .header("X-Shopify-Access-Token", token.expose_secret())
            .json(body),
    )
    .await
    {
        Ok(r) => r,
        Err(retry) => return retry,
    };
    let status = resp.status();
    let after = retry_after(&resp);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let errors_text = || match &body["errors"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    match status.as_u16() {
        429 => {
            return Attempt::Retry {
                after,
                rate_limited: true,
                why: "rate limited (429)".into(),
            }
        }
        401 | 403 => return Attempt::Fail(PlatformError::Unauthorized(errors_text())),
        s if s >= 500 => {
            return Attempt::Retry {
                after,
                rate_limited: false,
                why: format!("HTTP {s}"),
            }
        }
        s if s != 200 => {
            return Attempt::Fail(PlatformError::Rejected(format!(
                "HTTP {s}: {}",
                errors_text()
            )))
        }
        _ => {}
    }
    if let Some(errors) = body["errors"].as_array() {
        let throttled = errors
            .iter()
            .any(|e| e["extensions"]["code"].as_str() == Some("THROTTLED"));
        if throttled {
            return Attempt::Retry {
                after,
                rate_limited: true,
                why: "rate limited (THROTTLED)".into(),
            };
        }
        return Attempt::Fail(PlatformError::Rejected(errors_text()));
    }
    Attempt::Done(
        body["data"]
            .as_object()
            .and_then(|d| d.values().next())
            .cloned()
            .unwrap_or(Value::Null),
    )
}

/// A payload's `userErrors`, as one line: `message (field.path)`, joined.
fn user_errors_text(user_errors: &[Value]) -> String {
    user_errors
        .iter()
        .map(|e| {
            format!(
                "{} ({})",
                e["message"].as_str().unwrap_or("?"),
                e["field"]
                    .as_array()
                    .map(|f| f
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join("."))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn user_errors(payload: &Value) -> Vec<Value> {
    payload["userErrors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn unexpected(payload: &Value) -> PlatformError {
    PlatformError::Rejected(format!(
        "unexpected answer without an id: {}",
        payload.to_string().chars().take(200).collect::<String>()
    ))
}

pub(crate) async fn create(
    http: &reqwest::Client,
    shop_url: &str,
    api_version: &str,
    token: &SecretString,
    coupon: &Coupon,
) -> Attempt<Created> {
    let answer = graphql(http, shop_url, api_version, token, &request_body(coupon)).await;
    answer.then(|payload| {
        let user_errors = user_errors(&payload);
        // A retry after a lost answer finds its own code taken: that is success.
        if user_errors
            .iter()
            .any(|e| e["code"].as_str() == Some("TAKEN"))
        {
            return Attempt::Done(Created {
                remote_id: "existing".into(),
            });
        }
        if !user_errors.is_empty() {
            return Attempt::Fail(PlatformError::Rejected(user_errors_text(&user_errors)));
        }
        match payload["codeDiscountNode"]["id"].as_str() {
            Some(id) => Attempt::Done(Created {
                remote_id: id.to_string(),
            }),
            None => Attempt::Fail(unexpected(&payload)),
        }
    })
}

pub(crate) async fn unsubscribe(
    http: &reqwest::Client,
    shop_url: &str,
    api_version: &str,
    token: &SecretString,
    customer_gid: &str,
    at: DateTime<Utc>,
) -> Attempt<()> {
    let answer = graphql(
        http,
        shop_url,
        api_version,
        token,
        &consent_body(customer_gid, at),
    )
    .await;
    answer.then(|payload| {
        let user_errors = user_errors(&payload);
        if !user_errors.is_empty() {
            return Attempt::Fail(PlatformError::Rejected(user_errors_text(&user_errors)));
        }
        match payload["customer"]["id"].as_str() {
            Some(_) => Attempt::Done(()),
            None => Attempt::Fail(unexpected(&payload)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_exact_fractions() {
        assert_eq!(percent_fraction(1500), serde_json::json!(0.15));
        assert_eq!(percent_fraction(10_000), serde_json::json!(1));
        assert_eq!(percent_fraction(1), serde_json::json!(0.0001));
        assert_eq!(percent_fraction(1250), serde_json::json!(0.125));
    }
}
