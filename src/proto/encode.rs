//! Encoder: appends complete frames to a reusable output buffer.
//!
//! TCP connections may batch any number of frames into one buffer and write it at once.
//! WebSocket connections must put **one packet per binary message**: JS SDK 1.0.4 misreads a
//! message holding several packets (it re-delivers the first and truncates the rest, spec §1),
//! so encode each packet into its own message there.

use super::error::EncodeError;
use super::packet::{
    Connack, Connect, Disconnect, Event, Packet, Recv, RecvView, Recvack, Send, Sendack, Sub,
    Suback,
};
use super::types::{PacketType, StreamLayout};
use super::varint::{varint_len, write_varint, MAX_VARINT};
use super::wkstr::WkStr;
use bytes::{BufMut, BytesMut};

/// Something that can be written as one wkproto frame for a given negotiated version.
pub trait Encode {
    /// Exact frame size (header + remaining length + body) without writing anything;
    /// also validates what `encode` would reject.
    fn encoded_len(&self, version: u8) -> Result<usize, EncodeError>;

    /// Appends the frame to `out`, reserving the exact space once. On error nothing is written.
    fn encode(&self, version: u8, out: &mut BytesMut) -> Result<(), EncodeError>;
}

/// Per-packet body layout, shared by the length pass and the write pass.
trait Body {
    const TYPE: PacketType;
    /// Low nibble of the header byte.
    fn flags(&self) -> u8;
    /// Body length; validates string lengths and seq width.
    fn body_len(&self, version: u8) -> Result<usize, EncodeError>;
    /// Writes the body; only called after `body_len` succeeded.
    fn write_body(&self, version: u8, out: &mut BytesMut);
}

fn str_len(s: &WkStr, field: &'static str) -> Result<usize, EncodeError> {
    bytes_len(s.as_bytes(), field)
}

fn bytes_len(s: &[u8], field: &'static str) -> Result<usize, EncodeError> {
    if s.len() > usize::from(u16::MAX) {
        Err(EncodeError::StringTooLong {
            field,
            len: s.len(),
        })
    } else {
        Ok(2 + s.len())
    }
}

fn put_str(out: &mut BytesMut, s: &WkStr) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut BytesMut, s: &[u8]) {
    // Length validated by `bytes_len` in the length pass.
    out.put_u16(s.len() as u16);
    out.put_slice(s);
}

fn seq_len(seq: u64, version: u8) -> Result<usize, EncodeError> {
    if version >= 6 {
        Ok(8)
    } else if seq > u64::from(u32::MAX) {
        Err(EncodeError::SeqTooLarge(seq))
    } else {
        Ok(4)
    }
}

fn put_seq(out: &mut BytesMut, seq: u64, version: u8) {
    if version >= 6 {
        out.put_u64(seq);
    } else {
        out.put_u32(seq as u32);
    }
}

fn stream_era(version: u8) -> bool {
    (2..=4).contains(&version)
}

fn frame_len<B: Body>(p: &B, version: u8) -> Result<(usize, usize), EncodeError> {
    let body = p.body_len(version)?;
    if body > MAX_VARINT {
        return Err(EncodeError::BodyTooLarge(body));
    }
    Ok((body, 1 + varint_len(body) + body))
}

fn encode_frame<B: Body>(p: &B, version: u8, out: &mut BytesMut) -> Result<(), EncodeError> {
    let (body, total) = frame_len(p, version)?;
    out.reserve(total);
    let start = out.len();
    out.put_u8((B::TYPE.code() << 4) | (p.flags() & 0x0F));
    write_varint(out, body);
    p.write_body(version, out);
    debug_assert_eq!(
        out.len() - start,
        total,
        "{} length pass disagrees",
        B::TYPE
    );
    Ok(())
}

impl<B: Body> Encode for B {
    fn encoded_len(&self, version: u8) -> Result<usize, EncodeError> {
        frame_len(self, version).map(|(_, total)| total)
    }

