//! JSON-RPC 2.0 on the client ports (spec wukongim-2.2.5 §2): a TCP or WebSocket session whose
//! first byte (after JSON whitespace) is `{` speaks JSON-RPC instead of wkproto, unless
//! `disableJSONRPC` is set.
//!
//! Only the encoding differs: a JSON-RPC session goes through the same [`super::session`]
//! reader (CONNECT to the uid's owner, SEND to the channel's owner, rate limits, idle timeout)
//! and the same [`super::conn::Conn`] (outbound queue, RECV retries, kicks) as a wkproto one.
//! `split` cuts the byte stream into objects, `wire` reads and writes the JSON, `handle`
//! turns requests into the session's operations, and [`RpcConn`] maps a send's result back to
//! its request id.

pub mod handle;
pub mod split;
pub mod wire;

use crate::proto::HeaderFlags;
use crate::shard::FastMap;
use bytes::{Buf, BytesMut};
use serde_json::Value;
use std::cell::{Cell, RefCell};

/// Most sends of one connection awaiting their result; more are refused with
/// [`wire::SERVER_BUSY`].
pub const MAX_PENDING_SENDS: usize = 4096;

/// What a JSON-RPC connection keeps beyond a wkproto one: the requests whose `send` result is
/// still to come, by the client sequence number the session gave them.
#[derive(Default)]
pub struct RpcConn {
    pending: RefCell<FastMap<u32, (Value, HeaderFlags)>>,
    next_seq: Cell<u32>,
}

impl RpcConn {
    /// Remembers a send's request id and header; its sequence number for the SENDACK path,
    /// or `None` when [`MAX_PENDING_SENDS`] are already waiting.
    pub fn register(&self, id: Value, header: HeaderFlags) -> Option<u32> {
        let mut pending = self.pending.borrow_mut();
        if pending.len() >= MAX_PENDING_SENDS {
            return None;
        }
        let mut seq = self.next_seq.get().wrapping_add(1);
        while pending.contains_key(&seq) {
            seq = seq.wrapping_add(1);
        }
        self.next_seq.set(seq);
        pending.insert(seq, (id, header));
        Some(seq)
    }

    /// The request id and header of the send numbered `seq` (forgotten once taken).
    pub fn take(&self, seq: u32) -> Option<(Value, HeaderFlags)> {
        self.pending.borrow_mut().remove(&seq)
    }
}

/// Decides a new session's protocol from its first bytes: `Some(true)` for JSON-RPC (a `{`
/// after JSON whitespace, and JSON-RPC is `enabled`), `Some(false)` for wkproto, `None` while
/// only whitespace arrived (it is dropped, so waiting holds no bytes).
pub fn detect(buf: &mut BytesMut, enabled: bool) -> Option<bool> {
    if !enabled {
        return (!buf.is_empty()).then_some(false);
    }
    match buf.iter().find(|b| !split::is_json_space(**b)) {
        Some(b) => Some(*b == b'{'),
        None => {
            buf.advance(buf.len());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_by_first_byte() {
        let mut b = BytesMut::from(&b" \r\n"[..]);
        assert_eq!(detect(&mut b, true), None);
        assert!(b.is_empty());
        assert_eq!(detect(&mut BytesMut::from(&b" {"[..]), true), Some(true));
        assert_eq!(
            detect(&mut BytesMut::from(&b"\x10\x05"[..]), true),
            Some(false)
        );
        assert_eq!(detect(&mut BytesMut::from(&b"{"[..]), false), Some(false));
    }

    #[test]
    fn pending_sends_are_bounded_and_taken_once() {
        let rpc = RpcConn::default();
        let seq = rpc
            .register(Value::from("a"), HeaderFlags::RED_DOT)
            .unwrap();
        for i in 1..MAX_PENDING_SENDS {
            assert!(rpc.register(Value::from(i), HeaderFlags::EMPTY).is_some());
        }
        assert!(rpc
            .register(Value::from("over"), HeaderFlags::EMPTY)
            .is_none());
        assert_eq!(
            rpc.take(seq),
            Some((Value::from("a"), HeaderFlags::RED_DOT))
        );
        assert_eq!(rpc.take(seq), None);
    }
}
