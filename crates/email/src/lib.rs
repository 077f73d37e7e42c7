//! Emails as a person receives them. [`Templates`] holds the messages as minijinja templates, one
//! set per name (`<name>.subject.txt`, `<name>.html`, `<name>.txt`, with the shared `_layout.html`
//! and partials), built into the binary from `templates/` and overridable file by file from a
//! directory at run time (`RETENTION_TEMPLATE_DIR`), so a store owner can change the wording without a
//! rebuild. HTML is autoescaped (`.html`), text is not (`.txt`): everything a customer or a store
//! typed stays text in the HTML.
//!
//! [`context`] is what a template sees of one customer: the store's branding, the first name with a
//! fallback, the customer's *own* top categories and recent purchases (never anyone else's: a cat
//! owner sees cat things), the coupon and its expiry in the store's time zone, the unsubscribe link,
//! and, for a survey invitation, the scale of one-click answer links. [`Composer`] renders it and
//! writes the MIME message (mail-builder): multipart/alternative text + HTML, RFC 2047 subjects, and
//! for marketing mail the RFC 8058 `List-Unsubscribe` / `List-Unsubscribe-Post` headers.

use chrono::{DateTime, Duration, Utc};
use mail_builder::headers::raw::Raw;
use mail_builder::headers::url::URL;
use mail_builder::MessageBuilder;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use retention_app::ports::{Compose, ComposeRequest};
use retention_core::email::link::{url, Claims, LinkSecret, Purpose};
use retention_core::profile::Profile;
use retention_core::store::Store;
use serde::Serialize;
use std::path::Path;

pub mod sample;

/// Templates a customer receives.
pub const CUSTOMER_TEMPLATES: [&str; 5] = [
    "win-back",
    "vip-early-access",
    "post-purchase",
    "birthday",
    "survey-invite",
];
/// Templates the store receives.
pub const STORE_TEMPLATES: [&str; 1] = ["detractor-alert"];

/// The colour of a store that has not set one.
pub const DEFAULT_COLOR: &str = "#1f2937";
/// How long a survey answer link works.
pub const SURVEY_LINK_DAYS: i64 = 30;

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

/// Every template file built in, by name.
const BUILTIN: &[(&str, &str)] = builtin!(
    "_layout.html",
    "_footer.txt",
    "_coupon.html",
    "_coupon.txt",
    "win-back.subject.txt",
    "win-back.html",
    "win-back.txt",
    "vip-early-access.subject.txt",
    "vip-early-access.html",
    "vip-early-access.txt",
    "post-purchase.subject.txt",
    "post-purchase.html",
    "post-purchase.txt",
    "birthday.subject.txt",
    "birthday.html",
    "birthday.txt",
    "survey-invite.subject.txt",
    "survey-invite.html",
    "survey-invite.txt",
    "detractor-alert.subject.txt",
    "detractor-alert.html",
    "detractor-alert.txt",
);

/// Whether `name` is a template this engine sends.
pub fn known(name: &str) -> bool {
    CUSTOMER_TEMPLATES.contains(&name) || STORE_TEMPLATES.contains(&name)
}

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

/// One message rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

impl Templates {
    /// The templates built into the binary.
    pub fn builtin() -> Self {
        Self::load(None).expect("the built-in templates compile (tested)")
    }

    /// The built-in templates with any file of the same name in `dir` in its place: an error names
    /// the file that does not compile.
    pub fn with_overrides(dir: &Path) -> Result<Self, String> {
        Self::load(Some(dir))
    }

    /// From `RETENTION_TEMPLATE_DIR` when it is set, else the built-in ones.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var_os("RETENTION_TEMPLATE_DIR") {
            Some(d) if !d.is_empty() => Self::with_overrides(Path::new(&d)),
            _ => Ok(Self::builtin()),
        }
    }

    fn load(dir: Option<&Path>) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // Printing a name the context lacks is an error (a typo in an edited template shows up in
        // the preview), while `{% if x %}` on an absent value is allowed.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .build()
                .expect("the default delimiters"),
        );
        for (name, source) in BUILTIN {
            let source = match dir.map(|d| d.join(name)) {
                Some(p) if p.is_file() => std::fs::read_to_string(&p)
                    .map_err(|e| format!("reading {}: {e}", p.display()))?,
                _ => (*source).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| format!("template {name}: {e:#}"))?;
        }
        Ok(Self { env })
    }

    /// Renders the subject, HTML and text of `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: &Context) -> Result<Rendered, String> {
        if !known(name) {
            return Err(format!(
                "no template {name:?}; the templates are {}, {}",
                CUSTOMER_TEMPLATES.join(", "),
                STORE_TEMPLATES.join(", ")
            ));
        }
        let value = minijinja::Value::from(minijinja::value::Serde(ctx));
        let render = |file: String, value: minijinja::Value| {
            self.env
                .get_template(&file)
                .and_then(|t| t.render(value))
                .map_err(|e| format!("rendering {file}: {e:#}"))
        };
        let subject = render(format!("{name}.subject.txt"), value.clone())?;
        // One line, whatever the template's whitespace: a header cannot hold a line break.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let with_subject = minijinja::context! { subject => subject.clone(), ..value };
        Ok(Rendered {
            html: render(format!("{name}.html"), with_subject.clone())?,
            text: render(format!("{name}.txt"), with_subject)?,
            subject,
        })
    }
}

