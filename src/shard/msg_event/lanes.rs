//! The memory side of message events: what `stream.delta` events accumulated per anchor and
//! key, never stored (spec wukongim-2.2.5 §1.1). A terminal event on the key folds the lane
//! into the stored state and drops it.
//!
//! Bounded everywhere: at most [`MAX_LANE_BYTES`] per lane, [`MAX_SESSIONS`] anchors and
//! [`MAX_TOTAL_BYTES`] per shard (the least recently updated anchors are dropped first), and an
//! anchor not updated for [`SESSION_TTL`] is dropped. A dropped anchor loses its deltas, as a
//! restart does.

use super::state::AnchorKey;
use crate::shard::FastMap;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Most anchors with memory lanes per shard (v2's session cache size).
pub const MAX_SESSIONS: usize = 50_000;
/// An anchor whose lanes were not updated for this long is dropped.
pub const SESSION_TTL: Duration = Duration::from_secs(600);
/// Most bytes one lane accumulates; a delta past it is refused.
pub const MAX_LANE_BYTES: usize = 1 << 20;
/// Most bytes all lanes of a shard hold; past it the least recently updated anchors go.
pub const MAX_TOTAL_BYTES: usize = 128 << 20;

/// What a lane holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// Nothing yet (the lane is open).
    Empty,
    /// Text deltas concatenated.
    Text(String),
    /// The last non-text delta's payload (JSON text).
    Json(String),
}

impl Content {
    fn bytes(&self) -> usize {
        match self {
            Content::Empty => 0,
            Content::Text(t) | Content::Json(t) => t.len(),
        }
    }

    /// The lane as a snapshot (JSON text): `{"kind":"text","text":…}` for text, the payload
    /// otherwise; `None` when empty.
    pub fn snapshot(&self) -> Option<String> {
        match self {
            Content::Empty => None,
            Content::Text(t) => Some(serde_json::json!({"kind": "text", "text": t}).to_string()),
            Content::Json(j) => Some(j.clone()),
        }
    }
}

/// One delta, as its payload says.
#[derive(Clone, Copy, Debug)]
pub enum Delta<'a> {
    /// `{"kind":"text","delta":…}`: appended.
    Text(&'a str),
    /// Any other payload (JSON text): replaces the lane.
    Replace(&'a str),
    /// No content (an empty text delta, no payload): the lane is only opened.
    Touch,
}

/// Why a delta was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LaneError {
    /// The lane would pass [`MAX_LANE_BYTES`].
    TooLarge,
}

struct Session {
    lanes: BTreeMap<String, Content>,
    stamp: u64,
    touched: Instant,
    bytes: usize,
}

/// The memory lanes of one shard.
#[derive(Default)]
pub struct Lanes {
    sessions: FastMap<AnchorKey, Session>,
    /// Update stamp → anchor, oldest first.
    order: BTreeMap<u64, AnchorKey>,
    next_stamp: u64,
    total_bytes: usize,
}

impl Lanes {
    /// The lanes of an anchor, by key.
    pub fn of(&self, anchor: &AnchorKey) -> Option<&BTreeMap<String, Content>> {
        self.sessions.get(anchor).map(|s| &s.lanes)
    }

