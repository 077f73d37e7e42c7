//! Wiring only: configuration and clients are built once per instance, outside the handler.

use lambda_http::{run, service_fn, Error};
use order_webhook::{handle, App, Ports};
use retention_aws::{Aws, Settings};
use retention_dynamodb::Table;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let settings = Settings::from_env();
    let aws = Aws::for_lambda()?;
    let table = Arc::new(Table::new(retention_dynamodb::client(&aws), settings.table));
    let app = App::new(Ports::on(table));
    let app = &app;
    run(service_fn(move |req| handle(app, req))).await
}
