//! What a delivery writes, decided once, here.
//!
//! A verified, parsed delivery ([`Change`]) becomes a [`Decision`]: the records to write, each write
//! that depends on stored state carrying a [`Guard`] the store evaluates atomically with the writes.
//! The store adapter only translates: a [`Write`] into a request, a [`Guard`] into its condition. It
//! decides nothing; what a failed guard means is said here too ([`Decision::Write::if_guard_fails`]).
//!
//! The rules, each once:
//! - **which order state wins**: a newer `updated_at` ([`supersedes`]); an equal one is let through,
//!   since writing the same state again changes nothing;
//! - **a refund before its order** is parked on the order's record and claimed, in the same write,
//!   by the order's first state;
//! - **deletion** is stamped with the time it arrived, so older states stay out and a later restore
//!   (WooCommerce's `order.restored`, a newer state) gets back in; a deletion of an order never seen
//!   leaves a tombstone that its late creation cannot pass;
//! - **identity** from an order only fills what is missing; a customer update overwrites, if it is
//!   not older than the last one; a redacted profile takes neither ([`IdentityWrite`]).

use crate::ids::{CustomerId, Email, OrderId, RefundId};
use crate::profile::{OrderSummary, RefundSummary};
use crate::webhook::{Change, Checkout, Order, OrderStatus, Person, Refund};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An order state's version: its `updated_at` in milliseconds (a deletion's: its arrival).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(pub i64);

impl Version {
    pub fn of(t: DateTime<Utc>) -> Self {
        Version(t.timestamp_millis())
    }
}

/// Whether a state at version `new` may replace one stored at `stored`: newer wins, equal passes.
pub fn supersedes(new: Version, stored: Version) -> bool {
    new >= stored
}

/// What the engine keeps about one order to route refunds and deletions to its customer and to
/// order its states: the order's own record, apart from the customer's copy of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderRecord {
    /// Whose order it is; `None` for a tombstone or a record holding only parked refunds.
    pub customer_id: Option<CustomerId>,
    /// The stored state's version; `None` while only refunds are parked.
    pub version: Option<Version>,
    pub status: Option<OrderStatus>,
    /// Refunds that arrived before the order, waiting for it.
    pub parked: Vec<Refund>,
}

/// A condition on the order's stored record, checked by the store atomically with the writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// No newer state is stored and no refund is parked (the common case: nothing was read).
    NotNewerNothingParked(Version),
    /// No newer state is stored and exactly `parked` refunds are parked (claiming them).
    NotNewerParked { version: Version, parked: u32 },
    /// The stored version is still the one read.
    VersionIs(Version),
    /// No state is stored (refunds may be parked).
    NoState,
    /// No state is stored and this refund is not parked yet.
    NoStateNotParked(RefundId),
}

impl Guard {
    /// Whether the guard holds for `stored` (what the in-memory store evaluates, and what the
    /// DynamoDB adapter's conditions say).
    pub fn admits(&self, stored: Option<&OrderRecord>) -> bool {
        let version = stored.and_then(|s| s.version);
        let parked = stored.map_or(0, |s| s.parked.len() as u32);
        let not_newer = |v: Version| version.is_none_or(|stored| supersedes(v, stored));
        match self {
            Guard::NotNewerNothingParked(v) => parked == 0 && not_newer(*v),
            Guard::NotNewerParked {
                version: v,
                parked: n,
            } => parked == *n && not_newer(*v),
            Guard::VersionIs(v) => version == Some(*v),
            Guard::NoState => version.is_none(),
            Guard::NoStateNotParked(id) => {
                version.is_none() && !stored.is_some_and(|s| s.parked.iter().any(|r| r.id == *id))
            }
        }
    }
}

/// The order record's new state, as one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderStateWrite {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub version: Version,
    pub status: OrderStatus,
    pub created_at: DateTime<Utc>,
    pub total: crate::money::Money,
    pub coupon_codes: Vec<String>,
    /// Kept on the record (for redaction to find) only if none is there yet.
    pub email: Option<Email>,
    /// Parked refunds this write takes off the record (they are written to the customer).
    pub claimed: Vec<RefundId>,
}

/// How a write touches a customer's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityWrite {
    /// From an order: set only what the profile lacks (never what a redaction erased).
    Fill(Person),
    /// From a customer update: overwrite what it names, unless the profile is redacted or a newer
    /// update is stored. A failed guard means the delivery is stale.
    Overwrite { person: Person, version: Version },
    /// Touch the profile's `updated_at` only (a refund landed).
    Touch,
}

