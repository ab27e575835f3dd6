//! In-memory per-channel indexes: seq → LSN (dense from the first stored seq) and
//! message_id → LSN.

/// A hash map with a fast, randomly seeded hasher.
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

use crate::error::{Result, StoreError};

/// Number of a channel inside one store (an interned `(channel_id, channel_type)`).
pub type ChannelNo = u32;

/// One channel's seq → LSN index.
#[derive(Debug, Clone)]
pub struct ChannelIndex {
    /// Storage channel id.
    pub id: Box<str>,
    /// Channel type.
    pub ty: u8,
    /// Seq of `lsns[0]` (seqs below were deleted by retention).
    first_seq: u64,
    lsns: Vec<u64>,
}

impl ChannelIndex {
    /// Highest seq assigned (0 if none).
    pub fn max_seq(&self) -> u64 {
        self.first_seq + self.lsns.len() as u64 - 1
    }
    /// First seq still stored.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }
    /// LSN of `seq`, if stored.
    pub fn lsn(&self, seq: u64) -> Option<u64> {
        if seq < self.first_seq {
            return None;
        }
        self.lsns.get((seq - self.first_seq) as usize).copied()
    }
    /// Drops entries below `first_lsn` (deleted segments).
    fn trim_below(&mut self, first_lsn: u64) {
        let n = self.lsns.partition_point(|&l| l < first_lsn);
        if n > 0 {
            self.lsns.drain(..n);
            self.first_seq += n as u64;
        }
    }
}

/// All channels of a store and the message_id index.
#[derive(Default)]
pub struct Indexes {
    channels: Vec<ChannelIndex>,
    /// channel_type → (channel_id → channel number); few types, so a short list.
    by_key: Vec<(u8, HashMap<Box<str>, ChannelNo>)>,
    by_message_id: MessageIds,
}

/// Every how many in-order messages the message-id index keeps a sample.
pub const ID_SAMPLE_EVERY: u32 = 32;

/// Where a message id can be: exactly at an LSN (an out-of-order id), or somewhere in an LSN
/// range to scan (`from..until`, `until` = `u64::MAX` for "to the end of the log").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdLocation {
    /// Stored at this LSN.
    At(u64),
    /// If stored, between these LSNs; stop at the first record of the id's generator
    /// ([`id_generator`]) with a larger id (other generators' records are skipped).
    Scan {
        /// First LSN to read.
        from: u64,
        /// LSN not to reach.
        until: u64,
    },
}

/// The generator of a message id: its node bits (WuKongIM's snowflake layout,
/// `millisecond << 22 | node << 12 | counter`). One node's ids only increase; a cluster
/// replica stores every leader's, interleaved.
pub fn id_generator(id: i64) -> u16 {
    ((id as u64 >> 12) & 0x3ff) as u16
}

/// One generator's ids: ascending in id and LSN, sampled.
#[derive(Default)]
struct IdStream {
    /// (message_id, lsn) samples, ascending in both.
    samples: Vec<(i64, u64)>,
    /// Newest in-order id of this generator.
    newest: Option<i64>,
    /// In-order ids since the last sample.
    since_sample: u32,
}

impl IdStream {
    fn trim_below(&mut self, first_lsn: u64) {
        let n = self.samples.partition_point(|&(_, l)| l < first_lsn);
        if n > 0 {
            // Ids between the last dropped sample and the next one may still be stored from
            // `first_lsn` on: keep that sample, moved up to the first LSN still stored.
            self.samples.drain(..n - 1);
            if self.samples.get(1).is_none_or(|&(_, l)| l > first_lsn) {
                self.samples[0].1 = first_lsn;
            } else {
                self.samples.remove(0);
            }
        }
    }
}

/// message_id → LSN, sparse. Ids come from per-node generators that only increase and
/// records are indexed in LSN order, so each generator's ids ([`id_generator`]) arrive
/// sorted: the index keeps, per generator, one `(id, lsn)` sample every [`ID_SAMPLE_EVERY`]
/// of its messages (half a byte per message instead of a hash-map entry) and a lookup
/// bisects that generator's samples, then scans the log between two of them (its own
/// records there: at most that many). An id not above its generator's newest one (a clock
/// set back between runs) goes into a small side map, exactly. Lookups by id are rare (API
/// queries, revokes, a replica re-applying after a restart); sends only ever append here.
#[derive(Default)]
struct MessageIds {
    /// Per generator (a handful: one per node that led this store's slots).
    streams: Vec<(u16, IdStream)>,
    /// Ids that arrived out of order.
    others: HashMap<i64, u64>,
}

