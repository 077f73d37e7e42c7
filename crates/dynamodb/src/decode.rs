//! A direct decoder for the items a page of customers holds (profiles, copies of orders, scores),
//! reading the SDK's attribute maps field by field: the scan's hot path (BENCHMARKS.md).
//!
//! serde_dynamo stays the reference. Its cost is in the item-level machinery (a map deserializer
//! per item and per nested map, the score item's `#[serde(flatten)]`, which buffers every attribute
//! before decoding it), not in the leaves; so each leaf value here (an email, a date, an enum) is
//! still decoded by its type's own `Deserialize`, from the string, exactly as serde_dynamo would,
//! and the direct decoder only replaces the walk over the item. It takes the shape our writes give
//! (numbers as `N`, strings as `S`, absent or `NULL` for nothing) and, at the first thing it does
//! not expect, hands the whole item to serde_dynamo, which then decides: the same value where that
//! reading is legitimate, the same error, naming the item, where it is not. Agreement is tested
//! below on every shape a scan page holds and on those items bent in every way the fast path
//! declines.

use crate::items::{OrderCopy, ProfileItem};
use crate::keys::REFUND_ATTR;
use crate::scan::ScoreItem;
use crate::table::{from_item, Item};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, Utc};
use retention_aws::AwsError;
use retention_core::churn::rfm::RfmScore;
use retention_core::churn::scored::CustomerScore;
use retention_core::email::consent::Consent;
use retention_core::money::Money;
use retention_core::profile::{OrderSummary, RefundSummary};
use retention_core::{Currency, RefundId};
use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

/// The fast path declined this item: serde_dynamo decides.
struct Declined;
type Fast<T> = Result<T, Declined>;

type Map = HashMap<String, AttributeValue>;

/// A value decoded from a string by its type's own `Deserialize` (what serde_dynamo does with an
/// `S` for an email, an enum, a date in a form other than ours).
fn from_str<T: DeserializeOwned>(s: &str) -> Fast<T> {
    T::deserialize(StrDeserializer::<ValueError>::new(s)).map_err(|_| Declined)
}

fn string(v: &AttributeValue) -> Fast<&str> {
    match v {
        AttributeValue::S(s) => Ok(s),
        _ => Err(Declined),
    }
}

fn parsed<T: DeserializeOwned>(v: &AttributeValue) -> Fast<T> {
    from_str(string(v)?)
}

fn text(v: &AttributeValue) -> Fast<String> {
    string(v).map(str::to_string)
}

/// A number as serde_dynamo reads one into a typed field: `str::parse` of the `N`.
fn number<T: FromStr>(v: &AttributeValue) -> Fast<T> {
    match v {
        AttributeValue::N(n) => n.parse().map_err(|_| Declined),
        _ => Err(Declined),
    }
}

fn boolean(v: &AttributeValue) -> Fast<bool> {
    match v {
        AttributeValue::Bool(b) => Ok(*b),
        _ => Err(Declined),
    }
}

fn map(v: &AttributeValue) -> Fast<&Map> {
    match v {
        AttributeValue::M(m) => Ok(m),
        _ => Err(Declined),
    }
}

fn list(v: &AttributeValue) -> Fast<&[AttributeValue]> {
    match v {
        AttributeValue::L(l) => Ok(l),
        _ => Err(Declined),
    }
}

/// An optional field: `NULL` is `None` (absent is left to the caller's default).
fn nullable<T>(
    v: &AttributeValue,
    read: impl FnOnce(&AttributeValue) -> Fast<T>,
) -> Fast<Option<T>> {
    match v {
        AttributeValue::Null(true) => Ok(None),
        v => read(v).map(Some),
    }
}

fn two_digits(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(c - b'0')),
        _ => None,
    }
}

/// `YYYY-MM-DD`, the form chrono writes a date in.
fn ymd(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = two_digits(&b[0..2])? * 100 + two_digits(&b[2..4])?;
    NaiveDate::from_ymd_opt(year as i32, two_digits(&b[5..7])?, two_digits(&b[8..10])?)
}

