//! The table handle and the few request helpers every item kind shares: one GetItem, one Query
//! page, one transaction, one update-expression builder.

use crate::keys::{store_pk, PK, SK};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnConsumedCapacity, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use retention_aws::AwsError;
use retention_core::StoreId;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The table, as the adapters see it. Cheap to clone; build one per process.
#[derive(Clone)]
pub struct Table {
    pub(crate) client: Client,
    pub(crate) name: String,
    requests: Arc<AtomicU64>,
    /// The reads through [`Table::get`], [`Table::query_page`] and the GSI1 queries, by what
    /// they were for (their context): requests and read units (see [`crate::capacity`]).
    reads: Arc<Mutex<BTreeMap<&'static str, Reads>>>,
}

/// One purpose's reads, in half read units.
#[derive(Default)]
struct Reads {
    requests: u64,
    half_by_rule: u64,
    half_reported: u64,
}

/// One purpose's reads: how many requests, and their read units two ways.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadUnits {
    pub requests: u64,
    /// By DynamoDB's rule, from the items returned.
    pub by_rule: f64,
    /// As the responses said (the rule's figure where they said nothing).
    pub reported: f64,
}

/// A transaction's outcome: committed, or one reason code per item.
pub(crate) enum Tx {
    Committed,
    /// One reason code per item, in order (`None` where that item was fine).
    Cancelled(Vec<Option<String>>),
}

/// Items per BatchWriteItem (DynamoDB's limit).
pub(crate) const BATCH: usize = 25;
/// Rounds of resending what DynamoDB left unprocessed before giving up.
const BATCH_ROUNDS: u32 = 8;

pub(crate) const CONDITION_FAILED: &str = "ConditionalCheckFailed";
pub(crate) const CONFLICT: &str = "TransactionConflict";

