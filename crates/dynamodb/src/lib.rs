//! The DynamoDB adapter: the one table (see docs/data-model.md) behind the use cases' ports. This
//! is the only crate that names DynamoDB types: everything it hands back is a core type.

pub mod capacity;
pub mod coupons;
pub mod customers;
pub mod decode;
mod items;
pub mod keys;
pub mod ledger;
pub mod mail;
pub mod runs;
pub mod scan;
pub mod schema;
pub mod stores;
pub mod suppression;
pub mod table;

pub use table::Table;

/// A DynamoDB client on the process's AWS configuration.
pub fn client(aws: &retention_aws::Aws) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(aws.sdk_config())
}

/// The table the deployment names (`RETENTION_TABLE`, see [`retention_aws::Settings`]), as every
/// function's `main.rs` opens it once per instance.
pub fn table_from_env(aws: &retention_aws::Aws) -> std::sync::Arc<Table> {
    let settings = retention_aws::Settings::from_env();
    std::sync::Arc::new(Table::new(client(aws), settings.table))
}