    fn encode(&self, version: u8, out: &mut BytesMut) -> Result<(), EncodeError> {
        encode_frame(self, version, out)
    }
}

impl Body for Connect {
    const TYPE: PacketType = PacketType::Connect;
    fn flags(&self) -> u8 {
        0
    }
    fn body_len(&self, _version: u8) -> Result<usize, EncodeError> {
        Ok(2 + str_len(&self.device_id, "device_id")?
            + str_len(&self.uid, "uid")?
            + str_len(&self.token, "token")?
            + 8
            + str_len(&self.client_key, "client_key")?)
    }
    fn write_body(&self, _version: u8, out: &mut BytesMut) {
        out.put_u8(self.version);
        out.put_u8(self.device_flag.0);
        put_str(out, &self.device_id);
        put_str(out, &self.uid);
        put_str(out, &self.token);
        out.put_i64(self.client_timestamp);
        put_str(out, &self.client_key);
    }
}

impl Connack {
    fn layout_version(&self, version: u8) -> u8 {
        self.server_version.unwrap_or(version)
    }
}

impl Body for Connack {
    const TYPE: PacketType = PacketType::Connack;
    fn flags(&self) -> u8 {
        u8::from(self.server_version.is_some())
    }
    fn body_len(&self, version: u8) -> Result<usize, EncodeError> {
        Ok(usize::from(self.server_version.is_some())
            + 8
            + 1
            + str_len(&self.server_key, "server_key")?
            + str_len(&self.salt, "salt")?
            + if self.layout_version(version) >= 4 {
                8
            } else {
                0
            })
    }
    fn write_body(&self, version: u8, out: &mut BytesMut) {
        if let Some(v) = self.server_version {
            out.put_u8(v);
        }
        out.put_i64(self.time_diff);
        out.put_u8(self.reason_code.0);
        put_str(out, &self.server_key);
        put_str(out, &self.salt);
        if self.layout_version(version) >= 4 {
            out.put_u64(self.node_id);
        }
    }
}

impl Body for Send {
    const TYPE: PacketType = PacketType::Send;
    fn flags(&self) -> u8 {
        self.flags.bits()
    }
    fn body_len(&self, version: u8) -> Result<usize, EncodeError> {
        let mut n = 1 + 4 + str_len(&self.client_msg_no, "client_msg_no")?;
        if stream_era(version) && self.setting.is_stream() {
            n += str_len(&self.stream_no, "stream_no")?;
        }
        n += str_len(&self.channel_id, "channel_id")? + 1;
        if version >= 3 {
            n += 4;
        }
        n += str_len(&self.msg_key, "msg_key")?;
        if self.setting.has_topic() {
            n += str_len(&self.topic, "topic")?;
        }
        Ok(n + self.payload.len())
    }
    fn write_body(&self, version: u8, out: &mut BytesMut) {
        out.put_u8(self.setting.bits());
        out.put_u32(self.client_seq);
        put_str(out, &self.client_msg_no);
        if stream_era(version) && self.setting.is_stream() {
            put_str(out, &self.stream_no);
        }
        put_str(out, &self.channel_id);
        out.put_u8(self.channel_type.0);
        if version >= 3 {
            out.put_u32(self.expire);
        }
        put_str(out, &self.msg_key);
        if self.setting.has_topic() {
            put_str(out, &self.topic);
        }
        out.put_slice(&self.payload);
    }
}

impl Sendack {
    fn writes_client_msg_no(&self, version: u8) -> bool {
        version >= 6 && !self.client_msg_no.is_empty()
    }
}

