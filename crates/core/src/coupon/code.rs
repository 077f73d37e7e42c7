//! Coupon codes: drawn from an alphabet a customer cannot misread, long enough that nobody guesses
//! one, and compared the way a checkout compares them (case, spaces and dashes do not matter).

use crate::ids::InvalidValue;
use rand::{RngCore, TryRngCore};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};

/// Digits and capitals without 0/O, 1/I/L: nothing a customer reading a printed code can confuse.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Random symbols per code. 16 × log2(31) ≈ 79.3 bits: far past the 60-bit floor, and four groups of
/// four read well (`7KQ4-M9XH-T2PC-RW3N`). Twelve symbols would give only 59.4 bits.
pub const SYMBOLS: usize = 16;
pub const GROUP: usize = 4;
/// The longest code we accept from anyone (Shopify allows 255; ours are at most 16 + 1 + 20).
pub const MAX_LEN: usize = 64;
pub const MAX_PREFIX: usize = 20;

/// Bits of entropy in the random part of a generated code.
pub fn entropy_bits() -> f64 {
    SYMBOLS as f64 * (ALPHABET.len() as f64).log2()
}

fn invalid(what: &'static str, reason: impl Into<String>) -> InvalidValue {
    InvalidValue {
        what,
        reason: reason.into(),
    }
}

/// An optional leading word that says what a code is for (`WINBACK`, `BDAY`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodePrefix(String);

impl CodePrefix {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let p = s.trim().to_ascii_uppercase();
        if p.is_empty() {
            return Err(invalid("prefix", "is empty"));
        }
        if p.len() > MAX_PREFIX {
            return Err(invalid(
                "prefix",
                format!("is longer than {MAX_PREFIX} characters"),
            ));
        }
        if let Some(c) = p.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(invalid(
                "prefix",
                format!("contains {c:?}; use letters and digits only"),
            ));
        }
        Ok(Self(p))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for CodePrefix {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        Self::parse(&s)
    }
}
impl From<CodePrefix> for String {
    fn from(p: CodePrefix) -> String {
        p.0
    }
}

/// A coupon code. Two codes are equal when their normalized forms are (upper case, no spaces or
/// dashes): that is what a customer may type and what keys the code in the table. It displays in the
/// grouped form it was issued with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CouponCode {
    normalized: String,
    display: String,
}

impl CouponCode {
    /// Parses a code as a customer or a platform wrote it.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let display = s.trim().to_ascii_uppercase();
        let normalized: String = display
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .collect();
        if normalized.is_empty() {
            return Err(invalid("code", "is empty"));
        }
        if normalized.len() > MAX_LEN {
            return Err(invalid(
                "code",
                format!("is longer than {MAX_LEN} characters"),
            ));
        }
        if let Some(c) = normalized.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(invalid("code", format!("contains {c:?}")));
        }
        // Keep the caller's grouping only when it is tidy; otherwise show the normalized form.
        let display = if display
            .split('-')
            .all(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            display
        } else {
            normalized.clone()
        };
        Ok(Self {
            normalized,
            display,
        })
    }

    /// A fresh code: [`SYMBOLS`] symbols from `rng`, uniform over [`ALPHABET`] (rejection sampling,
    /// so no symbol is likelier than another), grouped by [`GROUP`], after the prefix if any.
    pub fn generate(prefix: Option<&CodePrefix>, rng: &mut (impl RngCore + ?Sized)) -> Self {
        let mut symbols = [0u8; SYMBOLS];
        let mut filled = 0;
        let mut pool = [0u8; 32];
        while filled < SYMBOLS {
            rng.fill_bytes(&mut pool);
            for b in pool {
                // Five bits give 0..32; 31 has no symbol and is drawn again.
                let i = (b & 0x1f) as usize;
                if i < ALPHABET.len() {
                    symbols[filled] = ALPHABET[i];
                    filled += 1;
                    if filled == SYMBOLS {
                        break;
                    }
                }
            }
        }
        let mut display = String::with_capacity(MAX_PREFIX + SYMBOLS + SYMBOLS / GROUP + 1);
        let mut normalized = String::with_capacity(MAX_PREFIX + SYMBOLS);
        if let Some(p) = prefix {
            display.push_str(p.as_str());
            normalized.push_str(p.as_str());
        }
        for (i, chunk) in symbols.chunks(GROUP).enumerate() {
            if i > 0 || prefix.is_some() {
                display.push('-');
            }
            for &c in chunk {
                display.push(c as char);
                normalized.push(c as char);
            }
        }
        Self {
            normalized,
            display,
        }
    }

    /// A fresh code from the operating system's CSPRNG (`getrandom`): what production issues.
    pub fn generate_secure(prefix: Option<&CodePrefix>) -> Self {
        Self::generate(prefix, &mut rand::rngs::OsRng.unwrap_err())
    }

    /// Whether this could be a code the engine generated (a prefix, then [`SYMBOLS`] symbols of the
    /// alphabet). Orders mostly carry the store's own codes (`WELCOME10`): those need no lookup,
    /// which keeps an order delivery at one request.
    pub fn could_be_generated(&self) -> bool {
        let n = self.normalized.len();
        n >= SYMBOLS
            && n - SYMBOLS <= MAX_PREFIX
            && self.normalized.as_bytes()[n - SYMBOLS..]
                .iter()
                .all(|b| ALPHABET.contains(b))
    }

    /// The form codes are compared and stored by.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
    /// The grouped form for people (and for the store's checkout, which ignores nothing).
    pub fn display(&self) -> &str {
        &self.display
    }
}

