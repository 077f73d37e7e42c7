//! `retention scan`, `retention scan runs`, `retention scores`: the churn scan run in this process
//! with several workers (the same use case the churn-scan function runs from SQS), its reports,
//! and the scores it wrote.

use anyhow::{bail, Context, Result};
use chrono::{NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use retention_app::customers::Stream;
use retention_app::ports::{ScanRuns, StoreDirectory};
use retention_app::scan::{self, LocalQueue, RunReport, ScanPorts, ScanSettings, Worked};
use retention_core::scan::{Phase, ScanJob};
use retention_core::segment::Segment;
use retention_core::{Currency, Money, StoreId};
use retention_dynamodb::Table;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ScanCommand {
    #[command(subcommand)]
    list: Option<ScanSub>,
    #[command(flatten)]
    run: ScanArgs,
}

#[derive(Subcommand)]
enum ScanSub {
    /// The store's past runs, newest first.
    Runs {
        #[arg(long)]
        store: StoreId,
        #[arg(long, default_value_t = 30)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ScanArgs {
    #[arg(long)]
    store: Option<StoreId>,
    /// The day the figures are for (YYYY-MM-DD); default today in the store's time zone. A run is
    /// one store and day: run it again (after a crash, say) and it resumes.
    #[arg(long)]
    as_of: Option<NaiveDate>,
    /// Segments a new run is split into (default: from the store's last run, ~40,000 customers
    /// each).
    #[arg(long)]
    segments: Option<u32>,
    /// Segments worked on at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Print the run report as one JSON object (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ScoresArgs {
    #[arg(long)]
    store: StoreId,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
}

fn ports<'a>(table: &'a Table, queue: &'a LocalQueue) -> ScanPorts<'a> {
    ScanPorts {
        stores: table,
        customers: table,
        runs: table,
        state: table,
        scores: table,
        queue,
    }
}

pub async fn run(table: &Table, cmd: ScanCommand) -> Result<()> {
    if let Some(ScanSub::Runs { store, limit, json }) = cmd.list {
        let queue = LocalQueue::default();
        let reports = scan::runs(ports(table, &queue), &store, limit).await?;
        if json {
            println!("{}", serde_json::to_string(&reports)?);
        } else if reports.is_empty() {
            println!("store {store} has no scan runs yet; start one with `retention scan --store {store}`");
        }
        for r in reports.iter().filter(|_| !json) {
            println!(
                "{}  {:<6}  {:>3} segments  {:>8} read  {:>8} scored  {:>8} written  {}",
                r.as_of,
                r.phase.name(),
                r.segments,
                r.customers_read,
                r.scores.scored,
                r.scores.written,
                r.method
            );
        }
        return Ok(());
    }
    let a = cmd.run;
    let Some(store_id) = a.store else {
        bail!("give --store (or `retention scan runs --store ID`)");
    };
    let Some(store) = StoreDirectory::store(table, &store_id).await? else {
        bail!("no store {store_id}; register it with `retention store add`");
    };
    let as_of = a.as_of.unwrap_or_else(|| store.local_date(Utc::now()));
    let queue = LocalQueue::default();
    let ports = ports(table, &queue);
    let (run, created) = scan::begin(ports, &store, as_of, a.segments).await?;
    eprintln!(
        "scan of {store_id} as of {as_of}: {} run in {} segments, {}",
        if created { "new" } else { "resuming the" },
        run.segments,
        match run.phase {
            Phase::Done => "already done".to_string(),
            p => format!(
                "at {} ({} of {} finished)",
                p.name(),
                run.finished.len(),
                run.units()
            ),
        }
    );
    let counts: Mutex<BTreeMap<Phase, u32>> = Mutex::new(BTreeMap::new());
    let progress = |job: &ScanJob, w: &Worked| {
        let mut c = counts.lock().expect("progress");
        let n = c.entry(job.phase).or_default();
        *n += 1;
        let units = if job.phase == Phase::Fit {
            1
        } else {
            run.segments
        };
        let advanced = match w {
            Worked::Finished {
                advanced: Some(p), ..
            } => format!(" -> {}", p.name()),
            _ => String::new(),
        };
        eprintln!(
            "  {:<6} {n:>4}/{units} segment {}{advanced}",
            job.phase.name(),
            job.segment
        );
    };
    let settings = ScanSettings::default();
    scan::drain(ports, &settings, &queue, a.workers, &progress)
        .await
        .context("the scan stopped; run the same command again to resume it")?;
    let Some((run, _)) = table.run(&store_id, as_of).await? else {
        bail!("the run of {store_id} for {as_of} is gone");
    };
    let report = scan::run_report(ports, &run).await?;
    if run.phase != Phase::Done {
        bail!(
            "the run stopped at {} ({} of {} finished); run the same command again to resume it",
            run.phase.name(),
            run.finished.len(),
            run.units()
        );
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report, store.currency)?;
    }
    Ok(())
}

fn money(minor: i64, currency: Option<Currency>) -> String {
    match currency {
        Some(c) => Money::new(minor, c).to_string(),
        None => format!("{minor} (minor units)"),
    }
}

fn rate(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.1} %", 100.0 * r))
}