/// One write of a decision. All of a decision's writes commit together with the delivery's
/// markers, or none does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// The order's record takes a new state.
    OrderState {
        state: OrderStateWrite,
        guard: Guard,
    },
    /// The customer's copy of an order state.
    OrderSummary {
        customer_id: CustomerId,
        order_id: OrderId,
        summary: OrderSummary,
    },
    /// A refund, under its customer.
    Refund {
        customer_id: CustomerId,
        order_id: OrderId,
        refund_id: RefundId,
        summary: RefundSummary,
    },
    /// The customer's identity (and the profile's timestamps).
    Identity {
        customer_id: CustomerId,
        write: IdentityWrite,
    },
    /// A refund waits on the order's record for the order to arrive.
    ParkRefund {
        refund: Refund,
        guard: Guard,
    },
    /// The order's record is marked deleted at `version` (its arrival).
    DeleteOrder {
        order_id: OrderId,
        version: Version,
        guard: Guard,
    },
    /// The customer's copy of the order is marked deleted (it must exist).
    DeleteSummary {
        customer_id: CustomerId,
        order_id: OrderId,
        at: DateTime<Utc>,
    },
    Checkout(Checkout),
    DataRequest {
        request_id: String,
        customer_id: Option<CustomerId>,
        email: Option<Email>,
    },
}

/// What to do when a guard of a decision's writes failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnGuardFailure {
    /// Read the order's record and decide again.
    ReadOrder,
    /// A newer state is stored: record the delivery (markers only) and change nothing.
    Stale,
}

/// What is known of the stored state when deciding.
#[derive(Debug, Clone, Copy)]
pub enum Known<'a> {
    /// Nothing was read (the first, optimistic attempt).
    Nothing,
    /// The order's record as just read (`None`: there is none).
    Order(Option<&'a OrderRecord>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write these with the delivery's markers, all or nothing.
    Write {
        writes: Vec<Write>,
        if_guard_fails: OnGuardFailure,
    },
    /// The delivery changes nothing (a newer state is stored, or it is already in): record it only.
    MarkersOnly,
    /// The order's stored record is needed to decide.
    ReadOrder(OrderId),
    /// Not a single write: redactions are use cases of their own (several steps, each idempotent).
    Redaction,
}

/// Decides what `change` writes, given what is known of the stored state. `now` stamps deletions.
pub fn decide(change: &Change, known: Known<'_>, now: DateTime<Utc>) -> Decision {
    match change {
        Change::Order(order) => decide_order(order, known),
        Change::OrderDeleted { order_id } => match known {
            Known::Nothing => Decision::ReadOrder(order_id.clone()),
            Known::Order(stored) => decide_deletion(order_id, stored, now),
        },
        Change::Refund(refund) => match known {
            Known::Nothing => Decision::ReadOrder(refund.order_id.clone()),
            Known::Order(stored) => decide_refund(refund, stored),
        },
        Change::Customer(c) => Decision::Write {
            writes: vec![Write::Identity {
                customer_id: c.customer_id.clone(),
                write: IdentityWrite::Overwrite {
                    person: c.person.clone(),
                    version: Version::of(c.updated_at),
                },
            }],
            if_guard_fails: OnGuardFailure::Stale,
        },
        Change::Checkout(c) => Decision::Write {
            writes: vec![Write::Checkout(c.clone())],
            if_guard_fails: OnGuardFailure::Stale,
        },
        Change::DataRequest {
            request_id,
            customer_id,
            email,
        } => Decision::Write {
            writes: vec![Write::DataRequest {
                request_id: request_id.clone(),
                customer_id: customer_id.clone(),
                email: email.clone(),
            }],
            if_guard_fails: OnGuardFailure::Stale,
        },
        Change::RedactCustomer { .. } | Change::RedactShop => Decision::Redaction,
    }
}

