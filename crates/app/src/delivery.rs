//! Applying a verified, parsed delivery: the core decides ([`retention_core::ledger::decide`]), the
//! ledger commits, and a failed guard or a lost race is decided again with what was read. Orders
//! then redeem the codes they carry. Redactions are several idempotent steps, the markers last.

use crate::error::{PortError, Result};
use crate::ports::{Commit, Erasure, Ledger, Markers, Redemptions};
use chrono::{DateTime, Utc};
use retention_core::coupon::{CouponCode, RedeemOutcome};
use retention_core::ledger::{self, Decision, Known, OnGuardFailure, OrderRecord};
use retention_core::webhook::{Change, Order};
use retention_core::{CustomerId, Email, OrderId, StoreId};
use std::sync::Arc;
use std::time::Duration;

const MAX_ATTEMPTS: u32 = 8;

/// What a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The change is stored.
    Processed,
    /// This delivery id was seen before: nothing changed.
    Duplicate,
    /// A newer state was already stored: the delivery is recorded, nothing else changed.
    Stale,
}

/// The ports a delivery needs: what order-webhook (and `retention import`) hold.
#[derive(Clone)]
pub struct Deliveries {
    pub ledger: Arc<dyn Ledger>,
    pub erasure: Arc<dyn Erasure>,
    pub redemptions: Arc<dyn Redemptions>,
}

/// How long to wait before retry `attempt`: `base_ms` doubling per attempt (up to 32×), plus up to
/// `jitter_ms` drawn from `seed` (the time, the process), which spreads identical concurrent
/// retries apart without a shared RNG.
pub fn backoff(attempt: u32, base_ms: u64, jitter_ms: u64, seed: u64) -> Duration {
    let jitter = (seed ^ (u64::from(attempt) * 7919)) % jitter_ms.max(1);
    Duration::from_millis(base_ms * (1 << attempt.min(5)) + jitter)
}

/// A seed for [`backoff`] that differs between processes and moments.
pub fn backoff_seed() -> u64 {
    u64::from(std::process::id()) ^ u64::from(Utc::now().timestamp_subsec_nanos())
}

