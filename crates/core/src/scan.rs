//! A churn-scan run: its phases, its segments, and the rule that moves it from one phase to the
//! next exactly once, however many workers finish their segments at the same moment.
//!
//! A run is one store on one day (`as_of`): started again the same day, it is the same run, and
//! resumes. Reduce and score are split into segments (one SQS message each); fit is one unit.
//! Storage writes a run under its revision (compare and swap), so of two workers recording their
//! segments at once one writes and the other reads the run again and re-applies
//! [`Run::finish`]: the record that completes the phase's set is the only one that sees
//! `advanced`.

use crate::ids::StoreId;
use crate::segment::{Segment, SegmentError};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Reduce,
    Fit,
    Score,
    Done,
}

impl Phase {
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
