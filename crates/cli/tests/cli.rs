//! The `retention` binary against moto: what an operator types, what they see, and the exit codes.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

struct Cli {
    table: String,
    dir: std::path::PathBuf,
}

impl Cli {
    fn new(name: &str) -> Self {
        let table = format!(
            "cli-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&table);
        std::fs::create_dir_all(&dir).unwrap();
        let cli = Self { table, dir };
        let out = cli.run(&["init"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        cli
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_retention"))
            .args(args)
            .envs(retention_tests::aws_env())
            .env("RETENTION_TABLE", &self.table)
            .env("RETENTION_LINK_SECRET", "cli-test-link-secret-0123456789")
            .env(
                "RETENTION_PUBLIC_URL",
                "http://127.0.0.1:9000/lambda-url/customer-pages",
            )
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "{args:?} should fail: {}",
            text(&out.stdout)
        );
        text(&out.stderr)
    }

    fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn init_is_idempotent() {
    let cli = Cli::new("init");
    assert!(cli.ok(&["init"]).contains("already exists"));
}

#[test]
fn store_add_registers_rotates_and_refuses_nonsense() {
    let cli = Cli::new("store");
    let s = cli.ok(&[
        "store",
        "add",
        "--store",
        "s1",
        "--platform",
        "shopify",
        "--webhook-secret",
        "first-secret",
        "--currency",
        "eur",
    ]);
    assert!(s.contains("registered"), "{s}");
    let s = cli.ok(&[
        "store",
        "add",
        "--store",
        "s1",
        "--platform",
        "shopify",
        "--webhook-secret",
        "second-secret",
    ]);
    assert!(s.contains("2 webhook secrets"), "{s}");
    let shown = cli.ok(&["store", "show", "--store", "s1"]);
    assert!(
        !shown.contains("first-secret") && shown.contains("EUR"),
        "secrets are masked: {shown}"
    );
    assert!(cli
        .ok(&[
            "store",
            "remove-secret",
            "--store",
            "s1",
            "--secret",
            "first-secret"
        ])
        .contains("1 left"));

    for (args, needle) in [
        (
            vec![
                "store",
                "remove-secret",
                "--store",
                "s1",
                "--secret",
                "second-secret",
            ],
            "only webhook secret",
        ),
        (
            vec![
                "store",
                "remove-secret",
                "--store",
                "s1",
                "--secret",
                "nope-nope-nope",
            ],
            "no such webhook secret",
        ),
        (
            vec![
                "store",
                "add",
                "--store",
                "s1",
                "--platform",
                "woocommerce",
                "--webhook-secret",
                "third-secret",
            ],
            "is a shopify store",
        ),
        (
            vec![
                "store",
                "add",
                "--store",
                "s2",
                "--platform",
                "shopify",
                "--webhook-secret",
                "short",
            ],
            "too short",
        ),
        (
            vec![
                "store",
                "add",
                "--store",
                "bad#id",
                "--platform",
                "shopify",
                "--webhook-secret",
                "long-enough",
            ],
            "store id",
        ),
        (
            vec![
                "store",
                "add",
                "--store",
                "s3",
                "--platform",
                "magento",
                "--webhook-secret",
                "long-enough",
            ],
            "magento",
        ),
        (
            vec![
                "store",
                "add",
                "--store",
                "s3",
                "--platform",
                "shopify",
                "--webhook-secret",
                "long-enough",
                "--currency",
                "EURO",
            ],
            "currency",
        ),
        (
            vec!["store", "show", "--store", "nobody"],
            "no store nobody",
        ),
        (
            vec!["customer", "show", "--store", "s1", "--customer", "42"],
            "no customer 42",
        ),
        (
            vec![
                "customer",
                "show",
                "--store",
                "s1",
                "--email",
                "nobody@example.com",
            ],
            "no customer with email",
        ),
    ] {
        let err = cli.fails(&args);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn import_reports_bad_rows_keeps_good_ones_and_is_idempotent() {
    let cli = Cli::new("import");
    cli.ok(&[
        "store",
        "add",
        "--store",
        "shop",
        "--platform",
        "shopify",
        "--webhook-secret",
        "secret-secret",
    ]);
    let csv = cli.file(
        "orders.csv",
        "customer_id,email,order_id,created_at,total,currency,coupon_code,categories\n\
         c1,ada@example.com,o1,2025-01-02T10:00:00Z,10.50,USD,welcome10,Cat food|Toys\n\
         c1,ada@example.com,o2,2025-02-02,20.00,USD,,Cat food\n\
         c1,ada@example.com,o3,not-a-date,1.00,USD,,\n\
         c2,bob@example,o4,2025-03-01,5.00,USD,,\n\
         c2,bob@example.com,o5,2025-03-01,5.001,USD,,\n\
         ,guest@example.com,o6,2025-03-02,7.00,USD,,\n",
    );
    let out = cli.run(&["import", "--store", "shop", &csv]);
    assert!(
        !out.status.success(),
        "bad rows make the exit code non-zero"
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stdout.contains("imported 3 order(s), 0 already present, 3 bad row(s) of 6"),
        "{stdout}"
    );
    for needle in ["line 4: created_at", "line 5: email", "line 6: amount"] {
        assert!(stderr.contains(needle), "{needle} in {stderr}");
    }
    let again = cli.run(&["import", "--store", "shop", &csv]);
    assert!(
        text(&again.stdout).contains("imported 0 order(s), 3 already present"),
        "{}",
        text(&again.stdout)
    );

    let shown = cli.ok(&[
        "customer",
        "show",
        "--store",
        "shop",
        "--email",
        "ada@example.com",
    ]);
    for needle in [
        "customer c1",
        "orders:     2 on 2 day(s)",
        "30.50 USD",
        "Cat food ×2",
        "WELCOME10",
    ] {
        assert!(shown.contains(needle), "{needle} in {shown}");
    }
    let json: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "customer",
        "show",
        "--store",
        "shop",
        "--customer",
        "guest:guest@example.com",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["stats"]["orders"], 1);
    assert_eq!(json["stats"]["total_spent"][0]["minor"], 700);
}

#[test]
fn import_reads_shopify_order_json_lines() {
    let cli = Cli::new("jsonl");
    cli.ok(&[
        "store",
        "add",
        "--store",
        "shop",
        "--platform",
        "shopify",
        "--webhook-secret",
        "secret-secret",
    ]);
    let line = |id: u64, total: &str| {
        serde_json::json!({"id": id, "email": "j@example.com", "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
            "currency": "USD", "total_price": total, "line_items": [], "customer": {"id": 77, "email": "j@example.com"}})
        .to_string()
    };
    let file = cli.file(
        "orders.jsonl",
        &format!("{}\n{}\n{{not json\n", line(1, "3.00"), line(2, "4.00")),
    );
    let out = cli.run(&["import", "--store", "shop", &file]);
    assert!(
        text(&out.stdout).contains("imported 2 order(s), 0 already present, 1 bad row(s) of 3"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("line 3: body is not valid JSON"),
        "{}",
        text(&out.stderr)
    );
    assert!(cli
        .ok(&["customer", "show", "--store", "shop", "--customer", "77"])
        .contains("7.00 USD"));
}

#[test]
fn import_names_what_is_wrong_with_the_file_itself() {
    let cli = Cli::new("importerr");
    cli.ok(&[
        "store",
        "add",
        "--store",
        "shop",
        "--platform",
        "generic",
        "--webhook-secret",
        "secret-secret",
    ]);
    let wrong = cli.file("wrong.csv", "id,when\n1,2\n");
    assert!(cli
        .fails(&["import", "--store", "shop", &wrong])
        .contains("the header lacks customer_id"));
    assert!(cli
        .fails(&["import", "--store", "shop", "/nonexistent.csv"])
        .contains("reading /nonexistent.csv"));
    assert!(cli
        .fails(&["import", "--store", "nostore", &wrong])
        .contains("no store nostore"));
}

#[test]
fn model_fit_reports_bad_rows_and_fits_cdnow_offline() {
    let dir = std::env::temp_dir().join(format!("model-fit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "customer_id,date,amount\nc1,2024-01-01,10.00\nc1,2024-13-01,5\nc2,2024-01-03,abc\n",
    )
    .unwrap();
    // No AWS environment at all: the command must not need it.
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_retention"))
            .args(args)
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap()
    };
    let out = run(&[
        "model",
        "fit",
        "--transactions",
        bad.to_str().unwrap(),
        "--calibration-end",
        "2024-06-30",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("line 3: date `2024-13-01`") && err.contains("line 4: amount `abc`"),
        "{err}"
    );

    let datasets = std::env::var_os("RETENTION_DATASETS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
        });
    let Ok(raw) = std::fs::read_to_string(datasets.join("cdnow/CDNOW_sample.txt")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CDNOW dataset missing under {}",
            datasets.display()
        );
        eprintln!(
            "!!!!!!!! CDNOW DATASET MISSING under {}: model fit on CDNOW skipped",
            datasets.display()
        );
        return;
    };
    let mut csv = String::from("customer_id,date,amount\n");
    for line in raw.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        csv.push_str(&format!(
            "{},{}-{}-{},{}\n",
            f[1],
            &f[2][..4],
            &f[2][4..6],
            &f[2][6..],
            f[4]
        ));
    }
    let file = dir.join("cdnow.csv");
    std::fs::write(&file, csv).unwrap();
    let out = run(&[
        "model",
        "fit",
        "--transactions",
        file.to_str().unwrap(),
        "--calibration-end",
        "1997-09-30",
        "--holdout-end",
        "1998-06-30",
        "--unit",
        "weeks",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = report.to_string();
    assert!(
        text.contains("0.2425") && text.contains("4.4136"),
        "BG/NBD r and alpha in weeks: {text:.400}"
    );
}

/// No cap on a customer's orders: each order is an item of its own under the customer, and showing
/// the customer reads all of them (several Query pages), not one 400 KB item.
#[test]
fn a_customer_with_5000_orders_is_imported_and_shown() {
    let cli = Cli::new("whale");
    cli.ok(&[
        "store",
        "add",
        "--store",
        "shop",
        "--platform",
        "generic",
        "--webhook-secret",
        "secret-secret",
    ]);
    let mut csv = String::from("customer_id,email,order_id,created_at,total,currency,categories\n");
    for i in 0..5000 {
        let day = chrono::NaiveDate::from_ymd_opt(2015, 1, 1).unwrap() + chrono::Days::new(i);
        csv.push_str(&format!(
            "whale,whale@example.com,w{i},{day},1.25,USD,Wholesale\n"
        ));
    }
    // A neighbour in the same store, so the customer's key range is shown to stop at their end.
    csv.push_str("minnow,minnow@example.com,m1,2024-01-01,9.00,USD,Toys\n");
    let file = cli.file("whale.csv", &csv);
    let out = cli.ok(&["import", "--store", "shop", &file, "--concurrency", "32"]);
    assert!(
        out.contains("imported 5001 order(s), 0 already present, 0 bad row(s) of 5001"),
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "customer",
        "show",
        "--store",
        "shop",
        "--customer",
        "whale",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["stats"]["orders"], 5000, "{}", json["stats"]);
    assert_eq!(json["stats"]["purchase_days"], 5000);
    assert_eq!(json["stats"]["total_spent"][0]["minor"], 625_000);
    assert_eq!(json["stats"]["categories"]["Wholesale"], 5000);
    assert!(json["stats"]["categories"].get("Toys").is_none());
    let text = cli.ok(&[
        "customer",
        "show",
        "--store",
        "shop",
        "--email",
        "whale@example.com",
    ]);
    assert!(text.contains("orders:     5000 on 5000 day(s)"), "{text}");
    // The store's listing streams page by page and still shows both, whole.
    let listed = cli.ok(&["customer", "list", "--store", "shop", "--json"]);
    let orders: Vec<u64> = listed
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["stats"]["orders"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut sorted = orders.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 5000]);
}

/// `retention scan` killed with SIGKILL halfway through the scoring, run again: it resumes the same
/// run and ends with exact totals; then the runs, the export and a customer's figures.
#[test]
fn scan_killed_halfway_resumes_with_exact_totals_and_the_scores_export() {
    use retention_core::churn::score::FALLBACK_PRIORS_DAYS;
    use retention_core::churn::simulate::simulate_pareto_histories;
    use std::io::BufRead;
    let cli = Cli::new("scan");
    cli.ok(&[
        "store",
        "add",
        "--store",
        "shop",
        "--platform",
        "generic",
        "--webhook-secret",
        "secret-secret",
        "--timezone",
        "UTC",
        "--currency",
        "USD",
    ]);
    const CUSTOMERS: usize = 300;
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let mut csv = String::from("customer_id,email,order_id,created_at,total,currency\n");
    for (i, days) in simulate_pareto_histories(&FALLBACK_PRIORS_DAYS, CUSTOMERS, 330.0, 365.0, 5)
        .iter()
        .enumerate()
    {
        for (k, t) in days.iter().enumerate() {
            let day = start + chrono::Days::new(*t as u64);
            csv.push_str(&format!(
                "c{i},c{i}@example.com,o{i}-{k},{day},{}.00,USD\n",
                15 + (i * 7 + k) % 40
            ));
        }
    }
    let file = cli.file("history.csv", &csv);
    cli.ok(&["import", "--store", "shop", &file, "--concurrency", "32"]);

    let args = [
        "scan",
        "--store",
        "shop",
        "--as-of",
        "2025-12-31",
        "--segments",
        "8",
        "--workers",
        "2",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_retention"))
        .args(args)
        .envs(retention_tests::aws_env())
        .env("RETENTION_TABLE", &cli.table)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed as soon as the first segment is scored: the rest of the scoring is unfinished.
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.trim_start().starts_with("score") {
            child.kill().unwrap(); // SIGKILL: no chance to tidy up
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed before the end: {seen:?}");

    let out = cli.run(&args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("resuming the run in 8 segments, at score"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "customers: {CUSTOMERS} read, {CUSTOMERS} scored, {CUSTOMERS} written, 0 unchanged"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("method:    Pareto/NBD fitted"), "{stdout}");

    let runs: serde_json::Value =
        serde_json::from_str(&cli.ok(&["scan", "runs", "--store", "shop", "--json"])).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["phase"], "done");
    assert_eq!(runs[0]["scores"]["written"], CUSTOMERS);

    let exported = cli.ok(&["scores", "--store", "shop"]);
    let mut lines = exported.lines();
    assert_eq!(
        lines.next(),
        Some("customer_id,as_of,churn_risk,p_alive,expected_purchases,bucket,segment,predicted_clv,next_order_date,method")
    );
    assert_eq!(lines.count(), CUSTOMERS);
    let json = cli.ok(&["scores", "--store", "shop", "--format", "json"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["method"], "fitted");
    assert_eq!(json.lines().count(), CUSTOMERS);

    let shown = cli.ok(&["customer", "show", "--store", "shop", "--customer", "c1"]);
    assert!(
        shown.contains("churn risk:") && shown.contains("why:"),
        "{shown}"
    );
    let as_json: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "customer",
        "show",
        "--store",
        "shop",
        "--customer",
        "c1",
        "--json",
    ]))
    .unwrap();
    assert_eq!(as_json["score"]["as_of"], "2025-12-31");

    // Bad input: a clear message and a non-zero exit, nothing started.
    assert!(cli
        .fails(&["scan", "--store", "nope"])
        .contains("no store nope"));
    assert!(cli.fails(&["scan"]).contains("--store"));
    assert!(cli
        .fails(&[
            "scan",
            "--store",
            "shop",
            "--as-of",
            "2025-01-01",
            "--segments",
            "0"
        ])
        .contains("segment"));
    assert!(cli
        .fails(&["scan", "--store", "shop", "--as-of", "31/12/2025"])
        .contains("as-of"));
}

/// The SES samples (events/ses/) through the email-events handler on the CLI's table, as the
/// deployed function would have recorded them, after 1,000 sends on their day.
fn record_ses_samples(table: &str) {
    use retention_app::ports::Reputation;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let table = std::sync::Arc::new(retention_dynamodb::Table::new(
            retention_dynamodb::client(&retention_tests::aws()),
            table,
        ));
        let store = retention_core::StoreId::parse("demo-shop").unwrap();
        let day = "2026-12-04".parse().unwrap();
        let sent = retention_core::email::reputation::DayCounts {
            sent: 1000,
            ..Default::default()
        };
        table.add(&store, day, &sent).await.unwrap();
        let app = email_events::App::new(
            email_events::ports(table, None),
            retention_core::email::reputation::ReputationPolicy::default(),
        )
        .with_clock(retention_function::fixed_clock(
            "2026-12-04T20:00:00Z".parse().unwrap(),
        ));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/ses");
        for f in [
            "bounce-permanent.eventbridge.json",
            "bounce-transient.eventbridge.json",
            "complaint.eventbridge.json",
            "bounce.sns.json",
        ] {
            let event =
                serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
            email_events::handle(&app, event).await.unwrap();
        }
    });
}

#[test]
fn email_suppressions_and_status_show_what_ses_reported() {
    let cli = Cli::new("suppressions");
    cli.ok(&[
        "store",
        "add",
        "--store",
        "demo-shop",
        "--platform",
        "shopify",
        "--webhook-secret",
        "demo-secret",
    ]);
    let empty = cli.ok(&["email", "suppressions", "--store", "demo-shop", "--json"]);
    assert_eq!(empty.trim(), "[]");
    record_ses_samples(&cli.table);

    let rows: serde_json::Value =
        serde_json::from_str(&cli.ok(&["email", "suppressions", "--store", "demo-shop", "--json"]))
            .unwrap();
    let rows = rows.as_array().unwrap();
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["email"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    // Oldest first; the transient bounce (maya.chen) is not there.
    assert_eq!(
        got,
        [
            ("gone.away@example.com", "bounce"),
            ("typo.address@exmaple.com", "bounce"),
            ("annoyed.reader@example.com", "complaint"),
        ]
    );
    assert_eq!(rows[0]["at"], "2026-12-04T15:02:10.512Z");
    assert_eq!(rows[2]["detail"], "abuse");
    let table = cli.ok(&["email", "suppressions", "--store", "demo-shop"]);
    assert!(table.contains("3 suppressed"), "{table}");
    assert!(table.contains("marketing is"), "{table}");

    let at = "2026-12-04T20:00:00Z";
    let status: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "email",
        "status",
        "--store",
        "demo-shop",
        "--now",
        at,
        "--json",
    ]))
    .unwrap();
    assert_eq!(status["paused"], true, "{status}");
    assert_eq!(status["counts"]["complained"], 1);
    assert_eq!(status["counts"]["bounced"], 2);
    assert_eq!(status["complaint_rate"], "0.10%");
    assert!(status["reason"]
        .as_str()
        .unwrap()
        .starts_with("complaint rate 0.10%"));
    let text = cli.ok(&["email", "status", "--store", "demo-shop", "--now", at]);
    assert!(
        text.contains("marketing is PAUSED: complaint rate 0.10%"),
        "{text}"
    );
    assert!(text.contains("1 transient bounces"), "{text}");
    // A month later the window has moved on.
    let later = cli.ok(&[
        "email",
        "status",
        "--store",
        "demo-shop",
        "--now",
        "2027-01-10T12:00:00Z",
    ]);
    assert!(later.contains("marketing is not paused"), "{later}");

