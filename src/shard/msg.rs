//! What shards say to each other through the mesh, split by addressee: [`OwnerMsg`] for the
//! owner of some state, [`ConnMsg`] for the connections a shard holds, [`Answer`] for a task
//! awaiting a reply. Large payloads are boxed so a ring slot stays small ([`MESH_SLOT_BYTES`]).

use crate::proto::WkStr;
use bytes::Bytes;
use std::sync::Arc;

/// A connection, named by the node and shard that hold it and its id there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnRef {
    /// The node holding the socket (`cluster.nodeId`).
    pub node: u16,
    /// The shard holding the socket.
    pub shard: u16,
    /// Its id on that shard.
    pub id: u64,
}

impl ConnRef {
    /// No connection (ids start at 1; also the `Default`): the sender of a message the API or
    /// the system sent.
    pub const NONE: ConnRef = ConnRef {
        node: 0,
        shard: 0,
        id: 0,
    };

    /// The node-wide connection id `/connz` lists and `user.onlinestatus` reports:
    /// `id × 256 + shard` (a node has at most 256 shards).
    pub fn node_wide_id(&self) -> u64 {
        self.id * crate::runtime::SLOT_COUNT as u64 + self.shard as u64
    }
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
    /// A REST call awaiting the outcome on shard `shard` of node `node` under request `id`.
    Api {
        /// Node of the HTTP request.
        node: u16,
        /// Shard of the HTTP request.
        shard: u16,
        /// Request id in that shard's reply table.
        id: u64,
    },
    /// Forwarded to another node's slot leader by shard `shard` of node `node`, which holds
    /// the real origin under `id` (so it can refuse it at once if that node goes away).
    Relay {
        /// Node of the forwarding shard.
        node: u16,
        /// The forwarding shard.
        shard: u16,
        /// The entry in its relay table.
        id: u64,
        /// The sending connection, when the real origin is one.
        conn: Option<ConnRef>,
        /// Whether the real origin is a REST call (the system device).
        api: bool,
    },
    /// Nobody waits (internal sends).
    None,
}

impl SendOrigin {
    /// The client connection that sent the message, if one did (through any relay).
    pub fn sender_conn(&self) -> Option<ConnRef> {
        match *self {
            SendOrigin::Conn { conn, .. } => Some(conn),
            SendOrigin::Relay { conn, .. } => conn,
            _ => None,
        }
    }

    /// Whether the message came through the REST API (through any relay).
    pub fn is_api(&self) -> bool {
        matches!(
            self,
            SendOrigin::Api { .. } | SendOrigin::Relay { api: true, .. }
        )
    }
}

/// A message to append, routed to the owner of its channel.
#[derive(Debug)]
pub struct SendReq {
    /// Who gets the verdict.
    pub origin: SendOrigin,
    /// Sender uid (empty for system messages).
    pub from_uid: Arc<str>,
    /// Storage channel id (the fake id for person chats, with the CMD suffix if sync-once).
    pub channel_id: WkStr,
    /// Channel type.
    pub channel_type: u8,
    /// Header flags (wkproto low nibble).
    pub flags: u8,
    /// Setting byte.
    pub setting: u8,
    /// Client id for de-duplication (shares the decoded frame's bytes).
    pub client_msg_no: WkStr,
    /// Stream number, if a stream message.
    pub stream_no: WkStr,
    /// Stream flag.
    pub stream_flag: u8,
    /// Expiry (passed through).
    pub expire: u32,
    /// Topic.
    pub topic: WkStr,
    /// Plaintext payload.
    pub payload: Bytes,
    /// Explicit receivers (REST `subscribers`, temp channels); empty = the channel's.
    pub receivers: Vec<Arc<str>>,
}

