//! A minimal client-side WebSocket layer (RFC 6455) for wkproto over `ws://`.
//!
//! Sans-IO, on the caller's buffers: the HTTP/1.1 upgrade request and the check of the server's
//! `101` answer ([`upgrade_request`], [`parse_upgrade_response`]), masked client frames
//! ([`encode_frame`], [`encode_data`]) and a decoder for (unmasked) server frames
//! ([`ClientDecoder`]) that answers pings, completes the close handshake and reassembles
//! fragmented messages.
//!
//! wkproto rides in binary messages. Jindou sends one packet per message but reads a message as
//! a chunk of the packet stream (packets may be packed into or split across messages), so the
//! decoder appends every data payload to one packet-stream buffer and the sender packs whatever
//! packets are queued into one message of at most [`MAX_OUT_MESSAGE`] bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{Buf, BufMut, BytesMut};
use sha1::{Digest, Sha1};
use std::fmt;

/// Continuation frame.
pub const OP_CONT: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

/// Largest data message the client sends (longer output is cut into several messages; the
/// server reassembles the packet stream).
pub const MAX_OUT_MESSAGE: usize = 64 * 1024;

/// Largest server frame payload accepted (wkproto packets are at most 1 MiB by default).
pub const MAX_IN_FRAME: usize = 16 * 1024 * 1024;

/// Largest HTTP response head accepted during the upgrade.
const MAX_HEAD: usize = 16 * 1024;

/// The GUID of RFC 6455 §1.3.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// WebSocket errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// The upgrade was refused or its answer is malformed.
    Handshake(String),
    /// The server broke RFC 6455 (masked frame, bad opcode, bad continuation, …).
    Protocol(String),
    /// A frame announced more than [`MAX_IN_FRAME`] bytes.
    TooLarge(u64),
    /// The server closed the connection (its close frame's code and reason).
    Closed(Option<u16>, String),
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handshake(m) => write!(f, "websocket handshake: {m}"),
            Self::Protocol(m) => write!(f, "websocket protocol error: {m}"),
            Self::TooLarge(n) => write!(f, "websocket frame too large: {n} bytes"),
            Self::Closed(Some(c), r) => write!(f, "websocket closed by the server: {c} {r}"),
            Self::Closed(None, r) => write!(f, "websocket closed by the server {r}"),
        }
    }
}

impl std::error::Error for WsError {}

/// Mask keys and handshake nonces: xorshift64* (masking only has to defeat proxy cache
/// poisoning, not attackers; a load generator needs no cryptographic randomness).
#[derive(Clone, Debug)]
pub struct MaskRng(u64);

impl MaskRng {
    /// A generator seeded with `seed` (any value).
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A fresh 4-byte mask key.
    pub fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_be_bytes()
    }
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes in base64.
pub fn new_key(rng: &mut MaskRng) -> String {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    raw[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    STANDARD.encode(raw)
}

/// The `Sec-WebSocket-Accept` a server must answer to `key`.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    STANDARD.encode(h.finalize())
}

/// The HTTP/1.1 upgrade request for `path` on `host` with `key`.
pub fn upgrade_request(host: &str, path: &str, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Whether some header `name` lists `token` (comma-separated, ASCII case-insensitive).
fn has_token(headers: &[(&str, &str)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Checks the server's answer to the upgrade request sent with `key`, at the front of `buf`:
/// `Ok(None)` while the head is incomplete, `Ok(Some(n))` once a valid `101` head of `n` bytes
/// was found (bytes after it are already frames).
pub fn parse_upgrade_response(buf: &[u8], key: &str) -> Result<Option<usize>, WsError> {
    let bad = |m: String| WsError::Handshake(m);
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(bad(format!("response head larger than {MAX_HEAD} bytes")));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("non-UTF-8 head".into()))?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("bad status line {status:?}")));
    }
    if code != "101" {
        let body = &buf[end + 4..];
        let body = String::from_utf8_lossy(&body[..body.len().min(200)]);
        return Err(bad(format!("server answered {status:?} {}", body.trim())));
    }
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    if !has_token(&headers, "upgrade", "websocket") {
        return Err(bad("missing 'Upgrade: websocket'".into()));
    }
    if !has_token(&headers, "connection", "upgrade") {
        return Err(bad("missing 'Connection: Upgrade'".into()));
    }
    let want = accept_key(key);
    match headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept"))
    {
        Some((_, got)) if *got == want => Ok(Some(end + 4)),
        Some((_, got)) => Err(bad(format!(
            "Sec-WebSocket-Accept {got:?}, expected {want:?}"
        ))),
        None => Err(bad("missing Sec-WebSocket-Accept".into())),
    }
}

