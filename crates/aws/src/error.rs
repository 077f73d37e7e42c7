use aws_sdk_dynamodb::error::DisplayErrorContext;

/// Our fault or AWS's, never the caller's: logged with its whole cause chain, answered 500.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{context}: {detail}")]
    Sdk {
        context: &'static str,
        detail: String,
    },
    #[error("item {key} is corrupt: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("{context}: gave up after {attempts} attempts (contention)")]
    Contention {
        context: &'static str,
        attempts: u32,
    },
    /// The process's environment lacks what it needs to reach AWS.
    #[error("configuration: {0}")]
    Config(String),
}

impl AwsError {
    pub fn sdk<E: std::error::Error + 'static>(context: &'static str, err: E) -> Self {
        AwsError::Sdk {
            context,
            detail: DisplayErrorContext(err).to_string(),
        }
    }
    pub fn corrupt(key: impl Into<String>, detail: impl ToString) -> Self {
        AwsError::Corrupt {
            key: key.into(),
            detail: detail.to_string(),
        }
    }
}
