//! The email-events function: what SES says about sent mail, as EventBridge (`aws.ses`, "Email
//! Bounced", "Email Complaint Received", …) or SNS (a batch of records) delivers it. Each record is
//! read by [`retention_core::email::feedback`] and recorded by [`retention_app::feedback::record`]:
//! a permanent bounce or a complaint suppresses the address for its store (the store's list is the
//! authority; SES's account list gets it too, and a failure there is only logged), every bounce and
//! complaint counts once on the store's day, and a store whose window now crosses the pause rule is
//! logged with the reason. The email-sender then skips marketing sends for that store until its
//! window recovers, with the same rule and reason (`retention email status` shows it).
//!
//! A record that is not ours (no `store` tag: an identity notification, another sender's mail) or
//! names an unregistered store is logged and ignored; the invocation succeeds. A malformed event
//! fails it with an error naming the field. A port failure fails it too, so Lambda's retry (or SNS's)
//! redelivers the whole event: every record is idempotent, so nothing counts twice.

use retention_app::feedback::{record, FeedbackPorts, Recorded};
use retention_app::ports::AccountSuppression;
use retention_app::StoreCache;
use retention_core::email::feedback::{parse_event, Notice};
use retention_core::email::reputation::ReputationPolicy;
use retention_function::{chain, system_clock, Clock};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a warm instance keeps a store's registration (its time zone decides the day counted).
const STORE_TTL: Duration = Duration::from_secs(30);

/// Every port of the function on the one table, and SES's account list when given: the wiring
/// `main.rs` uses and the one tests/it/infra.rs can hold against the role.
pub fn ports(
    table: Arc<retention_dynamodb::Table>,
    account: Option<Arc<dyn AccountSuppression>>,
) -> FeedbackPorts {
    FeedbackPorts {
        stores: Arc::new(StoreCache::new(table.clone(), STORE_TTL)),
        suppressions: table.clone(),
        reputation: table.clone(),
        seen: table,
        account,
    }
}

/// The pause rule with the deployment's settings: `RETENTION_PAUSE_AT_PERCENT` (pause at this
/// percentage of SES's review thresholds, default 50) and `RETENTION_REPUTATION_WINDOW_DAYS`
/// (default 14). A bad value stops the instance at init with its name.
pub fn policy_from_env() -> Result<ReputationPolicy, String> {
    ReputationPolicy::from_lookup(|k| std::env::var(k).ok())
}

/// Everything the handler needs, built once per instance.
pub struct App {
    ports: FeedbackPorts,
    policy: ReputationPolicy,
    clock: Clock,
}

