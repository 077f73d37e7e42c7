//! Wiring only: configuration and clients are built once per instance, outside the handler.

use churn_scan::{handle, App, Ports};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use retention_aws::Aws;
use retention_sqs::JobQueue;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let aws = Aws::for_lambda()?;
    let table = retention_dynamodb::table_from_env(&aws);
    let queue_url = std::env::var("RETENTION_SCAN_QUEUE_URL")
        .map_err(|_| "RETENTION_SCAN_QUEUE_URL is not set (the scan's job queue)")?;
    let queue = Arc::new(JobQueue::new(retention_sqs::client(&aws), queue_url));
    let app = App::new(Ports::on(table, queue));
    let app = &app;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        handle(app, event.payload)
    }))
    .await
}
