//! Waiting for a condition with a deadline (polling), the one way tests wait for something to
//! happen. Absence is never proven by waiting: see `wk::WkClient::assert_no_recv` and the
//! marker fences in the webhook tests.

use std::time::{Duration, Instant};

/// Polls `f` every 20 ms until it holds; fails the test with `what` after `within`.
pub fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !f() {
        assert!(
            Instant::now() < until,
            "timed out after {within:?} waiting for {what}"
        );
        // Poll interval.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`eventually`] with a deadline in seconds.
pub fn wait_secs(what: &str, secs: u64, f: impl FnMut() -> bool) {
    eventually(what, Duration::from_secs(secs), f)
}
