//! The ledger port over the table: a core [`Decision`](retention_core::ledger::Decision)'s writes
//! become one `TransactWriteItems`, each [`Guard`] its condition. Nothing here decides: what a
//! failed condition means is the use case's business (`retention_app::delivery`).
//!
//! A decision's writes to one item (an order's state and its refunds, both on the customer's copy
//! of the order) are merged into one update, since a transaction touches an item once.

use crate::items::{self, CheckoutItem, DataRequestItem, DeliveryMarker};
use crate::keys::*;
use crate::table::{n, put, s, to_av, to_item, Expr, Table, Tx, CONDITION_FAILED, CONFLICT};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, TransactWriteItem, WriteRequest};
use chrono::{DateTime, Utc};
use retention_app::ports::{Commit, Erasure, Ledger, Markers};
use retention_app::{ErrorKind, PortError, Result};
use retention_aws::AwsError;
use retention_core::email::consent::Consent;
use retention_core::ledger::{Guard, IdentityWrite, OrderRecord, Version, Write};
use retention_core::webhook::{OrderStatus, Person};
use retention_core::{CustomerId, Email, OrderId, StoreId};

/// Delivery markers outlive every platform's retry window (Shopify: 48 h; WooCommerce: 5 tries).
const DELIVERY_TTL_SECS: i64 = 30 * 24 * 3600;
/// Abandoned checkouts matter for a few days; after a month they are noise (and personal data).
const CHECKOUT_TTL_SECS: i64 = 30 * 24 * 3600;
/// Cancellation reasons that mean "the same transaction may pass later".
const RETRYABLE_REASONS: &[&str] = &["ThrottlingError", "ProvisionedThroughputExceeded"];

/// A transaction being assembled: puts, then updates merged per item.
struct Batch<'a> {
    table: &'a str,
    store: &'a StoreId,
    puts: Vec<TransactWriteItem>,
    updates: Vec<(String, Expr)>,
}

impl<'a> Batch<'a> {
    fn new(table: &'a str, store: &'a StoreId) -> Self {
        Self {
            table,
            store,
            puts: Vec::new(),
            updates: Vec::new(),
        }
    }
    fn put(
        &mut self,
        sk: &str,
        item: impl serde::Serialize,
        condition: Option<&str>,
    ) -> Result<()> {
        let item = to_item(sk, item)?;
        self.puts.push(put(self.table, item, condition)?);
        Ok(())
    }
    /// The update of item `sk`, shared by every write of the decision to that item.
    fn update(&mut self, sk: String) -> &mut Expr {
        let i = match self.updates.iter().position(|(k, _)| *k == sk) {
            Some(i) => i,
            None => {
                self.updates.push((sk, Expr::default()));
                self.updates.len() - 1
            }
        };
        &mut self.updates[i].1
    }
    fn into_items(self) -> Result<Vec<TransactWriteItem>> {
        let pk = store_pk(self.store);
        let mut items = self.puts;
        for (sk, e) in self.updates {
            items.push(e.into_update(self.table, pk.clone(), sk)?);
        }
        Ok(items)
    }
}

/// The condition that holds exactly when `guard.admits(stored record)` does.
fn guard_condition(e: &mut Expr, guard: &Guard) -> String {
    let not_newer = |e: &mut Expr, version: Version| {
        let (v, x) = (e.name("v"), e.value(n(version.0)));
        format!("(attribute_not_exists({v}) OR {v} <= {x})")
    };
    match guard {
        Guard::NotNewerNothingParked(version) => {
            let pend = e.name("pend");
            format!(
                "attribute_not_exists({pend}) AND {}",
                not_newer(e, *version)
            )
        }
        Guard::NotNewerParked { version, parked } => {
            let (pend, p) = (e.name("pend"), e.value(n(i64::from(*parked))));
            format!("{pend} = {p} AND {}", not_newer(e, *version))
        }
        Guard::VersionIs(version) => {
            let (v, x) = (e.name("v"), e.value(n(version.0)));
            format!("{v} = {x}")
        }
        Guard::NoState => format!("attribute_not_exists({})", e.name("v")),
        Guard::NoStateNotParked(refund) => {
            let (v, parked) = (e.name("v"), e.name(&pending_refund_attr(refund)));
            format!("attribute_not_exists({v}) AND attribute_not_exists({parked})")
        }
    }
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
    if let Some(c) = &p.consent {
        put(e, "consent", consent_av(c));
    }
    if let Some(b) = &p.birthday {
        put(e, "birthday", s(b.to_string()));
    }
}

/// `{state, source, at}`: a consent statement as the profile stores it.
fn consent_av(c: &Consent) -> AttributeValue {
    let mut m = std::collections::HashMap::from([
        ("state".to_string(), s(c.state.as_str())),
        ("source".to_string(), s(c.source.as_str())),
    ]);
    if let Some(at) = c.at {
        m.insert("at".to_string(), s(at.to_rfc3339()));
    }
    AttributeValue::M(m)
}

