//! One platform client per store and warm instance, built from the store's credentials (the
//! `PlatformSecrets` port) the first time it is needed, for coupons and consent alike.

use crate::{Credentials, PlatformClient, PlatformError, RetryPolicy};
use retention_app::ports::PlatformSecrets;
use retention_app::TtlCache;
use retention_core::StoreId;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct StoreClients {
    secrets: Arc<dyn PlatformSecrets>,
    retry: RetryPolicy,
    /// `None` cached too: a store without credentials costs one SSM read per TTL, not per call.
    clients: TtlCache<StoreId, Option<Arc<PlatformClient>>>,
}

impl StoreClients {
    /// `ttl` bounds how long a warm instance keeps a store's client (and so its credentials).
    pub(crate) fn new(
        secrets: Arc<dyn PlatformSecrets>,
        retry: RetryPolicy,
        ttl: Duration,
    ) -> Self {
        Self {
            secrets,
            retry,
            clients: TtlCache::new(ttl),
        }
    }

    /// The store's client; `Ok(None)` when it has no credentials stored.
    pub(crate) async fn get(&self, store: &StoreId) -> Result<Option<Arc<PlatformClient>>, String> {
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

    /// Notes that a call with the store's client failed with `e`: a rejected token drops the
    /// client, so a rotated one is read again next time instead of the dead one kept.
    pub(crate) fn failed(&self, store: &StoreId, e: &PlatformError) {
        if matches!(e, PlatformError::Unauthorized(_)) {
            self.clients.forget(store);
        }
    }
}
