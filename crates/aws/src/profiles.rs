//! Customer profiles and the order items that route refunds and deletions to them.
//!
//! Every delivery becomes one `TransactWriteItems`: a delivery marker per delivery id (conditional on
//! not existing, so a redelivery takes effect once) plus the writes of the change, each guarded by a
//! condition on the stored order's `v` (its `updated_at` in ms). Nothing is read before writing in the
//! common case (a new order or a newer state of a known one); the rare cases that need the stored
//! state (refunds parked before their order, deletions, stale states) read it and then write
//! conditionally on exactly what they read, retrying when someone else got there first.

use crate::error::AwsError;
use crate::keys::*;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use retention_core::profile::{OrderSummary, Profile, RefundSummary};
use retention_core::webhook::{
    Change, Checkout, CustomerUpdate, Order, OrderStatus, Person, Refund,
};
use retention_core::{CustomerId, Email, OrderId, RefundId, StoreId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Delivery markers outlive every platform's retry window (Shopify: 48 h; WooCommerce: 5 tries).
const DELIVERY_TTL_SECS: i64 = 30 * 24 * 3600;
/// Abandoned checkouts matter for a few days; after a month they are noise (and personal data).
const CHECKOUT_TTL_SECS: i64 = 30 * 24 * 3600;
const MAX_ATTEMPTS: u32 = 8;

type Item = HashMap<String, AttributeValue>;

pub use retention_app::Applied;

/// The table, as the domain sees it. Cheap to clone; build one per process.
#[derive(Clone)]
pub struct Table {
    pub(crate) client: Client,
    pub(crate) name: String,
    requests: Arc<AtomicU64>,
}

/// The delivery being applied: where its markers go and what they say.
struct Delivery<'a> {
    store: &'a StoreId,
    ids: &'a [String],
    kind: &'static str,
    now: DateTime<Utc>,
}

/// A transaction's outcome: committed, or one reason code per item.
pub(crate) enum Tx {
    Committed,
    /// One reason code per item, in order (`None` where that item was fine).
    Cancelled(Vec<Option<String>>),
}

