//! Email, as the business sees it: who may be written to (consent, suppression), what a store's
//! sending reputation allows, and the outbox that makes every message go out at most once.
//! Rendering and MIME live in the `retention-email` crate; SES in `retention-ses`.
pub mod consent;
pub mod feedback;
pub mod link;
pub mod outbox;
pub mod reputation;
pub mod suppression;
