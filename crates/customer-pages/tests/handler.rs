//! The handler on the in-memory ports: a GET shows and changes nothing, a POST unsubscribes (once),
//! and every bad link, unknown subscriber, wrong method or oversized body gets its own clear page.

use chrono::{DateTime, Utc};
use customer_pages::{handle, App, UnsubscribePorts, MAX_BODY_BYTES};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use retention_app::memory::Memory;
use retention_app::ports::Customers;
use retention_core::email::link::{unsubscribe_url, Claims, LinkSecret, Purpose};
use retention_core::profile::Profile;
use retention_core::store::{MailSettings, Store};
use retention_core::webhook::{Person, Platform};
use retention_core::{CustomerId, Email, StoreId};
use std::sync::Arc;

const BASE: &str = "https://pages.example.com/prod";

fn secret() -> LinkSecret {
    LinkSecret::new("0123456789abcdef0123456789abcdef").unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-12-04T10:00:00Z".parse().unwrap()
}

struct Fixture {
    memory: Arc<Memory>,
    app: App,
    store: StoreId,
    customer: CustomerId,
}

impl Fixture {
    fn new() -> Self {
        let memory = Arc::new(Memory::new());
        let store = StoreId::parse("acme").unwrap();
        let customer = CustomerId::parse("c-1").unwrap();
        memory.add_store(Store {
            id: store.clone(),
            platform: Platform::Shopify,
            webhook_secrets: vec![],
            name: Some("Acme <Cats> & Co".into()),
            from_email: None,
            timezone: Some("Europe/Berlin".into()),
            currency: None,
            mail: MailSettings {
                brand_color: Some("#7c3aed".into()),
                ..MailSettings::default()
            },
        });
        memory.put_profile(
            &store,
            &customer,
            Profile {
                person: Person {
                    email: Some(Email::parse("maya@example.com").unwrap()),
                    ..Person::default()
                },
                ..Profile::default()
            },
        );
        let ports = UnsubscribePorts {
            stores: memory.clone(),
            customers: memory.clone(),
            consent: memory.clone(),
            platform: None,
        };
        let app = App::new(ports, secret()).with_clock(retention_function::fixed_clock(now()));
        Self {
            memory,
            app,
            store,
            customer,
        }
    }

    /// The path of the customer's link as an email carries it (under a stage prefix).
    fn path(&self) -> String {
        let url = unsubscribe_url(BASE, &secret(), &self.store, &self.customer);
        url.strip_prefix("https://pages.example.com")
            .unwrap()
            .to_string()
    }

    async fn send(&self, method: Method, path: &str, body: &[u8]) -> (StatusCode, Response<Body>) {
        let req: Request = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://pages.example.com{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(if body.is_empty() {
                Body::Empty
            } else {
                Body::Binary(body.to_vec())
            })
            .unwrap();
        let r = handle(&self.app, req).await.unwrap();
        (r.status(), r)
    }

    async fn unsubscribed_at(&self) -> Option<DateTime<Utc>> {
        self.memory
            .profile(&self.store, &self.customer)
            .await
            .unwrap()
            .unwrap()
            .unsubscribed_at
    }
}

fn text(r: &Response<Body>) -> &str {
    match r.body() {
        Body::Text(t) => t,
        _ => panic!("a text body"),
    }
}

/// Every answer is a self-contained page under the strict policy.
fn assert_page(r: &Response<Body>) {
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let t = text(r);
    assert!(t.starts_with("<!DOCTYPE html>"), "{t}");
    assert!(
        !t.contains("<script") && !t.contains("src=") && !t.contains("http"),
        "{t}"
    );
}

