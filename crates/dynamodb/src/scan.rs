//! The churn scan's items: a run's documents (`SCAN#<as_of>#<phase>#<segment>`: each segment's
//! checkpoint, the fitted model, the report) and the customers' scores (`C#<bucket>#<id>#S`, in
//! the customer's collection, so a page of customers brings each one's stored score with it).
//!
//! Documents are JSON compressed with DEFLATE into one binary attribute: a reduce checkpoint holds
//! a segment's distinct (x, t_x, T) rows, tens of thousands for a large segment, and DynamoDB
//! items stop at 400 KB (docs/scale.md). Compressed, they are a few bytes per row.

use crate::keys::{scan_doc_prefix, scan_doc_sk, score_sk, store_pk, PK, SK};
use crate::table::{s, sort_key, to_item, Item, Range, Table};
use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::NaiveDate;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use retention_app::ports::{ScanState, Scores};
use retention_app::{ErrorKind, PortError, Result};
use retention_aws::AwsError;
use retention_core::churn::scored::CustomerScore;
use retention_core::scan::Phase;
use retention_core::{CustomerId, StoreId};
use serde::{Deserialize, Serialize};
use std::io::{Read as _, Write as _};

/// A score item: the figures, flattened, under the customer's score key.
#[derive(Serialize, Deserialize)]
pub(crate) struct ScoreItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(flatten)]
    pub score: CustomerScore,
}

const DOC: &str = "doc";
/// Compressed documents above this do not fit an item with its keys.
const MAX_DOC: usize = 390 * 1024;

fn compress(json: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::fast());
    e.write_all(json).expect("writing to memory");
    e.finish().expect("writing to memory")
}

fn decompress(key: &str, data: &[u8]) -> std::result::Result<Vec<u8>, AwsError> {
    let mut out = Vec::new();
    DeflateDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|e| AwsError::corrupt(key, e))?;
    Ok(out)
}

fn doc_of(key: &str, item: &Item) -> std::result::Result<Vec<u8>, AwsError> {
    match item.get(DOC) {
        Some(AttributeValue::B(b)) => decompress(key, b.as_ref()),
        _ => Err(AwsError::corrupt(key, "no document")),
    }
}

fn segment_of(key: &str) -> std::result::Result<u32, AwsError> {
    key.rsplit('#')
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| AwsError::corrupt(key, "not a scan document key"))
}

#[async_trait]
impl ScanState for Table {
    async fn document(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
        phase: Phase,
        segment: u32,
    ) -> Result<Option<Vec<u8>>> {
        let sk = scan_doc_sk(as_of, phase.name(), segment);
        match self.get(store, &sk, "reading a scan document").await? {
            None => Ok(None),
            Some(item) => Ok(Some(doc_of(&sk, &item)?)),
        }
    }

    async fn put_document(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
        phase: Phase,
        segment: u32,
        json: &[u8],
    ) -> Result<()> {
        let sk = scan_doc_sk(as_of, phase.name(), segment);
        let doc = compress(json);
        if doc.len() > MAX_DOC {
            return Err(PortError::bare(
                ErrorKind::Rejected,
                format!(
                    "scan document {sk} is {} bytes compressed, more than an item holds: run the scan with more segments",
                    doc.len()
                ),
            ));
        }
        self.count();
        self.client
            .put_item()
            .table_name(&self.name)
            .item(PK, s(store_pk(store)))
            .item(SK, s(sk))
            .item(DOC, AttributeValue::B(Blob::new(doc)))
            .send()
            .await
            .map_err(|e| AwsError::sdk("writing a scan document", e))?;
        Ok(())
    }

    async fn documents(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
        phase: Phase,
    ) -> Result<Vec<(u32, Vec<u8>)>> {
        let prefix = scan_doc_prefix(as_of, phase.name());
        let items = self
            .query_all(
                store,
                &Range::Prefix(&prefix),
                None,
                "reading scan documents",
            )
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let key = sort_key(item);
            out.push((segment_of(key)?, doc_of(key, item)?));
        }
        Ok(out)
    }
}

#[async_trait]
impl Scores for Table {
    /// BatchWriteItem, 25 at a time, resending what DynamoDB leaves unprocessed. Each score is a
    /// plain put of its own item: a retry writes the same figures again, never anything else.
    async fn put_scores(
        &self,
        store: &StoreId,
        scores: &[(CustomerId, CustomerScore)],
    ) -> Result<()> {
        let pk = store_pk(store);
        for chunk in scores.chunks(crate::table::BATCH) {
            let mut requests = Vec::with_capacity(chunk.len());
            for (c, score) in chunk {
                let sk = score_sk(c);
                let item = to_item(
                    &sk,
                    ScoreItem {
                        pk: pk.clone(),
                        sk: sk.clone(),
                        score: score.clone(),
                    },
                )?;
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| AwsError::build("building a score put", e))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            self.batch_write(requests, "writing scores").await?;
        }
        Ok(())
    }
}
