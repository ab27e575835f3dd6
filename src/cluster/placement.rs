//! Who leads each slot: this node, another node, or nobody known yet (an election runs).

/// A node's id (`cluster.nodeId`, at most 1023: it is part of every message id).
pub type NodeId = u64;

/// Who serves a slot's state now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leader {
    /// This node: the owner shard here proposes and serves.
    Local,
    /// Another node: requests are forwarded there.
    Remote(NodeId),
    /// No leader is known (an election is running); callers retry or refuse as retryable.
    Unknown,
}

/// Slot → leading node, as this node knows it.
#[derive(Clone, Debug)]
pub struct Placement {
    node_id: NodeId,
}

impl Placement {
    /// One node leading every slot.
    pub fn single(node_id: NodeId) -> Placement {
        Placement { node_id }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Who leads `slot`.
    pub fn leader(&self, _slot: u16) -> Leader {
        Leader::Local
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
