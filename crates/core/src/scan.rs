//! A churn-scan run: its phases, its segments, and the rule that moves it from one phase to the
//! next exactly once, however many workers finish their segments at the same moment.
//!
//! A run is one store on one day (`as_of`): started again the same day, it is the same run, and
//! resumes. Reduce and score are split into segments (one SQS message each); fit is one unit.
//! Storage writes a run under its revision (compare and swap), so of two workers recording their
//! segments at once one writes and the other reads the run again and re-applies
//! [`Run::finish`]: the record that completes the phase's set is the only one that sees
//! `advanced`.

use crate::churn::inputs::RfmScorer;
use crate::churn::kpi::RetentionKpis;
use crate::churn::rfm::Segment as RfmSegment;
use crate::churn::score::{ChurnModel, RiskBucket};
use crate::churn::scored::CustomerScore;
use crate::ids::StoreId;
use crate::segment::{Segment, SegmentError};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Reduce,
    Fit,
    Score,
    Done,
}

impl Phase {
    /// As stored and printed: `reduce`, `fit`, `score`, `done`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Reduce => "reduce",
            Phase::Fit => "fit",
            Phase::Score => "score",
            Phase::Done => "done",
        }
    }

    pub fn next(self) -> Phase {
        match self {
            Phase::Reduce => Phase::Fit,
            Phase::Fit => Phase::Score,
            Phase::Score | Phase::Done => Phase::Done,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub store: StoreId,
    pub as_of: NaiveDate,
    pub segments: u32,
    pub phase: Phase,
    /// The segments that finished the current phase (fit: segment 0 alone).
    pub finished: BTreeSet<u32>,
}

/// What recording a finished segment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Recorded; `Some(phase)` when this record completed the phase and the run moved to `phase`.
    Recorded { advanced: Option<Phase> },
    /// Recorded before (a redelivered message): nothing changes.
    AlreadyFinished,
    /// The run is not in that phase (a message of a phase already complete, or not yet begun).
    WrongPhase { current: Phase },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Segments(#[from] SegmentError),
    #[error("segment {segment} is not one of the run's {segments}")]
    NoSuchSegment { segment: u32, segments: u32 },
}

impl Run {
    pub fn new(store: StoreId, as_of: NaiveDate, segments: u32) -> Result<Run, RunError> {
        Segment::new(0, segments)?;
        Ok(Run {
            store,
            as_of,
            segments,
            phase: Phase::Reduce,
            finished: BTreeSet::new(),
        })
    }

    /// How many units the current phase has: the segments, or one for the fit.
    pub fn units(&self) -> u32 {
        match self.phase {
            Phase::Reduce | Phase::Score => self.segments,
            Phase::Fit => 1,
            Phase::Done => 0,
        }
    }

    /// Records that `segment` finished `phase`; the record that completes the phase moves the
    /// run to the next one.
    pub fn finish(&mut self, phase: Phase, segment: u32) -> Result<Finish, RunError> {
        if phase != self.phase {
            return Ok(Finish::WrongPhase {
                current: self.phase,
            });
        }
        if segment >= self.units() {
            return Err(RunError::NoSuchSegment {
                segment,
                segments: self.units(),
            });
        }
        if !self.finished.insert(segment) {
            return Ok(Finish::AlreadyFinished);
        }
        if self.finished.len() as u32 == self.units() {
            self.phase = self.phase.next();
            self.finished.clear();
            return Ok(Finish::Recorded {
                advanced: Some(self.phase),
            });
        }
        Ok(Finish::Recorded { advanced: None })
    }
}

/// One unit of work: a segment of a phase of a run (one SQS message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanJob {
    pub store: StoreId,
    pub as_of: NaiveDate,
    pub phase: Phase,
    pub segment: u32,
}

impl Run {
    /// The jobs of the current phase that have not finished: what to send to resume the run.
    pub fn pending(&self) -> Vec<ScanJob> {
        (0..self.units())
            .filter(|s| !self.finished.contains(s))
            .map(|segment| ScanJob {
                store: self.store.clone(),
                as_of: self.as_of,
                phase: self.phase,
                segment,
            })
            .collect()
    }
}

/// The fit phase's result, stored once per run so that every segment scores with the same model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedModel {
    pub as_of: NaiveDate,
    pub model: ChurnModel,
    pub rfm: RfmScorer,
    /// Customers with a purchase on or before `as_of` (the data the fit saw), and repeat buyers.
    pub customers: u64,
    pub repeat_customers: u64,
    /// Customers read with no purchase on or before `as_of` (nothing to model).
    pub without_purchases: u64,
    pub history_days: i64,
    pub kpis: RetentionKpis,
    pub fit_ms: u64,
}

