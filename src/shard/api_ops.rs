//! REST operations executed on the shard that owns their state. The HTTP handler on any shard
//! builds an [`ApiReq`], sends it to the owner, and turns the [`ApiResp`] into a response.

use super::channels::ChannelInfo;
use super::meta::{ListKind, ListMode, MetaRecord};
use super::users::DeviceToken;
use super::Shard;
use crate::json::message_json;
use crate::proto::ChannelType;
use base64::Engine;
use jindou_storage::{PullMode, RangeQuery};
use serde_json::{json, Value};

/// A request for the owner of some state.
pub enum ApiReq {
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
    /// Persist and apply one metadata change on its owner.
    Meta(MetaRecord),
    /// Specific messages of one channel (`/messages`).
    Fetch {
        /// Storage channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// The viewer, for person-channel ids.
        viewer: String,
        /// By seq.
        seqs: Vec<u64>,
        /// By id.
        ids: Vec<i64>,
        /// By client number.
        client_msg_nos: Vec<String>,
    },
    /// Newest messages of several channels at or after a bound (conversation recents).
    Recents {
        /// (storage channel id, type, lowest seq, most messages, ascending order).
        channels: Vec<(String, u8, u64, usize, bool)>,
        /// The viewer.
        viewer: String,
    },
    /// Live connections of these users (owner of each).
    OnlineStatus {
        /// Users.
        uids: Vec<String>,
    },
    /// Blank the tokens of these devices and disconnect them.
    DeviceQuit {
        /// User.
        uid: String,
        /// Device flags.
        flags: Vec<u8>,
    },
    /// One list of a channel.
    GetList {
        /// Channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// Which list.
        list: ListKind,
    },
    /// A user's conversations as stored (owner of the user).
    Conversations {
        /// User.
        uid: String,
    },
    /// A user's CMD channels with unread messages.
    CmdChannels {
        /// User.
        uid: String,
        /// Remember these returned seqs for the next `/message/syncack`.
        pending: Vec<((String, u8), u64)>,
    },
    /// Commit the seqs returned by the last CMD sync as read.
    CmdAck {
        /// User.
        uid: String,
    },
}

