//! `retention store set` (branding and sending settings) and `retention email …`: queue a broadcast
//! through the outbox, and look at the outbox. Queuing goes through the same use case the campaigns
//! will use ([`retention_app::mail::queue`]). `email suppressions` and `email status` show what SES's
//! bounces and complaints did (the email-events function records them): the store's list, and its
//! rolling window judged by the same pause rule the sender applies.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use retention_app::mail::{queue, Audience, QueuePorts, QueueRequest, Sender};
use retention_app::ports::{Customers, Outbox, Reputation, Suppressions};
use retention_aws::Aws;
use retention_core::email::outbox::{OfferSpec, QuietHours};
use retention_core::email::reputation::{DayCounts, ReputationPolicy};
use retention_core::store::Store;
use retention_core::store::{valid_color, valid_image_url};
use retention_core::{CustomerId, Email, StoreId};
use retention_dynamodb::Table;
use retention_email::{Composer, Links, Templates};
use retention_ses::Ses;
use retention_ssm::PlatformSecrets;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// `retention store set`: every flag optional; what is not given stays.
#[derive(Args)]
pub struct StoreSet {
    #[arg(long)]
    store: StoreId,
    #[arg(long, value_parser = crate::parse_email)]
    from_email: Option<Email>,
    /// The footer's postal address (marketing email needs one by law).
    #[arg(long)]
    postal_address: Option<String>,
    /// `#RRGGBB`.
    #[arg(long)]
    brand_color: Option<String>,
    /// An https:// image URL: the only thing an email loads.
    #[arg(long)]
    logo_url: Option<String>,
    /// `HH:MM-HH:MM` in the store's time zone (default 21:00-08:00); equal ends turn them off.
    #[arg(long, value_parser = parse_quiet)]
    quiet_hours: Option<QuietHours>,
    /// Emails per second when SES does not say (GetAccount), as locally.
    #[arg(long)]
    max_send_rate: Option<u32>,
}

fn parse_quiet(s: &str) -> Result<QuietHours, String> {
    s.parse()
}

pub async fn store_set(table: &Table, a: StoreSet) -> Result<()> {
    if let Some(c) = &a.brand_color {
        if !valid_color(c) {
            bail!("--brand-color {c:?} must be a colour as #RRGGBB, such as #0a7c59");
        }
    }
    if let Some(u) = &a.logo_url {
        if !valid_image_url(u) {
            bail!("--logo-url {u:?} must be an absolute http(s) URL of an image");
        }
    }
    if a.max_send_rate == Some(0) {
        bail!("--max-send-rate must be at least 1 (emails per second)");
    }
    if a.postal_address
        .as_deref()
        .is_some_and(|p| p.trim().is_empty())
    {
        bail!("--postal-address is empty");
    }
    for _ in 0..3 {
        let (mut s, rev) = table.get_store(&a.store).await?.with_context(|| {
            format!(
                "no store {}; register it with `retention store add`",
                a.store
            )
        })?;
        s.from_email = a.from_email.clone().or(s.from_email);
        let m = &mut s.mail;
        m.postal_address = a.postal_address.clone().or(m.postal_address.take());
        m.brand_color = a.brand_color.clone().or(m.brand_color.take());
        m.logo_url = a.logo_url.clone().or(m.logo_url.take());
        m.quiet_hours = a.quiet_hours.or(m.quiet_hours);
        m.max_send_rate = a.max_send_rate.or(m.max_send_rate);
        if table.put_store(&s, rev).await? {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "store": s.id,
                    "from_email": s.from_email,
                    "mail": s.mail,
                    "quiet_hours": s.mail.quiet_hours.unwrap_or_default().to_string(),
                }))?
            );
            return Ok(());
        }
    }
    bail!(
        "store {} kept changing while this command ran; run it again",
        a.store
    )
}

