//! Accuracy against the literature on the CDNOW sample (see shared/datasets/cdnow/README.md).

use std::path::PathBuf;

use chrono::NaiveDate;
use retention_core::churn::evaluate::auc;
use retention_core::churn::*;

fn datasets_dir() -> PathBuf {
    std::env::var_os("RETENTION_DATASETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets"))
}

/// The CDNOW rows as (customer, purchase), or `None` (loudly; a failure under CI) when absent.
fn cdnow() -> Option<Vec<(u32, Purchase)>> {
    let path = datasets_dir().join("cdnow/CDNOW_sample.txt");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            let msg = format!(
                "CDNOW ACCURACY TESTS SKIPPED: cannot read {} ({e}); set RETENTION_DATASETS_DIR",
                path.display()
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg}");
            }
            eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
            return None;
        }
    };
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let date = NaiveDate::parse_from_str(f[2], "%Y%m%d").unwrap();
                let (units, cents) = f[4].split_once('.').unwrap();
                let amount_minor = units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap();
                (f[1].parse().unwrap(), Purchase { date, amount_minor })
            })
            .collect(),
    )
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn assert_sig4(name: &str, got: f64, want: f64) {
    // Equal to 4 significant figures: the relative difference under half a unit in the 4th digit.
    let rel = ((got - want) / want).abs();
    let tolerance = 0.5 * 10f64.powi(-3) * 10f64.powf(-(want.abs().log10().fract()));
    assert!(
        rel < tolerance.max(5e-5),
        "{name}: got {got}, want {want} (relative difference {rel:e})"
    );
    eprintln!("{name}: {got:.6} (reference {want})");
}

#[test]
fn cdnow_bgnbd_pareto_gamma_gamma_match_reference_fits() {
    let Some(rows) = cdnow() else { return };
    let summaries = summarize_all(rows.iter().copied(), d("1997-09-30"), TimeUnit::Weeks);
    assert_eq!(summaries.len(), 2357);
    let data = FitData::from_summaries(summaries.values());

    let bg = BgNbdParams::fit(&data).unwrap();
    eprintln!("{:?}", bg.diagnostics);
    assert!(bg.diagnostics.converged);
    assert_sig4("BG/NBD r", bg.params.r, 0.24259);
    assert_sig4("BG/NBD alpha", bg.params.alpha, 4.4136);
    assert_sig4("BG/NBD a", bg.params.a, 0.79292);
    assert_sig4("BG/NBD b", bg.params.b, 2.42591);
    assert_sig4("BG/NBD LL", bg.diagnostics.log_likelihood, -9582.43);

    let pn = ParetoNbdParams::fit(&data).unwrap();
    eprintln!("{:?}", pn.diagnostics);
    assert!(pn.diagnostics.converged);
    assert_sig4("Pareto r", pn.params.r, 0.55328);
    assert_sig4("Pareto alpha", pn.params.alpha, 10.5777);
    assert_sig4("Pareto s", pn.params.s, 0.60624);
    assert_sig4("Pareto beta", pn.params.beta, 11.6687);

    let spend = GammaGammaParams::rows(summaries.values().filter_map(|s| {
        s.mean_repeat_value_minor().map(|m| (s.frequency, m / 100.0))
    }))
    .unwrap();
    let gg = GammaGammaParams::fit(&spend).unwrap();
    eprintln!("{:?}", gg.diagnostics);
    assert_eq!(gg.customers, 946.0);
    assert_sig4("Gamma-Gamma p", gg.params.p, 6.24957);
    assert_sig4("Gamma-Gamma q", gg.params.q, 3.74422);
    assert_sig4("Gamma-Gamma gamma", gg.params.gamma, 15.44352);
    assert_sig4("Gamma-Gamma LL", gg.diagnostics.log_likelihood, -4055.92);

    // Holdout: weeks 40 to 78.
    let holdout_end = d("1998-06-30");
    let horizon = TimeUnit::Weeks.from_days((holdout_end - d("1997-09-30")).num_days() as f64);
    let mut holdout_days = std::collections::BTreeMap::<u32, std::collections::BTreeSet<NaiveDate>>::new();
    for (c, p) in &rows {
        if p.date > d("1997-09-30") && p.date <= holdout_end {
            holdout_days.entry(*c).or_default().insert(p.date);
        }
    }
    let actual: usize = holdout_days.values().map(|s| s.len()).sum();
    assert_eq!(actual, 1882);
    let bought: Vec<bool> = summaries.keys().map(|c| holdout_days.contains_key(c)).collect();
    let no_purchase: Vec<bool> = bought.iter().map(|b| !b).collect();
    for (name, model) in [("BG/NBD", &bg.params as &dyn CountModel), ("Pareto/NBD", &pn.params)] {
        let risk: Vec<f64> = summaries
            .values()
            .map(|s| model.p_no_purchase(horizon, s.frequency as f64, s.recency, s.age))
            .collect();
        let expected: f64 = summaries
            .values()
            .map(|s| model.expected_purchases(horizon, s.frequency as f64, s.recency, s.age))
            .sum();
        let e_auc = auc(
            &summaries.values().map(|s| model.expected_purchases(horizon, s.frequency as f64, s.recency, s.age)).collect::<Vec<_>>(),
            &bought,
        );
        eprintln!(
            "{name}: AUC of churn risk for no purchase {:.4}, AUC of E[purchases] {:.4}, forecast {expected:.1} vs actual {actual}",
            auc(&risk, &no_purchase).unwrap(), e_auc.unwrap()
        );
    }
}
