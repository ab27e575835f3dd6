//! Conversation endpoints (spec http-api §8). Conversations live on the user's owner shard;
//! their recent messages are read from each channel's owner shard.

use super::{body, call_owner, respond};
use crate::api::http::{Request, Response};
use crate::api::reads::{self, Recent, RecentsWanted};
use crate::proto::ChannelType;
use crate::shard::ids::SYSTEM_UID;
use crate::shard::ingress::storage_channel;
use crate::shard::meta::MetaRecord;
use crate::shard::ops::OwnerOp;
use crate::shard::users::Conversation;
use crate::shard::Shard;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// A user's stored conversations, most recent first, at most `conversation.userMaxCount`:
/// (channel id as seen, type, state), chosen on the user's owner.
async fn conversations_of(shard: &Shard, uid: &str) -> Vec<(String, u8, Conversation)> {
    let owner = shard.user_owner(uid);
    let max = shard.ctx.config.conversation.user_max_count;
    let uid = uid.to_string();
    shard
        .inspect(owner, move |s: &Shard| {
            s.users.borrow().conversations_of(&uid, max)
        })
        .await
}

/// Asks each channel's owner for recents (the answer's byte budget shared between the
/// owners); returns (storage id, type) → recents.
async fn recents(
    shard: &Shard,
    wanted: Vec<RecentsWanted>,
    viewer: &str,
) -> HashMap<(String, u8), Recent> {
    let mut by_owner: BTreeMap<usize, Vec<RecentsWanted>> = BTreeMap::new();
    for w in wanted {
        by_owner
            .entry(shard.channel_owner(&w.channel_id))
            .or_default()
            .push(w);
    }
    let max_bytes = reads::MAX_ANSWER_BYTES / by_owner.len().max(1);
    let mut out = HashMap::new();
    for (owner, channels) in by_owner {
        let rows = reads::recents(shard, owner, channels, viewer.to_string(), max_bytes).await;
        for row in rows {
            out.insert((row.channel_id.clone(), row.channel_type), row);
        }
    }
    out
}

#[derive(Deserialize)]
struct SyncJson {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    version: i64,
    #[serde(default)]
    last_msg_seqs: String,
    #[serde(default)]
    msg_count: usize,
    #[serde(default)]
    only_unread: u8,
    #[serde(default)]
    exclude_channel_types: Vec<u8>,
}

/// `POST /conversation/sync`: the user's conversations (at most `conversation.userMaxCount`,
/// most recent first) with up to `msg_count` recent messages each, capped at
/// [`reads::MAX_RECENTS_PER_CHANNEL`] and at [`reads::MAX_RECENTS_TOTAL`] in all (shared
/// evenly). A conversation whose recents did not fit the answer's byte budget is listed with
/// empty `recents`.
pub async fn sync(shard: &Shard, req: &Request) -> Response {
    let r: SyncJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.uid.is_empty() {
        return Response::error(400, "uid is required");
    }
    if r.msg_count == 0 {
        return Response::json_text(200, &b"[]"[..]);
    }
    let client_seqs: HashMap<(String, u8), u64> = r
        .last_msg_seqs
        .split('|')
        .filter_map(|item| {
            let mut p = item.rsplitn(3, ':');
            let seq = p.next()?.parse().ok()?;
            let ty = p.next()?.parse().ok()?;
            Some(((p.next()?.to_string(), ty), seq))
        })
        .collect();
    let convs = conversations_of(shard, &r.uid).await;
    let mut wanted = Vec::new();
    let mut meta = Vec::new();
    for (id, ty, conv) in convs {
        let key = (id.clone(), ty);
        let client = client_seqs.get(&key).copied();
        if client.is_none() && r.exclude_channel_types.contains(&ty) {
            continue;
        }
        if ty == ChannelType::PERSON.0 && id == SYSTEM_UID {
            continue;
        }
        let mut bound = match client {
            Some(s) => s + 1,
            None if r.version > 0 || r.only_unread == 1 => conv.readed_to_msg_seq + 1,
            None => 0,
        };
        if conv.deleted_to_seq > 0 {
            bound = bound.max(conv.deleted_to_seq + 1);
        }
        let sid = storage_channel(&r.uid, &id, ty, false);
        wanted.push(RecentsWanted {
            channel_id: sid.clone(),
            channel_type: ty,
            from_seq: bound,
            limit: 0,
            ascending: false,
        });
        meta.push((id, ty, sid, conv, client));
    }
    let per_channel = reads::recents_per_channel(r.msg_count, wanted.len());
    for w in &mut wanted {
        w.limit = per_channel;
    }
    let got = recents(shard, wanted, &r.uid).await;
    let mut items = Vec::new();
    for (id, ty, sid, conv, client) in meta {
        let Some(recent) = got.get(&(sid, ty)) else {
            continue;
        };
        let newest = recent.last_seq;
        let msgs = &recent.messages;
        if (msgs.is_empty() && !recent.capped) || client.is_some_and(|c| c >= newest) {
            continue;
        }
        let first = msgs.first();
        let sent_by_me = first.is_some_and(|m| m["from_uid"].as_str() == Some(r.uid.as_str()));
        // Messages deleted with their channel (`/channel/delete`) count as read.
        let readed = if sent_by_me {
            newest
        } else {
            conv.readed_to_msg_seq.max(recent.purged_to)
        };
        let unread = if sent_by_me {
            0
        } else if newest > readed {
            newest - readed
        } else {
            conv.unread
        };
        let ts = first
            .and_then(|m| m["timestamp"].as_i64())
            .unwrap_or(conv.timestamp);
        items.push(json!({
            "channel_id": id,
            "channel_type": ty,
            "unread": unread,
            "timestamp": ts,
            "last_msg_seq": newest,
            "last_client_msg_no": first.map_or(Value::from(""), |m| m["client_msg_no"].clone()),
            "offset_msg_seq": 0,
            "readed_to_msg_seq": readed,
            "version": ts.saturating_mul(1_000_000_000),
            "recents": msgs,
        }));
    }
    Response::json(200, &items)
}

