//! Wiring only: configuration and clients are built once per instance, outside the handler.

use coupon_issuer::{handle, ports, Issuer};
use lambda_http::{run, service_fn, Error};
use retention_app::coupons::CACHE_TTL;
use retention_aws::{Aws, Settings};
use retention_dynamodb::Table;
use retention_platforms::{PlatformCheckouts, RetryPolicy};
use retention_ssm::PlatformSecrets;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let settings = Settings::from_env();
    let aws = Aws::for_lambda()?;
    let table = Arc::new(Table::new(retention_dynamodb::client(&aws), settings.table));
    let secrets = Arc::new(PlatformSecrets::from_env(&aws));
    let checkouts = PlatformCheckouts::new(secrets, RetryPolicy::default(), CACHE_TTL);
    let issuer = Issuer::new(ports(table, Some(Arc::new(checkouts))));
    let issuer = &issuer;
    run(service_fn(move |req| handle(issuer, req))).await
}
