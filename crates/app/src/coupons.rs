//! Issuing coupons: one per (campaign, customer), or per idempotency key, under an unguessable
//! code; created on the store's checkout when it has one. Called by coupon-issuer, the CLI's bulk
//! issue, and (next) the scan's campaigns and surveys.

use crate::cache::StoreCache;
use crate::error::{PortError, Result};
use crate::ports::{Checkouts, CouponIssuing, Customers, Dedupe, StoreDirectory, Stored};
use chrono::{DateTime, Utc};
use retention_core::coupon::{
    ApiKeyHash, CheckoutSync, CodePrefix, Coupon, CouponCode, Discount, FieldError, IssueRequest,
};
use retention_core::store::Store;
use retention_core::webhook::Platform;
use retention_core::StoreId;
use std::sync::Arc;
use std::time::Duration;

const MAX_ATTEMPTS: u32 = 8;

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;
/// Where codes come from: the OS CSPRNG in production, something predictable in tests.
pub type CodeSource = Arc<dyn Fn(Option<&CodePrefix>) -> CouponCode + Send + Sync>;

/// Why a coupon was not issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueFailure {
    #[error("unknown store {0}")]
    UnknownStore(StoreId),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("the Idempotency-Key was already used with a different request")]
    KeyReused,
    #[error(transparent)]
    Failed(#[from] PortError),
}

/// A coupon as issued, and whether this call created it.
#[derive(Debug, Clone)]
pub struct Issue {
    pub coupon: Coupon,
    pub created: bool,
}

/// How long a warm instance trusts its copy of a store's registration.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

/// The ports issuing needs.
#[derive(Clone)]
pub struct IssuerPorts {
    pub stores: Arc<dyn StoreDirectory>,
    pub coupons: Arc<dyn CouponIssuing>,
    /// WooCommerce restricts codes by address: read from the profile when the request has none.
    pub customers: Arc<dyn Customers>,
    /// `None`: never create codes on platforms (generic-only setups, tests of the table path).
    pub checkouts: Option<Arc<dyn Checkouts>>,
}

/// Everything issuing needs, built once per Lambda instance (or per CLI run).
pub struct Issuer {
    ports: IssuerPorts,
    stores: StoreCache,
    clock: Clock,
    codes: CodeSource,
}

