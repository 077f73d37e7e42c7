//! The `Checkouts` port: a new coupon is created on the store's own platform, with the store's
//! credentials from the `PlatformSecrets` port, one client per store and warm instance.

use crate::clients::StoreClients;
use crate::RetryPolicy;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use retention_app::ports::{Checkouts, PlatformSecrets};
use retention_core::coupon::{CheckoutSync, Coupon};
use retention_core::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Creates coupons on Shopify and WooCommerce checkouts.
pub struct PlatformCheckouts {
    clients: StoreClients,
}

impl PlatformCheckouts {
    /// `ttl` bounds how long a warm instance keeps a store's client (and so its credentials).
    pub fn new(secrets: Arc<dyn PlatformSecrets>, retry: RetryPolicy, ttl: Duration) -> Self {
        Self {
            clients: StoreClients::new(secrets, retry, ttl),
        }
    }
}

#[async_trait]
impl Checkouts for PlatformCheckouts {
    async fn create(&self, store: &Store, coupon: &Coupon, now: DateTime<Utc>) -> CheckoutSync {
        let failed = |error: String| {
            tracing::warn!(store = %store.id, code = %coupon.code, error, "coupon not created on the platform");
            CheckoutSync::Failed { error, at: now }
        };
        let client = match self.clients.get(&store.id).await {
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
            Err(e) => {
                self.clients.failed(&store.id, &e);
                failed(e.to_string())
            }
        }
    }
}