/// A stored (or no-persist) message on its way to receivers; shared by every shard it visits.
/// Text fields are wire strings already, so building a RECV per recipient copies nothing.
///
/// Kept to 176 bytes, so that with its `Arc` counts it fills three cache lines: each one is
/// written by the channel owner and read by every receiver's core. The fields few messages
/// use live out of line in [`RareFields`].
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
    /// Plaintext payload.
    pub payload: Bytes,
    /// Topic, stream and expiry, when any is set.
    pub rare: Option<Box<RareFields>>,
    /// The exact connection that sent it (gets no RECV of its own message); see
    /// [`Delivered::sender_conn`].
    pub sender: ConnRef,
    /// Server time, Unix seconds.
    pub timestamp: i32,
    /// Channel type.
    pub channel_type: u8,
    /// Header flags.
    pub flags: u8,
    /// Setting byte.
    pub setting: u8,
}

// Three cache lines with the `Arc` counts (see the doc of `Delivered`).
const _: () = assert!(std::mem::size_of::<Delivered>() <= 176);

/// The fields of a message most messages leave empty, boxed out of [`Delivered`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RareFields {
    /// Topic.
    pub topic: WkStr,
    /// Stream number.
    pub stream_no: WkStr,
    /// Stream flag.
    pub stream_flag: u8,
    /// Expiry.
    pub expire: u32,
}

impl RareFields {
    /// The rare fields of a message: `None` when all are empty (no allocation).
    pub fn boxed(
        topic: WkStr,
        stream_no: WkStr,
        stream_flag: u8,
        expire: u32,
    ) -> Option<Box<Self>> {
        if topic.is_empty() && stream_no.is_empty() && stream_flag == 0 && expire == 0 {
            return None;
        }
        Some(Box::new(RareFields {
            topic,
            stream_no,
            stream_flag,
            expire,
        }))
    }
}

/// The empty text the accessors of absent rare fields lend.
static NO_TEXT: WkStr = WkStr::EMPTY;

impl Delivered {
    /// Topic (empty if none).
    pub fn topic(&self) -> &WkStr {
        self.rare.as_ref().map_or(&NO_TEXT, |r| &r.topic)
    }

    /// Stream number (empty if not a stream message).
    pub fn stream_no(&self) -> &WkStr {
        self.rare.as_ref().map_or(&NO_TEXT, |r| &r.stream_no)
    }

    /// Stream flag.
    pub fn stream_flag(&self) -> u8 {
        self.rare.as_ref().map_or(0, |r| r.stream_flag)
    }

    /// Expiry.
    pub fn expire(&self) -> u32 {
        self.rare.as_ref().map_or(0, |r| r.expire)
    }

    /// The connection that sent it, if a client connection did (not the API or the system).
    pub fn sender_conn(&self) -> Option<ConnRef> {
        (self.sender != ConnRef::NONE).then_some(self.sender)
    }
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
    pub device_id: Arc<str>,
}

/// The owner's verdict on a CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthResult {
    /// wkproto reason (1 = accepted).
    pub reason: u8,
    /// Device level from the token registration (1 master, 0 slave).
    pub device_level: u8,
}

/// Every message the mesh carries, by addressee: the owner of some state (`shard`), the
/// connections of the receiving shard (`gateway`), or a task awaiting an answer.
#[derive(Debug)]
pub enum ShardMsg {
    /// Work for the owner of a user, a channel or the global tables.
    Owner(OwnerMsg),
    /// Work for connections held by the receiving shard.
    Conn(ConnMsg),
    /// The answer to a question a task of the receiving shard asked.
    Answer(Answer),
}

