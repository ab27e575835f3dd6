//! Building a shard's monoio runtime: io_uring when the kernel allows it, epoll otherwise.
//!
//! monoio's own fallback only triggers when its probe ring fails; the real ring can still fail
//! (e.g. a low `RLIMIT_MEMLOCK`), so `auto` tries to build the io_uring runtime itself and falls
//! back to the epoll (legacy) driver on any error.

use std::future::Future;
use std::io;

/// What the operator asked for (`runtime.driver`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverChoice {
    /// io_uring, falling back to epoll.
    Auto,
    /// io_uring only; start-up fails without it.
    Uring,
    /// epoll only.
    Epoll,
}

impl DriverChoice {
    /// Parses the config value (`auto`, `uring`, `epoll`); validated config never fails here.
    pub fn from_config(value: &str) -> Self {
        match value {
            "uring" => Self::Uring,
            "epoll" => Self::Epoll,
            _ => Self::Auto,
        }
    }
}

/// The driver a runtime actually runs on, logged at start and shown in `/varz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverKind {
    /// Linux io_uring.
    Uring,
    /// epoll readiness (monoio's legacy driver).
    Epoll,
}

impl DriverKind {
    /// Lower-case name for logs and monitoring.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uring => "io_uring",
            Self::Epoll => "epoll",
        }
    }
}

/// Submission queue entries per ring.
const RING_ENTRIES: u32 = 1024;

/// Builds the runtime `choice` allows, then runs the future `make` returns on it to completion.
pub fn run_on<Fut: Future>(
    choice: DriverChoice,
    make: impl FnOnce(DriverKind) -> Fut,
) -> io::Result<Fut::Output> {
    if choice != DriverChoice::Epoll {
        match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(RING_ENTRIES)
            .enable_timer()
            .build()
        {
            Ok(mut rt) => return Ok(rt.block_on(make(DriverKind::Uring))),
            Err(e) if choice == DriverChoice::Uring => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("runtime.driver is uring but io_uring is unavailable: {e}"),
                ))
            }
            Err(e) => tracing::warn!(error = %e, "io_uring refused; falling back to epoll"),
        }
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()?;
    Ok(rt.block_on(make(DriverKind::Epoll)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoll_runtime_runs_a_timer() {
        let out = run_on(DriverChoice::Epoll, |kind| async move {
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
            kind
        })
        .expect("epoll runtime");
        assert_eq!(out, DriverKind::Epoll);
    }

    #[test]
    fn auto_runtime_picks_a_driver_and_runs() {
        let out = run_on(DriverChoice::Auto, |kind| async move { kind }).expect("runtime");
        assert!(matches!(out, DriverKind::Uring | DriverKind::Epoll));
    }
}
