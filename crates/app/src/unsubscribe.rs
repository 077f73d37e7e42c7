//! Following an unsubscribe link (RFC 8058): [`Unsubscribes::open`] says whose link it is and changes
//! nothing (a link scanner's GET, the confirmation page), [`Unsubscribes::confirm`] withdraws the
//! customer's marketing consent at once (the one-click POST, the page's button). Both verify the
//! signed token first; a link that does not verify, or names a store or customer we do not know,
//! is [`Refused`] and nothing is written.
//!
//! When the store's platform is wired in ([`UnsubscribePorts::platform`]), `confirm` then tells it
//! too (Shopify's `customerEmailMarketingConsentUpdate`, WooCommerce's customer meta), best effort:
//! the withdrawal here is already written and stands if the platform fails, and the answer says
//! what the platform call came to so the log line records it (docs/platform-consent.md).

use crate::error::Result;
use crate::ports::{ConsentChanges, ConsentSync, Customers, PlatformConsent, StoreDirectory};
use chrono::{DateTime, Utc};
use retention_core::email::link::{Claims, LinkError, LinkSecret, Purpose};
use retention_core::store::Store;
use retention_core::{CustomerId, Email};
use std::sync::Arc;

/// What following a link needs: the store's name and branding, the customer's address (shown
/// masked) and whether they already unsubscribed, and the consent write.
#[derive(Clone)]
pub struct UnsubscribePorts {
    pub stores: Arc<dyn StoreDirectory>,
    pub customers: Arc<dyn Customers>,
    pub consent: Arc<dyn ConsentChanges>,
    /// The store's platform, told after the withdrawal is written; `None`: nobody else is told.
    pub platform: Option<Arc<dyn PlatformConsent>>,
}

/// Why a link is refused: the customer's fault or the link's, never ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The link verifies, but its store is gone (erased) or its customer is unknown.
    #[error("this link is for a subscription we do not know (anymore)")]
    Unknown,
}

/// The customer a link is for, as the page shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscriber {
    pub store: Store,
    pub customer: CustomerId,
    /// The address, when `open` read it (`confirm` does not read the profile).
    pub email: Option<Email>,
    /// When they had unsubscribed before this request (`open` only: `confirm` reads no profile).
    pub unsubscribed_at: Option<DateTime<Utc>>,
    /// What telling the platform came to (`confirm` only, when a platform is wired in).
    pub platform: Option<ConsentSync>,
}

/// A link followed: whose it is, or why it is refused.
pub type Followed = std::result::Result<Subscriber, Refused>;

pub struct Unsubscribes {
    ports: UnsubscribePorts,
    secret: LinkSecret,
}

impl Unsubscribes {
    pub fn new(ports: UnsubscribePorts, secret: LinkSecret) -> Self {
        Self { ports, secret }
    }

    async fn store_of(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(Claims, Store), Refused>> {
        let claims = match Claims::verify(token, &self.secret, Purpose::Unsubscribe, now) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e.into())),
        };
        Ok(match self.ports.stores.store(&claims.store).await? {
            Some(store) => Ok((claims, store)),
            None => Err(Refused::Unknown),
        })
    }

    /// Whose link `token` is, and whether they are unsubscribed already: reads only.
    pub async fn open(&self, token: &str, now: DateTime<Utc>) -> Result<Followed> {
        let (claims, store) = match self.store_of(token, now).await? {
            Ok(found) => found,
            Err(r) => return Ok(Err(r)),
        };
        let Some(profile) = self
            .ports
            .customers
            .profile(&store.id, &claims.customer)
            .await?
        else {
            return Ok(Err(Refused::Unknown));
        };
        Ok(Ok(Subscriber {
            store,
            customer: claims.customer,
            email: profile.person.email,
            unsubscribed_at: profile.unsubscribed_at,
            platform: None,
        }))
    }

    /// Withdraws the consent of `token`'s customer at `now` (an earlier unsubscribe stands).
    pub async fn confirm(&self, token: &str, now: DateTime<Utc>) -> Result<Followed> {
        let (claims, store) = match self.store_of(token, now).await? {
            Ok(found) => found,
            Err(r) => return Ok(Err(r)),
        };
        if !self
            .ports
            .consent
            .unsubscribe(&store.id, &claims.customer, now)
            .await?
        {
            return Ok(Err(Refused::Unknown));
        }
        // Every confirmation is passed on, not only the first: the platform takes it as a no-op
        // when it has it already, and a later click retries one that failed.
        let platform = match &self.ports.platform {
            Some(p) => Some(p.unsubscribed(&store, &claims.customer, now).await),
            None => None,
        };
        Ok(Ok(Subscriber {
            store,
            customer: claims.customer,
            email: None,
            unsubscribed_at: None,
            platform,
        }))
    }
}

