//! Operations that change an owner's state, asked for by REST handlers on any shard: the
//! handler sends an [`OwnerOp`] to the owner (`OwnerMsg::Op`), which runs it here and answers
//! `Ok(())` once the change is durable, or the [`OwnerError`] that says why not. Reads do not
//! come here: they are closures the API room ships with `Shard::inspect`.

use super::channels::ChannelInfo;
use super::error::OwnerError;
use super::meta::{ListKind, ListMode, MetaRecord};
use super::users::DeviceToken;
use super::Shard;

/// A change for the owner of some state.
pub enum OwnerOp {
    /// Persist and apply one metadata change on its owner ([`Shard::meta_owner`]): tokens,
    /// channel settings, lists, conversation positions, system uids.
    Meta(MetaRecord),
    /// Create or update a channel, optionally setting members (owner of the channel).
    ChannelUpsert {
        /// Channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// Settings; `None` keeps the current ones (and creates the channel if missing).
        info: Option<ChannelInfo>,
        /// Replace members instead of adding.
        reset: bool,
        /// Members to add.
        subscribers: Vec<String>,
    },
    /// Forget a channel and delete its messages (owner of the channel): its storage channels'
    /// newest seqs are recorded, and nothing up to them is readable any more.
    ChannelDelete {
        /// Channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
    },
    /// Blank the tokens of these devices and disconnect them (owner of `uid`).
    DeviceQuit {
        /// User.
        uid: String,
        /// Device flags.
        flags: Vec<u8>,
    },
    /// Remember the seqs a `/message/sync` returned, for the next `/message/syncack` (owner
    /// of `uid`).
    CmdPending {
        /// User.
        uid: String,
        /// (CMD channel storage id, type) → the newest seq returned.
        pending: Vec<((String, u8), u64)>,
    },
    /// Commit the seqs returned by the last CMD sync as read (owner of `uid`).
    CmdAck {
        /// User.
        uid: String,
    },
}

impl std::fmt::Debug for OwnerOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OwnerOp::Meta(_) => f.write_str("Meta"),
            OwnerOp::ChannelUpsert { channel_id, .. } => write!(f, "ChannelUpsert({channel_id})"),
            OwnerOp::ChannelDelete { channel_id, .. } => write!(f, "ChannelDelete({channel_id})"),
            OwnerOp::DeviceQuit { uid, .. } => write!(f, "DeviceQuit({uid})"),
            OwnerOp::CmdPending { uid, .. } => write!(f, "CmdPending({uid})"),
            OwnerOp::CmdAck { uid } => write!(f, "CmdAck({uid})"),
        }
    }
}

/// Runs an operation on this (owner) shard; resolves once its changes are durable.
pub async fn execute(shard: &Shard, op: OwnerOp) -> Result<(), OwnerError> {
    match op {
        OwnerOp::Meta(rec) => persist(shard, rec).await,
        OwnerOp::ChannelUpsert {
            channel_id,
            channel_type,
            info,
            reset,
            subscribers,
        } => channel_upsert(shard, channel_id, channel_type, info, reset, subscribers).await,
        OwnerOp::ChannelDelete {
            channel_id,
            channel_type,
        } => channel_delete(shard, channel_id, channel_type).await,
        OwnerOp::DeviceQuit { uid, flags } => device_quit(shard, &uid, &flags).await,
        OwnerOp::CmdPending { uid, pending } => {
            shard.users.borrow_mut().entry(&uid).extra_mut().cmd_pending = pending;
            Ok(())
        }
        OwnerOp::CmdAck { uid } => cmd_ack(shard, uid).await,
    }
}

/// Writes the settings (or creates the channel with default ones when it is missing and no
/// settings are given), then adds or replaces members.
async fn channel_upsert(
    shard: &Shard,
    channel_id: String,
    channel_type: u8,
    info: Option<ChannelInfo>,
    reset: bool,
    subscribers: Vec<String>,
) -> Result<(), OwnerError> {
    let missing = || {
        shard
            .channels
            .borrow()
            .get(&channel_id, channel_type)
            .is_none()
    };
    let info = match info {
        Some(info) => Some(info),
        None if missing() => Some(ChannelInfo::default()),
        None => None,
    };
    if let Some(info) = info {
        let rec = MetaRecord::ChannelUpsert {
            channel_id: channel_id.clone(),
            channel_type,
            info,
        };
        persist(shard, rec).await?;
    }
    if reset || !subscribers.is_empty() {
        let rec = MetaRecord::List {
            channel_id,
            channel_type,
            list: ListKind::Subscribers,
            mode: if reset { ListMode::Set } else { ListMode::Add },
            uids: subscribers,
        };
        persist(shard, rec).await?;
    }
    Ok(())
}

/// Records the channel's deletion with the newest seq of each of its storage channels (the
/// channel, its CMD twin, its stream log): their messages up to there are gone for readers,
/// and a channel created again under the same id starts with an empty history whose seqs go
/// on above them (clients that cached the old seqs never mistake new messages for old ones).
async fn channel_delete(
    shard: &Shard,
    channel_id: String,
    channel_type: u8,
) -> Result<(), OwnerError> {
    use super::ids::{CMD_SUFFIX, STREAM_SUFFIX};
    let purged = {
        let store = shard.store.borrow();
        [
            channel_id.clone(),
            format!("{channel_id}{CMD_SUFFIX}"),
            format!("{channel_id}{STREAM_SUFFIX}"),
        ]
        .into_iter()
        .map(|id| {
            let seq = store.messages.max_seq(&id, channel_type);
            (id, seq)
        })
        .filter(|(_, seq)| *seq > 0)
        .collect()
    };
    let rec = MetaRecord::ChannelDelete {
        channel_id,
        channel_type,
        purged,
    };
    persist(shard, rec).await
}

/// Commits the seqs of the last CMD sync as read positions, one durable record each.
async fn cmd_ack(shard: &Shard, uid: String) -> Result<(), OwnerError> {
    let pending = match shard.users.borrow_mut().get_mut(&uid) {
        Some(u) => u.extra.as_mut().map(|e| std::mem::take(&mut e.cmd_pending)),
        None => None,
    }
    .unwrap_or_default();
    for ((channel_id, channel_type), seq) in pending {
        let rec = MetaRecord::ConvPos {
            uid: uid.clone(),
            channel_id,
            channel_type,
            readed_to: Some(seq),
            deleted_to: None,
            cmd: true,
        };
        persist(shard, rec).await?;
    }
    Ok(())
}

/// Blanks the tokens of `uid`'s devices and disconnects their sessions (spec §7.3).
async fn device_quit(shard: &Shard, uid: &str, flags: &[u8]) -> Result<(), OwnerError> {
    for &flag in flags {
        let level = shard
            .users
            .borrow()
            .get(uid)
            .and_then(|u| u.tokens.get(&flag).map(|t| t.device_level));
        if let Some(device_level) = level {
            let rec = MetaRecord::Token {
                uid: uid.to_string(),
                device_flag: flag,
                token: DeviceToken {
                    token: String::new(),
                    device_level,
                },
            };
            persist(shard, rec).await?;
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
            shard.route(
                conn.node,
                conn.shard as usize,
                super::msg::ConnMsg::Kick {
                    conn_id: conn.id,
                    reason: crate::proto::ReasonCode::CONNECT_KICK.0,
                    by_server: false,
                }
                .into(),
            );
        }
    }
    Ok(())
}

async fn persist(shard: &Shard, rec: MetaRecord) -> Result<(), OwnerError> {
    shard.persist_meta(rec).await.map_err(OwnerError::Store)
}
