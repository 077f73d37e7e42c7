//! The one error every port returns: our fault or the infrastructure's, never the caller's. It keeps
//! the cause as its `source()`, so the log line (`retention_function::chain`) can show the whole
//! chain, and says whether trying again can help.

use std::error::Error as StdError;
use std::fmt;

type Cause = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttled, timed out, unreachable, a 5xx: the same request may well succeed later.
    Retryable,
    /// The request was refused as it is (bad parameters, access denied, a missing table): retrying
    /// the same thing fails the same way.
    Rejected,
    /// A stored item does not parse: a bug or a hand edit, not the caller's input.
    Corrupt,
    /// Lost the race for an item too many times in a row.
    Contention,
    /// The process's environment lacks what it needs.
    Config,
}

#[derive(Debug)]
pub struct PortError {
    kind: ErrorKind,
    context: String,
    source: Option<Cause>,
}

impl PortError {
    pub fn new(kind: ErrorKind, context: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self {
            kind,
            context: context.into(),
            source: Some(source.into()),
        }
    }
    pub fn bare(kind: ErrorKind, context: impl Into<String>) -> Self {
        Self {
            kind,
            context: context.into(),
            source: None,
        }
    }
    pub fn corrupt(key: impl fmt::Display, detail: impl fmt::Display) -> Self {
        Self::bare(
            ErrorKind::Corrupt,
            format!("item {key} is corrupt: {detail}"),
        )
    }
    pub fn contention(context: &str, attempts: u32) -> Self {
        Self::bare(
            ErrorKind::Contention,
            format!("{context}: gave up after {attempts} attempts (contention)"),
        )
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// Whether the same call may succeed if tried again (a platform's retry, a worker's redelivery).
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Retryable | ErrorKind::Contention)
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl StdError for PortError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

pub type Result<T> = std::result::Result<T, PortError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_keeps_every_cause_and_retryability_is_said() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
        let e = PortError::new(ErrorKind::Retryable, "reading the store", io);
        assert_eq!(e.to_string(), "reading the store");
        assert_eq!(e.source().unwrap().to_string(), "timed out");
        assert!(e.is_retryable());
        assert!(!PortError::bare(ErrorKind::Rejected, "x").is_retryable());
        assert!(!PortError::corrupt("k", "bad").is_retryable());
    }
}
