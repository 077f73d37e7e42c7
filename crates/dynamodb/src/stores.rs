//! Store registrations: `PK=STORE#<id>, SK=META`.

use crate::keys::{store_pk, META, STORES_GSI};
use crate::table::{from_item, to_item, Table};
use async_trait::async_trait;
use retention_app::ports::{StoreAdmin, StoreDirectory, StoreIndex};
use retention_aws::AwsError;
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
    /// Every store is listed in GSI1 under `STORES` (the scheduled scan's list of stores).
    #[serde(rename = "GSI1PK", default)]
    gsi1pk: String,
    #[serde(rename = "GSI1SK", default)]
    gsi1sk: String,
    #[serde(flatten)]
    store: Store,
}

impl Table {
    pub async fn get_store(&self, id: &StoreId) -> Result<Option<(Store, u64)>, AwsError> {
        match self.get(id, META, "reading the store").await? {
            None => Ok(None),
            Some(item) => {
                let parsed: StoreItem = from_item(&store_pk(id), item)?;
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
            gsi1pk: STORES_GSI.into(),
            gsi1sk: store.id.to_string(),
            store: store.clone(),
        };
        let item = to_item(&store_pk(&store.id), item)?;
        self.put_at_revision(item, rev, "writing the store").await
    }
}

#[async_trait]
impl StoreDirectory for Table {
    async fn store(&self, id: &StoreId) -> retention_app::Result<Option<Store>> {
        Ok(self.get_store(id).await?.map(|(s, _)| s))
    }
}

#[async_trait]
impl StoreAdmin for Table {
    async fn store_at_revision(&self, id: &StoreId) -> retention_app::Result<Option<(Store, u64)>> {
        Ok(self.get_store(id).await?)
    }
    async fn put_store(&self, store: &Store, rev: u64) -> retention_app::Result<bool> {
        Ok(Table::put_store(self, store, rev).await?)
    }
}

#[async_trait]
impl StoreIndex for Table {
    /// One Query of GSI1 under `STORES`, keys only, every page.
    async fn store_ids(&self) -> retention_app::Result<Vec<StoreId>> {
        let items = self
            .query_gsi1(STORES_GSI, Some("GSI1SK"), "listing stores")
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let id = item
                .get("GSI1SK")
                .and_then(|v| v.as_s().ok())
                .and_then(|s| StoreId::parse(s).ok())
                .ok_or_else(|| AwsError::corrupt(STORES_GSI, "a store entry without an id"))?;
            out.push(id);
        }
        Ok(out)
    }
}