impl App {
    pub fn new(ports: FeedbackPorts, policy: ReputationPolicy) -> Self {
        Self {
            ports,
            policy,
            clock: system_clock(),
        }
    }
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One event: an EventBridge event or an SNS batch. The answer says, per record, what was done
/// (counts, never addresses).
pub async fn handle(app: &App, event: Value) -> Result<Value, Error> {
    let notices = parse_event(&event).map_err(|e| {
        tracing::error!(target: "email", error = %e, "an SES event that cannot be read");
        format!("SES event: {e}")
    })?;
    let now = (app.clock)();
    let mut records = Vec::with_capacity(notices.len());
    for notice in notices {
        match notice {
            Notice::Ignored(why) => {
                tracing::info!(target: "email", reason = %why, "ignored an SES event");
                records.push(json!({ "ignored": why }));
            }
            Notice::Feedback(f) => {
                let r: Recorded = record(&app.ports, &app.policy, &f, now)
                    .await
                    .map_err(|e| {
                        let text = chain(&e);
                        tracing::error!(target: "email", store = %f.store, error = %text, "recording SES feedback failed");
                        text
                    })?;
                records.push(json!({
                    "store": f.store,
                    "kind": f.kind.name(),
                    "ses_message_id": f.ses_message_id,
                    "recipients": f.recipients.len(),
                    "suppressed": r.suppressed.len(),
                    "already_suppressed": r.already_suppressed,
                    "counted": r.counted,
                    "duplicates": r.duplicates,
                    "ignored": r.ignored,
                    "paused": r.paused,
                }));
            }
        }
    }
    Ok(json!({ "records": records }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use retention_app::memory::Memory;
    use retention_app::ports::{Reputation, Suppressions};
    use retention_core::store::Store;
    use retention_core::webhook::Platform;
    use retention_core::StoreId;

    fn app() -> (Arc<Memory>, App) {
        let m = Arc::new(Memory::new());
        m.add_store(Store {
            id: StoreId::parse("demo-shop").unwrap(),
            platform: Platform::Shopify,
            webhook_secrets: vec!["s".into()],
            name: None,
            from_email: None,
            timezone: None,
            currency: None,
            mail: Default::default(),
        });
        let ports = FeedbackPorts {
            stores: m.clone(),
            suppressions: m.clone(),
            reputation: m.clone(),
            seen: m.clone(),
            account: None,
        };
        let now = "2026-12-04T12:00:00Z".parse().unwrap();
        let app = App::new(ports, ReputationPolicy::default())
            .with_clock(retention_function::fixed_clock(now));
        (m, app)
    }

    fn record(kind: &str, id: &str, to: &str, store: &str) -> Value {
        let mut r = json!({
            "eventType": kind,
            "mail": {"timestamp": "2026-12-04T10:00:00Z", "messageId": id,
                     "destination": [to], "tags": {"store": [store], "message": ["m-1"]}},
        });
        match kind {
            "Bounce" => {
                r["bounce"] = json!({"bounceType": "Permanent", "bounceSubType": "General",
                    "bouncedRecipients": [{"emailAddress": to}], "timestamp": "2026-12-04T10:00:01Z"})
            }
            _ => {
                r["complaint"] = json!({"complainedRecipients": [{"emailAddress": to}],
                    "timestamp": "2026-12-04T10:00:01Z"})
            }
        }
        r
    }

    fn sns(records: &[Value]) -> Value {
        json!({"Records": records.iter().map(|r| json!({
            "EventSource": "aws:sns", "EventVersion": "1.0",
            "Sns": {"Type": "Notification", "Message": r.to_string()}})).collect::<Vec<_>>()})
    }

    #[tokio::test]
    async fn an_sns_batch_records_each_record_once() {
        let (m, app) = app();
        let batch = sns(&[
            record("Bounce", "ses-1", "a@example.com", "demo-shop"),
            record("Complaint", "ses-2", "b@example.com", "demo-shop"),
            record("Bounce", "ses-3", "c@example.com", "elsewhere"),
        ]);
        let out = handle(&app, batch.clone()).await.unwrap();
        let rs = out["records"].as_array().unwrap();
        assert_eq!(rs.len(), 3);
        assert_eq!(rs[0]["suppressed"], 1);
        assert_eq!(rs[1]["counted"]["complained"], 1);
        assert_eq!(rs[2]["ignored"], "no store elsewhere");
        let store = StoreId::parse("demo-shop").unwrap();
        assert_eq!(m.suppressions(&store).await.unwrap().len(), 2);
        // SNS delivers at least once: the same batch again changes nothing.
        let again = handle(&app, batch).await.unwrap();
        assert_eq!(again["records"][0]["duplicates"], 1);
        assert_eq!(again["records"][1]["duplicates"], 1);
        let day = "2026-12-04".parse().unwrap();
        let w = m.window(&store, day, day).await.unwrap();
        assert_eq!((w.bounced, w.complained), (1, 1));
    }

    #[tokio::test]
    async fn a_malformed_event_fails_naming_the_field_and_writes_nothing() {
        let (m, app) = app();
        let mut bad = record("Bounce", "ses-1", "a@example.com", "demo-shop");
        bad["bounce"]["bouncedRecipients"] = json!("a@example.com");
        let event = json!({"source": "aws.ses", "detail-type": "Email Bounced", "detail": bad});
        let e = handle(&app, event).await.unwrap_err().to_string();
        assert!(
            e.contains("`detail.bounce.bouncedRecipients` is invalid"),
            "{e}"
        );
        let store = StoreId::parse("demo-shop").unwrap();
        assert!(m.suppressions(&store).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_event_without_a_store_tag_is_answered_and_ignored() {
        let (_, app) = app();
        let mut r = record("Bounce", "ses-1", "a@example.com", "demo-shop");
        r["mail"]["tags"] = json!({});
        let out = handle(&app, sns(&[r])).await.unwrap();
        assert!(out["records"][0]["ignored"]
            .as_str()
            .unwrap()
            .contains("without a `store` tag"));
    }
}
