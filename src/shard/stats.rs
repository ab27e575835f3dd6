//! Per-shard counters: plain cells owned by the shard, summed across shards on request (no
//! shared atomics on the hot path).

use std::cell::Cell;

/// Counters of one shard.
#[derive(Default, Debug)]
pub struct ShardStats {
    /// Client connections accepted.
    pub conns_accepted: Cell<u64>,
    /// Client connections authenticated now.
    pub conns_live: Cell<u64>,
    /// SEND packets received.
    pub sends_in: Cell<u64>,
    /// Messages stored.
    pub messages_stored: Cell<u64>,
    /// RECV packets written.
    pub recvs_out: Cell<u64>,
    /// Bytes read from clients.
    pub bytes_in: Cell<u64>,
    /// Bytes written to clients.
    pub bytes_out: Cell<u64>,
    /// Messages for users with no live connection.
    pub offline_deliveries: Cell<u64>,
    /// Connections cut for reading too slowly.
    pub slow_readers_cut: Cell<u64>,
    /// Connections refused over `limits.maxConnections`.
    pub conns_refused: Cell<u64>,
    /// Frames refused as malformed or oversized.
    pub bad_frames: Cell<u64>,
}

/// Adds one to a counter.
pub fn inc(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// Adds `n` to a counter.
pub fn add(c: &Cell<u64>, n: u64) {
    c.set(c.get() + n);
}

/// Subtracts one from a gauge (never below zero).
pub fn dec(c: &Cell<u64>) {
    c.set(c.get().saturating_sub(1));
}
