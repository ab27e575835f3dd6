//! Webhooks (spec http-api §11): `msg.notify`, `msg.offline` and `user.onlinestatus`, pushed
//! over HTTP or gRPC by a dedicated OS thread, `jindou-webhook`, outside the shards.
//!
//! - **`msg.notify` is at least once and needs no second copy.** Every persisted message is
//!   already in its shard's message log. Each shard runs [`notify_task`]: it reads its own log
//!   from a cursor up to the durable end, copies message records into batches of at most
//!   `msgNotifyEventCountPerPush` (a partial batch leaves after `msgNotifyEventPushInterval`)
//!   and hands them to the thread through a bounded queue, at most [`MAX_IN_FLIGHT`] batches at
//!   a time. The backlog stays in the log, so memory is bounded and a slow or absent receiver
//!   never slows a send. The thread builds the JSON and delivers the batches of one shard
//!   strictly in order. A transport error, a timeout, a 5xx (any answer but 200 and a
//!   refusal) is retried for as long as it takes: `msgNotifyEventRetryMaxCount` fast attempts
//!   (100 ms doubling, at most 2 s apart), then 1 s doubling up to
//!   `msgNotifyEventRetryMaxInterval` (30 s). A *refusal* — HTTP 4xx other than 408 and 429,
//!   or a gRPC status such as `InvalidArgument` — would be refused again: the batch is parked
//!   in the shard's dead-letter file (`deadletter.rs`, capped, counted, logged) and the stream
//!   goes on. Each batch is acknowledged with its end LSN only once the receiver accepted it
//!   or it was parked (or, with the dead-letter file full or unwritable, counted as lost:
//!   `webhook_deadletter_lost`, logged as an error); the shard persists the acknowledged LSN in
//!   `<rootDir>/shard-K/webhook.cursor` (temp file fsynced, renamed, directory fsynced) at most
//!   once per push interval and when it stops. After a restart delivery resumes from there:
//!   at least once, in order per channel, nothing skipped but what was counted lost.
//! - **`msg.offline`** is raised by the receivers' owner shard (one event per message with the
//!   uids it owns that have no live connection), best effort through a bounded queue.
//! - **`user.onlinestatus`** strings are raised by the uid's owner shard on each CONNECT and
//!   close and sent in batches, best effort through a bounded queue (a batch is dropped after
//!   `msgNotifyEventRetryMaxCount` attempts, as in WuKongIM).
//!
//! The same thread runs the datasource calls ([`crate::datasource`]).

mod deadletter;
mod events;
mod notify;
pub mod proto;
mod thread;

pub use notify::{notify_task, prepare_cursor};
pub use thread::start;

use crate::config::Config;
use crate::shard::events::{Events, Presence};
use crate::shard::msg::Delivered;
use crate::shard::{stats, Shard};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Event name of every persisted message.
pub const EVENT_NOTIFY: &str = "msg.notify";
/// Event name of messages for receivers with no live connection.
pub const EVENT_OFFLINE: &str = "msg.offline";
/// Event name of connects and disconnects.
pub const EVENT_ONLINE: &str = "user.onlinestatus";

/// Most `msg.notify` batches of one shard handed to the thread and not yet acknowledged.
pub const MAX_IN_FLIGHT: usize = 4;
/// Capacity of the `msg.offline` queue (events); a full queue drops and counts.
pub const OFFLINE_QUEUE: usize = 8192;
/// Capacity of the `user.onlinestatus` queue (strings); a full queue drops and counts.
pub const ONLINE_QUEUE: usize = 65536;
/// HTTP client timeout for webhook calls (spec: 30 s).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Per-call timeout of gRPC webhook calls (spec: 10 s).
pub const GRPC_TIMEOUT: Duration = Duration::from_secs(10);

/// What the webhook is configured to do.
#[derive(Clone, Debug)]
pub struct HookConfig {
    /// HTTP receiver base URL (used when `grpc_addr` is empty).
    pub http_addr: String,
    /// gRPC receiver; when set, every event goes there.
    pub grpc_addr: String,
    /// `msg.notify` is wanted.
    pub notify_on: bool,
    /// `msg.offline` is wanted.
    pub offline_on: bool,
    /// `user.onlinestatus` is wanted.
    pub online_on: bool,
    /// Partial `msg.notify` batches leave after this long.
    pub push_interval: Duration,
    /// Most messages per `msg.notify` batch.
    pub per_push: usize,
    /// Fast attempts of a `msg.notify` batch before the retries slow down; attempts before an
    /// online-status batch is dropped.
    pub retry_max: usize,
    /// Longest pause between two attempts of a `msg.notify` batch.
    pub retry_max_interval: Duration,
    /// Size cap of each shard's dead-letter file.
    pub dead_letter_max: u64,
    /// Cursor and dead-letter writes are fsynced (`storage.syncPolicy` is not `none`).
    pub durable: bool,
    /// Gzip `msg.offline` recipients above this count (0 = never).
    pub compress_of_count: usize,
    /// `source_id` of `msg.offline`.
    pub node_id: u64,
    /// Where shard K keeps its cursor: `<root_dir>/shard-K/webhook.cursor`.
    pub root_dir: String,
}

