//! Coupons: the engine's currency for win-back offers, birthday gifts and service recovery.
//!
//! A coupon belongs to one customer and one campaign. It is issued once per (campaign, customer),
//! honoured by the store's own checkout, and every order that carries its code is recorded against
//! it: as a redemption when the terms allow it, as an invalid redemption (with the reason) when not,
//! never silently counted. Its status is derived, not stored, so it cannot drift:
//!
//! ```text
//! issued ──(uses reach the limit)──▶ redeemed
//!   │ ╰────(expiry passes)─────────▶ expired
//!   ╰──────(operator revokes)──────▶ revoked
//! ```

pub mod api_key;
pub mod code;
pub mod request;

pub use api_key::{ApiKey, ApiKeyHash};
pub use code::{CodePrefix, CouponCode};
pub use request::{Expiry, FieldError, IssueRequest};

use crate::ids::{CustomerId, Email, InvalidValue, OrderId, StoreId};
use crate::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A campaign (`winback-2026-03`, `birthday`, `survey-recovery`): what a coupon was issued for, and
/// what its redemptions are credited to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CampaignId(String);

impl CampaignId {
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        let bad = |reason: String| InvalidValue {
            what: "campaign",
            reason,
        };
        if s.is_empty() {
            return Err(bad("is empty".into()));
        }
        if s.len() > 64 {
            return Err(bad("is longer than 64 characters".into()));
        }
        // Campaign ids sit inside sort keys joined with `#`.
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(bad(format!("contains the character {c:?}")));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for CampaignId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        Self::parse(s)
    }
}
impl From<CampaignId> for String {
    fn from(c: CampaignId) -> String {
        c.0
    }
}
impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the coupon takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Discount {
    /// Basis points of the order (1500 = 15 %); 1..=10000.
    Percentage {
        basis_points: u32,
    },
    FixedAmount {
        amount: Money,
    },
    FreeShipping,
}

impl fmt::Display for Discount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discount::Percentage { basis_points } => {
                let whole = basis_points / 100;
                match basis_points % 100 {
                    0 => write!(f, "{whole}% off"),
                    frac => write!(f, "{whole}.{frac:02}% off"),
                }
            }
            Discount::FixedAmount { amount } => write!(f, "{amount} off"),
            Discount::FreeShipping => f.write_str("free shipping"),
        }
    }
}

/// The terms a coupon was issued with; they never change afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponTerms {
    pub discount: Discount,
    /// The order total must reach this (same currency) for the coupon to apply.
    pub minimum_order: Option<Money>,
    /// The coupon works strictly before this instant.
    pub expires_at: DateTime<Utc>,
    /// Orders that may use it; 1 for a personal offer.
    pub usage_limit: u32,
}

impl fmt::Display for CouponTerms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.discount)?;
        if let Some(m) = &self.minimum_order {
            write!(f, " on orders of {m} or more")?;
        }
        write!(
            f,
            ", valid until {} UTC",
            self.expires_at.format("%Y-%m-%d %H:%M")
        )?;
        if self.usage_limit == 1 {
            f.write_str(", once")
        } else {
            write!(f, ", up to {} times", self.usage_limit)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Issued,
    Redeemed,
    Expired,
    Revoked,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Issued => "issued",
            Status::Redeemed => "redeemed",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
        })
    }
}

/// Why a coupon does not apply. Shown to callers of the validation endpoint and kept on invalid
/// redemptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Invalid {
    #[error("the coupon was revoked")]
    Revoked,
    #[error("the coupon expired at {expires_at}")]
    Expired { expires_at: DateTime<Utc> },
    #[error("the coupon was already used {limit} time(s), its limit")]
    UsedUp { limit: u32 },
    #[error("the coupon belongs to another customer")]
    OtherCustomer,
    #[error("the order total {total} is below the minimum {minimum}")]
    BelowMinimum { minimum: Money, total: Money },
    #[error("the order is in {total_currency}, the coupon in {coupon_currency}")]
    Currency {
        coupon_currency: String,
        total_currency: String,
    },
}

impl Invalid {
    /// A stable machine-readable name (`used_up`), for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::Revoked => "revoked",
            Invalid::Expired { .. } => "expired",
            Invalid::UsedUp { .. } => "used_up",
            Invalid::OtherCustomer => "other_customer",
            Invalid::BelowMinimum { .. } => "below_minimum",
            Invalid::Currency { .. } => "currency",
        }
    }
}

/// An order that used the coupon within its terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub total: Money,
    pub at: DateTime<Utc>,
}

