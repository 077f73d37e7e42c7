//! One serde struct per kind of item the ledger and the customer collection hold. Puts write them
//! whole; conditional updates (order records, profiles, the customers' copies of orders) set their
//! attributes one by one under the same names, and reads decode these structs.

use crate::keys::{PENDING_REFUND_ATTR, REFUND_ATTR};
use crate::table::{from_item, Item};
use chrono::{DateTime, Utc};
use retention_aws::AwsError;
use retention_core::birthday::Birthday;
use retention_core::email::consent::{Consent, ConsentState};
use retention_core::ledger::{OrderRecord, Version};
use retention_core::money::Money;
use retention_core::profile::{OrderSummary, RefundSummary};
use retention_core::webhook::{OrderStatus, Person, Refund};
use retention_core::{CustomerId, Email, RefundId};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// `DELIVERY#<id>`: this delivery took effect; its redeliveries do not.
#[derive(Serialize, Deserialize)]
pub(crate) struct DeliveryMarker {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub change: String,
    pub received_at: DateTime<Utc>,
    pub ttl: i64,
}

/// `CHECKOUT#<token>`: an abandoned checkout, for a few weeks.
#[derive(Serialize, Deserialize)]
pub(crate) struct CheckoutItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    pub total: Money,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_url: Option<String>,
    pub ttl: i64,
}

/// `DATAREQ#<id>`: a customer asked for their data (Shopify's `customers/data_request`).
#[derive(Serialize, Deserialize)]
pub(crate) struct DataRequestItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    pub received_at: DateTime<Utc>,
}

/// `C#<bucket>#<customer>`: who the customer is. Written by conditional updates only (an order
/// fills what is missing, a customer update overwrites, a redaction nulls), so every field may be
/// absent or NULL.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct ProfileItem {
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// Written before consent had a source and a time: read as the platform's, undated.
    #[serde(default)]
    pub accepts_marketing: Option<bool>,
    #[serde(default)]
    pub consent: Option<Consent>,
    #[serde(default)]
    pub birthday: Option<Birthday>,
    /// When the customer unsubscribed through our link; only `customer-pages` writes it.
    #[serde(default)]
    pub unsub_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub redacted: Option<bool>,
    /// The version of the last customer update (ms).
    #[serde(default)]
    pub iv: Option<i64>,
}

impl ProfileItem {
    pub fn person(&self) -> Person {
        Person {
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            phone: self.phone.clone(),
            consent: self.consent.or_else(|| {
                self.accepts_marketing
                    .map(|a| Consent::platform(ConsentState::from_bool(a), None))
            }),
            birthday: self.birthday,
        }
    }
}

/// `C#<bucket>#<customer>#O#<order>`: the customer's copy of the order's newest state (`o`), and
/// one `r#<refund>` attribute per refund of it, so an order's refunds never need an item (or a
/// transaction slot) each.
#[derive(Deserialize)]
pub(crate) struct OrderCopyItem {
    /// Absent only if a refund were written before its order's state, which the ledger's rules
    /// never do; read as "no state".
    #[serde(default)]
    pub o: Option<OrderSummary>,
}

/// `ORDER#<id>`: the order's own record.
#[derive(Deserialize)]
pub(crate) struct OrderRecordItem {
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    #[serde(default)]
    pub v: Option<i64>,
    #[serde(default)]
    pub status: Option<OrderStatus>,
}

/// The values of every attribute named `<prefix><id>`, decoded.
/// The attributes named `<prefix><id>`, each decoded as a `T`, with their ids: how an item keeps a
/// growing set (an order copy's refunds, a coupon's redemptions) as attributes of its own.
pub(crate) fn prefixed<'a, T: DeserializeOwned>(
    key: &str,
    item: &'a Item,
    prefix: &str,
) -> Result<Vec<(&'a str, T)>, AwsError> {
    item.iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?, v)))
        .map(|(id, v)| {
            let value = serde_dynamo::from_attribute_value(v.clone())
                .map_err(|e| AwsError::corrupt(key, e))?;
            Ok((id, value))
        })
        .collect()
}

/// What a customer's copy of an order holds: its state, if written, and its refunds.
pub(crate) type OrderCopy = (Option<OrderSummary>, Vec<(RefundId, RefundSummary)>);

pub(crate) fn order_copy(key: &str, item: Item) -> Result<OrderCopy, AwsError> {
    let refunds = prefixed(key, &item, REFUND_ATTR)?
        .into_iter()
        .map(|(id, r)| {
            Ok((
                RefundId::parse(id).map_err(|e| AwsError::corrupt(key, e))?,
                r,
            ))
        })
        .collect::<Result<_, AwsError>>()?;
    let copy: OrderCopyItem = from_item(key, item)?;
    Ok((copy.o, refunds))
}

pub(crate) fn order_record(key: &str, item: Item) -> Result<OrderRecord, AwsError> {
    let mut parked: Vec<Refund> = prefixed(key, &item, PENDING_REFUND_ATTR)?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    parked.sort_by(|a: &Refund, b| a.id.cmp(&b.id));
    let record: OrderRecordItem = from_item(key, item)?;
    Ok(OrderRecord {
        customer_id: record.customer_id,
        version: record.v.map(Version),
        status: record.status,
        parked,
    })
}
