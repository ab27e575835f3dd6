//! Group commit: appends return at once; durability is awaited.
//!
//! A per-log syncer task (spawned with `monoio::spawn` on the current runtime) waits until
//! records are pending and issues ONE `fdatasync` per touched segment through monoio
//! (`File::sync_data`, an io_uring op run by the kernel's workers; on the legacy epoll driver
//! monoio runs it synchronously on the thread, which is correct but blocks the shard for the
//! sync), advances the durable LSN and wakes every waiter at or below it. Under `always` there
//! is no window: the next fdatasync starts as soon as the previous one ended and covers
//! everything appended meanwhile, so batches grow with the load and a lone record waits for
//! one sync only. Under `interval` the sync runs on the clock (`sync_interval`) or when
//! `sync_batch` records are pending.
//!
//! An ENOSPC from the sync fails the waiters of that batch with [`StoreError::DiskFull`] (the
//! records stay in the log and are synced by the next batch). Any other sync error fails the
//! waiters and poisons the log: nothing is reported durable again until the store is reopened
//! (after a failed fsync the kernel may have dropped the dirty pages).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::config::SyncPolicy;
use crate::error::{Result, StoreError};
use crate::stage::Stage;

/// A file the syncer can fdatasync (a segment) or fsync (a directory).
pub struct SyncTarget {
    std: File,
    uring: RefCell<Option<Rc<monoio::fs::File>>>,
    is_dir: bool,
}

impl SyncTarget {
    /// Wraps a segment file.
    pub fn new(std: File) -> Self {
        SyncTarget {
            std,
            uring: RefCell::new(None),
            is_dir: false,
        }
    }

    /// Wraps a directory (its entries are made durable with fsync).
    pub fn dir(path: &std::path::Path) -> Result<Self> {
        Ok(SyncTarget {
            std: File::open(path)?,
            uring: RefCell::new(None),
            is_dir: true,
        })
    }

    /// Syncs the file through the runtime (must run inside a monoio runtime).
    pub async fn sync(&self) -> std::io::Result<()> {
        let f = self.monoio_file()?;
        if self.is_dir {
            f.sync_all().await
        } else {
            f.sync_data().await
        }
    }

    /// Blocking sync, for use outside a runtime (shutdown, tests).
    pub fn sync_blocking(&self) -> std::io::Result<()> {
        if self.is_dir {
            self.std.sync_all()
        } else {
            self.std.sync_data()
        }
    }

    /// The file, for writes outside the runtime (the stage's `pwrite`).
    pub(crate) fn file(&self) -> &File {
        &self.std
    }

    fn monoio_file(&self) -> std::io::Result<Rc<monoio::fs::File>> {
        if let Some(f) = &*self.uring.borrow() {
            return Ok(f.clone());
        }
        // A duplicate fd, registered with whichever driver runs this task.
        let f = Rc::new(monoio::fs::File::from_std(self.std.try_clone()?)?);
        *self.uring.borrow_mut() = Some(f.clone());
        Ok(f)
    }
}

/// One waiter's slot, filled by the syncer.
struct WaitSlot {
    result: RefCell<Option<Result<()>>>,
    waker: RefCell<Option<Waker>>,
}

/// Counters of the group commit, for metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommitStats {
    /// Group commits completed (successful or not).
    pub batches: u64,
    /// fdatasync calls issued.
    pub syncs: u64,
    /// Records made durable.
    pub records: u64,
    /// Failed syncs.
    pub failures: u64,
}

/// Told how long each group commit's write-out and fdatasyncs took (metrics).
pub type SyncObserver = Box<dyn Fn(Duration)>;

/// Shared state between a log (producer) and its syncer task.
pub struct CommitState {
    policy: SyncPolicy,
    interval: Duration,
    batch: usize,
    /// LSN just past the last appended record.
    appended_end: Cell<u64>,
    /// Every record below this LSN is durable.
    durable_end: Cell<u64>,
    pending: Cell<usize>,
    first_pending_at: Cell<Option<Instant>>,
    touched: RefCell<Vec<Rc<SyncTarget>>>,
    /// The active segment's records not written into its file yet (`always` only): written
    /// out right before each sync.
    stage: RefCell<Option<Rc<Stage>>>,
    observer: RefCell<Option<SyncObserver>>,
    waiters: RefCell<BTreeMap<u64, Vec<Rc<WaitSlot>>>>,
    syncer: RefCell<Option<Waker>>,
    poisoned: RefCell<Option<String>>,
    closed: Cell<bool>,
    running: Cell<bool>,
    stats: Cell<CommitStats>,
}

