//! Wiring only: configuration and clients are built once per instance, outside the handler.

use email_events::{handle, policy_from_env, ports, App};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use retention_aws::Aws;
use retention_ses::Ses;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let aws = Aws::for_lambda()?;
    let table = retention_dynamodb::table_from_env(&aws);
    let policy = policy_from_env()?;
    // No configuration set: this client only writes SES's account suppression list.
    let ses = Ses::new(retention_ses::client(&aws), None);
    let app = App::new(ports(table, Some(Arc::new(ses))), policy);
    let app = &app;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        handle(app, event.payload)
    }))
    .await
}
