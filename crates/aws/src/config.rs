//! Configuration from the environment, read once at start-up, and the AWS configuration every
//! client of a process is built from.

use crate::AwsError;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use aws_types::SdkConfig;
use std::time::Duration;

pub const DEFAULT_TABLE: &str = "retention";

/// The roots of Amazon Trust Services, which sign the certificates of AWS service endpoints.
pub const AMAZON_TRUST_SERVICES_PEM: &str = include_str!("amazon-trust-services.pem");

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

/// The AWS configuration of a process, loaded once; every client is built from it and shares its
/// HTTPS connector. HTTPS is rustls on ring, not the SDK's default aws-lc-rs, which spends ~50 ms of
/// CPU on its first use (a cold instance's first request) and adds ~0.7 MB to every zip
/// (BENCHMARKS.md, "Deployment artefacts").
#[derive(Clone, Debug)]
pub struct Aws {
    sdk: SdkConfig,
}

impl Aws {
    /// For a Lambda function: region and credentials from the variables Lambda sets (`AWS_REGION`,
    /// and the execution role's keys in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`); `AWS_ENDPOINT_URL` for local AWS. The configuration is put together
    /// here rather than by aws-config's loader, whose default chains (profiles, SSO, web identity
    /// with its own STS client, IMDS, ECS) a function never uses but would load at every cold start
    /// and link into every zip. HTTPS trusts the Amazon Trust Services roots that sign AWS
    /// endpoints, compiled in, rather than parsing the system's CA bundle at every cold start (about
    /// 10 M instructions, most of a function's init); set `SSL_CERT_FILE` or `SSL_CERT_DIR` to trust
    /// the system's or a private CA as well (an inspecting proxy, a local endpoint).
    pub fn for_lambda() -> Result<Self, AwsError> {
        Self::for_lambda_from(|name| std::env::var(name).ok())
    }

    /// [`Aws::for_lambda`] with the environment given as a lookup (tests).
    pub fn for_lambda_from(env: impl Fn(&str) -> Option<String>) -> Result<Self, AwsError> {
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let region = var("AWS_REGION").ok_or_else(|| {
            AwsError::Config(
                "AWS_REGION is not set (Lambda sets it; export it to run locally)".into(),
            )
        })?;
        let system_roots = var("SSL_CERT_FILE").is_some() || var("SSL_CERT_DIR").is_some();
        let trust = TrustStore::empty()
            .with_native_roots(system_roots)
            .with_pem_certificate(AMAZON_TRUST_SERVICES_PEM.as_bytes());
        let credentials =
            match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => Credentials::new(
                    id,
                    secret,
                    var("AWS_SESSION_TOKEN"),
                    None,
                    "lambda-environment",
                ),
                _ => return Err(AwsError::Config(
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them \
                     from the execution role; export them to run locally)"
                        .into(),
                )),
            };
        let mut sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(ConnectOnFirstRequest(https(trust)))
            // What aws-config's loader would have set from an empty profile.
            .retry_config(RetryConfig::standard())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(3100))
                    .build(),
            )
            .identity_cache(IdentityCache::lazy().build());
        if let Some(sleep) = default_async_sleep() {
            sdk = sdk.sleep_impl(sleep);
        }
        if let Some(url) = var("AWS_ENDPOINT_URL") {
            sdk = sdk.endpoint_url(url);
        }
        Ok(Self { sdk: sdk.build() })
    }

    /// For a person's machine (the CLI): the SDK's default chains (environment, profiles, SSO,
    /// `credential_process`, …) and the system's CA roots. Feature `workstation`.
    #[cfg(feature = "workstation")]
    pub async fn for_workstation() -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https(TrustStore::default()))
            .load()
            .await;
        Self { sdk }
    }

    /// The shared SDK configuration, for the adapter crates of other services (retention-ssm).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }
}

/// A configuration put together elsewhere: tests wrap the HTTP client of [`Aws::for_lambda`]'s to
/// record what each function sends.
impl From<SdkConfig> for Aws {
    fn from(sdk: SdkConfig) -> Self {
        Self { sdk }
    }
}

/// HTTPS through rustls on ring, trusting `trust`.
fn https(trust: TrustStore) -> SharedHttpClient {
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a trust store of PEM roots always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}

/// The HTTPS client, without the throw-away connector that aws-smithy-http-client builds each time
/// an SDK client is created (`validate_base_client_config`, there so that the system's CA bundle is
/// loaded at start-up rather than on the first request). The functions do not load that bundle, so
/// the eager build only parsed the PEM roots and built a rustls configuration to discard them: ~0.26 M
/// instructions per client at every cold start. The connector the first request needs is built then,
/// as it was before, and cached.
#[derive(Debug)]
struct ConnectOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::{pem::PemObject, CertificateDer};
    use sha2::{Digest, Sha256};

    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_roots_named_in_the_file() {
        let certs: Vec<CertificateDer> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM.as_bytes())
                .collect::<Result<_, _>>()
                .expect("valid PEM");
        let stated: Vec<String> = AMAZON_TRUST_SERVICES_PEM
            .lines()
            .filter_map(|l| l.strip_prefix("# sha256 Fingerprint="))
            .map(|f| f.replace(':', "").to_lowercase())
            .collect();
        let actual: Vec<String> = certs
            .iter()
            .map(|c| hex::encode(Sha256::digest(c)))
            .collect();
        assert_eq!(actual.len(), 5);
        assert_eq!(
            actual, stated,
            "each certificate is the one its comment names"
        );
        // Amazon Root CA 1, as published at https://www.amazontrust.com/repository/.
        assert_eq!(
            actual[0],
            "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e"
        );
    }
}
