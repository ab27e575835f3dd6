//! The mesh: one bounded lock-free SPSC ring (rtrb) for every ordered pair of shards.
//!
//! * Each shard owns one [`MeshEndpoint`]: the producer ends of its rings to every other shard
//!   and the consumer ends of the rings from them.
//! * Sends are batched per loop turn: [`MeshEndpoint::send`] only pushes; the shard's flusher
//!   task (run by [`MeshEndpoint::run_flusher`]) wakes each destination once for the whole batch.
//! * One wake-up per shard: a receiver parks its single receive task on an [`AtomicWaker`];
//!   a wake when the receiver is already awake is a cheap atomic swap, not a syscall.
//! * A full ring is back-pressure: the message waits in a bounded per-destination backlog that
//!   the flusher retries; [`MeshEndpoint::send_wait`] awaits room in that backlog.

use atomic_waker::AtomicWaker;
use crossbeam_utils::CachePadded;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// Wake-up state one shard exposes to all others.
#[derive(Default)]
struct Doorbell {
    waker: AtomicWaker,
    /// Wake-ups actually delivered (a registered waker was taken), for tests and metrics.
    rings: AtomicU64,
}

/// Counters of one endpoint, read by monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeshStats {
    /// Messages pushed into rings (excluding self-sends).
    pub sent: u64,
    /// Messages taken out of rings.
    pub received: u64,
    /// Times a message had to wait in the backlog because a ring was full.
    pub backlogged: u64,
    /// Messages waiting in backlogs now.
    pub backlog_len: u64,
}

/// Builds the N×N rings and returns one endpoint per shard, to be moved to its thread.
pub fn build_mesh<T: Send>(shards: usize, ring_capacity: usize) -> Vec<MeshEndpoint<T>> {
    assert!(shards >= 1, "a mesh needs at least one shard");
    assert!(
        ring_capacity >= 1,
        "a ring needs room for at least one message"
    );
    let bells: Arc<Vec<CachePadded<Doorbell>>> = Arc::new(
        (0..shards)
            .map(|_| CachePadded::new(Doorbell::default()))
            .collect(),
    );
    let mut tx: Vec<Vec<Option<rtrb::Producer<T>>>> = (0..shards)
        .map(|_| (0..shards).map(|_| None).collect())
        .collect();
    let mut rx: Vec<Vec<Option<rtrb::Consumer<T>>>> = (0..shards)
        .map(|_| (0..shards).map(|_| None).collect())
        .collect();
    for (src, tx_row) in tx.iter_mut().enumerate() {
        for (dst, slot) in tx_row.iter_mut().enumerate() {
            if src != dst {
                let (p, c) = rtrb::RingBuffer::new(ring_capacity);
                *slot = Some(p);
                rx[dst][src] = Some(c);
            }
        }
    }
    tx.into_iter()
        .zip(rx)
        .enumerate()
        .map(|(id, (tx, rx))| MeshEndpoint {
            id,
            bells: bells.clone(),
            tx,
            rx,
            backlog_limit: ring_capacity,
        })
        .collect()
}

/// One shard's end of the mesh. Built on the main thread, then moved to and used only on its
/// shard's thread (call [`MeshEndpoint::into_local`] there).
pub struct MeshEndpoint<T> {
    id: usize,
    bells: Arc<Vec<CachePadded<Doorbell>>>,
    tx: Vec<Option<rtrb::Producer<T>>>,
    rx: Vec<Option<rtrb::Consumer<T>>>,
    backlog_limit: usize,
}

impl<T: Send> MeshEndpoint<T> {
    /// This endpoint's shard id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Turns the endpoint into the shard-local handle (not `Send`: it lives on one thread).
    pub fn into_local(self) -> Rc<LocalMesh<T>> {
        let n = self.tx.len();
        Rc::new(LocalMesh {
            id: self.id,
            bells: self.bells,
            tx: RefCell::new(self.tx),
            rx: RefCell::new(self.rx),
            backlog: RefCell::new((0..n).map(|_| VecDeque::new()).collect()),
            backlog_limit: self.backlog_limit,
            dirty: RefCell::new(Vec::with_capacity(n)),
            is_dirty: RefCell::new(vec![false; n]),
            self_queue: RefCell::new(VecDeque::new()),
            flusher: Cell::new(None),
            flush_scheduled: Cell::new(false),
            room_waiters: RefCell::new(Vec::new()),
            stats: Cell::new(MeshStats::default()),
        })
    }
}

