//! WooCommerce webhooks (REST API v3 payloads, as `X-WC-Webhook-Topic` names them).
//!
//! WooCommerce has no notion of marketing consent, so [`Person::consent`] stays `None`.
//! Dates come without an offset: the `_gmt` ones are UTC; the plain ones (used only when the `_gmt`
//! ones are missing) are the site's local time and are read as UTC too, off by the site's offset.
//! Product names are HTML-escaped (`&ndash;`); the common entities are decoded.

use super::generic::{
    coupon_codes, currency, email, from_body, id_text, key, money, naive_utc, quantity, text,
    Lenient,
};
use super::*;
use serde_json::Value;

pub fn parse(topic: &str, body: &[u8]) -> Result<Parsed, PayloadError> {
    let change = match topic.trim() {
        "" => return Err(PayloadError::Missing("X-WC-Webhook-Topic")),
        "order.created" | "order.updated" | "order.restored" => match order(from_body(body)?)? {
            Ok(order) => Change::Order(order),
            Err(reason) => return Ok(Parsed::Ignored(reason)),
        },
        "order.deleted" => {
            let o: WooOrder = from_body(body)?;
            Change::OrderDeleted {
                order_id: key("id", id_text("id", &o.id)?)?,
            }
        }
        "customer.created" | "customer.updated" => Change::Customer(customer(from_body(body)?)?),
        other => return Ok(Parsed::Ignored(format!("topic {other} is not used"))),
    };
    Ok(Parsed::Change(Box::new(change)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WooOrder {
    id: Value,
    status: Value,
    customer_id: Value,
    currency: Value,
    total: Value,
    date_created_gmt: Value,
    date_created: Value,
    date_modified_gmt: Value,
    date_modified: Value,
    billing: Lenient<Option<Billing>>,
    line_items: Lenient<Vec<WooLineItem>>,
    coupon_lines: Lenient<Vec<CouponLine>>,
    refunds: Lenient<Vec<WooRefund>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Billing {
    email: Value,
    first_name: Value,
    last_name: Value,
    phone: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WooLineItem {
    name: Value,
    product_id: Value,
    quantity: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CouponLine {
    code: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WooRefund {
    id: Value,
    total: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WooCustomer {
    id: Value,
    email: Value,
    first_name: Value,
    last_name: Value,
    date_created_gmt: Value,
    date_created: Value,
    date_modified_gmt: Value,
    date_modified: Value,
    billing: Lenient<Option<Billing>>,
}

/// The `_gmt` date, else the local one.
fn date(
    gmt_field: &'static str,
    gmt: &Value,
    local_field: &'static str,
    local: &Value,
) -> Result<Option<DateTime<Utc>>, PayloadError> {
    match naive_utc(gmt_field, gmt)? {
        Some(t) => Ok(Some(t)),
        None => naive_utc(local_field, local),
    }
}

/// WooCommerce's own customer id; 0 (or none) is a guest.
fn registered(field: &'static str, v: &Value) -> Result<Option<String>, PayloadError> {
    Ok(id_text(field, v)?.filter(|id| id != "0"))
}

/// The order, or why it is not one yet (`Err` inside `Ok`).
fn order(o: WooOrder) -> Result<Result<Order, String>, PayloadError> {
    let id: OrderId = key("id", id_text("id", &o.id)?)?;
    let status = text("status", &o.status)?;
    let status = match status.as_deref() {
        // Block checkout saves the cart as a draft order before the customer pays anything.
        Some("checkout-draft") => return Ok(Err(format!("order {id} is a checkout draft"))),
        Some("cancelled" | "failed" | "trash") => OrderStatus::Cancelled,
        // "refunded" stays open: its refunds take the money back out.
        _ => OrderStatus::Open,
    };
    let billing = o.billing.get("billing")?;
    let person = match billing {
        Some(b) => Person {
            email: email("billing.email", &b.email)?,
            first_name: text("billing.first_name", &b.first_name)?,
            last_name: text("billing.last_name", &b.last_name)?,
            phone: text("billing.phone", &b.phone)?,
            consent: None,
            birthday: None,
        },
        None => Person::default(),
    };
    let customer_id: CustomerId = match (registered("customer_id", &o.customer_id)?, &person.email)
    {
        (Some(cid), _) => key("customer_id", Some(cid))?,
        (None, Some(email)) => CustomerId::guest(email),
        (None, None) => {
            return Ok(Err(format!(
                "order {id} has neither a customer nor a billing email, so it belongs to no one"
            )))
        }
    };
    let created_at = date(
        "date_created_gmt",
        &o.date_created_gmt,
        "date_created",
        &o.date_created,
    )?
    .ok_or(PayloadError::Missing("date_created_gmt"))?;
    let updated_at = date(
        "date_modified_gmt",
        &o.date_modified_gmt,
        "date_modified",
        &o.date_modified,
    )?
    .unwrap_or(created_at);
    let currency = currency("currency", &o.currency)?.ok_or(PayloadError::Missing("currency"))?;
    let total = money("total", &o.total, currency)?.ok_or(PayloadError::Missing("total"))?;

    let items = o
        .line_items
        .get("line_items")?
        .iter()
        .map(|i| {
            Ok(LineItem {
                product_id: registered("line_items[].product_id", &i.product_id)?,
                title: decode_entities(&text("line_items[].name", &i.name)?.unwrap_or_default()),
                category: None,
                quantity: quantity("line_items[].quantity", &i.quantity)?,
            })
        })
        .collect::<Result<Vec<_>, PayloadError>>()?;
    let codes = o
        .coupon_lines
        .get("coupon_lines")?
        .iter()
        .map(|c| text("coupon_lines[].code", &c.code))
        .collect::<Result<Vec<_>, _>>()?;
    let refunds = o
        .refunds
        .get("refunds")?
        .iter()
        .map(|r| {
            let amount = money("refunds[].total", &r.total, currency)?
                .ok_or(PayloadError::Missing("refunds[].total"))?;
            Ok(Refund {
                id: key("refunds[].id", id_text("refunds[].id", &r.id)?)?,
                order_id: id.clone(),
                // WooCommerce lists refunds as negative totals.
                amount: Money::new(amount.minor.saturating_abs(), currency),
                // The order listing gives no refund dates; the order's last change is the closest.
                created_at: updated_at,
            })
        })
        .collect::<Result<Vec<_>, PayloadError>>()?;

    Ok(Ok(Order {
        id,
        customer_id,
        customer: person,
        created_at,
        updated_at,
        total,
        status,
        items,
        coupon_codes: coupon_codes(codes.into_iter().flatten()),
        refunds,
    }))
}

fn customer(c: WooCustomer) -> Result<CustomerUpdate, PayloadError> {
    let customer_id = key("id", registered("id", &c.id)?)?;
    let billing = c.billing.get("billing")?;
    let from_billing = |field: &'static str, pick: fn(&Billing) -> &Value| match billing {
        Some(b) => text(field, pick(b)),
        None => Ok(None),
    };
    let email = match email("email", &c.email)? {
        Some(e) => Some(e),
        None => match billing {
            Some(b) => email("billing.email", &b.email)?,
            None => None,
        },
    };
    let first_name = match text("first_name", &c.first_name)? {
        Some(n) => Some(n),
        None => from_billing("billing.first_name", |b| &b.first_name)?,
    };
    let last_name = match text("last_name", &c.last_name)? {
        Some(n) => Some(n),
        None => from_billing("billing.last_name", |b| &b.last_name)?,
    };
    let updated_at = match date(
        "date_modified_gmt",
        &c.date_modified_gmt,
        "date_modified",
        &c.date_modified,
    )? {
        Some(t) => t,
        None => date(
            "date_created_gmt",
            &c.date_created_gmt,
            "date_created",
            &c.date_created,
        )?
        .ok_or(PayloadError::Missing("date_modified_gmt"))?,
    };
    Ok(CustomerUpdate {
        customer_id,
        person: Person {
            email,
            first_name,
            last_name,
            phone: from_billing("billing.phone", |b| &b.phone)?,
            consent: None,
            birthday: None,
        },
        updated_at,
    })
}

/// Decodes the HTML entities WordPress puts in product names (`&amp;`, `&ndash;`, `&#8211;`, …).
/// Anything unrecognised is left as written.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                "ndash" => Some('–'),
                "mdash" => Some('—'),
                "lsquo" => Some('‘'),
                "rsquo" => Some('’'),
                "ldquo" => Some('“'),
                "rdquo" => Some('”'),
                "hellip" => Some('…'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn order_body() -> Value {
        json!({
            "id": 727, "status": "processing", "currency": "EUR", "customer_id": 12,
            "date_created": "2024-05-01T12:00:00", "date_created_gmt": "2024-05-01T10:00:00",
            "date_modified": "2024-05-01T12:30:00", "date_modified_gmt": "2024-05-01T10:30:00",
            "total": "29.35",
            "billing": {"first_name": "Tony", "last_name": "Stark", "email": "Tony@Example.com", "phone": "123"},
            "line_items": [
                {"name": "Ship Your Idea &ndash; Black", "product_id": 22, "quantity": 2},
                {"name": "Gift card", "product_id": 0, "quantity": 1}
            ],
            "coupon_lines": [{"code": "welcome10"}],
            "refunds": [{"id": 730, "reason": "", "total": "-5.00"}]
        })
    }

    fn parse_value(topic: &str, v: &Value) -> Result<Parsed, PayloadError> {
        parse(topic, v.to_string().as_bytes())
    }

    fn order_with(patch: Value) -> Result<Parsed, PayloadError> {
        let mut v = order_body();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        parse_value("order.updated", &v)
    }

    fn the_order(patch: Value) -> Order {
        match order_with(patch.clone()) {
            Ok(Parsed::Change(c)) => match *c {
                Change::Order(o) => o,
                other => panic!("{patch}: {other:?}"),
            },
            other => panic!("{patch}: {other:?}"),
        }
    }

    #[test]
    fn reads_an_order() {
        let o = the_order(json!({}));
        assert_eq!(o.id.as_str(), "727");
        assert_eq!(o.customer_id.as_str(), "12");
        assert_eq!(
            o.customer.email.as_ref().unwrap().as_str(),
            "tony@example.com"
        );
        assert_eq!(o.customer.last_name.as_deref(), Some("Stark"));
        assert_eq!(o.customer.consent, None);
        assert_eq!(o.created_at.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        assert_eq!(o.updated_at.to_rfc3339(), "2024-05-01T10:30:00+00:00");
        assert_eq!((o.total.minor, o.total.currency.as_str()), (2935, "EUR"));
        assert_eq!(o.status, OrderStatus::Open);
        assert_eq!(o.items[0].title, "Ship Your Idea – Black");
        assert_eq!(o.items[0].product_id.as_deref(), Some("22"));
        assert_eq!(o.items[1].product_id, None);
        assert_eq!(o.coupon_codes, ["WELCOME10"]);
        assert_eq!(o.refunds[0].amount.minor, 500);
        assert_eq!(o.refunds[0].id.as_str(), "730");
        assert_eq!(o.refunds[0].created_at, o.updated_at);
    }

    #[test]
    fn order_variants() {
        type Check = fn(&Order);
        let cases: Vec<(Value, Check)> = vec![
            (json!({"status": "cancelled"}), |o| {
                assert_eq!(o.status, OrderStatus::Cancelled)
            }),
            (json!({"status": "failed"}), |o| {
                assert_eq!(o.status, OrderStatus::Cancelled)
            }),
            (json!({"status": "trash"}), |o| {
                assert_eq!(o.status, OrderStatus::Cancelled)
            }),
            (json!({"status": "refunded"}), |o| {
                assert_eq!(o.status, OrderStatus::Open)
            }),
            (json!({"status": "pending"}), |o| {
                assert_eq!(o.status, OrderStatus::Open)
            }),
            (json!({"customer_id": 0}), |o| {
                assert_eq!(o.customer_id.as_str(), "guest:tony@example.com")
            }),
            (
                json!({"date_created_gmt": null, "date_modified_gmt": null}),
                |o| assert_eq!(o.created_at.to_rfc3339(), "2024-05-01T12:00:00+00:00"),
            ),
            (
                json!({"date_modified_gmt": null, "date_modified": null}),
                |o| assert_eq!(o.updated_at, o.created_at),
            ),
            (json!({"total": "2.000", "currency": "USD"}), |o| {
                assert_eq!(o.total.minor, 200)
            }),
            (
                json!({"coupon_lines": null, "refunds": null, "line_items": null}),
                |o| {
                    assert!(o.coupon_codes.is_empty() && o.refunds.is_empty() && o.items.is_empty())
                },
            ),
        ];
        for (patch, check) in cases {
            check(&the_order(patch));
        }
    }

    #[test]
    fn order_errors_name_the_field() {
        let cases: &[(Value, &str)] = &[
            (json!({"total": 29.35}), "total"),
            (json!({"currency": "€"}), "currency"),
            (json!({"date_created_gmt": "yesterday"}), "date_created_gmt"),
            (json!({"billing": {"email": "tony"}}), "billing.email"),
            (
                json!({"refunds": [{"id": 1, "total": "-5.001"}]}),
                "refunds[].total",
            ),
            (
                json!({"line_items": [{"quantity": -2}]}),
                "line_items[].quantity",
            ),
            (json!({"coupon_lines": "WELCOME10"}), "coupon_lines"),
            (json!({"id": 1.5}), "id"),
        ];
        for (patch, field) in cases {
            match order_with(patch.clone()) {
                Err(PayloadError::Invalid { field: f, reason }) => {
                    assert_eq!(f, *field, "{patch}: {reason}")
                }
                other => panic!("{patch}: {other:?}"),
            }
        }
        let missing: &[(Value, &str)] = &[
            (json!({"id": null}), "id"),
            (json!({"total": null}), "total"),
            (json!({"currency": ""}), "currency"),
            (
                json!({"date_created_gmt": null, "date_created": null}),
                "date_created_gmt",
            ),
        ];
        for (patch, field) in missing {
            assert_eq!(
                order_with(patch.clone()),
                Err(PayloadError::Missing(field)),
                "{patch}"
            );
        }
        assert!(matches!(
            order_with(json!({"customer_id": 0, "billing": {"email": ""}})),
            Ok(Parsed::Ignored(_))
        ));
        assert!(matches!(
            order_with(json!({"status": "checkout-draft"})),
            Ok(Parsed::Ignored(_))
        ));
    }

    #[test]
    fn reads_deletions_customers_and_other_topics() {
        assert_eq!(
            parse("order.deleted", br#"{"id":727}"#),
            Ok(Parsed::Change(Box::new(Change::OrderDeleted {
                order_id: OrderId::parse("727").unwrap()
            })))
        );
        assert_eq!(
            parse("order.deleted", b"{}"),
            Err(PayloadError::Missing("id"))
        );
        let Ok(Parsed::Change(c)) = parse_value(
            "customer.updated",
            &json!({"id": 12, "email": "", "first_name": "", "last_name": "Stark",
                    "date_created_gmt": "2024-04-01T09:00:00", "date_modified_gmt": null,
                    "billing": {"email": "tony@example.com", "first_name": "Tony", "phone": "555"}}),
        ) else {
            panic!()
        };
        let Change::Customer(c) = *c else { panic!() };
        assert_eq!(c.customer_id.as_str(), "12");
        assert_eq!(c.person.email.unwrap().as_str(), "tony@example.com");
        assert_eq!(c.person.first_name.as_deref(), Some("Tony"));
        assert_eq!(c.person.last_name.as_deref(), Some("Stark"));
        assert_eq!(c.person.phone.as_deref(), Some("555"));
        assert_eq!(c.updated_at.to_rfc3339(), "2024-04-01T09:00:00+00:00");
        assert_eq!(
            parse_value(
                "customer.created",
                &json!({"id": 0, "date_created_gmt": "2024-04-01T09:00:00"})
            ),
            Err(PayloadError::Missing("id"))
        );
        assert_eq!(
            parse("product.updated", b"{}"),
            Ok(Parsed::Ignored("topic product.updated is not used".into()))
        );
        assert_eq!(
            parse("", b"{}"),
            Err(PayloadError::Missing("X-WC-Webhook-Topic"))
        );
    }

    #[test]
    fn decodes_entities() {
        let cases = [
            ("Tom &amp; Jerry", "Tom & Jerry"),
            ("a &#8211; b &#x2014; c", "a – b — c"),
            ("AT&T", "AT&T"),
            ("&unknown; &", "&unknown; &"),
            ("&#xD800;", "&#xD800;"),
        ];
        for (raw, decoded) in cases {
            assert_eq!(decode_entities(raw), decoded);
        }
    }

    const TOPICS: &[&str] = &[
        "order.created",
        "order.updated",
        "order.restored",
        "order.deleted",
        "customer.created",
        "customer.updated",
    ];

    proptest! {
        #[test]
        fn no_body_makes_it_panic(topic in proptest::sample::select(TOPICS), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(topic, &body);
        }

        #[test]
        fn no_field_value_makes_it_panic(
            topic in proptest::sample::select(TOPICS),
            field in proptest::sample::select(&["id", "status", "customer_id", "currency", "total", "date_created_gmt",
                "date_modified_gmt", "billing", "line_items", "coupon_lines", "refunds"][..]),
            value in prop_oneof![
                Just(Value::Null), any::<bool>().prop_map(Value::from), any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from), "\\PC{0,20}".prop_map(Value::from),
                Just(json!([{"total": "-1e30", "quantity": 1e300}])), Just(json!({"email": 5}))
            ],
        ) {
            let mut v = order_body();
            v[field] = value;
            let _ = parse_value(topic, &v);
        }

        #[test]
        fn decoding_never_panics(s in "[&#;a-zA-Z0-9x\\PC]{0,40}") {
            let _ = decode_entities(&s);
        }
    }
}
