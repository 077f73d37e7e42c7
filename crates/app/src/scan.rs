//! The churn scan: every customer of a store scored, in three phases over segments.
//!
//! 1. **Reduce**: each segment is read page by page and reduced to the model's sufficient
//!    statistics ([`FitInputs`]) and the KPIs' tallies, with a checkpoint after every page, so a
//!    worker killed mid-segment resumes where it stopped without reading a finished page again.
//! 2. **Fit**: the segments' reductions merge and the store's model is fitted once (or the
//!    fallback chosen); the [`FittedModel`] is stored, so every segment scores with the same one.
//! 3. **Score**: each segment is read again and every customer scored; only scores that changed
//!    materially ([`Decision`]) are written, again with a checkpoint after every page.
//!
//! One job is one segment of one phase ([`ScanJob`], an SQS message on AWS). [`work`] does a job
//! and records it on the run ([`finish`]); the one worker whose record completes a phase sends the
//! next phase's jobs, and the one that completes the scoring stores the [`RunReport`].

use crate::customers::Stream;
use crate::error::{ErrorKind, PortError, Result};
use crate::ports::{Customers, ScanQueue, ScanRuns, ScanState, Scores, StoreDirectory};
use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use retention_core::churn::kpi::{KpiPeriod, KpiTally, RetentionKpis};
use retention_core::churn::score::{ChurnModel, Method, ScoringSettings};
use retention_core::churn::scored::CustomerScore;
use retention_core::churn::{summarize, FitInputs, TimeUnit};
use retention_core::profile::Profile;
use retention_core::scan::{Decision, Finish, FittedModel, Phase, Run, ScanJob, ScoreTally};
use retention_core::segment::{Cursor, Segment};
use retention_core::store::Store;
use retention_core::{Currency, CustomerId, StoreId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Where a segment's work stands: stored after every page, it is the segment's checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint<T> {
    /// Where the next page starts (`None`: at the beginning, or at the end once `done`).
    pub cursor: Option<Cursor>,
    pub pages: u64,
    pub done: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// What the pages read so far added up to.
    pub tally: T,
}

/// The reduce phase's tally of a segment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReduceTally {
    /// The customers with a purchase on or before the scan's date.
    pub inputs: FitInputs,
    /// Customers read who have no purchase on or before the scan's date (nothing to model).
    pub without_purchases: u64,
    pub kpis: KpiTally,
}

impl ReduceTally {
    pub fn merge(&mut self, other: &ReduceTally) {
        self.inputs.merge(&other.inputs);
        self.without_purchases += other.without_purchases;
        self.kpis.merge(&other.kpis);
    }
}

pub type Reduction = Checkpoint<ReduceTally>;
pub type Scoring = Checkpoint<ScoreTally>;

/// The period the run's KPIs cover: the year up to the scan's date, "active" meaning an order in
/// the 365 days before.
pub fn kpi_period(as_of: NaiveDate) -> KpiPeriod {
    KpiPeriod {
        start: as_of - Duration::days(364),
        end: as_of,
        active_window_days: 365,
    }
}

/// Adds one page of customers, as of `end`, in the store's `currency`.
pub fn reduce_page(
    page: &[(CustomerId, Profile)],
    end: NaiveDate,
    currency: Currency,
    into: &mut ReduceTally,
) {
    let period = kpi_period(end);
    for (_, profile) in page {
        let purchases = profile.purchases(currency);
        into.kpis.add(&period, &purchases);
        match summarize(&purchases, end, TimeUnit::Days) {
            Some(s) => into.inputs.add(&s, end),
            None => into.without_purchases += 1,
        }
    }
}

/// Scores one page with the run's model: the figures of each customer with a purchase, and which
/// of them to write.
pub fn score_page(
    page: &[(CustomerId, Profile)],
    fitted: &FittedModel,
    currency: Currency,
    tally: &mut ScoreTally,
) -> Vec<(CustomerId, CustomerScore)> {
    let end = fitted.as_of;
    let mut writes = Vec::new();
    for (id, profile) in page {
        let Some(s) = summarize(&profile.purchases(currency), end, TimeUnit::Days) else {
            tally.without_purchases += 1;
            continue;
        };
        let score = CustomerScore::of(&s, &fitted.model, &fitted.rfm, end);
        let decision = Decision::of(&score, profile.score.as_ref());
        tally.add(&score, decision);
        if decision == Decision::Write {
            writes.push((id.clone(), score));
        }
    }
    writes
}

