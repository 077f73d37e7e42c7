//! The churn scan's reduce phase: one segment of a store read page by page and reduced to the
//! model's sufficient statistics ([`FitInputs`]), with a checkpoint after every page so that a
//! worker killed mid-segment resumes where it stopped, without reading a finished page again or
//! counting a customer twice. The segments' results merge into the inputs of the one fit
//! (`ChurnModel::fit`) that every segment then scores with. [`start`] and [`finish`] keep the run:
//! one per store and day, each phase moving on exactly once.

use crate::customers::Stream;
use crate::error::{ErrorKind, PortError, Result};
use crate::ports::{Customers, ScanRuns};
use chrono::NaiveDate;
use retention_core::churn::{summarize, FitInputs};
use retention_core::profile::Profile;
use retention_core::scan::{Finish, Phase, Run};
use retention_core::segment::{Cursor, Segment};
use retention_core::{Currency, CustomerId, StoreId};
use serde::{Deserialize, Serialize};

/// Where a segment's reduction stands: stored after every page, it is the segment's checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reduction {
    /// Where the next page starts (`None`: at the beginning, or at the end once `done`).
    pub cursor: Option<Cursor>,
    /// The customers of the pages read so far.
    pub inputs: FitInputs,
    /// Customers read who have no purchase on or before the scan's date (nothing to model).
    pub without_purchases: u64,
    pub pages: u64,
    pub done: bool,
}

/// Adds one page of customers, as of `end`, in the store's `currency`.
pub fn reduce_page(
    page: &[(CustomerId, Profile)],
    end: NaiveDate,
    currency: Currency,
    into: &mut Reduction,
) {
    for (_, profile) in page {
        match summarize(
            &profile.purchases(currency),
            end,
            retention_core::churn::TimeUnit::Days,
        ) {
            Some(s) => into.inputs.add(&s, end),
            None => into.without_purchases += 1,
        }
    }
}

/// What a reduction needs to know of its run.
#[derive(Debug, Clone)]
pub struct ReduceJob {
    pub store: StoreId,
    pub segment: Segment,
    pub end: NaiveDate,
    pub currency: Currency,
    pub page_items: usize,
}

/// Reduces the rest of the segment from `state` (a checkpoint, or the default to start),
/// handing the state to `checkpoint` after every page; a checkpoint that fails stops the
/// reduction there, and the last stored state resumes it. Returns the finished reduction.
pub async fn reduce_segment<F, Fut>(
    customers: &dyn Customers,
    job: &ReduceJob,
    mut state: Reduction,
    mut checkpoint: F,
) -> Result<Reduction>
where
    F: FnMut(&Reduction) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    if state.done {
        return Ok(state);
    }
    let mut stream = Stream::resume(customers, &job.store, job.segment, state.cursor.clone())
        .with_page_items(job.page_items);
    loop {
        let page = stream.next_page().await?;
        let mut next = state.clone();
        match page {
            Some(page) => {
                reduce_page(&page, job.end, job.currency, &mut next);
                next.pages += 1;
                next.cursor = stream.cursor().cloned();
                // The last page: done now, or a resume from this checkpoint would read it twice.
                next.done = stream.done();
            }
            None => next.done = true,
        }
        if next.done {
            next.cursor = None;
        }
        checkpoint(&next).await?;
        state = next;
        if state.done {
            return Ok(state);
        }
    }
}

/// Attempts at recording against concurrent writers before giving up (each attempt is a read and
/// a conditional write; 64 workers finishing at once need at most 64).
const RUN_ATTEMPTS: u32 = 200;

fn rejected(e: impl std::error::Error + Send + Sync + 'static) -> PortError {
    PortError::new(ErrorKind::Rejected, "scan run", e)
}

/// The store's run for `as_of`: the one already started that day (a rerun resumes it, whatever
/// `segments` says now), or a new one in `segments`.
pub async fn start(
    runs: &dyn ScanRuns,
    store: &StoreId,
    as_of: NaiveDate,
    segments: u32,
) -> Result<Run> {
    loop {
        if let Some((run, _)) = runs.run(store, as_of).await? {
            return Ok(run);
        }
        let run = Run::new(store.clone(), as_of, segments).map_err(rejected)?;
        if runs.put_run(&run, 0).await? {
            return Ok(run);
        }
    }
}

/// Records that `segment` finished `phase` of the store's run for `as_of`, retried against
/// concurrent writers until it lands. `Finish::Recorded { advanced: Some(_) }` comes back to
/// exactly one caller per phase: the one that starts the next.
pub async fn finish(
    runs: &dyn ScanRuns,
    store: &StoreId,
    as_of: NaiveDate,
    phase: Phase,
    segment: u32,
) -> Result<Finish> {
    for _ in 0..RUN_ATTEMPTS {
        let Some((mut run, rev)) = runs.run(store, as_of).await? else {
            return Err(PortError::bare(
                ErrorKind::Rejected,
                format!("no scan run of store {store} for {as_of}"),
            ));
        };
        let outcome = run.finish(phase, segment).map_err(rejected)?;
        if !matches!(outcome, Finish::Recorded { .. }) || runs.put_run(&run, rev).await? {
            return Ok(outcome);
        }
    }
    Err(PortError::contention(
        "recording a finished segment",
        RUN_ATTEMPTS,
    ))
}
