//! What the scan tests share: one store, one currency, a year of days.
#![allow(dead_code)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use retention_core::{Currency, StoreId};

pub fn store() -> StoreId {
    StoreId::parse("s1").unwrap()
}
pub fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}
/// The last day of the simulated year (the scans' `as_of`).
pub fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 12, 31).unwrap()
}
/// Noon on day `day` of the year.
pub fn at(day: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::days(day.into())
}
