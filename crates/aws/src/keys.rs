//! Key layout of the single table (see docs/data-model.md). Every item of a store shares the
//! partition `STORE#<id>`, so a store's customers are one Query and `shop/redact` one sweep.

use retention_core::{CustomerId, Email, OrderId, RefundId, StoreId};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const TTL: &str = "ttl";

pub const META: &str = "META";
pub const CUSTOMER_PREFIX: &str = "CUST#";
pub const ORDER_PREFIX: &str = "ORDER#";
pub const DELIVERY_PREFIX: &str = "DELIVERY#";

/// Attribute-name prefixes inside a profile item: one attribute per order state and per refund.
pub const ORDER_ATTR: &str = "o#";
pub const REFUND_ATTR: &str = "r#";
/// Refunds parked on an order item until the order itself arrives.
pub const PENDING_REFUND_ATTR: &str = "pr#";

pub fn store_pk(store: &StoreId) -> String {
    format!("STORE#{store}")
}
pub fn customer_sk(customer: &CustomerId) -> String {
    format!("{CUSTOMER_PREFIX}{customer}")
}
pub fn order_sk(order: &OrderId) -> String {
    format!("{ORDER_PREFIX}{order}")
}
pub fn delivery_sk(delivery: &str) -> String {
    format!("{DELIVERY_PREFIX}{delivery}")
}
pub fn email_gsi(store: &StoreId, email: &Email) -> String {
    format!("STORE#{store}#EMAIL#{email}")
}
/// Where a redacted profile's email index entry points: nowhere anyone looks up.
pub fn redacted_gsi(store: &StoreId) -> String {
    format!("STORE#{store}#REDACTED")
}
pub fn order_attr(order: &OrderId) -> String {
    format!("{ORDER_ATTR}{order}")
}
pub fn refund_attr(order: &OrderId, refund: &RefundId) -> String {
    format!("{REFUND_ATTR}{order}#{refund}")
}
pub fn pending_refund_attr(refund: &RefundId) -> String {
    format!("{PENDING_REFUND_ATTR}{refund}")
}
