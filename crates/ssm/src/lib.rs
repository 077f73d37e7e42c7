//! Platform credentials (a Shopify Admin API token, WooCommerce REST keys), kept as SSM Parameter
//! Store SecureStrings: encrypted at rest with KMS, readable only by roles granted the parameter path,
//! and never in the table, a log line or an error message. They come back as a `SecretString`, whose
//! `Debug` prints nothing.
//!
//! One parameter per store: `<prefix>/stores/<store_id>/platform`, holding the JSON the platforms
//! crate reads (see docs/coupons.md). The deployment's link secret is one more SecureString, read
//! once at start ([`links`]).

pub mod links;

pub use links::{
    link_config, link_secret, link_secret_from, public_url, LinkConfig, PARAMETER_VAR,
};

use retention_aws::{Aws, AwsError};
use retention_core::StoreId;
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, OnceLock};

pub const DEFAULT_PREFIX: &str = "/retention";

/// The SSM client is built the first time a store's credentials are read, once per instance (and
/// shared by clones). Building an SDK client costs about as much CPU as the rest of a function's
/// init (its endpoint partitions and HTTPS connector), and only stores with a platform to create
/// coupons on ever need this one.
#[derive(Clone)]
pub struct PlatformSecrets {
    ssm: Arc<(Aws, OnceLock<aws_sdk_ssm::Client>)>,
    prefix: String,
}

impl PlatformSecrets {
    /// Parameters under `prefix`, read with a client from `aws`.
    pub fn new(aws: &Aws, prefix: impl Into<String>) -> Self {
        Self {
            ssm: Arc::new((aws.clone(), OnceLock::new())),
            prefix: prefix.into().trim_end_matches('/').to_string(),
        }
    }

    /// The prefix from `RETENTION_SSM_PREFIX` (default `/retention`).
    pub fn from_env(aws: &Aws) -> Self {
        let prefix = std::env::var("RETENTION_SSM_PREFIX")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_PREFIX.into());
        Self::new(aws, prefix)
    }

    fn client(&self) -> &aws_sdk_ssm::Client {
        self.ssm
            .1
            .get_or_init(|| aws_sdk_ssm::Client::new(self.ssm.0.sdk_config()))
    }

    /// Whether the SSM client has been built yet.
    pub fn client_built(&self) -> bool {
        self.ssm.1.get().is_some()
    }

    pub fn parameter_name(&self, store: &StoreId) -> String {
        format!("{}/stores/{store}/platform", self.prefix)
    }

    /// The store's credentials, decrypted; `None` when none were stored.
    pub async fn get(&self, store: &StoreId) -> Result<Option<SecretString>, AwsError> {
        match self
            .client()
            .get_parameter()
            .name(self.parameter_name(store))
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value).map(SecretString::from)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            // The SDK's error names the parameter, never its value.
            Err(e) => Err(AwsError::sdk("reading platform credentials", e)),
        }
    }

    /// Stores (or replaces) the store's credentials as a SecureString.
    pub async fn put(&self, store: &StoreId, value: &SecretString) -> Result<(), AwsError> {
        self.client()
            .put_parameter()
            .name(self.parameter_name(store))
            .value(value.expose_secret())
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| AwsError::sdk("storing platform credentials", e))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl retention_app::ports::PlatformSecrets for PlatformSecrets {
    async fn platform_secret(
        &self,
        store: &StoreId,
    ) -> retention_app::error::Result<Option<SecretString>> {
        Ok(self.get(store).await?)
    }
}
