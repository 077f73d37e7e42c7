//! The generic webhook: a small JSON format of our own (schema version 1, documented in
//! `docs/generic-webhook.md`) for stores on platforms we have no parser for. One delivery carries one
//! object whose `type` says what it is: `order`, `customer`, `refund` or `order_deleted`.
//!
//! This module also holds the lenient JSON readers the platform parsers share. Platforms disagree on
//! whether an id is a number or a string and on whether an absent value is `null`, `""` or missing, so
//! scalars are read as [`Value`] and converted here, where every error can name its field.

use super::*;
use crate::email::consent::{Consent, ConsentState};
use crate::money::Currency;
use chrono::NaiveDateTime;
use serde::de::DeserializeOwned;
use serde::Deserializer;
use serde_json::Value;

/// The schema version this parser reads; a body may omit `version`, which means this one.
pub const SCHEMA_VERSION: u64 = 1;

pub fn parse(body: &[u8]) -> Result<Parsed, PayloadError> {
    let o: GenericBody = from_body(body)?;
    match &o.version {
        Value::Null => {}
        v if v.as_u64() == Some(SCHEMA_VERSION) => {}
        v => {
            return Err(PayloadError::invalid(
                "version",
                format!(
                    "{v} is not a schema version this engine reads (it reads {SCHEMA_VERSION})"
                ),
            ))
        }
    }
    let kind = text("type", &o.kind)?.ok_or(PayloadError::Missing("type"))?;
    let change = match kind.as_str() {
        "order" => Change::Order(order(o)?),
        "customer" => Change::Customer(customer(o)?),
        "refund" => {
            let currency =
                currency("currency", &o.currency)?.ok_or(PayloadError::Missing("currency"))?;
            let order_id = key("order_id", text("order_id", &o.order_id)?)?;
            let r = GenericRefund {
                id: o.id,
                amount: o.amount,
                created_at: o.created_at,
            };
            Change::Refund(refund(&r, &order_id, currency)?)
        }
        "order_deleted" => Change::OrderDeleted {
            order_id: key("id", text("id", &o.id)?)?,
        },
        other => return Ok(Parsed::Ignored(format!("type {other} is not used"))),
    };
    Ok(Parsed::Change(Box::new(change)))
}

