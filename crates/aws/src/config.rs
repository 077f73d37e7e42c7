//! Configuration from the environment, read once at start-up.

use aws_config::BehaviorVersion;

pub const DEFAULT_TABLE: &str = "retention";

#[derive(Debug, Clone)]
pub struct Settings {
    /// `RETENTION_TABLE`, default `retention`.
    pub table: String,
}

impl Settings {
    pub fn from_env() -> Self {
        Self {
            table: std::env::var("RETENTION_TABLE")
                .ok()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| DEFAULT_TABLE.to_string()),
        }
    }
}

/// A DynamoDB client from the standard AWS environment (`AWS_REGION`, credentials, and
/// `AWS_ENDPOINT_URL` for local AWS). Build it once per process: it holds the connection pool.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
    aws_sdk_dynamodb::Client::new(&shared)
}