impl CommitState {
    /// New state for a log whose records below `end` are already durable.
    pub fn new(policy: SyncPolicy, interval: Duration, batch: usize, end: u64) -> Rc<Self> {
        Rc::new(CommitState {
            policy,
            interval,
            batch: batch.max(1),
            appended_end: Cell::new(end),
            durable_end: Cell::new(end),
            pending: Cell::new(0),
            first_pending_at: Cell::new(None),
            touched: RefCell::new(Vec::new()),
            stage: RefCell::new(None),
            observer: RefCell::new(None),
            waiters: RefCell::new(BTreeMap::new()),
            syncer: RefCell::new(None),
            poisoned: RefCell::new(None),
            closed: Cell::new(false),
            running: Cell::new(false),
            stats: Cell::new(CommitStats::default()),
        })
    }

    /// Spawns the syncer task on the current monoio runtime (no-op for `SyncPolicy::None`).
    /// Requires a runtime built with `enable_timer()`.
    pub fn start(self: &Rc<Self>) {
        if self.policy == SyncPolicy::None || self.running.get() {
            return;
        }
        self.running.set(true);
        monoio::spawn(run_syncer(self.clone()));
    }

    /// Durability policy.
    pub fn policy(&self) -> SyncPolicy {
        self.policy
    }

    /// Every record below this LSN is durable.
    pub fn durable_end(&self) -> u64 {
        self.durable_end.get()
    }

    /// Counters.
    pub fn stats(&self) -> CommitStats {
        self.stats.get()
    }

    /// Refuses appends once a non-ENOSPC sync failed.
    pub fn check_usable(&self) -> Result<()> {
        match &*self.poisoned.borrow() {
            Some(e) => Err(StoreError::SyncFailed(e.clone())),
            None => Ok(()),
        }
    }

    /// Moves an empty log's positions forward to `end`.
    pub(crate) fn reset(&self, end: u64) {
        assert!(end >= self.appended_end.get());
        self.appended_end.set(end);
        self.durable_end.set(end);
    }

    /// A failed write of the stage outside the syncer: ENOSPC is returned as is (the bytes stay
    /// staged and are written again later); anything else poisons the log like a failed sync.
    pub(crate) fn fail_write(&self, e: std::io::Error) -> StoreError {
        let err = StoreError::from_io(e);
        if matches!(err, StoreError::DiskFull) {
            return err;
        }
        tracing::error!(error = %err, "writing staged records failed");
        *self.poisoned.borrow_mut() = Some(err.to_string());
        self.resolve_below(u64::MAX, &Err(StoreError::SyncFailed(err.to_string())));
        StoreError::SyncFailed(err.to_string())
    }

    /// Sets who is told each group commit's disk time.
    pub fn set_observer(&self, observer: SyncObserver) {
        *self.observer.borrow_mut() = Some(observer);
    }

    /// Gives the syncer the log's stage, written out before every sync.
    pub(crate) fn set_stage(&self, stage: Rc<Stage>) {
        *self.stage.borrow_mut() = Some(stage);
    }

    /// Writes the stage (if any) into its segment file.
    fn write_out_stage(&self) -> std::io::Result<()> {
        match &*self.stage.borrow() {
            Some(s) => s.write_out(),
            None => Ok(()),
        }
    }

    /// Marks a file (segment or directory) as needing a sync in the next batch.
    pub fn touch(&self, target: &Rc<SyncTarget>) {
        let mut t = self.touched.borrow_mut();
        if !t.iter().any(|x| Rc::ptr_eq(x, target)) {
            t.push(target.clone());
        }
    }

    /// Notes an appended record ending at `end` written into `target`.
    pub fn note_append(&self, end: u64, target: &Rc<SyncTarget>) {
        debug_assert!(end > self.appended_end.get());
        self.appended_end.set(end);
        if self.policy == SyncPolicy::None {
            self.durable_end.set(end);
            return;
        }
        {
            let t = self.touched.borrow();
            let seen = t.last().is_some_and(|x| Rc::ptr_eq(x, target));
            drop(t);
            if !seen {
                self.touch(target);
            }
        }
        let p = self.pending.get() + 1;
        self.pending.set(p);
        if p == 1 && self.policy == SyncPolicy::Interval {
            self.first_pending_at.set(Some(Instant::now()));
        }
        if p == 1 || p >= self.batch {
            self.wake_syncer();
        }
    }

    fn wake_syncer(&self) {
        if let Some(w) = self.syncer.borrow_mut().take() {
            w.wake();
        }
    }

    /// Waits until the record at `lsn` is durable (per the policy).
    pub fn wait_durable(self: &Rc<Self>, lsn: u64) -> DurableFuture {
        let ready = match self.policy {
            SyncPolicy::None | SyncPolicy::Interval => Some(Ok(())),
            SyncPolicy::Always => {
                if let Err(e) = self.check_usable() {
                    Some(Err(e))
                } else if lsn < self.durable_end.get() {
                    Some(Ok(()))
                } else if self.closed.get() {
                    Some(Err(StoreError::Closed))
                } else {
                    None
                }
            }
        };
        let slot = Rc::new(WaitSlot {
            result: RefCell::new(ready),
            waker: RefCell::new(None),
        });
        if slot.result.borrow().is_none() {
            debug_assert!(
                self.running.get(),
                "the syncer was not started (LogConfig requires a runtime)"
            );
            self.waiters
                .borrow_mut()
                .entry(lsn)
                .or_default()
                .push(slot.clone());
        }
        DurableFuture { slot }
    }

