//! A customer's profile: who they are and what they bought. The stored form is the set of order
//! states and refunds seen so far (keyed by id, newest state wins), and every figure is derived from
//! it. That makes applying a delivery idempotent and independent of delivery order by construction:
//! there is no counter that a redelivery or a reordering could push off.

use crate::ids::{CustomerId, OrderId, RefundId};
use crate::money::{Currency, Money};
use crate::webhook::{Order, OrderStatus, Person, Refund};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What the profile keeps of one order: enough for the figures and for coupon attribution, no
/// personal data (that lives on the profile, where redaction erases it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSummary {
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub total: Money,
    pub status: OrderStatus,
    /// Category (or, when the platform names none, product title) → quantity.
    #[serde(default)]
    pub categories: BTreeMap<String, u32>,
    #[serde(default)]
    pub coupon_codes: Vec<String>,
}

impl OrderSummary {
    pub fn of(order: &Order) -> Self {
        let mut categories = BTreeMap::new();
        for item in &order.items {
            let key = item.category.clone().unwrap_or_else(|| item.title.clone());
            if !key.is_empty() {
                let n = categories.entry(key).or_insert(0u32);
                *n = n.saturating_add(item.quantity.max(1));
            }
        }
        Self {
            created_at: order.created_at,
            updated_at: order.updated_at,
            total: order.total,
            status: order.status,
            categories,
            coupon_codes: order.coupon_codes.clone(),
        }
    }

