//! Adapters from the retention core to AWS: the DynamoDB table behind the use cases' ports, and
//! the AWS configuration every client is built from. This is the only crate that names DynamoDB
//! types: everything it hands back is a core type.

pub mod config;
pub mod coupons;
pub mod customers;
pub mod error;
mod items;
pub mod keys;
pub mod ledger;
pub mod schema;
pub mod stores;
pub mod table;

pub use config::{Aws, Settings};
pub use error::AwsError;
pub use table::Table;
