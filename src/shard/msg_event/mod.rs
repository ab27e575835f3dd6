//! Message events (spec wukongim-2.2.5 §1): events appended to a stream anchor message
//! (`/message/event`), kept as a projection per event key, and pushed to the anchor channel's
//! online subscribers as EVENT packets or JSON-RPC `event` notifications.
//!
//! Events belong to the shard that owns the anchor's channel. Stored event types go to that
//! shard's meta log as [`crate::shard::meta::MetaRecord::MsgEvent`] records (answered once
//! durable; in cluster mode proposed to the channel's slot group like any metadata change);
//! `stream.delta` only updates a bounded memory lane ([`lanes`]).
//!
//! - [`state`]: the stored projection, rebuilt from the meta log and its snapshots;
//! - [`lanes`]: the memory lanes of deltas;
//! - [`reduce`]: the merge rules, pure;
//! - [`process`]: the owner's handling of one event, serialized per anchor, and its push;
//! - [`view`]: how the state reads (`/message/eventsync`, `/channel/messagesync` summaries).

pub mod lanes;
pub mod process;
pub mod reduce;
pub mod state;
pub mod view;

pub use state::{AnchorKey, KeyState, StoredEvents};

use serde_json::value::RawValue;

/// One event to append, as the owner of its anchor's channel receives it.
#[derive(Debug)]
pub struct EventReq {
    /// The anchor (storage channel, type, client_msg_no).
    pub anchor: AnchorKey,
    /// The channel id as the producer addressed it (echoed in pushes).
    pub channel_id: String,
    /// The producer's sender uid (empty: the anchor's, else the system uid).
    pub from_uid: String,
    /// The anchor's message id as the producer gave it (0: the anchor's).
    pub message_id: i64,
    /// The producer's event id (idempotency key of stored types).
    pub event_id: String,
    /// The type as sent (case kept for pushes).
    pub event_type: String,
    /// The key as sent (normalized by the owner).
    pub event_key: String,
    /// `public`, `private`, `restricted` or anything (not validated).
    pub visibility: String,
    /// The producer's time in milliseconds (0: none).
    pub occurred_at: i64,
    /// The payload, raw JSON.
    pub payload: Option<Box<RawValue>>,
}

/// What the owner answers for an accepted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventAck {
    /// The effective key.
    pub event_key: String,
    /// The key's last stored seq after the event (deltas consume none).
    pub msg_event_seq: u64,
    /// The key's status after the event.
    pub stream_status: String,
    /// The effective sender.
    pub from_uid: String,
    /// The anchor's message id as far as known (0: unknown), for pushes.
    pub message_id: i64,
}
