//! What shards say to each other through the mesh: one enum, boxed where large so a ring slot
//! stays small.

use crate::proto::WkStr;
use bytes::Bytes;
use std::sync::Arc;

/// A connection, named by the shard that holds it and its id there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnRef {
    /// The shard holding the socket.
    pub shard: u16,
    /// Its id on that shard.
    pub id: u64,
}

/// Where the verdict on a send goes.
#[derive(Clone, Copy, Debug)]
pub enum SendOrigin {
    /// A client connection: answer with SENDACK.
    Conn {
        /// The sending connection.
        conn: ConnRef,
        /// Echoed in SENDACK.
        client_seq: u32,
    },
    /// A REST call awaiting the outcome on shard `shard` under request `id`.
    Api {
        /// Shard of the HTTP request.
        shard: u16,
        /// Request id in that shard's reply table.
        id: u64,
    },
    /// Nobody waits (internal sends).
    None,
}

/// A message to append, routed to the owner of its channel.
#[derive(Debug)]
pub struct SendReq {
    /// Who gets the verdict.
    pub origin: SendOrigin,
    /// Sender uid (empty for system messages).
    pub from_uid: Arc<str>,
    /// Storage channel id (the fake id for person chats, with the CMD suffix if sync-once).
    pub channel_id: String,
    /// Channel type.
    pub channel_type: u8,
    /// Header flags (wkproto low nibble).
    pub flags: u8,
    /// Setting byte.
    pub setting: u8,
    /// Client id for de-duplication.
    pub client_msg_no: String,
    /// Stream number, if a stream message.
    pub stream_no: String,
    /// Stream flag.
    pub stream_flag: u8,
    /// Expiry (passed through).
    pub expire: u32,
    /// Topic.
    pub topic: String,
    /// Plaintext payload.
    pub payload: Bytes,
    /// Explicit receivers (REST `subscribers`, temp channels); empty = the channel's.
    pub receivers: Vec<Arc<str>>,
}

/// A stored (or no-persist) message on its way to receivers; shared by every shard it visits.
/// Text fields are wire strings already, so building a RECV per recipient copies nothing.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Server message id.
    pub message_id: i64,
    /// Channel position (0 if not stored).
    pub message_seq: u64,
    /// The sender's client_msg_no.
    pub client_msg_no: WkStr,
    /// Sender uid.
    pub from_uid: WkStr,
    /// Storage channel id (fake id for person chats, without the CMD suffix).
    pub channel_id: WkStr,
    /// Channel type.
    pub channel_type: u8,
    /// Header flags.
    pub flags: u8,
    /// Setting byte.
    pub setting: u8,
    /// Server time, Unix seconds.
    pub timestamp: i32,
    /// Expiry.
    pub expire: u32,
    /// Topic.
    pub topic: WkStr,
    /// Stream number.
    pub stream_no: WkStr,
    /// Stream flag.
    pub stream_flag: u8,
    /// Plaintext payload.
    pub payload: Bytes,
    /// The exact connection that sent it (gets no RECV of its own message).
    pub sender_conn: Option<ConnRef>,
}

/// The outcome of a send, reported to its origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendOutcome {
    /// wkproto reason (1 = stored).
    pub reason: u8,
    /// Assigned message id (0 when refused).
    pub message_id: i64,
    /// Assigned seq (0 when refused or not stored).
    pub message_seq: u64,
}

/// A CONNECT to be checked by the owner of its uid.
#[derive(Debug)]
pub struct AuthReq {
    /// The connection asking.
    pub conn: ConnRef,
    /// User id.
    pub uid: Arc<str>,
    /// Token from CONNECT.
    pub token: String,
    /// Device flag.
    pub device_flag: u8,
    /// Device id.
    pub device_id: String,
}

/// The owner's verdict on a CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthResult {
    /// wkproto reason (1 = accepted).
    pub reason: u8,
    /// Device level from the token registration (1 master, 0 slave).
    pub device_level: u8,
}

/// Every message the mesh carries.
#[derive(Debug)]
pub enum ShardMsg {
    /// Gateway → user owner: check and register a CONNECT; answer with `AuthReply`.
    Auth {
        /// Request id at the origin.
        id: u64,
        /// The request.
        req: Box<AuthReq>,
    },
    /// User owner → gateway.
    AuthReply {
        /// Request id.
        id: u64,
        /// Verdict.
        result: AuthResult,
    },
    /// Gateway → user owner: this connection closed.
    Unregister {
        /// User id.
        uid: Arc<str>,
        /// The connection.
        conn: ConnRef,
    },
    /// → connection's shard: send DISCONNECT (when `reason` ≠ 0) and close.
    Kick {
        /// Connection id on the receiving shard.
        conn_id: u64,
        /// DISCONNECT reason, 0 = close silently.
        reason: u8,
    },
    /// → channel owner: append and deliver.
    Send(Box<SendReq>),
    /// Channel owner → origin shard: the verdict on a client's SEND.
    SendAck {
        /// The sending connection's id.
        conn_id: u64,
        /// Echoed.
        client_seq: u32,
        /// Outcome.
        outcome: SendOutcome,
    },
    /// Channel owner → origin shard: the verdict on a REST send.
    SendResult {
        /// Request id.
        id: u64,
        /// Outcome.
        outcome: SendOutcome,
    },
    /// Channel owner → user owner: update these users' conversations and reach their devices.
    Deliver {
        /// The message.
        msg: Arc<Delivered>,
        /// Receivers owned by the destination shard.
        uids: Vec<Arc<str>>,
    },
    /// User owner → connection shard: write RECV to these connections.
    Push {
        /// The message.
        msg: Arc<Delivered>,
        /// (connection id, receiving uid).
        targets: Vec<(u64, Arc<str>)>,
    },
    /// A REST request for the owner of some state; answered with `ApiReply`.
    Api {
        /// Request id at the origin.
        id: u64,
        /// The request.
        req: Box<crate::shard::api_ops::ApiReq>,
    },
    /// Shard 0 → all: a change of the global tables.
    GlobalOp(Box<crate::shard::meta::MetaRecord>),
    /// Shard 0 → all, at start-up: the whole global tables.
    GlobalsSnapshot(Box<crate::shard::globals::Globals>),
    /// Start-up: the newest message of channels, to rebuild receivers' conversations.
    ConvHints(Vec<ConvHint>),
    /// The answer to `Api`.
    ApiReply {
        /// Request id.
        id: u64,
        /// The answer.
        resp: Box<crate::shard::api_ops::ApiResp>,
    },
}

/// The newest message of one channel for one receiver (conversation rebuild at start-up).
#[derive(Debug, Clone)]
pub struct ConvHint {
    /// The receiver.
    pub uid: String,
    /// Storage channel id (with the CMD suffix for CMD channels).
    pub channel_id: String,
    /// Channel type.
    pub channel_type: u8,
    /// Newest seq.
    pub last_seq: u64,
    /// Newest message id.
    pub message_id: i64,
    /// Its time, Unix seconds.
    pub timestamp: i32,
}
