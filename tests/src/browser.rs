//! Headless Chromium for tests that look at a page as a person's browser does: Debian's
//! `chromedriver` on a free port, one WebDriver session (fantoccini) whose console is read back
//! (`goog:loggingPrefs`), and [`Server`], an in-process HTTP server that serves the pages and
//! records every request the browser makes.
//!
//! Without `/usr/bin/chromedriver` a test skips loudly (it is `apt-get install chromium
//! chromium-driver`); under CI a missing browser is a failure, like a missing conformance corpus.

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The browser itself (the `chromium` launcher script works too, but this is what it runs).
const CHROMIUM: [&str; 2] = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];

/// The chromedriver binary; `None`, loudly, when it is not installed (and a panic under CI).
pub fn chromedriver() -> Option<PathBuf> {
    let path = Path::new(CHROMEDRIVER);
    if path.is_file() && CHROMIUM.iter().any(|c| Path::new(c).is_file()) {
        return Some(path.to_path_buf());
    }
    let msg = format!(
        "HEADLESS CHROMIUM MISSING: {CHROMEDRIVER} or chromium is not installed \
         (apt-get install chromium chromium-driver)"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! {msg} — browser checks SKIPPED !!!!!!!!\n");
    None
}

/// `target/test-artifacts/` of this checkout (created), where screenshots go.
pub fn artifacts_dir() -> PathBuf {
    let dir = crate::workspace_root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("creating target/test-artifacts");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One chromedriver and one headless Chromium session. End it with [`Browser::close`]; dropping it
/// stops chromedriver anyway.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

/// chromedriver's log endpoint (`POST /session/{id}/se/log`), outside the W3C standard.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (lambda_http::http::Method, Option<String>) {
        (
            lambda_http::http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

impl Browser {
    /// A fresh headless session; `None` (loudly) when the browser is not installed.
    pub async fn start() -> Option<Browser> {
        let driver_path = chromedriver()?;
        let port = free_port();
        // Its own process group, which the browsers it starts join: a test that panics still ends
        // them all on drop (killing chromedriver alone would orphan Chromium).
        let driver = Command::new(driver_path)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let binary = CHROMIUM
            .iter()
            .find(|c| Path::new(c).is_file())
            .expect("checked above");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=800,1000",
                         "--no-first-run", "--disable-extensions"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Some(Browser { client, driver }),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver on {url} gave no session: {last:?}");
    }

    /// Every console and network message at level SEVERE since the last call (chromedriver hands
    /// each entry out once).
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("reading the browser log");
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The URL of every resource the current page loaded (images, styles, scripts, fetches),
    /// whatever host it was on: the page's own Resource Timing entries.
    pub async fn resources(&self) -> Vec<String> {
        let v = self
            .client
            .execute(
                "return performance.getEntriesByType('resource').map(e => e.name)",
                vec![],
            )
            .await
            .expect("reading resource timing");
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect()
    }

    /// Saves a PNG of the viewport as `target/test-artifacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        path
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Ends chromedriver's process group (chromedriver and any browser left), by its id.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }
}

/// An HTTP/1.1 server on a free loopback port, answering with `handler` and recording every
/// request. It stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start<F, Fut>(handler: F) -> Server
    where
        F: Fn(Received) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let log = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (handler, log) = (handler.clone(), log.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (handler, log) = (handler.clone(), log.clone());
                            async move {
                                let (parts, body) = hyper::Request::into_parts(req);
                                let body = body.collect().await?.to_bytes().to_vec();
                                let received = Received {
                                    method: parts.method.to_string(),
                                    target: parts
                                        .uri
                                        .path_and_query()
                                        .map(|p| p.to_string())
                                        .unwrap_or_default(),
                                    headers: parts
                                        .headers
                                        .iter()
                                        .map(|(k, v)| {
                                            (
                                                k.to_string(),
                                                v.to_str().unwrap_or_default().to_string(),
                                            )
                                        })
                                        .collect(),
                                    body,
                                };
                                log.lock().unwrap().push(received.clone());
                                let reply = handler(received).await;
                                let mut b = hyper::Response::builder().status(reply.status);
                                for (k, v) in &reply.headers {
                                    b = b.header(k, v);
                                }
                                Ok::<_, hyper::Error>(
                                    b.body(Full::new(Bytes::from(reply.body))).unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server {
            addr,
            received,
            task,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in order, and forgets them.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One HTTP/1.1 request without a browser (a link scanner, a mail client's one-click POST):
/// status and body.
pub async fn fetch(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let target = if target.is_empty() { "/" } else { target };
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .expect("connecting");
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `r` as API Gateway (or `cargo lambda watch`) hands it to a function.
pub fn lambda_request(r: &Received) -> lambda_http::Request {
    let mut b = lambda_http::http::Request::builder()
        .method(r.method.as_str())
        .uri(format!("http://127.0.0.1{}", r.target));
    for (k, v) in &r.headers {
        b = b.header(k, v);
    }
    b.body(if r.body.is_empty() {
        lambda_http::Body::Empty
    } else {
        lambda_http::Body::Binary(r.body.clone())
    })
    .expect("a valid request")
}

/// A function's answer as the server sends it.
pub fn reply_of(resp: lambda_http::Response<lambda_http::Body>) -> Reply {
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = match resp.body() {
        lambda_http::Body::Empty => vec![],
        lambda_http::Body::Text(t) => t.clone().into_bytes(),
        lambda_http::Body::Binary(b) => b.clone(),
        _ => vec![],
    };
    Reply {
        status: resp.status().as_u16(),
        headers,
        body,
    }
}
