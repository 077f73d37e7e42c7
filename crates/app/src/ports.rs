//! The narrow traits the use cases are written against. Each function holds exactly the ports its
//! IAM role lets it use (see `infra/template.yaml` and `tests/it/infra.rs`, which holds the two
//! together); the DynamoDB, SSM and platform adapters implement them, and [`crate::memory`] does for
//! unit tests.

use crate::error::Result;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use retention_core::churn::scored::CustomerScore;
use retention_core::coupon::{ApiKeyHash, CheckoutSync, Coupon, CouponCode, RedeemOutcome};
use retention_core::ledger::{OrderRecord, Write};
use retention_core::profile::Profile;
use retention_core::scan::{Phase, Run, ScanJob};
use retention_core::segment::{Cursor, Segment};
use retention_core::store::Store;
use retention_core::{CustomerId, Email, OrderId, StoreId};
use secrecy::SecretString;

/// A store's registration, as the functions read it (once per TTL, see [`crate::StoreCache`]).
#[async_trait]
pub trait StoreDirectory: Send + Sync {
    async fn store(&self, id: &StoreId) -> Result<Option<Store>>;
}

/// Every registered store (the scheduled scan).
#[async_trait]
pub trait StoreIndex: Send + Sync {
    async fn store_ids(&self) -> Result<Vec<StoreId>>;
}

/// Registering and editing stores (the operator's CLI).
#[async_trait]
pub trait StoreAdmin: Send + Sync {
    /// The store and its revision, for an optimistic write.
    async fn store_at_revision(&self, id: &StoreId) -> Result<Option<(Store, u64)>>;
    /// Writes the store provided nobody wrote it since `rev` (0: it must be new); false if they did.
    async fn put_store(&self, store: &Store, rev: u64) -> Result<bool>;
}

/// The ids that make a delivery take effect once, and what to stamp them with.
#[derive(Debug, Clone)]
pub struct Markers<'a> {
    pub ids: &'a [String],
    pub kind: &'static str,
    pub at: DateTime<Utc>,
}

/// How a commit went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    Committed,
    /// A marker was there: this delivery was seen before, nothing was written.
    Duplicate,
    /// A write's guard did not hold: nothing was written.
    GuardFailed,
    /// Another writer held an item: nothing was written, try again.
    Conflict,
}

/// Where deliveries land: order records, the customers' copies of their orders, identities.

#[async_trait]
pub trait Ledger: Send + Sync {
    /// The order's record (strongly consistent), for a decision that needs it.
    async fn order_record(&self, store: &StoreId, order: &OrderId) -> Result<Option<OrderRecord>>;
    /// Writes the markers and `writes` all or nothing, each write under its guard.
    async fn commit(
        &self,
        store: &StoreId,
        markers: &Markers<'_>,
        writes: &[Write],
    ) -> Result<Commit>;
}

/// What erasing personal data needs, beyond the ledger's markers.
#[async_trait]
pub trait Erasure: Send + Sync {
    /// The order ids the customer's profile holds; `None` when there is no profile.
    async fn customer_orders(
        &self,
        store: &StoreId,
        customer: &CustomerId,
    ) -> Result<Option<Vec<OrderId>>>;
    async fn customers_with_email(&self, store: &StoreId, email: &Email)
        -> Result<Vec<CustomerId>>;
    /// Erases the profile's personal data for good (later orders cannot bring it back).
    async fn erase_customer(
        &self,
        store: &StoreId,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Erases the address kept on an order's record; a missing order is fine.
    async fn erase_order_email(&self, store: &StoreId, order: &OrderId) -> Result<()>;
    /// Deletes everything the store has, its registration included.
    async fn erase_store(&self, store: &StoreId) -> Result<()>;
}

/// Complete customers of a segment, in storage order, and where to go on (`None`: the end).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub customers: Vec<(CustomerId, Profile)>,
    pub next: Option<Cursor>,
}

