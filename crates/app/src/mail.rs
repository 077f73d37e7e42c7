//! Email delivery: queue messages in the outbox ([`queue`]), and drain what is due ([`Sender`]),
//! deciding each message at send time (`retention_core::email::outbox::decide`), pacing every
//! sender instance together to the account's rate through shared slots ([`Pacer`]), and sending
//! through SES ([`Mailer`]) at most once.
//!
//! The email-sender function runs [`Sender::drain_all`] every minute (a scheduled drain rather than
//! an SQS trigger: pacing, quiet hours and caps need "what is due now" anyway, the outbox already is a
//! durable queue, and one scheduled instance per minute keeps concurrency, and so the pace, simple).
//! `retention email send` runs the same drain for one store.

use crate::coupons::Issuer;
use crate::customers::Stream;
use crate::error::{PortError, Result};
use crate::ports::{
    Compose, ComposeRequest, Customers, MailError, Mailer, Outbox, OutgoingEmail, Pacer,
    Reputation, SendHistory, StoreDirectory, Suppressions,
};
use chrono::{DateTime, Duration, Utc};
use retention_core::coupon::{CampaignId, Discount, Expiry, IssueRequest};
use retention_core::email::consent::SkipReason;
use retention_core::email::link::{unsubscribe_url, LinkSecret};
use retention_core::email::outbox::{
    decide, default_caps, history_span, slot_spacing, Cap, Circumstances, Decision, OfferSpec,
    OutboxKey, OutboxMessage, Status, MAX_ATTEMPTS, SENDING_LEAD, SLOT_TOLERANCE, STALE_CLAIM,
};
use retention_core::email::reputation::{DayCounts, ReputationPolicy};
use retention_core::segment::Segment;
use retention_core::store::Store;
use retention_core::{CustomerId, StoreId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Claims lost in a row to other senders after which a sender lists the outbox again.
const LOST_CLAIMS_BEFORE_RELISTING: u32 = 3;

/// The ports the sender holds.
#[derive(Clone)]
pub struct SenderPorts {
    pub stores: Arc<dyn StoreDirectory>,
    pub customers: Arc<dyn Customers>,
    pub outbox: Arc<dyn Outbox>,
    pub history: Arc<dyn SendHistory>,
    pub suppressions: Arc<dyn Suppressions>,
    pub reputation: Arc<dyn Reputation>,
    pub pacer: Arc<dyn Pacer>,
    pub mailer: Arc<dyn Mailer>,
    pub compose: Arc<dyn Compose>,
}

/// How the sender behaves.
#[derive(Clone)]
pub struct SenderConfig {
    pub link_secret: LinkSecret,
    /// `RETENTION_PUBLIC_URL`: where customer-pages answers.
    pub public_url: String,
    pub caps: Vec<Cap>,
    pub reputation: ReputationPolicy,
    /// Emails per second when neither SES nor the store says.
    pub default_rate: u32,
    /// Messages read and claimed at a time.
    pub batch: usize,
    /// A claim older than this is a sender that died mid-send.
    pub stale_claim: Duration,
    /// Stop starting batches after this long (a Lambda's time limit).
    pub max_run: std::time::Duration,
}

impl SenderConfig {
    pub fn new(link_secret: LinkSecret, public_url: impl Into<String>) -> Self {
        Self {
            link_secret,
            public_url: public_url.into(),
            caps: default_caps(),
            reputation: ReputationPolicy::default(),
            default_rate: 1,
            batch: 50,
            stale_claim: STALE_CLAIM,
            max_run: std::time::Duration::from_secs(50),
        }
    }
}

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    pub sent: u64,
    pub skipped: BTreeMap<String, u64>,
    pub deferred: u64,
    pub failed: u64,
    /// Throttled or transient failures put back for a retry.
    pub retried: u64,
    /// Messages dead senders had handed to SES, failed as `interrupted` (maybe sent; never twice).
    pub interrupted: u64,
    /// Messages dead senders had claimed but not handed to SES, queued again.
    pub requeued: u64,
    /// Messages another sender moved first.
    pub lost_races: u64,
    /// Why the store's marketing is paused, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
    /// The rate the drain was paced to, and where it came from.
    pub rate: u32,
    pub rate_source: &'static str,
}

impl DrainReport {
    fn add(&mut self, o: &DrainReport) {
        self.sent += o.sent;
        for (k, v) in &o.skipped {
            *self.skipped.entry(k.clone()).or_default() += v;
        }
        self.deferred += o.deferred;
        self.failed += o.failed;
        self.retried += o.retried;
        self.interrupted += o.interrupted;
        self.requeued += o.requeued;
        self.lost_races += o.lost_races;
    }
}

