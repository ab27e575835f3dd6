//! Streamed messages (AI-style replies): `/stream/open` (and the seed's `/stream`) stores an
//! anchor message; chunks (`/message/send` with `stream_no`, `/stream/chunk`) are stored in the
//! channel's stream side channel — no seq of their own in the channel — and delivered live;
//! `/channel/messagesync` returns each anchor with its chunks in `streams`.

use super::body;
use super::message::{decode_payload, send_message, sender, HeaderJson, Outgoing};
use crate::api::http::{Request, Response};
use crate::proto::{Setting, StreamFlag};
use crate::shard::ids::{valid_id, STREAM_SUFFIX};
use crate::shard::ingress::storage_channel;
use crate::shard::Shard;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct OpenJson {
    #[serde(default)]
    header: HeaderJson,
    #[serde(default)]
    client_msg_no: String,
    #[serde(default)]
    from_uid: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    payload: String,
}

/// `POST /stream/open` (and `/stream`): stores the anchor, returns `{"stream_no"}`.
pub async fn open(shard: &Shard, req: &Request) -> Response {
    let r: OpenJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channel_id.is_empty() || !valid_id(&r.channel_id) {
        return Response::error(400, "channel_id is required");
    }
    let payload = match decode_payload(&r.payload) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let from_uid = sender(r.from_uid);
    let stream_no = format!("{:032x}", rand::random::<u128>());
    let out = Outgoing {
        flags: r.header.flags(),
        setting: Setting::STREAM.bits(),
        channel_id: storage_channel(&from_uid, &r.channel_id, r.channel_type, false),
        from_uid,
        channel_type: r.channel_type,
        client_msg_no: r.client_msg_no,
        stream_no: stream_no.clone(),
        stream_flag: StreamFlag::START.0,
        expire: 0,
        payload,
        receivers: Vec::new(),
    };
    match send_message(shard, out).await {
        Ok(sent) => Response::json(
            200,
            &json!({"stream_no": stream_no, "message_id": sent.message_id, "message_seq": sent.message_seq}),
        ),
        Err(resp) => resp,
    }
}

/// Stores and delivers one chunk of stream `stream_no`.
pub async fn chunk_message(
    shard: &Shard,
    from_uid: String,
    channel_id: String,
    channel_type: u8,
    stream_no: String,
    payload: Vec<u8>,
    end: bool,
) -> Response {
    let out = Outgoing {
        flags: crate::proto::HeaderFlags::EMPTY,
        setting: Setting::STREAM.bits(),
        channel_id: format!(
            "{}{STREAM_SUFFIX}",
            storage_channel(&from_uid, &channel_id, channel_type, false)
        ),
        from_uid,
        channel_type,
        client_msg_no: String::new(),
        stream_no,
        stream_flag: if end {
            StreamFlag::END.0
        } else {
            StreamFlag::ING.0
        },
        expire: 0,
        payload,
        receivers: Vec::new(),
    };
    match send_message(shard, out).await {
        Ok(sent) => Response::json(
            200,
            &json!({"status": 200, "data": {
                "message_id": sent.message_id,
                "message_idstr": sent.message_id.to_string(),
                "client_msg_no": sent.client_msg_no,
            }}),
        ),
        Err(resp) => resp,
    }
}

#[derive(Deserialize)]
struct ChunkJson {
    #[serde(default)]
    stream_no: String,
    #[serde(default)]
    from_uid: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    end: u8,
}

/// `POST /stream/chunk` (seed): one chunk; `end: 1` closes the stream.
pub async fn chunk(shard: &Shard, req: &Request) -> Response {
    let r: ChunkJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.stream_no.is_empty() || r.channel_id.is_empty() || !valid_id(&r.channel_id) {
        return Response::error(400, "stream_no and channel_id are required");
    }
    let payload = if r.payload.is_empty() && r.end == 1 {
        Vec::new()
    } else {
        match decode_payload(&r.payload) {
            Ok(p) => p,
            Err(resp) => return resp,
        }
    };
    chunk_message(
        shard,
        sender(r.from_uid),
        r.channel_id,
        r.channel_type,
        r.stream_no,
        payload,
        r.end == 1,
    )
    .await
}

/// `POST /stream/close`: marks the end of the stream (a final, empty chunk).
pub async fn close(shard: &Shard, req: &Request) -> Response {
    let r: ChunkJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.stream_no.is_empty() || r.channel_id.is_empty() || !valid_id(&r.channel_id) {
        return Response::error(400, "stream_no and channel_id are required");
    }
    match chunk_message(
        shard,
        sender(r.from_uid),
        r.channel_id,
        r.channel_type,
        r.stream_no,
        Vec::new(),
        true,
    )
    .await
    {
        resp if resp.status == 200 => super::ok(),
        resp => resp,
    }
}