    /// Applies a delta to lane `key` of `anchor` (created when missing).
    pub fn apply(
        &mut self,
        anchor: &AnchorKey,
        key: &str,
        delta: Delta<'_>,
        now: Instant,
    ) -> Result<(), LaneError> {
        self.expire(now);
        // Bounds first (a refused delta changes nothing); text appends in place: a lane built
        // from many small deltas is never copied.
        let current_text = self
            .sessions
            .get(anchor)
            .and_then(|s| s.lanes.get(key))
            .map_or(0, |c| match c {
                Content::Text(t) => t.len(),
                _ => 0,
            });
        let too_large = match delta {
            Delta::Touch => false,
            Delta::Text(d) => current_text + d.len() > MAX_LANE_BYTES,
            Delta::Replace(j) => j.len() > MAX_LANE_BYTES,
        };
        if too_large {
            return Err(LaneError::TooLarge);
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let session = self
            .sessions
            .entry(anchor.clone())
            .or_insert_with(|| Session {
                lanes: BTreeMap::new(),
                stamp,
                touched: now,
                bytes: 0,
            });
        self.order.remove(&session.stamp);
        session.stamp = stamp;
        session.touched = now;
        self.order.insert(stamp, anchor.clone());
        if !session.lanes.contains_key(key) {
            session.lanes.insert(key.to_string(), Content::Empty);
        }
        let lane = session.lanes.get_mut(key).expect("inserted above");
        let before = lane.bytes();
        match delta {
            Delta::Touch => {}
            Delta::Text(d) => match &mut *lane {
                Content::Text(t) => t.push_str(d),
                other => *other = Content::Text(d.to_string()),
            },
            Delta::Replace(j) => *lane = Content::Json(j.to_string()),
        }
        let after = lane.bytes();
        session.bytes = session.bytes + after - before;
        self.total_bytes = self.total_bytes + after - before;
        self.evict(anchor);
        Ok(())
    }

    /// Removes lane `key` of `anchor` and hands back what it held (a terminal event folds it);
    /// the anchor goes once it has no lane left.
    pub fn take(&mut self, anchor: &AnchorKey, key: &str) -> Option<Content> {
        let session = self.sessions.get_mut(anchor)?;
        let content = session.lanes.remove(key)?;
        session.bytes -= content.bytes();
        self.total_bytes -= content.bytes();
        if session.lanes.is_empty() {
            self.drop_session(anchor);
        }
        Some(content)
    }

    /// Forgets every anchor of a storage channel (`/channel/delete`).
    pub fn remove_channel(&mut self, channel_id: &str, channel_type: u8) {
        let gone: Vec<AnchorKey> = self
            .sessions
            .keys()
            .filter(|k| k.channel_id == channel_id && k.channel_type == channel_type)
            .cloned()
            .collect();
        for k in gone {
            self.drop_session(&k);
        }
    }

    /// Drops anchors not updated within [`SESSION_TTL`] of `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some((_, anchor)) = self.order.first_key_value() {
            let stale = self
                .sessions
                .get(anchor)
                .is_none_or(|s| now.duration_since(s.touched) >= SESSION_TTL);
            if !stale {
                return;
            }
            let anchor = anchor.clone();
            if !self.sessions.contains_key(&anchor) {
                // An order entry without its session (never expected): drop it, or this
                // loop would find it again forever.
                self.order.pop_first();
                continue;
            }
            self.drop_session(&anchor);
        }
    }

    /// Anchors with lanes.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no anchor has lanes.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Bytes all lanes hold.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Drops the least recently updated anchors (never `keep`) while over the bounds.
    fn evict(&mut self, keep: &AnchorKey) {
        while self.sessions.len() > MAX_SESSIONS || self.total_bytes > MAX_TOTAL_BYTES {
            let Some(oldest) = self.order.values().find(|k| *k != keep).cloned() else {
                return;
            };
            self.drop_session(&oldest);
        }
    }

    fn drop_session(&mut self, anchor: &AnchorKey) {
        if let Some(s) = self.sessions.remove(anchor) {
            self.order.remove(&s.stamp);
            self.total_bytes -= s.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(no: &str) -> AnchorKey {
        AnchorKey {
            channel_id: "g".into(),
            channel_type: 2,
            client_msg_no: no.into(),
        }
    }

    #[test]
    fn text_accumulates_json_replaces_and_take_drops_the_anchor() {
        let mut l = Lanes::default();
        let now = Instant::now();
        let a = anchor("m");
        l.apply(&a, "main", Delta::Text("Hello"), now).unwrap();
        l.apply(&a, "main", Delta::Text(", world!"), now).unwrap();
        l.apply(&a, "main", Delta::Touch, now).unwrap();
        l.apply(&a, "tool", Delta::Replace(r#"{"x":1}"#), now)
            .unwrap();
        assert_eq!(
            l.of(&a).unwrap()["main"],
            Content::Text("Hello, world!".into())
        );
        assert_eq!(
            l.of(&a).unwrap()["main"].snapshot().unwrap(),
            r#"{"kind":"text","text":"Hello, world!"}"#
        );
        assert_eq!(l.total_bytes(), 13 + 7);
        assert_eq!(
            l.take(&a, "main"),
            Some(Content::Text("Hello, world!".into()))
        );
        assert_eq!(l.len(), 1);
        l.take(&a, "tool");
        assert!(l.is_empty());
        assert_eq!(l.total_bytes(), 0);
    }

    #[test]
    fn a_lane_is_capped_and_stale_anchors_expire() {
        let mut l = Lanes::default();
        let now = Instant::now();
        let big = "x".repeat(MAX_LANE_BYTES);
        l.apply(&anchor("a"), "main", Delta::Text(&big), now)
            .unwrap();
        assert_eq!(
            l.apply(&anchor("a"), "main", Delta::Text("y"), now),
            Err(LaneError::TooLarge)
        );
        assert_eq!(
            l.total_bytes(),
            MAX_LANE_BYTES,
            "a refused delta changes nothing"
        );
        l.apply(&anchor("b"), "main", Delta::Touch, now + SESSION_TTL / 2)
            .unwrap();
        l.expire(now + SESSION_TTL);
        assert!(l.of(&anchor("a")).is_none(), "expired");
        assert!(l.of(&anchor("b")).is_some(), "still fresh");
        assert_eq!(l.total_bytes(), 0);
    }
}
