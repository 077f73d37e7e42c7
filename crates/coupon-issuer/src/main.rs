//! Wiring only: configuration and clients are built once per instance, outside the handler.

use coupon_issuer::{handle, Issuer};
use lambda_http::{run, service_fn, Error};
use retention_aws::{Aws, Settings, Table};
use retention_ssm::PlatformSecrets;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let settings = Settings::from_env();
    let aws = Aws::for_lambda()?;
    let table = Table::new(aws.dynamodb(), settings.table);
    let issuer = Issuer::new(table, Some(PlatformSecrets::from_env(&aws)));
    let issuer = &issuer;
    run(service_fn(move |req| handle(issuer, req))).await
}