/// Every field any `type` uses; which ones are required depends on the type.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GenericBody {
    version: Value,
    #[serde(rename = "type")]
    kind: Value,
    id: Value,
    order_id: Value,
    customer_id: Value,
    email: Value,
    first_name: Value,
    last_name: Value,
    phone: Value,
    accepts_marketing: Value,
    /// When the customer last changed their consent (RFC 3339); a change dated after an
    /// unsubscribe through our link is the only thing that undoes it.
    accepts_marketing_updated_at: Value,
    created_at: Value,
    updated_at: Value,
    total: Value,
    currency: Value,
    status: Value,
    items: Lenient<Vec<GenericItem>>,
    coupon_codes: Lenient<Vec<Value>>,
    refunds: Lenient<Vec<GenericRefund>>,
    /// A refund's own amount (`type: refund`).
    amount: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GenericItem {
    product_id: Value,
    title: Value,
    category: Value,
    quantity: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GenericRefund {
    id: Value,
    amount: Value,
    created_at: Value,
}

fn person(o: &GenericBody) -> Result<Person, PayloadError> {
    Ok(Person {
        email: email("email", &o.email)?,
        first_name: text("first_name", &o.first_name)?,
        last_name: text("last_name", &o.last_name)?,
        phone: text("phone", &o.phone)?,
        consent: boolean("accepts_marketing", &o.accepts_marketing)?
            .map(|accepts| {
                rfc3339(
                    "accepts_marketing_updated_at",
                    &o.accepts_marketing_updated_at,
                )
                .map(|at| Consent::platform(ConsentState::from_bool(accepts), at))
            })
            .transpose()?,
        birthday: None,
    })
}

fn order(o: GenericBody) -> Result<Order, PayloadError> {
    let id: OrderId = key("id", text("id", &o.id)?)?;
    let customer_id = key("customer_id", text("customer_id", &o.customer_id)?)?;
    let created_at =
        rfc3339("created_at", &o.created_at)?.ok_or(PayloadError::Missing("created_at"))?;
    let updated_at = rfc3339("updated_at", &o.updated_at)?.unwrap_or(created_at);
    let currency = currency("currency", &o.currency)?.ok_or(PayloadError::Missing("currency"))?;
    let total = money("total", &o.total, currency)?.ok_or(PayloadError::Missing("total"))?;
    let status = match text("status", &o.status)?.as_deref() {
        None | Some("open") => OrderStatus::Open,
        Some("cancelled") => OrderStatus::Cancelled,
        Some(other) => {
            return Err(PayloadError::invalid(
                "status",
                format!("{other:?} is neither \"open\" nor \"cancelled\""),
            ))
        }
    };
    let items = o
        .items
        .get("items")?
        .iter()
        .map(|i| {
            Ok(LineItem {
                product_id: id_text("items[].product_id", &i.product_id)?,
                title: text("items[].title", &i.title)?.unwrap_or_default(),
                category: text("items[].category", &i.category)?,
                quantity: quantity("items[].quantity", &i.quantity)?,
            })
        })
        .collect::<Result<Vec<_>, PayloadError>>()?;
    let codes = o
        .coupon_codes
        .get("coupon_codes")?
        .iter()
        .map(|c| text("coupon_codes[]", c))
        .collect::<Result<Vec<_>, _>>()?;
    let refunds = o
        .refunds
        .get("refunds")?
        .iter()
        .map(|r| refund(r, &id, currency))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Order {
        customer: person(&o)?,
        id,
        customer_id,
        created_at,
        updated_at,
        total,
        status,
        items,
        coupon_codes: coupon_codes(codes.into_iter().flatten()),
        refunds,
    })
}

fn customer(o: GenericBody) -> Result<CustomerUpdate, PayloadError> {
    let customer_id = key("id", text("id", &o.id)?)?;
    let updated_at = match rfc3339("updated_at", &o.updated_at)? {
        Some(t) => t,
        None => rfc3339("created_at", &o.created_at)?.ok_or(PayloadError::Missing("updated_at"))?,
    };
    Ok(CustomerUpdate {
        customer_id,
        person: person(&o)?,
        updated_at,
    })
}

fn refund(
    r: &GenericRefund,
    order_id: &OrderId,
    currency: Currency,
) -> Result<Refund, PayloadError> {
    let amount = money("amount", &r.amount, currency)?.ok_or(PayloadError::Missing("amount"))?;
    if amount.minor < 0 {
        return Err(PayloadError::invalid(
            "amount",
            "is negative; a refund's amount is the money that went back, a positive number",
        ));
    }
    Ok(Refund {
        id: key("id", id_text("id", &r.id)?)?,
        order_id: order_id.clone(),
        amount,
        created_at: rfc3339("created_at", &r.created_at)?
            .ok_or(PayloadError::Missing("created_at"))?,
    })
}

// ---------------------------------------------------------------------------------------------------
// Lenient readers shared by the platform parsers.
// ---------------------------------------------------------------------------------------------------

/// Reads a body that must be a JSON object into `T`, whose fields are all lenient, so that the only
/// failures left are bodies that are not JSON or not an object. Straight from the bytes, not through a
/// `Value` of the whole body: fields `T` does not name are skipped without being built, which halves
/// the CPU per webhook (see BENCHMARKS.md).
pub(super) fn from_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, PayloadError> {
    // serde's derived structs also accept arrays, so the object check comes first (rare path: cost
    // is no matter there).
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|e| PayloadError::Json(e.to_string()))?;
        return Err(PayloadError::invalid("body", "is not a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => PayloadError::invalid("body", e),
        _ => PayloadError::Json(e.to_string()),
    })
}

/// A nested object or list read without failing the whole body: `null` or absent gives the default,
/// and a value of the wrong shape is kept as an error that [`Lenient::get`] reports under the field's
/// name (serde's own errors name only a line and column).
#[derive(Debug)]
pub(super) struct Lenient<T>(Result<T, String>);

