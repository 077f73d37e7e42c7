//! The email-events function against moto: every sample in `events/ses/` through the real handler,
//! then what DynamoDB holds (the store's suppression list, the `REP#` day, the `FB#` markers); a
//! redelivery counts once; a transient bounce never suppresses; SES's account list (404 on moto) is
//! tried, fails, and changes nothing; and a complaint rate over the threshold pauses the sender's
//! marketing while a suppressed address is skipped as `suppressed`.

use crate::email::{order, Plain};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use email_events::{handle, ports, App};
use retention_app::mail::{queue, Audience, QueuePorts, QueueRequest, Sender, SenderConfig};
use retention_app::ports::{Reputation, Suppressions};
use retention_core::email::consent::ConsentState;
use retention_core::email::link::LinkSecret;
use retention_core::email::reputation::{DayCounts, ReputationPolicy};
use retention_core::email::suppression::SuppressionReason;
use retention_core::webhook::{Change, Platform};
use retention_core::{Email, StoreId};
use retention_dynamodb::Table;
use retention_tests::wire::Wire;
use retention_tests::*;
use std::path::PathBuf;
use std::sync::Arc;

fn sample(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events/ses")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn now() -> DateTime<Utc> {
    "2026-12-04T20:00:00Z".parse().unwrap()
}

fn day() -> NaiveDate {
    "2026-12-04".parse().unwrap()
}

fn demo() -> StoreId {
    StoreId::parse("demo-shop").unwrap()
}

/// The function as `main.rs` wires it (the table, SES's account list), on `aws`.
fn app(table: &Table, aws: &retention_aws::Aws) -> App {
    let ses = retention_ses::Ses::new(retention_ses::client(aws), None);
    App::new(
        ports(Arc::new(table.clone()), Some(Arc::new(ses))),
        ReputationPolicy::default(),
    )
    .with_clock(retention_function::fixed_clock(now()))
}

async fn suppressed(table: &Table, email: &str) -> Option<SuppressionReason> {
    table
        .suppression(&demo(), &Email::parse(email).unwrap())
        .await
        .unwrap()
        .map(|s| s.reason)
}

