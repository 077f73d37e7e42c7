//! The engine's use cases, in one place, over narrow ports ([`ports`]): apply a delivery and redeem
//! the codes it carries ([`delivery`]), import history, issue and validate coupons ([`coupons`]),
//! show and stream customers ([`customers`]), follow an unsubscribe link ([`unsubscribe`]), redact. Functions and the CLI call these; adapters
//! (`retention-dynamodb`, `retention-ssm`, `retention-platforms`) implement the ports; [`memory`]
//! implements them for the unit tests.

pub mod cache;
pub mod coupons;
pub mod customers;
pub mod delivery;
pub mod error;
pub mod feedback;
pub mod mail;
pub mod memory;
pub mod ports;
pub mod scan;
pub mod unsubscribe;

pub use cache::{StoreCache, TtlCache};
pub use delivery::{Applied, Deliveries};
pub use error::{ErrorKind, PortError, Result};
