//! Per-shard counters: plain cells owned by the shard, summed across shards on request (no
//! shared atomics on the hot path).

use std::cell::Cell;
use std::time::Duration;

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
    /// Connections refused by `limits.connRatePerIp`.
    pub conn_rate_limited: Cell<u64>,
    /// REST requests refused by `limits.apiRatePerIp` (429).
    pub api_rate_limited: Cell<u64>,
    /// SENDs refused by `limits.messageRate` (SENDACK reason 22).
    pub message_rate_limited: Cell<u64>,
    /// Connections refused over `limits.maxConnections`.
    pub conns_refused: Cell<u64>,
    /// HTTP connections refused over `limits.maxHttpConnections`.
    pub http_conns_refused: Cell<u64>,
    /// Sends refused because their connection created channels too fast
    /// (`limits.channelCreateRate`).
    pub channel_create_limited: Cell<u64>,
    /// WebSocket connections cut for a flood of control frames.
    pub control_floods_cut: Cell<u64>,
    /// Frames refused as malformed or oversized.
    pub bad_frames: Cell<u64>,
    /// Messages sent through REST `/message/send` (counted on the shard that took the request).
    pub api_sends: Cell<u64>,
    /// Messages stored, by channel type (index = type, types ≥ 15 share the last cell).
    pub stored_by_type: ByType,
    /// RECV packets written, by channel type of the message.
    pub recvs_by_type: ByType,
    /// SENDACKs answered with success (by the channel owner, to a client or to REST).
    pub sendacks_ok: Cell<u64>,
    /// SENDACKs answered with a refusal reason.
    pub sendacks_refused: Cell<u64>,
    /// Owner side of a send: from receiving the send to answering SENDACK (durable), seconds.
    pub sendack_latency: Histogram,
    /// Time one message append into the segment log took, seconds: every
    /// [`APPEND_SAMPLE_EVERY`]th append is timed (two clock reads cost about as much as the
    /// append they would time; a stall shows in the samples all the same).
    pub append_latency: Histogram,
    /// Appends since the last one timed for `append_latency`.
    pub append_tick: Cell<u32>,
    /// Time the committer waited for a group commit to become durable (gather + fdatasync).
    pub commit_wait_latency: Histogram,
    /// Disk time of one group commit of the message log: writing the staged records out and
    /// the fdatasync, seconds (what the disk itself costs a commit).
    pub commit_sync_latency: Histogram,
    /// Messages acknowledged per group commit.
    pub commit_batch: BatchHistogram,
    /// `msg.notify` events read from this shard's log and not yet acknowledged (gauge).
    pub webhook_queue: Cell<u64>,
    /// `msg.notify` delivery attempts that failed (each retry counts).
    pub webhook_failures: Cell<u64>,
    /// `msg.notify` events delivered.
    pub webhook_sent: Cell<u64>,
    /// Webhook events dropped: `msg.offline` and `user.onlinestatus` events refused by a full
    /// queue (`msg.notify` is never dropped for failing).
    pub webhook_dropped: Cell<u64>,
    /// `msg.notify` events the receiver refused (4xx), parked in the dead-letter file.
    pub webhook_deadletter: Cell<u64>,
    /// `msg.notify` events the receiver refused that could not be parked (file full or
    /// unwritable).
    pub webhook_deadletter_lost: Cell<u64>,
    /// Times `msg.notify` found its cursor below the log's first LSN (retention deleted
    /// messages before the receiver accepted them).
    pub webhook_retention_skips: Cell<u64>,
    /// Connections closed for idling past `connIdleTime` or not sending CONNECT in time.
    pub idle_timeouts: Cell<u64>,
}

/// How many channel types are counted apart (0‥14, and 15 for every higher type).
pub const TYPE_CELLS: usize = 16;

/// One counter per channel type.
#[derive(Default, Debug)]
pub struct ByType(pub [Cell<u64>; TYPE_CELLS]);

impl ByType {
    /// Adds one for `channel_type`.
    pub fn inc(&self, channel_type: u8) {
        inc(&self.0[(channel_type as usize).min(TYPE_CELLS - 1)]);
    }

    /// The counts, index = channel type.
    pub fn values(&self) -> [u64; TYPE_CELLS] {
        std::array::from_fn(|i| self.0[i].get())
    }
}

/// One append in this many is timed for [`ShardStats::append_latency`].
pub const APPEND_SAMPLE_EVERY: u32 = 16;

impl ShardStats {
    /// Whether this append is one to time (every [`APPEND_SAMPLE_EVERY`]th).
    pub fn time_this_append(&self) -> bool {
        let t = self.append_tick.get() + 1;
        let due = t >= APPEND_SAMPLE_EVERY;
        self.append_tick.set(if due { 0 } else { t });
        due
    }
}

/// Upper bounds (seconds) of the latency buckets: 50 µs to 5 s, fine between 0.25 and 30 ms
/// where a group commit's latency is judged against the disk's own fdatasync.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.003, 0.004, 0.005,
    0.007_5, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Upper bounds of the batch-size buckets (records per group commit).
pub const BATCH_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

/// Most buckets a [`Histogram`] has (bounds plus the +Inf bucket).
const MAX_BUCKETS: usize = 24;

/// A fixed-bucket histogram of plain cells (not cumulative; the exporter accumulates).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: [Cell<u64>; MAX_BUCKETS],
    sum: Cell<f64>,
    count: Cell<u64>,
}

impl Histogram {
    /// A histogram with these upper bounds (ascending, at most 23).
    pub fn new(bounds: &'static [f64]) -> Self {
        assert!(bounds.len() < MAX_BUCKETS, "too many buckets");
        Self {
            bounds,
            counts: Default::default(),
            sum: Cell::new(0.0),
            count: Cell::new(0),
        }
    }

    /// Records one value.
    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        inc(&self.counts[i]);
        self.sum.set(self.sum.get() + v);
        inc(&self.count);
    }

    /// Records a duration in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// A copy for export.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds.to_vec(),
            counts: (0..=self.bounds.len())
                .map(|i| self.counts[i].get())
                .collect(),
            sum: self.sum.get(),
            count: self.count.get(),
        }
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new(LATENCY_BOUNDS)
    }
}

/// A histogram's values at one moment: `counts[i]` observations ≤ `bounds[i]` (and above the
/// previous bound); the last count is the +Inf bucket.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistogramSnapshot {
    /// Upper bounds.
    pub bounds: Vec<f64>,
    /// Per-bucket counts, one more than `bounds`.
    pub counts: Vec<u64>,
    /// Sum of observed values.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl HistogramSnapshot {
    /// Adds another snapshot with the same bounds (cross-shard totals).
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        if self.counts.is_empty() {
            *self = other.clone();
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// The value below which a fraction `q` of observations fall (bucket upper bound).
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let want = (q * self.count as f64).ceil() as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want.max(1) {
                return self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            }
        }
        f64::INFINITY
    }
}

/// A histogram whose buckets are group-commit batch sizes (records), not seconds.
#[derive(Debug)]
pub struct BatchHistogram(pub Histogram);

impl Default for BatchHistogram {
    fn default() -> Self {
        Self(Histogram::new(BATCH_BOUNDS))
    }
}

impl std::ops::Deref for BatchHistogram {
    type Target = Histogram;
    fn deref(&self) -> &Histogram {
        &self.0
    }
}

/// Thread CPU time of the calling thread (the shard's busy time when called on the shard).
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
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