impl Body for Sendack {
    const TYPE: PacketType = PacketType::Sendack;
    fn flags(&self) -> u8 {
        self.flags.bits()
    }
    fn body_len(&self, version: u8) -> Result<usize, EncodeError> {
        let mut n = 8 + 4 + seq_len(self.message_seq, version)? + 1;
        if self.writes_client_msg_no(version) {
            n += str_len(&self.client_msg_no, "client_msg_no")?;
        }
        Ok(n)
    }
    fn write_body(&self, version: u8, out: &mut BytesMut) {
        out.put_i64(self.message_id);
        out.put_u32(self.client_seq);
        put_seq(out, self.message_seq, version);
        out.put_u8(self.reason_code.0);
        if self.writes_client_msg_no(version) {
            put_str(out, &self.client_msg_no);
        }
    }
}

impl RecvView<'_> {
    fn stream_layout_for(&self, version: u8) -> Option<StreamLayout> {
        if stream_era(version) {
            self.setting.stream_layout()
        } else {
            None
        }
    }
}

impl Body for RecvView<'_> {
    const TYPE: PacketType = PacketType::Recv;
    fn flags(&self) -> u8 {
        self.flags.bits()
    }
    fn body_len(&self, version: u8) -> Result<usize, EncodeError> {
        let mut n = 1
            + bytes_len(self.msg_key, "msg_key")?
            + bytes_len(self.from_uid.as_bytes(), "from_uid")?
            + bytes_len(self.channel_id.as_bytes(), "channel_id")?
            + 1;
        if version >= 3 {
            n += 4;
        }
        n += bytes_len(self.client_msg_no.as_bytes(), "client_msg_no")?;
        match self.stream_layout_for(version) {
            Some(StreamLayout::Current) => {
                n += 1 + bytes_len(self.stream_no.as_bytes(), "stream_no")? + 8
            }
            Some(StreamLayout::Legacy) => {
                n += bytes_len(self.stream_no.as_bytes(), "stream_no")? + 4 + 1
            }
            None => {}
        }
        n += 8 + seq_len(self.message_seq, version)? + 4;
        if self.setting.has_topic() {
            n += bytes_len(self.topic.as_bytes(), "topic")?;
        }
        Ok(n + self.payload.len())
    }
    fn write_body(&self, version: u8, out: &mut BytesMut) {
        out.put_u8(self.setting.bits());
        put_bytes(out, self.msg_key);
        put_bytes(out, self.from_uid.as_bytes());
        put_bytes(out, self.channel_id.as_bytes());
        out.put_u8(self.channel_type.0);
        if version >= 3 {
            out.put_u32(self.expire);
        }
        put_bytes(out, self.client_msg_no.as_bytes());
        match self.stream_layout_for(version) {
            Some(StreamLayout::Current) => {
                out.put_u8(self.stream_flag.0);
                put_bytes(out, self.stream_no.as_bytes());
                out.put_u64(self.stream_id);
            }
            Some(StreamLayout::Legacy) => {
                put_bytes(out, self.stream_no.as_bytes());
                out.put_u32(self.stream_seq);
                out.put_u8(self.stream_flag.0);
            }
            None => {}
        }
        out.put_i64(self.message_id);
        put_seq(out, self.message_seq, version);
        out.put_i32(self.timestamp);
        if self.setting.has_topic() {
            put_bytes(out, self.topic.as_bytes());
        }
        out.put_slice(self.payload);
    }
}

impl Body for Recv {
    const TYPE: PacketType = PacketType::Recv;
    fn flags(&self) -> u8 {
        self.flags.bits()
    }
    fn body_len(&self, version: u8) -> Result<usize, EncodeError> {
        self.view().body_len(version)
    }
    fn write_body(&self, version: u8, out: &mut BytesMut) {
        self.view().write_body(version, out)
    }
}

impl Body for Recvack {
    const TYPE: PacketType = PacketType::Recvack;
    fn flags(&self) -> u8 {
        self.flags.bits()
    }
    fn body_len(&self, version: u8) -> Result<usize, EncodeError> {
        Ok(8 + seq_len(self.message_seq, version)?)
    }
    fn write_body(&self, version: u8, out: &mut BytesMut) {
        out.put_i64(self.message_id);
        put_seq(out, self.message_seq, version);
    }
}

