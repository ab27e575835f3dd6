//! Awaiting answers from other shards: a shard-local table of pending requests.
//!
//! A request sent through the mesh carries `(origin shard, request id)`; the owner answers with
//! a reply message carrying the id, and the origin's mesh loop calls [`Replies::complete`],
//! which wakes the task awaiting [`ReplyFuture`]. Replies thus travel batched through the mesh
//! like everything else, with no per-request cross-thread channel.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Slot<R> {
    value: Option<R>,
    waker: Option<Waker>,
}

/// The pending requests of one shard, keyed by request id.
pub struct Replies<R> {
    next_id: Cell<u64>,
    slots: RefCell<HashMap<u64, Slot<R>>>,
}

impl<R> Default for Replies<R> {
    fn default() -> Self {
        Self {
            next_id: Cell::new(1),
            slots: RefCell::new(HashMap::new()),
        }
    }
}

impl<R> Replies<R> {
    /// Opens a request: the id to send along, and the future that resolves with the answer.
    pub fn register(self: &Rc<Self>) -> (u64, ReplyFuture<R>) {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(1));
        self.slots.borrow_mut().insert(
            id,
            Slot {
                value: None,
                waker: None,
            },
        );
        (
            id,
            ReplyFuture {
                id,
                table: self.clone(),
            },
        )
    }

    /// Delivers the answer to request `id`; false if nobody waits for it any more.
    pub fn complete(&self, id: u64, value: R) -> bool {
        let mut slots = self.slots.borrow_mut();
        match slots.get_mut(&id) {
            Some(slot) => {
                slot.value = Some(value);
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
                true
            }
            None => false,
        }
    }

    /// Requests still waiting for an answer.
    pub fn pending(&self) -> usize {
        self.slots.borrow().len()
    }
}

/// Resolves with the answer to one request. Dropping it forgets the request.
pub struct ReplyFuture<R> {
    id: u64,
    table: Rc<Replies<R>>,
}

impl<R> Future for ReplyFuture<R> {
    type Output = R;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let mut slots = self.table.slots.borrow_mut();
        let Some(slot) = slots.get_mut(&self.id) else {
            unreachable!("a reply slot lives as long as its future");
        };
        match slot.value.take() {
            Some(v) => {
                slots.remove(&self.id);
                Poll::Ready(v)
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<R> Drop for ReplyFuture<R> {
    fn drop(&mut self) {
        self.table.slots.borrow_mut().remove(&self.id);
    }
}
