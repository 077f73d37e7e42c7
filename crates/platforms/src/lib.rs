//! Creates coupons where the store's customers pay, so its own checkout accepts them: Shopify
//! through the Admin GraphQL API (`discountCodeBasicCreate`, `discountCodeFreeShippingCreate`),
//! WooCommerce through its REST API (`POST /wp-json/wc/v3/coupons`). And tells the platform when a
//! customer unsubscribes through our link, so the store's other tools stop mailing them too
//! (Shopify's `customerEmailMarketingConsentUpdate`, WooCommerce's `PUT /wp-json/wc/v3/customers/<id>`
//! with our consent meta; see [`consent`] and docs/platform-consent.md).
//!
//! Its own crate because it is the only code that speaks HTTP to third parties: `reqwest` stays out
//! of the functions that do not need it. Credentials are `SecretString`s from SSM (see
//! `retention_ssm`) and appear in no log line or error.
//!
//! Rate limits (HTTP 429 with `Retry-After`, Shopify's `THROTTLED` GraphQL error) and server errors
//! are retried with backoff; a bad token, or a request the platform refuses, fails at once with a
//! message the coupon's checkout state keeps.

pub mod checkouts;
mod clients;
pub mod consent;
#[cfg(feature = "mock")]
pub mod mock;
pub mod shopify;
pub mod woocommerce;

pub use checkouts::PlatformCheckouts;
use chrono::{DateTime, Utc};
pub use consent::PlatformConsents;
use retention_core::coupon::Coupon;
use retention_core::CustomerId;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// The Admin API version the Shopify adapter speaks unless the credentials name another.
pub const SHOPIFY_API_VERSION: &str = "2025-01";

/// A store's platform credentials, as stored (JSON) in its SSM parameter.
#[derive(Clone)]
pub enum Credentials {
    Shopify {
        /// `https://<shop>.myshopify.com`
        shop_url: String,
        access_token: SecretString,
        api_version: String,
    },
    Woocommerce {
        /// The site's root, `https://shop.example`
        base_url: String,
        consumer_key: SecretString,
        consumer_secret: SecretString,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Shopify { shop_url, .. } => write!(f, "Shopify({shop_url}, token: …)"),
            Credentials::Woocommerce { base_url, .. } => {
                write!(f, "Woocommerce({base_url}, keys: …)")
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "platform", rename_all = "lowercase")]
enum RawCredentials {
    Shopify {
        shop_url: String,
        access_token: String,
        api_version: Option<String>,
    },
    Woocommerce {
        base_url: String,
        consumer_key: String,
        consumer_secret: String,
    },
}

impl Credentials {
    /// Reads the stored JSON. The error says what is wrong with its shape, never what it holds.
    pub fn from_json(secret: &SecretString) -> Result<Self, PlatformError> {
        let raw: RawCredentials = serde_json::from_str(secret.expose_secret()).map_err(|e| {
            PlatformError::Credentials(format!(
                "not the expected JSON (line {}, column {}; {:?})",
                e.line(),
                e.column(),
                e.classify()
            ))
        })?;
        Ok(match raw {
            RawCredentials::Shopify {
                shop_url,
                access_token,
                api_version,
            } => Credentials::Shopify {
                shop_url: shop_url.trim_end_matches('/').to_string(),
                access_token: access_token.into(),
                api_version: api_version.unwrap_or_else(|| SHOPIFY_API_VERSION.into()),
            },
            RawCredentials::Woocommerce {
                base_url,
                consumer_key,
                consumer_secret,
            } => Credentials::Woocommerce {
                base_url: base_url.trim_end_matches('/').to_string(),
                consumer_key: consumer_key.into(),
                consumer_secret: consumer_secret.into(),
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("the platform rejected the credentials: {0}")]
    Unauthorized(String),
    #[error("still rate-limited after {0} attempts")]
    RateLimited(u32),
    #[error("the platform refused the request: {0}")]
    Rejected(String),
    #[error("the platform failed: {0}")]
    Unavailable(String),
    #[error("platform credentials are unusable: {0}")]
    Credentials(String),
}

/// How hard to try before giving up on a platform.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// The longest single wait, whatever `Retry-After` asks for: a Lambda has a deadline.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt, so a coupon's
    /// failure is recorded before the function's own timeout (29 s) cuts it off mid-way.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            budget: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.base_delay * 2u32.saturating_pow(attempt.saturating_sub(1));
        retry_after.unwrap_or(backoff).min(self.max_delay)
    }
}

/// What one HTTP exchange meant, as the retry loop sees it.
pub(crate) enum Attempt<T> {
    Done(T),
    /// Try again after the platform's `Retry-After`, or the backoff when it gave none.
    Retry {
        after: Option<Duration>,
        rate_limited: bool,
        why: String,
    },
    Fail(PlatformError),
}

impl<T> Attempt<T> {
    /// What a finished exchange's answer comes to; retries and failures pass through unchanged.
    pub(crate) fn then<U>(self, f: impl FnOnce(T) -> Attempt<U>) -> Attempt<U> {
        match self {
            Attempt::Done(t) => f(t),
            Attempt::Retry {
                after,
                rate_limited,
                why,
            } => Attempt::Retry {
                after,
                rate_limited,
                why,
            },
            Attempt::Fail(e) => Attempt::Fail(e),
        }
    }
}

pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// The coupon as the platform knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The platform's id (`gid://shopify/DiscountCodeNode/…`, WooCommerce's numeric id), or
    /// `existing` when the platform already had the code (a retry after a lost answer).
    pub remote_id: String,
}

/// A client for one store's platform. Build it once per store and instance: it holds a pool.
pub struct PlatformClient {
    http: reqwest::Client,
    credentials: Credentials,
    retry: RetryPolicy,
}

impl PlatformClient {
    pub fn new(credentials: Credentials) -> Self {
        Self::with_retry(credentials, RetryPolicy::default())
    }

