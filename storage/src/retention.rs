//! Retention: which whole old segments to delete (never the active one).

use std::time::Duration;

/// Age and size limits of a log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Delete sealed segments whose newest record is older than this.
    pub age: Option<Duration>,
    /// Delete the oldest sealed segments while the log is larger than this.
    pub bytes: Option<u64>,
}

/// One segment as retention sees it.
#[derive(Debug, Clone, Copy)]
pub struct SegmentInfo {
    /// Newest record time (unix seconds; `i64::MIN` if it holds none).
    pub newest_ts: i64,
    /// File size.
    pub bytes: u64,
}

impl Retention {
    /// How many of the oldest segments (oldest first; the last is active) to delete at
    /// `now` (unix seconds). Only a prefix is ever deleted, so the log stays contiguous.
    pub fn segments_to_delete(&self, segs: &[SegmentInfo], now: i64) -> usize {
        let sealed = segs.len().saturating_sub(1);
        let mut n = 0;
        if let Some(age) = self.age {
            let cutoff = now.saturating_sub(age.as_secs() as i64);
            while n < sealed && segs[n].newest_ts < cutoff {
                n += 1;
            }
        }
        if let Some(limit) = self.bytes {
            let mut total: u64 = segs[n..].iter().map(|s| s.bytes).sum();
            while n < sealed && total > limit {
                total -= segs[n].bytes;
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_the_active_one() {
        let segs = [SegmentInfo {
            newest_ts: 0,
            bytes: 100,
        }; 3];
        let r = Retention {
            age: Some(Duration::from_secs(10)),
            bytes: Some(0),
        };
        assert_eq!(r.segments_to_delete(&segs, 1000), 2);
        assert_eq!(r.segments_to_delete(&segs[..1], 1000), 0);
    }

    #[test]
    fn by_age_prefix_then_size() {
        let s = |t, b| SegmentInfo {
            newest_ts: t,
            bytes: b,
        };
        let segs = [s(10, 10), s(950, 10), s(20, 10), s(990, 10)];
        let age = Retention {
            age: Some(Duration::from_secs(100)),
            bytes: None,
        };
        assert_eq!(age.segments_to_delete(&segs, 1000), 1);
        let size = Retention {
            age: None,
            bytes: Some(25),
        };
        assert_eq!(size.segments_to_delete(&segs, 1000), 2);
    }
}