/// What a segment's work does with each page.
#[async_trait]
pub trait PageWork: Send + Sync {
    type Tally: Clone + Send + Sync;
    async fn page(&self, page: &[(CustomerId, Profile)], tally: &mut Self::Tally) -> Result<()>;
}

struct Reducer {
    end: NaiveDate,
    currency: Currency,
}

#[async_trait]
impl PageWork for Reducer {
    type Tally = ReduceTally;
    async fn page(&self, page: &[(CustomerId, Profile)], tally: &mut ReduceTally) -> Result<()> {
        reduce_page(page, self.end, self.currency, tally);
        Ok(())
    }
}

struct Scorer<'a> {
    scores: &'a dyn Scores,
    store: &'a StoreId,
    fitted: &'a FittedModel,
    currency: Currency,
}

#[async_trait]
impl PageWork for Scorer<'_> {
    type Tally = ScoreTally;
    async fn page(&self, page: &[(CustomerId, Profile)], tally: &mut ScoreTally) -> Result<()> {
        let writes = score_page(page, self.fitted, self.currency, tally);
        if !writes.is_empty() {
            self.scores.put_scores(self.store, &writes).await?;
        }
        Ok(())
    }
}

/// Walks the rest of a segment from `state` (a checkpoint, or the default to start), doing
/// `work` on each page and handing the new state to `checkpoint` after it; a checkpoint that
/// fails stops the walk there, and the last stored state resumes it. A page's work is done before
/// its checkpoint, so a crash between the two does that page's work again: the work must be
/// idempotent (a reduction adds to the state it resumed from; scores written are not written
/// twice, [`Decision::WrittenBefore`]).
#[allow(clippy::too_many_arguments)]
pub async fn walk_segment<W, F, Fut>(
    customers: &dyn Customers,
    store: &StoreId,
    segment: Segment,
    page_items: usize,
    work: &W,
    mut state: Checkpoint<W::Tally>,
    mut checkpoint: F,
) -> Result<Checkpoint<W::Tally>>
where
    W: PageWork,
    F: FnMut(&Checkpoint<W::Tally>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    if state.done {
        return Ok(state);
    }
    state.started_at.get_or_insert_with(Utc::now);
    let mut stream =
        Stream::resume(customers, store, segment, state.cursor.clone()).with_page_items(page_items);
    loop {
        let page = stream.next_page().await?;
        let mut next = state.clone();
        match page {
            Some(page) => {
                work.page(&page, &mut next.tally).await?;
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
        next.updated_at = Some(Utc::now());
        checkpoint(&next).await?;
        state = next;
        if state.done {
            return Ok(state);
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

/// Reduces the rest of the segment from `state` (see [`walk_segment`]).
pub async fn reduce_segment<F, Fut>(
    customers: &dyn Customers,
    job: &ReduceJob,
    state: Reduction,
    checkpoint: F,
) -> Result<Reduction>
where
    F: FnMut(&Reduction) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let work = Reducer {
        end: job.end,
        currency: job.currency,
    };
    walk_segment(
        customers,
        &job.store,
        job.segment,
        job.page_items,
        &work,
        state,
        checkpoint,
    )
    .await
}

/// Attempts at recording against concurrent writers before giving up (each attempt is a read and
/// a conditional write; 64 workers finishing at once need at most 64).
const RUN_ATTEMPTS: u32 = 200;

fn rejected(e: impl std::error::Error + Send + Sync + 'static) -> PortError {
    PortError::new(ErrorKind::Rejected, "scan run", e)
}

/// The store's run for `as_of`: the one already started that day (a rerun resumes it, whatever
/// `segments` says now), or a new one in `segments`. `true` when this call created it.
pub async fn start(
    runs: &dyn ScanRuns,
    store: &StoreId,
    as_of: NaiveDate,
    segments: u32,
) -> Result<(Run, bool)> {
    loop {
        if let Some((run, _)) = runs.run(store, as_of).await? {
            return Ok((run, false));
        }
        let run = Run::new(store.clone(), as_of, segments).map_err(rejected)?;
        if runs.put_run(&run, 0).await? {
            return Ok((run, true));
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
            return Err(no_run(store, as_of));
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

fn no_run(store: &StoreId, as_of: NaiveDate) -> PortError {
    PortError::bare(
        ErrorKind::Rejected,
        format!("no scan run of store {store} for {as_of}"),
    )
}

/// Everything a scan worker reaches.
#[derive(Clone, Copy)]
pub struct ScanPorts<'a> {
    pub stores: &'a dyn StoreDirectory,
    pub customers: &'a dyn Customers,
    pub runs: &'a dyn ScanRuns,
    pub state: &'a dyn ScanState,
    pub scores: &'a dyn Scores,
    pub queue: &'a dyn ScanQueue,
}

/// How a scan reads and scores.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub page_items: usize,
    pub scoring: ScoringSettings,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            page_items: crate::customers::PAGE_ITEMS,
            scoring: ScoringSettings::default(),
        }
    }
}

/// Segments for a store of `customers` (from its last run; 16 for a first run): about 40,000
/// customers each, so that a segment's checkpoint stays small and an invocation short
/// (docs/scale.md), a power of two from 4 to 1,024.
pub fn segments_for(customers: Option<u64>) -> u32 {
    let Some(n) = customers else { return 16 };
    (n.div_ceil(40_000).max(1) as u32)
        .next_power_of_two()
        .clamp(4, 1024)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| PortError::new(ErrorKind::Corrupt, "encoding", e))
}

fn decode<T: DeserializeOwned>(what: &str, json: &[u8]) -> Result<T> {
    serde_json::from_slice(json)
        .map_err(|e| PortError::new(ErrorKind::Corrupt, what.to_string(), e))
}

async fn document<T: DeserializeOwned>(
    state: &dyn ScanState,
    store: &StoreId,
    as_of: NaiveDate,
    phase: Phase,
    segment: u32,
) -> Result<Option<T>> {
    match state.document(store, as_of, phase, segment).await? {
        None => Ok(None),
        Some(json) => decode(
            &format!("the scan's {} document {segment}", phase.name()),
            &json,
        )
        .map(Some),
    }
}

async fn put_document<T: Serialize>(
    state: &dyn ScanState,
    store: &StoreId,
    as_of: NaiveDate,
    phase: Phase,
    segment: u32,
    value: &T,
) -> Result<()> {
    state
        .put_document(store, as_of, phase, segment, &encode(value)?)
        .await
}

type Saving<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>>;

/// Stores a job's checkpoint (its phase's document for its segment).
fn saver<'a, T: Serialize>(
    state: &'a dyn ScanState,
    job: &'a ScanJob,
) -> impl FnMut(&T) -> Saving<'a> + 'a {
    move |c: &T| {
        let json = encode(c);
        Box::pin(async move {
            state
                .put_document(&job.store, job.as_of, job.phase, job.segment, &json?)
                .await
        })
    }
}

async fn currency_of(stores: &dyn StoreDirectory, store: &StoreId) -> Result<Currency> {
    let Some(s) = stores.store(store).await? else {
        return Err(PortError::bare(
            ErrorKind::Rejected,
            format!("store {store} is not registered"),
        ));
    };
    currency(&s)
}

/// The currency whose orders the scan models: the store's own, which it must have.
fn currency(store: &Store) -> Result<Currency> {
    let id = &store.id;
    store.currency.ok_or_else(|| {
        PortError::bare(
            ErrorKind::Config,
            format!(
                "store {id} has no currency: set one (retention store add --store {id} --currency USD) so the scan knows which orders' money to model"
            ),
        )
    })
}

/// What a job did.
#[derive(Debug, Clone, PartialEq)]
pub enum Worked {
    /// Done and recorded; `advanced` when it completed its phase.
    Finished { advanced: Option<Phase>, pages: u64 },
    /// Recorded before, or its phase is over: nothing done (a redelivered message).
    Skipped { current: Phase },
}

/// Starts the store's run for `as_of` (or finds the one started that day) and sends the jobs it
/// still needs: all of a new run's first phase, or the unfinished ones of a resumed run. A run
/// already done sends nothing.
pub async fn begin(
    ports: ScanPorts<'_>,
    registered: &Store,
    as_of: NaiveDate,
    segments: Option<u32>,
) -> Result<(Run, bool)> {
    currency(registered)?;
    let store = &registered.id;
    let (run, created) = match ports.runs.run(store, as_of).await? {
        Some((run, _)) => (run, false),
        None => {
            let segments = match segments {
                Some(n) => n,
                None => segments_for(last_size(ports, store).await?),
            };
            start(ports.runs, store, as_of, segments).await?
        }
    };
    if run.phase == Phase::Done
        && ports
            .state
            .document(store, as_of, Phase::Done, 0)
            .await?
            .is_none()
    {
        // Done, but the worker that finished it stopped before storing the report.
        let report = report(ports, &run).await?;
        put_document(ports.state, store, as_of, Phase::Done, 0, &report).await?;
    }
    let pending = run.pending();
    if !pending.is_empty() {
        ports.queue.send(&pending).await?;
    }
    Ok((run, created))
}

/// The local hour at or after which the scheduled tick starts a store's daily scan.
pub const SCAN_HOUR: u32 = 3;

/// What the scheduled tick did for one store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticked {
    pub store: StoreId,
    /// The store's own day, whose run the tick started or looked at.
    pub as_of: NaiveDate,
    #[serde(flatten)]
    pub outcome: TickOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TickOutcome {
    /// Before the scan hour in the store's time zone.
    NotYet,
    Started {
        segments: u32,
    },
    /// A run still going: its unfinished jobs were sent again (a lost message, a crash between
    /// a phase's end and its next jobs; duplicates are harmless).
    Resent {
        phase: Phase,
        jobs: usize,
    },
    Done,
    /// The store cannot be scanned as configured (no currency, say); the others go on.
    Refused {
        reason: String,
    },
}

/// The schedule's tick (hourly): every store whose day has reached [`SCAN_HOUR`] gets that day's
/// run started, or its unfinished jobs sent again. One store's configuration error never stops
/// the others; a failure that may pass (DynamoDB, SQS) fails the tick so the schedule retries.
pub async fn tick(
    ports: ScanPorts<'_>,
    index: &dyn crate::ports::StoreIndex,
    now: DateTime<Utc>,
    scan_hour: u32,
) -> Result<Vec<Ticked>> {
    use chrono::Timelike;
    let mut out = Vec::new();
    for id in index.store_ids().await? {
        let Some(store) = ports.stores.store(&id).await? else {
            continue;
        };
        let local = store.local_time(now);
        let as_of = local.date();
        let outcome = if local.hour() < scan_hour {
            TickOutcome::NotYet
        } else {
            match begin(ports, &store, as_of, None).await {
                Ok((run, true)) => TickOutcome::Started {
                    segments: run.segments,
                },
                Ok((run, false)) if run.phase == Phase::Done => TickOutcome::Done,
                Ok((run, false)) => TickOutcome::Resent {
                    phase: run.phase,
                    jobs: run.pending().len(),
                },
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => TickOutcome::Refused {
                    reason: e.to_string(),
                },
            }
        };
        out.push(Ticked {
            store: id,
            as_of,
            outcome,
        });
    }
    Ok(out)
}

/// Customers read by the store's latest finished run.
async fn last_size(ports: ScanPorts<'_>, store: &StoreId) -> Result<Option<u64>> {
    for run in ports.runs.runs(store, 5).await? {
        if run.phase == Phase::Done {
            let stored: Option<RunReport> =
                document(ports.state, store, run.as_of, Phase::Done, 0).await?;
            if let Some(r) = stored {
                return Ok(Some(r.customers_read));
            }
        }
    }
    Ok(None)
}

/// Does one job: its segment's work from its checkpoint, then the record on the run. The worker
/// whose record completes a phase sends the next phase's jobs (or, after scoring, stores and logs
/// the report). Safe to run twice, and at the same time as another worker on the same job.
pub async fn work(ports: ScanPorts<'_>, settings: &ScanSettings, job: &ScanJob) -> Result<Worked> {
    let Some((run, _)) = ports.runs.run(&job.store, job.as_of).await? else {
        return Err(no_run(&job.store, job.as_of));
    };
    if run.phase != job.phase || run.finished.contains(&job.segment) {
        return Ok(Worked::Skipped { current: run.phase });
    }
    let segment = Segment::new(job.segment, run.segments).map_err(rejected)?;
    let pages = match job.phase {
        Phase::Reduce => {
            let currency = currency_of(ports.stores, &job.store).await?;
            let state: Reduction = document(
                ports.state,
                &job.store,
                job.as_of,
                Phase::Reduce,
                job.segment,
            )
            .await?
            .unwrap_or_default();
            let reduce = ReduceJob {
                store: job.store.clone(),
                segment,
                end: job.as_of,
                currency,
                page_items: settings.page_items,
            };
            let done =
                reduce_segment(ports.customers, &reduce, state, saver(ports.state, job)).await?;
            done.pages
        }
        Phase::Fit => {
            if document::<FittedModel>(ports.state, &job.store, job.as_of, Phase::Fit, 0)
                .await?
                .is_none()
            {
                let fitted = fit(ports.state, &run, &settings.scoring).await?;
                put_document(ports.state, &job.store, job.as_of, Phase::Fit, 0, &fitted).await?;
            }
            0
        }
        Phase::Score => {
            let currency = currency_of(ports.stores, &job.store).await?;
            let Some(fitted) =
                document::<FittedModel>(ports.state, &job.store, job.as_of, Phase::Fit, 0).await?
            else {
                return Err(PortError::bare(
                    ErrorKind::Corrupt,
                    format!(
                        "scan run of store {} for {}: scoring without a fitted model",
                        job.store, job.as_of
                    ),
                ));
            };
            let state: Scoring = document(
                ports.state,
                &job.store,
                job.as_of,
                Phase::Score,
                job.segment,
            )
            .await?
            .unwrap_or_default();
            let scorer = Scorer {
                scores: ports.scores,
                store: &job.store,
                fitted: &fitted,
                currency,
            };
            let done = walk_segment(
                ports.customers,
                &job.store,
                segment,
                settings.page_items,
                &scorer,
                state,
                saver(ports.state, job),
            )
            .await?;
            done.pages
        }
        Phase::Done => return Ok(Worked::Skipped { current: run.phase }),
    };
    let outcome = finish(ports.runs, &job.store, job.as_of, job.phase, job.segment).await?;
    match outcome {
        Finish::Recorded { advanced } => {
            if let Some(next) = advanced {
                // The run as this record left it: the next phase, nothing finished yet.
                let moved = Run {
                    phase: next,
                    finished: Default::default(),
                    ..run
                };
                advance(ports, &moved).await?;
            }
            Ok(Worked::Finished { advanced, pages })
        }
        Finish::AlreadyFinished => Ok(Worked::Skipped { current: run.phase }),
        Finish::WrongPhase { current } => Ok(Worked::Skipped { current }),
    }
}

/// The run just moved on: send its new phase's jobs, or (done) store and log the report.
async fn advance(ports: ScanPorts<'_>, run: &Run) -> Result<()> {
    if run.phase == Phase::Done {
        let report = report(ports, run).await?;
        put_document(ports.state, &run.store, run.as_of, Phase::Done, 0, &report).await?;
        tracing::info!(
            target: "scan",
            report = %serde_json::to_string(&report).unwrap_or_default(),
            "scan run done"
        );
        return Ok(());
    }
    ports.queue.send(&run.pending()).await
}

/// Merges the run's reductions and fits the store's model once.
async fn fit(state: &dyn ScanState, run: &Run, scoring: &ScoringSettings) -> Result<FittedModel> {
    let (merged, segments) = merged_reductions(state, run).await?;
    if segments != run.segments {
        return Err(PortError::bare(
            ErrorKind::Corrupt,
            format!(
                "scan run of store {} for {}: {segments} of {} segments reduced at the fit",
                run.store, run.as_of, run.segments
            ),
        ));
    }
    let began = std::time::Instant::now();
    let model = ChurnModel::fit(&merged.inputs, scoring.clone());
    let rfm = merged.inputs.rfm_scorer();
    Ok(FittedModel {
        as_of: run.as_of,
        model,
        rfm,
        customers: merged.inputs.customers,
        repeat_customers: merged.inputs.repeat_customers,
        without_purchases: merged.without_purchases,
        history_days: merged.inputs.history_days,
        kpis: merged.kpis.kpis(&kpi_period(run.as_of)),
        fit_ms: began.elapsed().as_millis() as u64,
    })
}

struct Merged<T> {
    tally: T,
    first_start: Option<DateTime<Utc>>,
    last_update: Option<DateTime<Utc>>,
    done: u32,
    pages: u64,
}

async fn merge_phase<T, F>(
    state: &dyn ScanState,
    run: &Run,
    phase: Phase,
    mut add: F,
) -> Result<Merged<T>>
where
    T: Default + DeserializeOwned,
    F: FnMut(&mut T, &T),
{
    let mut out = Merged {
        tally: T::default(),
        first_start: None,
        last_update: None,
        done: 0,
        pages: 0,
    };
    for (segment, json) in state.documents(&run.store, run.as_of, phase).await? {
        let c: Checkpoint<T> =
            decode(&format!("the scan's {phase:?} checkpoint {segment}"), &json)?;
        if !c.done {
            continue;
        }
        add(&mut out.tally, &c.tally);
        out.done += 1;
        out.pages += c.pages;
        out.first_start = out.first_start.min(c.started_at).or(c.started_at);
        out.last_update = out.last_update.max(c.updated_at);
    }
    Ok(out)
}

async fn merged_reductions(state: &dyn ScanState, run: &Run) -> Result<(ReduceTally, u32)> {
    let m = merge_phase(state, run, Phase::Reduce, ReduceTally::merge).await?;
    Ok((m.tally, m.done))
}

/// One scan run, as stored when it is done, logged as one JSON line, and printed by the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub store: StoreId,
    pub as_of: NaiveDate,
    pub segments: u32,
    pub phase: Phase,
    /// Customers the reduce phase read (with and without purchases).
    pub customers_read: u64,
    /// Customers scored, written, unchanged, by bucket and RFM segment.
    pub scores: ScoreTally,
    /// `fitted` or `fallback`, and in words why.
    pub method: String,
    pub method_detail: String,
    pub model: Option<ChurnModel>,
    pub kpis: Option<RetentionKpis>,
    pub durations_ms: PhaseDurations,
    /// Plain-words notes on what was unusual (no orders, a fallback, orders during the run…).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseDurations {
    pub reduce: Option<u64>,
    pub fit: Option<u64>,
    pub score: Option<u64>,
}

