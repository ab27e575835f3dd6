//! Metadata changes as durable records: each REST change is appended to the owner shard's meta
//! log (JSON, one record per change) and acknowledged only once durable; start-up replays them.

use super::channels::{ChannelInfo, Channels};
use super::users::{DeviceToken, Users};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Meta log record kind of a [`MetaRecord`] (JSON).
pub const KIND_JSON: u8 = 1;

/// How a list change applies.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ListMode {
    /// Add members.
    Add,
    /// Replace the whole list.
    Set,
    /// Remove members.
    Remove,
}

/// Which list of a channel.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ListKind {
    /// Members.
    Subscribers,
    /// Refused senders.
    Blacklist,
    /// Allowed senders.
    Whitelist,
}

/// One durable change of owned metadata.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op")]
pub enum MetaRecord {
    /// `/user/token`.
    Token {
        /// User.
        uid: String,
        /// Device flag.
        device_flag: u8,
        /// Token and level.
        token: DeviceToken,
    },
    /// `/channel`, `/channel/info`.
    ChannelUpsert {
        /// Channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// Settings.
        info: ChannelInfo,
    },
    /// `/channel/delete`.
    ChannelDelete {
        /// Channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
    },
    /// Subscriber, blacklist and whitelist changes.
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
}

impl MetaRecord {
    /// Applies the change to the shard's state (at the time of the call and at replay).
    pub fn apply(&self, channels: &mut Channels, users: &mut Users) {
        match self {
            MetaRecord::Token {
                uid,
                device_flag,
                token,
            } => {
                users.entry(uid).tokens.insert(*device_flag, token.clone());
            }
            MetaRecord::ChannelUpsert {
                channel_id,
                channel_type,
                info,
            } => {
                channels.get_or_create(channel_id, *channel_type).info = info.clone();
            }
            MetaRecord::ChannelDelete {
                channel_id,
                channel_type,
            } => {
                channels.remove(channel_id, *channel_type);
            }
            MetaRecord::List {
                channel_id,
                channel_type,
                list,
                mode,
                uids,
            } => {
                let ch = channels.get_or_create(channel_id, *channel_type);
                match list {
                    ListKind::Subscribers => apply_list(
                        &mut ch.subscribers,
                        *mode,
                        uids.iter().map(|u| Arc::from(u.as_str())),
                    ),
                    ListKind::Blacklist => {
                        apply_list(&mut ch.blacklist, *mode, uids.iter().cloned())
                    }
                    ListKind::Whitelist => {
                        apply_list(&mut ch.whitelist, *mode, uids.iter().cloned())
                    }
                }
            }
        }
    }

    /// The record as stored.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn apply_list<T: Ord>(
    set: &mut std::collections::BTreeSet<T>,
    mode: ListMode,
    items: impl Iterator<Item = T>,
) {
    match mode {
        ListMode::Add => set.extend(items),
        ListMode::Set => {
            set.clear();
            set.extend(items);
        }
        ListMode::Remove => {
            for i in items {
                set.remove(&i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_apply() {
        let mut ch = Channels::default();
        let mut us = Users::default();
        let recs = [
            MetaRecord::ChannelUpsert {
                channel_id: "g".into(),
                channel_type: 2,
                info: ChannelInfo::default(),
            },
            MetaRecord::List {
                channel_id: "g".into(),
                channel_type: 2,
                list: ListKind::Subscribers,
                mode: ListMode::Add,
                uids: vec!["a".into(), "b".into(), "c".into()],
            },
            MetaRecord::List {
                channel_id: "g".into(),
                channel_type: 2,
                list: ListKind::Subscribers,
                mode: ListMode::Remove,
                uids: vec!["b".into()],
            },
            MetaRecord::Token {
                uid: "a".into(),
                device_flag: 1,
                token: DeviceToken {
                    token: "t".into(),
                    device_level: 1,
                },
            },
        ];
        for r in &recs {
            let back: MetaRecord = serde_json::from_slice(&r.encode()).unwrap();
            assert_eq!(&back, r);
            back.apply(&mut ch, &mut us);
        }
        let g = ch.get("g", 2).unwrap();
        let members: Vec<&str> = g.subscribers.iter().map(|s| &**s).collect();
        assert_eq!(members, vec!["a", "c"]);
        assert_eq!(us.get("a").unwrap().tokens[&1].token, "t");
    }
}