impl PartialEq for CouponCode {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized
    }
}
impl Eq for CouponCode {}
impl Hash for CouponCode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized.hash(state)
    }
}
impl fmt::Display for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}
impl TryFrom<String> for CouponCode {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        Self::parse(&s)
    }
}
impl From<CouponCode> for String {
    fn from(c: CouponCode) -> String {
        c.display
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn has_at_least_60_bits() {
        assert!(entropy_bits() >= 60.0, "{} bits", entropy_bits());
        // The alphabet really has 31 distinct symbols and none that reads as another.
        let mut seen = std::collections::BTreeSet::new();
        for &c in ALPHABET {
            assert!(seen.insert(c));
            assert!(!b"01OIL".contains(&c), "{} is ambiguous", c as char);
        }
        assert_eq!(seen.len(), 31);
    }

    #[test]
    fn generated_codes_are_grouped_and_prefixed() {
        let mut rng = StdRng::seed_from_u64(7);
        let p = CodePrefix::parse("winback").unwrap();
        let c = CouponCode::generate(Some(&p), &mut rng);
        let groups: Vec<&str> = c.display().split('-').collect();
        assert_eq!(groups[0], "WINBACK");
        assert_eq!(groups.len(), 1 + SYMBOLS / GROUP);
        assert!(groups[1..].iter().all(|g| g.len() == GROUP));
        assert_eq!(c.normalized(), c.display().replace('-', ""));
        let plain = CouponCode::generate(None, &mut rng);
        assert_eq!(plain.display().len(), SYMBOLS + SYMBOLS / GROUP - 1);
    }

    #[test]
    fn customers_may_type_codes_loosely() {
        let a = CouponCode::parse("WINBACK-7KQ4-M9XH-T2PC").unwrap();
        let b = CouponCode::parse(" winback 7kq4m9xh-t2pc ").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.normalized(), "WINBACK7KQ4M9XHT2PC");
        assert_eq!(a.display(), "WINBACK-7KQ4-M9XH-T2PC");
        assert!(CouponCode::parse("").is_err());
        assert!(CouponCode::parse("--").is_err());
        assert!(CouponCode::parse("A#B").is_err());
        assert!(CodePrefix::parse("WIN-BACK").is_err());
        assert!(a.could_be_generated() || a.normalized().len() < SYMBOLS);
        assert!(!CouponCode::parse("WELCOME10").unwrap().could_be_generated());
        assert!(!CouponCode::parse("SUMMER-SALE-0000-1111-2222-3333")
            .unwrap()
            .could_be_generated());
    }

    #[test]
    fn a_hundred_thousand_secure_codes_have_no_duplicate() {
        let started = std::time::Instant::now();
        let codes: std::collections::HashSet<String> = (0..100_000)
            .map(|_| CouponCode::generate_secure(None).normalized().to_string())
            .collect();
        assert_eq!(codes.len(), 100_000);
        eprintln!(
            "100,000 codes from the OS CSPRNG in {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn symbols_are_uniform() {
        // 310,000 symbols: each of the 31 expected 10,000 times; a biased sampler (e.g. `b % 31`)
        // would make two of them ~1.9x as likely and fail by far.
        let mut rng = StdRng::seed_from_u64(42);
        let mut counts = [0u32; 256];
        for _ in 0..(310_000 / SYMBOLS) {
            for c in CouponCode::generate(None, &mut rng).normalized().bytes() {
                counts[c as usize] += 1;
            }
        }
        let total: u32 = counts.iter().sum();
        let expected = total as f64 / 31.0;
        let chi2: f64 = ALPHABET
            .iter()
            .map(|&c| (counts[c as usize] as f64 - expected).powi(2) / expected)
            .sum();
        // 30 degrees of freedom: p = 0.001 at 59.7.
        assert!(chi2 < 59.7, "chi-square {chi2}");
    }

    proptest! {
        #[test]
        fn generated_codes_use_only_the_alphabet_and_parse_back(seed in any::<u64>()) {
            let mut rng = StdRng::seed_from_u64(seed);
            let c = CouponCode::generate(None, &mut rng);
            prop_assert!(c.normalized().bytes().all(|b| ALPHABET.contains(&b)));
            prop_assert_eq!(c.normalized().len(), SYMBOLS);
            prop_assert!(c.could_be_generated());
            let back = CouponCode::parse(c.display()).unwrap();
            prop_assert_eq!(back.display(), c.display());
            prop_assert_eq!(back, c);
        }

        #[test]
        fn parsing_is_idempotent(s in "[a-zA-Z0-9 -]{0,40}") {
            if let Ok(c) = CouponCode::parse(&s) {
                let again = CouponCode::parse(c.normalized()).unwrap();
                prop_assert_eq!(again.normalized(), c.normalized());
                prop_assert!(!c.normalized().contains('-'));
            }
        }
    }
}