/// An address as a page may show it to whoever holds the link: `a***@example.com`.
pub fn masked(email: &Email) -> String {
    let (local, domain) = email
        .as_str()
        .rsplit_once('@')
        .unwrap_or(("", email.as_str()));
    let first: String = local.chars().take(1).collect();
    format!("{first}***@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Memory;
    use retention_core::profile::Profile;
    use retention_core::webhook::{Person, Platform};
    use retention_core::StoreId;

    fn secret() -> LinkSecret {
        LinkSecret::new("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn setup() -> (Arc<Memory>, Unsubscribes, StoreId, CustomerId) {
        let memory = Arc::new(Memory::new());
        let store = StoreId::parse("acme").unwrap();
        let customer = CustomerId::parse("c-1").unwrap();
        memory.add_store(Store {
            id: store.clone(),
            platform: Platform::Shopify,
            webhook_secrets: vec![],
            name: Some("Acme".into()),
            from_email: None,
            timezone: None,
            currency: None,
            mail: Default::default(),
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
        let u = Unsubscribes::new(
            UnsubscribePorts {
                stores: memory.clone(),
                customers: memory.clone(),
                consent: memory.clone(),
                platform: None,
            },
            secret(),
        );
        (memory, u, store, customer)
    }

    async fn unsubscribed_at(m: &Memory, s: &StoreId, c: &CustomerId) -> Option<DateTime<Utc>> {
        m.profile(s, c).await.unwrap().unwrap().unsubscribed_at
    }

    #[tokio::test]
    async fn open_reads_and_confirm_unsubscribes_once() {
        let (memory, u, store, customer) = setup();
        let token = Claims::unsubscribe(&store, &customer).sign(&secret());
        let t1 = at("2026-12-04T10:00:00Z");
        let s = u.open(&token, t1).await.unwrap().unwrap();
        assert_eq!(
            (s.email.unwrap().as_str(), s.unsubscribed_at),
            ("maya@example.com", None)
        );
        assert_eq!(unsubscribed_at(&memory, &store, &customer).await, None);

        u.confirm(&token, t1).await.unwrap().unwrap();
        u.confirm(&token, t1 + chrono::Duration::hours(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unsubscribed_at(&memory, &store, &customer).await, Some(t1));
        assert_eq!(
            u.open(&token, t1).await.unwrap().unwrap().unsubscribed_at,
            Some(t1)
        );
    }

    #[tokio::test]
    async fn bad_links_and_unknown_subscribers_are_refused() {
        let (memory, u, store, customer) = setup();
        let now = at("2026-12-04T10:00:00Z");
        let other = LinkSecret::new("not the deployment's secret!").unwrap();
        let forged = Claims::unsubscribe(&store, &customer).sign(&other);
        assert_eq!(
            u.confirm(&forged, now).await.unwrap(),
            Err(Refused::Link(LinkError::Forged))
        );
        let mut survey = Claims::unsubscribe(&store, &customer);
        survey.purpose = Purpose::Survey;
        assert_eq!(
            u.open(&survey.sign(&secret()), now).await.unwrap(),
            Err(Refused::Link(LinkError::WrongPurpose))
        );
        for (s, c) in [
            (StoreId::parse("gone").unwrap(), customer.clone()),
            (store.clone(), CustomerId::parse("ghost").unwrap()),
        ] {
            let t = Claims::unsubscribe(&s, &c).sign(&secret());
            assert_eq!(u.open(&t, now).await.unwrap(), Err(Refused::Unknown));
            assert_eq!(u.confirm(&t, now).await.unwrap(), Err(Refused::Unknown));
        }
        assert_eq!(unsubscribed_at(&memory, &store, &customer).await, None);
    }

    /// A platform that fails, and remembers whom it was told about.
    #[derive(Default)]
    struct DownPlatform(std::sync::Mutex<Vec<(StoreId, CustomerId, DateTime<Utc>)>>);

    #[async_trait::async_trait]
    impl PlatformConsent for DownPlatform {
        async fn unsubscribed(
            &self,
            store: &Store,
            customer: &CustomerId,
            at: DateTime<Utc>,
        ) -> ConsentSync {
            self.0
                .lock()
                .unwrap()
                .push((store.id.clone(), customer.clone(), at));
            ConsentSync::Failed("HTTP 500".into())
        }
    }

    #[tokio::test]
    async fn the_platform_is_told_after_the_withdrawal_and_its_failure_changes_nothing_here() {
        let (memory, _, store, customer) = setup();
        let platform = Arc::new(DownPlatform::default());
        let u = Unsubscribes::new(
            UnsubscribePorts {
                stores: memory.clone(),
                customers: memory.clone(),
                consent: memory.clone(),
                platform: Some(platform.clone()),
            },
            secret(),
        );
        let now = at("2026-12-04T10:00:00Z");
        let token = Claims::unsubscribe(&store, &customer).sign(&secret());
        let s = u.confirm(&token, now).await.unwrap().unwrap();
        assert_eq!(s.platform, Some(ConsentSync::Failed("HTTP 500".into())));
        assert_eq!(unsubscribed_at(&memory, &store, &customer).await, Some(now));
        assert_eq!(
            *platform.0.lock().unwrap(),
            vec![(store.clone(), customer.clone(), now)]
        );
        // A refused link reaches no platform; a GET tells it nothing either.
        let forged = Claims::unsubscribe(&store, &customer)
            .sign(&LinkSecret::new("not the deployment's secret!").unwrap());
        assert!(u.confirm(&forged, now).await.unwrap().is_err());
        u.open(&token, now).await.unwrap().unwrap();
        assert_eq!(platform.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn an_address_is_masked_to_its_first_letter_and_domain() {
        assert_eq!(
            masked(&Email::parse("maya@example.com").unwrap()),
            "m***@example.com"
        );
    }
}
