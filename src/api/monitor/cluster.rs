//! `/cluster/*` (spec http-api §9.4, cluster.md §6): the members and their state, the slots with
//! their leaders, terms, replicas and log indexes (from the replication groups this node
//! hosts), channels with their slot and replicas. A single node shows itself leading its
//! 256 slots.

use super::num_param;
use crate::api::handlers::body;
use crate::api::http::{Method, Request, Response};
use crate::cluster::Leader;
use crate::metrics::timefmt;
use crate::shard::Shard;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Routes `/cluster/...`; `None` for paths it does not know.
pub async fn route(shard: &Shard, req: &Request) -> Option<Response> {
    let get = matches!(req.method, Method::Get | Method::Head);
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    Some(match parts.as_slice() {
        ["cluster", "nodes"] if get => nodes(shard, req, true).await,
        ["cluster", "simpleNodes"] if get => nodes(shard, req, false).await,
        ["cluster", "node"] if get => Response::json(200, &node(shard, true).await),
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
        ["cluster", "nodes", "remove"] if req.method == Method::Post => {
            remove_node(shard, req).await
        }
        ["cluster", "faults"] if req.method == Method::Post => {
            if !shard.ctx.config.cluster.fault_injection {
                return Some(Response::error(
                    403,
                    "fault injection is off (cluster.faultInjection: false)",
                ));
            }
            faults(shard, req).await
        }
        _ => return None,
    })
}

/// One slot as this node sees it.
#[derive(Clone, Debug, Default)]
struct SlotView {
    id: u16,
    /// 0 = unknown.
    leader: u64,
    term: u64,
    replicas: Vec<u64>,
    log_index: u64,
    applied: u64,
    shard: usize,
}

/// Every slot: from the groups this node hosts (term, indexes, membership), else from the
/// topology and the leader hints of other nodes. Single node: this node leads them all.
async fn slot_views(shard: &Shard) -> Vec<SlotView> {
    let me = shard.ctx.config.cluster.node_id;
    let count = shard.ctx.slots.slot_count();
    let hosted: Vec<Vec<SlotView>> = shard
        .inspect_all(|s: &Shard| {
            let Some(raft) = s.raft() else {
                return Vec::new();
            };
            raft.hosted()
                .into_iter()
                .filter_map(|slot| {
                    let (term, log_index, applied, mut replicas) = raft.facts(slot)?;
                    replicas.sort_unstable();
                    let leader = match s.leader(slot) {
                        Leader::Local => s.node() as u64,
                        Leader::Remote(n) => n,
                        Leader::Unknown => 0,
                    };
                    Some(SlotView {
                        id: slot,
                        leader,
                        term,
                        replicas,
                        log_index,
                        applied,
                        shard: s.id(),
                    })
                })
                .collect()
        })
        .await;
    let raft = shard.raft();
    let mut out: Vec<SlotView> = (0..count)
        .map(|id| {
            let (leader, replicas) = match &raft {
                None => (me, vec![me]),
                Some(r) => (
                    match shard.leader(id) {
                        Leader::Local => me,
                        Leader::Remote(n) => n,
                        Leader::Unknown => 0,
                    },
                    r.topology().replicas_of(id),
                ),
            };
            SlotView {
                id,
                leader,
                term: u64::from(raft.is_none()),
                replicas,
                shard: shard.ctx.slots.shard_of_slot(id),
                ..Default::default()
            }
        })
        .collect();
    for v in hosted.into_iter().flatten() {
        let id = v.id as usize;
        out[id] = v;
    }
    out
}

/// This node as a `Node` object (`full` adds uptime and version, as `/cluster/nodes` does).
async fn node(shard: &Shard, full: bool) -> Value {
    let cfg = &shard.ctx.config;
    let me = cfg.cluster.node_id;
    let views = slot_views(shard).await;
    let (addr, api, is_leader) = match shard.raft() {
        Some(r) => {
            let t = r.topology();
            let addr = t
                .member(me)
                .map(|m| format!("{}:{}", m.host, m.port))
                .unwrap_or_default();
            // The cluster's config leader: the lowest id among the nodes online to it.
            let lowest = t
                .members
                .iter()
                .map(|m| m.id)
                .find(|id| *id == me || r.net().is_up(*id));
            (addr, r.net().own_api_url().to_string(), lowest == Some(me))
        }
        None => {
            let addr = if cfg.cluster.server_addr.is_empty() {
                cfg.cluster.addr.clone()
            } else {
                cfg.cluster.server_addr.clone()
            };
            (addr, cfg.external.api_url.clone(), true)
        }
    };
    let replicated = views.iter().filter(|v| v.replicas.contains(&me)).count();
    let led = views.iter().filter(|v| v.leader == me).count();
    let term = views.iter().map(|v| v.term).max().unwrap_or(0);
    let mut v = json!({
        "id": me,
        "role": 0,
        "cluster_addr": addr,
        "api_server_addr": api,
        "online": 1,
        "allow_vote": 1,
        "slot_count": replicated,
        "term": term,
        "slot_leader_count": led,
        "status": 3,
        "status_format": "joined",
        "shard_count": shard.ctx.slots.shards(),
    });
    if is_leader {
        v["is_leader"] = 1.into();
    }
    if full {
        v["uptime"] = timefmt::uptime(shard.ctx.started.elapsed()).into();
        v["app_version"] = env!("CARGO_PKG_VERSION").into();
    }
    v
}

