//! The retention engine's domain, free of AWS: stores and their customers, orders and money,
//! webhooks and their signatures, and the customer profile that orders fold into.

pub mod birthday;
pub mod churn;
pub mod coupon;
pub mod email;
pub mod ids;
pub mod import;
pub mod ledger;
pub mod money;
pub mod profile;
pub mod scan;
pub mod segment;
pub mod signature;
pub mod store;
pub mod webhook;

pub use ids::{CustomerId, Email, InvalidValue, OrderId, RefundId, StoreId};
pub use money::{Currency, Money, MoneyError};
