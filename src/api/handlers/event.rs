//! Message events (spec wukongim-2.2.5 §1): `POST /message/event` appends one event to a
//! stream anchor (a message sent with `is_stream: 1`), `POST /message/eventsync` pages through
//! the anchor's stored events, and the summary `/channel/messagesync` adds to anchors. The
//! work happens on the shard owning the anchor's channel (`shard::msg_event`).

use super::{body, failure};
use crate::api::http::{Request, Response};
use crate::proto::{ChannelType, Setting};
use crate::shard::ingress::storage_channel;
use crate::shard::msg::OwnerMsg;
use crate::shard::msg_event::view::{self, SyncQuery, DEFAULT_SYNC_LIMIT, MAX_SYNC_LIMIT};
use crate::shard::msg_event::{AnchorKey, EventReq};
use crate::shard::Shard;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct EventJson {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    from_uid: String,
    #[serde(default)]
    message_id: i64,
    #[serde(default)]
    client_msg_no: String,
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    event_key: String,
    #[serde(default)]
    visibility: String,
    #[serde(default)]
    occurred_at: i64,
    #[serde(default)]
    payload: Option<Box<RawValue>>,
}

/// `POST /message/event`: appends one event to the anchor `client_msg_no` of the channel and
/// answers once it is durable (deltas: once applied in memory), with the key's seq and
/// status.
pub async fn append(shard: &Shard, req: &Request) -> Response {
    let r: EventJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let required = [&r.channel_id, &r.client_msg_no, &r.event_id, &r.event_type];
    if required.iter().any(|f| f.trim().is_empty()) {
        return Response::error(
            400,
            "channel_id, client_msg_no, event_id and event_type are required",
        );
    }
    // A person chat's storage channel is named by both parties.
    if r.channel_type == ChannelType::PERSON.0 && r.from_uid.is_empty() {
        return Response::error(400, "from_uid is required for person channels");
    }
    let anchor = AnchorKey {
        channel_id: storage_channel(&r.from_uid, &r.channel_id, r.channel_type, false),
        channel_type: r.channel_type,
        client_msg_no: r.client_msg_no.clone(),
    };
    let owner = shard.channel_owner(&anchor.channel_id);
    let ev = EventReq {
        anchor,
        channel_id: r.channel_id.clone(),
        from_uid: r.from_uid,
        message_id: r.message_id,
        event_id: r.event_id.clone(),
        event_type: r.event_type,
        event_key: r.event_key,
        visibility: r.visibility,
        occurred_at: r.occurred_at,
        payload: r.payload,
    };
    let result = shard
        .ask(&shard.asks.event, owner, |id| {
            OwnerMsg::Event {
                id,
                req: Box::new(ev),
            }
            .into()
        })
        .await;
    match result {
        Ok(ack) => Response::json(
            200,
            &json!({"status": 200, "data": {
                "client_msg_no": r.client_msg_no,
                "event_key": ack.event_key,
                "event_id": r.event_id,
                "msg_event_seq": ack.msg_event_seq,
                "stream_status": ack.stream_status,
                "channel_id": r.channel_id,
                "channel_type": r.channel_type,
                "from_uid": ack.from_uid,
            }}),
        ),
        Err(e) => failure(&e),
    }
}

#[derive(Deserialize)]
struct SyncJson {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    channel_type: u8,
    #[serde(default)]
    from_uid: String,
    #[serde(default)]
    client_msg_no: String,
    #[serde(default)]
    event_key: String,
    #[serde(default)]
    from_msg_event_seq: u64,
    #[serde(default)]
    limit: i64,
    #[serde(default)]
    include_private: u8,
}

/// The storage channel `/message/eventsync` reads: the fake id for a person chat named with
/// `from_uid`, else `channel_id` as given (spec §1.5).
pub fn eventsync_channel(channel_id: &str, channel_type: u8, from_uid: &str) -> String {
    if channel_type == ChannelType::PERSON.0 && !from_uid.is_empty() {
        // The same derivation `/message/send` and `/message/event` store under
        // (`person_fake_id` orders by crc, so its arguments' order matters on a tie).
        storage_channel(from_uid, channel_id, channel_type, false)
    } else {
        channel_id.to_string()
    }
}

