//! A sans-IO WebSocket server codec (RFC 6455) that works on the connection's own buffers.
//!
//! The gateway owns the socket, reads bytes into a [`BytesMut`] and writes from an output
//! [`BytesMut`]; nothing here touches a socket. A WebSocket connection goes through two phases:
//!
//! 1. **Handshake**: call [`parse_upgrade`] after every read until it returns `Ok(Some(_))`; write
//!    [`Upgrade::accept_response`] to the peer. On [`WsError::BadHandshake`] write
//!    [`bad_request_response`] and close.
//! 2. **Frames**: wrap the connection in a [`WsConn`] and, after every read, call
//!    [`WsConn::read_message`] **in a loop until it returns `Ok(None)`** (the codec may already hold
//!    further complete messages after the input buffer was drained). Outbound messages are written
//!    with [`encode_binary_frame`]; [`WsConn::close`] (or [`encode_close_frame`]) ends the session.
//!
//! Bytes that follow the request head in the same read (a client that does not wait for the 101)
//! stay in the input buffer and are picked up by the first [`WsConn::read_message`].
//!
//! **One wkproto packet per binary message.** The gateway must put exactly ONE packet in each
//! binary message it sends: `wukongimjssdk` 1.0.4 mis-parses a WebSocket message holding several
//! packets (it re-delivers the first and truncates the rest). Inbound, a message is only a chunk of
//! the packet stream (packets may be split across, or packed into, messages).
//!
//! Memory is bounded by the `max_message` limit given to [`WsConn::new`]: a frame header announcing
//! more is rejected before its payload is buffered, and fragmented messages are capped as a whole.

use std::fmt;
use std::io::{self, Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tungstenite::error::{CapacityError, Error as TError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::{CloseFrame, Utf8Bytes};
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

/// Most request headers accepted in an upgrade request.
const MAX_HEADERS: usize = 64;

/// Initial size of (and read chunk for) tungstenite's internal frame buffer, per connection.
/// Kept small: the bytes already sit in the gateway's buffer, this is only a staging copy.
const CODEC_READ_CHUNK: usize = 1024;

/// Most bytes of a close reason (control frame payloads are at most 125 bytes, 2 are the code).
const MAX_CLOSE_REASON: usize = 123;

/// Errors of the WebSocket codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// The HTTP upgrade request is malformed, not a WebSocket upgrade, or its head is too large.
    /// Answer with [`bad_request_response`] and close.
    BadHandshake(String),
    /// The close handshake is over (the peer sent a close frame and the reply was queued, or our
    /// own close was acknowledged). Flush the output buffer, then close the socket.
    Closed,
    /// A frame or message is larger than the configured limit (close code 1009).
    MessageTooLarge {
        /// Size announced or reached.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The peer violated RFC 6455 (unmasked frame, bad opcode, bad continuation, invalid UTF-8 in a
    /// text message, ...; close code 1002).
    Protocol(String),
}

impl WsError {
    /// The close code to send before dropping the connection, if one should be sent.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            WsError::MessageTooLarge { .. } => Some(1009),
            WsError::Protocol(_) => Some(1002),
            WsError::BadHandshake(_) | WsError::Closed => None,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::BadHandshake(m) => write!(f, "bad websocket handshake: {m}"),
            WsError::Closed => f.write_str("websocket closed"),
            WsError::MessageTooLarge { size, max } => {
                write!(f, "websocket message too large: {size} > {max} bytes")
            }
            WsError::Protocol(m) => write!(f, "websocket protocol error: {m}"),
        }
    }
}

impl std::error::Error for WsError {}

/// A successfully parsed upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The complete `101 Switching Protocols` response to write to the peer.
    pub accept_response: Bytes,
    /// The request target (any path is accepted), e.g. `/` or `/ws?x=1`.
    pub path: String,
}

fn bad(msg: impl Into<String>) -> WsError {
    WsError::BadHandshake(msg.into())
}

/// True if any header `name` has a comma-separated token equal (ASCII case-insensitively) to `token`.
fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The value of the single header `name`, trimmed; `None` if absent, repeated or not UTF-8.
fn single_header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a str> {
    let mut it = headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name));
    let h = it.next()?;
    if it.next().is_some() {
        return None;
    }
    std::str::from_utf8(h.value).ok().map(str::trim)
}

