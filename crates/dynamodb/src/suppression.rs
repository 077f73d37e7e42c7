//! A store's suppression list (`SUPP#<email>`, first entry kept) and its sending reputation, one
//! counter item per day (`REP#<YYYY-MM-DD>`, added to atomically by UpdateItem `ADD`, so concurrent
//! senders and event handlers never lose a count), and the markers that make SES feedback count once
//! (`FB#…`, written in the same transaction as the count).

use crate::keys::{store_pk, PK, SK};
use crate::table::{from_item, n, put, s, sort_key, to_item, Range, Table, Tx};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};
use retention_app::ports::{FeedbackSeen, Reputation, Suppressions};
use retention_aws::AwsError;
use retention_core::email::reputation::DayCounts;
use retention_core::email::suppression::Suppression;
use retention_core::{Email, StoreId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const SUPPRESSION_PREFIX: &str = "SUPP#";
pub const REPUTATION_PREFIX: &str = "REP#";
/// A piece of SES feedback counted: `FB#<ses message id>#<kind>#<email>`.
pub const FEEDBACK_PREFIX: &str = "FB#";

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

/// `ADD` of the non-zero counts (`None`: nothing to add): one expression for the sender's
/// UpdateItem and for the feedback transaction.
struct CountsAdd {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn counts_add(counts: &DayCounts) -> Option<CountsAdd> {
    let fields = [
        ("sent", counts.sent),
        ("bounced", counts.bounced),
        ("complained", counts.complained),
        ("transient", counts.transient),
    ];
    let mut out = CountsAdd {
        expression: String::new(),
        names: HashMap::new(),
        values: HashMap::new(),
    };
    let mut adds = Vec::new();
    for (name, v) in fields.into_iter().filter(|(_, v)| *v > 0) {
        adds.push(format!("#{name} :{name}"));
        out.names.insert(format!("#{name}"), name.to_owned());
        out.values.insert(format!(":{name}"), n(v as i64));
    }
    if adds.is_empty() {
        return None;
    }
    out.expression = format!("ADD {}", adds.join(", "));
    Some(out)
}

#[async_trait]
impl Reputation for Table {
    async fn add(
        &self,
        store: &StoreId,
        day: NaiveDate,
        counts: &DayCounts,
    ) -> retention_app::Result<()> {
        let Some(add) = counts_add(counts) else {
            return Ok(());
        };
        self.count();
        self.client
            .update_item()
            .table_name(&self.name)
            .key(PK, s(store_pk(store)))
            .key(SK, s(reputation_sk(day)))
            .update_expression(add.expression)
            .set_expression_attribute_names(Some(add.names))
            .set_expression_attribute_values(Some(add.values))
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

/// How long a feedback marker is kept: SES and SNS redeliver within hours, EventBridge's retries
/// within a day; DynamoDB's TTL removes it afterwards.
const FEEDBACK_TTL_SECS: i64 = 30 * 24 * 3600;

pub fn feedback_sk(key: &str) -> String {
    format!("{FEEDBACK_PREFIX}{key}")
}

#[derive(Serialize)]
struct FeedbackMarker {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    day: String,
    at: DateTime<Utc>,
    ttl: i64,
}

#[async_trait]
impl FeedbackSeen for Table {
    /// One TransactWriteItems: the marker's Put (`attribute_not_exists(PK)`) and the day's `ADD`.
    async fn count_once(
        &self,
        store: &StoreId,
        key: &str,
        day: NaiveDate,
        counts: &DayCounts,
        at: DateTime<Utc>,
    ) -> retention_app::Result<bool> {
        let sk = feedback_sk(key);
        let marker = to_item(
            &sk,
            FeedbackMarker {
                pk: store_pk(store),
                sk: sk.clone(),
                day: day.format("%Y-%m-%d").to_string(),
                at,
                ttl: at.timestamp() + FEEDBACK_TTL_SECS,
            },
        )?;
        let mut items = vec![put(&self.name, marker, Some("attribute_not_exists(PK)"))?];
        if let Some(add) = counts_add(counts) {
            let update = Update::builder()
                .table_name(&self.name)
                .key(PK, s(store_pk(store)))
                .key(SK, s(reputation_sk(day)))
                .update_expression(add.expression)
                .set_expression_attribute_names(Some(add.names))
                .set_expression_attribute_values(Some(add.values))
                .build()
                .map_err(|e| AwsError::build("building the feedback count", e))?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        const ATTEMPTS: u32 = 4;
        for attempt in 0..ATTEMPTS {
            match self
                .transact("counting SES feedback", items.clone())
                .await?
            {
                Tx::Committed => return Ok(true),
                tx if tx.failed(0) => return Ok(false),
                tx if tx.conflicted() => {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
                Tx::Cancelled(reasons) => {
                    return Err(AwsError::corrupt(
                        sk,
                        format!("the feedback transaction was cancelled: {reasons:?}"),
                    )
                    .into())
                }
            }
        }
        Err(retention_app::PortError::contention(
            "counting SES feedback",
            ATTEMPTS,
        ))
    }
}