impl std::fmt::Debug for ApiReq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiReq::UserToken { uid, .. } => write!(f, "UserToken({uid})"),
            ApiReq::ChannelUpsert { channel_id, .. } => write!(f, "ChannelUpsert({channel_id})"),
            ApiReq::List { channel_id, .. } => write!(f, "List({channel_id})"),
            ApiReq::MessageSync { channel_id, .. } => write!(f, "MessageSync({channel_id})"),
            ApiReq::MaxSeq { channel_id, .. } => write!(f, "MaxSeq({channel_id})"),
            other => f.write_str(match other {
                ApiReq::Meta(_) => "Meta",
                ApiReq::Fetch { .. } => "Fetch",
                ApiReq::Recents { .. } => "Recents",
                ApiReq::OnlineStatus { .. } => "OnlineStatus",
                ApiReq::DeviceQuit { .. } => "DeviceQuit",
                ApiReq::GetList { .. } => "GetList",
                ApiReq::Conversations { .. } => "Conversations",
                ApiReq::CmdChannels { .. } => "CmdChannels",
                _ => "CmdAck",
            }),
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
        ApiReq::Meta(rec) => persist(shard, rec).await,
        ApiReq::Fetch {
            channel_id,
            channel_type,
            viewer,
            seqs,
            ids,
            client_msg_nos,
        } => fetch(
            shard,
            &channel_id,
            channel_type,
            &viewer,
            &seqs,
            &ids,
            &client_msg_nos,
        ),
        ApiReq::Recents { channels, viewer } => recents(shard, &channels, &viewer),
        ApiReq::OnlineStatus { uids } => {
            let users = shard.users.borrow();
            let rows: Vec<Value> = uids
                .iter()
                .filter_map(|u| users.get(u).map(|st| (u, st)))
                .flat_map(|(u, st)| {
                    st.sessions
                        .iter()
                        .map(move |s| json!({"uid": u, "device_flag": s.device_flag, "online": 1}))
                })
                .collect();
            ApiResp::Json(Value::Array(rows))
        }
        ApiReq::DeviceQuit { uid, flags } => device_quit(shard, &uid, &flags).await,
        ApiReq::GetList {
            channel_id,
            channel_type,
            list,
        } => {
            let uids: Vec<String> = if channel_type == ChannelType::PERSON.0 {
                let g = shard.globals.borrow();
                let acl = g.persons.get(&channel_id);
                match list {
                    ListKind::Blacklist => acl.map(|a| a.blacklist.iter().cloned().collect()),
                    ListKind::Whitelist => acl.map(|a| a.whitelist.iter().cloned().collect()),
                    ListKind::Subscribers => None,
                }
                .unwrap_or_default()
            } else {
                let channels = shard.channels.borrow();
                let ch = channels.get(&channel_id, channel_type);
                match list {
                    ListKind::Blacklist => ch.map(|c| c.blacklist.iter().cloned().collect()),
                    ListKind::Whitelist => ch.map(|c| c.whitelist.iter().cloned().collect()),
                    ListKind::Subscribers => {
                        ch.map(|c| c.subscribers.iter().map(|s| s.to_string()).collect())
                    }
                }
                .unwrap_or_default()
            };
            ApiResp::Json(json!(uids))
        }
        ApiReq::Conversations { uid } => {
            let users = shard.users.borrow();
            let rows: Vec<Value> = users
                .get(&uid)
                .map(|u| {
                    u.conversations
                        .iter()
                        .map(|((id, ty), c)| json!({"channel_id": id, "channel_type": ty, "conv": c}))
                        .collect()
                })
                .unwrap_or_default();
            ApiResp::Json(Value::Array(rows))
        }
        ApiReq::CmdChannels { uid, pending } => {
            let mut users = shard.users.borrow_mut();
            let user = users.entry(&uid);
            if !pending.is_empty() {
                user.cmd_pending = pending;
                return ApiResp::Ok;
            }
            let rows: Vec<Value> = user
                .cmd_channels
                .iter()
                .filter(|(_, (last, read))| last > read)
                .map(|((id, ty), (last, read))| json!([id, ty, last, read]))
                .collect();
            ApiResp::Json(Value::Array(rows))
        }
        ApiReq::CmdAck { uid } => {
            let pending = std::mem::take(&mut shard.users.borrow_mut().entry(&uid).cmd_pending);
            for ((channel_id, channel_type), seq) in pending {
                if let ApiResp::Error(e) = persist(
                    shard,
                    MetaRecord::ConvPos {
                        uid: uid.clone(),
                        channel_id,
                        channel_type,
                        readed_to: Some(seq),
                        deleted_to: None,
                        cmd: true,
                    },
                )
                .await
                {
                    return ApiResp::Error(e);
                }
            }
            ApiResp::Ok
        }
    }
}

/// Looks up specific messages: seq hits, then id hits, then client_msg_no hits.
fn fetch(
    shard: &Shard,
    channel_id: &str,
    channel_type: u8,
    viewer: &str,
    seqs: &[u64],
    ids: &[i64],
    nos: &[String],
) -> ApiResp {
    let store = shard.store.borrow();
    let mut out = Vec::new();
    for &seq in seqs {
        if let Ok(Some(m)) = store.messages.get_by_seq(channel_id, channel_type, seq) {
            out.push(message_json(m.record, viewer));
        }
    }
    for &id in ids {
        if let Ok(Some(m)) = store.messages.get_by_message_id(id) {
            if m.record.channel_id.as_str() == channel_id && m.record.channel_type == channel_type {
                out.push(message_json(m.record, viewer));
            }
        }
    }
    for no in nos {
        if let Some(hit) = store
            .messages
            .find_client_msg_no(channel_id, channel_type, no)
        {
            if let Ok(Some(m)) =
                store
                    .messages
                    .get_by_seq(channel_id, channel_type, hit.message_seq)
            {
                out.push(message_json(m.record, viewer));
            }
        }
    }
    ApiResp::Json(json!({"start_message_seq": 0, "end_message_seq": 0, "more": 0, "messages": out}))
}

