//! The outbox and the sender over the in-memory ports: idempotent queuing, the send-time rule with
//! every skip counted, caps and quiet hours, retries, a sender that died mid-send, and pacing.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use retention_app::mail::{
    queue, Audience, QueuePorts, QueueRequest, Sender, SenderConfig, SenderPorts,
};
use retention_app::memory::Memory;
use retention_app::ports::{
    Compose, ComposeRequest, MailError, Mailer, Outbox, OutgoingEmail, SendHistory, Suppressions,
};
use retention_core::email::consent::{Consent, ConsentState};
use retention_core::email::link::LinkSecret;
use retention_core::email::outbox::{OutboxKey, Status};
use retention_core::email::suppression::{Suppression, SuppressionReason};
use retention_core::profile::Profile;
use retention_core::store::Store;
use retention_core::webhook::{Person, Platform};
use retention_core::{CustomerId, Email, StoreId};
use std::sync::{Arc, Mutex};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}
fn sid() -> StoreId {
    StoreId::parse("s1").unwrap()
}
fn cid(s: &str) -> CustomerId {
    CustomerId::parse(s).unwrap()
}

/// Records what it was asked to send, and fails as told.
#[derive(Default)]
struct FakeMailer {
    sent: Mutex<Vec<(DateTime<Utc>, OutgoingEmail)>>,
    failures: Mutex<Vec<MailError>>,
    rate: Option<u32>,
}

#[async_trait]
impl Mailer for FakeMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        if let Some(e) = self.failures.lock().unwrap().pop() {
            return Err(e);
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push((Utc::now(), email.clone()));
        Ok(format!("ses-{}", sent.len()))
    }
    async fn max_send_rate(&self) -> retention_app::Result<Option<u32>> {
        Ok(self.rate)
    }
}

struct FakeCompose;
impl Compose for FakeCompose {
    fn compose(&self, req: &ComposeRequest<'_>) -> Result<Vec<u8>, String> {
        Ok(format!(
            "To: {}\r\nList-Unsubscribe: {:?}\r\n\r\n{}",
            req.to, req.unsubscribe, req.message.template
        )
        .into_bytes())
    }
}

fn setup(rate: Option<u32>) -> (Arc<Memory>, Arc<FakeMailer>, Sender) {
    let m = Arc::new(Memory::new());
    let mut store = Store {
        id: sid(),
        platform: Platform::Generic,
        webhook_secrets: vec!["x".into()],
        name: Some("Cats & Co".into()),
        from_email: Some(Email::parse("shop@example.com").unwrap()),
        timezone: Some("Europe/Berlin".into()),
        currency: None,
        mail: Default::default(),
    };
    store.mail.max_send_rate = Some(200);
    m.add_store(store);
    let mailer = Arc::new(FakeMailer {
        rate,
        ..Default::default()
    });
    let sender = sender(&m, &mailer);
    (m, mailer, sender)
}

fn sender(m: &Arc<Memory>, mailer: &Arc<FakeMailer>) -> Sender {
    let ports = SenderPorts {
        stores: m.clone(),
        customers: m.clone(),
        outbox: m.clone(),
        history: m.clone(),
        suppressions: m.clone(),
        reputation: m.clone(),
        pacer: m.clone(),
        mailer: mailer.clone(),
        compose: Arc::new(FakeCompose),
    };
    let mut config = SenderConfig::new(
        LinkSecret::new("0123456789abcdef0123").unwrap(),
        "http://127.0.0.1:9/lambda-url/customer-pages",
    );
    config.stale_claim = Duration::minutes(10);
    Sender::new(ports, config)
}

fn customer(m: &Memory, id: &str, consent: Option<ConsentState>) {
    let p = Profile {
        person: Person {
            email: Some(Email::parse(format!("{id}@example.com")).unwrap()),
            first_name: Some("Maya".into()),
            consent: consent.map(|s| Consent::platform(s, None)),
            ..Person::default()
        },
        ..Profile::default()
    };
    m.put_profile(&sid(), &cid(id), p);
}