/// Work for the shard that owns the state it touches.
#[derive(Debug)]
pub enum OwnerMsg {
    /// Gateway → user owner: check and register a CONNECT; answered with [`Answer::Auth`].
    Auth {
        /// Request id at the origin.
        id: u64,
        /// The request.
        req: Box<AuthReq>,
    },
    /// Connection shard → (new) user owner: this live session exists (after a leader change
    /// of the uid's slot, or a reconnect of the nodes).
    Reregister {
        /// User id.
        uid: Arc<str>,
        /// The session.
        session: Box<crate::shard::users::Session>,
    },
    /// Cluster → every local shard: the leader of `slot` changed (`None`: unknown).
    LeaderChanged {
        /// The slot.
        slot: u16,
        /// Its new leader.
        leader: Option<u64>,
    },
    /// Cluster → every local shard: node `node` is gone; forget its sessions.
    NodeDown(u16),
    /// Cluster (shard 0) → every local shard: the member list changed.
    Members(Box<Vec<crate::cluster::Member>>),
    /// Gateway → user owner: this connection closed.
    Unregister {
        /// User id.
        uid: Arc<str>,
        /// The connection.
        conn: ConnRef,
    },
    /// → channel owner: append and deliver.
    Send(Box<SendReq>),
    /// Shard `shard` of node `node` re-announced the sessions it holds for `slot`'s users
    /// to this node, the slot's new leader.
    SessionsSent {
        /// The slot.
        slot: u16,
        /// The announcing node.
        node: u16,
        /// The announcing shard.
        shard: u16,
    },
    /// The verdict on a send this shard relayed to another node ([`SendOrigin::Relay`]).
    Relayed {
        /// The entry in this shard's relay table.
        id: u64,
        /// The verdict.
        outcome: SendOutcome,
    },
    /// Channel owner → user owner: update these users' conversations and reach their devices.
    Deliver {
        /// The message.
        msg: Arc<Delivered>,
        /// Receivers owned by the destination shard.
        to: crate::shard::receivers::Receivers,
    },
    /// API shard → owner of the anchor's channel: append one message event; answered with
    /// [`Answer::Event`].
    Event {
        /// Request id at the origin.
        id: u64,
        /// The event.
        req: Box<crate::shard::msg_event::EventReq>,
    },
    /// Anchor owner → user owner: push this event to these users' live connections.
    DeliverEvent {
        /// The EVENT packet (its `data` is the JSON of spec wukongim-2.2.5 §1.4).
        event: Arc<crate::proto::Event>,
        /// Receivers owned by the destination shard.
        uids: Vec<Arc<str>>,
    },
    /// A change for the owner of some state (REST writes); answered with [`Answer::Op`].
    Op {
        /// Request id at the origin.
        id: u64,
        /// The change.
        op: Box<crate::shard::ops::OwnerOp>,
    },
    /// A read-only question run on the receiving shard (REST reads, monitoring); answered
    /// with [`Answer::Inspect`].
    Inspect {
        /// Request id at the origin.
        id: u64,
        /// The question.
        f: Inspect,
    },
    /// Shard 0 → all: a change of the global tables.
    GlobalOp(Box<crate::shard::meta::MetaRecord>),
    /// Shard 0 → all, at start-up: the whole global tables.
    GlobalsSnapshot(Box<crate::shard::globals::Globals>),
    /// Start-up: the newest message of channels, to rebuild receivers' conversations.
    ConvHints(Vec<ConvHint>),
    /// Start-up: every `ConvHints` of the sending shard was sent before this one.
    ConvHintsDone,
}

/// Connection ids on one shard. A message's receivers usually hold one or two connections
/// there: those travel inline in the mesh message, with nothing allocated on the sending shard
/// and freed on the receiving one.
pub type ConnIds = smallvec::SmallVec<[u64; 2]>;

/// Whatever an [`Inspect`] question returns (downcast by the asker).
pub type AnyAnswer = Box<dyn std::any::Any + Send>;

/// A read-only question for another shard, run on its thread with the shard borrowed; its
/// answer is downcast by the asker.
pub struct Inspect(pub Box<dyn FnOnce(&crate::shard::Shard) -> AnyAnswer + Send>);

impl std::fmt::Debug for Inspect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inspect(..)")
    }
}

