//! What every task on a shard can reach: the shard's id, the config, slot placement, and its
//! local signals. Listener limits live with their listeners (`gateway`, `api`).

use crate::config::Config;
use crate::runtime::{DriverKind, LocalStop, SlotMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// The per-shard context, shared by the shard's tasks through `Rc` (never across threads).
pub struct ShardCtx {
    /// This shard's id.
    pub id: usize,
    /// The effective configuration.
    pub config: Arc<Config>,
    /// The I/O driver this shard runs on.
    pub driver: DriverKind,
    /// Slot → shard placement.
    pub slots: SlotMap,
    /// Raised when the shard is stopping.
    pub stop: Rc<LocalStop>,
    /// When the shard started.
    pub started: Instant,
}
