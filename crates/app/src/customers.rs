//! Reading customers: one profile (by id or email), or a whole store as a stream of pages that a
//! caller can stop and resume at any page, or split into segments for parallel workers.

use crate::error::Result;
use crate::ports::{Customers, Page};
use retention_core::profile::{CustomerView, Profile};
use retention_core::segment::{Cursor, Segment};
use retention_core::{CustomerId, StoreId};

/// Items per page a stream asks for: about 1 MB of DynamoDB items, a bounded amount of memory.
pub const PAGE_ITEMS: usize = 1000;

/// One customer with their figures, by id.
pub async fn show(
    customers: &dyn Customers,
    store: &StoreId,
    customer: &CustomerId,
) -> Result<Option<CustomerView>> {
    Ok(customers
        .profile(store, customer)
        .await?
        .map(|profile| view(customer.clone(), profile)))
}

pub fn view(customer_id: CustomerId, profile: Profile) -> CustomerView {
    let stats = profile.stats();
    CustomerView {
        customer_id,
        profile,
        stats,
    }
}

/// A segment of a store's customers, read page by page. Memory holds one page; [`Stream::cursor`]
/// after any page is a checkpoint to resume from with [`Stream::resume`].
pub struct Stream<'a> {
    customers: &'a dyn Customers,
    store: StoreId,
    segment: Segment,
    cursor: Option<Cursor>,
    done: bool,
    items: usize,
}

impl<'a> Stream<'a> {
    pub fn new(customers: &'a dyn Customers, store: &StoreId, segment: Segment) -> Self {
        Self::resume(customers, store, segment, None)
    }
    pub fn resume(
        customers: &'a dyn Customers,
        store: &StoreId,
        segment: Segment,
        cursor: Option<Cursor>,
    ) -> Self {
        Self {
            customers,
            store: store.clone(),
            segment,
            cursor,
            done: false,
            items: PAGE_ITEMS,
        }
    }
    /// Items per page (tests use small pages to cross page boundaries).
    pub fn with_page_items(mut self, items: usize) -> Self {
        self.items = items.max(1);
        self
    }
    /// Where the stream stands: `None` before the first page, or at the end once `done`.
    pub fn cursor(&self) -> Option<&Cursor> {
        self.cursor.as_ref()
    }
    /// Whether the last page has been handed out (its cursor is then no place to resume from).
    pub fn done(&self) -> bool {
        self.done
    }
    /// The next page of whole customers; `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<(CustomerId, Profile)>>> {
        if self.done {
            return Ok(None);
        }
        let Page { customers, next } = self
            .customers
            .page(&self.store, self.segment, self.cursor.as_ref(), self.items)
            .await?;
        match next {
            Some(c) => self.cursor = Some(c),
            None => self.done = true,
        }
        if customers.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(customers))
    }
}