/// XORs `data` with `mask` (the same call masks and unmasks).
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// Appends one frame to `out`: FIN as given, `opcode`, the shortest length encoding, and the
/// payload masked with `mask` when given (client frames are always masked).
pub fn encode_frame(
    fin: bool,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    out: &mut BytesMut,
) {
    let len = payload.len();
    out.reserve(14 + len);
    out.put_u8(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.put_u8(mbit | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.put_u8(mbit | 126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(mbit | 127);
        out.put_u64(len as u64);
    }
    if let Some(m) = mask {
        out.put_slice(&m);
    }
    let start = out.len();
    out.put_slice(payload);
    if let Some(m) = mask {
        apply_mask(&mut out[start..], m);
    }
}

/// Appends `data` (packed wkproto packets) as masked binary messages of at most
/// [`MAX_OUT_MESSAGE`] bytes each. Nothing is appended for empty `data`.
pub fn encode_data(data: &[u8], rng: &mut MaskRng, out: &mut BytesMut) {
    for chunk in data.chunks(MAX_OUT_MESSAGE) {
        encode_frame(true, OP_BINARY, chunk, Some(rng.mask()), out);
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of its message.
    pub fin: bool,
    /// Opcode.
    pub opcode: u8,
    /// Mask key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
    /// Header bytes (2 to 14).
    pub header_len: usize,
}

/// Parses the frame header at the front of `buf`: `Ok(None)` while incomplete. Rejects RSV
/// bits, unknown opcodes, 64-bit lengths with the top bit set and fragmented or oversized
/// control frames.
pub fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, WsError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(WsError::Protocol("reserved bits set".into()));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0f;
    if !matches!(
        opcode,
        OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(WsError::Protocol(format!("reserved opcode {opcode:#x}")));
    }
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let len = u64::from_be_bytes(a);
                if len >> 63 != 0 {
                    return Err(WsError::Protocol(
                        "64-bit length with the top bit set".into(),
                    ));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if opcode >= OP_CLOSE && (!fin || len > 125) {
        return Err(WsError::Protocol(format!(
            "control frame {opcode:#x} fragmented or longer than 125 bytes"
        )));
    }
    let mask = if masked {
        let Some(m) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin,
        opcode,
        mask,
        len,
        header_len: at,
    }))
}

/// Decodes server frames into the wkproto packet stream.
#[derive(Debug)]
pub struct ClientDecoder {
    rng: MaskRng,
    /// Inside a fragmented data message.
    fragmented: bool,
    /// The close frame seen (code, reason), after which nothing more is decoded.
    closed: Option<(Option<u16>, String)>,
}

impl ClientDecoder {
    /// A decoder whose control replies are masked with keys from `rng`.
    pub fn new(rng: MaskRng) -> Self {
        Self {
            rng,
            fragmented: false,
            closed: None,
        }
    }

    /// Decodes every complete frame at the front of `wire` (consuming it): data payloads
    /// (binary or text, continuation fragments included) are appended to `data`; a ping queues
    /// a pong, a close queues the close reply, both as masked frames in `control`. Returns
    /// [`WsError::Closed`] once the server closed (and on every later call).
    pub fn decode(
        &mut self,
        wire: &mut BytesMut,
        data: &mut BytesMut,
        control: &mut BytesMut,
    ) -> Result<(), WsError> {
        loop {
            if let Some((code, reason)) = &self.closed {
                return Err(WsError::Closed(*code, reason.clone()));
            }
            let Some(h) = parse_header(wire)? else {
                return Ok(());
            };
            if h.mask.is_some() {
                return Err(WsError::Protocol("masked server frame".into()));
            }
            if h.len > MAX_IN_FRAME as u64 {
                return Err(WsError::TooLarge(h.len));
            }
            let len = h.len as usize;
            if wire.len() < h.header_len + len {
                return Ok(());
            }
            wire.advance(h.header_len);
            let payload = wire.split_to(len);
            match h.opcode {
                OP_CONT => {
                    if !self.fragmented {
                        return Err(WsError::Protocol("continuation without a start".into()));
                    }
                    data.extend_from_slice(&payload);
                    self.fragmented = !h.fin;
                }
                OP_TEXT | OP_BINARY => {
                    if self.fragmented {
                        return Err(WsError::Protocol(
                            "new message inside a fragmented one".into(),
                        ));
                    }
                    data.extend_from_slice(&payload);
                    self.fragmented = !h.fin;
                }
                OP_PING => {
                    encode_frame(true, OP_PONG, &payload, Some(self.rng.mask()), control);
                }
                OP_PONG => {}
                _ => {
                    // Close: echo the status code (RFC 6455 §5.5.1), then stop.
                    let (code, reason) = match payload.len() {
                        0 => (None, String::new()),
                        1 => return Err(WsError::Protocol("close frame of 1 byte".into())),
                        _ => (
                            Some(u16::from_be_bytes([payload[0], payload[1]])),
                            String::from_utf8_lossy(&payload[2..]).into_owned(),
                        ),
                    };
                    let echo = code.map(u16::to_be_bytes);
                    let echo: &[u8] = echo.as_ref().map_or(&[], |c| &c[..]);
                    encode_frame(true, OP_CLOSE, echo, Some(self.rng.mask()), control);
                    self.closed = Some((code, reason));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unmasked (server) frame.
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_frame(fin, opcode, payload, None, &mut out);
        out.to_vec()
    }

    /// Decodes a client frame from `buf`, unmasking it: (header, payload).
    fn decode_client(buf: &[u8]) -> (FrameHeader, Vec<u8>) {
        let h = parse_header(buf).unwrap().unwrap();
        let mut p = buf[h.header_len..h.header_len + h.len as usize].to_vec();
        apply_mask(&mut p, h.mask.expect("client frames are masked"));
        (h, p)
    }

    #[test]
    fn accept_key_rfc6455_sample() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let mut rng = MaskRng::new(1);
        let k = new_key(&mut rng);
        assert_eq!(STANDARD.decode(&k).unwrap().len(), 16);
        assert_ne!(k, new_key(&mut rng));
        let req = upgrade_request("127.0.0.1:1", "/", &k);
        assert!(req.starts_with("GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"));
        assert!(req.contains(&format!("\r\nSec-WebSocket-Key: {k}\r\n")));
        assert!(req.ends_with("Sec-WebSocket-Version: 13\r\n\r\n"));
    }

    #[test]
    fn upgrade_response_checks() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let mut raw = ok.as_bytes().to_vec();
        raw.extend_from_slice(b"\x82\x00");
        assert_eq!(parse_upgrade_response(&raw, key), Ok(Some(ok.len())));
        for cut in [0, 10, ok.len() - 1] {
            assert_eq!(parse_upgrade_response(&raw[..cut], key), Ok(None));
        }
        let bad = [
            ok.replace("s3pP", "xxxx"),
            ok.replace("101 Switching Protocols", "400 Bad Request"),
            ok.replace("upgrade: WebSocket\r\n", ""),
            ok.replace("Connection: Upgrade\r\n", "Connection: close\r\n"),
            ok.replace("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", ""),
            "SSH-2.0-OpenSSH\r\n\r\n".into(),
        ];
        for b in bad {
            assert!(
                matches!(
                    parse_upgrade_response(b.as_bytes(), key),
                    Err(WsError::Handshake(_))
                ),
                "{b:?}"
            );
        }
        assert!(parse_upgrade_response(&[b'a'; MAX_HEAD + 1], key).is_err());
    }

    #[test]
    fn masking_round_trips() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for len in [0usize, 1, 3, 7, 8, 9, 17, 100] {
            let orig: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let mut d = orig.clone();
            apply_mask(&mut d, mask);
            for (i, (a, b)) in d.iter().zip(&orig).enumerate() {
                assert_eq!(*a, b ^ mask[i % 4], "len {len} byte {i}");
            }
            apply_mask(&mut d, mask);
            assert_eq!(d, orig);
        }
    }

    #[test]
    fn client_frames_all_length_encodings() {
        let mut rng = MaskRng::new(7);
        for (len, header) in [
            (0usize, 6usize),
            (125, 6),
            (126, 8),
            (65_535, 8),
            (65_536, 14),
            (200_000, 14),
        ] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = BytesMut::from(&b"xy"[..]);
            let mask = rng.mask();
            encode_frame(true, OP_BINARY, &payload, Some(mask), &mut out);
            assert_eq!(out.len(), 2 + header + len, "len {len}");
            assert_eq!(out[2], 0x82);
            assert_eq!(out[3] & 0x80, 0x80, "client frames are masked");
            let (h, p) = decode_client(&out[2..]);
            assert_eq!(
                (h.fin, h.opcode, h.len, h.header_len),
                (true, 2, len as u64, header)
            );
            assert_eq!(h.mask, Some(mask));
            assert_eq!(p, payload, "len {len}");
            // Truncated anywhere inside the header: incomplete, never an error.
            for cut in 0..header {
                assert_eq!(
                    parse_header(&out[2..2 + cut]),
                    Ok(None),
                    "len {len} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn data_is_cut_into_bounded_messages() {
        let mut rng = MaskRng::new(3);
        let data: Vec<u8> = (0..MAX_OUT_MESSAGE * 2 + 10).map(|i| i as u8).collect();
        let mut out = BytesMut::new();
        encode_data(&data, &mut rng, &mut out);
        let mut got = Vec::new();
        let mut frames = 0;
        let mut rest = &out[..];
        while !rest.is_empty() {
            let (h, p) = decode_client(rest);
            assert!(h.fin && h.opcode == OP_BINARY && p.len() <= MAX_OUT_MESSAGE);
            got.extend_from_slice(&p);
            rest = &rest[h.header_len + p.len()..];
            frames += 1;
        }
        assert_eq!(frames, 3);
        assert_eq!(got, data);
        let mut out = BytesMut::new();
        encode_data(&[], &mut rng, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn decoder_streams_data_across_frames_and_truncation() {
        let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let mut wire = server_frame(true, OP_BINARY, b"\x10\x01a");
        wire.extend(server_frame(true, OP_BINARY, &big));
        wire.extend(server_frame(true, OP_BINARY, &big[..300]));
        let mut expect = b"\x10\x01a".to_vec();
        expect.extend_from_slice(&big);
        expect.extend_from_slice(&big[..300]);
        // Whole, then fed byte by byte (every truncation point).
        let mut dec = ClientDecoder::new(MaskRng::new(1));
        let (mut w, mut data, mut ctl) =
            (BytesMut::from(&wire[..]), BytesMut::new(), BytesMut::new());
        dec.decode(&mut w, &mut data, &mut ctl).unwrap();
        assert!(w.is_empty() && ctl.is_empty());
        assert_eq!(&data[..], &expect[..]);
        let mut dec = ClientDecoder::new(MaskRng::new(1));
        let (mut w, mut data) = (BytesMut::new(), BytesMut::new());
        for b in &wire {
            w.put_u8(*b);
            dec.decode(&mut w, &mut data, &mut ctl).unwrap();
        }
        assert!(w.is_empty());
        assert_eq!(&data[..], &expect[..]);
    }

    #[test]
    fn fragments_ping_and_pong() {
        let mut wire = server_frame(false, OP_BINARY, b"hel");
        wire.extend(server_frame(true, OP_PING, b"hb"));
        wire.extend(server_frame(false, OP_CONT, b"lo "));
        wire.extend(server_frame(true, OP_PONG, b"ignored"));
        wire.extend(server_frame(true, OP_CONT, b"bob"));
        let mut dec = ClientDecoder::new(MaskRng::new(2));
        let (mut w, mut data, mut ctl) =
            (BytesMut::from(&wire[..]), BytesMut::new(), BytesMut::new());
        dec.decode(&mut w, &mut data, &mut ctl).unwrap();
        assert_eq!(&data[..], b"hello bob");
        let (h, p) = decode_client(&ctl);
        assert_eq!((h.opcode, &p[..]), (OP_PONG, &b"hb"[..]));
        assert_eq!(ctl.len(), h.header_len + 2);
    }

    #[test]
    fn close_is_answered_once() {
        let mut body = 1001u16.to_be_bytes().to_vec();
        body.extend_from_slice(b"going away");
        let mut wire = server_frame(true, OP_BINARY, b"last");
        wire.extend(server_frame(true, OP_CLOSE, &body));
        wire.extend(server_frame(true, OP_BINARY, b"late"));
        let mut dec = ClientDecoder::new(MaskRng::new(3));
        let (mut w, mut data, mut ctl) =
            (BytesMut::from(&wire[..]), BytesMut::new(), BytesMut::new());
        let err = dec.decode(&mut w, &mut data, &mut ctl).unwrap_err();
        assert_eq!(err, WsError::Closed(Some(1001), "going away".into()));
        assert_eq!(&data[..], b"last");
        let (h, p) = decode_client(&ctl);
        assert_eq!((h.opcode, &p[..]), (OP_CLOSE, &1001u16.to_be_bytes()[..]));
        let n = ctl.len();
        assert!(dec.decode(&mut w, &mut data, &mut ctl).is_err());
        assert_eq!(ctl.len(), n, "no second close reply");
        assert_eq!(&data[..], b"last");
        // An empty close is echoed empty.
        let mut dec = ClientDecoder::new(MaskRng::new(3));
        let mut w = BytesMut::from(&server_frame(true, OP_CLOSE, b"")[..]);
        ctl.clear();
        assert_eq!(
            dec.decode(&mut w, &mut data, &mut ctl),
            Err(WsError::Closed(None, String::new()))
        );
        assert_eq!(decode_client(&ctl).1, b"");
    }

    #[test]
    fn protocol_errors() {
        let masked = {
            let mut out = BytesMut::new();
            encode_frame(true, OP_BINARY, b"x", Some([1, 2, 3, 4]), &mut out);
            out.to_vec()
        };
        let rsv = {
            let mut f = server_frame(true, OP_BINARY, b"x");
            f[0] |= 0x40;
            f
        };
        let cases = [
            masked,
            rsv,
            server_frame(true, OP_CONT, b"x"),
            server_frame(true, 0x3, b"x"),
            server_frame(false, OP_PING, b"x"),
            server_frame(true, OP_PING, &[0; 126]),
            server_frame(true, OP_CLOSE, b"x"),
            {
                let mut f = server_frame(false, OP_BINARY, b"a");
                f.extend(server_frame(true, OP_BINARY, b"b"));
                f
            },
            vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1],
        ];
        for (i, wire) in cases.iter().enumerate() {
            let mut dec = ClientDecoder::new(MaskRng::new(4));
            let (mut w, mut data, mut ctl) =
                (BytesMut::from(&wire[..]), BytesMut::new(), BytesMut::new());
            match dec.decode(&mut w, &mut data, &mut ctl) {
                Err(WsError::Protocol(_)) => {}
                other => panic!("case {i}: {other:?}"),
            }
        }
        // A huge (valid) length is refused from the header, before any payload arrives.
        let mut w = BytesMut::from(&[0x82u8, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0][..]);
        let mut dec = ClientDecoder::new(MaskRng::new(4));
        assert_eq!(
            dec.decode(&mut w, &mut BytesMut::new(), &mut BytesMut::new()),
            Err(WsError::TooLarge(1 << 32))
        );
    }
}