fn broadcast(key: &str, ids: &[&str], now: DateTime<Utc>) -> QueueRequest {
    QueueRequest {
        store: sid(),
        template: "win-back".into(),
        marketing: true,
        kind: "broadcast".into(),
        key: key.into(),
        audience: Audience::Customers(ids.iter().map(|s| cid(s)).collect()),
        offer: None,
        campaign: None,
        variant: None,
        now,
    }
}

fn qports(m: &Arc<Memory>) -> QueuePorts {
    QueuePorts {
        customers: m.clone(),
        outbox: m.clone(),
    }
}

async fn status(m: &Memory, kind: &str, key: &str, c: &str) -> (Status, Option<String>) {
    let msg = m
        .message(&sid(), &OutboxKey::new(kind, key, cid(c)).unwrap())
        .await
        .unwrap()
        .unwrap();
    (msg.status, msg.reason)
}

const NOON: &str = "2026-12-04T11:00:00Z";

#[tokio::test]
async fn queuing_a_key_again_changes_nothing_and_each_message_goes_once() {
    let (m, mailer, sender) = setup(None);
    customer(&m, "a", Some(ConsentState::Subscribed));
    customer(&m, "b", Some(ConsentState::Subscribed));
    let now = at(NOON);
    let r = queue(&qports(&m), None, &broadcast("bf", &["a", "b", "zz"], now))
        .await
        .unwrap();
    assert_eq!((r.queued, r.already, r.unknown.len()), (2, 0, 1));
    let r = queue(&qports(&m), None, &broadcast("bf", &["a", "b"], now))
        .await
        .unwrap();
    assert_eq!((r.queued, r.already), (0, 2));
    let d = sender.drain(&sid(), now).await.unwrap();
    assert_eq!(d.sent, 2);
    // Draining again, or queuing again after sending, sends nothing more.
    queue(&qports(&m), None, &broadcast("bf", &["a", "b"], now))
        .await
        .unwrap();
    assert_eq!(sender.drain(&sid(), now).await.unwrap().sent, 0);
    let sent = mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    let tags: Vec<_> = sent[0].1.tags.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(tags, ["store", "message", "kind", "campaign"]);
    assert!(String::from_utf8_lossy(&sent[0].1.raw).contains("/u/"));
    let (st, _) = status(&m, "broadcast", "bf", "a").await;
    assert_eq!(st, Status::Sent);
    let msg = m
        .message(
            &sid(),
            &OutboxKey::new("broadcast", "bf", cid("a")).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(msg.ses_message_id.unwrap().starts_with("ses-"));
}

#[tokio::test]
async fn every_skip_is_counted_with_its_reason() {
    let (m, _mailer, sender) = setup(None);
    customer(&m, "yes", Some(ConsentState::Subscribed));
    customer(&m, "unknown", None);
    customer(&m, "pending", Some(ConsentState::Pending));
    customer(&m, "bounced", Some(ConsentState::Subscribed));
    customer(&m, "left", Some(ConsentState::Subscribed));
    let now = at(NOON);
    m.suppress(
        &sid(),
        &Suppression {
            email: Email::parse("bounced@example.com").unwrap(),
            reason: SuppressionReason::Bounce,
            at: now,
            detail: None,
        },
    )
    .await
    .unwrap();
    use retention_app::ports::ConsentChanges;
    m.unsubscribe(&sid(), &cid("left"), now - Duration::days(1))
        .await
        .unwrap();
    let ids = ["yes", "unknown", "pending", "bounced", "left"];
    queue(&qports(&m), None, &broadcast("bf", &ids, now))
        .await
        .unwrap();
    let d = sender.drain(&sid(), now).await.unwrap();
    assert_eq!(d.sent, 1);
    let skipped: Vec<_> = d.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        skipped,
        [("no_consent", 2), ("suppressed", 1), ("unsubscribed", 1)]
    );
    assert_eq!(
        status(&m, "broadcast", "bf", "left").await,
        (Status::Skipped, Some("unsubscribed".into()))
    );
}

