//! Scan runs on the table: one per store and day, and of many workers finishing their segments
//! at once (each message delivered twice, as SQS may), exactly one moves the run on.

use chrono::NaiveDate;
use retention_app::ports::ScanRuns;
use retention_app::scan::{finish, start};
use retention_core::scan::{Finish, Phase};
use retention_core::StoreId;
use retention_tests::fresh_table;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_16_workers_finishing_at_once_exactly_one_moves_the_run_on() {
    let table = Arc::new(fresh_table("runs").await);
    let store = StoreId::parse("runs-shop").unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let (run, created) = start(table.as_ref(), &store, day, 16).await.unwrap();
    assert!(created);
    assert_eq!((run.phase, run.segments), (Phase::Reduce, 16));
    assert_eq!(
        start(table.as_ref(), &store, day, 64).await.unwrap(),
        (run, false),
        "the same day resumes"
    );
    let tasks: Vec<_> = (0..16)
        .map(|segment| {
            let (table, store) = (table.clone(), store.clone());
            tokio::spawn(async move {
                let a = finish(table.as_ref(), &store, day, Phase::Reduce, segment)
                    .await
                    .unwrap();
                let b = finish(table.as_ref(), &store, day, Phase::Reduce, segment)
                    .await
                    .unwrap();
                (a, b)
            })
        })
        .collect();
    let mut advanced = 0;
    for t in tasks {
        let (a, b) = t.await.unwrap();
        advanced += usize::from(
            a == Finish::Recorded {
                advanced: Some(Phase::Fit),
            },
        );
        assert!(
            matches!(b, Finish::AlreadyFinished | Finish::WrongPhase { .. }),
            "{b:?}"
        );
    }
    assert_eq!(advanced, 1);
    let (stored, rev) = table.run(&store, day).await.unwrap().unwrap();
    assert_eq!(stored.phase, Phase::Fit);
    assert!(rev >= 17, "every record was a write of its own: {rev}");
    // Another day is another run.
    let next_day = day.succ_opt().unwrap();
    assert!(table.run(&store, next_day).await.unwrap().is_none());
}
