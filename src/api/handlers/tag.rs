//! Receiver tags (spec wukongim-2.2.5 §3.7, admin UI diagnostics). WuKongIM caches, per
//! channel, which node serves which members; Jindou keeps no such cache (the channel's owner
//! reads its member list on every send), so `GET /tag` and `GET /tags` describe the tag a
//! channel's members make now — members grouped by the node leading their slot — and
//! `POST /tag/remove` has nothing to drop. A tag's key is `<channel_type>:<channel_id>`.

use super::body;
use crate::api::http::{Request, Response};
use crate::cluster::Leader;
use crate::metrics::timefmt;
use crate::shard::meta::ListKind;
use crate::shard::Shard;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Most tags `GET /tags` lists.
pub const MAX_TAGS: usize = 1000;

/// The key of a channel's tag.
fn tag_key(channel_id: &str, channel_type: u8) -> String {
    format!("{channel_type}:{channel_id}")
}

/// The channel a tag key names.
fn parse_key(key: &str) -> Option<(String, u8)> {
    let (ty, id) = key.split_once(':')?;
    let ty = ty.parse().ok()?;
    (!id.is_empty()).then(|| (id.to_string(), ty))
}

/// One node's part of a tag: (leader node, its uids, their slots).
type NodePart = (u64, Vec<String>, Vec<u16>);

/// Groups `uids` by the node leading their slot (0 while a slot has no known leader).
fn nodes_of(shard: &Shard, uids: Vec<String>) -> Vec<NodePart> {
    let mut by_node: BTreeMap<u64, (Vec<String>, Vec<u16>)> = BTreeMap::new();
    for uid in uids {
        let slot = shard.slot_of(&uid);
        let node = match shard.leader(slot) {
            Leader::Local => u64::from(shard.node()),
            Leader::Remote(n) => n,
            Leader::Unknown => 0,
        };
        let part = by_node.entry(node).or_default();
        part.0.push(uid);
        if !part.1.contains(&slot) {
            part.1.push(slot);
        }
    }
    by_node
        .into_iter()
        .map(|(node, (uids, mut slots))| {
            slots.sort_unstable();
            (node, uids, slots)
        })
        .collect()
}

/// The members of a channel, asked of its owner (`None`: no such channel).
async fn members(shard: &Shard, channel_id: &str, channel_type: u8) -> Option<Vec<String>> {
    let id = channel_id.to_string();
    shard
        .inspect(shard.channel_owner(channel_id), move |s: &Shard| {
            let channels = s.channels.borrow();
            channels.get(&id, channel_type)?;
            Some(channels.list(&id, channel_type, ListKind::Subscribers))
        })
        .await
}

/// The channel a request names: `tag_key`, else `channel_id` and `channel_type`.
fn channel_of(req: &Request) -> Option<(String, u8)> {
    match req.query_param("tag_key").filter(|k| !k.is_empty()) {
        Some(key) => parse_key(&key),
        None => {
            let id = req.query_param("channel_id").unwrap_or_default();
            let ty = req
                .query_param("channel_type")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            (!id.is_empty()).then_some((id, ty))
        }
    }
}

/// `GET /tag?tag_key=` or `?channel_id=&channel_type=`: the channel's tag, or 400
/// `tag not found` for a channel that does not exist.
pub async fn tag(shard: &Shard, req: &Request) -> Response {
    let Some((id, ty)) = channel_of(req) else {
        return Response::error(400, "tag not found");
    };
    let Some(uids) = members(shard, &id, ty).await else {
        return Response::error(400, "tag not found");
    };
    let now = timefmt::rfc3339(timefmt::now_secs());
    let nodes: Vec<Value> = nodes_of(shard, uids)
        .into_iter()
        .map(|(node, uids, slots)| json!({"leader_id": node, "uids": uids, "slot_ids": slots}))
        .collect();
    Response::json(
        200,
        &json!({
            "key": tag_key(&id, ty),
            "channel_id": id,
            "channel_type": ty,
            "nodes": nodes,
            "created_at": now,
            "last_get_time": now,
            "node_version": 0,
            "get_count": 0,
        }),
    )
}

/// `GET /tags?channel_id=&channel_type=` | `?tag_key=` | `?node_id=`: the tags of the named
/// channel, or of every channel with members (at most [`MAX_TAGS`], by channel), those with
/// members on node `node_id` only when it is given.
pub async fn tags(shard: &Shard, req: &Request) -> Response {
    let node_filter: u64 = req
        .query_param("node_id")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let channels: Vec<(String, u8, Vec<String>)> = match channel_of(req) {
        Some((id, ty)) => members(shard, &id, ty)
            .await
            .map(|uids| vec![(id, ty, uids)])
            .unwrap_or_default(),
        None => {
            let per_shard = shard
                .inspect_all(|s: &Shard| {
                    s.channels
                        .borrow()
                        .iter()
                        .filter(|(_, c)| !c.subscribers.is_empty())
                        .take(MAX_TAGS)
                        .map(|((id, ty), c)| {
                            let uids = c.subscribers.iter().map(|u| u.to_string()).collect();
                            (id.clone(), *ty, uids)
                        })
                        .collect::<Vec<_>>()
                })
                .await;
            let mut all: Vec<_> = per_shard.into_iter().flatten().collect();
            all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            all
        }
    };
    let now = timefmt::now_secs();
    let mut rows = Vec::new();
    for (id, ty, uids) in channels {
        let nodes = nodes_of(shard, uids);
        if node_filter != 0 && !nodes.iter().any(|n| n.0 == node_filter) {
            continue;
        }
        let nodes: Vec<Value> = nodes
            .into_iter()
            .map(|(node, uids, slots)| {
                json!({"leader_id": node, "uid_count": uids.len(), "uids": uids, "slot_ids": slots})
            })
            .collect();
        rows.push(json!({
            "key": tag_key(&id, ty),
            "channel_id": id,
            "channel_type": ty,
            "nodes": nodes,
            "created_at": timefmt::short(now),
            "expire_at": timefmt::short(now),
            "last_get_at": timefmt::short(now),
            "node_version": 0,
            "get_count": 0,
        }));
        if rows.len() == MAX_TAGS {
            break;
        }
    }
    Response::json(200, &rows)
}

/// `POST /tag/remove {tag_key | channel_id + channel_type, node_id}`: OK (there is no cached
/// tag to drop; a bad JSON body is a 400).
pub async fn remove(_shard: &Shard, req: &Request) -> Response {
    match body::<serde_json::Map<String, Value>>(req) {
        Ok(_) => super::ok(),
        Err(resp) => resp,
    }
}
