//! Parsing a store's transaction export (`customer_id,date,amount`) into purchases, reporting every
//! bad row by its line number instead of guessing.

use chrono::NaiveDate;
use serde::Serialize;

use super::Purchase;

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionsError {
    #[error("the header must be `customer_id,date,amount`, got `{0}`")]
    BadHeader(String),
    #[error("the file has no transactions")]
    Empty,
    #[error("{} bad row(s):\n{}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    BadRows(Vec<RowError>),
}

/// Parses a decimal amount in major units ("29.33", "-", no thousands separators) into minor units
/// with `minor_digits` fraction digits. More fraction digits than the currency has is an error, not
/// a rounding: a half-cent is a data problem the store should see.
pub fn parse_amount_minor(s: &str, minor_digits: u32) -> Result<i64, String> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !(frac.is_empty() || digits(frac)) {
        return Err(format!(
            "amount `{s}` is not a non-negative decimal number like 29.33"
        ));
    }
    if frac.len() as u32 > minor_digits {
        return Err(format!(
            "amount `{s}` has more than {minor_digits} decimals"
        ));
    }
    let scale = 10i64.pow(minor_digits);
    let whole: i64 = int
        .parse()
        .map_err(|_| format!("amount `{s}` is too large"))?;
    let mut frac_value: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| format!("amount `{s}`"))?
    };
    frac_value *= 10i64.pow(minor_digits - frac.len() as u32);
    whole
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_value))
        .ok_or_else(|| format!("amount `{s}` is too large"))
}

/// `YYYY-MM-DD`, read by hand: chrono's format-string parser is most of a row's time in a large
/// export. Anything else, or a day the calendar does not have, is `None`.
fn iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// Parses the whole export. Every bad row is collected (up to 100, so a wrong file does not print
/// a million lines), then all are returned together.
pub fn parse_transactions(
    text: &str,
    minor_digits: u32,
) -> Result<Vec<(String, Purchase)>, TransactionsError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| TransactionsError::BadHeader(e.to_string()))?
        .clone();
    let names: Vec<&str> = header.iter().collect();
    if names != ["customer_id", "date", "amount"] {
        return Err(TransactionsError::BadHeader(names.join(",")));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(RowError {
                    line,
                    message: format!("unreadable CSV: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let mut fail = |message: String| errors.push(RowError { line, message });
        if record.len() != 3 {
            fail(format!("expected 3 fields, found {}", record.len()));
            continue;
        }
        let customer = &record[0];
        if customer.is_empty() {
            fail("empty customer_id".to_string());
            continue;
        }
        let date = match iso_date(&record[1]) {
            Some(d) => d,
            None => {
                fail(format!("date `{}` is not YYYY-MM-DD", &record[1]));
                continue;
            }
        };
        match parse_amount_minor(&record[2], minor_digits) {
            Ok(amount_minor) => rows.push((customer.to_string(), Purchase { date, amount_minor })),
            Err(m) => fail(m),
        }
        if errors.len() >= 100 {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(TransactionsError::BadRows(errors));
    }
    if rows.is_empty() {
        return Err(TransactionsError::Empty);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_read_by_hand_agree_with_chrono() {
        for s in [
            "2025-01-31",
            "2024-02-29",
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-1-01",
            "2025/01/01",
            "20250101xx",
            "2025-01-3a",
            "9999-12-31",
            "0000-01-01",
            "",
        ] {
            assert_eq!(
                iso_date(s),
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .filter(|_| s.len() == 10),
                "{s}"
            );
        }
        // Stricter than chrono, which reads a signed three-digit year: not what the format says.
        assert_eq!(iso_date("+025-01-01"), None);
    }

    #[test]
    fn bad_rows_are_reported_by_line() {
        let text = "customer_id,date,amount\nc1,2024-01-01,10.50\nc2,01/02/2024,3\nc3,2024-01-03,1.234\nc4,2024-01-04\n,2024-01-05,1\n";
        let TransactionsError::BadRows(errors) = parse_transactions(text, 2).unwrap_err() else {
            panic!()
        };
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(errors[0].message.contains("YYYY-MM-DD"));
        assert!(errors[1].message.contains("decimals"));
    }

    #[test]
    fn good_file_parses() {
        let rows = parse_transactions(
            "customer_id,date,amount\nc1,2024-01-01,10.5\nc1,2024-01-02,7\n",
            2,
        )
        .unwrap();
        assert_eq!(rows[0].1.amount_minor, 1050);
        assert_eq!(rows[1].1.amount_minor, 700);
        assert!(matches!(
            parse_transactions("id,when,value\n", 2),
            Err(TransactionsError::BadHeader(_))
        ));
        assert!(matches!(
            parse_transactions("customer_id,date,amount\n", 2),
            Err(TransactionsError::Empty)
        ));
        assert!(parse_amount_minor("-3", 2).is_err());
    }

    proptest! {
        #[test]
        fn amounts_round_trip(minor in 0i64..10_000_000_000) {
            let text = format!("{}.{:02}", minor / 100, minor % 100);
            prop_assert_eq!(parse_amount_minor(&text, 2).unwrap(), minor);
        }
    }
}