impl Tx {
    /// Whether item `i`'s condition failed.
    pub(crate) fn failed(&self, i: usize) -> bool {
        matches!(self, Tx::Cancelled(r) if r.get(i).is_some_and(|c| c.as_deref() == Some(CONDITION_FAILED)))
    }
    /// Whether another transaction held one of the items (try again).
    pub(crate) fn conflicted(&self) -> bool {
        matches!(self, Tx::Cancelled(r) if r.iter().any(|c| c.as_deref() == Some(CONFLICT)))
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub(crate) fn to_av<T: Serialize>(v: &T) -> Result<AttributeValue, AwsError> {
    serde_dynamo::to_attribute_value(v).map_err(|e| AwsError::corrupt("(value being written)", e))
}
pub(crate) fn to_item<T: Serialize>(key: &str, v: T) -> Result<Item, AwsError> {
    serde_dynamo::to_item(v).map_err(|e| AwsError::corrupt(key, e))
}
pub(crate) fn from_item<T: serde::de::DeserializeOwned>(
    key: &str,
    item: Item,
) -> Result<T, AwsError> {
    serde_dynamo::from_item(item).map_err(|e| AwsError::corrupt(key, e))
}
pub(crate) fn sort_key(item: &Item) -> &str {
    item.get(SK)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

/// A conditional write's outcome: sent, or its condition did not hold (an outcome, not an error).
pub(crate) fn condition_held<O, E, R>(
    sent: Result<O, SdkError<E, R>>,
    context: &'static str,
) -> Result<bool, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match sent {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(AwsError::sdk(context, e)),
    }
}

/// A Put of a serde item, optionally conditional.
pub(crate) fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
) -> Result<TransactWriteItem, AwsError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .build()
        .map_err(|e| AwsError::build("building a put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// An update expression (and its condition) assembled clause by clause, with placeholders numbered
/// as they are added: the hand-written part of the adapter, for conditional updates only.
#[derive(Default)]
pub(crate) struct Expr {
    set: Vec<String>,
    remove: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// The placeholder of attribute `attr` (a path's parts are named one by one: `a.b`).
    pub(crate) fn name(&mut self, attr: &str) -> String {
        attr.split('.')
            .map(|part| {
                if let Some((k, _)) = self.names.iter().find(|(_, v)| *v == part) {
                    return k.clone();
                }
                let k = format!("#n{}", self.names.len());
                self.names.insert(k.clone(), part.to_string());
                k
            })
            .collect::<Vec<_>>()
            .join(".")
    }
    pub(crate) fn value(&mut self, v: AttributeValue) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), v);
        k
    }
    pub(crate) fn set(&mut self, attr: &str, v: AttributeValue) {
        let (a, b) = (self.name(attr), self.value(v));
        self.set.push(format!("{a} = {b}"));
    }
    /// Sets the attribute only where it has never been set: how orders fill in a profile's identity
    /// without overwriting newer customer updates, or reviving what a redaction nulled.
    pub(crate) fn set_if_absent(&mut self, attr: &str, v: AttributeValue) {
        let (a, b) = (self.name(attr), self.value(v));
        self.set.push(format!("{a} = if_not_exists({a}, {b})"));
    }
    /// A raw `SET` clause, its placeholders made with [`Expr::name`] and [`Expr::value`].
    pub(crate) fn set_clause(&mut self, clause: String) {
        self.set.push(clause);
    }
    pub(crate) fn remove(&mut self, attr: &str) {
        let a = self.name(attr);
        self.remove.push(a);
    }
    /// Adds a condition; all of an update's conditions must hold.
    pub(crate) fn condition(&mut self, c: String) {
        self.conditions.push(c);
    }
    fn update_expression(&self) -> String {
        let mut out = Vec::new();
        if !self.set.is_empty() {
            out.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            out.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        out.join(" ")
    }
    fn into_parts(self) -> Parts {
        let condition = (!self.conditions.is_empty()).then(|| {
            self.conditions
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" AND ")
        });
        Parts {
            update: self.update_expression(),
            condition,
            names: (!self.names.is_empty()).then_some(self.names),
            values: (!self.values.is_empty()).then_some(self.values),
        }
    }
    pub(crate) fn into_update(
        self,
        table: &str,
        pk: String,
        sk: String,
    ) -> Result<TransactWriteItem, AwsError> {
        let p = self.into_parts();
        let update = Update::builder()
            .table_name(table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .update_expression(p.update)
            .set_condition_expression(p.condition)
            .set_expression_attribute_names(p.names)
            .set_expression_attribute_values(p.values)
            .build()
            .map_err(|e| AwsError::build("building an update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

struct Parts {
    update: String,
    condition: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

/// One page of a Query over a store's partition.
pub(crate) struct QueryPage {
    pub items: Vec<Item>,
    /// Where the next page starts (`None`: this was the last).
    pub last_key: Option<Item>,
}

/// How a Query reads. Strong for what a decision is made on (one customer, one order's records);
/// eventual for streaming a store, where a write of the last second is picked up by the next run
/// anyway, at half the read units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    Strong,
    Eventual,
}

/// What a Query over a store's partition reads: the sort-key range, which attributes, how.
pub(crate) struct Query<'a> {
    pub range: Range<'a>,
    pub projection: Option<&'a str>,
    pub read: Read,
}

/// A key condition on the sort key of a store's partition.
#[derive(Clone, Copy)]
pub(crate) enum Range<'a> {
    All,
    Prefix(&'a str),
    /// Inclusive on both ends.
    Between(&'a str, &'a str),
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
            requests: Arc::new(AtomicU64::new(0)),
            reads: Arc::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// DynamoDB requests sent through this handle so far (for the request-count figures).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub(crate) fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Read units the reads of this handle have consumed so far, as the responses reported them
    /// (by DynamoDB's rule where a response said nothing). On DynamoDB, the bill.
    pub fn read_units(&self) -> f64 {
        self.reads_by_purpose().values().map(|r| r.reported).sum()
    }
    /// The same reads by DynamoDB's rule, from the items returned: the figure that means something
    /// against moto, which reports a constant per request.
    pub fn read_units_by_rule(&self) -> f64 {
        self.reads_by_purpose().values().map(|r| r.by_rule).sum()
    }
    /// The reads so far by what they were for (the request's context, "reading a page of
    /// customers"), in read units.
    pub fn reads_by_purpose(&self) -> BTreeMap<&'static str, ReadUnits> {
        let reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        reads
            .iter()
            .map(|(k, r)| {
                let units = ReadUnits {
                    requests: r.requests,
                    by_rule: r.half_by_rule as f64 / 2.0,
                    reported: r.half_reported as f64 / 2.0,
                };
                (*k, units)
            })
            .collect()
    }
    fn charge<'a>(
        &self,
        context: &'static str,
        consumed: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>,
        items: impl IntoIterator<Item = &'a Item>,
        strong: bool,
    ) {
        let c = crate::capacity::charged_half_units(consumed, items, strong);
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let r = reads.entry(context).or_default();
        r.requests += 1;
        r.half_by_rule += c.by_rule;
        r.half_reported += c.reported;
    }

    /// Sends one `TransactWriteItems`; a cancellation is an outcome, not an error.
    pub(crate) async fn transact(
        &self,
        context: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Tx, AwsError> {
        self.count();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Tx::Committed),
            Err(SdkError::ServiceError(ctx)) => match ctx.err() {
                TransactWriteItemsError::TransactionCanceledException(c) => Ok(Tx::Cancelled(
                    c.cancellation_reasons()
                        .iter()
                        .map(|r| r.code().filter(|c| *c != "None").map(str::to_string))
                        .collect(),
                )),
                // Another transaction held an item: as good as a conflict, retry.
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    Ok(Tx::Cancelled(vec![Some(CONFLICT.into())]))
                }
                _ => Err(AwsError::sdk(context, SdkError::ServiceError(ctx))),
            },
            Err(e) => Err(AwsError::sdk(context, e)),
        }
    }

