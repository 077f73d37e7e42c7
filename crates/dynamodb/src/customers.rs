//! Reading the customer collection (see [`crate::keys`]): one customer is one Query over their key
//! range, a segment of the store one Query per page over its bucket range. Pages end on a customer
//! boundary and their cursor is a key, so a stream can stop after any page and resume there.

use crate::decode::{self, Via};
use crate::keys::*;
use crate::table::{sort_key, to_av, Expr, Item, Query, Range, Read, Table};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use retention_app::ports::{ConsentChanges, Customers, Page};
use retention_app::{ErrorKind, PortError, Result};
use retention_aws::AwsError;
use retention_core::profile::Profile;
use retention_core::segment::{Cursor, Segment};
use retention_core::{CustomerId, Email, StoreId};

/// Decodes a run of customer-collection items, in key order, into whole customers: each profile
/// item and the copies of orders after it become one [`Profile`]. Memory is the items' and the
/// profiles', nothing more. Read by the direct decoder ([`crate::decode`]).
pub fn decode_customers(
    items: Vec<Item>,
) -> std::result::Result<Vec<(CustomerId, Profile)>, AwsError> {
    decode_customers_via(items, Via::Direct)
}

/// [`decode_customers`] with the decoder chosen: [`Via::Serde`] is the reference the direct one is
/// tested and measured against.
pub fn decode_customers_via(
    items: Vec<Item>,
    via: Via,
) -> std::result::Result<Vec<(CustomerId, Profile)>, AwsError> {
    let mut out: Vec<(CustomerId, Profile)> = Vec::new();
    for item in items {
        let key = sort_key(&item).to_string();
        let parsed = parse_customer_key(&key)
            .ok_or_else(|| AwsError::corrupt(&key, "not a customer key"))?;
        if out.last().is_none_or(|(c, _)| c != parsed.customer()) {
            out.push((parsed.customer().clone(), Profile::default()));
        }
        let profile = &mut out.last_mut().expect("pushed above").1;
        match parsed {
            CustomerKey::Profile(_) => {
                let p = decode::profile(&key, item, via)?;
                profile.person = p.person();
                profile.redacted = p.redacted.unwrap_or(false);
                profile.unsubscribed_at = p.unsub_at;
            }
            CustomerKey::Score(_) => {
                profile.score = Some(decode::score(&key, item, via)?);
            }
            CustomerKey::Order(_, order) => {
                let (summary, refunds) = decode::order_copy(&key, item, via)?;
                for (refund, r) in refunds {
                    profile.refunds.insert((order.clone(), refund), r);
                }
                if let Some(summary) = summary {
                    profile.orders.insert(order, summary);
                }
            }
        }
    }
    Ok(out)
}

impl Table {
    /// Every item of one customer (any number of orders: several pages if need be).
    async fn customer_items(
        &self,
        store: &StoreId,
        customer: &CustomerId,
    ) -> std::result::Result<Vec<Item>, AwsError> {
        let (lo, hi) = (customer_sk(customer), customer_end(customer));
        self.query_all(store, &Range::Between(&lo, &hi), None, "reading a customer")
            .await
    }

    pub(crate) async fn by_email(
        &self,
        store: &StoreId,
        email: &Email,
    ) -> std::result::Result<Vec<CustomerId>, AwsError> {
        let items = self
            .query_gsi1(&email_gsi(store, email), None, "looking up an email")
            .await?;
        items
            .iter()
            .map(|i| {
                let sk = sort_key(i);
                parse_customer_key(sk)
                    .map(|k| k.customer().clone())
                    .ok_or_else(|| AwsError::corrupt(sk, "not a customer key"))
            })
            .collect()
    }

    /// A customer's profile with every order (tests, the CLI).
    pub async fn get_profile(
        &self,
        store: &StoreId,
        customer: &CustomerId,
    ) -> std::result::Result<Option<Profile>, AwsError> {
        let items = self.customer_items(store, customer).await?;
        Ok(decode_customers(items)?.pop().map(|(_, p)| p))
    }
}

#[async_trait]
impl Customers for Table {
    async fn profile(&self, store: &StoreId, customer: &CustomerId) -> Result<Option<Profile>> {
        Ok(self.get_profile(store, customer).await?)
    }

    async fn find_by_email(&self, store: &StoreId, email: &Email) -> Result<Vec<CustomerId>> {
        Ok(self.by_email(store, email).await?)
    }

    async fn page(
        &self,
        store: &StoreId,
        segment: Segment,
        after: Option<&Cursor>,
        items: usize,
    ) -> Result<Page> {
        let (lo, hi) = segment_range(segment);
        let from = match after {
            None => lo,
            Some(Cursor(c)) if *c >= lo && *c <= hi => c.clone(),
            Some(Cursor(c)) => {
                return Err(PortError::bare(
                    ErrorKind::Rejected,
                    format!("cursor {c:?} is not in segment {segment}"),
                ))
            }
        };
        let page = self
            .query_page(
                store,
                &Query {
                    range: Range::Between(&from, &hi),
                    projection: None,
                    read: Read::Eventual,
                },
                None,
                Some(items.max(1)),
                "reading a page of customers",
            )
            .await?;
        let mut customers = decode_customers(page.items)?;
        let Some(last_key) = page.last_key else {
            return Ok(Page {
                customers,
                next: None,
            });
        };
        // The page stopped inside the segment: its last customer may be cut.
        if customers.len() > 1 {
            let (cut, _) = customers.pop().expect("more than one");
            return Ok(Page {
                customers,
                next: Some(Cursor(customer_sk(&cut))),
            });
        }
        // One customer larger than a page: finish them with a Query bounded to them.
        let Some((only, mut profile)) = customers.pop() else {
            return Err(PortError::bare(
                ErrorKind::Retryable,
                "reading a page of customers: an empty page that is not the last",
            ));
        };
        let (lo, end) = (customer_sk(&only), customer_end(&only));
        let mut start = Some(last_key);
        while let Some(k) = start.take() {
            let rest = self
                .query_page(
                    store,
                    &Query {
                        range: Range::Between(&lo, &end),
                        projection: None,
                        read: Read::Eventual,
                    },
                    Some(k),
                    None,
                    "reading a customer",
                )
                .await?;
            // Only the customer's orders are left (their profile item sorts first).
            if let Some((_, more)) = decode_customers(rest.items)?.pop() {
                profile.orders.extend(more.orders);
                profile.refunds.extend(more.refunds);
                profile.score = more.score.or(profile.score.take());
            }
            start = rest.last_key;
        }
        Ok(Page {
            customers: vec![(only.clone(), profile)],
            next: Some(Cursor(end)),
        })
    }
}

/// The unsubscribe is one conditional UpdateItem of the profile item: `unsub_at` is set only where
/// it is absent (the first unsubscribe stands, a repeated click changes nothing) and only on a
/// customer that exists (no profile is made up for a customer we never heard of). Nothing else of
/// the profile is read or written, so no webhook's write races it and none can clear it: the
/// webhooks' writes never name `unsub_at`.
#[async_trait]
impl ConsentChanges for Table {
    async fn unsubscribe(
        &self,
        store: &StoreId,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut e = Expr::default();
        e.set_if_absent("unsub_at", to_av(&at)?);
        e.condition("attribute_exists(PK)".into());
        Ok(self
            .update_one(store, &customer_sk(customer), e, "recording an unsubscribe")
            .await?)
    }
}