fn print_report(r: &RunReport, currency: Option<Currency>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let s = &r.scores;
    writeln!(
        out,
        "scan of {} as of {}: {}, {} segments",
        r.store,
        r.as_of,
        r.phase.name(),
        r.segments
    )?;
    writeln!(
        out,
        "  customers: {} read, {} scored, {} written, {} unchanged, {} without a paid order",
        r.customers_read, s.scored, s.written, s.unchanged, s.without_purchases
    )?;
    writeln!(out, "  method:    {}", r.method_detail)?;
    let join = |v: Vec<String>| {
        if v.is_empty() {
            "-".into()
        } else {
            v.join(", ")
        }
    };
    writeln!(
        out,
        "  risk:      {}",
        join(
            s.by_bucket
                .iter()
                .rev()
                .map(|(b, n)| format!(
                    "{} {n}",
                    serde_json::to_value(b)
                        .unwrap_or_default()
                        .as_str()
                        .unwrap_or("?")
                ))
                .collect()
        )
    )?;
    writeln!(
        out,
        "  segments:  {}",
        join(
            s.by_segment
                .iter()
                .map(|(g, n)| format!("{} {n}", g.name()))
                .collect()
        )
    )?;
    if let Some(k) = &r.kpis {
        writeln!(
            out,
            "  KPIs {} to {}: retention rate {}, churn rate {}, repeat purchase rate {}, average order {}",
            k.period_start,
            k.period_end,
            rate(k.customer_retention_rate),
            rate(k.churn_rate),
            rate(k.repeat_purchase_rate),
            k.average_order_value_minor
                .map_or("-".into(), |m| money(m, currency))
        )?;
    }
    let ms = |v: Option<u64>| v.map_or("-".into(), |v| format!("{v} ms"));
    writeln!(
        out,
        "  durations: reduce {}, fit {}, score {}",
        ms(r.durations_ms.reduce),
        ms(r.durations_ms.fit),
        ms(r.durations_ms.score)
    )?;
    for n in &r.notes {
        writeln!(out, "  note:      {n}")?;
    }
    Ok(())
}

/// One exported row: the figures `retention scores` writes, per customer with a score.
#[derive(serde::Serialize)]
struct ScoreRow {
    customer_id: String,
    as_of: NaiveDate,
    churn_risk: String,
    p_alive: String,
    expected_purchases: String,
    bucket: retention_core::churn::score::RiskBucket,
    segment: retention_core::churn::rfm::Segment,
    /// Decimal, in the store's currency.
    predicted_clv: String,
    next_order_date: Option<NaiveDate>,
    method: &'static str,
}

pub async fn scores(table: &Table, a: ScoresArgs) -> Result<()> {
    let Some(store) = StoreDirectory::store(table, &a.store).await? else {
        bail!(
            "no store {}; register it with `retention store add`",
            a.store
        );
    };
    let mut csv =
        matches!(a.format, Format::Csv).then(|| csv::Writer::from_writer(std::io::stdout()));
    let mut stream = Stream::new(table, &a.store, Segment::whole());
    let mut rows = 0u64;
    while let Some(page) = stream.next_page().await? {
        for (id, profile) in page {
            let Some(s) = profile.score else { continue };
            let row = ScoreRow {
                customer_id: id.to_string(),
                as_of: s.as_of,
                churn_risk: format!("{:.4}", s.churn_risk),
                p_alive: format!("{:.4}", s.p_alive),
                expected_purchases: format!("{:.4}", s.expected_purchases),
                bucket: s.bucket,
                segment: s.segment,
                predicted_clv: match store.currency {
                    Some(c) => Money::new(s.predicted_clv_minor, c)
                        .to_decimal()
                        .to_string(),
                    None => s.predicted_clv_minor.to_string(),
                },
                next_order_date: s.expected_next_order,
                method: if s.fitted { "fitted" } else { "fallback" },
            };
            rows += 1;
            match csv.as_mut() {
                Some(w) => w.serialize(&row)?,
                None => println!("{}", serde_json::to_string(&row)?),
            }
        }
    }
    if let Some(mut w) = csv {
        w.flush()?;
    }
    if rows == 0 {
        eprintln!(
            "store {} has no scores yet; run `retention scan --store {}`",
            a.store, a.store
        );
    }
    Ok(())
}
