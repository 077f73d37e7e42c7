//! Key layout of the single table (see docs/data-model.md). Every item of a store shares the
//! partition `STORE#<id>`, so `shop/redact` is one sweep.
//!
//! A store's customers form one **collection** in that partition, sorted by bucket
//! ([`retention_core::segment::bucket`]) and then id:
//!
//! - `C#<bucket:4 hex>#<customer>`: the profile (identity, consent, the email index keys);
//! - `C#<bucket>#<customer>#O#<order>`: the customer's copy of one order's state, and its refunds.
//!
//! Customer ids use only characters that sort after `$` (letters, digits, `-_.:@+`), and `#` < `$`,
//! so a customer's items sort together, directly after their profile, and `C#<bucket>#<customer>$`
//! is the first key after them: one customer is `BETWEEN C#b#id AND C#b#id$`, and a segment (a
//! bucket range) is `BETWEEN C#<first># AND C#<last>$`, both one Query.

use retention_core::segment::{bucket, Segment};
use retention_core::{CustomerId, Email, OrderId, StoreId};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const TTL: &str = "ttl";

pub const META: &str = "META";
/// GSI1 partition listing every store (on each store's META item).
pub const STORES_GSI: &str = "STORES";
pub const CUSTOMER_PREFIX: &str = "C#";
pub const ORDER_PREFIX: &str = "ORDER#";
pub const DELIVERY_PREFIX: &str = "DELIVERY#";
pub const RUN_PREFIX: &str = "RUN#";
pub const SCAN_PREFIX: &str = "SCAN#";
/// After a customer's key: the item with their scan figures.
pub const SCORE_SUFFIX: &str = "#S";
/// Between a customer's key and an order's id in the key of the customer's copy of the order.
pub const ORDER_COPY: &str = "#O#";

/// Attribute-name prefixes: refunds on the customer's copy of their order, and refunds parked on
/// an order's record until the order itself arrives.
pub const REFUND_ATTR: &str = "r#";
pub const PENDING_REFUND_ATTR: &str = "pr#";

/// A scan run: one per store and day.
pub fn run_sk(as_of: chrono::NaiveDate) -> String {
    format!("{RUN_PREFIX}{as_of}")
}

/// A scan run's documents of one phase: `SCAN#<as_of>#<phase>#`, then the segment (5 digits).
pub fn scan_doc_prefix(as_of: chrono::NaiveDate, phase: &str) -> String {
    format!("{SCAN_PREFIX}{as_of}#{phase}#")
}
pub fn scan_doc_sk(as_of: chrono::NaiveDate, phase: &str, segment: u32) -> String {
    format!("{}{segment:05}", scan_doc_prefix(as_of, phase))
}

pub fn store_pk(store: &StoreId) -> String {
    format!("STORE#{store}")
}
/// The customer's profile.
pub fn customer_sk(customer: &CustomerId) -> String {
    format!("{CUSTOMER_PREFIX}{:04x}#{customer}", bucket(customer))
}
/// The first key after every item of the customer.
pub fn customer_end(customer: &CustomerId) -> String {
    format!("{}$", customer_sk(customer))
}
/// The customer's scan figures (sorts after their orders: `S` > `O`).
pub fn score_sk(customer: &CustomerId) -> String {
    format!("{}{SCORE_SUFFIX}", customer_sk(customer))
}
/// The customer's copy of an order's state.
pub fn order_copy_sk(customer: &CustomerId, order: &OrderId) -> String {
    format!("{}{ORDER_COPY}{order}", customer_sk(customer))
}
/// The key range `[first, last]` of a segment's customers.
pub fn segment_range(segment: Segment) -> (String, String) {
    let (first, last) = segment.buckets();
    (
        format!("{CUSTOMER_PREFIX}{first:04x}#"),
        format!("{CUSTOMER_PREFIX}{last:04x}$"),
    )
}

/// What a key of the customer collection names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerKey {
    Profile(CustomerId),
    Order(CustomerId, OrderId),
    Score(CustomerId),
}

