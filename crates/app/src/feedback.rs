//! Recording what SES says about sent mail ([`retention_core::email::feedback`]): a permanent bounce
//! or a complaint suppresses the address for its store (the store's list is the authority; SES's
//! account list gets it too when the deployment has one), and every bounce and complaint counts on
//! the store's day, once, however often the event is delivered. After counting, the store's rolling
//! window is assessed with the same rule the sender applies before each marketing send
//! ([`ReputationPolicy::assess`]), so the pause and its reason show in the log the moment it begins.
//!
//! Order per recipient: suppress first (itself idempotent: the first entry stands), then count with
//! the marker in one write ([`FeedbackSeen::count_once`]). A failure in between leaves the address
//! suppressed and the count for the redelivery to add; nothing can count twice.

use crate::error::Result;
use crate::ports::{AccountSuppression, FeedbackSeen, Reputation, StoreDirectory, Suppressions};
use chrono::{DateTime, Utc};
use retention_core::email::feedback::Feedback;
use retention_core::email::reputation::{DayCounts, ReputationPolicy};
use retention_core::email::suppression::Suppression;
use retention_core::Email;
use serde::Serialize;
use std::sync::Arc;

/// The ports recording holds (the email-events function's role).
#[derive(Clone)]
pub struct FeedbackPorts {
    pub stores: Arc<dyn StoreDirectory>,
    pub suppressions: Arc<dyn Suppressions>,
    pub reputation: Arc<dyn Reputation>,
    pub seen: Arc<dyn FeedbackSeen>,
    /// SES's account-level list, on AWS; a failure there is logged and ignored.
    pub account: Option<Arc<dyn AccountSuppression>>,
}

/// What recording one piece of feedback did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// Addresses suppressed now (not before).
    pub suppressed: Vec<Email>,
    /// Recipients that were suppressed already (the first entry stands).
    pub already_suppressed: u64,
    /// What was added to the store's day.
    pub counted: DayCounts,
    /// Recipients whose feedback was counted before: a redelivered event.
    pub duplicates: u64,
    /// Why nothing was done, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// Why the store's marketing is paused, when it is after this feedback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
}

