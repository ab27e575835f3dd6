//! wkproto: the WuKongIM client binary protocol (spec `shared/spec/wkproto.md`), versions 1–6.
//!
//! * [`Decoder`] turns a connection's receive buffer into [`Packet`]s, zero-copy: strings are
//!   [`WkStr`] and payloads [`bytes::Bytes`] slices of the received frame.
//! * [`Encode`] appends frames to a reusable [`bytes::BytesMut`] (batch freely on TCP; one
//!   packet per message on WebSocket, see the [`encode`] module docs).
//! * [`crypto`] implements the per-connection key agreement and payload protection (§7);
//!   `Send::seal/open` and `Recv::seal/open` apply it to packets.
//!
//! Connection lifecycle for a server: `Decoder::decode_connect` → [`negotiate_version`] →
//! [`crypto::server_handshake`] → CONNACK (`server_version: Some(v)` iff
//! [`connack_has_server_version`]) → `Decoder::decode(buf, negotiated)` for everything else.

pub mod crypto;
pub mod decode;
pub mod encode;
pub mod error;
pub mod packet;
mod seal;
pub mod types;
pub mod varint;
pub mod wkstr;

pub use crypto::{ClientHandshake, ConnCipher, MsgKey, ServerHandshake};
pub use decode::{decode_body, Decoder, PeekedRecv, RecvHead};
pub use encode::Encode;
pub use error::{CryptoError, DecodeError, EncodeError};
pub use packet::{
    Connack, Connect, Disconnect, Event, Packet, Recv, RecvView, Recvack, Send, Sendack, Sub,
    Suback,
};
pub use types::{
    connack_has_server_version, negotiate_version, ChannelType, DeviceFlag, HeaderFlags,
    PacketType, ReasonCode, Setting, StreamFlag, StreamLayout, LATEST_VERSION,
};
pub use wkstr::WkStr;
