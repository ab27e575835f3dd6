//! The replication groups' type configuration for openraft, and the shapes of what goes
//! through them: opaque commands (encoded by the shard) and what applying one answered.

use bytes::Bytes;
use std::fmt;

/// A command for a slot's state machine; its bytes are the shard's (see `shard::replicated`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cmd(pub Bytes);

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cmd({} B)", self.0.len())
    }
}

/// What applying a command answered on the leader that proposed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// A message's seq in its channel (0 for other commands).
    pub seq: u64,
    /// A message's id (0 for other commands).
    pub message_id: i64,
    /// 0 = applied; otherwise why not (a wkproto reason code).
    pub refused: u8,
}

openraft::declare_raft_types!(
    /// The replication groups' types.
    pub TC:
        D = Cmd,
        R = Applied,
        NodeId = u64,
        Node = openraft::EmptyNode,
        AsyncRuntime = openraft_rt_monoio::MonoioRuntime,
);

/// A slot: one replication group.
pub type GroupId = u16;
/// openraft's leader id (term, node).
pub type LeaderId = openraft::impls::leader_id_adv::LeaderId<u64, u64>;
/// A log position.
pub type LogId = openraft::LogId<LeaderId>;
/// A vote.
pub type Vote = openraft::impls::Vote<LeaderId>;
/// A log entry.
pub type Entry = openraft::Entry<LeaderId, openraft::EntryPayload<Cmd, u64, openraft::EmptyNode>>;
/// A group's membership.
pub type Membership = openraft::Membership<u64, openraft::EmptyNode>;
/// A membership with the log position it took effect at.
pub type StoredMembership = openraft::StoredMembership<LeaderId, u64, openraft::EmptyNode>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<LeaderId, u64, openraft::EmptyNode>;
/// A snapshot (never taken: the log is kept, see `machine`).
pub type Snapshot = openraft::Snapshot<LeaderId, u64, openraft::EmptyNode, Bytes>;
/// openraft's durability callback.
pub type IOFlushed = openraft::storage::IOFlushed<TC>;
/// A group's log state.
pub type LogState = openraft::LogState<TC>;
/// A group.
pub type Raft = openraft::Raft<TC, super::machine::Machine>;
