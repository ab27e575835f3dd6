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
    // Byte scans (ids are short): `split_once` with a char pattern went through the generic
    // searcher, ~1 % of a shard's samples with four splits per delivered 1:1 message.
    let bytes = fake.as_bytes();
    let at = bytes.iter().position(|&c| c == b'@')?;
    if bytes[at + 1..].contains(&b'@') {
        return None;
    }
    // `@` is ASCII, so both ends are char boundaries.
    Some((&fake[..at], &fake[at + 1..]))
}

/// Whether two uids are equal, decided without reading their bytes when both are the same
/// slice: a 1:1 message's sender and receivers are parts of its channel id, whose bytes a
/// receiver's shard has at hand, while a separately allocated sender uid was a cache miss.
#[inline]
pub fn same_uid(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
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

/// Epoch of message ids: Twitter's snowflake epoch, 2010-11-04T01:42:54.657Z, as WuKongIM
/// uses (41 bits of milliseconds last until 2080), so a backend decodes an id's time as
/// `(id >> 22) + ID_EPOCH_MS`.
pub const ID_EPOCH_MS: u64 = 1_288_834_974_657;
/// Bits of the node id (`cluster.nodeId`, at most 1023).
pub const NODE_BITS: u32 = 10;
/// Bits of the per-millisecond counter.
pub const COUNTER_BITS: u32 = 12;

/// Snowflake message ids, unique per node without coordination between shards:
/// `41 bits ms since ID_EPOCH_MS | 10 bits node id | 12 bits counter`, where shard `k` of
/// `n` only uses counter values `≡ k (mod n)`. When a shard exhausts its counters within a
/// millisecond it borrows the next millisecond, so ids stay unique and increasing under any
/// load; [`MessageIds::resume_after`] keeps them above the ids a shard stored before a
/// restart (a clock set back, or ids of an older epoch, which are all smaller).
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

    /// Makes every later id larger than `id` (the largest id this shard stored): its
    /// millisecond is taken as used up.
    pub fn resume_after(&mut self, id: i64) {
        let ms = (id.max(0) as u64) >> (NODE_BITS + COUNTER_BITS);
        if ms + 1 > self.last_ms {
            self.last_ms = ms + 1;
            self.counter = self.shard;
        }
    }

    /// The next id.
    pub fn next_id(&mut self) -> i64 {
        self.next_id_at(now_millis())
    }

    /// The next id, issued at `unix_ms` (the caller's clock read, shared with the message's
    /// timestamp).
    pub fn next_id_at(&mut self, unix_ms: u64) -> i64 {
        self.next_at(unix_ms.saturating_sub(ID_EPOCH_MS))
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

/// A fresh client_msg_no for a REST send that named none: 32 hex characters and `0`, as
/// WuKongIM v2 generates them (JSON-RPC's are 32 hex characters, spec §2.4).
pub fn new_client_msg_no() -> String {
    format!("{:032x}0", rand::random::<u128>())
}

/// The Unix time in milliseconds a message id was issued at.
pub fn id_unix_millis(id: i64) -> u64 {
    ((id.max(0) as u64) >> (NODE_BITS + COUNTER_BITS)) + ID_EPOCH_MS
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
    fn person_ids_split_in_exactly_two_parts() {
        assert_eq!(person_parts("alice@bob"), Some(("alice", "bob")));
        assert_eq!(person_parts("@bob"), Some(("", "bob")));
        assert_eq!(person_parts("é@ü"), Some(("é", "ü")));
        for not_person in ["group-1", "a@b@c", "a@@", ""] {
            assert_eq!(person_parts(not_person), None, "{not_person}");
        }
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

    #[test]
    fn ids_decode_to_their_time_on_the_twitter_epoch() {
        let mut g = MessageIds::new(1001, 0, 2);
        let before = now_millis();
        let id = g.next_id();
        let after = now_millis();
        let t = id_unix_millis(id);
        assert!((before..=after).contains(&t), "{before} <= {t} <= {after}");
        assert_eq!((id >> COUNTER_BITS) & 0x3FF, 1001);
    }

    #[test]
    fn resumed_ids_stay_above_stored_ones() {
        // Ids of the former epoch (2024-01-01) are below every new one.
        let old_epoch = 1_704_067_200_000u64;
        let old = (((now_millis() - old_epoch) << 22) | (1001 << 12) | 4095) as i64;
        let mut g = MessageIds::new(1001, 1, 2);
        g.resume_after(old);
        assert!(g.next_id() > old);
        // A stored id from the future (the clock was set back): ids continue above it.
        let future = ((now_millis() - ID_EPOCH_MS + 60_000) << 22) as i64 | (1001 << 12) | 4094;
        let mut g = MessageIds::new(1001, 1, 2);
        g.resume_after(future);
        let mut last = future;
        for _ in 0..5000 {
            let id = g.next_id();
            assert!(id > last);
            last = id;
        }
    }
}
