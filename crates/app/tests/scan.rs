//! The scan's reduce phase over the in-memory ports: segments merge to the whole store, and a
//! worker killed mid-segment resumes from its last checkpoint with exact totals.

use retention_app::memory::Memory;
use retention_app::scan::{reduce_segment, ReduceJob, Reduction};
use retention_app::{Deliveries, ErrorKind, PortError};
use retention_core::churn::FitInputs;
use retention_core::segment::Segment;
use retention_core::webhook::{Change, Order, OrderStatus, Person};
use retention_core::{CustomerId, Money, OrderId};
use std::sync::{Arc, Mutex};

mod common;
use common::{at, end, store, usd};

const CUSTOMERS: u32 = 400;

/// Customer i orders 1 + i % 4 times; every 50th only ever cancelled (nothing to model).
async fn seeded() -> Arc<Memory> {
    let m = Arc::new(Memory::new());
    let d = Deliveries {
        ledger: m.clone(),
        erasure: m.clone(),
        redemptions: m.clone(),
    };
    for i in 0..CUSTOMERS {
        for k in 0..(1 + i % 4) {
            let day = (i * 7 + k * 45) % 360;
            let o = Order {
                id: OrderId::parse(format!("{i}-{k}")).unwrap(),
                customer_id: CustomerId::parse(format!("c{i}")).unwrap(),
                customer: Person::default(),
                created_at: at(day),
                updated_at: at(day),
                total: Money::new(1_000 + i64::from(i % 13) * 250, usd()),
                status: if i % 50 == 0 {
                    OrderStatus::Cancelled
                } else {
                    OrderStatus::Open
                },
                items: vec![],
                coupon_codes: vec![],
                refunds: vec![],
            };
            d.apply(&store(), &Change::Order(o), &[format!("d{i}-{k}")], at(0))
                .await
                .unwrap();
        }
    }
    m
}

fn job(segment: Segment) -> ReduceJob {
    ReduceJob {
        store: store(),
        segment,
        end: end(),
        currency: usd(),
        page_items: 37,
    }
}

async fn reduce(m: &Memory, segment: Segment) -> Reduction {
    reduce_segment(m, &job(segment), Reduction::default(), |_| async { Ok(()) })
        .await
        .unwrap()
}

#[tokio::test]
async fn segments_reduce_to_the_whole_store() {
    let m = seeded().await;
    let whole = reduce(&m, Segment::whole()).await;
    assert!(whole.done);
    assert_eq!(whole.tally.without_purchases, u64::from(CUSTOMERS / 50));
    assert_eq!(
        whole.tally.inputs.customers,
        u64::from(CUSTOMERS - CUSTOMERS / 50)
    );
    assert!(whole.pages > 5, "{} pages", whole.pages);
    for n in [7, 64] {
        let mut merged = FitInputs::default();
        let mut without = 0;
        for segment in Segment::all(n).unwrap() {
            let r = reduce(&m, segment).await;
            merged.merge(&r.tally.inputs);
            without += r.tally.without_purchases;
        }
        assert_eq!(merged, whole.tally.inputs, "{n} segments");
        assert_eq!(without, whole.tally.without_purchases);
    }
}

#[tokio::test]
async fn a_worker_killed_mid_segment_resumes_from_its_checkpoint_with_exact_totals() {
    let m = seeded().await;
    let whole = reduce(&m, Segment::whole()).await;
    for kill_after in [1u64, 3, whole.pages - 1, whole.pages] {
        // The run's checkpoint store; the worker dies storing the page after `kill_after` (the
        // last page's own checkpoint, for `whole.pages - 1`).
        let stored = Arc::new(Mutex::new(Reduction::default()));
        let s = stored.clone();
        let died = reduce_segment(
            m.as_ref(),
            &job(Segment::whole()),
            Reduction::default(),
            |r| {
                let s = s.clone();
                let r = r.clone();
                async move {
                    if r.pages > kill_after
                        || (r.done && r.pages == kill_after && kill_after != whole.pages)
                    {
                        return Err(PortError::bare(ErrorKind::Retryable, "killed"));
                    }
                    *s.lock().unwrap() = r;
                    Ok(())
                }
            },
        )
        .await;
        assert_eq!(died.is_err(), kill_after < whole.pages);
        let checkpoint = stored.lock().unwrap().clone();
        // Redelivered: the next worker starts from the stored checkpoint.
        let pages_before = checkpoint.pages;
        let resumed = reduce_segment(m.as_ref(), &job(Segment::whole()), checkpoint, |_| async {
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(
            resumed.tally.inputs, whole.tally.inputs,
            "killed after {kill_after} pages"
        );
        assert_eq!(
            resumed.tally.without_purchases,
            whole.tally.without_purchases
        );
        assert_eq!(
            resumed.pages, whole.pages,
            "no page read twice (from {pages_before})"
        );
        assert!(resumed.done);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_64_workers_finishing_at_once_exactly_one_moves_the_run_on() {
    use retention_app::scan::{finish, start};
    use retention_core::scan::{Finish, Phase};
    let m = Arc::new(Memory::new());
    let (run, created) = start(m.as_ref(), &store(), end(), 64).await.unwrap();
    assert!(created);
    assert_eq!(run.phase, Phase::Reduce);
    // Started again the same day (with another segment count): the same run.
    assert_eq!(
        start(m.as_ref(), &store(), end(), 7).await.unwrap(),
        (run, false)
    );
    let (phase, next) = (Phase::Reduce, Phase::Fit);
    let tasks: Vec<_> = (0..64)
        .map(|segment| {
            let m = m.clone();
            tokio::spawn(async move {
                // Every message delivered twice, as SQS may.
                let a = finish(m.as_ref(), &store(), end(), phase, segment)
                    .await
                    .unwrap();
                let b = finish(m.as_ref(), &store(), end(), phase, segment)
                    .await
                    .unwrap();
                (a, b)
            })
        })
        .collect();
    let mut advanced = 0;
    for t in tasks {
        let (a, b) = t.await.unwrap();
        if a == (Finish::Recorded {
            advanced: Some(next),
        }) {
            advanced += 1;
        }
        assert!(
            matches!(b, Finish::AlreadyFinished | Finish::WrongPhase { .. }),
            "{b:?}"
        );
    }
    assert_eq!(advanced, 1, "{phase:?} moved on exactly once");
    let (run, _) = retention_app::ports::ScanRuns::run(m.as_ref(), &store(), end())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.phase, Phase::Fit);
    assert!(finish(m.as_ref(), &store(), end(), Phase::Fit, 3)
        .await
        .is_err());
}