#[tokio::test]
async fn quiet_hours_postpone_and_the_cap_skips() {
    let (m, mailer, sender) = setup(None);
    customer(&m, "a", Some(ConsentState::Subscribed));
    // 22:30 in Berlin.
    let night = at("2026-12-04T21:30:00Z");
    queue(&qports(&m), None, &broadcast("one", &["a"], night))
        .await
        .unwrap();
    let d = sender.drain(&sid(), night).await.unwrap();
    assert_eq!((d.sent, d.deferred), (0, 1));
    let msg = m
        .message(
            &sid(),
            &OutboxKey::new("broadcast", "one", cid("a")).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.status, Status::Deferred);
    assert_eq!(msg.due, at("2026-12-05T07:00:00Z"));
    // Not due before 08:00 local; then it goes.
    assert_eq!(
        sender
            .drain(&sid(), at("2026-12-05T06:59:00Z"))
            .await
            .unwrap()
            .sent,
        0
    );
    let morning = at("2026-12-05T07:00:00Z");
    assert_eq!(sender.drain(&sid(), morning).await.unwrap().sent, 1);
    // A second marketing email within 16 hours is capped.
    let later = morning + Duration::hours(2);
    queue(&qports(&m), None, &broadcast("two", &["a"], later))
        .await
        .unwrap();
    let d = sender.drain(&sid(), later).await.unwrap();
    assert_eq!(d.skipped.get("capped"), Some(&1));
    assert_eq!(mailer.sent.lock().unwrap().len(), 1);
    // A store alert is not marketing: no cap, no quiet hours, no consent needed.
    let mut alert = broadcast("alert-1", &["a"], night + Duration::days(1));
    alert.marketing = false;
    alert.kind = "alert".into();
    queue(&qports(&m), None, &alert).await.unwrap();
    let d = sender
        .drain(&sid(), night + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(d.sent, 1);
    let raw = String::from_utf8(mailer.sent.lock().unwrap()[1].1.raw.clone()).unwrap();
    assert!(raw.contains("List-Unsubscribe: None"), "{raw}");
}

#[tokio::test]
async fn throttling_and_transient_errors_retry_and_rejections_fail() {
    let (m, mailer, sender) = setup(None);
    for c in ["a", "b", "c"] {
        customer(&m, c, Some(ConsentState::Subscribed));
    }
    let now = at(NOON);
    queue(&qports(&m), None, &broadcast("bf", &["a", "b", "c"], now))
        .await
        .unwrap();
    // Popped from the end: the first send is throttled, the second transient, the third rejected.
    *mailer.failures.lock().unwrap() = vec![
        MailError::Rejected("Email address is not verified".into()),
        MailError::Transient("connection reset".into()),
        MailError::Throttled("Maximum sending rate exceeded".into()),
    ];
    let d = sender.drain(&sid(), now).await.unwrap();
    assert_eq!((d.sent, d.retried, d.failed), (0, 2, 1), "{d:?}");
    // Later, both retries go, and nothing goes twice.
    let d = sender
        .drain(&sid(), now + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(d.sent, 2, "{d:?}");
    assert_eq!(mailer.sent.lock().unwrap().len(), 2);
    let statuses: Vec<_> = m
        .messages(&sid())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.status)
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == Status::Failed).count(), 1);
}

/// Moves broadcast `key`'s message to `c` into `status`, as a sender that then died would leave it.
async fn dead_sender_claim(
    m: &Memory,
    key: &str,
    c: &str,
    status: Status,
    now: DateTime<Utc>,
) -> retention_core::email::outbox::OutboxMessage {
    let key = OutboxKey::new("broadcast", key, cid(c)).unwrap();
    let msg = m.message(&sid(), &key).await.unwrap().unwrap();
    let mut claimed = msg.clone();
    claimed.status = status;
    claimed.updated_at = now + Duration::milliseconds(1);
    assert!(m
        .transition(&claimed, (msg.status, msg.updated_at))
        .await
        .unwrap());
    claimed
}

