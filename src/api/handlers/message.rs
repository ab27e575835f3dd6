//! Message endpoints (spec http-api §4): send, and history by seq range.

use super::{body, call_owner, respond};
use crate::api::http::{Request, Response};
use crate::proto::{ChannelType, HeaderFlags, ReasonCode};
use crate::shard::api_ops::ApiReq;
use crate::shard::ids::{person_fake_id, valid_id, CMD_SUFFIX, SYSTEM_UID};
use crate::shard::msg::{SendOrigin, SendReq, ShardMsg};
use crate::shard::{Reply, Shard};
use base64::Engine;
use jindou_storage::{PullMode, RangeQuery};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The `header` object of message requests.
#[derive(Deserialize, Default, Clone, Copy)]
pub struct HeaderJson {
    #[serde(default)]
    no_persist: u8,
    #[serde(default)]
    red_dot: u8,
    #[serde(default)]
    sync_once: u8,
}

impl HeaderJson {
    fn flags(self) -> HeaderFlags {
        HeaderFlags::EMPTY
            .with(HeaderFlags::NO_PERSIST, self.no_persist == 1)
            .with(HeaderFlags::RED_DOT, self.red_dot == 1)
            .with(HeaderFlags::SYNC_ONCE, self.sync_once == 1)
    }
}

#[derive(Deserialize)]
struct SendJson {
    #[serde(default)]
    header: HeaderJson,
    #[serde(default)]
    client_msg_no: String,
    #[serde(default)]
    stream_no: String,
    #[serde(default)]
    from_uid: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    expire: u32,
    #[serde(default)]
    subscribers: Vec<String>,
    #[serde(default)]
    payload: String,
}

/// A fresh client_msg_no: 32 hex characters and `0`, as v2 generates them.
fn new_client_msg_no() -> String {
    format!("{:032x}0", rand::random::<u128>())
}

/// FNV-1a 64 of the joined subscribers: the temp channel of a subscribers-only CMD send.
fn fnv1a64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `POST /message/send`: answers once the message is durable, with its id and seq; a refused
/// send is a 400 carrying the wkproto reason code.
pub async fn send(shard: &Shard, req: &Request) -> Response {
    let r: SendJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let payload = match base64::engine::general_purpose::STANDARD.decode(r.payload.as_bytes()) {
        Ok(p) if !p.is_empty() => p,
        Ok(_) => return Response::error(400, "payload is required"),
        Err(e) => return Response::error(400, &format!("payload is not valid base64: {e}")),
    };
    let flags = r.header.flags();
    let has_channel = !r.channel_id.is_empty();
    let has_subscribers = !r.subscribers.is_empty();
    if !has_channel && !has_subscribers {
        return Response::error(400, "channel_id or subscribers is required");
    }
    if has_channel && has_subscribers {
        return Response::error(400, "give either channel_id or subscribers, not both");
    }
    if has_subscribers && !flags.sync_once() {
        return Response::error(400, "subscribers require header.sync_once=1");
    }
    if has_channel && !valid_id(&r.channel_id) {
        return Response::error(400, "channel_id has a reserved character");
    }
    let from_uid = if r.from_uid.is_empty() {
        SYSTEM_UID.to_string()
    } else {
        r.from_uid
    };
    let client_msg_no = if r.client_msg_no.is_empty() {
        new_client_msg_no()
    } else {
        r.client_msg_no
    };
    let (channel_id, channel_type, receivers) = if has_subscribers {
        let joined = r.subscribers.join(",");
        (
            format!("{}{CMD_SUFFIX}", fnv1a64(&joined)),
            ChannelType::TEMP.0,
            r.subscribers
                .iter()
                .map(|s| Arc::from(s.as_str()))
                .collect(),
        )
    } else {
        let mut id = if r.channel_type == ChannelType::PERSON.0 {
            person_fake_id(&from_uid, &r.channel_id)
        } else {
            r.channel_id
        };
        if flags.sync_once() && r.channel_type != ChannelType::TEMP.0 {
            id.push_str(CMD_SUFFIX);
        }
        (id, r.channel_type, Vec::new())
    };
    let owner = shard.channel_owner(channel_id.strip_suffix(CMD_SUFFIX).unwrap_or(&channel_id));
    let me = shard.id() as u16;
    let reply = shard
        .ask(owner, |id| {
            ShardMsg::Send(Box::new(SendReq {
                origin: SendOrigin::Api { shard: me, id },
                from_uid: Arc::from(from_uid.as_str()),
                channel_id,
                channel_type,
                flags: flags.bits(),
                setting: 0,
                client_msg_no: client_msg_no.clone(),
                stream_no: r.stream_no,
                stream_flag: 0,
                expire: r.expire,
                topic: String::new(),
                payload: payload.into(),
                receivers,
            }))
        })
        .await;
    match reply {
        Reply::Send(o) if o.reason == ReasonCode::SUCCESS.0 => Response::json(
            200,
            &json!({"status": 200, "data": {
                "message_id": o.message_id,
                "message_idstr": o.message_id.to_string(),
                "client_msg_no": client_msg_no,
                "message_seq": o.message_seq,
            }}),
        ),
        Reply::Send(o) => {
            let reason = ReasonCode(o.reason);
            Response::json(
                400,
                &json!({
                    "msg": format!("send refused: {}", reason.name().unwrap_or("unknown")),
                    "status": 400,
                    "reason_code": o.reason,
                }),
            )
        }
        other => Response::error(500, &format!("unexpected reply {other:?}")),
    }
}

#[derive(Deserialize)]
struct SyncJson {
    #[serde(default)]
    login_uid: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    start_message_seq: u64,
    #[serde(default)]
    end_message_seq: u64,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    pull_mode: u8,
}

/// Most messages one sync returns.
const MAX_SYNC: usize = 10_000;

/// `POST /channel/messagesync`: a channel's history by seq range.
pub async fn channel_sync(shard: &Shard, req: &Request) -> Response {
    let r: SyncJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channel_id.is_empty() || r.login_uid.is_empty() {
        return Response::error(400, "login_uid and channel_id are required");
    }
    let channel_id = if r.channel_type == ChannelType::PERSON.0 {
        person_fake_id(&r.login_uid, &r.channel_id)
    } else {
        r.channel_id
    };
    let owner = shard.channel_owner(&channel_id);
    respond(
        call_owner(
            shard,
            owner,
            ApiReq::MessageSync {
                channel_id,
                channel_type: r.channel_type,
                login_uid: r.login_uid,
                query: RangeQuery {
                    start_seq: r.start_message_seq,
                    end_seq: r.end_message_seq,
                    limit: r.limit.min(MAX_SYNC),
                    pull_mode: PullMode::from_wire(r.pull_mode),
                },
            },
        )
        .await,
    )
}