/// A message cleared to go, composed, waiting for its slot.
struct Ready {
    claimed: OutboxMessage,
    email: OutgoingEmail,
}

pub struct Sender {
    ports: SenderPorts,
    config: SenderConfig,
}

impl Sender {
    pub fn new(ports: SenderPorts, config: SenderConfig) -> Self {
        Self { ports, config }
    }

    /// The rate to pace to, the pace it is shared through, and where the rate came from: SES's
    /// `MaxSendRate` is the account's, shared by every store; without it (moto), the store's own
    /// configured rate, paced per store.
    async fn rate(&self, store: &Store) -> Result<(u32, String, &'static str)> {
        match self.ports.mailer.max_send_rate().await {
            Ok(Some(r)) if r > 0 => return Ok((r, "account".into(), "ses")),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "GetAccount failed; pacing to the configured rate")
            }
        }
        Ok(match store.mail.max_send_rate {
            Some(r) if r > 0 => (r, format!("store:{}", store.id), "store"),
            _ => (
                self.config.default_rate.max(1),
                format!("store:{}", store.id),
                "default",
            ),
        })
    }

    /// Drains every store's due messages (the scheduled function).
    pub async fn drain_all(
        &self,
        stores: &[StoreId],
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<StoreId, DrainReport>> {
        let mut out = BTreeMap::new();
        for s in stores {
            out.insert(s.clone(), self.drain(s, now).await?);
        }
        Ok(out)
    }

    /// Sends what is due for `store` at `now` (business time: quiet hours, caps, due times), until
    /// nothing is due or the run's time is up.
    #[tracing::instrument(skip_all, fields(store = %store_id))]
    pub async fn drain(&self, store_id: &StoreId, now: DateTime<Utc>) -> Result<DrainReport> {
        let started = std::time::Instant::now();
        let store = self
            .ports
            .stores
            .store(store_id)
            .await?
            .ok_or_else(|| PortError::corrupt(store_id, "no such store"))?;
        let (rate, pace, rate_source) = self.rate(&store).await?;
        let today = store.local_date(now);
        let window = self
            .ports
            .reputation
            .window(store_id, self.config.reputation.window_start(today), today)
            .await?;
        let paused = self.config.reputation.assess(&window).map(|p| p.reason);
        if let Some(reason) = &paused {
            tracing::warn!(store = %store_id, reason = %reason, "marketing sends are paused");
        }
        let mut report = DrainReport {
            paused: paused.clone(),
            rate,
            rate_source,
            ..Default::default()
        };
        // A batch is claimed and decided while the one before it is being sent, so the sender's
        // slots never wait for its own reads and claims (the listing skips what is claimed).
        let mut next: Option<(Vec<Ready>, DrainReport)> = None;
        let mut more = true;
        loop {
            let current = next.take();
            if current.is_none() && !more {
                break;
            }
            let preparing = async {
                if !more || started.elapsed() >= self.config.max_run {
                    return Ok(None);
                }
                self.prepare_batch(&store, paused.as_deref(), now).await
            };
            let sending = async {
                match current {
                    Some((ready, mut batch)) => {
                        self.send_paced(&pace, rate, ready, now, &mut batch).await?;
                        Ok::<_, crate::error::PortError>(Some(batch))
                    }
                    None => Ok(None),
                }
            };
            let (sent, prepared) = futures_util::future::join(sending, preparing).await;
            if let Some(batch) = sent? {
                if batch.sent > 0 {
                    let counts = DayCounts {
                        sent: batch.sent,
                        ..Default::default()
                    };
                    self.ports.reputation.add(store_id, today, &counts).await?;
                }
                report.add(&batch);
            }
            match prepared? {
                Some(b) => next = Some(b),
                None => more = false,
            }
        }
        tracing::info!(
            store = %store_id,
            sent = report.sent,
            deferred = report.deferred,
            failed = report.failed,
            retried = report.retried,
            skipped = ?report.skipped,
            "drained the outbox"
        );
        Ok(report)
    }

    /// Lists what is due and claims and decides each: the messages to send and what became of the
    /// rest; `None` when nothing is due, or everything due is held by live senders.
    async fn prepare_batch(
        &self,
        store: &Store,
        paused: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Vec<Ready>, DrainReport)>> {
        let mut due = self
            .ports
            .outbox
            .due(&store.id, now, self.config.batch)
            .await?;
        // Senders that list at the same moment see the same messages: each starts at its own
        // place in the list, and one that keeps losing the claims to the others stops and lists
        // again (the listing leaves out what they hold), instead of trying every one of theirs.
        if due.len() > 1 {
            let start = crate::delivery::backoff_seed() % due.len() as u64;
            due.rotate_left(start as usize);
        }
        let mut batch = DrainReport::default();
        let mut ready = Vec::new();
        let mut lost_in_a_row = 0;
        for m in due {
            let lost = batch.lost_races;
            if let Some(r) = self.prepare(store, m, paused, now, &mut batch).await? {
                ready.push(r);
            }
            lost_in_a_row = if batch.lost_races > lost {
                lost_in_a_row + 1
            } else {
                0
            };
            if lost_in_a_row == LOST_CLAIMS_BEFORE_RELISTING {
                break;
            }
        }
        let progressed = batch != DrainReport::default() || !ready.is_empty();
        Ok(progressed.then_some((ready, batch)))
    }

    /// Claims one due message and decides it: `Some` when it is to be sent now.
    async fn prepare(
        &self,
        store: &Store,
        m: OutboxMessage,
        paused: Option<&str>,
        now: DateTime<Utc>,
        report: &mut DrainReport,
    ) -> Result<Option<Ready>> {
        let outbox = &self.ports.outbox;
        let expected = (m.status, m.updated_at);
        if matches!(m.status, Status::Claimed | Status::Sending)
            && now - m.updated_at < self.config.stale_claim
        {
            return Ok(None);
        }
        if m.status == Status::Claimed {
            // A sender died after claiming it and before handing it to SES: it was not sent, so
            // it goes back to the queue (and its cap slot back to the customer).
            if m.marketing {
                self.release_cap(&m, m.updated_at).await?;
            }
            let mut again = m.clone();
            again.status = Status::Queued;
            again.reason = Some("requeued: its sender stopped before sending it".into());
            again.updated_at = now.max(m.updated_at + Duration::milliseconds(1));
            if outbox.transition(&again, expected).await? {
                report.requeued += 1;
            }
            return Ok(None);
        }
        if m.status == Status::Sending {
            let mut failed = m.clone();
            failed.status = Status::Failed;
            failed.reason = Some(
                "interrupted: the sender stopped while sending; not retried, so it is never sent twice"
                    .into(),
            );
            failed.updated_at = now.max(m.updated_at + Duration::milliseconds(1));
            if outbox.transition(&failed, expected).await? {
                report.interrupted += 1;
                report.failed += 1;
            }
            return Ok(None);
        }
        let mut claimed = m.clone();
        claimed.status = Status::Claimed;
        // The claim's time must differ from the read one, or a second claim would match it.
        claimed.updated_at = now.max(m.updated_at + Duration::milliseconds(1));
        if !outbox.transition(&claimed, expected).await? {
            report.lost_races += 1;
            return Ok(None);
        }
        let claim = (claimed.status, claimed.updated_at);
        let profile = self
            .ports
            .customers
            .profile(&store.id, &m.key.customer)
            .await?;
        let email = profile
            .as_ref()
            .filter(|p| !p.redacted)
            .and_then(|p| p.person.email.clone());
        let suppressed = match &email {
            Some(e) => self
                .ports
                .suppressions
                .suppression(&store.id, e)
                .await?
                .is_some(),
            None => false,
        };
        let (history, rev) = if m.marketing {
            self.ports
                .history
                .history(&store.id, &m.key.customer)
                .await?
        } else {
            (vec![], 0)
        };
        let consent = profile
            .as_ref()
            .map(|p| p.marketing_consent())
            .unwrap_or(retention_core::email::consent::Consent::UNKNOWN);
        let decision = decide(&Circumstances {
            marketing: m.marketing,
            email: email.as_ref(),
            consent,
            suppressed,
            paused,
            history: &history,
            caps: &self.config.caps,
            quiet: store.mail.quiet_hours.unwrap_or_default(),
            tz: store.tz(),
            now,
        });
        let mut next = claimed.clone();
        next.updated_at = claimed.updated_at + Duration::milliseconds(1);
        next.email = email.clone().or(next.email);
        match decision {
            Decision::Skip(reason) => {
                next.status = Status::Skipped;
                next.reason = Some(reason.as_str().into());
                if outbox.transition(&next, claim).await? {
                    *report.skipped.entry(reason.as_str().into()).or_default() += 1;
                }
                Ok(None)
            }
            Decision::Defer(at, why) => {
                next.status = Status::Deferred;
                next.reason = Some(why.into());
                next.due = at;
                if outbox.transition(&next, claim).await? {
                    report.deferred += 1;
                }
                Ok(None)
            }
            Decision::Send => {
                let (profile, to) = match (profile, email) {
                    (Some(p), Some(e)) => (p, e),
                    _ => unreachable!("decide skips a message without an address"),
                };
                if m.marketing {
                    // Take the cap slot before sending, so two campaigns racing for one customer
                    // cannot both pass the cap.
                    let span = history_span(&self.config.caps);
                    let mut kept: Vec<DateTime<Utc>> =
                        history.into_iter().filter(|t| now - *t < span).collect();
                    // The slot is stamped with the claim's time, so whoever gives it back (this
                    // sender on a failure, another after this one died) finds it.
                    kept.push(claimed.updated_at);
                    if !self
                        .ports
                        .history
                        .put_history(&store.id, &m.key.customer, &kept, rev)
                        .await?
                    {
                        // Another message to this customer went first: decide again next round.
                        next.status = Status::Queued;
                        outbox.transition(&next, claim).await?;
                        report.lost_races += 1;
                        return Ok(None);
                    }
                }
                let unsubscribe = m.marketing.then(|| {
                    let url = unsubscribe_url(
                        &self.config.public_url,
                        &self.config.link_secret,
                        &store.id,
                        &m.key.customer,
                    );
                    let from = store
                        .from_email
                        .as_ref()
                        .map(|e| e.as_str().to_owned())
                        .unwrap_or_default();
                    let mailto = format!(
                        "mailto:{from}?subject=unsubscribe%20{}",
                        claimed.message_id()
                    );
                    (url, mailto)
                });
                let raw = self.ports.compose.compose(&ComposeRequest {
                    store,
                    message: &claimed,
                    customer: &m.key.customer,
                    profile: &profile,
                    to: &to,
                    unsubscribe: unsubscribe.as_ref().map(|(u, m)| (u.as_str(), m.as_str())),
                    now,
                });
                let raw = match raw {
                    Ok(raw) => raw,
                    Err(e) => {
                        next.status = Status::Failed;
                        next.reason = Some(format!("could not compose the message: {e}"));
                        if outbox.transition(&next, claim).await? {
                            report.failed += 1;
                        }
                        return Ok(None);
                    }
                };
                let from = store.from_email.as_ref().map(|e| e.as_str().to_owned());
                let Some(from) = from else {
                    next.status = Status::Failed;
                    next.reason = Some(format!(
                        "the store has no sender address: retention store set --store {} --from-email …",
                        store.id
                    ));
                    if outbox.transition(&next, claim).await? {
                        report.failed += 1;
                    }
                    return Ok(None);
                };
                let mut tags = vec![
                    ("store".to_owned(), store.id.to_string()),
                    ("message".to_owned(), claimed.message_id()),
                    ("kind".to_owned(), m.key.kind.clone()),
                    (
                        "campaign".to_owned(),
                        m.campaign.clone().unwrap_or_else(|| m.key.key.clone()),
                    ),
                ];
                if let Some(v) = &m.variant {
                    tags.push(("variant".to_owned(), v.clone()));
                }
                Ok(Some(Ready {
                    claimed,
                    email: OutgoingEmail {
                        from,
                        to: to.as_str().to_owned(),
                        raw,
                        tags,
                    },
                }))
            }
        }
    }

    /// Sends the ready messages in slots reserved for all of them at once (one request), each at its
    /// slot's time, concurrently; a message whose slot passed by more than the tolerance takes a new
    /// one, so no sliding second ever holds more than the rate.
    async fn send_paced(
        &self,
        pace: &str,
        rate: u32,
        ready: Vec<Ready>,
        now: DateTime<Utc>,
        report: &mut DrainReport,
    ) -> Result<()> {
        if ready.is_empty() {
            return Ok(());
        }
        let spacing = slot_spacing(rate);
        let first = self
            .ports
            .pacer
            .reserve(pace, ready.len() as u32, spacing, Utc::now())
            .await?;
        let sends = ready.into_iter().enumerate().map(|(i, r)| {
            let slot = first + spacing * i as i32;
            self.send_one(pace, spacing, slot, r, now)
        });
        for outcome in futures_util::future::join_all(sends).await {
            match outcome? {
                Sent::Accepted => report.sent += 1,
                Sent::Retried => report.retried += 1,
                Sent::Failed => report.failed += 1,
                Sent::Lost => report.lost_races += 1,
            }
        }
        Ok(())
    }

    async fn send_one(
        &self,
        pace: &str,
        spacing: Duration,
        mut slot: DateTime<Utc>,
        r: Ready,
        now: DateTime<Utc>,
    ) -> Result<Sent> {
        // Marked as handed to SES a moment before the slot, so that the write's own latency (a busy
        // table, or moto serving one request at a time) never falls between the slot and SES: the
        // SES call follows the slot check at once, and no sliding second holds more than the rate.
        // A crash in that moment fails the message as interrupted rather than risk a second send.
        let mut sending = r.claimed.clone();
        sending.status = Status::Sending;
        sending.updated_at = r.claimed.updated_at + Duration::milliseconds(1);
        let mut marked = false;
        loop {
            if !marked {
                let lead = slot - SENDING_LEAD - Utc::now();
                if lead > Duration::zero() {
                    tokio::time::sleep(lead.to_std().unwrap_or_default()).await;
                }
                let claimed = (r.claimed.status, r.claimed.updated_at);
                if !self.ports.outbox.transition(&sending, claimed).await? {
                    // Another sender judged our claim stale and queued it again: it sends it, not us.
                    return Ok(Sent::Lost);
                }
                marked = true;
            }
            let wait = slot - Utc::now();
            if wait > Duration::zero() {
                tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
            }
            if Utc::now() - slot <= SLOT_TOLERANCE {
                break;
            }
            slot = self
                .ports
                .pacer
                .reserve(pace, 1, spacing, Utc::now())
                .await?;
        }
        let claim = (sending.status, sending.updated_at);
        let mut next = sending.clone();
        next.updated_at = sending.updated_at + Duration::milliseconds(1);
        let outcome = self.ports.mailer.send(&r.email).await;
        let result = match outcome {
            Ok(id) => {
                next.status = Status::Sent;
                next.reason = None;
                next.ses_message_id = Some(id);
                Sent::Accepted
            }
            Err(MailError::Throttled(why)) => {
                // Certainly not accepted: back to the queue, a little later.
                next.status = Status::Queued;
                next.reason = Some(format!("throttled: {why}"));
                next.due = now + Duration::seconds(1 << r.claimed.attempts.min(6));
                next.attempts += 1;
                tokio::time::sleep(crate::delivery::backoff(
                    r.claimed.attempts,
                    100,
                    100,
                    crate::delivery::backoff_seed(),
                ))
                .await;
                Sent::Retried
            }
            Err(MailError::Transient(why)) if r.claimed.attempts + 1 < MAX_ATTEMPTS => {
                next.status = Status::Deferred;
                next.reason = Some(format!("retrying after a transient error: {why}"));
                next.due = now + Duration::seconds(30 << r.claimed.attempts.min(6));
                next.attempts += 1;
                Sent::Retried
            }
            Err(e) => {
                next.status = Status::Failed;
                next.reason = Some(e.to_string());
                next.attempts += 1;
                Sent::Failed
            }
        };
        if !matches!(result, Sent::Accepted) && r.claimed.marketing {
            self.release_cap(&r.claimed, r.claimed.updated_at).await?;
        }
        if !self.ports.outbox.transition(&next, claim).await? {
            // Only a sender that judged our claim stale moves it: it is `failed` now.
            return Ok(Sent::Lost);
        }
        Ok(result)
    }
}

