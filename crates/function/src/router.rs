//! A small declarative router: method + path pattern, matched wherever a stage prefix puts the path.
//!
//! API Gateway hands a function the path with the stage in front when the stage is named
//! (`/prod/webhooks/shopify/s1`), and a custom domain's base path mapping may add more; so a pattern
//! matches the path's last segments, and whatever comes before them is the prefix. A trailing slash is
//! tolerated. A path no pattern matches is a 404; a path some pattern matches under another method is
//! a 405 that names the allowed methods (and says so in `Allow`).

use crate::outcome::Rejection;
use lambda_http::http::{Method, StatusCode};

/// One segment of a pattern: a literal, or a `{name}` that takes any non-empty segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Param(&'static str),
}

#[derive(Debug, Clone)]
struct Route<R> {
    method: Method,
    pattern: &'static str,
    segments: Vec<Segment>,
    id: R,
}

/// The routes a function serves, each with the value (`R`, usually a small enum) that says which.
#[derive(Debug, Clone)]
pub struct Router<R> {
    routes: Vec<Route<R>>,
}

/// A matched route: which one, and the segments its `{placeholders}` took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'p, R> {
    pub id: R,
    /// The pattern as declared, for the log line (`/webhooks/{platform}/{store_id}`).
    pub pattern: &'static str,
    params: Vec<(&'static str, &'p str)>,
}

impl<R> Matched<'_, R> {
    /// The segment the placeholder `{name}` took.
    ///
    /// # Panics
    /// When the pattern has no such placeholder: a bug in the function's route table.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("route {} has no placeholder {{{name}}}", self.pattern))
    }
}

impl<R: Clone> Router<R> {
    pub fn new() -> Self {
        Self { routes: Vec::new() }
    }

    /// Adds `method pattern` (e.g. `POST /stores/{store_id}/coupons`), answered as `id`.
    ///
    /// # Panics
    /// When the pattern is not `/`-separated literals and `{placeholders}`: a bug, caught by the
    /// first test that builds the router.
    pub fn route(mut self, method: Method, pattern: &'static str, id: R) -> Self {
        let segments = pattern
            .trim_matches('/')
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !name.is_empty() => Segment::Param(name),
                    _ => {
                        assert!(
                            !s.is_empty() && !s.contains(['{', '}']),
                            "bad route pattern {pattern:?}"
                        );
                        Segment::Literal(s)
                    }
                },
            )
            .collect();
        self.routes.push(Route {
            method,
            pattern,
            segments,
            id,
        });
        self
    }

    /// The route `method path` takes, or the rejection to answer: 404 (no pattern matches the path)
    /// or 405 (some do, under other methods).
    pub fn find<'p>(&self, method: &Method, path: &'p str) -> Result<Matched<'p, R>, Rejection> {
        let parts: Vec<&'p str> = path.trim_end_matches('/').split('/').collect();
        let mut allowed: Vec<&Method> = Vec::new();
        for route in &self.routes {
            let Some(params) = matches(&route.segments, &parts) else {
                continue;
            };
            if route.method == *method {
                return Ok(Matched {
                    id: route.id.clone(),
                    pattern: route.pattern,
                    params,
                });
            }
            if !allowed.contains(&&route.method) {
                allowed.push(&route.method);
            }
        }
        if allowed.is_empty() {
            return Err(Rejection::new(
                StatusCode::NOT_FOUND,
                format!("no such route; use {}", self.usage()),
            ));
        }
        let names: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
        Err(Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "method {method} is not allowed here; use {}",
                names.join(" or ")
            ),
        )
        .with_header("allow", names.join(", ")))
    }

    /// The patterns, for the 404's hint.
    fn usage(&self) -> String {
        let mut patterns: Vec<&str> = Vec::new();
        for r in &self.routes {
            if !patterns.contains(&r.pattern) {
                patterns.push(r.pattern);
            }
        }
        patterns.join(" or ")
    }
}

