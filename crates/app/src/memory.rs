//! The ports in memory, for unit tests of the use cases: the same guards (evaluated with the core's
//! own [`Guard::admits`]), all-or-nothing commits, segments and cursors as the DynamoDB adapter has
//! them. Not for production: one lock, no persistence.

use crate::error::Result;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use retention_core::churn::scored::CustomerScore;
use retention_core::coupon::{ApiKeyHash, CheckoutSync, Coupon, CouponCode, RedeemOutcome};
use retention_core::email::outbox::{OutboxKey, OutboxMessage, Status};
use retention_core::email::reputation::DayCounts;
use retention_core::email::suppression::Suppression;
use retention_core::ledger::{IdentityWrite, OrderRecord, Version, Write};
use retention_core::profile::Profile;
use retention_core::scan::{Phase, Run};
use retention_core::segment::{bucket, Cursor, Segment};
use retention_core::store::Store;
use retention_core::webhook::OrderStatus;
use retention_core::{CustomerId, Email, OrderId, StoreId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

#[derive(Default, Clone)]
struct Customer {
    profile: Profile,
    identity_version: Option<Version>,
}

/// A value and its revision.
type Revised<T> = (T, u64);

#[derive(Default)]
struct State {
    stores: HashMap<StoreId, (Store, u64)>,
    markers: HashSet<(StoreId, String)>,
    orders: HashMap<(StoreId, OrderId), (OrderRecord, Option<Email>)>,
    /// Keyed as the table sorts them: by bucket, then id.
    customers: BTreeMap<(StoreId, u16, CustomerId), Customer>,
    coupons: HashMap<(StoreId, String), Coupon>,
    grants: HashMap<(StoreId, String), (CouponCode, Option<String>)>,
    api_keys: HashMap<StoreId, ApiKeyHash>,
    runs: HashMap<(StoreId, NaiveDate), (Run, u64)>,
    documents: BTreeMap<(StoreId, NaiveDate, Phase, u32), Vec<u8>>,
    score_writes: u64,
    /// Writes that keep no state the use cases read back (checkouts, data requests).
    other: Vec<(StoreId, Write)>,
    suppressions: BTreeMap<(StoreId, Email), Suppression>,
    reputation: BTreeMap<(StoreId, NaiveDate), DayCounts>,
    outbox: BTreeMap<(StoreId, OutboxKey), OutboxMessage>,
    history: HashMap<(StoreId, CustomerId), Revised<Vec<DateTime<Utc>>>>,
    pace: HashMap<String, DateTime<Utc>>,
    feedback_seen: HashSet<(StoreId, String)>,
}

/// Every port, in memory.
#[derive(Default)]
pub struct Memory {
    state: Mutex<State>,
}

fn key(store: &StoreId, c: &CustomerId) -> (StoreId, u16, CustomerId) {
    (store.clone(), bucket(c), c.clone())
}

impl Memory {
    pub fn new() -> Self {
        Self::default()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory store")
    }
    /// Puts a customer's profile as the ledger would have left it (for use-case tests).
    pub fn put_profile(&self, store: &StoreId, customer: &CustomerId, profile: Profile) {
        self.lock()
            .customers
            .entry(key(store, customer))
            .or_default()
            .profile = profile;
    }
    pub fn add_store(&self, store: Store) {
        self.lock().stores.insert(store.id.clone(), (store, 1));
    }
}

fn guard_holds(s: &State, store: &StoreId, w: &Write) -> bool {
    let record = |o: &OrderId| s.orders.get(&(store.clone(), o.clone())).map(|(r, _)| r);
    match w {
        Write::OrderState { state, guard } => guard.admits(record(&state.order_id)),
        Write::ParkRefund { refund, guard } => guard.admits(record(&refund.order_id)),
        Write::DeleteOrder {
            order_id, guard, ..
        } => guard.admits(record(order_id)),
        Write::DeleteSummary {
            customer_id,
            order_id,
            ..
        } => s
            .customers
            .get(&key(store, customer_id))
            .is_some_and(|c| c.profile.orders.contains_key(order_id)),
        Write::Identity {
            customer_id,
            write: IdentityWrite::Overwrite { version, .. },
        } => s.customers.get(&key(store, customer_id)).is_none_or(|c| {
            !c.profile.redacted && c.identity_version.is_none_or(|v| v <= *version)
        }),
        _ => true,
    }
}

fn customer<'s>(s: &'s mut State, store: &StoreId, c: &CustomerId) -> &'s mut Customer {
    s.customers.entry(key(store, c)).or_default()
}

