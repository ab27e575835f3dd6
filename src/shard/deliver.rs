//! Delivery on the receivers' owner: conversations, then the live sessions to reach (one
//! `Push` per connection shard, written by the gateway there) and the offline receivers to
//! announce (docs/architecture.md, "The message path").

use super::ids::{person_peer, same_uid};
use super::msg::{ConnIds, ConnMsg, Delivered};
use super::receivers::Receivers;
use super::users::ConvKeyRef;
use super::{stats, Shard};
use crate::proto::{ChannelType, HeaderFlags};
use smallvec::SmallVec;
use std::sync::Arc;

/// The channel id a user sees: the peer's uid for person chats, the channel id otherwise.
pub(crate) fn channel_seen_by<'a>(msg: &'a Delivered, viewer: &str) -> &'a str {
    if msg.channel_type == ChannelType::PERSON.0 {
        person_peer(&msg.channel_id, viewer)
    } else {
        msg.channel_id.as_str()
    }
}

/// On the receivers' owner shard: conversations, then one `Push` per connection shard.
pub(crate) fn handle_deliver(shard: &Shard, msg: Arc<Delivered>, to: Receivers) {
    let flags = HeaderFlags::from_header(msg.flags);
    let track_conversation = shard.ctx.config.conversation.on
        && msg.channel_type != ChannelType::LIVE.0
        && !flags.no_persist()
        && !flags.sync_once()
        && msg.message_seq > 0;
    // (node, shard) of the connections → their ids there (inline for the usual one or two).
    let mut by_shard: SmallVec<[((u16, usize), ConnIds); 2]> = SmallVec::new();
    // Receivers with no live connection, for `msg.offline` (only collected when wanted).
    let want_offline = shard.events.wants_offline(&msg);
    let mut offline = Vec::new();
    let now = shard.clock.unix_millis() as i64;
    let mut users = shard.users.borrow_mut();
    let cmd_key = (flags.sync_once() && msg.message_seq > 0).then(|| {
        (
            format!("{}{}", msg.channel_id.as_str(), super::ids::CMD_SUFFIX),
            msg.channel_type,
        )
    });
    for uid in to.iter(&msg) {
        let user = users.entry(uid);
        if let Some(key) = &cmd_key {
            let e = user
                .extra_mut()
                .cmd_channels
                .entry(key.clone())
                .or_default();
            e.0 = e.0.max(msg.message_seq);
        }
        if track_conversation {
            // Found by a borrowed key: the owned one is built for a new conversation only.
            let key = ConvKeyRef(channel_seen_by(&msg, uid), msg.channel_type);
            let conv = user.conversations.entry_ref(&key).or_default();
            if msg.message_seq > conv.last_msg_seq {
                conv.last_msg_seq = msg.message_seq;
                conv.last_message_id = msg.message_id;
                conv.timestamp = msg.timestamp as i64;
                conv.version = now;
                if same_uid(uid, &msg.from_uid) {
                    // The sender has read everything up to their own message.
                    conv.readed_to_msg_seq = msg.message_seq;
                    conv.unread = 0;
                } else if flags.red_dot() {
                    conv.unread += 1;
                }
            }
        }
        let mut reached = false;
        for s in &user.sessions {
            if s.conn == msg.sender {
                continue;
            }
            reached = true;
            let at = (s.conn.node, s.conn.shard as usize);
            super::push_grouped(&mut by_shard, at, s.conn.id);
        }
        if !reached && !same_uid(uid, &msg.from_uid) {
            stats::inc(&shard.stats.offline_deliveries);
            if want_offline && uid != super::ids::SYSTEM_UID {
                offline.push(Arc::from(uid));
            }
        }
    }
    drop(users);
    if !offline.is_empty() {
        shard.events.offline(shard, &msg, offline);
    }
    if shard.ctx.config.logger.trace_on {
        tracing::info!(target: "jindou::trace", shard = shard.id(), message_id = msg.message_id,
            connection_shards = by_shard.len(), "delivered to receivers' sessions");
    }
    for ((node, dst), conn_ids) in by_shard {
        shard.route(
            node,
            dst,
            ConnMsg::Push {
                msg: msg.clone(),
                conn_ids,
            }
            .into(),
        );
    }
}