/// What a template sees.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub store: StoreView,
    pub customer: CustomerView,
    pub coupon: Option<CouponView>,
    pub unsubscribe_url: Option<String>,
    pub survey: Option<SurveyView>,
    /// The message's own values (a survey answer's score and comment, a launch date).
    pub data: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreView {
    pub id: String,
    pub name: String,
    pub color: String,
    pub logo_url: Option<String>,
    pub postal_address: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    pub id: String,
    /// The first name, or "there" ("Hi there").
    pub name: String,
    pub first_name: Option<String>,
    /// Full name, else the id: how the store's alert names the customer.
    pub display: String,
    pub email: Option<String>,
    /// The customer's own most-bought categories (or products, when the store sends no
    /// categories), most first, at most three.
    pub top_categories: Vec<String>,
    /// What the newest order held.
    pub recent: Vec<String>,
    pub orders: u32,
    pub last_order: Option<String>,
    pub spent: Option<String>,
    pub churn_risk: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CouponView {
    pub code: String,
    /// The expiry as a date in the store's time zone.
    pub expires: String,
    pub percent: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SurveyView {
    pub kind: String,
    pub question: String,
    pub low_label: String,
    pub high_label: String,
    pub scale: Vec<ScoreLink>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreLink {
    pub score: u8,
    pub url: String,
}

/// Where signed links point and what signs them.
#[derive(Clone)]
pub struct Links {
    pub secret: LinkSecret,
    /// `RETENTION_PUBLIC_URL`.
    pub base: String,
}

fn date(at: DateTime<Utc>, store: &Store) -> String {
    at.with_timezone(&store.tz())
        .format("%-d %B %Y")
        .to_string()
}

fn top(counts: &std::collections::BTreeMap<String, u32>, n: usize) -> Vec<String> {
    let mut v: Vec<(&String, &u32)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.into_iter().take(n).map(|(k, _)| k.clone()).collect()
}

/// The context of one message to one customer.
pub fn context(req: &ComposeRequest<'_>, links: Option<&Links>) -> Context {
    let store = req.store;
    let profile: &Profile = req.profile;
    let stats = profile.stats();
    let person = &profile.person;
    let first_name = person
        .first_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let full = [person.first_name.as_deref(), person.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let recent = profile
        .orders
        .values()
        .filter(|o| o.status == retention_core::webhook::OrderStatus::Open)
        .max_by_key(|o| o.created_at)
        .map(|o| top(&o.categories, 4))
        .unwrap_or_default();
    let m = req.message;
    let survey = (m.template == "survey-invite").then(|| survey(req, links));
    Context {
        store: StoreView {
            id: store.id.to_string(),
            name: store.name.clone().unwrap_or_else(|| store.id.to_string()),
            color: store
                .mail
                .brand_color
                .clone()
                .unwrap_or_else(|| DEFAULT_COLOR.into()),
            logo_url: store.mail.logo_url.clone(),
            postal_address: store.mail.postal_address.clone(),
        },
        customer: CustomerView {
            id: req.customer.to_string(),
            name: first_name.clone().unwrap_or_else(|| "there".into()),
            first_name,
            display: if full.is_empty() {
                req.customer.to_string()
            } else {
                full
            },
            email: person.email.as_ref().map(|e| e.as_str().to_owned()),
            top_categories: top(&stats.categories, 3),
            recent,
            orders: stats.orders,
            last_order: stats.last_order_at.map(|t| date(t, store)),
            spent: stats.total_spent.first().map(|m| m.to_string()),
            churn_risk: profile.score.as_ref().map(|s| {
                let bucket = match s.bucket {
                    retention_core::churn::score::RiskBucket::Low => "low",
                    retention_core::churn::score::RiskBucket::Medium => "medium",
                    retention_core::churn::score::RiskBucket::High => "high",
                };
                format!("{bucket} ({:.0}%)", s.churn_risk * 100.0)
            }),
        },
        coupon: m.coupon.as_ref().map(|(code, expires)| CouponView {
            code: code.clone(),
            expires: date(*expires, store),
            percent: m.offer.map(|o| o.percent),
        }),
        unsubscribe_url: req.unsubscribe.map(|(u, _)| u.to_owned()),
        survey,
        data: m.data.clone(),
    }
}

/// The scale of a survey invitation: one signed link per score (the survey pages record it).
fn survey(req: &ComposeRequest<'_>, links: Option<&Links>) -> SurveyView {
    let m = req.message;
    let kind = m
        .data
        .get("survey_kind")
        .map(String::as_str)
        .unwrap_or("nps");
    let (scores, question, low, high) = if kind == "csat" {
        (
            1..=5u8,
            format!(
                "How satisfied are you with your recent order from {}?",
                req.store.name.as_deref().unwrap_or(req.store.id.as_str())
            ),
            "1 = very unsatisfied",
            "5 = very satisfied",
        )
    } else {
        (
            0..=10u8,
            format!(
                "How likely are you to recommend {} to a friend?",
                req.store.name.as_deref().unwrap_or(req.store.id.as_str())
            ),
            "0 = not at all likely",
            "10 = extremely likely",
        )
    };
    let invitation = m.message_id();
    let expires = (req.now + Duration::days(SURVEY_LINK_DAYS)).timestamp();
    let scale = scores
        .map(|score| ScoreLink {
            score,
            url: match links {
                Some(l) => url(
                    &l.base,
                    &format!(
                        "s/{}",
                        Claims {
                            purpose: Purpose::Survey,
                            store: req.store.id.clone(),
                            customer: req.customer.clone(),
                            extra: vec![invitation.clone(), score.to_string()],
                            expires: Some(expires),
                        }
                        .sign(&l.secret)
                    ),
                ),
                None => "#".into(),
            },
        })
        .collect();
    SurveyView {
        kind: kind.into(),
        question,
        low_label: low.into(),
        high_label: high.into(),
        scale,
    }
}

/// Renders and composes messages: the [`Compose`] the sender uses.
pub struct Composer {
    templates: Templates,
    links: Option<Links>,
}

impl Composer {
    pub fn new(templates: Templates, links: Option<Links>) -> Self {
        Self { templates, links }
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The message rendered, without the MIME around it (the preview).
    pub fn render(&self, req: &ComposeRequest<'_>) -> Result<Rendered, String> {
        self.templates
            .render(&req.message.template, &context(req, self.links.as_ref()))
    }
}

/// The domain of an address (for the Message-ID), `localhost` when it has none.
fn domain(addr: &str) -> &str {
    addr.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost")
}

/// The MIME message of `rendered`, from the store to `to`.
pub fn mime(req: &ComposeRequest<'_>, rendered: &Rendered) -> Result<Vec<u8>, String> {
    let store = req.store;
    let from = store
        .from_email
        .as_ref()
        .map(|e| e.as_str())
        .ok_or_else(|| format!("store {} has no sender address (--from-email)", store.id))?;
    let name = store.name.as_deref().unwrap_or(store.id.as_str());
    let id = req.message.message_id();
    let mut b = MessageBuilder::new()
        .from((name, from))
        .to(req.to.as_str())
        .subject(rendered.subject.as_str())
        .message_id(format!("{id}@{}", domain(from)))
        .date(req.now.timestamp())
        .header("X-Retention-Message", Raw::new(id.as_str()))
        .text_body(rendered.text.as_str())
        .html_body(rendered.html.as_str());
    if let Some((url, mailto)) = req.unsubscribe {
        b = b
            .header("List-Unsubscribe", URL::new_list([url, mailto].into_iter()))
            .header(
                "List-Unsubscribe-Post",
                Raw::new("List-Unsubscribe=One-Click"),
            );
    }
    b.write_to_vec().map_err(|e| format!("writing MIME: {e}"))
}

impl Compose for Composer {
    fn compose(&self, req: &ComposeRequest<'_>) -> Result<Vec<u8>, String> {
        let rendered = self.render(req)?;
        mime(req, &rendered)
    }
}