impl CustomerKey {
    pub fn customer(&self) -> &CustomerId {
        match self {
            CustomerKey::Profile(c) | CustomerKey::Order(c, _) | CustomerKey::Score(c) => c,
        }
    }
}

/// Reads a key of the customer collection; `None` if it is not one.
pub fn parse_customer_key(sk: &str) -> Option<CustomerKey> {
    let rest = sk.strip_prefix(CUSTOMER_PREFIX)?;
    let (_bucket, rest) = rest.split_once('#')?;
    match rest.split_once(ORDER_COPY) {
        Some((c, o)) => Some(CustomerKey::Order(
            CustomerId::parse(c).ok()?,
            OrderId::parse(o).ok()?,
        )),
        None => match rest.strip_suffix(SCORE_SUFFIX) {
            Some(c) => Some(CustomerKey::Score(CustomerId::parse(c).ok()?)),
            None => Some(CustomerKey::Profile(CustomerId::parse(rest).ok()?)),
        },
    }
}

pub fn order_sk(order: &OrderId) -> String {
    format!("{ORDER_PREFIX}{order}")
}
pub fn delivery_sk(delivery: &str) -> String {
    format!("{DELIVERY_PREFIX}{delivery}")
}
pub fn email_gsi(store: &StoreId, email: &Email) -> String {
    format!("STORE#{store}#EMAIL#{email}")
}
/// Where a redacted profile's email index entry points: nowhere anyone looks up.
pub fn redacted_gsi(store: &StoreId) -> String {
    format!("STORE#{store}#REDACTED")
}
pub fn refund_attr(refund: &retention_core::RefundId) -> String {
    format!("{REFUND_ATTR}{refund}")
}
pub fn pending_refund_attr(refund: &retention_core::RefundId) -> String {
    format!("{PENDING_REFUND_ATTR}{refund}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CustomerId {
        CustomerId::parse(s).unwrap()
    }

    #[test]
    fn a_customers_items_sort_together_between_its_profile_and_its_end() {
        // Ids that share prefixes, with every character an id may hold after the prefix.
        let ids = [
            "a", "a-", "a+", "a.", "a:", "a@", "a_", "a0", "aZ", "az", "ab",
        ];
        for id in ids {
            let me = c(id);
            let (start, end) = (customer_sk(&me), customer_end(&me));
            let order = order_copy_sk(&me, &OrderId::parse("1").unwrap());
            assert!(start < order && order < end, "{id}");
            for other in ids.iter().filter(|o| **o != id) {
                let o = c(other);
                if bucket(&o) != bucket(&me) {
                    continue;
                }
                let k = customer_sk(&o);
                assert!(
                    !(start.clone()..=end.clone()).contains(&k),
                    "{other} inside {id}"
                );
            }
        }
        // Same bucket prefix, forced: the key strings alone decide.
        let (a, ab) = ("C#0000#a", "C#0000#ab");
        assert!(format!("{a}{ORDER_COPY}9").as_str() < ab && format!("{a}$").as_str() < ab);
    }

    #[test]
    fn a_segments_range_holds_exactly_its_buckets() {
        let s = Segment::new(3, 7).unwrap();
        let (lo, hi) = segment_range(s);
        for id in (0..2000).map(|i| c(&format!("cust{i}"))) {
            let k = customer_sk(&id);
            assert_eq!(lo <= k && k <= hi, s.contains(&id), "{id}");
        }
    }

    #[test]
    fn keys_parse_back() {
        let (me, o) = (c("guest:ann@example.com"), OrderId::parse("77").unwrap());
        assert_eq!(
            parse_customer_key(&customer_sk(&me)),
            Some(CustomerKey::Profile(me.clone()))
        );
        assert_eq!(
            parse_customer_key(&order_copy_sk(&me, &o)),
            Some(CustomerKey::Order(me.clone(), o.clone()))
        );
        assert_eq!(
            parse_customer_key(&score_sk(&me)),
            Some(CustomerKey::Score(me.clone()))
        );
        // The score sorts after every order and before the next customer.
        assert!(order_copy_sk(&me, &o) < score_sk(&me) && score_sk(&me) < customer_end(&me));
        assert_eq!(parse_customer_key("COUPON#X"), None);
    }
}
