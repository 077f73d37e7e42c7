//! The logic of `retention model fit`: transactions in, fitted models and (with a holdout) their
//! accuracy out, as a serializable report with a human-readable `Display`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

use super::evaluate::auc;
use super::score::churn_risk;
use super::transactions::{parse_transactions, TransactionsError};
use super::{
    summarize_all, BgNbdParams, ChurnError, CountModel, Diagnostics, FitData, FitInputs,
    GammaGammaParams, ParetoNbdParams, TimeUnit,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelChoice {
    BgNbd,
    Pareto,
    GammaGamma,
    All,
}

#[derive(Debug, Clone)]
pub struct ModelFitRequest {
    pub calibration_end: NaiveDate,
    pub holdout_end: Option<NaiveDate>,
    pub model: ModelChoice,
    pub unit: TimeUnit,
    /// N of the churn risk (probability of no purchase in the next N days).
    pub horizon_days: u32,
    /// Decimals of the currency (2 for USD/EUR, 0 for JPY).
    pub minor_digits: u32,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelFitError {
    #[error(transparent)]
    Transactions(#[from] TransactionsError),
    #[error(transparent)]
    Model(#[from] ChurnError),
    #[error("the holdout end {holdout_end} must be after the calibration end {calibration_end}")]
    HoldoutBeforeCalibration {
        calibration_end: NaiveDate,
        holdout_end: NaiveDate,
    },
    #[error("no purchase on or before the calibration end {0}")]
    NothingToFit(NaiveDate),
}

#[derive(Debug, Clone, Serialize)]
pub struct ParameterReport {
    pub name: &'static str,
    pub value: f64,
    pub standard_error: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub model: &'static str,
    pub parameters: Vec<ParameterReport>,
    pub diagnostics: Diagnostics,
    pub holdout: Option<HoldoutReport>,
    /// Customers the model left out, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_out: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HoldoutReport {
    pub forecast_repeat_purchase_days: f64,
    pub actual_repeat_purchase_days: usize,
    /// AUC of the churn risk for "no purchase in the holdout".
    pub churn_risk_auc: Option<f64>,
    /// AUC of the expected number of purchases for "bought in the holdout".
    pub expected_purchases_auc: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelFitReport {
    pub calibration_end: NaiveDate,
    pub holdout_end: Option<NaiveDate>,
    pub unit: TimeUnit,
    pub horizon_days: u32,
    pub transactions: usize,
    pub customers: usize,
    pub repeat_customers: usize,
    pub distinct_summaries: usize,
    pub models: Vec<ModelReport>,
    /// Baselines on the same holdout: days since the last order, and a "no order in N days" rule.
    pub baselines: Option<Baselines>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Baselines {
    pub days_since_last_order_auc: Option<f64>,
    pub no_order_in_horizon_rule_auc: Option<f64>,
}

fn params(names: &[&'static str], values: &[f64], se: &[Option<f64>]) -> Vec<ParameterReport> {
    names
        .iter()
        .zip(values)
        .zip(se)
        .map(|((n, v), s)| ParameterReport {
            name: n,
            value: *v,
            standard_error: *s,
        })
        .collect()
}

/// Parses `csv` (header `customer_id,date,amount`), fits the requested models on the calibration
/// period and, with a holdout end, scores them on the holdout.
pub fn fit_transactions(csv: &str, req: &ModelFitRequest) -> Result<ModelFitReport, ModelFitError> {
    if let Some(h) = req.holdout_end {
        if h <= req.calibration_end {
            return Err(ModelFitError::HoldoutBeforeCalibration {
                calibration_end: req.calibration_end,
                holdout_end: h,
            });
        }
    }
    let rows = parse_transactions(csv, req.minor_digits)?;
    // Keyed by the ids the rows own: no second copy of 400,000 strings.
    let summaries = summarize_all(
        rows.iter().map(|(c, p)| (c.as_str(), *p)),
        req.calibration_end,
        req.unit,
    );
    if summaries.is_empty() {
        return Err(ModelFitError::NothingToFit(req.calibration_end));
    }
    let data = FitData::from_summaries(summaries.values());
    // Holdout truth: the distinct purchase days of calibration customers after the calibration end.
    let holdout = req.holdout_end.map(|end| {
        let mut days: BTreeMap<&str, BTreeSet<NaiveDate>> = BTreeMap::new();
        for (c, p) in &rows {
            if p.date > req.calibration_end && p.date <= end && summaries.contains_key(c.as_str()) {
                days.entry(c.as_str()).or_default().insert(p.date);
            }
        }
        let length = req
            .unit
            .from_days((end - req.calibration_end).num_days() as f64);
        let bought: Vec<bool> = summaries.keys().map(|c| days.contains_key(*c)).collect();
        let actual: usize = days.values().map(|d| d.len()).sum();
        (length, bought, actual)
    });
    let evaluate = |model: &dyn CountModel| {
        holdout.as_ref().map(|(length, bought, actual)| {
            let n = req.unit.from_days(req.horizon_days as f64);
            let mut risk = Vec::with_capacity(bought.len());
            let mut expected = Vec::with_capacity(bought.len());
            for s in summaries.values() {
                let x = s.frequency as f64;
                risk.push(churn_risk(model, n, x, s.recency, s.age));
                expected.push(model.expected_purchases(*length, x, s.recency, s.age));
            }
            let none: Vec<bool> = bought.iter().map(|b| !b).collect();
            HoldoutReport {
                forecast_repeat_purchase_days: expected.iter().sum(),
                actual_repeat_purchase_days: *actual,
                churn_risk_auc: auc(&risk, &none),
                expected_purchases_auc: auc(&expected, bought),
            }
        })
    };
    let mut models = Vec::new();
    let wants = |m: ModelChoice| req.model == m || req.model == ModelChoice::All;
    if wants(ModelChoice::BgNbd) {
        let fit = BgNbdParams::fit(&data)?;
        models.push(ModelReport {
            model: "BG/NBD",
            parameters: params(
                &BgNbdParams::NAMES,
                &fit.params.as_array(),
                &fit.standard_errors,
            ),
            holdout: evaluate(&fit.params),
            diagnostics: fit.diagnostics,
            left_out: None,
        });
    }
    if wants(ModelChoice::Pareto) {
        let fit = ParetoNbdParams::fit(&data)?;
        models.push(ModelReport {
            model: "Pareto/NBD",
            parameters: params(
                &ParetoNbdParams::NAMES,
                &fit.params.as_array(),
                &fit.standard_errors,
            ),
            holdout: evaluate(&fit.params),
            diagnostics: fit.diagnostics,
            left_out: None,
        });
    }
    if wants(ModelChoice::GammaGamma) {
        let inputs = FitInputs::from_summaries(summaries.values(), req.calibration_end);
        let fit = GammaGammaParams::fit(&inputs.spend_rows())?;
        let left_out = (inputs.spend_left_out > 0).then(|| {
            format!(
                "{} repeat buyers whose repeat purchases total zero or less (free orders)",
                inputs.spend_left_out
            )
        });
        let p = fit.params;
        models.push(ModelReport {
            model: "Gamma-Gamma (gamma in minor units)",
            parameters: params(
                &GammaGammaParams::NAMES,
                &[p.p, p.q, p.gamma],
                &fit.standard_errors,
            ),
            holdout: None,
            diagnostics: fit.diagnostics,
            left_out,
        });
    }
    let baselines = holdout.as_ref().map(|(_, bought, _)| {
        let none: Vec<bool> = bought.iter().map(|b| !b).collect();
        let since: Vec<f64> = summaries
            .values()
            .map(|s| s.days_since_last_purchase(req.calibration_end) as f64)
            .collect();
        let rule: Vec<f64> = since
            .iter()
            .map(|d| {
                if *d > req.horizon_days as f64 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        Baselines {
            days_since_last_order_auc: auc(&since, &none),
            no_order_in_horizon_rule_auc: auc(&rule, &none),
        }
    });
    Ok(ModelFitReport {
        calibration_end: req.calibration_end,
        holdout_end: req.holdout_end,
        unit: req.unit,
        horizon_days: req.horizon_days,
        transactions: rows.len(),
        customers: summaries.len(),
        repeat_customers: summaries.values().filter(|s| s.frequency > 0).count(),
        distinct_summaries: data.rows.len(),
        models,
        baselines,
    })
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "n/a".to_string())
}

impl fmt::Display for ModelFitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} transactions, {} customers ({} repeat buyers, {} distinct summaries); calibration to {}, time unit {}",
            self.transactions, self.customers, self.repeat_customers, self.distinct_summaries, self.calibration_end, self.unit.name()
        )?;
        for m in &self.models {
            writeln!(f, "\n{}", m.model)?;
            for p in &m.parameters {
                match p.standard_error {
                    Some(se) => writeln!(
                        f,
                        "  {:<6} = {:>12.6}  (standard error {se:.6})",
                        p.name, p.value
                    )?,
                    None => writeln!(
                        f,
                        "  {:<6} = {:>12.6}  (standard error n/a)",
                        p.name, p.value
                    )?,
                }
            }
            let d = &m.diagnostics;
            writeln!(
                f,
                "  log-likelihood {:.4}; {} after {} iterations ({} evaluations): {}",
                d.log_likelihood,
                if d.converged {
                    "converged"
                } else {
                    "NOT converged"
                },
                d.iterations,
                d.function_evaluations,
                d.stop_reason.describe()
            )?;
            if let Some(l) = &m.left_out {
                writeln!(f, "  left out: {l}")?;
            }
            if let Some(h) = &m.holdout {
                writeln!(
                    f,
                    "  holdout: forecast {:.1} repeat purchase days, actual {}; AUC of churn risk ({} days) for no purchase {}, of expected purchases for a purchase {}",
                    h.forecast_repeat_purchase_days, h.actual_repeat_purchase_days, self.horizon_days, opt(h.churn_risk_auc), opt(h.expected_purchases_auc)
                )?;
            }
        }
        if let Some(b) = &self.baselines {
            writeln!(
                f,
                "\nbaselines on the holdout: days since the last order AUC {}; \"no order in {} days\" rule AUC {}",
                opt(b.days_since_last_order_auc),
                self.horizon_days,
                opt(b.no_order_in_horizon_rule_auc)
            )?;
        }
        Ok(())
    }
}
