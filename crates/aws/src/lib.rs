//! What every AWS adapter shares: the AWS configuration of a process (built once, from the
//! variables Lambda sets, or the workstation's credentials for the CLI) and the classification of
//! SDK errors into retryable or not. Each service has its adapter crate: `retention-dynamodb`,
//! `retention-ssm`; a function links only the ones its role allows.

pub mod config;
pub mod error;

pub use config::{Aws, Settings};
pub use error::AwsError;
