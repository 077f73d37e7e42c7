//! Customer pages and emails in headless Chromium. (a) The unsubscribe link of a composed email,
//! taken out of its MIME as a mail client would, followed against the real handler on moto's
//! DynamoDB served over HTTP: a link scanner's GET changes nothing, the page's button unsubscribes,
//! a one-click POST without a browser unsubscribes, a forged link is a 400 page. (b) Every
//! template's preview renders with no console error and loads nothing but the store's logo.
//! Screenshots go to target/test-artifacts/.

use chrono::{DateTime, Utc};
use customer_pages::App;
use fantoccini::Locator;
use mail_parser::MessageParser;
use retention_app::ports::{Compose, ComposeRequest};
use retention_core::email::link::{unsubscribe_url, Claims, LinkSecret};
use retention_core::{CustomerId, StoreId};
use retention_dynamodb::Table;
use retention_email::{sample, Composer, Links, Templates, CUSTOMER_TEMPLATES, STORE_TEMPLATES};
use retention_tests::browser::{fetch, lambda_request, reply_of, Browser, Reply, Server};
use retention_tests::*;
use std::sync::Arc;

use crate::customer_pages::{marketing_allowed, subscribed_customer};

/// Where `cargo lambda watch` serves a function: the prefix links start with locally.
const PREFIX: &str = "/lambda-url/customer-pages";

fn secret() -> LinkSecret {
    LinkSecret::new("a-local-secret-of-enough-bytes").unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The function's handler on `table`, served over HTTP as `cargo lambda watch` serves it.
async fn serve_function(table: &Table) -> Server {
    let app = Arc::new(App::new(
        customer_pages::ports(Arc::new(table.clone()), None),
        secret(),
    ));
    Server::start(move |req| {
        let app = app.clone();
        async move {
            let resp = customer_pages::handle(&app, lambda_request(&req))
                .await
                .expect("infallible");
            reply_of(resp)
        }
    })
    .await
}

/// A win-back email to `customer`, composed as the sender composes it, with links under `base`.
async fn email_to(table: &Table, store: &StoreId, customer: &CustomerId, base: &str) -> Vec<u8> {
    let shop = sample::store(None);
    let profile = table
        .get_profile(store, customer)
        .await
        .unwrap()
        .expect("known customer");
    let to = profile.person.email.clone().unwrap();
    let url = unsubscribe_url(base, &secret(), store, customer);
    let mailto = format!(
        "mailto:{}?subject=unsubscribe",
        shop.from_email.as_ref().unwrap()
    );
    let composer = Composer::new(
        Templates::builtin(),
        Some(Links {
            secret: secret(),
            base: base.into(),
        }),
    );
    let message = sample::message("win-back");
    composer
        .compose(&ComposeRequest {
            store: &shop,
            message: &message,
            customer,
            profile: &profile,
            to: &to,
            unsubscribe: Some((&url, &mailto)),
            now: sample::now(),
        })
        .unwrap()
}

/// The https/http URL of `List-Unsubscribe`, checked against `List-Unsubscribe-Post` and the
/// visible footer link, as a mail client finds them.
fn unsubscribe_link(mime: &[u8]) -> String {
    let m = MessageParser::default()
        .parse(mime)
        .expect("a MIME message");
    let header = m.header_raw("List-Unsubscribe").expect("List-Unsubscribe");
    let urls: Vec<&str> = header
        .split(['<', '>'])
        .map(str::trim)
        .filter(|p| p.starts_with("http") || p.starts_with("mailto:"))
        .collect();
    assert!(urls.iter().any(|u| u.starts_with("mailto:")), "{header}");
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    let url = urls
        .iter()
        .find(|u| u.starts_with("http"))
        .expect("an http(s) URL")
        .to_string();
    let html = m.body_html(0).expect("an HTML part");
    // minijinja escapes `/` in attributes (`&#x2f;`), which a browser reads back as `/`.
    let html = html.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(
        html.contains(&format!("href=\"{url}\"")),
        "footer link: {html}"
    );
    url
}

#[tokio::test]
async fn the_unsubscribe_link_of_an_email_works_in_a_browser_and_nothing_else_unsubscribes() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let table = fresh_table("pages-browser").await;
    let shop = sample::store(None);
    assert!(table.put_store(&shop, 0).await.unwrap());
    let store = shop.id.clone();
    let (ada, ben) = (
        CustomerId::parse("c-ada").unwrap(),
        CustomerId::parse("c-ben").unwrap(),
    );
    for c in [&ada, &ben] {
        subscribed_customer(&table, &store, c, at("2026-11-01T10:00:00Z")).await;
    }
    let server = serve_function(&table).await;
    let base = server.url(PREFIX);

    let link = unsubscribe_link(&email_to(&table, &store, &ada, &base).await);
    assert!(link.starts_with(&format!("{base}/u/")), "{link}");

    // A link scanner fetches it first: a page, and nothing changes.
    let (status, page) = fetch("GET", &link, &[], b"").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Unsubscribe c***@example.com from Whiskers &amp; Co marketing email?"),
        "{page}"
    );
    assert!(marketing_allowed(&table, &store, &ada).await);

    // The customer opens it and presses the button.
    browser.client.goto(&link).await.unwrap();
    let h1 = browser.client.find(Locator::Css("h1")).await.unwrap();
    assert!(h1
        .text()
        .await
        .unwrap()
        .contains("Unsubscribe c***@example.com from Whiskers & Co"));
    browser.screenshot("unsubscribe-confirm").await;
    // On a phone: nothing wider than the screen.
    browser.client.set_window_size(390, 844).await.unwrap();
    let fits = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, serde_json::json!(true), "the page fits a phone");
    browser.screenshot("unsubscribe-confirm-phone").await;
    browser.client.set_window_size(800, 1000).await.unwrap();
    assert!(marketing_allowed(&table, &store, &ada).await);
    browser
        .client
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = browser
        .client
        .wait()
        .for_element(Locator::XPath("//h1[contains(., 'You are unsubscribed')]"))
        .await
        .unwrap();
    assert!(done.is_displayed().await.unwrap());
    assert_eq!(browser.client.current_url().await.unwrap().as_str(), link);
    browser.screenshot("unsubscribe-done").await;
    assert!(!marketing_allowed(&table, &store, &ada).await);
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
    let posts: Vec<_> = server
        .take()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body, b"List-Unsubscribe=One-Click",
        "the button sends RFC 8058's body"
    );
    assert!(
        browser.resources().await.is_empty(),
        "the page loads nothing beyond itself"
    );

    // A mail client's one-click POST, no browser: 200 and unsubscribed at once; again: still 200.
    let link = unsubscribe_link(&email_to(&table, &store, &ben, &base).await);
    for _ in 0..2 {
        let (status, page) = fetch(
            "POST",
            &link,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"List-Unsubscribe=One-Click",
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert!(!marketing_allowed(&table, &store, &ben).await);
    }

    // A forged link: a clear 400 page, in the browser too, and nothing written.
    let carol = CustomerId::parse("c-carol").unwrap();
    subscribed_customer(&table, &store, &carol, at("2026-11-01T10:00:00Z")).await;
    let forger = LinkSecret::new("not the deployment's secret").unwrap();
    let forged = format!(
        "{base}/u/{}",
        Claims::unsubscribe(&store, &carol).sign(&forger)
    );
    let (status, page) = fetch("POST", &forged, &[], b"List-Unsubscribe=One-Click").await;
    assert_eq!(status, 400, "{page}");
    browser.client.goto(&forged).await.unwrap();
    let h1 = browser.client.find(Locator::Css("h1")).await.unwrap();
    assert_eq!(h1.text().await.unwrap(), "This link does not work");
    browser.screenshot("unsubscribe-forged").await;
    assert!(marketing_allowed(&table, &store, &carol).await);
    // The 400 itself is the only console message: no page resource failed.
    let errors = browser.console_errors().await;
    assert!(errors.iter().all(|e| e.contains("400")), "{errors:?}");
    browser.close().await;
}

