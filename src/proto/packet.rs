//! Packet structures (spec §6). Fields whose presence depends on the protocol version or on a
//! setting bit are plain values that the codec writes/reads only when the layout has them
//! (they decode as empty/zero otherwise), mirroring the reference implementations.

use super::types::{
    ChannelType, DeviceFlag, HeaderFlags, PacketType, ReasonCode, Setting, StreamFlag,
};
use super::wkstr::WkStr;
use bytes::Bytes;

/// CONNECT (1): the client's first packet; its layout is the same in every version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// Protocol version the client speaks (input to [`negotiate_version`](super::negotiate_version)).
    pub version: u8,
    /// Device kind, used by the replacement rules.
    pub device_flag: DeviceFlag,
    /// Device identity.
    pub device_id: WkStr,
    /// User id.
    pub uid: WkStr,
    /// Auth token (may be empty).
    pub token: WkStr,
    /// Client clock, Unix milliseconds.
    pub client_timestamp: i64,
    /// Base64 of the client's X25519 public key (empty: no encryption offered).
    pub client_key: WkStr,
}

/// CONNACK (2): the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connack {
    /// `Some(v)` sets the HasServerVersion header bit and writes `v` first (client version > 3).
    /// When present it also decides whether `node_id` is on the wire (v ≥ 4); otherwise the
    /// connection version does.
    pub server_version: Option<u8>,
    /// server_now_ms − client_timestamp.
    pub time_diff: i64,
    /// 1 = success.
    pub reason_code: ReasonCode,
    /// Base64 of the server's X25519 public key, empty when encryption is off or on failure.
    pub server_key: WkStr,
    /// 16-character AES IV, empty when encryption is off or on failure.
    pub salt: WkStr,
    /// Node owning the connection (v ≥ 4 only).
    pub node_id: u64,
}

/// SEND (3): a client message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Send {
    /// DUP / SyncOnce / RedDot / NoPersist.
    pub flags: HeaderFlags,
    /// Setting byte (§5).
    pub setting: Setting,
    /// Client's per-connection counter, echoed in SENDACK.
    pub client_seq: u32,
    /// Client-unique id for de-duplication.
    pub client_msg_no: WkStr,
    /// Only on the wire for 2 ≤ v ≤ 4 with a stream bit set.
    pub stream_no: WkStr,
    /// Target channel (peer uid for person channels).
    pub channel_id: WkStr,
    /// Target channel type.
    pub channel_type: ChannelType,
    /// v ≥ 3 only; 0 = never.
    pub expire: u32,
    /// 32 hex chars over the encrypted payload, empty when NoEncrypt.
    pub msg_key: WkStr,
    /// Only on the wire when the Topic setting bit is set.
    pub topic: WkStr,
    /// Base64 ciphertext text, or raw bytes when not encrypted.
    pub payload: Bytes,
}

/// SENDACK (4): the server's verdict on a SEND.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sendack {
    /// Header flags (Go-v2 echoes the SEND's; receivers ignore them).
    pub flags: HeaderFlags,
    /// Server-assigned message id.
    pub message_id: i64,
    /// Copied from the SEND.
    pub client_seq: u32,
    /// Channel position (u32 on the wire for v ≤ 5).
    pub message_seq: u64,
    /// 1 = accepted and stored.
    pub reason_code: ReasonCode,
    /// Trailing Go-v3 field: decoded when present, encoded for v ≥ 6 when non-empty.
    pub client_msg_no: WkStr,
}

/// RECV (5): a message delivered to one recipient connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recv {
    /// Copied from the SEND (RedDot cleared for the sender's other devices).
    pub flags: HeaderFlags,
    /// Copied from the SEND.
    pub setting: Setting,
    /// Per-recipient msg_key (§7.4).
    pub msg_key: WkStr,
    /// Sender uid.
    pub from_uid: WkStr,
    /// Receiver-side channel id.
    pub channel_id: WkStr,
    /// Channel type.
    pub channel_type: ChannelType,
    /// v ≥ 3 only.
    pub expire: u32,
    /// The sender's client_msg_no.
    pub client_msg_no: WkStr,
    /// Stream block (2 ≤ v ≤ 4 with a stream bit): stream number, both layouts.
    pub stream_no: WkStr,
    /// Stream block, current layout (bit 0x02) only.
    pub stream_id: u64,
    /// Stream block, legacy layout (bit 0x04) only.
    pub stream_seq: u32,
    /// Stream block, both layouts.
    pub stream_flag: StreamFlag,
    /// Server message id.
    pub message_id: i64,
    /// Channel position (u32 on the wire for v ≤ 5).
    pub message_seq: u64,
    /// Server time, Unix seconds.
    pub timestamp: i32,
    /// Only on the wire when the Topic setting bit is set.
    pub topic: WkStr,
    /// Base64 ciphertext text, or plaintext.
    pub payload: Bytes,
}

