//! A store's suppression list (`SUPP#<email>`, first entry kept) and its sending reputation, one
//! counter item per day (`REP#<YYYY-MM-DD>`, added to atomically by UpdateItem `ADD`, so concurrent
//! senders and event handlers never lose a count).

use crate::keys::{store_pk, PK, SK};
use crate::table::{from_item, n, s, sort_key, to_item, Range, Table};
use async_trait::async_trait;
use chrono::NaiveDate;
use retention_app::ports::{Reputation, Suppressions};
use retention_aws::AwsError;
use retention_core::email::reputation::DayCounts;
use retention_core::email::suppression::Suppression;
use retention_core::{Email, StoreId};
use serde::{Deserialize, Serialize};

pub const SUPPRESSION_PREFIX: &str = "SUPP#";
pub const REPUTATION_PREFIX: &str = "REP#";

pub fn suppression_sk(email: &Email) -> String {
    format!("{SUPPRESSION_PREFIX}{}", email.as_str())
}
pub fn reputation_sk(day: NaiveDate) -> String {
    format!("{REPUTATION_PREFIX}{}", day.format("%Y-%m-%d"))
}

#[derive(Serialize, Deserialize)]
struct SuppressionItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    entry: Suppression,
}

#[async_trait]
impl Suppressions for Table {
    async fn suppression(
        &self,
        store: &StoreId,
        email: &Email,
    ) -> retention_app::Result<Option<Suppression>> {
        let sk = suppression_sk(email);
        Ok(match self.get(store, &sk, "reading a suppression").await? {
            None => None,
            Some(item) => Some(from_item::<SuppressionItem>(&sk, item)?.entry),
        })
    }

    async fn suppress(&self, store: &StoreId, entry: &Suppression) -> retention_app::Result<bool> {
        let sk = suppression_sk(&entry.email);
        let item = to_item(
            &sk,
            SuppressionItem {
                pk: store_pk(store),
                sk: sk.clone(),
                entry: entry.clone(),
            },
        )?;
        Ok(self.put_new(item, "suppressing an address").await?)
    }

    async fn suppressions(&self, store: &StoreId) -> retention_app::Result<Vec<Suppression>> {
        let items: Vec<SuppressionItem> = self
            .list(store, SUPPRESSION_PREFIX, "listing suppressions")
            .await?;
        Ok(items.into_iter().map(|i| i.entry).collect())
    }
}

#[derive(Deserialize)]
struct DayItem {
    #[serde(default)]
    sent: u64,
    #[serde(default)]
    bounced: u64,
    #[serde(default)]
    complained: u64,
    #[serde(default)]
    transient: u64,
}

#[async_trait]
impl Reputation for Table {
    async fn add(
        &self,
        store: &StoreId,
        day: NaiveDate,
        counts: &DayCounts,
    ) -> retention_app::Result<()> {
        let fields = [
            ("sent", counts.sent),
            ("bounced", counts.bounced),
            ("complained", counts.complained),
            ("transient", counts.transient),
        ];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(PK, s(store_pk(store)))
            .key(SK, s(reputation_sk(day)));
        let mut adds = Vec::new();
        for (name, v) in fields.into_iter().filter(|(_, v)| *v > 0) {
            adds.push(format!("#{name} :{name}"));
            req = req
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), n(v as i64));
        }
        if adds.is_empty() {
            return Ok(());
        }
        self.count();
        req.update_expression(format!("ADD {}", adds.join(", ")))
            .send()
            .await
            .map_err(|e| AwsError::sdk("counting sends and bounces", e))?;
        Ok(())
    }

    async fn window(
        &self,
        store: &StoreId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> retention_app::Result<DayCounts> {
        let (lo, hi) = (reputation_sk(from), reputation_sk(to));
        let items = self
            .query_all(
                store,
                &Range::Between(&lo, &hi),
                None,
                "reading the sending reputation",
            )
            .await?;
        let mut total = DayCounts::default();
        for item in items {
            let sk = sort_key(&item).to_string();
            let d: DayItem = from_item(&sk, item)?;
            total.add(&DayCounts {
                sent: d.sent,
                bounced: d.bounced,
                complained: d.complained,
                transient: d.transient,
            });
        }
        Ok(total)
    }
}