    pub fn with_retry(credentials: Credentials, retry: RetryPolicy) -> Self {
        // reqwest is built without a crypto provider of its own (`rustls-no-provider`): the process
        // uses ring, as the AWS SDK client does (BENCHMARKS.md, "Deployment artefacts"). Installing
        // it is process-wide and idempotent; an `Err` only means a provider is already there.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(6))
            .user_agent(concat!("retention-engine/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client with these settings always builds");
        Self {
            http,
            credentials,
            retry,
        }
    }

    /// Creates the coupon on the platform: restricted to its customer, limited to its uses, expiring
    /// with it. Creating a code the platform already has counts as success.
    #[tracing::instrument(skip_all, fields(store = %coupon.store, code = %coupon.code))]
    pub async fn create_coupon(&self, coupon: &Coupon) -> Result<Created, PlatformError> {
        self.retrying(|| async {
            match &self.credentials {
                Credentials::Shopify {
                    shop_url,
                    access_token,
                    api_version,
                } => shopify::create(&self.http, shop_url, api_version, access_token, coupon).await,
                Credentials::Woocommerce {
                    base_url,
                    consumer_key,
                    consumer_secret,
                } => {
                    woocommerce::create(&self.http, base_url, consumer_key, consumer_secret, coupon)
                        .await
                }
            }
        })
        .await
    }

    /// Records on the platform that `customer` withdrew their email marketing consent at `at`.
    /// `Ok(false)`: the customer has no account there to record it on (a guest checkout).
    /// Saying it again is harmless: the platform keeps the state it already had.
    #[tracing::instrument(skip_all, fields(customer = %customer))]
    pub async fn unsubscribe(
        &self,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> Result<bool, PlatformError> {
        match &self.credentials {
            Credentials::Shopify {
                shop_url,
                access_token,
                api_version,
            } => {
                let Some(gid) = shopify::customer_gid(customer) else {
                    return Ok(false);
                };
                self.retrying(|| {
                    shopify::unsubscribe(&self.http, shop_url, api_version, access_token, &gid, at)
                })
                .await?;
            }
            Credentials::Woocommerce {
                base_url,
                consumer_key,
                consumer_secret,
            } => {
                let Some(id) = woocommerce::customer_number(customer) else {
                    return Ok(false);
                };
                self.retrying(|| {
                    woocommerce::unsubscribe(
                        &self.http,
                        base_url,
                        consumer_key,
                        consumer_secret,
                        id,
                        at,
                    )
                })
                .await?;
            }
        }
        Ok(true)
    }

    /// Runs one exchange until it is done, fails, or the retry policy gives up.
    async fn retrying<T, F, Fut>(&self, exchange: F) -> Result<T, PlatformError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match exchange().await {
                Attempt::Done(done) => return Ok(done),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry {
                    after,
                    rate_limited,
                    why,
                } => {
                    let wait = self.retry.delay(attempt, after);
                    if attempt >= self.retry.max_attempts
                        || started.elapsed() + wait > self.retry.budget
                    {
                        tracing::warn!(attempt, why, "giving up on the platform");
                        return Err(if rate_limited {
                            PlatformError::RateLimited(attempt)
                        } else {
                            PlatformError::Unavailable(why)
                        });
                    }
                    tracing::info!(attempt, why, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// Sends a request to the platform; a failure to get an answer at all is worth retrying.
pub(crate) async fn send<T>(req: reqwest::RequestBuilder) -> Result<reqwest::Response, Attempt<T>> {
    req.send().await.map_err(|e| Attempt::Retry {
        after: None,
        rate_limited: false,
        why: transport(e),
    })
}

/// Transport errors, without the URL's query or anything a header held.
fn transport(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    format!("{kind}: {}", e.without_url())
}