impl Body for Disconnect {
    const TYPE: PacketType = PacketType::Disconnect;
    fn flags(&self) -> u8 {
        0
    }
    fn body_len(&self, _version: u8) -> Result<usize, EncodeError> {
        Ok(1 + str_len(&self.reason, "reason")?)
    }
    fn write_body(&self, _version: u8, out: &mut BytesMut) {
        out.put_u8(self.reason_code.0);
        put_str(out, &self.reason);
    }
}

impl Body for Sub {
    const TYPE: PacketType = PacketType::Sub;
    fn flags(&self) -> u8 {
        0
    }
    fn body_len(&self, _version: u8) -> Result<usize, EncodeError> {
        Ok(1 + str_len(&self.sub_no, "sub_no")?
            + str_len(&self.channel_id, "channel_id")?
            + 1
            + 1
            + str_len(&self.param, "param")?)
    }
    fn write_body(&self, _version: u8, out: &mut BytesMut) {
        out.put_u8(self.setting.bits());
        put_str(out, &self.sub_no);
        put_str(out, &self.channel_id);
        out.put_u8(self.channel_type.0);
        out.put_u8(self.action);
        put_str(out, &self.param);
    }
}

impl Body for Suback {
    const TYPE: PacketType = PacketType::Suback;
    fn flags(&self) -> u8 {
        0
    }
    fn body_len(&self, _version: u8) -> Result<usize, EncodeError> {
        Ok(str_len(&self.sub_no, "sub_no")? + str_len(&self.channel_id, "channel_id")? + 3)
    }
    fn write_body(&self, _version: u8, out: &mut BytesMut) {
        put_str(out, &self.sub_no);
        put_str(out, &self.channel_id);
        out.put_u8(self.channel_type.0);
        out.put_u8(self.action);
        out.put_u8(self.reason_code.0);
    }
}

impl Body for Event {
    const TYPE: PacketType = PacketType::Event;
    fn flags(&self) -> u8 {
        0
    }
    fn body_len(&self, _version: u8) -> Result<usize, EncodeError> {
        Ok(str_len(&self.id, "id")? + str_len(&self.event_type, "type")? + 8 + self.data.len())
    }
    fn write_body(&self, _version: u8, out: &mut BytesMut) {
        put_str(out, &self.id);
        put_str(out, &self.event_type);
        out.put_i64(self.timestamp);
        out.put_slice(&self.data);
    }
}

impl Encode for Packet {
    fn encoded_len(&self, version: u8) -> Result<usize, EncodeError> {
        match self {
            Self::Connect(p) => p.encoded_len(version),
            Self::Connack(p) => p.encoded_len(version),
            Self::Send(p) => p.encoded_len(version),
            Self::Sendack(p) => p.encoded_len(version),
            Self::Recv(p) => p.encoded_len(version),
            Self::Recvack(p) => p.encoded_len(version),
            Self::Ping | Self::Pong => Ok(1),
            Self::Disconnect(p) => p.encoded_len(version),
            Self::Sub(p) => p.encoded_len(version),
            Self::Suback(p) => p.encoded_len(version),
            Self::Event(p) => p.encoded_len(version),
        }
    }

    fn encode(&self, version: u8, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::Connect(p) => p.encode(version, out),
            Self::Connack(p) => p.encode(version, out),
            Self::Send(p) => p.encode(version, out),
            Self::Sendack(p) => p.encode(version, out),
            Self::Recv(p) => p.encode(version, out),
            Self::Recvack(p) => p.encode(version, out),
            Self::Ping => {
                out.put_u8(PacketType::Ping.code() << 4);
                Ok(())
            }
            Self::Pong => {
                out.put_u8(PacketType::Pong.code() << 4);
                Ok(())
            }
            Self::Disconnect(p) => p.encode(version, out),
            Self::Sub(p) => p.encode(version, out),
            Self::Suback(p) => p.encode(version, out),
            Self::Event(p) => p.encode(version, out),
        }
    }
}
