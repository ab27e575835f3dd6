//! `/cluster/*` (spec http-api §9.4): the real single-node state — this node, its 256 slots and
//! the shard owning each, channels with their owner slot, shard and last seq.

use super::num_param;
use crate::api::handlers::body;
use crate::api::http::{Method, Request, Response};
use crate::metrics::timefmt;
use crate::runtime::{slot_of, SLOT_COUNT};
use crate::shard::Shard;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Routes `/cluster/...`; `None` for paths it does not know.
pub async fn route(shard: &Shard, req: &Request) -> Option<Response> {
    let get = matches!(req.method, Method::Get | Method::Head);
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    Some(match parts.as_slice() {
        ["cluster", "nodes"] if get => nodes(shard, true),
        ["cluster", "simpleNodes"] if get => nodes(shard, false),
        ["cluster", "node"] if get => Response::json(200, &node(shard, true)),
        ["cluster", "slots"] if get => slots(shard, req).await,
        ["cluster", "allslot"] if get => all_slots(shard).await,
        ["cluster", "slots", id, "config"] if get => slot_config(shard, id).await,
        ["cluster", "channels"] if get => channels(shard, req).await,
        ["cluster", "channels", id, ty, "config"] if get => {
            let id = crate::api::http::request::percent_decode(id);
            channel_config(shard, &id, ty.parse().unwrap_or(0)).await
        }
        ["cluster", "channel", "status"] if req.method == Method::Post => {
            channel_status(shard, req).await
        }
        _ => return None,
    })
}

/// This node as a `Node` object (`full` adds uptime and version, as `/cluster/nodes` does).
fn node(shard: &Shard, full: bool) -> Value {
    let cfg = &shard.ctx.config;
    let addr = if cfg.cluster.server_addr.is_empty() {
        cfg.cluster.addr.clone()
    } else {
        cfg.cluster.server_addr.clone()
    };
    let mut v = json!({
        "id": cfg.cluster.node_id,
        "is_leader": 1,
        "role": 0,
        "cluster_addr": addr,
        "api_server_addr": cfg.external.api_url,
        "online": 1,
        "allow_vote": 1,
        "slot_count": SLOT_COUNT,
        "term": 1,
        "slot_leader_count": SLOT_COUNT,
        "status": 3,
        "status_format": "joined",
        "shard_count": shard.ctx.slots.shards(),
    });
    if full {
        v["uptime"] = timefmt::uptime(shard.ctx.started.elapsed()).into();
        v["app_version"] = env!("CARGO_PKG_VERSION").into();
    }
    v
}

fn nodes(shard: &Shard, full: bool) -> Response {
    Response::json(200, &json!({"total": 1, "data": [node(shard, full)]}))
}

/// Channels (with settings or members) per slot, gathered from every shard.
async fn channels_per_slot(shard: &Shard) -> Vec<u64> {
    let per_shard = shard
        .inspect_all(|s: &Shard| {
            let mut counts: BTreeMap<u16, u64> = BTreeMap::new();
            for (id, _) in known_channels(s) {
                *counts.entry(slot_of(&id)).or_default() += 1;
            }
            counts
        })
        .await;
    let mut out = vec![0u64; SLOT_COUNT as usize];
    for m in per_shard {
        for (slot, n) in m {
            out[slot as usize] += n;
        }
    }
    out
}

/// One `Slot` object.
fn slot(shard: &Shard, id: u16, channel_count: u64) -> Value {
    let node = shard.ctx.config.cluster.node_id;
    json!({
        "id": id,
        "leader_id": node,
        "term": 1,
        "replicas": [node],
        "channel_count": channel_count,
        "log_index": 0,
        "status": 0,
        "status_format": "normal",
        "shard": shard.ctx.slots.shard_of_slot(id),
    })
}

/// `GET /cluster/slots?ids=1,2` (all slots without `ids`).
async fn slots(shard: &Shard, req: &Request) -> Response {
    let ids: Vec<u16> = match req.query_param("ids").filter(|s| !s.trim().is_empty()) {
        None => (0..SLOT_COUNT).collect(),
        Some(list) => {
            let mut ids = Vec::new();
            for part in list.split(',') {
                match part.trim().parse::<u16>() {
                    Ok(id) if id < SLOT_COUNT => ids.push(id),
                    _ => return Response::error(400, &format!("invalid slot id {part:?}")),
                }
            }
            ids
        }
    };
    let counts = channels_per_slot(shard).await;
    let data: Vec<Value> = ids
        .iter()
        .map(|&id| slot(shard, id, counts[id as usize]))
        .collect();
    Response::json(200, &data)
}

