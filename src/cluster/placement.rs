//! Who leads each slot: this node, another node, or nobody known yet (an election runs).

use super::host::RaftShard;
use super::topology::NodeId;
use std::rc::Rc;

/// Who serves a slot's state now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leader {
    /// This node: the owner shard here proposes and serves.
    Local,
    /// Another node: requests are forwarded there.
    Remote(NodeId),
    /// No leader is known (an election is running); callers wait or refuse as retryable.
    Unknown,
}

/// Slot → leading node, as one shard of this node knows it.
#[derive(Clone)]
pub struct Placement {
    node_id: NodeId,
    raft: Option<Rc<RaftShard>>,
}

impl Placement {
    /// One node leading every slot.
    pub fn single(node_id: NodeId) -> Placement {
        Placement {
            node_id,
            raft: None,
        }
    }

    /// The placement of a cluster member, from its shard's groups.
    pub fn cluster(raft: Rc<RaftShard>) -> Placement {
        Placement {
            node_id: raft.node_id(),
            raft: Some(raft),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The shard's groups, in cluster mode.
    pub fn raft(&self) -> Option<&Rc<RaftShard>> {
        self.raft.as_ref()
    }

    /// Whether this node is alone (no replication).
    pub fn is_single(&self) -> bool {
        self.raft.is_none()
    }

    /// Who leads `slot`.
    pub fn leader(&self, slot: u16) -> Leader {
        match &self.raft {
            None => Leader::Local,
            Some(r) => r.leader(slot),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_node_leads_every_slot() {
        let p = Placement::single(7);
        assert_eq!(p.node_id(), 7);
        assert!((0..crate::runtime::SLOT_COUNT).all(|s| p.leader(s) == Leader::Local));
    }
}
