//! Streaming decoder: turns whatever bytes have arrived into whole packets, zero-copy.

use super::error::DecodeError;
use super::packet::{
    Connack, Connect, Disconnect, Event, Packet, Recv, Recvack, Send, Sendack, Sub, Suback,
};
use super::types::{HeaderFlags, PacketType, Setting, StreamLayout};
use super::varint::{read_varint, VarintRead};
use super::wkstr::WkStr;
use bytes::{Buf, Bytes, BytesMut};
use std::ops::Range;

/// Decodes packets from a connection's receive buffer.
///
/// Feed it the buffer after every read: it returns `Ok(None)` while the first packet is
/// incomplete (the buffer is left untouched), otherwise splits exactly one frame off the front
/// (`split_to(..).freeze()`) so strings and payloads of the returned packet share that memory.
/// Call it in a loop until `Ok(None)` to drain coalesced packets.
///
/// The remaining length is checked against `max_frame` as soon as the varint is readable, so a
/// peer can never make a connection buffer more than `max_frame` + 5 bytes for one frame.
/// After an `Err` the connection must be closed; the buffer's contents are then unspecified.
///
/// **Before negotiation** (first packet): call [`Decoder::decode_connect`], or
/// [`Decoder::decode`] with `version = 0`. The CONNECT layout does not depend on the version:
/// it carries the client's version as its first body byte. Then use
/// [`negotiate_version`](super::negotiate_version)`(connect.version)` for every later packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_frame: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// The Go servers' limit on a remaining length: 1 MiB.
    pub const DEFAULT_MAX_FRAME: usize = 1_048_576;

    /// A decoder with the default 1 MiB body limit.
    pub const fn new() -> Self {
        Self {
            max_frame: Self::DEFAULT_MAX_FRAME,
        }
    }

    /// A decoder with a custom body limit (bytes of remaining length).
    pub const fn with_max_frame(max_frame: usize) -> Self {
        Self { max_frame }
    }

    /// The configured body limit.
    pub const fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Inspects the header at the front of `buf`: `Ok(Some(n))` is the total length (header +
    /// body) of the first frame, `Ok(None)` means the header itself is incomplete. Lets a reader
    /// size its next read without decoding.
    pub fn peek_frame(&self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        Ok(self.peek_header(buf)?.map(|(hdr, body)| hdr + body))
    }

    /// Returns (header length, body length) of the first frame once its header is complete.
    fn peek_header(&self, buf: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let code = first >> 4;
        let ptype = PacketType::from_code(code).ok_or(DecodeError::UnknownPacketType(code))?;
        if matches!(ptype, PacketType::Ping | PacketType::Pong) {
            return Ok(Some((1, 0)));
        }
        // Over-limit wins over malformed, using the value of the bytes present: the accumulated
        // value only grows as bytes arrive, so the verdict does not depend on how the stream
        // was chunked.
        let too_large = |len: usize| DecodeError::FrameTooLarge {
            len,
            max: self.max_frame,
        };
        match read_varint(buf.get(1..).unwrap_or_default()) {
            VarintRead::Done { value, .. }
            | VarintRead::Incomplete { so_far: value }
            | VarintRead::Malformed { so_far: value }
                if value > self.max_frame =>
            {
                Err(too_large(value))
            }
            VarintRead::Done { value, len } => Ok(Some((1 + len, value))),
            VarintRead::Incomplete { .. } => Ok(None),
            VarintRead::Malformed { .. } => Err(DecodeError::MalformedLength),
        }
    }

    /// Decodes the first complete packet of `buf` using the connection's negotiated `version`
    /// (see the type docs for the first packet). `Ok(None)`: need more bytes, `buf` untouched.
    pub fn decode(&self, buf: &mut BytesMut, version: u8) -> Result<Option<Packet>, DecodeError> {
        let Some((hdr, body_len)) = self.peek_header(buf)? else {
            return Ok(None);
        };
        let total = hdr + body_len;
        if buf.len() < total {
            return Ok(None);
        }
        let header = buf.first().copied().unwrap_or_default();
        // Skip the header without touching the refcount, then split the body off zero-copy.
        buf.advance(hdr);
        let body = buf.split_to(body_len).freeze();
        decode_body(header, body, version).map(Some)
    }

    /// Reads the first frame of `buf` if it is a complete RECV, borrowing from `buf` (see
    /// [`RecvHead`]); `buf` is left as it is: advance it by `len` after use. A malformed RECV
    /// is the same error [`Decoder::decode`] reports for its layout (UTF-8 is not checked).
    pub fn peek_recv<'a>(&self, buf: &'a [u8], version: u8) -> Result<PeekedRecv<'a>, DecodeError> {
        let Some((hdr, body_len)) = self.peek_header(buf)? else {
            return Ok(PeekedRecv::Incomplete);
        };
        let header = buf.first().copied().unwrap_or_default();
        if header >> 4 != PacketType::Recv.code() {
            return Ok(PeekedRecv::Other);
        }
        let Some(body) = buf.get(hdr..hdr + body_len) else {
            return Ok(PeekedRecv::Incomplete);
        };
        let mut r = Reader {
            buf: body,
            pos: 0,
            packet: PacketType::Recv,
        };
        let l = recv_layout(&mut r, version)?;
        Ok(PeekedRecv::Recv {
            head: RecvHead {
                flags: HeaderFlags::from_header(header),
                setting: l.setting,
                message_id: l.message_id,
                message_seq: l.message_seq,
                timestamp: l.timestamp,
                payload: &body[l.payload],
            },
            len: hdr + body_len,
        })
    }

    /// Decodes the first packet of a connection, which must be CONNECT
    /// (anything else is [`DecodeError::ExpectedConnect`]; spec §9.1).
    pub fn decode_connect(&self, buf: &mut BytesMut) -> Result<Option<Connect>, DecodeError> {
        if let Some(&first) = buf.first() {
            let code = first >> 4;
            let ptype = PacketType::from_code(code).ok_or(DecodeError::UnknownPacketType(code))?;
            if ptype != PacketType::Connect {
                return Err(DecodeError::ExpectedConnect(ptype));
            }
        }
        match self.decode(buf, 0)? {
            Some(Packet::Connect(c)) => Ok(Some(c)),
            Some(other) => Err(DecodeError::ExpectedConnect(other.packet_type())),
            None => Ok(None),
        }
    }
}

