//! Single-message lookups (spec wukongim-2.2.5 §3.1): `POST /message`,
//! `GET /message/byclientmsgno`, `GET /channel/last_message`. Each answers the message itself
//! (MessageResp, no envelope) or `{"status":404}` with HTTP 200 when there is none.

use super::body;
use crate::api::http::{Request, Response};
use crate::api::reads::{self, FetchWanted};
use crate::proto::ChannelType;
use crate::shard::ingress::storage_channel;
use crate::shard::Shard;
use serde::Deserialize;

/// WuKongIM's answer for a message that does not exist: HTTP 200, `{"status":404}`.
fn not_found() -> Response {
    Response::json_text(200, &br#"{"status":404}"#[..])
}

/// The storage channel a lookup names: person channels are the fake id of `login_uid` and
/// the peer, unless `channel_id` is already a storage id (`A@B`) or no `login_uid` is given.
fn storage_of(login_uid: &str, channel_id: &str, channel_type: u8) -> String {
    if channel_type == ChannelType::PERSON.0 && (login_uid.is_empty() || channel_id.contains('@')) {
        channel_id.to_string()
    } else {
        storage_channel(login_uid, channel_id, channel_type, false)
    }
}

/// The first message `wanted` finds in a storage channel, or the 404 answer.
async fn one(
    shard: &Shard,
    storage_id: String,
    channel_type: u8,
    viewer: &str,
    wanted: FetchWanted,
) -> Response {
    let owner = shard.channel_owner(&storage_id);
    let page = reads::fetch(
        shard,
        owner,
        storage_id,
        channel_type,
        viewer.to_string(),
        wanted,
    )
    .await;
    match page["messages"].get(0) {
        Some(m) => Response::json(200, m),
        None => not_found(),
    }
}

#[derive(Deserialize)]
struct MessageJson {
    #[serde(default)]
    login_uid: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    message_id: i64,
    #[serde(default)]
    client_msg_no: String,
}

/// `POST /message {login_uid, channel_id, channel_type, message_id | client_msg_no}`: one
/// message of the channel (`message_id` wins when both are given; an id of another channel
/// is not found).
pub async fn message(shard: &Shard, req: &Request) -> Response {
    let r: MessageJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channel_id.is_empty() {
        return Response::error(400, "channel_id is required");
    }
    if r.channel_type == 0 {
        return Response::error(400, "channel_type is required");
    }
    if r.channel_type == ChannelType::PERSON.0 && r.login_uid.is_empty() {
        return Response::error(400, "login_uid is required for a person channel");
    }
    let wanted = if r.message_id != 0 {
        FetchWanted {
            seqs: vec![],
            ids: vec![r.message_id],
            client_msg_nos: vec![],
        }
    } else if !r.client_msg_no.is_empty() {
        FetchWanted {
            seqs: vec![],
            ids: vec![],
            client_msg_nos: vec![r.client_msg_no],
        }
    } else {
        return not_found();
    };
    let sid = storage_channel(&r.login_uid, &r.channel_id, r.channel_type, false);
    one(shard, sid, r.channel_type, &r.login_uid, wanted).await
}

/// A query parameter, empty when absent.
fn param(req: &Request, name: &str) -> String {
    req.query_param(name).unwrap_or_default()
}

/// `GET /message/byclientmsgno?channel_id=&channel_type=&client_msg_no=[&login_uid=]`: the
/// channel's message with that client number. `channel_id` is the storage id, or with
/// `login_uid` the peer of a person chat.
pub async fn by_client_msg_no(shard: &Shard, req: &Request) -> Response {
    let channel_id = param(req, "channel_id");
    let channel_type: u8 = param(req, "channel_type").parse().unwrap_or(0);
    let client_msg_no = param(req, "client_msg_no");
    let login_uid = param(req, "login_uid");
    if channel_id.is_empty() {
        return Response::error(400, "channel_id is required");
    }
    if channel_type == 0 {
        return Response::error(400, "channel_type is required");
    }
    if client_msg_no.is_empty() {
        return Response::error(400, "client_msg_no is required");
    }
    let sid = storage_of(&login_uid, &channel_id, channel_type);
    let wanted = FetchWanted {
        seqs: vec![],
        ids: vec![],
        client_msg_nos: vec![client_msg_no],
    };
    one(shard, sid, channel_type, &login_uid, wanted).await
}

/// `GET /channel/last_message?channel_id=&channel_type=&login_uid=`: the channel's newest
/// message (person channels: `login_uid` and the peer), 404 for an empty or unknown channel.
pub async fn last_message(shard: &Shard, req: &Request) -> Response {
    let channel_id = param(req, "channel_id");
    let channel_type: u8 = param(req, "channel_type").parse().unwrap_or(0);
    let login_uid = param(req, "login_uid");
    if channel_id.is_empty() {
        return Response::error(400, "channel_id is required");
    }
    if channel_type == ChannelType::PERSON.0 && login_uid.is_empty() {
        return Response::error(400, "login_uid is required for a person channel");
    }
    let sid = storage_of(&login_uid, &channel_id, channel_type);
    let newest = super::conversation::newest_seq(shard, &sid, channel_type).await;
    if newest == 0 {
        return not_found();
    }
    let wanted = FetchWanted {
        seqs: vec![newest],
        ids: vec![],
        client_msg_nos: vec![],
    };
    one(shard, sid, channel_type, &login_uid, wanted).await
}
