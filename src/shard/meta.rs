//! Metadata changes as durable records: each REST change is appended to the owner shard's meta
//! log (JSON, one record per change) and acknowledged only once durable; start-up replays them.

use super::channels::{ChannelInfo, Channels};
use super::globals::Globals;
use super::msg_event::{AnchorKey, KeyState, StoredEvents};
use super::users::{DeviceToken, Users};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
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
    /// `/user/update_plugin_no` (empty: unbound).
    PluginNo {
        /// User.
        uid: String,
        /// Plugin number.
        plugin_no: String,
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
    /// `/channel/delete`: forgets the channel and deletes its messages.
    ChannelDelete {
        /// Channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// The channel's storage channels (itself, its CMD twin, its stream log) and their
        /// newest seq when it was deleted: messages up to it are no longer readable.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        purged: Vec<(String, u64)>,
    },
    /// A user's conversation removed (`/channel/subscriber_remove`).
    ConvRemove {
        /// The user.
        uid: String,
        /// Channel id as the user sees it.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
    },
    /// A user's read or delete position in one conversation (or CMD channel).
    ConvPos {
        /// The user.
        uid: String,
        /// Channel id as the user sees it (storage id for CMD channels).
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// New read position, if it changes.
        readed_to: Option<u64>,
        /// New delete position, if it changes.
        deleted_to: Option<u64>,
        /// A CMD channel position rather than a conversation.
        cmd: bool,
    },
    /// `/user/systemuids_add` and `_remove`.
    SystemUids {
        /// Add or remove.
        mode: ListMode,
        /// The uids.
        uids: Vec<String>,
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
    /// One stored message event (`/message/event`): the whole new state of its key.
    MsgEvent {
        /// The anchor's storage channel id.
        channel_id: String,
        /// Channel type.
        channel_type: u8,
        /// The anchor's client number.
        client_msg_no: String,
        /// The anchor's sender, when known.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        from_uid: String,
        /// The anchor's message id, when known (0 otherwise).
        #[serde(default)]
        message_id: i64,
        /// The event key.
        event_key: String,
        /// The key's state after the event (its `last_seq` is the anchor's new counter).
        state: KeyState,
    },
}

impl MetaRecord {
    /// Whether the change belongs to the replicated global tables (owned by shard 0).
    pub fn is_global(&self) -> bool {
        match self {
            MetaRecord::SystemUids { .. } => true,
            MetaRecord::ChannelUpsert { channel_type, .. }
            | MetaRecord::ChannelDelete { channel_type, .. }
            | MetaRecord::List { channel_type, .. } => *channel_type == 1,
            MetaRecord::Token { .. }
            | MetaRecord::PluginNo { .. }
            | MetaRecord::ConvPos { .. }
            | MetaRecord::ConvRemove { .. }
            | MetaRecord::MsgEvent { .. } => false,
        }
    }

    /// Applies a global change to a replica of the global tables.
    pub fn apply_global(&self, g: &mut Globals) {
        match self {
            MetaRecord::SystemUids { mode, uids } => {
                apply_list(&mut g.system_uids, *mode, uids.iter().cloned())
            }
            MetaRecord::ChannelUpsert {
                channel_id, info, ..
            } => {
                g.persons.entry(channel_id.clone()).or_default().info = info.clone();
            }
            MetaRecord::ChannelDelete { channel_id, .. } => {
                g.persons.remove(channel_id);
            }
            MetaRecord::List {
                channel_id,
                list,
                mode,
                uids,
                ..
            } => g.apply_person_list(channel_id, *list, *mode, uids),
            MetaRecord::Token { .. }
            | MetaRecord::PluginNo { .. }
            | MetaRecord::ConvPos { .. }
            | MetaRecord::ConvRemove { .. }
            | MetaRecord::MsgEvent { .. } => {}
        }
    }

    /// Applies the change on the shard whose meta log holds it (when it is appended and at
    /// replay): its channels and users and, for a global change (only in the globals owner's
    /// log), the global tables and the stored system uids.
    pub fn apply_owned(&self, m: &mut OwnedMeta<'_>) {
        self.apply(m.channels, m.users);
        self.apply_events(m.events);
        if self.is_global() {
            self.apply_global(m.globals);
            if let MetaRecord::SystemUids { mode, uids } = self {
                apply_list(m.system_uids, *mode, uids.iter().cloned());
            }
        }
    }

    /// Applies the change to the shard's stored message events: a `MsgEvent` sets its key's
    /// state; deleting a (non-person) channel forgets its events.
    pub fn apply_events(&self, events: &mut StoredEvents) {
        match self {
            MetaRecord::MsgEvent {
                channel_id,
                channel_type,
                client_msg_no,
                from_uid,
                message_id,
                event_key,
                state,
            } => {
                let anchor = AnchorKey {
                    channel_id: channel_id.clone(),
                    channel_type: *channel_type,
                    client_msg_no: client_msg_no.clone(),
                };
                events.apply(anchor, from_uid, *message_id, event_key, state.clone());
            }
            MetaRecord::ChannelDelete {
                channel_id,
                channel_type,
                ..
            } if !self.is_global() => events.remove_channel(channel_id, *channel_type),
            _ => {}
        }
    }

    /// Applies the change to the shard's state (at the time of the call and at replay).
    pub fn apply(&self, channels: &mut Channels, users: &mut Users) {
        if self.is_global() {
            return;
        }
        match self {
            MetaRecord::SystemUids { .. } | MetaRecord::MsgEvent { .. } => {}
            MetaRecord::ConvPos {
                uid,
                channel_id,
                channel_type,
                readed_to,
                deleted_to,
                cmd,
            } => {
                let key = (channel_id.clone(), *channel_type);
                if *cmd {
                    // A CMD read position only moves forward; 0 carries nothing.
                    if let Some(r) = readed_to.filter(|r| *r > 0) {
                        let e = users
                            .entry(uid)
                            .extra_mut()
                            .cmd_channels
                            .entry(key)
                            .or_default();
                        e.1 = e.1.max(r);
                        e.0 = e.0.max(r);
                    }
                } else {
                    let conv = users.entry(uid).conversations.entry(key).or_default();
                    conv.positioned = true;
                    if let Some(r) = readed_to {
                        conv.readed_to_msg_seq = *r;
                        conv.last_msg_seq = conv.last_msg_seq.max(*r);
                        conv.unread = conv.last_msg_seq.saturating_sub(*r);
                    }
                    if let Some(d) = deleted_to {
                        conv.deleted_to_seq = *d;
                    }
                }
            }
            MetaRecord::Token {
                uid,
                device_flag,
                token,
            } => {
                users.entry(uid).tokens.insert(*device_flag, token.clone());
            }
            MetaRecord::PluginNo { uid, plugin_no } => {
                users.entry(uid).extra_mut().plugin_no =
                    (!plugin_no.is_empty()).then(|| plugin_no.as_str().into());
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
                purged,
            } => {
                channels.remove(channel_id, *channel_type);
                for (storage_id, seq) in purged {
                    channels.purge_to(storage_id, *channel_type, *seq);
                }
            }
            MetaRecord::ConvRemove {
                uid,
                channel_id,
                channel_type,
            } => {
                if let Some(user) = users.get_mut(uid) {
                    user.conversations
                        .remove(&(channel_id.clone(), *channel_type));
                }
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

/// The state one shard's meta log rebuilds, borrowed to apply a change or load a snapshot.
pub struct OwnedMeta<'a> {
    /// Channels the shard owns.
    pub channels: &'a mut Channels,
    /// Users the shard owns.
    pub users: &'a mut Users,
    /// Stored message events of the shard's channels.
    pub events: &'a mut StoredEvents,
    /// The global tables (written only on their owner shard).
    pub globals: &'a mut Globals,
    /// System uids as stored in the globals owner's meta log (the replica in `globals` also
    /// holds the datasource's, which are never persisted).
    pub system_uids: &'a mut BTreeSet<String>,
}

/// Applies a list change to a set.
pub fn apply_list<T: Ord>(set: &mut BTreeSet<T>, mode: ListMode, items: impl Iterator<Item = T>) {
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
