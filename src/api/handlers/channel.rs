//! Channel endpoints (spec http-api §6).

use super::{body, call_owner, respond};
use crate::api::http::{Request, Response};
use crate::proto::ChannelType;
use crate::shard::channels::ChannelInfo;
use crate::shard::ids::valid_id;
use crate::shard::meta::{ListKind, ListMode, MetaRecord};
use crate::shard::ops::OwnerOp;
use crate::shard::Shard;
use serde::Deserialize;

#[derive(Deserialize)]
struct ChannelReq {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    ban: u8,
    #[serde(default)]
    disband: u8,
    #[serde(default)]
    send_ban: u8,
    #[serde(default)]
    allow_stranger: u8,
    #[serde(default)]
    reset: u8,
    #[serde(default)]
    subscribers: Vec<String>,
}

impl ChannelReq {
    /// The settings the request carries (writing info replaces all flags, spec §6).
    fn info(&self) -> ChannelInfo {
        ChannelInfo {
            ban: self.ban,
            disband: self.disband,
            send_ban: self.send_ban,
            allow_stranger: self.allow_stranger,
            extra: Default::default(),
        }
    }
}

fn check_id(id: &str, ty: u8) -> Result<(), Response> {
    if id.is_empty() || !valid_id(id) {
        return Err(Response::error(
            400,
            "channel_id is empty or has a reserved character",
        ));
    }
    if ty == 0 {
        return Err(Response::error(400, "channel_type is required"));
    }
    Ok(())
}

/// `POST /channel`: create or update a channel and add members.
pub async fn create(shard: &Shard, req: &Request) -> Response {
    let r: ChannelReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if let Err(resp) = check_id(&r.channel_id, r.channel_type) {
        return resp;
    }
    if r.channel_type == ChannelType::PERSON.0 && !r.subscribers.is_empty() {
        return Response::error(400, "a person channel has no subscribers");
    }
    if r.channel_type == ChannelType::PERSON.0 {
        let rec = MetaRecord::ChannelUpsert {
            info: r.info(),
            channel_id: r.channel_id,
            channel_type: r.channel_type,
        };
        let owner = shard.meta_owner(&rec);
        return respond(call_owner(shard, owner, OwnerOp::Meta(rec)).await);
    }
    let owner = shard.channel_owner(&r.channel_id);
    respond(
        call_owner(
            shard,
            owner,
            OwnerOp::ChannelUpsert {
                info: Some(r.info()),
                channel_id: r.channel_id,
                channel_type: r.channel_type,
                reset: r.reset == 1,
                subscribers: r.subscribers,
            },
        )
        .await,
    )
}

#[derive(Deserialize)]
struct SubscribersReq {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    reset: u8,
    #[serde(default)]
    temp_subscriber: u8,
    #[serde(default)]
    subscribers: Vec<String>,
}

/// `POST /channel/subscriber_add` and `/channel/subscriber_remove` (which also removes the
/// removed members' conversations of the channel, except for live channels).
pub async fn subscribers(shard: &Shard, req: &Request, remove: bool) -> Response {
    let mut r: SubscribersReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channel_type == 0 {
        r.channel_type = ChannelType::GROUP.0;
    }
    if let Err(resp) = check_id(&r.channel_id, r.channel_type) {
        return resp;
    }
    if r.subscribers.iter().all(|s| s.trim().is_empty()) {
        return Response::error(400, "subscribers are required");
    }
    if r.channel_type == ChannelType::PERSON.0 {
        return Response::error(400, "a person channel has no subscribers");
    }
    if !remove && r.temp_subscriber == 1 {
        return Response::error(400, "temp subscribers are no longer supported");
    }
    let owner = shard.channel_owner(&r.channel_id);
    let uids: Vec<String> = r
        .subscribers
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect();
    if remove {
        let op = OwnerOp::Meta(MetaRecord::List {
            channel_id: r.channel_id.clone(),
            channel_type: r.channel_type,
            list: ListKind::Subscribers,
            mode: ListMode::Remove,
            uids: uids.clone(),
        });
        if let Err(e) = call_owner(shard, owner, op).await {
            return super::failure(&e);
        }
        if r.channel_type == ChannelType::LIVE.0 {
            return super::ok();
        }
        return respond(remove_conversations(shard, &r.channel_id, r.channel_type, uids).await);
    }
    let op = {
        OwnerOp::ChannelUpsert {
            channel_id: r.channel_id,
            channel_type: r.channel_type,
            info: None,
            reset: r.reset == 1,
            subscribers: uids,
        }
    };
    respond(call_owner(shard, owner, op).await)
}

