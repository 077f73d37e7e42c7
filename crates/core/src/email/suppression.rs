//! Addresses a store must not write to again: a permanent bounce or a complaint suppresses an
//! address for that store (the store's own list is the authority; on AWS the adapter also adds it to
//! SES's account-level list). A transient bounce is only counted, never suppressed.

use crate::ids::Email;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// A permanent (hard) bounce: the address does not exist or refuses mail for good.
    Bounce,
    /// The recipient marked a message as spam.
    Complaint,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
        }
    }
}

/// One suppressed address of a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub email: Email,
    pub reason: SuppressionReason,
    pub at: DateTime<Utc>,
    /// What SES said (the bounce subtype, the feedback type), for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}
