//! A slot changing leader, on the receivers' side (cluster mode). The sessions of a slot's
//! users live on its leader only: every shard of every node re-announces the sessions its
//! connections hold to a new leader, then says it is done ([`OwnerMsg::SessionsSent`]).
//!
//! - Deliveries go to the leader of each receiver's slot: one that lands on a node that no
//!   longer leads (its sender's view was stale) is passed on, not delivered from a session
//!   table that stopped being kept.
//! - A new leader holds the deliveries for its slot until every node online has re-announced
//!   (at most [`SETTLE_MAX`]): delivered earlier, they would find the receivers offline and
//!   the RECVs of an acknowledged message would never reach connected clients.
//! - A node that stops leading a slot forgets its users' sessions (their connections
//!   re-announce to the new leader; kept here they would go stale).

use super::msg::{Delivered, OwnerMsg};
use super::receivers::Receivers;
use super::{deliver, FastMap, Shard};
use crate::cluster::Leader;
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a new leader holds deliveries for the sessions' re-announcements.
pub const SETTLE_MAX: Duration = Duration::from_secs(2);
/// Deliveries one settling slot holds at most (past it, they go out at once).
const HELD_MAX: usize = 100_000;

/// (node, shard) of a shard that re-announced its sessions.
type Announcer = (u16, u16);

struct Settling {
    since: Instant,
    held: Vec<(Arc<Delivered>, Vec<Arc<str>>)>,
}

/// The slots this shard owns that are changing leader.
#[derive(Default)]
pub struct Handover {
    settling: RefCell<FastMap<u16, Settling>>,
    /// Per slot: the shards that re-announced to this node since it last stopped leading it
    /// (an announcement may arrive before this shard hears it leads).
    announced: RefCell<FastMap<u16, HashSet<Announcer>>>,
}

impl Handover {
    /// Slots whose deliveries are held now.
    pub fn settling(&self) -> usize {
        self.settling.borrow().len()
    }
}

/// Places a delivery (cluster mode): the receivers whose slot this node leads and which is
/// not settling are returned for delivery here; the others go to their leader, wait in the
/// settling slot, or wait for a leader to be known.
pub fn place_deliver(
    shard: &Rc<Shard>,
    msg: Arc<Delivered>,
    uids: Vec<Arc<str>>,
) -> Option<OwnerMsg> {
    // The usual case — this node leads every receiver's slot and none is settling — keeps
    // the delivery as it is.
    let local = |uid: &Arc<str>| {
        let slot = shard.slot_of(uid);
        shard.leader(slot) == Leader::Local && !shard.handover.settling.borrow().contains_key(&slot)
    };
    if uids.iter().all(local) {
        return Some(OwnerMsg::Deliver {
            msg,
            to: Receivers::Uids(uids),
        });
    }
    let mut here = Vec::new();
    let mut elsewhere: FastMap<u64, Vec<Arc<str>>> = FastMap::default();
    let mut unknown = Vec::new();
    {
        let mut settling = shard.handover.settling.borrow_mut();
        for uid in uids {
            let slot = shard.slot_of(&uid);
            match shard.leader(slot) {
                Leader::Local => match settling.get_mut(&slot) {
                    Some(s) if s.held.len() < HELD_MAX => s.held.push((msg.clone(), vec![uid])),
                    _ => here.push(uid),
                },
                Leader::Remote(n) => elsewhere.entry(n).or_default().push(uid),
                Leader::Unknown => unknown.push(uid),
            }
        }
    }
    for (node, uids) in elsewhere {
        let deliver = OwnerMsg::Deliver {
            msg: msg.clone(),
            to: Receivers::Uids(uids),
        };
        shard.route(node as u16, shard.id(), deliver.into());
    }
    if !unknown.is_empty() {
        wait_for_leader(shard, msg.clone(), unknown);
    }
    (!here.is_empty()).then_some(OwnerMsg::Deliver {
        msg,
        to: Receivers::Uids(here),
    })
}

