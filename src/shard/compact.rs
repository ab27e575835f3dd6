//! Meta log compaction: once `storage.metaSnapshotOps` changes have been logged since the last
//! snapshot, the shard's compactor task writes a snapshot of the metadata it owns and the log
//! segments behind it are deleted, so start-up loads the snapshot and replays a bounded tail.
//!
//! The state is encoded on the shard thread in the same turn as the snapshot's LSN is fixed
//! (no await between, and every logged change is applied in the turn it is logged), so the
//! snapshot holds exactly the ops below that LSN. The file is written and fsynced through the
//! runtime after those ops are durable; changes logged meanwhile land after the LSN and stay
//! in the log.

use super::snapshot::{self, Counts, MetaView};
use super::{globals, Shard};
use std::cell::Cell;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// First wait before retrying a failed snapshot; doubled on each failure up to
/// [`MAX_RETRY_DELAY`].
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest wait between retries of a failing snapshot.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// One written snapshot, for logs and measurements.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotStats {
    /// Ops below this LSN are covered.
    pub lsn: u64,
    /// Encoded size.
    pub bytes: usize,
    /// What it holds.
    pub counts: Counts,
    /// Time spent encoding on the shard thread.
    pub encode: Duration,
    /// Time from the encoding to the file being in place (durability wait, write, fsyncs).
    pub write: Duration,
}

/// When a shard snapshots its meta log; the trigger between `persist_meta` and the task.
pub struct Compactor {
    every: u64,
    wanted: Cell<bool>,
    waker: Cell<Option<Waker>>,
    last_size: Cell<usize>,
    written: Cell<u64>,
}

impl Compactor {
    /// A compactor that snapshots every `every` logged changes (at least 1).
    pub fn new(every: u64) -> Compactor {
        Compactor {
            every: every.max(1),
            wanted: Cell::new(false),
            waker: Cell::new(None),
            last_size: Cell::new(0),
            written: Cell::new(0),
        }
    }

    /// Changes logged between two snapshots.
    pub fn every(&self) -> u64 {
        self.every
    }

    /// Snapshots written since start-up.
    pub fn written(&self) -> u64 {
        self.written.get()
    }

    /// Told the log's count of ops since the last snapshot after each append; wakes the task
    /// when it reaches the threshold.
    pub fn note_ops(&self, ops_since_snapshot: u64) {
        if ops_since_snapshot >= self.every && !self.wanted.replace(true) {
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }

    async fn until_wanted(&self) {
        std::future::poll_fn(|cx| {
            if self.wanted.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// The shard's compactor task: snapshots whenever the threshold is reached, until the shard
/// stops. A failed snapshot (disk full, I/O error) is retried with a growing delay; the log
/// keeps every op meanwhile, so nothing is lost.
pub async fn run_compactor(shard: Rc<Shard>) {
    let mut delay = RETRY_DELAY;
    // A log that grew past the threshold before this start (or under an older version).
    let ops = shard.store.borrow().meta.ops_since_snapshot();
    shard.compactor.note_ops(ops);
    loop {
        monoio::select! {
            _ = shard.compactor.until_wanted() => {},
            _ = shard.ctx.stop.wait() => return,
        }
        match compact_once(&shard).await {
            Ok(s) => {
                delay = RETRY_DELAY;
                tracing::info!(
                    shard = shard.id(),
                    lsn = s.lsn,
                    bytes = s.bytes,
                    channels = s.counts.channels,
                    users = s.counts.users,
                    entries = s.counts.entries,
                    encode_ms = s.encode.as_secs_f64() * 1e3,
                    write_ms = s.write.as_secs_f64() * 1e3,
                    "meta snapshot written"
                );
            }
            Err(e) => {
                tracing::warn!(shard = shard.id(), error = %e, retry_in = ?delay, "meta snapshot failed");
                monoio::select! {
                    _ = monoio::time::sleep(delay) => {},
                    _ = shard.ctx.stop.wait() => return,
                }
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
        // Changes may have piled up past the threshold again while this one was written.
        let ops = shard.store.borrow().meta.ops_since_snapshot();
        shard.compactor.note_ops(ops);
    }
}

/// Writes one snapshot of the shard's metadata and deletes the log segments it covers.
pub async fn compact_once(shard: &Shard) -> Result<SnapshotStats, String> {
    let started = Instant::now();
    let (pending, bytes, counts) = {
        let mut store = shard.store.borrow_mut();
        let pending = store.meta.begin_snapshot().map_err(|e| e.to_string())?;
        // Same turn as the LSN: the state holds exactly the ops below it.
        let (bytes, counts) = encode_state(shard, shard.compactor.last_size.get());
        (pending, bytes, counts)
    };
    let encoded = Instant::now();
    let lsn = pending.lsn();
    let size = bytes.len();
    match pending.write(bytes).await {
        Ok(written) => shard
            .store
            .borrow_mut()
            .meta
            .finish_snapshot(written)
            .map_err(|e| format!("snapshot written, old segments not deleted: {e}"))?,
        Err((pending, e)) => {
            shard.store.borrow_mut().meta.abort_snapshot(pending);
            return Err(e.to_string());
        }
    }
    shard.compactor.last_size.set(size);
    shard
        .compactor
        .written
        .set(shard.compactor.written.get() + 1);
    Ok(SnapshotStats {
        lsn,
        bytes: size,
        counts,
        encode: encoded - started,
        write: encoded.elapsed(),
    })
}

/// Encodes the shard's owned metadata (with the global tables on their owner).
pub fn encode_state(shard: &Shard, size_hint: usize) -> (Vec<u8>, Counts) {
    let channels = shard.channels.borrow();
    let users = shard.users.borrow();
    let g = shard.globals.borrow();
    let stored = shard.stored_system_uids.borrow();
    let events = shard.msg_events.borrow();
    let view = MetaView {
        channels: &channels,
        users: &users,
        events: &events,
        globals: (shard.id() == globals::GLOBALS_OWNER).then_some((&*g, &*stored)),
    };
    snapshot::encode(&view, size_hint + size_hint / 8)
}

/// How often the message store's retention is applied.
const RETENTION_EVERY: Duration = Duration::from_secs(1);

/// Applies `storage.retentionAge` / `retentionSize` to the shard's message store once a
/// second (whole sealed segments past the limits are deleted; reads and the webhook cursor
/// already treat what lies below the first LSN as gone). Single-node mode only: a cluster
/// replica re-applies its raft log's tail after a restart, which must find what it stored.
pub async fn run_retention(shard: Rc<Shard>) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(RETENTION_EVERY) => {},
            _ = shard.ctx.stop.wait() => return,
        }
        let now = super::ids::now_millis() as i64 / 1000;
        if let Err(e) = shard.store.borrow_mut().messages.maintain(now) {
            tracing::warn!(shard = shard.id(), error = %e, "retention pass failed; retried in a second");
        }
    }
}
