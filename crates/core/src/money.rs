//! Money as integer minor units of an ISO 4217 currency. Never f64: platforms send decimal strings,
//! and `rust_decimal` turns them into exact minor units.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency {0:?} is not a three-letter ISO 4217 code")]
    Currency(String),
    #[error("amount {0:?} is not a decimal number")]
    Amount(String),
    #[error("amount {amount:?} has more decimals than {currency} allows ({exponent})")]
    Precision {
        amount: String,
        currency: String,
        exponent: u32,
    },
    #[error("amount {0:?} is out of range")]
    Range(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let s = s.trim();
        let b = s.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::Currency(s.to_string()));
        }
        Ok(Self([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters get in through `parse`.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (ISO 4217); two for every currency not listed.
    pub fn exponent(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            "CLF" | "UYW" => 4,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, MoneyError> {
        Self::parse(&s)
    }
}
impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_string()
    }
}
impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents for USD, yen for JPY).
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// Parses a decimal amount such as `"199.00"` or `"-5"`. More decimals than the currency has are an
    /// error unless they are zeros: a price of 1.005 USD is a bug upstream, not something to round away.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let trimmed = amount.trim();
        let d = Decimal::from_str(trimmed).map_err(|_| MoneyError::Amount(amount.to_string()))?;
        Self::from_decimal(d, currency).map_err(|e| match e {
            MoneyError::Amount(_) => MoneyError::Amount(amount.to_string()),
            other => other,
        })
    }

    pub fn from_decimal(d: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let exponent = currency.exponent();
        let normalized = d.normalize();
        if normalized.scale() > exponent {
            return Err(MoneyError::Precision {
                amount: d.to_string(),
                currency: currency.to_string(),
                exponent,
            });
        }
        let scaled = d
            .checked_mul(Decimal::from(10i64.pow(exponent)))
            .ok_or_else(|| MoneyError::Range(d.to_string()))?;
        let minor = scaled
            .to_i64()
            .ok_or_else(|| MoneyError::Range(d.to_string()))?;
        Ok(Self::new(minor, currency))
    }

    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(self.minor, self.currency.exponent())
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| {
                self.minor
                    .checked_add(other.minor)
                    .map(|m| Money::new(m, self.currency))
            })
            .flatten()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("usd").unwrap()
    }

    #[test]
    fn parses_decimal_strings_exactly() {
        assert_eq!(Money::parse("199.00", usd()).unwrap().minor, 19900);
        assert_eq!(Money::parse("0.1", usd()).unwrap().minor, 10);
        assert_eq!(Money::parse("-5.5", usd()).unwrap().minor, -550);
        assert_eq!(
            Money::parse("1500", Currency::parse("JPY").unwrap())
                .unwrap()
                .minor,
            1500
        );
        assert_eq!(
            Money::parse("1.250", Currency::parse("KWD").unwrap())
                .unwrap()
                .minor,
            1250
        );
        assert_eq!(Money::parse("1.10000", usd()).unwrap().minor, 110);
    }

    #[test]
    fn rejects_what_is_not_money() {
        assert!(matches!(
            Money::parse("abc", usd()),
            Err(MoneyError::Amount(_))
        ));
        assert!(matches!(
            Money::parse("1.005", usd()),
            Err(MoneyError::Precision { .. })
        ));
        assert!(Money::parse("1e30", usd()).is_err());
        assert!(Currency::parse("US").is_err());
        assert!(Currency::parse("U$D").is_err());
    }

    #[test]
    fn displays_with_the_currency_exponent() {
        assert_eq!(Money::new(19900, usd()).to_string(), "199.00 USD");
        assert_eq!(Money::new(-5, usd()).to_string(), "-0.05 USD");
    }

    proptest! {
        #[test]
        fn minor_units_round_trip_through_text(minor in -1_000_000_000_000i64..1_000_000_000_000) {
            let m = Money::new(minor, usd());
            let text = m.to_decimal().to_string();
            prop_assert_eq!(Money::parse(&text, usd()).unwrap(), m);
        }
    }
}
