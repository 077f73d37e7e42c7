//! How a request ended, and the one structured log line that says so.
//!
//! Two kinds of failure, answered differently: the caller's fault is a [`Rejection`], a 4xx whose
//! message says what to fix; ours is [`Outcome::Failed`], logged with its whole `source()` chain and
//! answered with an opaque 500 (the cause is for the operator, not the caller).

use crate::answer::json;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use std::error::Error;
use std::fmt::Display;
use std::time::Instant;

/// The caller's fault: answered `{"error": message}` with `status` (and any `headers`, such as a
/// 405's `Allow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Rejection {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn into_response(self) -> Response<Body> {
        let mut response = json(self.status, json!({ "error": self.message }));
        for (name, value) in self.headers {
            if let Ok(v) = value.parse() {
                response.headers_mut().insert(name, v);
            }
        }
        response
    }
}

/// How a request ended.
#[derive(Debug)]
pub enum Outcome {
    /// Served as asked. `label` is the log line's outcome (`processed`, `issued`, …).
    Answered {
        label: &'static str,
        response: Response<Body>,
        detail: Option<String>,
    },
    Rejected(Rejection),
    /// Our fault. `answer` is all the caller learns: what happened to their request, and whether to
    /// retry.
    Failed {
        error: Box<dyn Error + Send + Sync>,
        answer: &'static str,
    },
}

impl Outcome {
    pub fn answered(label: &'static str, response: Response<Body>) -> Self {
        Outcome::Answered {
            label,
            response,
            detail: None,
        }
    }
    /// Adds a detail for the log line (not the answer).
    pub fn with_detail(mut self, text: impl Display) -> Self {
        if let Outcome::Answered { detail, .. } = &mut self {
            *detail = Some(text.to_string());
        }
        self
    }
    pub fn rejected(status: StatusCode, message: impl Into<String>) -> Self {
        Outcome::Rejected(Rejection::new(status, message))
    }
    pub fn failed(error: impl Into<Box<dyn Error + Send + Sync>>, answer: &'static str) -> Self {
        Outcome::Failed {
            error: error.into(),
            answer,
        }
    }
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Answered { label, .. } => label,
            Outcome::Rejected(_) => "rejected",
            Outcome::Failed { .. } => "failed",
        }
    }
}

impl From<Rejection> for Outcome {
    fn from(r: Rejection) -> Self {
        Outcome::Rejected(r)
    }
}

/// What the request's log line will say, filled in as the handler learns it; [`RequestLog::finish`]
/// writes the line and turns the outcome into the answer.
#[derive(Debug)]
pub struct RequestLog {
    function: &'static str,
    started: Instant,
    route: Option<&'static str>,
    store: Option<String>,
    topic: Option<String>,
    delivery: Option<String>,
    code: Option<String>,
}

impl RequestLog {
    pub fn start(function: &'static str) -> Self {
        Self {
            function,
            started: Instant::now(),
            route: None,
            store: None,
            topic: None,
            delivery: None,
            code: None,
        }
    }
    /// The matched route's pattern.
    pub fn route(&mut self, pattern: &'static str) {
        self.route = Some(pattern);
    }
    pub fn store(&mut self, store: impl Display) {
        self.store = Some(store.to_string());
    }
    /// A webhook's topic or kind of change.
    pub fn topic(&mut self, topic: impl Display) {
        self.topic = Some(topic.to_string());
    }
    /// The platform's delivery id, to find a delivery in its dashboard.
    pub fn delivery(&mut self, delivery: impl Display) {
        self.delivery = Some(delivery.to_string());
    }
    /// A coupon code.
    pub fn code(&mut self, code: impl Display) {
        self.code = Some(code.to_string());
    }

    /// Logs the one line for this request (info when answered, warn when rejected, error when
    /// failed) and returns the answer.
    pub fn finish(self, outcome: Outcome) -> Response<Body> {
        let latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let label = outcome.label();
        macro_rules! line {
            ($level:ident, $status:expr, $($field:tt)*) => {
                tracing::$level!(
                    function = self.function,
                    route = self.route,
                    store = self.store,
                    topic = self.topic,
                    delivery = self.delivery,
                    code = self.code,
                    outcome = label,
                    status = $status,
                    latency_ms,
                    $($field)*
                    "request"
                )
            };
        }
        match outcome {
            Outcome::Answered {
                response, detail, ..
            } => {
                line!(info, response.status().as_u16(), detail,);
                response
            }
            Outcome::Rejected(r) => {
                line!(warn, r.status.as_u16(), detail = %r.message,);
                r.into_response()
            }
            Outcome::Failed { error, answer } => {
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                line!(error, status.as_u16(), error = %chain(error.as_ref()),);
                json(status, json!({ "error": answer }))
            }
        }
    }
}

impl RequestLog {
    /// [`RequestLog::finish`] for pages a person reads: a rejection or our failure is answered
    /// with the HTML that `page(status, message)` renders (with [`crate::HTML_HEADERS`], and a
    /// 405's `Allow`) instead of JSON. The log line is the same.
    pub fn finish_page(
        self,
        outcome: Outcome,
        page: impl FnOnce(StatusCode, &str) -> String,
    ) -> Response<Body> {
        let refused = match &outcome {
            Outcome::Answered { .. } => None,
            Outcome::Rejected(r) => Some((r.status, r.message.clone(), r.headers.clone())),
            Outcome::Failed { answer, .. } => Some((
                StatusCode::INTERNAL_SERVER_ERROR,
                answer.to_string(),
                Vec::new(),
            )),
        };
        let response = self.finish(outcome);
        let Some((status, message, headers)) = refused else {
            return response;
        };
        let mut answer = crate::html(status, page(status, &message));
        for (name, value) in headers {
            if let Ok(v) = value.parse() {
                answer.headers_mut().insert(name, v);
            }
        }
        answer
    }
}

