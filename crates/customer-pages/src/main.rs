//! Wiring only: configuration and clients are built once per instance, outside the handler.

use customer_pages::{handle, ports, App};
use lambda_http::{run, service_fn, Error};
use retention_app::coupons::CACHE_TTL;
use retention_aws::Aws;
use retention_platforms::consent::{PlatformConsents, PAGE_RETRY};
use retention_ssm::PlatformSecrets;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let aws = Aws::for_lambda()?;
    let table = retention_dynamodb::table_from_env(&aws);
    // The secret that verifies links (from SSM on AWS); the public URL is checked too, so that a
    // misconfigured deployment fails at start rather than on a customer's click.
    let links = retention_ssm::link_config(&aws).await?;
    // An unsubscribe is passed on to the store's platform when its credentials are stored; the
    // SSM client for them is built on the first confirmation, not at start.
    let secrets = Arc::new(PlatformSecrets::from_env(&aws));
    let platform = PlatformConsents::new(secrets, PAGE_RETRY, CACHE_TTL);
    let app = App::new(ports(table, Some(Arc::new(platform))), links.secret);
    let app = &app;
    run(service_fn(move |req| handle(app, req))).await
}
