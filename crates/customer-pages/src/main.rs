//! Wiring only: configuration and clients are built once per instance, outside the handler.

use customer_pages::{handle, ports, App};
use lambda_http::{run, service_fn, Error};
use retention_aws::Aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let aws = Aws::for_lambda()?;
    let table = retention_dynamodb::table_from_env(&aws);
    // The secret that verifies links (from SSM on AWS); the public URL is checked too, so that a
    // misconfigured deployment fails at start rather than on a customer's click.
    let links = retention_ssm::link_config(&aws).await?;
    let app = App::new(ports(table), links.secret);
    let app = &app;
    run(service_fn(move |req| handle(app, req))).await
}