/// The shard-local mesh handle: send, flush, receive. Single-threaded (no locks).
pub struct LocalMesh<T> {
    id: usize,
    bells: Arc<Vec<CachePadded<Doorbell>>>,
    tx: RefCell<Vec<Option<rtrb::Producer<T>>>>,
    rx: RefCell<Vec<Option<rtrb::Consumer<T>>>>,
    backlog: RefCell<Vec<VecDeque<T>>>,
    backlog_limit: usize,
    dirty: RefCell<Vec<usize>>,
    is_dirty: RefCell<Vec<bool>>,
    self_queue: RefCell<VecDeque<T>>,
    flusher: Cell<Option<Waker>>,
    flush_scheduled: Cell<bool>,
    room_waiters: RefCell<Vec<Waker>>,
    stats: Cell<MeshStats>,
}

/// How long the flusher waits before retrying a full ring. Rings fill only under overload,
/// so this is a rare path; it must not spin.
const FULL_RING_RETRY: Duration = Duration::from_micros(100);

impl<T: Send> LocalMesh<T> {
    /// This shard's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Number of shards in the mesh.
    pub fn shards(&self) -> usize {
        self.bells.len()
    }

    /// Counters for monitoring.
    pub fn stats(&self) -> MeshStats {
        let mut s = self.stats.get();
        s.backlog_len = self.backlog.borrow().iter().map(|q| q.len() as u64).sum();
        s
    }

    /// Wake-ups delivered to shard `id` so far (a parked receiver was woken).
    pub fn wakeups_of(&self, id: usize) -> u64 {
        self.bells[id].rings.load(Ordering::Relaxed)
    }

    /// Whether the backlog to `dst` is at its bound (a further `send` still queues; callers
    /// that can wait should use [`LocalMesh::send_wait`]).
    pub fn is_full(&self, dst: usize) -> bool {
        self.backlog.borrow()[dst].len() >= self.backlog_limit
    }

    /// Queues `msg` for shard `dst` (possibly this shard). Never blocks; the destination is
    /// woken when the flusher runs, once per batch. Order per (source, destination) is kept.
    pub fn send(&self, dst: usize, msg: T) {
        if dst == self.id {
            self.self_queue.borrow_mut().push_back(msg);
            self.bells[dst].waker.wake();
            return;
        }
        let mut backlog = self.backlog.borrow_mut();
        let queue = &mut backlog[dst];
        let mut stats = self.stats.get();
        if queue.is_empty() {
            let mut tx = self.tx.borrow_mut();
            let producer = tx[dst].as_mut().expect("ring to another shard exists");
            match producer.push(msg) {
                Ok(()) => stats.sent += 1,
                Err(rtrb::PushError::Full(msg)) => {
                    stats.backlogged += 1;
                    queue.push_back(msg);
                }
            }
        } else {
            stats.backlogged += 1;
            queue.push_back(msg);
        }
        self.stats.set(stats);
        drop(backlog);
        self.mark_dirty(dst);
    }

