//! A bounded window of recent `(channel, client_msg_no)` → message, to answer retried sends
//! with the original message instead of storing it twice.
//!
//! Keys are 128-bit hashes of `(channel_type, channel_id, client_msg_no)` under two
//! independently, randomly seeded hashers: remembering or checking a send allocates nothing,
//! and a false match (which would answer a new message with an older one) needs a 128-bit
//! collision — about 2⁻¹⁰⁹ for a full default window, far below any hardware error rate.

use std::collections::VecDeque;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// What a retried send gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupHit {
    /// The original message's seq.
    pub message_seq: u64,
    /// The original message's id.
    pub message_id: i64,
    /// Where it lives.
    pub lsn: u64,
}

/// Passes an already uniformly distributed key through (the map's keys are hashes).
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; fold anything else so the hasher stays correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, k: u128) {
        self.0 = k as u64;
    }
}

type KeyMap = std::collections::HashMap<u128, DedupHit, BuildHasherDefault<PassThrough>>;

/// FIFO window of the last `cap` client_msg_nos of a shard.
pub struct DedupWindow {
    cap: usize,
    seeds: (ahash::RandomState, ahash::RandomState),
    map: KeyMap,
    order: VecDeque<u128>,
}

impl DedupWindow {
    /// A window remembering `cap` entries (0 disables de-duplication).
    pub fn new(cap: usize) -> Self {
        DedupWindow {
            cap,
            seeds: (ahash::RandomState::new(), ahash::RandomState::new()),
            map: KeyMap::with_capacity_and_hasher(cap.min(1 << 16), Default::default()),
            order: VecDeque::with_capacity(cap.min(1 << 16)),
        }
    }

    fn key(&self, channel_id: &str, channel_type: u8, client_msg_no: &str) -> u128 {
        let half = |s: &ahash::RandomState| {
            let mut h = s.build_hasher();
            h.write_u8(channel_type);
            // Length-prefixed, so ("ab","c") and ("a","bc") differ.
            h.write_usize(channel_id.len());
            h.write(channel_id.as_bytes());
            h.write(client_msg_no.as_bytes());
            h.finish()
        };
        (u128::from(half(&self.seeds.0)) << 64) | u128::from(half(&self.seeds.1))
    }

    /// The message a client_msg_no already produced in this channel, if still remembered.
    pub fn get(&self, channel_id: &str, channel_type: u8, client_msg_no: &str) -> Option<DedupHit> {
        if client_msg_no.is_empty() || self.cap == 0 {
            return None;
        }
        self.map
            .get(&self.key(channel_id, channel_type, client_msg_no))
            .copied()
    }

    /// Remembers a stored message, evicting the oldest entry beyond the capacity.
    pub fn insert(
        &mut self,
        channel_id: &str,
        channel_type: u8,
        client_msg_no: &str,
        hit: DedupHit,
    ) {
        if client_msg_no.is_empty() || self.cap == 0 {
            return;
        }
        let k = self.key(channel_id, channel_type, client_msg_no);
        if self.map.insert(k, hit).is_none() {
            self.order.push_back(k);
        }
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        debug_assert_eq!(self.map.len(), self.order.len());
    }

    /// Entries remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: u64) -> DedupHit {
        DedupHit {
            message_seq: s,
            message_id: s as i64,
            lsn: s,
        }
    }

    #[test]
    fn bounded_fifo() {
        let mut w = DedupWindow::new(2);
        w.insert("c", 2, "a", h(1));
        w.insert("c", 2, "b", h(2));
        assert_eq!(w.get("c", 2, "a"), Some(h(1)));
        assert_eq!(w.get("c", 1, "a"), None);
        w.insert("c", 2, "c", h(3));
        assert_eq!(w.get("c", 2, "a"), None);
        assert_eq!(w.get("c", 2, "c"), Some(h(3)));
        assert_eq!(w.len(), 2);
        assert_eq!(w.get("c", 2, ""), None);
    }

    #[test]
    fn split_points_do_not_collide() {
        let mut w = DedupWindow::new(16);
        w.insert("ab", 1, "c", h(1));
        assert_eq!(w.get("a", 1, "bc"), None);
        assert_eq!(w.get("abc", 1, ""), None);
        assert_eq!(w.get("ab", 1, "c"), Some(h(1)));
    }

    #[test]
    fn many_distinct_keys_stay_distinct() {
        let mut w = DedupWindow::new(100_000);
        for i in 0..100_000u64 {
            w.insert("chan", 2, &i.to_string(), h(i));
        }
        assert_eq!(w.len(), 100_000);
        for i in (0..100_000u64).step_by(997) {
            assert_eq!(w.get("chan", 2, &i.to_string()), Some(h(i)));
        }
    }
}
