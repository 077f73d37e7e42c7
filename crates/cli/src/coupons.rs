//! `retention coupons …` and the store API key: bulk issue with progress, show, check, revoke,
//! list, and platform credentials. Issuing goes through the same library entry point as the
//! coupon-issuer function ([`retention_app::coupons::Issuer::issue`]).

use anyhow::{bail, Context, Result};
use chrono::{Duration, Utc};
use clap::{Args, Subcommand, ValueEnum};
use retention_app::coupons::{view as coupon_view, Issuer, IssuerPorts, CACHE_TTL};
use retention_app::customers::Stream;
use retention_core::coupon::{ApiKey, CouponCode, IssueRequest};
use retention_core::segment::Segment;
use retention_core::{Currency, CustomerId, Money, StoreId};
use retention_dynamodb::Table;
use retention_platforms::{PlatformCheckouts, RetryPolicy};
use retention_ssm::PlatformSecrets;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Subcommand)]
pub enum CouponsCommand {
    /// Issue one coupon per customer of a file or a segment; safe to run again (the same
    /// campaign and customer always get the same coupon). Prints customer_id,code lines.
    Issue(BulkIssue),
    /// A coupon, its terms, uses and checkout state.
    Show {
        #[arg(long)]
        store: StoreId,
        #[arg(long)]
        code: String,
    },
    /// Whether a code is valid (for a customer and an order total), and why not.
    Check {
        #[arg(long)]
        store: StoreId,
        #[arg(long)]
        code: String,
        #[arg(long)]
        customer: Option<CustomerId>,
        /// Decimal, in --currency.
        #[arg(long, requires = "currency")]
        order_total: Option<String>,
        #[arg(long)]
        currency: Option<String>,
    },
    /// Stop a coupon from being valid (already recorded uses stay).
    Revoke {
        #[arg(long)]
        store: StoreId,
        #[arg(long)]
        code: String,
    },
    /// Every coupon of a store (optionally one campaign's), one JSON line each.
    List {
        #[arg(long)]
        store: StoreId,
        #[arg(long)]
        campaign: Option<String>,
    },
    /// Store the platform credentials (JSON, see docs/coupons.md) as an SSM SecureString. Reads
    /// the file, or standard input with `-`, so the secret never appears in a command line.
    SetCredentials {
        #[arg(long)]
        store: StoreId,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    Percentage,
    FixedAmount,
    FreeShipping,
}

#[derive(Args)]
pub struct BulkIssue {
    #[arg(long)]
    store: StoreId,
    #[arg(long)]
    campaign: String,
    /// One customer id per line, or a CSV with a `customer_id` column (and optionally `email`).
    #[arg(long, conflicts_with = "segment", required_unless_present = "segment")]
    customers: Option<PathBuf>,
    /// `all` (every known customer) or `lapsed:<days>` (no order for that many days).
    #[arg(long)]
    segment: Option<String>,
    #[arg(long, value_enum)]
    kind: KindArg,
    /// Percent (15, 12.5) or amount (10.00); none for free shipping.
    #[arg(long)]
    value: Option<String>,
    #[arg(long)]
    currency: Option<String>,
    #[arg(long)]
    minimum_order: Option<String>,
    /// A date (2026-12-31: through its end, UTC) or an RFC 3339 time.
    #[arg(
        long,
        conflicts_with = "expires_in_days",
        required_unless_present = "expires_in_days"
    )]
    expires_at: Option<String>,
    #[arg(long)]
    expires_in_days: Option<u32>,
    #[arg(long, default_value_t = 1)]
    usage_limit: u32,
    #[arg(long)]
    prefix: Option<String>,
    /// Issues in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Write customer_id,code here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Makes a new API key for the store, stores its hash (replacing any earlier key) and returns it
/// to be shown once.
pub async fn new_api_key(table: &Table, store: &StoreId) -> Result<ApiKey> {
    let key = ApiKey::generate_secure();
    table
        .put_api_key(store, &key.hash(), Utc::now())
        .await
        .with_context(|| format!("storing the API key of store {store}"))?;
    Ok(key)
}

/// What `store add` and `store rotate-key` print: the key, once, and how to use it.
pub fn print_api_key(store: &StoreId, key: &ApiKey) {
    println!("API key for store {store} (shown once; only its hash is kept):");
    println!("  {}", key.expose());
    println!("  use it as: Authorization: Bearer <key>  on /stores/{store}/coupons");
}

fn parse_code(code: &str) -> Result<CouponCode> {
    CouponCode::parse(code).map_err(|e| anyhow::anyhow!("--code {code:?}: {e}"))
}

