//! Store registrations: `PK=STORE#<id>, SK=META`.

use crate::error::AwsError;
use crate::keys::{store_pk, META, PK, SK};
use crate::profiles::Table;
use aws_sdk_dynamodb::types::AttributeValue;
use retention_core::store::Store;
use retention_core::StoreId;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct StoreItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    /// Bumped on every write, so two operators editing one store cannot overwrite each other.
    rev: u64,
    #[serde(flatten)]
    store: Store,
}

impl Table {
    pub async fn get_store(&self, id: &StoreId) -> Result<Option<(Store, u64)>, AwsError> {
        self.count();
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(PK, AttributeValue::S(store_pk(id)))
            .key(SK, AttributeValue::S(META.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::sdk("reading the store", e))?;
        match out.item {
            None => Ok(None),
            Some(item) => {
                let parsed: StoreItem = serde_dynamo::from_item(item)
                    .map_err(|e| AwsError::corrupt(store_pk(id), e))?;
                Ok(Some((parsed.store, parsed.rev)))
            }
        }
    }

    /// Writes a store, provided nobody else wrote it since revision `rev` was read (0: it must be new).
    /// Returns false when it lost that race.
    pub async fn put_store(&self, store: &Store, rev: u64) -> Result<bool, AwsError> {
        let item = StoreItem {
            pk: store_pk(&store.id),
            sk: META.into(),
            rev: rev + 1,
            store: store.clone(),
        };
        let item =
            serde_dynamo::to_item(item).map_err(|e| AwsError::corrupt(store_pk(&store.id), e))?;
        let mut req = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item));
        req = if rev == 0 {
            req.condition_expression("attribute_not_exists(PK)")
        } else {
            req.condition_expression("rev = :rev")
                .expression_attribute_values(":rev", AttributeValue::N(rev.to_string()))
        };
        self.count();
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsError::sdk("writing the store", e)),
        }
    }
}

/// Store registrations as a warm function instance keeps them: read from the table at most once per
/// `ttl` and store, so that a webhook or a coupon issue costs no read for its store. `ttl` bounds how
/// long a removed secret keeps verifying, or a removed store answering, on a warm instance.
pub struct StoreCache {
    ttl: std::time::Duration,
    entries: std::sync::Mutex<std::collections::HashMap<StoreId, (std::time::Instant, Store)>>,
}

impl StoreCache {
    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            entries: Default::default(),
        }
    }

    /// The store, from the cache while it is fresh, else from `table`; unknown stores are not kept.
    pub async fn get(&self, table: &Table, id: &StoreId) -> Result<Option<Store>, AwsError> {
        if let Some((at, store)) = self.entries.lock().expect("store cache").get(id) {
            if at.elapsed() < self.ttl {
                return Ok(Some(store.clone()));
            }
        }
        let found = table.get_store(id).await?.map(|(s, _)| s);
        if let Some(store) = &found {
            self.entries
                .lock()
                .expect("store cache")
                .insert(id.clone(), (std::time::Instant::now(), store.clone()));
        }
        Ok(found)
    }

    /// Forgets the store (after `shop/redact` deleted it).
    pub fn forget(&self, id: &StoreId) {
        self.entries.lock().expect("store cache").remove(id);
    }
}