impl<R: Clone> Default for Router<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// The placeholders' values when `segments` match the last segments of `parts`.
fn matches<'p>(segments: &[Segment], parts: &[&'p str]) -> Option<Vec<(&'static str, &'p str)>> {
    // parts[0] is the empty string before the leading slash, never a segment of the pattern.
    let tail = parts
        .len()
        .checked_sub(segments.len())
        .filter(|&s| s >= 1)?;
    let mut params = Vec::new();
    for (segment, part) in segments.iter().zip(&parts[tail..]) {
        match segment {
            Segment::Literal(l) if l == part => {}
            Segment::Param(name) if !part.is_empty() => params.push((*name, *part)),
            _ => return None,
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum R {
        Webhook,
        Issue,
        Check,
    }

    fn router() -> Router<R> {
        Router::new()
            .route(Method::POST, "/webhooks/{platform}/{store_id}", R::Webhook)
            .route(Method::POST, "/stores/{store_id}/coupons", R::Issue)
            .route(Method::GET, "/stores/{store_id}/coupons/{code}", R::Check)
    }

    fn found(method: Method, path: &str) -> (R, Vec<(&'static str, String)>) {
        let m = router().find(&method, path).expect("a route");
        let params = m.params.iter().map(|(k, v)| (*k, v.to_string())).collect();
        (m.id, params)
    }

    #[test]
    fn matches_with_and_without_a_stage_prefix() {
        for path in [
            "/webhooks/shopify/demo",
            "/prod/webhooks/shopify/demo",
            "/prod/webhooks/shopify/demo/",
            "/api/v1/webhooks/shopify/demo",
        ] {
            assert_eq!(
                found(Method::POST, path),
                (
                    R::Webhook,
                    vec![("platform", "shopify".into()), ("store_id", "demo".into())]
                ),
                "{path}"
            );
        }
        assert_eq!(
            found(Method::GET, "/prod/stores/s1/coupons/ABC-DEF/"),
            (
                R::Check,
                vec![("store_id", "s1".into()), ("code", "ABC-DEF".into())]
            )
        );
        let m = router().find(&Method::POST, "/stores/s1/coupons").unwrap();
        assert_eq!((m.id, m.param("store_id")), (R::Issue, "s1"));
        assert_eq!(m.pattern, "/stores/{store_id}/coupons");
    }

    #[test]
    fn no_matching_path_is_a_404_that_names_the_routes() {
        for path in [
            "/webhooks/shopify",
            "/webhooks/shopify/a/b",
            "/other",
            "/",
            "",
            "/stores/s1",
            "/stores/s1/other",
            "/stores/s1/coupons/a/b",
            "/webhooks//s1",
        ] {
            let r = router().find(&Method::POST, path).unwrap_err();
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                r.message,
                "no such route; use /webhooks/{platform}/{store_id} or /stores/{store_id}/coupons \
                 or /stores/{store_id}/coupons/{code}"
            );
        }
        // A wrong method on an unknown path is still a 404: there is nothing to allow.
        let r = router().find(&Method::GET, "/nothing").unwrap_err();
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_known_path_under_another_method_is_a_405_with_allow() {
        let r = router()
            .find(&Method::GET, "/prod/webhooks/shopify/s1")
            .unwrap_err();
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.message, "method GET is not allowed here; use POST");
        assert_eq!(r.headers, vec![("allow", "POST".to_string())]);

        let both = Router::new().route(Method::GET, "/pages/{id}", 1).route(
            Method::POST,
            "/pages/{id}",
            2,
        );
        let r = both.find(&Method::DELETE, "/pages/x").unwrap_err();
        assert_eq!(
            r.message,
            "method DELETE is not allowed here; use GET or POST"
        );
        assert_eq!(r.headers, vec![("allow", "GET, POST".to_string())]);
        assert_eq!(both.find(&Method::POST, "/pages/x").unwrap().id, 2);
    }

    #[test]
    #[should_panic(expected = "bad route pattern")]
    fn a_malformed_pattern_is_caught_when_the_router_is_built() {
        let _ = Router::new().route(Method::GET, "/a/{b", ());
    }
}