/// An order that carried the code although the terms did not allow it (the store's checkout let it
/// through, or the store has none that checks). Recorded, never counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRedemption {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub total: Money,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub reason: Invalid,
}

/// Where the code stands on the store's own platform (Shopify, WooCommerce). Generic stores have no
/// platform to create it on: their checkout asks the validation endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CheckoutSync {
    /// The store validates codes through the engine's endpoint.
    NotNeeded,
    /// Being created right now (by whoever issued it).
    Pending { since: DateTime<Utc> },
    /// The platform accepts the code; `remote_id` is its id there.
    Created { remote_id: String },
    /// Creating it failed; issuing the same coupon again retries.
    Failed { error: String, at: DateTime<Utc> },
}

impl CheckoutSync {
    /// Whether an issue request that finds this coupon should (re)try creating it on the platform:
    /// after a failure, or when a creation seems to have died half-way.
    pub fn needs_attempt(&self, now: DateTime<Utc>) -> bool {
        match self {
            CheckoutSync::Failed { .. } => true,
            CheckoutSync::Pending { since } => now - *since > chrono::Duration::seconds(120),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub code: CouponCode,
    pub store: StoreId,
    pub campaign: CampaignId,
    pub customer_id: CustomerId,
    /// For platforms that restrict codes by address (WooCommerce).
    pub email: Option<Email>,
    pub terms: CouponTerms,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub redemptions: Vec<Redemption>,
    pub invalid_redemptions: Vec<InvalidRedemption>,
    pub checkout: CheckoutSync,
}

/// What an order carrying the code does to the coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    Redeemed(Redemption),
    Invalid(InvalidRedemption),
    /// This order was already recorded (webhooks are redelivered and orders updated): nothing changes.
    AlreadyRecorded,
}

impl Coupon {
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.redemptions.len() as u64 >= self.terms.usage_limit as u64 {
            Status::Redeemed
        } else if now >= self.terms.expires_at {
            Status::Expired
        } else {
            Status::Issued
        }
    }