    /// Whether `self` may replace `stored`: newer states win (a deletion is stamped with the time it
    /// arrived, so WooCommerce's later `order.restored` revives the order while older states do not),
    /// and an equal timestamp is allowed through because re-applying the same state changes nothing.
    pub fn supersedes(&self, stored: &OrderSummary) -> bool {
        crate::ledger::supersedes(
            crate::ledger::Version::of(self.updated_at),
            crate::ledger::Version::of(stored.updated_at),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundSummary {
    pub amount: Money,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Profile {
    pub person: Person,
    /// Set once personal data was erased on the platform's request; it never comes back.
    pub redacted: bool,
    pub orders: BTreeMap<OrderId, OrderSummary>,
    #[serde(with = "refund_list")]
    pub refunds: BTreeMap<(OrderId, RefundId), RefundSummary>,
    /// The churn scan's last written figures (see [`crate::churn::scored`]); `None` until the
    /// first scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<crate::churn::scored::CustomerScore>,
    /// When the customer unsubscribed through our own link (`customer-pages`): kept apart from the
    /// platform's statement so that no webhook overwrites it (see [`crate::email::consent`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribed_at: Option<DateTime<Utc>>,
}

/// JSON objects need string keys: refunds travel as a list of `{order_id, refund_id, …}`.
mod refund_list {
    use super::{OrderId, RefundId, RefundSummary};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    #[derive(Serialize, Deserialize)]
    struct Entry {
        order_id: OrderId,
        refund_id: RefundId,
        #[serde(flatten)]
        refund: RefundSummary,
    }

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<(OrderId, RefundId), RefundSummary>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter().map(|((o, r), refund)| Entry {
            order_id: o.clone(),
            refund_id: r.clone(),
            refund: refund.clone(),
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(OrderId, RefundId), RefundSummary>, D::Error> {
        Ok(Vec::<Entry>::deserialize(d)?
            .into_iter()
            .map(|e| ((e.order_id, e.refund_id), e.refund))
            .collect())
    }
}

/// Figures derived from a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileStats {
    /// Orders that count: not cancelled, not deleted.
    pub orders: u32,
    pub purchase_days: u32,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
    /// Net of refunds, one entry per currency the customer paid in, most-used first.
    pub total_spent: Vec<Money>,
    pub average_order_value: Option<Money>,
    pub categories: BTreeMap<String, u32>,
    pub coupon_codes: BTreeSet<String>,
    pub cancelled_orders: u32,
    pub refunded: Vec<Money>,
}

impl Profile {
    /// Applies an order state; returns whether it changed anything.
    pub fn apply_order(&mut self, order: &Order) -> bool {
        let summary = OrderSummary::of(order);
        let changed = match self.orders.get(&order.id) {
            Some(stored) if !summary.supersedes(stored) || *stored == summary => false,
            _ => {
                self.orders.insert(order.id.clone(), summary);
                true
            }
        };
        let mut refunds_changed = false;
        for r in &order.refunds {
            refunds_changed |= self.apply_refund(r);
        }
        if !self.redacted {
            self.person.fill_from(&order.customer);
        }
        changed || refunds_changed
    }

    pub fn apply_refund(&mut self, refund: &Refund) -> bool {
        let key = (refund.order_id.clone(), refund.id.clone());
        let summary = RefundSummary {
            amount: refund.amount,
            created_at: refund.created_at,
        };
        self.refunds.insert(key, summary.clone()) != Some(summary)
    }

    pub fn stats(&self) -> ProfileStats {
        let counted: Vec<(&OrderId, &OrderSummary)> = self
            .orders
            .iter()
            .filter(|(_, o)| o.status == OrderStatus::Open)
            .collect();
        let mut spent: BTreeMap<Currency, (i64, u32)> = BTreeMap::new();
        let mut days = BTreeSet::<NaiveDate>::new();
        let mut categories = BTreeMap::new();
        let mut coupon_codes = BTreeSet::new();
        for (_, o) in &counted {
            let e = spent.entry(o.total.currency).or_insert((0, 0));
            e.0 = e.0.saturating_add(o.total.minor);
            e.1 = e.1.saturating_add(1);
            days.insert(o.created_at.date_naive());
            for (k, n) in &o.categories {
                let c = categories.entry(k.clone()).or_insert(0u32);
                *c = c.saturating_add(*n);
            }
            coupon_codes.extend(o.coupon_codes.iter().cloned());
        }
        let mut refunded: BTreeMap<Currency, i64> = BTreeMap::new();
        for ((order_id, _), r) in &self.refunds {
            // A refund counts only against an order that counts: a cancelled order is already out in
            // full, and a refund for an order not seen yet waits for it.
            if counted.iter().any(|(id, _)| *id == order_id) {
                let total = refunded.entry(r.amount.currency).or_insert(0);
                *total = total.saturating_add(r.amount.minor);
                if let Some(e) = spent.get_mut(&r.amount.currency) {
                    e.0 = e.0.saturating_sub(r.amount.minor);
                }
            }
        }
        let mut by_use: Vec<(Currency, (i64, u32))> = spent.into_iter().collect();
        by_use.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
        let average_order_value = by_use
            .first()
            .map(|(c, (total, n))| Money::new(div_round(*total, i64::from(*n)), *c));
        ProfileStats {
            orders: counted.len() as u32,
            purchase_days: days.len() as u32,
            first_order_at: counted.iter().map(|(_, o)| o.created_at).min(),
            last_order_at: counted.iter().map(|(_, o)| o.created_at).max(),
            total_spent: by_use
                .iter()
                .map(|(c, (t, _))| Money::new(*t, *c))
                .collect(),
            average_order_value,
            categories,
            coupon_codes,
            cancelled_orders: (self.orders.len() - counted.len()) as u32,
            refunded: refunded
                .into_iter()
                .map(|(c, m)| Money::new(m, c))
                .collect(),
        }
    }

    /// What the churn models see of this customer: one purchase per order that counts (not
    /// cancelled or deleted), on the day it was placed, its total net of its refunds, in
    /// `currency` (orders paid in another currency are left out: the store's model is in one).
    pub fn purchases(&self, currency: Currency) -> Vec<crate::churn::Purchase> {
        let mut refunded: BTreeMap<&OrderId, i64> = BTreeMap::new();
        for ((order, _), r) in &self.refunds {
            if r.amount.currency == currency {
                let t = refunded.entry(order).or_default();
                *t = t.saturating_add(r.amount.minor);
            }
        }
        self.orders
            .iter()
            .filter(|(_, o)| o.status == OrderStatus::Open && o.total.currency == currency)
            .map(|(id, o)| crate::churn::Purchase {
                date: o.created_at.date_naive(),
                amount_minor: o
                    .total
                    .minor
                    .saturating_sub(refunded.get(id).copied().unwrap_or(0)),
            })
            .collect()
    }

    /// The consent that holds for marketing email (see [`crate::email::consent::effective`]).
    pub fn marketing_consent(&self) -> crate::email::consent::Consent {
        crate::email::consent::effective(self.person.consent.as_ref(), self.unsubscribed_at)
    }

    /// Erases personal data; orders and figures stay, anonymous.
    pub fn redact(&mut self) {
        self.person = Person::default();
        self.redacted = true;
    }
}

/// Integer division rounding half away from zero, for averages of minor units.
fn div_round(total: i64, n: i64) -> i64 {
    if n == 0 {
        return 0;
    }
    let q = total / n;
    let r = total % n;
    if 2 * r.abs() >= n {
        q + total.signum()
    } else {
        q
    }
}

impl Person {
    /// Fills what is missing from `other`; never overwrites (an order's identity, see
    /// [`crate::ledger::IdentityWrite::Fill`]).
    pub fn fill_from(&mut self, other: &Person) {
        self.merge(other, false);
    }

    /// Overwrites what `other` names and leaves the rest: a customer update that omits the phone
    /// does not erase it ([`crate::ledger::IdentityWrite::Overwrite`]).
    pub fn overwrite_with(&mut self, other: &Person) {
        self.merge(other, true);
    }

    /// Takes each field `other` has: always (`overwrite`), or only where `self` has none.
    fn merge(&mut self, other: &Person, overwrite: bool) {
        fn field<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>, overwrite: bool) {
            if theirs.is_some() && (overwrite || mine.is_none()) {
                mine.clone_from(theirs);
            }
        }
        field(&mut self.email, &other.email, overwrite);
        field(&mut self.first_name, &other.first_name, overwrite);
        field(&mut self.last_name, &other.last_name, overwrite);
        field(&mut self.phone, &other.phone, overwrite);
        field(&mut self.consent, &other.consent, overwrite);
        field(&mut self.birthday, &other.birthday, overwrite);
    }
}

/// Who the profile belongs to, for display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerView {
    pub customer_id: CustomerId,
    #[serde(flatten)]
    pub profile: Profile,
    pub stats: ProfileStats,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn profiles_round_trip_through_json() {
        let usd = Currency::parse("USD").unwrap();
        let mut p = Profile::default();
        let at = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        p.refunds.insert(
            (
                OrderId::parse("o1").unwrap(),
                RefundId::parse("r1").unwrap(),
            ),
            RefundSummary {
                amount: Money::new(500, usd),
                created_at: at,
            },
        );
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.contains(r#""order_id":"o1","refund_id":"r1""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Profile>(&json).unwrap(), p);
    }

    #[test]
    fn purchases_are_the_orders_that_count_net_of_their_refunds() {
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let at = |d: &str| {
            DateTime::parse_from_rfc3339(&format!("{d}T10:00:00Z"))
                .unwrap()
                .with_timezone(&Utc)
        };
        let order = |day: &str, minor: i64, currency, status| OrderSummary {
            created_at: at(day),
            updated_at: at(day),
            total: Money::new(minor, currency),
            status,
            categories: BTreeMap::new(),
            coupon_codes: vec![],
        };
        let mut p = Profile::default();
        let id = |s: &str| OrderId::parse(s).unwrap();
        p.orders
            .insert(id("a"), order("2026-01-05", 5_000, usd, OrderStatus::Open));
        p.orders.insert(
            id("b"),
            order("2026-02-05", 3_000, usd, OrderStatus::Cancelled),
        );
        p.orders
            .insert(id("c"), order("2026-03-05", 4_000, eur, OrderStatus::Open));
        p.orders
            .insert(id("d"), order("2026-04-05", 2_000, usd, OrderStatus::Open));
        for (o, r, minor) in [("a", "r1", 1_000), ("a", "r2", 500), ("b", "r3", 3_000)] {
            p.refunds.insert(
                (id(o), RefundId::parse(r).unwrap()),
                RefundSummary {
                    amount: Money::new(minor, usd),
                    created_at: at("2026-05-01"),
                },
            );
        }
        let got: Vec<(String, i64)> = p
            .purchases(usd)
            .iter()
            .map(|p| (p.date.to_string(), p.amount_minor))
            .collect();
        assert_eq!(
            got,
            vec![("2026-01-05".into(), 3_500), ("2026-04-05".into(), 2_000)]
        );
    }

    #[test]
    fn averages_round_half_away_from_zero() {
        assert_eq!(div_round(10, 4), 3);
        assert_eq!(div_round(9, 4), 2);
        assert_eq!(div_round(-10, 4), -3);
        assert_eq!(div_round(5, 0), 0);
    }
}
