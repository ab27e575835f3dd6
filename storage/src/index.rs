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

/// message_id → LSN. Ids come from a per-shard generator that only increases, and records are
/// indexed in LSN order, so the ids arrive sorted: they go into a vector searched by bisection
/// (16 bytes per message, no rehashing as it grows). An id below the newest one (a clock set
/// back between runs, an imported message) goes into a small side map instead.
#[derive(Default)]
struct MessageIds {
    /// (message_id, lsn), ascending in both.
    sorted: Vec<(i64, u64)>,
    /// Ids that arrived out of order.
    others: HashMap<i64, u64>,
}

impl MessageIds {
    fn insert(&mut self, id: i64, lsn: u64) {
        match self.sorted.last() {
            Some(&(last, _)) if id <= last => {
                self.others.insert(id, lsn);
            }
            _ => self.sorted.push((id, lsn)),
        }
    }

    fn get(&self, id: i64) -> Option<u64> {
        match self.sorted.binary_search_by_key(&id, |&(i, _)| i) {
            Ok(i) => Some(self.sorted[i].1),
            Err(_) => self.others.get(&id).copied(),
        }
    }

    fn trim_below(&mut self, first_lsn: u64) {
        let n = self.sorted.partition_point(|&(_, l)| l < first_lsn);
        self.sorted.drain(..n);
        self.others.retain(|_, l| *l >= first_lsn);
    }

    fn len(&self) -> usize {
        self.sorted.len() + self.others.len()
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

    /// LSN of a message id.
    pub fn by_message_id(&self, id: i64) -> Option<u64> {
        self.by_message_id.get(id)
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
        self.by_message_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_in_and_out_of_order() {
        let mut ix = Indexes::default();
        let c = ix.find_or_create("c", 2);
        for (seq, (id, lsn)) in [(10, 100), (20, 200), (15, 300), (30, 400)]
            .into_iter()
            .enumerate()
        {
            ix.insert(c, seq as u64 + 1, lsn, id).unwrap();
        }
        assert_eq!(ix.by_message_id(10), Some(100));
        assert_eq!(ix.by_message_id(15), Some(300));
        assert_eq!(ix.by_message_id(30), Some(400));
        assert_eq!(ix.by_message_id(11), None);
        assert_eq!(ix.message_count(), 4);
        ix.trim_below(250);
        assert_eq!(ix.by_message_id(10), None);
        assert_eq!(ix.by_message_id(20), None);
        assert_eq!(ix.by_message_id(15), Some(300));
        assert_eq!(ix.by_message_id(30), Some(400));
        assert_eq!(ix.message_count(), 2);
        assert_eq!(ix.channel(c).first_seq(), 3);
    }
}
