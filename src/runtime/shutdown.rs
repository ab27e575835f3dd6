//! Graceful shutdown: the main thread raises one flag; each shard's watcher task sees it and
//! tells that shard's tasks (accept loops, connections) through a local, lock-free signal.

use atomic_waker::AtomicWaker;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};

/// Shared between the main thread and all shards.
pub struct Shutdown {
    requested: AtomicBool,
    failed: AtomicBool,
    shard_wakers: Vec<AtomicWaker>,
}

impl Shutdown {
    /// A signal for `shards` shards.
    pub fn new(shards: usize) -> Arc<Self> {
        Arc::new(Self {
            requested: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            shard_wakers: (0..shards).map(|_| AtomicWaker::new()).collect(),
        })
    }

    /// Asks every shard to stop (from any thread).
    pub fn trigger(&self) {
        self.requested.store(true, Ordering::SeqCst);
        for w in &self.shard_wakers {
            w.wake();
        }
    }

    /// Stops everything because a shard could not run (the process then exits non-zero).
    pub fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
        self.trigger();
    }

    /// Whether a shard failed.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Whether stop was asked.
    pub fn is_triggered(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Resolves on shard `shard` once stop is asked. One waiting task per shard.
    pub async fn wait(&self, shard: usize) {
        poll_fn(|cx| {
            if self.is_triggered() {
                return Poll::Ready(());
            }
            self.shard_wakers[shard].register(cx.waker());
            if self.is_triggered() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// The shard-local side: any number of tasks on the shard may wait on it.
#[derive(Default)]
pub struct LocalStop {
    stopped: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl LocalStop {
    /// A fresh, not-yet-stopped signal.
    pub fn new() -> Rc<Self> {
        Rc::new(Self::default())
    }

    /// Stops: wakes every waiting task.
    pub fn stop(&self) {
        self.stopped.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Whether the shard is stopping.
    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Resolves when the shard is stopping.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.stopped.get() {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}