impl Tx {
    /// Whether item `i`'s condition failed.
    pub(crate) fn failed(&self, i: usize) -> bool {
        matches!(self, Tx::Cancelled(r) if r.get(i).is_some_and(|c| c.as_deref() == Some("ConditionalCheckFailed")))
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// An update expression assembled clause by clause, with placeholders numbered as they are added.
#[derive(Default)]
struct Expr {
    set: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        if let Some((k, _)) = self.names.iter().find(|(_, v)| *v == attr) {
            return k.clone();
        }
        let k = format!("#n{}", self.names.len());
        self.names.insert(k.clone(), attr.to_string());
        k
    }
    fn value(&mut self, v: AttributeValue) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), v);
        k
    }
    fn set(&mut self, attr: &str, v: AttributeValue) {
        let (a, b) = (self.name(attr), self.value(v));
        self.set.push(format!("{a} = {b}"));
    }
    /// Sets the attribute only where it has never been set: how orders fill in a profile's identity
    /// without overwriting newer customer updates, or reviving what a redaction nulled.
    fn set_if_absent(&mut self, attr: &str, v: AttributeValue) {
        let (a, b) = (self.name(attr), self.value(v));
        self.set.push(format!("{a} = if_not_exists({a}, {b})"));
    }
    fn remove(&mut self, attr: &str) {
        let a = self.name(attr);
        self.remove.push(a);
    }
    fn update_expression(&self) -> String {
        let mut out = String::new();
        if !self.set.is_empty() {
            out.push_str("SET ");
            out.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            out.push_str(" REMOVE ");
            out.push_str(&self.remove.join(", "));
        }
        out
    }
    fn into_update(
        self,
        table: &str,
        pk: String,
        sk: String,
        condition: Option<String>,
    ) -> Result<TransactWriteItem, AwsError> {
        let expression = self.update_expression();
        let update = Update::builder()
            .table_name(table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .update_expression(expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .build()
            .map_err(|e| AwsError::build("building an update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

fn to_av<T: serde::Serialize>(v: &T) -> Result<AttributeValue, AwsError> {
    serde_dynamo::to_attribute_value(v).map_err(|e| AwsError::corrupt("(value being written)", e))
}

fn fill_person(e: &mut Expr, p: &Person, store: &StoreId, customer: &CustomerId, overwrite: bool) {
    let put = |e: &mut Expr, attr: &str, v: AttributeValue| {
        if overwrite {
            e.set(attr, v)
        } else {
            e.set_if_absent(attr, v)
        }
    };
    if let Some(email) = &p.email {
        put(e, "email", s(email.as_str()));
        put(e, GSI1PK, s(email_gsi(store, email)));
        put(e, GSI1SK, s(customer_sk(customer)));
    }
    if let Some(v) = &p.first_name {
        put(e, "first_name", s(v));
    }
    if let Some(v) = &p.last_name {
        put(e, "last_name", s(v));
    }
    if let Some(v) = &p.phone {
        put(e, "phone", s(v));
    }
    if let Some(v) = p.accepts_marketing {
        put(e, "accepts_marketing", AttributeValue::Bool(v));
    }
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
            requests: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// DynamoDB requests sent through this handle so far (for the request-count figures).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub(crate) fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn markers(
        &self,
        store: &StoreId,
        deliveries: &[String],
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, AwsError> {
        deliveries
            .iter()
            .map(|d| {
                let put = Put::builder()
                    .table_name(&self.name)
                    .item(PK, s(store_pk(store)))
                    .item(SK, s(delivery_sk(d)))
                    .item("change", s(kind))
                    .item("received_at", s(now.to_rfc3339()))
                    .item(TTL, n(now.timestamp() + DELIVERY_TTL_SECS))
                    .condition_expression("attribute_not_exists(PK)")
                    .build()
                    .map_err(|e| AwsError::build("building a delivery marker", e))?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Tx, AwsError> {
        self.transact_in("writing a delivery", items).await
    }

    /// Sends one `TransactWriteItems`; a cancellation is an outcome, not an error.
    pub(crate) async fn transact_in(
        &self,
        context: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Tx, AwsError> {
        self.count();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Tx::Committed),
            Err(SdkError::ServiceError(ctx)) => match ctx.err() {
                TransactWriteItemsError::TransactionCanceledException(c) => Ok(Tx::Cancelled(
                    c.cancellation_reasons()
                        .iter()
                        .map(|r| r.code().filter(|c| *c != "None").map(str::to_string))
                        .collect(),
                )),
                // Another transaction held an item: as good as a conflict, retry.
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    Ok(Tx::Cancelled(vec![Some("TransactionConflict".into())]))
                }
                _ => Err(AwsError::sdk(context, SdkError::ServiceError(ctx))),
            },
            Err(e) => Err(AwsError::sdk(context, e)),
        }
    }

    async fn get(&self, pk: String, sk: String) -> Result<Option<Item>, AwsError> {
        self.count();
        Ok(self
            .client
            .get_item()
            .table_name(&self.name)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::sdk("reading an item", e))?
            .item)
    }

    /// Applies one verified, parsed delivery. `deliveries` are its ids (a marker each); an empty list
    /// means the change is applied without duplicate detection (it must then be idempotent itself).
    pub async fn apply(
        &self,
        store: &StoreId,
        change: &Change,
        deliveries: &[String],
        now: DateTime<Utc>,
    ) -> Result<Applied, AwsError> {
        match change {
            Change::RedactShop => self.redact_shop(store).await,
            Change::RedactCustomer {
                customer_id,
                email,
                orders,
            } => {
                self.redact_customer(
                    store,
                    customer_id.as_ref(),
                    email.as_ref(),
                    orders,
                    deliveries,
                    now,
                )
                .await
            }
            _ => {
                for attempt in 0..MAX_ATTEMPTS {
                    if attempt > 0 {
                        // Jitter keeps 100 concurrent retries of one delivery from colliding again in step.
                        let seed = u64::from(now.timestamp_subsec_nanos());
                        tokio::time::sleep(retention_app::delivery::backoff(attempt, 10, 20, seed))
                            .await;
                    }
                    if let Some(applied) = self.try_apply(store, change, deliveries, now).await? {
                        if let Change::Order(order) = change {
                            // Idempotent per (code, order), so also on a redelivery: a redemption
                            // that failed after the order was stored is finished by the retry.
                            self.redeem_codes(store, order).await?;
                        }
                        return Ok(applied);
                    }
                }
                Err(AwsError::Contention {
                    context: "applying a delivery",
                    attempts: MAX_ATTEMPTS,
                })
            }
        }
    }

    /// One attempt; `None` means "lost a race, try again".
    async fn try_apply(
        &self,
        store: &StoreId,
        change: &Change,
        deliveries: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<Applied>, AwsError> {
        let d = Delivery {
            store,
            ids: deliveries,
            kind: change.kind(),
            now,
        };
        let markers = self.markers(store, deliveries, change.kind(), now)?;
        let m = markers.len();
        let (writes, stale_on): (Vec<TransactWriteItem>, Option<usize>) = match change {
            Change::Order(order) => return self.apply_order(&d, order).await,
            Change::OrderDeleted { order_id } => return self.apply_deletion(&d, order_id).await,
            Change::Refund(refund) => return self.apply_refund(&d, refund).await,
            Change::Customer(c) => (vec![self.customer_update(store, c, now)?], Some(m)),
            Change::Checkout(c) => (vec![self.checkout_put(store, c, now)?], None),
            Change::DataRequest {
                request_id,
                customer_id,
                email,
            } => {
                let mut put = Put::builder()
                    .table_name(&self.name)
                    .item(PK, s(store_pk(store)))
                    .item(SK, s(format!("DATAREQ#{request_id}")))
                    .item("received_at", s(now.to_rfc3339()));
                if let Some(c) = customer_id {
                    put = put.item("customer_id", s(c.as_str()));
                }
                if let Some(e) = email {
                    put = put.item("email", s(e.as_str()));
                }
                let put = put
                    .build()
                    .map_err(|e| AwsError::build("building a data request", e))?;
                (vec![TransactWriteItem::builder().put(put).build()], None)
            }
            Change::RedactShop | Change::RedactCustomer { .. } => unreachable!("handled in apply"),
        };
        let mut items = markers;
        items.extend(writes);
        self.finish(&d, items, m, stale_on).await
    }

    /// Runs a delivery's transaction and reads its outcome: a failed marker is a duplicate; a failed
    /// item at `stale_on` means a newer state is stored, so only the markers are written.
    async fn finish(
        &self,
        d: &Delivery<'_>,
        items: Vec<TransactWriteItem>,
        markers: usize,
        stale_on: Option<usize>,
    ) -> Result<Option<Applied>, AwsError> {
        match self.transact(items).await? {
            Tx::Committed => Ok(Some(Applied::Processed)),
            Tx::Cancelled(reasons) => {
                if reasons
                    .iter()
                    .any(|r| r.as_deref() == Some("TransactionConflict"))
                {
                    return Ok(None);
                }
                if reasons
                    .iter()
                    .take(markers)
                    .any(|r| r.as_deref() == Some("ConditionalCheckFailed"))
                {
                    return Ok(Some(Applied::Duplicate));
                }
                if stale_on.is_some_and(|i| reasons.get(i).is_some_and(|r| r.is_some())) {
                    return self.markers_only(d).await;
                }
                Ok(None)
            }
        }
    }

    async fn markers_only(&self, d: &Delivery<'_>) -> Result<Option<Applied>, AwsError> {
        if d.ids.is_empty() {
            return Ok(Some(Applied::Stale));
        }
        match self
            .transact(self.markers(d.store, d.ids, d.kind, d.now)?)
            .await?
        {
            Tx::Committed => Ok(Some(Applied::Stale)),
            Tx::Cancelled(reasons)
                if reasons
                    .iter()
                    .any(|r| r.as_deref() == Some("ConditionalCheckFailed")) =>
            {
                Ok(Some(Applied::Duplicate))
            }
            Tx::Cancelled(_) => Ok(None),
        }
    }

    fn order_item_update(
        &self,
        store: &StoreId,
        order: &Order,
        condition: String,
        mut e: Expr,
        pending: &[RefundId],
    ) -> Result<TransactWriteItem, AwsError> {
        e.set("customer_id", s(order.customer_id.as_str()));
        e.set("v", n(ms(order.updated_at)));
        e.set("status", to_av(&order.status)?);
        e.set("created_at", s(order.created_at.to_rfc3339()));
        e.set("total", to_av(&order.total)?);
        if !order.coupon_codes.is_empty() {
            e.set("coupon_codes", to_av(&order.coupon_codes)?);
        }
        if let Some(email) = &order.customer.email {
            e.set_if_absent("email", s(email.as_str()));
        }
        if !pending.is_empty() {
            e.remove("pend");
            for r in pending {
                e.remove(&pending_refund_attr(r));
            }
        }
        // The condition's placeholders live in the same maps as the update's.
        let cond = condition
            .replace("{v}", &e.value(n(ms(order.updated_at))))
            .replace("{vn}", &e.name("v"));
        e.into_update(&self.name, store_pk(store), order_sk(&order.id), Some(cond))
    }

    fn profile_update_for_order(
        &self,
        store: &StoreId,
        order: &Order,
        parked: &[Refund],
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut e = Expr::default();
        e.set(&order_attr(&order.id), to_av(&OrderSummary::of(order))?);
        for r in order.refunds.iter().chain(parked) {
            e.set(
                &refund_attr(&r.order_id, &r.id),
                to_av(&RefundSummary {
                    amount: r.amount,
                    created_at: r.created_at,
                })?,
            );
        }
        fill_person(&mut e, &order.customer, store, &order.customer_id, false);
        e.set_if_absent("created_at", s(now.to_rfc3339()));
        e.set("updated_at", s(now.to_rfc3339()));
        e.into_update(
            &self.name,
            store_pk(store),
            customer_sk(&order.customer_id),
            None,
        )
    }

    fn stored_version(item: &Item) -> Option<i64> {
        item.get("v")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    }

    fn pending_refunds(item: &Item, key: &str) -> Result<Vec<Refund>, AwsError> {
        item.iter()
            .filter(|(k, _)| k.starts_with(PENDING_REFUND_ATTR))
            .map(|(_, v)| {
                serde_dynamo::from_attribute_value(v.clone()).map_err(|e| AwsError::corrupt(key, e))
            })
            .collect()
    }

    async fn apply_order(
        &self,
        d: &Delivery<'_>,
        order: &Order,
    ) -> Result<Option<Applied>, AwsError> {
        let markers = self.markers(d.store, d.ids, d.kind, d.now)?;
        let m = markers.len();
        // Fast path, one request: nothing parked on the order and nothing newer stored.
        let mut items = markers;
        items.push(self.order_item_update(
            d.store,
            order,
            "attribute_not_exists(pend) AND (attribute_not_exists({vn}) OR {vn} <= {v})".into(),
            Expr::default(),
            &[],
        )?);
        items.push(self.profile_update_for_order(d.store, order, &[], d.now)?);
        if let Some(done) = self.settle(self.transact(items).await?, m) {
            return Ok(done);
        }
        // Slow path: read what is stored and write conditionally on exactly that.
        let Some(stored) = self.get(store_pk(d.store), order_sk(&order.id)).await? else {
            return Ok(None);
        };
        if Self::stored_version(&stored).is_some_and(|v| v > ms(order.updated_at)) {
            return self.markers_only(d).await;
        }
        let Some(pend) = stored.get("pend").and_then(|v| v.as_n().ok()).cloned() else {
            return Ok(None); // The parked refunds were claimed meanwhile: start again.
        };
        let parked = Self::pending_refunds(&stored, &order_sk(&order.id))?;
        let parked_ids: Vec<RefundId> = parked.iter().map(|r| r.id.clone()).collect();
        let mut e = Expr::default();
        let pend_value = e.value(AttributeValue::N(pend));
        let pend_name = e.name("pend");
        let mut items = self.markers(d.store, d.ids, d.kind, d.now)?;
        items.push(self.order_item_update(
            d.store,
            order,
            format!(
                "{pend_name} = {pend_value} AND (attribute_not_exists({{vn}}) OR {{vn}} <= {{v}})"
            ),
            e,
            &parked_ids,
        )?);
        items.push(self.profile_update_for_order(d.store, order, &parked, d.now)?);
        Ok(self.settle(self.transact(items).await?, m).flatten())
    }

    /// Reads a fast-path outcome: `Some(Some(_))` final, `Some(None)` retry, `None` take the slow path.
    fn settle(&self, tx: Tx, markers: usize) -> Option<Option<Applied>> {
        match tx {
            Tx::Committed => Some(Some(Applied::Processed)),
            Tx::Cancelled(reasons) => {
                if reasons
                    .iter()
                    .any(|r| r.as_deref() == Some("TransactionConflict"))
                {
                    Some(None)
                } else if reasons
                    .iter()
                    .take(markers)
                    .any(|r| r.as_deref() == Some("ConditionalCheckFailed"))
                {
                    Some(Some(Applied::Duplicate))
                } else {
                    None
                }
            }
        }
    }

    async fn apply_deletion(
        &self,
        d: &Delivery<'_>,
        order_id: &OrderId,
    ) -> Result<Option<Applied>, AwsError> {
        let stored = self.get(store_pk(d.store), order_sk(order_id)).await?;
        let markers = self.markers(d.store, d.ids, d.kind, d.now)?;
        let m = markers.len();
        let mut items = markers;
        let mut e = Expr::default();
        let status = e.name("status");
        let deleted = e.value(to_av(&OrderStatus::Deleted)?);
        e.set.push(format!("{status} = {deleted}"));
        // Stamped with its arrival: older states stay out, a later restore (WooCommerce) gets back in.
        e.set("v", n(ms(d.now)));
        let already_deleted = stored
            .as_ref()
            .and_then(|s| s.get("status")?.as_s().ok().cloned())
            .is_some_and(|s| s == "deleted");
        if already_deleted {
            return self.markers_only(d).await;
        }
        match stored.as_ref().and_then(|s| {
            Some((
                Self::stored_version(s)?,
                s.get("customer_id")?.as_s().ok()?.clone(),
            ))
        }) {
            Some((v, customer)) => {
                let cond = format!("{} = {}", e.name("v"), e.value(n(v)));
                items.push(e.into_update(
                    &self.name,
                    store_pk(d.store),
                    order_sk(order_id),
                    Some(cond),
                )?);
                let customer = CustomerId::parse(customer)
                    .map_err(|err| AwsError::corrupt(order_sk(order_id), err))?;
                let mut p = Expr::default();
                let o = p.name(&order_attr(order_id));
                let st = p.name("status");
                let del = p.value(to_av(&OrderStatus::Deleted)?);
                let at = p.name("updated_at");
                let now = p.value(to_av(&d.now)?);
                p.set.push(format!("{o}.{st} = {del}, {o}.{at} = {now}"));
                let cond = format!("attribute_exists({o})");
                items.push(p.into_update(
                    &self.name,
                    store_pk(d.store),
                    customer_sk(&customer),
                    Some(cond),
                )?);
            }
            // Not seen yet: a tombstone, so the order's late creation (an older state) is ignored.
            None => {
                let cond = format!("attribute_not_exists({})", e.name("v"));
                items.push(e.into_update(
                    &self.name,
                    store_pk(d.store),
                    order_sk(order_id),
                    Some(cond),
                )?);
            }
        }
        Ok(self.settle(self.transact(items).await?, m).flatten())
    }

    async fn apply_refund(
        &self,
        d: &Delivery<'_>,
        refund: &Refund,
    ) -> Result<Option<Applied>, AwsError> {
        let stored = self
            .get(store_pk(d.store), order_sk(&refund.order_id))
            .await?;
        let markers = self.markers(d.store, d.ids, d.kind, d.now)?;
        let m = markers.len();
        let mut items = markers;
        let known_customer = stored
            .as_ref()
            .filter(|s| Self::stored_version(s).is_some())
            .and_then(|s| s.get("customer_id")?.as_s().ok().cloned());
        match known_customer {
            Some(customer) => {
                let customer = CustomerId::parse(customer)
                    .map_err(|err| AwsError::corrupt(order_sk(&refund.order_id), err))?;
                let mut p = Expr::default();
                p.set(
                    &refund_attr(&refund.order_id, &refund.id),
                    to_av(&RefundSummary {
                        amount: refund.amount,
                        created_at: refund.created_at,
                    })?,
                );
                p.set("updated_at", s(d.now.to_rfc3339()));
                items.push(p.into_update(
                    &self.name,
                    store_pk(d.store),
                    customer_sk(&customer),
                    None,
                )?);
            }
            None => {
                if stored
                    .as_ref()
                    .is_some_and(|s| s.contains_key(&pending_refund_attr(&refund.id)))
                {
                    return self.markers_only(d).await;
                }
                // Park the refund on the order item until the order arrives and claims it.
                let mut e = Expr::default();
                e.set(&pending_refund_attr(&refund.id), to_av(refund)?);
                let pend = e.name("pend");
                let zero = e.value(n(0));
                let one = e.value(n(1));
                e.set
                    .push(format!("{pend} = if_not_exists({pend}, {zero}) + {one}"));
                let parked = e.name(&pending_refund_attr(&refund.id));
                let cond = format!(
                    "attribute_not_exists({}) AND attribute_not_exists({parked})",
                    e.name("v")
                );
                items.push(e.into_update(
                    &self.name,
                    store_pk(d.store),
                    order_sk(&refund.order_id),
                    Some(cond),
                )?);
            }
        }
        Ok(self.settle(self.transact(items).await?, m).flatten())
    }

    fn customer_update(
        &self,
        store: &StoreId,
        c: &CustomerUpdate,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut e = Expr::default();
        fill_person(&mut e, &c.person, store, &c.customer_id, true);
        let iv = e.name("iv");
        let v = e.value(n(ms(c.updated_at)));
        e.set.push(format!("{iv} = {v}"));
        e.set_if_absent("created_at", s(now.to_rfc3339()));
        e.set("updated_at", s(now.to_rfc3339()));
        let redacted = e.name("redacted");
        let cond = format!(
            "attribute_not_exists({redacted}) AND (attribute_not_exists({iv}) OR {iv} <= {v})"
        );
        e.into_update(
            &self.name,
            store_pk(store),
            customer_sk(&c.customer_id),
            Some(cond),
        )
    }

    fn checkout_put(
        &self,
        store: &StoreId,
        c: &Checkout,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut put = Put::builder()
            .table_name(&self.name)
            .item(PK, s(store_pk(store)))
            .item(SK, s(format!("CHECKOUT#{}", c.token)))
            .item("total", to_av(&c.total)?)
            .item("created_at", s(c.created_at.to_rfc3339()))
            .item(TTL, n(now.timestamp() + CHECKOUT_TTL_SECS));
        if let Some(id) = &c.customer_id {
            put = put.item("customer_id", s(id.as_str()));
        }
        if let Some(e) = &c.email {
            put = put.item("email", s(e.as_str()));
        }
        if let Some(u) = &c.recovery_url {
            put = put.item("recovery_url", s(u));
        }
        let put = put
            .build()
            .map_err(|e| AwsError::build("building a checkout", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Erases a customer's personal data from the profile and every order item that names them. Each
    /// step is idempotent and the delivery marker is written last, so a redelivery after a failure
    /// finishes the job.
    async fn redact_customer(
        &self,
        store: &StoreId,
        customer: Option<&CustomerId>,
        email: Option<&Email>,
        orders: &[OrderId],
        deliveries: &[String],
        now: DateTime<Utc>,
    ) -> Result<Applied, AwsError> {
        let mut customers: Vec<CustomerId> = customer.into_iter().cloned().collect();
        if let Some(email) = email {
            customers.extend(self.find_by_email(store, email).await?);
            customers.push(CustomerId::guest(email));
        }
        customers.sort();
        customers.dedup();
        let mut order_ids: Vec<OrderId> = orders.to_vec();
        for c in &customers {
            let existing = self.get(store_pk(store), customer_sk(c)).await?;
            if let Some(item) = &existing {
                order_ids.extend(
                    item.keys()
                        .filter_map(|k| k.strip_prefix(ORDER_ATTR))
                        .filter_map(|id| OrderId::parse(id).ok()),
                );
            }
            // Guests we never saw need no tombstone: their id is their address, which we do not keep.
            if existing.is_none() && c.as_str().starts_with("guest:") {
                continue;
            }
            let mut e = Expr::default();
            for attr in [
                "email",
                "first_name",
                "last_name",
                "phone",
                "accepts_marketing",
            ] {
                // NULL, not REMOVE: `if_not_exists` in later order writes then keeps it erased.
                e.set(attr, AttributeValue::Null(true));
            }
            e.set("redacted", AttributeValue::Bool(true));
            e.set(GSI1PK, s(redacted_gsi(store)));
            e.set(GSI1SK, s(customer_sk(c)));
            e.set("updated_at", s(now.to_rfc3339()));
            let update = e.into_update(&self.name, store_pk(store), customer_sk(c), None)?;
            self.transact(vec![update]).await?;
        }
        order_ids.sort();
        order_ids.dedup();
        for o in &order_ids {
            let mut e = Expr::default();
            e.set("email", AttributeValue::Null(true));
            let update = e.into_update(
                &self.name,
                store_pk(store),
                order_sk(o),
                Some("attribute_exists(PK)".into()),
            )?;
            self.transact(vec![update]).await?; // A missing order is fine: nothing to erase.
        }
        if deliveries.is_empty() {
            return Ok(Applied::Processed);
        }
        match self
            .transact(self.markers(store, deliveries, "redact_customer", now)?)
            .await?
        {
            Tx::Committed => Ok(Applied::Processed),
            Tx::Cancelled(_) => Ok(Applied::Duplicate),
        }
    }

    /// Every item of the store's partition (whose sort key starts with `sk_prefix`, if given), all
    /// pages. No prefix rather than an empty one: DynamoDB refuses empty key values.
    pub(crate) async fn query_store(
        &self,
        store: &StoreId,
        sk_prefix: Option<&str>,
        projection: Option<&str>,
        context: &'static str,
    ) -> Result<Vec<Item>, AwsError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.count();
            let mut query = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression(match sk_prefix {
                    Some(_) => "PK = :pk AND begins_with(SK, :c)",
                    None => "PK = :pk",
                })
                .expression_attribute_values(":pk", s(store_pk(store)));
            if let Some(prefix) = sk_prefix {
                query = query.expression_attribute_values(":c", s(prefix));
            }
            let page = query
                .set_projection_expression(projection.map(str::to_string))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::sdk(context, e))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// Deletes every item of the store, its registration included.
    async fn redact_shop(&self, store: &StoreId) -> Result<Applied, AwsError> {
        let keys = self
            .query_store(store, None, Some("PK, SK"), "listing the store's items")
            .await?;
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    Ok(WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(k.clone()))
                                .build()
                                .map_err(|e| AwsError::build("building a delete", e))?,
                        )
                        .build())
                })
                .collect::<Result<_, AwsError>>()?;
            while !requests.is_empty() {
                self.count();
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.name, requests)
                    .send()
                    .await
                    .map_err(|e| AwsError::sdk("deleting the store's items", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.name))
                    .unwrap_or_default();
            }
        }
        Ok(Applied::Processed)
    }

    pub async fn find_by_email(
        &self,
        store: &StoreId,
        email: &Email,
    ) -> Result<Vec<CustomerId>, AwsError> {
        self.count();
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :g")
            .expression_attribute_values(":g", s(email_gsi(store, email)))
            .send()
            .await
            .map_err(|e| AwsError::sdk("looking up an email", e))?;
        out.items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                i.get(SK)?
                    .as_s()
                    .ok()?
                    .strip_prefix(CUSTOMER_PREFIX)
                    .map(str::to_string)
            })
            .map(|c| CustomerId::parse(c).map_err(|e| AwsError::corrupt("GSI1", e)))
            .collect()
    }

    pub async fn get_profile(
        &self,
        store: &StoreId,
        customer: &CustomerId,
    ) -> Result<Option<Profile>, AwsError> {
        let item = self.get(store_pk(store), customer_sk(customer)).await?;
        item.map(|i| profile_from_item(&customer_sk(customer), &i))
            .transpose()
    }

    /// Every profile of a store, in customer-id order.
    pub async fn list_profiles(
        &self,
        store: &StoreId,
    ) -> Result<Vec<(CustomerId, Profile)>, AwsError> {
        let mut out = Vec::new();
        for item in self
            .query_store(store, Some(CUSTOMER_PREFIX), None, "listing profiles")
            .await?
        {
            let sk = item
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let id = CustomerId::parse(sk.trim_start_matches(CUSTOMER_PREFIX))
                .map_err(|e| AwsError::corrupt(&sk, e))?;
            out.push((id, profile_from_item(&sk, &item)?));
        }
        Ok(out)
    }

    /// An order item as stored (for tests and the CLI): attribute name → JSON-ish text.
    pub async fn order_item(
        &self,
        store: &StoreId,
        order: &OrderId,
    ) -> Result<Option<HashMap<String, AttributeValue>>, AwsError> {
        self.get(store_pk(store), order_sk(order)).await
    }

    /// Every item in the store's partition (tests use it to prove that nothing was written).
    pub async fn count_store_items(&self, store: &StoreId) -> Result<usize, AwsError> {
        self.count();
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(store_pk(store)))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .map_err(|e| AwsError::sdk("counting items", e))?;
        Ok(out.count as usize)
    }
}