impl<T: Default> Default for Lenient<T> {
    fn default() -> Self {
        Self(Ok(T::default()))
    }
}

impl<'de, T: DeserializeOwned + Default> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        if value.is_null() {
            return Ok(Self::default());
        }
        Ok(Self(T::deserialize(value).map_err(|e| e.to_string())))
    }
}

impl<T> Lenient<T> {
    pub(super) fn get(&self, field: &'static str) -> Result<&T, PayloadError> {
        self.0
            .as_ref()
            .map_err(|reason| PayloadError::invalid(field, reason))
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Text, trimmed; `null`, absent and blank all mean "not given". Numbers are accepted as their text.
pub(super) fn text(field: &'static str, v: &Value) -> Result<Option<String>, PayloadError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(PayloadError::invalid(
            field,
            format!("is {}, not text", kind_of(other)),
        )),
    }
}

/// An id: text or a whole number (a fractional number is no id).
pub(super) fn id_text(field: &'static str, v: &Value) -> Result<Option<String>, PayloadError> {
    if let Value::Number(n) = v {
        if n.is_f64() {
            return Err(PayloadError::invalid(
                field,
                format!("{n} is not a whole number"),
            ));
        }
    }
    text(field, v)
}

/// Parses an identifier newtype, reporting a missing or malformed value under `field`.
pub(super) fn key<K>(field: &'static str, s: Option<String>) -> Result<K, PayloadError>
where
    K: std::str::FromStr<Err = crate::ids::InvalidValue>,
{
    let s = s.ok_or(PayloadError::Missing(field))?;
    s.parse().map_err(|e| PayloadError::invalid(field, e))
}

pub(super) fn email(field: &'static str, v: &Value) -> Result<Option<Email>, PayloadError> {
    text(field, v)?
        .map(|s| Email::parse(s).map_err(|e| PayloadError::invalid(field, e)))
        .transpose()
}

pub(super) fn boolean(field: &'static str, v: &Value) -> Result<Option<bool>, PayloadError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        other => Err(PayloadError::invalid(
            field,
            format!("is {}, not true or false", kind_of(other)),
        )),
    }
}

pub(super) fn currency(field: &'static str, v: &Value) -> Result<Option<Currency>, PayloadError> {
    text(field, v)?
        .map(|s| Currency::parse(&s).map_err(|e| PayloadError::invalid(field, e)))
        .transpose()
}

/// A decimal amount. JSON numbers are refused: a float cannot hold 0.1 exactly, and money must stay
/// exact from the platform to the profile.
pub(super) fn money(
    field: &'static str,
    v: &Value,
    currency: Currency,
) -> Result<Option<Money>, PayloadError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Money::parse(s, currency)
            .map(Some)
            .map_err(|e| PayloadError::invalid(field, e)),
        Value::Number(n) => Err(PayloadError::invalid(
            field,
            format!("is the JSON number {n}; send money as a decimal string such as \"{n}\" so it stays exact"),
        )),
        other => Err(PayloadError::invalid(
            field,
            format!("is {}, not a decimal string", kind_of(other)),
        )),
    }
}

/// An RFC 3339 timestamp, such as `2024-05-01T12:00:00Z` or `2021-12-31T19:00:00-05:00`.
pub(super) fn rfc3339(
    field: &'static str,
    v: &Value,
) -> Result<Option<DateTime<Utc>>, PayloadError> {
    text(field, v)?
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    PayloadError::invalid(field, format!("{s:?} is not an RFC 3339 time: {e}"))
                })
        })
        .transpose()
}

/// A timestamp without an offset (WooCommerce's `date_created_gmt`), read as UTC. An RFC 3339 value
/// is accepted too.
pub(super) fn naive_utc(
    field: &'static str,
    v: &Value,
) -> Result<Option<DateTime<Utc>>, PayloadError> {
    text(field, v)?
        .map(|s| {
            if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
                return Ok(t.with_timezone(&Utc));
            }
            NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f"))
                .map(|t| t.and_utc())
                .map_err(|e| {
                    PayloadError::invalid(field, format!("{s:?} is not a date and time: {e}"))
                })
        })
        .transpose()
}