impl Sender {
    /// Gives back the cap slot a message took, when SES did not accept it.
    async fn release_cap(&self, m: &OutboxMessage, taken: DateTime<Utc>) -> Result<()> {
        for _ in 0..5 {
            let (mut history, rev) = self
                .ports
                .history
                .history(&m.store, &m.key.customer)
                .await?;
            let Some(i) = history.iter().position(|t| *t == taken) else {
                return Ok(());
            };
            history.remove(i);
            if self
                .ports
                .history
                .put_history(&m.store, &m.key.customer, &history, rev)
                .await?
            {
                return Ok(());
            }
        }
        Err(PortError::contention("giving back a frequency-cap slot", 5))
    }
}

enum Sent {
    Accepted,
    Retried,
    Failed,
    Lost,
}

/// Who a broadcast goes to.
#[derive(Debug, Clone)]
pub enum Audience {
    Customers(Vec<CustomerId>),
    /// Every customer of the store.
    All,
}

/// A broadcast: one message per customer under one key.
#[derive(Debug, Clone)]
pub struct QueueRequest {
    pub store: StoreId,
    pub template: String,
    pub marketing: bool,
    /// `broadcast`, `campaign`, …
    pub kind: String,
    pub key: String,
    pub audience: Audience,
    pub offer: Option<OfferSpec>,
    pub campaign: Option<String>,
    pub variant: Option<String>,
    pub now: DateTime<Utc>,
}