fn stamp(e: &mut Expr, now: DateTime<Utc>) {
    e.set_if_absent("created_at", s(now.to_rfc3339()));
    e.set("updated_at", s(now.to_rfc3339()));
}

impl Batch<'_> {
    /// Adds one write of a decision.
    fn write(&mut self, w: &Write, now: DateTime<Utc>) -> Result<()> {
        let store = self.store;
        match w {
            Write::OrderState { state, guard } => {
                let e = self.update(order_sk(&state.order_id));
                e.set("customer_id", s(state.customer_id.as_str()));
                e.set("v", n(state.version.0));
                e.set("status", to_av(&state.status)?);
                e.set("created_at", s(state.created_at.to_rfc3339()));
                e.set("total", to_av(&state.total)?);
                if !state.coupon_codes.is_empty() {
                    e.set("coupon_codes", to_av(&state.coupon_codes)?);
                }
                if let Some(email) = &state.email {
                    e.set_if_absent("email", s(email.as_str()));
                }
                if !state.claimed.is_empty() {
                    e.remove("pend");
                    for r in &state.claimed {
                        e.remove(&pending_refund_attr(r));
                    }
                }
                let c = guard_condition(e, guard);
                e.condition(c);
            }
            Write::OrderSummary {
                customer_id,
                order_id,
                summary,
            } => {
                let v = to_av(summary)?;
                self.update(order_copy_sk(customer_id, order_id))
                    .set("o", v);
            }
            Write::Refund {
                customer_id,
                order_id,
                refund_id,
                summary,
            } => {
                let v = to_av(summary)?;
                self.update(order_copy_sk(customer_id, order_id))
                    .set(&refund_attr(refund_id), v);
            }
            Write::Identity { customer_id, write } => {
                let e = self.update(customer_sk(customer_id));
                match write {
                    IdentityWrite::Fill(person) => {
                        fill_person(e, person, store, customer_id, false)
                    }
                    IdentityWrite::Overwrite { person, version } => {
                        fill_person(e, person, store, customer_id, true);
                        let (iv, x) = (e.name("iv"), e.value(n(version.0)));
                        e.set_clause(format!("{iv} = {x}"));
                        let redacted = e.name("redacted");
                        e.condition(format!(
                            "attribute_not_exists({redacted}) AND (attribute_not_exists({iv}) OR {iv} <= {x})"
                        ));
                    }
                    IdentityWrite::Touch => {}
                }
                stamp(e, now);
            }
            Write::ParkRefund { refund, guard } => {
                let e = self.update(order_sk(&refund.order_id));
                e.set(&pending_refund_attr(&refund.id), to_av(refund)?);
                let (pend, zero, one) = (e.name("pend"), e.value(n(0)), e.value(n(1)));
                e.set_clause(format!("{pend} = if_not_exists({pend}, {zero}) + {one}"));
                let c = guard_condition(e, guard);
                e.condition(c);
            }
            Write::DeleteOrder {
                order_id,
                version,
                guard,
            } => {
                let e = self.update(order_sk(order_id));
                e.set("status", to_av(&OrderStatus::Deleted)?);
                let c = guard_condition(e, guard);
                e.condition(c);
                // After the guard took the stored version's placeholder: same name, new value.
                e.set("v", n(version.0));
            }
            Write::DeleteSummary {
                customer_id,
                order_id,
                at,
            } => {
                let e = self.update(order_copy_sk(customer_id, order_id));
                e.set("o.status", to_av(&OrderStatus::Deleted)?);
                e.set("o.updated_at", to_av(at)?);
                let o = e.name("o");
                e.condition(format!("attribute_exists({o})"));
            }
            Write::Checkout(c) => {
                let sk = format!("CHECKOUT#{}", c.token);
                let item = CheckoutItem {
                    pk: store_pk(store),
                    sk: sk.clone(),
                    customer_id: c.customer_id.clone(),
                    email: c.email.clone(),
                    total: c.total,
                    created_at: c.created_at,
                    recovery_url: c.recovery_url.clone(),
                    ttl: now.timestamp() + CHECKOUT_TTL_SECS,
                };
                self.put(&sk, item, None)?;
            }
            Write::DataRequest {
                request_id,
                customer_id,
                email,
            } => {
                let sk = format!("DATAREQ#{request_id}");
                let item = DataRequestItem {
                    pk: store_pk(store),
                    sk: sk.clone(),
                    customer_id: customer_id.clone(),
                    email: email.clone(),
                    received_at: now,
                };
                self.put(&sk, item, None)?;
            }
        }
        Ok(())
    }
}

/// What a cancelled delivery transaction says, given that its first `markers` items are markers.
fn commit_outcome(tx: &Tx, markers: usize) -> Result<Commit> {
    let Tx::Cancelled(reasons) = tx else {
        return Ok(Commit::Committed);
    };
    if tx.conflicted() {
        return Ok(Commit::Conflict);
    }
    if (0..markers).any(|i| tx.failed(i)) {
        return Ok(Commit::Duplicate);
    }
    if reasons
        .iter()
        .any(|r| r.as_deref() == Some(CONDITION_FAILED))
    {
        return Ok(Commit::GuardFailed);
    }
    let codes: Vec<&str> = reasons.iter().flatten().map(String::as_str).collect();
    let kind = if codes
        .iter()
        .any(|c| RETRYABLE_REASONS.contains(c) || *c == CONFLICT)
    {
        ErrorKind::Retryable
    } else {
        ErrorKind::Rejected
    };
    Err(PortError::bare(
        kind,
        format!(
            "writing a delivery: the transaction was cancelled ({})",
            codes.join(", ")
        ),
    ))
}

