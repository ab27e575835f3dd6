//! One clock read per loop turn. The mesh dispatcher opens a turn before it handles a batch of
//! messages and closes it after; the handlers in between share the turn's reading instead of
//! each reading the clock (two to four reads per message otherwise, ~3 % of a shard's time
//! under load). Outside a turn every call reads the clock, so a value is never older than the
//! batch being handled.

use std::cell::Cell;
use std::time::Instant;

/// A shard's clock reading for the batch at hand, if one is being handled.
#[derive(Default)]
pub struct TurnClock(Cell<Option<(Instant, u64)>>);

impl TurnClock {
    /// Opens a turn: reads the monotonic and the wall clock once.
    pub fn begin(&self) {
        self.0.set(Some((Instant::now(), super::now_millis())));
    }

    /// Closes the turn: later calls read the clock again.
    pub fn end(&self) {
        self.0.set(None);
    }

    /// The monotonic time of the turn (now, outside one).
    pub fn instant(&self) -> Instant {
        self.0.get().map_or_else(Instant::now, |(at, _)| at)
    }

    /// Milliseconds since the Unix epoch at the turn (now, outside one).
    pub fn unix_millis(&self) -> u64 {
        self.0.get().map_or_else(super::now_millis, |(_, ms)| ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_shares_one_reading_and_outside_one_the_clock_moves() {
        let clock = TurnClock::default();
        clock.begin();
        let (a, ms) = (clock.instant(), clock.unix_millis());
        std::thread::sleep(std::time::Duration::from_millis(3));
        assert_eq!(clock.instant(), a, "one reading per turn");
        assert_eq!(clock.unix_millis(), ms);
        clock.end();
        assert!(clock.instant() > a, "read afresh after the turn");
        assert!(clock.unix_millis() > ms);
    }
}
