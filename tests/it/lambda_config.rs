//! The AWS configuration the functions build at start-up (`Aws::for_lambda`): from the variables
//! Lambda sets, without aws-config's default chains, trusting the compiled-in Amazon roots. The
//! function binaries' `main` does nothing else before handing requests to the handler.

use crate::fixtures::{bytes, shopify_order};
use retention_aws::Aws;
use retention_core::webhook::Platform;
use retention_dynamodb::{schema, Table};
use retention_tests::*;
use std::collections::HashMap;

fn lambda_env(endpoint: &str) -> HashMap<&'static str, String> {
    HashMap::from([
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEEXAMPLE00".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "lambda-secret".to_string()),
        ("AWS_SESSION_TOKEN", "lambda-session-token".to_string()),
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "order-webhook".to_string()),
    ])
}

fn for_lambda(env: &HashMap<&'static str, String>) -> Result<Aws, retention_aws::AwsError> {
    Aws::for_lambda_from(|name| env.get(name).cloned())
}

#[tokio::test]
async fn a_function_configured_as_on_lambda_processes_a_webhook() {
    let aws = for_lambda(&lambda_env(&endpoint())).expect("configured");
    let client = retention_dynamodb::client(&aws);
    let name = format!("t-lambda-config-{}", std::process::id());
    schema::create_table(&client, &name)
        .await
        .expect("create table");
    let table = Table::new(client, name);
    let store = retention_core::StoreId::parse("lambda-shop").unwrap();
    register(&table, &store, Platform::Shopify, &[SECRET]).await;
    let app = order_webhook::App::new(webhook_ports(&table));
    let body = bytes(&shopify_order(
        4100,
        900,
        "l@example.com",
        "3.00",
        "2024-03-01T10:00:00Z",
    ));
    let (status, b) = send(
        &app,
        shopify_webhook(&store, "orders/create", "lambda-1", SECRET, &body),
    )
    .await;
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("processed")),
        "{b}"
    );
    // The SSM client comes from the same configuration (coupon-issuer's platform credentials);
    // coupon-issuer builds it on first use, not at init.
    let secrets = retention_ssm::PlatformSecrets::from_env(&aws);
    assert!(!secrets.client_built());
    assert!(secrets.get(&store).await.expect("moto answers").is_none());
    assert!(secrets.client_built());
}

#[test]
fn a_missing_variable_is_named() {
    for (missing, named) in [
        ("AWS_REGION", "AWS_REGION"),
        ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
        ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
    ] {
        let mut env = lambda_env("http://127.0.0.1:1");
        env.remove(missing);
        let err = for_lambda(&env).expect_err(missing).to_string();
        assert!(err.contains(named), "{missing}: {err}");
    }
    // Empty counts as missing, as Lambda never sets an empty region.
    let mut env = lambda_env("http://127.0.0.1:1");
    env.insert("AWS_REGION", String::new());
    assert!(for_lambda(&env).is_err());
}