/// `GET /cluster/nodes` and `/cluster/simpleNodes`: this node, and every other member — as
/// it answers `/cluster/node` when its link is up, as an offline record otherwise (one
/// unreachable node never fails the whole view).
async fn nodes(shard: &Shard, req: &Request, full: bool) -> Response {
    let mut data = vec![node(shard, full).await];
    if let Some(r) = shard.raft() {
        for m in r.topology().peers() {
            let url = r.net().api_url(m.id);
            let live = if r.net().is_up(m.id) && !url.is_empty() {
                let ask = Request {
                    method: Method::Get,
                    path: "/cluster/node".into(),
                    query: String::new(),
                    headers: req.headers.clone(),
                    body: Default::default(),
                    keep_alive: false,
                };
                let timeout = shard.ctx.config.cluster.req_timeout.get();
                match crate::api::forward::relay(&url, &ask, shard.node(), timeout).await {
                    Ok(resp) if resp.status == 200 => serde_json::from_slice::<Value>(&resp.body)
                        .ok()
                        .map(|mut v| {
                            v["online"] = 1.into();
                            v
                        }),
                    _ => None,
                }
            } else {
                None
            };
            data.push(live.unwrap_or_else(|| {
                json!({
                    "id": m.id,
                    "role": 0,
                    "cluster_addr": format!("{}:{}", m.host, m.port),
                    "api_server_addr": url,
                    "allow_vote": 1,
                    "offline_count": 1,
                    "status": 3,
                    "status_format": "joined",
                })
            }));
        }
    }
    data.sort_by_key(|v| v["id"].as_u64().unwrap_or(0));
    // One config leader, as this node sees the cluster: the lowest id online.
    let leader = data
        .iter()
        .find(|v| v["online"] == 1)
        .and_then(|v| v["id"].as_u64());
    for v in data.iter_mut() {
        if let Some(o) = v.as_object_mut() {
            o.remove("is_leader");
            if o.get("id").and_then(Value::as_u64) == leader {
                o.insert("is_leader".into(), 1.into());
            }
        }
    }
    Response::json(200, &json!({"total": data.len(), "data": data}))
}

/// Channels (with settings or members) per slot, gathered from every shard.
async fn channels_per_slot(shard: &Shard) -> Vec<u64> {
    let per_shard = shard
        .inspect_all(|s: &Shard| {
            let mut counts: BTreeMap<u16, u64> = BTreeMap::new();
            for (id, _) in known_channels(s) {
                *counts.entry(s.slot_of(&id)).or_default() += 1;
            }
            counts
        })
        .await;
    let mut out = vec![0u64; shard.ctx.slots.slot_count() as usize];
    for m in per_shard {
        for (slot, n) in m {
            out[slot as usize] += n;
        }
    }
    out
}

/// One `Slot` object.
fn slot(v: &SlotView, channel_count: u64) -> Value {
    json!({
        "id": v.id,
        "leader_id": v.leader,
        "term": v.term,
        "replicas": v.replicas,
        "channel_count": channel_count,
        "log_index": v.log_index,
        "status": if v.leader == 0 { 1 } else { 0 },
        "status_format": if v.leader == 0 { "candidate" } else { "normal" },
        "shard": v.shard,
    })
}

/// `GET /cluster/slots?ids=1,2` (all slots without `ids`).
async fn slots(shard: &Shard, req: &Request) -> Response {
    let count = shard.ctx.slots.slot_count();
    let ids: Vec<u16> = match req.query_param("ids").filter(|s| !s.trim().is_empty()) {
        None => (0..count).collect(),
        Some(list) => {
            let mut ids = Vec::new();
            for part in list.split(',') {
                match part.trim().parse::<u16>() {
                    Ok(id) if id < count => ids.push(id),
                    _ => return Response::error(400, &format!("invalid slot id {part:?}")),
                }
            }
            ids
        }
    };
    let counts = channels_per_slot(shard).await;
    let views = slot_views(shard).await;
    let data: Vec<Value> = ids
        .iter()
        .map(|&id| slot(&views[id as usize], counts[id as usize]))
        .collect();
    Response::json(200, &data)
}

