//! Churn-model benchmarks: fit time on CDNOW and on 1M simulated customers, and scoring throughput.
//!
//! Besides timing, it writes the benchmark data and its own fits to `CHURN_BENCH_DIR` (default
//! `target/churn-bench` in the workspace) so that `bench/lifetimes_compare.py` fits exactly the same
//! summaries with Python's `lifetimes` in the same `make bench` run.

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use retention_core::churn::simulate::{simulate_bgnbd, simulate_pareto, Resolution};
use retention_core::churn::*;

const SIMULATED: usize = 1_000_000;

fn out_dir() -> PathBuf {
    let dir = std::env::var_os("CHURN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/churn-bench")
        });
    std::fs::create_dir_all(&dir).expect("create the benchmark output directory");
    dir
}

fn datasets_dir() -> PathBuf {
    std::env::var_os("RETENTION_DATASETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
        })
}

/// CDNOW summaries in weeks at 1997-09-30, as (x, t_x, T, mean repeat spend in dollars).
fn cdnow() -> Option<Vec<(f64, f64, f64, f64)>> {
    let path = datasets_dir().join("cdnow/CDNOW_sample.txt");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "\n!!!!!!!! CDNOW BENCHMARKS SKIPPED: cannot read {} !!!!!!!!\n",
            path.display()
        );
        return None;
    };
    let rows = text.lines().filter(|l| !l.trim().is_empty()).map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let date = NaiveDate::parse_from_str(f[2], "%Y%m%d").unwrap();
        let (units, cents) = f[4].split_once('.').unwrap();
        let amount_minor = units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap();
        (f[1].to_string(), Purchase { date, amount_minor })
    });
    let end = NaiveDate::from_ymd_opt(1997, 9, 30).unwrap();
    Some(
        summarize_all(rows, end, TimeUnit::Weeks)
            .values()
            .map(|s| {
                let m = s.mean_repeat_value_minor().unwrap_or(0.0) / 100.0;
                (s.frequency as f64, s.recency, s.age, m)
            })
            .collect(),
    )
}

fn write_csv(name: &str, header: &str, rows: impl Iterator<Item = String>) {
    let path = out_dir().join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(f, "{header}").unwrap();
    for r in rows {
        writeln!(f, "{r}").unwrap();
    }
}

/// Simulated customers in weeks (T uniform on 13..78 weeks, purchases rounded to whole days, as a
/// real store's summaries are), at CDNOW-like parameters.
type Triples = Vec<(f64, f64, f64)>;

fn simulated() -> (Triples, Triples) {
    let res = Resolution::WholeDays { days_per_unit: 7.0 };
    let bg = BgNbdParams::new(0.243, 4.414, 0.793, 2.426).unwrap();
    let pn = ParetoNbdParams::new(0.553, 10.578, 0.606, 11.669).unwrap();
    (
        simulate_bgnbd(&bg, SIMULATED, 13.0, 78.0, 2024, res),
        simulate_pareto(&pn, SIMULATED, 13.0, 78.0, 2025, res),
    )
}

