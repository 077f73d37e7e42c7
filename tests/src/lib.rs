//! The test harness: one moto server per test binary on a free port (stopped when the binary exits),
//! a fresh table per test so tests run in parallel, and typed helpers to send webhooks.

pub mod browser;
pub mod mail;
pub mod poller;
pub mod wire;

use base64::Engine;
use lambda_http::http::{Method, Request as HttpRequest};
use lambda_http::{Body, Request, RequestExt};
use order_webhook::App;
use retention_aws::Aws;
use retention_core::signature;
use retention_core::store::Store;
use retention_core::webhook::Platform;
use retention_core::StoreId;
use retention_dynamodb::{schema, Table};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `RETENTION_CONFORMANCE_DIR`, default `../shared/conformance` beside the workspace. `None`, loudly,
/// when absent; under CI a missing corpus is a failure.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("RETENTION_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/conformance"));
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "CONFORMANCE CORPUS MISSING: {} does not exist; set RETENTION_CONFORMANCE_DIR",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! {msg} — conformance checks SKIPPED !!!!!!!!\n");
    None
}

struct Moto {
    endpoint: String,
    _child: Mutex<Child>,
}

/// The Python with moto: `RETENTION_PYTHON`, or the project's `.venv`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RETENTION_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        panic!(
            "no {}: run `make venv` (or `make test`) first to install moto",
            venv.display()
        )
    }
}

fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("RETENTION_TEST_ENDPOINT") {
            // Reuse a server someone else runs (handy when iterating on one test).
            let child = Command::new("true").spawn().expect("spawn true");
            return Moto {
                endpoint,
                _child: Mutex::new(child),
            };
        }
        let mut child = Command::new(python())
            .arg(workspace_root().join("tests/moto_server.py"))
            .arg("0")
            // Its stdin stays open as long as this process lives; when the test binary exits, moto does.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto server");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("moto prints its port");
        let port: u16 = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto printed {first:?} instead of a port"));
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: Mutex::new(child),
        }
    })
}

pub fn endpoint() -> String {
    moto().endpoint.clone()
}

/// Environment for child processes (the CLI) to reach the same moto.
pub fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// The AWS configuration of the functions ([`Aws::for_lambda`]), pointed at moto.
pub fn aws() -> Aws {
    let env: Vec<(&str, String)> = aws_env();
    Aws::for_lambda_from(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .expect("the harness sets every variable")
}

pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    retention_dynamodb::client(&aws())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty table named after the test.
pub async fn fresh_table(test: &str) -> Table {
    let name = format!(
        "t-{}-{}-{}",
        test,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let client = dynamodb().await;
    schema::create_table(&client, &name)
        .await
        .expect("create table");
    Table::new(client, name)
}

pub const SECRET: &str = "test-secret-123";

/// The order-webhook's ports, all on `table` (as its `main.rs` wires them).
pub fn webhook_ports(table: &Table) -> order_webhook::Ports {
    order_webhook::Ports::on(Arc::new(table.clone()))
}

/// The coupon use case on `table` (as coupon-issuer's `main.rs` wires it), creating codes on
/// platforms with the credentials in `secrets`, if any.
pub fn issuer(
    table: &Table,
    secrets: Option<retention_ssm::PlatformSecrets>,
    retry: retention_platforms::RetryPolicy,
    cache_ttl: Duration,
) -> coupon_issuer::Issuer {
    let checkouts = secrets.map(|s| {
        Arc::new(retention_platforms::PlatformCheckouts::new(
            Arc::new(s),
            retry,
            cache_ttl,
        )) as Arc<dyn retention_app::ports::Checkouts>
    });
    coupon_issuer::Issuer::new(coupon_issuer::ports(Arc::new(table.clone()), checkouts))
        .with_cache_ttl(cache_ttl)
}

/// A table with one registered store, and the handler's state around it.
pub struct TestApp {
    pub app: Arc<App>,
    pub store: StoreId,
    table: Table,
}

impl TestApp {
    pub async fn new(test: &str, platform: Platform) -> Self {
        let table = fresh_table(test).await;
        let store = StoreId::parse(format!("{}-store", platform)).unwrap();
        register(&table, &store, platform, &[SECRET]).await;
        // No store cache in tests: a test that rotates secrets sees the change at once.
        let app = App::with(
            webhook_ports(&table),
            Arc::new(chrono::Utc::now),
            Duration::ZERO,
        );
        Self {
            app: Arc::new(app),
            store,
            table,
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub async fn send(&self, req: Request) -> (u16, serde_json::Value) {
        send(&self.app, req).await
    }
}

pub async fn register(table: &Table, store: &StoreId, platform: Platform, secrets: &[&str]) {
    let s = Store {
        id: store.clone(),
        platform,
        webhook_secrets: secrets.iter().map(|s| (*s).into()).collect(),
        name: Some("Test store".into()),
        from_email: None,
        timezone: None,
        currency: None,
        mail: Default::default(),
    };
    assert!(table.put_store(&s, 0).await.expect("put store"));
}

pub async fn send(app: &App, req: Request) -> (u16, serde_json::Value) {
    let resp = order_webhook::handle(app, req).await.expect("infallible");
    let status = resp.status().as_u16();
    let body = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::String(t.clone())),
        _ => serde_json::Value::Null,
    };
    (status, body)
}

/// A request as API Gateway would hand it over.
pub fn request(method: Method, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Request {
    let mut b = HttpRequest::builder().method(method).uri(format!(
        "https://example.execute-api.us-east-1.amazonaws.com{path}"
    ));
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let req: Request = b.body(Body::Binary(body)).expect("request");
    req.with_raw_http_path(path)
}

pub fn shopify_webhook(
    store: &StoreId,
    topic: &str,
    delivery: &str,
    secret: &str,
    body: &[u8],
) -> Request {
    let sig = signature::sign_base64_body(secret.as_bytes(), body);
    request(
        Method::POST,
        &format!("/webhooks/shopify/{store}"),
        &[
            ("x-shopify-topic", topic.into()),
            ("x-shopify-hmac-sha256", sig),
            ("x-shopify-webhook-id", delivery.into()),
            ("x-shopify-shop-domain", "test.myshopify.com".into()),
            ("content-type", "application/json".into()),
        ],
        body.to_vec(),
    )
}

pub fn woo_webhook(
    store: &StoreId,
    topic: &str,
    delivery: &str,
    secret: &str,
    body: &[u8],
) -> Request {
    let sig = signature::sign_base64_body(secret.as_bytes(), body);
    request(
        Method::POST,
        &format!("/webhooks/woocommerce/{store}"),
        &[
            ("x-wc-webhook-topic", topic.into()),
            ("x-wc-webhook-signature", sig),
            ("x-wc-webhook-delivery-id", delivery.into()),
            ("x-wc-webhook-id", "7".into()),
            ("content-type", "application/json".into()),
        ],
        body.to_vec(),
    )
}

pub fn generic_webhook(store: &StoreId, secret: &str, body: &[u8], t: i64) -> Request {
    request(
        Method::POST,
        &format!("/webhooks/generic/{store}"),
        &[
            (
                "x-retention-signature",
                signature::sign_generic(secret.as_bytes(), body, t),
            ),
            ("content-type", "application/json".into()),
        ],
        body.to_vec(),
    )
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The delivery use case on `table` (what order-webhook and `retention import` call).
pub fn deliveries(table: &Table) -> retention_app::Deliveries {
    webhook_ports(table).deliveries
}