/// Parses the HTTP/1.1 WebSocket upgrade request at the start of `buf`.
///
/// * `Ok(None)`: the head is not complete yet (nothing consumed); read more and call again.
/// * `Ok(Some(upgrade))`: the request head was consumed from `buf` (any bytes after it stay);
///   write `upgrade.accept_response`.
/// * `Err(WsError::BadHandshake)`: not a valid upgrade (not `GET`, not HTTP/1.1, missing or wrong
///   `Upgrade: websocket`, `Connection: upgrade`, `Sec-WebSocket-Version: 13` or
///   `Sec-WebSocket-Key`), malformed HTTP, or more than `max_head` bytes without a complete head.
///   `buf` is left as it was.
pub fn parse_upgrade(buf: &mut BytesMut, max_head: usize) -> Result<Option<Upgrade>, WsError> {
    let window = &buf[..buf.len().min(max_head)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= max_head {
                return Err(bad(format!("request head larger than {max_head} bytes")));
            }
            return Ok(None);
        }
        Err(e) => return Err(bad(format!("malformed HTTP request: {e}"))),
    };
    if req.method != Some("GET") {
        return Err(bad("method must be GET"));
    }
    if req.version != Some(1) {
        return Err(bad("HTTP/1.1 required"));
    }
    let hs = &*req.headers;
    if !has_token(hs, "Upgrade", "websocket") {
        return Err(bad("missing 'Upgrade: websocket'"));
    }
    if !has_token(hs, "Connection", "upgrade") {
        return Err(bad("missing 'Connection: Upgrade'"));
    }
    if single_header(hs, "Sec-WebSocket-Version") != Some("13") {
        return Err(bad("Sec-WebSocket-Version must be 13"));
    }
    let key =
        single_header(hs, "Sec-WebSocket-Key").ok_or_else(|| bad("missing Sec-WebSocket-Key"))?;
    match STANDARD.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(bad("Sec-WebSocket-Key must be 16 bytes in base64")),
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let path = req.path.unwrap_or("/").to_string();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    buf.advance(consumed);
    Ok(Some(Upgrade {
        accept_response: Bytes::from(response),
        path,
    }))
}