/// `GET /cluster/allslot`.
async fn all_slots(shard: &Shard) -> Response {
    let counts = channels_per_slot(shard).await;
    let data: Vec<Value> = (0..SLOT_COUNT)
        .map(|id| slot(shard, id, counts[id as usize]))
        .collect();
    Response::json(200, &json!({"total": SLOT_COUNT, "data": data}))
}

/// `GET /cluster/slots/{id}/config`.
async fn slot_config(shard: &Shard, id: &str) -> Response {
    let id = match id.parse::<u16>() {
        Ok(id) if id < SLOT_COUNT => id,
        _ => return Response::error(400, &format!("invalid slot id {id:?}")),
    };
    let node = shard.ctx.config.cluster.node_id;
    Response::json(
        200,
        &json!({
            "id": id,
            "leader_id": node,
            "term": 1,
            "replicas": [node],
            "log_max_index": 0,
            "leader_log_max_index": 0,
            "applied_index": 0,
            "shard": shard.ctx.slots.shard_of_slot(id),
        }),
    )
}

/// What the owner shard knows about one channel.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct ChannelFacts {
    channel_id: String,
    channel_type: u8,
    /// Known: has settings/members or stored messages.
    exists: bool,
    ban: u8,
    disband: u8,
    subscribers: u64,
    allowlist: u64,
    denylist: u64,
    last_seq: u64,
    /// Unix seconds of the last message (0 if none).
    last_time: i64,
    shard: usize,
}

/// Every channel a shard owns: with settings or members, or with stored messages (person
/// channels exist only in the message store).
fn known_channels(s: &Shard) -> std::collections::BTreeSet<(String, u8)> {
    let mut keys: std::collections::BTreeSet<(String, u8)> = s
        .channels
        .borrow()
        .iter()
        .map(|((id, ty), _)| (id.clone(), *ty))
        .collect();
    let store = s.store.borrow();
    keys.extend(
        store
            .messages
            .channels()
            .filter(|(_, _, seq)| *seq > 0)
            .map(|(id, ty, _)| (id.to_string(), ty)),
    );
    keys
}

/// Looks a channel up on its owner shard (runs there).
fn facts(s: &Shard, channel_id: &str, channel_type: u8) -> ChannelFacts {
    let channels = s.channels.borrow();
    let state = channels.get(channel_id, channel_type);
    let store = s.store.borrow();
    let last_seq = store.messages.max_seq(channel_id, channel_type);
    let last_time = match last_seq {
        0 => 0,
        seq => store
            .messages
            .get_by_seq(channel_id, channel_type, seq)
            .ok()
            .flatten()
            .map_or(0, |m| i64::from(m.record.timestamp.to_native())),
    };
    ChannelFacts {
        channel_id: channel_id.to_string(),
        channel_type,
        exists: state.is_some() || last_seq > 0,
        ban: state.map_or(0, |c| c.info.ban),
        disband: state.map_or(0, |c| c.info.disband),
        subscribers: state.map_or(0, |c| c.subscribers.len() as u64),
        allowlist: state.map_or(0, |c| c.whitelist.len() as u64),
        denylist: state.map_or(0, |c| c.blacklist.len() as u64),
        last_seq,
        last_time,
        shard: s.id(),
    }
}

/// Asks the owner of each channel, one question per owner shard; answers in input order.
async fn facts_of(shard: &Shard, wanted: &[(String, u8)]) -> Vec<ChannelFacts> {
    let mut by_owner: BTreeMap<usize, Vec<(usize, String, u8)>> = BTreeMap::new();
    for (i, (id, ty)) in wanted.iter().enumerate() {
        by_owner
            .entry(shard.channel_owner(id))
            .or_default()
            .push((i, id.clone(), *ty));
    }
    let mut out = vec![ChannelFacts::default(); wanted.len()];
    for (owner, list) in by_owner {
        let ask = list.clone();
        let found: Vec<ChannelFacts> = shard
            .inspect(owner, move |s: &Shard| {
                ask.iter().map(|(_, id, ty)| facts(s, id, *ty)).collect()
            })
            .await;
        for ((i, _, _), f) in list.iter().zip(found) {
            out[*i] = f;
        }
    }
    out
}

/// A `ChannelInfo` object.
fn channel_info(no: usize, f: &ChannelFacts) -> Value {
    json!({
        "id": no,
        "slot": slot_of(&f.channel_id),
        "shard": f.shard,
        "channel_id": f.channel_id,
        "channel_type": f.channel_type,
        "ban": f.ban,
        "disband": f.disband,
        "subscriber_count": f.subscribers,
        "allowlist_count": f.allowlist,
        "denylist_count": f.denylist,
        "last_msg_seq": f.last_seq,
        "last_msg_time": f.last_time * 1_000_000_000,
        "last_msg_time_format": timefmt::short(f.last_time),
        "status_format": if f.ban == 1 { "banned" } else if f.disband == 1 { "disbanded" } else { "normal" },
        "created_at": 0,
        "updated_at": 0,
        "created_at_format": "",
        "updated_at_format": "",
    })
}

