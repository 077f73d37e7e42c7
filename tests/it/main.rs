//! All integration tests in one binary (one link, one moto server): the real handler and CLI
//! against moto, table-driven where the cases are alike.

mod churn_scan;
mod conformance;
mod coupons;
mod customer_pages;
mod customer_pages_browser;
mod delivery;
mod email;
mod email_events;
mod events;
mod fixtures;
mod infra;
mod lambda_config;
mod local_aws;
mod ordering;
mod platform_consent;
mod redaction;
mod requests;
mod scan_runs;
mod streaming;
