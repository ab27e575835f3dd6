//! The cluster room: the members, which node leads each slot, the replication groups and the
//! links between nodes. The shard sees only this interface — who leads a slot, propose a
//! command and learn what applying it answered, send a frame to another node — never the
//! consensus library's internals, which stay in here.
//!
//! - [`topology`]: members (`cluster.initNodes`) and each slot's replicas (a rotation whose
//!   first node is the preferred leader).
//! - [`RaftShard`] (`host`): a shard's groups — one openraft group per slot it hosts — with
//!   their raft log (`wal`, `logstore`), state machines (`machine`, applying through the
//!   [`Host`] port) and links (`net`).
//! - `auth`: links authenticated with `cluster.secret` (HMAC challenge in the hello).
//! - [`SlotLog`], [`Placement`]: single-node mode, where this node leads every slot and the
//!   shard's own message log is the log (a commit is the group commit's fdatasync).

mod auth;
mod codec;
mod host;
mod log;
mod logstore;
mod machine;
mod net;
mod placement;
mod ports;
mod topology;
mod types;
mod wal;

pub use auth::Secret;
pub use host::{change_cmd, ProposeError, RaftShard, Timing, CONFIG_GROUP};
pub use log::{Proposal, SlotLog};
pub use net::NetStats;
pub use placement::{Leader, Placement};
pub use ports::{Host, LocalFuture};
pub use topology::{parse_member, Member, NodeId, Topology};
pub use types::{Applied, GroupId};
