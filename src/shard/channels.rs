//! Channels a shard owns: their settings, subscribers and black/white lists, and the send
//! permission rules of spec http-api §2.

use super::meta::ListKind;
use crate::proto::{ChannelType, ReasonCode};
use crate::shard::FastMap as HashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A channel's key: (id, type).
pub type ChannelKey = (String, u8);

/// Settings a channel carries (`/channel` and `/channel/info` fields).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ChannelInfo {
    /// 1 = nobody may send.
    #[serde(default)]
    pub ban: u8,
    /// 1 = dissolved.
    #[serde(default)]
    pub disband: u8,
    /// 1 = members may not send (reason 25); on a user's person channel: that user may send
    /// nowhere.
    #[serde(default)]
    pub send_ban: u8,
    /// Stored, not enforced (as in v2).
    #[serde(default)]
    pub allow_stranger: u8,
    /// Free-form fields kept for `/channel/info` round trips.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One channel's state on its owner shard.
#[derive(Clone, Debug, Default)]
pub struct ChannelState {
    /// Settings.
    pub info: ChannelInfo,
    /// Members, shared with deliveries by reference count.
    pub subscribers: BTreeSet<Arc<str>>,
    /// Refused senders.
    pub blacklist: BTreeSet<String>,
    /// When non-empty, the only allowed senders.
    pub whitelist: BTreeSet<String>,
}

/// The channels of one shard.
#[derive(Default)]
pub struct Channels {
    map: HashMap<ChannelKey, ChannelState>,
    /// Storage channels whose messages up to a seq were deleted with their channel
    /// (`/channel/delete`): (storage id, type) → that seq. Reads show nothing at or below it;
    /// seqs go on above it when the channel is used again.
    purged: HashMap<ChannelKey, u64>,
}

impl Channels {
    /// The channel, if it exists.
    pub fn get(&self, id: &str, ty: u8) -> Option<&ChannelState> {
        self.map.get(&(id.to_string(), ty))
    }

    /// The uids of one list of a channel (empty if the channel is unknown).
    pub fn list(&self, id: &str, ty: u8, list: ListKind) -> Vec<String> {
        let Some(ch) = self.get(id, ty) else {
            return Vec::new();
        };
        match list {
            ListKind::Blacklist => ch.blacklist.iter().cloned().collect(),
            ListKind::Whitelist => ch.whitelist.iter().cloned().collect(),
            ListKind::Subscribers => ch.subscribers.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The channel, created empty if missing.
    pub fn get_or_create(&mut self, id: &str, ty: u8) -> &mut ChannelState {
        self.map.entry((id.to_string(), ty)).or_default()
    }

    /// The channel for changes, if it exists.
    pub fn get_mut(&mut self, id: &str, ty: u8) -> Option<&mut ChannelState> {
        self.map.get_mut(&(id.to_string(), ty))
    }

    /// Removes a channel.
    pub fn remove(&mut self, id: &str, ty: u8) -> Option<ChannelState> {
        self.map.remove(&(id.to_string(), ty))
    }

    /// The seq up to which a storage channel's messages were deleted (0: none).
    pub fn purged_to(&self, storage_id: &str, ty: u8) -> u64 {
        if self.purged.is_empty() {
            return 0;
        }
        self.purged
            .get(&(storage_id.to_string(), ty))
            .copied()
            .unwrap_or(0)
    }

    /// Hides a storage channel's messages up to `seq` (never lowers an earlier floor).
    pub fn purge_to(&mut self, storage_id: &str, ty: u8, seq: u64) {
        if seq == 0 {
            return;
        }
        let floor = self.purged.entry((storage_id.to_string(), ty)).or_default();
        *floor = (*floor).max(seq);
    }

    /// Every purged storage channel and its floor, for snapshots.
    pub fn purged(&self) -> impl Iterator<Item = (&ChannelKey, u64)> {
        self.purged.iter().map(|(k, v)| (k, *v))
    }

    /// Makes room for `n` more channels (loading a snapshot).
    pub fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every channel, for snapshots and monitoring.
    pub fn iter(&self) -> impl Iterator<Item = (&ChannelKey, &ChannelState)> {
        self.map.iter()
    }
}

/// Channel types whose senders are not checked against membership (spec §2).
fn bypasses_membership(ty: u8) -> bool {
    matches!(
        ChannelType(ty),
        ChannelType::INFO
            | ChannelType::CUSTOMER_SERVICE
            | ChannelType::VISITORS
            | ChannelType::AGENT
    )
}

/// Decides whether `from` may send into a group-like channel; `None` if it may.
pub fn group_permission(state: Option<&ChannelState>, ty: u8, from: &str) -> Option<ReasonCode> {
    let Some(ch) = state else {
        return (!bypasses_membership(ty)).then_some(ReasonCode::CHANNEL_NOT_EXIST);
    };
    if ch.info.ban == 1 {
        return Some(ReasonCode::BAN);
    }
    if ch.info.disband == 1 {
        return Some(ReasonCode::DISBAND);
    }
    if ch.info.send_ban == 1 {
        return Some(ReasonCode::SEND_BAN);
    }
    if ch.blacklist.contains(from) {
        return Some(ReasonCode::IN_BLACKLIST);
    }
    if bypasses_membership(ty) {
        return None;
    }
    if !ch.subscribers.contains(from) {
        return Some(ReasonCode::SUBSCRIBER_NOT_EXIST);
    }
    if !ch.whitelist.is_empty() && !ch.whitelist.contains(from) {
        return Some(ReasonCode::NOT_IN_WHITELIST);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(members: &[&str]) -> ChannelState {
        ChannelState {
            subscribers: members.iter().map(|m| Arc::from(*m)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn group_rules_in_spec_order() {
        let g = group(&["a", "b"]);
        assert_eq!(group_permission(Some(&g), 2, "a"), None);
        assert_eq!(
            group_permission(Some(&g), 2, "z"),
            Some(ReasonCode::SUBSCRIBER_NOT_EXIST)
        );
        assert_eq!(
            group_permission(None, 2, "a"),
            Some(ReasonCode::CHANNEL_NOT_EXIST)
        );
        let mut banned = g.clone();
        banned.info.ban = 1;
        assert_eq!(
            group_permission(Some(&banned), 2, "a"),
            Some(ReasonCode::BAN)
        );
        let mut gone = g.clone();
        gone.info.disband = 1;
        assert_eq!(
            group_permission(Some(&gone), 2, "a"),
            Some(ReasonCode::DISBAND)
        );
        let mut black = g.clone();
        black.blacklist.insert("a".into());
        assert_eq!(
            group_permission(Some(&black), 2, "a"),
            Some(ReasonCode::IN_BLACKLIST)
        );
        let mut white = g.clone();
        white.whitelist.insert("b".into());
        assert_eq!(
            group_permission(Some(&white), 2, "a"),
            Some(ReasonCode::NOT_IN_WHITELIST)
        );
        assert_eq!(group_permission(Some(&white), 2, "b"), None);
        let mut muted = g.clone();
        muted.info.send_ban = 1;
        assert_eq!(
            group_permission(Some(&muted), 2, "a"),
            Some(ReasonCode::SEND_BAN)
        );
        // Info channels skip membership.
        assert_eq!(group_permission(Some(&g), 6, "z"), None);
        assert_eq!(group_permission(None, 6, "z"), None);
    }
}
