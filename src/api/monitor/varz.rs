//! `GET /varz`, `/varz/setting` and `/connz` (spec http-api §9.5, §9.6).

use super::num_param;
use crate::api::http::{Request, Response};
use crate::metrics::{self, timefmt, ConnRow, Totals};
use crate::runtime::SLOT_COUNT;
use crate::shard::Shard;
use serde_json::{json, Value};
use std::time::Duration;

/// The `device` label v2 shows: kind and master/slave.
fn device_label(flag: u8, level: u8) -> String {
    let kind = match flag {
        0 => "App",
        1 => "Web",
        2 => "PC",
        _ => "未知",
    };
    let role = if level == 1 { "主" } else { "从" };
    format!("{kind}({role})")
}

/// One `ConnInfo` row. Per-connection message counters and the peer address are not tracked
/// yet, so those fields are 0 / empty.
fn conn_info(shard: &Shard, c: &ConnRow, now: i64) -> Value {
    let node_id = shard.ctx.config.cluster.node_id;
    let uptime = Duration::from_secs_f64(c.uptime_secs);
    json!({
        "id": c.id,
        "uid": c.uid,
        "ip": "",
        "port": 0,
        "last_activity": timefmt::rfc3339(now),
        "uptime": timefmt::uptime(uptime),
        "idle": "0s",
        "pending_bytes": c.pending_bytes,
        "in_msgs": 0, "out_msgs": 0, "in_msg_bytes": 0, "out_msg_bytes": 0,
        "in_packets": 0, "out_packets": 0, "in_packet_bytes": 0, "out_packet_bytes": 0,
        "device": device_label(c.device_flag, c.device_level),
        "device_flag": c.device_flag,
        "device_level": c.device_level,
        "device_id": c.device_id,
        "version": c.version,
        "proxy_type_format": "本地",
        "leader_id": node_id,
        "node_id": node_id,
        "shard": c.shard,
        "conn_id": c.conn_id,
        "websocket": c.websocket,
        "unacked": c.unacked,
        "uptime_secs": c.uptime_secs,
    })
}

/// Sorts rows by a `/connz` sort key. Keys on counters not tracked per connection fall back
/// to id order.
fn sort_rows(rows: &mut [ConnRow], sort: &str) {
    let (key, desc) = match sort.strip_suffix("Desc") {
        Some(k) => (k, true),
        None => (sort, false),
    };
    match key {
        "uptime" => rows.sort_by(|a, b| a.uptime_secs.total_cmp(&b.uptime_secs)),
        "protoVersion" => rows.sort_by_key(|r| (r.version, r.id)),
        "pendingBytes" => rows.sort_by_key(|r| (r.pending_bytes, r.id)),
        _ => rows.sort_by_key(|r| r.id),
    }
    if desc {
        rows.reverse();
    }
}

/// `GET /connz?sort=&offset=&limit=&uid=`.
pub async fn connz(shard: &Shard, req: &Request) -> Response {
    let uid = req.query_param("uid").unwrap_or_default();
    let mut rows = metrics::collect_conns(shard, &uid).await;
    sort_rows(&mut rows, &req.query_param("sort").unwrap_or_default());
    let offset = num_param(req, "offset", 0) as usize;
    let limit = match num_param(req, "limit", 20) {
        0 => 20,
        n => n as usize,
    };
    let now = timefmt::now_secs();
    let conns: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| conn_info(shard, c, now))
        .collect();
    Response::json(
        200,
        &json!({
            "connections": conns,
            "now": timefmt::rfc3339(now),
            "total": rows.len(),
            "offset": offset,
            "limit": limit,
        }),
    )
}

