//! Message endpoints (spec http-api §4): send, and history by seq range.

use super::{body, call_owner, respond, status_error, status_json};
use crate::api::http::{Request, Response};
use crate::api::reads::{self, FetchWanted, RecentsWanted};
use crate::proto::{ChannelType, HeaderFlags, ReasonCode, WkStr};
use crate::shard::error::store_status;
use crate::shard::ids::{base_channel, valid_id, CMD_SUFFIX, SYSTEM_UID};
use crate::shard::ingress::storage_channel;
use crate::shard::msg::{OwnerMsg, SendOrigin, SendReq};
use crate::shard::ops::OwnerOp;
use crate::shard::Shard;
use base64::Engine;
use jindou_storage::{PullMode, RangeQuery};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The `header` object of message requests.
#[derive(Deserialize, Default, Clone, Copy)]
pub struct HeaderJson {
    /// 1 = not stored.
    #[serde(default)]
    pub no_persist: u8,
    /// 1 = raises a red dot.
    #[serde(default)]
    pub red_dot: u8,
    /// 1 = CMD message.
    #[serde(default)]
    pub sync_once: u8,
}

impl HeaderJson {
    /// The wkproto header flags.
    pub fn flags(self) -> HeaderFlags {
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
    /// 1 = a stream anchor (setting bit 0x02) that message events attach to.
    #[serde(default)]
    is_stream: u8,
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

/// What a REST send needs once validated.
pub struct Outgoing {
    /// Header flags.
    pub flags: HeaderFlags,
    /// Setting byte.
    pub setting: u8,
    /// Sender (system uid when empty).
    pub from_uid: String,
    /// Storage channel id (fake id for person chats, with suffixes).
    pub channel_id: String,
    /// Channel type.
    pub channel_type: u8,
    /// Client number (generated when empty).
    pub client_msg_no: String,
    /// Stream number.
    pub stream_no: String,
    /// Stream flag.
    pub stream_flag: u8,
    /// Expiry.
    pub expire: u32,
    /// Body.
    pub payload: Vec<u8>,
    /// Explicit receivers.
    pub receivers: Vec<Arc<str>>,
}

/// The verdict on a REST send.
pub struct Sent {
    /// Message id.
    pub message_id: i64,
    /// Seq (0 if not stored).
    pub message_seq: u64,
    /// Client number.
    pub client_msg_no: String,
}

/// The HTTP status of a refused send: 503 when storing it failed (reason 15: the append or
/// the group commit failed, e.g. a full disk; a retry may succeed), else 400.
pub fn refusal_status(reason: ReasonCode) -> u16 {
    if reason == ReasonCode::SYSTEM_ERROR {
        503
    } else {
        400
    }
}

/// Routes a send to its channel's owner and awaits the durable outcome; a refusal becomes
/// the response carrying the reason code, with the status of [`refusal_status`].
pub async fn send_message(shard: &Shard, o: Outgoing) -> Result<Sent, Response> {
    crate::shard::stats::inc(&shard.stats.api_sends);
    let client_msg_no = if o.client_msg_no.is_empty() {
        crate::shard::ids::new_client_msg_no()
    } else {
        o.client_msg_no
    };
    let owner = shard.channel_owner(base_channel(&o.channel_id));
    let me = shard.id() as u16;
    let ask = shard.ask(&shard.asks.send, owner, |id| {
        OwnerMsg::Send(Box::new(SendReq {
            origin: SendOrigin::Api {
                node: shard.node(),
                shard: me,
                id,
            },
            from_uid: Arc::from(o.from_uid.as_str()),
            channel_id: o.channel_id.into(),
            channel_type: o.channel_type,
            flags: o.flags.bits(),
            setting: o.setting,
            client_msg_no: client_msg_no.clone().into(),
            stream_no: o.stream_no.into(),
            stream_flag: o.stream_flag,
            expire: o.expire,
            topic: WkStr::EMPTY,
            payload: o.payload.into(),
            receivers: o.receivers,
        }))
        .into()
    });
    // A cluster send may be lost with a node that dies mid-flight: its outcome is unknown
    // after `cluster.reqTimeout` (plus the time a leaderless slot may wait for an election).
    let r = if shard.raft().is_some() {
        let limit = shard.ctx.config.cluster.req_timeout.get() * 2;
        match monoio::time::timeout(limit, ask).await {
            Ok(r) => r,
            Err(_) => {
                return Err(Response::error(
                    503,
                    "send outcome unknown (a node failed); retry with the same client_msg_no",
                )
                .with_header("Retry-After", "1"))
            }
        }
    } else {
        ask.await
    };
    if r.reason == ReasonCode::SUCCESS.0 {
        return Ok(Sent {
            message_id: r.message_id,
            message_seq: r.message_seq,
            client_msg_no,
        });
    }
    let reason = ReasonCode(r.reason);
    let status = refusal_status(reason);
    Err(status_json(
        status,
        &json!({
            "msg": format!("send refused: {}", reason.name().unwrap_or("unknown")),
            "status": status,
            "reason_code": r.reason,
        }),
    ))
}

/// Decodes a base64 payload, which must not be empty.
pub fn decode_payload(text: &str) -> Result<Vec<u8>, Response> {
    match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
        Ok(p) if !p.is_empty() => Ok(p),
        Ok(_) => Err(Response::error(400, "payload is required")),
        Err(e) => Err(Response::error(
            400,
            &format!("payload is not valid base64: {e}"),
        )),
    }
}

/// The sender of a REST message: the system uid when none is given (spec §4.1).
pub fn sender(from_uid: String) -> String {
    if from_uid.is_empty() {
        SYSTEM_UID.to_string()
    } else {
        from_uid
    }
}

/// `POST /message/send`: answers once the message is durable, with its id and seq; a refused
/// send is a 400 carrying the wkproto reason code (503 when storing it failed). With
/// `stream_no`, a stream chunk; with `is_stream: 1`, a stream anchor for message events.
pub async fn send(shard: &Shard, req: &Request) -> Response {
    let r: SendJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let payload = match decode_payload(&r.payload) {
        Ok(p) => p,
        Err(resp) => return resp,
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
    let from_uid = sender(r.from_uid);
    if !r.stream_no.is_empty() && has_channel {
        return super::stream::chunk_message(
            shard,
            from_uid,
            r.channel_id,
            r.channel_type,
            r.stream_no,
            payload,
            false,
        )
        .await;
    }
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
        let id = storage_channel(&from_uid, &r.channel_id, r.channel_type, flags.sync_once());
        (id, r.channel_type, Vec::new())
    };
    let setting = if r.is_stream == 1 {
        crate::proto::Setting::STREAM.bits()
    } else {
        0
    };
    let out = Outgoing {
        flags,
        setting,
        from_uid,
        channel_id,
        channel_type,
        client_msg_no: r.client_msg_no,
        stream_no: String::new(),
        stream_flag: 0,
        expire: r.expire,
        payload,
        receivers,
    };
    match send_message(shard, out).await {
        Ok(sent) => Response::json(
            200,
            &json!({"status": 200, "data": {
                "message_id": sent.message_id,
                "message_idstr": sent.message_id.to_string(),
                "client_msg_no": sent.client_msg_no,
                "message_seq": sent.message_seq,
            }}),
        ),
        Err(resp) => resp,
    }
}

#[derive(Deserialize)]
struct BatchJson {
    #[serde(default)]
    header: HeaderJson,
    #[serde(default)]
    from_uid: String,
    #[serde(default)]
    subscribers: Vec<String>,
    #[serde(default)]
    payload: String,
}

/// `POST /message/sendbatch`: one person message from `from_uid` to each subscriber.
pub async fn send_batch(shard: &Shard, req: &Request) -> Response {
    let r: BatchJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.from_uid.is_empty() || r.subscribers.is_empty() {
        return Response::error(400, "from_uid and subscribers are required");
    }
    let payload = match decode_payload(&r.payload) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let mut fail_uids = Vec::new();
    let mut reasons = Vec::new();
    for uid in r.subscribers {
        if !valid_id(&uid) {
            fail_uids.push(uid);
            reasons.push("uid has a reserved character".to_string());
            continue;
        }
        let flags = r.header.flags();
        let out = Outgoing {
            flags,
            setting: 0,
            from_uid: r.from_uid.clone(),
            channel_id: storage_channel(
                &r.from_uid,
                &uid,
                ChannelType::PERSON.0,
                flags.sync_once(),
            ),
            channel_type: ChannelType::PERSON.0,
            client_msg_no: String::new(),
            stream_no: String::new(),
            stream_flag: 0,
            expire: 0,
            payload: payload.clone(),
            receivers: Vec::new(),
        };
        if let Err(resp) = send_message(shard, out).await {
            fail_uids.push(uid);
            reasons.push(String::from_utf8_lossy(&resp.body).into_owned());
        }
    }
    Response::json(200, &json!({"fail_uids": fail_uids, "reason": reasons}))
}

#[derive(Deserialize)]
struct FetchJson {
    #[serde(default)]
    login_uid: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    message_seqs: Vec<u64>,
    #[serde(default)]
    message_ids: Vec<i64>,
    #[serde(default)]
    client_msg_nos: Vec<String>,
}

/// `POST /messages`: specific messages of one channel by seq, id or client number; at most
/// [`reads::MAX_FETCH`] lookups in all (more is a 400: a capped answer would look like
/// misses).
pub async fn fetch(shard: &Shard, req: &Request) -> Response {
    let r: FetchJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channel_id.is_empty() {
        return Response::error(400, "channel_id is required");
    }
    let lookups = r.message_seqs.len() + r.message_ids.len() + r.client_msg_nos.len();
    if lookups > reads::MAX_FETCH {
        return Response::error(
            400,
            &format!(
                "at most {} message_seqs, message_ids and client_msg_nos together per request ({lookups} given)",
                reads::MAX_FETCH
            ),
        );
    }
    let channel_id = storage_channel(&r.login_uid, &r.channel_id, r.channel_type, false);
    let owner = shard.channel_owner(&channel_id);
    let wanted = FetchWanted {
        seqs: r.message_seqs,
        ids: r.message_ids,
        client_msg_nos: r.client_msg_nos,
    };
    let page = reads::fetch(
        shard,
        owner,
        channel_id,
        r.channel_type,
        r.login_uid,
        wanted,
    )
    .await;
    Response::json(200, &page)
}

#[derive(Deserialize)]
struct CmdSyncJson {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    limit: i64,
}

/// `POST /message/sync`: unread CMD messages of a user, oldest first, up to `limit` (default
/// [`reads::DEFAULT_CMD_SYNC`], capped at [`reads::MAX_CMD_SYNC`] and at the answer's byte
/// budget; acknowledge and sync again for the rest).
pub async fn cmd_sync(shard: &Shard, req: &Request) -> Response {
    let r: CmdSyncJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.uid.is_empty() || r.limit < 0 {
        return Response::error(400, "uid is required and limit may not be negative");
    }
    if shard.ctx.config.disable_cmd_message_sync {
        return Response::json_text(200, &b"[]"[..]);
    }
    let limit = if r.limit == 0 {
        reads::DEFAULT_CMD_SYNC
    } else {
        (r.limit as u64).min(reads::MAX_CMD_SYNC as u64) as usize
    };
    let owner = shard.user_owner(&r.uid);
    let uid = r.uid.clone();
    let channels = shard
        .inspect(owner, move |s: &Shard| {
            s.users.borrow().unread_cmd_channels(&uid, limit)
        })
        .await;
    let mut out = Vec::new();
    let mut pending = Vec::new();
    let mut bytes_left = reads::MAX_ANSWER_BYTES;
    for (id, ty, _last, read) in channels {
        if out.len() >= limit || bytes_left == 0 {
            break;
        }
        let want = limit - out.len();
        let channel_owner = shard.channel_owner(base_channel(&id));
        let wanted = RecentsWanted {
            channel_id: id.clone(),
            channel_type: ty,
            from_seq: read + 1,
            limit: want,
            ascending: true,
        };
        let rows = reads::recents(
            shard,
            channel_owner,
            vec![wanted],
            r.uid.clone(),
            bytes_left,
        )
        .await;
        for row in rows {
            bytes_left = bytes_left.saturating_sub(row.bytes);
            if row.capped {
                bytes_left = 0;
            }
            if let Some(last) = row.messages.last().and_then(|m| m["message_seq"].as_u64()) {
                pending.push(((id.clone(), ty), last));
            }
            out.extend(row.messages);
        }
    }
    if !pending.is_empty() {
        // Remembered in memory for the next `/message/syncack`.
        let op = OwnerOp::CmdPending {
            uid: r.uid,
            pending,
        };
        if let Err(e) = call_owner(shard, owner, op).await {
            return super::failure(&e);
        }
    }
    Response::json(200, &out)
}

#[derive(Deserialize)]
struct CmdAckJson {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    last_message_seq: u64,
}

/// `POST /message/syncack`: the messages of the last CMD sync count as read.
pub async fn cmd_sync_ack(shard: &Shard, req: &Request) -> Response {
    let r: CmdAckJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.uid.is_empty() || r.last_message_seq == 0 {
        return Response::error(400, "uid and last_message_seq are required");
    }
    if shard.ctx.config.disable_cmd_message_sync {
        return super::ok();
    }
    let owner = shard.user_owner(&r.uid);
    respond(call_owner(shard, owner, OwnerOp::CmdAck { uid: r.uid }).await)
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
    /// `full` (default) or `basic` (event summaries without snapshots).
    #[serde(default)]
    event_summary_mode: String,
}

/// `POST /channel/messagesync`: a channel's history by seq range, at most
/// [`reads::MAX_PAGE`] messages and [`reads::MAX_ANSWER_BYTES`] per page (`more: 1` when
/// there is more); stream anchors carry their message events' summary.
pub async fn channel_sync(shard: &Shard, req: &Request) -> Response {
    let r: SyncJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channel_id.is_empty() || r.login_uid.is_empty() {
        return Response::error(400, "login_uid and channel_id are required");
    }
    let channel_id = storage_channel(&r.login_uid, &r.channel_id, r.channel_type, false);
    let owner = shard.channel_owner(&channel_id);
    let query = RangeQuery {
        start_seq: r.start_message_seq,
        end_seq: r.end_message_seq,
        limit: r.limit.min(reads::MAX_PAGE),
        pull_mode: PullMode::from_wire(r.pull_mode),
    };
    let read = reads::message_sync(
        shard,
        owner,
        channel_id.clone(),
        r.channel_type,
        r.login_uid,
        query,
    )
    .await;
    match read {
        Ok(mut page) => {
            if let Some(messages) = page["messages"].as_array_mut() {
                super::event::attach_summaries(
                    shard,
                    &channel_id,
                    r.channel_type,
                    messages,
                    &r.event_summary_mode,
                )
                .await;
            }
            Response::json(200, &page)
        }
        Err(e) => status_error(store_status(&e), &format!("could not read messages: {e}")),
    }
}
