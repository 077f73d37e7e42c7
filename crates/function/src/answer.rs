//! Answers and what every answer carries: JSON for machines, small HTML pages for customers, and the
//! request body only when it is within the function's limit.

use crate::outcome::Rejection;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

/// The policy of every HTML page, strict because the pages are small and self-contained:
///
/// - `default-src 'none'`: no scripts, frames, fonts, fetches or anything else not named below;
/// - `style-src 'unsafe-inline'`: a page's own `<style>`, and nothing from elsewhere (the functions
///   serve no stylesheets, so not even `'self'`); styles cannot run code;
/// - `img-src https: data:`: a store's logo, wherever the store hosts it, but only over HTTPS; and
///   inline images, for a page's empty icon (`<link rel="icon" href="data:,">`), without which
///   every browser asks for `/favicon.ico` and logs the 404 (a data: URL fetches nothing);
/// - `form-action 'self'`: a form (unsubscribe, survey) posts back to us and nowhere else;
/// - `frame-ancestors 'none'` (and `X-Frame-Options: DENY` for old browsers): no clickjacking;
/// - `base-uri 'none'`: an injected `<base>` cannot redirect relative links and form targets.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers of HTML pages beyond the content type: the policy above, no MIME sniffing, no referrer
/// (a page's URL may carry a customer's token), no framing, and no caching (pages are per customer).
pub const HTML_HEADERS: [(&str, &str); 5] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
];

/// A JSON answer. `nosniff`, so that no browser ever reads it as anything else.
pub fn json(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-content-type-options", "nosniff")
        .body(Body::Text(body.to_string()))
        .expect("a static response is valid")
}

/// A small HTML page, with [`HTML_HEADERS`]. `markup` must already be escaped.
pub fn html(status: StatusCode, markup: impl Into<String>) -> Response<Body> {
    HTML_HEADERS
        .iter()
        .fold(
            Response::builder()
                .status(status)
                .header("content-type", "text/html; charset=utf-8"),
            |b, (name, value)| b.header(*name, *value),
        )
        .body(Body::Text(markup.into()))
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

/// The body, or a 413 that names its size and the limit when it is larger than `limit` bytes.
pub fn body_within(req: &Request, limit: usize) -> Result<&[u8], Rejection> {
    let body = body_bytes(req);
    if body.len() > limit {
        return Err(Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is {} bytes; the limit is {limit}", body.len()),
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Response<Body>) -> &str {
        match r.body() {
            Body::Text(t) => t,
            _ => panic!("a text body"),
        }
    }

    #[test]
    fn json_is_json_with_its_status_and_nosniff() {
        let r = json(StatusCode::BAD_REQUEST, serde_json::json!({"error": "x"}));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(text(&r), r#"{"error":"x"}"#);
    }

    #[test]
    fn html_carries_every_security_header() {
        let r = html(StatusCode::OK, "<p>Unsubscribed.</p>");
        let h = r.headers();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["cache-control"], "no-store");
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        assert!(!csp.contains("script-src"), "no script is ever allowed");
        assert_eq!(text(&r), "<p>Unsubscribed.</p>");
    }

    #[test]
    fn the_body_limit_answers_413_naming_size_and_limit() {
        let req = |n: usize| {
            lambda_http::http::Request::builder()
                .body(Body::Binary(vec![b'x'; n]))
                .unwrap()
        };
        assert_eq!(body_within(&req(10), 10).unwrap().len(), 10);
        let r = body_within(&req(11), 10).unwrap_err();
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.message, "body is 11 bytes; the limit is 10");
        let empty = lambda_http::http::Request::builder()
            .body(Body::Empty)
            .unwrap();
        assert_eq!(body_within(&empty, 0).unwrap(), b"");
    }

    #[test]
    fn body_and_header_read_what_the_client_sent() {
        let req = lambda_http::http::Request::builder()
            .header("x-a", "b")
            .body(Body::Text("hi".into()))
            .unwrap();
        assert_eq!(header(&req, "x-a"), Some("b"));
        assert_eq!(header(&req, "x-missing"), None);
        assert_eq!(body_bytes(&req), b"hi");
    }
}
