//! A store registered with the engine: which platform sends its webhooks and how they are signed.

use crate::ids::{Email, StoreId};
use crate::money::Currency;
use crate::webhook::Platform;
use serde::{Deserialize, Serialize};

/// At most two webhook secrets: the current one and, during a rotation, the previous one.
pub const MAX_SECRETS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub id: StoreId,
    pub platform: Platform,
    /// Newest first. Both verify until the old one is removed.
    pub webhook_secrets: Vec<String>,
    pub name: Option<String>,
    pub from_email: Option<Email>,
    pub timezone: Option<String>,
    pub currency: Option<Currency>,
}

impl Store {
    /// Adds a secret for rotation, keeping at most [`MAX_SECRETS`] (the oldest is dropped).
    pub fn add_secret(&mut self, secret: String) {
        self.webhook_secrets.retain(|s| *s != secret);
        self.webhook_secrets.insert(0, secret);
        self.webhook_secrets.truncate(MAX_SECRETS);
    }
}
