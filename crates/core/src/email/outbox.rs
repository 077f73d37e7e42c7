//! The outbox: every email is first written here, under a key that names the store, the customer,
//! the kind of message and its campaign or period, so queuing the same key again changes nothing.
//! The sender then decides, per message and at send time, whether it goes now ([`decide`]): consent,
//! suppression, the store's reputation pause, the per-customer frequency cap and quiet hours.
//!
//! **At most once.** A message is *claimed* (status `sending`) before SES is called and marked `sent`
//! after. If the process dies in between, nobody can know whether SES accepted it (SES has no lookup
//! by our Message-ID), so a claim older than [`STALE_CLAIM`] becomes `failed` with the reason
//! `interrupted`, never sent again: a store owner would rather lose one email than send a customer
//! the same coupon twice. A message SES refused for throttling or a transient error was certainly not
//! accepted, so it goes back to `queued` and is retried.

use crate::email::consent::{marketing_block, Consent, SkipReason};
use crate::ids::{CustomerId, Email, StoreId};
use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A claim older than this is taken to be a sender that died mid-send.
pub const STALE_CLAIM: Duration = Duration::minutes(10);
/// Transient failures are retried this many times, then the message fails.
pub const MAX_ATTEMPTS: u32 = 5;

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its due time.
    Queued,
    /// Postponed (quiet hours, throttling, a transient failure) to its due time.
    Deferred,
    /// Claimed by a sender and decided, not yet handed to SES: a sender that dies now leaves it
    /// to be queued again (it was certainly not sent).
    Claimed,
    /// Handed to SES by a sender: a sender that dies now leaves it failed as `interrupted` (SES may
    /// have accepted it, and a second copy is worse than none).
    Sending,
    Sent,
    /// Not sent, for a [`SkipReason`]; final.
    Skipped,
    /// Not sent: SES refused it for good, or a sender died while sending it; final.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Deferred => "deferred",
            Self::Claimed => "claimed",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
    /// Whether the sender still has work with it (it sits in the due index).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Self::Queued | Self::Deferred | Self::Claimed | Self::Sending
        )
    }
}

/// The parts of a message's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutboxKey {
    /// `broadcast`, `campaign`, `survey`, `alert`.
    pub kind: String,
    /// The campaign, broadcast key or period (`2026-12`): what makes the message once per customer.
    pub key: String,
    pub customer: CustomerId,
}

impl OutboxKey {
    /// Kinds and keys are stored inside `#`-separated sort keys; they may not hold `#` or spaces.
    pub fn new(kind: &str, key: &str, customer: CustomerId) -> Result<Self, String> {
        for (what, v) in [("kind", kind), ("key", key)] {
            if v.is_empty() || v.len() > 100 {
                return Err(format!("the message {what} must have 1 to 100 characters"));
            }
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
            {
                return Err(format!(
                    "the message {what} {v:?} may hold only letters, digits and - _ . :"
                ));
            }
        }
        Ok(Self {
            kind: kind.to_owned(),
            key: key.to_owned(),
            customer,
        })
    }

    /// Our id of the message, stable for the key: the Message-ID's local part and the `message`
    /// tag SES echoes in its bounce and complaint events.
    pub fn message_id(&self, store: &StoreId) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(
            format!("{store}\0{}\0{}\0{}", self.kind, self.key, self.customer).as_bytes(),
        );
        hex::encode(&digest[..16])
    }
}

/// A coupon to issue with the message (once per campaign and customer, at queue time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferSpec {
    pub percent: u32,
    pub days: u32,
}

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub store: StoreId,
    pub key: OutboxKey,
    /// The template's name (`win-back`, …).
    pub template: String,
    /// Marketing mail needs consent, carries List-Unsubscribe, counts against the cap and waits
    /// out quiet hours; a store alert does none of that.
    pub marketing: bool,
    /// The address when queued (the profile's newest is used when sending).
    pub email: Option<Email>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub due: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ses_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The coupon issued for the message, and when it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<(String, DateTime<Utc>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferSpec>,
    /// Values the queuer hands the template (a survey answer's score and comment for the store's
    /// alert, say): text, escaped like everything else when rendered.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

impl OutboxMessage {
    pub fn message_id(&self) -> String {
        self.key.message_id(&self.store)
    }

    /// When a sender next needs to see the message in the list of what is due: at its due time,
    /// or, while a sender holds it (`claimed`, `sending`), once that claim is [`STALE_CLAIM`] old.
    /// So concurrent senders list only what nobody holds and never queue up behind each other's
    /// claims, and a dead sender's claim comes back exactly when it may be recovered.
    pub fn listed_at(&self) -> DateTime<Utc> {
        match self.status {
            Status::Claimed | Status::Sending => self.due.max(self.updated_at + STALE_CLAIM),
            _ => self.due,
        }
    }
}

/// Frequency caps: at most `max` marketing emails to one customer within `within`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cap {
    pub max: u32,
    #[serde(with = "seconds")]
    pub within: Duration,
}

mod seconds {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::seconds(i64::deserialize(d)?))
    }
}