/// The error and every `source()` under it, `: `-separated. A source whose text its parent already
/// ends with (`#[error("…: {0}")]` over `#[source]`) is not repeated.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.ends_with(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The JSON log lines `f` writes, and what it returns.
    fn logged<T>(f: impl FnOnce() -> T) -> (Vec<serde_json::Value>, T) {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .with_current_span(false)
            .without_time()
            .finish();
        let value = tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines, value)
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    fn body(r: &Response<Body>) -> serde_json::Value {
        match r.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            _ => panic!("a text body"),
        }
    }

    #[test]
    fn a_failure_logs_its_whole_chain_and_answers_an_opaque_500() {
        let error = Layer(
            "applying the delivery",
            Some(Box::new(Layer(
                "PutItem: throttled",
                Some(Box::new(Layer("connection reset", None))),
            ))),
        );
        let (lines, response) = logged(|| {
            let mut log = RequestLog::start("order-webhook");
            log.route("/webhooks/{platform}/{store_id}");
            log.store("s1");
            log.topic("orders/create");
            log.finish(Outcome::failed(error, "internal error; retry"))
        });
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body(&response), json!({ "error": "internal error; retry" }));
        assert_eq!(lines.len(), 1, "one line per request: {lines:?}");
        let line = &lines[0];
        assert_eq!(line["level"], "ERROR");
        let f = &line["fields"];
        assert_eq!(f["function"], "order-webhook");
        assert_eq!(f["route"], "/webhooks/{platform}/{store_id}");
        assert_eq!(
            (&f["store"], &f["topic"]),
            (&json!("s1"), &json!("orders/create"))
        );
        assert_eq!(
            (&f["outcome"], &f["status"]),
            (&json!("failed"), &json!(500))
        );
        assert!(f["latency_ms"].is_number());
        assert_eq!(
            f["error"],
            "applying the delivery: PutItem: throttled: connection reset"
        );
    }

    #[test]
    fn a_rejection_answers_its_message_and_headers_and_logs_a_warning() {
        let (lines, response) = logged(|| {
            RequestLog::start("coupon-issuer").finish(
                Rejection::new(StatusCode::METHOD_NOT_ALLOWED, "use POST")
                    .with_header("allow", "POST")
                    .into(),
            )
        });
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "POST");
        assert_eq!(body(&response), json!({ "error": "use POST" }));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["fields"]["outcome"], "rejected");
        assert_eq!(lines[0]["fields"]["status"], 405);
        assert_eq!(lines[0]["fields"]["detail"], "use POST");
    }

    #[test]
    fn an_answer_is_passed_through_with_its_label() {
        let (lines, response) = logged(|| {
            let mut log = RequestLog::start("coupon-issuer");
            log.code("WB-7KQ4-M9XH");
            log.finish(
                Outcome::answered("issued", json(StatusCode::CREATED, json!({"code": "x"})))
                    .with_detail("new"),
            )
        });
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(lines.len(), 1);
        let f = &lines[0]["fields"];
        assert_eq!(
            (&f["outcome"], &f["status"]),
            (&json!("issued"), &json!(201))
        );
        assert_eq!(
            (&f["code"], &f["detail"]),
            (&json!("WB-7KQ4-M9XH"), &json!("new"))
        );
    }

    #[test]
    fn a_page_answers_rejections_and_failures_as_html_with_the_same_log_line() {
        let page = |status: StatusCode, message: &str| format!("<p>{status}: {message}</p>");
        let (lines, response) = logged(|| {
            RequestLog::start("customer-pages").finish_page(
                Rejection::new(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST")
                    .with_header("allow", "GET, POST")
                    .into(),
                page,
            )
        });
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "GET, POST");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        assert!(response.headers().contains_key("content-security-policy"));
        match response.body() {
            Body::Text(t) => assert_eq!(t, "<p>405 Method Not Allowed: use GET or POST</p>"),
            _ => panic!("a text body"),
        }
        assert_eq!(lines[0]["fields"]["outcome"], "rejected");

        let (lines, response) = logged(|| {
            RequestLog::start("customer-pages").finish_page(
                Outcome::failed(Layer("GetItem: timeout", None), "nothing changed; retry"),
                page,
            )
        });
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        match response.body() {
            Body::Text(t) => {
                assert!(t.contains("nothing changed; retry") && !t.contains("GetItem"))
            }
            _ => panic!("a text body"),
        }
        assert_eq!(lines[0]["fields"]["error"], "GetItem: timeout");

        let (_, response) = logged(|| {
            RequestLog::start("customer-pages").finish_page(
                Outcome::answered("shown", crate::html(StatusCode::OK, "<p>hi</p>")),
                page,
            )
        });
        match response.body() {
            Body::Text(t) => assert_eq!(t, "<p>hi</p>"),
            _ => panic!("a text body"),
        }
    }

    #[test]
    fn the_chain_does_not_repeat_a_source_its_parent_already_shows() {
        let e = Layer(
            "reading store s1: timeout",
            Some(Box::new(Layer("timeout", None))),
        );
        assert_eq!(chain(&e), "reading store s1: timeout");
    }
}
