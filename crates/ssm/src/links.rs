//! The configuration of signed links, shared by every function that builds or follows one and the
//! CLI: the deployment's link secret and the public base URL links start with.
//!
//! - `RETENTION_LINK_SECRET`: the secret itself, when set (local runs, tests, `make local`);
//! - else `RETENTION_LINK_SECRET_PARAMETER`: the name of an SSM SecureString holding it (AWS: the
//!   secret never sits in a function's environment, where anyone who can read its configuration
//!   could read it);
//! - `RETENTION_PUBLIC_URL`: required, where `customer-pages` answers (`<base>/u/<token>`).
//!
//! The secret is never logged nor put in an error message; [`LinkSecret`]'s `Debug` prints nothing.

use retention_aws::Aws;
use retention_core::email::link::LinkSecret;

pub const SECRET_VAR: &str = "RETENTION_LINK_SECRET";
pub const PARAMETER_VAR: &str = "RETENTION_LINK_SECRET_PARAMETER";
pub const PUBLIC_URL_VAR: &str = "RETENTION_PUBLIC_URL";

/// Everything a link builder or checker needs.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub secret: LinkSecret,
    /// `RETENTION_PUBLIC_URL`, without a trailing slash.
    pub public_url: String,
}

/// The secret and the base URL from the process's environment (and SSM when it names a parameter).
pub async fn link_config(aws: &Aws) -> Result<LinkConfig, String> {
    let public_url = public_url()?;
    Ok(LinkConfig {
        secret: link_secret(aws).await?,
        public_url,
    })
}

/// The deployment's link secret: `RETENTION_LINK_SECRET`, else the SecureString named by
/// `RETENTION_LINK_SECRET_PARAMETER`.
pub async fn link_secret(aws: &Aws) -> Result<LinkSecret, String> {
    link_secret_from(aws, |k| std::env::var(k).ok()).await
}

/// [`link_secret`] with the environment given as a lookup (tests).
pub async fn link_secret_from(
    aws: &Aws,
    env: impl Fn(&str) -> Option<String>,
) -> Result<LinkSecret, String> {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(secret) = var(SECRET_VAR) {
        return LinkSecret::new(secret).map_err(|e| format!("{SECRET_VAR}: {e}"));
    }
    let Some(name) = var(PARAMETER_VAR) else {
        return Err(format!(
            "no link secret: set {SECRET_VAR} (locally) or {PARAMETER_VAR} to the name of an SSM \
             SecureString holding it (on AWS)"
        ));
    };
    let client = aws_sdk_ssm::Client::new(aws.sdk_config());
    let value = match client
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(out) => out.parameter.and_then(|p| p.value),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            None
        }
        // The SDK's error names the parameter, never its value.
        Err(e) => {
            return Err(format!(
                "reading the link secret parameter {name:?} ({PARAMETER_VAR}): {}",
                retention_aws::AwsError::sdk("reading the link secret", e)
            ))
        }
    };
    let value = value.ok_or_else(|| {
        format!("the link secret parameter {name:?} ({PARAMETER_VAR}) does not exist or is empty")
    })?;
    LinkSecret::new(value).map_err(|e| format!("the link secret parameter {name:?}: {e}"))
}

/// `RETENTION_PUBLIC_URL`, required: an http(s) URL, returned without a trailing slash.
pub fn public_url() -> Result<String, String> {
    public_url_from(|k| std::env::var(k).ok())
}

/// [`public_url`] with the environment given as a lookup (tests).
pub fn public_url_from(env: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let url = env(PUBLIC_URL_VAR)
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            format!(
                "{PUBLIC_URL_VAR} is not set: it is the public base URL of customer-pages that \
                 links start with (on AWS the API's URL; locally \
                 http://127.0.0.1:9000/lambda-url/customer-pages)"
            )
        })?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        return Err(format!(
            "{PUBLIC_URL_VAR}={url:?} is not an http(s) URL with a host"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_public_url_is_required_and_must_be_http() {
        let err = public_url_from(env(&[])).unwrap_err();
        assert!(err.contains(PUBLIC_URL_VAR), "{err}");
        for bad in ["ftp://x", "example.com", "https://", "http:///path"] {
            assert!(
                public_url_from(env(&[(PUBLIC_URL_VAR, bad)])).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            public_url_from(env(&[(PUBLIC_URL_VAR, "http://127.0.0.1:9000/x/")])).unwrap(),
            "http://127.0.0.1:9000/x"
        );
    }

    #[tokio::test]
    async fn the_secret_comes_from_the_environment_first_and_never_shows() {
        // No client is built when the variable is set: the (unreachable) AWS config is never used.
        let aws = Aws::for_lambda_from(|k| match k {
            "AWS_REGION" => Some("us-east-1".into()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9".into()),
            "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("test".into()),
            _ => None,
        })
        .unwrap();
        let secret = "a-local-secret-of-enough-bytes";
        let s = link_secret_from(&aws, env(&[(SECRET_VAR, secret)]))
            .await
            .unwrap();
        assert!(!format!("{s:?}").contains(secret));
        let err = link_secret_from(&aws, env(&[(SECRET_VAR, "short")]))
            .await
            .unwrap_err();
        assert!(err.contains(SECRET_VAR) && !err.contains("short"), "{err}");
        let err = link_secret_from(&aws, env(&[])).await.unwrap_err();
        assert!(
            err.contains(SECRET_VAR) && err.contains(PARAMETER_VAR),
            "{err}"
        );
    }
}
