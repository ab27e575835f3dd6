//! Channel endpoints (spec http-api §6).

use super::{body, call_owner, respond};
use crate::api::http::{Request, Response};
use crate::proto::ChannelType;
use crate::shard::api_ops::ApiReq;
use crate::shard::channels::ChannelInfo;
use crate::shard::ids::valid_id;
use crate::shard::meta::{ListKind, ListMode};
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
    let owner = shard.channel_owner(&r.channel_id);
    respond(
        call_owner(
            shard,
            owner,
            ApiReq::ChannelUpsert {
                channel_id: r.channel_id,
                channel_type: r.channel_type,
                info: Some(ChannelInfo {
                    ban: r.ban,
                    disband: r.disband,
                    send_ban: r.send_ban,
                    allow_stranger: r.allow_stranger,
                    extra: Default::default(),
                }),
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

/// `POST /channel/subscriber_add` and `/channel/subscriber_remove`.
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
    let req = if remove {
        ApiReq::List {
            channel_id: r.channel_id,
            channel_type: r.channel_type,
            list: ListKind::Subscribers,
            mode: ListMode::Remove,
            uids,
        }
    } else {
        ApiReq::ChannelUpsert {
            channel_id: r.channel_id,
            channel_type: r.channel_type,
            info: None,
            reset: r.reset == 1,
            subscribers: uids,
        }
    };
    respond(call_owner(shard, owner, req).await)
}