/// Reading customers: one, or a store's, page by page.
#[async_trait]
pub trait Customers: Send + Sync {
    async fn profile(&self, store: &StoreId, customer: &CustomerId) -> Result<Option<Profile>>;
    async fn find_by_email(&self, store: &StoreId, email: &Email) -> Result<Vec<CustomerId>>;
    /// The next page of `segment` after `after` (`None`: from its start). A page holds whole
    /// customers (at least one, if any is left) and about `items` stored items.
    async fn page(
        &self,
        store: &StoreId,
        segment: Segment,
        after: Option<&Cursor>,
        items: usize,
    ) -> Result<Page>;
}

/// A store's churn-scan runs, one per day ([`retention_core::scan::Run`]), each written under a
/// revision so that concurrent workers' records never overwrite one another.
#[async_trait]
pub trait ScanRuns: Send + Sync {
    /// The store's run for `as_of` and its revision.
    async fn run(&self, store: &StoreId, as_of: NaiveDate) -> Result<Option<(Run, u64)>>;
    /// Writes `run` provided nobody wrote it since `rev` (0: it must be new); false if they did.
    async fn put_run(&self, run: &Run, rev: u64) -> Result<bool>;
    /// The store's runs, newest first, at most `limit`.
    async fn runs(&self, store: &StoreId, limit: usize) -> Result<Vec<Run>>;
}

/// A run's documents, one per (phase, segment): each segment's checkpoint (reduce, score), the
/// fitted model (fit, 0) and the report (done, 0). Opaque JSON to the adapter, which may compress
/// it; the use cases in [`crate::scan`] give it its shape. Written last-writer-wins: a segment's
/// checkpoint is its own worker's, and a document is the same whoever writes it.
#[async_trait]
pub trait ScanState: Send + Sync {
    async fn document(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
        phase: Phase,
        segment: u32,
    ) -> Result<Option<Vec<u8>>>;
    async fn put_document(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
        phase: Phase,
        segment: u32,
        json: &[u8],
    ) -> Result<()>;
    /// Every document of a phase, by segment.
    async fn documents(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
        phase: Phase,
    ) -> Result<Vec<(u32, Vec<u8>)>>;
}

/// Writing customers' scores (the scan's score phase); they are read back with the profiles.
#[async_trait]
pub trait Scores: Send + Sync {
    async fn put_scores(
        &self,
        store: &StoreId,
        scores: &[(CustomerId, CustomerScore)],
    ) -> Result<()>;
}

/// Handing a run's jobs to the workers (SQS on AWS; a queue in memory for the CLI).
#[async_trait]
pub trait ScanQueue: Send + Sync {
    async fn send(&self, jobs: &[ScanJob]) -> Result<()>;
}

/// What makes two issue requests "the same".
#[derive(Debug, Clone)]
pub enum Dedupe<'a> {
    /// One coupon per (campaign, customer): scans and surveys.
    Grant,
    /// One coupon per idempotency key, provided the request is the same (by its fingerprint).
    Key { key: &'a str, fingerprint: &'a str },
}

/// How storing a new coupon went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Stored,
    /// Another coupon has this code: draw another.
    CodeTaken,
    /// The (campaign, customer) or key already has a coupon: this code, and the fingerprint its
    /// request had (for keys).
    AlreadyIssued {
        code: CouponCode,
        fingerprint: Option<String>,
    },
    /// Another writer held an item: try again.
    Conflict,
}