/// Removes `uids`' conversations of a channel (each on the user's owner, all at once).
pub async fn remove_conversations(
    shard: &Shard,
    channel_id: &str,
    channel_type: u8,
    uids: Vec<String>,
) -> Result<(), crate::shard::error::OwnerError> {
    let calls = uids.into_iter().map(|uid| {
        let rec = MetaRecord::ConvRemove {
            uid,
            channel_id: channel_id.to_string(),
            channel_type,
        };
        let owner = shard.meta_owner(&rec);
        call_owner(shard, owner, OwnerOp::Meta(rec))
    });
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .collect()
}

/// `POST /channel/info`: replace a channel's settings.
pub async fn info(shard: &Shard, req: &Request) -> Response {
    let r: ChannelReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if let Err(resp) = check_id(&r.channel_id, r.channel_type) {
        return resp;
    }
    let rec = MetaRecord::ChannelUpsert {
        info: r.info(),
        channel_id: r.channel_id,
        channel_type: r.channel_type,
    };
    let owner = shard.meta_owner(&rec);
    respond(call_owner(shard, owner, OwnerOp::Meta(rec)).await)
}

#[derive(Deserialize)]
struct ChannelKeyReq {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
}

/// `POST /channel/delete`: forget a channel (its members and lists) and delete its messages:
/// no read shows them any more; a channel created again under the same id starts empty, its
/// seqs going on above the deleted ones.
pub async fn delete(shard: &Shard, req: &Request) -> Response {
    let r: ChannelKeyReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if let Err(resp) = check_id(&r.channel_id, r.channel_type) {
        return resp;
    }
    if r.channel_type == ChannelType::PERSON.0 {
        return Response::error(400, "a person channel cannot be deleted");
    }
    let owner = shard.channel_owner(&r.channel_id);
    let op = OwnerOp::ChannelDelete {
        channel_id: r.channel_id,
        channel_type: r.channel_type,
    };
    respond(call_owner(shard, owner, op).await)
}

#[derive(Deserialize)]
struct ListReq {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    uids: Vec<String>,
}

/// `POST /channel/{blacklist,whitelist}_{add,set,remove}`.
pub async fn list(shard: &Shard, req: &Request, which: &str, how: &str) -> Response {
    let r: ListReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let set = how == "set";
    if r.channel_id.is_empty() || !valid_id(&r.channel_id) {
        return Response::error(400, "channel_id is empty or has a reserved character");
    }
    if !set {
        if r.channel_type == 0 {
            return Response::error(400, "channel_type is required");
        }
        if r.uids.iter().all(|u| u.trim().is_empty()) {
            return Response::error(400, "uids are required");
        }
    }
    let rec = MetaRecord::List {
        channel_id: r.channel_id,
        channel_type: r.channel_type,
        list: if which == "blacklist" {
            ListKind::Blacklist
        } else {
            ListKind::Whitelist
        },
        mode: match how {
            "add" => ListMode::Add,
            "set" => ListMode::Set,
            _ => ListMode::Remove,
        },
        uids: r
            .uids
            .into_iter()
            .filter(|u| !u.trim().is_empty())
            .collect(),
    };
    let owner = shard.meta_owner(&rec);
    respond(call_owner(shard, owner, OwnerOp::Meta(rec)).await)
}

