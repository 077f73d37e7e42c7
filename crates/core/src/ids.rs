//! Identifiers and contact values, parsed once at the edge so the rest of the code never sees a raw string.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {reason}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub reason: String,
}

fn invalid(what: &'static str, reason: impl Into<String>) -> InvalidValue {
    InvalidValue {
        what,
        reason: reason.into(),
    }
}

/// Keys end up inside DynamoDB keys joined with `#`, so the characters allowed are deliberately few.
fn check_key(what: &'static str, s: &str, max: usize) -> Result<(), InvalidValue> {
    if s.is_empty() {
        return Err(invalid(what, "is empty"));
    }
    if s.len() > max {
        return Err(invalid(what, format!("is longer than {max} characters")));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@' | '+')))
    {
        return Err(invalid(what, format!("contains the character {c:?}")));
    }
    Ok(())
}

macro_rules! key_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
                let s = s.into();
                check_key($what, &s, $max)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, InvalidValue> {
                Self::parse(s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                Self::parse(s)
            }
        }
    };
}

key_newtype!(
    /// A store registered with the engine; chosen by the operator, part of every webhook URL.
    StoreId, "store id", 64
);
key_newtype!(
    /// The platform's customer id, or `guest:<email>` for guest checkouts that carry no id.
    CustomerId, "customer id", 320
);
key_newtype!(
    /// The platform's order id, treated as opaque text (64-bit ids lose precision in JavaScript).
    OrderId, "order id", 128
);
key_newtype!(
    /// A refund's id on its platform.
    RefundId, "refund id", 128
);

impl CustomerId {
    /// Guests have no platform id; their address is the only stable handle on them.
    pub fn guest(email: &Email) -> Self {
        Self(format!("guest:{}", email.as_str()))
    }
}

/// An email address, lower-cased. Only the shape is checked: deliverability is SES's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: impl AsRef<str>) -> Result<Self, InvalidValue> {
        let s = s.as_ref().trim();
        if s.len() > 254 {
            return Err(invalid("email", "is longer than 254 characters"));
        }
        let (local, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| invalid("email", format!("{s:?} has no @")))?;
        if local.is_empty() || domain.is_empty() || !domain.contains('.') {
            return Err(invalid("email", format!("{s:?} is not an address")));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("email", format!("{s:?} contains white space")));
        }
        Ok(Self(s.to_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Email {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        Self::parse(s)
    }
}
impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            Email::parse(" Bob@Example.COM ").unwrap().as_str(),
            "bob@example.com"
        );
        assert!(Email::parse("bob").is_err());
        assert!(Email::parse("bob@localhost").is_err());
        assert!(Email::parse("a b@example.com").is_err());
    }

    #[test]
    fn keys_reject_separators() {
        assert!(StoreId::parse("demo-store").is_ok());
        assert!(StoreId::parse("a#b").is_err());
        assert!(StoreId::parse("").is_err());
        assert!(OrderId::parse("gid://shopify/Order/1").is_err());
    }

    proptest! {
        #[test]
        fn parsed_keys_never_contain_the_key_separator(s in "\\PC{0,80}") {
            if let Ok(id) = CustomerId::parse(s) {
                prop_assert!(!id.as_str().contains('#'));
            }
        }
    }
}