#[tokio::test]
async fn every_ses_sample_suppresses_and_counts_once_in_dynamodb() {
    let table = fresh_table("email_events").await;
    register(&table, &demo(), Platform::Shopify, &["demo-secret"]).await;
    let (aws, wire) = Wire::around(&aws());
    // The function's own clients, recorded: DynamoDB's requests too.
    let table = Table::new(retention_dynamodb::client(&aws), table.name());
    let app = app(&table, &aws);

    let out = handle(&app, sample("bounce-permanent.eventbridge.json"))
        .await
        .unwrap();
    assert_eq!(out["records"][0]["suppressed"], 1, "{out}");
    assert_eq!(
        suppressed(&table, "gone.away@example.com").await,
        Some(SuppressionReason::Bounce)
    );
    let entry = table
        .suppression(&demo(), &Email::parse("gone.away@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.detail.as_deref(), Some("General"));
    assert_eq!(entry.at.to_rfc3339(), "2026-12-04T15:02:10.512+00:00");

    // EventBridge delivers at least once: the same event again counts nothing.
    let again = handle(&app, sample("bounce-permanent.eventbridge.json"))
        .await
        .unwrap();
    assert_eq!(again["records"][0]["duplicates"], 1, "{again}");
    assert_eq!(again["records"][0]["suppressed"], 0);

    let out = handle(&app, sample("bounce-transient.eventbridge.json"))
        .await
        .unwrap();
    assert_eq!(out["records"][0]["counted"]["transient"], 1, "{out}");
    assert_eq!(suppressed(&table, "maya.chen@example.com").await, None);

    let out = handle(&app, sample("complaint.eventbridge.json"))
        .await
        .unwrap();
    assert_eq!(out["records"][0]["counted"]["complained"], 1, "{out}");
    assert_eq!(
        suppressed(&table, "annoyed.reader@example.com").await,
        Some(SuppressionReason::Complaint)
    );

    // The SNS batch: a permanent bounce and a delivery (which changes nothing).
    let out = handle(&app, sample("bounce.sns.json")).await.unwrap();
    let records = out["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{out}");
    assert_eq!(records[0]["suppressed"], 1);
    assert_eq!(records[1]["kind"], "delivery");
    assert_eq!(
        suppressed(&table, "typo.address@exmaple.com").await,
        Some(SuppressionReason::Bounce)
    );
    assert_eq!(suppressed(&table, "nora.quinn@example.com").await, None);
    // Redelivered, the batch changes nothing either.
    let again = handle(&app, sample("bounce.sns.json")).await.unwrap();
    assert_eq!(again["records"][0]["duplicates"], 1, "{again}");

    // The day's item, as stored: REP#2026-12-04.
    let item = dynamodb()
        .await
        .get_item()
        .table_name(table.name())
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("STORE#demo-shop".into()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("REP#2026-12-04".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the day's counts");
    let num = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).map(String::as_str);
    assert_eq!(
        (
            num("bounced"),
            num("complained"),
            num("transient"),
            num("sent")
        ),
        (Some("2"), Some("1"), Some("1"), None)
    );
    assert_eq!(
        table.window(&demo(), day(), day()).await.unwrap(),
        DayCounts {
            sent: 0,
            bounced: 2,
            complained: 1,
            transient: 1
        }
    );
    assert_eq!(table.suppressions(&demo()).await.unwrap().len(), 3);

    // SES's account list was asked once per new suppression; moto answers 404, which is logged and
    // ignored: every event above was answered, and the store's list holds every address.
    let account_puts: Vec<_> = wire
        .sent()
        .into_iter()
        .filter(|s| s.service == "ses" && s.path.ends_with("/v2/email/suppression/addresses"))
        .collect();
    assert_eq!(account_puts.len(), 3);
    assert!(account_puts.iter().all(|s| s.method == "PUT"));
    let body: serde_json::Value = serde_json::from_slice(&account_puts[0].body).unwrap();
    assert_eq!(body["EmailAddress"], "gone.away@example.com");
    assert_eq!(body["Reason"], "BOUNCE");

    // What the function sent is exactly what its role grants (tests/it/infra.rs).
    let used = wire
        .actions()
        .iter()
        .map(|a| crate::infra::as_deployed(a, table.name(), "-"))
        .collect();
    crate::infra::assert_role_matches("EmailEventsFunction", &used);
}

#[tokio::test]
async fn a_complaint_rate_over_the_threshold_pauses_marketing_and_suppressed_addresses_are_skipped()
{
    let table = fresh_table("email_events_pause").await;
    let store = demo();
    register(&table, &store, Platform::Shopify, &["demo-secret"]).await;
    let (mut s, rev) = table.get_store(&store).await.unwrap().unwrap();
    let from = "shop@demo-shop.example";
    s.from_email = Some(Email::parse(from).unwrap());
    s.mail.max_send_rate = Some(50);
    assert!(table.put_store(&s, rev).await.unwrap());
    let ses = retention_ses::Ses::new(retention_ses::client(&aws()), None);
    ses.verify_sender(from).await.unwrap();

    // 1,000 sends today, then one permanent bounce and one complaint: 0.1% complaints is over the
    // pause at half of SES's 0.1% review threshold.
    table
        .add(
            &store,
            day(),
            &DayCounts {
                sent: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let app = app(&table, &aws());
    let out = handle(&app, sample("bounce-permanent.eventbridge.json"))
        .await
        .unwrap();
    assert!(out["records"][0]["paused"].is_null(), "{out}");
    let out = handle(&app, sample("complaint.eventbridge.json"))
        .await
        .unwrap();
    let reason = out["records"][0]["paused"].as_str().unwrap_or_default();
    assert!(reason.starts_with("complaint rate 0.10%"), "{out}");

    // Two customers subscribed to marketing: one whose address just bounced.
    let d = deliveries(&table);
    let at = now() - Duration::hours(2);
    for c in ["gone.away", "maya.chen"] {
        d.apply(
            &store,
            &Change::Order(order(c, ConsentState::Subscribed, at)),
            &[format!("d-{c}")],
            at,
        )
        .await
        .unwrap();
    }
    let table = Arc::new(table);
    let report = queue(
        &QueuePorts {
            customers: table.clone(),
            outbox: table.clone(),
        },
        None,
        &QueueRequest {
            store: store.clone(),
            template: "win-back".into(),
            marketing: true,
            kind: "broadcast".into(),
            key: "after-complaints".into(),
            audience: Audience::All,
            offer: None,
            campaign: None,
            variant: None,
            now: now(),
        },
    )
    .await
    .unwrap();
    assert_eq!(report.queued, 2);
    let sender = Sender::new(
        // The sender as email-sender wires it: the table for suppressions and reputation.
        email_sender::ports(table.clone(), Arc::new(ses), Arc::new(Plain)),
        SenderConfig::new(
            LinkSecret::new("it-secret-0123456789").unwrap(),
            "http://127.0.0.1:9000/lambda-url/customer-pages",
        ),
    );
    let r = sender.drain(&store, now()).await.unwrap();
    assert_eq!(r.sent, 0, "{r:?}");
    assert_eq!(r.skipped.get("suppressed"), Some(&1), "{r:?}");
    assert_eq!(r.skipped.get("paused"), Some(&1), "{r:?}");
    assert_eq!(r.paused.as_deref(), Some(reason));
}