impl HookConfig {
    /// The webhook part of `config`, or `None` when no receiver address is set.
    pub fn from_config(config: &Config) -> Option<HookConfig> {
        let w = &config.webhook;
        if w.http_addr.is_empty() && w.grpc_addr.is_empty() {
            return None;
        }
        let focus =
            |name: &str| w.focus_events.is_empty() || w.focus_events.iter().any(|e| e == name);
        Some(HookConfig {
            http_addr: w.http_addr.clone(),
            grpc_addr: w.grpc_addr.clone(),
            notify_on: focus(EVENT_NOTIFY),
            offline_on: focus(EVENT_OFFLINE),
            online_on: focus(EVENT_ONLINE),
            push_interval: w
                .msg_notify_event_push_interval
                .get()
                .max(Duration::from_millis(1)),
            per_push: w.msg_notify_event_count_per_push.max(1),
            retry_max: w.msg_notify_event_retry_max_count.max(1),
            retry_max_interval: w
                .msg_notify_event_retry_max_interval
                .get()
                .max(Duration::from_millis(1)),
            dead_letter_max: w.dead_letter_max_size.get(),
            durable: config.storage.sync_policy != "none",
            compress_of_count: config.channel.subscriber_compress_of_count,
            node_id: config.cluster.node_id,
            root_dir: config.root_dir.clone(),
        })
    }

    /// The data directory of shard `id`.
    fn shard_dir(&self, id: usize) -> std::path::PathBuf {
        std::path::Path::new(&self.root_dir).join(format!("shard-{id}"))
    }

    /// The cursor file of shard `id`.
    pub fn cursor_path(&self, id: usize) -> std::path::PathBuf {
        self.shard_dir(id).join("webhook.cursor")
    }

    /// The `msg.notify` dead-letter file of shard `id`.
    pub fn dead_letter_path(&self, id: usize) -> std::path::PathBuf {
        deadletter::path_in(&self.shard_dir(id))
    }
}

/// Figures kept by the webhook thread (atomics: written by one thread, read by monitoring).
#[derive(Debug, Default)]
pub struct HookStats {
    /// `msg.notify` events delivered.
    pub notify_sent: AtomicU64,
    /// `msg.notify` delivery attempts that failed.
    pub notify_failures: AtomicU64,
    /// `msg.notify` events the receiver refused (4xx), parked in a dead-letter file.
    pub notify_deadletter: AtomicU64,
    /// `msg.notify` events the receiver refused that could not be parked (file full or
    /// unwritable).
    pub notify_deadletter_lost: AtomicU64,
    /// `msg.offline` events delivered.
    pub offline_sent: AtomicU64,
    /// `msg.offline` deliveries that failed (not retried, spec §11.3).
    pub offline_failures: AtomicU64,
    /// `msg.offline` events refused because the queue was full.
    pub offline_overflow: AtomicU64,
    /// `user.onlinestatus` entries delivered.
    pub online_sent: AtomicU64,
    /// `user.onlinestatus` delivery attempts that failed.
    pub online_failures: AtomicU64,
    /// `user.onlinestatus` entries dropped (queue full, or retry limit).
    pub online_dropped: AtomicU64,
    /// Events waiting in the thread's queues now (offline + online + notify in flight).
    pub queue: AtomicU64,
}

/// A copy of [`HookStats`] for export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HookStatsSnapshot {
    /// See [`HookStats`].
    pub notify_sent: u64,
    /// See [`HookStats`].
    pub notify_failures: u64,
    /// See [`HookStats`].
    pub notify_deadletter: u64,
    /// See [`HookStats`].
    pub notify_deadletter_lost: u64,
    /// See [`HookStats`].
    pub offline_sent: u64,
    /// See [`HookStats`].
    pub offline_failures: u64,
    /// See [`HookStats`].
    pub offline_overflow: u64,
    /// See [`HookStats`].
    pub online_sent: u64,
    /// See [`HookStats`].
    pub online_failures: u64,
    /// See [`HookStats`].
    pub online_dropped: u64,
    /// See [`HookStats`].
    pub queue: u64,
}

impl HookStats {
    /// The figures now.
    pub fn snapshot(&self) -> HookStatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HookStatsSnapshot {
            notify_sent: g(&self.notify_sent),
            notify_failures: g(&self.notify_failures),
            notify_deadletter: g(&self.notify_deadletter),
            notify_deadletter_lost: g(&self.notify_deadletter_lost),
            offline_sent: g(&self.offline_sent),
            offline_failures: g(&self.offline_failures),
            offline_overflow: g(&self.offline_overflow),
            online_sent: g(&self.online_sent),
            online_failures: g(&self.online_failures),
            online_dropped: g(&self.online_dropped),
            queue: g(&self.queue),
        }
    }
}