#[derive(Deserialize)]
struct ChannelSeq {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    last_msg_seq: u64,
}

#[derive(Deserialize)]
struct SyncMessagesJson {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    channels: Vec<ChannelSeq>,
    #[serde(default)]
    msg_count: Option<usize>,
    #[serde(default)]
    order_by_last: u8,
}

/// `POST /conversation/syncMessages` (storage ids): at most [`reads::MAX_SYNC_CHANNELS`]
/// channels (more is a 400), `msg_count` (default 15) capped as for `/conversation/sync`.
pub async fn sync_messages(shard: &Shard, req: &Request) -> Response {
    let r: SyncMessagesJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channels.len() > reads::MAX_SYNC_CHANNELS {
        return Response::error(
            400,
            &format!(
                "at most {} channels per request ({} given)",
                reads::MAX_SYNC_CHANNELS,
                r.channels.len()
            ),
        );
    }
    let count = reads::recents_per_channel(r.msg_count.unwrap_or(15), r.channels.len());
    let asc = r.order_by_last == 0;
    let wanted = r
        .channels
        .iter()
        .map(|c| RecentsWanted {
            channel_id: c.channel_id.clone(),
            channel_type: c.channel_type,
            from_seq: c.last_msg_seq,
            limit: count,
            ascending: asc,
        })
        .collect();
    let got = recents(shard, wanted, &r.uid).await;
    let rows: Vec<Value> = r
        .channels
        .iter()
        .map(|c| {
            let msgs = got
                .get(&(c.channel_id.clone(), c.channel_type))
                .map(|g| g.messages.clone())
                .unwrap_or_default();
            json!({"channel_id": c.channel_id, "channel_type": c.channel_type, "messages": msgs})
        })
        .collect();
    Response::json(200, &rows)
}

#[derive(Deserialize)]
struct UnreadJson {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    unread: i64,
}

/// The newest seq of a channel (storage id), asked of its owner.
pub async fn newest_seq(shard: &Shard, sid: &str, ty: u8) -> u64 {
    let id = sid.to_string();
    shard
        .inspect(shard.channel_owner(sid), move |s: &Shard| {
            s.store.borrow().messages.max_seq(&id, ty)
        })
        .await
}

/// `POST /conversations/clearUnread` (`clear`) and `/conversations/setUnread`.
pub async fn set_unread(shard: &Shard, req: &Request, clear: bool) -> Response {
    let r: UnreadJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.uid.is_empty() || r.channel_id.is_empty() || r.channel_type == 0 {
        return Response::error(400, "uid, channel_id and channel_type are required");
    }
    let sid = storage_channel(&r.uid, &r.channel_id, r.channel_type, false);
    let last = newest_seq(shard, &sid, r.channel_type).await;
    let readed = if clear || r.unread <= 0 {
        last
    } else if r.unread as u64 > last {
        last.saturating_sub(1)
    } else {
        last - r.unread as u64
    };
    let rec = MetaRecord::ConvPos {
        uid: r.uid,
        channel_id: r.channel_id,
        channel_type: r.channel_type,
        readed_to: Some(readed),
        deleted_to: None,
        cmd: false,
    };
    let owner = shard.meta_owner_of_user(&rec);
    respond(call_owner(shard, owner, OwnerOp::Meta(rec)).await)
}

/// `POST /conversations/delete`: hides the conversation until newer messages arrive.
pub async fn delete(shard: &Shard, req: &Request) -> Response {
    let r: UnreadJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.uid.is_empty() || r.channel_id.is_empty() || r.channel_type == 0 {
        return Response::error(400, "uid, channel_id and channel_type are required");
    }
    let sid = storage_channel(&r.uid, &r.channel_id, r.channel_type, false);
    let last = newest_seq(shard, &sid, r.channel_type).await;
    let rec = MetaRecord::ConvPos {
        uid: r.uid,
        channel_id: r.channel_id,
        channel_type: r.channel_type,
        readed_to: None,
        deleted_to: Some(last),
        cmd: false,
    };
    let owner = shard.meta_owner_of_user(&rec);
    respond(call_owner(shard, owner, OwnerOp::Meta(rec)).await)
}

