//! Wiring only: configuration and clients are built once per instance, outside the handler.

use lambda_http::{run, service_fn, Error};
use order_webhook::{handle, App, Ports};
use retention_aws::Aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let aws = Aws::for_lambda()?;
    let table = retention_dynamodb::table_from_env(&aws);
    let app = App::new(Ports::on(table));
    let app = &app;
    run(service_fn(move |req| handle(app, req))).await
}