/// The default caps: one per 16 hours and three per 7 days.
pub fn default_caps() -> Vec<Cap> {
    vec![
        Cap {
            max: 1,
            within: Duration::hours(16),
        },
        Cap {
            max: 3,
            within: Duration::days(7),
        },
    ]
}

/// How long the send history must reach back for `caps`.
pub fn history_span(caps: &[Cap]) -> Duration {
    caps.iter()
        .map(|c| c.within)
        .max()
        .unwrap_or_else(Duration::zero)
}

/// Whether one more marketing email at `now` stays within every cap, given the customer's earlier
/// marketing sends.
pub fn within_caps(caps: &[Cap], history: &[DateTime<Utc>], now: DateTime<Utc>) -> bool {
    caps.iter().all(|cap| {
        let recent = history
            .iter()
            .filter(|t| **t <= now && now - **t < cap.within)
            .count();
        (recent as u64) < u64::from(cap.max)
    })
}

/// Quiet hours in the store's time zone, `start` to `end`, possibly across midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for QuietHours {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(21, 0, 0).expect("a time"),
            end: NaiveTime::from_hms_opt(8, 0, 0).expect("a time"),
        }
    }
}

impl std::fmt::Display for QuietHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl std::str::FromStr for QuietHours {
    type Err = String;
    /// `HH:MM-HH:MM`; equal ends mean no quiet hours.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("quiet hours {s:?} must look like 21:00-08:00 (HH:MM-HH:MM)");
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
        Ok(Self {
            start: t(a)?,
            end: t(b)?,
        })
    }
}

impl QuietHours {
    fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When a message due at `now` may go: `None` if now is outside the quiet hours, else the end of
    /// this quiet period in the zone `tz` (the earliest instant of that wall-clock time, so a DST
    /// change never loses it).
    pub fn postpone(&self, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
        let local: NaiveDateTime = now.with_timezone(&tz).naive_local();
        if self.start == self.end || !self.contains(local.time()) {
            return None;
        }
        let mut end = local.date().and_time(self.end);
        if end <= local {
            end += Duration::days(1);
        }
        // A wall-clock time a DST change skips: an hour later exists.
        let resolved = tz.from_local_datetime(&end).earliest().or_else(|| {
            tz.from_local_datetime(&(end + Duration::hours(1)))
                .earliest()
        })?;
        Some(resolved.with_timezone(&Utc))
    }
}

/// What the sender does with a due message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Send,
    Skip(SkipReason),
    /// Not now: at this time (quiet hours).
    Defer(DateTime<Utc>, &'static str),
}

/// Everything [`decide`] weighs, read at send time.
#[derive(Debug, Clone)]
pub struct Circumstances<'a> {
    pub marketing: bool,
    /// The recipient's address now; `None` when unknown or erased.
    pub email: Option<&'a Email>,
    pub consent: Consent,
    pub suppressed: bool,
    /// The store's marketing pause, with its reason.
    pub paused: Option<&'a str>,
    pub history: &'a [DateTime<Utc>],
    pub caps: &'a [Cap],
    pub quiet: QuietHours,
    pub tz: chrono_tz::Tz,
    pub now: DateTime<Utc>,
}

/// The send-time rule, in the order a store owner would explain it: no address, a suppressed
/// address (for every kind of mail), then for marketing only: consent, the reputation pause, quiet
/// hours (postpone, never drop) and the frequency cap.
pub fn decide(c: &Circumstances<'_>) -> Decision {
    if c.email.is_none() {
        return Decision::Skip(SkipReason::NoEmail);
    }
    if c.suppressed {
        return Decision::Skip(SkipReason::Suppressed);
    }
    if !c.marketing {
        return Decision::Send;
    }
    if let Some(reason) = marketing_block(&c.consent) {
        return Decision::Skip(reason);
    }
    if c.paused.is_some() {
        return Decision::Skip(SkipReason::Paused);
    }
    if let Some(at) = c.quiet.postpone(c.now, c.tz) {
        return Decision::Defer(at, "quiet hours");
    }
    if !within_caps(c.caps, c.history, c.now) {
        return Decision::Skip(SkipReason::Capped);
    }
    Decision::Send
}

/// Send slots of the account's rate: slot `i` of a run starts at `first + i * spacing`. The spacing is
/// 2% wider than `1 / rate` and a sender gives up a slot it is more than [`SLOT_TOLERANCE`] late for,
/// so sends stay below the rate in *every* one-second window, not only in aligned ones (r sends are
/// then at least `r * 1.02 / r - 0.02 = 1` second apart), while using 98% of it.
pub fn slot_spacing(rate_per_second: u32) -> Duration {
    let rate = i64::from(rate_per_second.max(1));
    Duration::microseconds((1_020_000 + rate - 1) / rate)
}

/// How late a sender may be for its slot and still use it.
pub const SLOT_TOLERANCE: Duration = Duration::milliseconds(20);