/// How one customer's new figures compare with the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No stored figures, or they changed materially: write.
    Write,
    /// Stored figures of this very run (`as_of`), written before a crash: count them written,
    /// write nothing.
    WrittenBefore,
    /// Within the thresholds of the stored figures: nothing to write.
    Unchanged,
}

impl Decision {
    /// A run is one store and day, so stored figures dated `as_of` are this run's own.
    pub fn of(new: &CustomerScore, stored: Option<&CustomerScore>) -> Decision {
        match stored {
            None => Decision::Write,
            Some(old) if old.as_of == new.as_of && !new.changed_materially(old) => {
                Decision::WrittenBefore
            }
            Some(old) if new.changed_materially(old) => Decision::Write,
            Some(_) => Decision::Unchanged,
        }
    }
}

/// What scoring a segment (or, merged, a run) did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreTally {
    pub scored: u64,
    pub written: u64,
    pub unchanged: u64,
    /// Customers read with no purchase on or before the run's date: not scored.
    pub without_purchases: u64,
    pub by_bucket: BTreeMap<RiskBucket, u64>,
    pub by_segment: BTreeMap<RfmSegment, u64>,
}

impl ScoreTally {
    pub fn add(&mut self, score: &CustomerScore, decision: Decision) {
        self.scored += 1;
        match decision {
            Decision::Write | Decision::WrittenBefore => self.written += 1,
            Decision::Unchanged => self.unchanged += 1,
        }
        *self.by_bucket.entry(score.bucket).or_default() += 1;
        *self.by_segment.entry(score.segment).or_default() += 1;
    }

    pub fn merge(&mut self, other: &ScoreTally) {
        self.scored += other.scored;
        self.written += other.written;
        self.unchanged += other.unchanged;
        self.without_purchases += other.without_purchases;
        for (k, n) in &other.by_bucket {
            *self.by_bucket.entry(*k).or_default() += n;
        }
        for (k, n) in &other.by_segment {
            *self.by_segment.entry(*k).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(segments: u32) -> Run {
        Run::new(
            StoreId::parse("s1").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
            segments,
        )
        .unwrap()
    }

    #[test]
    fn phases_advance_once_each_when_their_last_unit_finishes() {
        let mut r = run(3);
        assert_eq!(
            r.finish(Phase::Reduce, 2),
            Ok(Finish::Recorded { advanced: None })
        );
        assert_eq!(r.finish(Phase::Reduce, 2), Ok(Finish::AlreadyFinished));
        assert_eq!(
            r.finish(Phase::Reduce, 0),
            Ok(Finish::Recorded { advanced: None })
        );
        assert_eq!(
            r.finish(Phase::Score, 1),
            Ok(Finish::WrongPhase {
                current: Phase::Reduce
            })
        );
        assert_eq!(
            r.finish(Phase::Reduce, 1),
            Ok(Finish::Recorded {
                advanced: Some(Phase::Fit)
            })
        );
        // A late redelivery of a reduce message changes nothing.
        assert_eq!(
            r.finish(Phase::Reduce, 1),
            Ok(Finish::WrongPhase {
                current: Phase::Fit
            })
        );
        assert!(r.finish(Phase::Fit, 1).is_err(), "the fit is one unit");
        assert_eq!(
            r.finish(Phase::Fit, 0),
            Ok(Finish::Recorded {
                advanced: Some(Phase::Score)
            })
        );
        for s in 0..2 {
            assert_eq!(
                r.finish(Phase::Score, s),
                Ok(Finish::Recorded { advanced: None })
            );
        }
        assert_eq!(
            r.finish(Phase::Score, 2),
            Ok(Finish::Recorded {
                advanced: Some(Phase::Done)
            })
        );
        assert_eq!(r.units(), 0);
    }

    #[test]
    fn a_run_has_a_sensible_number_of_segments() {
        let s = StoreId::parse("s1").unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert!(Run::new(s.clone(), d, 0).is_err());
        assert!(Run::new(s.clone(), d, crate::segment::BUCKETS + 1).is_err());
        assert!(Run::new(s, d, 1_000).is_ok());
    }

    #[test]
    fn the_stored_form_reads_back() {
        let mut r = run(7);
        r.finish(Phase::Reduce, 4).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""phase":"reduce""#), "{json}");
        assert_eq!(serde_json::from_str::<Run>(&json).unwrap(), r);
    }
}
