//! The cluster room: nodes, which node leads each slot, and the replicated log of the slots a
//! shard hosts. The shard sees only this interface — who leads a slot ([`Placement`]), and its
//! [`SlotLog`]: propose an entry, learn when it committed — never the consensus library or the
//! node transport behind it.
//!
//! Single-node mode (no `cluster.initNodes`): this node leads every slot, and a shard's own
//! segment log is the replicated log; an entry commits when the group commit that holds it
//! is durable, exactly as without a cluster.

mod log;
mod placement;

pub use log::{Proposal, SlotLog};
pub use placement::{Leader, NodeId, Placement};
