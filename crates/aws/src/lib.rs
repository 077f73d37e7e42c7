//! Adapters from the retention core to AWS. This is the only crate that names SDK types: everything
//! it hands back is a core type.

pub mod config;
pub mod coupons;
pub mod error;
pub mod keys;
pub mod profiles;
pub mod schema;
pub mod stores;

pub use config::{Aws, Settings};
pub use error::AwsError;
pub use profiles::{Applied, Table};
pub use stores::StoreCache;
