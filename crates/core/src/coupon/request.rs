//! An issue request, parsed once at the edge into domain values. Every error names the field, so a
//! caller's 400 says what to fix.

use super::{CampaignId, CodePrefix, CouponTerms, Discount};
use crate::ids::{CustomerId, Email};
use crate::money::{Currency, Money};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

pub const DEFAULT_USAGE_LIMIT: u32 = 1;
pub const MAX_USAGE_LIMIT: u32 = 1_000_000;
pub const MAX_DAYS: u32 = 3650;

const FIELDS: &[&str] = &[
    "customer_id",
    "email",
    "campaign",
    "kind",
    "value",
    "currency",
    "minimum_order",
    "expires_at",
    "expires_in_days",
    "usage_limit",
    "prefix",
];

/// The caller's mistake, by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}` {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

fn err(field: &'static str, reason: impl fmt::Display) -> FieldError {
    FieldError {
        field,
        reason: reason.to_string(),
    }
}

/// When the coupon stops working: at an instant, or a number of days after it is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    At(DateTime<Utc>),
    Days(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRequest {
    pub customer_id: CustomerId,
    pub email: Option<Email>,
    pub campaign: CampaignId,
    pub discount: Discount,
    pub minimum_order: Option<Money>,
    pub expiry: Expiry,
    pub usage_limit: u32,
    pub prefix: Option<CodePrefix>,
}

fn text<'a>(o: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, FieldError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(err(field, format!("must be a string, not {other}"))),
    }
}

/// Decimals arrive as strings (`"10.00"`) or JSON numbers (`15`, `12.5`); both are read exactly.
fn decimal(o: &Map<String, Value>, field: &'static str) -> Result<Option<Decimal>, FieldError> {
    let raw = match o.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(err(field, format!("must be a number, not {other}"))),
    };
    Decimal::from_str(&raw)
        .map(Some)
        .map_err(|_| err(field, format!("{raw:?} is not a decimal number")))
}

fn whole(
    o: &Map<String, Value>,
    field: &'static str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, FieldError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v >= min as u64 && v <= max as u64 => Ok(Some(v as u32)),
            _ => Err(err(
                field,
                format!("must be a whole number from {min} to {max}, not {n}"),
            )),
        },
        Some(other) => Err(err(field, format!("must be a whole number, not {other}"))),
    }
}

impl IssueRequest {
    pub fn from_json(body: &[u8]) -> Result<Self, FieldError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| err("body", e))?;
        Self::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<Self, FieldError> {
        let o = v
            .as_object()
            .ok_or_else(|| err("body", "must be a JSON object"))?;
        if let Some(k) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(FieldError {
                field: "body",
                reason: format!("has an unknown field `{k}`; known: {}", FIELDS.join(", ")),
            });
        }
        let customer_id = CustomerId::parse(
            text(o, "customer_id")?.ok_or_else(|| err("customer_id", "is required"))?,
        )
        .map_err(|e| err("customer_id", e.reason))?;
        let email = text(o, "email")?
            .map(Email::parse)
            .transpose()
            .map_err(|e| err("email", e.reason))?;
        let campaign =
            CampaignId::parse(text(o, "campaign")?.ok_or_else(|| err("campaign", "is required"))?)
                .map_err(|e| err("campaign", e.reason))?;
        let currency = text(o, "currency")?
            .map(Currency::parse)
            .transpose()
            .map_err(|e| err("currency", e))?;
        let need_currency = |field: &'static str| {
            currency.ok_or_else(|| err("currency", format!("is required with `{field}`")))
        };
        let money = |field: &'static str, d: Decimal| -> Result<Money, FieldError> {
            let m = Money::from_decimal(d, need_currency(field)?).map_err(|e| err(field, e))?;
            if m.minor <= 0 {
                return Err(err(field, "must be more than zero"));
            }
            Ok(m)
        };
        let kind = text(o, "kind")?.ok_or_else(|| err("kind", "is required"))?;
        let value = decimal(o, "value")?;
        let discount = match kind {
            "percentage" => {
                let v = value.ok_or_else(|| err("value", "is required for a percentage"))?;
                let bp = (v * Decimal::from(100))
                    .normalize()
                    .to_u32()
                    .filter(|_| (v * Decimal::from(100)).normalize().scale() == 0);
                match bp {
                    Some(bp) if (1..=10_000).contains(&bp) => {
                        Discount::Percentage { basis_points: bp }
                    }
                    _ => {
                        return Err(err(
                            "value",
                            format!("{v} is not a percentage from 0.01 to 100"),
                        ))
                    }
                }
            }
            "fixed_amount" => {
                let v = value.ok_or_else(|| err("value", "is required for a fixed amount"))?;
                Discount::FixedAmount {
                    amount: money("value", v)?,
                }
            }
            "free_shipping" => {
                if value.is_some_and(|v| !v.is_zero()) {
                    return Err(err("value", "must be absent for free shipping"));
                }
                Discount::FreeShipping
            }
            other => {
                return Err(err(
                    "kind",
                    format!("{other:?} is not one of percentage, fixed_amount, free_shipping"),
                ))
            }
        };
        let minimum_order = decimal(o, "minimum_order")?
            .map(|d| money("minimum_order", d))
            .transpose()?;
        let days = whole(o, "expires_in_days", 1, MAX_DAYS)?;
        let at = text(o, "expires_at")?;
        let expiry = match (at, days) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "expires_in_days",
                    "cannot be given together with `expires_at`",
                ))
            }
            (None, None) => {
                return Err(err(
                    "expires_at",
                    "or `expires_in_days` is required: every coupon expires",
                ))
            }
            (None, Some(d)) => Expiry::Days(d),
            (Some(s), None) => Expiry::At(parse_instant(s).ok_or_else(|| {
                err(
                    "expires_at",
                    format!("{s:?} is neither a date (2026-12-31) nor an RFC 3339 time"),
                )
            })?),
        };
        let usage_limit =
            whole(o, "usage_limit", 1, MAX_USAGE_LIMIT)?.unwrap_or(DEFAULT_USAGE_LIMIT);
        let prefix = text(o, "prefix")?
            .map(CodePrefix::parse)
            .transpose()
            .map_err(|e| err("prefix", e.reason))?;
        Ok(Self {
            customer_id,
            email,
            campaign,
            discount,
            minimum_order,
            expiry,
            usage_limit,
            prefix,
        })
    }

    /// The terms for a coupon issued at `now`.
    pub fn terms(&self, now: DateTime<Utc>) -> Result<CouponTerms, FieldError> {
        let expires_at = match self.expiry {
            Expiry::At(t) => {
                if t <= now {
                    return Err(err("expires_at", format!("{t} is in the past")));
                }
                t
            }
            Expiry::Days(d) => now + Duration::days(d as i64),
        };
        Ok(CouponTerms {
            discount: self.discount,
            minimum_order: self.minimum_order,
            expires_at,
            usage_limit: self.usage_limit,
        })
    }

    /// A digest of what was asked, independent of JSON spelling (key order, `15` vs `"15"`): an
    /// idempotency key reused with a different fingerprint is a conflict.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("a request always serializes");
        hex::encode(Sha256::digest(&canonical))
    }
}