impl MessageIds {
    fn stream(&self, g: u16) -> Option<&IdStream> {
        self.streams.iter().find(|(k, _)| *k == g).map(|(_, s)| s)
    }

    fn insert(&mut self, id: i64, lsn: u64) {
        let g = id_generator(id);
        let i = match self.streams.iter().position(|(k, _)| *k == g) {
            Some(i) => i,
            None => {
                self.streams.push((g, IdStream::default()));
                self.streams.len() - 1
            }
        };
        let s = &mut self.streams[i].1;
        if s.newest.is_some_and(|n| id <= n) {
            self.others.insert(id, lsn);
            return;
        }
        s.newest = Some(id);
        if s.since_sample == 0 {
            s.samples.push((id, lsn));
        }
        s.since_sample = (s.since_sample + 1) % ID_SAMPLE_EVERY;
    }

    /// The largest id indexed.
    fn newest(&self) -> Option<i64> {
        self.streams.iter().filter_map(|(_, s)| s.newest).max()
    }

    fn locate(&self, id: i64) -> Option<IdLocation> {
        if let Some(&lsn) = self.others.get(&id) {
            return Some(IdLocation::At(lsn));
        }
        let s = self.stream(id_generator(id))?;
        if s.newest.is_none_or(|n| id > n) {
            return None;
        }
        // The generator's last sample at or below `id`; its next one bounds the scan.
        let i = s.samples.partition_point(|&(x, _)| x <= id);
        let (_, from) = *s.samples.get(i.checked_sub(1)?)?;
        let until = s.samples.get(i).map_or(u64::MAX, |&(_, l)| l);
        Some(IdLocation::Scan { from, until })
    }

    fn trim_below(&mut self, first_lsn: u64) {
        for (_, s) in &mut self.streams {
            s.trim_below(first_lsn);
        }
        self.others.retain(|_, l| *l >= first_lsn);
    }
}

impl Indexes {
    /// Looks a channel up without allocating.
    pub fn find(&self, id: &str, ty: u8) -> Option<ChannelNo> {
        self.by_key
            .iter()
            .find(|(t, _)| *t == ty)
            .and_then(|(_, m)| m.get(id).copied())
    }

    /// Looks a channel up, creating it (empty, next seq 1) if unknown.
    pub fn find_or_create(&mut self, id: &str, ty: u8) -> ChannelNo {
        if let Some(no) = self.find(id, ty) {
            return no;
        }
        let no = self.channels.len() as ChannelNo;
        self.channels.push(ChannelIndex {
            id: id.into(),
            ty,
            first_seq: 1,
            lsns: Vec::new(),
        });
        let map = match self.by_key.iter_mut().position(|(t, _)| *t == ty) {
            Some(i) => &mut self.by_key[i].1,
            None => {
                self.by_key.push((ty, HashMap::default()));
                &mut self.by_key.last_mut().expect("just pushed").1
            }
        };
        map.insert(id.into(), no);
        no
    }

    /// The channel with this number.
    pub fn channel(&self, no: ChannelNo) -> &ChannelIndex {
        &self.channels[no as usize]
    }