pub(crate) fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn drop_gauge(a: &AtomicU64, n: u64) {
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(n))
    });
}

/// A batch of `msg.notify` records of one shard: raw message records copied from the log, each
/// starting 16-byte aligned in `buf` so the thread can read it in place.
pub(crate) struct NotifyBatch {
    /// Records, each padded to 16 bytes.
    pub buf: rkyv::util::AlignedVec,
    /// (offset, length) of each record in `buf`.
    pub records: Vec<(u32, u32)>,
    /// The LSN after the last record this batch covers.
    pub end: u64,
}

/// The thread's answer to a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NotifyAck {
    /// The batch's end LSN.
    pub end: u64,
    /// Events delivered.
    pub sent: u64,
    /// Failed attempts.
    pub failures: u64,
    /// Events the receiver refused, parked in the dead-letter file.
    pub parked: u64,
    /// Events the receiver refused that could not be parked.
    pub lost: u64,
}

/// A shard's two ends of its `msg.notify` link, taken once by its [`notify_task`].
pub(crate) struct NotifyLink {
    pub batches: tokio::sync::mpsc::Sender<NotifyBatch>,
    pub acks: tokio::sync::mpsc::UnboundedReceiver<NotifyAck>,
}

/// A `msg.offline` event: the message and the uids (of one owner shard) it did not reach.
pub(crate) struct OfflineEvent {
    pub msg: Arc<Delivered>,
    pub to_uids: Vec<Arc<str>>,
}

/// The shared handle to the webhook thread (one per server; shards hold an `Arc`).
pub struct Hub {
    /// Webhook settings; `None` when only the datasource is configured.
    pub hook: Option<HookConfig>,
    /// Figures of the thread.
    pub stats: Arc<HookStats>,
    pub(crate) offline: Option<tokio::sync::mpsc::Sender<OfflineEvent>>,
    pub(crate) online: Option<tokio::sync::mpsc::Sender<String>>,
    pub(crate) links: Mutex<Vec<Option<NotifyLink>>>,
    pub(crate) datasource: Option<crate::datasource::Client>,
}

impl Hub {
    /// Takes shard `id`'s `msg.notify` link (start-up only; `None` the second time).
    pub(crate) fn take_link(&self, id: usize) -> Option<NotifyLink> {
        self.links.lock().ok()?.get_mut(id)?.take()
    }

    /// Whether `msg.offline` events are wanted.
    pub fn offline_on(&self) -> bool {
        self.offline.is_some()
    }
}

/// A shard's end of the webhook: implements the shard's [`Events`] port.
pub struct ShardHooks {
    /// The shared handle.
    pub hub: Arc<Hub>,
}

impl ShardHooks {
    /// This shard's view of the hub.
    pub fn new(hub: Arc<Hub>) -> ShardHooks {
        ShardHooks { hub }
    }
}

impl Events for ShardHooks {
    fn wants_offline(&self, msg: &Delivered) -> bool {
        use crate::proto::{ChannelType, StreamFlag};
        self.hub.offline_on()
            && msg.channel_type != ChannelType::AGENT.0
            // Stream chunks (not anchors) raise nothing.
            && (msg.stream_no().is_empty() || msg.stream_flag() == StreamFlag::START.0)
    }

    /// Raises `msg.offline` for `uids` (best effort: a full queue drops and counts).
    fn offline(&self, shard: &Shard, msg: &Arc<Delivered>, uids: Vec<Arc<str>>) {
        let Some(tx) = self.hub.offline.as_ref() else {
            return;
        };
        let ev = OfflineEvent {
            msg: msg.clone(),
            to_uids: uids,
        };
        match tx.try_send(ev) {
            Ok(()) => bump(&self.hub.stats.queue, 1),
            Err(_) => {
                bump(&self.hub.stats.offline_overflow, 1);
                stats::inc(&shard.stats.webhook_dropped);
            }
        }
    }

    /// Raises `user.onlinestatus`:
    /// `uid-deviceFlag-online-connId-deviceOnlineCount-totalOnlineCount` (spec §11.4).
    fn presence(&self, shard: &Shard, p: Presence<'_>) {
        let Some(tx) = self.hub.online.as_ref() else {
            return;
        };
        let line = format!(
            "{}-{}-{}-{}-{}-{}",
            p.uid,
            p.device_flag,
            u8::from(p.online),
            p.conn.node_wide_id(),
            p.device_online,
            p.total_online
        );
        match tx.try_send(line) {
            Ok(()) => bump(&self.hub.stats.queue, 1),
            Err(_) => {
                bump(&self.hub.stats.online_dropped, 1);
                stats::inc(&shard.stats.webhook_dropped);
            }
        }
    }
}