/// A 1×1 transparent PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

#[tokio::test]
async fn every_template_preview_renders_cleanly_and_loads_only_the_stores_logo() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let previews: Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>> =
        Default::default();
    let pages = previews.clone();
    let server = Server::start(move |req| {
        let page = pages.lock().unwrap().get(&req.target).cloned();
        async move {
            match (req.target.as_str(), page) {
                ("/logo.png", _) => Reply::new(200, "image/png", PNG),
                // The browser's own favicon probe (an email client makes none).
                ("/favicon.ico", _) => Reply::new(204, "image/x-icon", ""),
                (_, Some(html)) => Reply::new(200, "text/html; charset=utf-8", html),
                _ => Reply::new(404, "text/plain", "not found"),
            }
        }
    })
    .await;
    let logo = server.url("/logo.png");
    let shop = sample::store(Some(&logo));
    let profile = sample::profile("Ada", &[("Cat food", 3), ("Cat toys", 2), ("Litter", 1)]);
    let to = profile.person.email.clone().unwrap();
    let customer = sample::customer();
    let base = server.url(PREFIX);
    let url = unsubscribe_url(&base, &secret(), &shop.id, &customer);
    let composer = Composer::new(
        Templates::builtin(),
        Some(Links {
            secret: secret(),
            base: base.clone(),
        }),
    );
    for name in CUSTOMER_TEMPLATES.into_iter().chain(STORE_TEMPLATES) {
        let message = sample::message(name);
        let rendered = composer
            .render(&ComposeRequest {
                store: &shop,
                message: &message,
                customer: &customer,
                profile: &profile,
                to: &to,
                unsubscribe: message
                    .marketing
                    .then_some((url.as_str(), "mailto:x@example.com")),
                now: sample::now(),
            })
            .unwrap();
        let path = format!("/preview/{name}.html");
        previews.lock().unwrap().insert(path.clone(), rendered.html);
        server.take();

        browser.client.goto(&server.url(&path)).await.unwrap();
        let logo_loaded = browser
            .client
            .execute(
                "const i = document.querySelector('img'); return i ? i.complete && i.naturalWidth > 0 : null",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            logo_loaded,
            serde_json::json!(true),
            "{name}: the logo shows"
        );
        browser.screenshot(&format!("preview-{name}")).await;
        assert_eq!(
            browser.console_errors().await,
            Vec::<String>::new(),
            "{name}"
        );
        // The browser's own favicon probe is not the page's doing (an email client makes none).
        let favicon = |u: &String| !u.ends_with("/favicon.ico");
        let loaded: Vec<String> = browser
            .resources()
            .await
            .into_iter()
            .filter(favicon)
            .collect();
        assert_eq!(loaded, vec![logo.clone()], "{name}");
        // What reached the server: the page and the logo.
        let mut requested: Vec<String> = server
            .take()
            .into_iter()
            .map(|r| r.target)
            .filter(favicon)
            .collect();
        requested.sort();
        assert_eq!(
            requested,
            vec!["/logo.png".to_string(), path.clone()],
            "{name}"
        );
    }
    browser.close().await;
}
