//! Read units, as DynamoDB charges them: what a read costs by DynamoDB's published rule, beside what
//! the response says (DynamoDB does when asked with `ReturnConsumedCapacity`).
//!
//! moto answers `ReturnConsumedCapacity` with a constant (1.0 a Query, 0.5 a GetItem, whatever
//! was read), so both figures are kept: the reported one, and the rule's.
//!
//! The rules (Amazon DynamoDB Developer Guide, "DynamoDB item sizes and formats" and "Read
//! consistency"): an item's size is the sum of its attribute names' and values' sizes; a GetItem
//! costs its item's size rounded up to 4 KB, a Query the total size of the items it returned,
//! rounded up to 4 KB once per response; each 4 KB is one read unit strongly consistent, half a
//! unit eventually consistent, and a read that finds nothing still costs one 4 KB step. Counted in
//! half-units, so that the sum stays an integer.

use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity};
use std::collections::HashMap;

const STEP: usize = 4 * 1024;

/// An item's size in bytes by DynamoDB's rule: attribute names plus values.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// A value's size without its name: strings and binaries their bytes, numbers 1 byte per two
/// significant digits plus 1, null and booleans 1 byte, lists and maps 3 bytes plus 1 a member
/// plus the members (a map's with their names), sets the sum of their members.
pub fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(ss) => ss.iter().map(String::len).sum(),
        AttributeValue::Ns(ns) => ns.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(bs) => bs.iter().map(|b| b.as_ref().len()).sum(),
        // A type this SDK does not know yet: count it as the smallest value.
        _ => 1,
    }
}

/// A number's size: its significant digits (leading and trailing zeros trimmed, the exponent left
/// out) two to a byte, plus one byte.
pub fn number_size(n: &str) -> usize {
    let mantissa = n.split(['e', 'E']).next().unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.max(1).div_ceil(2) + 1
}

/// Half read units of one read returning items of `bytes` in total: one per 4 KB eventually
/// consistent, two strongly consistent, at least one step.
pub fn read_half_units(bytes: usize, strong: bool) -> u64 {
    let steps = bytes.div_ceil(STEP).max(1) as u64;
    if strong {
        2 * steps
    } else {
        steps
    }
}

/// Half read units of one response: what the rule gives for the items it returned, and what the
/// response says it consumed (the rule's figure where it says nothing).
pub fn charged_half_units<'a>(
    consumed: Option<&ConsumedCapacity>,
    items: impl IntoIterator<Item = &'a HashMap<String, AttributeValue>>,
    strong: bool,
) -> Charge {
    let by_rule = read_half_units(items.into_iter().map(item_size).sum(), strong);
    let reported = consumed
        .and_then(ConsumedCapacity::capacity_units)
        .map_or(by_rule, |units| (units * 2.0).round() as u64);
    Charge { by_rule, reported }
}

/// One read's cost in half-units, two ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub by_rule: u64,
    pub reported: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::primitives::Blob;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    #[test]
    fn sizes_follow_the_documented_rule() {
        // Names count as much as values.
        let item = HashMap::from([
            ("PK".to_string(), s("STORE#s1")),                    // 2 + 8
            ("n".to_string(), AttributeValue::N("12300".into())), // 1 + (3 digits → 2) + 1
            ("b".to_string(), AttributeValue::B(Blob::new(vec![0u8; 10]))), // 1 + 10
            ("t".to_string(), AttributeValue::Bool(true)),        // 1 + 1
        ]);
        assert_eq!(item_size(&item), 10 + 4 + 11 + 2);
        // "é" is two bytes in UTF-8.
        assert_eq!(value_size(&s("é")), 2);
        // Lists and maps: 3 bytes, 1 a member, the members (with a map's names).
        assert_eq!(value_size(&AttributeValue::L(vec![])), 3);
        assert_eq!(
            value_size(&AttributeValue::L(vec![s("ab"), s("c")])),
            3 + 3 + 2
        );
        assert_eq!(
            value_size(&AttributeValue::M(HashMap::from([(
                "k".to_string(),
                s("v")
            )]))),
            3 + 1 + 1 + 1
        );
        assert_eq!(
            value_size(&AttributeValue::Ss(vec!["ab".into(), "cde".into()])),
            5
        );
    }

    #[test]
    fn numbers_count_their_significant_digits() {
        assert_eq!(number_size("0"), 2);
        assert_eq!(number_size("7"), 2);
        assert_eq!(number_size("42"), 2);
        assert_eq!(number_size("123"), 3);
        assert_eq!(
            number_size("-0.000120"),
            2,
            "zeros either side do not count"
        );
        assert_eq!(number_size("1700000000"), 2);
        assert_eq!(number_size("0.8123456789012345"), 9);
        assert_eq!(number_size("1.5E+10"), 2);
    }

    #[test]
    fn reads_round_up_to_4_kb_and_eventual_costs_half() {
        assert_eq!(
            read_half_units(0, false),
            1,
            "a read that finds nothing still costs"
        );
        assert_eq!(read_half_units(4096, false), 1);
        assert_eq!(read_half_units(4097, false), 2);
        assert_eq!(read_half_units(4097, true), 4);
        let big = HashMap::from([("x".to_string(), s(&"a".repeat(5000)))]);
        // Two items of 5,001 bytes in one response: 10,002 bytes, three 4 KB steps.
        let none = charged_half_units(None, [&big, &big], false);
        assert_eq!((none.by_rule, none.reported), (3, 3));
        let said = ConsumedCapacity::builder().capacity_units(2.5).build();
        let both = charged_half_units(Some(&said), [&big], true);
        assert_eq!(
            (both.by_rule, both.reported),
            (4, 5),
            "the response is kept apart"
        );
    }
}
