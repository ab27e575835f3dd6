//! Measurement: latency histograms and their summaries, and the per-stream loss / duplication /
//! reordering detector.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeSet;

/// Highest recordable latency: 60 s in nanoseconds (larger values saturate).
pub const MAX_NS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds")
}

/// Records `ns` (clamped into the histogram's range).
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.clamp(1, MAX_NS));
}

/// Latency percentiles in microseconds (the JSON `sendack_us` / `e2e_us` objects).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
    /// Number of samples.
    pub count: u64,
}

impl Percentiles {
    /// Summarises a nanosecond histogram (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| (ns as f64 / 1000.0 * 10.0).round() / 10.0;
        Self {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            count: h.len(),
        }
    }
}

/// Formats microseconds for humans: `850µs`, `1.25ms`, `2.1s`.
pub fn fmt_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// Formats a rate: `1.23M/s`, `45.6k/s`, `789/s`.
pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k/s", r / 1e3)
    } else {
        format!("{r:.0}/s")
    }
}

/// Gaps larger than this are counted without remembering each missing sequence number.
const MAX_TRACKED_GAP: u64 = 100_000;

/// Ordered-delivery checker for one (sender → receiver) stream whose sequence numbers start at 1.
#[derive(Clone, Debug, Default)]
pub struct StreamCheck {
    /// Highest sequence number seen.
    pub max_seen: u64,
    /// Distinct messages received.
    pub distinct: u64,
    /// Copies of a message already received.
    pub duplicated: u64,
    /// Messages that arrived after a later one.
    pub reordered: u64,
    /// Sequence numbers skipped and not (yet) received.
    missing: BTreeSet<u64>,
    /// Skipped numbers beyond the tracking limit (assumed lost).
    untracked: u64,
}

/// What one arrival was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The next message, in order.
    InOrder,
    /// Later than expected: earlier ones are missing (so far).
    Gap,
    /// An earlier missing message arriving late.
    Reordered,
    /// A copy of a message already received.
    Duplicate,
}

impl StreamCheck {
    /// Accounts for the arrival of `seq` (≥ 1).
    pub fn observe(&mut self, seq: u64) -> Arrival {
        if seq > self.max_seen {
            let gap = seq - self.max_seen - 1;
            let arrival = if gap == 0 {
                Arrival::InOrder
            } else {
                if gap <= MAX_TRACKED_GAP {
                    self.missing.extend(self.max_seen + 1..seq);
                } else {
                    self.untracked += gap;
                }
                Arrival::Gap
            };
            self.max_seen = seq;
            self.distinct += 1;
            arrival
        } else if self.missing.remove(&seq) {
            self.reordered += 1;
            self.distinct += 1;
            Arrival::Reordered
        } else {
            self.duplicated += 1;
            Arrival::Duplicate
        }
    }

    /// Messages the stream should have carried (`expected` acknowledged sends) but did not.
    pub fn lost(&self, expected: u64) -> u64 {
        expected.saturating_sub(self.distinct)
    }

    /// Sequence numbers currently missing below the highest seen.
    #[cfg(test)]
    pub fn holes(&self) -> u64 {
        self.missing.len() as u64 + self.untracked
    }

    /// Adds another checker's counts (for a stream observed in pieces; holes are not merged).
    pub fn absorb_counts(&mut self, o: &StreamCheck) {
        self.distinct += o.distinct;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.max_seen = self.max_seen.max(o.max_seen);
    }
}

/// Loss / duplication / reordering totals over every stream of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Integrity {
    /// Acknowledged messages some expected receiver never got.
    pub lost: u64,
    /// Extra copies received.
    pub duplicated: u64,
    /// Messages received after a later one of the same stream.
    pub reordered: u64,
}

impl Integrity {
    /// Adds one stream: `expected` is how many of its messages were acknowledged to the sender.
    pub fn add(&mut self, check: &StreamCheck, expected: u64) {
        self.lost += check.lost(expected);
        self.duplicated += check.duplicated;
        self.reordered += check.reordered;
    }

    /// Whether anything went wrong.
    pub fn violated(&self) -> bool {
        self.lost + self.duplicated + self.reordered > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_stream_is_clean() {
        let mut c = StreamCheck::default();
        for s in 1..=1000 {
            assert_eq!(c.observe(s), Arrival::InOrder);
        }
        let mut i = Integrity::default();
        i.add(&c, 1000);
        assert!(!i.violated());
        assert_eq!(c.holes(), 0);
    }

    #[test]
    fn detects_loss_dup_and_reorder() {
        let mut c = StreamCheck::default();
        assert_eq!(c.observe(1), Arrival::InOrder);
        assert_eq!(c.observe(2), Arrival::InOrder);
        assert_eq!(c.observe(5), Arrival::Gap); // 3, 4 missing
        assert_eq!(c.holes(), 2);
        assert_eq!(c.observe(3), Arrival::Reordered);
        assert_eq!(c.observe(3), Arrival::Duplicate);
        assert_eq!(c.observe(5), Arrival::Duplicate);
        assert_eq!(c.observe(6), Arrival::InOrder);
        // 7 acknowledged sends: 4 and 7 never arrived.
        let mut i = Integrity::default();
        i.add(&c, 7);
        assert_eq!(
            i,
            Integrity {
                lost: 2,
                duplicated: 2,
                reordered: 1
            }
        );
        assert!(i.violated());
        assert_eq!(c.holes(), 1);
    }

    #[test]
    fn unacked_tail_is_not_loss_when_received() {
        // Sender got acks for 3 but the receiver saw 4 (the 4th ack was still in flight).
        let mut c = StreamCheck::default();
        for s in 1..=4 {
            c.observe(s);
        }
        assert_eq!(c.lost(3), 0);
    }

    #[test]
    fn huge_gap_is_counted_not_stored() {
        let mut c = StreamCheck::default();
        c.observe(1);
        c.observe(MAX_TRACKED_GAP + 10);
        assert_eq!(c.holes(), MAX_TRACKED_GAP + 8);
        assert_eq!(c.observe(2), Arrival::Duplicate); // untracked: cannot tell, counted as dup
    }

    #[test]
    fn percentile_maths() {
        let mut h = new_hist();
        // 1..=1000 µs uniformly.
        for us in 1..=1000u64 {
            record(&mut h, us * 1000);
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.002 + 0.1;
        assert!(close(p.p50, 500.0), "p50 {}", p.p50);
        assert!(close(p.p90, 900.0), "p90 {}", p.p90);
        assert!(close(p.p99, 990.0), "p99 {}", p.p99);
        assert!(close(p.p999, 999.0), "p999 {}", p.p999);
        assert!(close(p.max, 1000.0), "max {}", p.max);
        assert_eq!(Percentiles::of(&new_hist()), Percentiles::default());
    }

    #[test]
    fn record_clamps() {
        let mut h = new_hist();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= MAX_NS);
        assert_eq!(h.min(), 1);
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_us(850.0), "850µs");
        assert_eq!(fmt_us(1250.0), "1.25ms");
        assert_eq!(fmt_rate(1_234_567.0), "1.23M/s");
        assert_eq!(fmt_rate(45_600.0), "45.6k/s");
        assert_eq!(fmt_rate(789.0), "789/s");
    }
}