/// Issuing and checking coupons (coupon-issuer, the CLI, the scan).
#[async_trait]
pub trait CouponIssuing: Send + Sync {
    /// Stores `coupon` under its code, with the dedupe marker, both conditional on not existing;
    /// when the marker exists, reads which code it names (a marker gone again is a `Conflict`).
    async fn store_coupon(&self, coupon: &Coupon, dedupe: &Dedupe<'_>) -> Result<Stored>;
    async fn coupon(&self, store: &StoreId, code: &CouponCode) -> Result<Option<Coupon>>;
    async fn set_checkout(
        &self,
        store: &StoreId,
        code: &CouponCode,
        checkout: &CheckoutSync,
    ) -> Result<()>;
    async fn api_key(&self, store: &StoreId) -> Result<Option<ApiKeyHash>>;
}

/// Recording what an order did to our coupons (the order-webhook).
#[async_trait]
pub trait Redemptions: Send + Sync {
    async fn coupon(&self, store: &StoreId, code: &CouponCode) -> Result<Option<Coupon>>;
    /// Records `outcome` for `order` on the coupon `read` (and links the order to it), provided
    /// the coupon is as read; false when it changed meanwhile.
    async fn record_use(
        &self,
        store: &StoreId,
        read: &Coupon,
        order: &OrderId,
        outcome: &RedeemOutcome,
    ) -> Result<bool>;
}

/// The operator's view of coupons and keys (the CLI).
#[async_trait]
pub trait CouponAdmin: Send + Sync {
    async fn list_coupons(&self, store: &StoreId) -> Result<Vec<Coupon>>;
    async fn revoke_coupon(
        &self,
        store: &StoreId,
        code: &CouponCode,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    async fn put_api_key(
        &self,
        store: &StoreId,
        hash: &ApiKeyHash,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

/// Platform credentials, kept encrypted outside the table (SSM SecureStrings).
#[async_trait]
pub trait PlatformSecrets: Send + Sync {
    async fn platform_secret(&self, store: &StoreId) -> Result<Option<SecretString>>;
}

/// Creating a new coupon on the store's own checkout, so the checkout accepts it.
#[async_trait]
pub trait Checkouts: Send + Sync {
    /// Creates `coupon` on `store`'s platform; what happened is the coupon's checkout state.
    async fn create(&self, store: &Store, coupon: &Coupon, now: DateTime<Utc>) -> CheckoutSync;
}

// ---- Email (issue 10) ----

use retention_core::email::outbox::{OutboxKey, OutboxMessage, Status};
use retention_core::email::reputation::DayCounts;
use retention_core::email::suppression::Suppression;

/// Consent withdrawn through our own link (customer-pages).
#[async_trait]
pub trait ConsentChanges: Send + Sync {
    /// Records that the customer unsubscribed at `at`; false when the customer is unknown. An
    /// earlier unsubscribe is kept (the first one stands).
    async fn unsubscribe(
        &self,
        store: &StoreId,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> Result<bool>;
}

/// What telling the store's platform about a withdrawn consent came to. The local withdrawal has
/// already happened and stands whatever this says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentSync {
    /// The platform recorded the customer as unsubscribed.
    Sent,
    /// There was nothing to tell: no credentials stored for the store, or a guest with no account
    /// on the platform. Says which.
    Skipped(String),
    /// The platform could not be told, after its retries; says why.
    Failed(String),
}

/// The store's own platform (Shopify, WooCommerce) told that a customer unsubscribed here, so the
/// store's other tools stop mailing them too.
#[async_trait]
pub trait PlatformConsent: Send + Sync {
    async fn unsubscribed(
        &self,
        store: &Store,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> ConsentSync;
}

/// A store's suppression list: the authority on who must not be written to again.
#[async_trait]
pub trait Suppressions: Send + Sync {
    async fn suppression(&self, store: &StoreId, email: &Email) -> Result<Option<Suppression>>;
    /// Adds the address; false when it was already suppressed (the first entry is kept).
    async fn suppress(&self, store: &StoreId, entry: &Suppression) -> Result<bool>;
    async fn suppressions(&self, store: &StoreId) -> Result<Vec<Suppression>>;
}

/// A store's sends, bounces and complaints per day.
#[async_trait]
pub trait Reputation: Send + Sync {
    /// Adds `counts` to the store's day (atomically: concurrent senders and events add up).
    async fn add(&self, store: &StoreId, day: NaiveDate, counts: &DayCounts) -> Result<()>;
    /// The sum over the days `from..=to`.
    async fn window(&self, store: &StoreId, from: NaiveDate, to: NaiveDate) -> Result<DayCounts>;
}

/// SES feedback counted once: a redelivered event (EventBridge and SNS deliver at least once) must
/// not count twice.
#[async_trait]
pub trait FeedbackSeen: Send + Sync {
    /// Adds `counts` to the store's `day` and leaves the marker `key` (see
    /// [`retention_core::email::feedback::Feedback::marker`]), both or neither; false, and nothing
    /// added, when the marker was there: the feedback was counted before.
    async fn count_once(
        &self,
        store: &StoreId,
        key: &str,
        day: NaiveDate,
        counts: &DayCounts,
        at: DateTime<Utc>,
    ) -> Result<bool>;
}

/// SES's account-level suppression list (on AWS, beside the store's own list, which stays the
/// authority: moto has no such API, and an account list cannot say which store suppressed whom).
#[async_trait]
pub trait AccountSuppression: Send + Sync {
    async fn suppress_account_wide(&self, entry: &Suppression) -> Result<()>;
}

/// The outbox ([`retention_core::email::outbox`]).
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Writes the message unless its key is there already; true when it was new.
    async fn enqueue(&self, message: &OutboxMessage) -> Result<bool>;
    async fn message(&self, store: &StoreId, key: &OutboxKey) -> Result<Option<OutboxMessage>>;
    /// Pending messages listed at or before `now` ([`OutboxMessage::listed_at`]: due, or a claim
    /// gone stale), soonest first.
    async fn due(
        &self,
        store: &StoreId,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>>;
    /// Writes `message` provided its stored status and `updated_at` are still `expected` (what the
    /// caller read): the claim of a message, and every move after it. False when another sender
    /// moved it first.
    async fn transition(
        &self,
        message: &OutboxMessage,
        expected: (Status, DateTime<Utc>),
    ) -> Result<bool>;
    /// Every message of the store (the operator's list).
    async fn messages(&self, store: &StoreId) -> Result<Vec<OutboxMessage>>;
}

/// The marketing sends of a customer (for the frequency cap), under a revision.
#[async_trait]
pub trait SendHistory: Send + Sync {
    async fn history(
        &self,
        store: &StoreId,
        customer: &CustomerId,
    ) -> Result<(Vec<DateTime<Utc>>, u64)>;
    /// Replaces the history, provided it is still at `rev`; false when another sender wrote first.
    async fn put_history(
        &self,
        store: &StoreId,
        customer: &CustomerId,
        history: &[DateTime<Utc>],
        rev: u64,
    ) -> Result<bool>;
}

/// Shared send slots, so that every sender instance together stays under the rate.
#[async_trait]
pub trait Pacer: Send + Sync {
    /// Reserves `count` consecutive slots `spacing` apart, none before `now`, and returns the first
    /// one's time: the caller may send its i-th message at `first + i * spacing`.
    async fn reserve(
        &self,
        pace: &str,
        count: u32,
        spacing: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>>;
}

/// One email as SES gets it: raw MIME, with the tags SES echoes in its events.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub from: String,
    pub to: String,
    pub raw: Vec<u8>,
    pub tags: Vec<(String, String)>,
}

/// Why SES did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Too many requests or the sending quota: certainly not sent; wait and retry.
    #[error("throttled: {0}")]
    Throttled(String),
    /// A network or 5xx error: not sent (or SES would have answered); retry a few times.
    #[error("transient: {0}")]
    Transient(String),
    /// SES refused the message (unverified sender, bad address, account paused): retrying is no use.
    #[error("rejected: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends; SES's message id.
    async fn send(&self, email: &OutgoingEmail) -> std::result::Result<String, MailError>;
    /// The account's `MaxSendRate` (messages per second), when SES says.
    async fn max_send_rate(&self) -> Result<Option<u32>>;
}

/// What composing one message needs.
pub struct ComposeRequest<'a> {
    pub store: &'a Store,
    pub message: &'a OutboxMessage,
    pub customer: &'a CustomerId,
    pub profile: &'a Profile,
    pub to: &'a Email,
    /// The signed one-click URL (marketing only) and the mailto form of it.
    pub unsubscribe: Option<(&'a str, &'a str)>,
    pub now: DateTime<Utc>,
}

/// Renders and composes a message as raw MIME (`retention-email`; a fake in unit tests).
pub trait Compose: Send + Sync {
    fn compose(&self, req: &ComposeRequest<'_>) -> std::result::Result<Vec<u8>, String>;
}
