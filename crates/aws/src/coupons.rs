//! Coupons in the table (see docs/coupons.md for the layout):
//!
//! - `COUPON#<normalized code>`: the coupon, its terms, its use count `used`, one attribute per
//!   redemption (`red#<order>`) and per invalid redemption (`inv#<order>`). Written with
//!   `attribute_not_exists(PK)`, which is what makes codes unique.
//! - `COUPONFOR#<campaign>#<customer>` or `IDEMP#<sha256 of the Idempotency-Key>`: which code a
//!   (campaign, customer), or an idempotency key, already got. Written in the SAME transaction as the
//!   coupon and also conditional, so of 50 identical requests exactly one commits; the others read
//!   the winner's coupon.
//! - `APIKEY`: the SHA-256 of the store's key for the coupon endpoints.
//!
//! Redemptions read the coupon, let the core decide ([`Coupon::redemption_for`]), and write
//! conditionally on exactly what they read (the use count and the absence of this order), retrying
//! when someone else got there first: two orders racing for the last use cannot both count.

use crate::error::AwsError;
use crate::keys::{order_sk, store_pk, PK, SK, TTL};
use crate::profiles::{Table, Tx};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use retention_app::delivery::{backoff, backoff_seed};
use retention_app::ports::Redemptions;
use retention_app::Result as PortResult;
use retention_core::coupon::{
    ApiKeyHash, CampaignId, CheckoutSync, Coupon, CouponCode, CouponTerms, InvalidRedemption,
    RedeemOutcome, Redemption,
};
use retention_core::webhook::Order;
use retention_core::{CustomerId, Email, OrderId, StoreId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub const COUPON_PREFIX: &str = "COUPON#";
pub const GRANT_PREFIX: &str = "COUPONFOR#";
pub const IDEMPOTENCY_PREFIX: &str = "IDEMP#";
pub const API_KEY_SK: &str = "APIKEY";
pub const REDEMPTION_ATTR: &str = "red#";
pub const INVALID_ATTR: &str = "inv#";
/// On an order item: which coupon (and campaign) the order used, per code.
pub const ORDER_COUPON_ATTR: &str = "cpn#";
const MAX_ATTEMPTS: u32 = 8;

type Item = HashMap<String, AttributeValue>;

pub fn coupon_sk(code: &CouponCode) -> String {
    format!("{COUPON_PREFIX}{}", code.normalized())
}
pub fn grant_sk(campaign: &CampaignId, customer: &CustomerId) -> String {
    format!("{GRANT_PREFIX}{campaign}#{customer}")
}
/// Idempotency keys are the caller's free text: hashed, they make a safe, bounded sort key.
pub fn idempotency_sk(key: &str) -> String {
    format!(
        "{IDEMPOTENCY_PREFIX}{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    )
}

/// The coupon item's fixed part; redemptions are attributes of their own beside it.
#[derive(Serialize, Deserialize)]
struct CouponItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    code: CouponCode,
    store: StoreId,
    campaign: CampaignId,
    customer_id: CustomerId,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<Email>,
    terms: CouponTerms,
    issued_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<DateTime<Utc>>,
    checkout: CheckoutSync,
    used: u32,
}

/// How issuing went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    /// This call stored the coupon.
    New(Coupon),
    /// An earlier (or concurrent) identical request did; this is its coupon.
    Existing(Coupon),
}

impl Issued {
    pub fn coupon(&self) -> &Coupon {
        match self {
            Issued::New(c) | Issued::Existing(c) => c,
        }
    }
    pub fn into_coupon(self) -> Coupon {
        match self {
            Issued::New(c) | Issued::Existing(c) => c,
        }
    }
}

