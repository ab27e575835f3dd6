//! The meta snapshot format: everything one shard's meta log rebuilds, in one compact binary
//! encoding, so that start-up loads it and replays only the ops after it.
//!
//! Version 3 (the storage layer frames it with a magic, the covered LSN, the length and a
//! CRC32C; version 1, without the purged and events sections, and version 2, without the
//! events section, are still read). Strings are a varint length and UTF-8 bytes; seqs are varints; counts are `u32`
//! little-endian:
//!
//! ```text
//! u8 version = 3
//! channels: count, then per channel
//!     str id, u8 type, info, list subscribers, list blacklist, list whitelist
//! users: count, then per user (only users with something stored)
//!     str uid
//!     tokens: count × (u8 device_flag, str token, u8 device_level)
//!     conversations with a recorded position: count ×
//!         (str channel id as seen, u8 type, varint readed_to, varint deleted_to, varint last_seq)
//!     CMD read positions: count × (str storage id, u8 type, varint read_to)
//! u8 has_globals (1 only on the globals owner), then if 1:
//!     list system uids (as stored, never the datasource's)
//!     persons: count × (str uid, info, list blacklist, list whitelist)
//! purged (version 2): count × (str storage id, u8 type, varint seq) — messages deleted with
//!     their channel, up to that seq
//! events (version 3): count × anchor (message events, see `msg_event`):
//!     str storage id, u8 type, str client_msg_no, str from_uid, varint message_id,
//!     varint seq, keys: count × (str key, str status, varint last_seq, str snapshot,
//!     u8 end_reason, str error, str event_id, str event_type, str visibility,
//!     varint occurred_at)
//! info = u8 ban, u8 disband, u8 send_ban, u8 allow_stranger, str extra (JSON object or "")
//! list = count × str
//! ```
//!
//! Derived state is left out: sessions, unread counts (recomputed as `last − read`), the newest
//! message of each conversation (announced from the message logs at start-up), conversations
//! without a recorded position and CMD channels never read.

mod restore;
mod wire;

#[cfg(test)]
mod tests;

pub use restore::{restore, Restored};
pub use wire::WireError;

use super::channels::{ChannelInfo, ChannelState, Channels};
use super::globals::{Globals, PersonAcl};
use super::meta::OwnedMeta;
use super::msg_event::{state::AnchorEvents, AnchorKey, KeyState, StoredEvents};
use super::users::{Conversation, DeviceToken, Users};
use std::collections::BTreeSet;
use std::sync::Arc;
use wire::{Reader, Writer};

/// The format version this build writes and reads.
pub const VERSION: u8 = 4;
/// The oldest format version this build still reads.
pub const OLDEST_VERSION: u8 = 1;

/// What a snapshot is encoded from: one shard's owned state, borrowed for the encoding.
pub struct MetaView<'a> {
    /// Channels the shard owns.
    pub channels: &'a Channels,
    /// Users the shard owns.
    pub users: &'a Users,
    /// Stored message events of the shard's channels.
    pub events: &'a StoredEvents,
    /// On the globals owner: the global tables and the system uids as stored.
    pub globals: Option<(&'a Globals, &'a BTreeSet<String>)>,
}

/// Sizes of one snapshot, for logs and measurements.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Channels.
    pub channels: usize,
    /// Users with stored state.
    pub users: usize,
    /// List members, tokens, positions and person-list entries.
    pub entries: usize,
}

