//! One clock read per loop turn. The mesh dispatcher opens a turn before it handles a batch of
//! messages and closes it after; the handlers in between share the turn's reading instead of
//! each reading the clock (two to four reads per message otherwise, ~3 % of a shard's time
//! under load). Each clock is read on first use within the turn, so a batch that needs no time
//! reads none. Outside a turn every call reads the clock, so a value is never older than the
//! batch being handled.

use std::cell::Cell;
use std::time::Instant;

/// A shard's clock readings for the batch at hand, if one is being handled.
#[derive(Default)]
pub struct TurnClock {
    in_turn: Cell<bool>,
    instant: Cell<Option<Instant>>,
    unix_ms: Cell<Option<u64>>,
}

/// The cached reading of `slot` within a turn, taken with `read` on first use.
fn shared<T: Copy>(in_turn: bool, slot: &Cell<Option<T>>, read: impl FnOnce() -> T) -> T {
    if let Some(v) = slot.get() {
        return v;
    }
    let v = read();
    if in_turn {
        slot.set(Some(v));
    }
    v
}

impl TurnClock {
    /// Opens a turn.
    pub fn begin(&self) {
        self.in_turn.set(true);
    }

    /// Closes the turn: later calls read the clock again.
    pub fn end(&self) {
        self.in_turn.set(false);
        self.instant.set(None);
        self.unix_ms.set(None);
    }

    /// The monotonic time of the turn (now, outside one).
    pub fn instant(&self) -> Instant {
        shared(self.in_turn.get(), &self.instant, Instant::now)
    }

    /// Milliseconds since the Unix epoch at the turn (now, outside one).
    pub fn unix_millis(&self) -> u64 {
        shared(self.in_turn.get(), &self.unix_ms, super::now_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_turn_shares_one_reading_and_outside_one_the_clock_moves() {
        let clock = TurnClock::default();
        clock.begin();
        let (a, ms) = (clock.instant(), clock.unix_millis());
        // Time passes (monotonic: at least this much) while the turn's reading stays.
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(clock.instant(), a, "one reading per turn");
        assert_eq!(clock.unix_millis(), ms, "one reading per turn");
        clock.end();
        assert!(
            clock.instant() >= a + Duration::from_millis(3),
            "read afresh after the turn"
        );
        let outside = clock.instant();
        std::thread::sleep(Duration::from_millis(1));
        assert!(clock.instant() > outside, "nothing is kept outside a turn");
    }
}
