//! The store's slow file work, off the shard threads.
//!
//! Writing a sealed segment's index checkpoint (megabytes, two fsyncs), removing it at
//! retention and preallocating the next segment file (fallocate of `segment_size` and an
//! fsync) each take milliseconds to tens of milliseconds of disk time. Done on a shard thread
//! they stall every connection, send and delivery of that shard for as long. They run here
//! instead: one thread per process, jobs in submission order (so a checkpoint written and
//! then removed by retention ends removed, and two checkpoints of a segment land oldest
//! first). None of it is on the message path: the queue is touched once per segment roll.

use std::sync::mpsc::{self, Sender};
use std::sync::OnceLock;

type Job = Box<dyn FnOnce() + Send + 'static>;

static QUEUE: OnceLock<Sender<Job>> = OnceLock::new();

fn queue() -> Option<&'static Sender<Job>> {
    if let Some(q) = QUEUE.get() {
        return Some(q);
    }
    let (tx, rx) = mpsc::channel::<Job>();
    let spawned = std::thread::Builder::new()
        .name("jindou-store-bg".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                job();
            }
        });
    match spawned {
        // A thread that lost a race to start first sees its sender dropped and ends.
        Ok(_) => Some(QUEUE.get_or_init(|| tx)),
        Err(e) => {
            tracing::warn!(error = %e, "no background thread for the store: file work runs inline");
            None
        }
    }
}

/// Runs `job` on the background thread after every job submitted before it (inline when the
/// thread cannot be started).
pub(crate) fn submit(job: impl FnOnce() + Send + 'static) {
    let job: Job = Box::new(job);
    let Some(q) = queue() else {
        job();
        return;
    };
    let sent = q.send(job);
    if let Err(mpsc::SendError(job)) = sent {
        job();
    }
}

/// Blocks until every job submitted before this call has run (shutdown, reopen, tests).
pub fn drain() {
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    submit(move || {
        let _ = tx.send(());
    });
    let _ = rx.recv();
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    #[test]
    fn jobs_run_in_order_and_drain_waits_for_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..100 {
            let seen = seen.clone();
            super::submit(move || seen.lock().unwrap().push(i));
        }
        super::drain();
        assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        super::submit(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        super::drain();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}
