//! The Prometheus exposition of `/metrics`, built per request from the shards' snapshots with
//! the `prometheus-client` crate (which appends `_total` to counters itself).

use super::snapshot::{ShardSnapshot, Totals};
use crate::shard::stats::HistogramSnapshot;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;

/// Node-wide facts that are not per shard.
#[derive(Clone, Debug, Default)]
pub struct NodeFacts {
    /// `cluster.nodeId`.
    pub node_id: u64,
    /// Build version.
    pub version: String,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Process CPU time, seconds.
    pub cpu_seconds: f64,
    /// Seconds since start.
    pub uptime_secs: f64,
}

fn shard_label(s: &ShardSnapshot) -> Labels {
    vec![("shard".into(), s.shard.to_string())]
}

fn with(mut l: Labels, k: &str, v: impl ToString) -> Labels {
    l.push((k.into(), v.to_string()));
    l
}

/// Registers metric families filled from rows of (labels, value).
struct Builder {
    reg: Registry,
}

impl Builder {
    fn counter(&mut self, name: &str, help: &str, rows: impl IntoIterator<Item = (Labels, u64)>) {
        let fam = Family::<Labels, Counter>::default();
        for (l, v) in rows {
            fam.get_or_create(&l).inc_by(v);
        }
        self.reg.register(name, help, fam);
    }

    fn counter_f64(
        &mut self,
        name: &str,
        help: &str,
        rows: impl IntoIterator<Item = (Labels, f64)>,
    ) {
        let fam = Family::<Labels, Counter<f64, AtomicU64>>::default();
        for (l, v) in rows {
            fam.get_or_create(&l).inc_by(v);
        }
        self.reg.register(name, help, fam);
    }

    fn gauge(&mut self, name: &str, help: &str, rows: impl IntoIterator<Item = (Labels, u64)>) {
        let fam = Family::<Labels, Gauge>::default();
        for (l, v) in rows {
            fam.get_or_create(&l).set(v.min(i64::MAX as u64) as i64);
        }
        self.reg.register(name, help, fam);
    }

    /// A per-shard counter from one snapshot field.
    fn per_shard(
        &mut self,
        snaps: &[ShardSnapshot],
        name: &str,
        help: &str,
        f: fn(&ShardSnapshot) -> u64,
    ) {
        self.counter(name, help, snaps.iter().map(|s| (shard_label(s), f(s))));
    }

    /// A per-shard gauge from one snapshot field.
    fn per_shard_gauge(
        &mut self,
        snaps: &[ShardSnapshot],
        name: &str,
        help: &str,
        f: fn(&ShardSnapshot) -> u64,
    ) {
        self.gauge(name, help, snaps.iter().map(|s| (shard_label(s), f(s))));
    }
}

/// Histograms whose buckets were counted elsewhere (per-shard cells), one series per label set.
#[derive(Debug)]
struct Histograms {
    name: String,
    help: String,
    series: Vec<(Labels, HistogramSnapshot)>,
}

impl Collector for Histograms {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            &self.name,
            &format!("{}.", self.help),
            None,
            MetricType::Histogram,
        )?;
        for (labels, h) in &self.series {
            let buckets: Vec<(f64, u64)> = h
                .bounds
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(h.counts.iter().copied())
                .collect();
            metric
                .encode_family(labels)?
                .encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)?;
        }
        Ok(())
    }
}

/// Channel type names used as label values.
fn type_rows(snaps: &[ShardSnapshot], f: fn(&ShardSnapshot) -> &Vec<u64>) -> Vec<(Labels, u64)> {
    let mut rows = Vec::new();
    for s in snaps {
        for (ty, v) in f(s).iter().enumerate() {
            // Person (1) and group (2) always; other types once they have traffic.
            if *v > 0 || ty == 1 || ty == 2 {
                rows.push((with(shard_label(s), "channel_type", ty), *v));
            }
        }
    }
    rows
}

