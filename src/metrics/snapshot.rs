//! What one shard reports about itself, taken on that shard and gathered through the mesh.

use crate::shard::events::ConnRow;
use crate::shard::stats::{HistogramSnapshot, ShardStats};
use crate::shard::Shard;
use jindou_storage::CommitStats;
use serde::{Deserialize, Serialize};

/// Group-commit counters of one log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CommitFigures {
    /// Group commits completed.
    pub batches: u64,
    /// fdatasync calls issued.
    pub syncs: u64,
    /// Records made durable.
    pub records: u64,
    /// Failed syncs.
    pub failures: u64,
}

impl From<CommitStats> for CommitFigures {
    fn from(c: CommitStats) -> Self {
        Self {
            batches: c.batches,
            syncs: c.syncs,
            records: c.records,
            failures: c.failures,
        }
    }
}

/// One shard's figures at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardSnapshot {
    /// Shard id.
    pub shard: usize,
    /// Sockets held (including ones that have not sent CONNECT yet).
    pub sockets: u64,
    /// Connections parked.
    pub parked: u64,
    /// Authenticated connections.
    pub conns_live: u64,
    /// Connections accepted since start.
    pub conns_accepted: u64,
    /// SEND packets received from clients.
    pub sends_in: u64,
    /// REST sends taken on this shard.
    pub api_sends: u64,
    /// Messages stored by this shard (as channel owner).
    pub messages_stored: u64,
    /// RECV packets written to clients.
    pub recvs_out: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Messages for receivers with no live connection.
    pub offline_deliveries: u64,
    /// Limit hits: slow readers cut.
    pub slow_readers_cut: u64,
    /// Limit hits: connections refused over `limits.maxConnections`.
    pub conns_refused: u64,
    /// Limit hits: malformed or oversized frames.
    pub bad_frames: u64,
    /// Limit hits: connections refused by `limits.connRatePerIp`.
    pub conn_rate_limited: u64,
    /// Limit hits: REST requests refused by `limits.apiRatePerIp` or the login limit.
    pub api_rate_limited: u64,
    /// Limit hits: SENDs refused by `limits.messageRate`.
    pub message_rate_limited: u64,
    /// Limit hits: HTTP connections refused over `limits.maxHttpConnections`.
    pub http_conns_refused: u64,
    /// Limit hits: sends refused by `limits.channelCreateRate`.
    pub channel_create_limited: u64,
    /// Limit hits: WebSocket connections cut for a control-frame flood.
    pub control_floods_cut: u64,

    /// Limit hits: idle / CONNECT timeouts.
    pub idle_timeouts: u64,
    /// SENDACKs with success.
    pub sendacks_ok: u64,
    /// SENDACKs with a refusal.
    pub sendacks_refused: u64,
    /// Messages stored by channel type (index = type).
    pub stored_by_type: Vec<u64>,
    /// RECVs written by channel type.
    pub recvs_by_type: Vec<u64>,
    /// Owner-side SENDACK latency (seconds).
    pub sendack_latency: HistogramSnapshot,
    /// Append latency (seconds).
    pub append_latency: HistogramSnapshot,
    /// Group-commit wait latency (seconds).
    pub commit_wait_latency: HistogramSnapshot,
    /// Messages per group commit.
    pub commit_batch: HistogramSnapshot,
    /// Disk time of a group commit (write-out + fdatasync).
    pub commit_sync_latency: HistogramSnapshot,
    /// Webhook events queued now.
    pub webhook_queue: u64,
    /// Webhook deliveries failed.
    pub webhook_failures: u64,
    /// Webhook deliveries succeeded.
    pub webhook_sent: u64,
    /// `msg.notify` events parked in the dead-letter file.
    pub webhook_deadletter: u64,
    /// `msg.notify` events refused and not parked.
    pub webhook_deadletter_lost: u64,
    /// `msg.notify` cursor found behind retention.
    pub webhook_retention_skips: u64,
    /// Users this shard owns that have a live session.
    pub users_online: u64,
    /// Users this shard owns (known at all).
    pub users_known: u64,
    /// Sessions registered on this shard's users.
    pub sessions: u64,
    /// Channels with settings or members on this shard.
    pub channels: u64,
    /// Channels in this shard's message store.
    pub stored_channels: u64,
    /// RECVs awaiting RECVACK on this shard's connections.
    pub unacked: u64,
    /// Outbound bytes queued on this shard's connections.
    pub pending_bytes: u64,
    /// Message log group commits.
    pub msg_commit: CommitFigures,
    /// Message-log segment rolls that allocated the new file on the shard thread (no
    /// background-prepared segment was ready).
    pub blocking_rolls: u64,
    /// Meta log: LSN past the last append.
    pub meta_end_lsn: u64,
    /// Message log: LSN past the last append.
    pub end_lsn: u64,
    /// Message log: LSN below which everything is durable.
    pub durable_lsn: u64,
    /// Mesh: messages pushed into rings.
    pub mesh_sent: u64,
    /// Mesh: messages taken out of rings.
    pub mesh_received: u64,
    /// Mesh: times a message waited for a full ring.
    pub mesh_backlogged: u64,
    /// Mesh: messages waiting in backlogs now.
    pub mesh_backlog: u64,
    /// Mesh: wake-ups delivered to this shard.
    pub mesh_wakeups: u64,
    /// CPU time this shard's thread has used, seconds.
    pub cpu_seconds: f64,
    /// Hash slots this shard owns.
    pub slots: u64,
    /// Seconds since this shard started.
    pub uptime_secs: f64,
}

