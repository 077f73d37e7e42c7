//! Every template rendered for a sample customer and composed as MIME, read back as a mail client
//! reads it (mail-parser): personalization, escaping, a customer's own categories only, the
//! unsubscribe headers, signed survey links, and templates overridden from a directory.

use mail_parser::{HeaderValue, MessageParser};
use proptest::prelude::*;
use retention_app::ports::{Compose, ComposeRequest};
use retention_core::email::link::{Claims, LinkSecret, Purpose};
use retention_core::email::outbox::OutboxMessage;
use retention_core::profile::Profile;
use retention_core::store::Store;
use retention_email::{
    sample, Composer, Links, Rendered, Templates, CUSTOMER_TEMPLATES, STORE_TEMPLATES,
};

const UNSUB: &str = "https://api.example.com/u/eyJwIjoidSJ9.c2lnbmF0dXJl";
const MAILTO: &str = "mailto:hello@whiskers.example?subject=unsubscribe%20demo-shop";

fn secret() -> LinkSecret {
    LinkSecret::new("0123456789abcdef0123456789abcdef").unwrap()
}

fn composer() -> Composer {
    Composer::new(
        Templates::builtin(),
        Some(Links {
            secret: secret(),
            base: "https://api.example.com/".into(),
        }),
    )
}

struct Case {
    store: Store,
    profile: Profile,
    message: OutboxMessage,
}

impl Case {
    fn new(template: &str) -> Self {
        Self {
            store: sample::store(Some("https://cdn.whiskers.example/logo.png")),
            profile: sample::profile("Ada", &[("Cat food", 3), ("Cat toys", 2), ("Litter", 1)]),
            message: sample::message(template),
        }
    }
    fn with<T>(&self, f: impl FnOnce(&ComposeRequest<'_>) -> T) -> T {
        let to = self.profile.person.email.clone().unwrap();
        let customer = sample::customer();
        f(&ComposeRequest {
            store: &self.store,
            message: &self.message,
            customer: &customer,
            profile: &self.profile,
            to: &to,
            unsubscribe: self.message.marketing.then_some((UNSUB, MAILTO)),
            now: sample::now(),
        })
    }
    fn render(&self) -> Rendered {
        self.with(|r| composer().render(r)).unwrap()
    }
    fn mime(&self) -> Vec<u8> {
        self.with(|r| composer().compose(r)).unwrap()
    }
}

fn all_templates() -> impl Iterator<Item = &'static str> {
    CUSTOMER_TEMPLATES.into_iter().chain(STORE_TEMPLATES)
}

#[test]
fn every_template_renders_branded_html_and_text() {
    for t in all_templates() {
        let r = Case::new(t).render();
        assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{t}");
        for body in [&r.html, &r.text] {
            assert!(!body.contains("{{") && !body.contains("{%"), "{t}: {body}");
            assert!(body.contains("Whiskers &amp; Co") || body.contains("Whiskers & Co"));
        }
        assert!(r.html.contains("#7c3aed"), "{t}: brand colour");
        assert!(
            r.html.contains("cdn.whiskers.example&#x2f;logo.png"),
            "{t}: logo"
        );
        assert!(r.html.starts_with("<!DOCTYPE html>"), "{t}");
        if t != "detractor-alert" {
            assert!(
                r.html.contains("Ada") && r.text.contains("Ada"),
                "{t}: first name"
            );
            // The footer: the postal address and the visible unsubscribe link.
            assert!(r.html.contains("Katzenweg 1, 10115 Berlin"), "{t}");
            assert!(r.text.contains(&format!("Unsubscribe: {UNSUB}")), "{t}");
            assert!(r.html.contains(">Unsubscribe</a>"), "{t}");
        }
    }
}

#[test]
fn coupons_show_their_code_and_expiry_in_the_store_zone() {
    for t in ["win-back", "birthday", "vip-early-access"] {
        let r = Case::new(t).render();
        for body in [&r.html, &r.text] {
            assert!(body.contains("WB-7QK2-M9XD"), "{t}");
            assert!(body.contains("18 December 2026"), "{t}: {body}");
            assert!(body.contains("15% off"), "{t}");
        }
    }
    assert!(Case::new("win-back")
        .render()
        .subject
        .ends_with(": 15% off"));
}