/// Filters of `GET /cluster/channels`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct ChannelFilter {
    channel_id: String,
    channel_type: Option<u8>,
    ban: Option<u8>,
    disband: Option<u8>,
    ranges: Vec<(String, Option<u64>, Option<u64>)>,
}

impl ChannelFilter {
    fn from_req(req: &Request) -> Self {
        let opt = |n: &str| {
            req.query_param(n)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let ranges = ["subscriber_count", "denylist_count", "allowlist_count"]
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    opt(&format!("{k}_gte")),
                    opt(&format!("{k}_lte")),
                )
            })
            .collect();
        Self {
            channel_id: req.query_param("channel_id").unwrap_or_default(),
            channel_type: opt("channel_type").filter(|t| *t > 0).map(|t| t as u8),
            ban: opt("ban").map(|v| v as u8),
            disband: opt("disband").map(|v| v as u8),
            ranges,
        }
    }

    fn accepts(&self, f: &ChannelFacts) -> bool {
        let in_range = |name: &str, v: u64| {
            self.ranges
                .iter()
                .filter(|(k, _, _)| k == name)
                .all(|(_, lo, hi)| lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi))
        };
        (self.channel_id.is_empty() || f.channel_id == self.channel_id)
            && self.channel_type.is_none_or(|t| f.channel_type == t)
            && self.ban.is_none_or(|b| f.ban == b)
            && self.disband.is_none_or(|d| f.disband == d)
            && in_range("subscriber_count", f.subscribers)
            && in_range("denylist_count", f.denylist)
            && in_range("allowlist_count", f.allowlist)
    }
}

/// `GET /cluster/channels`: channels with settings, members or messages, from every shard, most
/// recently active first.
async fn channels(shard: &Shard, req: &Request) -> Response {
    let filter = ChannelFilter::from_req(req);
    let limit = match num_param(req, "limit", 20) {
        0 => 20,
        n => n as usize,
    };
    let per_shard = shard
        .inspect_all(move |s: &Shard| -> Vec<ChannelFacts> {
            known_channels(s)
                .iter()
                .map(|(id, ty)| facts(s, id, *ty))
                .filter(|f| filter.accepts(f))
                .collect()
        })
        .await;
    let mut all: Vec<ChannelFacts> = per_shard.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        (b.last_time, b.last_seq)
            .cmp(&(a.last_time, a.last_seq))
            .then_with(|| (&a.channel_id, a.channel_type).cmp(&(&b.channel_id, b.channel_type)))
    });
    let more = u8::from(all.len() > limit);
    let data: Vec<Value> = all
        .iter()
        .take(limit)
        .enumerate()
        .map(|(i, f)| channel_info(i + 1, f))
        .collect();
    Response::json(
        200,
        &json!({"total": all.len(), "more": more, "data": data}),
    )
}

/// `GET /cluster/channels/{channel_id}/{channel_type}/config`.
async fn channel_config(shard: &Shard, channel_id: &str, channel_type: u8) -> Response {
    let f = facts_of(shard, &[(channel_id.to_string(), channel_type)]).await;
    let Some(f) = f.into_iter().next().filter(|f| f.exists) else {
        return Response::error(
            400,
            &format!("channel {channel_id}/{channel_type} not found"),
        );
    };
    let node = shard.ctx.config.cluster.node_id;
    Response::json(
        200,
        &json!({
            "channel_id": f.channel_id,
            "channel_type": f.channel_type,
            "replica_max_count": 1,
            "replicas": [node],
            "learder_id": node,
            "term": 1,
            "conf_version": 1,
            "slot": slot_of(&f.channel_id),
            "shard": f.shard,
        }),
    )
}

#[derive(Deserialize)]
struct StatusReq {
    #[serde(default)]
    channels: Vec<StatusItem>,
}

#[derive(Deserialize)]
struct StatusItem {
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
}

/// `POST /cluster/channel/status`.
async fn channel_status(shard: &Shard, req: &Request) -> Response {
    let r: StatusReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let wanted: Vec<(String, u8)> = r
        .channels
        .into_iter()
        .map(|c| (c.channel_id, c.channel_type))
        .collect();
    let found = facts_of(shard, &wanted).await;
    let out: Vec<Value> = wanted
        .iter()
        .zip(found)
        .map(|((id, ty), f)| {
            json!({
                "channel_id": id,
                "channel_type": ty,
                "running": u8::from(f.exists),
                "last_msg_seq": f.last_seq,
                "last_msg_time": f.last_time * 1_000_000_000,
            })
        })
        .collect();
    Response::json(200, &out)
}