/// What queuing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueReport {
    pub queued: u64,
    /// Keys that were in the outbox already: unchanged.
    pub already: u64,
    /// Customers named that the store does not have.
    pub unknown: Vec<String>,
    pub coupons_issued: u64,
}

/// The ports queuing holds.
#[derive(Clone)]
pub struct QueuePorts {
    pub customers: Arc<dyn Customers>,
    pub outbox: Arc<dyn Outbox>,
}

/// Queues one message per customer of the audience, idempotently by key; with an offer, issues each
/// customer's coupon first (once per campaign and customer: a re-run finds the same coupon).
pub async fn queue(
    ports: &QueuePorts,
    issuer: Option<&Issuer>,
    req: &QueueRequest,
) -> std::result::Result<QueueReport, QueueError> {
    let mut report = QueueReport::default();
    match &req.audience {
        Audience::Customers(ids) => {
            for id in ids {
                match ports.customers.profile(&req.store, id).await? {
                    None => report.unknown.push(id.to_string()),
                    Some(p) => {
                        queue_one(ports, issuer, req, id, p.person.email.clone(), &mut report)
                            .await?
                    }
                }
            }
        }
        Audience::All => {
            let mut stream = Stream::new(ports.customers.as_ref(), &req.store, Segment::whole());
            while let Some(page) = stream.next_page().await? {
                for (id, p) in page {
                    if p.redacted {
                        continue;
                    }
                    queue_one(ports, issuer, req, &id, p.person.email.clone(), &mut report).await?;
                }
            }
        }
    }
    Ok(report)
}

