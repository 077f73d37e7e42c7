//! What the email tests and the send-rate bench share: a store that mails from a verified
//! address, subscribed customers, a broadcast, the sender as the functions wire it, and SES through
//! moto noting when each message left.

use crate::{aws, deliveries, fresh_table, register};
use chrono::{DateTime, Utc};
use retention_app::mail::{Audience, QueuePorts, QueueRequest, Sender, SenderConfig};
use retention_app::ports::{Compose, ComposeRequest};
use retention_core::email::consent::{Consent, ConsentState};
use retention_core::email::link::LinkSecret;
use retention_core::webhook::{Change, Order, OrderStatus, Person, Platform};
use retention_core::{Currency, CustomerId, Email, Money, OrderId, StoreId};
use std::sync::Arc;

/// A plain composer: the headers that matter and a one-line body.
pub struct Plain;
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

pub fn order(customer: &str, consent: ConsentState, at: DateTime<Utc>) -> Order {
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

/// A fresh table with a store that sends from a verified address at `rate` per second.
pub async fn mail_store(
    test: &str,
    id: &str,
    rate: u32,
    timezone: Option<&str>,
) -> (retention_dynamodb::Table, StoreId, String) {
    let table = fresh_table(test).await;
    let store = StoreId::parse(id).unwrap();
    register(&table, &store, Platform::Generic, &["secret"]).await;
    let (mut s, rev) = table.get_store(&store).await.unwrap().unwrap();
    let from = format!("shop@{id}.example");
    s.name = Some(format!("Shop {id}"));
    s.from_email = Some(Email::parse(&from).unwrap());
    s.mail.max_send_rate = Some(rate);
    s.mail.postal_address = Some("1 Main St, Springfield".into());
    s.timezone = timezone.map(str::to_string);
    assert!(table.put_store(&s, rev).await.unwrap());
    retention_ses::Ses::new(retention_ses::client(&aws()), None)
        .verify_sender(&from)
        .await
        .unwrap();
    (table, store, from)
}

/// Customers `ids`, subscribed, each with one order at `at`.
pub async fn subscribed(
    table: &retention_dynamodb::Table,
    store: &StoreId,
    ids: &[String],
    at: DateTime<Utc>,
) {
    let d = deliveries(table);
    for c in ids {
        d.apply(
            store,
            &Change::Order(order(c, ConsentState::Subscribed, at)),
            &[format!("d-{c}")],
            at,
        )
        .await
        .unwrap();
    }
}

/// The sender of the functions: every port on the table, SES through `mailer`, `compose`.
pub fn table_sender(
    table: &Arc<retention_dynamodb::Table>,
    mailer: Arc<dyn retention_app::ports::Mailer>,
    compose: Arc<dyn Compose>,
) -> Sender {
    Sender::new(
        email_sender::ports(table.clone(), mailer, compose),
        SenderConfig::new(
            LinkSecret::new("it-secret-0123456789").unwrap(),
            "http://127.0.0.1:9000/lambda-url/customer-pages",
        ),
    )
}

pub fn broadcast(store: &StoreId, key: &str, now: DateTime<Utc>) -> QueueRequest {
    QueueRequest {
        store: store.clone(),
        template: "win-back".into(),
        marketing: true,
        kind: "broadcast".into(),
        key: key.into(),
        audience: Audience::All,
        offer: None,
        campaign: None,
        variant: None,
        now,
    }
}

pub fn qports(table: &Arc<retention_dynamodb::Table>) -> QueuePorts {
    QueuePorts {
        customers: table.clone(),
        outbox: table.clone(),
    }
}

/// SES through moto, noting when each send left.
pub struct Timed {
    pub ses: retention_ses::Ses,
    pub at: std::sync::Mutex<Vec<DateTime<Utc>>>,
}

#[async_trait::async_trait]
impl retention_app::ports::Mailer for Timed {
    async fn send(
        &self,
        email: &retention_app::ports::OutgoingEmail,
    ) -> Result<String, retention_app::ports::MailError> {
        self.at.lock().unwrap().push(Utc::now());
        self.ses.send(email).await
    }
    async fn max_send_rate(&self) -> retention_app::Result<Option<u32>> {
        self.ses.max_send_rate().await
    }
}

pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A time zone where it is about midday at `now`, so a drain "now" is clear of quiet hours
/// whenever it runs (pacing runs on the real clock).
pub fn midday_zone(now: DateTime<Utc>) -> String {
    use chrono::Timelike;
    let offset = (12 - now.hour() as i32 + 36) % 24 - 12;
    match offset {
        0 => "Etc/GMT".to_string(),
        o => format!("Etc/GMT{:+}", -o),
    }
}
