//! The email-sender function: every minute (an EventBridge schedule) it drains what is due in every
//! store's outbox ([`retention_app::mail::Sender::drain_all`]): consent, suppression, the
//! reputation pause, caps and quiet hours decided per message at send time, every instance paced
//! together to SES's `MaxSendRate` through shared slots, each message sent at most once.
//!
//! Why a scheduled drain and not an SQS trigger: quiet hours, caps and due times make "what is due
//! now" the question anyway, the outbox is already a durable queue (a second queue would be a second
//! copy to keep in step), and a schedule keeps the number of concurrent senders, and so the pace,
//! small and predictable. A scheduled event whose `detail` names a `store_id` (and optionally `now`,
//! RFC 3339) drains that store only: what the demo, the tests and `retention email send` do.

use chrono::{DateTime, Utc};
use retention_app::mail::{Sender, SenderConfig, SenderPorts};
use retention_app::ports::{Compose, Mailer, StoreIndex};
use retention_core::email::reputation::ReputationPolicy;
use retention_core::StoreId;
use retention_function::{chain, system_clock, Clock};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Every port of the sender on the one table, SES and the composer: the wiring `main.rs` and
/// `retention email send` use, and the one tests/it/infra.rs holds against the role.
pub fn ports(
    table: Arc<retention_dynamodb::Table>,
    mailer: Arc<dyn Mailer>,
    compose: Arc<dyn Compose>,
) -> SenderPorts {
    SenderPorts {
        stores: table.clone(),
        customers: table.clone(),
        outbox: table.clone(),
        history: table.clone(),
        suppressions: table.clone(),
        reputation: table.clone(),
        pacer: table,
        mailer,
        compose,
    }
}

/// The sender's settings from the environment: `RETENTION_SEND_RATE` (emails per second when
/// neither SES nor the store says; default 1), `RETENTION_SEND_SECONDS` (stop starting batches
/// after this long; default 50, under the function's 60 s timeout), and the reputation pause
/// (`RETENTION_PAUSE_AT_PERCENT`, `RETENTION_REPUTATION_WINDOW_DAYS`: the email-events function and
/// `retention email status` read the same, so the pause they report is the one applied here; a bad
/// value is an error naming it).
pub fn config(links: retention_ssm::LinkConfig) -> Result<SenderConfig, String> {
    let mut c = SenderConfig::new(links.secret, links.public_url);
    c.reputation = ReputationPolicy::from_lookup(|k| std::env::var(k).ok())?;
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(r) = var("RETENTION_SEND_RATE").filter(|r| *r > 0) {
        c.default_rate = r.min(u64::from(u32::MAX)) as u32;
    }
    if let Some(s) = var("RETENTION_SEND_SECONDS").filter(|s| *s > 0) {
        c.max_run = std::time::Duration::from_secs(s);
    }
    Ok(c)
}

/// Everything the handler needs, built once per instance.
pub struct App {
    sender: Sender,
    index: Arc<dyn StoreIndex>,
    clock: Clock,
}

impl App {
    pub fn new(sender: Sender, index: Arc<dyn StoreIndex>) -> Self {
        Self {
            sender,
            index,
            clock: system_clock(),
        }
    }
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    store_id: Option<StoreId>,
    now: Option<DateTime<Utc>>,
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One scheduled drain. An error (DynamoDB unreachable, say) fails the invocation; the next minute's
/// drain picks up where this one stopped, since every message's state is in the outbox.
pub async fn handle(app: &App, event: Value) -> Result<Value, Error> {
    if event.get("detail-type").and_then(Value::as_str) != Some("Scheduled Event") {
        tracing::warn!(target: "email", "ignored an event that is not a schedule");
        return Ok(json!({ "ignored": "not a scheduled event" }));
    }
    let target: Target = match event.get("detail") {
        None | Some(Value::Null) => Target::default(),
        Some(Value::Object(m)) if m.is_empty() => Target::default(),
        Some(d) => serde_json::from_value(d.clone())
            .map_err(|e| format!("the schedule's detail: {e} (expected store_id, now)"))?,
    };
    let now = target.now.unwrap_or_else(|| (app.clock)());
    let stores = match target.store_id {
        Some(s) => vec![s],
        None => app.index.store_ids().await.map_err(|e| chain(&e))?,
    };
    let reports = app
        .sender
        .drain_all(&stores, now)
        .await
        .map_err(|e| chain(&e))?;
    let answer = json!({ "now": now, "stores": reports });
    tracing::info!(target: "email", report = %answer, "drained");
    Ok(answer)
}