fn apply(s: &mut State, store: &StoreId, w: &Write) {
    match w {
        Write::OrderState { state, .. } => {
            let (r, email) = s
                .orders
                .entry((store.clone(), state.order_id.clone()))
                .or_default();
            r.customer_id = Some(state.customer_id.clone());
            r.version = Some(state.version);
            r.status = Some(state.status);
            r.parked.retain(|p| !state.claimed.contains(&p.id));
            if email.is_none() {
                email.clone_from(&state.email);
            }
        }
        Write::OrderSummary {
            customer_id,
            order_id,
            summary,
        } => {
            customer(s, store, customer_id)
                .profile
                .orders
                .insert(order_id.clone(), summary.clone());
        }
        Write::Refund {
            customer_id,
            order_id,
            refund_id,
            summary,
        } => {
            customer(s, store, customer_id)
                .profile
                .refunds
                .insert((order_id.clone(), refund_id.clone()), summary.clone());
        }
        Write::Identity { customer_id, write } => {
            let c = customer(s, store, customer_id);
            match write {
                IdentityWrite::Fill(p) if !c.profile.redacted => c.profile.person.fill_from(p),
                IdentityWrite::Overwrite { person, version } => {
                    c.profile.person.overwrite_with(person);
                    c.identity_version = Some(*version);
                }
                _ => {}
            }
        }
        Write::ParkRefund { refund, .. } => {
            s.orders
                .entry((store.clone(), refund.order_id.clone()))
                .or_default()
                .0
                .parked
                .push(refund.clone());
        }
        Write::DeleteOrder {
            order_id, version, ..
        } => {
            let r = &mut s
                .orders
                .entry((store.clone(), order_id.clone()))
                .or_default()
                .0;
            r.status = Some(OrderStatus::Deleted);
            r.version = Some(*version);
        }
        Write::DeleteSummary {
            customer_id,
            order_id,
            at,
        } => {
            if let Some(o) = customer(s, store, customer_id)
                .profile
                .orders
                .get_mut(order_id)
            {
                o.status = OrderStatus::Deleted;
                o.updated_at = *at;
            }
        }
        Write::Checkout(_) | Write::DataRequest { .. } => s.other.push((store.clone(), w.clone())),
    }
}

#[async_trait]
impl Ledger for Memory {
    async fn order_record(&self, store: &StoreId, order: &OrderId) -> Result<Option<OrderRecord>> {
        Ok(self
            .lock()
            .orders
            .get(&(store.clone(), order.clone()))
            .map(|(r, _)| r.clone()))
    }
    async fn commit(
        &self,
        store: &StoreId,
        markers: &Markers<'_>,
        writes: &[Write],
    ) -> Result<Commit> {
        let mut s = self.lock();
        if markers
            .ids
            .iter()
            .any(|id| s.markers.contains(&(store.clone(), id.clone())))
        {
            return Ok(Commit::Duplicate);
        }
        if !writes.iter().all(|w| guard_holds(&s, store, w)) {
            return Ok(Commit::GuardFailed);
        }
        for id in markers.ids {
            s.markers.insert((store.clone(), id.clone()));
        }
        for w in writes {
            apply(&mut s, store, w);
        }
        Ok(Commit::Committed)
    }
}

#[async_trait]
impl Erasure for Memory {
    async fn customer_orders(
        &self,
        store: &StoreId,
        customer: &CustomerId,
    ) -> Result<Option<Vec<OrderId>>> {
        Ok(self
            .lock()
            .customers
            .get(&key(store, customer))
            .map(|c| c.profile.orders.keys().cloned().collect()))
    }
    async fn customers_with_email(
        &self,
        store: &StoreId,
        email: &Email,
    ) -> Result<Vec<CustomerId>> {
        self.find_by_email(store, email).await
    }
    async fn erase_customer(
        &self,
        store: &StoreId,
        c: &CustomerId,
        _: DateTime<Utc>,
    ) -> Result<()> {
        self.lock()
            .customers
            .entry(key(store, c))
            .or_default()
            .profile
            .redact();
        Ok(())
    }
    async fn erase_order_email(&self, store: &StoreId, order: &OrderId) -> Result<()> {
        if let Some((_, email)) = self.lock().orders.get_mut(&(store.clone(), order.clone())) {
            *email = None;
        }
        Ok(())
    }
    async fn erase_store(&self, store: &StoreId) -> Result<()> {
        let mut s = self.lock();
        s.stores.remove(store);
        s.markers.retain(|(st, _)| st != store);
        s.orders.retain(|(st, _), _| st != store);
        s.customers.retain(|(st, _, _), _| st != store);
        s.coupons.retain(|(st, _), _| st != store);
        s.grants.retain(|(st, _), _| st != store);
        s.api_keys.remove(store);
        s.other.retain(|(st, _)| st != store);
        Ok(())
    }
}