/// Encodes the state; `size_hint` presizes the buffer (the previous snapshot's size).
pub fn encode(view: &MetaView<'_>, size_hint: usize) -> (Vec<u8>, Counts) {
    let mut w = Writer::with_capacity(size_hint.max(64));
    let mut counts = Counts::default();
    w.u8(VERSION);
    let at = w.count_placeholder();
    for ((id, ty), ch) in view.channels.iter() {
        w.str(id);
        w.u8(*ty);
        write_info(&mut w, &ch.info);
        counts.entries += write_list(&mut w, ch.subscribers.iter().map(|s| &**s));
        counts.entries += write_list(&mut w, ch.blacklist.iter().map(String::as_str));
        counts.entries += write_list(&mut w, ch.whitelist.iter().map(String::as_str));
        counts.channels += 1;
    }
    w.patch_count(at, counts.channels as u32);
    let at = w.count_placeholder();
    for (uid, u) in view.users.iter() {
        let start = w.len();
        w.str(uid);
        let tokens = w.count_placeholder();
        for (flag, t) in &u.tokens {
            w.u8(*flag);
            w.str(&t.token);
            w.u8(t.device_level);
        }
        w.patch_count(tokens, u.tokens.len() as u32);
        let convs = w.count_placeholder();
        let mut n_convs = 0u32;
        for ((id, ty), c) in u.conversations.iter().filter(|(_, c)| c.positioned) {
            w.str(id);
            w.u8(*ty);
            w.varint(c.readed_to_msg_seq);
            w.varint(c.deleted_to_seq);
            w.varint(c.last_msg_seq);
            n_convs += 1;
        }
        w.patch_count(convs, n_convs);
        let cmds = w.count_placeholder();
        let mut n_cmds = 0u32;
        for ((id, ty), (_, read)) in u.cmd_channels().filter(|(_, (_, r))| *r > 0) {
            w.str(id);
            w.u8(*ty);
            w.varint(*read);
            n_cmds += 1;
        }
        w.patch_count(cmds, n_cmds);
        w.str(u.plugin_no().unwrap_or(""));
        let stored = u.tokens.len()
            + n_convs as usize
            + n_cmds as usize
            + usize::from(u.plugin_no().is_some());
        if stored == 0 {
            w.truncate(start); // sessions only: nothing to keep
            continue;
        }
        counts.users += 1;
        counts.entries += stored;
    }
    w.patch_count(at, counts.users as u32);
    match view.globals {
        None => w.u8(0),
        Some((g, stored_uids)) => {
            w.u8(1);
            counts.entries += write_list(&mut w, stored_uids.iter().map(String::as_str));
            let at = w.count_placeholder();
            for (uid, acl) in &g.persons {
                w.str(uid);
                write_info(&mut w, &acl.info);
                counts.entries += write_list(&mut w, acl.blacklist.iter().map(String::as_str));
                counts.entries += write_list(&mut w, acl.whitelist.iter().map(String::as_str));
            }
            w.patch_count(at, g.persons.len() as u32);
        }
    }
    let at = w.count_placeholder();
    let mut n_purged = 0u32;
    for ((id, ty), seq) in view.channels.purged() {
        w.str(id);
        w.u8(*ty);
        w.varint(seq);
        n_purged += 1;
    }
    w.patch_count(at, n_purged);
    counts.entries += n_purged as usize;
    counts.entries += write_events(&mut w, view.events);
    (w.buf, counts)
}

/// Writes the events section; returns the number of keys written.
fn write_events(w: &mut Writer, events: &StoredEvents) -> usize {
    w.known_count(events.len() as u32);
    let mut n = 0;
    for (k, a) in events.iter() {
        w.str(&k.channel_id);
        w.u8(k.channel_type);
        w.str(&k.client_msg_no);
        w.str(&a.from_uid);
        w.varint(a.message_id as u64);
        w.varint(a.seq);
        w.known_count(a.keys.len() as u32);
        for (key, s) in &a.keys {
            w.str(key);
            w.str(&s.status);
            w.varint(s.last_seq);
            w.str(&s.snapshot);
            w.u8(s.end_reason);
            w.str(&s.error);
            w.str(&s.event_id);
            w.str(&s.event_type);
            w.str(&s.visibility);
            w.varint(s.occurred_at as u64);
            n += 1;
        }
    }
    n
}

/// Reads the events section into `into`; returns the number of keys read.
fn read_events(r: &mut Reader<'_>, into: &mut StoredEvents) -> Result<usize, WireError> {
    // Smallest anchor: id, type, number, sender, message id, seq, key count.
    let anchors = r.count(1 + 1 + 1 + 1 + 1 + 1 + 4)?;
    let mut n = 0;
    for _ in 0..anchors {
        let key = AnchorKey {
            channel_id: r.str()?.to_string(),
            channel_type: r.u8()?,
            client_msg_no: r.str()?.to_string(),
        };
        let mut a = AnchorEvents {
            from_uid: r.str()?.to_string(),
            message_id: r.varint()? as i64,
            seq: r.varint()?,
            ..Default::default()
        };
        // Smallest key: nine one-byte fields and a one-byte end reason.
        let keys = r.count(10)?;
        for _ in 0..keys {
            let name = r.str()?.to_string();
            let s = KeyState {
                status: r.str()?.to_string(),
                last_seq: r.varint()?,
                snapshot: r.str()?.to_string(),
                end_reason: r.u8()?,
                error: r.str()?.to_string(),
                event_id: r.str()?.to_string(),
                event_type: r.str()?.to_string(),
                visibility: r.str()?.to_string(),
                occurred_at: r.varint()? as i64,
            };
            a.keys.insert(name, s);
        }
        n += keys;
        into.insert(key, a);
    }
    Ok(n)
}

fn write_info(w: &mut Writer, info: &ChannelInfo) {
    w.u8(info.ban);
    w.u8(info.disband);
    w.u8(info.send_ban);
    w.u8(info.allow_stranger);
    if info.extra.is_empty() {
        w.str("");
    } else {
        // A map of JSON values always serializes.
        w.str(&serde_json::to_string(&info.extra).unwrap_or_default());
    }
}

fn write_list<'s>(w: &mut Writer, items: impl Iterator<Item = &'s str>) -> usize {
    let at = w.count_placeholder();
    let mut n = 0;
    for s in items {
        w.str(s);
        n += 1;
    }
    w.patch_count(at, n as u32);
    n as usize
}

