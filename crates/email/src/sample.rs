//! A store, a customer and a message to render: for tests, the benchmark and previews of a
//! template before any customer exists.

use chrono::{DateTime, Duration, TimeZone, Utc};
use retention_core::email::outbox::{OfferSpec, OutboxKey, OutboxMessage, Status};
use retention_core::money::{Currency, Money};
use retention_core::profile::Profile;
use retention_core::store::{MailSettings, Store};
use retention_core::webhook::{LineItem, Order, OrderStatus, Person, Platform};
use retention_core::{CustomerId, Email, OrderId, StoreId};
use std::collections::BTreeMap;

/// A fixed clock: 10:00 UTC on 2026-12-04.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
}

/// A branded store with a logo at `logo_url`.
pub fn store(logo_url: Option<&str>) -> Store {
    Store {
        id: StoreId::parse("demo-shop").unwrap(),
        platform: Platform::Shopify,
        webhook_secrets: vec![],
        name: Some("Whiskers & Co".into()),
        from_email: Some(Email::parse("hello@whiskers.example").unwrap()),
        timezone: Some("Europe/Berlin".into()),
        currency: Some(Currency::parse("EUR").unwrap()),
        mail: MailSettings {
            postal_address: Some("Katzenweg 1, 10115 Berlin, Germany".into()),
            brand_color: Some("#7c3aed".into()),
            logo_url: logo_url.map(str::to_owned),
            quiet_hours: None,
            max_send_rate: None,
        },
    }
}

/// A customer who bought cat things (`categories`) in two orders.
pub fn profile(first_name: &str, categories: &[(&str, u32)]) -> Profile {
    let eur = Currency::parse("EUR").unwrap();
    let mut p = Profile {
        person: Person {
            email: Some(Email::parse("ada@example.com").unwrap()),
            first_name: Some(first_name.into()),
            last_name: Some("Lovelace".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    for (i, chunk) in categories.chunks(2).enumerate() {
        let at = now() - Duration::days(120 - 30 * i as i64);
        p.apply_order(&Order {
            id: OrderId::parse(format!("o{i}")).unwrap(),
            customer_id: customer(),
            customer: p.person.clone(),
            created_at: at,
            updated_at: at,
            total: Money::new(4_250, eur),
            status: OrderStatus::Open,
            items: chunk
                .iter()
                .map(|(c, q)| LineItem {
                    product_id: None,
                    title: format!("{c} item"),
                    category: Some((*c).into()),
                    quantity: *q,
                })
                .collect(),
            coupon_codes: vec![],
            refunds: vec![],
        });
    }
    p
}

pub fn customer() -> CustomerId {
    CustomerId::parse("c-1001").unwrap()
}

/// A marketing message of `template` to the sample customer, with a 15% coupon where the template
/// offers one.
pub fn message(template: &str) -> OutboxMessage {
    let mut m = preview_message(
        &StoreId::parse("demo-shop").unwrap(),
        template,
        customer(),
        now(),
    )
    .unwrap();
    m.coupon = m.coupon.map(|(_, exp)| ("WB-7QK2-M9XD".into(), exp));
    m
}

/// A message to preview `template` with: the coupon (code `PREVIEW`, 15% for 14 days) where the
/// template offers one, and example values for the store's alert.
pub fn preview_message(
    store: &StoreId,
    template: &str,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<OutboxMessage, String> {
    if !crate::known(template) {
        return Err(format!(
            "no template {template:?}; the templates are {}, {}",
            crate::CUSTOMER_TEMPLATES.join(", "),
            crate::STORE_TEMPLATES.join(", ")
        ));
    }
    let marketing = !crate::STORE_TEMPLATES.contains(&template);
    let mut data = BTreeMap::new();
    match template {
        "detractor-alert" => {
            data.insert("score".into(), "3".into());
            data.insert("kind".into(), "NPS".into());
            data.insert(
                "comment".into(),
                "The parcel arrived late and the box was crushed.".into(),
            );
        }
        "vip-early-access" => {
            data.insert("launch_date".into(), "10 December 2026".into());
        }
        _ => {}
    }
    let coupon = matches!(template, "win-back" | "birthday" | "vip-early-access");
    Ok(OutboxMessage {
        store: store.clone(),
        key: OutboxKey::new("preview", template, customer)?,
        template: template.into(),
        marketing,
        email: None,
        status: Status::Queued,
        reason: None,
        due: now,
        created_at: now,
        updated_at: now,
        attempts: 0,
        ses_message_id: None,
        campaign: None,
        variant: None,
        coupon: coupon.then(|| ("PREVIEW".into(), now + Duration::days(14))),
        offer: coupon.then_some(OfferSpec {
            percent: 15,
            days: 14,
        }),
        data,
    })
}
