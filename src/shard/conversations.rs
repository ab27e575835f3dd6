//! Rebuilding conversations at start-up. Conversations are derived state: the newest seq of
//! each channel comes from the message logs (each channel owner announces its channels to the
//! receivers' owners), the read and delete positions from the users' meta logs, and a user's
//! implicit read position — a sender has read the channel up to their own message — from the
//! user's own newest message in the channel (looked for among the newest [`OWN_SCAN`]). So
//! nothing per message has to be written twice, and a crash loses no conversation: after a
//! restart every user sees the unread counts and read positions they saw before it (exactly,
//! unless their own newest message lies more than [`OWN_SCAN`] messages back and after their
//! recorded read position, or the shard's scans passed [`OWN_SCAN_BUDGET`]: then unread counts
//! from the recorded position).

use super::ids::{base_channel, person_parts, CMD_SUFFIX, STREAM_SUFFIX};
use super::msg::{ConvHint, OwnerMsg};
use super::Shard;
use crate::proto::ChannelType;
use std::collections::BTreeMap;

/// Hints per mesh message.
const HINT_BATCH: usize = 512;

/// Messages read back from a channel's newest at start-up to find each receiver's own newest
/// message (their implicit read position); the scan stops earlier once every receiver was
/// found.
pub const OWN_SCAN: u64 = 256;

/// Most messages a shard reads for those scans at start-up (a bound on the restart time of a
/// shard with very many channels: about a second, at ~0.5 µs a message in a release build);
/// channels past it are not scanned.
pub const OWN_SCAN_BUDGET: u64 = 2_000_000;

/// The newest seq each of `receivers` sent among the newest [`OWN_SCAN`] messages of a
/// channel whose newest seq is `max`.
fn own_last_seqs(
    store: &jindou_storage::MessageStore,
    id: &str,
    ty: u8,
    max: u64,
    receivers: &[String],
    budget: &mut u64,
) -> std::collections::HashMap<String, u64> {
    let mut found = std::collections::HashMap::new();
    let mut seq = max;
    while seq > 0 && max - seq < OWN_SCAN && found.len() < receivers.len() && *budget > 0 {
        *budget -= 1;
        let Ok(Some(m)) = store.get_by_seq(id, ty, seq) else {
            // Deleted by retention (or never stored): nothing older to read.
            break;
        };
        let from = m.record.from_uid.as_str();
        if !found.contains_key(from) && receivers.iter().any(|r| r == from) {
            found.insert(from.to_string(), seq);
        }
        seq -= 1;
    }
    found
}

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
    let started = std::time::Instant::now();
    let mut budget = OWN_SCAN_BUDGET;
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
            let own = if id.ends_with(CMD_SUFFIX) {
                Default::default()
            } else {
                own_last_seqs(&store.messages, id, ty, max, &receivers, &mut budget)
            };
            for uid in receivers {
                if slot.is_some_and(|s| shard.slot_of(&uid) != s) {
                    continue;
                }
                let own_last = own.get(&uid).copied().unwrap_or(0);
                let hint = ConvHint {
                    uid,
                    channel_id: id.to_string(),
                    channel_type: ty,
                    last_seq: max,
                    message_id: i64::from(newest.record.message_id),
                    timestamp: i32::from(newest.record.timestamp),
                    own_last,
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
    let read = OWN_SCAN_BUDGET - budget;
    if budget == 0 {
        tracing::warn!(shard = shard.id(), read, "start-up scan for users' own newest messages stopped at its budget: some unread counts count from the recorded read position");
    }
    tracing::info!(
        shard = shard.id(),
        messages_read = read,
        took_ms = started.elapsed().as_millis() as u64,
        "conversations announced"
    );
    // Behind the hints on every ordered path: once a shard has this from every shard, all its
    // users' conversations are rebuilt.
    for dst in 0..shard.ctx.slots.shards() {
        shard.mesh.send(dst, OwnerMsg::ConvHintsDone.into());
    }
}

/// Whether a shard has applied the start-up conversation hints of every shard: clients and
/// the API are served only then, so nobody sees a conversation list that is still being
/// rebuilt after a restart.
#[derive(Default)]
pub struct Readiness {
    /// Shards whose hints were all applied here.
    done: std::cell::Cell<usize>,
    /// Raised when `done` reaches the shard count.
    ready: std::rc::Rc<crate::runtime::LocalStop>,
}

impl Readiness {
    /// One more shard's hints were all applied (of `shards`).
    pub fn source_done(&self, shards: usize) {
        self.done.set(self.done.get() + 1);
        if self.done.get() >= shards {
            self.ready.stop();
        }
    }

    /// Resolves once every shard's hints were applied.
    pub async fn wait(&self) {
        self.ready.wait().await;
    }
}

/// On each user owner: folds the announced newest messages into conversations.
pub fn apply_hints(shard: &Shard, hints: Vec<ConvHint>) {
    let mut users = shard.users.borrow_mut();
    for h in hints {
        let user = users.entry(&h.uid);
        if h.channel_id.ends_with(CMD_SUFFIX) {
            let e = user
                .extra_mut()
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
        // As when the message was delivered: the sender has read up to it (a read position
        // never moves back).
        conv.readed_to_msg_seq = conv.readed_to_msg_seq.max(h.own_last);
        conv.unread = conv.last_msg_seq.saturating_sub(conv.readed_to_msg_seq);
    }
}
