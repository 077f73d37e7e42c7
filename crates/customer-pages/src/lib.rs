//! The customer-pages function: the pages a customer opens from an email (surveys join next).
//!
//! - `GET /u/{token}`: whose unsubscribe link it is, and a button to confirm; it changes nothing,
//!   because link scanners and mail previews fetch every URL of a message;
//! - `POST /u/{token}`: the RFC 8058 one-click unsubscribe a mail client sends
//!   (`List-Unsubscribe=One-Click`, form-encoded) and the page's button (the same body): the
//!   customer's marketing consent is withdrawn at once and the answer is 200. Again: still 200, and
//!   the first time stands.
//!
//! A link that does not verify (malformed, cut off, tampered, signed with another secret, or made
//! for another purpose) is a 400 page saying so; a verified link whose store or customer we do not
//! know is a 404 page; a body over [`MAX_BODY_BYTES`] a 413. Every answer is a small HTML page with
//! the strict policy of [`retention_function::html`] (inline CSS, no script, no external request);
//! our own failures are a 500 page that names nothing of the cause (that is in the log line).
//!
//! The use case is [`retention_app::unsubscribe::Unsubscribes`]; this crate is its HTTP edge and
//! its pages (minijinja templates in `templates/`, autoescaped).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use retention_app::ports::{ConsentSync, PlatformConsent};
use retention_app::unsubscribe::{masked, Refused, Subscriber};
pub use retention_app::unsubscribe::{UnsubscribePorts, Unsubscribes};
use retention_core::email::link::LinkSecret;
use retention_core::store::{valid_color, Store};
use retention_function::{body_within, html, Clock, Outcome, RequestLog, Router};
use std::sync::{Arc, LazyLock};

/// A one-click body is 26 bytes, a multipart/form-data one a few hundred.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// The header colour of a store that has set none (the emails' default).
const DEFAULT_COLOR: &str = "#1f2937";

/// What the customer learns when we failed.
const FAILED: &str = "Something went wrong on our side, and we could not record your request.";

/// The function's name in its log lines.
const FUNCTION: &str = "customer-pages";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Open,
    Confirm,
}

static ROUTES: LazyLock<Router<Route>> = LazyLock::new(|| {
    Router::new()
        .route(Method::GET, "/u/{token}", Route::Open)
        .route(Method::POST, "/u/{token}", Route::Confirm)
});

/// The ports on the one table, and the store's platform to tell when one is given: the wiring
/// `main.rs` uses.
pub fn ports(
    table: Arc<retention_dynamodb::Table>,
    platform: Option<Arc<dyn PlatformConsent>>,
) -> UnsubscribePorts {
    UnsubscribePorts {
        stores: table.clone(),
        customers: table.clone(),
        consent: table,
        platform,
    }
}

/// The pages, compiled once per instance.
pub struct Pages {
    env: minijinja::Environment<'static>,
}

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

impl Pages {
    pub fn new() -> Self {
        let mut env = minijinja::Environment::new();
        // `.html` autoescapes (minijinja's default); a name the page lacks is an error when
        // printed, so a typo shows up in the tests.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
        for (name, source) in templates!("_page.html", "confirm.html", "done.html", "refused.html")
        {
            env.add_template(name, source)
                .expect("the built-in pages compile (tested)");
        }
        Self { env }
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> String {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| panic!("page {name} renders (tested): {e:#}"))
    }

    fn branded(&self, name: &str, store: Option<&Store>, ctx: minijinja::Value) -> String {
        let color = store
            .and_then(|s| s.mail.brand_color.as_deref())
            .filter(|c| valid_color(c))
            .unwrap_or(DEFAULT_COLOR);
        let store_name = store.map(|s| s.name.clone().unwrap_or_else(|| s.id.to_string()));
        self.render(name, minijinja::context! { color, store_name, ..ctx })
    }

    /// The confirmation page, or the done page when they had unsubscribed already.
    fn open(&self, s: &Subscriber) -> String {
        let email = s.email.as_ref().map(masked);
        match s.unsubscribed_at {
            None => self.branded(
                "confirm.html",
                Some(&s.store),
                minijinja::context! { email },
            ),
            Some(at) => {
                let since = at
                    .with_timezone(&s.store.tz())
                    .format("%-d %B %Y")
                    .to_string();
                self.branded(
                    "done.html",
                    Some(&s.store),
                    minijinja::context! { email, since },
                )
            }
        }
    }