/// Renders the whole exposition.
pub fn render(snaps: &[ShardSnapshot], node: &NodeFacts) -> String {
    let mut b = Builder {
        reg: Registry::with_prefix("jindou"),
    };
    let t = Totals::of(snaps);
    b.reg.register(
        "build",
        "Build and node identity",
        Info::new(vec![
            ("version".to_string(), node.version.clone()),
            ("node_id".to_string(), node.node_id.to_string()),
        ]),
    );
    // Connections and users.
    b.per_shard_gauge(
        snaps,
        "connections",
        "Authenticated client connections",
        |s| s.conns_live,
    );
    b.per_shard_gauge(
        snaps,
        "sockets",
        "Client sockets held, including ones before CONNECT",
        |s| s.sockets,
    );
    b.per_shard_gauge(
        snaps,
        "parked_connections",
        "Idle client connections parked (no task, no buffer: woken by their socket)",
        |s| s.parked,
    );
    b.per_shard(
        snaps,
        "connections_accepted",
        "Client connections accepted",
        |s| s.conns_accepted,
    );
    b.per_shard_gauge(
        snaps,
        "online_users",
        "Users owned by the shard with a live session",
        |s| s.users_online,
    );
    b.per_shard_gauge(
        snaps,
        "sessions",
        "Live sessions registered on the shard's users",
        |s| s.sessions,
    );
    // Messages.
    b.counter(
        "messages_in",
        "Messages received: client SEND packets and REST sends",
        snaps.iter().flat_map(|s| {
            [
                (with(shard_label(s), "source", "client"), s.sends_in),
                (with(shard_label(s), "source", "api"), s.api_sends),
            ]
        }),
    );
    b.per_shard(
        snaps,
        "messages_stored",
        "Messages appended by the channel owner",
        |s| s.messages_stored,
    );
    b.counter(
        "messages_stored_by_type",
        "Messages appended, by channel type",
        type_rows(snaps, |s| &s.stored_by_type),
    );
    b.per_shard(
        snaps,
        "messages_out",
        "RECV packets written to clients",
        |s| s.recvs_out,
    );
    b.counter(
        "messages_out_by_type",
        "RECV packets written, by channel type",
        type_rows(snaps, |s| &s.recvs_by_type),
    );
    b.per_shard(snaps, "bytes_in", "Bytes read from clients", |s| s.bytes_in);
    b.per_shard(snaps, "bytes_out", "Bytes written to clients", |s| {
        s.bytes_out
    });
    b.per_shard(
        snaps,
        "offline_deliveries",
        "Messages for receivers with no live connection",
        |s| s.offline_deliveries,
    );
    b.per_shard_gauge(
        snaps,
        "unacked_recvs",
        "RECVs written and awaiting RECVACK",
        |s| s.unacked,
    );
    b.per_shard_gauge(
        snaps,
        "pending_bytes",
        "Outbound bytes queued on connections",
        |s| s.pending_bytes,
    );
    b.counter(
        "sendacks",
        "SENDACKs answered, by result",
        snaps.iter().flat_map(|s| {
            [
                (with(shard_label(s), "result", "ok"), s.sendacks_ok),
                (
                    with(shard_label(s), "result", "refused"),
                    s.sendacks_refused,
                ),
            ]
        }),
    );
    // Limits.
    b.counter(
        "limit_hits",
        "Limits enforced, by limit",
        snaps.iter().flat_map(|s| {
            [
                (
                    with(shard_label(s), "limit", "slow_reader"),
                    s.slow_readers_cut,
                ),
                (
                    with(shard_label(s), "limit", "max_connections"),
                    s.conns_refused,
                ),
                (with(shard_label(s), "limit", "bad_frame"), s.bad_frames),
                (
                    with(shard_label(s), "limit", "conn_rate"),
                    s.conn_rate_limited,
                ),
                (
                    with(shard_label(s), "limit", "api_rate"),
                    s.api_rate_limited,
                ),
                (
                    with(shard_label(s), "limit", "message_rate"),
                    s.message_rate_limited,
                ),
                (
                    with(shard_label(s), "limit", "max_http_connections"),
                    s.http_conns_refused,
                ),
                (
                    with(shard_label(s), "limit", "channel_create_rate"),
                    s.channel_create_limited,
                ),
                (
                    with(shard_label(s), "limit", "control_flood"),
                    s.control_floods_cut,
                ),
                (
                    with(shard_label(s), "limit", "idle_timeout"),
                    s.idle_timeouts,
                ),
            ]
        }),
    );
    // Storage.
    b.per_shard(
        snaps,
        "storage_group_commits",
        "Message-log group commits completed",
        |s| s.msg_commit.batches,
    );
    b.per_shard(
        snaps,
        "storage_fsyncs",
        "fdatasync calls on the message log",
        |s| s.msg_commit.syncs,
    );
    b.per_shard(
        snaps,
        "storage_records_durable",
        "Message-log records made durable",
        |s| s.msg_commit.records,
    );
    b.per_shard(
        snaps,
        "storage_sync_failures",
        "Failed message-log syncs",
        |s| s.msg_commit.failures,
    );
    b.per_shard(
        snaps,
        "storage_blocking_rolls",
        "Message-log segment rolls that allocated the file on the shard thread (no prepared one ready)",
        |s| s.blocking_rolls,
    );
    b.per_shard_gauge(
        snaps,
        "storage_unsynced_bytes",
        "Message-log bytes appended, not yet durable",
        |s| s.end_lsn.saturating_sub(s.durable_lsn),
    );
    b.per_shard_gauge(
        snaps,
        "storage_channels",
        "Channels in the shard's message store",
        |s| s.stored_channels,
    );
    b.per_shard_gauge(
        snaps,
        "channels",
        "Channels with settings or members on the shard",
        |s| s.channels,
    );
    // Mesh.
    b.per_shard(
        snaps,
        "mesh_sent",
        "Messages pushed into shard-to-shard rings",
        |s| s.mesh_sent,
    );
    b.per_shard(
        snaps,
        "mesh_received",
        "Messages taken out of shard-to-shard rings",
        |s| s.mesh_received,
    );
    b.per_shard(
        snaps,
        "mesh_backlogged",
        "Times a message waited because a ring was full",
        |s| s.mesh_backlogged,
    );
    b.per_shard(
        snaps,
        "mesh_wakeups",
        "Wake-ups of the shard's mesh receiver",
        |s| s.mesh_wakeups,
    );
    b.per_shard_gauge(
        snaps,
        "mesh_backlog",
        "Messages waiting in the shard's backlogs",
        |s| s.mesh_backlog,
    );
    let sent: u64 = snaps.iter().map(|s| s.mesh_sent).sum();
    let received: u64 = snaps.iter().map(|s| s.mesh_received).sum();
    b.gauge(
        "mesh_in_flight",
        "Messages in shard-to-shard rings now (sent minus received, all shards)",
        [(Labels::new(), sent.saturating_sub(received))],
    );
    // Webhook.
    b.per_shard_gauge(
        snaps,
        "webhook_queue",
        "Webhook events waiting to be sent",
        |s| s.webhook_queue,
    );
    b.per_shard(
        snaps,
        "webhook_sent",
        "Webhook deliveries that succeeded",
        |s| s.webhook_sent,
    );
    b.per_shard(
        snaps,
        "webhook_failures",
        "Webhook deliveries that failed",
        |s| s.webhook_failures,
    );
    b.per_shard(
        snaps,
        "webhook_deadletter",
        "msg.notify events the receiver refused (4xx), parked in the dead-letter file",
        |s| s.webhook_deadletter,
    );
    b.per_shard(
        snaps,
        "webhook_deadletter_lost",
        "msg.notify events the receiver refused that could not be parked (file full or unwritable)",
        |s| s.webhook_deadletter_lost,
    );
    b.per_shard(
        snaps,
        "webhook_retention_skips",
        "Times msg.notify found messages deleted by retention before the receiver accepted them",
        |s| s.webhook_retention_skips,
    );
    // Load.
    b.counter_f64(
        "shard_cpu_seconds",
        "CPU time used by the shard's thread",
        snaps.iter().map(|s| (shard_label(s), s.cpu_seconds)),
    );
    b.per_shard_gauge(snaps, "slots", "Hash slots owned by the shard", |s| s.slots);
    b.counter_f64(
        "process_cpu_seconds",
        "CPU time used by the process",
        [(Labels::new(), node.cpu_seconds)],
    );
    b.gauge(
        "process_resident_memory_bytes",
        "Resident memory of the process",
        [(Labels::new(), node.rss_bytes)],
    );
    b.gauge(
        "uptime_seconds",
        "Seconds since the server started",
        [(Labels::new(), node.uptime_secs as u64)],
    );
    b.gauge(
        "connections_all",
        "Authenticated client connections on the node",
        [(Labels::new(), t.conns_live)],
    );
    // Histograms.
    let hist = |name: &str, help: &str, f: fn(&ShardSnapshot) -> &HistogramSnapshot| {
        Box::new(Histograms {
            name: name.into(),
            help: help.into(),
            series: snaps
                .iter()
                .map(|s| (shard_label(s), f(s).clone()))
                .collect(),
        })
    };
    b.reg.register_collector(hist(
        "sendack_latency_seconds",
        "Channel owner: from receiving a send to answering it durable",
        |s| &s.sendack_latency,
    ));
    b.reg.register_collector(hist(
        "storage_append_latency_seconds",
        "Time to append one message to the segment log (one append in 16 is timed)",
        |s| &s.append_latency,
    ));
    b.reg.register_collector(hist(
        "storage_commit_wait_seconds",
        "Time a group commit took to become durable (gather and fdatasync)",
        |s| &s.commit_wait_latency,
    ));
    b.reg.register_collector(hist(
        "storage_commit_sync_seconds",
        "Disk time of one group commit: writing the staged records out and the fdatasync",
        |s| &s.commit_sync_latency,
    ));
    b.reg.register_collector(hist(
        "storage_commit_batch_records",
        "Messages acknowledged per group commit",
        |s| &s.commit_batch,
    ));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &b.reg).is_err() {
        out.clear();
    }
    out
}