/// What makes two issue requests "the same".
#[derive(Debug, Clone)]
pub enum Dedupe<'a> {
    /// One coupon per (campaign, customer): scans and surveys.
    Grant,
    /// One coupon per idempotency key, provided the request is the same (by its fingerprint).
    Key { key: &'a str, fingerprint: &'a str },
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("the Idempotency-Key was already used with a different request")]
    KeyReused,
    #[error(transparent)]
    Aws(#[from] AwsError),
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn to_av<T: Serialize>(v: &T) -> Result<AttributeValue, AwsError> {
    serde_dynamo::to_attribute_value(v).map_err(|e| AwsError::corrupt("(value being written)", e))
}

fn coupon_from_item(item: Item) -> Result<Coupon, AwsError> {
    let key = item
        .get(SK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let mut redemptions: Vec<Redemption> = Vec::new();
    let mut invalid: Vec<InvalidRedemption> = Vec::new();
    for (k, v) in &item {
        if k.starts_with(REDEMPTION_ATTR) {
            redemptions.push(
                serde_dynamo::from_attribute_value(v.clone())
                    .map_err(|e| AwsError::corrupt(&key, e))?,
            );
        } else if k.starts_with(INVALID_ATTR) {
            invalid.push(
                serde_dynamo::from_attribute_value(v.clone())
                    .map_err(|e| AwsError::corrupt(&key, e))?,
            );
        }
    }
    redemptions.sort_by(|a, b| (a.at, &a.order_id).cmp(&(b.at, &b.order_id)));
    invalid.sort_by(|a, b| (a.at, &a.order_id).cmp(&(b.at, &b.order_id)));
    let fixed: CouponItem =
        serde_dynamo::from_item(item).map_err(|e| AwsError::corrupt(&key, e))?;
    Ok(Coupon {
        code: fixed.code,
        store: fixed.store,
        campaign: fixed.campaign,
        customer_id: fixed.customer_id,
        email: fixed.email,
        terms: fixed.terms,
        issued_at: fixed.issued_at,
        revoked_at: fixed.revoked_at,
        redemptions,
        invalid_redemptions: invalid,
        checkout: fixed.checkout,
    })
}

fn put(table: &str, item: Item, condition: &str) -> Result<TransactWriteItem, AwsError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .build()
        .map_err(|e| AwsError::build("building a coupon write", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl Table {
    async fn get_item(&self, sk: String, store: &StoreId) -> Result<Option<Item>, AwsError> {
        self.count();
        Ok(self
            .client
            .get_item()
            .table_name(&self.name)
            .key(PK, s(store_pk(store)))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::sdk("reading a coupon", e))?
            .item)
    }

    /// Stores `template` under a fresh code from `new_code`, unless a coupon for the same request
    /// exists (see [`Dedupe`]), in which case that one is returned. A code that is already taken
    /// (with 79 random bits, only an injected generator makes that happen) is drawn again.
    pub async fn issue_coupon(
        &self,
        template: &Coupon,
        dedupe: Dedupe<'_>,
        new_code: &mut (dyn FnMut() -> CouponCode + Send),
    ) -> Result<Issued, IssueError> {
        let store = &template.store;
        let (dedupe_sk, fingerprint) = match &dedupe {
            Dedupe::Grant => (grant_sk(&template.campaign, &template.customer_id), None),
            Dedupe::Key { key, fingerprint } => (idempotency_sk(key), Some(*fingerprint)),
        };
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt, 5, 15, backoff_seed())).await;
            }
            let mut coupon = template.clone();
            coupon.code = new_code();
            let item = CouponItem {
                pk: store_pk(store),
                sk: coupon_sk(&coupon.code),
                code: coupon.code.clone(),
                store: store.clone(),
                campaign: coupon.campaign.clone(),
                customer_id: coupon.customer_id.clone(),
                email: coupon.email.clone(),
                terms: coupon.terms.clone(),
                issued_at: coupon.issued_at,
                revoked_at: None,
                checkout: coupon.checkout.clone(),
                used: 0,
            };
            let item = serde_dynamo::to_item(item)
                .map_err(|e| AwsError::corrupt(coupon_sk(&coupon.code), e))?;
            let mut marker: Item = HashMap::from([
                (PK.to_string(), s(store_pk(store))),
                (SK.to_string(), s(dedupe_sk.clone())),
                ("code".to_string(), s(coupon.code.normalized())),
            ]);
            if let Some(f) = fingerprint {
                marker.insert("fingerprint".into(), s(f));
                // The key matters as long as the coupon can be used.
                marker.insert(
                    TTL.into(),
                    AttributeValue::N((coupon.terms.expires_at.timestamp() + 86_400).to_string()),
                );
            }
            let tx = self
                .transact_in(
                    "writing a coupon",
                    vec![
                        put(&self.name, item, "attribute_not_exists(PK)")?,
                        put(&self.name, marker, "attribute_not_exists(PK)")?,
                    ],
                )
                .await?;
            match tx {
                Tx::Committed => return Ok(Issued::New(coupon)),
                _ if tx.failed(1) => {
                    let Some(marker) = self.get_item(dedupe_sk.clone(), store).await? else {
                        continue; // Gone again (an expired key): try once more.
                    };
                    if let Some(f) = fingerprint {
                        let stored = marker.get("fingerprint").and_then(|v| v.as_s().ok());
                        if stored.map(String::as_str) != Some(f) {
                            return Err(IssueError::KeyReused);
                        }
                    }
                    let code = marker
                        .get("code")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|c| CouponCode::parse(c).ok())
                        .ok_or_else(|| AwsError::corrupt(&dedupe_sk, "no code"))?;
                    let existing = self
                        .get_coupon(store, &code)
                        .await?
                        .ok_or_else(|| AwsError::corrupt(&dedupe_sk, "its coupon is missing"))?;
                    return Ok(Issued::Existing(existing));
                }
                _ if tx.failed(0) => {
                    tracing::warn!(store = %store, "coupon code collision; drawing another");
                }
                _ => {} // A conflicting transaction: retry.
            }
        }
        Err(AwsError::Contention {
            context: "issuing a coupon",
            attempts: MAX_ATTEMPTS,
        }
        .into())
    }

    pub async fn get_coupon(
        &self,
        store: &StoreId,
        code: &CouponCode,
    ) -> Result<Option<Coupon>, AwsError> {
        self.get_item(coupon_sk(code), store)
            .await?
            .map(coupon_from_item)
            .transpose()
    }

    /// Records where the code stands on the store's platform.
    pub async fn set_checkout(
        &self,
        store: &StoreId,
        code: &CouponCode,
        checkout: &CheckoutSync,
    ) -> Result<(), AwsError> {
        self.count();
        self.client
            .update_item()
            .table_name(&self.name)
            .key(PK, s(store_pk(store)))
            .key(SK, s(coupon_sk(code)))
            .update_expression("SET checkout = :c")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":c", to_av(checkout)?)
            .send()
            .await
            .map_err(|e| AwsError::sdk("recording the checkout state", e))?;
        Ok(())
    }

    /// Revokes a coupon; false when there is no such coupon. Revoking twice keeps the first time.
    pub async fn revoke_coupon(
        &self,
        store: &StoreId,
        code: &CouponCode,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        self.count();
        match self
            .client
            .update_item()
            .table_name(&self.name)
            .key(PK, s(store_pk(store)))
            .key(SK, s(coupon_sk(code)))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :t)")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":t", to_av(&now)?)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsError::sdk("revoking a coupon", e)),
        }
    }

    /// Every coupon of a store, in code order.
    pub async fn list_coupons(&self, store: &StoreId) -> Result<Vec<Coupon>, AwsError> {
        self.query_store(store, Some(COUPON_PREFIX), None, "listing coupons")
            .await?
            .into_iter()
            .map(coupon_from_item)
            .collect()
    }

    /// Records what an order that carries coupon codes did to our coupons (a redemption, or an
    /// invalid one with its reason) and links the order to each coupon and its campaign: the use
    /// case's loop ([`retention_app::delivery::redeem_codes`]) over this table.
    pub async fn redeem_codes(
        &self,
        store: &StoreId,
        order: &Order,
    ) -> Result<Vec<(CouponCode, RedeemOutcome)>, AwsError> {
        Ok(retention_app::delivery::redeem_codes(self, store, order).await?)
    }

    /// Writes `outcome` of `order` on the coupon, conditional on the coupon's use count being as
    /// `coupon` was read and on this order not being recorded yet, with the order's link to the
    /// coupon in the same transaction. False when the coupon changed meanwhile.
    async fn write_use(
        &self,
        store: &StoreId,
        coupon: &Coupon,
        order: &OrderId,
        outcome: &RedeemOutcome,
    ) -> Result<bool, AwsError> {
        let code = &coupon.code;
        let red = format!("{REDEMPTION_ATTR}{order}");
        let inv = format!("{INVALID_ATTR}{order}");
        let mut names = HashMap::from([
            ("#red".to_string(), red),
            ("#inv".to_string(), inv),
            ("#used".to_string(), "used".to_string()),
        ]);
        let mut values = HashMap::from([(
            ":used".to_string(),
            AttributeValue::N(coupon.redemptions.len().to_string()),
        )]);
        let base = "attribute_exists(PK) AND attribute_not_exists(#red) AND attribute_not_exists(#inv) AND #used = :used";
        let (update, condition, valid, reason) = match outcome {
            RedeemOutcome::AlreadyRecorded => return Ok(true),
            RedeemOutcome::Redeemed(r) => {
                values.insert(":r".into(), to_av(r)?);
                values.insert(":one".into(), AttributeValue::N("1".into()));
                names.insert("#rev".into(), "revoked_at".into());
                (
                    "SET #red = :r, #used = #used + :one",
                    format!("{base} AND attribute_not_exists(#rev)"),
                    true,
                    None,
                )
            }
            RedeemOutcome::Invalid(r) => {
                values.insert(":r".into(), to_av(r)?);
                (
                    "SET #inv = :r",
                    base.to_string(),
                    false,
                    Some(r.reason.code()),
                )
            }
        };
        let coupon_update = Update::builder()
            .table_name(&self.name)
            .key(PK, s(store_pk(store)))
            .key(SK, s(coupon_sk(code)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| AwsError::build("building a redemption", e))?;
        let mut link = HashMap::from([
            ("code".to_string(), s(coupon.code.display())),
            ("campaign".to_string(), s(coupon.campaign.as_str())),
            ("valid".to_string(), AttributeValue::Bool(valid)),
        ]);
        if let Some(r) = reason {
            link.insert("reason".into(), s(r));
        }
        let order_link = Update::builder()
            .table_name(&self.name)
            .key(PK, s(store_pk(store)))
            .key(SK, s(order_sk(order)))
            .update_expression("SET #c = :l")
            .expression_attribute_names("#c", format!("{ORDER_COUPON_ATTR}{}", code.normalized()))
            .expression_attribute_values(":l", AttributeValue::M(link))
            .build()
            .map_err(|e| AwsError::build("building an order link", e))?;
        let tx = self
            .transact_in(
                "writing a coupon",
                vec![
                    TransactWriteItem::builder().update(coupon_update).build(),
                    TransactWriteItem::builder().update(order_link).build(),
                ],
            )
            .await?;
        Ok(matches!(tx, Tx::Committed))
    }

    /// The coupon campaign an order used, per code, as linked by [`Table::redeem_codes`].
    pub async fn order_coupon_links(
        &self,
        store: &StoreId,
        order: &OrderId,
    ) -> Result<Vec<(String, String, bool)>, AwsError> {
        let Some(item) = self.get_item(order_sk(order), store).await? else {
            return Ok(vec![]);
        };
        let mut out: Vec<(String, String, bool)> = item
            .iter()
            .filter(|(k, _)| k.starts_with(ORDER_COUPON_ATTR))
            .filter_map(|(_, v)| {
                let m = v.as_m().ok()?;
                Some((
                    m.get("code")?.as_s().ok()?.clone(),
                    m.get("campaign")?.as_s().ok()?.clone(),
                    *m.get("valid")?.as_bool().ok()?,
                ))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Stores the hash of the store's API key, replacing any earlier one (rotation).
    pub async fn put_api_key(
        &self,
        store: &StoreId,
        hash: &ApiKeyHash,
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        self.count();
        self.client
            .put_item()
            .table_name(&self.name)
            .item(PK, s(store_pk(store)))
            .item(SK, s(API_KEY_SK))
            .item("sha256", s(hash.to_hex()))
            .item("created_at", s(now.to_rfc3339()))
            .send()
            .await
            .map_err(|e| AwsError::sdk("storing the API key hash", e))?;
        Ok(())
    }

    pub async fn get_api_key(&self, store: &StoreId) -> Result<Option<ApiKeyHash>, AwsError> {
        let Some(item) = self.get_item(API_KEY_SK.into(), store).await? else {
            return Ok(None);
        };
        item.get("sha256")
            .and_then(|v| v.as_s().ok())
            .and_then(|h| ApiKeyHash::from_hex(h))
            .map(Some)
            .ok_or_else(|| {
                AwsError::corrupt(format!("{}/{API_KEY_SK}", store_pk(store)), "no hash")
            })
    }
}

#[async_trait::async_trait]
impl Redemptions for Table {
    async fn coupon(&self, store: &StoreId, code: &CouponCode) -> PortResult<Option<Coupon>> {
        Ok(self.get_coupon(store, code).await?)
    }
    async fn record_use(
        &self,
        store: &StoreId,
        read: &Coupon,
        order: &OrderId,
        outcome: &RedeemOutcome,
    ) -> PortResult<bool> {
        Ok(self.write_use(store, read, order, outcome).await?)
    }
}
