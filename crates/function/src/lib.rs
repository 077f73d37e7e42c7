//! What every function binary shares, so that each function crate holds only its own logic: the
//! logging setup `main` calls first, and the small pieces of `lambda_http` plumbing every handler
//! needs (a JSON answer, a header, the raw body).
//!
//! Not a function itself: it has no `[[bin]]`, so `make build` and the template checks pass it by.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

/// JSON logs, one object a line, at the level in `RUST_LOG` (default `info`). No timestamps:
/// CloudWatch stamps every line already.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .init();
}

/// A JSON answer.
pub fn reply(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .expect("a static response is valid")
}

/// A header's value, if it is there and is text.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The body as the client sent it (API Gateway hands it over as text or, base64-decoded, as bytes).
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_is_json_with_its_status() {
        let r = reply(StatusCode::BAD_REQUEST, serde_json::json!({"error": "x"}));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert!(matches!(r.body(), Body::Text(t) if t == r#"{"error":"x"}"#));
    }

    #[test]
    fn body_and_header_read_what_the_client_sent() {
        let req = lambda_http::http::Request::builder()
            .header("x-a", "b")
            .body(Body::Binary(vec![1, 2]))
            .unwrap();
        assert_eq!(header(&req, "x-a"), Some("b"));
        assert_eq!(header(&req, "x-missing"), None);
        assert_eq!(body_bytes(&req), &[1, 2]);
        let empty = lambda_http::http::Request::builder()
            .body(Body::Empty)
            .unwrap();
        assert_eq!(body_bytes(&empty), b"");
    }
}
