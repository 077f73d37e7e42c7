//! The `Checkouts` port: a new coupon is created on the store's own platform, with the store's
//! credentials from the `PlatformSecrets` port, one client per store and warm instance.

use crate::{Credentials, PlatformClient, PlatformError, RetryPolicy};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use retention_app::ports::{Checkouts, PlatformSecrets};
use retention_app::TtlCache;
use retention_core::coupon::{CheckoutSync, Coupon};
use retention_core::store::Store;
use retention_core::StoreId;
use std::sync::Arc;
use std::time::Duration;

/// Creates coupons on Shopify and WooCommerce checkouts.
pub struct PlatformCheckouts {
    secrets: Arc<dyn PlatformSecrets>,
    retry: RetryPolicy,
    /// `None` cached too: a store without credentials costs one SSM read per TTL, not per coupon.
    clients: TtlCache<StoreId, Option<Arc<PlatformClient>>>,
}

impl PlatformCheckouts {
    /// `ttl` bounds how long a warm instance keeps a store's client (and so its credentials).
    pub fn new(secrets: Arc<dyn PlatformSecrets>, retry: RetryPolicy, ttl: Duration) -> Self {
        Self {
            secrets,
            retry,
            clients: TtlCache::new(ttl),
        }
    }

    async fn client(&self, store: &StoreId) -> Result<Option<Arc<PlatformClient>>, String> {
        self.clients
            .get_or_fetch(
                store,
                |_| true,
                || async {
                    let secret = self
                        .secrets
                        .platform_secret(store)
                        .await
                        .map_err(|e| e.to_string())?;
                    match secret {
                        None => Ok(None),
                        Some(secret) => Ok(Some(Arc::new(PlatformClient::with_retry(
                            Credentials::from_json(&secret).map_err(|e| e.to_string())?,
                            self.retry,
                        )))),
                    }
                },
            )
            .await
    }
}

#[async_trait]
impl Checkouts for PlatformCheckouts {
    async fn create(&self, store: &Store, coupon: &Coupon, now: DateTime<Utc>) -> CheckoutSync {
        let failed = |error: String| {
            tracing::warn!(store = %store.id, code = %coupon.code, error, "coupon not created on the platform");
            CheckoutSync::Failed { error, at: now }
        };
        let client = match self.client(&store.id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return failed(format!(
                    "no {} credentials stored for this store; add them with `retention coupons set-credentials`",
                    store.platform
                ))
            }
            Err(e) => return failed(e),
        };
        match client.create_coupon(coupon).await {
            Ok(created) => CheckoutSync::Created {
                remote_id: created.remote_id,
            },
            Err(e @ PlatformError::Unauthorized(_)) => {
                // A rotated token: read it again next time instead of caching the dead one.
                self.clients.forget(&store.id);
                failed(e.to_string())
            }
            Err(e) => failed(e.to_string()),
        }
    }
}