#[async_trait]
impl Customers for Memory {
    async fn profile(&self, store: &StoreId, customer: &CustomerId) -> Result<Option<Profile>> {
        Ok(self
            .lock()
            .customers
            .get(&key(store, customer))
            .map(|c| c.profile.clone()))
    }
    async fn find_by_email(&self, store: &StoreId, email: &Email) -> Result<Vec<CustomerId>> {
        Ok(self
            .lock()
            .customers
            .iter()
            .filter(|((st, _, _), c)| st == store && c.profile.person.email.as_ref() == Some(email))
            .map(|((_, _, id), _)| id.clone())
            .collect())
    }
    async fn page(
        &self,
        store: &StoreId,
        segment: Segment,
        after: Option<&Cursor>,
        items: usize,
    ) -> Result<Page> {
        let s = self.lock();
        let (first, last) = segment.buckets();
        let after = after.map(|c| {
            let (b, id) = c.0.split_once(':').expect("a memory cursor");
            (b.parse::<u16>().expect("a bucket"), id.to_string())
        });
        let mut page = Page::default();
        let mut taken = 0;
        let mut rest = s
            .customers
            .range((store.clone(), first, CustomerId::parse("0").expect("id"))..)
            .filter(|((st, b, _), _)| st == store && *b <= last)
            .filter(|((_, b, id), _)| {
                after
                    .as_ref()
                    .is_none_or(|(ab, aid)| (*b, id.as_str()) > (*ab, aid.as_str()))
            })
            .peekable();
        while let Some(((_, b, id), c)) = rest.next() {
            taken += 1 + c.profile.orders.len() + c.profile.refunds.len();
            page.customers.push((id.clone(), c.profile.clone()));
            if taken >= items && rest.peek().is_some() {
                page.next = Some(Cursor(format!("{b}:{id}")));
                break;
            }
        }
        Ok(page)
    }
}

#[async_trait]
impl StoreDirectory for Memory {
    async fn store(&self, id: &StoreId) -> Result<Option<Store>> {
        Ok(self.lock().stores.get(id).map(|(s, _)| s.clone()))
    }
}

#[async_trait]
impl StoreIndex for Memory {
    async fn store_ids(&self) -> Result<Vec<StoreId>> {
        let mut ids: Vec<StoreId> = self.lock().stores.keys().cloned().collect();
        ids.sort();
        Ok(ids)
    }
}

#[async_trait]
impl StoreAdmin for Memory {
    async fn store_at_revision(&self, id: &StoreId) -> Result<Option<(Store, u64)>> {
        Ok(self.lock().stores.get(id).cloned())
    }
    async fn put_store(&self, store: &Store, rev: u64) -> Result<bool> {
        let mut s = self.lock();
        let current = s.stores.get(&store.id).map_or(0, |(_, r)| *r);
        if current != rev {
            return Ok(false);
        }
        s.stores.insert(store.id.clone(), (store.clone(), rev + 1));
        Ok(true)
    }
}

fn dedupe_key(coupon: &Coupon, dedupe: &Dedupe<'_>) -> (String, Option<String>) {
    match dedupe {
        Dedupe::Grant => (
            format!("grant#{}#{}", coupon.campaign, coupon.customer_id),
            None,
        ),
        Dedupe::Key { key, fingerprint } => (format!("key#{key}"), Some(fingerprint.to_string())),
    }
}

#[async_trait]
impl CouponIssuing for Memory {
    async fn store_coupon(&self, coupon: &Coupon, dedupe: &Dedupe<'_>) -> Result<Stored> {
        let mut s = self.lock();
        let store = coupon.store.clone();
        let (k, fingerprint) = dedupe_key(coupon, dedupe);
        if let Some((code, f)) = s.grants.get(&(store.clone(), k.clone())) {
            return Ok(Stored::AlreadyIssued {
                code: code.clone(),
                fingerprint: f.clone(),
            });
        }
        let ck = (store.clone(), coupon.code.normalized().to_string());
        if s.coupons.contains_key(&ck) {
            return Ok(Stored::CodeTaken);
        }
        s.coupons.insert(ck, coupon.clone());
        s.grants
            .insert((store, k), (coupon.code.clone(), fingerprint));
        Ok(Stored::Stored)
    }
    async fn coupon(&self, store: &StoreId, code: &CouponCode) -> Result<Option<Coupon>> {
        Ok(self
            .lock()
            .coupons
            .get(&(store.clone(), code.normalized().to_string()))
            .cloned())
    }
    async fn set_checkout(
        &self,
        store: &StoreId,
        code: &CouponCode,
        checkout: &CheckoutSync,
    ) -> Result<()> {
        if let Some(c) = self
            .lock()
            .coupons
            .get_mut(&(store.clone(), code.normalized().to_string()))
        {
            c.checkout = checkout.clone();
        }
        Ok(())
    }
    async fn api_key(&self, store: &StoreId) -> Result<Option<ApiKeyHash>> {
        Ok(self.lock().api_keys.get(store).cloned())
    }
}