    /// The store's item `sk`, strongly consistent: the one GetItem of the adapter.
    pub(crate) async fn get(
        &self,
        store: &StoreId,
        sk: &str,
        context: &'static str,
    ) -> Result<Option<Item>, AwsError> {
        self.count();
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(PK, s(store_pk(store)))
            .key(SK, s(sk))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| AwsError::sdk(context, e))?;
        self.charge(context, out.consumed_capacity(), out.item(), true);
        Ok(out.item)
    }

    /// One page of `query`, from `start` (a page's `last_key`), at most `limit` items (DynamoDB
    /// also stops at 1 MB).
    pub(crate) async fn query_page(
        &self,
        store: &StoreId,
        query: &Query<'_>,
        start: Option<Item>,
        limit: Option<usize>,
        context: &'static str,
    ) -> Result<QueryPage, AwsError> {
        let Query {
            range,
            projection,
            read,
        } = query;
        self.count();
        let mut query = self
            .client
            .query()
            .table_name(&self.name)
            .consistent_read(*read == Read::Strong)
            .expression_attribute_values(":pk", s(store_pk(store)));
        query = match range {
            Range::All => query.key_condition_expression("PK = :pk"),
            Range::Prefix(p) => query
                .key_condition_expression("PK = :pk AND begins_with(SK, :a)")
                .expression_attribute_values(":a", s(*p)),
            Range::Between(a, b) => query
                .key_condition_expression("PK = :pk AND SK BETWEEN :a AND :b")
                .expression_attribute_values(":a", s(*a))
                .expression_attribute_values(":b", s(*b)),
        };
        let out = query
            .set_limit(limit.map(|l| l.min(i32::MAX as usize) as i32))
            .set_projection_expression(projection.map(str::to_string))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| AwsError::sdk(context, e))?;
        self.charge(
            context,
            out.consumed_capacity(),
            out.items(),
            *read == Read::Strong,
        );
        Ok(QueryPage {
            items: out.items.unwrap_or_default(),
            last_key: out.last_evaluated_key,
        })
    }

    /// Every item of the store in `range`, all pages, strongly consistent: for ranges known to be
    /// small (one customer, a store's coupons for the operator).
    pub(crate) async fn query_all(
        &self,
        store: &StoreId,
        range: &Range<'_>,
        projection: Option<&str>,
        context: &'static str,
    ) -> Result<Vec<Item>, AwsError> {
        let query = Query {
            range: *range,
            projection,
            read: Read::Strong,
        };
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self.query_page(store, &query, start, None, context).await?;
            out.extend(page.items);
            match page.last_key {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// Every item of GSI1 under `key` (all pages): a store's email lookups, the list of stores.
    pub(crate) async fn query_gsi1(
        &self,
        key: &str,
        projection: Option<&str>,
        context: &'static str,
    ) -> Result<Vec<Item>, AwsError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            self.count();
            let page = self
                .client
                .query()
                .table_name(&self.name)
                .index_name(crate::keys::GSI1)
                .key_condition_expression("GSI1PK = :g")
                .expression_attribute_values(":g", s(key))
                .set_projection_expression(projection.map(str::to_string))
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| AwsError::sdk(context, e))?;
            // GSI reads are always eventually consistent.
            self.charge(context, page.consumed_capacity(), page.items(), false);
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// Puts `item` only if no item has its key; false when one had (the first write stands).
    pub(crate) async fn put_new(
        &self,
        item: Item,
        context: &'static str,
    ) -> Result<bool, AwsError> {
        self.count();
        let sent = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        condition_held(sent, context)
    }

    /// Every item of the store under `prefix`, decoded as `T` (all pages, strongly consistent).
    pub(crate) async fn list<T: serde::de::DeserializeOwned>(
        &self,
        store: &StoreId,
        prefix: &str,
        context: &'static str,
    ) -> Result<Vec<T>, AwsError> {
        let items = self
            .query_all(store, &Range::Prefix(prefix), None, context)
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let sk = sort_key(&item).to_string();
            out.push(from_item::<T>(&sk, item)?);
        }
        Ok(out)
    }

    /// One UpdateItem of the store's item `sk`; false when its condition failed.
    pub(crate) async fn update_one(
        &self,
        store: &StoreId,
        sk: &str,
        e: Expr,
        context: &'static str,
    ) -> Result<bool, AwsError> {
        let p = e.into_parts();
        self.count();
        let sent = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(PK, s(store_pk(store)))
            .key(SK, s(sk))
            .update_expression(p.update)
            .set_condition_expression(p.condition)
            .set_expression_attribute_names(p.names)
            .set_expression_attribute_values(p.values)
            .send()
            .await;
        condition_held(sent, context)
    }

    /// Puts `item` (which carries revision `rev + 1`) provided the stored item is still at revision
    /// `rev` (0: there must be none); false when another writer came first. How stores and scan
    /// runs are edited by several writers without overwriting one another.
    pub(crate) async fn put_at_revision(
        &self,
        item: Item,
        rev: u64,
        context: &'static str,
    ) -> Result<bool, AwsError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item));
        req = if rev == 0 {
            req.condition_expression("attribute_not_exists(PK)")
        } else {
            req.condition_expression("rev = :rev")
                .expression_attribute_values(":rev", n(rev as i64))
        };
        self.count();
        condition_held(req.send().await, context)
    }

    /// Sends up to [`BATCH`] puts or deletes in one BatchWriteItem, resending what DynamoDB leaves
    /// unprocessed (it does under throttling) with a growing pause, up to [`BATCH_ROUNDS`] times.
    pub(crate) async fn batch_write(
        &self,
        mut requests: Vec<WriteRequest>,
        context: &'static str,
    ) -> Result<(), AwsError> {
        let mut round = 0;
        while !requests.is_empty() {
            if round == BATCH_ROUNDS {
                return Err(AwsError::throttled(context, requests.len()));
            }
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
            }
            self.count();
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.name, requests)
                .send()
                .await
                .map_err(|e| AwsError::sdk(context, e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.name))
                .unwrap_or_default();
            round += 1;
        }
        Ok(())
    }

    /// Every item in the store's partition (tests use it to prove that nothing was written).
    pub async fn count_store_items(&self, store: &StoreId) -> Result<usize, AwsError> {
        Ok(self
            .query_all(store, &Range::All, Some("PK"), "counting items")
            .await?
            .len())
    }
}
