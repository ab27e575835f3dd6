//! The owner's side of the mesh: each [`OwnerMsg`] to its handler. Handlers never block;
//! anything that must wait is spawned.

use super::msg::{Answer, OwnerMsg};
use super::{
    conversations, deliver, handover, msg_event, ops, relay, replicated, send, sessions, Shard,
};
use std::rc::Rc;

/// Handles one message for the state this shard owns; `src` is the shard that sent it.
pub fn handle_owner(shard: &Rc<Shard>, src: usize, msg: OwnerMsg) {
    // Cluster mode: keyed work runs on its slot's leader.
    let Some(msg) = replicated::place(shard, msg) else {
        return;
    };
    match msg {
        OwnerMsg::Auth { id, req } => {
            // With user info from the datasource, the CONNECT waits for the user's data.
            let req = match &shard.user_source {
                Some(src) if sessions::asks_backend(shard, &req) => {
                    match src.clone().hold_auth(shard, id, req) {
                        Some(req) => req,
                        None => return,
                    }
                }
                _ => req,
            };
            sessions::decide(shard, id, &req);
        }
        OwnerMsg::Unregister { uid, conn } => sessions::unregister(shard, &uid, conn),
        OwnerMsg::Reregister { uid, session } => sessions::reregister(shard, &uid, *session),
        OwnerMsg::LeaderChanged { slot, leader } => replicated::leader_changed(shard, slot, leader),
        OwnerMsg::NodeDown(node) => sessions::drop_node(shard, node),
        OwnerMsg::Members(members) => {
            if let Some(raft) = shard.raft() {
                raft.set_members(*members);
            }
        }
        OwnerMsg::Send(req) => send::handle_send(shard, req),
        OwnerMsg::Relayed { id, outcome } => relay::complete(shard, id, outcome),
        OwnerMsg::SessionsSent {
            slot,
            node,
            shard: from,
        } => handover::sessions_sent(shard, slot, node, from),
        OwnerMsg::Deliver { msg, to } => deliver::handle_deliver(shard, msg, to),
        OwnerMsg::Event { id, req } => {
            msg_event::process::handle(shard, msg_event::process::Job { src, id, req })
        }
        OwnerMsg::DeliverEvent { event, uids } => msg_event::process::deliver(shard, event, uids),
        OwnerMsg::Op { id, op } => {
            let shard = shard.clone();
            monoio::spawn(async move {
                let result = ops::execute(&shard, *op).await.map_err(Box::new);
                shard.mesh.send(src, Answer::Op { id, result }.into());
            });
        }
        OwnerMsg::Inspect { id, f } => {
            let value = (f.0)(shard);
            shard.mesh.send(src, Answer::Inspect { id, value }.into());
        }
        OwnerMsg::ConvHints(hints) => conversations::apply_hints(shard, hints),
        OwnerMsg::ConvHintsDone => shard.conv_ready.source_done(shard.ctx.slots.shards()),
        OwnerMsg::GlobalOp(rec) => rec.apply_global(&mut shard.globals.borrow_mut()),
        OwnerMsg::GlobalsSnapshot(g) => {
            *shard.globals.borrow_mut() = *g;
            shard.globals_ready.stop();
        }
    }
}