/// Loads a snapshot into empty state. On the globals owner the global section fills both
/// the replica and the stored system uids; elsewhere there is none.
pub fn decode(bytes: &[u8], into: &mut OwnedMeta<'_>) -> Result<Counts, WireError> {
    let mut r = Reader::new(bytes);
    let mut counts = Counts::default();
    let version = r.u8()?;
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(WireError(format!(
            "snapshot format version {version} is not supported (this build reads \
             {OLDEST_VERSION} to {VERSION})"
        )));
    }
    // Smallest encodings: channel = id + type + info + three counts; user = uid + three counts.
    let n = r.count(1 + 1 + 5 + 12)?;
    into.channels.reserve(n);
    for _ in 0..n {
        let id = r.str()?;
        let ty = r.u8()?;
        let info = read_info(&mut r)?;
        let subscribers = read_set(&mut r, |s| Arc::<str>::from(s))?;
        let blacklist = read_set(&mut r, str::to_string)?;
        let whitelist = read_set(&mut r, str::to_string)?;
        counts.entries += subscribers.len() + blacklist.len() + whitelist.len();
        counts.channels += 1;
        *into.channels.get_or_create(id, ty) = ChannelState {
            info,
            subscribers,
            blacklist,
            whitelist,
        };
    }
    let n = r.count(1 + 12)?;
    into.users.reserve(n);
    for _ in 0..n {
        let uid = r.str()?;
        let user = into.users.entry(uid);
        let tokens = r.count(3)?;
        user.tokens.reserve(tokens);
        for _ in 0..tokens {
            let flag = r.u8()?;
            let token = r.str()?.to_string();
            let device_level = r.u8()?;
            user.tokens.insert(
                flag,
                DeviceToken {
                    token,
                    device_level,
                },
            );
        }
        let convs = r.count(5)?;
        user.conversations.reserve(convs);
        for _ in 0..convs {
            let id = r.str()?.to_string();
            let ty = r.u8()?;
            let readed = r.varint()?;
            let deleted = r.varint()?;
            let last = r.varint()?;
            user.conversations.insert(
                (id, ty),
                Conversation {
                    last_msg_seq: last,
                    unread: last.saturating_sub(readed),
                    readed_to_msg_seq: readed,
                    deleted_to_seq: deleted,
                    positioned: true,
                    ..Default::default()
                },
            );
        }
        let cmds = r.count(3)?;
        for _ in 0..cmds {
            let id = r.str()?.to_string();
            let ty = r.u8()?;
            let read = r.varint()?;
            user.extra_mut().cmd_channels.insert((id, ty), (read, read));
        }
        let mut plugin = 0;
        if version >= 4 {
            let no = r.str()?;
            if !no.is_empty() {
                user.extra_mut().plugin_no = Some(no.into());
                plugin = 1;
            }
        }
        counts.users += 1;
        counts.entries += tokens + convs + cmds + plugin;
    }
    if r.u8()? == 1 {
        let uids = read_set(&mut r, str::to_string)?;
        counts.entries += uids.len();
        into.globals.system_uids.extend(uids.iter().cloned());
        into.system_uids.extend(uids);
        let n = r.count(1 + 5 + 8)?;
        into.globals.persons.reserve(n);
        for _ in 0..n {
            let uid = r.str()?.to_string();
            let acl = PersonAcl {
                info: read_info(&mut r)?,
                blacklist: read_set(&mut r, str::to_string)?,
                whitelist: read_set(&mut r, str::to_string)?,
            };
            counts.entries += acl.blacklist.len() + acl.whitelist.len();
            into.globals.persons.insert(uid, acl);
        }
    }
    if version >= 2 {
        let n = r.count(1 + 1 + 1)?;
        for _ in 0..n {
            let id = r.str()?;
            let ty = r.u8()?;
            let seq = r.varint()?;
            into.channels.purge_to(id, ty, seq);
        }
        counts.entries += n;
    }
    if version >= 3 {
        counts.entries += read_events(&mut r, into.events)?;
    }
    r.finish()?;
    Ok(counts)
}

fn read_info(r: &mut Reader<'_>) -> Result<ChannelInfo, WireError> {
    let mut info = ChannelInfo {
        ban: r.u8()?,
        disband: r.u8()?,
        send_ban: r.u8()?,
        allow_stranger: r.u8()?,
        ..Default::default()
    };
    let extra = r.str()?;
    if !extra.is_empty() {
        info.extra = serde_json::from_str(extra)
            .map_err(|e| WireError(format!("channel info extra is not a JSON object: {e}")))?;
    }
    Ok(info)
}

/// A list written by `write_list`, as a set. The encoder writes sets in order, so this
/// collects a sorted vector and builds the tree in bulk instead of inserting one by one.
fn read_set<T: Ord>(
    r: &mut Reader<'_>,
    make: impl Fn(&str) -> T,
) -> Result<BTreeSet<T>, WireError> {
    let n = r.count(1)?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(make(r.str()?));
    }
    Ok(items.into_iter().collect())
}
