//! Users a shard owns: device tokens, live sessions (which connection on which shard) and
//! conversations.

use super::msg::ConnRef;
use crate::shard::FastMap as HashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A user's conversations by (channel id as the user sees it, channel type). hashbrown's map,
/// so a delivery finds a conversation by a borrowed [`ConvKeyRef`] and allocates its key only
/// when the conversation is new.
pub type ConvMap = hashbrown::HashMap<(String, u8), Conversation, super::ProcessSeeded>;

/// A conversation key borrowed from a message: looks up a [`ConvMap`] without building the
/// owned key.
#[derive(Clone, Copy, Debug)]
pub struct ConvKeyRef<'a>(pub &'a str, pub u8);

impl std::hash::Hash for ConvKeyRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Exactly as the owned key `(String, u8)` hashes.
        (self.0, self.1).hash(state)
    }
}

impl hashbrown::Equivalent<(String, u8)> for ConvKeyRef<'_> {
    fn equivalent(&self, key: &(String, u8)) -> bool {
        self.1 == key.1 && self.0 == key.0
    }
}

impl From<&ConvKeyRef<'_>> for (String, u8) {
    fn from(k: &ConvKeyRef<'_>) -> Self {
        (k.0.to_owned(), k.1)
    }
}

/// A registered device token (`/user/token`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceToken {
    /// The token.
    pub token: String,
    /// 1 master, 0 slave.
    pub device_level: u8,
}

/// One live connection of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Where the socket is.
    pub conn: ConnRef,
    /// Device kind.
    pub device_flag: u8,
    /// Device identity.
    pub device_id: Arc<str>,
    /// 1 master, 0 slave.
    pub device_level: u8,
}

/// A user's view of one channel (spec http-api §8).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Conversation {
    /// Newest seq in the channel seen by this user.
    pub last_msg_seq: u64,
    /// Its message id.
    pub last_message_id: i64,
    /// Unread count.
    pub unread: u64,
    /// Seq the user has read up to.
    pub readed_to_msg_seq: u64,
    /// Unix seconds of the last message.
    pub timestamp: i64,
    /// Bumped on every change (sync clients compare versions).
    pub version: i64,
    /// Messages up to this seq are hidden from sync (`/conversations/delete`).
    #[serde(default)]
    pub deleted_to_seq: u64,
    /// A read or delete position was recorded for it in the meta log: meta snapshots keep
    /// such conversations; the others are derived state, rebuilt from the message logs.
    #[serde(skip)]
    pub positioned: bool,
}

/// Everything a shard keeps about one user it owns.
#[derive(Default, Debug)]
pub struct UserState {
    /// Tokens by device flag.
    pub tokens: HashMap<u8, DeviceToken>,
    /// Live connections.
    pub sessions: Vec<Session>,
    /// Conversations by (channel id as the user sees it, channel type).
    pub conversations: ConvMap,
    /// What few users have, boxed so the others carry one pointer for it.
    pub extra: Option<Box<UserExtra>>,
}

/// The parts of a [`UserState`] only some users have.
#[derive(Default, Debug)]
pub struct UserExtra {
    /// CMD channels (storage id with the `____cmd` suffix) → (newest seq, read-to seq).
    pub cmd_channels: HashMap<(String, u8), (u64, u64)>,
    /// Seqs returned by the last `/message/sync`, committed by `/message/syncack`.
    pub cmd_pending: Vec<((String, u8), u64)>,
    /// The plugin the user is bound to (`/user/update_plugin_no`; WuKongIM's "AI" users).
    pub plugin_no: Option<Box<str>>,
}

impl UserState {
    /// The rarer parts, for changes (made empty on first use).
    pub fn extra_mut(&mut self) -> &mut UserExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// CMD channels → (newest seq, read-to seq).
    pub fn cmd_channels(&self) -> impl Iterator<Item = (&(String, u8), &(u64, u64))> {
        self.extra.iter().flat_map(|e| e.cmd_channels.iter())
    }

    /// The plugin the user is bound to.
    pub fn plugin_no(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.plugin_no.as_deref())
    }
}

/// The users of one shard, keyed by uid.
#[derive(Default)]
pub struct Users {
    /// Boxed: the table's slots (with their spare capacity) then cost a pointer, not the
    /// whole state, per user.
    map: hashbrown::HashMap<Arc<str>, Box<UserState>, super::ProcessSeeded>,
}

impl Users {
    /// The user, if known.
    pub fn get(&self, uid: &str) -> Option<&UserState> {
        self.map.get(uid).map(|u| &**u)
    }

    /// The user for changes, created empty if missing (one probe of the table; the key is
    /// copied only for a new user).
    pub fn entry(&mut self, uid: &str) -> &mut UserState {
        self.map.entry_ref(uid).or_default()
    }

    /// Like [`Users::entry`], for callers that already hold the uid as an `Arc` (a session
    /// registering): a new user shares it instead of copying the string.
    pub fn entry_arc(&mut self, uid: &Arc<str>) -> &mut UserState {
        // Known users are the rule on this path: look up first, so the key's `Arc` (shared
        // with other threads) is not cloned and dropped for each of them.
        if !self.map.contains_key(&**uid) {
            self.map.insert(uid.clone(), Box::default());
        }
        self.map.get_mut(&**uid).expect("inserted above")
    }