#[derive(Subcommand)]
pub enum EmailCommand {
    /// Queue a broadcast through the outbox: one message per customer under --key, so running it
    /// again changes nothing. `email send` (or the email-sender function) sends it.
    Queue(QueueArgs),
    /// Each message of the store's outbox: status (queued, deferred, sending, sent, skipped,
    /// failed), reason, due time and SES message id.
    Outbox {
        #[arg(long)]
        store: StoreId,
        #[arg(long)]
        json: bool,
    },
    /// Send what is due, as the email-sender function does each minute: consent, suppression,
    /// caps and quiet hours decided per message, paced to SES's rate (or the store's).
    Send {
        #[arg(long)]
        store: StoreId,
        /// The time to send at (RFC 3339): quiet hours, caps and due times follow it.
        #[arg(long)]
        now: Option<DateTime<Utc>>,
        #[arg(long)]
        json: bool,
    },
    /// Render a template for one customer as they would receive it: HTML to --out, text beside it
    /// (`--text FILE`). Coupon templates show the code PREVIEW.
    Preview {
        #[arg(long)]
        store: StoreId,
        /// win-back, vip-early-access, post-purchase, birthday, survey-invite, detractor-alert.
        #[arg(long)]
        template: String,
        #[arg(long)]
        customer: CustomerId,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        text: Option<PathBuf>,
    },
    /// Create the store's sender identity in SES and print the DNS records that verify it.
    VerifySender {
        #[arg(long)]
        store: StoreId,
    },
    /// The store's suppressed addresses (permanent bounces and complaints, from SES's events): email,
    /// reason, when, and SES's detail. `--json` prints one JSON array.
    Suppressions {
        #[arg(long)]
        store: StoreId,
        #[arg(long)]
        json: bool,
    },
    /// The store's sending reputation over the rolling window (sends, bounces, complaints and their
    /// rates) and whether marketing sends are paused, and why.
    Status {
        #[arg(long)]
        store: StoreId,
        /// The time to judge at (RFC 3339): the window ends on the store's day at that time.
        #[arg(long)]
        now: Option<DateTime<Utc>>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct QueueArgs {
    #[arg(long)]
    store: StoreId,
    /// win-back, vip-early-access, post-purchase, birthday, survey-invite.
    #[arg(long)]
    template: String,
    #[arg(long, conflicts_with_all = ["customers", "all"])]
    customer: Option<CustomerId>,
    /// A file of customer ids, one a line (a header `customer_id` is skipped).
    #[arg(long, conflicts_with = "all")]
    customers: Option<PathBuf>,
    /// Every customer of the store.
    #[arg(long)]
    all: bool,
    /// What makes the broadcast once per customer (default: the template and today's date).
    #[arg(long)]
    key: Option<String>,
    /// With --coupon-days: a percentage coupon per customer, issued once per key and customer.
    #[arg(long, requires = "coupon_days")]
    coupon_percent: Option<u32>,
    #[arg(long, requires = "coupon_percent")]
    coupon_days: Option<u32>,
    /// The time to queue at (RFC 3339), for reproducible runs.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
    #[arg(long)]
    json: bool,
}

const TEMPLATES: [&str; 5] = retention_email::CUSTOMER_TEMPLATES;

pub async fn run(
    table: Table,
    aws: &Aws,
    secrets: PlatformSecrets,
    cmd: EmailCommand,
) -> Result<()> {
    match cmd {
        EmailCommand::Queue(a) => queue_cmd(table, secrets, a).await,
        EmailCommand::Outbox { store, json } => outbox(&table, &store, json).await,
        EmailCommand::Send { store, now, json } => send(table, aws, &store, now, json).await,
        EmailCommand::Preview {
            store,
            template,
            customer,
            out,
            text,
        } => {
            preview(
                &table,
                aws,
                &store,
                &template,
                &customer,
                &out,
                text.as_deref(),
            )
            .await
        }
        EmailCommand::VerifySender { store } => verify_sender(&table, aws, &store).await,
        EmailCommand::Suppressions { store, json } => suppressions(&table, &store, json).await,
        EmailCommand::Status { store, now, json } => {
            status(&table, &store, now.unwrap_or_else(Utc::now), json).await
        }
    }
}

async fn registered(table: &Table, store: &StoreId) -> Result<Store> {
    table
        .get_store(store)
        .await?
        .map(|(s, _)| s)
        .with_context(|| format!("no store {store}; register it with `retention store add`"))
}

fn ses(aws: &Aws) -> Ses {
    Ses::new(
        retention_ses::client(aws),
        std::env::var("RETENTION_SES_CONFIGURATION_SET").ok(),
    )
}

async fn links(aws: &Aws) -> Result<retention_ssm::LinkConfig> {
    retention_ssm::link_config(aws)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn composer(links: &retention_ssm::LinkConfig) -> Result<Composer> {
    Ok(Composer::new(
        Templates::from_env().map_err(|e| anyhow::anyhow!("{e}"))?,
        Some(Links {
            secret: links.secret.clone(),
            base: links.public_url.clone(),
        }),
    ))
}

async fn send(
    table: Table,
    aws: &Aws,
    store: &StoreId,
    now: Option<DateTime<Utc>>,
    as_json: bool,
) -> Result<()> {
    registered(&table, store).await?;
    let links = links(aws).await?;
    let composer = composer(&links)?;
    let sender = Sender::new(
        email_sender::ports(Arc::new(table), Arc::new(ses(aws)), Arc::new(composer)),
        email_sender::config(links).map_err(anyhow::Error::msg)?,
    );
    let now = now.unwrap_or_else(Utc::now);
    let r = sender.drain(store, now).await?;
    if as_json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!(
        "store {store}: {} sent, {} deferred, {} failed, {} retried later, paced to {}/s ({})",
        r.sent, r.deferred, r.failed, r.retried, r.rate, r.rate_source
    );
    for (reason, n) in &r.skipped {
        println!("  skipped {n}: {reason}");
    }
    if let Some(p) = &r.paused {
        println!("  marketing is PAUSED: {p}");
    }
    Ok(())
}

async fn preview(
    table: &Table,
    aws: &Aws,
    store: &StoreId,
    template: &str,
    customer: &CustomerId,
    out: &std::path::Path,
    text: Option<&std::path::Path>,
) -> Result<()> {
    let s = registered(table, store).await?;
    let profile = table
        .profile(store, customer)
        .await?
        .with_context(|| format!("store {store} has no customer {customer}"))?;
    // A preview works without the deployment's link settings: its links then point nowhere.
    let links = match links(aws).await {
        Ok(l) => l,
        Err(_) => retention_ssm::LinkConfig {
            secret: retention_core::email::link::LinkSecret::new(
                "preview-only-secret-not-for-sending",
            )
            .expect("long enough"),
            public_url: "http://127.0.0.1/preview".into(),
        },
    };
    let now = Utc::now();
    let message = retention_email::sample::preview_message(store, template, customer.clone(), now)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let to = profile
        .person
        .email
        .clone()
        .unwrap_or_else(|| Email::parse("customer@example.com").expect("valid"));
    let url = retention_core::email::link::unsubscribe_url(
        &links.public_url,
        &links.secret,
        store,
        customer,
    );
    let mailto = "mailto:unsubscribe@example.com";
    let rendered = composer(&links)?
        .render(&retention_app::ports::ComposeRequest {
            store: &s,
            message: &message,
            customer,
            profile: &profile,
            to: &to,
            unsubscribe: message.marketing.then_some((url.as_str(), mailto)),
            now,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(out, &rendered.html).with_context(|| format!("writing {}", out.display()))?;
    if let Some(t) = text {
        std::fs::write(t, &rendered.text).with_context(|| format!("writing {}", t.display()))?;
    }
    println!(
        "{template} for {customer}: \"{}\" -> {}",
        rendered.subject,
        out.display()
    );
    Ok(())
}

async fn verify_sender(table: &Table, aws: &Aws, store: &StoreId) -> Result<()> {
    let s = registered(table, store).await?;
    let from = s.from_email.with_context(|| {
        format!("store {store} has no sender address: retention store set --store {store} --from-email ADDRESS")
    })?;
    let tokens = ses(aws)
        .verify_sender(from.as_str())
        .await
        .with_context(|| format!("creating the SES identity {from}"))?;
    let domain = from.as_str().rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    println!("SES identity {from} created (or already there).");
    if tokens.is_empty() {
        println!("SES sent a verification email to {from}: open its link to verify the address.");
    } else {
        println!("Publish these CNAME records to verify {domain} with DKIM:");
        for t in tokens {
            println!("  {t}._domainkey.{domain}  CNAME  {t}.dkim.amazonses.com");
        }
    }
    Ok(())
}

async fn queue_cmd(table: Table, secrets: PlatformSecrets, a: QueueArgs) -> Result<()> {
    if !TEMPLATES.contains(&a.template.as_str()) {
        bail!(
            "--template {:?} is not a customer template; choose one of {}",
            a.template,
            TEMPLATES.join(", ")
        );
    }
    let now = a.now.unwrap_or_else(Utc::now);
    table.get_store(&a.store).await?.with_context(|| {
        format!(
            "no store {}; register it with `retention store add`",
            a.store
        )
    })?;
    let audience = match (&a.customer, &a.customers, a.all) {
        (Some(c), _, _) => Audience::Customers(vec![c.clone()]),
        (_, Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut ids = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || (i == 0 && line == "customer_id") {
                    continue;
                }
                let id = line.split(',').next().unwrap_or(line);
                ids.push(
                    CustomerId::parse(id)
                        .map_err(|e| anyhow::anyhow!("{}: line {}: {e}", path.display(), i + 1))?,
                );
            }
            Audience::Customers(ids)
        }
        (None, None, true) => Audience::All,
        (None, None, false) => bail!("say who: --customer ID, --customers FILE or --all"),
    };
    let key = a
        .key
        .clone()
        .unwrap_or_else(|| format!("{}-{}", a.template, now.format("%Y-%m-%d")));
    let offer = match (a.coupon_percent, a.coupon_days) {
        (Some(p), Some(d)) => {
            if !(1..=100).contains(&p) || d == 0 {
                bail!("--coupon-percent must be 1 to 100 and --coupon-days at least 1");
            }
            Some(OfferSpec {
                percent: p,
                days: d,
            })
        }
        _ => None,
    };
    let table = Arc::new(table);
    let issuer = offer
        .map(|_| crate::coupons::issuer(table.clone(), secrets).with_clock(Arc::new(move || now)));
    let report = queue(
        &QueuePorts {
            customers: table.clone(),
            outbox: table.clone(),
        },
        issuer.as_ref(),
        &QueueRequest {
            store: a.store.clone(),
            template: a.template.clone(),
            marketing: true,
            kind: "broadcast".into(),
            key: key.clone(),
            audience,
            offer,
            campaign: None,
            variant: None,
            now,
        },
    )
    .await?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&json!({ "key": key, "report": report }))?
        );
    } else {
        println!(
            "broadcast {key}: {} queued, {} already in the outbox, {} coupons issued",
            report.queued, report.already, report.coupons_issued
        );
        if !report.unknown.is_empty() {
            println!(
                "unknown customers (not queued): {}",
                report.unknown.join(", ")
            );
        }
    }
    Ok(())
}

async fn outbox(table: &Table, store: &StoreId, as_json: bool) -> Result<()> {
    table
        .get_store(store)
        .await?
        .with_context(|| format!("no store {store}; register it with `retention store add`"))?;
    let mut msgs = table.messages(store).await?;
    msgs.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
    if as_json {
        let rows: Vec<_> = msgs
            .iter()
            .map(|m| {
                json!({
                    "customer_id": m.key.customer,
                    "email": m.email,
                    "kind": m.key.kind,
                    "key": m.key.key,
                    "template": m.template,
                    "status": m.status.as_str(),
                    "reason": m.reason,
                    "due": m.due,
                    "attempts": m.attempts,
                    "ses_message_id": m.ses_message_id,
                    "coupon": m.coupon.as_ref().map(|c| c.0.clone()),
                })
            })
            .collect();
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    println!(
        "{:<24} {:<28} {:<20} {:<9} {:<20} {:<22} reason",
        "customer", "email", "key", "status", "due", "ses message id"
    );
    for m in &msgs {
        println!(
            "{:<24} {:<28} {:<20} {:<9} {:<20} {:<22} {}",
            m.key.customer.as_str(),
            m.email.as_ref().map(|e| e.as_str()).unwrap_or("-"),
            m.key.key,
            m.status.as_str(),
            m.due.format("%Y-%m-%d %H:%M:%S"),
            m.ses_message_id.as_deref().unwrap_or("-"),
            m.reason.as_deref().unwrap_or("")
        );
    }
    println!("{} messages", msgs.len());
    Ok(())
}

/// The pause rule as the deployment sets it (`RETENTION_PAUSE_AT_PERCENT`,
/// `RETENTION_REPUTATION_WINDOW_DAYS`), so the operator sees what the functions apply.
fn policy() -> Result<ReputationPolicy> {
    ReputationPolicy::from_lookup(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)
}

/// `count / sent` as a percentage with two decimals, in integers.
fn rate(count: u64, sent: u64) -> String {
    if sent == 0 {
        return "-".into();
    }
    let hundredths = u128::from(count) * 10_000 / u128::from(sent);
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

/// What `email status` reports, and the pause line `email suppressions` ends with.
struct Standing {
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    window: DayCounts,
    policy: ReputationPolicy,
    paused: Option<String>,
}

async fn standing(table: &Table, store: &Store, now: DateTime<Utc>) -> Result<Standing> {
    let policy = policy()?;
    let to = store.local_date(now);
    let from = policy.window_start(to);
    let window = table.window(&store.id, from, to).await?;
    let paused = policy.assess(&window).map(|p| p.reason);
    Ok(Standing {
        from,
        to,
        window,
        policy,
        paused,
    })
}

fn pause_line(s: &Standing) -> String {
    match &s.paused {
        Some(reason) => format!("marketing is PAUSED: {reason}"),
        None => format!(
            "marketing is not paused (bounces {} and complaints {} of {} sends over the last {} days)",
            rate(s.window.bounced, s.window.sent),
            rate(s.window.complained, s.window.sent),
            s.window.sent,
            s.policy.window_days
        ),
    }
}

async fn suppressions(table: &Table, store: &StoreId, as_json: bool) -> Result<()> {
    let s = registered(table, store).await?;
    let mut list = table.suppressions(store).await?;
    list.sort_by(|a, b| (a.at, &a.email).cmp(&(b.at, &b.email)));
    if as_json {
        let rows: Vec<_> = list
            .iter()
            .map(|e| {
                json!({
                    "email": e.email,
                    "reason": e.reason.as_str(),
                    "at": e.at,
                    "detail": e.detail,
                })
            })
            .collect();
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    println!("{:<36} {:<10} {:<20} detail", "email", "reason", "at");
    for e in &list {
        println!(
            "{:<36} {:<10} {:<20} {}",
            e.email.as_str(),
            e.reason.as_str(),
            e.at.format("%Y-%m-%d %H:%M:%S"),
            e.detail.as_deref().unwrap_or("")
        );
    }
    println!("{} suppressed", list.len());
    println!("{}", pause_line(&standing(table, &s, Utc::now()).await?));
    Ok(())
}

async fn status(table: &Table, store: &StoreId, now: DateTime<Utc>, as_json: bool) -> Result<()> {
    let s = registered(table, store).await?;
    let st = standing(table, &s, now).await?;
    let w = &st.window;
    let p = &st.policy;
    // The pause points, in basis points: SES's threshold times the configured percentage.
    let pause_bp = |limit_bp: u64| limit_bp * p.pause_at_percent / 100;
    if as_json {
        println!(
            "{}",
            serde_json::to_string(&json!({
                "store": store,
                "from": st.from,
                "to": st.to,
                "counts": w,
                "bounce_rate": rate(w.bounced, w.sent),
                "complaint_rate": rate(w.complained, w.sent),
                "pause_at_bp": {"bounce": pause_bp(p.bounce_limit_bp), "complaint": pause_bp(p.complaint_limit_bp)},
                "min_sent": p.min_sent,
                "paused": st.paused.is_some(),
                "reason": st.paused,
            }))?
        );
        return Ok(());
    }
    println!(
        "store {store}, {} to {} ({} days): {} sent, {} bounced ({}), {} complained ({}), {} transient bounces",
        st.from,
        st.to,
        p.window_days,
        w.sent,
        w.bounced,
        rate(w.bounced, w.sent),
        w.complained,
        rate(w.complained, w.sent),
        w.transient
    );
    println!(
        "pauses at bounces {} or complaints {} ({}% of SES's review thresholds), from {} sends",
        rate(pause_bp(p.bounce_limit_bp), 10_000),
        rate(pause_bp(p.complaint_limit_bp), 10_000),
        p.pause_at_percent,
        p.min_sent
    );
    println!("{}", pause_line(&st));
    Ok(())
}