    fn done(&self, s: &Subscriber) -> String {
        self.branded(
            "done.html",
            Some(&s.store),
            minijinja::context! { email => s.email.as_ref().map(masked) },
        )
    }

    /// The page of a rejection or failure: a title for the status, and its message.
    pub fn refused(&self, status: StatusCode, message: &str) -> String {
        let title = match status {
            StatusCode::BAD_REQUEST => "This link does not work",
            StatusCode::NOT_FOUND => "Link not found",
            StatusCode::PAYLOAD_TOO_LARGE => "Request too large",
            StatusCode::METHOD_NOT_ALLOWED => "Not possible here",
            s if s.is_server_error() => "Something went wrong",
            s => s.canonical_reason().unwrap_or("Error"),
        };
        let ours = status.is_server_error();
        self.branded(
            "refused.html",
            None,
            minijinja::context! { title, message, ours },
        )
    }
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

/// What the handler holds: the use case, its pages and the clock.
pub struct App {
    unsubscribes: Unsubscribes,
    pages: Pages,
    clock: Clock,
}

impl App {
    pub fn new(ports: UnsubscribePorts, secret: LinkSecret) -> Self {
        Self {
            unsubscribes: Unsubscribes::new(ports, secret),
            pages: Pages::new(),
            clock: retention_function::system_clock(),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

fn refused(r: Refused) -> Outcome {
    match r {
        Refused::Link(e) => Outcome::rejected(
            StatusCode::BAD_REQUEST,
            format!("This unsubscribe link cannot be used: {e}."),
        ),
        Refused::Unknown => Outcome::rejected(
            StatusCode::NOT_FOUND,
            "This unsubscribe link is for a subscription we do not know (any more).",
        ),
    }
}

/// The whole request path, as a value: what to answer, and what the log line says.
pub async fn process(app: &App, req: &Request, log: &mut RequestLog) -> Outcome {
    let route = match ROUTES.find(req.method(), req.uri().path()) {
        Ok(r) => r,
        Err(rejection) => return rejection.into(),
    };
    log.route(route.pattern);
    let token = route.param("token");
    let now = (app.clock)();
    match route.id {
        Route::Open => match app.unsubscribes.open(token, now).await {
            Err(e) => Outcome::failed(e, FAILED),
            Ok(Err(r)) => refused(r),
            Ok(Ok(s)) => {
                log.store(&s.store.id);
                let label = if s.unsubscribed_at.is_some() {
                    "already-unsubscribed"
                } else {
                    "confirm-shown"
                };
                Outcome::answered(label, html(StatusCode::OK, app.pages.open(&s)))
            }
        },
        Route::Confirm => {
            // RFC 8058's body (`List-Unsubscribe=One-Click`) or the button's (the same): the token
            // is the authority, so any small body will do.
            if let Err(rejection) = body_within(req, MAX_BODY_BYTES) {
                return rejection.into();
            }
            match app.unsubscribes.confirm(token, now).await {
                Err(e) => Outcome::failed(e, FAILED),
                Ok(Err(r)) => refused(r),
                Ok(Ok(s)) => {
                    log.store(&s.store.id);
                    // The platform's part is best effort: the customer is unsubscribed here
                    // whatever it says, and the log line tells the operator what it came to.
                    let page = html(StatusCode::OK, app.pages.done(&s));
                    match &s.platform {
                        None => Outcome::answered("unsubscribed", page),
                        Some(ConsentSync::Sent) => {
                            Outcome::answered("unsubscribed; platform told", page)
                        }
                        Some(ConsentSync::Skipped(why)) => {
                            Outcome::answered("unsubscribed; platform not told", page)
                                .with_detail(why)
                        }
                        Some(ConsentSync::Failed(why)) => {
                            Outcome::answered("unsubscribed; platform call failed", page)
                                .with_detail(why)
                        }
                    }
                }
            }
        }
    }
}

/// The Lambda handler: one structured log line per request, then the page.
pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, std::convert::Infallible> {
    let mut log = RequestLog::start(FUNCTION);
    let outcome = process(app, &req, &mut log).await;
    Ok(log.finish_page(outcome, |status, message| {
        app.pages.refused(status, message)
    }))
}