#[test]
fn a_missing_first_name_falls_back() {
    let mut c = Case::new("win-back");
    c.profile.person.first_name = Some("  ".into());
    let r = c.render();
    assert!(r.subject.starts_with("there, we miss you") || r.html.contains("We miss you, there"));
    assert!(r.html.contains("We miss you, there"));
}

#[test]
fn what_customers_and_stores_typed_stays_text() {
    let mut c = Case::new("win-back");
    c.profile.person.first_name = Some("<script>alert(1)</script>".into());
    c.store.name = Some("Bob's <b>Shop</b>".into());
    c.store.mail.postal_address = Some("1 \"Main\" St <hr>".into());
    let r = c.render();
    assert!(
        !r.html.contains("<script>") && !r.html.contains("<b>Shop") && !r.html.contains("<hr>")
    );
    assert!(
        r.html.contains("Bob&#x27;s &lt;b&gt;Shop&lt;&#x2f;b&gt;"),
        "{}",
        r.html
    );
    assert!(r.html.contains("1 &quot;Main&quot; St &lt;hr&gt;"));
    assert!(r
        .html
        .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
    // Text is text: shown as typed.
    assert!(r.text.contains("<script>alert(1)</script>"));

    let mut alert = Case::new("detractor-alert");
    alert
        .message
        .data
        .insert("comment".into(), "<img src=x onerror=alert(1)>".into());
    let r = alert.render();
    assert!(!r.html.contains("<img src=x"));
    assert!(r.html.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn the_store_alert_carries_the_answer_and_the_customer_history() {
    let mut c = Case::new("detractor-alert");
    c.profile.score = None;
    let r = c.render();
    assert!(r.subject.contains("Ada Lovelace") && r.subject.contains('3'));
    for body in [&r.html, &r.text] {
        assert!(body.contains("The parcel arrived late"));
        assert!(body.contains("ada@example.com"));
        assert!(body.contains("Cat food"));
    }
    assert!(
        !r.html.contains("Unsubscribe"),
        "a store alert is not marketing"
    );
}

const UNIVERSE: [&str; 8] = [
    "Cat food",
    "Cat toys",
    "Litter",
    "Dog food",
    "Dog leashes",
    "Aquarium",
    "Bird seed",
    "Hamster",
];

proptest! {
    /// A cat owner never sees a dog offer: whatever a customer bought, the email names only
    /// categories from their own orders.
    #[test]
    fn only_the_customers_own_categories_appear(
        own in proptest::sample::subsequence(UNIVERSE.to_vec(), 1..4),
        template in proptest::sample::select(CUSTOMER_TEMPLATES.to_vec()),
    ) {
        let bought: Vec<(&str, u32)> = own.iter().map(|c| (*c, 1)).collect();
        let mut c = Case::new(template);
        c.profile = sample::profile("Ada", &bought);
        let r = c.render();
        for other in UNIVERSE.iter().filter(|u| !own.contains(u)) {
            prop_assert!(!r.html.contains(other) && !r.text.contains(other), "{} in {}", other, template);
        }
    }
}

#[test]
fn the_mime_message_is_multipart_alternative_with_one_click_unsubscribe() {
    let mut c = Case::new("win-back");
    c.profile.person.first_name = Some("Zoë".into());
    let raw = c.mime();
    let text = String::from_utf8(raw.clone()).unwrap();
    assert!(
        text.lines().all(|l| l.len() <= 998),
        "no line over RFC 5322's limit"
    );
    assert!(text.is_ascii(), "8-bit content is encoded");
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.subject(),
        Some("Zoë, we miss you at Whiskers & Co: 15% off")
    );
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Whiskers & Co"));
    assert_eq!(from.address(), Some("hello@whiskers.example"));
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("ada@example.com")
    );
    let HeaderValue::ContentType(ct) = m.header("Content-Type").unwrap() else {
        panic!("no content type")
    };
    assert_eq!(ct.subtype(), Some("alternative"));
    assert!(m.body_text(0).unwrap().contains("We miss you, Zoë"));
    assert!(m.body_html(0).unwrap().contains("We miss you, Zoë"));
    // Whatever form the parser gives, the raw header must name both, unfolded and intact.
    let raw_header = m.header_raw("List-Unsubscribe").unwrap();
    let unfolded: String = raw_header.replace("\r\n", "").replace('\n', "");
    assert!(unfolded.contains(&format!("<{UNSUB}>")), "{unfolded}");
    assert!(unfolded.contains(&format!("<{MAILTO}>")), "{unfolded}");
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    let id = c.message.message_id();
    assert_eq!(
        m.message_id(),
        Some(format!("{id}@whiskers.example").as_str())
    );
}

#[test]
fn a_store_alert_has_no_unsubscribe_headers() {
    let raw = Case::new("detractor-alert").mime();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert!(m.header("List-Unsubscribe").is_none());
    assert!(m.header("List-Unsubscribe-Post").is_none());
}

#[test]
fn survey_links_are_signed_per_score_and_invitation() {
    let c = Case::new("survey-invite");
    let r = c.render();
    let urls: Vec<&str> = r
        .text
        .lines()
        .filter_map(|l| l.split_once(": https://api.example.com/s/").map(|(_, t)| t))
        .collect();
    assert_eq!(urls.len(), 11, "NPS 0..=10: {}", r.text);
    for (score, token) in urls.iter().enumerate() {
        let claims = Claims::verify(token, &secret(), Purpose::Survey, sample::now()).unwrap();
        assert_eq!(claims.customer, sample::customer());
        assert_eq!(
            claims.extra,
            vec![c.message.message_id(), score.to_string()]
        );
        assert!(claims.expires.is_some());
    }
    let mut csat = Case::new("survey-invite");
    csat.message
        .data
        .insert("survey_kind".into(), "csat".into());
    assert_eq!(csat.render().text.matches("/s/").count(), 5);
}

#[test]
fn the_html_loads_nothing_but_the_store_logo() {
    for t in all_templates() {
        let mut c = Case::new(t);
        let r = c.render();
        assert_eq!(r.html.matches("src=").count(), 1, "{t}: only the logo");
        for never in ["<script", "<link", "url(", "@import", "<iframe", "<object"] {
            assert!(!r.html.contains(never), "{t}: {never}");
        }
        c.store.mail.logo_url = None;
        let r = c.render();
        assert_eq!(r.html.matches("src=").count(), 0, "{t}: no logo, no image");
    }
}

#[test]
fn a_template_dir_overrides_files_and_a_broken_one_is_named() {
    let dir = std::env::temp_dir().join(format!("retention-email-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("win-back.subject.txt"),
        "Come back, {{ customer.name }}!",
    )
    .unwrap();
    let t = Templates::with_overrides(&dir).unwrap();
    let c = Case::new("win-back");
    let composer = Composer::new(t, None);
    let r = c.with(|req| composer.render(req)).unwrap();
    assert_eq!(r.subject, "Come back, Ada!");
    assert!(
        r.html.contains("We miss you"),
        "the other files stay built in"
    );

    std::fs::write(dir.join("birthday.html"), "{% if %}").unwrap();
    let err = Templates::with_overrides(&dir).err().unwrap();
    assert!(err.contains("birthday.html"), "{err}");

    std::fs::write(dir.join("birthday.html"), "{{ customer.nickname }}").unwrap();
    let composer = Composer::new(Templates::with_overrides(&dir).unwrap(), None);
    let err = Case::new("birthday")
        .with(|req| composer.render(req))
        .unwrap_err();
    assert!(err.contains("birthday.html"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_template_is_refused_by_name() {
    let mut c = Case::new("win-back");
    c.message.template = "newsletter".into();
    let err = c.with(|r| composer().render(r)).unwrap_err();
    assert!(
        err.contains("newsletter") && err.contains("win-back"),
        "{err}"
    );
}