fn decide_order(order: &Order, known: Known<'_>) -> Decision {
    let version = Version::of(order.updated_at);
    let (guard, parked) = match known {
        Known::Order(Some(stored)) => {
            if stored.version.is_some_and(|v| !supersedes(version, v)) {
                return Decision::MarkersOnly;
            }
            if stored.parked.is_empty() {
                (Guard::NotNewerNothingParked(version), &[][..])
            } else {
                let guard = Guard::NotNewerParked {
                    version,
                    parked: stored.parked.len() as u32,
                };
                (guard, stored.parked.as_slice())
            }
        }
        Known::Nothing | Known::Order(None) => (Guard::NotNewerNothingParked(version), &[][..]),
    };
    let state = OrderStateWrite {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        version,
        status: order.status,
        created_at: order.created_at,
        total: order.total,
        coupon_codes: order.coupon_codes.clone(),
        email: order.customer.email.clone(),
        claimed: parked.iter().map(|r| r.id.clone()).collect(),
    };
    let mut writes = vec![
        Write::OrderState { state, guard },
        Write::OrderSummary {
            customer_id: order.customer_id.clone(),
            order_id: order.id.clone(),
            summary: OrderSummary::of(order),
        },
    ];
    let mut refunds: Vec<&Refund> = order.refunds.iter().chain(parked).collect();
    refunds.sort_by(|a, b| a.id.cmp(&b.id));
    refunds.dedup_by(|a, b| a.id == b.id);
    writes.extend(
        refunds
            .into_iter()
            .map(|r| refund_write(&order.customer_id, r)),
    );
    writes.push(Write::Identity {
        customer_id: order.customer_id.clone(),
        write: IdentityWrite::Fill(order.customer.clone()),
    });
    Decision::Write {
        writes,
        if_guard_fails: OnGuardFailure::ReadOrder,
    }
}

fn refund_write(customer: &CustomerId, r: &Refund) -> Write {
    Write::Refund {
        customer_id: customer.clone(),
        order_id: r.order_id.clone(),
        refund_id: r.id.clone(),
        summary: RefundSummary {
            amount: r.amount,
            created_at: r.created_at,
        },
    }
}

fn decide_deletion(
    order_id: &OrderId,
    stored: Option<&OrderRecord>,
    now: DateTime<Utc>,
) -> Decision {
    if stored.is_some_and(|s| s.status == Some(OrderStatus::Deleted)) {
        return Decision::MarkersOnly;
    }
    let at = Version::of(now);
    let writes = match stored.and_then(|s| Some((s.version?, s.customer_id.clone()?))) {
        Some((v, customer_id)) => vec![
            Write::DeleteOrder {
                order_id: order_id.clone(),
                version: at,
                guard: Guard::VersionIs(v),
            },
            Write::DeleteSummary {
                customer_id,
                order_id: order_id.clone(),
                at: now,
            },
        ],
        // Not seen yet: a tombstone, so the order's late creation (an older state) is ignored.
        None => vec![Write::DeleteOrder {
            order_id: order_id.clone(),
            version: at,
            guard: Guard::NoState,
        }],
    };
    Decision::Write {
        writes,
        if_guard_fails: OnGuardFailure::ReadOrder,
    }
}

fn decide_refund(refund: &Refund, stored: Option<&OrderRecord>) -> Decision {
    match stored {
        Some(OrderRecord {
            customer_id: Some(customer),
            version: Some(_),
            ..
        }) => Decision::Write {
            writes: vec![
                refund_write(customer, refund),
                Write::Identity {
                    customer_id: customer.clone(),
                    write: IdentityWrite::Touch,
                },
            ],
            if_guard_fails: OnGuardFailure::ReadOrder,
        },
        // A tombstone of an order never seen: nobody to credit, and the order will not count.
        Some(OrderRecord {
            version: Some(_), ..
        }) => Decision::MarkersOnly,
        Some(s) if s.parked.iter().any(|r| r.id == refund.id) => Decision::MarkersOnly,
        _ => Decision::Write {
            writes: vec![Write::ParkRefund {
                refund: refund.clone(),
                guard: Guard::NoStateNotParked(refund.id.clone()),
            }],
            if_guard_fails: OnGuardFailure::ReadOrder,
        },
    }
}