/// `2026-12-31` means "through the end of that day (UTC)"; anything else must be RFC 3339.
fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "customer_id": "501",
            "campaign": "winback-2026",
            "kind": "percentage",
            "value": 15,
            "expires_in_days": 30
        })
    }

    fn with(field: &str, v: Value) -> Value {
        let mut b = base();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(field);
        } else {
            b[field] = v;
        }
        b
    }

    #[test]
    fn parses_a_minimal_request_with_defaults() {
        let r = IssueRequest::from_value(&base()).unwrap();
        assert_eq!(r.discount, Discount::Percentage { basis_points: 1500 });
        assert_eq!(r.usage_limit, 1);
        assert_eq!(r.expiry, Expiry::Days(30));
        assert_eq!(r.prefix, None);
    }

    #[test]
    fn parses_every_kind() {
        let r = IssueRequest::from_value(&json!({
            "customer_id": "501", "email": "Ada@Example.com", "campaign": "c",
            "kind": "fixed_amount", "value": "10.00", "currency": "usd",
            "minimum_order": 50, "expires_at": "2026-12-31", "usage_limit": 3, "prefix": "bday"
        }))
        .unwrap();
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(
            r.discount,
            Discount::FixedAmount {
                amount: Money::new(1000, usd)
            }
        );
        assert_eq!(r.minimum_order, Some(Money::new(5000, usd)));
        assert_eq!(
            r.expiry,
            Expiry::At("2027-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(r.prefix.unwrap().as_str(), "BDAY");
        assert_eq!(r.email.unwrap().as_str(), "ada@example.com");
        let f = IssueRequest::from_value(&with("kind", json!("free_shipping")));
        assert!(f.is_err(), "value 15 with free shipping is a mistake");
        let mut b = with("kind", json!("free_shipping"));
        b.as_object_mut().unwrap().remove("value");
        assert_eq!(
            IssueRequest::from_value(&b).unwrap().discount,
            Discount::FreeShipping
        );
        assert_eq!(
            IssueRequest::from_value(&with("value", json!("12.5")))
                .unwrap()
                .discount,
            Discount::Percentage { basis_points: 1250 }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (with("customer_id", Value::Null), "customer_id"),
            (with("customer_id", json!("a#b")), "customer_id"),
            (with("campaign", json!(7)), "campaign"),
            (with("kind", json!("bogo")), "kind"),
            (with("value", json!(0)), "value"),
            (with("value", json!(101)), "value"),
            (with("value", json!(12.345)), "value"),
            (with("value", json!("ten")), "value"),
            (with("kind", json!("fixed_amount")), "currency"),
            (with("minimum_order", json!("50")), "currency"),
            (with("expires_in_days", Value::Null), "expires_at"),
            (with("expires_in_days", json!(0)), "expires_in_days"),
            (with("expires_at", json!("2026-12-31")), "expires_in_days"),
            (with("usage_limit", json!(0)), "usage_limit"),
            (with("usage_limit", json!(1.5)), "usage_limit"),
            (with("prefix", json!("WIN BACK")), "prefix"),
            (with("email", json!("nobody")), "email"),
            (with("expiry", json!(30)), "body"),
            (json!([1]), "body"),
        ];
        for (body, field) in cases {
            let e = IssueRequest::from_value(&body).unwrap_err();
            assert_eq!(e.field, field, "{body}: {e}");
        }
        let mut b = with("expires_in_days", Value::Null);
        b["expires_at"] = json!("2020-01-01");
        let r = IssueRequest::from_value(&b).unwrap();
        assert_eq!(r.terms(Utc::now()).unwrap_err().field, "expires_at");
        assert_eq!(IssueRequest::from_json(b"{").unwrap_err().field, "body");
    }

    #[test]
    fn fingerprints_ignore_spelling_but_not_meaning() {
        let a = IssueRequest::from_value(&base()).unwrap();
        let b = IssueRequest::from_value(&json!({
            "expires_in_days": 30, "value": "15.0", "kind": "percentage",
            "campaign": "winback-2026", "customer_id": "501", "usage_limit": 1
        }))
        .unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = IssueRequest::from_value(&with("value", json!(20))).unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }
}
