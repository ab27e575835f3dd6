//! The floor everything stands on: shard threads on monoio runtimes, SO_REUSEPORT listeners,
//! slot ownership, the SPSC mesh between shards, and shutdown.
//!
//! Kept thin so the runtime could be swapped: the rest of the server sees these types only.

pub mod clock;
pub mod driver;
pub mod listen;
pub mod mesh;
pub mod prefetch;
pub mod ratelimit;
pub mod reply;
pub mod shutdown;
pub mod slots;

pub use driver::{run_on, DriverChoice, DriverKind};
pub use mesh::{build_mesh, LocalMesh, MeshEndpoint, MeshStats};
pub use reply::{Replies, ReplyFuture};
pub use shutdown::{LocalStop, Shutdown};
pub use slots::{slot_of, SlotMap, SLOT_COUNT};

/// Milliseconds since the Unix epoch (wall clock; 0 if the clock is before 1970).
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Pins the calling thread to `core` (modulo the cores this process may use); false if the
/// system refused, which only costs locality.
pub fn pin_to_core(core: usize) -> bool {
    match core_affinity::get_core_ids() {
        Some(ids) if !ids.is_empty() => core_affinity::set_for_current(ids[core % ids.len()]),
        _ => false,
    }
}

/// Lets the other ready tasks of this shard run (e.g. the mesh flusher) before continuing.
///
/// monoio re-polls at once a task that wakes itself while being polled (it goes to the front
/// of the run queue), so the wake is sent from a freshly spawned task, which runs behind every
/// task ready now.
pub async fn yield_now() {
    let mut sent = false;
    std::future::poll_fn(|cx| {
        if sent {
            std::task::Poll::Ready(())
        } else {
            sent = true;
            let waker = cx.waker().clone();
            monoio::spawn(async move { waker.wake() });
            std::task::Poll::Pending
        }
    })
    .await
}
