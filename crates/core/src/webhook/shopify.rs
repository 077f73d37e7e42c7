//! Shopify webhooks (REST payloads, as `X-Shopify-Topic` names them).
//!
//! Ids: payloads that passed through JavaScript lost the low digits of 64-bit ids (`id`
//! 820982911946154500 where `admin_graphql_api_id` says `gid://shopify/Order/820982911946154508`), so
//! the numeric tail of the GraphQL id wins whenever there is one.
//!
//! Dates: Shopify's test notifications (API 2023-01) send customers and refunds with `created_at` and
//! `updated_at` null. Such a state is dated [`UNDATED`], older than any dated state, so it never
//! overwrites one.

use super::generic::{
    coupon_codes, currency, email, from_body, id_text, key, money, quantity, rfc3339, sum, text,
    Lenient,
};
use super::*;
use crate::email::consent::{Consent as ConsentStated, ConsentState};
use crate::money::Currency;
use serde_json::Value;

/// The date given to a customer or refund whose payload carries none.
pub const UNDATED: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

pub fn parse(topic: &str, body: &[u8]) -> Result<Parsed, PayloadError> {
    let change = match topic.trim() {
        "" => return Err(PayloadError::Missing("X-Shopify-Topic")),
        t @ ("orders/create" | "orders/updated" | "orders/paid" | "orders/cancelled") => {
            match order(from_body(body)?, t == "orders/cancelled")? {
                Ok(order) => Change::Order(order),
                Err(reason) => return Ok(Parsed::Ignored(reason)),
            }
        }
        "refunds/create" => Change::Refund(refund(&from_body(body)?, None, None)?),
        "customers/create" | "customers/update" => Change::Customer(customer(from_body(body)?)?),
        "checkouts/create" => Change::Checkout(checkout(from_body(body)?)?),
        "customers/redact" => redact_customer(from_body(body)?)?,
        "customers/data_request" => data_request(from_body(body)?)?,
        "shop/redact" => {
            from_body::<Value>(body)?;
            Change::RedactShop
        }
        other => return Ok(Parsed::Ignored(format!("topic {other} is not used"))),
    };
    Ok(Parsed::Change(Box::new(change)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShopifyOrder {
    id: Value,
    admin_graphql_api_id: Value,
    email: Value,
    contact_email: Value,
    phone: Value,
    created_at: Value,
    updated_at: Value,
    cancelled_at: Value,
    total_price: Value,
    currency: Value,
    total_price_set: Lenient<Option<MoneySet>>,
    buyer_accepts_marketing: Value,
    customer: Lenient<Option<ShopifyCustomer>>,
    billing_address: Lenient<Option<Address>>,
    line_items: Lenient<Vec<ShopifyLineItem>>,
    discount_codes: Lenient<Vec<DiscountCode>>,
    refunds: Lenient<Vec<ShopifyRefund>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShopifyCustomer {
    id: Value,
    admin_graphql_api_id: Value,
    email: Value,
    first_name: Value,
    last_name: Value,
    phone: Value,
    created_at: Value,
    updated_at: Value,
    accepts_marketing: Value,
    accepts_marketing_updated_at: Value,
    email_marketing_consent: Lenient<Option<Consent>>,
    default_address: Lenient<Option<Address>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Consent {
    state: Value,
    consent_updated_at: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Address {
    first_name: Value,
    last_name: Value,
    phone: Value,
}

/// `{"shop_money": {"amount": "1.00", "currency_code": "USD"}, "presentment_money": …}`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MoneySet {
    shop_money: Lenient<Option<MoneyAmount>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MoneyAmount {
    amount: Value,
    currency_code: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShopifyLineItem {
    title: Value,
    name: Value,
    product_id: Value,
    product_type: Value,
    quantity: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DiscountCode {
    code: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShopifyRefund {
    id: Value,
    admin_graphql_api_id: Value,
    order_id: Value,
    created_at: Value,
    processed_at: Value,
    transactions: Lenient<Vec<Transaction>>,
    refund_line_items: Lenient<Vec<RefundLineItem>>,
    order_adjustments: Lenient<Vec<OrderAdjustment>>,
    total_duties_set: Lenient<Option<MoneySet>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Transaction {
    kind: Value,
    status: Value,
    amount: Value,
    currency: Value,
    amount_set: Lenient<Option<MoneySet>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RefundLineItem {
    subtotal_set: Lenient<Option<MoneySet>>,
    total_tax_set: Lenient<Option<MoneySet>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OrderAdjustment {
    amount: Value,
    amount_set: Lenient<Option<MoneySet>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShopifyCheckout {
    token: Value,
    email: Value,
    created_at: Value,
    total_price: Value,
    currency: Value,
    presentment_currency: Value,
    total_price_set: Lenient<Option<MoneySet>>,
    abandoned_checkout_url: Value,
    customer: Lenient<Option<ShopifyCustomer>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PrivacyRequest {
    customer: Lenient<Option<ShopifyCustomer>>,
    orders_to_redact: Lenient<Vec<Value>>,
    data_request: Lenient<Option<DataRequestId>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DataRequestId {
    id: Value,
}

/// The numeric tail of a GraphQL id when there is one, else the REST id.
fn shopify_id(
    field: &'static str,
    gid: &Value,
    id: &Value,
) -> Result<Option<String>, PayloadError> {
    if let Some(gid) = text("admin_graphql_api_id", gid)? {
        if let Some((_, tail)) = gid.rsplit_once('/') {
            // A gid may carry a query (`…/Order/1?x=y`); the id is the digits before it.
            let tail = tail.split('?').next().unwrap_or_default();
            if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(Some(tail.to_string()));
            }
        }
    }
    id_text(field, id)
}

/// Reads a `…_set.shop_money`, the amount in the shop's own currency.
fn shop_money(
    field: &'static str,
    set: &Lenient<Option<MoneySet>>,
) -> Result<Option<Money>, PayloadError> {
    let Some(set) = set.get(field)? else {
        return Ok(None);
    };
    let Some(m) = set.shop_money.get(field)? else {
        return Ok(None);
    };
    match currency(field, &m.currency_code)? {
        Some(c) => money(field, &m.amount, c),
        None => Ok(None),
    }
}

fn customer_person(c: &ShopifyCustomer) -> Result<Person, PayloadError> {
    let address = c.default_address.get("customer.default_address")?;
    let consent = match c
        .email_marketing_consent
        .get("customer.email_marketing_consent")?
    {
        Some(consent) => match text("customer.email_marketing_consent.state", &consent.state)? {
            Some(state) => Some(ConsentStated::platform(
                ConsentState::from_shopify(&state),
                rfc3339(
                    "customer.email_marketing_consent.consent_updated_at",
                    &consent.consent_updated_at,
                )?,
            )),
            None => None,
        },
        None => None,
    };
    let consent = match consent {
        Some(c) => Some(c),
        None => super::generic::boolean("customer.accepts_marketing", &c.accepts_marketing)?
            .map(|accepts| {
                rfc3339(
                    "customer.accepts_marketing_updated_at",
                    &c.accepts_marketing_updated_at,
                )
                .map(|at| ConsentStated::platform(ConsentState::from_bool(accepts), at))
            })
            .transpose()?,
    };
    Ok(Person {
        email: email("customer.email", &c.email)?,
        first_name: text("customer.first_name", &c.first_name)?,
        last_name: text("customer.last_name", &c.last_name)?,
        phone: match text("customer.phone", &c.phone)? {
            Some(p) => Some(p),
            None => match address {
                Some(a) => text("customer.default_address.phone", &a.phone)?,
                None => None,
            },
        },
        consent,
        birthday: None,
    })
}

/// The order, or why it cannot be attributed to anyone (`Err` inside `Ok`): an order with neither a
/// customer nor an email (a point-of-sale sale, say) is real, so it is ignored rather than refused,
/// which would only make Shopify retry it.
fn order(o: ShopifyOrder, cancelled_topic: bool) -> Result<Result<Order, String>, PayloadError> {
    let id: OrderId = key("id", shopify_id("id", &o.admin_graphql_api_id, &o.id)?)?;
    let customer = o.customer.get("customer")?.as_ref();

    let mut person = match customer {
        Some(c) => customer_person(c)?,
        None => Person::default(),
    };
    let order_email = match email("email", &o.email)? {
        Some(e) => Some(e),
        None => email("contact_email", &o.contact_email)?,
    };
    if person.email.is_none() {
        person.email.clone_from(&order_email);
    }
    if let Some(billing) = o.billing_address.get("billing_address")? {
        if person.first_name.is_none() {
            person.first_name = text("billing_address.first_name", &billing.first_name)?;
        }
        if person.last_name.is_none() {
            person.last_name = text("billing_address.last_name", &billing.last_name)?;
        }
        if person.phone.is_none() {
            person.phone = text("billing_address.phone", &billing.phone)?;
        }
    }
    if person.phone.is_none() {
        person.phone = text("phone", &o.phone)?;
    }
    if person.consent.is_none() {
        person.consent =
            super::generic::boolean("buyer_accepts_marketing", &o.buyer_accepts_marketing)?
                .map(|accepts| ConsentStated::platform(ConsentState::from_bool(accepts), None));
    }

    let customer_id = match customer {
        Some(c) => shopify_id("customer.id", &c.admin_graphql_api_id, &c.id)?,
        None => None,
    };
    let customer_id: CustomerId = match (customer_id, order_email.or(person.email.clone())) {
        (Some(id), _) => key("customer.id", Some(id))?,
        (None, Some(email)) => CustomerId::guest(&email),
        (None, None) => {
            return Ok(Err(format!(
                "order {id} has neither a customer nor an email, so it belongs to no one"
            )))
        }
    };

    let created_at =
        rfc3339("created_at", &o.created_at)?.ok_or(PayloadError::Missing("created_at"))?;
    let updated_at = rfc3339("updated_at", &o.updated_at)?.unwrap_or(created_at);
    let total = match shop_money("total_price_set", &o.total_price_set)? {
        Some(m) => m,
        None => {
            let c = currency("currency", &o.currency)?.ok_or(PayloadError::Missing("currency"))?;
            money("total_price", &o.total_price, c)?.ok_or(PayloadError::Missing("total_price"))?
        }
    };
    let cancelled = cancelled_topic || text("cancelled_at", &o.cancelled_at)?.is_some();

    let items = o
        .line_items
        .get("line_items")?
        .iter()
        .map(|i| {
            let title = match text("line_items[].title", &i.title)? {
                Some(t) => t,
                None => text("line_items[].name", &i.name)?.unwrap_or_default(),
            };
            Ok(LineItem {
                product_id: id_text("line_items[].product_id", &i.product_id)?,
                title,
                category: text("line_items[].product_type", &i.product_type)?,
                quantity: quantity("line_items[].quantity", &i.quantity)?,
            })
        })
        .collect::<Result<Vec<_>, PayloadError>>()?;
    let codes = o
        .discount_codes
        .get("discount_codes")?
        .iter()
        .map(|d| text("discount_codes[].code", &d.code))
        .collect::<Result<Vec<_>, _>>()?;
    let refunds = o
        .refunds
        .get("refunds")?
        .iter()
        .map(|r| refund(r, Some(&id), Some(total.currency)))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Ok(Order {
        id,
        customer_id,
        customer: person,
        created_at,
        updated_at,
        total,
        status: if cancelled {
            OrderStatus::Cancelled
        } else {
            OrderStatus::Open
        },
        items,
        coupon_codes: coupon_codes(codes.into_iter().flatten()),
        refunds,
    }))
}

/// A refund, standalone (`refunds/create`) or inside an order, whose id then wins over the refund's
/// own `order_id` (which has no GraphQL twin to correct its precision).
///
/// The amount is what moved back to the customer: the successful refund transactions. A refund without
/// transactions (nothing was paid back, or an older payload) falls back to its line items' subtotals
/// and taxes, less its order adjustments (Shopify reports refunded shipping as a negative adjustment).
fn refund(
    r: &ShopifyRefund,
    order_id: Option<&OrderId>,
    order_currency: Option<Currency>,
) -> Result<Refund, PayloadError> {
    let id: RefundId = key("id", shopify_id("id", &r.admin_graphql_api_id, &r.id)?)?;
    let order_id: OrderId = match order_id {
        Some(id) => id.clone(),
        None => key("order_id", id_text("order_id", &r.order_id)?)?,
    };
    let created_at = match rfc3339("created_at", &r.created_at)? {
        Some(t) => t,
        None => rfc3339("processed_at", &r.processed_at)?.unwrap_or(UNDATED),
    };

    let transactions = r.transactions.get("transactions")?;
    let mut moved = Vec::new();
    // A failed transaction moved no money, but it still says in which currency the refund is.
    let mut seen_currency = None;
    for t in transactions {
        let kind = text("transactions[].kind", &t.kind)?;
        let status = text("transactions[].status", &t.status)?;
        if kind.as_deref().is_some_and(|k| k != "refund")
            || status.as_deref().is_some_and(|s| s != "success")
        {
            seen_currency = seen_currency.or(currency("transactions[].currency", &t.currency)?);
            continue;
        }
        let amount = match shop_money("transactions[].amount_set", &t.amount_set)? {
            Some(m) => m,
            None => {
                let c = currency("transactions[].currency", &t.currency)?
                    .or(order_currency)
                    .ok_or(PayloadError::Missing("transactions[].currency"))?;
                money("transactions[].amount", &t.amount, c)?
                    .ok_or(PayloadError::Missing("transactions[].amount"))?
            }
        };
        moved.push(amount);
    }

    let mut parts = Vec::new();
    if transactions.is_empty() {
        for item in r.refund_line_items.get("refund_line_items")? {
            parts.extend(shop_money(
                "refund_line_items[].subtotal_set",
                &item.subtotal_set,
            )?);
            parts.extend(shop_money(
                "refund_line_items[].total_tax_set",
                &item.total_tax_set,
            )?);
        }
        for adj in r.order_adjustments.get("order_adjustments")? {
            let amount = match shop_money("order_adjustments[].amount_set", &adj.amount_set)? {
                Some(m) => Some(m),
                None => match order_currency.or(parts.first().map(|m: &Money| m.currency)) {
                    Some(c) => money("order_adjustments[].amount", &adj.amount, c)?,
                    None => None,
                },
            };
            parts.extend(amount.map(|m| Money::new(m.minor.saturating_neg(), m.currency)));
        }
    }

    let currency = moved
        .first()
        .or(parts.first())
        .map(|m| m.currency)
        .or(order_currency)
        .or(seen_currency)
        .or(shop_money("total_duties_set", &r.total_duties_set)?.map(|m| m.currency))
        .ok_or(PayloadError::Missing("transactions[].currency"))?;
    let field = if transactions.is_empty() {
        "refund_line_items"
    } else {
        "transactions"
    };
    let amount = sum(field, moved.into_iter().chain(parts), Money::zero(currency))?;
    Ok(Refund {
        id,
        order_id,
        amount,
        created_at,
    })
}

fn customer(c: ShopifyCustomer) -> Result<CustomerUpdate, PayloadError> {
    let customer_id = key("id", shopify_id("id", &c.admin_graphql_api_id, &c.id)?)?;
    let updated_at = match rfc3339("updated_at", &c.updated_at)? {
        Some(t) => t,
        None => rfc3339("created_at", &c.created_at)?.unwrap_or(UNDATED),
    };
    Ok(CustomerUpdate {
        customer_id,
        person: customer_person(&c)?,
        updated_at,
    })
}

fn checkout(c: ShopifyCheckout) -> Result<Checkout, PayloadError> {
    let token = text("token", &c.token)?.ok_or(PayloadError::Missing("token"))?;
    let customer = c.customer.get("customer")?.as_ref();
    let customer_id = match customer {
        Some(cu) => shopify_id("customer.id", &cu.admin_graphql_api_id, &cu.id)?
            .map(|id| key("customer.id", Some(id)))
            .transpose()?,
        None => None,
    };
    let email = match email("email", &c.email)? {
        Some(e) => Some(e),
        None => match customer {
            Some(cu) => email("customer.email", &cu.email)?,
            None => None,
        },
    };
    let total = match shop_money("total_price_set", &c.total_price_set)? {
        Some(m) => m,
        None => {
            let cur = match currency("currency", &c.currency)? {
                Some(cur) => cur,
                None => currency("presentment_currency", &c.presentment_currency)?
                    .ok_or(PayloadError::Missing("currency"))?,
            };
            money("total_price", &c.total_price, cur)?
                .ok_or(PayloadError::Missing("total_price"))?
        }
    };
    Ok(Checkout {
        token,
        customer_id,
        email,
        total,
        created_at: rfc3339("created_at", &c.created_at)?
            .ok_or(PayloadError::Missing("created_at"))?,
        recovery_url: text("abandoned_checkout_url", &c.abandoned_checkout_url)?,
    })
}

fn privacy_subject(
    p: &PrivacyRequest,
) -> Result<(Option<CustomerId>, Option<Email>), PayloadError> {
    let Some(c) = p.customer.get("customer")? else {
        return Ok((None, None));
    };
    let id = shopify_id("customer.id", &c.admin_graphql_api_id, &c.id)?
        .map(|id| key("customer.id", Some(id)))
        .transpose()?;
    Ok((id, email("customer.email", &c.email)?))
}

fn redact_customer(p: PrivacyRequest) -> Result<Change, PayloadError> {
    let (customer_id, email) = privacy_subject(&p)?;
    if customer_id.is_none() && email.is_none() {
        return Err(PayloadError::Missing("customer.id"));
    }
    let orders = p
        .orders_to_redact
        .get("orders_to_redact")?
        .iter()
        .map(|o| key("orders_to_redact[]", id_text("orders_to_redact[]", o)?))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Change::RedactCustomer {
        customer_id,
        email,
        orders,
    })
}

fn data_request(p: PrivacyRequest) -> Result<Change, PayloadError> {
    let (customer_id, email) = privacy_subject(&p)?;
    let request_id = match p.data_request.get("data_request")? {
        Some(r) => id_text("data_request.id", &r.id)?,
        None => None,
    }
    .ok_or(PayloadError::Missing("data_request.id"))?;
    Ok(Change::DataRequest {
        request_id,
        customer_id,
        email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn order_body() -> Value {
        json!({
            "id": 4500000000000000000u64,
            "admin_graphql_api_id": "gid://shopify/Order/4500000000000000123",
            "email": "ada@example.com",
            "created_at": "2024-05-01T10:00:00-04:00",
            "updated_at": "2024-05-01T10:05:00-04:00",
            "cancelled_at": null,
            "total_price": "54.00",
            "currency": "USD",
            "total_price_set": {"shop_money": {"amount": "54.00", "currency_code": "USD"},
                                 "presentment_money": {"amount": "50.00", "currency_code": "EUR"}},
            "buyer_accepts_marketing": false,
            "customer": {
                "id": 7000000000000000000u64,
                "admin_graphql_api_id": "gid://shopify/Customer/7000000000000000042",
                "email": "Ada@Example.com", "first_name": "Ada", "last_name": null,
                "email_marketing_consent": {"state": "subscribed"}
            },
            "billing_address": {"first_name": "A.", "last_name": "Lovelace", "phone": "+44 20 7946 0000"},
            "line_items": [
                {"title": "Earl Grey", "product_id": 11, "product_type": "Tea", "quantity": 2},
                {"title": "Cup", "product_id": null, "product_type": "", "quantity": 1}
            ],
            "discount_codes": [{"code": " welcome10"}, {"code": "WELCOME10"}],
            "refunds": [{
                "id": 1, "admin_graphql_api_id": "gid://shopify/Refund/99", "order_id": 4500000000000000000u64,
                "created_at": "2024-05-03T09:00:00Z",
                "transactions": [
                    {"kind": "refund", "status": "success", "amount": "4.00", "currency": "USD"},
                    {"kind": "refund", "status": "failure", "amount": "50.00", "currency": "USD"}
                ]
            }]
        })
    }

    fn parse_value(topic: &str, v: &Value) -> Result<Parsed, PayloadError> {
        parse(topic, v.to_string().as_bytes())
    }

    fn change(topic: &str, v: &Value) -> Change {
        match parse_value(topic, v) {
            Ok(Parsed::Change(c)) => *c,
            other => panic!("{topic}: {other:?}"),
        }
    }

    fn order_with(patch: Value) -> Result<Parsed, PayloadError> {
        let mut v = order_body();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        parse_value("orders/updated", &v)
    }

    #[test]
    fn reads_an_order() {
        let Change::Order(o) = change("orders/create", &order_body()) else {
            panic!()
        };
        assert_eq!(o.id.as_str(), "4500000000000000123");
        assert_eq!(o.customer_id.as_str(), "7000000000000000042");
        assert_eq!(
            o.customer.email.as_ref().unwrap().as_str(),
            "ada@example.com"
        );
        assert_eq!(o.customer.first_name.as_deref(), Some("Ada"));
        assert_eq!(o.customer.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(o.customer.phone.as_deref(), Some("+44 20 7946 0000"));
        assert_eq!(o.customer.consent.map(|c| c.allows_marketing()), Some(true));
        assert_eq!((o.total.minor, o.total.currency.as_str()), (5400, "USD"));
        assert_eq!(o.updated_at.to_rfc3339(), "2024-05-01T14:05:00+00:00");
        assert_eq!(o.status, OrderStatus::Open);
        assert_eq!(o.items[0].product_id.as_deref(), Some("11"));
        assert_eq!(o.items[0].category.as_deref(), Some("Tea"));
        assert_eq!(o.items[1].category, None);
        assert_eq!(o.coupon_codes, ["WELCOME10"]);
        assert_eq!(o.refunds.len(), 1);
        assert_eq!(o.refunds[0].id.as_str(), "99");
        assert_eq!(o.refunds[0].order_id, o.id);
        assert_eq!(o.refunds[0].amount.minor, 400);
    }

    #[test]
    fn order_variants() {
        // (patch, topic, check)
        type Check = fn(&Order);
        let cases: Vec<(Value, &str, Check)> = vec![
            (json!({}), "orders/cancelled", |o| {
                assert_eq!(o.status, OrderStatus::Cancelled)
            }),
            (
                json!({"cancelled_at": "2024-05-02T00:00:00Z"}),
                "orders/paid",
                |o| assert_eq!(o.status, OrderStatus::Cancelled),
            ),
            (
                json!({"customer": null, "email": "", "contact_email": "Guest@Example.com"}),
                "orders/create",
                |o| {
                    assert_eq!(o.customer_id.as_str(), "guest:guest@example.com");
                    assert_eq!(
                        o.customer.consent.map(|c| c.allows_marketing()),
                        Some(false)
                    );
                    assert_eq!(o.customer.first_name.as_deref(), Some("A."));
                },
            ),
            (
                json!({"admin_graphql_api_id": null}),
                "orders/create",
                |o| assert_eq!(o.id.as_str(), "4500000000000000000"),
            ),
            (
                json!({"total_price_set": null, "total_price": "1500", "currency": "JPY"}),
                "orders/create",
                |o| assert_eq!((o.total.minor, o.total.currency.as_str()), (1500, "JPY")),
            ),
            (json!({"updated_at": null}), "orders/create", |o| {
                assert_eq!(o.updated_at, o.created_at)
            }),
            (
                json!({"customer": {"id": 5, "email_marketing_consent": {"state": "unsubscribed"}, "accepts_marketing": true}}),
                "orders/create",
                |o| {
                    assert_eq!(o.customer_id.as_str(), "5");
                    assert_eq!(
                        o.customer.consent.map(|c| c.allows_marketing()),
                        Some(false)
                    );
                    assert_eq!(
                        o.customer.email.as_ref().unwrap().as_str(),
                        "ada@example.com"
                    );
                },
            ),
            (
                json!({"customer": {"id": 5, "accepts_marketing": true}}),
                "orders/create",
                |o| assert_eq!(o.customer.consent.map(|c| c.allows_marketing()), Some(true)),
            ),
            (
                json!({"refunds": [{"id": 3, "created_at": "2024-05-03T09:00:00Z", "transactions": [],
                     "refund_line_items": [{"subtotal_set": {"shop_money": {"amount": "10.00", "currency_code": "USD"}},
                                            "total_tax_set": {"shop_money": {"amount": "0.80", "currency_code": "USD"}}}],
                     "order_adjustments": [{"amount": "-5.00", "kind": "shipping_refund"}]}]}),
                "orders/create",
                |o| assert_eq!(o.refunds[0].amount.minor, 1580),
            ),
        ];
        for (patch, topic, check) in cases {
            let mut v = order_body();
            for (k, val) in patch.as_object().unwrap() {
                v[k] = val.clone();
            }
            match change(topic, &v) {
                Change::Order(o) => check(&o),
                other => panic!("{patch}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_order_of_no_one_is_ignored() {
        let r = order_with(json!({"customer": null, "email": "", "contact_email": null}));
        assert!(matches!(r, Ok(Parsed::Ignored(_))), "{r:?}");
    }

    #[test]
    fn order_errors_name_the_field() {
        let cases: &[(Value, &str)] = &[
            (json!({"created_at": "May 1st"}), "created_at"),
            (
                json!({"total_price_set": {"shop_money": {"amount": 54.0, "currency_code": "USD"}}}),
                "total_price_set",
            ),
            (
                json!({"total_price_set": null, "currency": "dollars"}),
                "currency",
            ),
            (json!({"line_items": {"title": "x"}}), "line_items"),
            (
                json!({"line_items": [{"quantity": "many"}]}),
                "line_items[].quantity",
            ),
            (json!({"email": "not-an-address"}), "email"),
            (json!({"customer": "Ada"}), "customer"),
            (
                json!({"discount_codes": [{"code": {"x": 1}}]}),
                "discount_codes[].code",
            ),
            (
                json!({"refunds": [{"id": 1, "transactions": [{"amount": "1.00", "currency": "EUR"}, {"amount": "1.00", "currency": "USD"}]}]}),
                "transactions",
            ),
        ];
        for (patch, field) in cases {
            match order_with(patch.clone()) {
                Err(PayloadError::Invalid { field: f, reason }) => {
                    assert_eq!(f, *field, "{patch}: {reason}")
                }
                other => panic!("{patch}: {other:?}"),
            }
        }
        assert_eq!(
            order_with(json!({"created_at": null})),
            Err(PayloadError::Missing("created_at"))
        );
        assert_eq!(
            order_with(json!({"total_price_set": null, "currency": null})),
            Err(PayloadError::Missing("currency"))
        );
    }

    #[test]
    fn reads_refunds() {
        let base = json!({
            "id": 890088186047892400u64, "admin_graphql_api_id": "gid://shopify/Refund/890088186047892319",
            "order_id": 820982911946154508u64, "created_at": "2024-05-03T09:00:00-04:00",
            "transactions": [
                {"kind": "refund", "status": "success", "amount": "10.00", "currency": "CAD"},
                {"kind": "refund", "status": "success", "amount": "2.50", "currency": "CAD"},
                {"kind": "refund", "status": "pending", "amount": "99.00", "currency": "CAD"},
                {"kind": "sale", "status": "success", "amount": "99.00", "currency": "CAD"}
            ]
        });
        let cases: Vec<(Value, i64, &str)> = vec![
            (json!({}), 1250, "CAD"),
            (
                json!({"transactions": [{"kind": "refund", "amount": "3.00", "currency": "CAD"}]}),
                300,
                "CAD",
            ),
            (
                json!({"transactions": [{"kind": "refund", "status": "failure", "amount": "3.00", "currency": "CAD"}]}),
                0,
                "CAD",
            ),
            (
                json!({"transactions": [], "refund_line_items": [
                {"subtotal_set": {"shop_money": {"amount": "1.99", "currency_code": "CAD"}}},
                {"subtotal_set": {"shop_money": {"amount": "30.00", "currency_code": "CAD"}}, "subtotal": 30}]}),
                3199,
                "CAD",
            ),
            (
                json!({"transactions": [], "refund_line_items": [],
                    "total_duties_set": {"shop_money": {"amount": "0.00", "currency_code": "USD"}}}),
                0,
                "USD",
            ),
        ];
        for (patch, minor, cur) in cases {
            let mut v = base.clone();
            for (k, val) in patch.as_object().unwrap() {
                v[k] = val.clone();
            }
            let Change::Refund(r) = change("refunds/create", &v) else {
                panic!()
            };
            assert_eq!(
                (r.amount.minor, r.amount.currency.as_str()),
                (minor, cur),
                "{patch}"
            );
            assert_eq!(r.id.as_str(), "890088186047892319");
            assert_eq!(r.order_id.as_str(), "820982911946154508");
        }
        let mut undated = base.clone();
        undated["created_at"] = Value::Null;
        let Change::Refund(r) = change("refunds/create", &undated) else {
            panic!()
        };
        assert_eq!(r.created_at, UNDATED);
        let mut nothing = base;
        nothing["transactions"] = json!([]);
        assert_eq!(
            parse_value("refunds/create", &nothing),
            Err(PayloadError::Missing("transactions[].currency"))
        );
    }

    #[test]
    fn reads_customers_checkouts_and_privacy_requests() {
        let Change::Customer(c) = change(
            "customers/update",
            &json!({"id": 706405506930370000u64, "admin_graphql_api_id": "gid://shopify/Customer/706405506930370084",
                    "email": "bob@biller.com", "first_name": "Bob", "phone": null, "created_at": null, "updated_at": null,
                    "accepts_marketing": true, "email_marketing_consent": null,
                    "default_address": {"phone": "555-0100"}}),
        ) else {
            panic!()
        };
        assert_eq!(c.customer_id.as_str(), "706405506930370084");
        assert_eq!(c.updated_at, UNDATED);
        assert_eq!(c.person.consent.map(|c| c.allows_marketing()), Some(true));
        assert_eq!(c.person.phone.as_deref(), Some("555-0100"));

        let Change::Checkout(k) = change(
            "checkouts/create",
            &json!({"token": "abc123", "email": null, "created_at": "2024-05-04T08:00:00Z",
                    "total_price": "31.99", "currency": "CAD",
                    "abandoned_checkout_url": "https://shop.example/checkouts/abc123/recover?key=k",
                    "customer": {"id": 5, "email": "Cat@Example.com"}}),
        ) else {
            panic!()
        };
        assert_eq!(k.token, "abc123");
        assert_eq!(k.customer_id.unwrap().as_str(), "5");
        assert_eq!(k.email.unwrap().as_str(), "cat@example.com");
        assert_eq!(k.total.minor, 3199);
        assert!(k.recovery_url.unwrap().ends_with("key=k"));

        assert_eq!(
            change(
                "customers/redact",
                &json!({"shop_id": 1, "customer": {"id": 191167, "email": "john@example.com"}, "orders_to_redact": [299938, "280263"]})
            ),
            Change::RedactCustomer {
                customer_id: Some(CustomerId::parse("191167").unwrap()),
                email: Some(Email::parse("john@example.com").unwrap()),
                orders: vec![
                    OrderId::parse("299938").unwrap(),
                    OrderId::parse("280263").unwrap()
                ],
            }
        );
        assert_eq!(
            change(
                "customers/data_request",
                &json!({"customer": {"id": 1}, "data_request": {"id": 9999}})
            ),
            Change::DataRequest {
                request_id: "9999".into(),
                customer_id: Some(CustomerId::parse("1").unwrap()),
                email: None,
            }
        );
        assert_eq!(
            change("shop/redact", &json!({"shop_id": 1})),
            Change::RedactShop
        );

        let errors: &[(&str, Value, PayloadError)] = &[
            (
                "customers/update",
                json!({"email": "a@b.co"}),
                PayloadError::Missing("id"),
            ),
            (
                "checkouts/create",
                json!({"created_at": "2024-05-04T08:00:00Z"}),
                PayloadError::Missing("token"),
            ),
            (
                "customers/redact",
                json!({"orders_to_redact": []}),
                PayloadError::Missing("customer.id"),
            ),
            (
                "customers/data_request",
                json!({"customer": {"id": 1}}),
                PayloadError::Missing("data_request.id"),
            ),
            ("", json!({}), PayloadError::Missing("X-Shopify-Topic")),
        ];
        for (topic, body, expected) in errors {
            assert_eq!(parse_value(topic, body).unwrap_err(), *expected, "{topic}");
        }
        assert_eq!(
            parse_value("products/create", &json!({})),
            Ok(Parsed::Ignored("topic products/create is not used".into()))
        );
    }

    const TOPICS: &[&str] = &[
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "refunds/create",
        "customers/create",
        "customers/update",
        "checkouts/create",
        "customers/redact",
        "customers/data_request",
        "shop/redact",
    ];

    proptest! {
        #[test]
        fn no_body_makes_it_panic(topic in proptest::sample::select(TOPICS), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(topic, &body);
        }

        #[test]
        fn no_field_value_makes_it_panic(
            topic in proptest::sample::select(TOPICS),
            field in proptest::sample::select(&["id", "admin_graphql_api_id", "email", "created_at", "total_price",
                "currency", "customer", "line_items", "refunds", "transactions", "discount_codes", "token",
                "orders_to_redact", "data_request", "total_price_set", "cancelled_at"][..]),
            value in prop_oneof![
                Just(Value::Null), any::<bool>().prop_map(Value::from), any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from), "\\PC{0,20}".prop_map(Value::from),
                Just(json!([{}])), Just(json!({"shop_money": {"amount": "x"}})), Just(json!({"id": -1}))
            ],
        ) {
            let mut v = order_body();
            v[field] = value;
            let _ = parse_value(topic, &v);
        }
    }
}
