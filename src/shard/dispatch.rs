//! The shard's mesh loop: takes batches of messages from other shards and hands each to its
//! handler. Handlers never block; anything that must wait is spawned.

use super::msg::ShardMsg;
use super::{api_ops, deliver, send, Reply, Shard};
use crate::proto::ReasonCode;
use std::rc::Rc;

/// Most messages taken from the mesh in one turn.
const BATCH: usize = 512;

/// Runs until the shard stops.
pub async fn run_mesh_loop(shard: Rc<Shard>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        shard.mesh.recv(&mut batch, BATCH).await;
        for (src, msg) in batch.drain(..) {
            handle(&shard, src, msg);
        }
    }
}

fn handle(shard: &Rc<Shard>, src: usize, msg: ShardMsg) {
    match msg {
        ShardMsg::Auth { id, req } => {
            let result = crate::gateway::auth::authorize(shard, &req);
            shard.mesh.send(src, ShardMsg::AuthReply { id, result });
        }
        ShardMsg::AuthReply { id, result } => {
            shard.replies.complete(id, Reply::Auth(result));
        }
        ShardMsg::Unregister { uid, conn } => crate::gateway::auth::unregister(shard, &uid, conn),
        ShardMsg::Kick { conn_id, reason } => {
            let conn = shard.conns.borrow().get(&conn_id).cloned();
            if let Some(conn) = conn {
                conn.kick(shard, ReasonCode(reason));
            }
        }
        ShardMsg::Send(req) => send::handle_send(shard, req),
        ShardMsg::SendAck {
            conn_id,
            client_seq,
            outcome,
        } => {
            let conn = shard.conns.borrow().get(&conn_id).cloned();
            if let Some(conn) = conn {
                conn.send_ack(shard, client_seq, outcome);
            }
        }
        ShardMsg::SendResult { id, outcome } => {
            shard.replies.complete(id, Reply::Send(outcome));
        }
        ShardMsg::Deliver { msg, uids } => deliver::handle_deliver(shard, msg, uids),
        ShardMsg::Push { msg, targets } => deliver::handle_push(shard, msg, targets),
        ShardMsg::Api { id, req } => {
            let shard = shard.clone();
            monoio::spawn(async move {
                let resp = api_ops::execute(&shard, *req).await;
                shard.mesh.send(
                    src,
                    ShardMsg::ApiReply {
                        id,
                        resp: Box::new(resp),
                    },
                );
            });
        }
        ShardMsg::ConvHints(hints) => super::conversations::apply_hints(shard, hints),
        ShardMsg::GlobalOp(rec) => rec.apply_global(&mut shard.globals.borrow_mut()),
        ShardMsg::GlobalsSnapshot(g) => {
            *shard.globals.borrow_mut() = *g;
            shard.globals_ready.stop();
        }
        ShardMsg::ApiReply { id, resp } => {
            shard.replies.complete(id, Reply::Api(resp));
        }
    }
}
