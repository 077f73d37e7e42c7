//! The email sender against moto: DynamoDB's outbox, cap history and pace, and SES v2's SendEmail
//! (Raw), checked through what moto kept (`/moto-api/data.json`) and what the SDK sent (the wire
//! recorder: configuration set and tags, which moto ignores).

use chrono::{DateTime, Duration, Utc};
use retention_app::mail::{queue, Sender};
use retention_app::ports::Outbox;
use retention_core::email::consent::ConsentState;
use retention_core::email::link::LinkSecret;
use retention_core::email::outbox::Status;
use retention_core::webhook::Change;
use retention_tests::mail::{
    broadcast, ids, mail_store, midday_zone, qports, subscribed, table_sender, Timed,
};
pub(crate) use retention_tests::mail::{order, Plain};
use retention_tests::wire::Wire;
use retention_tests::*;
use std::sync::Arc;

async fn moto_messages() -> Vec<serde_json::Value> {
    let body = reqwest_get(&format!("{}/moto-api/data.json", endpoint())).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn reqwest_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Our messages moto kept since `before`, from `from`.
async fn kept_from(before: usize, from: &str) -> Vec<serde_json::Value> {
    moto_messages().await[before..]
        .iter()
        .filter(|m| m["source"] == from)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_broadcast_goes_once_through_ses_with_its_tags_and_headers() {
    let (table, store, from) = mail_store("email_broadcast", "mail-store", 50, None).await;
    let (aws, wire) = Wire::around(&aws());
    let ses = retention_ses::Ses::new(retention_ses::client(&aws), Some("retention-test".into()));

    // Business time at noon UTC (the store has no zone): outside quiet hours whenever the test runs.
    let noon: DateTime<Utc> = "2026-12-04T12:00:00Z".parse().unwrap();
    let now = noon - Duration::hours(1);
    let d = deliveries(&table);
    for (c, consent) in [
        ("yes-1", ConsentState::Subscribed),
        ("yes-2", ConsentState::Subscribed),
        ("no-1", ConsentState::Unsubscribed),
    ] {
        d.apply(
            &store,
            &Change::Order(order(c, consent, now)),
            &[format!("d-{c}")],
            now,
        )
        .await
        .unwrap();
    }
    let table = Arc::new(table);
    let qp = qports(&table);
    let req = broadcast(&store, "it-1", noon);
    let r = queue(&qp, None, &req).await.unwrap();
    assert_eq!(r.queued, 3);
    let again = queue(&qp, None, &req).await.unwrap();
    assert_eq!((again.queued, again.already), (0, 3));

    let sender = table_sender(&table, Arc::new(ses), Arc::new(Plain));
    let before = moto_messages().await.len();
    let at = noon;
    let report = sender.drain(&store, at).await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    assert_eq!(report.skipped.get("no_consent"), Some(&1));
    assert_eq!(report.rate_source, "store");
    // Nothing more goes on a second drain.
    assert_eq!(sender.drain(&store, at).await.unwrap().sent, 0);

    let ours = kept_from(before, &from).await;
    assert_eq!(ours.len(), 2);
    for m in &ours {
        let raw = m["raw_data"].as_str().unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <http://127.0.0.1:9000/lambda-url/customer-pages/u/"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    }
    // moto ignores the configuration set and tags: the request proves they were sent.
    let sends: Vec<_> = wire
        .sent()
        .into_iter()
        .filter(|s| s.service == "ses" && s.path.ends_with("/outbound-emails"))
        .collect();
    assert_eq!(sends.len(), 2);
    let body: serde_json::Value = serde_json::from_slice(&sends[0].body).unwrap();
    assert_eq!(body["ConfigurationSetName"], "retention-test");
    let tags: Vec<&str> = body["EmailTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["store", "message", "kind", "campaign"]);
    assert_eq!(body["EmailTags"][0]["Value"], "mail-store");

    // The outbox records SES's ids, and the skip with its reason.
    let msgs = table.messages(&store).await.unwrap();
    let sent: Vec<_> = msgs.iter().filter(|m| m.status == Status::Sent).collect();
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|m| m.ses_message_id.as_deref().is_some_and(|i| !i.is_empty())));
    let skipped = msgs.iter().find(|m| m.status == Status::Skipped).unwrap();
    assert_eq!(skipped.reason.as_deref(), Some("no_consent"));
}

fn recipients(kept: &[serde_json::Value]) -> Vec<String> {
    // moto lists a Raw message's recipient twice (the To header and the destination): one per message.
    let mut to: Vec<String> = kept
        .iter()
        .map(|m| {
            let mut d: Vec<String> = m["destinations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect();
            d.dedup();
            assert_eq!(d.len(), 1, "{m}");
            d.remove(0)
        })
        .collect();
    to.sort();
    to
}

#[tokio::test]
async fn three_senders_share_the_pace_through_dynamodb_and_the_templates_reach_ses() {
    // Pacing runs on the real clock, so the drain is "now": a zone where it is midday now keeps
    // the test clear of quiet hours whenever it runs.
    let now = Utc::now();
    let zone = midday_zone(now);
    let (table, store, from) = mail_store("email_paced", "paced-store", 4, Some(&zone)).await;
    let customers = ids("p", 12);
    subscribed(&table, &store, &customers, now - Duration::days(30)).await;
    let table = Arc::new(table);
    queue(&qports(&table), None, &broadcast(&store, "paced", now))
        .await
        .unwrap();
    let timed = Arc::new(Timed {
        ses: retention_ses::Ses::new(retention_ses::client(&aws()), None),
        at: Default::default(),
    });
    let links = retention_email::Links {
        secret: LinkSecret::new("it-secret-0123456789").unwrap(),
        base: "http://127.0.0.1:9000/lambda-url/customer-pages".into(),
    };
    let composer = Arc::new(retention_email::Composer::new(
        retention_email::Templates::builtin(),
        Some(links),
    ));
    let senders: Vec<Sender> = (0..3)
        .map(|_| table_sender(&table, timed.clone(), composer.clone()))
        .collect();
    let before = moto_messages().await.len();
    let requests = table.requests();
    let drains = senders.iter().map(|s| s.drain(&store, now));
    let reports = futures_util::future::join_all(drains).await;
    let reports: Vec<_> = reports.into_iter().map(Result::unwrap).collect();
    let sent: u64 = reports.iter().map(|r| r.sent).sum();
    assert_eq!(sent, 12, "{reports:?}");
    let per_email = (table.requests() - requests) as f64 / 12.0;
    eprintln!("DynamoDB requests per email sent (3 senders): {per_email:.1}");

    let mut times = timed.at.lock().unwrap().clone();
    times.sort();
    for (i, t) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .take_while(|u| **u - *t < Duration::seconds(1))
            .count();
        assert!(within <= 4, "{within} sends in the second from {t}");
    }
    let span = *times.last().unwrap() - times[0];
    assert!(span >= Duration::milliseconds(2500), "{span}");

    let kept = kept_from(before, &from).await;
    let mut want: Vec<String> = customers
        .iter()
        .map(|c| format!("{c}@example.com"))
        .collect();
    want.sort();
    assert_eq!(recipients(&kept), want, "each customer once");
    for m in &kept {
        let raw = m["raw_data"].as_str().unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert!(parsed.subject().is_some_and(|s| !s.is_empty()));
        assert!(parsed
            .body_html(0)
            .unwrap()
            .contains("1 Main St, Springfield"));
        assert!(parsed.body_text(0).unwrap().contains("Maya"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    }
}

#[tokio::test]
async fn a_sender_killed_mid_batch_leaves_nothing_sent_twice() {
    let (table, store, from) = mail_store("email_killed", "killed-store", 2, None).await;
    let customers = ids("k", 6);
    let noon: DateTime<Utc> = "2026-12-04T12:00:00Z".parse().unwrap();
    subscribed(&table, &store, &customers, noon - Duration::days(30)).await;
    let table = Arc::new(table);
    queue(&qports(&table), None, &broadcast(&store, "killed", noon))
        .await
        .unwrap();
    let ses = || Arc::new(retention_ses::Ses::new(retention_ses::client(&aws()), None));
    let before = moto_messages().await.len();
    // 6 messages at 2/s take ~2.5 s: killed once SES has the first one, like a Lambda at its time
    // limit. Watching for the first send, not a fixed time, keeps the kill mid-batch on a machine
    // loaded enough that claiming takes longer than a second.
    let first = table_sender(&table, ses(), Arc::new(Plain));
    let drain = first.drain(&store, noon);
    let first_sent = async {
        while kept_from(before, &from).await.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let killed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        tokio::select! {
            r = drain => Some(r),
            _ = first_sent => None,
        }
    })
    .await
    .expect("SES got a first message within a minute");
    assert!(killed.is_none(), "the drain was cut off mid-batch");
    let after_kill = kept_from(before, &from).await.len();
    assert!(
        (1..6).contains(&after_kill),
        "{after_kill} sent before the kill"
    );

    // What the kill left: messages handed to SES (`sending`: SES may have them) and messages only
    // claimed (certainly not sent).
    let at_kill = table.messages(&store).await.unwrap();
    let count = |st: Status| at_kill.iter().filter(|m| m.status == st).count();
    let (sending, claimed) = (count(Status::Sending), count(Status::Claimed));

    // The next scheduled drain, once the dead sender's claims are stale (10 minutes).
    let second = table_sender(&table, ses(), Arc::new(Plain));
    let r = second
        .drain(&store, noon + Duration::minutes(11))
        .await
        .unwrap();
    let kept = kept_from(before, &from).await;
    let to = recipients(&kept);
    let mut unique = to.clone();
    unique.dedup();
    assert_eq!(to, unique, "nobody got the broadcast twice");
    let msgs = table.messages(&store).await.unwrap();
    for m in &msgs {
        match m.status {
            Status::Sent => assert!(to.contains(&format!("{}@example.com", m.key.customer))),
            Status::Failed => assert!(m.reason.as_deref().unwrap().starts_with("interrupted")),
            other => panic!("{} left {other:?}", m.key.customer),
        }
    }
    let sent = msgs.iter().filter(|m| m.status == Status::Sent).count();
    let interrupted = msgs.len() - sent;
    // Only what was in flight at the kill is failed as interrupted (SES may have it: never twice);
    // what was claimed but not yet handed to SES is queued again and sent by the next drain. How
    // many were in flight depends on how busy moto was (the test suite shares it), so the check is
    // against what the kill left, not a fixed number.
    assert_eq!(r.interrupted as usize, sending, "{r:?}");
    assert_eq!(interrupted, sending, "{r:?}");
    assert_eq!(r.requeued as usize, claimed, "{r:?}");
    assert!(
        claimed > 0,
        "the kill left messages claimed but not handed to SES: {r:?}"
    );
    assert_eq!(sent, 6 - interrupted);
    assert!(kept.len() >= sent && kept.len() <= sent + interrupted);
}

#[tokio::test]
async fn quiet_hours_in_the_store_zone_and_the_cap_hold_through_dynamodb() {
    let (table, store, from) =
        mail_store("email_quiet", "quiet-store", 50, Some("Europe/Berlin")).await;
    let night: DateTime<Utc> = "2026-12-04T21:30:00Z".parse().unwrap(); // 22:30 in Berlin
    subscribed(&table, &store, &ids("q", 1), night - Duration::days(3)).await;
    let table = Arc::new(table);
    let ses = Arc::new(retention_ses::Ses::new(retention_ses::client(&aws()), None));
    let sender = table_sender(&table, ses, Arc::new(Plain));
    let before = moto_messages().await.len();
    queue(&qports(&table), None, &broadcast(&store, "one", night))
        .await
        .unwrap();
    let r = sender.drain(&store, night).await.unwrap();
    assert_eq!((r.sent, r.deferred), (0, 1));
    let m = &table.messages(&store).await.unwrap()[0];
    assert_eq!(m.status, Status::Deferred);
    assert_eq!(
        m.due,
        "2026-12-05T07:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let early: DateTime<Utc> = "2026-12-05T06:59:00Z".parse().unwrap();
    assert_eq!(sender.drain(&store, early).await.unwrap().sent, 0);
    let morning: DateTime<Utc> = "2026-12-05T07:00:00Z".parse().unwrap();
    assert_eq!(sender.drain(&store, morning).await.unwrap().sent, 1);
    // A second broadcast two hours later: capped (one per 16 h), recorded with its reason.
    let later = morning + Duration::hours(2);
    queue(&qports(&table), None, &broadcast(&store, "two", later))
        .await
        .unwrap();
    let r = sender.drain(&store, later).await.unwrap();
    assert_eq!(r.skipped.get("capped"), Some(&1), "{r:?}");
    assert_eq!(kept_from(before, &from).await.len(), 1);
}

/// email-sender, through its `main.rs` wiring (the link secret from SSM, SES with the stage's
/// configuration set, the built-in templates), drains every store of a scheduled tick: sends to
/// the subscribed, skips the rest; what it sent is exactly what its role grants.
#[tokio::test]
async fn email_sender_sends_exactly_what_its_role_grants() {
    let (setup, store, _) = mail_store("iam_sender", "iam-sender-shop", 50, None).await;
    // No rate of the store's own: the sender asks SES for the account's (moto: 404, the default).
    let (mut s, rev) = setup.get_store(&store).await.unwrap().unwrap();
    s.mail.max_send_rate = None;
    assert!(setup.put_store(&s, rev).await.unwrap());
    let noon: DateTime<Utc> = "2026-12-04T12:00:00Z".parse().unwrap();
    subscribed(&setup, &store, &ids("s", 3), noon - Duration::days(30)).await;
    let d = deliveries(&setup);
    d.apply(
        &store,
        &Change::Order(order("u-0", ConsentState::Unsubscribed, noon)),
        &["d-u-0".to_string()],
        noon,
    )
    .await
    .unwrap();
    let setup = Arc::new(setup);
    queue(&qports(&setup), None, &broadcast(&store, "iam", noon))
        .await
        .unwrap();
    let prefix = format!("/t/iam-sender-{}", std::process::id());
    let parameter = format!("{prefix}/link-secret");
    aws_sdk_ssm::Client::new(aws().sdk_config())
        .put_parameter()
        .name(&parameter)
        .value("a-deployment-secret-0123456789")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();

    let (aws, wire) = Wire::around(&aws());
    let table = Arc::new(retention_dynamodb::Table::new(
        retention_dynamodb::client(&aws),
        setup.name(),
    ));
    let secret = retention_ssm::link_secret_from(&aws, |k| {
        (k == retention_ssm::PARAMETER_VAR).then(|| parameter.clone())
    })
    .await
    .unwrap();
    let links = retention_ssm::LinkConfig {
        secret,
        public_url: "https://api.example/prod".into(),
    };
    let ses = retention_ses::Ses::new(retention_ses::client(&aws), Some("retention-it".into()));
    let composer = retention_email::Composer::new(
        retention_email::Templates::builtin(),
        Some(retention_email::Links {
            secret: links.secret.clone(),
            base: links.public_url.clone(),
        }),
    );
    let sender = Sender::new(
        email_sender::ports(table.clone(), Arc::new(ses), Arc::new(composer)),
        email_sender::config(links).unwrap(),
    );
    let app = email_sender::App::new(sender, table.clone());
    let tick = serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events",
        "detail": {"now": noon}});
    let out = email_sender::handle(&app, tick).await.unwrap();
    assert_eq!(out["stores"]["iam-sender-shop"]["sent"], 3, "{out}");
    assert_eq!(out["stores"]["iam-sender-shop"]["skipped"]["no_consent"], 1);

    let used = wire
        .actions()
        .iter()
        .map(|a| crate::infra::as_deployed(a, setup.name(), &prefix))
        .collect();
    crate::infra::assert_role_matches("EmailSenderFunction", &used);
}