/// Work for the connections of the receiving shard.
#[derive(Debug)]
pub enum ConnMsg {
    /// Send DISCONNECT (when `reason` ≠ 0) and close.
    Kick {
        /// Connection id on the receiving shard.
        conn_id: u64,
        /// DISCONNECT reason, 0 = close silently.
        reason: u8,
        /// Kicked through the API (`/conn/kick`): the DISCONNECT says "server kick" rather
        /// than "login in other device".
        by_server: bool,
    },
    /// Channel owner → the sending connection: the verdict on its SEND.
    SendAck {
        /// The sending connection's id.
        conn_id: u64,
        /// Echoed.
        client_seq: u32,
        /// Outcome.
        outcome: SendOutcome,
    },
    /// User owner → connection shard: write this message event to these connections (an
    /// EVENT packet to wkproto sessions of version 5 or later, an `event` notification to
    /// JSON-RPC ones).
    PushEvent {
        /// The event.
        event: Arc<crate::proto::Event>,
        /// Connection ids on the receiving shard.
        conn_ids: Vec<u64>,
    },
    /// User owner → connection shard: write RECV to these connections.
    Push {
        /// The message.
        msg: Arc<Delivered>,
        /// The receiving connections (each writes the RECV for its own uid).
        conn_ids: ConnIds,
    },
}

/// Answers to questions, each kind completing its own table of pending asks.
pub enum Answer {
    /// The verdict on a CONNECT.
    Auth {
        /// Request id.
        id: u64,
        /// Verdict.
        result: AuthResult,
    },
    /// The verdict on a REST send.
    Send {
        /// Request id.
        id: u64,
        /// Outcome.
        outcome: SendOutcome,
    },
    /// The owner's verdict on an [`OwnerMsg::Op`] (the error boxed: a ring slot stays small).
    Op {
        /// Request id.
        id: u64,
        /// Done, or why not.
        result: Result<(), Box<crate::shard::error::OwnerError>>,
    },
    /// The owner's verdict on an [`OwnerMsg::Event`] (boxed: a ring slot stays small).
    Event {
        /// Request id.
        id: u64,
        /// Accepted, or why not.
        result:
            Result<Box<crate::shard::msg_event::EventAck>, Box<crate::shard::error::OwnerError>>,
    },
    /// The answer to an [`OwnerMsg::Inspect`].
    Inspect {
        /// Request id.
        id: u64,
        /// Whatever the question returned.
        value: AnyAnswer,
    },
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Auth { id, result } => write!(f, "Auth({id}, {result:?})"),
            Answer::Send { id, outcome } => write!(f, "Send({id}, {outcome:?})"),
            Answer::Op { id, result } => write!(f, "Op({id}, {result:?})"),
            Answer::Event { id, result } => write!(f, "Event({id}, {result:?})"),
            Answer::Inspect { id, .. } => write!(f, "Inspect({id})"),
        }
    }
}

impl From<OwnerMsg> for ShardMsg {
    fn from(m: OwnerMsg) -> Self {
        ShardMsg::Owner(m)
    }
}

impl From<ConnMsg> for ShardMsg {
    fn from(m: ConnMsg) -> Self {
        ShardMsg::Conn(m)
    }
}

impl From<Answer> for ShardMsg {
    fn from(m: Answer) -> Self {
        ShardMsg::Answer(m)
    }
}

/// A ring slot holds one `ShardMsg`: large payloads are boxed so the slot stays this small
/// (a 40-byte addressee message behind the addressee tag).
pub const MESH_SLOT_BYTES: usize = 48;
const _: () = assert!(std::mem::size_of::<ShardMsg>() <= MESH_SLOT_BYTES);

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
    /// The receiver's own newest message among the channel's newest [`OWN_SCAN`] (0: none):
    /// a sender has read the channel up to their own message.
    ///
    /// [`OWN_SCAN`]: super::conversations::OWN_SCAN
    pub own_last: u64,
}