    let err = cli.fails(&["email", "suppressions", "--store", "nope"]);
    assert!(err.contains("no store nope"), "{err}");
}

/// The operator's broadcast end to end: branding (bad values refused, naming the option), a history
/// with consent and first names imported, a broadcast queued twice (once), the sender's drain (the
/// consenting customer only), the outbox as JSON, and a preview that escapes what a customer typed.
#[test]
fn email_queue_send_outbox_and_preview_through_the_cli() {
    let cli = Cli::new("email");
    cli.ok(&[
        "store",
        "add",
        "--store",
        "mail-shop",
        "--platform",
        "generic",
        "--webhook-secret",
        "mail-shop-secret",
        "--name",
        "Mail Shop",
        "--currency",
        "USD",
    ]);
    let bad = cli.fails(&[
        "store",
        "set",
        "--store",
        "mail-shop",
        "--brand-color",
        "teal",
    ]);
    assert!(
        bad.contains("brand-color") || bad.contains("#RRGGBB"),
        "{bad}"
    );
    let bad = cli.fails(&[
        "store",
        "set",
        "--store",
        "mail-shop",
        "--quiet-hours",
        "9pm-8am",
    ]);
    assert!(bad.to_lowercase().contains("quiet"), "{bad}");
    cli.ok(&[
        "store",
        "set",
        "--store",
        "mail-shop",
        "--from-email",
        "hello@mail-shop.example",
        "--postal-address",
        "1 Main St, Springfield",
        "--brand-color",
        "#0a7c59",
        "--logo-url",
        "https://mail-shop.example/logo.png",
        "--max-send-rate",
        "20",
    ]);
    let csv = cli.file(
        "mail.csv",
        "customer_id,email,order_id,created_at,total,currency,first_name,accepts_marketing\n\
         c1,ada@example.com,o1,2026-10-01,20.00,USD,<b>Ada</b>,yes\n\
         c2,bob@example.com,o2,2026-10-02,30.00,USD,Bob,no\n",
    );
    cli.ok(&["import", "--store", "mail-shop", &csv]);

    let unknown = cli.fails(&[
        "email",
        "queue",
        "--store",
        "mail-shop",
        "--template",
        "dog-offer",
        "--all",
    ]);
    assert!(unknown.contains("dog-offer"), "{unknown}");
    let bad_now = cli.fails(&[
        "email",
        "send",
        "--store",
        "mail-shop",
        "--now",
        "yesterday",
    ]);
    assert!(
        bad_now.contains("--now") || bad_now.contains("yesterday"),
        "{bad_now}"
    );
    let now = "2026-12-04T12:00:00Z";
    let queue = [
        "email",
        "queue",
        "--store",
        "mail-shop",
        "--template",
        "win-back",
        "--all",
        "--key",
        "cli-1",
        "--now",
        now,
    ];
    cli.ok(&queue);
    cli.ok(&queue);
    cli.ok(&["email", "verify-sender", "--store", "mail-shop"]);
    let sent = cli.ok(&["email", "send", "--store", "mail-shop", "--now", now]);
    assert!(sent.contains("1 sent"), "{sent}");
    assert!(sent.contains("no_consent"), "{sent}");
    let again = cli.ok(&["email", "send", "--store", "mail-shop", "--now", now]);
    assert!(again.contains("0 sent"), "{again}");

    let rows: serde_json::Value =
        serde_json::from_str(&cli.ok(&["email", "outbox", "--store", "mail-shop", "--json"]))
            .unwrap();
    let mut got: Vec<(String, String, String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("customer_id"), s("email"), s("status"), s("reason"))
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "c1".into(),
                "ada@example.com".into(),
                "sent".into(),
                String::new()
            ),
            (
                "c2".into(),
                "bob@example.com".into(),
                "skipped".into(),
                "no_consent".into()
            ),
        ]
    );

    let out = cli.dir.join("preview.html");
    let out = out.to_string_lossy();
    cli.ok(&[
        "email",
        "preview",
        "--store",
        "mail-shop",
        "--template",
        "win-back",
        "--customer",
        "c1",
        "--out",
        &out,
    ]);
    let html = std::fs::read_to_string(&*out).unwrap();
    assert!(
        html.contains("&lt;b&gt;Ada&lt;&#x2f;b&gt;"),
        "the first name stays text"
    );
    assert!(!html.contains("<b>Ada</b>"));
    assert!(html.contains("1 Main St, Springfield"));
    let missing = cli.fails(&[
        "email",
        "preview",
        "--store",
        "mail-shop",
        "--template",
        "win-back",
        "--customer",
        "c9",
        "--out",
        &out,
    ]);
    assert!(missing.contains("c9"), "{missing}");
}