/// `secrets`: the SSM client is built only by the commands that read or write credentials.
pub async fn run(table: Table, secrets: PlatformSecrets, cmd: CouponsCommand) -> Result<()> {
    match cmd {
        CouponsCommand::Issue(args) => bulk_issue(table, secrets, args).await,
        CouponsCommand::Show { store, code } => {
            let code = parse_code(&code)?;
            let Some(c) = table.get_coupon(&store, &code).await? else {
                bail!("no coupon {code} in store {store}");
            };
            let mut view = coupon_view(&c, Utc::now());
            view["redemptions"] = serde_json::to_value(&c.redemptions)?;
            view["invalid_redemptions"] = serde_json::to_value(&c.invalid_redemptions)?;
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(())
        }
        CouponsCommand::Check {
            store,
            code,
            customer,
            order_total,
            currency,
        } => {
            let code = parse_code(&code)?;
            let Some(c) = table.get_coupon(&store, &code).await? else {
                bail!("no coupon {code} in store {store}");
            };
            let total = match (order_total, currency) {
                (Some(t), Some(cur)) => Some(Money::parse(&t, Currency::parse(&cur)?)?),
                _ => None,
            };
            match c.validate(customer.as_ref(), Utc::now(), total) {
                Ok(()) => println!("{code}: valid ({})", c.terms),
                Err(why) => println!("{code}: NOT valid: {why} ({})", why.code()),
            }
            Ok(())
        }
        CouponsCommand::Revoke { store, code } => {
            let code = parse_code(&code)?;
            if !table.revoke_coupon(&store, &code, Utc::now()).await? {
                bail!("no coupon {code} in store {store}");
            }
            println!("{code}: revoked");
            Ok(())
        }
        CouponsCommand::List { store, campaign } => {
            let now = Utc::now();
            let mut out = std::io::stdout().lock();
            for c in table.list_coupons(&store).await? {
                if campaign
                    .as_deref()
                    .is_some_and(|k| k != c.campaign.as_str())
                {
                    continue;
                }
                writeln!(out, "{}", coupon_view(&c, now))?;
            }
            Ok(())
        }
        CouponsCommand::SetCredentials { store, file } => {
            let mut text = String::new();
            if file.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
            }
            let secret = SecretString::from(text.trim().to_string());
            // Check the shape before storing; the error never repeats the content.
            retention_platforms::Credentials::from_json(&secret)?;
            secrets.put(&store, &secret).await?;
            println!(
                "platform credentials for store {store} stored as SecureString {}",
                secrets.parameter_name(&store)
            );
            Ok(())
        }
    }
}

/// (customer, email) pairs from a file: plain ids, or a CSV with a header naming `customer_id`.
fn read_customers(path: &PathBuf) -> Result<Vec<(CustomerId, Option<String>)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        return Ok(vec![]);
    };
    let header: Vec<&str> = first.split(',').map(str::trim).collect();
    let (id_col, email_col, rows): (usize, Option<usize>, Vec<(usize, &str)>) =
        match header.iter().position(|h| *h == "customer_id") {
            Some(i) => (
                i,
                header.iter().position(|h| *h == "email"),
                lines.collect(),
            ),
            None => (0, None, std::iter::once((0, first)).chain(lines).collect()),
        };
    let mut out = Vec::with_capacity(rows.len());
    for (n, line) in rows {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let id = cols
            .get(id_col)
            .with_context(|| format!("line {}: no customer id", n + 1))?;
        let id = CustomerId::parse(*id).map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?;
        let email = email_col
            .and_then(|c| cols.get(c))
            .filter(|e| !e.is_empty())
            .map(|e| e.to_string());
        out.push((id, email));
    }
    Ok(out)
}

async fn segment(
    table: &Table,
    store: &StoreId,
    name: &str,
) -> Result<Vec<(CustomerId, Option<String>)>> {
    let lapsed_days = match name {
        "all" => None,
        other => match other
            .strip_prefix("lapsed:")
            .and_then(|d| d.parse::<i64>().ok())
        {
            Some(d) => Some(d),
            None => bail!("unknown segment {other:?}; use `all` or `lapsed:<days>`"),
        },
    };
    let now = Utc::now();
    let mut out = Vec::new();
    let mut stream = Stream::new(table, store, Segment::whole());
    while let Some(page) = stream.next_page().await? {
        out.extend(
            page.into_iter()
                .filter(|(_, p)| !p.redacted)
                .filter(|(_, p)| match lapsed_days {
                    None => true,
                    Some(d) => p
                        .stats()
                        .last_order_at
                        .is_some_and(|t| now - t >= Duration::days(d)),
                })
                .map(|(id, p)| (id, p.person.email.map(|e| e.to_string()))),
        );
    }
    Ok(out)
}

