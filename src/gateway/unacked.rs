//! The RECVs a connection wrote and its client has not acknowledged yet, kept for bounded
//! retries. Boxed and made on the first RECV: a connection that never receives, or whose
//! queue is empty when it parks, holds one pointer for it.

use crate::shard::msg::Delivered;
use std::collections::VecDeque;
use std::sync::Arc;

/// A RECV written but not yet acknowledged: 16 bytes, four to a cache line.
pub struct Unacked {
    /// The message.
    pub msg: Arc<Delivered>,
    /// When it was (last) written: milliseconds since the connection began, wrapping (a
    /// retry interval is compared by wrapping difference, exact below 49 days).
    pub sent_ms: u32,
    /// How many times it was written.
    pub attempts: u8,
}

/// Most unacknowledged RECVs remembered per connection; older ones are left to sync.
pub const MAX_UNACKED: usize = 1024;

/// One connection's unacknowledged RECVs, oldest first.
// Boxed on purpose: one pointer in every connection instead of the deque's 32 bytes.
#[allow(clippy::box_collection)]
#[derive(Default)]
pub struct UnackedQueue(Option<Box<VecDeque<Unacked>>>);

impl UnackedQueue {
    /// How many RECVs await their RECVACK.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remembers a RECV, forgetting the oldest past [`MAX_UNACKED`].
    pub fn push(&mut self, u: Unacked) {
        let q = self.0.get_or_insert_with(Default::default);
        if q.len() >= MAX_UNACKED {
            q.pop_front();
        }
        q.push_back(u);
    }

    /// Forgets the RECV of `message_id` (clients acknowledge in order: the front is the usual
    /// hit).
    pub fn ack(&mut self, message_id: i64) {
        let Some(q) = self.0.as_mut() else {
            return;
        };
        if q.front().is_some_and(|u| u.msg.message_id == message_id) {
            q.pop_front();
        } else if let Some(pos) = q.iter().position(|u| u.msg.message_id == message_id) {
            q.remove(pos);
        }
        if q.is_empty() {
            // Back to the start of the ring: the next RECV reuses the line just written
            // (still in cache) instead of walking the whole capacity.
            q.clear();
        }
    }

    /// Drops the RECVs written `max_attempts` times, then marks those written `interval` or
    /// longer ago as written again now and returns them.
    pub fn take_due(
        &mut self,
        now_ms: u32,
        interval_ms: u32,
        max_attempts: usize,
    ) -> Vec<Arc<Delivered>> {
        let Some(q) = self.0.as_mut() else {
            return Vec::new();
        };
        q.retain(|u| (u.attempts as usize) < max_attempts);
        q.iter_mut()
            .filter(|u| now_ms.wrapping_sub(u.sent_ms) >= interval_ms)
            .map(|u| {
                u.sent_ms = now_ms;
                u.attempts += 1;
                u.msg.clone()
            })
            .collect()
    }

    /// Forgets everything and frees the queue.
    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// Frees the queue if it is empty (a parking connection keeps no spare capacity).
    pub fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.0 = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(id: i64, sent_ms: u32) -> Unacked {
        Unacked {
            msg: Arc::new(Delivered {
                message_id: id,
                ..Default::default()
            }),
            sent_ms,
            attempts: 1,
        }
    }

    #[test]
    fn bounded_in_order_and_freed_when_empty() {
        let mut q = UnackedQueue::default();
        for id in 0..(MAX_UNACKED as i64 + 3) {
            q.push(recv(id, 0));
        }
        assert_eq!(
            q.len(),
            MAX_UNACKED,
            "the oldest are forgotten past the bound"
        );
        q.ack(2);
        assert_eq!(q.len(), MAX_UNACKED, "id 2 was already forgotten");
        q.ack(5);
        q.ack(4);
        assert_eq!(q.len(), MAX_UNACKED - 2);
        q.release_if_empty();
        assert!(q.0.is_some(), "a non-empty queue is kept");
        for id in (3..(MAX_UNACKED as i64 + 3)).filter(|id| ![4, 5].contains(id)) {
            q.ack(id);
        }
        assert!(q.is_empty());
        q.release_if_empty();
        assert!(q.0.is_none(), "an empty queue is freed");
    }

    #[test]
    fn due_recvs_are_retried_until_the_attempts_run_out() {
        let mut q = UnackedQueue::default();
        // Written just before the millisecond clock wraps: due by wrapping difference.
        q.push(recv(1, u32::MAX - 100));
        assert!(q.take_due(u32::MAX, 500, 2).is_empty(), "not yet due");
        let later = 900; // 1,001 ms after it was written
        let due = q.take_due(later, 500, 2);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].message_id, 1);
        assert!(q.take_due(later, 500, 2).is_empty(), "just retried");
        assert!(
            q.take_due(later + 1000, 500, 2).is_empty(),
            "two attempts made"
        );
        assert!(q.is_empty(), "dropped after its last attempt");
    }

    #[test]
    fn an_emptied_ring_starts_over() {
        let mut q = UnackedQueue::default();
        for id in 0..3 {
            q.push(recv(id, 0));
        }
        for id in 0..3 {
            q.ack(id);
        }
        // Filled to capacity again without wrapping: the ring restarted at its first slot
        // (had it gone on from slot 3, the last entries would wrap to the front).
        let cap = q.0.as_ref().expect("queue kept").capacity();
        for id in 10..10 + cap as i64 {
            q.push(recv(id, 0));
        }
        let d = q.0.as_ref().expect("queue kept");
        assert_eq!(d.capacity(), cap, "no growth");
        assert!(d.as_slices().1.is_empty(), "contiguous from slot 0");
        assert_eq!(std::mem::size_of::<Unacked>(), 16);
    }
}