/// For each channel: its newest seq and up to `limit` messages with seq ≥ bound.
fn recents(shard: &Shard, channels: &[(String, u8, u64, usize, bool)], viewer: &str) -> ApiResp {
    let store = shard.store.borrow();
    let mut out = Vec::with_capacity(channels.len());
    for (id, ty, bound, limit, ascending) in channels {
        let max = store.messages.max_seq(id, *ty);
        let lo = (*bound).max(store.messages.first_seq(id, *ty)).max(1);
        let mut msgs = Vec::new();
        if max >= lo && *limit > 0 {
            let q = if *ascending {
                RangeQuery {
                    start_seq: lo,
                    end_seq: 0,
                    limit: *limit,
                    pull_mode: PullMode::Up,
                }
            } else {
                RangeQuery {
                    start_seq: max,
                    end_seq: lo - 1,
                    limit: *limit,
                    pull_mode: PullMode::Down,
                }
            };
            if let Ok(r) = store.messages.read_range(id, *ty, q) {
                msgs = r
                    .messages
                    .iter()
                    .map(|m| message_json(m.record, viewer))
                    .collect();
                if !*ascending {
                    msgs.reverse();
                }
            }
        }
        out.push(json!({"channel_id": id, "channel_type": ty, "last_seq": max, "messages": msgs}));
    }
    ApiResp::Json(Value::Array(out))
}

/// Blanks the tokens of `uid`'s devices and disconnects their sessions (spec §7.3).
async fn device_quit(shard: &Shard, uid: &str, flags: &[u8]) -> ApiResp {
    for &flag in flags {
        let had = shard
            .users
            .borrow()
            .get(uid)
            .is_some_and(|u| u.tokens.contains_key(&flag));
        if had {
            let level = shard
                .users
                .borrow()
                .get(uid)
                .and_then(|u| u.tokens.get(&flag).map(|t| t.device_level))
                .unwrap_or(0);
            if let ApiResp::Error(e) = persist(
                shard,
                MetaRecord::Token {
                    uid: uid.to_string(),
                    device_flag: flag,
                    token: DeviceToken {
                        token: String::new(),
                        device_level: level,
                    },
                },
            )
            .await
            {
                return ApiResp::Error(e);
            }
        }
        let sessions: Vec<_> = shard
            .users
            .borrow()
            .get(uid)
            .map(|u| {
                u.sessions
                    .iter()
                    .filter(|s| s.device_flag == flag)
                    .map(|s| s.conn)
                    .collect()
            })
            .unwrap_or_default();
        for conn in sessions {
            shard.mesh.send(
                conn.shard as usize,
                super::msg::ConnMsg::Kick {
                    conn_id: conn.id,
                    reason: crate::proto::ReasonCode::CONNECT_KICK.0,
                }
                .into(),
            );
        }
    }
    ApiResp::Ok
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
    let mut messages: Vec<Value> = read
        .messages
        .iter()
        .map(|m| message_json(m.record, login_uid))
        .collect();
    attach_streams(&store, channel_id, channel_type, &mut messages);
    ApiResp::Json(json!({
        "start_message_seq": q.start_seq,
        "end_message_seq": q.end_seq,
        "more": more,
        "messages": messages,
    }))
}

/// Most stream chunks read back for one history page.
const MAX_STREAM_CHUNKS: usize = 10_000;

/// Adds `streams` (the stored chunks, in order) to every stream anchor among `messages`.
fn attach_streams(
    store: &jindou_storage::Store,
    channel_id: &str,
    channel_type: u8,
    messages: &mut [Value],
) {
    if !messages.iter().any(|m| m.get("stream_no").is_some()) {
        return;
    }
    let side = format!("{channel_id}{}", super::ids::STREAM_SUFFIX);
    let q = RangeQuery {
        start_seq: 0,
        end_seq: 0,
        limit: MAX_STREAM_CHUNKS,
        pull_mode: PullMode::Up,
    };
    let Ok(chunks) = store.messages.read_range(&side, channel_type, q) else {
        return;
    };
    for m in messages.iter_mut() {
        let Some(no) = m
            .get("stream_no")
            .and_then(|v| v.as_str())
            .map(str::to_string)
        else {
            continue;
        };
        let streams: Vec<Value> = chunks
            .messages
            .iter()
            .filter(|c| c.record.stream_no.as_str() == no)
            .map(|c| {
                let id = i64::from(c.record.message_id);
                json!({
                    "stream_id": id,
                    "stream_idstr": id.to_string(),
                    "stream_no": no,
                    "payload": base64::engine::general_purpose::STANDARD.encode(c.record.payload.as_slice()),
                })
            })
            .collect();
        m["streams"] = Value::Array(streams);
    }
}