/// A RECV's fields borrowed from wherever they live (a stored message on its way to many
/// connections): encoding one takes no reference count and allocates nothing. [`Recv`] encodes
/// through its view; the gateway builds views straight from the delivered message.
#[derive(Debug, Clone, Copy)]
pub struct RecvView<'a> {
    /// As in [`Recv::flags`].
    pub flags: HeaderFlags,
    /// As in [`Recv::setting`].
    pub setting: Setting,
    /// As in [`Recv::msg_key`].
    pub msg_key: &'a [u8],
    /// As in [`Recv::from_uid`].
    pub from_uid: &'a str,
    /// As in [`Recv::channel_id`].
    pub channel_id: &'a str,
    /// As in [`Recv::channel_type`].
    pub channel_type: ChannelType,
    /// As in [`Recv::expire`].
    pub expire: u32,
    /// As in [`Recv::client_msg_no`].
    pub client_msg_no: &'a str,
    /// As in [`Recv::stream_no`].
    pub stream_no: &'a str,
    /// As in [`Recv::stream_id`].
    pub stream_id: u64,
    /// As in [`Recv::stream_seq`].
    pub stream_seq: u32,
    /// As in [`Recv::stream_flag`].
    pub stream_flag: StreamFlag,
    /// As in [`Recv::message_id`].
    pub message_id: i64,
    /// As in [`Recv::message_seq`].
    pub message_seq: u64,
    /// As in [`Recv::timestamp`].
    pub timestamp: i32,
    /// As in [`Recv::topic`].
    pub topic: &'a str,
    /// As in [`Recv::payload`].
    pub payload: &'a [u8],
}

impl Recv {
    /// This RECV's fields, borrowed (what the encoder writes).
    pub fn view(&self) -> RecvView<'_> {
        RecvView {
            flags: self.flags,
            setting: self.setting,
            msg_key: self.msg_key.as_bytes(),
            from_uid: self.from_uid.as_str(),
            channel_id: self.channel_id.as_str(),
            channel_type: self.channel_type,
            expire: self.expire,
            client_msg_no: self.client_msg_no.as_str(),
            stream_no: self.stream_no.as_str(),
            stream_id: self.stream_id,
            stream_seq: self.stream_seq,
            stream_flag: self.stream_flag,
            message_id: self.message_id,
            message_seq: self.message_seq,
            timestamp: self.timestamp,
            topic: self.topic.as_str(),
            payload: &self.payload,
        }
    }
}

/// RECVACK (6): the client's acknowledgement of a RECV.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recvack {
    /// Echo of the RECV's flags (server reads NoPersist / SyncOnce).
    pub flags: HeaderFlags,
    /// Copied from the RECV.
    pub message_id: i64,
    /// Copied from the RECV (u32 on the wire for v ≤ 5).
    pub message_seq: u64,
}

/// DISCONNECT (9): server notice before it closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// E.g. 12 ConnectKick.
    pub reason_code: ReasonCode,
    /// Human-readable reason.
    pub reason: WkStr,
}

/// SUB (10): legacy channel subscription request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sub {
    /// Setting byte (JS sends 0).
    pub setting: Setting,
    /// Request id.
    pub sub_no: WkStr,
    /// Channel, possibly with `?query` parameters.
    pub channel_id: WkStr,
    /// Servers implementing SUB accept only 7 (data).
    pub channel_type: ChannelType,
    /// 0 subscribe, 1 unsubscribe.
    pub action: u8,
    /// JSON string map, may be empty.
    pub param: WkStr,
}

/// SUBACK (11): legacy subscription answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Suback {
    /// Echoed request id.
    pub sub_no: WkStr,
    /// Path part of the requested channel id.
    pub channel_id: WkStr,
    /// Echoed.
    pub channel_type: ChannelType,
    /// Echoed.
    pub action: u8,
    /// 1 ok, 23, 5, 15.
    pub reason_code: ReasonCode,
}

/// EVENT (12): server-pushed event (only for clients that understand it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// Event id.
    pub id: WkStr,
    /// Event type name.
    pub event_type: WkStr,
    /// Producer's timestamp (milliseconds by convention).
    pub timestamp: i64,
    /// Event body (JSON in practice).
    pub data: Bytes,
}

/// Any wkproto packet, as produced by the decoder and consumed by the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (1).
    Connect(Connect),
    /// CONNACK (2).
    Connack(Connack),
    /// SEND (3).
    Send(Send),
    /// SENDACK (4).
    Sendack(Sendack),
    /// RECV (5).
    Recv(Recv),
    /// RECVACK (6).
    Recvack(Recvack),
    /// PING (7), one byte.
    Ping,
    /// PONG (8), one byte.
    Pong,
    /// DISCONNECT (9).
    Disconnect(Disconnect),
    /// SUB (10).
    Sub(Sub),
    /// SUBACK (11).
    Suback(Suback),
    /// EVENT (12).
    Event(Event),
}

impl Packet {
    /// The packet's type code.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::Connack(_) => PacketType::Connack,
            Self::Send(_) => PacketType::Send,
            Self::Sendack(_) => PacketType::Sendack,
            Self::Recv(_) => PacketType::Recv,
            Self::Recvack(_) => PacketType::Recvack,
            Self::Ping => PacketType::Ping,
            Self::Pong => PacketType::Pong,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Sub(_) => PacketType::Sub,
            Self::Suback(_) => PacketType::Suback,
            Self::Event(_) => PacketType::Event,
        }
    }
}

macro_rules! into_packet {
    ($($t:ident),*) => {
        $(impl From<$t> for Packet {
            fn from(p: $t) -> Self {
                Packet::$t(p)
            }
        })*
    };
}

into_packet!(Connect, Connack, Send, Sendack, Recv, Recvack, Disconnect, Sub, Suback, Event);
