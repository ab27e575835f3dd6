//! A bounded window of recent `(channel, client_msg_no)` → message, to answer retried sends
//! with the original message instead of storing it twice.
//!
//! The window maps a 64-bit hash of `(channel_type, channel_id, client_msg_no)` (randomly
//! seeded) to the log position of the send; the store confirms a match by reading that record
//! and comparing its channel and client_msg_no, so a hash collision can never answer a new
//! message with an older one (it only costs one record read). Remembering or checking a send
//! allocates nothing, and an entry is 16 bytes: the window's tables are what every send probes,
//! and at the default 100,000 entries per shard they are 2 MiB in all instead of the 5 MiB that
//! 128-bit keys with the message's ids took (a probe that stays in the core's cache instead of
//! missing it).
//!
//! The window is two generations of `cap / 2` entries: new entries go to the current one; when
//! it is full, the previous generation is dropped whole and the current one takes its place.
//! So the last `cap / 2` to `cap` sends are remembered, and no entry is ever removed one by
//! one (a per-insert removal of the oldest key cost a cold cache line and hash-table
//! tombstones: a quarter of the append path under load).
//!
//! WuKongIM itself stores retried sends again and leaves de-duplication to the clients (by
//! `client_msg_no`); this window is extra protection, not a compatibility requirement.

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

/// A send's place in the window: a 64-bit hash of `(channel_type, channel_id,
/// client_msg_no)` (see the module doc). Only [`DedupWindow::key`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupKey(u64);

/// Passes an already uniformly distributed key through (the map's keys are hashes).
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else so the hasher stays correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, k: u64) {
        self.0 = k;
    }
}

/// Key → the LSN of the send it was made for.
type KeyMap = std::collections::HashMap<u64, u64, BuildHasherDefault<PassThrough>>;

/// Remembers the last `cap / 2` to `cap` client_msg_nos of a shard (see the module doc).
pub struct DedupWindow {
    /// Entries per generation (0 = de-duplication off).
    half: usize,
    seed: ahash::RandomState,
    current: KeyMap,
    previous: KeyMap,
}

impl DedupWindow {
    /// A window remembering between `cap / 2` and `cap` entries (0 disables de-duplication).
    pub fn new(cap: usize) -> Self {
        let half = if cap == 0 { 0 } else { (cap / 2).max(1) };
        DedupWindow {
            half,
            seed: ahash::RandomState::new(),
            current: KeyMap::with_capacity_and_hasher(half.min(1 << 16), Default::default()),
            previous: KeyMap::default(),
        }
    }

    /// The key of `(channel, client_msg_no)`, computed once for a send's check and its
    /// insert; `None` when there is nothing to remember (no client_msg_no, window off).
    pub fn key(&self, channel_id: &str, channel_type: u8, client_msg_no: &str) -> Option<DedupKey> {
        if client_msg_no.is_empty() || self.half == 0 {
            return None;
        }
        let mut h = self.seed.build_hasher();
        h.write_u8(channel_type);
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        h.write_usize(channel_id.len());
        h.write(channel_id.as_bytes());
        h.write(client_msg_no.as_bytes());
        Some(DedupKey(h.finish()))
    }

    /// The LSN of the send remembered under `(channel, client_msg_no)`'s key, if any: a
    /// candidate the caller confirms against the record (see the module doc).
    pub fn get(&self, channel_id: &str, channel_type: u8, client_msg_no: &str) -> Option<u64> {
        self.get_key(self.key(channel_id, channel_type, client_msg_no)?)
    }

    /// [`DedupWindow::get`] by a key from [`DedupWindow::key`].
    pub fn get_key(&self, k: DedupKey) -> Option<u64> {
        self.current
            .get(&k.0)
            .or_else(|| self.previous.get(&k.0))
            .copied()
    }

    /// Remembers the send stored at `lsn`; a full generation retires the oldest one whole.
    pub fn insert(&mut self, channel_id: &str, channel_type: u8, client_msg_no: &str, lsn: u64) {
        if let Some(k) = self.key(channel_id, channel_type, client_msg_no) {
            self.insert_key(k, lsn);
        }
    }

    /// [`DedupWindow::insert`] by a key from [`DedupWindow::key`].
    pub fn insert_key(&mut self, k: DedupKey, lsn: u64) {
        if self.current.len() >= self.half {
            // The retired generation's table is emptied and reused: a fresh one per
            // generation faulted in megabytes of new pages on the append path.
            let mut retired = std::mem::take(&mut self.previous);
            retired.clear();
            retired.reserve(self.half);
            self.previous = std::mem::replace(&mut self.current, retired);
        }
        self.current.insert(k.0, lsn);
        debug_assert!(self.current.len() <= self.half && self.previous.len() <= self.half);
    }

    /// Entries remembered (a key in both generations counts twice).
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_generations_bound_the_window() {
        let mut w = DedupWindow::new(4);
        w.insert("c", 2, "a", 1);
        w.insert("c", 2, "b", 2);
        // "c" starts a new generation; "a" and "b" are still remembered.
        w.insert("c", 2, "c", 3);
        assert_eq!(w.get("c", 2, "a"), Some(1));
        assert_eq!(w.get("c", 1, "a"), None);
        w.insert("c", 2, "d", 4);
        assert_eq!(w.len(), 4);
        // "e" retires the generation holding "a" and "b".
        w.insert("c", 2, "e", 5);
        assert_eq!(w.get("c", 2, "a"), None);
        assert_eq!(w.get("c", 2, "b"), None);
        assert_eq!(w.get("c", 2, "c"), Some(3));
        assert_eq!(w.get("c", 2, "e"), Some(5));
        assert_eq!(w.len(), 3);
        assert_eq!(w.get("c", 2, ""), None);
        let mut off = DedupWindow::new(0);
        off.insert("c", 2, "a", 1);
        assert_eq!(off.get("c", 2, "a"), None);
    }

    #[test]
    fn split_points_do_not_collide() {
        let mut w = DedupWindow::new(16);
        w.insert("ab", 1, "c", 1);
        assert_eq!(w.get("a", 1, "bc"), None);
        assert_eq!(w.get("abc", 1, ""), None);
        assert_eq!(w.get("ab", 1, "c"), Some(1));
    }

    #[test]
    fn many_distinct_keys_stay_distinct() {
        let mut w = DedupWindow::new(200_000);
        for i in 0..100_000u64 {
            w.insert("chan", 2, &i.to_string(), i);
        }
        assert_eq!(w.len(), 100_000);
        for i in (0..100_000u64).step_by(997) {
            assert_eq!(w.get("chan", 2, &i.to_string()), Some(i));
        }
    }
}