/// Decodes one body whose frame header byte was `header` (type nibble + flags).
/// `body` must be exactly the remaining-length bytes; trailing bytes after the last defined
/// field are ignored for packets without a `rest` field (spec §6.2).
pub fn decode_body(header: u8, body: Bytes, version: u8) -> Result<Packet, DecodeError> {
    let code = header >> 4;
    let ptype = PacketType::from_code(code).ok_or(DecodeError::UnknownPacketType(code))?;
    let flags = HeaderFlags::from_header(header);
    let mut r = Reader {
        buf: body,
        pos: 0,
        packet: ptype,
    };
    let wide_seq = version >= 6;
    let has_expire = version >= 3;
    let stream_era = (2..=4).contains(&version);
    Ok(match ptype {
        PacketType::Connect => Packet::Connect(Connect {
            version: r.u8("version")?,
            device_flag: r.u8("device_flag")?.into(),
            device_id: r.string("device_id")?,
            uid: r.string("uid")?,
            token: r.string("token")?,
            client_timestamp: r.i64("client_timestamp")?,
            client_key: r.string("client_key")?,
        }),
        PacketType::Connack => {
            let server_version = if header & 0x01 != 0 {
                Some(r.u8("server_version")?)
            } else {
                None
            };
            let layout_version = server_version.unwrap_or(version);
            Packet::Connack(Connack {
                server_version,
                time_diff: r.i64("time_diff")?,
                reason_code: r.u8("reason_code")?.into(),
                server_key: r.string("server_key")?,
                salt: r.string("salt")?,
                node_id: if layout_version >= 4 {
                    r.u64("node_id")?
                } else {
                    0
                },
            })
        }
        PacketType::Send => {
            let setting: Setting = r.u8("setting")?.into();
            let client_seq = r.u32("client_seq")?;
            let client_msg_no = r.string("client_msg_no")?;
            let stream_no = if stream_era && setting.is_stream() {
                r.string("stream_no")?
            } else {
                WkStr::EMPTY
            };
            let channel_id = r.string("channel_id")?;
            let channel_type = r.u8("channel_type")?.into();
            let expire = if has_expire { r.u32("expire")? } else { 0 };
            let msg_key = r.string("msg_key")?;
            let topic = if setting.has_topic() {
                r.string("topic")?
            } else {
                WkStr::EMPTY
            };
            Packet::Send(Send {
                flags,
                setting,
                client_seq,
                client_msg_no,
                stream_no,
                channel_id,
                channel_type,
                expire,
                msg_key,
                topic,
                payload: r.rest(),
            })
        }
        PacketType::Sendack => {
            let message_id = r.i64("message_id")?;
            let client_seq = r.u32("client_seq")?;
            let message_seq = r.seq(wide_seq)?;
            let reason_code = r.u8("reason_code")?.into();
            let client_msg_no = if r.remaining() >= 2 {
                r.string("client_msg_no")?
            } else {
                WkStr::EMPTY
            };
            Packet::Sendack(Sendack {
                flags,
                message_id,
                client_seq,
                message_seq,
                reason_code,
                client_msg_no,
            })
        }
        PacketType::Recv => {
            let l = recv_layout(&mut r, version)?;
            let text = |range: std::ops::Range<usize>, field| r.text(range, field);
            Packet::Recv(Recv {
                flags,
                setting: l.setting,
                msg_key: text(l.msg_key, "msg_key")?,
                from_uid: text(l.from_uid, "from_uid")?,
                channel_id: text(l.channel_id, "channel_id")?,
                channel_type: l.channel_type.into(),
                expire: l.expire,
                client_msg_no: text(l.client_msg_no, "client_msg_no")?,
                stream_no: text(l.stream_no, "stream_no")?,
                stream_id: l.stream_id,
                stream_seq: l.stream_seq,
                stream_flag: l.stream_flag.into(),
                message_id: l.message_id,
                message_seq: l.message_seq,
                timestamp: l.timestamp,
                topic: text(l.topic, "topic")?,
                payload: r.buf.slice(l.payload),
            })
        }
        PacketType::Recvack => Packet::Recvack(Recvack {
            flags,
            message_id: r.i64("message_id")?,
            message_seq: r.seq(wide_seq)?,
        }),
        PacketType::Ping => Packet::Ping,
        PacketType::Pong => Packet::Pong,
        PacketType::Disconnect => Packet::Disconnect(Disconnect {
            reason_code: r.u8("reason_code")?.into(),
            reason: r.string("reason")?,
        }),
        PacketType::Sub => Packet::Sub(Sub {
            setting: r.u8("setting")?.into(),
            sub_no: r.string("sub_no")?,
            channel_id: r.string("channel_id")?,
            channel_type: r.u8("channel_type")?.into(),
            action: r.u8("action")?,
            param: r.string("param")?,
        }),
        PacketType::Suback => Packet::Suback(Suback {
            sub_no: r.string("sub_no")?,
            channel_id: r.string("channel_id")?,
            channel_type: r.u8("channel_type")?.into(),
            action: r.u8("action")?,
            reason_code: r.u8("reason_code")?.into(),
        }),
        PacketType::Event => Packet::Event(Event {
            id: r.string("id")?,
            event_type: r.string("type")?,
            timestamp: r.i64("timestamp")?,
            data: r.rest(),
        }),
    })
}