/// `GET /cluster/allslot`.
async fn all_slots(shard: &Shard) -> Response {
    let counts = channels_per_slot(shard).await;
    let views = slot_views(shard).await;
    let data: Vec<Value> = views
        .iter()
        .map(|v| slot(v, counts[v.id as usize]))
        .collect();
    Response::json(200, &json!({"total": views.len(), "data": data}))
}

/// `GET /cluster/slots/{id}/config`.
async fn slot_config(shard: &Shard, id: &str) -> Response {
    let id = match id.parse::<u16>() {
        Ok(id) if id < shard.ctx.slots.slot_count() => id,
        _ => return Response::error(400, &format!("invalid slot id {id:?}")),
    };
    let views = slot_views(shard).await;
    let v = &views[id as usize];
    let leader_index = if v.leader == shard.ctx.config.cluster.node_id {
        v.log_index
    } else {
        0
    };
    Response::json(
        200,
        &json!({
            "id": id,
            "leader_id": v.leader,
            "term": v.term,
            "replicas": v.replicas,
            "log_max_index": v.log_index,
            "leader_log_max_index": leader_index,
            "applied_index": v.applied,
            "shard": v.shard,
        }),
    )
}

/// Whether every slot has a leader (cluster `/health` answers 500 until then).
pub async fn all_led(shard: &Shard) -> bool {
    slot_views(shard).await.iter().all(|v| v.leader != 0)
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
fn channel_info(shard: &Shard, no: usize, f: &ChannelFacts) -> Value {
    json!({
        "id": no,
        "slot": shard.slot_of(&f.channel_id),
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
        .map(|(i, f)| channel_info(shard, i + 1, f))
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
    // A channel's replicas and leader are its slot's (Jindou replicates by slot).
    let slot = shard.slot_of(&f.channel_id);
    let views = slot_views(shard).await;
    let v = &views[slot as usize];
    Response::json(
        200,
        &json!({
            "channel_id": f.channel_id,
            "channel_type": f.channel_type,
            "replica_max_count": v.replicas.len(),
            "replicas": v.replicas,
            "learder_id": v.leader,
            "leader_id": v.leader,
            "term": v.term,
            "conf_version": 1,
            "slot": slot,
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

#[derive(Deserialize)]
struct RemoveReq {
    node_id: u64,
}

/// `POST /cluster/nodes/remove {"node_id": N}`: takes node N out of the cluster through the
/// configuration group (forwarded to its leader); the slot groups then move N's replicas to
/// the remaining members. Answers once this node applied the new member list (200), 404 for
/// a node that is not a member, 504 when the change did not apply within `reqTimeout`.
async fn remove_node(shard: &Shard, req: &Request) -> Response {
    let r: RemoveReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if shard.raft().is_none() {
        return Response::error(400, "not a cluster member");
    }
    let id = r.node_id;
    let members = shard
        .inspect(0, |s: &Shard| {
            s.raft().map(|r| r.members()).unwrap_or_default()
        })
        .await;
    if members.len() == 1 && members[0].id == id {
        return Response::error(400, "the last member cannot be removed");
    }
    let Some(member) = members.into_iter().find(|m| m.id == id) else {
        return Response::error(404, &format!("node {id} is not a member"));
    };
    let change = crate::cluster::change_cmd(false, &member);
    shard
        .inspect(0, move |s: &Shard| {
            if let Some(r) = s.raft() {
                r.request_change(change, true);
            }
        })
        .await;
    let deadline = std::time::Instant::now() + shard.ctx.config.cluster.req_timeout.get();
    loop {
        let gone = shard
            .inspect(0, move |s: &Shard| {
                s.raft()
                    .is_some_and(|r| r.members().iter().all(|m| m.id != id))
            })
            .await;
        if gone {
            tracing::info!(node = id, "node removed from the cluster");
            return Response::json(200, &json!({"status": 200}));
        }
        if std::time::Instant::now() >= deadline {
            return Response::error(504, &format!("node {id} not removed yet; look again"));
        }
        monoio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[derive(Deserialize)]
struct FaultsReq {
    #[serde(default)]
    isolate: bool,
}

/// `POST /cluster/faults {"isolate": true|false}` (only with `cluster.faultInjection`): cuts
/// this node off from its peers on every shard, or reconnects it — a partition for tests.
async fn faults(shard: &Shard, req: &Request) -> Response {
    let r: FaultsReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if shard.raft().is_none() {
        return Response::error(400, "not a cluster member");
    }
    let on = r.isolate;
    shard
        .inspect_all(move |s: &Shard| {
            if let Some(raft) = s.raft() {
                raft.net().isolate(on);
            }
        })
        .await;
    tracing::warn!(isolated = on, "fault injection: node isolation");
    Response::json_text(200, &br#"{"status":200}"#[..])
}
