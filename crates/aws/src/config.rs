//! Configuration from the environment, read once at start-up, and the AWS configuration every
//! client of a process is built from.

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};

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
    /// `AWS_SESSION_TOKEN`), without the default chains' profile, SSO, web-identity and IMDS
    /// providers. HTTPS trusts the Amazon Trust Services roots that sign AWS endpoints, compiled
    /// in, rather than parsing the system's CA bundle at every cold start (about 10 M instructions,
    /// most of a function's init); set `SSL_CERT_FILE` or `SSL_CERT_DIR` to trust the system's or a
    /// private CA as well (an inspecting proxy, a local endpoint).
    pub async fn for_lambda() -> Self {
        let system_roots = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|p| !p.is_empty()));
        let trust = TrustStore::empty()
            .with_native_roots(system_roots)
            .with_pem_certificate(AMAZON_TRUST_SERVICES_PEM.as_bytes());
        let sdk = loader(trust)
            .region(EnvironmentVariableRegionProvider::new())
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .load()
            .await;
        Self { sdk }
    }

    /// For a person's machine (the CLI): the SDK's default chains (environment, profiles, SSO,
    /// `credential_process`, …) and the system's CA roots.
    pub async fn for_workstation() -> Self {
        let sdk = loader(TrustStore::default()).load().await;
        Self { sdk }
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.sdk)
    }
}

/// The SDK's defaults, with HTTPS through rustls on ring trusting `trust`.
fn loader(trust: TrustStore) -> aws_config::ConfigLoader {
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a trust store of PEM roots always builds");
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}

/// A DynamoDB client for a person's machine ([`Aws::for_workstation`]). Build it once per process:
/// it holds the connection pool.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    Aws::for_workstation().await.dynamodb()
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
