//! What the SQS event source mapping does on AWS, for moto (which cannot invoke Lambda): several
//! workers receive messages, hand each batch to the churn-scan handler as an SQS event, delete the
//! messages it did not report as failed, and leave the rest for redelivery after the visibility
//! timeout. A worker can be made to "die" mid-invocation (the handler's future dropped after a
//! deadline, as a Lambda timeout kills an invocation), which leaves its message to be redelivered.

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A queue with a dead-letter queue behind it (`max_receives` deliveries, then parked).
pub struct Queues {
    pub client: Client,
    pub url: String,
    pub dlq_url: String,
}

impl Queues {
    pub async fn create(client: Client, name: &str, max_receives: u32) -> Queues {
        let dlq_url = client
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .expect("create the dead-letter queue")
            .queue_url
            .unwrap();
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let url = client
            .create_queue()
            .queue_name(name)
            .attributes(
                QueueAttributeName::RedrivePolicy,
                json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives })
                    .to_string(),
            )
            .send()
            .await
            .expect("create the queue")
            .queue_url
            .unwrap();
        Queues {
            client,
            url,
            dlq_url,
        }
    }

    /// Messages visible and in flight, and those parked in the dead-letter queue.
    pub async fn depth(&self) -> (u64, u64) {
        let count = |url: String| {
            let c = self.client.clone();
            async move {
                let a = c
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                    .send()
                    .await
                    .unwrap()
                    .attributes
                    .unwrap_or_default();
                a.values()
                    .map(|v| v.parse::<u64>().unwrap_or(0))
                    .sum::<u64>()
            }
        };
        (
            count(self.url.clone()).await,
            count(self.dlq_url.clone()).await,
        )
    }
}

/// How the poller runs.
pub struct Poll {
    pub workers: usize,
    pub batch: i32,
    /// Seconds a received message stays invisible (a killed invocation's message comes back then).
    pub visibility: i32,
    /// The first `kills` invocations are killed after `kill_after` (dropped mid-work).
    pub kills: u32,
    pub kill_after: Duration,
    /// Give up after this long.
    pub deadline: Duration,
}

/// What the poller saw.
#[derive(Debug, Default)]
pub struct Polled {
    pub invocations: u32,
    pub killed: u32,
    pub failures_reported: u32,
    pub deleted: u32,
}

/// Polls until `finished()` says the work is over (or the deadline passes: a panic).
pub async fn run<H, F, D, DF>(queues: &Queues, poll: &Poll, handler: H, finished: D) -> Polled
where
    H: Fn(Value) -> F + Sync,
    F: std::future::Future<Output = Value>,
    D: Fn() -> DF + Sync,
    DF: std::future::Future<Output = bool>,
{
    let kills = Arc::new(AtomicU32::new(0));
    let started = std::time::Instant::now();
    let worker = || async {
        let mut seen = Polled::default();
        loop {
            if finished().await {
                return seen;
            }
            assert!(
                started.elapsed() < poll.deadline,
                "the poller gave up after {:?}",
                poll.deadline
            );
            let out = queues
                .client
                .receive_message()
                .queue_url(&queues.url)
                .max_number_of_messages(poll.batch)
                .visibility_timeout(poll.visibility)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let records: Vec<Value> = messages
                .iter()
                .map(|m| {
                    json!({
                        "messageId": m.message_id,
                        "receiptHandle": m.receipt_handle,
                        "body": m.body,
                        "attributes": {},
                        "messageAttributes": {},
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:scan",
                        "awsRegion": "us-east-1",
                    })
                })
                .collect();
            let event = json!({ "Records": records });
            seen.invocations += 1;
            let kill = kills.fetch_add(1, Ordering::Relaxed) < poll.kills;
            let answer = if kill {
                match tokio::time::timeout(poll.kill_after, handler(event)).await {
                    Ok(a) => a,
                    Err(_) => {
                        // Killed mid-invocation: nothing is deleted, everything comes back.
                        seen.killed += 1;
                        continue;
                    }
                }
            } else {
                handler(event).await
            };
            let failed: Vec<String> = answer["batchItemFailures"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            seen.failures_reported += failed.len() as u32;
            for m in &messages {
                if failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                    continue;
                }
                queues
                    .client
                    .delete_message()
                    .queue_url(&queues.url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
                seen.deleted += 1;
            }
        }
    };
    let all = futures_join(poll.workers, worker).await;
    all.into_iter().fold(Polled::default(), |mut a, b| {
        a.invocations += b.invocations;
        a.killed += b.killed;
        a.failures_reported += b.failures_reported;
        a.deleted += b.deleted;
        a
    })
}

async fn futures_join<W, WF>(n: usize, worker: W) -> Vec<Polled>
where
    W: Fn() -> WF,
    WF: std::future::Future<Output = Polled>,
{
    futures_util::future::join_all((0..n).map(|_| worker())).await
}