    /// Whether the coupon applies for `customer` now, to an order of `order_total` when known.
    pub fn validate(
        &self,
        customer: Option<&CustomerId>,
        now: DateTime<Utc>,
        order_total: Option<Money>,
    ) -> Result<(), Invalid> {
        if self.revoked_at.is_some() {
            return Err(Invalid::Revoked);
        }
        if self.redemptions.len() as u64 >= self.terms.usage_limit as u64 {
            return Err(Invalid::UsedUp {
                limit: self.terms.usage_limit,
            });
        }
        if now >= self.terms.expires_at {
            return Err(Invalid::Expired {
                expires_at: self.terms.expires_at,
            });
        }
        if let Some(c) = customer {
            if *c != self.customer_id {
                return Err(Invalid::OtherCustomer);
            }
        }
        if let (Some(total), Some(min)) = (order_total, self.terms.minimum_order) {
            if total.currency != min.currency {
                return Err(Invalid::Currency {
                    coupon_currency: min.currency.to_string(),
                    total_currency: total.currency.to_string(),
                });
            }
            if total.minor < min.minor {
                return Err(Invalid::BelowMinimum {
                    minimum: min,
                    total,
                });
            }
        }
        if let (Some(total), Discount::FixedAmount { amount }) = (order_total, self.terms.discount)
        {
            if total.currency != amount.currency {
                return Err(Invalid::Currency {
                    coupon_currency: amount.currency.to_string(),
                    total_currency: total.currency.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Whether `order` was already recorded against the coupon, validly or not.
    pub fn has_order(&self, order: &OrderId) -> bool {
        self.redemptions.iter().any(|r| r.order_id == *order)
            || self
                .invalid_redemptions
                .iter()
                .any(|r| r.order_id == *order)
    }

    /// What an order that carries this code means for the coupon. `placed_at` is when the order was
    /// placed: an order placed before expiry and delivered late is still valid.
    pub fn redemption_for(
        &self,
        order: &OrderId,
        customer: &CustomerId,
        total: Money,
        placed_at: DateTime<Utc>,
    ) -> RedeemOutcome {
        if self.has_order(order) {
            return RedeemOutcome::AlreadyRecorded;
        }
        match self.validate(Some(customer), placed_at, Some(total)) {
            Ok(()) => RedeemOutcome::Redeemed(Redemption {
                order_id: order.clone(),
                customer_id: customer.clone(),
                total,
                at: placed_at,
            }),
            Err(reason) => RedeemOutcome::Invalid(InvalidRedemption {
                order_id: order.clone(),
                customer_id: customer.clone(),
                total,
                at: placed_at,
                reason,
            }),
        }
    }

    /// Applies [`Coupon::redemption_for`] to this value (the table does the same with conditions).
    pub fn redeem(
        &mut self,
        order: &OrderId,
        customer: &CustomerId,
        total: Money,
        placed_at: DateTime<Utc>,
    ) -> RedeemOutcome {
        let outcome = self.redemption_for(order, customer, total, placed_at);
        match &outcome {
            RedeemOutcome::Redeemed(r) => self.redemptions.push(r.clone()),
            RedeemOutcome::Invalid(r) => self.invalid_redemptions.push(r.clone()),
            RedeemOutcome::AlreadyRecorded => {}
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use chrono::TimeZone;

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::parse("USD").unwrap())
    }
    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
    }
    fn coupon(limit: u32) -> Coupon {
        Coupon {
            code: CouponCode::parse("WINBACK-7KQ4-M9XH-T2PC").unwrap(),
            store: StoreId::parse("s").unwrap(),
            campaign: CampaignId::parse("winback").unwrap(),
            customer_id: CustomerId::parse("501").unwrap(),
            email: None,
            terms: CouponTerms {
                discount: Discount::Percentage { basis_points: 1500 },
                minimum_order: Some(usd(5000)),
                expires_at: t(20),
                usage_limit: limit,
            },
            issued_at: t(1),
            revoked_at: None,
            redemptions: vec![],
            invalid_redemptions: vec![],
            checkout: CheckoutSync::NotNeeded,
        }
    }
    fn order(n: u32) -> OrderId {
        OrderId::parse(n.to_string()).unwrap()
    }

    #[test]
    fn lifecycle_issued_redeemed() {
        let mut c = coupon(1);
        let ada = CustomerId::parse("501").unwrap();
        assert_eq!(c.status(t(2)), Status::Issued);
        assert!(matches!(
            c.redeem(&order(1), &ada, usd(6000), t(3)),
            RedeemOutcome::Redeemed(_)
        ));
        assert_eq!(c.status(t(3)), Status::Redeemed);
        // The same order again (a redelivery or an update) changes nothing.
        assert_eq!(
            c.redeem(&order(1), &ada, usd(6000), t(3)),
            RedeemOutcome::AlreadyRecorded
        );
        // A second order beyond the limit is recorded as invalid, not counted.
        match c.redeem(&order(2), &ada, usd(6000), t(4)) {
            RedeemOutcome::Invalid(r) => assert_eq!(r.reason, Invalid::UsedUp { limit: 1 }),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.redemptions.len(), 1);
        assert_eq!(c.invalid_redemptions.len(), 1);
    }

    #[test]
    fn reasons_for_not_applying() {
        let ada = CustomerId::parse("501").unwrap();
        let bob = CustomerId::parse("502").unwrap();
        let c = coupon(2);
        type Case<'a> = (
            Option<&'a CustomerId>,
            DateTime<Utc>,
            Option<Money>,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (Some(&bob), t(2), None, "other_customer"),
            (Some(&ada), t(20), None, "expired"),
            (Some(&ada), t(2), Some(usd(4999)), "below_minimum"),
            (
                Some(&ada),
                t(2),
                Some(Money::new(9000, Currency::parse("EUR").unwrap())),
                "currency",
            ),
        ];
        for (who, when, total, want) in cases {
            assert_eq!(c.validate(who, when, total).unwrap_err().code(), want);
        }
        assert_eq!(c.validate(Some(&ada), t(2), Some(usd(5000))), Ok(()));
        assert_eq!(c.validate(None, t(2), None), Ok(()));
        let mut r = c.clone();
        r.revoked_at = Some(t(2));
        assert_eq!(r.status(t(3)), Status::Revoked);
        assert_eq!(r.validate(None, t(3), None), Err(Invalid::Revoked));
        assert_eq!(c.status(t(21)), Status::Expired);
    }

    #[test]
    fn terms_read_well() {
        let c = coupon(1);
        assert_eq!(
            c.terms.to_string(),
            "15% off on orders of 50.00 USD or more, valid until 2026-03-20 12:00 UTC, once"
        );
        assert_eq!(
            Discount::Percentage { basis_points: 1250 }.to_string(),
            "12.50% off"
        );
    }

    #[test]
    fn serde_round_trip() {
        let mut c = coupon(3);
        c.redeem(
            &order(1),
            &CustomerId::parse("502").unwrap(),
            usd(9000),
            t(2),
        );
        let json = serde_json::to_string(&c).unwrap();
        let back: Coupon = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