/// Where the parts of a RECV body lie: its strings and payload as byte ranges of the body.
/// Read once by [`recv_layout`] for both the owned [`Recv`] and the borrowed [`RecvHead`], so
/// the RECV layout is written in one place.
struct RecvLayout {
    setting: Setting,
    msg_key: Range<usize>,
    from_uid: Range<usize>,
    channel_id: Range<usize>,
    channel_type: u8,
    expire: u32,
    client_msg_no: Range<usize>,
    stream_no: Range<usize>,
    stream_id: u64,
    stream_seq: u32,
    stream_flag: u8,
    message_id: i64,
    message_seq: u64,
    timestamp: i32,
    topic: Range<usize>,
    payload: Range<usize>,
}

/// Walks a RECV body (spec wkproto §9.4) in the layout of `version`.
fn recv_layout<B: std::ops::Deref<Target = [u8]>>(
    r: &mut Reader<B>,
    version: u8,
) -> Result<RecvLayout, DecodeError> {
    let has_expire = version >= 3;
    let stream_era = (2..=4).contains(&version);
    let setting: Setting = r.u8("setting")?.into();
    let msg_key = r.range("msg_key")?;
    let from_uid = r.range("from_uid")?;
    let channel_id = r.range("channel_id")?;
    let channel_type = r.u8("channel_type")?;
    let expire = if has_expire { r.u32("expire")? } else { 0 };
    let client_msg_no = r.range("client_msg_no")?;
    let (mut stream_no, mut stream_id, mut stream_seq, mut stream_flag) = (0..0, 0, 0, 0);
    if stream_era {
        match setting.stream_layout() {
            Some(StreamLayout::Current) => {
                stream_flag = r.u8("stream_flag")?;
                stream_no = r.range("stream_no")?;
                stream_id = r.u64("stream_id")?;
            }
            Some(StreamLayout::Legacy) => {
                stream_no = r.range("stream_no")?;
                stream_seq = r.u32("stream_seq")?;
                stream_flag = r.u8("stream_flag")?;
            }
            None => {}
        }
    }
    let message_id = r.i64("message_id")?;
    let message_seq = r.seq(version >= 6)?;
    let timestamp = r.i32("timestamp")?;
    let topic = if setting.has_topic() {
        r.range("topic")?
    } else {
        0..0
    };
    Ok(RecvLayout {
        setting,
        msg_key,
        from_uid,
        channel_id,
        channel_type,
        expire,
        client_msg_no,
        stream_no,
        stream_id,
        stream_seq,
        stream_flag,
        message_id,
        message_seq,
        timestamp,
        topic,
        payload: r.rest_range(),
    })
}

