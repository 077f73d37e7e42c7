//! `retention model fit`: fit the churn models to a store's transaction export and, with a holdout
//! end, show how well they would have predicted it — so an analyst can judge the models on the
//! store's own data before deploying anything. All the logic is in
//! `retention_core::churn::report`; this file only reads the file and prints.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use retention_core::churn::report::{fit_transactions, ModelChoice, ModelFitRequest};
use retention_core::churn::TimeUnit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    Bgnbd,
    Pareto,
    GammaGamma,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    Days,
    Weeks,
}

/// Fit BG/NBD, Pareto/NBD and Gamma-Gamma to a transaction CSV (`customer_id,date,amount`).
#[derive(Debug, Clone, Args)]
pub struct ModelFitArgs {
    /// CSV with the header `customer_id,date,amount`, dates YYYY-MM-DD, amounts like 29.33.
    #[arg(long, value_name = "FILE.csv")]
    pub transactions: PathBuf,
    /// Last day (inclusive) of the calibration period the models are fitted on.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub calibration_end: NaiveDate,
    /// Last day (inclusive) of a holdout period to evaluate the models on.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub holdout_end: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = ModelArg::All)]
    pub model: ModelArg,
    /// Time unit of t_x, T, α and β (probabilities and forecasts do not depend on it).
    #[arg(long, value_enum, default_value_t = UnitArg::Days)]
    pub unit: UnitArg,
    /// N of the churn risk: the probability of no purchase in the next N days.
    #[arg(long, default_value_t = 90)]
    pub horizon_days: u32,
    /// Decimals of the currency's minor unit (2 for USD or EUR, 0 for JPY).
    #[arg(long, default_value_t = 2)]
    pub minor_digits: u32,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ModelFitArgs) -> anyhow::Result<()> {
    let path = args.transactions.display();
    let text =
        std::fs::read_to_string(&args.transactions).with_context(|| format!("reading {path}"))?;
    let request = ModelFitRequest {
        calibration_end: args.calibration_end,
        holdout_end: args.holdout_end,
        model: match args.model {
            ModelArg::Bgnbd => ModelChoice::BgNbd,
            ModelArg::Pareto => ModelChoice::Pareto,
            ModelArg::GammaGamma => ModelChoice::GammaGamma,
            ModelArg::All => ModelChoice::All,
        },
        unit: match args.unit {
            UnitArg::Days => TimeUnit::Days,
            UnitArg::Weeks => TimeUnit::Weeks,
        },
        horizon_days: args.horizon_days,
        minor_digits: args.minor_digits,
    };
    let report = fit_transactions(&text, &request)
        .with_context(|| format!("fitting the models to {path}"))?;
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)
    } else {
        write!(out, "{report}")
    };
    match written {
        // `retention model fit … | head` is normal use, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        fit: ModelFitArgs,
    }

    #[test]
    fn parses_the_documented_flags() {
        let cli = Cli::try_parse_from([
            "fit",
            "--transactions",
            "t.csv",
            "--calibration-end",
            "1997-09-30",
            "--holdout-end",
            "1998-06-30",
            "--model",
            "pareto",
            "--unit",
            "weeks",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.fit.model, ModelArg::Pareto);
        assert_eq!(cli.fit.holdout_end, NaiveDate::from_ymd_opt(1998, 6, 30));
        assert!(Cli::try_parse_from([
            "fit",
            "--transactions",
            "t.csv",
            "--calibration-end",
            "30/09/1997"
        ])
        .is_err());
    }

    #[test]
    fn bad_rows_fail_with_their_line_numbers() {
        let dir = std::env::temp_dir().join(format!("retention-model-fit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.csv");
        std::fs::write(
            &file,
            "customer_id,date,amount\nc1,2024-01-01,1.00\nc2,2024-13-01,1.00\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "fit",
            "--transactions",
            file.to_str().unwrap(),
            "--calibration-end",
            "2024-06-30",
        ])
        .unwrap();
        let err = format!("{:#}", run(&cli.fit).unwrap_err());
        assert!(err.contains("line 3"), "{err}");
    }
}
