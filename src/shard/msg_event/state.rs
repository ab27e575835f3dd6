//! The stored projection of message events (spec wukongim-2.2.5 §1.1): per anchor
//! `(storage channel, type, client_msg_no)` the shared `msg_event_seq` counter and one
//! [`KeyState`] per event key. Individual events are not kept; the meta log holds one
//! [`crate::shard::meta::MetaRecord::MsgEvent`] per stored event, each carrying the key's whole
//! new state, so replaying them (or loading a snapshot) rebuilds exactly this.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The reserved key whose state marks the whole message finished (`stream.finish`).
pub const FINISH_KEY: &str = "__finish__";

/// The key used when an event names none.
pub const DEFAULT_KEY: &str = "main";

/// Which anchor events belong to: the storage channel (fake id for person chats), its type and
/// the anchor's `client_msg_no`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AnchorKey {
    /// Storage channel id.
    pub channel_id: String,
    /// Channel type.
    pub channel_type: u8,
    /// The anchor message's client number.
    pub client_msg_no: String,
}

/// The stored state of one event key (lane).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// `open`, `closed`, `error`, `cancelled`, or empty.
    #[serde(default)]
    pub status: String,
    /// The seq of the key's last stored event.
    #[serde(default)]
    pub last_seq: u64,
    /// The key's snapshot as JSON text (empty: none).
    #[serde(default)]
    pub snapshot: String,
    /// Why it ended (`stream.close`'s `end_reason`).
    #[serde(default)]
    pub end_reason: u8,
    /// `stream.error`'s text.
    #[serde(default)]
    pub error: String,
    /// The last stored event's id (the idempotency key).
    #[serde(default)]
    pub event_id: String,
    /// The last stored event's type (lower case).
    #[serde(default)]
    pub event_type: String,
    /// The last stored event's visibility.
    #[serde(default)]
    pub visibility: String,
    /// The last stored event's time, Unix milliseconds.
    #[serde(default)]
    pub occurred_at: i64,
}

impl KeyState {
    /// Whether the key takes no more events (`closed`, `error`, `cancelled`).
    pub fn is_terminal(&self) -> bool {
        is_terminal_status(&self.status)
    }
}

/// Whether a key status is terminal.
pub fn is_terminal_status(status: &str) -> bool {
    matches!(status, "closed" | "error" | "cancelled")
}

/// What is stored of one anchor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnchorEvents {
    /// The last `msg_event_seq` handed out (shared by all keys).
    pub seq: u64,
    /// The anchor's sender, as events named it or its message said.
    pub from_uid: String,
    /// The anchor's message id (0: unknown).
    pub message_id: i64,
    /// State per event key.
    pub keys: BTreeMap<String, KeyState>,
}

impl AnchorEvents {
    /// Whether `stream.finish` was stored.
    pub fn finished(&self) -> bool {
        self.keys.contains_key(FINISH_KEY)
    }
}

/// The stored event state of every anchor one shard owns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredEvents {
    anchors: BTreeMap<AnchorKey, AnchorEvents>,
}

impl StoredEvents {
    /// The stored state of an anchor.
    pub fn get(&self, key: &AnchorKey) -> Option<&AnchorEvents> {
        self.anchors.get(key)
    }

    /// Records one stored event: the key's new state, the counter (never lowered), and the
    /// anchor's sender and message id when known. Applying a record twice changes nothing.
    pub fn apply(
        &mut self,
        anchor: AnchorKey,
        from_uid: &str,
        message_id: i64,
        event_key: &str,
        state: KeyState,
    ) {
        let a = self.anchors.entry(anchor).or_default();
        a.seq = a.seq.max(state.last_seq);
        if !from_uid.is_empty() {
            a.from_uid = from_uid.to_string();
        }
        if message_id != 0 {
            a.message_id = message_id;
        }
        a.keys.insert(event_key.to_string(), state);
    }

    /// Puts a whole anchor in place (snapshot loading).
    pub fn insert(&mut self, key: AnchorKey, anchor: AnchorEvents) {
        self.anchors.insert(key, anchor);
    }

    /// Forgets every anchor of a storage channel (`/channel/delete`).
    pub fn remove_channel(&mut self, channel_id: &str, channel_type: u8) {
        self.anchors
            .retain(|k, _| !(k.channel_id == channel_id && k.channel_type == channel_type));
    }

    /// Every anchor, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&AnchorKey, &AnchorEvents)> {
        self.anchors.iter()
    }

    /// Anchors held.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether no anchor has stored events.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(ch: &str, no: &str) -> AnchorKey {
        AnchorKey {
            channel_id: ch.into(),
            channel_type: 2,
            client_msg_no: no.into(),
        }
    }

    #[test]
    fn apply_is_idempotent_and_keeps_the_highest_seq() {
        let mut s = StoredEvents::default();
        let st = |seq| KeyState {
            status: "open".into(),
            last_seq: seq,
            ..Default::default()
        };
        s.apply(anchor("g", "m"), "u", 7, "main", st(1));
        s.apply(anchor("g", "m"), "", 0, "tool", st(2));
        let once = s.clone();
        s.apply(anchor("g", "m"), "", 0, "tool", st(2));
        assert_eq!(s, once);
        let a = s.get(&anchor("g", "m")).unwrap();
        assert_eq!((a.seq, a.from_uid.as_str(), a.message_id), (2, "u", 7));
        assert_eq!(a.keys.len(), 2);
        s.apply(anchor("g2", "m"), "", 0, "main", st(1));
        s.remove_channel("g", 2);
        assert_eq!(s.len(), 1);
    }
}