/// What a receiver needs of a RECV to acknowledge it and read its payload, borrowed from the
/// frame: no reference count taken, no string checked. For receivers that keep nothing of the
/// message and do not decrypt (the load generator); [`Decoder::decode`] gives the whole
/// [`Recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvHead<'a> {
    /// Frame header flags.
    pub flags: HeaderFlags,
    /// Setting byte.
    pub setting: Setting,
    /// Server message id.
    pub message_id: i64,
    /// Channel position.
    pub message_seq: u64,
    /// Server time, Unix seconds.
    pub timestamp: i32,
    /// The payload (ciphertext if the connection encrypts and the message is not NoEncrypt).
    pub payload: &'a [u8],
}

/// What [`Decoder::peek_recv`] found at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeekedRecv<'a> {
    /// The first frame is incomplete.
    Incomplete,
    /// The first frame is another packet type (decode it with [`Decoder::decode`]).
    Other,
    /// The first frame is this RECV, `len` bytes long with its header.
    Recv {
        /// The RECV.
        head: RecvHead<'a>,
        /// Bytes of the whole frame (advance the buffer by this much).
        len: usize,
    },
}

/// Cursor over one frame body; every read is bounds-checked and returns a typed error.
struct Reader<B = Bytes> {
    buf: B,
    pos: usize,
    packet: PacketType,
}

impl Reader<Bytes> {
    fn string(&mut self, field: &'static str) -> Result<WkStr, DecodeError> {
        let range = self.range(field)?;
        self.text(range, field)
    }

    /// The body bytes of `range` (from [`Reader::range`]) as checked UTF-8 text.
    fn text(&self, range: Range<usize>, field: &'static str) -> Result<WkStr, DecodeError> {
        WkStr::from_utf8(self.buf.slice(range)).map_err(|_| DecodeError::InvalidUtf8 {
            packet: self.packet,
            field,
        })
    }

    fn rest(&mut self) -> Bytes {
        let range = self.rest_range();
        self.buf.slice(range)
    }
}

impl<B: std::ops::Deref<Target = [u8]>> Reader<B> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let err = DecodeError::Truncated {
            packet: self.packet,
            field,
        };
        let end = self.pos.checked_add(N).ok_or_else(|| err.clone())?;
        let bytes: [u8; N] = self
            .buf
            .get(self.pos..end)
            .and_then(|s| s.try_into().ok())
            .ok_or(err)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_be_bytes)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_be_bytes)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_be_bytes)
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.array(field).map(i32::from_be_bytes)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// message_seq: u64 for v ≥ 6, u32 before.
    fn seq(&mut self, wide: bool) -> Result<u64, DecodeError> {
        if wide {
            self.u64("message_seq")
        } else {
            self.u32("message_seq").map(u64::from)
        }
    }

    /// A length-prefixed string's byte range in the body (bounds checked, not yet UTF-8).
    fn range(&mut self, field: &'static str) -> Result<Range<usize>, DecodeError> {
        let len = usize::from(self.u16(field)?);
        if len > self.remaining() {
            return Err(DecodeError::StringOverflow {
                packet: self.packet,
                field,
                len,
            });
        }
        let start = self.pos;
        self.pos += len;
        Ok(start..self.pos)
    }

    /// The rest of the body's byte range.
    fn rest_range(&mut self) -> Range<usize> {
        let start = self.pos.min(self.buf.len());
        self.pos = self.buf.len();
        start..self.pos
    }
}
