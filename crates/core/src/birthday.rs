//! A customer's birthday: a month and day, with the year when it is known (imports take
//! `YYYY-MM-DD` or `MM-DD`).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Birthday {
    year: Option<i32>,
    month: u32,
    day: u32,
}

impl Birthday {
    /// `YYYY-MM-DD` or `MM-DD` (29 February is a birthday in any year).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("birthday {s:?} is neither YYYY-MM-DD nor MM-DD");
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Self {
                year: Some(d.year()),
                month: d.month(),
                day: d.day(),
            });
        }
        let (m, d) = s.split_once('-').ok_or_else(bad)?;
        if m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let (month, day): (u32, u32) =
            (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
        // A leap year, so that 02-29 is valid.
        NaiveDate::from_ymd_opt(2000, month, day).ok_or_else(bad)?;
        Ok(Self {
            year: None,
            month,
            day,
        })
    }

    pub fn month(&self) -> u32 {
        self.month
    }

    pub fn day(&self) -> u32 {
        self.day
    }

    pub fn year(&self) -> Option<i32> {
        self.year
    }

    /// The birthday's date in `year`: 29 February falls on 28 February in other years.
    pub fn in_year(&self, year: i32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
            .or_else(|| NaiveDate::from_ymd_opt(year, self.month, self.day - 1))
            .expect("a valid month and day, or 28 February")
    }
}

impl fmt::Display for Birthday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.year {
            Some(y) => write!(f, "{y:04}-{:02}-{:02}", self.month, self.day),
            None => write!(f, "{:02}-{:02}", self.month, self.day),
        }
    }
}

impl Serialize for Birthday {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Birthday {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Birthday::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_and_bad_ones_say_why() {
        let b = Birthday::parse("1990-07-14").unwrap();
        assert_eq!((b.year(), b.month(), b.day()), (Some(1990), 7, 14));
        assert_eq!(b.to_string(), "1990-07-14");
        let leap = Birthday::parse("02-29").unwrap();
        assert_eq!(leap.to_string(), "02-29");
        assert_eq!(leap.in_year(2027).to_string(), "2027-02-28");
        assert_eq!(leap.in_year(2028).to_string(), "2028-02-29");
        for bad in ["13-01", "02-30", "1990-02-30", "7-4", "july", ""] {
            let e = Birthday::parse(bad).unwrap_err();
            assert!(e.contains("YYYY-MM-DD"), "{bad}: {e}");
        }
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Birthday>(&json).unwrap(), b);
    }
}
