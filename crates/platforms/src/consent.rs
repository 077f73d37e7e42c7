//! The `PlatformConsent` port: an unsubscribe made through our link is recorded on the store's own
//! platform too, so its other tools (Shopify Email, a newsletter plugin) stop mailing the customer.
//! Best effort and bounded: the customer's page waits for it, so the retry policy is short
//! ([`PAGE_RETRY`]), and a failure is logged and answered as [`ConsentSync::Failed`] while the
//! withdrawal in our table stands.

use crate::clients::StoreClients;
use crate::RetryPolicy;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use retention_app::ports::{ConsentSync, PlatformConsent, PlatformSecrets};
use retention_core::store::Store;
use retention_core::CustomerId;
use std::sync::Arc;
use std::time::Duration;

/// A customer's click waits for the platform: three tries within about three seconds, well inside
/// the function's 10 s timeout even when an attempt runs into the client's own 6 s timeout.
pub const PAGE_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(1),
    budget: Duration::from_secs(3),
};

/// Tells Shopify and WooCommerce stores that a customer unsubscribed.
pub struct PlatformConsents {
    clients: StoreClients,
}

impl PlatformConsents {
    pub fn new(secrets: Arc<dyn PlatformSecrets>, retry: RetryPolicy, ttl: Duration) -> Self {
        Self {
            clients: StoreClients::new(secrets, retry, ttl),
        }
    }
}

#[async_trait]
impl PlatformConsent for PlatformConsents {
    async fn unsubscribed(
        &self,
        store: &Store,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> ConsentSync {
        let failed = |error: String| {
            tracing::warn!(store = %store.id, customer = %customer, error, "unsubscribe not recorded on the platform");
            ConsentSync::Failed(error)
        };
        let client = match self.clients.get(&store.id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return ConsentSync::Skipped(format!(
                    "no {} credentials stored for this store",
                    store.platform
                ))
            }
            Err(e) => return failed(e),
        };
        match client.unsubscribe(customer, at).await {
            Ok(true) => ConsentSync::Sent,
            Ok(false) => ConsentSync::Skipped("a guest, with no account on the platform".into()),
            Err(e) => {
                self.clients.failed(&store.id, &e);
                failed(e.to_string())
            }
        }
    }
}
