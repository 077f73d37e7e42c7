//! Wiring only: configuration and clients are built once per instance, outside the handler.

use email_sender::{config, handle, ports, App};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use retention_app::mail::Sender;
use retention_aws::Aws;
use retention_email::{Composer, Links, Templates};
use retention_ses::Ses;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retention_function::init_tracing();
    let aws = Aws::for_lambda()?;
    let table = retention_dynamodb::table_from_env(&aws);
    let links = retention_ssm::link_config(&aws).await?;
    let ses = Ses::new(
        retention_ses::client(&aws),
        std::env::var("RETENTION_SES_CONFIGURATION_SET").ok(),
    );
    let composer = Composer::new(
        Templates::from_env()?,
        Some(Links {
            secret: links.secret.clone(),
            base: links.public_url.clone(),
        }),
    );
    let sender = Sender::new(
        ports(table.clone(), Arc::new(ses), Arc::new(composer)),
        config(links)?,
    );
    let app = App::new(sender, table);
    let app = &app;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        handle(app, event.payload)
    }))
    .await
}
