//! The SQS adapter: the churn scan's jobs, one message each, sent 10 to a `SendMessageBatch`.
//! The only crate that names SQS types. Receiving is the event source mapping's job on AWS (and
//! the local poller's in tests and the demo), so the function's role only sends.

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use retention_app::ports::ScanQueue;
use retention_app::{ErrorKind, PortError, Result};
use retention_aws::AwsError;
use retention_core::scan::ScanJob;

/// SQS's limit of entries per `SendMessageBatch`.
const BATCH: usize = 10;

/// A queue of scan jobs. Cheap to clone; build one per process.
#[derive(Clone)]
pub struct JobQueue {
    client: Client,
    url: String,
}

/// An SQS client on the process's AWS configuration.
pub fn client(aws: &retention_aws::Aws) -> Client {
    Client::new(aws.sdk_config())
}

impl JobQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl ScanQueue for JobQueue {
    async fn send(&self, jobs: &[ScanJob]) -> Result<()> {
        for chunk in jobs.chunks(BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, job) in chunk.iter().enumerate() {
                let body = serde_json::to_string(job)
                    .map_err(|e| PortError::new(ErrorKind::Corrupt, "encoding a scan job", e))?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| AwsError::build("building a scan job message", e))?,
                );
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| AwsError::sdk("sending scan jobs", e))?;
            if let Some(f) = out.failed().first() {
                // Sending again is safe: a job done twice does its work once.
                return Err(PortError::bare(
                    if f.sender_fault() {
                        ErrorKind::Rejected
                    } else {
                        ErrorKind::Retryable
                    },
                    format!(
                        "sending scan jobs: {} of {} refused ({}: {})",
                        out.failed().len(),
                        chunk.len(),
                        f.code(),
                        f.message().unwrap_or("")
                    ),
                ));
            }
        }
        Ok(())
    }
}
