//! A store's sending reputation: sends, bounces and complaints per day, and the rule that pauses its
//! marketing sends before SES's review thresholds (bounce rate 5%, complaint rate 0.1%) are reached.
//! Rates are compared in integers (basis points), never floats.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One day's counts of a store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    pub sent: u64,
    /// Permanent bounces.
    pub bounced: u64,
    pub complained: u64,
    /// Transient bounces: counted, never suppressed, not in the bounce rate.
    pub transient: u64,
}

impl DayCounts {
    pub fn add(&mut self, other: &DayCounts) {
        self.sent += other.sent;
        self.bounced += other.bounced;
        self.complained += other.complained;
        self.transient += other.transient;
    }
}

/// When marketing pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReputationPolicy {
    /// Days in the rolling window, today included.
    pub window_days: u32,
    /// SES's review threshold for bounces, in basis points (500 = 5%).
    pub bounce_limit_bp: u64,
    /// SES's review threshold for complaints, in basis points (10 = 0.1%).
    pub complaint_limit_bp: u64,
    /// Pause at this percentage of a threshold (50: at 2.5% bounces).
    pub pause_at_percent: u64,
    /// Below this many sends in the window the rates say too little to pause on.
    pub min_sent: u64,
}

impl Default for ReputationPolicy {
    fn default() -> Self {
        Self {
            window_days: 14,
            bounce_limit_bp: 500,
            complaint_limit_bp: 10,
            pause_at_percent: 50,
            min_sent: 100,
        }
    }
}

/// Why a store's marketing is paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub reason: String,
    pub window: DayCounts,
}

impl ReputationPolicy {
    /// The default policy with the deployment's overrides, read through `env` (the process
    /// environment in a function): `RETENTION_PAUSE_AT_PERCENT` (1 to 100: pause at this percentage
    /// of SES's review thresholds) and `RETENTION_REPUTATION_WINDOW_DAYS` (1 to 90). A value that
    /// does not parse is an error naming it, not a silent default.
    pub fn from_lookup(env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut p = Self::default();
        let read =
            |name: &str, range: std::ops::RangeInclusive<u64>| -> Result<Option<u64>, String> {
                match env(name)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                {
                    None => Ok(None),
                    Some(v) => match v.parse::<u64>() {
                        Ok(n) if range.contains(&n) => Ok(Some(n)),
                        _ => Err(format!(
                            "{name}={v:?} must be a whole number from {} to {}",
                            range.start(),
                            range.end()
                        )),
                    },
                }
            };
        if let Some(n) = read("RETENTION_PAUSE_AT_PERCENT", 1..=100)? {
            p.pause_at_percent = n;
        }
        if let Some(n) = read("RETENTION_REPUTATION_WINDOW_DAYS", 1..=90)? {
            p.window_days = n as u32;
        }
        Ok(p)
    }

    /// The first day of the window ending on `today`.
    pub fn window_start(&self, today: NaiveDate) -> NaiveDate {
        today - chrono::Days::new(u64::from(self.window_days.max(1) - 1))
    }

    /// Whether the window's counts pause marketing, and why.
    pub fn assess(&self, window: &DayCounts) -> Option<Pause> {
        if window.sent < self.min_sent.max(1) {
            return None;
        }
        // rate >= limit * percent / 100  <=>  count * 10_000 * 100 >= sent * limit_bp * percent
        let over = |count: u64, limit_bp: u64| {
            u128::from(count) * 1_000_000
                >= u128::from(window.sent)
                    * u128::from(limit_bp)
                    * u128::from(self.pause_at_percent)
        };
        let pct = |count: u64| format!("{:.2}%", count as f64 * 100.0 / window.sent as f64);
        let limit = |bp: u64| format!("{:.2}%", (bp * self.pause_at_percent) as f64 / 10_000.0);
        let reason = if over(window.complained, self.complaint_limit_bp) {
            format!(
                "complaint rate {} over the last {} days is at or above {} ({}% of SES's {}% review threshold)",
                pct(window.complained),
                self.window_days,
                limit(self.complaint_limit_bp),
                self.pause_at_percent,
                self.complaint_limit_bp as f64 / 100.0
            )
        } else if over(window.bounced, self.bounce_limit_bp) {
            format!(
                "bounce rate {} over the last {} days is at or above {} ({}% of SES's {}% review threshold)",
                pct(window.bounced),
                self.window_days,
                limit(self.bounce_limit_bp),
                self.pause_at_percent,
                self.bounce_limit_bp as f64 / 100.0
            )
        } else {
            return None;
        };
        Some(Pause {
            reason,
            window: *window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(sent: u64, bounced: u64, complained: u64) -> DayCounts {
        DayCounts {
            sent,
            bounced,
            complained,
            transient: 0,
        }
    }

    #[test]
    fn marketing_pauses_at_half_of_the_review_thresholds() {
        let p = ReputationPolicy::default();
        assert_eq!(p.assess(&counts(1000, 24, 0)), None);
        assert!(p
            .assess(&counts(1000, 25, 0))
            .unwrap()
            .reason
            .contains("bounce rate 2.50%"));
        assert_eq!(p.assess(&counts(10_000, 0, 4)), None);
        assert!(p
            .assess(&counts(10_000, 0, 5))
            .unwrap()
            .reason
            .contains("complaint"));
        // Too few sends to judge.
        assert_eq!(p.assess(&counts(50, 10, 10)), None);
        // Transient bounces never count.
        let mut c = counts(1000, 0, 0);
        c.transient = 900;
        assert_eq!(p.assess(&c), None);
    }

    #[test]
    fn the_deployment_sets_the_pause_fraction_and_window() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            ReputationPolicy::from_lookup(env(&[])).unwrap(),
            ReputationPolicy::default()
        );
        let p = ReputationPolicy::from_lookup(env(&[
            ("RETENTION_PAUSE_AT_PERCENT", "80"),
            ("RETENTION_REPUTATION_WINDOW_DAYS", "7"),
        ]))
        .unwrap();
        assert_eq!((p.pause_at_percent, p.window_days), (80, 7));
        let e = ReputationPolicy::from_lookup(env(&[("RETENTION_PAUSE_AT_PERCENT", "0.5")]))
            .unwrap_err();
        assert!(e.contains("RETENTION_PAUSE_AT_PERCENT"), "{e}");
        assert!(
            ReputationPolicy::from_lookup(env(&[("RETENTION_PAUSE_AT_PERCENT", "101")])).is_err()
        );
    }

    #[test]
    fn the_window_ends_today() {
        let p = ReputationPolicy::default();
        let today = NaiveDate::from_ymd_opt(2026, 12, 14).unwrap();
        assert_eq!(
            p.window_start(today),
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
    }
}