/// A line item's quantity; absent means one.
pub(super) fn quantity(field: &'static str, v: &Value) -> Result<u32, PayloadError> {
    let n = match v {
        Value::Null => return Ok(1),
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .ok_or_else(|| PayloadError::invalid(field, format!("{v} is not a whole number of items")))
}

/// Coupon codes as checkouts compare them: trimmed, upper-cased, each once, in first-seen order.
pub(super) fn coupon_codes(codes: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for code in codes {
        let code = code.trim().to_uppercase();
        if !code.is_empty() && !out.contains(&code) {
            out.push(code);
        }
    }
    out
}

/// Sums amounts that must share a currency.
pub(super) fn sum(
    field: &'static str,
    amounts: impl IntoIterator<Item = Money>,
    zero: Money,
) -> Result<Money, PayloadError> {
    amounts.into_iter().try_fold(zero, |acc, m| {
        if acc.currency != m.currency {
            return Err(PayloadError::invalid(
                field,
                format!("mixes currencies ({} and {})", acc.currency, m.currency),
            ));
        }
        acc.checked_add(m)
            .ok_or_else(|| PayloadError::invalid(field, "adds up to more than can be counted"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn change(body: &str) -> Change {
        match parse(body.as_bytes()) {
            Ok(Parsed::Change(c)) => *c,
            other => panic!("{body}: {other:?}"),
        }
    }

    const ORDER: &str = r#"{
        "version": 1, "type": "order", "id": "1001", "customer_id": "c-42",
        "email": "Ada@Example.com", "first_name": "Ada", "last_name": "Lovelace",
        "accepts_marketing": true, "created_at": "2024-05-01T10:00:00+02:00",
        "total": "49.90", "currency": "eur",
        "items": [{"product_id": 7, "title": "Tea", "category": "Drinks", "quantity": 2},
                  {"title": "Cup"}],
        "coupon_codes": [" welcome10 ", "WELCOME10", "spring"],
        "refunds": [{"id": "r1", "amount": "5.00", "created_at": "2024-05-03T08:00:00Z"}]
    }"#;

    #[test]
    fn reads_a_full_order() {
        let Change::Order(o) = change(ORDER) else {
            panic!("not an order")
        };
        assert_eq!(o.id.as_str(), "1001");
        assert_eq!(o.customer_id.as_str(), "c-42");
        assert_eq!(o.customer.email.unwrap().as_str(), "ada@example.com");
        assert!(o.customer.consent.unwrap().allows_marketing());
        assert_eq!(o.created_at.to_rfc3339(), "2024-05-01T08:00:00+00:00");
        assert_eq!(o.updated_at, o.created_at);
        assert_eq!((o.total.minor, o.total.currency.as_str()), (4990, "EUR"));
        assert_eq!(o.status, OrderStatus::Open);
        assert_eq!(o.items.len(), 2);
        assert_eq!(o.items[0].product_id.as_deref(), Some("7"));
        assert_eq!(o.items[0].category.as_deref(), Some("Drinks"));
        assert_eq!(o.items[1].quantity, 1);
        assert_eq!(o.coupon_codes, ["WELCOME10", "SPRING"]);
        assert_eq!(o.refunds[0].amount.minor, 500);
        assert_eq!(o.refunds[0].order_id.as_str(), "1001");
    }

    #[test]
    fn reads_the_other_types() {
        let Change::Customer(c) = change(
            r#"{"type":"customer","id":"c-42","email":"a@b.co","updated_at":"2024-05-02T00:00:00Z"}"#,
        ) else {
            panic!()
        };
        assert_eq!(c.customer_id.as_str(), "c-42");
        let Change::Refund(r) = change(
            r#"{"type":"refund","id":"r2","order_id":"1001","amount":"0","currency":"EUR","created_at":"2024-05-03T00:00:00Z"}"#,
        ) else {
            panic!()
        };
        assert_eq!((r.amount.minor, r.order_id.as_str()), (0, "1001"));
        assert_eq!(
            change(r#"{"type":"order_deleted","id":1001}"#),
            Change::OrderDeleted {
                order_id: OrderId::parse("1001").unwrap()
            }
        );
        assert!(matches!(
            parse(br#"{"type":"product","id":"1"}"#),
            Ok(Parsed::Ignored(_))
        ));
    }

    #[test]
    fn errors_name_the_field() {
        let order = |patch: &str| {
            let mut v: Value = serde_json::from_str(ORDER).unwrap();
            let patch: Value = serde_json::from_str(patch).unwrap();
            for (k, val) in patch.as_object().unwrap() {
                if val.is_null() {
                    v.as_object_mut().unwrap().remove(k);
                } else {
                    v[k] = val.clone();
                }
            }
            parse(v.to_string().as_bytes())
        };
        let cases: &[(&str, PayloadError)] = &[
            (
                r#"{"customer_id":null}"#,
                PayloadError::Missing("customer_id"),
            ),
            (r#"{"id":null}"#, PayloadError::Missing("id")),
            (r#"{"type":null}"#, PayloadError::Missing("type")),
            (
                r#"{"created_at":null}"#,
                PayloadError::Missing("created_at"),
            ),
            (r#"{"total":null}"#, PayloadError::Missing("total")),
            (r#"{"currency":null}"#, PayloadError::Missing("currency")),
        ];
        for (patch, expected) in cases {
            assert_eq!(order(patch).unwrap_err(), *expected, "{patch}");
        }
        let invalid: &[(&str, &str)] = &[
            (r#"{"total":49.9}"#, "total"),
            (r#"{"total":"49.999"}"#, "total"),
            (r#"{"currency":"euro"}"#, "currency"),
            (r#"{"status":"shipped"}"#, "status"),
            (r#"{"created_at":"yesterday"}"#, "created_at"),
            (r#"{"email":"nobody"}"#, "email"),
            (r#"{"items":"tea"}"#, "items"),
            (r#"{"items":[{"quantity":-1}]}"#, "items[].quantity"),
            (r#"{"accepts_marketing":"yes"}"#, "accepts_marketing"),
            (r#"{"version":2}"#, "version"),
            (r#"{"customer_id":"a#b"}"#, "customer_id"),
            (
                r#"{"refunds":[{"id":"r","amount":"-1","created_at":"2024-05-03T00:00:00Z"}]}"#,
                "amount",
            ),
        ];
        for (patch, field) in invalid {
            match order(patch) {
                Err(PayloadError::Invalid { field: f, reason }) => {
                    assert_eq!(f, *field, "{patch}: {reason}")
                }
                other => panic!("{patch}: {other:?}"),
            }
        }
        let float = order(r#"{"total":49.9}"#).unwrap_err().to_string();
        assert!(float.contains("decimal string"), "{float}");
        assert!(matches!(
            parse(b"[1]"),
            Err(PayloadError::Invalid { field: "body", .. })
        ));
        assert!(matches!(parse(b"{"), Err(PayloadError::Json(_))));
    }

    #[test]
    fn coupon_codes_are_normalized() {
        let codes = ["a", " A ", "", "b"].map(String::from);
        assert_eq!(coupon_codes(codes), ["A", "B"]);
    }

    proptest! {
        #[test]
        fn no_body_makes_it_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&body);
        }

        #[test]
        fn no_json_makes_it_panic(
            kind in prop_oneof![Just("order"), Just("customer"), Just("refund"), Just("order_deleted"), Just("x")],
            id in any::<Option<i64>>(),
            total in "\\PC{0,12}",
            currency in "[A-Za-z]{0,4}",
            created_at in "\\PC{0,30}",
            quantity in any::<i64>(),
        ) {
            let body = serde_json::json!({
                "type": kind, "id": id, "order_id": id, "customer_id": "c", "total": total,
                "amount": total, "currency": currency, "created_at": created_at,
                "items": [{"quantity": quantity}],
            });
            let _ = parse(body.to_string().as_bytes());
        }
    }
}
