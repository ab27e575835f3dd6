//! REST operations executed on the shard that owns their state. The HTTP handler on any shard
//! builds an [`ApiReq`], sends it to the owner, and turns the [`ApiResp`] into a response.

use super::channels::ChannelInfo;
use super::meta::{ListKind, ListMode, MetaRecord};
use super::users::DeviceToken;
use super::Shard;
use crate::proto::ChannelType;
use jindou_storage::RangeQuery;
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
        channels: Vec<super::reads::RecentsWanted>,
        /// The viewer.
        viewer: String,
        /// Byte budget of the answer (see [`super::reads::MAX_ANSWER_BYTES`]).
        max_bytes: usize,
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
    /// A user's conversations as stored (owner of the user), most recent first.
    Conversations {
        /// User.
        uid: String,
        /// At most this many (`conversation.userMaxCount`).
        max: usize,
    },
    /// A user's CMD channels with unread messages.
    CmdChannels {
        /// User.
        uid: String,
        /// Remember these returned seqs for the next `/message/syncack`.
        pending: Vec<((String, u8), u64)>,
        /// At most this many channels.
        max: usize,
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
        } => super::reads::message_sync(shard, &channel_id, channel_type, &login_uid, query).await,
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
        } => {
            super::reads::fetch(
                shard,
                &channel_id,
                channel_type,
                &viewer,
                &seqs,
                &ids,
                &client_msg_nos,
            )
            .await
        }
        ApiReq::Recents {
            channels,
            viewer,
            max_bytes,
        } => super::reads::recents(shard, &channels, &viewer, max_bytes).await,
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
        ApiReq::Conversations { uid, max } => {
            let users = shard.users.borrow();
            let mut convs: Vec<_> = users
                .get(&uid)
                .map(|u| u.conversations.iter().collect())
                .unwrap_or_default();
            let newest_first =
                |a: &(&(String, u8), &super::users::Conversation),
                 b: &(&(String, u8), &super::users::Conversation)| {
                    b.1.timestamp.cmp(&a.1.timestamp)
                };
            if convs.len() > max && max > 0 {
                convs.select_nth_unstable_by(max - 1, newest_first);
            }
            convs.truncate(max);
            convs.sort_by(newest_first);
            let rows: Vec<Value> = convs
                .into_iter()
                .map(|((id, ty), c)| json!({"channel_id": id, "channel_type": ty, "conv": c}))
                .collect();
            ApiResp::Json(Value::Array(rows))
        }
        ApiReq::CmdChannels { uid, pending, max } => {
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
                .take(max)
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
