//! `jindou-storage`: the durable home of every message and of all metadata.
//!
//! One instance per shard, used only from that shard's thread: no locks on its paths.
//!
//! - [`segment`]/[`log`]: preallocated, memory-mapped segment files holding 16-byte aligned
//!   records `[u32 len][u32 crc32c][u8 kind][pad][payload]`, addressed by LSN.
//! - [`stage`]: under `always`, the active segment's tail, written with `pwrite` per commit.
//! - [`commit`]: group commit — appends return at once, durability is awaited.
//! - [`store`]: messages per channel (dense seqs, range reads, id lookup, de-duplication,
//!   index checkpoints, retention).
//! - [`meta`]: opaque operation log plus atomic snapshots.
//! - [`background`]: the slow file work (next segment's preallocation, index checkpoints)
//!   on one thread per process, off the shards.
//! - [`recovery`]: torn-tail truncation and corruption detection at open.

pub mod background;
pub mod checkpoint;
pub mod commit;
pub mod config;
pub mod dedup;
pub mod dirs;
pub mod error;
pub mod index;
pub mod log;
pub mod message;
pub mod meta;
pub mod record;
pub mod recovery;
pub mod retention;
pub mod segment;
pub mod stage;
pub mod store;

pub use commit::{CommitStats, DurableFuture};
pub use config::{StoreConfig, SyncPolicy};
pub use dedup::{DedupHit, DedupKey};
pub use error::{Result, StoreError};
pub use message::{ArchivedMessageRecord, MessageFields, MessageRecord, MessageView, NewMessage};
pub use meta::{MetaLog, MetaOp, PendingSnapshot, Snapshot, WrittenSnapshot};
pub use store::{
    Appended, Maintenance, MessageStore, PlannedRange, PullMode, RangeQuery, RangeRead,
};

/// A shard's whole store: its message log and its meta log.
pub struct Store {
    /// Messages per channel.
    pub messages: MessageStore,
    /// Metadata operations and snapshots.
    pub meta: MetaLog,
}

impl Store {
    /// Opens (or creates) the store in `cfg.dir`. Unless `cfg.sync_policy` is
    /// `SyncPolicy::None`, call it inside the shard's monoio runtime built with
    /// `enable_timer()`: it spawns one syncer task per log.
    pub fn open(cfg: &StoreConfig) -> Result<Store> {
        dirs::create_dir_durable(&cfg.dir)?;
        Ok(Store {
            messages: MessageStore::open(cfg)?,
            meta: MetaLog::open(cfg)?,
        })
    }
}
