//! The email sender's items: the outbox (`OUT#<kind>#<key>#<customer>`, listed by due time through a
//! sparse GSI1 entry while pending), each customer's marketing sends for the frequency cap
//! (`MAIL#<customer>`), and the shared send slots (`PK=PACE, SK=<pace>`).

use crate::keys::{store_pk, GSI1, GSI1PK, GSI1SK, PK, SK};
use crate::table::{condition_held, from_item, n, s, sort_key, to_item, Table};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use retention_app::ports::{Outbox, Pacer, SendHistory};
use retention_aws::AwsError;
use retention_core::email::outbox::{OutboxKey, OutboxMessage, Status};
use retention_core::{CustomerId, StoreId};
use serde::{Deserialize, Serialize};

pub const OUTBOX_PREFIX: &str = "OUT#";
pub const HISTORY_PREFIX: &str = "MAIL#";
/// The partition of the send slots: not a store's (the account's rate is shared by all stores).
pub const PACE_PK: &str = "PACE";

pub fn outbox_sk(key: &OutboxKey) -> String {
    format!("{OUTBOX_PREFIX}{}#{}#{}", key.kind, key.key, key.customer)
}
/// GSI1 partition of a store's pending messages.
pub fn due_gsi(store: &StoreId) -> String {
    format!("STORE#{store}#DUE")
}
/// Sorts by due time (milliseconds, fixed width), then key.
fn due_sort(due: DateTime<Utc>, sk: &str) -> String {
    format!("{:015}#{sk}", due.timestamp_millis().max(0))
}

#[derive(Serialize, Deserialize)]
struct OutboxItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    #[serde(flatten)]
    message: OutboxMessage,
}

impl OutboxItem {
    fn of(m: &OutboxMessage) -> Self {
        let sk = outbox_sk(&m.key);
        let pending = m.status.is_pending();
        Self {
            pk: store_pk(&m.store),
            gsi1pk: pending.then(|| due_gsi(&m.store)),
            gsi1sk: pending.then(|| due_sort(m.listed_at(), &sk)),
            sk,
            message: m.clone(),
        }
    }
}

fn status_value(st: Status) -> Result<aws_sdk_dynamodb::types::AttributeValue, AwsError> {
    crate::table::to_av(&st)
}

#[async_trait]
impl Outbox for Table {
    async fn enqueue(&self, m: &OutboxMessage) -> retention_app::Result<bool> {
        let sk = outbox_sk(&m.key);
        let item = to_item(&sk, OutboxItem::of(m))?;
        Ok(self.put_new(item, "queuing an email").await?)
    }

    async fn message(
        &self,
        store: &StoreId,
        key: &OutboxKey,
    ) -> retention_app::Result<Option<OutboxMessage>> {
        let sk = outbox_sk(key);
        Ok(
            match self.get(store, &sk, "reading an outbox message").await? {
                None => None,
                Some(item) => Some(from_item::<OutboxItem>(&sk, item)?.message),
            },
        )
    }

    async fn due(
        &self,
        store: &StoreId,
        now: DateTime<Utc>,
        limit: usize,
    ) -> retention_app::Result<Vec<OutboxMessage>> {
        self.count();
        // `~` sorts after every key character: everything due at or before `now`.
        let upto = format!("{:015}#~", now.timestamp_millis().max(0));
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .index_name(GSI1)
            .key_condition_expression("#g = :g AND #s <= :upto")
            .expression_attribute_names("#g", GSI1PK)
            .expression_attribute_names("#s", GSI1SK)
            .expression_attribute_values(":g", s(due_gsi(store)))
            .expression_attribute_values(":upto", s(upto))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| AwsError::sdk("listing due emails", e))?;
        let mut due = Vec::new();
        for item in out.items.unwrap_or_default() {
            let sk = sort_key(&item).to_string();
            let m = from_item::<OutboxItem>(&sk, item)?.message;
            // The index is eventually consistent: a message just finished may linger in it.
            if m.status.is_pending() && m.listed_at() <= now {
                due.push(m);
            }
        }
        Ok(due)
    }

    async fn transition(
        &self,
        m: &OutboxMessage,
        expected: (Status, DateTime<Utc>),
    ) -> retention_app::Result<bool> {
        let sk = outbox_sk(&m.key);
        let item = to_item(&sk, OutboxItem::of(m))?;
        self.count();
        let sent = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("#st = :st AND #up = :up")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#up", "updated_at")
            .expression_attribute_values(":st", status_value(expected.0)?)
            .expression_attribute_values(":up", crate::table::to_av(&expected.1)?)
            .send()
            .await;
        Ok(condition_held(sent, "moving an outbox message")?)
    }

    async fn messages(&self, store: &StoreId) -> retention_app::Result<Vec<OutboxMessage>> {
        let items: Vec<OutboxItem> = self
            .list(store, OUTBOX_PREFIX, "listing the outbox")
            .await?;
        Ok(items.into_iter().map(|i| i.message).collect())
    }
}

