//! Peer adapters: the same workload against other systems.

use crate::cli::Kind;
use crate::engine::{ConnPlan, EngineHandle};

/// Runs one connection of `plan` against a peer system.
pub async fn peer_conn(h: EngineHandle, plan: ConnPlan, kind: Kind) {
    let _ = &plan;
    h.connected(Err(format!(
        "target {}:// is not implemented yet",
        kind.scheme()
    )));
}
