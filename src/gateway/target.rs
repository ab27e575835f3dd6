//! Where a connection's SENDs go: the storage channel and owner shard of a target, resolved
//! once and reused while the client keeps writing to the same conversation
//! (the common case: a burst of messages to one chat).

use crate::proto::WkStr;
use crate::shard::ids::base_channel;
use crate::shard::ingress::storage_channel;
use crate::shard::Shard;
use std::cell::Cell;

/// A SEND target resolved once: its storage channel (the person fake id, the CMD twin) and the
/// shard that owns it, both functions of (sender, target, type, sync-once) only; the sender
/// of a connection never changes.
struct TargetMemo {
    /// The channel id as the client named it (a copy: a slice would pin the read buffer).
    target: String,
    channel_type: u8,
    sync_once: bool,
    /// The storage channel id.
    channel_id: WkStr,
    /// The shard that owns `channel_id`.
    owner: usize,
}

impl TargetMemo {
    fn matches(&self, target: &str, channel_type: u8, sync_once: bool) -> bool {
        self.channel_type == channel_type && self.sync_once == sync_once && *self.target == *target
    }
}

/// A connection's last SEND target, kept beside its identity (one pointer; emptied when the
/// connection parks, so an idle connection keeps nothing for it).
#[derive(Default)]
pub struct LastTarget(Cell<Option<Box<TargetMemo>>>);

impl LastTarget {
    /// The storage channel of a SEND from `from` to `target` and its owner shard: from the
    /// memo when the target is the last one.
    pub fn resolve(
        &self,
        shard: &Shard,
        from: &str,
        target: &str,
        channel_type: u8,
        sync_once: bool,
    ) -> (WkStr, usize) {
        let mut memo = self.0.take();
        if let Some(m) = memo.as_deref() {
            if m.matches(target, channel_type, sync_once) {
                let found = (m.channel_id.clone(), m.owner);
                self.0.set(memo);
                return found;
            }
        }
        let channel_id = WkStr::from(storage_channel(from, target, channel_type, sync_once));
        let owner = shard.channel_owner(base_channel(&channel_id));
        match memo.as_deref_mut() {
            // A client switching targets reuses the memo's allocations.
            Some(m) => {
                m.target.clear();
                m.target.push_str(target);
                m.channel_type = channel_type;
                m.sync_once = sync_once;
                m.channel_id = channel_id.clone();
                m.owner = owner;
            }
            None => {
                memo = Some(Box::new(TargetMemo {
                    target: target.to_owned(),
                    channel_type,
                    sync_once,
                    channel_id: channel_id.clone(),
                    owner,
                }))
            }
        }
        self.0.set(memo);
        (channel_id, owner)
    }

    /// Forgets the memo (the connection parks).
    pub fn clear(&self) {
        self.0.set(None);
    }
}

/// A copy of an identity starts with no memo.
impl Clone for LastTarget {
    fn clone(&self) -> Self {
        LastTarget::default()
    }
}

impl std::fmt::Debug for LastTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LastTarget")
    }
}