/// How long before its slot a sender marks a message as handed to SES (`Sending`): more than the
/// write takes, so the SES call itself is on time.
pub const SENDING_LEAD: Duration = Duration::milliseconds(100);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::consent::{Consent, ConsentState};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn circ<'a>(
        email: &'a Email,
        history: &'a [DateTime<Utc>],
        caps: &'a [Cap],
        now: DateTime<Utc>,
    ) -> Circumstances<'a> {
        Circumstances {
            marketing: true,
            email: Some(email),
            consent: Consent::platform(ConsentState::Subscribed, None),
            suppressed: false,
            paused: None,
            history,
            caps,
            quiet: QuietHours::default(),
            tz: chrono_tz::Europe::Berlin,
            now,
        }
    }

    #[test]
    fn quiet_hours_postpone_to_their_end_in_the_stores_zone() {
        let q = QuietHours::default();
        let tz = chrono_tz::Europe::Berlin;
        // 22:30 in Berlin (UTC+1 in December) -> 08:00 next morning, 07:00Z.
        assert_eq!(
            q.postpone(at("2026-12-04T21:30:00Z"), tz),
            Some(at("2026-12-05T07:00:00Z"))
        );
        // 03:00 local -> 08:00 the same day.
        assert_eq!(
            q.postpone(at("2026-12-05T02:00:00Z"), tz),
            Some(at("2026-12-05T07:00:00Z"))
        );
        // 12:00 local: not quiet.
        assert_eq!(q.postpone(at("2026-12-05T11:00:00Z"), tz), None);
        // A window within one day.
        let day: QuietHours = "12:00-13:30".parse().unwrap();
        assert_eq!(
            day.postpone(at("2026-12-05T11:15:00Z"), tz),
            Some(at("2026-12-05T12:30:00Z"))
        );
        assert!("25:00-08:00".parse::<QuietHours>().is_err());
        assert!("2100-0800".parse::<QuietHours>().is_err());
        assert_eq!(q.to_string(), "21:00-08:00");
    }

    #[test]
    fn caps_count_marketing_sends_in_their_windows() {
        let caps = default_caps();
        let now = at("2026-12-04T12:00:00Z");
        assert!(within_caps(&caps, &[], now));
        assert!(!within_caps(&caps, &[now - Duration::hours(15)], now));
        assert!(within_caps(&caps, &[now - Duration::hours(17)], now));
        let three = [
            now - Duration::days(1),
            now - Duration::days(3),
            now - Duration::days(6),
        ];
        assert!(!within_caps(&caps, &three, now));
        let old = [
            now - Duration::days(1),
            now - Duration::days(3),
            now - Duration::days(8),
        ];
        assert!(within_caps(&caps, &old, now));
    }

    #[test]
    fn the_rule_applies_in_order() {
        let email = Email::parse("a@example.com").unwrap();
        let caps = default_caps();
        let noon = at("2026-12-04T11:00:00Z");
        assert_eq!(decide(&circ(&email, &[], &caps, noon)), Decision::Send);
        let mut c = circ(&email, &[], &caps, noon);
        c.email = None;
        assert_eq!(decide(&c), Decision::Skip(SkipReason::NoEmail));
        let mut c = circ(&email, &[], &caps, noon);
        c.suppressed = true;
        c.marketing = false;
        assert_eq!(decide(&c), Decision::Skip(SkipReason::Suppressed));
        let mut c = circ(&email, &[], &caps, noon);
        c.consent = Consent::UNKNOWN;
        assert_eq!(decide(&c), Decision::Skip(SkipReason::NoConsent));
        c.marketing = false;
        assert_eq!(decide(&c), Decision::Send, "a store alert needs no consent");
        let mut c = circ(&email, &[], &caps, noon);
        c.paused = Some("bounce rate");
        assert_eq!(decide(&c), Decision::Skip(SkipReason::Paused));
        let h = [noon - Duration::hours(1)];
        assert_eq!(
            decide(&circ(&email, &h, &caps, noon)),
            Decision::Skip(SkipReason::Capped)
        );
        let night = at("2026-12-04T22:00:00Z");
        assert_eq!(
            decide(&circ(&email, &h, &caps, night)),
            Decision::Defer(at("2026-12-05T07:00:00Z"), "quiet hours")
        );
    }

    #[test]
    fn keys_are_checked_and_ids_stable() {
        let c = CustomerId::parse("c1").unwrap();
        assert!(OutboxKey::new("broadcast", "a b", c.clone()).is_err());
        assert!(OutboxKey::new("broadcast", "x#y", c.clone()).is_err());
        let k = OutboxKey::new("broadcast", "black-friday", c).unwrap();
        let s = StoreId::parse("s1").unwrap();
        assert_eq!(k.message_id(&s), k.message_id(&s));
        assert_eq!(k.message_id(&s).len(), 32);
    }

    #[test]
    fn slots_keep_every_window_under_the_rate() {
        for rate in [1u32, 2, 7, 14, 50, 200] {
            let s = slot_spacing(rate);
            // r+1 consecutive slots, the first as late as tolerated and the last on time, are
            // still at least one second apart.
            let span = s * rate as i32 - SLOT_TOLERANCE;
            assert!(span >= Duration::seconds(1), "{rate}");
            assert!(s * rate as i32 <= Duration::milliseconds(1021));
        }
    }
}
