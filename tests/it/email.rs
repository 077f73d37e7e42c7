//! The email sender against moto: DynamoDB's outbox, cap history and pace, and SES v2's SendEmail
//! (Raw), checked through what moto kept (`/moto-api/data.json`) and what the SDK sent (the wire
//! recorder: configuration set and tags, which moto ignores).

use chrono::{DateTime, Duration, Utc};
use retention_app::mail::{
    queue, Audience, QueuePorts, QueueRequest, Sender, SenderConfig, SenderPorts,
};
use retention_app::ports::{Compose, ComposeRequest, Outbox};
use retention_core::email::consent::{Consent, ConsentState};
use retention_core::email::link::LinkSecret;
use retention_core::email::outbox::Status;
use retention_core::webhook::{Change, Order, OrderStatus, Person, Platform};
use retention_core::{Currency, CustomerId, Email, Money, OrderId, StoreId};
use retention_tests::wire::Wire;
use retention_tests::*;
use std::sync::Arc;

pub(crate) struct Plain;
impl Compose for Plain {
    fn compose(&self, req: &ComposeRequest<'_>) -> Result<Vec<u8>, String> {
        let unsub = req
            .unsubscribe
            .map(|(u, m)| format!("List-Unsubscribe: <{u}>, <{m}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"))
            .unwrap_or_default();
        Ok(format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{}@retention>\r\n{unsub}Content-Type: text/plain\r\n\r\nHello\r\n",
            req.store.from_email.as_ref().unwrap(),
            req.to,
            req.message.template,
            req.message.message_id()
        )
        .into_bytes())
    }
}

pub(crate) fn order(customer: &str, consent: ConsentState, at: DateTime<Utc>) -> Order {
    Order {
        id: OrderId::parse(format!("o-{customer}")).unwrap(),
        customer_id: CustomerId::parse(customer).unwrap(),
        customer: Person {
            email: Some(Email::parse(format!("{customer}@example.com")).unwrap()),
            first_name: Some("Maya".into()),
            consent: Some(Consent::platform(consent, Some(at))),
            ..Person::default()
        },
        created_at: at,
        updated_at: at,
        total: Money::new(1000, Currency::parse("USD").unwrap()),
        status: OrderStatus::Open,
        items: vec![],
        coupon_codes: vec![],
        refunds: vec![],
    }
}

async fn moto_messages() -> Vec<serde_json::Value> {
    let body = reqwest_get(&format!("{}/moto-api/data.json", endpoint())).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn reqwest_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_broadcast_goes_once_through_ses_with_its_tags_and_headers() {
    let table = fresh_table("email_broadcast").await;
    let store = StoreId::parse("mail-store").unwrap();
    register(&table, &store, Platform::Generic, &["secret"]).await;
    let (mut s, rev) = table.get_store(&store).await.unwrap().unwrap();
    let from = "shop@mail-store.example";
    s.from_email = Some(Email::parse(from).unwrap());
    s.mail.max_send_rate = Some(50);
    assert!(table.put_store(&s, rev).await.unwrap());
    let (aws, wire) = Wire::around(&aws());
    let ses = retention_ses::Ses::new(retention_ses::client(&aws), Some("retention-test".into()));
    ses.verify_sender(from).await.unwrap();

    // Business time at noon UTC (the store has no zone): outside quiet hours whenever the test runs.
    let noon: DateTime<Utc> = "2026-12-04T12:00:00Z".parse().unwrap();
    let now = noon - Duration::hours(1);
    let d = deliveries(&table);
    for (c, consent) in [
        ("yes-1", ConsentState::Subscribed),
        ("yes-2", ConsentState::Subscribed),
        ("no-1", ConsentState::Unsubscribed),
    ] {
        d.apply(
            &store,
            &Change::Order(order(c, consent, now)),
            &[format!("d-{c}")],
            now,
        )
        .await
        .unwrap();
    }
    let table = Arc::new(table);
    let qp = QueuePorts {
        customers: table.clone(),
        outbox: table.clone(),
    };
    let req = QueueRequest {
        store: store.clone(),
        template: "win-back".into(),
        marketing: true,
        kind: "broadcast".into(),
        key: "it-1".into(),
        audience: Audience::All,
        offer: None,
        campaign: None,
        variant: None,
        now: noon,
    };
    let r = queue(&qp, None, &req).await.unwrap();
    assert_eq!(r.queued, 3);
    let again = queue(&qp, None, &req).await.unwrap();
    assert_eq!((again.queued, again.already), (0, 3));

    let sender = Sender::new(
        SenderPorts {
            stores: table.clone(),
            customers: table.clone(),
            outbox: table.clone(),
            history: table.clone(),
            suppressions: Arc::new(retention_app::memory::Memory::new()),
            reputation: Arc::new(retention_app::memory::Memory::new()),
            pacer: table.clone(),
            mailer: Arc::new(ses),
            compose: Arc::new(Plain),
        },
        SenderConfig::new(
            LinkSecret::new("it-secret-0123456789").unwrap(),
            "http://127.0.0.1:9000/lambda-url/customer-pages",
        ),
    );
    let before = moto_messages().await.len();
    let at = noon;
    let report = sender.drain(&store, at).await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    assert_eq!(report.skipped.get("no_consent"), Some(&1));
    assert_eq!(report.rate_source, "store");
    // Nothing more goes on a second drain.
    assert_eq!(sender.drain(&store, at).await.unwrap().sent, 0);

    let kept = moto_messages().await;
    let ours: Vec<_> = kept[before..]
        .iter()
        .filter(|m| m["source"] == from)
        .collect();
    assert_eq!(ours.len(), 2);
    for m in &ours {
        let raw = m["raw_data"].as_str().unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <http://127.0.0.1:9000/lambda-url/customer-pages/u/"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    }
    // moto ignores the configuration set and tags: the request proves they were sent.
    let sends: Vec<_> = wire
        .sent()
        .into_iter()
        .filter(|s| s.service == "ses" && s.path.ends_with("/outbound-emails"))
        .collect();
    assert_eq!(sends.len(), 2);
    let body: serde_json::Value = serde_json::from_slice(&sends[0].body).unwrap();
    assert_eq!(body["ConfigurationSetName"], "retention-test");
    let tags: Vec<&str> = body["EmailTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["store", "message", "kind", "campaign"]);
    assert_eq!(body["EmailTags"][0]["Value"], "mail-store");

    // The outbox records SES's ids, and the skip with its reason.
    let msgs = table.messages(&store).await.unwrap();
    let sent: Vec<_> = msgs.iter().filter(|m| m.status == Status::Sent).collect();
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|m| m.ses_message_id.as_deref().is_some_and(|i| !i.is_empty())));
    let skipped = msgs.iter().find(|m| m.status == Status::Skipped).unwrap();
    assert_eq!(skipped.reason.as_deref(), Some("no_consent"));
}
