//! Wiring only: configuration and clients are built once per instance, outside the handler.

use coupon_issuer::{handle, Issuer};
use lambda_http::{run, service_fn, Error};
use retention_aws::coupons::credentials::PlatformSecrets;
use retention_aws::{dynamodb_client, Settings, Table};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time() // CloudWatch stamps every line already.
        .init();
    let settings = Settings::from_env();
    let table = Table::new(dynamodb_client().await, settings.table);
    let issuer = Issuer::new(table, Some(PlatformSecrets::from_env().await));
    let issuer = &issuer;
    run(service_fn(move |req| handle(issuer, req))).await
}