fn text(item: &Item, attr: &str) -> Option<String> {
    item.get(attr).and_then(|v| v.as_s().ok()).cloned()
}

pub(crate) fn profile_from_item(key: &str, item: &Item) -> Result<Profile, AwsError> {
    let mut profile = Profile {
        person: Person {
            email: text(item, "email")
                .map(|e| Email::parse(e).map_err(|err| AwsError::corrupt(key, err)))
                .transpose()?,
            first_name: text(item, "first_name"),
            last_name: text(item, "last_name"),
            phone: text(item, "phone"),
            accepts_marketing: item
                .get("accepts_marketing")
                .and_then(|v| v.as_bool().ok())
                .copied(),
        },
        redacted: item
            .get("redacted")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        ..Profile::default()
    };
    for (k, v) in item {
        if let Some(id) = k.strip_prefix(ORDER_ATTR) {
            let id = OrderId::parse(id).map_err(|e| AwsError::corrupt(key, e))?;
            let summary: OrderSummary = serde_dynamo::from_attribute_value(v.clone())
                .map_err(|e| AwsError::corrupt(key, e))?;
            profile.orders.insert(id, summary);
        } else if let Some(rest) = k.strip_prefix(REFUND_ATTR) {
            let (o, r) = rest
                .split_once('#')
                .ok_or_else(|| AwsError::corrupt(key, format!("refund attribute {k}")))?;
            let o = OrderId::parse(o).map_err(|e| AwsError::corrupt(key, e))?;
            let r = RefundId::parse(r).map_err(|e| AwsError::corrupt(key, e))?;
            let summary: RefundSummary = serde_dynamo::from_attribute_value(v.clone())
                .map_err(|e| AwsError::corrupt(key, e))?;
            profile.refunds.insert((o, r), summary);
        }
    }
    Ok(profile)
}