/// `POST /message/eventsync`: the anchor's stored events, one per key, ascending by seq
/// from `from_msg_event_seq`, at most `limit` (0 → 200, capped at 2000).
pub async fn sync(shard: &Shard, req: &Request) -> Response {
    let r: SyncJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.channel_id.trim().is_empty() || r.client_msg_no.trim().is_empty() {
        return Response::error(400, "channel_id and client_msg_no are required");
    }
    if r.limit < 0 {
        return Response::error(400, "limit may not be negative");
    }
    let limit = match r.limit {
        0 => DEFAULT_SYNC_LIMIT,
        n => (n as u64).min(MAX_SYNC_LIMIT as u64) as usize,
    };
    let key = r.event_key.trim().to_string();
    let anchor = AnchorKey {
        channel_id: eventsync_channel(&r.channel_id, r.channel_type, &r.from_uid),
        channel_type: r.channel_type,
        client_msg_no: r.client_msg_no.clone(),
    };
    let q = SyncQuery {
        event_key: (!key.is_empty()).then(|| key.clone()),
        from_seq: r.from_msg_event_seq,
        limit,
        include_private: r.include_private == 1,
    };
    let owner = shard.channel_owner(&anchor.channel_id);
    let (events, more) = shard
        .inspect(owner, move |s: &Shard| {
            view::sync_page(s.msg_events.borrow().get(&anchor), &q)
        })
        .await;
    let next = events
        .last()
        .and_then(|e| e["msg_event_seq"].as_u64())
        .unwrap_or(r.from_msg_event_seq);
    Response::json(
        200,
        &json!({"status": 200, "data": {
            "client_msg_no": r.client_msg_no,
            "from_msg_event_seq": r.from_msg_event_seq,
            "next_msg_event_seq": next,
            "more": u8::from(more),
            "events": events,
            "filtered_by_event_key": key,
        }}),
    )
}

/// Adds the event summary (spec §1.6) to the stream anchors among `messages` of storage
/// channel `channel_id`: one question to its owner for the whole page. `mode` is
/// `event_summary_mode` (`basic` leaves out snapshots).
pub async fn attach_summaries(
    shard: &Shard,
    channel_id: &str,
    channel_type: u8,
    messages: &mut [Value],
    mode: &str,
) {
    let wanted: Vec<(usize, String)> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            let setting = m["setting"].as_u64().unwrap_or(0) as u8;
            Setting::from_bits(setting).is_stream()
        })
        .filter_map(|(i, m)| {
            let no = m["client_msg_no"].as_str().filter(|n| !n.is_empty())?;
            Some((i, no.to_string()))
        })
        .collect();
    if wanted.is_empty() {
        return;
    }
    let full = !mode.trim().eq_ignore_ascii_case("basic");
    let owner = shard.channel_owner(channel_id);
    let channel_id = channel_id.to_string();
    let summaries = shard
        .inspect(owner, move |s: &Shard| {
            let stored = s.msg_events.borrow();
            let lanes = s.event_lanes.borrow();
            wanted
                .into_iter()
                .filter_map(|(i, no)| {
                    let anchor = AnchorKey {
                        channel_id: channel_id.clone(),
                        channel_type,
                        client_msg_no: no,
                    };
                    let fields = view::summary(
                        &anchor.client_msg_no,
                        stored.get(&anchor),
                        lanes.of(&anchor),
                        full,
                    )?;
                    Some((i, fields))
                })
                .collect::<Vec<_>>()
        })
        .await;
    for (i, fields) in summaries {
        if let Some(obj) = messages.get_mut(i).and_then(Value::as_object_mut) {
            obj.extend(fields);
        }
    }
}
