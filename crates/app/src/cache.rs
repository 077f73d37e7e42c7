//! The one TTL cache of a warm function instance: store registrations, platform clients.

use crate::error::Result;
use crate::ports::StoreDirectory;
use async_trait::async_trait;
use retention_core::store::Store;
use retention_core::StoreId;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Values kept for `ttl` after they were fetched. Cheap to share; a poisoned lock is a bug.
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }
    /// The value if it is fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().expect("ttl cache");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }
    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        self.entries
            .lock()
            .expect("ttl cache")
            .insert(key, (Instant::now(), value));
    }
    pub fn forget(&self, key: &K) {
        self.entries.lock().expect("ttl cache").remove(key);
    }
    /// The fresh value, or `fetch`'s (kept when `keep` says so).
    pub async fn get_or_fetch<F, Fut, E>(
        &self,
        key: &K,
        keep: impl Fn(&V) -> bool,
        fetch: F,
    ) -> std::result::Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<V, E>>,
    {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let v = fetch().await?;
        if keep(&v) {
            self.put(key.clone(), v.clone());
        }
        Ok(v)
    }
}

/// Store registrations as a warm instance keeps them: read at most once per `ttl` and store, so a
/// webhook or a coupon issue costs no read for its store. `ttl` bounds how long a removed secret
/// keeps verifying, or a removed store answering, on a warm instance. Unknown stores are not kept.
pub struct StoreCache {
    inner: Arc<dyn StoreDirectory>,
    cache: TtlCache<StoreId, Option<Store>>,
}

impl StoreCache {
    pub fn new(inner: Arc<dyn StoreDirectory>, ttl: Duration) -> Self {
        Self {
            inner,
            cache: TtlCache::new(ttl),
        }
    }
    /// Forgets the store (after `shop/redact` deleted it).
    pub fn forget(&self, id: &StoreId) {
        self.cache.forget(id);
    }
}

#[async_trait]
impl StoreDirectory for StoreCache {
    async fn store(&self, id: &StoreId) -> Result<Option<Store>> {
        self.cache
            .get_or_fetch(id, Option::is_some, || self.inner.store(id))
            .await
    }
}