impl Deliveries {
    /// Applies one delivery. `ids` are its delivery ids (a marker each); an empty list applies the
    /// change without duplicate detection (it must then be idempotent itself).
    pub async fn apply(
        &self,
        store: &StoreId,
        change: &Change,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let markers = Markers {
            ids,
            kind: change.kind(),
            at: now,
        };
        match change {
            Change::RedactShop => {
                self.erasure.erase_store(store).await?;
                Ok(Applied::Processed)
            }
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
                    &markers,
                )
                .await
            }
            _ => {
                let applied = self.apply_change(store, change, &markers).await?;
                if let Change::Order(order) = change {
                    // Idempotent per (code, order), so also on a redelivery: a redemption that
                    // failed after the order was stored is finished by the retry.
                    redeem_codes(self.redemptions.as_ref(), store, order).await?;
                }
                Ok(applied)
            }
        }
    }

    async fn apply_change(
        &self,
        store: &StoreId,
        change: &Change,
        markers: &Markers<'_>,
    ) -> Result<Applied> {
        let mut read: Option<Option<OrderRecord>> = None;
        let seed = u64::from(markers.at.timestamp_subsec_nanos());
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt, 10, 20, seed)).await;
            }
            let known = match &read {
                None => Known::Nothing,
                Some(r) => Known::Order(r.as_ref()),
            };
            let decision = match ledger::decide(change, known, markers.at) {
                Decision::ReadOrder(order) => {
                    let record = self.ledger.order_record(store, &order).await?;
                    let decision =
                        ledger::decide(change, Known::Order(record.as_ref()), markers.at);
                    read = Some(record);
                    decision
                }
                d => d,
            };
            match decision {
                Decision::ReadOrder(_) | Decision::Redaction => {
                    unreachable!("decided with the record read; redactions are handled above")
                }
                Decision::MarkersOnly => match self.markers_only(store, markers).await? {
                    Some(applied) => return Ok(applied),
                    None => read = None,
                },
                Decision::Write {
                    writes,
                    if_guard_fails,
                } => match self.ledger.commit(store, markers, &writes).await? {
                    Commit::Committed => return Ok(Applied::Processed),
                    Commit::Duplicate => return Ok(Applied::Duplicate),
                    Commit::Conflict => read = None,
                    Commit::GuardFailed => match if_guard_fails {
                        OnGuardFailure::Stale => {
                            if let Some(applied) = self.markers_only(store, markers).await? {
                                return Ok(applied);
                            }
                        }
                        OnGuardFailure::ReadOrder => {
                            let order = order_of(change);
                            read = Some(self.ledger.order_record(store, &order).await?);
                        }
                    },
                },
            }
        }
        Err(PortError::contention("applying a delivery", MAX_ATTEMPTS))
    }

    /// Records the delivery and nothing else; `None`: lost a race, decide again.
    async fn markers_only(
        &self,
        store: &StoreId,
        markers: &Markers<'_>,
    ) -> Result<Option<Applied>> {
        if markers.ids.is_empty() {
            return Ok(Some(Applied::Stale));
        }
        Ok(match self.ledger.commit(store, markers, &[]).await? {
            Commit::Committed => Some(Applied::Stale),
            Commit::Duplicate => Some(Applied::Duplicate),
            Commit::GuardFailed | Commit::Conflict => None,
        })
    }

    /// Erases a customer's personal data from the profile and every order record that names them.
    /// Each step is idempotent and the markers are written last, so a redelivery after a failure
    /// finishes the job.
    async fn redact_customer(
        &self,
        store: &StoreId,
        customer: Option<&CustomerId>,
        email: Option<&Email>,
        orders: &[OrderId],
        markers: &Markers<'_>,
    ) -> Result<Applied> {
        let mut customers: Vec<CustomerId> = customer.into_iter().cloned().collect();
        if let Some(email) = email {
            customers.extend(self.erasure.customers_with_email(store, email).await?);
            customers.push(CustomerId::guest(email));
        }
        customers.sort();
        customers.dedup();
        let mut order_ids: Vec<OrderId> = orders.to_vec();
        for c in &customers {
            let held = self.erasure.customer_orders(store, c).await?;
            let known = held.is_some();
            order_ids.extend(held.unwrap_or_default());
            // Guests we never saw need no tombstone: their id is their address, which we do not keep.
            if !known && c.as_str().starts_with("guest:") {
                continue;
            }
            self.erasure.erase_customer(store, c, markers.at).await?;
        }
        order_ids.sort();
        order_ids.dedup();
        for o in &order_ids {
            self.erasure.erase_order_email(store, o).await?;
        }
        if markers.ids.is_empty() {
            return Ok(Applied::Processed);
        }
        Ok(match self.ledger.commit(store, markers, &[]).await? {
            Commit::Committed => Applied::Processed,
            _ => Applied::Duplicate,
        })
    }
}

fn order_of(change: &Change) -> OrderId {
    match change {
        Change::Order(o) => o.id.clone(),
        Change::OrderDeleted { order_id } => order_id.clone(),
        Change::Refund(r) => r.order_id.clone(),
        _ => unreachable!("only order changes read the order record"),
    }
}

/// Records what an order that carries our codes did to them: a redemption, or an invalid one
/// with its reason ([`retention_core::coupon::Coupon::redemption_for`] decides). Idempotent per
/// (code, order), so redeliveries and order updates count once.
pub async fn redeem_codes(
    redemptions: &dyn Redemptions,
    store: &StoreId,
    order: &Order,
) -> Result<Vec<(CouponCode, RedeemOutcome)>> {
    let mut out = Vec::new();
    for code in ledger::codes_to_redeem(order) {
        if let Some(outcome) = redeem_one(redemptions, store, &code, order).await? {
            out.push((code, outcome));
        }
    }
    Ok(out)
}

async fn redeem_one(
    redemptions: &dyn Redemptions,
    store: &StoreId,
    code: &CouponCode,
    order: &Order,
) -> Result<Option<RedeemOutcome>> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt, 5, 15, backoff_seed())).await;
        }
        let Some(coupon) = redemptions.coupon(store, code).await? else {
            return Ok(None);
        };
        let outcome =
            coupon.redemption_for(&order.id, &order.customer_id, order.total, order.created_at);
        if outcome == RedeemOutcome::AlreadyRecorded {
            return Ok(Some(outcome));
        }
        if redemptions
            .record_use(store, &coupon, &order.id, &outcome)
            .await?
        {
            return Ok(Some(outcome));
        }
        // Someone recorded a use or this order meanwhile: read again and decide again.
    }
    Err(PortError::contention(
        "recording a coupon redemption",
        MAX_ATTEMPTS,
    ))
}
