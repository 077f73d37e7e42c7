//! Historical orders for `retention import`: a CSV export or platform order JSON, one per line.
//! Every row is parsed on its own so one bad row is reported by line number and the rest still count.

use crate::birthday::Birthday;
use crate::email::consent::{Consent, ConsentSource, ConsentState};
use crate::ids::{CustomerId, Email, OrderId};
use crate::money::{Currency, Money};
use crate::webhook::{self, Change, LineItem, Order, OrderStatus, Parsed, Person, Platform};
use chrono::{DateTime, NaiveDate, Utc};

pub const CSV_REQUIRED: [&str; 6] = [
    "customer_id",
    "email",
    "order_id",
    "created_at",
    "total",
    "currency",
];

/// One input row: its 1-based line number, and the order or what was wrong with it.
pub type Row = (usize, Result<Order, String>);

/// Reads a whole file. CSV when the first line is a header starting with `customer_id`; otherwise
/// JSON lines in the store platform's order format.
pub fn read_orders(platform: Platform, input: &str) -> Result<Vec<Row>, String> {
    let first = input.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.trim_start().starts_with('{') {
        Ok(read_json_lines(platform, input))
    } else {
        read_csv(input)
    }
}

fn read_json_lines(platform: Platform, input: &str) -> Vec<Row> {
    let topic = match platform {
        Platform::Shopify => Some("orders/create"),
        Platform::Woocommerce => Some("order.created"),
        Platform::Generic => None,
    };
    input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let parsed = match webhook::parse(platform, topic, line.as_bytes()) {
                Ok(Parsed::Change(c)) => match *c {
                    Change::Order(o) => Ok(o),
                    other => Err(format!("not an order but a {}", other.kind())),
                },
                Ok(Parsed::Ignored(why)) => Err(why),
                Err(e) => Err(e.to_string()),
            };
            (i + 1, parsed)
        })
        .collect()
}

