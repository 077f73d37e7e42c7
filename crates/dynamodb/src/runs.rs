//! Scan runs: `PK=STORE#<id>, SK=RUN#<as_of>`, one per store and day, each written under a
//! revision (see [`retention_core::scan`]).

use crate::keys::{run_sk, store_pk, RUN_PREFIX};
use crate::table::{from_item, sort_key, to_item, Range, Table};
use async_trait::async_trait;
use chrono::NaiveDate;
use retention_app::ports::ScanRuns;
use retention_core::scan::Run;
use retention_core::StoreId;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct RunItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    rev: u64,
    #[serde(flatten)]
    run: Run,
}

#[async_trait]
impl ScanRuns for Table {
    async fn run(
        &self,
        store: &StoreId,
        as_of: NaiveDate,
    ) -> retention_app::Result<Option<(Run, u64)>> {
        let sk = run_sk(as_of);
        Ok(match self.get(store, &sk, "reading a scan run").await? {
            None => None,
            Some(item) => {
                let parsed: RunItem = from_item(&sk, item)?;
                Some((parsed.run, parsed.rev))
            }
        })
    }

    async fn put_run(&self, run: &Run, rev: u64) -> retention_app::Result<bool> {
        let sk = run_sk(run.as_of);
        let item = RunItem {
            pk: store_pk(&run.store),
            sk: sk.clone(),
            rev: rev + 1,
            run: run.clone(),
        };
        let item = to_item(&sk, item)?;
        Ok(self
            .put_at_revision(item, rev, "writing a scan run")
            .await?)
    }

    async fn runs(&self, store: &StoreId, limit: usize) -> retention_app::Result<Vec<Run>> {
        let items = self
            .query_all(store, &Range::Prefix(RUN_PREFIX), None, "listing scan runs")
            .await?;
        let mut runs = Vec::with_capacity(items.len());
        for item in items {
            let sk = sort_key(&item).to_string();
            runs.push(from_item::<RunItem>(&sk, item)?.run);
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.as_of));
        runs.truncate(limit);
        Ok(runs)
    }
}
