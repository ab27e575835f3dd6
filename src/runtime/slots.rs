//! Ownership by hash slot: `slot = crc32(key) % slots`, slot → shard.
//!
//! Every piece of state (a channel, a user) has exactly one owner shard, found from its key's
//! slot. A single node has 256 slots; a cluster has `cluster.slotCount` (each a replication
//! group, led by one node), mapped to shards the same way on every node.

/// How many hash slots a single node has; fixed, so placement is stable across restarts.
pub const SLOT_COUNT: u16 = 256;

/// The slot of a key: CRC-32 (IEEE) of its UTF-8 bytes, modulo [`SLOT_COUNT`].
pub fn slot_of(key: &str) -> u16 {
    (crc32fast::hash(key.as_bytes()) % SLOT_COUNT as u32) as u16
}

/// Slot → shard placement for one node: slots are dealt out in contiguous, even ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotMap {
    shards: u16,
    slots: u16,
}

impl SlotMap {
    /// A placement of [`SLOT_COUNT`] slots over `shards` shards (1 ≤ shards ≤ 256).
    pub fn new(shards: usize) -> Self {
        Self::with_slots(shards, SLOT_COUNT)
    }

    /// A placement of `slots` slots over `shards` shards (1 ≤ shards ≤ slots).
    pub fn with_slots(shards: usize, slots: u16) -> Self {
        assert!(
            (1..=slots as usize).contains(&shards),
            "shard count {shards} must be between 1 and the slot count {slots}"
        );
        Self {
            shards: shards as u16,
            slots,
        }
    }

    /// How many slots there are.
    pub fn slot_count(&self) -> u16 {
        self.slots
    }

    /// The slot of a key: CRC-32 (IEEE) of its UTF-8 bytes, modulo the slot count.
    pub fn slot_of(&self, key: &str) -> u16 {
        (crc32fast::hash(key.as_bytes()) % self.slots as u32) as u16
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.shards as usize
    }

    /// The shard that owns a slot.
    pub fn shard_of_slot(&self, slot: u16) -> usize {
        debug_assert!(slot < self.slots);
        (slot as usize * self.shards as usize) / self.slots as usize
    }

    /// The shard that owns a key.
    pub fn shard_of(&self, key: &str) -> usize {
        self.shard_of_slot(self.slot_of(key))
    }

    /// The slots a shard owns, in order.
    pub fn slots_of_shard(&self, shard: usize) -> impl Iterator<Item = u16> + '_ {
        (0..self.slots).filter(move |s| self.shard_of_slot(*s) == shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_crc32_mod_256() {
        // crc32("123456789") = 0xCBF43926, the CRC-32/IEEE check value.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(slot_of("123456789"), (0xCBF4_3926u32 % 256) as u16);
        assert_eq!(slot_of(""), 0);
    }

    #[test]
    fn every_slot_has_exactly_one_shard_and_ranges_are_even() {
        for shards in 1..=16 {
            let map = SlotMap::new(shards);
            let mut counts = vec![0usize; shards];
            let mut last = 0;
            for slot in 0..SLOT_COUNT {
                let shard = map.shard_of_slot(slot);
                assert!(shard < shards);
                assert!(shard >= last, "placement must be monotonic");
                last = shard;
                counts[shard] += 1;
            }
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(max - min <= 1, "uneven placement {counts:?}");
            let listed: usize = (0..shards).map(|s| map.slots_of_shard(s).count()).sum();
            assert_eq!(listed, SLOT_COUNT as usize);
        }
    }

    #[test]
    fn keys_spread_over_shards() {
        let map = SlotMap::new(4);
        let mut counts = [0usize; 4];
        for i in 0..10_000 {
            counts[map.shard_of(&format!("user-{i}"))] += 1;
        }
        for c in counts {
            assert!((2000..3000).contains(&c), "skewed spread {counts:?}");
        }
    }

    #[test]
    #[should_panic]
    fn zero_shards_is_refused() {
        SlotMap::new(0);
    }
}