/// Which of an order's codes may be one of ours to redeem: only an open order redeems, each code
/// once, and only codes this engine could have generated (the store's own codes cost no read).
pub fn codes_to_redeem(order: &Order) -> Vec<crate::coupon::CouponCode> {
    let mut out: Vec<crate::coupon::CouponCode> = Vec::new();
    if order.status != OrderStatus::Open {
        return out;
    }
    for raw in &order.coupon_codes {
        let Ok(code) = crate::coupon::CouponCode::parse(raw) else {
            continue;
        };
        if code.could_be_generated() && !out.contains(&code) {
            out.push(code);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Currency, Money};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn order(updated: &str, status: OrderStatus) -> Order {
        Order {
            id: OrderId::parse("o1").unwrap(),
            customer_id: CustomerId::parse("c1").unwrap(),
            customer: Person::default(),
            created_at: t("2024-01-01T00:00:00Z"),
            updated_at: t(updated),
            total: Money::new(1000, Currency::parse("USD").unwrap()),
            status,
            items: vec![],
            coupon_codes: vec![],
            refunds: vec![],
        }
    }
    fn refund(id: &str) -> Refund {
        Refund {
            id: RefundId::parse(id).unwrap(),
            order_id: OrderId::parse("o1").unwrap(),
            amount: Money::new(100, Currency::parse("USD").unwrap()),
            created_at: t("2024-01-03T00:00:00Z"),
        }
    }
    fn record(v: Option<&str>, parked: Vec<Refund>) -> OrderRecord {
        OrderRecord {
            customer_id: v.map(|_| CustomerId::parse("c1").unwrap()),
            version: v.map(|v| Version::of(t(v))),
            status: v.map(|_| OrderStatus::Open),
            parked,
        }
    }
    const NOW: &str = "2024-02-01T00:00:00Z";

    #[test]
    fn newer_or_equal_states_win_older_are_stale() {
        let o = Change::Order(order("2024-01-02T00:00:00Z", OrderStatus::Open));
        let newer = record(Some("2024-01-05T00:00:00Z"), vec![]);
        assert_eq!(
            decide(&o, Known::Order(Some(&newer)), t(NOW)),
            Decision::MarkersOnly
        );
        let equal = record(Some("2024-01-02T00:00:00Z"), vec![]);
        assert!(matches!(
            decide(&o, Known::Order(Some(&equal)), t(NOW)),
            Decision::Write { .. }
        ));
        assert!(supersedes(Version(5), Version(5)) && !supersedes(Version(4), Version(5)));
    }

    #[test]
    fn the_first_attempt_reads_nothing_and_guards_on_version_and_parked_refunds() {
        let o = order("2024-01-02T00:00:00Z", OrderStatus::Open);
        let Decision::Write {
            writes,
            if_guard_fails,
        } = decide(&Change::Order(o.clone()), Known::Nothing, t(NOW))
        else {
            panic!()
        };
        assert_eq!(if_guard_fails, OnGuardFailure::ReadOrder);
        let Write::OrderState { guard, .. } = &writes[0] else {
            panic!()
        };
        assert_eq!(
            *guard,
            Guard::NotNewerNothingParked(Version::of(o.updated_at))
        );
        assert!(guard.admits(None));
        assert!(!guard.admits(Some(&record(None, vec![refund("r1")]))));
        assert!(!guard.admits(Some(&record(Some("2024-01-03T00:00:00Z"), vec![]))));
        assert!(guard.admits(Some(&record(Some("2024-01-01T00:00:00Z"), vec![]))));
    }

    #[test]
    fn a_refund_before_its_order_is_parked_then_claimed_by_the_order() {
        let r = refund("r1");
        let d = decide(&Change::Refund(r.clone()), Known::Order(None), t(NOW));
        let Decision::Write { writes, .. } = d else {
            panic!()
        };
        assert!(
            matches!(&writes[0], Write::ParkRefund { guard: Guard::NoStateNotParked(id), .. } if *id == r.id)
        );
        // Parked once: a second delivery of it changes nothing.
        let parked = record(None, vec![r.clone()]);
        assert_eq!(
            decide(
                &Change::Refund(r.clone()),
                Known::Order(Some(&parked)),
                t(NOW)
            ),
            Decision::MarkersOnly
        );
        // The order claims it: guard on the parked count, the refund written to the customer.
        let o = Change::Order(order("2024-01-02T00:00:00Z", OrderStatus::Open));
        let Decision::Write { writes, .. } = decide(&o, Known::Order(Some(&parked)), t(NOW)) else {
            panic!()
        };
        let Write::OrderState { state, guard } = &writes[0] else {
            panic!()
        };
        assert_eq!(state.claimed, vec![r.id.clone()]);
        assert!(guard.admits(Some(&parked)));
        assert!(!guard.admits(Some(&record(None, vec![r.clone(), refund("r2")]))));
        assert!(writes
            .iter()
            .any(|w| matches!(w, Write::Refund { refund_id, .. } if *refund_id == r.id)));
    }

    #[test]
    fn a_refund_of_a_known_order_goes_to_its_customer() {
        let known = record(Some("2024-01-02T00:00:00Z"), vec![]);
        let Decision::Write { writes, .. } = decide(
            &Change::Refund(refund("r1")),
            Known::Order(Some(&known)),
            t(NOW),
        ) else {
            panic!()
        };
        assert!(
            matches!(&writes[0], Write::Refund { customer_id, .. } if customer_id.as_str() == "c1")
        );
        assert_eq!(
            decide(&Change::Refund(refund("r1")), Known::Nothing, t(NOW)),
            Decision::ReadOrder(OrderId::parse("o1").unwrap())
        );
    }

    #[test]
    fn deletion_is_stamped_with_its_arrival_and_a_restore_passes_it() {
        let del = Change::OrderDeleted {
            order_id: OrderId::parse("o1").unwrap(),
        };
        let known = record(Some("2024-01-02T00:00:00Z"), vec![]);
        let Decision::Write { writes, .. } = decide(&del, Known::Order(Some(&known)), t(NOW))
        else {
            panic!()
        };
        assert_eq!(
            writes[0],
            Write::DeleteOrder {
                order_id: OrderId::parse("o1").unwrap(),
                version: Version::of(t(NOW)),
                guard: Guard::VersionIs(known.version.unwrap()),
            }
        );
        assert!(matches!(writes[1], Write::DeleteSummary { .. }));
        let deleted = OrderRecord {
            version: Some(Version::of(t(NOW))),
            status: Some(OrderStatus::Deleted),
            ..known.clone()
        };
        assert_eq!(
            decide(&del, Known::Order(Some(&deleted)), t(NOW)),
            Decision::MarkersOnly
        );
        // An older state stays out; a restore (newer) gets back in.
        let old = Change::Order(order("2024-01-03T00:00:00Z", OrderStatus::Open));
        assert_eq!(
            decide(&old, Known::Order(Some(&deleted)), t(NOW)),
            Decision::MarkersOnly
        );
        let restore = Change::Order(order("2024-03-01T00:00:00Z", OrderStatus::Open));
        assert!(matches!(
            decide(&restore, Known::Order(Some(&deleted)), t(NOW)),
            Decision::Write { .. }
        ));
    }

    #[test]
    fn deleting_an_unseen_order_leaves_a_tombstone_its_refunds_do_not_pass() {
        let del = Change::OrderDeleted {
            order_id: OrderId::parse("o1").unwrap(),
        };
        let Decision::Write { writes, .. } = decide(&del, Known::Order(None), t(NOW)) else {
            panic!()
        };
        assert!(matches!(
            &writes[..],
            [Write::DeleteOrder {
                guard: Guard::NoState,
                ..
            }]
        ));
        let tombstone = OrderRecord {
            version: Some(Version::of(t(NOW))),
            status: Some(OrderStatus::Deleted),
            ..OrderRecord::default()
        };
        assert_eq!(
            decide(
                &Change::Refund(refund("r9")),
                Known::Order(Some(&tombstone)),
                t(NOW)
            ),
            Decision::MarkersOnly
        );
    }

    #[test]
    fn customer_updates_overwrite_and_are_stale_when_their_guard_fails() {
        let c = Change::Customer(crate::webhook::CustomerUpdate {
            customer_id: CustomerId::parse("c1").unwrap(),
            person: Person {
                first_name: Some("Ann".into()),
                ..Person::default()
            },
            updated_at: t("2024-01-02T00:00:00Z"),
        });
        let Decision::Write {
            writes,
            if_guard_fails,
        } = decide(&c, Known::Nothing, t(NOW))
        else {
            panic!()
        };
        assert_eq!(if_guard_fails, OnGuardFailure::Stale);
        assert!(matches!(
            &writes[..],
            [Write::Identity {
                write: IdentityWrite::Overwrite { version, .. },
                ..
            }] if *version == Version::of(t("2024-01-02T00:00:00Z"))
        ));
        let mut p = Person {
            first_name: Some("Old".into()),
            phone: Some("1".into()),
            ..Person::default()
        };
        p.overwrite_with(&Person {
            first_name: Some("Ann".into()),
            ..Person::default()
        });
        assert_eq!(p.first_name.as_deref(), Some("Ann"));
        assert_eq!(p.phone.as_deref(), Some("1"));
    }

    #[test]
    fn only_open_orders_redeem_each_generated_code_once() {
        let code = crate::coupon::CouponCode::generate_secure(None);
        let mut o = order("2024-01-02T00:00:00Z", OrderStatus::Open);
        o.coupon_codes = vec![
            code.display().to_string(),
            code.display().to_string(),
            "SUMMER10".into(),
        ];
        assert_eq!(codes_to_redeem(&o), vec![code.clone()]);
        o.status = OrderStatus::Cancelled;
        assert!(codes_to_redeem(&o).is_empty());
    }
}