impl ShardSnapshot {
    /// Takes the snapshot; must run on `shard`'s own thread (thread CPU time).
    pub fn take(shard: &Shard) -> Self {
        let st: &ShardStats = &shard.stats;
        let conns = shard.conn_view().map(|v| v.summary()).unwrap_or_default();
        let users = shard.users.borrow();
        let (mut users_known, mut users_online, mut sessions) = (0u64, 0u64, 0u64);
        for (_, u) in users.iter() {
            users_known += 1;
            users_online += u64::from(!u.sessions.is_empty());
            sessions += u.sessions.len() as u64;
        }
        let store = shard.store.borrow();
        let mesh = shard.mesh.stats();
        Self {
            shard: shard.id(),
            sockets: conns.sockets,
            parked: conns.parked,
            conns_live: st.conns_live.get(),
            conns_accepted: st.conns_accepted.get(),
            sends_in: st.sends_in.get(),
            api_sends: st.api_sends.get(),
            messages_stored: st.messages_stored.get(),
            recvs_out: st.recvs_out.get(),
            bytes_in: st.bytes_in.get(),
            bytes_out: st.bytes_out.get(),
            offline_deliveries: st.offline_deliveries.get(),
            slow_readers_cut: st.slow_readers_cut.get(),
            conns_refused: st.conns_refused.get(),
            bad_frames: st.bad_frames.get(),
            conn_rate_limited: st.conn_rate_limited.get(),
            api_rate_limited: st.api_rate_limited.get(),
            message_rate_limited: st.message_rate_limited.get(),
            http_conns_refused: st.http_conns_refused.get(),
            channel_create_limited: st.channel_create_limited.get(),
            control_floods_cut: st.control_floods_cut.get(),

            idle_timeouts: st.idle_timeouts.get(),
            sendacks_ok: st.sendacks_ok.get(),
            sendacks_refused: st.sendacks_refused.get(),
            stored_by_type: st.stored_by_type.values().to_vec(),
            recvs_by_type: st.recvs_by_type.values().to_vec(),
            sendack_latency: st.sendack_latency.snapshot(),
            append_latency: st.append_latency.snapshot(),
            commit_wait_latency: st.commit_wait_latency.snapshot(),
            commit_batch: st.commit_batch.snapshot(),
            commit_sync_latency: st.commit_sync_latency.snapshot(),
            webhook_queue: st.webhook_queue.get(),
            webhook_failures: st.webhook_failures.get(),
            webhook_sent: st.webhook_sent.get(),
            webhook_deadletter: st.webhook_deadletter.get(),
            webhook_deadletter_lost: st.webhook_deadletter_lost.get(),
            webhook_retention_skips: st.webhook_retention_skips.get(),
            users_online,
            users_known,
            sessions,
            channels: shard.channels.borrow().len() as u64,
            stored_channels: store.messages.channel_count() as u64,
            unacked: conns.unacked,
            pending_bytes: conns.pending_bytes,
            msg_commit: store.messages.commit_stats().into(),
            blocking_rolls: store.messages.log().blocking_rolls(),
            meta_end_lsn: store.meta.end_lsn(),
            end_lsn: store.messages.end_lsn(),
            durable_lsn: store.messages.durable_lsn(),
            mesh_sent: mesh.sent,
            mesh_received: mesh.received,
            mesh_backlogged: mesh.backlogged,
            mesh_backlog: mesh.backlog_len,
            mesh_wakeups: shard.mesh.wakeups_of(shard.id()),
            cpu_seconds: crate::shard::stats::thread_cpu_time().as_secs_f64(),
            slots: shard.ctx.slots.slots_of_shard(shard.id()).count() as u64,
            uptime_secs: shard.ctx.started.elapsed().as_secs_f64(),
        }
    }
}

/// Sums over every shard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    /// Authenticated connections.
    pub conns_live: u64,
    /// Sockets held.
    pub sockets: u64,
    /// Connections parked.
    pub parked: u64,
    /// Inbound messages: client SENDs plus REST sends.
    pub in_msgs: u64,
    /// Outbound messages: RECVs written.
    pub out_msgs: u64,
    /// Bytes read from clients.
    pub in_bytes: u64,
    /// Bytes written to clients.
    pub out_bytes: u64,
    /// Messages stored.
    pub stored: u64,
    /// RECVs awaiting RECVACK.
    pub unacked: u64,
    /// Users with a live session.
    pub users_online: u64,
    /// Sessions registered.
    pub sessions: u64,
}

impl Totals {
    /// Adds up the snapshots.
    pub fn of(snaps: &[ShardSnapshot]) -> Self {
        let mut t = Totals::default();
        for s in snaps {
            t.conns_live += s.conns_live;
            t.sockets += s.sockets;
            t.parked += s.parked;
            t.in_msgs += s.sends_in + s.api_sends;
            t.out_msgs += s.recvs_out;
            t.in_bytes += s.bytes_in;
            t.out_bytes += s.bytes_out;
            t.stored += s.messages_stored;
            t.unacked += s.unacked;
            t.users_online += s.users_online;
            t.sessions += s.sessions;
        }
        t
    }
}

/// Snapshots of every shard, in shard order.
pub async fn collect(shard: &Shard) -> Vec<ShardSnapshot> {
    shard.inspect_all(ShardSnapshot::take).await
}

/// Authenticated connections of every shard whose uid contains `uid_filter` (all if empty).
pub async fn collect_conns(shard: &Shard, uid_filter: &str) -> Vec<ConnRow> {
    let filter = uid_filter.to_string();
    shard
        .inspect_all(move |s: &Shard| s.conn_view().map(|v| v.rows(&filter)).unwrap_or_default())
        .await
        .into_iter()
        .flatten()
        .collect()
}
