//! Marketing consent as a typed state with where it came from and when, and the one rule that
//! decides whether a customer may get marketing email.
//!
//! The platform's word (Shopify's `email_marketing_consent`, the generic format's
//! `accepts_marketing`) and an import are kept as the customer's [`Consent`]; an unsubscribe made
//! through our own link is kept apart, as the time it happened (`Profile::unsubscribed_at`), so no
//! webhook can overwrite it. [`effective`] combines the two: an unsubscribe made here stands until the
//! platform reports a consent change dated after it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the customer's consent to marketing email is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// They opted in: marketing email may go to them.
    Subscribed,
    /// They opted out, or never opted in (Shopify's `not_subscribed`).
    Unsubscribed,
    /// Double opt-in not confirmed yet.
    Pending,
    /// Nobody said (WooCommerce sends nothing; Shopify's `invalid`, `redacted`).
    Unknown,
}

impl ConsentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribed => "subscribed",
            Self::Unsubscribed => "unsubscribed",
            Self::Pending => "pending",
            Self::Unknown => "unknown",
        }
    }

    /// Shopify's `email_marketing_consent.state`.
    pub fn from_shopify(state: &str) -> Self {
        match state {
            "subscribed" => Self::Subscribed,
            "unsubscribed" | "not_subscribed" => Self::Unsubscribed,
            "pending" => Self::Pending,
            _ => Self::Unknown,
        }
    }

    pub fn from_bool(accepts: bool) -> Self {
        if accepts {
            Self::Subscribed
        } else {
            Self::Unsubscribed
        }
    }
}

/// Who said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// The store's platform, in a webhook.
    Platform,
    /// `retention import`.
    Import,
    /// The customer, through our unsubscribe link.
    Unsubscribe,
}

impl ConsentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Import => "import",
            Self::Unsubscribe => "unsubscribe",
        }
    }
}

/// A consent statement: the state, its source and, when the source dates it, when it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub state: ConsentState,
    pub source: ConsentSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

impl Consent {
    pub const UNKNOWN: Consent = Consent {
        state: ConsentState::Unknown,
        source: ConsentSource::Platform,
        at: None,
    };

    pub fn platform(state: ConsentState, at: Option<DateTime<Utc>>) -> Self {
        Self {
            state,
            source: ConsentSource::Platform,
            at,
        }
    }

    /// Whether marketing email may go out: only on a granted consent.
    pub fn allows_marketing(&self) -> bool {
        self.state == ConsentState::Subscribed
    }
}

/// The consent that holds, given what the platform or an import said (`stated`) and when the
/// customer unsubscribed through our link (`unsubscribed_here`): the unsubscribe wins unless the
/// platform reports a change dated strictly after it (the customer opted in again at the store).
pub fn effective(stated: Option<&Consent>, unsubscribed_here: Option<DateTime<Utc>>) -> Consent {
    match (stated, unsubscribed_here) {
        (Some(c), Some(here))
            if c.source == ConsentSource::Platform && c.at.is_some_and(|at| at > here) =>
        {
            *c
        }
        (_, Some(here)) => Consent {
            state: ConsentState::Unsubscribed,
            source: ConsentSource::Unsubscribe,
            at: Some(here),
        },
        (Some(c), None) => *c,
        (None, None) => Consent::UNKNOWN,
    }
}

/// Why a message was not sent to someone (every skip is counted under one of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Marketing mail to a customer whose consent is not granted.
    NoConsent,
    /// They unsubscribed through our link.
    Unsubscribed,
    /// The address bounced or complained.
    Suppressed,
    /// The per-customer frequency cap would be exceeded.
    Capped,
    /// The store's marketing sends are paused (reputation).
    Paused,
    /// No address to send to (none known, or erased).
    NoEmail,
}

impl SkipReason {
    pub const ALL: [SkipReason; 6] = [
        Self::NoConsent,
        Self::Unsubscribed,
        Self::Suppressed,
        Self::Capped,
        Self::Paused,
        Self::NoEmail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoConsent => "no_consent",
            Self::Unsubscribed => "unsubscribed",
            Self::Suppressed => "suppressed",
            Self::Capped => "capped",
            Self::Paused => "paused",
            Self::NoEmail => "no_email",
        }
    }
}

/// Why marketing may not go to a customer with this consent, if it may not.
pub fn marketing_block(consent: &Consent) -> Option<SkipReason> {
    match (consent.state, consent.source) {
        (ConsentState::Subscribed, _) => None,
        (_, ConsentSource::Unsubscribe) => Some(SkipReason::Unsubscribed),
        _ => Some(SkipReason::NoConsent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_unsubscribe_here_stands_until_the_platform_reports_a_later_change() {
        let here = at("2026-05-01T10:00:00Z");
        let before = Consent::platform(ConsentState::Subscribed, Some(at("2026-04-01T00:00:00Z")));
        let undated = Consent::platform(ConsentState::Subscribed, None);
        let after = Consent::platform(ConsentState::Subscribed, Some(at("2026-05-02T00:00:00Z")));
        let imported = Consent {
            state: ConsentState::Subscribed,
            source: ConsentSource::Import,
            at: Some(at("2026-06-01T00:00:00Z")),
        };
        for stated in [Some(&before), Some(&undated), Some(&imported), None] {
            let c = effective(stated, Some(here));
            assert_eq!(c.state, ConsentState::Unsubscribed);
            assert_eq!(c.source, ConsentSource::Unsubscribe);
            assert_eq!(marketing_block(&c), Some(SkipReason::Unsubscribed));
        }
        assert_eq!(effective(Some(&after), Some(here)), after);
        assert!(effective(Some(&after), Some(here)).allows_marketing());
    }

    #[test]
    fn only_a_granted_consent_allows_marketing() {
        for (state, allowed) in [
            (ConsentState::Subscribed, true),
            (ConsentState::Unsubscribed, false),
            (ConsentState::Pending, false),
            (ConsentState::Unknown, false),
        ] {
            let c = Consent::platform(state, None);
            assert_eq!(effective(Some(&c), None).allows_marketing(), allowed);
            assert_eq!(marketing_block(&c).is_none(), allowed);
        }
        assert_eq!(effective(None, None), Consent::UNKNOWN);
        assert_eq!(
            ConsentState::from_shopify("not_subscribed"),
            ConsentState::Unsubscribed
        );
        assert_eq!(ConsentState::from_shopify("invalid"), ConsentState::Unknown);
    }
}
