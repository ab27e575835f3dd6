//! Identifiers: person-channel fake ids (spec http-api §2), uid validation, and message ids.

pub use crate::runtime::now_millis;

/// Suffix of the channel that stores a conversation's CMD (sync-once) messages.
pub const CMD_SUFFIX: &str = "____cmd";
/// Suffix of the side channel that stores a channel's stream chunks (no seq in the channel).
pub const STREAM_SUFFIX: &str = "____stream";

/// The channel a storage id belongs to, without the CMD or stream suffix.
pub fn base_channel(id: &str) -> &str {
    id.strip_suffix(CMD_SUFFIX)
        .or_else(|| id.strip_suffix(STREAM_SUFFIX))
        .unwrap_or(id)
}

/// The system sender uid, used when a message has no sender.
pub const SYSTEM_UID: &str = "____system";

/// The storage id of the 1:1 chat between `a` and `b`: `crc32(a) > crc32(b) ? a@b : b@a`
/// (ties: `b@a`, i.e. `to@from` with `a` the sender). Symmetric for distinct hashes.
pub fn person_fake_id(a: &str, b: &str) -> String {
    let (ca, cb) = (crc32fast::hash(a.as_bytes()), crc32fast::hash(b.as_bytes()));
    if ca > cb {
        format!("{a}@{b}")
    } else {
        format!("{b}@{a}")
    }
}

/// The two uids of a person fake id, if it is one (`A@B`, exactly two parts).
pub fn person_parts(fake: &str) -> Option<(&str, &str)> {
    let (a, b) = fake.split_once('@')?;
    (!b.contains('@')).then_some((a, b))
}

/// The other party of a person chat from `viewer`'s side (spec §2 back-conversion).
pub fn person_peer<'a>(fake: &'a str, viewer: &str) -> &'a str {
    match person_parts(fake) {
        Some((a, b)) if a == viewer => b,
        Some((a, _)) => a,
        None => fake,
    }
}

/// Whether a uid or channel id is acceptable: non-empty, at most 255 bytes, and free of the
/// characters that build internal ids (`@`, `#`, `&`).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && !id.contains(['@', '#', '&'])
}

/// Epoch of message ids: 2024-01-01T00:00:00Z (41 bits of milliseconds last until 2093).
const ID_EPOCH_MS: u64 = 1_704_067_200_000;
const NODE_BITS: u32 = 10;
const COUNTER_BITS: u32 = 12;

/// Snowflake-style message ids, unique per node without coordination between shards:
/// `41 bits ms since 2024 | 10 bits node id | 12 bits counter`, where shard `k` of `n` only
/// uses counter values `≡ k (mod n)`. When a shard exhausts its counters within a millisecond
/// it borrows the next millisecond, so ids stay unique and increasing under any load.
pub struct MessageIds {
    node: u64,
    shard: u64,
    shards: u64,
    last_ms: u64,
    counter: u64,
}

impl MessageIds {
    /// A generator for shard `shard` of `shards` on node `node` (≤ 1023).
    pub fn new(node: u64, shard: usize, shards: usize) -> Self {
        assert!(node < (1 << NODE_BITS), "node id {node} exceeds 10 bits");
        assert!((1..=(1 << COUNTER_BITS)).contains(&shards) && shard < shards);
        Self {
            node,
            shard: shard as u64,
            shards: shards as u64,
            last_ms: 0,
            counter: shard as u64,
        }
    }

    /// The next id.
    pub fn next_id(&mut self) -> i64 {
        self.next_at(now_millis().saturating_sub(ID_EPOCH_MS))
    }

    fn next_at(&mut self, now_ms: u64) -> i64 {
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            self.counter = self.shard;
        } else {
            self.counter += self.shards;
            if self.counter >= (1 << COUNTER_BITS) {
                self.last_ms += 1;
                self.counter = self.shard;
            }
        }
        ((self.last_ms << (NODE_BITS + COUNTER_BITS)) | (self.node << COUNTER_BITS) | self.counter)
            as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn fake_ids_are_symmetric_and_split_back() {
        let f = person_fake_id("alice", "bob");
        assert_eq!(f, person_fake_id("bob", "alice"));
        assert_eq!(person_peer(&f, "alice"), "bob");
        assert_eq!(person_peer(&f, "bob"), "alice");
        let (ca, cb) = (crc32fast::hash(b"alice"), crc32fast::hash(b"bob"));
        assert_eq!(f, if ca > cb { "alice@bob" } else { "bob@alice" });
    }

    #[test]
    fn ids_with_reserved_characters_are_refused() {
        assert!(valid_id("alice"));
        for bad in ["", "a@b", "a#b", "a&b"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn message_ids_are_unique_across_shards_and_increasing() {
        let mut gens: Vec<MessageIds> = (0..3).map(|s| MessageIds::new(7, s, 3)).collect();
        let mut seen = HashSet::new();
        for g in gens.iter_mut() {
            let mut last = 0;
            // 5000 ids within the same millisecond force borrowing of later milliseconds.
            for _ in 0..5000 {
                let id = g.next_at(1000);
                assert!(id > last, "increasing per shard");
                last = id;
                assert!(seen.insert(id), "unique across shards");
                assert_eq!((id >> COUNTER_BITS) & 0x3FF, 7, "node bits");
            }
        }
    }
}