impl Issuer {
    pub fn new(ports: IssuerPorts) -> Self {
        Self {
            stores: StoreCache::new(ports.stores.clone(), CACHE_TTL),
            ports,
            clock: Arc::new(Utc::now),
            codes: Arc::new(CouponCode::generate_secure),
        }
    }
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
    pub fn with_codes(mut self, codes: CodeSource) -> Self {
        self.codes = codes;
        self
    }
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.stores = StoreCache::new(self.ports.stores.clone(), ttl);
        self
    }
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
    pub async fn store(&self, id: &StoreId) -> Result<Option<Store>> {
        self.stores.store(id).await
    }
    pub async fn coupon(&self, store: &StoreId, code: &CouponCode) -> Result<Option<Coupon>> {
        self.ports.coupons.coupon(store, code).await
    }
    pub async fn api_key(&self, store: &StoreId) -> Result<Option<ApiKeyHash>> {
        self.ports.coupons.api_key(store).await
    }

    /// Issues a coupon for `req`, or returns the one an identical earlier request got: per
    /// (campaign, customer), or per `idempotency_key` when one is given (ad-hoc issues). New coupons
    /// of Shopify and WooCommerce stores are then created on the platform; a coupon whose creation
    /// failed earlier is retried when it is issued again.
    #[tracing::instrument(skip_all, fields(store = %store, campaign = %req.campaign))]
    pub async fn issue(
        &self,
        store: &StoreId,
        req: &IssueRequest,
        idempotency_key: Option<&str>,
    ) -> std::result::Result<Issue, IssueFailure> {
        let now = self.now();
        let registration = self
            .store(store)
            .await?
            .ok_or_else(|| IssueFailure::UnknownStore(store.clone()))?;
        let terms = req.terms(now)?;
        let mut email = req.email.clone();
        if email.is_none() && registration.platform == Platform::Woocommerce {
            email = self
                .ports
                .customers
                .profile(store, &req.customer_id)
                .await?
                .and_then(|p| p.person.email);
        }
        let checkout = match registration.platform {
            Platform::Generic => CheckoutSync::NotNeeded,
            _ => CheckoutSync::Pending { since: now },
        };
        let template = Coupon {
            code: CouponCode::parse("PENDING").expect("a valid placeholder"),
            store: store.clone(),
            campaign: req.campaign.clone(),
            customer_id: req.customer_id.clone(),
            email,
            terms,
            issued_at: now,
            revoked_at: None,
            redemptions: vec![],
            invalid_redemptions: vec![],
            checkout,
        };
        let fingerprint = req.fingerprint();
        let dedupe = match idempotency_key {
            Some(key) => Dedupe::Key {
                key,
                fingerprint: &fingerprint,
            },
            None => Dedupe::Grant,
        };
        let (mut coupon, created) = self.store_once(&template, &dedupe, req).await?;
        let attempt = if created {
            coupon.checkout != CheckoutSync::NotNeeded
        } else {
            coupon.checkout.needs_attempt(now)
        };
        if attempt {
            coupon.checkout = match &self.ports.checkouts {
                Some(c) => c.create(&registration, &coupon, now).await,
                None => CheckoutSync::Failed {
                    error: format!(
                        "no {} credentials stored for this store; add them with `retention coupons set-credentials`",
                        registration.platform
                    ),
                    at: now,
                },
            };
            self.ports
                .coupons
                .set_checkout(store, &coupon.code, &coupon.checkout)
                .await?;
        }
        Ok(Issue { coupon, created })
    }

    /// Stores the coupon under a fresh code unless the request was issued before, in which case
    /// that coupon is returned. A code that is already taken (with 79 random bits, only an
    /// injected generator makes that happen) is drawn again.
    async fn store_once(
        &self,
        template: &Coupon,
        dedupe: &Dedupe<'_>,
        req: &IssueRequest,
    ) -> std::result::Result<(Coupon, bool), IssueFailure> {
        let store = &template.store;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(crate::delivery::backoff(
                    attempt,
                    5,
                    15,
                    crate::delivery::backoff_seed(),
                ))
                .await;
            }
            let mut coupon = template.clone();
            coupon.code = (self.codes)(req.prefix.as_ref());
            match self.ports.coupons.store_coupon(&coupon, dedupe).await? {
                Stored::Stored => return Ok((coupon, true)),
                Stored::CodeTaken => {
                    tracing::warn!(store = %store, "coupon code collision; drawing another");
                }
                Stored::Conflict => {}
                Stored::AlreadyIssued { code, fingerprint } => {
                    return self.existing(store, code, fingerprint, dedupe).await;
                }
            }
        }
        Err(PortError::contention("issuing a coupon", MAX_ATTEMPTS).into())
    }

    async fn existing(
        &self,
        store: &StoreId,
        code: CouponCode,
        fingerprint: Option<String>,
        dedupe: &Dedupe<'_>,
    ) -> std::result::Result<(Coupon, bool), IssueFailure> {
        if let Dedupe::Key {
            fingerprint: wanted,
            ..
        } = dedupe
        {
            if fingerprint.as_deref() != Some(*wanted) {
                return Err(IssueFailure::KeyReused);
            }
        }
        let existing = self
            .ports
            .coupons
            .coupon(store, &code)
            .await?
            .ok_or_else(|| PortError::corrupt(code.normalized(), "its coupon is missing"))?;
        Ok((existing, false))
    }
}

/// The coupon as callers see it: amounts as decimal strings, the terms in words.
pub fn view(c: &Coupon, now: DateTime<Utc>) -> serde_json::Value {
    let (kind, value, currency) = match c.terms.discount {
        Discount::Percentage { basis_points } => {
            ("percentage", Some(percent_text(basis_points)), None)
        }
        Discount::FixedAmount { amount } => (
            "fixed_amount",
            Some(amount.to_decimal().to_string()),
            Some(amount.currency.to_string()),
        ),
        Discount::FreeShipping => ("free_shipping", None, None),
    };
    serde_json::json!({
        "code": c.code.display(),
        "campaign": c.campaign,
        "customer_id": c.customer_id,
        "kind": kind,
        "value": value,
        "currency": currency.or_else(|| c.terms.minimum_order.map(|m| m.currency.to_string())),
        "minimum_order": c.terms.minimum_order.map(|m| m.to_decimal().to_string()),
        "expires_at": c.terms.expires_at.to_rfc3339(),
        "usage_limit": c.terms.usage_limit,
        "uses": c.redemptions.len(),
        "invalid_uses": c.invalid_redemptions.len(),
        "status": c.status(now).to_string(),
        "terms": c.terms.to_string(),
        "checkout": c.checkout,
    })
}

fn percent_text(basis_points: u32) -> String {
    let text = format!("{}.{:02}", basis_points / 100, basis_points % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
