//! Wiring only: configuration and clients are built once per instance, outside the handler.

use coupon_issuer::{handle, ports, Issuer};
use lambda_http::{run, service_fn, Error};
use retention_app::coupons::CACHE_TTL;
use retention_aws::Aws;
use retention_platforms::{PlatformCheckouts, RetryPolicy};
use retention_ssm::PlatformSecrets;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let aws = Aws::for_lambda()?;
    let table = retention_dynamodb::table_from_env(&aws);
    let secrets = Arc::new(PlatformSecrets::from_env(&aws));
    let checkouts = PlatformCheckouts::new(secrets, RetryPolicy::default(), CACHE_TTL);
    let issuer = Issuer::new(ports(table, Some(Arc::new(checkouts))));
    let issuer = &issuer;
    run(service_fn(move |req| handle(issuer, req))).await
}