#[async_trait]
impl Redemptions for Memory {
    async fn coupon(&self, store: &StoreId, code: &CouponCode) -> Result<Option<Coupon>> {
        CouponIssuing::coupon(self, store, code).await
    }
    async fn record_use(
        &self,
        store: &StoreId,
        read: &Coupon,
        _order: &OrderId,
        outcome: &RedeemOutcome,
    ) -> Result<bool> {
        let mut s = self.lock();
        let Some(c) = s
            .coupons
            .get_mut(&(store.clone(), read.code.normalized().to_string()))
        else {
            return Ok(false);
        };
        if c != read {
            return Ok(false);
        }
        match outcome {
            RedeemOutcome::Redeemed(r) if c.revoked_at.is_none() => c.redemptions.push(r.clone()),
            RedeemOutcome::Invalid(r) => c.invalid_redemptions.push(r.clone()),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[async_trait]
impl ScanRuns for Memory {
    async fn run(&self, store: &StoreId, as_of: NaiveDate) -> Result<Option<(Run, u64)>> {
        Ok(self.lock().runs.get(&(store.clone(), as_of)).cloned())
    }
    async fn put_run(&self, run: &Run, rev: u64) -> Result<bool> {
        let mut s = self.lock();
        let key = (run.store.clone(), run.as_of);
        let current = s.runs.get(&key).map_or(0, |(_, r)| *r);
        if current != rev {
            return Ok(false);
        }
        s.runs.insert(key, (run.clone(), rev + 1));
        Ok(true)
    }
    async fn runs(&self, store: &StoreId, limit: usize) -> Result<Vec<Run>> {
        let s = self.lock();
        let mut runs: Vec<Run> = s
            .runs
            .iter()
            .filter(|((st, _), _)| st == store)
            .map(|(_, (r, _))| r.clone())
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse(r.as_of));
        runs.truncate(limit);
        Ok(runs)
    }
}

#[async_trait]
impl ScanState for Memory {
    async fn document(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
        phase: Phase,
        segment: u32,
    ) -> Result<Option<Vec<u8>>> {
        let key = (store.clone(), as_of, phase, segment);
        Ok(self.lock().documents.get(&key).cloned())
    }
    async fn put_document(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
        phase: Phase,
        segment: u32,
        json: &[u8],
    ) -> Result<()> {
        let key = (store.clone(), as_of, phase, segment);
        self.lock().documents.insert(key, json.to_vec());
        Ok(())
    }
    async fn documents(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
        phase: Phase,
    ) -> Result<Vec<(u32, Vec<u8>)>> {
        let s = self.lock();
        let lo = (store.clone(), as_of, phase, 0);
        let hi = (store.clone(), as_of, phase, u32::MAX);
        Ok(s.documents
            .range(lo..=hi)
            .map(|((_, _, _, seg), d)| (*seg, d.clone()))
            .collect())
    }
}

#[async_trait]
impl Scores for Memory {
    async fn put_scores(
        &self,
        store: &StoreId,
        scores: &[(CustomerId, CustomerScore)],
    ) -> Result<()> {
        let mut s = self.lock();
        for (c, score) in scores {
            if let Some(customer) = s.customers.get_mut(&key(store, c)) {
                customer.profile.score = Some(score.clone());
            }
        }
        s.score_writes += scores.len() as u64;
        Ok(())
    }
}

impl Memory {
    /// Scores written so far (each customer's write counts once).
    pub fn score_writes(&self) -> u64 {
        self.lock().score_writes
    }
}

#[async_trait]
impl ConsentChanges for Memory {
    async fn unsubscribe(
        &self,
        store: &StoreId,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut s = self.lock();
        match s.customers.get_mut(&key(store, customer)) {
            None => Ok(false),
            Some(c) => {
                c.profile.unsubscribed_at.get_or_insert(at);
                Ok(true)
            }
        }
    }
}

#[async_trait]
impl Suppressions for Memory {
    async fn suppression(&self, store: &StoreId, email: &Email) -> Result<Option<Suppression>> {
        Ok(self
            .lock()
            .suppressions
            .get(&(store.clone(), email.clone()))
            .cloned())
    }
    async fn suppress(&self, store: &StoreId, entry: &Suppression) -> Result<bool> {
        let mut s = self.lock();
        let k = (store.clone(), entry.email.clone());
        if s.suppressions.contains_key(&k) {
            return Ok(false);
        }
        s.suppressions.insert(k, entry.clone());
        Ok(true)
    }
    async fn suppressions(&self, store: &StoreId) -> Result<Vec<Suppression>> {
        Ok(self
            .lock()
            .suppressions
            .iter()
            .filter(|((s, _), _)| s == store)
            .map(|(_, v)| v.clone())
            .collect())
    }
}

#[async_trait]
impl Reputation for Memory {
    async fn add(&self, store: &StoreId, day: NaiveDate, counts: &DayCounts) -> Result<()> {
        self.lock()
            .reputation
            .entry((store.clone(), day))
            .or_default()
            .add(counts);
        Ok(())
    }
    async fn window(&self, store: &StoreId, from: NaiveDate, to: NaiveDate) -> Result<DayCounts> {
        let mut total = DayCounts::default();
        for (_, c) in self
            .lock()
            .reputation
            .range((store.clone(), from)..=(store.clone(), to))
        {
            total.add(c);
        }
        Ok(total)
    }
}

#[async_trait]
impl FeedbackSeen for Memory {
    async fn count_once(
        &self,
        store: &StoreId,
        key: &str,
        day: NaiveDate,
        counts: &DayCounts,
        _at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut s = self.lock();
        if !s.feedback_seen.insert((store.clone(), key.to_owned())) {
            return Ok(false);
        }
        s.reputation
            .entry((store.clone(), day))
            .or_default()
            .add(counts);
        Ok(true)
    }
}

#[async_trait]
impl Outbox for Memory {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<bool> {
        let mut s = self.lock();
        let k = (message.store.clone(), message.key.clone());
        if s.outbox.contains_key(&k) {
            return Ok(false);
        }
        s.outbox.insert(k, message.clone());
        Ok(true)
    }
    async fn message(&self, store: &StoreId, key: &OutboxKey) -> Result<Option<OutboxMessage>> {
        Ok(self
            .lock()
            .outbox
            .get(&(store.clone(), key.clone()))
            .cloned())
    }
    async fn due(
        &self,
        store: &StoreId,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>> {
        let mut due: Vec<OutboxMessage> = self
            .lock()
            .outbox
            .values()
            .filter(|m| &m.store == store && m.status.is_pending() && m.listed_at() <= now)
            .cloned()
            .collect();
        due.sort_by(|a, b| (a.listed_at(), &a.key).cmp(&(b.listed_at(), &b.key)));
        due.truncate(limit);
        Ok(due)
    }
    async fn transition(
        &self,
        message: &OutboxMessage,
        expected: (Status, DateTime<Utc>),
    ) -> Result<bool> {
        let mut s = self.lock();
        match s
            .outbox
            .get_mut(&(message.store.clone(), message.key.clone()))
        {
            Some(stored) if (stored.status, stored.updated_at) == expected => {
                *stored = message.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn messages(&self, store: &StoreId) -> Result<Vec<OutboxMessage>> {
        Ok(self
            .lock()
            .outbox
            .values()
            .filter(|m| &m.store == store)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl SendHistory for Memory {
    async fn history(
        &self,
        store: &StoreId,
        customer: &CustomerId,
    ) -> Result<(Vec<DateTime<Utc>>, u64)> {
        Ok(self
            .lock()
            .history
            .get(&(store.clone(), customer.clone()))
            .cloned()
            .unwrap_or_default())
    }
    async fn put_history(
        &self,
        store: &StoreId,
        customer: &CustomerId,
        history: &[DateTime<Utc>],
        rev: u64,
    ) -> Result<bool> {
        let mut s = self.lock();
        let entry = s
            .history
            .entry((store.clone(), customer.clone()))
            .or_default();
        if entry.1 != rev {
            return Ok(false);
        }
        *entry = (history.to_vec(), rev + 1);
        Ok(true)
    }
}

#[async_trait]
impl Pacer for Memory {
    async fn reserve(
        &self,
        pace: &str,
        count: u32,
        spacing: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>> {
        let mut s = self.lock();
        let next = s.pace.entry(pace.to_owned()).or_insert(now);
        let first = (*next).max(now);
        *next = first + spacing * count as i32;
        Ok(first)
    }
}