/// A date: ours read by hand, any other form by chrono (through its `Deserialize`).
fn date(v: &AttributeValue) -> Fast<NaiveDate> {
    let s = string(v)?;
    ymd(s.as_bytes()).map_or_else(|| from_str(s), Ok)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, the form chrono writes a UTC time in (no leap second).
fn rfc3339_utc(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b.last() != Some(&b'Z') {
        return None;
    }
    let day = ymd(&b[..10])?;
    let (h, m, sec) = (
        two_digits(&b[11..13])?,
        two_digits(&b[14..16])?,
        two_digits(&b[17..19])?,
    );
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let mut n = 0u32;
            for d in digits {
                if !d.is_ascii_digit() {
                    return None;
                }
                n = n * 10 + u32::from(d - b'0');
            }
            n * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    if sec > 59 {
        return None;
    }
    Some(day.and_hms_nano_opt(h, m, sec, nanos)?.and_utc())
}

/// A time: ours read by hand, any other form (an offset, a leap second) by chrono.
fn time(v: &AttributeValue) -> Fast<DateTime<Utc>> {
    let s = string(v)?;
    rfc3339_utc(s.as_bytes()).map_or_else(|| from_str(s), Ok)
}

/// Whether serde_dynamo can read `v` at all when it skips it (an attribute no field names): it
/// still decodes every value it meets, and refuses a `NULL` that says false and a number that
/// does not parse.
fn readable(v: &AttributeValue) -> bool {
    match v {
        AttributeValue::Null(b) => *b,
        AttributeValue::N(n) => n.parse::<f64>().is_ok(),
        AttributeValue::Ns(ns) => ns.iter().all(|n| n.parse::<f64>().is_ok()),
        AttributeValue::L(l) => l.iter().all(readable),
        AttributeValue::M(m) => m.values().all(readable),
        _ => true,
    }
}

/// An attribute no field names: skipped, if serde_dynamo would skip it too.
fn other(v: &AttributeValue) -> Fast<()> {
    readable(v).then_some(()).ok_or(Declined)
}

/// A field serde requires.
fn present<T>(field: Option<T>) -> Fast<T> {
    field.ok_or(Declined)
}

// Each struct is read in one pass over its attributes (no hashing), every one either a field or
// checked as serde_dynamo checks what it skips.

fn money(v: &AttributeValue) -> Fast<Money> {
    let (mut minor, mut currency) = (None, None);
    for (k, v) in map(v)? {
        match k.as_str() {
            "minor" => minor = Some(number(v)?),
            "currency" => currency = Some(Currency::parse(string(v)?).map_err(|_| Declined)?),
            _ => other(v)?,
        }
    }
    Ok(Money {
        minor: present(minor)?,
        currency: present(currency)?,
    })
}

fn consent(v: &AttributeValue) -> Fast<Consent> {
    let (mut state, mut source, mut at) = (None, None, None);
    for (k, v) in map(v)? {
        match k.as_str() {
            "state" => state = Some(parsed(v)?),
            "source" => source = Some(parsed(v)?),
            "at" => at = nullable(v, time)?,
            _ => other(v)?,
        }
    }
    Ok(Consent {
        state: present(state)?,
        source: present(source)?,
        at,
    })
}

fn fast_profile(item: &Item) -> Fast<ProfileItem> {
    let mut p = ProfileItem::default();
    for (k, v) in item {
        match k.as_str() {
            "email" => p.email = nullable(v, parsed)?,
            "first_name" => p.first_name = nullable(v, text)?,
            "last_name" => p.last_name = nullable(v, text)?,
            "phone" => p.phone = nullable(v, text)?,
            "accepts_marketing" => p.accepts_marketing = nullable(v, boolean)?,
            "consent" => p.consent = nullable(v, consent)?,
            "birthday" => p.birthday = nullable(v, parsed)?,
            "unsub_at" => p.unsub_at = nullable(v, time)?,
            "redacted" => p.redacted = nullable(v, boolean)?,
            "iv" => p.iv = nullable(v, number)?,
            _ => other(v)?,
        }
    }
    Ok(p)
}

fn order_summary(v: &AttributeValue) -> Fast<OrderSummary> {
    let (mut created_at, mut updated_at, mut total, mut status) = (None, None, None, None);
    let (mut categories, mut coupon_codes) = (BTreeMap::new(), Vec::new());
    for (k, v) in map(v)? {
        match k.as_str() {
            "created_at" => created_at = Some(time(v)?),
            "updated_at" => updated_at = Some(time(v)?),
            "total" => total = Some(money(v)?),
            "status" => status = Some(parsed(v)?),
            "categories" => {
                categories = map(v)?
                    .iter()
                    .map(|(k, n)| Ok((k.clone(), number(n)?)))
                    .collect::<Fast<_>>()?
            }
            "coupon_codes" => coupon_codes = list(v)?.iter().map(text).collect::<Fast<_>>()?,
            _ => other(v)?,
        }
    }
    Ok(OrderSummary {
        created_at: present(created_at)?,
        updated_at: present(updated_at)?,
        total: present(total)?,
        status: present(status)?,
        categories,
        coupon_codes,
    })
}

fn refund_summary(v: &AttributeValue) -> Fast<RefundSummary> {
    let (mut amount, mut created_at) = (None, None);
    for (k, v) in map(v)? {
        match k.as_str() {
            "amount" => amount = Some(money(v)?),
            "created_at" => created_at = Some(time(v)?),
            _ => other(v)?,
        }
    }
    Ok(RefundSummary {
        amount: present(amount)?,
        created_at: present(created_at)?,
    })
}

fn fast_order_copy(item: &Item) -> Fast<OrderCopy> {
    let (mut o, mut refunds) = (None, Vec::new());
    for (name, v) in item {
        if name == "o" {
            o = nullable(v, order_summary)?;
        } else if let Some(id) = name.strip_prefix(REFUND_ATTR) {
            let id = RefundId::parse(id).map_err(|_| Declined)?;
            refunds.push((id, refund_summary(v)?));
        } else {
            other(v)?;
        }
    }
    Ok((o, refunds))
}

fn rfm(v: &AttributeValue) -> Fast<RfmScore> {
    let (mut recency, mut frequency, mut monetary) = (None, None, None);
    for (k, v) in map(v)? {
        match k.as_str() {
            "recency" => recency = Some(number(v)?),
            "frequency" => frequency = Some(number(v)?),
            "monetary" => monetary = Some(number(v)?),
            _ => other(v)?,
        }
    }
    Ok(RfmScore {
        recency: present(recency)?,
        frequency: present(frequency)?,
        monetary: present(monetary)?,
    })
}

fn fast_score(item: &Item) -> Fast<CustomerScore> {
    let (mut pk, mut sk, mut as_of, mut churn_risk, mut p_alive) = (false, false, None, None, None);
    let (mut expected_purchases, mut bucket, mut rfm_score, mut segment) = (None, None, None, None);
    let (mut expected_next_order, mut clv, mut fitted, mut reasons) = (None, None, None, None);
    for (k, v) in item {
        match k.as_str() {
            // The item's keys are strings (serde_dynamo checks them, so this does too).
            "PK" => pk = string(v).is_ok(),
            "SK" => sk = string(v).is_ok(),
            "as_of" => as_of = Some(date(v)?),
            "churn_risk" => churn_risk = Some(number(v)?),
            "p_alive" => p_alive = Some(number(v)?),
            "expected_purchases" => expected_purchases = Some(number(v)?),
            "bucket" => bucket = Some(parsed(v)?),
            "rfm" => rfm_score = Some(rfm(v)?),
            "segment" => segment = Some(parsed(v)?),
            "expected_next_order" => expected_next_order = nullable(v, date)?,
            "predicted_clv_minor" => clv = Some(number(v)?),
            "fitted" => fitted = Some(boolean(v)?),
            "reasons" => reasons = Some(list(v)?.iter().map(text).collect::<Fast<_>>()?),
            _ => other(v)?,
        }
    }
    if !(pk && sk) {
        return Err(Declined);
    }
    Ok(CustomerScore {
        as_of: present(as_of)?,
        churn_risk: present(churn_risk)?,
        p_alive: present(p_alive)?,
        expected_purchases: present(expected_purchases)?,
        bucket: present(bucket)?,
        rfm: present(rfm_score)?,
        segment: present(segment)?,
        expected_next_order,
        predicted_clv_minor: present(clv)?,
        fitted: present(fitted)?,
        reasons: present(reasons)?,
    })
}

/// How a page's items are decoded: directly (the scan), or by serde_dynamo (the reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Direct,
    Serde,
}

