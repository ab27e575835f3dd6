//! The shard's mesh loop: takes batches of messages from other shards and routes each by
//! addressee — owner work to `shard`, connection work to `gateway`, answers to the asks table.

use crate::gateway::ConnTable;
use crate::runtime::prefetch;
use crate::shard::msg::{ConnMsg, Delivered, OwnerMsg, ShardMsg};
use crate::shard::receivers::Receivers;
use crate::shard::Shard;
use std::rc::Rc;
use std::sync::Arc;

/// Most messages taken from the mesh in one turn.
const BATCH: usize = 512;

/// Runs until the shard stops.
pub async fn run_mesh_loop(shard: Rc<Shard>, gw: Rc<ConnTable>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        let n = shard.mesh.recv(&mut batch, BATCH).await;
        shard.clock.begin();
        for (_, msg) in &batch {
            warm(msg);
        }
        for (src, msg) in batch.drain(..) {
            match msg {
                ShardMsg::Owner(m) => crate::shard::handle_owner(&shard, src, m),
                ShardMsg::Conn(m) => crate::gateway::handle_conn(&gw, m),
                ShardMsg::Answer(a) => shard.asks.complete(a),
            }
        }
        shard.clock.end();
        if n == BATCH {
            // More may be waiting: let the shard's other tasks and the completions of its
            // I/O (a group commit's fdatasync, socket writes) run first, so one busy mesh
            // never stretches the shard's loop turn without bound.
            crate::runtime::yield_now().await;
        }
    }
}

/// Asks for the cache lines the hot messages' handlers read first: the shared message (with
/// its reference count), the receivers or connection ids, a boxed send. Written on another
/// core, they would otherwise miss one after another as the batch is handled.
fn warm(msg: &ShardMsg) {
    match msg {
        ShardMsg::Owner(OwnerMsg::Send(req)) => prefetch::value(&**req),
        ShardMsg::Owner(OwnerMsg::Deliver { msg, to }) => {
            warm_delivered(msg);
            // A person chat's parties are read from the channel id, warmed with the message.
            let Receivers::Uids(uids) = to else {
                return;
            };
            prefetch::bytes(uids.as_ptr().cast(), std::mem::size_of_val(&uids[..]));
            if let Some(uid) = uids.first() {
                // The string and its reference count share the allocation.
                prefetch::bytes(
                    Arc::as_ptr(uid).cast::<u8>().wrapping_sub(16),
                    16 + uid.len(),
                );
            }
        }
        ShardMsg::Conn(ConnMsg::Push { msg, conn_ids }) => {
            warm_delivered(msg);
            prefetch::bytes(
                conn_ids.as_ptr().cast(),
                std::mem::size_of_val(&conn_ids[..]),
            );
        }
        _ => {}
    }
}

/// A delivered message's header, reference count included, and its channel id's bytes.
fn warm_delivered(msg: &Arc<Delivered>) {
    // `ArcInner` puts the two counts (16 bytes) before the value.
    let inner = Arc::as_ptr(msg).cast::<u8>().wrapping_sub(16);
    prefetch::bytes(inner, 16 + std::mem::size_of::<Delivered>());
    prefetch::bytes(msg.channel_id.as_str().as_ptr(), msg.channel_id.len());
}
