//! The shard's half of `msg.notify`: read its own message log from a persisted cursor up to the
//! durable end, cut batches, hand them to the webhook thread, advance the cursor on the
//! thread's acknowledgements (each batch is acknowledged only once the receiver accepted it or
//! it was parked in the dead-letter file).

use super::{HookConfig, NotifyAck, NotifyBatch, MAX_IN_FLIGHT};
use crate::shard::{stats, Shard};
use jindou_storage::message::KIND_MESSAGE;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Reads a persisted cursor (a decimal LSN).
fn load_cursor(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    match text.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::warn!(path = %path.display(), "unreadable webhook cursor; starting over from the log's start");
            Some(0)
        }
    }
}

fn cursor_tmp(path: &Path) -> PathBuf {
    path.with_extension("cursor.tmp")
}

/// Writes the cursor atomically and, when `durable`, durably (temp file fsynced, renamed,
/// directory fsynced), blocking the thread (start-up only).
fn store_cursor_blocking(path: &Path, lsn: u64, durable: bool) {
    let bytes = format!("{lsn}\n");
    let result =
        jindou_storage::dirs::replace_file(&cursor_tmp(path), path, bytes.as_bytes(), durable);
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot persist the webhook cursor");
    }
}

/// [`store_cursor_blocking`] through the shard's runtime (the fsyncs do not stall the shard).
/// A failure only means events are delivered again after a restart (at least once).
async fn store_cursor(path: &Path, lsn: u64, durable: bool) {
    let bytes = format!("{lsn}\n").into_bytes();
    let result =
        jindou_storage::dirs::replace_file_async(&cursor_tmp(path), path, bytes, durable).await;
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot persist the webhook cursor");
    }
}

/// Message records read from the log and not yet handed over.
struct Pending {
    batch: NotifyBatch,
    /// When the first record of this batch was read.
    since: Option<Instant>,
}

impl Pending {
    fn new(end: u64, per_push: usize) -> Pending {
        Pending {
            batch: NotifyBatch {
                buf: rkyv::util::AlignedVec::new(),
                records: Vec::with_capacity(per_push),
                end,
            },
            since: None,
        }
    }

    fn push(&mut self, payload: &[u8]) {
        let buf = &mut self.batch.buf;
        let off = buf.len();
        buf.extend_from_slice(payload);
        let pad = (16 - buf.len() % 16) % 16;
        buf.extend_from_slice(&[0u8; 16][..pad]);
        self.batch.records.push((off as u32, payload.len() as u32));
        self.since.get_or_insert_with(Instant::now);
    }

    fn len(&self) -> usize {
        self.batch.records.len()
    }
}

/// Fixes where `msg.notify` starts on a first start with the webhook on: the log's end *before*
/// any task of the shard runs, so no message appended during start-up can be skipped.
pub fn prepare_cursor(shard: &Shard, hub: &super::Hub) {
    let Some(cfg) = hub.hook.clone().filter(|c| c.notify_on) else {
        return;
    };
    let path = cfg.cursor_path(shard.id());
    if load_cursor(&path).is_none() {
        store_cursor_blocking(&path, shard.store.borrow().messages.end_lsn(), cfg.durable);
    }
}

/// The shard's `msg.notify` task; returns at once when `msg.notify` is not configured. Runs
/// until the shard stops, then persists its cursor.
pub async fn notify_task(shard: Rc<Shard>, hub: std::sync::Arc<super::Hub>) {
    let Some(cfg) = hub.hook.clone().filter(|c| c.notify_on) else {
        return;
    };
    let Some(mut link) = hub.take_link(shard.id()) else {
        return;
    };
    run(&shard, &cfg, &mut link).await;
}

