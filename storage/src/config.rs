//! Store configuration with sane defaults (`StoreConfig::new(dir)`).

use std::path::PathBuf;
use std::time::Duration;

/// When an append counts as acknowledged (config key `storage.syncPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// `wait_durable` resolves only after the group commit holding the record was fdatasync'ed.
    #[default]
    Always,
    /// `wait_durable` resolves at once; a sync still runs every `sync_interval`.
    Interval,
    /// Never sync (benchmarks only): a crash of the machine may lose anything.
    None,
}

/// Configuration of one shard's store (message log + meta log under `dir`).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory of this shard's store (`data/shard-K`); `msg/` and `meta/` live below.
    pub dir: PathBuf,
    /// Size of a message segment file, preallocated with fallocate (default 64 MiB).
    pub segment_size: u64,
    /// Size of a meta segment file (default 8 MiB).
    pub meta_segment_size: u64,
    /// Durability policy (default `Always`).
    pub sync_policy: SyncPolicy,
    /// Longest a group commit gathers records before its fdatasync (default 1 ms).
    pub sync_interval: Duration,
    /// A group commit syncs at once when this many records are pending (default 1024).
    pub sync_batch: usize,
    /// How many recent `client_msg_no`s per shard are remembered for de-duplication (at
    /// least half of this many, at most this many; default 100,000).
    pub dedup_window: usize,
    /// Delete sealed segments whose newest record is older than this.
    pub retention_age: Option<Duration>,
    /// Delete the oldest sealed segments while the message log is larger than this.
    pub retention_bytes: Option<u64>,
    /// Also write an index checkpoint of the active segment every this many records; 0 (the
    /// default) writes one only when a segment is sealed. Each checkpoint rewrites the whole
    /// segment's entries, so frequent ones cost the append path; without them a restart
    /// rescans at most one segment (`segment_size`, well under a second).
    pub index_checkpoint_every: u64,
    /// On a corrupt record that is not a torn tail, truncate the log there (with a warning)
    /// instead of refusing to open. Data after the corruption is lost.
    pub repair: bool,
}

impl StoreConfig {
    /// Defaults for a store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            dir: dir.into(),
            segment_size: 64 << 20,
            meta_segment_size: 8 << 20,
            sync_policy: SyncPolicy::Always,
            sync_interval: Duration::from_millis(1),
            sync_batch: 1024,
            dedup_window: 100_000,
            retention_age: None,
            retention_bytes: None,
            index_checkpoint_every: 0,
            repair: false,
        }
    }
}

/// The part of the configuration one log needs.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Directory holding the segment files.
    pub dir: PathBuf,
    /// Preallocated size of each segment.
    pub segment_size: u64,
    /// Durability policy.
    pub sync_policy: SyncPolicy,
    /// Group-commit gather bound.
    pub sync_interval: Duration,
    /// Group-commit batch bound.
    pub sync_batch: usize,
    /// Truncate at mid-log corruption instead of failing.
    pub repair: bool,
    /// Under `always`: bytes of the active segment's unwritten tail kept in memory before an
    /// append writes them out itself ([`crate::stage`]).
    pub stage_bytes: usize,
    /// Segments whose pages the log leaves in the page cache: the active one and the ones
    /// just before it, up to this many. At each roll the segment this many behind the new
    /// active one is dropped from the cache ([`DEFAULT_CACHED_SEGMENTS`]; 0 drops nothing).
    pub cached_segments: usize,
}

/// Segments a log leaves in the page cache by default: the active one and the one sealed
/// last. Without a bound the cache grows by every byte logged (~140 MB/s per process at
/// saturation here), and each new page is one the kernel must find and zero: measured on this
/// machine, 13–16 ms of CPU per 64 MiB while recently freed pages are at hand, 160–170 ms once
/// the cache has grown past them. Dropping a sealed segment's pages hands them back for the
/// next segment. Reads of older messages fault their pages in from the disk.
pub const DEFAULT_CACHED_SEGMENTS: usize = 2;