#[tokio::test]
async fn a_sender_that_died_mid_send_never_sends_that_message_again() {
    let (m, mailer, sender) = setup(None);
    customer(&m, "a", Some(ConsentState::Subscribed));
    customer(&m, "b", Some(ConsentState::Subscribed));
    let now = at(NOON);
    queue(&qports(&m), None, &broadcast("bf", &["a", "b"], now))
        .await
        .unwrap();
    // A dead sender's claim on "a": handed to SES, nobody will finish it.
    dead_sender_claim(&m, "bf", "a", Status::Sending, now).await;
    // While the claim is fresh, others leave it alone.
    let d = sender
        .drain(&sid(), now + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!((d.sent, d.interrupted), (1, 0));
    // Once stale, it fails as interrupted, and is never sent.
    let d = sender
        .drain(&sid(), now + Duration::minutes(11))
        .await
        .unwrap();
    assert_eq!((d.sent, d.interrupted, d.failed), (0, 1, 1));
    let (st, reason) = status(&m, "broadcast", "bf", "a").await;
    assert_eq!(st, Status::Failed);
    assert!(reason.unwrap().starts_with("interrupted"));
    let to: Vec<_> = mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e.to.clone())
        .collect();
    assert_eq!(to, ["b@example.com"]);
}

#[tokio::test]
async fn a_sender_that_died_before_sending_leaves_the_message_to_be_sent_later() {
    let (m, mailer, sender) = setup(None);
    customer(&m, "a", Some(ConsentState::Subscribed));
    let now = at(NOON);
    queue(&qports(&m), None, &broadcast("bc", &["a"], now))
        .await
        .unwrap();
    // A dead sender's claim, decided and its cap slot taken, never handed to SES.
    let claimed = dead_sender_claim(&m, "bc", "a", Status::Claimed, now).await;
    assert!(m
        .put_history(&sid(), &cid("a"), &[claimed.updated_at], 0)
        .await
        .unwrap());
    let d = sender
        .drain(&sid(), now + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(d.sent, 0, "a fresh claim is left to its sender");
    // Once stale: queued again, its cap slot given back, and sent once.
    let d = sender
        .drain(&sid(), now + Duration::minutes(11))
        .await
        .unwrap();
    assert_eq!((d.requeued, d.sent, d.interrupted), (1, 1, 0), "{d:?}");
    assert_eq!(status(&m, "broadcast", "bc", "a").await.0, Status::Sent);
    assert_eq!(mailer.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn senders_together_stay_under_the_rate_in_every_second() {
    let (m, mailer, _) = setup(Some(20));
    let ids: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
    for c in &ids {
        customer(&m, c, Some(ConsentState::Subscribed));
    }
    let now = at(NOON);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    queue(&qports(&m), None, &broadcast("bf", &refs, now))
        .await
        .unwrap();
    // Three senders at once, sharing the pace and the outbox.
    let senders: Vec<Sender> = (0..3).map(|_| sender(&m, &mailer)).collect();
    let store = sid();
    let runs = senders.iter().map(|s| s.drain(&store, now));
    let reports = futures_util::future::join_all(runs).await;
    let total: u64 = reports.into_iter().map(|r| r.unwrap().sent).sum();
    assert_eq!(total, 50);
    let mut times: Vec<DateTime<Utc>> = mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| *t)
        .collect();
    times.sort();
    assert_eq!(times.len(), 50);
    for (i, t) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .take_while(|u| **u - *t < Duration::seconds(1))
            .count();
        assert!(within <= 20, "{within} sends in the second from {t}");
    }
    // And close to the rate: 50 sends at 20/s take about 2.5 s.
    let span = *times.last().unwrap() - times[0];
    assert!(span < Duration::milliseconds(3000), "{span}");
}
