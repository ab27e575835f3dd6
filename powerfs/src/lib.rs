//! # jindou-powerfs: a filesystem that loses power
//!
//! A small FUSE filesystem in the spirit of Jepsen's LazyFS, for crash tests that prove
//! durability rather than recovery. It passes through to a backing directory, but the backing
//! directory only ever holds what was *synced*:
//!
//! - a write (from `write(2)` or from the writeback of a shared mapping's dirty pages) stays in
//!   this process's memory until `fsync`/`fdatasync` of that file;
//! - a truncation, an extension or a `fallocate` likewise;
//! - a new, removed or renamed name stays in memory until `fsync` of its directory;
//! - on command ("power cut"), everything unsynced is dropped, optionally after writing a
//!   prefix of the last unsynced write (a torn write).
//!
//! Killing a process with `kill -9` leaves the kernel's page cache intact, so a crash test that
//! only kills proves the log's recovery but not its syncs. On this filesystem a test kills the
//! server, cuts the power, unmounts (taking the kernel's cache of the old mount with it) and
//! mounts the backing directory afresh before restarting: what is left is what was synced.
//!
//! See [`model`] for the exact durability model, [`control`] for the control file, and
//! [`PowerLossDisk`] for the fixture the crash tests use. The `jindou-powerfs` binary mounts
//! it from the command line (`docs/durability.md`).

pub mod control;
mod daemon;
mod fs;
pub mod model;
mod mount;
mod overlay;

pub use daemon::{daemon_if_requested, PowerLossDisk};
pub use model::{CutReport, Tear};
pub use mount::Mounted;

/// Whether the power-loss tests are skipped (`SKIP_POWERLOSS=1`); prints what is skipped.
/// Without that opt-out, a machine without FUSE fails them.
pub fn skip_requested(what: &str) -> bool {
    if std::env::var("SKIP_POWERLOSS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED (SKIP_POWERLOSS=1): {what}");
        return true;
    }
    false
}

/// Power cuts a test runs: `POWERLOSS_CYCLES`, else `default`.
pub fn cycles(default: usize) -> usize {
    std::env::var("POWERLOSS_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