pub(crate) fn profile(key: &str, item: Item, via: Via) -> Result<ProfileItem, AwsError> {
    match via {
        Via::Direct => match fast_profile(&item) {
            Ok(p) => Ok(p),
            Err(Declined) => from_item(key, item),
        },
        Via::Serde => from_item(key, item),
    }
}

pub(crate) fn score(key: &str, item: Item, via: Via) -> Result<CustomerScore, AwsError> {
    match via {
        Via::Direct => match fast_score(&item) {
            Ok(s) => Ok(s),
            Err(Declined) => from_item::<ScoreItem>(key, item).map(|s| s.score),
        },
        Via::Serde => from_item::<ScoreItem>(key, item).map(|s| s.score),
    }
}

pub(crate) fn order_copy(key: &str, item: Item, via: Via) -> Result<OrderCopy, AwsError> {
    match via {
        Via::Direct => match fast_order_copy(&item) {
            Ok(c) => Ok(c),
            Err(Declined) => crate::items::order_copy(key, item),
        },
        Via::Serde => crate::items::order_copy(key, item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::decode_customers_via;
    use crate::keys::{customer_sk, order_copy_sk, refund_attr, score_sk};
    use proptest::prelude::*;
    use retention_core::churn::rfm::Segment;
    use retention_core::churn::score::RiskBucket;
    use retention_core::email::consent::{ConsentSource, ConsentState};
    use retention_core::webhook::OrderStatus;
    use retention_core::{Currency, CustomerId, OrderId};

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }
    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.into())
    }
    fn customer() -> CustomerId {
        CustomerId::parse("6000000042").unwrap()
    }
    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap()
    }
    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }
    fn keyed(sk: String, mut item: Item) -> Item {
        item.insert("PK".into(), s("STORE#shop"));
        item.insert("SK".into(), s(&sk));
        item
    }

    /// A profile as the webhooks' updates leave it: some attributes set, the rest absent.
    fn profile_sparse() -> Item {
        keyed(
            customer_sk(&customer()),
            Item::from([
                ("email".into(), s("ada@example.com")),
                ("first_name".into(), s("Ada")),
                ("accepts_marketing".into(), AttributeValue::Bool(true)),
                ("GSI1PK".into(), s("STORE#shop#EMAIL#ada@example.com")),
                ("GSI1SK".into(), s(&customer_sk(&customer()))),
            ]),
        )
    }

    /// A profile with every attribute, as serde_dynamo writes a whole one (with `NULL`s).
    fn profile_full(birthday: &str, with_consent_time: bool) -> Item {
        let mut p: Item = serde_dynamo::to_item(ProfileItem {
            email: Some(retention_core::Email::parse("Grace@Example.com").unwrap()),
            first_name: Some("Grâce".into()),
            last_name: None,
            phone: Some("+1 555 0100".into()),
            accepts_marketing: None,
            consent: Some(Consent {
                state: ConsentState::Unsubscribed,
                source: ConsentSource::Unsubscribe,
                at: with_consent_time.then(at),
            }),
            birthday: Some(retention_core::birthday::Birthday::parse(birthday).unwrap()),
            unsub_at: Some(at()),
            redacted: Some(false),
            iv: Some(1_700_000_000_123),
        })
        .unwrap();
        p.insert("PK".into(), s("STORE#shop"));
        p.insert("SK".into(), s(&customer_sk(&customer())));
        p
    }

    fn summary(coupons: bool) -> OrderSummary {
        OrderSummary {
            created_at: at(),
            updated_at: at() + chrono::Duration::hours(3),
            total: Money::new(4250, usd()),
            status: OrderStatus::Open,
            categories: BTreeMap::from([("Cat food".to_string(), 2), ("Toys".to_string(), 1)]),
            coupon_codes: if coupons {
                vec!["WELCOME10".into()]
            } else {
                vec![]
            },
        }
    }

    fn order(k: u32, o: Option<OrderSummary>, refunds: &[(&str, i64)]) -> Item {
        let id = OrderId::parse(format!("o{k}")).unwrap();
        let mut item = keyed(order_copy_sk(&customer(), &id), Item::new());
        if let Some(o) = o {
            item.insert("o".into(), serde_dynamo::to_attribute_value(o).unwrap());
        }
        for (r, minor) in refunds {
            let refund = RefundSummary {
                amount: Money::new(*minor, usd()),
                created_at: at(),
            };
            item.insert(
                refund_attr(&RefundId::parse(*r).unwrap()),
                serde_dynamo::to_attribute_value(refund).unwrap(),
            );
        }
        item
    }

    fn score_value(next: Option<NaiveDate>) -> CustomerScore {
        CustomerScore {
            as_of: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
            churn_risk: 0.812_345_678_901_234_5,
            p_alive: 1.0,
            expected_purchases: 0.208_1,
            bucket: RiskBucket::High,
            rfm: RfmScore {
                recency: 2,
                frequency: 5,
                monetary: 4,
            },
            segment: Segment::CantLose,
            expected_next_order: next,
            predicted_clv_minor: -3,
            fitted: true,
            reasons: vec!["no order for 120 days".into(), "usually every 30".into()],
        }
    }

    fn score(next: Option<NaiveDate>) -> Item {
        serde_dynamo::to_item(ScoreItem {
            pk: "STORE#shop".into(),
            sk: score_sk(&customer()),
            score: score_value(next),
        })
        .unwrap()
    }

    /// Every kind of item a scan page holds, in the shapes our writes give.
    fn canonical() -> Vec<Item> {
        vec![
            profile_sparse(),
            profile_full("1990-05-17", true),
            profile_full("02-29", false),
            keyed(customer_sk(&customer()), Item::new()),
            order(1, Some(summary(false)), &[]),
            order(2, Some(summary(true)), &[("r1", 500), ("r2", 1000)]),
            order(3, None, &[("r3", 250)]),
            score(None),
            score(NaiveDate::from_ymd_opt(2024, 7, 1)),
        ]
    }

    /// Both decoders on one item: the same customers, or the same error.
    fn agree(item: Item) -> std::result::Result<(), String> {
        let serde = decode_customers_via(vec![item.clone()], Via::Serde).map_err(|e| e.to_string());
        let direct =
            decode_customers_via(vec![item.clone()], Via::Direct).map_err(|e| e.to_string());
        if serde == direct {
            Ok(())
        } else {
            Err(format!(
                "{item:?}\n  serde:  {serde:?}\n  direct: {direct:?}"
            ))
        }
    }

    fn set(mut item: Item, path: &[&str], v: Option<AttributeValue>) -> Item {
        fn walk(m: &mut Map, path: &[&str], v: Option<AttributeValue>) {
            match path {
                [last] => match v {
                    Some(v) => {
                        m.insert((*last).into(), v);
                    }
                    None => {
                        m.remove(*last);
                    }
                },
                [first, rest @ ..] => {
                    if let Some(AttributeValue::M(inner)) = m.get_mut(*first) {
                        walk(inner, rest, v);
                    }
                }
                [] => {}
            }
        }
        walk(&mut item, path, v);
        item
    }

    #[test]
    fn the_direct_decoder_reads_every_canonical_item_itself() {
        // Not merely equal through the fallback: the fast path takes each of them.
        for item in canonical() {
            let key = crate::table::sort_key(&item).to_string();
            let took = if key.ends_with("#S") {
                fast_score(&item).is_ok()
            } else if key.contains("#O#") {
                fast_order_copy(&item).is_ok()
            } else {
                fast_profile(&item).is_ok()
            };
            assert!(took, "the fast path declined {item:?}");
            agree(item).unwrap();
        }
    }

    #[test]
    fn both_decoders_agree_on_the_edge_cases() {
        let date = |d: &str| Some(s(d));
        let cases: Vec<(&str, Item)> = vec![
            (
                "score: next order NULL",
                set(
                    score(None),
                    &["expected_next_order"],
                    Some(AttributeValue::Null(true)),
                ),
            ),
            (
                "score: next order absent",
                set(score(None), &["expected_next_order"], None),
            ),
            (
                "score: next order not a date",
                set(score(None), &["expected_next_order"], date("soon")),
            ),
            (
                "score: risk as an integer",
                set(score(None), &["churn_risk"], Some(n("1"))),
            ),
            (
                "score: risk as a string",
                set(score(None), &["churn_risk"], Some(s("0.5"))),
            ),
            (
                "score: risk in exponent form",
                set(score(None), &["churn_risk"], Some(n("8.1e-1"))),
            ),
            (
                "score: CLV with a fraction",
                set(score(None), &["predicted_clv_minor"], Some(n("12.5"))),
            ),
            (
                "score: RFM 5.0",
                set(score(None), &["rfm", "recency"], Some(n("5.0"))),
            ),
            (
                "score: RFM 300",
                set(score(None), &["rfm", "recency"], Some(n("300"))),
            ),
            (
                "score: RFM -0",
                set(score(None), &["rfm", "recency"], Some(n("-0"))),
            ),
            (
                "score: RFM missing",
                set(score(None), &["rfm", "monetary"], None),
            ),
            (
                "score: unknown bucket",
                set(score(None), &["bucket"], date("extreme")),
            ),
            (
                "score: reasons as a string set",
                set(
                    score(None),
                    &["reasons"],
                    Some(AttributeValue::Ss(vec!["a".into()])),
                ),
            ),
            ("score: no reasons", set(score(None), &["reasons"], None)),
            (
                "score: fitted as a number",
                set(score(None), &["fitted"], Some(n("1"))),
            ),
            (
                "score: an attribute we never wrote",
                set(score(None), &["extra"], Some(n("7"))),
            ),
            (
                "score: one that is no number",
                set(score(None), &["extra"], Some(n("seven"))),
            ),
            (
                "score: one NULL false",
                set(score(None), &["extra"], Some(AttributeValue::Null(false))),
            ),
            (
                "profile: an index key NULL false",
                set(
                    profile_sparse(),
                    &["GSI1PK"],
                    Some(AttributeValue::Null(false)),
                ),
            ),
            (
                "order: an unknown NULL false inside",
                set(
                    order(1, Some(summary(false)), &[]),
                    &["o", "total", "x"],
                    Some(AttributeValue::Null(false)),
                ),
            ),
            (
                "score: PK as a number",
                set(score(None), &["PK"], Some(n("7"))),
            ),
            (
                "profile: email NULL",
                set(
                    profile_sparse(),
                    &["email"],
                    Some(AttributeValue::Null(true)),
                ),
            ),
            (
                "profile: email NULL false",
                set(
                    profile_sparse(),
                    &["email"],
                    Some(AttributeValue::Null(false)),
                ),
            ),
            (
                "profile: email invalid",
                set(profile_sparse(), &["email"], date("not an email")),
            ),
            (
                "profile: marketing as a string",
                set(profile_sparse(), &["accepts_marketing"], date("true")),
            ),
            (
                "profile: iv as a string",
                set(profile_sparse(), &["iv"], date("17")),
            ),
            (
                "profile: iv huge",
                set(profile_sparse(), &["iv"], Some(n("1e30"))),
            ),
            (
                "profile: birthday invalid",
                set(profile_full("05-17", true), &["birthday"], date("17-05")),
            ),
            (
                "profile: consent without a source",
                set(profile_full("05-17", true), &["consent", "source"], None),
            ),
            (
                "profile: consent at NULL",
                set(
                    profile_full("05-17", true),
                    &["consent", "at"],
                    Some(AttributeValue::Null(true)),
                ),
            ),
            (
                "profile: redacted",
                set(
                    profile_sparse(),
                    &["redacted"],
                    Some(AttributeValue::Bool(true)),
                ),
            ),
            (
                "order: total as a string",
                set(
                    order(1, Some(summary(false)), &[]),
                    &["o", "total", "minor"],
                    Some(s("4250")),
                ),
            ),
            (
                "order: no categories",
                set(
                    order(1, Some(summary(false)), &[]),
                    &["o", "categories"],
                    None,
                ),
            ),
            (
                "order: no coupon codes",
                set(
                    order(1, Some(summary(true)), &[]),
                    &["o", "coupon_codes"],
                    None,
                ),
            ),
            (
                "order: no status",
                set(order(1, Some(summary(false)), &[]), &["o", "status"], None),
            ),
            (
                "order: unknown status",
                set(
                    order(1, Some(summary(false)), &[]),
                    &["o", "status"],
                    date("lost"),
                ),
            ),
            (
                "order: quantity negative",
                set(
                    order(1, Some(summary(false)), &[]),
                    &["o", "categories", "Toys"],
                    Some(n("-1")),
                ),
            ),
            (
                "order: o NULL",
                set(
                    order(1, Some(summary(false)), &[]),
                    &["o"],
                    Some(AttributeValue::Null(true)),
                ),
            ),
            (
                "order: o a list",
                set(
                    order(1, Some(summary(false)), &[]),
                    &["o"],
                    Some(AttributeValue::L(vec![])),
                ),
            ),
            (
                "order: bad currency",
                set(
                    order(1, Some(summary(false)), &[]),
                    &["o", "total", "currency"],
                    date("usd!"),
                ),
            ),
            (
                "order: refund malformed",
                set(
                    order(2, Some(summary(false)), &[("r1", 5)]),
                    &["r#r1"],
                    Some(n("5")),
                ),
            ),
            (
                "order: refund with a bad id",
                set(order(2, Some(summary(false)), &[]), &["r#"], Some(n("5"))),
            ),
            (
                "no customer key",
                set(profile_sparse(), &["SK"], date("COUPON#X")),
            ),
        ];
        for (name, item) in cases {
            agree(item).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // Errors still say which item.
        let e = decode_customers_via(
            vec![set(
                order(1, Some(summary(false)), &[]),
                &["o", "status"],
                date("lost"),
            )],
            Via::Direct,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("#O#o1"), "{e}");
    }

    #[test]
    fn dates_and_times_read_by_hand_are_chronos() {
        for t in [
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20.1Z",
            "2023-11-14T22:13:20.123Z",
            "2023-11-14T22:13:20.123456Z",
            "2023-11-14T22:13:20.123456789Z",
            "2024-02-29T00:00:00Z",
            "0001-01-01T23:59:59.999Z",
        ] {
            let chrono: DateTime<Utc> = serde_json::from_value(serde_json::json!(t)).unwrap();
            assert_eq!(rfc3339_utc(t.as_bytes()), Some(chrono), "{t}");
        }
        // Other forms are left to chrono.
        for t in [
            "2023-11-14T22:13:60Z",
            "2023-11-14T24:00:00Z",
            "2023-02-29T22:13:20Z",
            "2023-11-14T22:13:20+01:00",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20.1234567891Z",
        ] {
            assert_eq!(rfc3339_utc(t.as_bytes()), None, "{t}");
        }
        let chrono: NaiveDate = serde_json::from_value(serde_json::json!("2024-06-01")).unwrap();
        assert_eq!(ymd(b"2024-06-01"), Some(chrono));
        assert_eq!(ymd(b"2024-6-01"), None);
        assert_eq!(ymd(b"2023-02-29"), None);
    }

    fn any_value() -> impl Strategy<Value = Option<AttributeValue>> {
        prop_oneof![
            Just(None),
            Just(Some(AttributeValue::Null(true))),
            Just(Some(AttributeValue::Null(false))),
            any::<bool>().prop_map(|b| Some(AttributeValue::Bool(b))),
            "-?[0-9]{1,4}(\\.[0-9]{1,3})?(e-?[0-9])?".prop_map(|v| Some(n(&v))),
            prop::sample::select(vec![
                "",
                "12",
                "0.5",
                "2024-06-01",
                "2023-11-14T22:13:20.123Z",
                "high",
                "open",
                "USD",
                "subscribed",
                "platform",
                "05-17",
                "a@b.co",
                "champions",
                "2024-13-01",
                "2024-02-30",
                "2024-6-1",
                "2023-11-14T22:13:20Z",
                "2023-11-14T22:13:60Z",
                "2023-11-14T24:00:00Z",
                "2023-11-14T22:13:20.1234567891Z",
                "2023-11-14T22:13:20.5+01:00",
                "2023-11-14t22:13:20z",
                "2023-11-14T22:13:20.Z",
            ])
            .prop_map(|v| Some(s(v))),
            Just(Some(AttributeValue::L(vec![s("x")]))),
            Just(Some(AttributeValue::M(HashMap::new()))),
            Just(Some(AttributeValue::Ss(vec!["x".into()]))),
        ]
    }

    /// The attribute paths of an item, nested maps included.
    fn paths(m: &Map, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for (k, v) in m {
            let mut p = prefix.to_vec();
            p.push(k.clone());
            if let AttributeValue::M(inner) = v {
                paths(inner, &p, out);
            }
            out.push(p);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// Any canonical item with any one attribute (nested or not, known or new) removed or
        /// replaced by any value: both decoders give the same customers or the same error.
        #[test]
        fn both_decoders_agree_on_bent_items(
            which in 0..9usize,
            pick in any::<prop::sample::Index>(),
            fresh in any::<bool>(),
            value in any_value(),
        ) {
            let item = canonical().swap_remove(which);
            let mut all = Vec::new();
            paths(&item, &[], &mut all);
            all.sort();
            let mut path = pick.get(&all).clone();
            if fresh {
                *path.last_mut().unwrap() = "new_attr".into();
            }
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let bent = set(item, &path, value);
            prop_assert!(agree(bent.clone()).is_ok(), "{}", agree(bent).unwrap_err());
        }
    }
}