#[derive(Deserialize)]
struct UidJson {
    #[serde(default)]
    uid: String,
}

/// `POST /conversation/channels`: the user's chats with their storage ids (`A@B` for person).
pub async fn channels(shard: &Shard, req: &Request) -> Response {
    let r: UidJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.uid.is_empty() {
        return Response::error(400, "uid is required");
    }
    let convs = conversations_of(shard, &r.uid).await;
    let rows: Vec<Value> = convs
        .into_iter()
        .map(|(id, ty, _)| {
            let sid = storage_channel(&r.uid, &id, ty, false);
            json!({"channel_id": sid, "channel_type": ty})
        })
        .collect();
    Response::json(200, &rows)
}

#[derive(Deserialize)]
struct ChannelKey {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
}

#[derive(Deserialize)]
struct SyncByChannelsJson {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    channels: Vec<ChannelKey>,
    #[serde(default)]
    msg_count: i64,
}

/// `POST /conversation/syncByChannels {uid, channels:[{channel_id, channel_type}],
/// msg_count}`: one item per requested channel, in request order, even without a
/// conversation or messages (`recents: []`), with up to `msg_count` (≤ 0: 15) recents each,
/// capped like `/conversation/sync`; at most [`reads::MAX_SYNC_CHANNELS`] channels. Delete
/// positions are not applied (as in WuKongIM).
pub async fn sync_by_channels(shard: &Shard, req: &Request) -> Response {
    let r: SyncByChannelsJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.uid.is_empty() {
        return Response::error(400, "uid is required");
    }
    if r.channels.is_empty() {
        return Response::error(400, "channels is required");
    }
    if r.channels.len() > reads::MAX_SYNC_CHANNELS {
        return Response::error(
            400,
            &format!(
                "at most {} channels per request ({} given)",
                reads::MAX_SYNC_CHANNELS,
                r.channels.len()
            ),
        );
    }
    let msg_count = if r.msg_count <= 0 {
        15
    } else {
        r.msg_count as usize
    };
    let keys: Vec<(String, u8)> = r
        .channels
        .into_iter()
        .map(|c| (c.channel_id, c.channel_type))
        .collect();
    let convs: Vec<Option<Conversation>> = {
        let (uid, keys) = (r.uid.clone(), keys.clone());
        shard
            .inspect(shard.user_owner(&r.uid), move |s: &Shard| {
                let users = s.users.borrow();
                let user = users.get(&uid);
                keys.iter()
                    .map(|k| user.and_then(|u| u.conversations.get(k).cloned()))
                    .collect()
            })
            .await
    };
    let per_channel = reads::recents_per_channel(msg_count, keys.len());
    let wanted = keys
        .iter()
        .map(|(id, ty)| RecentsWanted {
            channel_id: storage_channel(&r.uid, id, *ty, false),
            channel_type: *ty,
            from_seq: 0,
            limit: per_channel,
            ascending: false,
        })
        .collect();
    let got = recents(shard, wanted, &r.uid).await;
    let items: Vec<Value> = keys
        .iter()
        .zip(convs)
        .map(|((id, ty), conv)| {
            let conv = conv.unwrap_or_default();
            let sid = storage_channel(&r.uid, id, *ty, false);
            let recent = got.get(&(sid, *ty));
            let empty = Vec::new();
            let msgs = recent.map_or(&empty, |g| &g.messages);
            let newest = recent.map_or(0, |g| g.last_seq);
            let purged = recent.map_or(0, |g| g.purged_to);
            let first = msgs.first();
            // Unread is lowered to what follows the user's own last message (the owner
            // moves the read position to every message its sender sends; the recents cover
            // a channel whose conversation the user has not got).
            let own_last = msgs
                .iter()
                .find(|m| m["from_uid"].as_str() == Some(r.uid.as_str()))
                .and_then(|m| m["message_seq"].as_u64())
                .unwrap_or(0);
            let readed = conv.readed_to_msg_seq.max(purged).max(own_last).min(newest);
            let unread = newest - readed;
            let ts = first
                .and_then(|m| m["timestamp"].as_i64())
                .unwrap_or(conv.timestamp);
            json!({
                "channel_id": id,
                "channel_type": ty,
                "unread": unread,
                "timestamp": ts,
                "last_msg_seq": newest,
                "last_client_msg_no": first.map_or(Value::from(""), |m| m["client_msg_no"].clone()),
                "offset_msg_seq": 0,
                "readed_to_msg_seq": readed,
                "version": ts.saturating_mul(1_000_000_000),
                "recents": msgs,
            })
        })
        .collect();
    Response::json(200, &items)
}