    /// Like [`LocalMesh::send`], but first waits while the backlog to `dst` is at its bound:
    /// the back-pressure path for producers that can wait (e.g. a client connection).
    pub async fn send_wait(&self, dst: usize, msg: T) {
        if dst != self.id {
            poll_fn(|cx| {
                if self.is_full(dst) {
                    self.room_waiters.borrow_mut().push(cx.waker().clone());
                    self.schedule_flush();
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
            .await;
        }
        self.send(dst, msg);
    }

    fn mark_dirty(&self, dst: usize) {
        let mut is_dirty = self.is_dirty.borrow_mut();
        if !is_dirty[dst] {
            is_dirty[dst] = true;
            self.dirty.borrow_mut().push(dst);
        }
        drop(is_dirty);
        self.schedule_flush();
    }

    fn schedule_flush(&self) {
        if !self.flush_scheduled.replace(true) {
            if let Some(w) = self.flusher.take() {
                w.wake();
            }
        }
    }

    /// Moves backlogged messages into rings where room appeared and rings the doorbell of every
    /// destination that got messages since the last flush. Returns whether backlog remains.
    pub fn flush(&self) -> bool {
        self.flush_scheduled.set(false);
        let mut remaining = false;
        {
            let mut backlog = self.backlog.borrow_mut();
            let mut tx = self.tx.borrow_mut();
            let mut stats = self.stats.get();
            for (dst, queue) in backlog.iter_mut().enumerate() {
                if queue.is_empty() {
                    continue;
                }
                let producer = tx[dst].as_mut().expect("ring to another shard exists");
                let mut moved = false;
                while let Some(msg) = queue.pop_front() {
                    match producer.push(msg) {
                        Ok(()) => {
                            stats.sent += 1;
                            moved = true;
                        }
                        Err(rtrb::PushError::Full(msg)) => {
                            queue.push_front(msg);
                            break;
                        }
                    }
                }
                if moved && !self.is_dirty.borrow()[dst] {
                    self.is_dirty.borrow_mut()[dst] = true;
                    self.dirty.borrow_mut().push(dst);
                }
                remaining |= !queue.is_empty();
            }
            self.stats.set(stats);
        }
        let mut dirty = self.dirty.borrow_mut();
        let mut is_dirty = self.is_dirty.borrow_mut();
        for dst in dirty.drain(..) {
            is_dirty[dst] = false;
            let bell = &self.bells[dst];
            if let Some(w) = bell.waker.take() {
                bell.rings.fetch_add(1, Ordering::Relaxed);
                w.wake();
            }
        }
        drop((dirty, is_dirty));
        self.wake_own_receiver_if_inbound();
        let waiters: Vec<Waker> = std::mem::take(&mut *self.room_waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
        remaining
    }

    /// The shard's flusher task: runs after the tasks that sent, so one loop turn's sends
    /// leave as one batch with one wake-up per destination. Spawn it once per shard.
    pub async fn run_flusher(self: Rc<Self>) {
        loop {
            poll_fn(|cx| {
                if self.flush_scheduled.get() {
                    Poll::Ready(())
                } else {
                    self.flusher.set(Some(cx.waker().clone()));
                    Poll::Pending
                }
            })
            .await;
            while self.flush() {
                monoio::time::sleep(FULL_RING_RETRY).await;
            }
        }
    }

    /// Wakes this shard's receive task from its own thread when messages wait in its inbound
    /// rings. Another shard's wake of it crosses threads, and monoio takes cross-thread wakes
    /// only when the run queue is empty: on a busy shard that may be long after the messages
    /// arrived. A wake from here is local and runs in the same loop turn.
    fn wake_own_receiver_if_inbound(&self) {
        let waiting = self
            .rx
            .borrow()
            .iter()
            .flatten()
            .any(|consumer| !consumer.is_empty());
        if waiting {
            if let Some(w) = self.bells[self.id].waker.take() {
                w.wake();
            }
        }
    }

    /// Takes up to `max` waiting messages from all sources (self-sends first, then each ring
    /// in turn) into `out`; returns how many were taken. Never waits.
    pub fn try_recv(&self, out: &mut Vec<(usize, T)>, max: usize) -> usize {
        let start = out.len();
        {
            let mut q = self.self_queue.borrow_mut();
            while out.len() - start < max {
                match q.pop_front() {
                    Some(m) => out.push((self.id, m)),
                    None => break,
                }
            }
        }
        let mut rx = self.rx.borrow_mut();
        let mut received = 0u64;
        for (src, consumer) in rx.iter_mut().enumerate() {
            let Some(consumer) = consumer.as_mut() else {
                continue;
            };
            while out.len() - start < max {
                match consumer.pop() {
                    Ok(m) => {
                        received += 1;
                        out.push((src, m));
                    }
                    Err(_) => break,
                }
            }
        }
        if received > 0 {
            let mut stats = self.stats.get();
            stats.received += received;
            self.stats.set(stats);
        }
        out.len() - start
    }

    /// Waits until at least one message is there, then takes up to `max` of them into `out`.
    /// Only one task per shard may call this (it owns the shard's doorbell).
    pub async fn recv(&self, out: &mut Vec<(usize, T)>, max: usize) -> usize {
        poll_fn(|cx| {
            let n = self.try_recv(out, max);
            if n > 0 {
                return Poll::Ready(n);
            }
            self.bells[self.id].waker.register(cx.waker());
            // A sender may have pushed between the check and the registration.
            let n = self.try_recv(out, max);
            if n > 0 {
                Poll::Ready(n)
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