/// Receivers of slots with no known leader: placed again once one is known; past
/// `cluster.reqTimeout`, delivered from here (whatever sessions this node knows).
fn wait_for_leader(shard: &Rc<Shard>, msg: Arc<Delivered>, uids: Vec<Arc<str>>) {
    let shard = shard.clone();
    let deadline = Instant::now() + shard.ctx.config.cluster.req_timeout.get();
    monoio::spawn(async move {
        let known = |shard: &Shard| {
            uids.iter()
                .all(|u| shard.leader(shard.slot_of(u)) != Leader::Unknown)
        };
        while !known(&shard) && Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(50)).await;
        }
        if known(&shard) {
            let to = Receivers::Uids(uids);
            super::handle_owner(&shard, shard.id(), OwnerMsg::Deliver { msg, to });
        } else {
            deliver::handle_deliver(&shard, msg, Receivers::Uids(uids));
        }
    });
}

/// On the slot's owner shard, after its leader changed: a new leader here starts settling;
/// a leader elsewhere means this node's sessions of the slot are stale: dropped.
pub fn leader_changed(shard: &Rc<Shard>, slot: u16, leader: u64) {
    if leader as u16 == shard.node() {
        let fresh = {
            let mut settling = shard.handover.settling.borrow_mut();
            let fresh = !settling.contains_key(&slot);
            settling.entry(slot).or_insert_with(|| Settling {
                since: Instant::now(),
                held: Vec::new(),
            });
            fresh
        };
        if fresh {
            let shard = shard.clone();
            monoio::spawn(async move {
                monoio::time::sleep(SETTLE_MAX).await;
                finish(&shard, slot, true);
            });
        }
        try_finish(shard, slot);
        return;
    }
    shard.handover.announced.borrow_mut().remove(&slot);
    let held = shard
        .handover
        .settling
        .borrow_mut()
        .remove(&slot)
        .map(|s| s.held)
        .unwrap_or_default();
    // Held deliveries follow the slot to its new leader.
    for (msg, uids) in held {
        shard.route(
            leader as u16,
            shard.id(),
            OwnerMsg::Deliver {
                msg,
                to: Receivers::Uids(uids),
            }
            .into(),
        );
    }
    let mut users = shard.users.borrow_mut();
    for (uid, user) in users.iter_mut() {
        if !user.sessions.is_empty() && shard.slot_of(uid) == slot {
            user.sessions.clear();
        }
    }
}

/// Shard `from` of node `node` re-announced its sessions of `slot` to this node.
pub fn sessions_sent(shard: &Rc<Shard>, slot: u16, node: u16, from: u16) {
    shard
        .handover
        .announced
        .borrow_mut()
        .entry(slot)
        .or_default()
        .insert((node, from));
    try_finish(shard, slot);
}

/// Ends the slot's settling once every shard of every node online re-announced.
fn try_finish(shard: &Rc<Shard>, slot: u16) {
    if !shard.handover.settling.borrow().contains_key(&slot) {
        return;
    }
    let Some(raft) = shard.raft() else {
        return finish(shard, slot, false);
    };
    let shards = shard.ctx.slots.shards() as u16;
    let mut nodes = vec![shard.node()];
    nodes.extend(
        raft.topology()
            .peers()
            .filter(|m| raft.net().is_up(m.id))
            .map(|m| m.id as u16),
    );
    let done = {
        let announced = shard.handover.announced.borrow();
        let seen = announced.get(&slot);
        nodes
            .iter()
            .all(|&n| (0..shards).all(|s| seen.is_some_and(|seen| seen.contains(&(n, s)))))
    };
    if done {
        finish(shard, slot, false);
    }
}

/// Delivers what the slot held; `timed_out`: only a settling older than [`SETTLE_MAX`] ends.
fn finish(shard: &Rc<Shard>, slot: u16, timed_out: bool) {
    let settled = {
        let mut settling = shard.handover.settling.borrow_mut();
        match settling.get(&slot) {
            Some(s) if !timed_out || s.since.elapsed() >= SETTLE_MAX => settling.remove(&slot),
            _ => None,
        }
    };
    let Some(settled) = settled else {
        return;
    };
    if timed_out {
        tracing::info!(slot, "sessions not all re-announced in time; delivering");
    }
    for (msg, uids) in settled.held {
        deliver::handle_deliver(shard, msg, Receivers::Uids(uids));
    }
}