fn record_fits(cdnow: &Option<Vec<(f64, f64, f64, f64)>>, sim_bg: &FitData, sim_pn: &FitData) {
    let mut json = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        json.insert(k.to_string(), v);
    };
    if let Some(rows) = cdnow {
        let data = FitData::from_triples(rows.iter().map(|r| (r.0, r.1, r.2)));
        put(
            "cdnow_bgnbd",
            serde_json::to_value(BgNbdParams::fit(&data).unwrap()).unwrap(),
        );
        put(
            "cdnow_pareto",
            serde_json::to_value(ParetoNbdParams::fit(&data).unwrap()).unwrap(),
        );
    }
    put(
        "sim_bgnbd",
        serde_json::to_value(BgNbdParams::fit(sim_bg).unwrap()).unwrap(),
    );
    put(
        "sim_pareto",
        serde_json::to_value(ParetoNbdParams::fit(sim_pn).unwrap()).unwrap(),
    );
    put("sim_bgnbd_distinct_rows", sim_bg.rows.len().into());
    put("sim_pareto_distinct_rows", sim_pn.rows.len().into());
    std::fs::write(
        out_dir().join("rust_fits.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it, in
/// criterion's quick test mode, where writing 90 MB of data for the Python side would be waste.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn benches(c: &mut Criterion) {
    let cdnow = cdnow();
    if let (Some(rows), true) = (&cdnow, measuring()) {
        write_csv(
            "cdnow_weeks.csv",
            "frequency,recency,T,monetary_value",
            rows.iter()
                .map(|r| format!("{},{:.17},{:.17},{:.17}", r.0, r.1, r.2, r.3)),
        );
    }
    if let Some(rows) = &cdnow {
        let data = FitData::from_triples(rows.iter().map(|r| (r.0, r.1, r.2)));
        let spend =
            GammaGammaParams::rows(rows.iter().filter(|r| r.0 > 0.0).map(|r| (r.0 as u32, r.3)))
                .unwrap();
        let mut g = c.benchmark_group("cdnow_fit");
        g.bench_function("bgnbd", |b| {
            b.iter(|| BgNbdParams::fit(black_box(&data)).unwrap())
        });
        g.bench_function("pareto", |b| {
            b.iter(|| ParetoNbdParams::fit(black_box(&data)).unwrap())
        });
        g.bench_function("gamma_gamma", |b| {
            b.iter(|| GammaGammaParams::fit(black_box(&spend)).unwrap())
        });
        g.finish();
    }

    let (bg_rows, pn_rows) = simulated();
    if measuring() {
        let triple = |r: &(f64, f64, f64)| format!("{},{:.17},{:.17}", r.0, r.1, r.2);
        write_csv(
            "sim_bgnbd_1m.csv",
            "frequency,recency,T",
            bg_rows.iter().map(triple),
        );
        write_csv(
            "sim_pareto_1m.csv",
            "frequency,recency,T",
            pn_rows.iter().map(triple),
        );
        let sim_bg = FitData::from_triples(bg_rows.iter().copied());
        let sim_pn = FitData::from_triples(pn_rows.iter().copied());
        record_fits(&cdnow, &sim_bg, &sim_pn);
    }

    let mut g = c.benchmark_group("sim1m_fit");
    g.sample_size(10);
    g.bench_function("grouping_only", |b| {
        b.iter(|| FitData::from_triples(black_box(&bg_rows).iter().copied()))
    });
    // Includes grouping the 1M summaries into weighted distinct rows: part of the real cost.
    g.bench_function("bgnbd", |b| {
        b.iter(|| {
            BgNbdParams::fit(&FitData::from_triples(black_box(&bg_rows).iter().copied())).unwrap()
        })
    });
    g.bench_function("pareto", |b| {
        b.iter(|| {
            ParetoNbdParams::fit(&FitData::from_triples(black_box(&pn_rows).iter().copied()))
                .unwrap()
        })
    });
    g.finish();

    // Scoring: churn risk (90 days) of 1M customers, one core.
    let model = ParetoNbdParams::new(0.553, 10.578 * 7.0, 0.606, 11.669 * 7.0).unwrap();
    let bg_model = BgNbdParams::new(0.243, 4.414 * 7.0, 0.793, 2.426).unwrap();
    let days: Vec<(f64, f64, f64)> = pn_rows
        .iter()
        .map(|r| (r.0, r.1 * 7.0, r.2 * 7.0))
        .collect();
    let mut g = c.benchmark_group("score_1m");
    g.throughput(Throughput::Elements(days.len() as u64));
    g.sample_size(10);
    for (name, m) in [
        ("pareto_churn_risk", &model as &dyn CountModel),
        ("bgnbd_churn_risk", &bg_model),
    ] {
        g.bench_with_input(BenchmarkId::new(name, days.len()), &days, |b, days| {
            b.iter(|| {
                days.iter()
                    .map(|&(x, tx, t)| score::churn_risk(m, 90.0, x, tx, t))
                    .sum::<f64>()
            })
        });
    }
    g.finish();
}

criterion_group!(churn, benches);
criterion_main!(churn);