/// The coupon use case as the CLI runs it: DynamoDB for the records, the platform's API (with
/// credentials from SSM) for the checkout side.
pub(crate) fn issuer(table: Arc<Table>, secrets: PlatformSecrets) -> Issuer {
    Issuer::new(IssuerPorts {
        stores: table.clone(),
        coupons: table.clone(),
        customers: table,
        checkouts: Some(Arc::new(PlatformCheckouts::new(
            Arc::new(secrets),
            RetryPolicy::default(),
            CACHE_TTL,
        ))),
    })
}

async fn bulk_issue(table: Table, secrets: PlatformSecrets, a: BulkIssue) -> Result<()> {
    let customers = match (&a.customers, &a.segment) {
        (Some(f), _) => read_customers(f)?,
        (None, Some(s)) => segment(&table, &a.store, s).await?,
        (None, None) => bail!("give --customers FILE or --segment NAME"),
    };
    if table.get_store(&a.store).await?.is_none() {
        bail!(
            "no store {}; register it with `retention store add`",
            a.store
        );
    }
    let kind = match a.kind {
        KindArg::Percentage => "percentage",
        KindArg::FixedAmount => "fixed_amount",
        KindArg::FreeShipping => "free_shipping",
    };
    let template = json!({
        "campaign": a.campaign,
        "kind": kind,
        "value": a.value,
        "currency": a.currency,
        "minimum_order": a.minimum_order,
        "expires_at": a.expires_at,
        "expires_in_days": a.expires_in_days,
        "usage_limit": a.usage_limit,
        "prefix": a.prefix,
    });
    // Check the terms once, before anything is written.
    let mut probe = template.clone();
    probe["customer_id"] = json!("probe");
    let probe = IssueRequest::from_value(&strip_nulls(probe)).map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.to_string()
                .replace("field `", "option --")
                .replace('`', "")
        )
    })?;
    probe.terms(Utc::now())?;

    let requests_before = table.requests();
    let table = Arc::new(table);
    let issuer = Arc::new(issuer(table.clone(), secrets));
    let total = customers.len();
    let started = Instant::now();
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    writeln!(out, "customer_id,code")?;
    let (mut new, mut existing, mut failed) = (0usize, 0usize, Vec::new());
    let mut not_on_platform = 0usize;
    let mut codes: HashSet<String> = HashSet::with_capacity(total);
    let mut running = tokio::task::JoinSet::new();
    let mut pending = customers.into_iter();
    let mut done = 0usize;
    loop {
        while running.len() < a.concurrency.max(1) {
            let Some((customer, email)) = pending.next() else {
                break;
            };
            let mut body = template.clone();
            body["customer_id"] = json!(customer.as_str());
            body["email"] = json!(email);
            let req = IssueRequest::from_value(&strip_nulls(body));
            let issuer = issuer.clone();
            let store = a.store.clone();
            running.spawn(async move {
                let r = match req {
                    Ok(req) => issuer
                        .issue(&store, &req, None)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                (customer, r)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (customer, r) = joined.context("an issue task failed")?;
        done += 1;
        match r {
            Ok(issue) => {
                if issue.created {
                    new += 1;
                } else {
                    existing += 1;
                }
                if matches!(
                    issue.coupon.checkout,
                    retention_core::coupon::CheckoutSync::Failed { .. }
                ) {
                    not_on_platform += 1;
                }
                codes.insert(issue.coupon.code.normalized().to_string());
                writeln!(out, "{customer},{}", issue.coupon.code)?;
            }
            Err(e) => failed.push((customer, e)),
        }
        if done.is_multiple_of(1000) || done == total {
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            eprint!("\rcoupons: {done}/{total} ({rate:.0}/s)");
        }
    }
    out.flush()?;
    if total > 0 {
        eprintln!();
    }
    let secs = started.elapsed().as_secs_f64();
    for (c, e) in &failed {
        eprintln!("customer {c}: {e}");
    }
    let requests = table.requests() - requests_before;
    eprintln!(
        "issued {new} new, {existing} already issued, {} failed, of {total} customer(s) in {secs:.1} s ({:.0}/s); {} distinct code(s); {requests} DynamoDB request(s), {:.2} per customer",
        failed.len(),
        (new + existing) as f64 / secs.max(1e-9),
        codes.len(),
        requests as f64 / total.max(1) as f64,
    );
    if codes.len() != new + existing {
        bail!(
            "duplicate codes were handed out: {} codes for {} coupons",
            codes.len(),
            new + existing
        );
    }
    if not_on_platform > 0 {
        eprintln!("{not_on_platform} coupon(s) are not (yet) in the store's checkout; see `retention coupons show`, and issue again to retry");
    }
    if !failed.is_empty() {
        bail!(
            "{} customer(s) got no coupon (listed above); run the command again",
            failed.len()
        );
    }
    Ok(())
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    v
}
