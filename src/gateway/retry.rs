//! Bounded retry of unacknowledged RECVs (`messageRetry.*`): every scan interval, a RECV older
//! than the retry interval is written again, at most `maxCount` times in all; after that the
//! client catches up through sync.

use super::table::ConnTable;
use std::rc::Rc;
use std::time::Instant;

/// Runs the shard's retry scanner until the shard stops.
pub async fn run_retries(gw: Rc<ConnTable>) {
    let shard = &gw.shard;
    let cfg = shard.ctx.config.message_retry.clone();
    let scan = cfg
        .scan_interval
        .get()
        .max(std::time::Duration::from_millis(10));
    loop {
        monoio::select! {
            _ = monoio::time::sleep(scan) => {},
            _ = shard.ctx.stop.wait() => return,
        }
        let now = Instant::now();
        let conns = gw.all();
        for conn in conns {
            let due =
                conn.unacked
                    .borrow_mut()
                    .take_due(now, cfg.interval.get(), cfg.max_count.max(1));
            for (msg, uid) in due {
                conn.write_recv(&gw, &msg, &uid);
            }
        }
    }
}
