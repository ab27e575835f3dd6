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
        let interval_ms = u32::try_from(cfg.interval.get().as_millis()).unwrap_or(u32::MAX);
        let conns = gw.all();
        for conn in conns {
            let now_ms = crate::runtime::ratelimit::millis_since(conn.since, now);
            let due = conn
                .unacked
                .borrow_mut()
                .take_due(now_ms, interval_ms, cfg.max_count.max(1));
            for msg in due {
                conn.write_recv(&gw, &msg);
            }
        }
    }
}
