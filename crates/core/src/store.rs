//! A store registered with the engine: which platform sends its webhooks and how they are signed.

use crate::ids::{Email, StoreId};
use crate::money::Currency;
use crate::webhook::Platform;
use serde::{Deserialize, Serialize};

/// At most two webhook secrets: the current one and, during a rotation, the previous one.
pub const MAX_SECRETS: usize = 2;

/// A webhook signing secret. It is stored as a plain string (the table is the secret store for
/// these: the platform generated them and must be able to send them), but its `Debug` prints
/// nothing of it, so a `{:?}` of a store, a log line or an error never carries one. Read it with
/// [`WebhookSecret::expose`], at the one place that signs or compares.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for verifying a signature (or showing the operator a masked form).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The bytes the HMAC is keyed with.
impl AsRef<[u8]> for WebhookSecret {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<String> for WebhookSecret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for WebhookSecret {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub id: StoreId,
    pub platform: Platform,
    /// Newest first. Both verify until the old one is removed.
    pub webhook_secrets: Vec<WebhookSecret>,
    pub name: Option<String>,
    pub from_email: Option<Email>,
    pub timezone: Option<String>,
    pub currency: Option<Currency>,
    /// Branding and sending settings (`retention store set`).
    #[serde(default)]
    pub mail: MailSettings,
}

/// What a store's emails look like and how they are paced; every field optional, with defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSettings {
    /// The footer's postal address (marketing mail needs one by law: CAN-SPAM, and the like).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_address: Option<String>,
    /// `#RRGGBB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_color: Option<String>,
    /// The only image an email may load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<crate::email::outbox::QuietHours>,
    /// Emails per second when SES does not say (`GetAccount`), e.g. locally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_send_rate: Option<u32>,
}

/// Whether `c` is a colour as `#RRGGBB`.
pub fn valid_color(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit())
}

/// Whether `u` is an absolute http(s) URL an email may load an image from.
pub fn valid_image_url(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && !r
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
    })
}

/// Whether `tz` names an IANA time zone (Europe/Berlin, UTC).
pub fn valid_timezone(tz: &str) -> bool {
    tz.parse::<chrono_tz::Tz>().is_ok()
}

impl Store {
    /// The store's calendar day at `now`: in its time zone, UTC when it has none.
    pub fn local_date(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        self.local_time(now).date()
    }

    /// The store's wall-clock time at `now`: in its time zone, UTC when it has none (or an
    /// unknown one, which `retention store add` refuses).
    pub fn local_time(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
        match self.timezone.as_deref().map(str::parse::<chrono_tz::Tz>) {
            Some(Ok(tz)) => now.with_timezone(&tz).naive_local(),
            _ => now.naive_utc(),
        }
    }

    /// The store's IANA zone (UTC when none or unknown).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    /// Adds a secret for rotation, keeping at most [`MAX_SECRETS`] (the oldest is dropped).
    pub fn add_secret(&mut self, secret: WebhookSecret) {
        self.webhook_secrets.retain(|s| *s != secret);
        self.webhook_secrets.insert(0, secret);
        self.webhook_secrets.truncate(MAX_SECRETS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stores_day_is_its_own_time_zones() {
        let mut s = Store {
            id: StoreId::parse("acme").unwrap(),
            platform: Platform::Shopify,
            webhook_secrets: vec![],
            name: None,
            from_email: None,
            timezone: Some("America/New_York".into()),
            currency: None,
            mail: Default::default(),
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-03T03:30:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(s.local_date(now).to_string(), "2026-12-02");
        s.timezone = Some("Asia/Tokyo".into());
        assert_eq!(s.local_date(now).to_string(), "2026-12-03");
        s.timezone = None;
        assert_eq!(s.local_date(now).to_string(), "2026-12-03");
        assert!(valid_timezone("Europe/Berlin") && valid_timezone("UTC"));
        assert!(!valid_timezone("Mars/Olympus"));
    }

    #[test]
    fn debug_output_never_carries_a_secret() {
        let mut store = Store {
            id: StoreId::parse("acme").unwrap(),
            platform: Platform::Shopify,
            webhook_secrets: vec!["old-secret-4711".into()],
            name: Some("Acme".into()),
            from_email: None,
            timezone: None,
            currency: None,
            mail: Default::default(),
        };
        store.add_secret("new-secret-0815".into());
        let shown = format!("{store:?} {store:#?}");
        assert!(
            !shown.contains("4711") && !shown.contains("0815"),
            "{shown}"
        );
        assert!(shown.contains("acme"), "the rest is still shown: {shown}");
        // Stored as the plain string it always was.
        let json = serde_json::to_value(&store).unwrap();
        assert_eq!(json["webhook_secrets"][0], "new-secret-0815");
    }
}
