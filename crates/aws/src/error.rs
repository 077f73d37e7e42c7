use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use retention_app::{ErrorKind, PortError};

/// Our fault or AWS's, never the caller's: logged with its whole cause chain, answered 500.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{context}: {detail}")]
    Sdk {
        context: &'static str,
        detail: String,
        /// Whether the same request may succeed later (a throttle, a timeout, a 5xx).
        retryable: bool,
    },
    #[error("item {key} is corrupt: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("{context}: gave up after {attempts} attempts (contention)")]
    Contention {
        context: &'static str,
        attempts: u32,
    },
    /// The process's environment lacks what it needs to reach AWS.
    #[error("configuration: {0}")]
    Config(String),
    /// A use case's error, on its way back through an adapter method.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Service error codes that mean "later, maybe": throttles and the service's own trouble.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Whether an SDK failure may go away by itself: no answer (timeout, dispatch, an unreadable
/// response) or a throttle or server error; a request the service refused as it is cannot.
pub fn retryable<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => RETRYABLE_CODES.contains(&ctx.err().code().unwrap_or("")),
        _ => false,
    }
}

impl AwsError {
    /// A failed SDK call while doing `context`.
    pub fn sdk<E, R>(context: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        AwsError::Sdk {
            context,
            retryable: retryable(&err),
            detail: DisplayErrorContext(err).to_string(),
        }
    }
    /// A request that could not be built (a required field missing: our bug, never retryable).
    pub fn build(context: &'static str, err: impl std::error::Error + 'static) -> Self {
        AwsError::Sdk {
            context,
            retryable: false,
            detail: DisplayErrorContext(err).to_string(),
        }
    }
    /// Items the service kept leaving unprocessed (throttling): worth trying again later.
    pub fn throttled(context: &'static str, left: usize) -> Self {
        AwsError::Sdk {
            context,
            retryable: true,
            detail: format!("{left} items left unprocessed after repeated attempts (throttled)"),
        }
    }
    pub fn corrupt(key: impl Into<String>, detail: impl ToString) -> Self {
        AwsError::Corrupt {
            key: key.into(),
            detail: detail.to_string(),
        }
    }
}

impl From<AwsError> for PortError {
    fn from(e: AwsError) -> Self {
        if let AwsError::Port(p) = e {
            return p;
        }
        let kind = match &e {
            AwsError::Port(_) => unreachable!("returned above"),
            AwsError::Sdk {
                retryable: true, ..
            } => ErrorKind::Retryable,
            AwsError::Sdk { .. } => ErrorKind::Rejected,
            AwsError::Corrupt { .. } => ErrorKind::Corrupt,
            AwsError::Contention { .. } => ErrorKind::Contention,
            AwsError::Config(_) => ErrorKind::Config,
        };
        let context = e.to_string();
        PortError::new(kind, context, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(code: &str) -> SdkError<ErrorMetadata, HttpResponse> {
        let raw = HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        );
        SdkError::service_error(ErrorMetadata::builder().code(code).build(), raw)
    }

    #[test]
    fn throttles_and_timeouts_are_retryable_and_refusals_are_not() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
        ] {
            assert!(
                PortError::from(AwsError::sdk("x", service(code))).is_retryable(),
                "{code}"
            );
        }
        for code in [
            "ValidationException",
            "AccessDeniedException",
            "ResourceNotFoundException",
        ] {
            let e = PortError::from(AwsError::sdk("x", service(code)));
            assert_eq!(e.kind(), ErrorKind::Rejected, "{code}");
        }
        let timeout: SdkError<ErrorMetadata, HttpResponse> = SdkError::timeout_error("slow");
        assert!(PortError::from(AwsError::sdk("x", timeout)).is_retryable());
        let e = PortError::from(AwsError::corrupt("k", "bad"));
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(
            std::error::Error::source(&e).is_some(),
            "the adapter's error is kept"
        );
    }
}
