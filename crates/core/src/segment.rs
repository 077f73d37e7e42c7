//! A store's customers split into disjoint segments, for workers that read them in parallel.
//!
//! Every customer falls in one of [`BUCKETS`] buckets by a hash of their id ([`bucket`]); segment
//! `i` of `n` is a contiguous range of buckets, so the `n` segments cover every bucket exactly once
//! and each customer is read by exactly one segment, whatever `n` is (1 to [`BUCKETS`]). The bucket
//! is part of the customer's storage key, so a segment is one range read.

use crate::ids::CustomerId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Buckets a store's customers are spread over: the most segments a store can be read in.
pub const BUCKETS: u32 = 1 << 16;

/// The customer's bucket: the first 16 bits of the SHA-256 of their id (stable across releases,
/// platforms and processes, unlike `std`'s hasher).
pub fn bucket(customer: &CustomerId) -> u16 {
    let h = Sha256::digest(customer.as_str().as_bytes());
    u16::from_be_bytes([h[0], h[1]])
}

/// Segment `index` of `of` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    index: u32,
    of: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("a store is read in 1 to {BUCKETS} segments, not {0}")]
    Count(u32),
    #[error("segment {index} does not exist: segments are numbered 0 to {}", .of - 1)]
    Index { index: u32, of: u32 },
}

impl Segment {
    pub fn new(index: u32, of: u32) -> Result<Self, SegmentError> {
        if of == 0 || of > BUCKETS {
            return Err(SegmentError::Count(of));
        }
        if index >= of {
            return Err(SegmentError::Index { index, of });
        }
        Ok(Self { index, of })
    }
    /// The whole store as one segment.
    pub fn whole() -> Self {
        Self { index: 0, of: 1 }
    }
    /// The `of` segments of a store, in order.
    pub fn all(of: u32) -> Result<Vec<Segment>, SegmentError> {
        (0..of).map(|i| Segment::new(i, of)).collect()
    }
    pub fn index(&self) -> u32 {
        self.index
    }
    pub fn of(&self) -> u32 {
        self.of
    }
    /// The buckets this segment covers: `first..=last`.
    pub fn buckets(&self) -> (u16, u16) {
        let start = |i: u32| (u64::from(i) * u64::from(BUCKETS) / u64::from(self.of)) as u32;
        (start(self.index) as u16, (start(self.index + 1) - 1) as u16)
    }
    pub fn contains(&self, customer: &CustomerId) -> bool {
        let (first, last) = self.buckets();
        (first..=last).contains(&bucket(customer))
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.of)
    }
}

/// Where a read of a segment stands: what the adapter needs to go on after the last customer it
/// handed out. Opaque to everyone else; small, so a checkpoint can store it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn segments_tile_the_buckets() {
        for of in [1, 2, 7, 64, 1000, 4096, BUCKETS] {
            let segs = Segment::all(of).unwrap();
            let mut next = 0u32;
            for s in &segs {
                let (a, b) = s.buckets();
                assert_eq!(u32::from(a), next, "{s}");
                assert!(b >= a);
                next = u32::from(b) + 1;
            }
            assert_eq!(next, BUCKETS, "{of}");
        }
        assert!(Segment::new(0, 0).is_err());
        assert!(Segment::new(3, 3).is_err());
        assert!(Segment::new(0, BUCKETS + 1).is_err());
    }

    proptest! {
        #[test]
        fn every_customer_is_in_exactly_one_segment(id in "[a-z0-9]{1,20}", of in 1u32..2000) {
            let c = CustomerId::parse(id).unwrap();
            let n = Segment::all(of).unwrap().iter().filter(|s| s.contains(&c)).count();
            prop_assert_eq!(n, 1);
        }
    }
}
