//! What a webhook means, whatever platform sent it. Platform parsers (`shopify`, `woocommerce`,
//! `generic`) turn raw bodies into one [`Change`]; the store adapters only ever see these types.

use crate::ids::{CustomerId, Email, OrderId, RefundId};
use crate::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

pub mod generic;
pub mod shopify;
pub mod woocommerce;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Shopify,
    Woocommerce,
    Generic,
}

impl Platform {
    pub fn parse(s: &str) -> Option<Platform> {
        match s {
            "shopify" => Some(Platform::Shopify),
            "woocommerce" => Some(Platform::Woocommerce),
            "generic" => Some(Platform::Generic),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::Woocommerce => "woocommerce",
            Platform::Generic => "generic",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who placed an order or changed their details. Every field but the id may be missing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Person {
    pub email: Option<Email>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// Email marketing consent as the platform (or an import) last stated it; `None` when the
    /// payload says nothing. An unsubscribe through our own link is kept on the profile instead
    /// ([`crate::profile::Profile::unsubscribed_at`]), where no webhook can overwrite it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<crate::email::consent::Consent>,
    /// From an import; platforms do not send one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<crate::birthday::Birthday>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Placed, paid or not: it counts towards the profile.
    Open,
    /// Cancelled by the store or the customer: it no longer counts.
    Cancelled,
    /// Deleted (or trashed) on the platform: it no longer counts until a newer state restores it.
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub product_id: Option<String>,
    pub title: String,
    /// Product type or category when the payload names one.
    pub category: Option<String>,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: RefundId,
    pub order_id: OrderId,
    /// Positive: the money that went back to the customer.
    pub amount: Money,
    pub created_at: DateTime<Utc>,
}

/// The full state of an order as of `updated_at`. Platforms send the whole order on every change, so
/// applying the newest state we have seen makes delivery order irrelevant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub customer: Person,
    pub created_at: DateTime<Utc>,
    /// Orders the states of one order: a state older than the one stored is ignored.
    pub updated_at: DateTime<Utc>,
    /// The order's total in the shop's currency, before refunds.
    pub total: Money,
    pub status: OrderStatus,
    pub items: Vec<LineItem>,
    /// Discount codes the customer entered, upper-cased as checkouts compare them.
    pub coupon_codes: Vec<String>,
    /// Refunds the payload already lists; merged by id with `refunds/create` deliveries.
    pub refunds: Vec<Refund>,
}

/// A customer's details changed (or were created) on the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerUpdate {
    pub customer_id: CustomerId,
    pub person: Person,
    pub updated_at: DateTime<Utc>,
}

/// A checkout that may become an order, kept for abandoned-checkout flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub token: String,
    pub customer_id: Option<CustomerId>,
    pub email: Option<Email>,
    pub total: Money,
    pub created_at: DateTime<Utc>,
    pub recovery_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Order(Order),
    /// The platform deleted the order (WooCommerce sends only its id).
    OrderDeleted {
        order_id: OrderId,
    },
    Refund(Refund),
    Customer(CustomerUpdate),
    Checkout(Checkout),
    /// Erase a customer's personal data; anonymous aggregates stay.
    RedactCustomer {
        customer_id: Option<CustomerId>,
        email: Option<Email>,
        orders: Vec<OrderId>,
    },
    /// Erase everything the engine holds about the store.
    RedactShop,
    /// A customer asked the store for their data; recorded so the store can answer.
    DataRequest {
        request_id: String,
        customer_id: Option<CustomerId>,
        email: Option<Email>,
    },
}

impl Change {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Order(_) => "order",
            Change::OrderDeleted { .. } => "order_deleted",
            Change::Refund(_) => "refund",
            Change::Customer(_) => "customer",
            Change::Checkout(_) => "checkout",
            Change::RedactCustomer { .. } => "redact_customer",
            Change::RedactShop => "redact_shop",
            Change::DataRequest { .. } => "data_request",
        }
    }
}

/// What a delivery turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Change(Box<Change>),
    /// A topic or event the engine does not use: answered 200 so the platform does not retry.
    Ignored(String),
}

/// The sender's fault: answered 400 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl PayloadError {
    pub fn invalid(field: &'static str, reason: impl fmt::Display) -> Self {
        PayloadError::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}

/// Parses a verified body. `topic` is the platform's own name (`orders/create`, `order.updated`,
/// or for generic deliveries the body's `type`, in which case pass `None`).
pub fn parse(platform: Platform, topic: Option<&str>, body: &[u8]) -> Result<Parsed, PayloadError> {
    match platform {
        Platform::Shopify => shopify::parse(topic.unwrap_or_default(), body),
        Platform::Woocommerce => woocommerce::parse(topic.unwrap_or_default(), body),
        Platform::Generic => generic::parse(body),
    }
}
