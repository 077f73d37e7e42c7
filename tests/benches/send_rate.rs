//! The email sender's sustained rate against a configured quota, with several senders at once,
//! against local AWS (moto's DynamoDB and SES v2): `cargo bench -p retention-tests --bench send_rate`
//! (what `make bench` runs for email). Not criterion: one run is tens of seconds of real-clock
//! pacing, and what matters is the rate, the worst sliding second and the requests per email.
//!
//! For each quota R and sender count K: a store limited to R per second, `messages` subscribed
//! customers, one broadcast queued, K senders draining the same outbox at once (as K concurrent
//! email-sender instances would). SES's accept times are noted as each message is handed over.
//!
//! - sustained rate = (n - 1) / (last - first) over the SES calls, and its ratio to R (goal ≥ 95%);
//! - the most sends in any sliding one-second window (goal ≤ R);
//! - DynamoDB requests per email sent (the table client counts every request it makes).
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does one small run, as a smoke test.
//! `SEND_RATE_QUOTAS` (e.g. `10,20`), `SEND_RATE_SENDERS` (`1,4`) and `SEND_RATE_SECONDS` (20)
//! change the runs.

use chrono::{DateTime, Duration, Utc};
use retention_app::mail::queue;
use retention_email::{Composer, Links, Templates};
use retention_tests::mail::{
    broadcast, ids, mail_store, midday_zone, qports, subscribed, table_sender, Timed,
};
use std::sync::Arc;

fn list(var: &str, default: &[u32]) -> Vec<u32> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|x| {
                x.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{var}: `{x}` is not a number"))
            })
            .collect(),
        _ => default.to_vec(),
    }
}

struct Run {
    quota: u32,
    senders: u32,
    sent: u64,
    seconds: f64,
    sustained: f64,
    worst_second: usize,
    requests_per_email: f64,
}

/// The most of `times` (sorted) in any window [t, t + 1 s).
fn worst_second(times: &[DateTime<Utc>]) -> usize {
    let mut worst = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while j < times.len() && times[j] - times[i] < Duration::seconds(1) {
            j += 1;
        }
        worst = worst.max(j - i);
    }
    worst
}

async fn run(quota: u32, senders: u32, messages: usize, n: usize) -> Run {
    let now = Utc::now();
    let id = format!("rate-{quota}-{senders}-{n}");
    let (table, store, _) = mail_store(&id, &id, quota, Some(&midday_zone(now))).await;
    subscribed(
        &table,
        &store,
        &ids("r", messages),
        now - Duration::days(30),
    )
    .await;
    let table = Arc::new(table);
    let queued = queue(&qports(&table), None, &broadcast(&store, "rate", now))
        .await
        .unwrap();
    assert_eq!(queued.queued as usize, messages, "{queued:?}");
    let timed = Arc::new(Timed {
        ses: retention_ses::Ses::new(retention_ses::client(&retention_tests::aws()), None),
        at: Default::default(),
    });
    let composer = Arc::new(Composer::new(
        Templates::builtin(),
        Some(Links {
            secret: retention_core::email::link::LinkSecret::new("bench-secret-0123456789")
                .unwrap(),
            base: "http://127.0.0.1:9000/lambda-url/customer-pages".into(),
        }),
    ));
    let requests = table.requests();
    let started = std::time::Instant::now();
    // Each sender drains until the outbox has nothing due (a drain also returns when everything
    // due is claimed by the others), as scheduled instances would, minute after minute.
    let drains = (0..senders).map(|_| {
        let sender = table_sender(&table, timed.clone(), composer.clone());
        let store = store.clone();
        async move {
            let mut sent = 0;
            for _ in 0..20 {
                let r = sender.drain(&store, Utc::now()).await.unwrap();
                sent += r.sent;
                if r.sent == 0 {
                    break;
                }
            }
            sent
        }
    });
    let sent: u64 = futures_util::future::join_all(drains)
        .await
        .into_iter()
        .sum();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(sent as usize, messages, "every message sent once");
    let mut times = timed.at.lock().unwrap().clone();
    times.sort();
    let span = (*times.last().unwrap() - times[0])
        .num_microseconds()
        .unwrap() as f64
        / 1e6;
    Run {
        quota,
        senders,
        sent,
        seconds,
        sustained: (times.len() - 1) as f64 / span,
        worst_second: worst_second(&times),
        requests_per_email: (table.requests() - requests) as f64 / sent as f64,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (quotas, senders, seconds) = if bench {
        (
            list("SEND_RATE_QUOTAS", &[10, 20]),
            list("SEND_RATE_SENDERS", &[1, 4]),
            list("SEND_RATE_SECONDS", &[20])[0],
        )
    } else {
        (vec![5], vec![2], 2)
    };
    let mut out = String::from(
        "| quota R (/s) | senders | sent | wall time | sustained rate | of R | most in any 1 s | DynamoDB requests / email |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut n = 0;
    for &quota in &quotas {
        for &k in &senders {
            n += 1;
            let r = run(quota, k, (quota * seconds) as usize, n).await;
            let line = format!(
                "| {} | {} | {} | {:.1} s | {:.2}/s | {:.1} % | {} | {:.1} |\n",
                r.quota,
                r.senders,
                r.sent,
                r.seconds,
                r.sustained,
                100.0 * r.sustained / r.quota as f64,
                r.worst_second,
                r.requests_per_email
            );
            eprint!("{line}");
            out.push_str(&line);
            assert!(
                r.worst_second <= r.quota as usize,
                "{} sends in one second against a quota of {}",
                r.worst_second,
                r.quota
            );
        }
    }
    println!("{out}");
    if bench {
        let dir = retention_tests::workspace_root().join("target/email-bench");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("send_rate.md"), &out).unwrap();
    }
}
