//! Customer pages against moto: the unsubscribe recorded in DynamoDB (atomically, first one
//! stands, never for a customer we do not know), and the link configuration read from SSM.

use chrono::{DateTime, Duration, Utc};
use retention_app::ports::ConsentChanges;
use retention_core::email::consent::{Consent, ConsentSource, ConsentState};
use retention_core::webhook::{Change, CustomerUpdate, Person};
use retention_core::{CustomerId, Email, StoreId};
use retention_dynamodb::Table;
use retention_tests::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A customer known from a customer webhook whose platform says they subscribed at `consent_at`.
pub(crate) async fn subscribed_customer(
    table: &Table,
    store: &StoreId,
    customer: &CustomerId,
    consent_at: DateTime<Utc>,
) {
    let change = Change::Customer(CustomerUpdate {
        customer_id: customer.clone(),
        person: Person {
            email: Some(Email::parse(format!("{customer}@example.com")).unwrap()),
            first_name: Some("Maya".into()),
            consent: Some(Consent::platform(
                ConsentState::Subscribed,
                Some(consent_at),
            )),
            ..Person::default()
        },
        updated_at: consent_at,
    });
    deliveries(table)
        .apply(
            store,
            &change,
            &[format!("d-{customer}-{consent_at}")],
            consent_at,
        )
        .await
        .unwrap();
}

/// A fresh table with store `acme` and its subscribed customer `c-1`, and when they subscribed.
async fn one_customer(test: &str) -> (Table, StoreId, CustomerId, DateTime<Utc>) {
    let table = fresh_table(test).await;
    let store = StoreId::parse("acme").unwrap();
    let maya = CustomerId::parse("c-1").unwrap();
    let t0 = at("2026-12-01T10:00:00Z");
    subscribed_customer(&table, &store, &maya, t0).await;
    assert!(marketing_allowed(&table, &store, &maya).await);
    (table, store, maya, t0)
}

pub(crate) async fn marketing_allowed(table: &Table, store: &StoreId, c: &CustomerId) -> bool {
    let p = table
        .get_profile(store, c)
        .await
        .unwrap()
        .expect("known customer");
    p.marketing_consent().allows_marketing()
}

#[tokio::test]
async fn the_table_records_the_first_unsubscribe_of_a_known_customer_only() {
    let (table, store, maya, t0) = one_customer("unsub").await;

    let first = t0 + Duration::hours(1);
    assert!(table.unsubscribe(&store, &maya, first).await.unwrap());
    // A second click (or a retried one-click POST) changes nothing: the first time stands.
    assert!(table
        .unsubscribe(&store, &maya, first + Duration::hours(1))
        .await
        .unwrap());
    let p = table.get_profile(&store, &maya).await.unwrap().unwrap();
    assert_eq!(p.unsubscribed_at, Some(first));
    let c = p.marketing_consent();
    assert!(!c.allows_marketing());
    assert_eq!((c.source, c.at), (ConsentSource::Unsubscribe, Some(first)));
    // The platform's statement is kept beside it, untouched.
    assert_eq!(p.person.consent.unwrap().state, ConsentState::Subscribed);

    // Unknown customer, or a known customer of another store: false, and nothing is made up.
    let ghost = CustomerId::parse("ghost").unwrap();
    assert!(!table.unsubscribe(&store, &ghost, first).await.unwrap());
    assert!(table.get_profile(&store, &ghost).await.unwrap().is_none());
    let other = StoreId::parse("other").unwrap();
    assert!(!table.unsubscribe(&other, &maya, first).await.unwrap());
    assert!(table.get_profile(&other, &maya).await.unwrap().is_none());
}

#[tokio::test]
async fn a_later_webhook_dated_before_the_unsubscribe_does_not_undo_it() {
    let (table, store, maya, t0) = one_customer("unsub-webhook").await;
    let unsub = t0 + Duration::days(1);
    assert!(table.unsubscribe(&store, &maya, unsub).await.unwrap());
    // The platform replays "subscribed", dated before the unsubscribe: the unsubscribe stands.
    subscribed_customer(&table, &store, &maya, unsub - Duration::minutes(5)).await;
    assert!(!marketing_allowed(&table, &store, &maya).await);
    // The customer opts in again at the store afterwards: the platform's later word holds.
    subscribed_customer(&table, &store, &maya, unsub + Duration::days(1)).await;
    assert!(marketing_allowed(&table, &store, &maya).await);
}

#[tokio::test]
async fn the_link_secret_is_read_from_its_ssm_parameter() {
    let aws = aws();
    let ssm = aws_sdk_ssm::Client::new(aws.sdk_config());
    let name = format!("/retention-test/link-secret-{}", std::process::id());
    ssm.put_parameter()
        .name(&name)
        .value("a-deployment-secret-from-ssm")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let env = |var: &'static str, value: String| move |k: &str| (k == var).then(|| value.clone());
    let from_ssm = retention_ssm::links::link_secret_from(
        &aws,
        env(retention_ssm::links::PARAMETER_VAR, name.clone()),
    )
    .await
    .unwrap();
    // The same secret as set directly: a link signed with one verifies with the other.
    let direct =
        retention_core::email::link::LinkSecret::new("a-deployment-secret-from-ssm").unwrap();
    let (s, c) = (
        StoreId::parse("acme").unwrap(),
        CustomerId::parse("c-1").unwrap(),
    );
    let token = retention_core::email::link::Claims::unsubscribe(&s, &c).sign(&direct);
    assert!(retention_core::email::link::Claims::verify(
        &token,
        &from_ssm,
        retention_core::email::link::Purpose::Unsubscribe,
        Utc::now()
    )
    .is_ok());

    let missing = format!("{name}-missing");
    let err = retention_ssm::links::link_secret_from(
        &aws,
        env(retention_ssm::links::PARAMETER_VAR, missing.clone()),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains(&missing) && err.contains("does not exist"),
        "{err}"
    );
}
