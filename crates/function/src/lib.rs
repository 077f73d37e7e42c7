//! The HTTP edge every function shares, so that each function crate holds only its own logic:
//!
//! - [`Router`]: method + path pattern (`/stores/{store_id}/coupons/{code}`), matched under any
//!   stage prefix; 404 for no route, 405 with `Allow` for a known path under another method;
//! - [`Outcome`] and [`RequestLog`]: how a request ended, and its one structured log line
//!   (function, route, store, topic, outcome, status, latency; our failures with their whole cause
//!   chain, answered with an opaque 500);
//! - [`json`] and [`html`] answers with their security headers, [`body_within`] for the body limit;
//! - [`Clock`], so that tests can fix the time;
//! - [`init_tracing`], the logging setup `main` calls first.
//!
//! Not a function itself: it has no `[[bin]]`, so `make build` and the template checks pass it by.

mod answer;
mod outcome;
mod router;

pub use answer::{
    body_bytes, body_within, header, html, json, CONTENT_SECURITY_POLICY, HTML_HEADERS,
};
pub use outcome::{chain, Outcome, Rejection, RequestLog};
pub use router::{Matched, Router};

use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What time it is: the system clock in production, a fixed or stepped one in tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// A clock that always says `at`.
pub fn fixed_clock(at: DateTime<Utc>) -> Clock {
    Arc::new(move || at)
}

/// JSON logs, one object a line, at the level in `RUST_LOG` (default `info`). No timestamps:
/// CloudWatch stamps every line already.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .init();
}
