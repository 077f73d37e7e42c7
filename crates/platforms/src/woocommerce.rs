//! WooCommerce REST: `POST {site}/wp-json/wc/v3/coupons`, authenticated with the REST API consumer
//! key and secret (HTTP Basic, which WooCommerce accepts over HTTPS). The coupon is restricted to the
//! customer's address (`email_restrictions`), to its uses (`usage_limit`, `usage_limit_per_user`)
//! and ends on `date_expires`.

use crate::{retry_after, send, Attempt, Created, PlatformError};
use retention_core::coupon::{Coupon, Discount};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

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

pub(crate) async fn create(
    http: &reqwest::Client,
    base_url: &str,
    key: &SecretString,
    secret: &SecretString,
    coupon: &Coupon,
) -> Attempt<Created> {
    let url = format!("{base_url}/wp-json/wc/v3/coupons");
    let resp = match send(
        http.post(&url)
            .basic_auth(key.expose_secret(), Some(secret.expose_secret()))
            .json(&request_body(coupon)),
    )
    .await
    {
        Ok(r) => r,
        Err(retry) => return retry,
    };
    let status = resp.status().as_u16();
    let after = retry_after(&resp);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let code = body["code"].as_str().unwrap_or("");
    let message = || {
        format!(
            "{} ({})",
            body["message"].as_str().unwrap_or("no message"),
            if code.is_empty() { "no code" } else { code }
        )
    };
    match status {
        200 | 201 => match &body["id"] {
            Value::Number(n) => Attempt::Done(Created {
                remote_id: n.to_string(),
            }),
            _ => Attempt::Fail(PlatformError::Rejected("answer without a coupon id".into())),
        },
        429 => Attempt::Retry {
            after,
            rate_limited: true,
            why: "rate limited (429)".into(),
        },
        401 | 403 => Attempt::Fail(PlatformError::Unauthorized(message())),
        400 if code == "woocommerce_rest_coupon_code_already_exists" => Attempt::Done(Created {
            remote_id: "existing".into(),
        }),
        s if s >= 500 => Attempt::Retry {
            after,
            rate_limited: false,
            why: format!("HTTP {s}"),
        },
        s => Attempt::Fail(PlatformError::Rejected(format!("HTTP {s}: {}", message()))),
    }
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
