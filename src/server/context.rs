//! What every task on a shard can reach: the shard's id, the config, and its local signals.

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
    /// New client connections per IP (`limits.connRatePerIp`).
    pub conn_limiter: crate::runtime::ratelimit::IpLimiter,
    /// REST requests per IP (`limits.apiRatePerIp`), on the API and the manager port.
    pub api_limiter: crate::runtime::ratelimit::IpLimiter,
    /// `/manager/login` attempts per IP (fixed: brute force protection).
    pub login_limiter: crate::runtime::ratelimit::IpLimiter,
    /// HTTP connections open on the whole node (`limits.maxHttpConnections`).
    pub http_conns: Arc<std::sync::atomic::AtomicUsize>,
    /// Client connections open on the whole node (`limits.maxConnections`); touched once per
    /// connect and disconnect, never per message.
    pub node_conns: Arc<std::sync::atomic::AtomicUsize>,
    /// Manager users from `auth.users`.
    pub manager_users: Arc<Vec<crate::auth::ManagerUser>>,
}
