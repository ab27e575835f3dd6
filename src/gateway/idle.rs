//! The shard's idle sweep: one task per shard closes the connections that stayed silent past
//! `connIdleTime`, or that have not completed CONNECT within `limits.connectTimeout` of being
//! accepted, and asks the connections silent for [`PARK_AFTER`] to park. A connection thus
//! holds no timer of its own; closing its socket ends its readiness wait, parked or not.

use super::park::PARK_AFTER;
use super::table::ConnTable;
use crate::shard::stats;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Shortest pause between sweeps (tests configure deadlines of a second).
const MIN_SWEEP: Duration = Duration::from_millis(10);
/// Longest pause between sweeps: how late past its deadline a connection may be closed.
const MAX_SWEEP: Duration = Duration::from_secs(1);

/// The pause between sweeps for these deadlines: a quarter of the shorter one, within
/// [`MIN_SWEEP`, `MAX_SWEEP`], so a connection is closed at most a quarter late.
pub fn sweep_interval(idle: Duration, connect: Duration) -> Duration {
    (idle.min(connect) / 4).clamp(MIN_SWEEP, MAX_SWEEP)
}

/// Runs the shard's sweep until the shard stops.
pub async fn run_idle_sweeper(gw: Rc<ConnTable>) {
    let cfg = &gw.shard.ctx.config;
    let idle = cfg.conn_idle_time.get();
    let connect = cfg.limits.connect_timeout.get();
    let pause = sweep_interval(idle, connect);
    let mut expired = Vec::new();
    loop {
        monoio::select! {
            _ = monoio::time::sleep(pause) => {},
            _ = gw.shard.ctx.stop.wait() => return,
        }
        let now = Instant::now();
        let parks = gw.parks();
        gw.for_each(|conn| {
            if conn.is_closed() {
                return;
            }
            let silent = now.saturating_duration_since(conn.last_read());
            let late = if conn.identity.get().is_some() {
                silent >= idle
            } else {
                now.saturating_duration_since(conn.since) >= connect
            };
            if late {
                expired.push(conn.clone());
            } else if parks && silent >= PARK_AFTER && !conn.is_parked() {
                conn.ask_park();
            }
        });
        gw.trim_pools();
        for conn in expired.drain(..) {
            stats::inc(&gw.shard.stats.idle_timeouts);
            tracing::debug!(conn = conn.id, "closed: idle or no CONNECT in time");
            // A parked session hears it through its socket (closed sockets are readable).
            conn.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_are_a_quarter_of_the_shorter_deadline_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(sweep_interval(s(180), s(4)), s(1));
        assert_eq!(sweep_interval(s(1), s(4)), Duration::from_millis(250));
        assert_eq!(sweep_interval(s(180), Duration::ZERO), MIN_SWEEP);
    }
}