fn span_ms(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<u64> {
    Some((to? - from?).num_milliseconds().max(0) as u64)
}

/// The report of a run as it stands (done, or still going: the phases finished so far).
pub async fn report(ports: ScanPorts<'_>, run: &Run) -> Result<RunReport> {
    let reduced = merge_phase(ports.state, run, Phase::Reduce, ReduceTally::merge).await?;
    let scored = merge_phase(ports.state, run, Phase::Score, ScoreTally::merge).await?;
    let fitted: Option<FittedModel> =
        document(ports.state, &run.store, run.as_of, Phase::Fit, 0).await?;
    let customers_read = reduced.tally.inputs.customers + reduced.tally.without_purchases;
    let mut notes = Vec::new();
    let (method, method_detail) = match &fitted {
        None => ("pending".to_string(), "not fitted yet".to_string()),
        Some(f) => match &f.model.method {
            Method::Fitted { .. } => ("fitted".to_string(), f.model.method.describe()),
            Method::FallbackPriors { .. } => ("fallback".to_string(), f.model.method.describe()),
        },
    };
    if reduced.done == run.segments {
        if customers_read == 0 {
            notes.push("the store has no customers yet: nothing to score".to_string());
        } else if reduced.tally.inputs.customers == 0 {
            notes.push(format!(
                "none of the {customers_read} customers has a paid order on or before {}: nothing to score",
                run.as_of
            ));
        } else if reduced.tally.inputs.repeat_customers == 0 {
            notes.push("every customer has ordered once: no repeat buyers to learn from".into());
        }
        if reduced.tally.inputs.spend_left_out > 0 {
            notes.push(format!(
                "left out of the spend model: {} repeat buyers whose repeat orders total 0",
                reduced.tally.inputs.spend_left_out
            ));
        }
    }
    if scored.done == run.segments && run.phase == Phase::Done {
        let seen = scored.tally.scored + scored.tally.without_purchases;
        if seen != customers_read {
            notes.push(format!(
                "the store changed during the run: {customers_read} customers at the fit, {seen} when scored (orders or customers arrived or were erased meanwhile; each was scored as it was when read)"
            ));
        }
    }
    let fit_ms = fitted.as_ref().map(|f| f.fit_ms);
    Ok(RunReport {
        store: run.store.clone(),
        as_of: run.as_of,
        segments: run.segments,
        phase: run.phase,
        customers_read,
        scores: scored.tally,
        method,
        method_detail,
        model: fitted.as_ref().map(|f| f.model.clone()),
        kpis: fitted.map(|f| f.kpis),
        durations_ms: PhaseDurations {
            reduce: span_ms(reduced.first_start, reduced.last_update),
            fit: fit_ms,
            score: span_ms(scored.first_start, scored.last_update),
        },
        notes,
    })
}

/// The store's runs, newest first, with their reports (stored once done, built otherwise).
pub async fn runs(ports: ScanPorts<'_>, store: &StoreId, limit: usize) -> Result<Vec<RunReport>> {
    let mut out = Vec::new();
    for run in ports.runs.runs(store, limit).await? {
        out.push(run_report(ports, &run).await?);
    }
    Ok(out)
}

/// One run's report: the stored one once it is done, built from its documents otherwise.
pub async fn run_report(ports: ScanPorts<'_>, run: &Run) -> Result<RunReport> {
    if run.phase == Phase::Done {
        if let Some(r) = document(ports.state, &run.store, run.as_of, Phase::Done, 0).await? {
            return Ok(r);
        }
    }
    report(ports, run).await
}

/// The jobs of a run in one process, for `retention scan` and the tests: what SQS and the event
/// source mapping do on AWS, with the same at-least-once hand-over (a job that fails goes back).
#[derive(Default)]
pub struct LocalQueue {
    state: std::sync::Mutex<LocalState>,
}

#[derive(Default)]
struct LocalState {
    jobs: std::collections::VecDeque<(ScanJob, u32)>,
    in_flight: usize,
}

impl LocalQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, LocalState> {
        self.state.lock().expect("local queue")
    }
    /// The next job and how often it failed before, counted as in flight until [`Self::done`];
    /// `Err(())` once the queue is empty with nothing in flight (no job can come any more).
    fn claim(&self) -> std::result::Result<Option<(ScanJob, u32)>, ()> {
        let mut s = self.lock();
        match s.jobs.pop_front() {
            Some(j) => {
                s.in_flight += 1;
                Ok(Some(j))
            }
            None if s.in_flight == 0 => Err(()),
            None => Ok(None),
        }
    }
    fn done(&self, retry: Option<(ScanJob, u32)>) {
        let mut s = self.lock();
        s.in_flight -= 1;
        if let Some(j) = retry {
            s.jobs.push_back(j);
        }
    }
    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl ScanQueue for LocalQueue {
    async fn send(&self, jobs: &[ScanJob]) -> Result<()> {
        self.lock()
            .jobs
            .extend(jobs.iter().cloned().map(|j| (j, 0)));
        Ok(())
    }
}

/// Times a job may fail (retryably) before the local run gives up on it; SQS's `maxReceiveCount`
/// before the dead-letter queue plays the same part on AWS.
pub const LOCAL_ATTEMPTS: u32 = 5;

/// Runs `queue`'s jobs, `workers` at a time, until no job is left or in flight. `ports.queue`
/// must be `queue`, so that the jobs a finished phase sends come back here. A job that fails
/// retryably goes back to the queue, up to [`LOCAL_ATTEMPTS`] times; any other failure stops the
/// run (its state stays stored: run it again to resume). `progress` hears of every job done.
pub async fn drain(
    ports: ScanPorts<'_>,
    settings: &ScanSettings,
    queue: &LocalQueue,
    workers: usize,
    progress: &(dyn Fn(&ScanJob, &Worked) + Sync),
) -> Result<()> {
    let worker = || async {
        loop {
            let (job, failures) = match queue.claim() {
                Err(()) => return Ok(()),
                Ok(None) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
                Ok(Some(j)) => j,
            };
            match work(ports, settings, &job).await {
                Ok(w) => {
                    progress(&job, &w);
                    queue.done(None);
                }
                Err(e) if e.is_retryable() && failures + 1 < LOCAL_ATTEMPTS => {
                    tracing::warn!(target: "scan", error = %e, segment = job.segment, "job failed; trying again");
                    queue.done(Some((job, failures + 1)));
                }
                Err(e) => {
                    queue.done(None);
                    return Err(e);
                }
            }
        }
    };
    let results = futures_util::future::join_all((0..workers.max(1)).map(|_| worker())).await;
    results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
}
