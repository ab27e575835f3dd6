//! The owner's side of the mesh: each [`OwnerMsg`] to its handler. Handlers never block;
//! anything that must wait is spawned.

use super::msg::{Answer, OwnerMsg};
use super::{api_ops, conversations, deliver, send, sessions, Shard};
use std::rc::Rc;

/// Handles one message for the state this shard owns; `src` is the shard that sent it.
pub fn handle_owner(shard: &Rc<Shard>, src: usize, msg: OwnerMsg) {
    match msg {
        OwnerMsg::Auth { id, req } => {
            let result = sessions::authorize(shard, &req);
            shard.mesh.send(src, Answer::Auth { id, result }.into());
        }
        OwnerMsg::Unregister { uid, conn } => sessions::unregister(shard, &uid, conn),
        OwnerMsg::Send(req) => send::handle_send(shard, req),
        OwnerMsg::Deliver { msg, uids } => deliver::handle_deliver(shard, msg, uids),
        OwnerMsg::Api { id, req } => {
            let shard = shard.clone();
            monoio::spawn(async move {
                let resp = Box::new(api_ops::execute(&shard, *req).await);
                shard.mesh.send(src, Answer::Api { id, resp }.into());
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