    /// Every channel: (id, type, newest seq).
    pub fn iter(&self) -> impl Iterator<Item = (&str, u8, u64)> + '_ {
        self.channels.iter().map(|c| (&*c.id, c.ty, c.max_seq()))
    }

    /// Number of channels known.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Next seq of a channel.
    pub fn next_seq(&self, no: ChannelNo) -> u64 {
        self.channels[no as usize].max_seq() + 1
    }

    /// Records that `seq` of channel `no` lives at `lsn`. Seqs must be dense: the first seq
    /// seen for a channel may be above 1 (older ones deleted by retention), later ones must
    /// follow by one. A gap is reported as corruption.
    pub fn insert(&mut self, no: ChannelNo, seq: u64, lsn: u64, message_id: i64) -> Result<()> {
        let ch = &mut self.channels[no as usize];
        if ch.lsns.is_empty() && seq > ch.max_seq() {
            ch.first_seq = seq;
        } else if seq != ch.max_seq() + 1 {
            return Err(StoreError::BadFile {
                path: Default::default(),
                reason: format!(
                    "channel {}/{}: seq {seq} does not follow {} (gap or duplicate)",
                    ch.id,
                    ch.ty,
                    ch.max_seq()
                ),
            });
        }
        debug_assert!(ch.lsns.last().is_none_or(|&l| l < lsn), "LSNs increase");
        ch.lsns.push(lsn);
        self.by_message_id.insert(message_id, lsn);
        Ok(())
    }

    /// The largest message id indexed (ids at or below it that arrived later are kept
    /// aside, so this is the maximum).
    pub fn newest_message_id(&self) -> Option<i64> {
        self.by_message_id.newest()
    }

    /// Where the message with this id is, or can only be (see [`IdLocation`]).
    pub fn locate_message_id(&self, id: i64) -> Option<IdLocation> {
        self.by_message_id.locate(id)
    }

    /// Forgets everything below `first_lsn` (retention deleted those segments).
    pub fn trim_below(&mut self, first_lsn: u64) {
        for ch in &mut self.channels {
            ch.trim_below(first_lsn);
        }
        self.by_message_id.trim_below(first_lsn);
    }

    /// Messages indexed.
    pub fn message_count(&self) -> usize {
        self.channels.iter().map(|c| c.lsns.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_generators_need_no_exact_entries() {
        let mut ix = Indexes::default();
        let c = ix.find_or_create("c", 2);
        let id = |ms: i64, node: i64| (ms << 22) | (node << 12);
        // Node 2's id at each millisecond is above node 1's: in one global order half the
        // ids would arrive "out of order"; per generator none does.
        for i in 0..200u64 {
            let (ms, node) = (1_000 + (i / 2) as i64, if i % 2 == 0 { 2 } else { 1 });
            ix.insert(c, i + 1, 10 * (i + 1), id(ms, node)).unwrap();
        }
        assert!(ix.by_message_id.others.is_empty());
        assert_eq!(ix.newest_message_id(), Some(id(1_099, 2)));
        // Node 1's first id is in the range of node 1's first sample.
        assert_eq!(
            ix.locate_message_id(id(1_000, 1)),
            Some(IdLocation::Scan {
                from: 20,
                until: 20 + 20 * ID_SAMPLE_EVERY as u64
            })
        );
        assert_eq!(
            ix.locate_message_id(id(1_100, 1)),
            None,
            "above node 1's newest"
        );
        assert_eq!(
            ix.locate_message_id(id(1_000, 3)),
            None,
            "an unknown generator"
        );
        assert_eq!(id_generator(id(5, 1023)), 1023);
    }

    #[test]
    fn message_ids_are_sampled_and_located() {
        let mut ix = Indexes::default();
        let c = ix.find_or_create("c", 2);
        let every = ID_SAMPLE_EVERY as u64;
        // In-order ids 10, 20, 30… at LSNs 1000, 1100…; one out-of-order id (15) in between.
        let mut seq = 0;
        for i in 0..(3 * every) {
            seq += 1;
            ix.insert(c, seq, 1000 + 100 * i, 10 * (i as i64 + 1))
                .unwrap();
            if i == 5 {
                seq += 1;
                ix.insert(c, seq, 1000 + 100 * i + 50, 15).unwrap();
            }
        }
        assert_eq!(ix.message_count() as u64, 3 * every + 1);
        assert_eq!(ix.locate_message_id(15), Some(IdLocation::At(1550)));
        // Ids 10..=320 are covered by the first sample; the second sample starts at 330.
        let second = 1000 + 100 * every;
        assert_eq!(
            ix.locate_message_id(20),
            Some(IdLocation::Scan {
                from: 1000,
                until: second
            })
        );
        assert_eq!(
            ix.locate_message_id(10 * (every as i64 + 1) + 5),
            Some(IdLocation::Scan {
                from: second,
                until: second + 100 * every
            })
        );
        let last = 10 * 3 * every as i64;
        assert!(matches!(
            ix.locate_message_id(last),
            Some(IdLocation::Scan {
                until: u64::MAX,
                ..
            })
        ));
        assert_eq!(ix.locate_message_id(last + 1), None);
        assert_eq!(ix.locate_message_id(5), None);
        // Retention deletes below an LSN in the middle of the first sample's range: that
        // sample moves up to the first LSN still stored.
        ix.trim_below(1600);
        // The out-of-order id is forgotten exactly; only a (fruitless) scan remains.
        assert_eq!(
            ix.locate_message_id(15),
            Some(IdLocation::Scan {
                from: 1600,
                until: second
            })
        );
        assert_eq!(
            ix.locate_message_id(70),
            Some(IdLocation::Scan {
                from: 1600,
                until: second
            })
        );
        // Deleting exactly up to the second sample drops the first.
        ix.trim_below(second);
        assert_eq!(ix.locate_message_id(70), None);
        assert_eq!(
            ix.locate_message_id(10 * every as i64 + 10),
            Some(IdLocation::Scan {
                from: second,
                until: second + 100 * every
            })
        );
    }
}
