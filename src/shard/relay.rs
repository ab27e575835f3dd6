//! Sends this shard forwarded to another node's slot leader (cluster mode). The forwarded
//! request names this shard as its origin ([`SendOrigin::Relay`]); the real origin waits in
//! this shard's relay table until the leader's verdict comes back, and is refused at once
//! when the link to that node goes down, or when no verdict came in time. Without the table
//! a send forwarded to a node that died would leave its sender waiting for a SENDACK that
//! never comes (a client then waits out its own timeout, a REST call `cluster.reqTimeout`).

use super::msg::{OwnerMsg, SendOrigin, SendOutcome, SendReq};
use super::{send, FastMap, Shard};
use crate::proto::ReasonCode;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How often the table is swept for verdicts that never came.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

struct Pending {
    origin: SendOrigin,
    node: u16,
    since: Instant,
}

/// The origins of the sends this shard forwarded, by relay id.
#[derive(Default)]
pub struct Relays {
    next_id: Cell<u64>,
    pending: RefCell<FastMap<u64, Pending>>,
}

impl Relays {
    /// Sends awaiting a verdict now.
    pub fn len(&self) -> usize {
        self.pending.borrow().len()
    }

    /// Whether no send awaits a verdict.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, origin: SendOrigin, node: u16) -> u64 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let since = Instant::now();
        self.pending.borrow_mut().insert(
            id,
            Pending {
                origin,
                node,
                since,
            },
        );
        id
    }

    fn take(&self, id: u64) -> Option<SendOrigin> {
        self.pending.borrow_mut().remove(&id).map(|p| p.origin)
    }

    /// Removes and returns the origins that `expired` selects.
    fn take_where(&self, expired: impl Fn(&Pending) -> bool) -> Vec<SendOrigin> {
        let mut pending = self.pending.borrow_mut();
        let ids: Vec<u64> = pending
            .iter()
            .filter(|(_, p)| expired(p))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| pending.remove(&id).map(|p| p.origin))
            .collect()
    }
}

/// Forwards `req` to shard `dst` of `node`, the leader of its slot. A send already relayed
/// (re-forwarded after a leader change) keeps its relay; one nobody waits for needs none.
pub fn forward(shard: &Shard, node: u16, dst: usize, mut req: Box<SendReq>) {
    let origin = req.origin;
    if !matches!(origin, SendOrigin::None | SendOrigin::Relay { .. }) {
        let id = shard.relays.insert(origin, node);
        req.origin = SendOrigin::Relay {
            node: shard.node(),
            shard: shard.id() as u16,
            id,
            conn: origin.sender_conn(),
            api: origin.is_api(),
        };
    }
    shard.route(node, dst, OwnerMsg::Send(req).into());
}

/// The leader's verdict on relayed send `id`: passed on to the real origin (a verdict that
/// comes after the send was refused here is dropped: its sender retries, and the retry is
/// de-duplicated by `client_msg_no`).
pub fn complete(shard: &Shard, id: u64, outcome: SendOutcome) {
    match shard.relays.take(id) {
        Some(origin) => send::answer(shard, origin, outcome),
        None => tracing::debug!(id, "late verdict on a relayed send dropped"),
    }
}

/// The link to `node` went down: every send relayed to it is refused now (its fate is
/// unknown; the sender's retry is de-duplicated by `client_msg_no`).
pub fn node_lost(shard: &Shard, node: u16) {
    let lost = shard.relays.take_where(|p| p.node == node);
    if !lost.is_empty() {
        tracing::info!(node, sends = lost.len(), "link lost: relayed sends refused");
    }
    for origin in lost {
        send::refuse(shard, origin, ReasonCode::SYSTEM_ERROR);
    }
}

/// Refuses relayed sends whose verdict is overdue: a leader answers within its wait for a
/// leader plus its commit timeout (each `cluster.reqTimeout`), so twice that and a second
/// means the verdict was lost.
pub async fn run_sweeper(shard: Rc<Shard>) {
    let overdue = shard.ctx.config.cluster.req_timeout.get() * 2 + Duration::from_secs(1);
    loop {
        monoio::time::sleep(SWEEP_EVERY).await;
        if shard.relays.is_empty() {
            continue;
        }
        let now = Instant::now();
        let expired = shard
            .relays
            .take_where(|p| now.duration_since(p.since) > overdue);
        if !expired.is_empty() {
            tracing::warn!(
                sends = expired.len(),
                "relayed sends without a verdict refused"
            );
        }
        for origin in expired {
            send::refuse(&shard, origin, ReasonCode::SYSTEM_ERROR);
        }
    }
}
