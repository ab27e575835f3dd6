//! What the cluster asks of the node it runs in, as a port implemented above it (the shard
//! applies commands; the server routes frames between nodes into the mesh): so this room
//! imports nothing from the shard.

use super::topology::NodeId;
use super::types::{Applied, GroupId};
use bytes::Bytes;
use std::future::Future;
use std::io;
use std::pin::Pin;

/// A future the host returns (single-threaded: not `Send`).
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The node a shard's replication groups live in.
pub trait Host {
    /// Applies a committed command of `slot` at log index `index` to this replica's state;
    /// what it answers reaches the proposer when this node leads. `replay`: the entry was in
    /// the log when the group started here, so it may have been applied before (a restart
    /// re-applies what its last checkpoint did not cover); applying must then be idempotent.
    /// Entries appended since were never applied.
    fn apply(&self, slot: GroupId, index: u64, cmd: &[u8], replay: bool) -> Applied;
    /// Resolves once everything applied so far is durable in the local stores.
    fn flush(&self) -> LocalFuture<io::Result<()>>;
    /// The leader of `slot` changed (`None`: no leader known).
    fn leader_changed(&self, slot: GroupId, leader: Option<NodeId>);
    /// An application frame from node `from` for local shard `dst_shard`.
    fn frame(&self, from: NodeId, dst_shard: u16, payload: Bytes);
    /// The links to `node` came up (`true`) or went down.
    fn peer(&self, node: NodeId, up: bool);
    /// The member list changed (shard 0 applies the configuration group): every shard of
    /// the node must follow ([`super::RaftShard::set_members`]).
    fn members_changed(&self, members: Vec<super::Member>);
}
