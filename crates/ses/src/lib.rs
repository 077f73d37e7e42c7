//! The SES v2 adapter: the only crate that names SES types. Sends are `SendEmail` with **Raw**
//! content (moto drops a Simple message's custom headers, and Raw is what keeps our
//! List-Unsubscribe and Message-ID byte for byte), on the configuration set whose event destination
//! feeds bounces and complaints back (`email-events`), with the tags SES echoes in those events; and
//! SES's account-level suppression list, which `email-events` adds suppressed addresses to.

use async_trait::async_trait;
use aws_sdk_sesv2::error::ProvideErrorMetadata;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{EmailContent, MessageTag, RawMessage, SuppressionListReason};
use aws_sdk_sesv2::Client;
use retention_app::ports::{AccountSuppression, MailError, Mailer, OutgoingEmail};
use retention_aws::AwsError;
use retention_core::email::suppression::{Suppression, SuppressionReason};

/// An SES v2 client on the process's AWS configuration.
pub fn client(aws: &retention_aws::Aws) -> Client {
    Client::new(aws.sdk_config())
}

/// Sends through SES. Cheap to clone; build one per process.
#[derive(Clone)]
pub struct Ses {
    client: Client,
    configuration_set: Option<String>,
}

impl Ses {
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        Self {
            client,
            configuration_set: configuration_set.filter(|c| !c.is_empty()),
        }
    }

    /// Creates the sender's email identity (idempotent: an existing one is fine) and returns the
    /// DKIM CNAME tokens SES wants published (`<token>._domainkey.<domain>` → `<token>.dkim.amazonses.com`).
    pub async fn verify_sender(&self, email: &str) -> Result<Vec<String>, AwsError> {
        let out = self
            .client
            .create_email_identity()
            .email_identity(email)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .dkim_attributes()
                .map(|d| d.tokens().to_vec())
                .unwrap_or_default()),
            Err(e) if e.code() == Some("AlreadyExistsException") => {
                let got = self
                    .client
                    .get_email_identity()
                    .email_identity(email)
                    .send()
                    .await
                    .map_err(|e| AwsError::sdk("reading the sender identity", e))?;
                Ok(got
                    .dkim_attributes()
                    .map(|d| d.tokens().to_vec())
                    .unwrap_or_default())
            }
            Err(e) => Err(AwsError::sdk("creating the sender identity", e)),
        }
    }
}

/// SES's tag names and values allow only ASCII letters, digits, `_`, `-`, `.`, `@` (up to 256).
fn tag_value(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@') {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

/// Which SES errors mean what for the sender (see the `SendEmail` error list).
fn classify(code: Option<&str>, detail: String) -> MailError {
    match code {
        Some(
            "TooManyRequestsException"
            | "LimitExceededException"
            | "Throttling"
            | "ThrottlingException",
        ) => MailError::Throttled(detail),
        Some(
            "MessageRejected"
            | "MailFromDomainNotVerifiedException"
            | "AccountSuspendedException"
            | "SendingPausedException"
            | "NotFoundException"
            | "BadRequestException",
        ) => MailError::Rejected(detail),
        Some(c) if c.starts_with("InternalFailure") || c.contains("ServiceUnavailable") => {
            MailError::Transient(detail)
        }
        Some(_) => MailError::Rejected(detail),
        None => MailError::Transient(detail),
    }
}

#[async_trait]
impl Mailer for Ses {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let raw = RawMessage::builder()
            .data(Blob::new(email.raw.clone()))
            .build()
            .map_err(|e| MailError::Rejected(format!("building the raw message: {e}")))?;
        let mut tags = Vec::with_capacity(email.tags.len());
        for (k, v) in &email.tags {
            tags.push(
                MessageTag::builder()
                    .name(tag_value(k))
                    .value(tag_value(v))
                    .build()
                    .map_err(|e| MailError::Rejected(format!("building a message tag: {e}")))?,
            );
        }
        let out = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(
                aws_sdk_sesv2::types::Destination::builder()
                    .to_addresses(&email.to)
                    .build(),
            )
            .content(EmailContent::builder().raw(raw).build())
            .set_email_tags(Some(tags))
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.message_id().unwrap_or_default().to_owned()),
            Err(e) => {
                let code = e.code().map(str::to_owned);
                let detail = aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string();
                Err(classify(code.as_deref(), detail))
            }
        }
    }

    async fn max_send_rate(&self) -> retention_app::Result<Option<u32>> {
        match self.client.get_account().send().await {
            Ok(a) => Ok(a
                .send_quota()
                .map(|q| q.max_send_rate().floor().max(1.0) as u32)),
            // moto has no GetAccount (404): the configured rate applies.
            Err(e) => {
                tracing::debug!(error = %aws_sdk_sesv2::error::DisplayErrorContext(&e), "GetAccount unavailable");
                Ok(None)
            }
        }
    }
}

/// SES's account-level suppression list (`PutSuppressedDestination`, IAM action
/// `ses:PutSuppressedDestination`): SES itself then refuses to send to the address from any store of
/// the account, which protects the account's reputation even from a sender that forgot to check.
/// moto answers 404 (not implemented); the caller logs that and relies on the store's own list.
#[async_trait]
impl AccountSuppression for Ses {
    async fn suppress_account_wide(&self, entry: &Suppression) -> retention_app::Result<()> {
        let reason = match entry.reason {
            SuppressionReason::Bounce => SuppressionListReason::Bounce,
            SuppressionReason::Complaint => SuppressionListReason::Complaint,
        };
        self.client
            .put_suppressed_destination()
            .email_address(entry.email.as_str())
            .reason(reason)
            .send()
            .await
            .map_err(|e| {
                AwsError::sdk("adding the address to SES's account suppression list", e)
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_for_retrying() {
        let t = |c| classify(Some(c), String::new());
        assert!(matches!(
            t("TooManyRequestsException"),
            MailError::Throttled(_)
        ));
        assert!(matches!(t("MessageRejected"), MailError::Rejected(_)));
        assert!(matches!(
            t("SendingPausedException"),
            MailError::Rejected(_)
        ));
        assert!(matches!(
            classify(None, String::new()),
            MailError::Transient(_)
        ));
        assert_eq!(tag_value("win back/2026"), "win_back_2026");
    }
}
