//! The shard's mesh loop: takes batches of messages from other shards and routes each by
//! addressee — owner work to `shard`, connection work to `gateway`, answers to the asks table.

use crate::gateway::ConnTable;
use crate::shard::msg::ShardMsg;
use crate::shard::Shard;
use std::rc::Rc;

/// Most messages taken from the mesh in one turn.
const BATCH: usize = 512;

/// Runs until the shard stops.
pub async fn run_mesh_loop(shard: Rc<Shard>, gw: Rc<ConnTable>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        let n = shard.mesh.recv(&mut batch, BATCH).await;
        shard.clock.begin();
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