/// A complete `400 Bad Request` response (with `Connection: close`) carrying `msg` as a text body.
pub fn bad_request_response(msg: &str) -> Bytes {
    let body = format!("{msg}\n");
    Bytes::from(format!(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

/// Appends an unmasked, final (FIN) binary frame carrying `payload` to `out`.
///
/// Server frames are never masked; the header is written by hand so no per-message buffer is
/// allocated. The gateway puts exactly one wkproto packet in each message (see the module docs).
pub fn encode_binary_frame(payload: &[u8], out: &mut BytesMut) {
    encode_frame(0x2, payload, out);
}

/// Appends an unmasked, final text frame carrying `payload` (one JSON-RPC message) to `out`.
pub fn encode_text_frame(payload: &[u8], out: &mut BytesMut) {
    encode_frame(0x1, payload, out);
}

/// Appends an unmasked close frame with `code` and `reason` (cut to 123 bytes on a character
/// boundary) to `out`. Prefer [`WsConn::close`] on an open connection so the codec knows it
/// initiated the close handshake.
pub fn encode_close_frame(code: u16, reason: &str, out: &mut BytesMut) {
    let reason = truncate_utf8(reason, MAX_CLOSE_REASON);
    out.reserve(4 + reason.len());
    out.put_u8(0x88);
    out.put_u8((2 + reason.len()) as u8);
    out.put_u16(code);
    out.put_slice(reason.as_bytes());
}

/// Appends a FIN frame with `opcode` and `payload`, unmasked, with the shortest length encoding.
fn encode_frame(opcode: u8, payload: &[u8], out: &mut BytesMut) {
    let len = payload.len();
    out.reserve(10 + len);
    out.put_u8(0x80 | opcode);
    if len < 126 {
        out.put_u8(len as u8);
    } else if len <= u16::MAX as usize {
        out.put_u8(126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
    out.put_slice(payload);
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// In-memory stream handed to tungstenite: reads drain `inbuf` (`WouldBlock` when it is empty,
/// never EOF), writes append to `out`.
struct BufIo<'a> {
    inbuf: &'a mut BytesMut,
    out: &'a mut BytesMut,
}

impl Read for BufIo<'_> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if self.inbuf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = dst.len().min(self.inbuf.len());
        dst[..n].copy_from_slice(&self.inbuf[..n]);
        self.inbuf.advance(n);
        Ok(n)
    }
}

impl Write for BufIo<'_> {
    fn write(&mut self, src: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(src);
        Ok(src.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Maps a tungstenite error to a [`WsError`]; `None` for `WouldBlock` (need more input).
fn map_err(e: TError) -> Option<WsError> {
    Some(match e {
        TError::Io(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
        TError::ConnectionClosed | TError::AlreadyClosed => WsError::Closed,
        TError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            WsError::MessageTooLarge {
                size,
                max: max_size,
            }
        }
        TError::Protocol(p) => WsError::Protocol(p.to_string()),
        TError::Utf8(_) => WsError::Protocol("invalid UTF-8 in a text message".into()),
        other => WsError::Protocol(other.to_string()),
    })
}

/// The server side of an established WebSocket connection (after the 101 response).
///
/// Decodes client frames (which must be masked), reassembles fragmented messages, answers pings
/// and completes the close handshake. All bytes are taken from and written to caller buffers.
#[derive(Debug)]
pub struct WsConn {
    ctx: WebSocketContext,
    max_message: usize,
    /// Pings and pongs received so far (the session limits their rate).
    control_frames: u64,
}

impl WsConn {
    /// A codec accepting frames and (reassembled) messages of at most `max_message` payload bytes.
    pub fn new(max_message: usize) -> WsConn {
        let config = WebSocketConfig::default()
            .read_buffer_size(CODEC_READ_CHUNK)
            .write_buffer_size(0)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message))
            .accept_unmasked_frames(false);
        WsConn {
            ctx: WebSocketContext::new(Role::Server, Some(config)),
            max_message,
            control_frames: 0,
        }
    }

    /// Pings and pongs received since the connection opened.
    pub fn control_frames(&self) -> u64 {
        self.control_frames
    }

    /// The message size limit given to [`WsConn::new`].
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Decodes the next complete data message from `inbuf`.
    ///
    /// Bytes are consumed from `inbuf` as they are decoded (partial frames are kept inside the
    /// codec). Returns the payload of the next complete binary message (a text message is returned
    /// as its UTF-8 bytes), or `Ok(None)` when more input is needed. Call it in a loop until
    /// `Ok(None)`: after it returned a message the codec may hold more complete messages even if
    /// `inbuf` is empty.
    ///
    /// Control frames are handled here: a ping queues a pong, pongs are ignored, and a close frame
    /// queues the close reply and yields [`WsError::Closed`]. Replies are appended, as whole frames,
    /// to `control_out`, which may be the connection's output buffer (it grows by at most about
    /// the number of input bytes consumed; the caller bounds its output buffer as usual). After an
    /// error other than `Closed`, send the [`WsError::close_code`] with [`encode_close_frame`] if
    /// desired and drop the connection; after `Closed`, flush `control_out` and close.
    pub fn read_message(
        &mut self,
        inbuf: &mut BytesMut,
        control_out: &mut BytesMut,
    ) -> Result<Option<Bytes>, WsError> {
        let mut io = BufIo {
            inbuf,
            out: control_out,
        };
        loop {
            let msg = match self.ctx.read(&mut io) {
                Ok(m) => m,
                Err(e) => {
                    return match map_err(e) {
                        None => {
                            self.flush(&mut io)?;
                            Ok(None)
                        }
                        Some(e) => Err(e),
                    }
                }
            };
            let payload = match msg {
                Message::Binary(b) => b,
                Message::Text(t) => Bytes::from(t),
                Message::Close(_) => {
                    // Queues the close reply (server role: then reports the connection closed).
                    self.flush(&mut io)?;
                    return Err(WsError::Closed);
                }
                Message::Ping(_) | Message::Pong(_) => {
                    self.control_frames += 1;
                    continue;
                }
                Message::Frame(_) => continue,
            };
            self.flush(&mut io)?;
            return Ok(Some(payload));
        }
    }

    /// Starts the close handshake: appends a close frame with `code` and `reason` (cut to 123
    /// bytes) to `out`. Keep calling [`WsConn::read_message`] until [`WsError::Closed`] (the peer's
    /// reply) or a timeout, then close the socket. Calling it again does nothing.
    pub fn close(&mut self, code: u16, reason: &str, out: &mut BytesMut) {
        let mut empty = BytesMut::new();
        let mut io = BufIo {
            inbuf: &mut empty,
            out,
        };
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from(truncate_utf8(reason, MAX_CLOSE_REASON)),
        };
        // Errors only mean the connection is already closing or closed: nothing to send then.
        let _ = self.ctx.close(&mut io, Some(frame));
    }

    /// Writes pending control frames (pong, close reply) to the output side of `io`.
    fn flush(&mut self, io: &mut BufIo<'_>) -> Result<(), WsError> {
        match self.ctx.flush(io) {
            Ok(()) => Ok(()),
            Err(e) => match map_err(e) {
                None => Ok(()),
                Some(e) => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(extra: &str) -> String {
        format!(
            "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
        )
    }

    fn good_request() -> String {
        request("Sec-WebSocket-Version: 13\r\n")
    }

    /// A masked client frame.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut v = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let len = payload.len();
        if len < 126 {
            v.push(0x80 | len as u8);
        } else if len <= 0xffff {
            v.push(0x80 | 126);
            v.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            v.push(0x80 | 127);
            v.extend_from_slice(&(len as u64).to_be_bytes());
        }
        v.extend_from_slice(&mask);
        v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        v
    }

    fn bin(payload: &[u8]) -> Vec<u8> {
        client_frame(true, 0x2, payload, [0x12, 0x34, 0x56, 0x78])
    }

    /// Decodes server frames with tungstenite in the client role.
    fn decode_as_client(bytes: &[u8]) -> Vec<Message> {
        let mut ctx = WebSocketContext::new(Role::Client, None);
        let mut inbuf = BytesMut::from(bytes);
        let mut out = BytesMut::new();
        let mut io = BufIo {
            inbuf: &mut inbuf,
            out: &mut out,
        };
        let mut msgs = Vec::new();
        loop {
            match ctx.read(&mut io) {
                Ok(m) => msgs.push(m),
                Err(TError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("client decode failed: {e}"),
            }
        }
        msgs
    }

    #[test]
    fn accept_key_rfc6455_sample() {
        // RFC 6455 section 1.3.
        assert_eq!(
            tungstenite::handshake::derive_accept_key(KEY.as_bytes()),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let mut buf = BytesMut::from(good_request().as_bytes());
        buf.extend_from_slice(b"\x82\x80rest");
        let up = parse_upgrade(&mut buf, 8192).unwrap().unwrap();
        assert_eq!(up.path, "/chat");
        let resp = std::str::from_utf8(&up.accept_response).unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{resp}"
        );
        assert!(resp.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(resp.contains("\r\nUpgrade: websocket\r\n"));
        assert!(resp.contains("\r\nConnection: Upgrade\r\n"));
        assert!(resp.ends_with("\r\n\r\n"));
        // Bytes after the head are left for the frame decoder.
        assert_eq!(&buf[..], b"\x82\x80rest");
    }

    #[test]
    fn handshake_case_insensitive_and_any_path() {
        let req = format!(
            "GET /?uid=a HTTP/1.1\r\nupgrade: WebSocket\r\nCONNECTION: Upgrade\r\n\
             sec-websocket-version: 13\r\nsec-websocket-key: {KEY}\r\n\r\n"
        );
        let mut buf = BytesMut::from(req.as_bytes());
        let up = parse_upgrade(&mut buf, 8192).unwrap().unwrap();
        assert_eq!(up.path, "/?uid=a");
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_handshake() {
        let req = good_request();
        let bytes = req.as_bytes();
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            buf.put_u8(*b);
            let r = parse_upgrade(&mut buf, 8192).unwrap();
            if i + 1 < bytes.len() {
                assert!(r.is_none(), "complete too early at byte {i}");
                assert_eq!(buf.len(), i + 1, "partial parse must not consume");
            } else {
                assert!(r.is_some());
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn bad_handshakes() {
        let cases = [
            good_request().replacen("GET", "POST", 1),
            good_request().replacen("HTTP/1.1", "HTTP/1.0", 1),
            good_request().replacen("Upgrade: websocket", "Upgrade: h2c", 1),
            good_request().replacen("keep-alive, Upgrade", "keep-alive", 1),
            request(""),
            request("Sec-WebSocket-Version: 8\r\n"),
            good_request().replacen(KEY, "", 1),
            good_request().replacen(KEY, "not base64!", 1),
            good_request().replacen(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "", 1),
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03\r\n\r\n".to_string(),
            "GET / HTTP/1.1\r\nBad Header\r\n\r\n".to_string(),
        ];
        for req in cases {
            let mut buf = BytesMut::from(req.as_bytes());
            match parse_upgrade(&mut buf, 8192) {
                Err(WsError::BadHandshake(_)) => {}
                other => panic!("{req:?} -> {other:?}"),
            }
        }
        // Oversized head: error once max_head bytes are buffered without a complete head.
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nX-Junk: "[..]);
        buf.extend_from_slice(&[b'a'; 100]);
        assert!(parse_upgrade(&mut buf, 200).unwrap().is_none());
        buf.extend_from_slice(&[b'a'; 100]);
        assert!(matches!(
            parse_upgrade(&mut buf, 200),
            Err(WsError::BadHandshake(_))
        ));
        // A complete head larger than max_head is refused too.
        let mut buf = BytesMut::from(good_request().as_bytes());
        assert!(matches!(
            parse_upgrade(&mut buf, 40),
            Err(WsError::BadHandshake(_))
        ));

        let resp = bad_request_response("nope");
        let s = std::str::from_utf8(&resp).unwrap();
        assert!(s.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(s.contains("\r\nConnection: close\r\n"));
        assert!(s.contains("\r\nContent-Length: 5\r\n"));
        assert!(s.ends_with("\r\n\r\nnope\n"));
    }

    #[test]
    fn masked_binary_frames_whole_and_several() {
        let mut conn = WsConn::new(1 << 16);
        let mut inbuf = BytesMut::new();
        let mut out = BytesMut::new();
        inbuf.extend_from_slice(&bin(b"\x10\x01abc"));
        inbuf.extend_from_slice(&bin(b""));
        inbuf.extend_from_slice(&bin(&[7u8; 300]));
        inbuf.extend_from_slice(&client_frame(true, 0x1, "héllo".as_bytes(), [1, 2, 3, 4]));
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out).unwrap().unwrap(),
            &b"\x10\x01abc"[..]
        );
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out).unwrap().unwrap(),
            &b""[..]
        );
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out).unwrap().unwrap(),
            &[7u8; 300][..]
        );
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out).unwrap().unwrap(),
            "héllo".as_bytes()
        );
        assert_eq!(conn.read_message(&mut inbuf, &mut out).unwrap(), None);
        assert!(inbuf.is_empty());
        assert!(out.is_empty());
    }

    #[test]
    fn split_byte_by_byte() {
        let payload: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let mut wire = bin(b"first");
        wire.extend_from_slice(&bin(&payload));
        wire.extend_from_slice(&bin(&payload[..200]));
        let mut conn = WsConn::new(1 << 20);
        let mut inbuf = BytesMut::new();
        let mut out = BytesMut::new();
        let mut got = Vec::new();
        for b in wire {
            inbuf.put_u8(b);
            while let Some(m) = conn.read_message(&mut inbuf, &mut out).unwrap() {
                got.push(m);
            }
            assert!(inbuf.is_empty());
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], &b"first"[..]);
        assert_eq!(got[1], &payload[..]);
        assert_eq!(got[2], &payload[..200]);
        assert!(out.is_empty());
    }

    #[test]
    fn fragmented_message_with_interleaved_ping() {
        let mut wire = client_frame(false, 0x2, b"hel", [9, 8, 7, 6]);
        wire.extend_from_slice(&client_frame(true, 0x9, b"p", [1, 1, 1, 1]));
        wire.extend_from_slice(&client_frame(false, 0x0, b"lo ", [5, 5, 5, 5]));
        wire.extend_from_slice(&client_frame(true, 0x0, b"bob", [0, 0, 0, 0]));
        let mut conn = WsConn::new(1024);
        let mut inbuf = BytesMut::from(&wire[..]);
        let mut out = BytesMut::new();
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out).unwrap().unwrap(),
            &b"hello bob"[..]
        );
        assert_eq!(conn.read_message(&mut inbuf, &mut out).unwrap(), None);
        assert_eq!(&out[..], b"\x8a\x01p");
    }

    #[test]
    fn ping_gets_pong() {
        let mut conn = WsConn::new(1024);
        let mut inbuf = BytesMut::from(&client_frame(true, 0x9, b"hb", [3, 1, 4, 1])[..]);
        let mut out = BytesMut::new();
        assert_eq!(conn.read_message(&mut inbuf, &mut out).unwrap(), None);
        assert_eq!(&out[..], b"\x8a\x02hb");
        // A pong from the client is ignored.
        out.clear();
        inbuf.extend_from_slice(&client_frame(true, 0xA, b"x", [3, 1, 4, 1]));
        inbuf.extend_from_slice(&bin(b"after"));
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out).unwrap().unwrap(),
            &b"after"[..]
        );
        assert!(out.is_empty());
        match decode_as_client(b"\x8a\x02hb").as_slice() {
            [Message::Pong(p)] => assert_eq!(&p[..], b"hb"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn close_gets_reply_and_closed() {
        let mut conn = WsConn::new(1024);
        let mut body = 1000u16.to_be_bytes().to_vec();
        body.extend_from_slice(b"bye");
        let mut inbuf = BytesMut::from(&bin(b"last")[..]);
        inbuf.extend_from_slice(&client_frame(true, 0x8, &body, [7, 7, 7, 7]));
        let mut out = BytesMut::new();
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out).unwrap().unwrap(),
            &b"last"[..]
        );
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out),
            Err(WsError::Closed)
        );
        match decode_as_client(&out).as_slice() {
            [Message::Close(Some(cf))] => assert_eq!(u16::from(cf.code), 1000),
            other => panic!("{other:?}"),
        }
        // Further calls keep reporting Closed and write nothing.
        let len = out.len();
        inbuf.extend_from_slice(&bin(b"late"));
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out),
            Err(WsError::Closed)
        );
        assert_eq!(out.len(), len);
    }

    #[test]
    fn server_initiated_close() {
        let mut conn = WsConn::new(1024);
        let mut out = BytesMut::new();
        conn.close(4001, "kicked", &mut out);
        let mut expect = BytesMut::new();
        encode_close_frame(4001, "kicked", &mut expect);
        assert_eq!(out, expect);
        conn.close(4001, "again", &mut out);
        assert_eq!(out, expect, "second close sends nothing");
        // Data still in flight from the client is delivered; then the close reply ends it.
        let mut inbuf = BytesMut::from(&bin(b"in flight")[..]);
        inbuf.extend_from_slice(&client_frame(
            true,
            0x8,
            &4001u16.to_be_bytes(),
            [1, 2, 3, 4],
        ));
        out.clear();
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out).unwrap().unwrap(),
            &b"in flight"[..]
        );
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out),
            Err(WsError::Closed)
        );
        assert!(out.is_empty(), "no second close frame");
    }

    #[test]
    fn oversized_messages_rejected() {
        // One frame over the limit: rejected from its header, before the payload arrives.
        let mut conn = WsConn::new(100);
        let frame = bin(&[0u8; 101]);
        let mut inbuf = BytesMut::from(&frame[..8]);
        let mut out = BytesMut::new();
        let err = conn.read_message(&mut inbuf, &mut out).unwrap_err();
        assert!(
            matches!(
                err,
                WsError::MessageTooLarge {
                    size: 101,
                    max: 100
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.close_code(), Some(1009));
        // A huge 64-bit length is refused without allocating.
        let mut conn = WsConn::new(100);
        let huge = [
            0x82u8, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4,
        ];
        let mut inbuf = BytesMut::from(&huge[..]);
        assert!(matches!(
            conn.read_message(&mut inbuf, &mut out),
            Err(WsError::MessageTooLarge { max: 100, .. })
        ));
        // Fragments each within the limit but together over it.
        let mut conn = WsConn::new(100);
        let mut inbuf = BytesMut::from(&client_frame(false, 0x2, &[1; 60], [1, 2, 3, 4])[..]);
        inbuf.extend_from_slice(&client_frame(true, 0x0, &[1; 60], [1, 2, 3, 4]));
        assert!(matches!(
            conn.read_message(&mut inbuf, &mut out),
            Err(WsError::MessageTooLarge { max: 100, .. })
        ));
        // Exactly at the limit is fine.
        let mut conn = WsConn::new(100);
        let mut inbuf = BytesMut::from(&bin(&[5; 100])[..]);
        assert_eq!(
            conn.read_message(&mut inbuf, &mut out)
                .unwrap()
                .unwrap()
                .len(),
            100
        );
    }

    #[test]
    fn protocol_errors() {
        let mut out = BytesMut::new();
        // Unmasked client frame.
        let mut conn = WsConn::new(1024);
        let mut inbuf = BytesMut::from(&b"\x82\x03abc"[..]);
        let err = conn.read_message(&mut inbuf, &mut out).unwrap_err();
        assert!(matches!(err, WsError::Protocol(_)), "{err:?}");
        assert_eq!(err.close_code(), Some(1002));
        // Continuation without a start, reserved opcode, RSV bits, invalid UTF-8 text,
        // fragmented ping, oversized ping.
        let cases = [
            client_frame(true, 0x0, b"x", [1, 2, 3, 4]),
            client_frame(true, 0x3, b"x", [1, 2, 3, 4]),
            {
                let mut f = bin(b"x");
                f[0] |= 0x40;
                f
            },
            client_frame(true, 0x1, b"\xff\xfe", [1, 2, 3, 4]),
            client_frame(false, 0x9, b"x", [1, 2, 3, 4]),
            client_frame(true, 0x9, &[0; 126], [1, 2, 3, 4]),
        ];
        for (i, wire) in cases.iter().enumerate() {
            let mut conn = WsConn::new(1024);
            let mut inbuf = BytesMut::from(&wire[..]);
            match conn.read_message(&mut inbuf, &mut out) {
                Err(WsError::Protocol(_)) => {}
                other => panic!("case {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn empty_input_needs_more() {
        let mut conn = WsConn::new(1024);
        let mut inbuf = BytesMut::new();
        let mut out = BytesMut::new();
        assert_eq!(conn.read_message(&mut inbuf, &mut out).unwrap(), None);
        assert_eq!(conn.read_message(&mut inbuf, &mut out).unwrap(), None);
    }

    #[test]
    fn encode_binary_frame_lengths() {
        for (len, header) in [
            (0usize, 2usize),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
        ] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = BytesMut::from(&b"prefix"[..]);
            encode_binary_frame(&payload, &mut out);
            assert_eq!(out.len(), 6 + header + len);
            assert_eq!(out[6], 0x82);
            assert_eq!(out[7] & 0x80, 0, "server frames are unmasked");
            match decode_as_client(&out[6..]).as_slice() {
                [Message::Binary(b)] => assert_eq!(&b[..], &payload[..], "len {len}"),
                other => panic!("len {len}: {other:?}"),
            }
        }
        // Several messages back to back decode one by one.
        let mut out = BytesMut::new();
        encode_binary_frame(b"\x20\x01a", &mut out);
        encode_binary_frame(b"\x20\x01b", &mut out);
        assert_eq!(decode_as_client(&out).len(), 2);
    }

    #[test]
    fn encode_close_frame_truncates_reason() {
        let mut out = BytesMut::new();
        let long = "é".repeat(100); // 200 bytes
        encode_close_frame(1001, &long, &mut out);
        assert!(out.len() <= 2 + 125);
        match decode_as_client(&out).as_slice() {
            [Message::Close(Some(cf))] => {
                assert_eq!(u16::from(cf.code), 1001);
                assert_eq!(cf.reason.len(), 122);
            }
            other => panic!("{other:?}"),
        }
    }
}