    /// The user for changes, if known.
    pub fn get_mut(&mut self, uid: &str) -> Option<&mut UserState> {
        self.map.get_mut(uid).map(|u| &mut **u)
    }

    /// Every user, for changes.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Arc<str>, &mut UserState)> {
        self.map.iter_mut().map(|(k, v)| (k, &mut **v))
    }

    /// Every user.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &UserState)> {
        self.map.iter().map(|(k, v)| (k, &**v))
    }

    /// Makes room for `n` more users (loading a snapshot).
    pub fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    /// A user's conversations as stored, most recent first, at most `max`: (channel id as
    /// the user sees it, channel type, state). Choosing the newest `max` costs linear time.
    pub fn conversations_of(&self, uid: &str, max: usize) -> Vec<(String, u8, Conversation)> {
        let Some(user) = self.get(uid) else {
            return Vec::new();
        };
        let mut convs: Vec<_> = user.conversations.iter().collect();
        type Row<'a> = (&'a (String, u8), &'a Conversation);
        let newest_first = |a: &Row<'_>, b: &Row<'_>| b.1.timestamp.cmp(&a.1.timestamp);
        if convs.len() > max && max > 0 {
            convs.select_nth_unstable_by(max - 1, newest_first);
        }
        convs.truncate(max);
        convs.sort_by(newest_first);
        convs
            .into_iter()
            .map(|((id, ty), c)| (id.clone(), *ty, c.clone()))
            .collect()
    }

    /// A user's CMD channels with unread messages, at most `max`: (storage id with the CMD
    /// suffix, type, newest seq, read-to seq).
    pub fn unread_cmd_channels(&self, uid: &str, max: usize) -> Vec<(String, u8, u64, u64)> {
        let Some(user) = self.get(uid) else {
            return Vec::new();
        };
        user.cmd_channels()
            .filter(|(_, (last, read))| last > read)
            .take(max)
            .map(|((id, ty), (last, read))| (id.clone(), *ty, *last, *read))
            .collect()
    }

    /// The device flag of each live session of `uid`, in session order.
    pub fn online_devices(&self, uid: &str) -> Vec<u8> {
        self.get(uid)
            .map(|u| u.sessions.iter().map(|s| s.device_flag).collect())
            .unwrap_or_default()
    }

    /// Users with at least one live session.
    pub fn online_count(&self) -> usize {
        self.map.values().filter(|u| !u.sessions.is_empty()).count()
    }
}

/// Which existing sessions a new one replaces (spec wkproto §9.1 rule 6), and whether each
/// gets a DISCONNECT first: master replaces every session of the same device flag (those with
/// another device id are told), slave replaces only the same device id (silently).
pub fn sessions_to_replace(
    existing: &[Session],
    device_flag: u8,
    device_id: &str,
    new_level: u8,
) -> Vec<(ConnRef, bool)> {
    existing
        .iter()
        .filter(|s| s.device_flag == device_flag)
        .filter_map(|s| {
            let same_device = *s.device_id == *device_id;
            if new_level == 1 {
                Some((s.conn, !same_device))
            } else if same_device {
                Some((s.conn, false))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_key_finds_the_owned_one() {
        let mut convs = ConvMap::default();
        convs.insert(("bob".to_string(), 1), Conversation::default());
        convs.insert(("g".to_string(), 2), Conversation::default());
        // Same hash and equality as the owned key: found, nothing inserted.
        convs.entry_ref(&ConvKeyRef("bob", 1)).or_default().unread = 3;
        assert_eq!(convs.len(), 2);
        assert_eq!(convs[&("bob".to_string(), 1)].unread, 3);
        assert!(convs.get(&ConvKeyRef("g", 2)).is_some());
        // Another type or id is another conversation.
        assert!(convs.get(&ConvKeyRef("bob", 2)).is_none());
        convs.entry_ref(&ConvKeyRef("bo", 1)).or_default();
        assert_eq!(convs.len(), 3);
        assert!(convs.contains_key(&("bo".to_string(), 1)));
    }

    fn s(id: u64, flag: u8, dev: &str) -> Session {
        Session {
            conn: ConnRef {
                node: 1,
                shard: 0,
                id,
            },
            device_flag: flag,
            device_id: dev.into(),
            device_level: 0,
        }
    }

    #[test]
    fn replacement_rules() {
        let existing = vec![s(1, 1, "d1"), s(2, 1, "d2"), s(3, 0, "d1")];
        let master = sessions_to_replace(&existing, 1, "d1", 1);
        assert_eq!(
            master,
            vec![
                (
                    ConnRef {
                        node: 1,
                        shard: 0,
                        id: 1
                    },
                    false
                ),
                (
                    ConnRef {
                        node: 1,
                        shard: 0,
                        id: 2
                    },
                    true
                )
            ]
        );
        let slave = sessions_to_replace(&existing, 1, "d1", 0);
        assert_eq!(
            slave,
            vec![(
                ConnRef {
                    node: 1,
                    shard: 0,
                    id: 1
                },
                false
            )]
        );
        assert!(sessions_to_replace(&existing, 2, "d1", 1).is_empty());
    }
}