#[tokio::test]
async fn a_get_shows_the_confirmation_and_changes_nothing() {
    let f = Fixture::new();
    for path in [
        f.path(),
        f.path().replace("/prod", ""),
        format!("{}/", f.path()),
    ] {
        let (status, r) = f.send(Method::GET, &path, b"").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_page(&r);
        let t = text(&r);
        assert!(
            t.contains(
                "Unsubscribe m***@example.com from Acme &lt;Cats&gt; &amp; Co marketing email?"
            ),
            "{t}"
        );
        assert!(
            t.contains(r#"<form method="post">"#)
                && t.contains(r#"name="List-Unsubscribe" value="One-Click""#)
        );
        assert!(t.contains("#7c3aed"), "the store's colour");
        assert!(!t.contains("maya@"), "the address is masked");
    }
    assert_eq!(f.unsubscribed_at().await, None);
}

#[tokio::test]
async fn a_post_unsubscribes_at_once_and_the_first_time_stands() {
    let f = Fixture::new();
    let (status, r) = f
        .send(Method::POST, &f.path(), b"List-Unsubscribe=One-Click")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_page(&r);
    assert!(text(&r).contains("You are unsubscribed"));
    assert_eq!(f.unsubscribed_at().await, Some(now()));

    // Again (a retried one-click, the page's button pressed twice, an empty body): still 200.
    let (status, _) = f.send(Method::POST, &f.path(), b"").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(f.unsubscribed_at().await, Some(now()));

    // The link opened later says so, with the date in the store's zone.
    let (status, r) = f.send(Method::GET, &f.path(), b"").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&r).contains("since 4 December 2026"), "{}", text(&r));
    assert!(!text(&r).contains("<form"));
}

#[tokio::test]
async fn forged_tampered_and_foreign_tokens_are_a_400_page_and_write_nothing() {
    let f = Fixture::new();
    let other = LinkSecret::new("another secret of enough bytes").unwrap();
    let forged = Claims::unsubscribe(&f.store, &f.customer).sign(&other);
    let mut survey = Claims::unsubscribe(&f.store, &f.customer);
    survey.purpose = Purpose::Survey;
    let survey = survey.sign(&secret());
    // The signature of c-1's link on a payload naming another store.
    let good = Claims::unsubscribe(&f.store, &f.customer).sign(&secret());
    let (_, mac) = good.split_once('.').unwrap();
    let (other_store, _) = Claims::unsubscribe(&StoreId::parse("other").unwrap(), &f.customer)
        .sign(&secret())
        .split_once('.')
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .unwrap();
    let wrong_store = format!("{other_store}.{mac}");
    let mut flipped = good.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for (token, says) in [
        (forged.as_str(), "signature does not match"),
        (survey.as_str(), "for something else"),
        (wrong_store.as_str(), "signature does not match"),
        (flipped.as_str(), "signature does not match"),
        ("not-a-token", "malformed"),
        (&"x".repeat(3000), "malformed"),
    ] {
        for method in [Method::GET, Method::POST] {
            let (status, r) = f
                .send(
                    method.clone(),
                    &format!("/prod/u/{token}"),
                    b"List-Unsubscribe=One-Click",
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {token}");
            assert_page(&r);
            let t = text(&r);
            assert!(
                t.contains("This link does not work") && t.contains(says),
                "{t}"
            );
            assert!(t.contains("Nothing was changed"));
        }
    }
    assert_eq!(f.unsubscribed_at().await, None);
}

#[tokio::test]
async fn a_signed_link_for_an_unknown_store_or_customer_is_a_404_page() {
    let f = Fixture::new();
    let gone = StoreId::parse("gone").unwrap();
    let ghost = CustomerId::parse("ghost").unwrap();
    for (s, c) in [(&gone, &f.customer), (&f.store, &ghost)] {
        let url = unsubscribe_url(BASE, &secret(), s, c);
        let path = url.strip_prefix("https://pages.example.com").unwrap();
        for method in [Method::GET, Method::POST] {
            let (status, r) = f.send(method, path, b"").await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_page(&r);
            assert!(text(&r).contains("do not know"));
        }
    }
    assert_eq!(f.unsubscribed_at().await, None);
    assert!(f.memory.profile(&f.store, &ghost).await.unwrap().is_none());
}

#[tokio::test]
async fn an_oversized_body_is_a_413_and_other_requests_get_pages_too() {
    let f = Fixture::new();
    let (status, r) = f
        .send(Method::POST, &f.path(), &vec![b'x'; MAX_BODY_BYTES + 1])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_page(&r);
    assert_eq!(f.unsubscribed_at().await, None);

    let (status, r) = f.send(Method::DELETE, &f.path(), b"").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET, POST");
    assert_page(&r);

    let (status, r) = f.send(Method::GET, "/prod/other", b"").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_page(&r);
}
