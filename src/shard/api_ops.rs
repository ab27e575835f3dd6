//! REST operations executed on the shard that owns their state. The HTTP handler on any shard
//! builds an [`ApiReq`], sends it to the owner, and turns the [`ApiResp`] into a response.

use super::channels::ChannelInfo;
use super::ids::person_peer;
use super::meta::{ListKind, ListMode, MetaRecord};
use super::users::DeviceToken;
use super::Shard;
use crate::proto::ChannelType;
use base64::Engine;
use jindou_storage::{ArchivedMessageRecord, PullMode, RangeQuery};
use serde_json::{json, Value};

/// A read-only question run on a chosen shard (monitoring: counters, connection lists).
pub type Inspect = Box<dyn FnOnce(&Shard) -> Value + Send>;

/// A request for the owner of some state.
pub enum ApiReq {
    /// Runs a closure on the target shard and returns its JSON (monitoring, cluster views).
    Inspect(Inspect),
    /// Register a device token (owner of `uid`).
    UserToken {
        /// User.
        uid: String,
        /// Device flag.
        device_flag: u8,
        /// Token and level.
        token: DeviceToken,
    },
    /// Create or update a channel, optionally setting members (owner of the channel).
    ChannelUpsert {
        /// Channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// Settings; `None` keeps the current ones.
        info: Option<ChannelInfo>,
        /// Replace members instead of adding.
        reset: bool,
        /// Members to add.
        subscribers: Vec<String>,
    },
    /// Change one of a channel's lists.
    List {
        /// Channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// Which list.
        list: ListKind,
        /// How.
        mode: ListMode,
        /// The uids.
        uids: Vec<String>,
    },
    /// Read a channel's history by seq range (`/channel/messagesync`).
    MessageSync {
        /// Storage channel id (fake id for person chats).
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// The viewer, for person-channel ids.
        login_uid: String,
        /// Range query.
        query: RangeQuery,
    },
    /// The newest seq of a channel.
    MaxSeq {
        /// Storage channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
    },
}

impl std::fmt::Debug for ApiReq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiReq::Inspect(_) => f.write_str("Inspect"),
            ApiReq::UserToken { uid, .. } => write!(f, "UserToken({uid})"),
            ApiReq::ChannelUpsert { channel_id, .. } => write!(f, "ChannelUpsert({channel_id})"),
            ApiReq::List { channel_id, .. } => write!(f, "List({channel_id})"),
            ApiReq::MessageSync { channel_id, .. } => write!(f, "MessageSync({channel_id})"),
            ApiReq::MaxSeq { channel_id, .. } => write!(f, "MaxSeq({channel_id})"),
        }
    }
}

/// The owner's answer.
#[derive(Debug)]
pub enum ApiResp {
    /// Done.
    Ok,
    /// Refused with a message (400).
    Error(String),
    /// A JSON value to return as is.
    Json(Value),
}

/// Executes a request on this (owner) shard.
pub async fn execute(shard: &Shard, req: ApiReq) -> ApiResp {
    match req {
        ApiReq::Inspect(f) => ApiResp::Json(f(shard)),
        ApiReq::UserToken {
            uid,
            device_flag,
            token,
        } => {
            persist(
                shard,
                MetaRecord::Token {
                    uid,
                    device_flag,
                    token,
                },
            )
            .await
        }
        ApiReq::ChannelUpsert {
            channel_id,
            channel_type,
            info,
            reset,
            subscribers,
        } => {
            if let Some(info) = info {
                if let ApiResp::Error(e) = persist(
                    shard,
                    MetaRecord::ChannelUpsert {
                        channel_id: channel_id.clone(),
                        channel_type,
                        info,
                    },
                )
                .await
                {
                    return ApiResp::Error(e);
                }
            } else if shard
                .channels
                .borrow()
                .get(&channel_id, channel_type)
                .is_none()
            {
                if let ApiResp::Error(e) = persist(
                    shard,
                    MetaRecord::ChannelUpsert {
                        channel_id: channel_id.clone(),
                        channel_type,
                        info: ChannelInfo::default(),
                    },
                )
                .await
                {
                    return ApiResp::Error(e);
                }
            }
            if reset || !subscribers.is_empty() {
                return persist(
                    shard,
                    MetaRecord::List {
                        channel_id,
                        channel_type,
                        list: ListKind::Subscribers,
                        mode: if reset { ListMode::Set } else { ListMode::Add },
                        uids: subscribers,
                    },
                )
                .await;
            }
            ApiResp::Ok
        }
        ApiReq::List {
            channel_id,
            channel_type,
            list,
            mode,
            uids,
        } => {
            persist(
                shard,
                MetaRecord::List {
                    channel_id,
                    channel_type,
                    list,
                    mode,
                    uids,
                },
            )
            .await
        }
        ApiReq::MessageSync {
            channel_id,
            channel_type,
            login_uid,
            query,
        } => message_sync(shard, &channel_id, channel_type, &login_uid, query),
        ApiReq::MaxSeq {
            channel_id,
            channel_type,
        } => ApiResp::Json(json!({
            "message_seq": shard.store.borrow().messages.max_seq(&channel_id, channel_type)
        })),
    }
}

async fn persist(shard: &Shard, rec: MetaRecord) -> ApiResp {
    match shard.persist_meta(rec).await {
        Ok(()) => ApiResp::Ok,
        Err(e) => ApiResp::Error(format!("could not store the change: {e}")),
    }
}

fn message_sync(
    shard: &Shard,
    channel_id: &str,
    channel_type: u8,
    login_uid: &str,
    q: RangeQuery,
) -> ApiResp {
    let store = shard.store.borrow();
    let read = match store.messages.read_range(channel_id, channel_type, q) {
        Ok(r) => r,
        Err(e) => return ApiResp::Error(format!("could not read messages: {e}")),
    };
    let n = read.messages.len();
    let boundary = match q.pull_mode {
        PullMode::Down => read.messages.first(),
        PullMode::Up => read.messages.last(),
    }
    .map(|m| u64::from(m.record.message_seq));
    let more = if q.limit == 0 {
        1
    } else if n < q.limit || (q.end_seq != 0 && boundary == Some(q.end_seq)) {
        0
    } else {
        1
    };
    let messages: Vec<Value> = read
        .messages
        .iter()
        .map(|m| message_json(m.record, login_uid))
        .collect();
    ApiResp::Json(json!({
        "start_message_seq": q.start_seq,
        "end_message_seq": q.end_seq,
        "more": more,
        "messages": messages,
    }))
}

/// A stored message as the REST API shows it (spec http-api §3, `MessageResp`).
pub fn message_json(r: &ArchivedMessageRecord, viewer: &str) -> Value {
    use jindou_storage::message::{HEADER_NO_PERSIST, HEADER_RED_DOT, HEADER_SYNC_ONCE};
    let header = r.header;
    let channel_type = r.channel_type;
    let from_uid = r.from_uid.as_str();
    let stored_id = r.channel_id.as_str();
    let base = stored_id
        .strip_suffix(super::ids::CMD_SUFFIX)
        .unwrap_or(stored_id);
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
        "from_uid": if from_uid == super::ids::SYSTEM_UID { "" } else { from_uid },
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