fn read_csv(input: &str) -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("line 1: {e}"))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let missing: Vec<&str> = CSV_REQUIRED
        .iter()
        .copied()
        .filter(|c| col(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "line 1: the header lacks {}; expected {} [,coupon_code,categories,first_name,last_name,accepts_marketing,birthday]",
            missing.join(", "),
            CSV_REQUIRED.join(",")
        ));
    }
    let idx = |name| col(name).expect("checked above");
    let (c_customer, c_email, c_order, c_created, c_total, c_currency) = (
        idx("customer_id"),
        idx("email"),
        idx("order_id"),
        idx("created_at"),
        idx("total"),
        idx("currency"),
    );
    let (c_coupon, c_categories) = (col("coupon_code"), col("categories"));
    let (c_first, c_last, c_marketing, c_birthday) = (
        col("first_name"),
        col("last_name"),
        col("accepts_marketing"),
        col("birthday"),
    );
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                rows.push((line, Err(e.to_string())));
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let get = |i: usize| record.get(i).unwrap_or("").to_string();
        let opt = |i: Option<usize>| i.map(get).filter(|s| !s.is_empty());
        let order = (|| -> Result<Order, String> {
            let email = match get(c_email) {
                e if e.is_empty() => None,
                e => Some(Email::parse(e).map_err(|e| e.to_string())?),
            };
            let customer_id = match (get(c_customer), &email) {
                (c, _) if !c.is_empty() => CustomerId::parse(c).map_err(|e| e.to_string())?,
                (_, Some(e)) => CustomerId::guest(e),
                (_, None) => return Err("customer_id and email are both empty".into()),
            };
            let id = OrderId::parse(get(c_order)).map_err(|e| e.to_string())?;
            let created_at = parse_time(&get(c_created)).ok_or_else(|| {
                format!(
                    "created_at {:?} is neither RFC 3339 nor YYYY-MM-DD",
                    get(c_created)
                )
            })?;
            let currency = Currency::parse(&get(c_currency)).map_err(|e| e.to_string())?;
            let total = Money::parse(&get(c_total), currency).map_err(|e| e.to_string())?;
            let items = opt(c_categories)
                .map(|cats| {
                    cats.split(['|', ';'])
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(|c| LineItem {
                            product_id: None,
                            title: c.to_string(),
                            category: Some(c.to_string()),
                            quantity: 1,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let consent = opt(c_marketing)
                .map(|v| {
                    yes_no(&v)
                        .map(|accepts| Consent {
                            state: ConsentState::from_bool(accepts),
                            source: ConsentSource::Import,
                            at: None,
                        })
                        .ok_or_else(|| {
                            format!("accepts_marketing {v:?} is not true/false/yes/no/1/0")
                        })
                })
                .transpose()?;
            let birthday = opt(c_birthday).map(|b| Birthday::parse(&b)).transpose()?;
            Ok(Order {
                id,
                customer_id,
                customer: Person {
                    email,
                    first_name: opt(c_first),
                    last_name: opt(c_last),
                    consent,
                    birthday,
                    ..Person::default()
                },
                created_at,
                updated_at: created_at,
                total,
                status: OrderStatus::Open,
                items,
                coupon_codes: opt(c_coupon)
                    .map(|c| vec![c.to_uppercase()])
                    .unwrap_or_default(),
                refunds: vec![],
            })
        })();
        rows.push((line, order));
    }
    Ok(rows)
}

/// `true`/`false`, `yes`/`no`, `1`/`0`, in any case.
fn yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_good_rows_and_reports_bad_ones_by_line() {
        let csv = "customer_id,email,order_id,created_at,total,currency,coupon_code,categories\n\
                   c1,a@example.com,o1,2024-01-02,10.50,USD,welcome10,Cat food|Toys\n\
                   c1,a@example.com,o2,yesterday,1.00,USD,,\n\
                   ,b@example.com,o3,2024-02-01T10:00:00Z,3,EUR,,\n\
                   c4,,o4,2024-02-01,abc,EUR,,\n";
        let rows = read_orders(Platform::Generic, csv).unwrap();
        assert_eq!(rows.len(), 4);
        let first = rows[0].1.as_ref().unwrap();
        assert_eq!(rows[0].0, 2);
        assert_eq!(first.total.minor, 1050);
        assert_eq!(first.coupon_codes, vec!["WELCOME10"]);
        assert_eq!(first.items.len(), 2);
        assert_eq!(rows[1].0, 3);
        assert!(rows[1].1.as_ref().unwrap_err().contains("created_at"));
        assert_eq!(
            rows[2].1.as_ref().unwrap().customer_id.as_str(),
            "guest:b@example.com"
        );
        assert!(rows[3].1.as_ref().unwrap_err().contains("abc"));
    }

    #[test]
    fn optional_person_columns_are_read_and_checked() {
        let csv = "customer_id,email,order_id,created_at,total,currency,first_name,last_name,accepts_marketing,birthday\n\
                   c1,a@example.com,o1,2024-01-02,10,USD,Ada,Lovelace,yes,1990-07-14\n\
                   c2,b@example.com,o2,2024-01-02,10,USD,,,0,02-29\n\
                   c3,c@example.com,o3,2024-01-02,10,USD,,,maybe,\n\
                   c4,d@example.com,o4,2024-01-02,10,USD,,,,13-40\n\
                   c5,e@example.com,o5,2024-01-02,10,USD,,,,\n";
        let rows = read_orders(Platform::Generic, csv).unwrap();
        let a = &rows[0].1.as_ref().unwrap().customer;
        assert_eq!(a.first_name.as_deref(), Some("Ada"));
        assert_eq!(a.last_name.as_deref(), Some("Lovelace"));
        let consent = a.consent.unwrap();
        assert!(consent.allows_marketing() && consent.source == ConsentSource::Import);
        assert_eq!(a.birthday.unwrap().to_string(), "1990-07-14");
        let b = &rows[1].1.as_ref().unwrap().customer;
        assert!(!b.consent.unwrap().allows_marketing());
        assert_eq!(b.first_name, None);
        assert_eq!(b.birthday.unwrap().to_string(), "02-29");
        assert!(rows[2]
            .1
            .as_ref()
            .unwrap_err()
            .contains("accepts_marketing"));
        assert!(rows[3].1.as_ref().unwrap_err().contains("birthday"));
        let e = &rows[4].1.as_ref().unwrap().customer;
        assert_eq!((e.consent, e.birthday), (None, None));
    }

    #[test]
    fn a_wrong_header_is_one_clear_error() {
        let err = read_orders(Platform::Generic, "id,when\n1,2\n").unwrap_err();
        assert!(err.contains("customer_id"), "{err}");
    }
}
