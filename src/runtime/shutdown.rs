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
///
/// A wait that is dropped before the stop (the usual case: it loses a `select!` against a read
/// or an accept) takes its waker out again, so a long-lived connection or accept loop that
/// waits once per iteration holds one slot, not one per iteration.
#[derive(Default)]
pub struct LocalStop {
    stopped: Cell<bool>,
    waiters: RefCell<slab::Slab<Waker>>,
}

impl LocalStop {
    /// A fresh, not-yet-stopped signal.
    pub fn new() -> Rc<Self> {
        Rc::new(Self::default())
    }

    /// Stops: wakes every waiting task.
    pub fn stop(&self) {
        self.stopped.set(true);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for (_, w) in waiters {
            w.wake();
        }
    }

    /// Whether the shard is stopping.
    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Resolves when the shard is stopping.
    pub fn wait(&self) -> StopWait<'_> {
        StopWait {
            stop: self,
            slot: None,
        }
    }

    /// Tasks currently waiting (for tests and monitoring).
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }
}

/// The future of [`LocalStop::wait`]; deregisters itself when dropped.
pub struct StopWait<'a> {
    stop: &'a LocalStop,
    slot: Option<usize>,
}

impl std::future::Future for StopWait<'_> {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let stop = self.stop;
        if stop.stopped.get() {
            // `stop` emptied the registry; the slot is gone with it.
            self.slot = None;
            return Poll::Ready(());
        }
        let mut waiters = stop.waiters.borrow_mut();
        match self.slot {
            Some(i) => {
                if let Some(w) = waiters.get_mut(i) {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                }
            }
            None => {
                let i = waiters.insert(cx.waker().clone());
                drop(waiters);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for StopWait<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            if !self.stop.stopped.get() {
                self.stop.waiters.borrow_mut().try_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::Context;

    fn poll_once(f: &mut std::pin::Pin<&mut StopWait<'_>>) -> Poll<()> {
        f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn dropped_waits_leave_no_waker_behind() {
        let stop = LocalStop::default();
        for _ in 0..1000 {
            let mut w = std::pin::pin!(stop.wait());
            assert_eq!(poll_once(&mut w), Poll::Pending);
            assert_eq!(poll_once(&mut w), Poll::Pending);
            assert_eq!(stop.waiting(), 1);
        }
        assert_eq!(stop.waiting(), 0);
    }

    #[test]
    fn stop_releases_every_waiter() {
        let stop = LocalStop::default();
        let mut a = std::pin::pin!(stop.wait());
        let mut b = std::pin::pin!(stop.wait());
        assert_eq!(poll_once(&mut a), Poll::Pending);
        assert_eq!(poll_once(&mut b), Poll::Pending);
        assert_eq!(stop.waiting(), 2);
        stop.stop();
        assert_eq!(stop.waiting(), 0);
        assert_eq!(poll_once(&mut a), Poll::Ready(()));
        assert_eq!(poll_once(&mut b), Poll::Ready(()));
        let mut late = std::pin::pin!(stop.wait());
        assert_eq!(poll_once(&mut late), Poll::Ready(()));
    }
}
