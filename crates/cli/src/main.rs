//! `retention`: the operator's tool. Every error says what was wrong and exits non-zero.

mod coupons;
mod email;
mod model;
mod scan;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use retention_app::customers::Stream;
use retention_app::ports::Customers;
use retention_app::{Applied, Deliveries};
use retention_aws::{Aws, Settings};
use retention_core::profile::{Profile, ProfileStats};
use retention_core::segment::Segment;
use retention_core::store::{Store, WebhookSecret};
use retention_core::webhook::Platform;
use retention_core::{Currency, CustomerId, Email, StoreId};
use retention_dynamodb::{schema, Table};
use retention_ssm::PlatformSecrets;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "retention",
    version,
    about = "Operate the retention engine: table, stores, customers, history."
)]
struct Cli {
    /// DynamoDB table (env RETENTION_TABLE).
    #[arg(
        long,
        global = true,
        env = "RETENTION_TABLE",
        default_value = "retention"
    )]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table (idempotent).
    Init,
    /// Register and manage stores.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Look at customers.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Import historical orders (CSV or platform order JSON lines). Safe to run twice.
    Import(ImportArgs),
    /// Issue coupons in bulk, look at them, revoke them, store platform credentials.
    #[command(subcommand)]
    Coupons(coupons::CouponsCommand),
    /// Fit and judge the churn models on a transaction export (offline, no AWS).
    #[command(subcommand)]
    Model(ModelCommand),
    /// Score every customer of a store: the churn scan, in this process (`scan runs`: past runs).
    Scan(scan::ScanCommand),
    /// Export the scan's figures per customer (CSV with a header, or JSON lines).
    Scores(scan::ScoresArgs),
    /// Email through the outbox: queue a broadcast, send what is due, look at the outbox, preview a
    /// template, verify the sender; the store's suppressions and reputation (paused or not, and why).
    #[command(subcommand)]
    Email(email::EmailCommand),
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Fit BG/NBD, Pareto/NBD and Gamma-Gamma to a CSV customer_id,date,amount; with
    /// --holdout-end, score them against what happened next.
    Fit(model::ModelFitArgs),
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Register a store, or update it. A new --webhook-secret for an existing store is added beside
    /// the current one (rotation): both verify until `store remove-secret` drops the old one.
    Add(StoreAdd),
    /// Stop accepting a webhook secret.
    RemoveSecret {
        #[arg(long)]
        store: StoreId,
        #[arg(long)]
        secret: String,
    },
    /// Replace the store's API key for the coupon endpoints; prints the new key once.
    RotateKey {
        #[arg(long)]
        store: StoreId,
    },
    /// Set the store's branding and sending settings (what is not given stays).
    Set(email::StoreSet),
    /// Show a store's registration (secrets masked).
    Show {
        #[arg(long)]
        store: StoreId,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum PlatformArg {
    Shopify,
    Woocommerce,
    Generic,
}

impl From<PlatformArg> for Platform {
    fn from(p: PlatformArg) -> Platform {
        match p {
            PlatformArg::Shopify => Platform::Shopify,
            PlatformArg::Woocommerce => Platform::Woocommerce,
            PlatformArg::Generic => Platform::Generic,
        }
    }
}

#[derive(Args)]
struct StoreAdd {
    #[arg(long)]
    store: StoreId,
    #[arg(long, value_enum)]
    platform: PlatformArg,
    #[arg(long)]
    webhook_secret: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long, value_parser = parse_email)]
    from_email: Option<Email>,
    /// IANA time zone, e.g. Europe/Berlin.
    #[arg(long)]
    timezone: Option<String>,
    #[arg(long, value_parser = parse_currency)]
    currency: Option<Currency>,
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// A customer's profile and figures.
    Show {
        #[arg(long)]
        store: StoreId,
        #[arg(long, conflicts_with = "email", required_unless_present = "email")]
        customer: Option<CustomerId>,
        #[arg(long, value_parser = parse_email)]
        email: Option<Email>,
        #[arg(long)]
        json: bool,
    },
    /// Every customer of a store, one line each.
    List {
        #[arg(long)]
        store: StoreId,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ImportArgs {
    #[arg(long)]
    store: StoreId,
    /// CSV with header customer_id,email,order_id,created_at,total,currency[,coupon_code,categories],
    /// or one Shopify/WooCommerce order JSON per line.
    file: PathBuf,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

pub(crate) fn parse_email(s: &str) -> Result<Email, String> {
    Email::parse(s).map_err(|e| e.to_string())
}
fn parse_currency(s: &str) -> Result<Currency, String> {
    Currency::parse(s).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Model(ModelCommand::Fit(args)) = &cli.command {
        return model::run(args); // Offline: no AWS client, no table.
    }
    let _ = Settings::from_env(); // The table comes from --table/RETENTION_TABLE via clap.
    let aws = Aws::for_workstation().await;
    let table = Table::new(retention_dynamodb::client(&aws), &cli.table);
    match cli.command {
        Command::Init => {
            let created = schema::create_table(table.client(), table.name())
                .await
                .with_context(|| format!("creating table {}", table.name()))?;
            println!(
                "table {} {}",
                table.name(),
                if created { "created" } else { "already exists" }
            );
        }
        Command::Store(StoreCommand::Add(args)) => store_add(&table, args).await?,
        Command::Store(StoreCommand::RemoveSecret { store, secret }) => {
            let (mut s, rev) = load_store(&table, &store).await?;
            let secret = WebhookSecret::new(secret);
            if !s.webhook_secrets.contains(&secret) {
                bail!("store {store} has no such webhook secret");
            }
            if s.webhook_secrets.len() == 1 {
                bail!("refusing to remove the store's only webhook secret; add the new one first");
            }
            s.webhook_secrets.retain(|x| *x != secret);
            if !table.put_store(&s, rev).await? {
                bail!("store {store} changed while this command ran; run it again");
            }
            println!(
                "store {store}: secret removed, {} left",
                s.webhook_secrets.len()
            );
        }
        Command::Store(StoreCommand::Show { store }) => {
            let (s, _) = load_store(&table, &store).await?;
            let mut shown = s.clone();
            shown.webhook_secrets = s
                .webhook_secrets
                .iter()
                .map(|x| mask(x.expose()).into())
                .collect();
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        Command::Customer(CustomerCommand::Show {
            store,
            customer,
            email,
            json,
        }) => {
            let id = match (customer, email) {
                (Some(c), _) => c,
                (None, Some(e)) => {
                    let found = Customers::find_by_email(&table, &store, &e).await?;
                    match found.as_slice() {
                        [] => bail!("no customer with email {e} in store {store}"),
                        [one] => one.clone(),
                        many => bail!(
                            "{} customers share email {e}: {}; use --customer",
                            many.len(),
                            many.iter()
                                .map(|c| c.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }
                }
                (None, None) => bail!("give --customer or --email"),
            };
            let Some(profile) = table.get_profile(&store, &id).await? else {
                bail!("no customer {id} in store {store}");
            };
            print_profile(&id, &profile, json)?;
        }
        Command::Customer(CustomerCommand::List { store, json }) => {
            // Page by page: memory holds one page, whatever the store's size.
            let mut stream = Stream::new(&table, &store, Segment::whole());
            while let Some(page) = stream.next_page().await? {
                for (id, profile) in page {
                    print_profile(&id, &profile, json)?;
                }
            }
        }
        Command::Import(args) => import(table, args).await?,
        Command::Coupons(cmd) => coupons::run(table, PlatformSecrets::from_env(&aws), cmd).await?,
        Command::Model(_) => unreachable!("handled before the table is opened"),
        Command::Scan(cmd) => scan::run(&table, cmd).await?,
        Command::Scores(args) => scan::scores(&table, args).await?,
        Command::Email(cmd) => {
            email::run(table, &aws, PlatformSecrets::from_env(&aws), cmd).await?
        }
        Command::Store(StoreCommand::Set(args)) => email::store_set(&table, args).await?,
        Command::Store(StoreCommand::RotateKey { store }) => {
            load_store(&table, &store).await?;
            coupons::print_api_key(&store, &coupons::new_api_key(&table, &store).await?);
        }
    }
    Ok(())
}

fn mask(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail} ({} characters)", secret.chars().count())
}

async fn load_store(table: &Table, id: &StoreId) -> Result<(Store, u64)> {
    table
        .get_store(id)
        .await?
        .with_context(|| format!("no store {id}; register it with `retention store add`"))
}

async fn store_add(table: &Table, a: StoreAdd) -> Result<()> {
    if a.webhook_secret.trim().len() < 8 {
        bail!("--webhook-secret is too short (at least 8 characters)");
    }
    if let Some(tz) = &a.timezone {
        if !retention_core::store::valid_timezone(tz) {
            bail!("--timezone {tz:?} is not an IANA zone such as Europe/Berlin");
        }
    }
    let platform: Platform = a.platform.into();
    for _ in 0..3 {
        let existing = table.get_store(&a.store).await?;
        let (store, rev, verb) = match existing {
            None => (
                Store {
                    id: a.store.clone(),
                    platform,
                    webhook_secrets: vec![a.webhook_secret.as_str().into()],
                    name: a.name.clone(),
                    from_email: a.from_email.clone(),
                    timezone: a.timezone.clone(),
                    currency: a.currency,
                    mail: Default::default(),
                },
                0,
                "registered",
            ),
            Some((mut s, rev)) => {
                if s.platform != platform {
                    bail!("store {} is a {} store, not {}", s.id, s.platform, platform);
                }
                s.add_secret(a.webhook_secret.as_str().into());
                s.name = a.name.clone().or(s.name);
                s.from_email = a.from_email.clone().or(s.from_email);
                s.timezone = a.timezone.clone().or(s.timezone);
                s.currency = a.currency.or(s.currency);
                (s, rev, "updated")
            }
        };
        if table.put_store(&store, rev).await? {
            println!(
                "store {} {verb} ({}, {} webhook secret{})",
                store.id,
                store.platform,
                store.webhook_secrets.len(),
                if store.webhook_secrets.len() == 1 {
                    ""
                } else {
                    "s: both verify until `retention store remove-secret`"
                }
            );
            if rev == 0 {
                coupons::print_api_key(&store.id, &coupons::new_api_key(table, &store.id).await?);
            }
            return Ok(());
        }
    }
    bail!(
        "store {} kept changing while this command ran; run it again",
        a.store
    )
}

fn print_profile(id: &CustomerId, profile: &Profile, json: bool) -> Result<()> {
    let stats = profile.stats();
    if json {
        let view = retention_core::profile::CustomerView {
            customer_id: id.clone(),
            profile: profile.clone(),
            stats,
        };
        println!("{}", serde_json::to_string(&view)?);
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "customer {id}{}",
        if profile.redacted {
            " (personal data erased)"
        } else {
            ""
        }
    )?;
    let p = &profile.person;
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    writeln!(
        out,
        "  email:      {}",
        p.email
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "-".into())
    )?;
    let name = match (&p.first_name, &p.last_name) {
        (None, None) => "-".to_string(),
        _ => [dash(&p.first_name), dash(&p.last_name)].join(" "),
    };
    writeln!(out, "  name:       {name}")?;
    let consent = profile.marketing_consent();
    writeln!(
        out,
        "  marketing:  {} ({}{})",
        consent.state.as_str(),
        consent.source.as_str(),
        consent
            .at
            .map(|at| format!(", {}", at.to_rfc3339()))
            .unwrap_or_default()
    )?;
    if let Some(b) = &p.birthday {
        writeln!(out, "  birthday:   {b}")?;
    }
    write_stats(&mut out, &stats)?;
    if let Some(s) = &profile.score {
        writeln!(
            out,
            "  churn risk: {:.0} % ({}), P(alive) {:.2}, {:.2} orders expected in the horizon, as of {}{}",
            100.0 * s.churn_risk,
            serde_json::to_value(s.bucket)?.as_str().unwrap_or("?"),
            s.p_alive,
            s.expected_purchases,
            s.as_of,
            if s.fitted { "" } else { " (fallback priors)" }
        )?;
        writeln!(
            out,
            "  segment:    {} (R{} F{} M{}), next order {}, predicted value {}",
            s.segment.name(),
            s.rfm.recency,
            s.rfm.frequency,
            s.rfm.monetary,
            s.expected_next_order
                .map_or("not expected".into(), |d| d.to_string()),
            match stats.total_spent.first() {
                Some(m) =>
                    retention_core::Money::new(s.predicted_clv_minor, m.currency).to_string(),
                None => format!("{} (minor units)", s.predicted_clv_minor),
            }
        )?;
        for r in &s.reasons {
            writeln!(out, "  why:        {r}")?;
        }
    }
    Ok(())
}

fn write_stats(out: &mut impl Write, s: &ProfileStats) -> std::io::Result<()> {
    let list = |m: &[retention_core::Money]| {
        if m.is_empty() {
            "-".to_string()
        } else {
            m.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    writeln!(
        out,
        "  orders:     {} on {} day(s), {} cancelled or deleted",
        s.orders, s.purchase_days, s.cancelled_orders
    )?;
    if let (Some(first), Some(last)) = (s.first_order_at, s.last_order_at) {
        writeln!(
            out,
            "  first/last: {} / {}",
            first.format("%Y-%m-%d"),
            last.format("%Y-%m-%d")
        )?;
    }
    writeln!(
        out,
        "  spent:      {} (refunded {})",
        list(&s.total_spent),
        list(&s.refunded)
    )?;
    if let Some(aov) = &s.average_order_value {
        writeln!(out, "  avg order:  {aov}")?;
    }
    if !s.categories.is_empty() {
        let cats: Vec<String> = s
            .categories
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        writeln!(out, "  bought:     {}", cats.join(", "))?;
    }
    if !s.coupon_codes.is_empty() {
        writeln!(
            out,
            "  coupons:    {}",
            s.coupon_codes
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    Ok(())
}

async fn import(table: Table, args: ImportArgs) -> Result<()> {
    let (store, _) = load_store(&table, &args.store).await?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let rows =
        retention_core::import::read_orders(store.platform, &text).map_err(anyhow::Error::msg)?;
    let total = rows.len();
    let table = Arc::new(table);
    let deliveries = Deliveries {
        ledger: table.clone(),
        erasure: table.clone(),
        redemptions: table,
    };
    let (mut imported, mut already, mut bad) = (0usize, 0usize, Vec::new());
    let mut running = tokio::task::JoinSet::new();
    let mut done = 0usize;
    let now = chrono::Utc::now();
    let mut pending = rows.into_iter();
    let mut report = |r: (usize, Result<Applied, String>), done: &mut usize| {
        *done += 1;
        match r.1 {
            Ok(Applied::Processed) => imported += 1,
            Ok(Applied::Duplicate) | Ok(Applied::Stale) => already += 1,
            Err(e) => bad.push((r.0, e)),
        }
        if (*done).is_multiple_of(500) || *done == total {
            eprint!("\rimport: {done}/{total} rows");
        }
    };
    loop {
        while running.len() < args.concurrency.max(1) {
            let Some((line, row)) = pending.next() else {
                break;
            };
            let deliveries = deliveries.clone();
            let store_id = args.store.clone();
            running.spawn(async move {
                let order = match row {
                    Ok(o) => o,
                    Err(e) => return (line, Err(e)),
                };
                // The row's own content is its delivery id: importing the same file twice is a no-op.
                let id = format!(
                    "import#{}#{}",
                    order.id,
                    order.updated_at.timestamp_millis()
                );
                let change = retention_core::webhook::Change::Order(order);
                let r = deliveries
                    .apply(&store_id, &change, &[id], now)
                    .await
                    .map_err(|e| format!("not stored: {e}"));
                (line, r)
            });
        }
        match running.join_next().await {
            Some(r) => report(r.context("an import task failed")?, &mut done),
            None => break,
        }
    }
    if total > 0 {
        eprintln!();
    }
    bad.sort();
    for (line, e) in &bad {
        eprintln!("line {line}: {e}");
    }
    println!(
        "imported {imported} order(s), {already} already present, {} bad row(s) of {total}",
        bad.len()
    );
    if !bad.is_empty() {
        bail!(
            "{} row(s) were not imported (listed above); fix them and run the import again",
            bad.len()
        );
    }
    Ok(())
}
