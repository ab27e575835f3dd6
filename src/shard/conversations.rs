//! Rebuilding conversations at start-up. Conversations are derived state: the newest seq of
//! each channel comes from the message logs (each channel owner announces its channels to the
//! receivers' owners), the read and delete positions from the users' meta logs. So nothing per
//! message has to be written twice, and a crash loses no conversation.

use super::ids::{base_channel, person_parts, CMD_SUFFIX, STREAM_SUFFIX};
use super::msg::{ConvHint, OwnerMsg};
use super::Shard;
use crate::proto::ChannelType;
use std::collections::BTreeMap;

/// Hints per mesh message.
const HINT_BATCH: usize = 512;

/// On each channel owner: tells every receiver's owner about the channel's newest message.
pub fn announce_channels(shard: &Shard) {
    announce_channels_for(shard, None);
}

/// Like [`announce_channels`], only for receivers whose uid falls in `slot` when given (a
/// node that became the leader of a users' slot rebuilds their conversations from the local
/// replicas of the channels; each of its shards announces its own channels). The hints go to
/// the receivers' shard on this node.
pub fn announce_channels_for(shard: &Shard, slot: Option<u16>) {
    let mut by_shard: BTreeMap<usize, Vec<ConvHint>> = BTreeMap::new();
    {
        let store = shard.store.borrow();
        let channels = shard.channels.borrow();
        for (id, ty, max) in store.messages.channels() {
            if max == 0 || id.ends_with(STREAM_SUFFIX) || ty == ChannelType::LIVE.0 {
                continue;
            }
            let Ok(Some(newest)) = store.messages.get_by_seq(id, ty, max) else {
                continue;
            };
            let base = base_channel(id);
            let receivers: Vec<String> = if ty == ChannelType::PERSON.0 {
                match person_parts(base) {
                    Some((a, b)) => vec![a.to_string(), b.to_string()],
                    None => continue,
                }
            } else {
                match channels.get(base, ty) {
                    Some(c) => c.subscribers.iter().map(|s| s.to_string()).collect(),
                    None => continue,
                }
            };
            for uid in receivers {
                if slot.is_some_and(|s| shard.slot_of(&uid) != s) {
                    continue;
                }
                let hint = ConvHint {
                    uid,
                    channel_id: id.to_string(),
                    channel_type: ty,
                    last_seq: max,
                    message_id: i64::from(newest.record.message_id),
                    timestamp: i32::from(newest.record.timestamp),
                };
                by_shard
                    .entry(shard.user_owner(&hint.uid))
                    .or_default()
                    .push(hint);
            }
        }
    }
    for (dst, hints) in by_shard {
        for chunk in hints.chunks(HINT_BATCH) {
            shard
                .mesh
                .send(dst, OwnerMsg::ConvHints(chunk.to_vec()).into());
        }
    }
}

/// On each user owner: folds the announced newest messages into conversations.
pub fn apply_hints(shard: &Shard, hints: Vec<ConvHint>) {
    let mut users = shard.users.borrow_mut();
    for h in hints {
        let user = users.entry(&h.uid);
        if h.channel_id.ends_with(CMD_SUFFIX) {
            let e = user
                .cmd_channels
                .entry((h.channel_id.clone(), h.channel_type))
                .or_default();
            e.0 = e.0.max(h.last_seq);
            continue;
        }
        let seen = if h.channel_type == ChannelType::PERSON.0 {
            super::ids::person_peer(&h.channel_id, &h.uid).to_string()
        } else {
            h.channel_id.clone()
        };
        let conv = user
            .conversations
            .entry((seen, h.channel_type))
            .or_default();
        // `>=`: a position restored from the meta log may already name this seq, but not the
        // message's id and time.
        if h.last_seq >= conv.last_msg_seq {
            conv.last_msg_seq = h.last_seq;
            conv.last_message_id = h.message_id;
            conv.timestamp = h.timestamp as i64;
        }
        conv.unread = conv.last_msg_seq.saturating_sub(conv.readed_to_msg_seq);
    }
}