async fn run(shard: &Rc<Shard>, cfg: &HookConfig, link: &mut super::NotifyLink) {
    let path = cfg.cursor_path(shard.id());
    let start = match load_cursor(&path) {
        Some(lsn) => lsn,
        None => {
            // First start with the webhook on: notify what is stored from now on.
            let end = shard.store.borrow().messages.end_lsn();
            store_cursor(&path, end, cfg.durable).await;
            end
        }
    };
    tracing::info!(shard = shard.id(), cursor = start, "msg.notify resumes");
    let tick = (cfg.push_interval / 5).clamp(Duration::from_millis(2), Duration::from_millis(100));
    // `read`: where the next log read starts; `acked`: everything below was accepted by the
    // receiver (or parked in the dead-letter file); `persisted`: what the cursor file says.
    let mut read = start;
    let mut acked = start;
    let mut persisted = start;
    let mut last_persist = Instant::now();
    let mut in_flight = 0usize;
    let mut in_flight_events = 0u64;
    let mut pending = Pending::new(read, cfg.per_push);
    let mut sizes = std::collections::VecDeque::new();
    loop {
        while let Ok(ack) = link.acks.try_recv() {
            on_ack(shard, ack, &mut acked);
            in_flight -= 1;
            in_flight_events -= sizes.pop_front().unwrap_or(0);
        }
        if shard.ctx.stop.is_stopped() {
            if acked != persisted {
                store_cursor(&path, acked, cfg.durable).await;
            }
            return;
        }
        if pending.len() < cfg.per_push {
            read = fill(shard, read, &mut pending, cfg.per_push);
        }
        let due = pending.len() >= cfg.per_push
            || pending
                .since
                .is_some_and(|t| t.elapsed() >= cfg.push_interval);
        let mut progressed = false;
        if due && in_flight < MAX_IN_FLIGHT {
            let n = pending.len() as u64;
            let full = std::mem::replace(&mut pending, Pending::new(read, cfg.per_push));
            match link.batches.try_send(full.batch) {
                Ok(()) => {
                    in_flight += 1;
                    in_flight_events += n;
                    sizes.push_back(n);
                    progressed = true;
                }
                Err(e) => {
                    // The thread is gone (or its queue is full): keep the batch and retry.
                    let batch = match e {
                        tokio::sync::mpsc::error::TrySendError::Full(b)
                        | tokio::sync::mpsc::error::TrySendError::Closed(b) => b,
                    };
                    pending = Pending {
                        batch,
                        since: full.since,
                    };
                }
            }
        } else if pending.len() == 0 && in_flight == 0 && acked < read {
            // Only non-message records were read: nothing to deliver, move on.
            acked = read;
        }
        pending.batch.end = read;
        shard
            .stats
            .webhook_queue
            .set(in_flight_events + pending.len() as u64);
        if acked != persisted && last_persist.elapsed() >= cfg.push_interval {
            store_cursor(&path, acked, cfg.durable).await;
            persisted = acked;
            last_persist = Instant::now();
        }
        if progressed || (pending.len() >= cfg.per_push && in_flight < MAX_IN_FLIGHT) {
            // More may be ready at once; let other tasks run first.
            monoio::time::sleep(Duration::ZERO).await;
            continue;
        }
        // Wait for an acknowledgement or the next tick.
        if let Ok(Some(ack)) = monoio::time::timeout(tick, link.acks.recv()).await {
            on_ack(shard, ack, &mut acked);
            in_flight -= 1;
            in_flight_events -= sizes.pop_front().unwrap_or(0);
        }
    }
}

fn on_ack(shard: &Shard, ack: NotifyAck, acked: &mut u64) {
    *acked = (*acked).max(ack.end);
    stats::add(&shard.stats.webhook_sent, ack.sent);
    stats::add(&shard.stats.webhook_failures, ack.failures);
    stats::add(&shard.stats.webhook_deadletter, ack.parked);
    stats::add(&shard.stats.webhook_deadletter_lost, ack.lost);
}

/// Copies durable message records from `read` into `pending` until it holds `per_push`;
/// returns where the next read starts.
fn fill(shard: &Shard, mut read: u64, pending: &mut Pending, per_push: usize) -> u64 {
    let store = shard.store.borrow();
    let durable = store.messages.durable_lsn();
    if read >= durable {
        return read;
    }
    let first = store.messages.log().first_lsn();
    if read < first {
        // Retention deleted segments the receiver never got: say so (they cannot be sent).
        tracing::error!(shard = shard.id(), cursor = read, first_lsn = first, "msg.notify fell behind retention: messages deleted by storage.retentionAge/Size before the receiver accepted them are not notified");
        stats::inc(&shard.stats.webhook_retention_skips);
        read = first;
    }
    for rec in store.messages.log().iter_from(read) {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(shard = shard.id(), lsn = read, error = %e, "unreadable record; msg.notify skips to the durable end");
                return durable.max(read);
            }
        };
        if rec.lsn >= durable {
            break;
        }
        read = rec.next;
        if rec.kind == KIND_MESSAGE {
            pending.push(rec.payload);
            if pending.len() >= per_push {
                break;
            }
        }
    }
    read
}
