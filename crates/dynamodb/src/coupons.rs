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

use crate::items::prefixed;
use crate::keys::{order_sk, store_pk, PK, SK};
use crate::table::{from_item, put, s, to_av, to_item, Expr, Item, Range, Table, Tx};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use retention_app::ports::{CouponAdmin, CouponIssuing, Dedupe, Redemptions, Stored};
use retention_app::Result as PortResult;
use retention_aws::AwsError;
use retention_core::coupon::{
    ApiKeyHash, CampaignId, CheckoutSync, Coupon, CouponCode, CouponTerms, InvalidRedemption,
    RedeemOutcome, Redemption,
};
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

/// `COUPONFOR#…` or `IDEMP#…`: which code a (campaign, customer), or an idempotency key, got.
#[derive(Serialize, Deserialize)]
struct DedupeItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
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

fn coupon_from_item(item: Item) -> Result<Coupon, AwsError> {
    let key = item
        .get(SK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let mut redemptions: Vec<Redemption> = prefixed(&key, &item, REDEMPTION_ATTR)?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let mut invalid: Vec<InvalidRedemption> = prefixed(&key, &item, INVALID_ATTR)?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    redemptions.sort_by(|a, b| (a.at, &a.order_id).cmp(&(b.at, &b.order_id)));
    invalid.sort_by(|a, b| (a.at, &a.order_id).cmp(&(b.at, &b.order_id)));
    let fixed: CouponItem = from_item(&key, item)?;
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

impl Table {
    /// Stores `coupon` under its code with the dedupe marker, both conditional on not existing,
    /// in one transaction: of 50 identical requests exactly one commits.
    async fn write_coupon(&self, coupon: &Coupon, dedupe: &Dedupe<'_>) -> Result<Stored, AwsError> {
        let store = &coupon.store;
        let (dedupe_sk, fingerprint) = match dedupe {
            Dedupe::Grant => (grant_sk(&coupon.campaign, &coupon.customer_id), None),
            Dedupe::Key { key, fingerprint } => (idempotency_sk(key), Some(*fingerprint)),
        };
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
        let item = to_item(&coupon_sk(&coupon.code), item)?;
        let marker = DedupeItem {
            pk: store_pk(store),
            sk: dedupe_sk.clone(),
            code: coupon.code.normalized().to_string(),
            fingerprint: fingerprint.map(str::to_string),
            // The key matters as long as the coupon can be used.
            ttl: fingerprint.map(|_| coupon.terms.expires_at.timestamp() + 86_400),
        };
        let marker = to_item(&dedupe_sk, marker)?;
        let tx = self
            .transact(
                "writing a coupon",
                vec![
                    put(&self.name, item, Some("attribute_not_exists(PK)"))?,
                    put(&self.name, marker, Some("attribute_not_exists(PK)"))?,
                ],
            )
            .await?;
        if matches!(tx, Tx::Committed) {
            return Ok(Stored::Stored);
        }
        if tx.failed(1) {
            let Some(marker) = self
                .get(store, &dedupe_sk, "reading a coupon marker")
                .await?
            else {
                return Ok(Stored::Conflict); // Gone again (an expired key): try once more.
            };
            let marker: DedupeItem = from_item(&dedupe_sk, marker)?;
            let code =
                CouponCode::parse(&marker.code).map_err(|e| AwsError::corrupt(&dedupe_sk, e))?;
            return Ok(Stored::AlreadyIssued {
                code,
                fingerprint: marker.fingerprint,
            });
        }
        if tx.failed(0) {
            return Ok(Stored::CodeTaken);
        }
        Ok(Stored::Conflict)
    }

    pub async fn get_coupon(
        &self,
        store: &StoreId,
        code: &CouponCode,
    ) -> Result<Option<Coupon>, AwsError> {
        self.get(store, &coupon_sk(code), "reading a coupon")
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
        let mut e = Expr::default();
        e.set("checkout", to_av(checkout)?);
        e.condition("attribute_exists(PK)".into());
        self.update_one(store, &coupon_sk(code), e, "recording the checkout state")
            .await?;
        Ok(())
    }

    /// Revokes a coupon; false when there is no such coupon. Revoking twice keeps the first time.
    pub async fn revoke_coupon(
        &self,
        store: &StoreId,
        code: &CouponCode,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let mut e = Expr::default();
        e.set_if_absent("revoked_at", to_av(&now)?);
        e.condition("attribute_exists(PK)".into());
        self.update_one(store, &coupon_sk(code), e, "revoking a coupon")
            .await
    }

    /// Every coupon of a store, in code order.
    pub async fn list_coupons(&self, store: &StoreId) -> Result<Vec<Coupon>, AwsError> {
        self.query_all(
            store,
            &Range::Prefix(COUPON_PREFIX),
            None,
            "listing coupons",
        )
        .await?
        .into_iter()
        .map(coupon_from_item)
        .collect()
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
            .transact(
                "writing a coupon",
                vec![
                    TransactWriteItem::builder().update(coupon_update).build(),
                    TransactWriteItem::builder().update(order_link).build(),
                ],
            )
            .await?;
        Ok(matches!(tx, Tx::Committed))
    }

    /// The coupon campaign an order used, per code, as linked by a redemption.
    pub async fn order_coupon_links(
        &self,
        store: &StoreId,
        order: &OrderId,
    ) -> Result<Vec<(String, String, bool)>, AwsError> {
        let Some(item) = self
            .get(store, &order_sk(order), "reading an order")
            .await?
        else {
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
        let Some(item) = self.get(store, API_KEY_SK, "reading the API key").await? else {
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

#[async_trait::async_trait]
impl CouponIssuing for Table {
    async fn store_coupon(&self, coupon: &Coupon, dedupe: &Dedupe<'_>) -> PortResult<Stored> {
        Ok(self.write_coupon(coupon, dedupe).await?)
    }
    async fn coupon(&self, store: &StoreId, code: &CouponCode) -> PortResult<Option<Coupon>> {
        Ok(self.get_coupon(store, code).await?)
    }
    async fn set_checkout(
        &self,
        store: &StoreId,
        code: &CouponCode,
        checkout: &CheckoutSync,
    ) -> PortResult<()> {
        Ok(Table::set_checkout(self, store, code, checkout).await?)
    }
    async fn api_key(&self, store: &StoreId) -> PortResult<Option<ApiKeyHash>> {
        Ok(self.get_api_key(store).await?)
    }
}

#[async_trait::async_trait]
impl CouponAdmin for Table {
    async fn list_coupons(&self, store: &StoreId) -> PortResult<Vec<Coupon>> {
        Ok(Table::list_coupons(self, store).await?)
    }
    async fn revoke_coupon(
        &self,
        store: &StoreId,
        code: &CouponCode,
        now: DateTime<Utc>,
    ) -> PortResult<bool> {
        Ok(Table::revoke_coupon(self, store, code, now).await?)
    }
    async fn put_api_key(
        &self,
        store: &StoreId,
        hash: &ApiKeyHash,
        now: DateTime<Utc>,
    ) -> PortResult<()> {
        Ok(Table::put_api_key(self, store, hash, now).await?)
    }
}
