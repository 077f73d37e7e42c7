//! The churn-scan function. Two kinds of events reach it:
//!
//! - the hourly **schedule** (an EventBridge "Scheduled Event"): every store whose own day has
//!   reached the scan hour gets that day's run started (or a run still going gets its unfinished
//!   jobs again) through [`scan::tick`]. A scheduled event whose `detail` names a `store_id`
//!   (and optionally an `as_of` day) starts that store's run only: what the demo, the tests and an
//!   operator's one-off rule send.
//! - **SQS batches** of segment jobs ([`ScanJob`]): each one is [`scan::work`], and the ones that
//!   failed are reported back (`ReportBatchItemFailures`), so SQS redelivers only those; a job
//!   that keeps failing, or a body that is no job at all, ends in the dead-letter queue after the
//!   queue's `maxReceiveCount`.
//!
//! The same use cases run in `retention scan`, in one process.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::NaiveDate;
use retention_app::ports::{
    Customers, ScanQueue, ScanRuns, ScanState, Scores, StoreDirectory, StoreIndex,
};
use retention_app::scan::{self, ScanPorts, ScanSettings, SCAN_HOUR};
use retention_core::scan::ScanJob;
use retention_core::StoreId;
use retention_function::{chain, system_clock, Clock};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The ports the function holds (its IAM role grants what their adapters call).
#[derive(Clone)]
pub struct Ports {
    pub stores: Arc<dyn StoreDirectory>,
    pub index: Arc<dyn StoreIndex>,
    pub customers: Arc<dyn Customers>,
    pub runs: Arc<dyn ScanRuns>,
    pub state: Arc<dyn ScanState>,
    pub scores: Arc<dyn Scores>,
    pub queue: Arc<dyn ScanQueue>,
}

impl Ports {
    /// Every table port on the one table and the job queue: the wiring `main.rs` uses, and the
    /// one tests/it/infra.rs holds against the function's IAM role.
    pub fn on(table: Arc<retention_dynamodb::Table>, queue: Arc<dyn ScanQueue>) -> Self {
        Self {
            stores: table.clone(),
            index: table.clone(),
            customers: table.clone(),
            runs: table.clone(),
            state: table.clone(),
            scores: table,
            queue,
        }
    }

    fn scan(&self) -> ScanPorts<'_> {
        ScanPorts {
            stores: self.stores.as_ref(),
            customers: self.customers.as_ref(),
            runs: self.runs.as_ref(),
            state: self.state.as_ref(),
            scores: self.scores.as_ref(),
            queue: self.queue.as_ref(),
        }
    }
}

/// Everything the handler needs, built once per Lambda instance.
pub struct App {
    ports: Ports,
    settings: ScanSettings,
    clock: Clock,
    scan_hour: u32,
}

impl App {
    pub fn new(ports: Ports) -> Self {
        Self {
            ports,
            settings: ScanSettings::default(),
            clock: system_clock(),
            scan_hour: std::env::var("RETENTION_SCAN_HOUR")
                .ok()
                .and_then(|h| h.parse().ok())
                .filter(|h| *h < 24)
                .unwrap_or(SCAN_HOUR),
        }
    }
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
    pub fn with_settings(mut self, settings: ScanSettings) -> Self {
        self.settings = settings;
        self
    }
}

/// What a scheduled event's `detail` may name: one store (and its day), or nothing (every store).
#[derive(Debug, Default, Deserialize)]
struct Target {
    store_id: Option<StoreId>,
    as_of: Option<NaiveDate>,
    segments: Option<u32>,
}

/// The error the runtime reports for an invocation that must be retried (the schedule's own
/// retry policy); its message names the cause, never a secret.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub async fn handle(app: &App, event: Value) -> Result<Value, Error> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)
            .map_err(|e| format!("an SQS batch that does not parse: {e}"))?;
        return Ok(serde_json::to_value(jobs(app, batch).await)?);
    }
    if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return scheduled(app, event.get("detail").cloned().unwrap_or(Value::Null)).await;
    }
    tracing::warn!(target: "scan", "ignored an event that is neither a schedule nor an SQS batch");
    Ok(json!({ "ignored": "neither a scheduled event nor an SQS batch of scan jobs" }))
}

async fn scheduled(app: &App, detail: Value) -> Result<Value, Error> {
    let target: Target = match detail {
        Value::Null => Target::default(),
        Value::Object(ref m) if m.is_empty() => Target::default(),
        d => serde_json::from_value(d).map_err(|e| format!("the schedule's detail: {e}"))?,
    };
    let ports = app.ports.scan();
    let now = (app.clock)();
    match target.store_id {
        Some(store) => {
            let Some(registered) = ports.stores.store(&store).await? else {
                return Err(format!("no store {store}").into());
            };
            let as_of = target.as_of.unwrap_or_else(|| registered.local_date(now));
            let (run, created) = scan::begin(ports, &registered, as_of, target.segments)
                .await
                .map_err(|e| chain(&e))?;
            tracing::info!(target: "scan", store = %store, %as_of, created, segments = run.segments, "scan run begun");
            Ok(
                json!({ "store": store, "as_of": as_of, "created": created, "phase": run.phase, "segments": run.segments }),
            )
        }
        None => {
            let ticked = scan::tick(ports, app.ports.index.as_ref(), now, app.scan_hour)
                .await
                .map_err(|e| chain(&e))?;
            for t in &ticked {
                tracing::info!(target: "scan", tick = %serde_json::to_string(t).unwrap_or_default(), "scheduled scan");
            }
            Ok(json!({ "stores": ticked }))
        }
    }
}

/// Each job of the batch; the ones that failed go back to SQS (`batchItemFailures`).
async fn jobs(app: &App, batch: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in batch.records {
        let id = record.message_id.clone().unwrap_or_default();
        let job: ScanJob = match record.body.as_deref().map(serde_json::from_str) {
            Some(Ok(job)) => job,
            Some(Err(e)) => {
                tracing::error!(target: "scan", message_id = %id, error = %e, "a message that is no scan job (left for the dead-letter queue)");
                failures.push(id);
                continue;
            }
            None => {
                tracing::error!(target: "scan", message_id = %id, "a message without a body (left for the dead-letter queue)");
                failures.push(id);
                continue;
            }
        };
        match scan::work(app.ports.scan(), &app.settings, &job).await {
            Ok(worked) => {
                let (outcome, advanced) = match worked {
                    scan::Worked::Finished { advanced, .. } => {
                        ("finished", advanced.map(|p| p.name()))
                    }
                    scan::Worked::Skipped { .. } => ("skipped: already done", None),
                };
                tracing::info!(target: "scan", store = %job.store, as_of = %job.as_of, phase = job.phase.name(), segment = job.segment, outcome, advanced, "scan job")
            }
            Err(e) => {
                tracing::error!(target: "scan", store = %job.store, as_of = %job.as_of, phase = job.phase.name(), segment = job.segment, error = %chain(&e), retryable = e.is_retryable(), "scan job failed");
                failures.push(id);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|item_identifier| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = item_identifier;
            f
        })
        .collect();
    response
}
