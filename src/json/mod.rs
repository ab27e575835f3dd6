//! WuKongIM's JSON shapes shared by the REST API and the webhooks: the message object
//! (`MessageResp`, spec http-api §3) built from a stored record.

use crate::proto::ChannelType;
use crate::shard::ids::{person_peer, CMD_SUFFIX, SYSTEM_UID};
use base64::Engine;
use jindou_storage::ArchivedMessageRecord;
use serde_json::{json, Value};

/// A stored message as the REST API shows it (spec http-api §3, `MessageResp`).
pub fn message_json(r: &ArchivedMessageRecord, viewer: &str) -> Value {
    use jindou_storage::message::{HEADER_NO_PERSIST, HEADER_RED_DOT, HEADER_SYNC_ONCE};
    let header = r.header;
    let channel_type = r.channel_type;
    let from_uid = r.from_uid.as_str();
    let stored_id = r.channel_id.as_str();
    let base = stored_id.strip_suffix(CMD_SUFFIX).unwrap_or(stored_id);
    let channel_id = if channel_type == ChannelType::PERSON.0 {
        // The peer as seen from the sender (v2 behaviour); the viewer when there is no sender.
        let me = if from_uid.is_empty() {
            viewer
        } else {
            from_uid
        };
        person_peer(base, me).to_string()
    } else {
        stored_id.to_string()
    };
    let message_id = i64::from(r.message_id);
    let mut v = json!({
        "header": {
            "no_persist": u8::from(header & HEADER_NO_PERSIST != 0),
            "red_dot": u8::from(header & HEADER_RED_DOT != 0),
            "sync_once": u8::from(header & HEADER_SYNC_ONCE != 0),
        },
        "setting": r.setting,
        "message_id": message_id,
        "message_idstr": message_id.to_string(),
        "client_msg_no": r.client_msg_no.as_str(),
        "message_seq": u64::from(r.message_seq),
        "from_uid": if from_uid == SYSTEM_UID { "" } else { from_uid },
        "channel_id": channel_id,
        "channel_type": channel_type,
        "expire": u32::from(r.expire),
        "timestamp": i32::from(r.timestamp),
        "payload": base64::engine::general_purpose::STANDARD.encode(r.payload.as_slice()),
    });
    if let Some(obj) = v.as_object_mut() {
        if !r.stream_no.is_empty() {
            obj.insert("stream_no".into(), json!(r.stream_no.as_str()));
        }
        if !r.topic.is_empty() {
            obj.insert("topic".into(), json!(r.topic.as_str()));
        }
    }
    v
}