/// `POST /channel/subscriber_remove_all`, `/channel/blacklist_remove_all`,
/// `/channel/whitelist_remove_all` (`{channel_id, channel_type}`): empties one list. The
/// members' conversations are kept (unlike `/channel/subscriber_remove`).
pub async fn remove_all(shard: &Shard, req: &Request, list: ListKind) -> Response {
    let r: ChannelKeyReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channel_id.is_empty() {
        return Response::error(400, "channel_id is required");
    }
    if r.channel_type == 0 {
        return Response::error(400, "channel_type is required");
    }
    if matches!(list, ListKind::Subscribers) && r.channel_type == ChannelType::PERSON.0 {
        return Response::error(400, "a person channel has no subscribers to remove");
    }
    let rec = MetaRecord::List {
        channel_id: r.channel_id,
        channel_type: r.channel_type,
        list,
        mode: ListMode::Set,
        uids: Vec::new(),
    };
    let owner = shard.meta_owner(&rec);
    respond(call_owner(shard, owner, OwnerOp::Meta(rec)).await)
}

#[derive(Deserialize)]
struct TmpSubscribersReq {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    uids: Vec<String>,
}

/// `POST /tmpchannel/subscriber_set {channel_id, uids}`: the members of temp channel
/// `(channel_id, 8)` become exactly `uids`, so a `/message/send` to that channel (type 8)
/// reaches them. Unlike WuKongIM, which only caches them on the node, they are stored as the
/// temp channel's members.
pub async fn tmp_subscriber_set(shard: &Shard, req: &Request) -> Response {
    let r: TmpSubscribersReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channel_id.is_empty() || !valid_id(&r.channel_id) {
        return Response::error(400, "channel_id is empty or has a reserved character");
    }
    let uids: Vec<String> = r
        .uids
        .into_iter()
        .filter(|u| !u.trim().is_empty())
        .collect();
    if uids.is_empty() {
        return Response::error(400, "uids are required");
    }
    let owner = shard.channel_owner(&r.channel_id);
    let op = OwnerOp::ChannelUpsert {
        channel_id: r.channel_id,
        channel_type: ChannelType::TEMP.0,
        info: None,
        reset: true,
        subscribers: uids,
    };
    respond(call_owner(shard, owner, op).await)
}

fn key_from_query(req: &Request) -> (String, u8) {
    (
        req.query_param("channel_id").unwrap_or_default(),
        req.query_param("channel_type")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
    )
}

/// `GET /channel/whitelist?channel_id=&channel_type=`: member objects (v2's shape).
pub async fn get_whitelist(shard: &Shard, req: &Request) -> Response {
    let (channel_id, channel_type) = key_from_query(req);
    let person = channel_type == ChannelType::PERSON.0;
    let owner = if person {
        crate::shard::globals::GLOBALS_OWNER
    } else {
        shard.channel_owner(&channel_id)
    };
    let uids = shard
        .inspect(owner, move |s: &Shard| {
            if person {
                s.globals
                    .borrow()
                    .person_list(&channel_id, ListKind::Whitelist)
            } else {
                s.channels
                    .borrow()
                    .list(&channel_id, channel_type, ListKind::Whitelist)
            }
        })
        .await;
    let rows: Vec<_> = uids
        .iter()
        .enumerate()
        .map(|(i, u)| serde_json::json!({"id": i + 1, "uid": u}))
        .collect();
    Response::json(200, &rows)
}

/// `GET /channel/max_message_seq?channel_id=&channel_type=` (storage id).
pub async fn max_seq(shard: &Shard, req: &Request) -> Response {
    let (channel_id, channel_type) = key_from_query(req);
    let seq = super::conversation::newest_seq(shard, &channel_id, channel_type).await;
    Response::json(200, &serde_json::json!({ "message_seq": seq }))
}