    /// Resolves every waiter below `end` with a copy of `res`.
    fn resolve_below(&self, end: u64, res: &Result<()>) {
        let done = {
            let mut w = self.waiters.borrow_mut();
            let rest = w.split_off(&end);
            std::mem::replace(&mut *w, rest)
        };
        for (_, slots) in done {
            for s in slots {
                *s.result.borrow_mut() = Some(match res {
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.duplicate()),
                });
                if let Some(w) = s.waker.borrow_mut().take() {
                    w.wake();
                }
            }
        }
    }

    /// Stops the syncer after a last sync; pending waiters above that sync fail with `Closed`.
    pub fn close(&self) {
        self.closed.set(true);
        self.wake_syncer();
        if !self.running.get() {
            self.resolve_below(u64::MAX, &Err(StoreError::Closed));
        }
    }

    /// Synchronous flush outside the runtime: syncs every touched file and advances the
    /// durable LSN. Used at shutdown and when no runtime is available.
    pub fn sync_now_blocking(&self) -> Result<()> {
        let end = self.appended_end.get();
        self.write_out_stage()?;
        let targets = std::mem::take(&mut *self.touched.borrow_mut());
        for t in &targets {
            t.sync_blocking()?;
        }
        self.pending.set(0);
        self.first_pending_at.set(None);
        self.durable_end.set(end);
        self.resolve_below(end, &Ok(()));
        Ok(())
    }
}

/// Resolves when a record is durable, or with the error that prevented it.
pub struct DurableFuture {
    slot: Rc<WaitSlot>,
}

impl Future for DurableFuture {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if let Some(r) = self.slot.result.borrow_mut().take() {
            return Poll::Ready(r);
        }
        *self.slot.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Waits for `cond` to hold; the syncer's waker is stored in the state.
struct WaitFor<'a, F: Fn(&CommitState) -> bool> {
    state: &'a CommitState,
    cond: F,
}

impl<F: Fn(&CommitState) -> bool> Future for WaitFor<'_, F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if (self.cond)(self.state) {
            return Poll::Ready(());
        }
        *self.state.syncer.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

async fn run_syncer(st: Rc<CommitState>) {
    loop {
        WaitFor {
            state: &st,
            cond: |s| s.pending.get() > 0 || s.closed.get(),
        }
        .await;
        if st.pending.get() == 0 {
            break; // closed with nothing pending
        }
        gather(&st).await;
        let end = st.appended_end.get();
        let n = st.pending.replace(0);
        st.first_pending_at.set(None);
        let targets = std::mem::take(&mut *st.touched.borrow_mut());
        let started = Instant::now();
        let mut res: std::io::Result<()> = st.write_out_stage();
        let mut stats = st.stats.get();
        for t in &targets {
            if res.is_err() {
                break;
            }
            stats.syncs += 1;
            res = t.sync().await;
        }
        stats.batches += 1;
        if let Some(observe) = &*st.observer.borrow() {
            observe(started.elapsed());
        }
        match res {
            Ok(()) => {
                stats.records += n as u64;
                if st.poisoned.borrow().is_none() {
                    st.durable_end.set(end.max(st.durable_end.get()));
                    st.resolve_below(end, &Ok(()));
                }
            }
            Err(e) => {
                stats.failures += 1;
                let err = StoreError::from_io(e);
                tracing::error!(error = %err, up_to_lsn = end, records = n, "group commit sync failed");
                if !matches!(err, StoreError::DiskFull) {
                    *st.poisoned.borrow_mut() = Some(err.to_string());
                    st.resolve_below(u64::MAX, &Err(StoreError::SyncFailed(err.to_string())));
                } else {
                    // Keep the files marked so the next batch syncs these records again.
                    for t in &targets {
                        st.touch(t);
                    }
                    st.resolve_below(end, &Err(StoreError::DiskFull));
                }
            }
        }
        st.stats.set(stats);
    }
    st.running.set(false);
    st.resolve_below(u64::MAX, &Err(StoreError::Closed));
}

/// Under `interval`, waits for the clock (or a full batch): the acks came at append. Under
/// `always` nothing is waited for: the syncer runs behind the tasks that were ready when the
/// first record of the batch was appended (they append theirs first), and the records appended
/// while one fdatasync is in flight are exactly what the next one covers, started the moment
/// the previous one ends.
async fn gather(st: &CommitState) {
    if st.policy == SyncPolicy::Interval {
        let start = st.first_pending_at.get().unwrap_or_else(Instant::now);
        let left = (start + st.interval).saturating_duration_since(Instant::now());
        let full = WaitFor {
            state: st,
            cond: |s: &CommitState| s.pending.get() >= s.batch || s.closed.get(),
        };
        let _ = monoio::time::timeout(left, full).await;
    }
}