#[derive(Serialize, Deserialize)]
struct HistoryItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    rev: u64,
    sends: Vec<DateTime<Utc>>,
}

fn history_sk(customer: &CustomerId) -> String {
    format!("{HISTORY_PREFIX}{customer}")
}

#[async_trait]
impl SendHistory for Table {
    async fn history(
        &self,
        store: &StoreId,
        customer: &CustomerId,
    ) -> retention_app::Result<(Vec<DateTime<Utc>>, u64)> {
        let sk = history_sk(customer);
        Ok(
            match self.get(store, &sk, "reading a customer's sends").await? {
                None => (vec![], 0),
                Some(item) => {
                    let h: HistoryItem = from_item(&sk, item)?;
                    (h.sends, h.rev)
                }
            },
        )
    }

    async fn put_history(
        &self,
        store: &StoreId,
        customer: &CustomerId,
        history: &[DateTime<Utc>],
        rev: u64,
    ) -> retention_app::Result<bool> {
        let sk = history_sk(customer);
        let item = HistoryItem {
            pk: store_pk(store),
            sk: sk.clone(),
            rev: rev + 1,
            sends: history.to_vec(),
        };
        let item = to_item(&sk, item)?;
        Ok(self
            .put_at_revision(item, rev, "writing a customer's sends")
            .await?)
    }
}

/// A value no other reservation writes: this process, a counter, and the time.
fn reservation_token() -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "{}-{seq}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

#[async_trait]
impl Pacer for Table {
    async fn reserve(
        &self,
        pace: &str,
        count: u32,
        spacing: chrono::Duration,
        now: DateTime<Utc>,
    ) -> retention_app::Result<DateTime<Utc>> {
        let context = "reserving send slots";
        // Each write carries a token of its own: when the SDK retries a put whose answer was lost
        // (a loaded server), the retry fails its condition although the first try landed, and the
        // next read then shows our own token: those slots are ours, not taken by someone else.
        let mut attempted: Option<(String, i64, i64)> = None;
        for _ in 0..50 {
            self.count();
            let got = self
                .client
                .get_item()
                .table_name(&self.name)
                .key(PK, s(PACE_PK))
                .key(SK, s(pace))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| AwsError::sdk(context, e))?;
            let stored: Option<i64> = got
                .item
                .as_ref()
                .and_then(|i| i.get("next"))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok());
            if let Some((token, next, first)) = &attempted {
                let by = got
                    .item
                    .as_ref()
                    .and_then(|i| i.get("by"))
                    .and_then(|v| v.as_s().ok());
                if by == Some(token) && stored == Some(*next) {
                    return Ok(DateTime::from_timestamp_micros(*first).unwrap_or(now));
                }
            }
            let now_us = now.timestamp_micros();
            let first = stored.unwrap_or(now_us).max(now_us);
            let next = first + spacing.num_microseconds().unwrap_or(1_000_000) * i64::from(count);
            let token = reservation_token();
            let mut req = self
                .client
                .put_item()
                .table_name(&self.name)
                .item(PK, s(PACE_PK))
                .item(SK, s(pace))
                .item("next", n(next))
                .item("by", s(token.clone()));
            req = match stored {
                None => req.condition_expression("attribute_not_exists(PK)"),
                Some(old) => req
                    .condition_expression("#n = :old")
                    .expression_attribute_names("#n", "next")
                    .expression_attribute_values(":old", n(old)),
            };
            self.count();
            if condition_held(req.send().await, context)? {
                return Ok(DateTime::from_timestamp_micros(first).unwrap_or(now));
            }
            attempted = Some((token, next, first));
        }
        Err(retention_app::PortError::contention(context, 50))
    }
}