impl Table {
    /// An order's record as stored, attribute by attribute (tests and the operator look at it).
    pub async fn order_item(
        &self,
        store: &StoreId,
        order: &OrderId,
    ) -> std::result::Result<Option<crate::table::Item>, AwsError> {
        self.get(store, &order_sk(order), "reading an order").await
    }
}

/// The `TransactWriteItems` elements of a commit: a conditional Put per marker, then the writes
/// (those to one item merged into one update). Pure, so the webhook benchmark measures it.
pub fn commit_items(
    table: &str,
    store: &StoreId,
    markers: &Markers<'_>,
    writes: &[Write],
) -> Result<Vec<TransactWriteItem>> {
    let mut batch = Batch::new(table, store);
    for id in markers.ids {
        let sk = delivery_sk(id);
        let marker = DeliveryMarker {
            pk: store_pk(store),
            sk: sk.clone(),
            change: markers.kind.to_string(),
            received_at: markers.at,
            ttl: markers.at.timestamp() + DELIVERY_TTL_SECS,
        };
        batch.put(&sk, marker, Some("attribute_not_exists(PK)"))?;
    }
    for w in writes {
        batch.write(w, markers.at)?;
    }
    batch.into_items()
}

#[async_trait]
impl Ledger for Table {
    async fn order_record(&self, store: &StoreId, order: &OrderId) -> Result<Option<OrderRecord>> {
        let sk = order_sk(order);
        Ok(self
            .get(store, &sk, "reading an order")
            .await?
            .map(|item| items::order_record(&sk, item))
            .transpose()?)
    }

    async fn commit(
        &self,
        store: &StoreId,
        markers: &Markers<'_>,
        writes: &[Write],
    ) -> Result<Commit> {
        let items = commit_items(&self.name, store, markers, writes)?;
        if items.is_empty() {
            return Ok(Commit::Committed);
        }
        let tx = self.transact("writing a delivery", items).await?;
        commit_outcome(&tx, markers.ids.len())
    }
}

#[async_trait]
impl Erasure for Table {
    async fn customer_orders(
        &self,
        store: &StoreId,
        customer: &CustomerId,
    ) -> Result<Option<Vec<OrderId>>> {
        let (lo, hi) = (customer_sk(customer), customer_end(customer));
        let keys = self
            .query_all(
                store,
                &crate::table::Range::Between(&lo, &hi),
                Some("SK"),
                "listing a customer's orders",
            )
            .await?;
        if keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            keys.iter()
                .filter_map(|k| match parse_customer_key(crate::table::sort_key(k))? {
                    CustomerKey::Order(_, o) => Some(o),
                    CustomerKey::Profile(_) | CustomerKey::Score(_) => None,
                })
                .collect(),
        ))
    }

    async fn customers_with_email(
        &self,
        store: &StoreId,
        email: &Email,
    ) -> Result<Vec<CustomerId>> {
        Ok(self.by_email(store, email).await?)
    }

    async fn erase_customer(
        &self,
        store: &StoreId,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut e = Expr::default();
        for attr in [
            "email",
            "first_name",
            "last_name",
            "phone",
            "accepts_marketing",
            "consent",
            "birthday",
        ] {
            // NULL, not REMOVE: `if_not_exists` in later order writes then keeps it erased.
            e.set(attr, AttributeValue::Null(true));
        }
        e.set("redacted", AttributeValue::Bool(true));
        e.set(GSI1PK, s(redacted_gsi(store)));
        e.set(GSI1SK, s(customer_sk(customer)));
        stamp(&mut e, now);
        self.update_one(store, &customer_sk(customer), e, "erasing a customer")
            .await?;
        Ok(())
    }

    async fn erase_order_email(&self, store: &StoreId, order: &OrderId) -> Result<()> {
        let mut e = Expr::default();
        e.set("email", AttributeValue::Null(true));
        e.condition("attribute_exists(PK)".into());
        // False: no such order, nothing to erase.
        self.update_one(store, &order_sk(order), e, "erasing an order's address")
            .await?;
        Ok(())
    }

    async fn erase_store(&self, store: &StoreId) -> Result<()> {
        let keys = self
            .query_all(
                store,
                &crate::table::Range::All,
                Some("PK, SK"),
                "listing the store's items",
            )
            .await?;
        for chunk in keys.chunks(crate::table::BATCH) {
            let requests: Vec<WriteRequest> = chunk
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
                .collect::<std::result::Result<_, AwsError>>()?;
            self.batch_write(requests, "deleting the store's items")
                .await?;
        }
        Ok(())
    }
}