/// Records `feedback` for its store at `now`.
pub async fn record(
    ports: &FeedbackPorts,
    policy: &ReputationPolicy,
    feedback: &Feedback,
    now: DateTime<Utc>,
) -> Result<Recorded> {
    let store_id = &feedback.store;
    let mut out = Recorded::default();
    let Some(effect) = feedback.kind.effect() else {
        out.ignored = Some(format!("{} changes nothing", feedback.kind.name()));
        return Ok(out);
    };
    let Some(store) = ports.stores.store(store_id).await? else {
        tracing::warn!(target: "email", store = %store_id, ses_message_id = %feedback.ses_message_id,
            kind = feedback.kind.name(), "SES feedback for a store that is not registered: ignored");
        out.ignored = Some(format!("no store {store_id}"));
        return Ok(out);
    };
    let day = store.local_date(feedback.at);
    for recipient in &feedback.recipients {
        if let Some((reason, detail)) = &effect.suppress {
            let entry = Suppression {
                email: recipient.clone(),
                reason: *reason,
                at: feedback.at,
                detail: detail.clone(),
            };
            if ports.suppressions.suppress(store_id, &entry).await? {
                out.suppressed.push(recipient.clone());
                if let Some(account) = &ports.account {
                    if let Err(e) = account.suppress_account_wide(&entry).await {
                        tracing::warn!(target: "email", store = %store_id, error = %chain(&e),
                            "SES's account suppression list was not updated; the store's list holds the address");
                    }
                }
            } else {
                out.already_suppressed += 1;
            }
        }
        if effect.counts == DayCounts::default() {
            continue;
        }
        let key = feedback.marker(&effect, recipient);
        if ports
            .seen
            .count_once(store_id, &key, day, &effect.counts, now)
            .await?
        {
            out.counted.add(&effect.counts);
        } else {
            out.duplicates += 1;
        }
    }
    tracing::info!(target: "email", store = %store_id, ses_message_id = %feedback.ses_message_id,
        message = feedback.message.as_deref().unwrap_or(""), kind = feedback.kind.name(),
        recipients = feedback.recipients.len(), suppressed = out.suppressed.len(),
        duplicates = out.duplicates, "recorded SES feedback");
    if out.counted.bounced + out.counted.complained > 0 {
        let today = store.local_date(now);
        let window = ports
            .reputation
            .window(store_id, policy.window_start(today), today)
            .await?;
        if let Some(p) = policy.assess(&window) {
            tracing::warn!(target: "email", store = %store_id, reason = %p.reason,
                sent = window.sent, bounced = window.bounced, complained = window.complained,
                "marketing sends are paused");
            out.paused = Some(p.reason);
        }
    }
    Ok(out)
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, PortError};
    use crate::memory::Memory;
    use async_trait::async_trait;
    use retention_core::email::feedback::FeedbackKind;
    use retention_core::email::suppression::SuppressionReason;
    use retention_core::store::Store;
    use retention_core::webhook::Platform;
    use retention_core::StoreId;
    use std::sync::Mutex;

    struct Refusing(Mutex<u32>);
    #[async_trait]
    impl AccountSuppression for Refusing {
        async fn suppress_account_wide(&self, _: &Suppression) -> Result<()> {
            *self.0.lock().unwrap() += 1;
            Err(PortError::bare(ErrorKind::Rejected, "404: not implemented"))
        }
    }

    fn store() -> Store {
        Store {
            id: StoreId::parse("demo-shop").unwrap(),
            platform: Platform::Shopify,
            webhook_secrets: vec!["s".into()],
            name: None,
            from_email: None,
            timezone: Some("America/New_York".into()),
            currency: None,
            mail: Default::default(),
        }
    }

    fn setup() -> (Arc<Memory>, FeedbackPorts, Arc<Refusing>) {
        let m = Arc::new(Memory::new());
        m.add_store(store());
        let account = Arc::new(Refusing(Mutex::new(0)));
        let ports = FeedbackPorts {
            stores: m.clone(),
            suppressions: m.clone(),
            reputation: m.clone(),
            seen: m.clone(),
            account: Some(account.clone()),
        };
        (m, ports, account)
    }

    fn feedback(kind: FeedbackKind, to: &[&str]) -> Feedback {
        Feedback {
            store: StoreId::parse("demo-shop").unwrap(),
            ses_message_id: "ses-1".into(),
            message: Some("m-1".into()),
            kind,
            recipients: to.iter().map(|e| Email::parse(*e).unwrap()).collect(),
            // 03:00 UTC is the previous day in New York.
            at: "2026-12-04T03:00:00Z".parse().unwrap(),
        }
    }

    fn permanent() -> FeedbackKind {
        FeedbackKind::Bounce {
            permanent: true,
            subtype: Some("NoEmail".into()),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-04T12:00:00Z".parse().unwrap()
    }

    fn day(s: &str) -> chrono::NaiveDate {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn a_permanent_bounce_suppresses_and_counts_once_on_the_stores_day() {
        let (m, ports, account) = setup();
        let policy = ReputationPolicy::default();
        let f = feedback(permanent(), &["a@example.com", "b@example.com"]);
        let r = record(&ports, &policy, &f, now()).await.unwrap();
        assert_eq!(r.suppressed.len(), 2);
        assert_eq!(r.counted.bounced, 2);
        // The account list refused (as moto does): logged, ignored, the store's list holds.
        assert_eq!(*account.0.lock().unwrap(), 2);
        let s = m
            .suppression(&f.store, &Email::parse("a@example.com").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.reason, SuppressionReason::Bounce);
        assert_eq!(s.detail.as_deref(), Some("NoEmail"));
        assert_eq!(s.at, f.at);
        let w = m
            .window(&f.store, day("2026-12-03"), day("2026-12-03"))
            .await
            .unwrap();
        assert_eq!(w.bounced, 2);

        // Redelivered: nothing more.
        let again = record(&ports, &policy, &f, now()).await.unwrap();
        assert_eq!(again.suppressed.len(), 0);
        assert_eq!((again.already_suppressed, again.duplicates), (2, 2));
        assert_eq!(again.counted, DayCounts::default());
        let w = m
            .window(&f.store, day("2026-12-01"), day("2026-12-04"))
            .await
            .unwrap();
        assert_eq!(w.bounced, 2);
    }

    #[tokio::test]
    async fn a_transient_bounce_is_counted_never_suppressed() {
        let (m, ports, _) = setup();
        let f = feedback(
            FeedbackKind::Bounce {
                permanent: false,
                subtype: Some("MailboxFull".into()),
            },
            &["a@example.com"],
        );
        let r = record(&ports, &ReputationPolicy::default(), &f, now())
            .await
            .unwrap();
        assert!(r.suppressed.is_empty());
        assert_eq!(r.counted.transient, 1);
        assert!(m.suppressions(&f.store).await.unwrap().is_empty());
        // A later permanent bounce of the same message counts and suppresses (another marker).
        let hard = feedback(permanent(), &["a@example.com"]);
        let r = record(&ports, &ReputationPolicy::default(), &hard, now())
            .await
            .unwrap();
        assert_eq!((r.suppressed.len(), r.counted.bounced), (1, 1));
    }

    #[tokio::test]
    async fn the_first_suppression_stands() {
        let (m, ports, _) = setup();
        let policy = ReputationPolicy::default();
        record(
            &ports,
            &policy,
            &feedback(permanent(), &["a@example.com"]),
            now(),
        )
        .await
        .unwrap();
        let mut complaint = feedback(
            FeedbackKind::Complaint {
                feedback_type: Some("abuse".into()),
            },
            &["a@example.com"],
        );
        complaint.ses_message_id = "ses-2".into();
        let r = record(&ports, &policy, &complaint, now()).await.unwrap();
        assert_eq!((r.already_suppressed, r.counted.complained), (1, 1));
        let list = m.suppressions(&complaint.store).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].reason, SuppressionReason::Bounce);
    }

    #[tokio::test]
    async fn complaints_over_the_threshold_pause_marketing_with_the_reason() {
        let (m, ports, _) = setup();
        let policy = ReputationPolicy::default();
        let store = StoreId::parse("demo-shop").unwrap();
        m.add(
            &store,
            day("2026-12-04"),
            &DayCounts {
                sent: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let complaint = feedback(
            FeedbackKind::Complaint {
                feedback_type: None,
            },
            &["a@example.com"],
        );
        let r = record(&ports, &policy, &complaint, now()).await.unwrap();
        let reason = r.paused.expect("1 in 1000 is over 0.05%");
        assert!(reason.starts_with("complaint rate 0.10%"), "{reason}");
    }

    #[tokio::test]
    async fn nothing_is_done_for_deliveries_not_spam_or_unknown_stores() {
        let (m, ports, _) = setup();
        let policy = ReputationPolicy::default();
        for kind in [
            FeedbackKind::Delivery,
            FeedbackKind::Complaint {
                feedback_type: Some("not-spam".into()),
            },
        ] {
            let r = record(&ports, &policy, &feedback(kind, &["a@example.com"]), now())
                .await
                .unwrap();
            assert!(r.ignored.is_some());
        }
        let mut elsewhere = feedback(permanent(), &["a@example.com"]);
        elsewhere.store = StoreId::parse("gone").unwrap();
        let r = record(&ports, &policy, &elsewhere, now()).await.unwrap();
        assert_eq!(r.ignored.as_deref(), Some("no store gone"));
        assert!(m
            .suppressions(&StoreId::parse("demo-shop").unwrap())
            .await
            .unwrap()
            .is_empty());
    }
}
