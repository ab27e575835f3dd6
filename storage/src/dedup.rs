//! A bounded window of recent `(channel, client_msg_no)` → message, to answer retried sends
//! with the original message instead of storing it twice.

use std::collections::VecDeque;

/// A hash map with a fast, randomly seeded hasher (keys come from clients: no SipHash cost,
/// still no predictable collisions).
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
use std::rc::Rc;

/// What a retried send gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupHit {
    /// The original message's seq.
    pub message_seq: u64,
    /// The original message's id.
    pub message_id: i64,
    /// Where it lives.
    pub lsn: u64,
}

/// FIFO window of the last `cap` client_msg_nos of a shard.
pub struct DedupWindow {
    cap: usize,
    map: HashMap<Rc<str>, DedupHit>,
    order: VecDeque<Rc<str>>,
}

fn key(channel_id: &str, channel_type: u8, client_msg_no: &str) -> String {
    let mut k = String::with_capacity(channel_id.len() + client_msg_no.len() + 5);
    k.push_str(&channel_type.to_string());
    k.push('\u{0}');
    k.push_str(channel_id);
    k.push('\u{0}');
    k.push_str(client_msg_no);
    k
}

impl DedupWindow {
    /// A window remembering `cap` entries (0 disables de-duplication).
    pub fn new(cap: usize) -> Self {
        DedupWindow {
            cap,
            map: HashMap::with_capacity_and_hasher(cap.min(1 << 16), Default::default()),
            order: VecDeque::with_capacity(cap.min(1 << 16)),
        }
    }

    /// The message a client_msg_no already produced in this channel, if still remembered.
    pub fn get(&self, channel_id: &str, channel_type: u8, client_msg_no: &str) -> Option<DedupHit> {
        if client_msg_no.is_empty() || self.cap == 0 {
            return None;
        }
        self.map
            .get(key(channel_id, channel_type, client_msg_no).as_str())
            .copied()
    }

    /// Remembers a stored message, evicting the oldest entry beyond the capacity.
    pub fn insert(
        &mut self,
        channel_id: &str,
        channel_type: u8,
        client_msg_no: &str,
        hit: DedupHit,
    ) {
        if client_msg_no.is_empty() || self.cap == 0 {
            return;
        }
        let k: Rc<str> = key(channel_id, channel_type, client_msg_no).into();
        if self.map.insert(k.clone(), hit).is_none() {
            self.order.push_back(k);
        }
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        debug_assert_eq!(self.map.len(), self.order.len());
    }

    /// Entries remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo() {
        let mut w = DedupWindow::new(2);
        let h = |s| DedupHit {
            message_seq: s,
            message_id: s as i64,
            lsn: s,
        };
        w.insert("c", 2, "a", h(1));
        w.insert("c", 2, "b", h(2));
        assert_eq!(w.get("c", 2, "a"), Some(h(1)));
        assert_eq!(w.get("c", 1, "a"), None);
        w.insert("c", 2, "c", h(3));
        assert_eq!(w.get("c", 2, "a"), None);
        assert_eq!(w.get("c", 2, "c"), Some(h(3)));
        assert_eq!(w.len(), 2);
        assert_eq!(w.get("c", 2, ""), None);
    }
}