/// Why a broadcast could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Coupon(#[from] crate::coupons::IssueFailure),
    #[error(transparent)]
    Failed(#[from] PortError),
}

async fn queue_one(
    ports: &QueuePorts,
    issuer: Option<&Issuer>,
    req: &QueueRequest,
    customer: &CustomerId,
    email: Option<retention_core::Email>,
    report: &mut QueueReport,
) -> std::result::Result<(), QueueError> {
    let key = OutboxKey::new(&req.kind, &req.key, customer.clone()).map_err(QueueError::Invalid)?;
    if ports.outbox.message(&req.store, &key).await?.is_some() {
        report.already += 1;
        return Ok(());
    }
    let coupon = match (req.offer, issuer) {
        (Some(offer), Some(issuer)) => {
            let campaign = CampaignId::parse(req.campaign.as_deref().unwrap_or(&req.key))
                .map_err(|e| QueueError::Invalid(e.to_string()))?;
            let issued = issuer
                .issue(
                    &req.store,
                    &IssueRequest {
                        customer_id: customer.clone(),
                        email: email.clone(),
                        campaign,
                        discount: Discount::Percentage {
                            basis_points: offer.percent * 100,
                        },
                        minimum_order: None,
                        expiry: Expiry::Days(offer.days),
                        usage_limit: 1,
                        prefix: None,
                    },
                    None,
                )
                .await?;
            if issued.created {
                report.coupons_issued += 1;
            }
            Some((
                issued.coupon.code.to_string(),
                issued.coupon.terms.expires_at,
            ))
        }
        (Some(_), None) => {
            return Err(QueueError::Invalid(
                "an offer needs the coupon issuer".into(),
            ))
        }
        _ => None,
    };
    let message = OutboxMessage {
        store: req.store.clone(),
        key,
        template: req.template.clone(),
        marketing: req.marketing,
        email,
        status: Status::Queued,
        reason: None,
        due: req.now,
        created_at: req.now,
        updated_at: req.now,
        attempts: 0,
        ses_message_id: None,
        campaign: req.campaign.clone(),
        variant: req.variant.clone(),
        coupon,
        offer: req.offer,
        data: BTreeMap::new(),
    };
    if ports.outbox.enqueue(&message).await? {
        report.queued += 1;
    } else {
        report.already += 1;
    }
    Ok(())
}

/// Every skip reason, for reports that list them all.
pub fn skip_reasons() -> impl Iterator<Item = &'static str> {
    SkipReason::ALL.iter().map(|r| r.as_str())
}