/// `GET /varz?show=conn&conn_limit=20`.
pub async fn varz(shard: &Shard, req: &Request) -> Response {
    let cfg = &shard.ctx.config;
    let snaps = metrics::collect(shard).await;
    let t = Totals::of(&snaps);
    let uptime = shard.ctx.started.elapsed();
    let sum = |f: fn(&metrics::ShardSnapshot) -> u64| snaps.iter().map(f).sum::<u64>();
    let shards: Vec<Value> = snaps
        .iter()
        .map(|s| {
            json!({
                "shard": s.shard,
                "connections": s.conns_live,
                "sockets": s.sockets,
                "parked": s.parked,
                "in_msgs": s.sends_in + s.api_sends,
                "out_msgs": s.recvs_out,
                "stored_msgs": s.messages_stored,
                "in_bytes": s.bytes_in,
                "out_bytes": s.bytes_out,
                "cpu_seconds": s.cpu_seconds,
                "slots": s.slots,
                "channels": s.stored_channels,
                "users_online": s.users_online,
                "mesh_backlog": s.mesh_backlog,
                "mesh_sent": s.mesh_sent,
                "fsyncs": s.msg_commit.syncs,
                "group_commits": s.msg_commit.batches,
            })
        })
        .collect();
    let mut v = json!({
        "server_id": cfg.cluster.node_id.to_string(),
        "server_name": "WuKongIM",
        "version": env!("CARGO_PKG_VERSION"),
        "connections": t.conns_live,
        "user_handler_count": t.users_online,
        "user_handler_conn_count": t.sessions,
        "uptime": timefmt::uptime(uptime),
        "uptime_secs": uptime.as_secs_f64(),
        "goroutine": metrics::process::threads(),
        "mem": metrics::process::rss_bytes(),
        "cpu": metrics::process::cpu_percent(shard.ctx.started),
        "in_msgs": t.in_msgs,
        "out_msgs": t.out_msgs,
        "in_bytes": t.in_bytes,
        "out_bytes": t.out_bytes,
        "slow_clients": 0,
        "retry_queue": t.unacked,
        "tcp_addr": cfg.external.tcp_addr,
        "ws_addr": cfg.external.ws_addr,
        "wss_addr": cfg.external.wss_addr,
        "manager_addr": cfg.external.manager_addr,
        "api_url": cfg.external.api_url,
        "manager_on": u8::from(cfg.manager.on),
        "commit": "",
        "commit_date": "",
        "tree_state": "",
        "manager_uid": cfg.manager_uid,
        "manager_token_on": u8::from(!cfg.manager_token.is_empty()),
        "conversation_cache_count": 0,
        // Jindou extensions.
        "stored_msgs": t.stored,
        "sockets": t.sockets,
        "parked": t.parked,
        "slots": SLOT_COUNT,
        "shard_count": snaps.len(),
        "offline_deliveries": sum(|s| s.offline_deliveries),
        "slow_readers_cut": sum(|s| s.slow_readers_cut),
        "conns_refused": sum(|s| s.conns_refused),
        "bad_frames": sum(|s| s.bad_frames),

        "fsyncs": sum(|s| s.msg_commit.syncs),
        "group_commits": sum(|s| s.msg_commit.batches),
        "shards": shards,
    });
    // State sizes and more limit hits (outside the macro: it has a recursion limit).
    type Field = fn(&metrics::ShardSnapshot) -> u64;
    let hits: [(&str, Field); 14] = [
        ("idle_timeouts", |s| s.idle_timeouts),
        ("webhook_sent", |s| s.webhook_sent),
        ("webhook_failures", |s| s.webhook_failures),
        ("webhook_deadletter", |s| s.webhook_deadletter),
        ("webhook_deadletter_lost", |s| s.webhook_deadletter_lost),
        ("webhook_retention_skips", |s| s.webhook_retention_skips),
        ("users_known", |s| s.users_known),
        ("channel_records", |s| s.channels),
        ("conn_rate_limited", |s| s.conn_rate_limited),
        ("api_rate_limited", |s| s.api_rate_limited),
        ("message_rate_limited", |s| s.message_rate_limited),
        ("http_conns_refused", |s| s.http_conns_refused),
        ("channel_create_limited", |s| s.channel_create_limited),
        ("control_floods_cut", |s| s.control_floods_cut),
    ];
    for (key, field) in hits {
        v[key] = json!(sum(field));
    }
    if req.query_param("show").as_deref() == Some("conn") {
        let limit = match num_param(req, "conn_limit", 20) {
            0 => 20,
            n => n as usize,
        };
        let mut rows = metrics::collect_conns(shard, "").await;
        sort_rows(&mut rows, "id");
        let now = timefmt::now_secs();
        v["conns"] = rows
            .iter()
            .take(limit)
            .map(|c| conn_info(shard, c, now))
            .collect();
    }
    Response::json(200, &v)
}

/// `GET /varz/setting`.
pub fn setting(shard: &Shard) -> Response {
    let cfg = &shard.ctx.config;
    Response::json(
        200,
        &json!({
            "logger": {"trace_on": u8::from(cfg.logger.trace_on), "loki_on": 0},
            "prometheus_on": 1,
            "stress_on": 0,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_labels() {
        assert_eq!(device_label(0, 1), "App(主)");
        assert_eq!(device_label(1, 0), "Web(从)");
        assert_eq!(device_label(9, 0), "未知(从)");
    }

    #[test]
    fn sorting() {
        let mut rows: Vec<ConnRow> = (1..=3)
            .map(|i| ConnRow {
                id: i,
                uptime_secs: (10 - i) as f64,
                ..Default::default()
            })
            .collect();
        sort_rows(&mut rows, "idDesc");
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 2, 1]);
        sort_rows(&mut rows, "uptime");
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 2, 1]);
        sort_rows(&mut rows, "bogus");
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
