//! A small blocking wkproto test client over TCP or WebSocket (spec `shared/spec/wkproto.md`),
//! built on jindou's own codec. Every read has a deadline, so a test never hangs.
#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use jindou::proto::{
    ChannelType, ClientHandshake, ConnCipher, Connack, Connect, Decoder, DeviceFlag, Encode,
    HeaderFlags, Packet, ReasonCode, Recv, Recvack, Send, Sendack, Setting, WkStr,
};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long the `expect_*` helpers wait before failing the test.
pub const WAIT: Duration = Duration::from_secs(10);

/// The owner shard of a key on a `shards: 2` server (crc32 slot of 256, mapped in ranges).
pub fn shard_of(key: &str, shards: usize) -> usize {
    let slot = (crc32fast::hash(key.as_bytes()) % 256) as usize;
    slot * shards / 256
}

/// The storage id of a person chat (same rule as the server, spec http-api §2).
pub fn person_fake_id(a: &str, b: &str) -> String {
    if crc32fast::hash(a.as_bytes()) > crc32fast::hash(b.as_bytes()) {
        format!("{a}@{b}")
    } else {
        format!("{b}@{a}")
    }
}

/// Everything CONNECT carries, plus the transport.
#[derive(Clone, Debug)]
pub struct ConnectOpts {
    pub uid: String,
    pub token: String,
    pub device_flag: u8,
    pub device_id: String,
    pub version: u8,
    pub encrypt: bool,
    /// Speak WebSocket (the address must then be the `ws` listener).
    pub websocket: bool,
}

impl ConnectOpts {
    /// Defaults: device id `<uid>-d<flag>`, TCP.
    pub fn new(uid: &str, token: &str, device_flag: u8, version: u8, encrypt: bool) -> Self {
        Self {
            uid: uid.into(),
            token: token.into(),
            device_flag,
            device_id: format!("{uid}-d{device_flag}"),
            version,
            encrypt,
            websocket: false,
        }
    }

    pub fn device_id(mut self, id: &str) -> Self {
        self.device_id = id.into();
        self
    }

    pub fn websocket(mut self) -> Self {
        self.websocket = true;
        self
    }
}

/// A RECV with its opened (verified and decrypted) payload.
#[derive(Debug, Clone)]
pub struct Received {
    pub recv: Recv,
    pub payload: Vec<u8>,
}

/// Result of one attempt to read from the socket.
enum Read1 {
    Data,
    Timeout,
    Closed,
}

/// One client connection.
pub struct WkClient {
    stream: TcpStream,
    websocket: bool,
    /// Negotiated version (used for every packet after CONNECT).
    pub version: u8,
    pub uid: String,
    pub cipher: Option<ConnCipher>,
    /// Send RECVACK for every RECV taken by `expect_recv`.
    pub auto_ack: bool,
    decoder: Decoder,
    /// Raw bytes from the socket not yet framed (TCP: wkproto bytes; WS: WebSocket bytes).
    raw: BytesMut,
    /// Packets already decoded but not yet consumed.
    pending: VecDeque<Packet>,
    /// WebSocket: a fragmented message being reassembled.
    ws_partial: Vec<u8>,
    /// WebSocket: binary messages received (each must hold exactly one packet).
    pub ws_messages: usize,
    closed: bool,
}

impl WkClient {
    /// TCP CONNECT + CONNACK with device id `<uid>-d<flag>`. On a refused CONNECT the client
    /// is still returned (so the test can watch the socket close).
    pub fn connect(
        addr: SocketAddr,
        uid: &str,
        token: &str,
        device_flag: u8,
        version: u8,
        encrypt: bool,
    ) -> (WkClient, Connack) {
        Self::connect_opts(
            addr,
            ConnectOpts::new(uid, token, device_flag, version, encrypt),
        )
    }

    /// Like [`connect`](Self::connect), asserting that CONNACK succeeded.
    pub fn login(addr: SocketAddr, uid: &str, version: u8) -> WkClient {
        let (c, ack) = Self::connect(addr, uid, "", DeviceFlag::APP.0, version, true);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "login of {uid}");
        c
    }

    /// A plaintext TCP login (no key exchange: the server runs with `encryption: false`) at
    /// version 4, as an APP device with id `device_id`; asserts that CONNACK succeeded.
    pub fn login_plain(addr: SocketAddr, uid: &str, device_id: &str) -> WkClient {
        let (c, ack) = Self::connect_opts(
            addr,
            ConnectOpts::new(uid, "", DeviceFlag::APP.0, 4, false).device_id(device_id),
        );
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "CONNACK for {uid}");
        c
    }

    /// An unauthenticated socket (TCP, or WebSocket after the upgrade).
    pub fn open(addr: SocketAddr, websocket: bool) -> WkClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).unwrap();
        let mut c = WkClient {
            stream,
            websocket,
            version: 0,
            uid: String::new(),
            cipher: None,
            auto_ack: true,
            decoder: Decoder::new(),
            raw: BytesMut::new(),
            pending: VecDeque::new(),
            ws_partial: Vec::new(),
            ws_messages: 0,
            closed: false,
        };
        if websocket {
            c.ws_handshake(addr);
        }
        c
    }

    /// CONNECT with explicit options.
    pub fn connect_opts(addr: SocketAddr, o: ConnectOpts) -> (WkClient, Connack) {
        let mut c = Self::open(addr, o.websocket);
        c.uid = o.uid.clone();
        let hs = o.encrypt.then(ClientHandshake::new);
        let connect = Connect {
            version: o.version,
            device_flag: DeviceFlag(o.device_flag),
            device_id: WkStr::from(o.device_id.clone()),
            uid: WkStr::from(o.uid.clone()),
            token: WkStr::from(o.token.clone()),
            client_timestamp: now_ms(),
            client_key: hs
                .as_ref()
                .map(|h| h.client_key().clone())
                .unwrap_or(WkStr::EMPTY),
        };
        c.write_packet(&connect);
        // CONNACK's own header says whether a version byte (and then node_id) is present;
        // otherwise the layout is that of the client's version.
        c.version = o.version;
        let ack = match c.recv_packet(WAIT) {
            Some(Packet::Connack(a)) => a,
            other => panic!("expected CONNACK for {}, got {other:?}", o.uid),
        };
        c.version = ack
            .server_version
            .unwrap_or_else(|| jindou::proto::negotiate_version(o.version));
        if ack.reason_code == ReasonCode::SUCCESS {
            if let Some(h) = hs {
                assert!(!ack.server_key.is_empty(), "encryption on: server_key");
                c.cipher = Some(
                    h.finish(ack.server_key.as_str(), ack.salt.as_str())
                        .expect("derive the cipher"),
                );
            }
        }
        (c, ack)
    }

    fn ws_handshake(&mut self, addr: SocketAddr) {
        let key = STANDARD.encode(rand::random::<[u8; 16]>());
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        self.stream.write_all(req.as_bytes()).unwrap();
        let deadline = Instant::now() + WAIT;
        let head_end = loop {
            if let Some(p) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match self.read_some(deadline) {
                Read1::Data => {}
                _ => panic!("no WebSocket handshake response"),
            }
        };
        let head = String::from_utf8_lossy(&self.raw.split_to(head_end)).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        assert!(
            head.lines().any(
                |l| l.to_ascii_lowercase().starts_with("sec-websocket-accept:")
                    && l.split_once(':').unwrap().1.trim() == accept
            ),
            "bad Sec-WebSocket-Accept in {head}"
        );
    }

    /// Encodes `p` with the negotiated version and writes it (one binary message on WS).
    pub fn write_packet(&mut self, p: &impl Encode) {
        let mut out = BytesMut::new();
        p.encode(self.version, &mut out).expect("encode");
        self.write_wk(&out);
    }

    /// Writes wkproto bytes: as they are on TCP, as one masked binary message on WS.
    pub fn write_wk(&mut self, bytes: &[u8]) {
        if self.websocket {
            let frame = ws_frame(0x2, bytes);
            self.raw_write(&frame);
        } else {
            self.raw_write(bytes);
        }
    }

    /// Writes bytes to the socket unchanged (errors ignored: the peer may have closed).
    pub fn raw_write(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Builds a SEND with `flags`/`setting`, sealed with this connection's cipher.
    #[allow(clippy::too_many_arguments)]
    pub fn build_send(
        &self,
        channel_id: &str,
        channel_type: u8,
        client_seq: u32,
        client_msg_no: &str,
        payload: &[u8],
        flags: u8,
        setting: u8,
    ) -> Send {
        let mut send = Send {
            flags: HeaderFlags::from_header(flags),
            setting: Setting::from_bits(setting),
            client_seq,
            client_msg_no: WkStr::from(client_msg_no.to_string()),
            channel_id: WkStr::from(channel_id.to_string()),
            channel_type: ChannelType(channel_type),
            ..Send::default()
        };
        let mut scratch = BytesMut::new();
        send.seal(
            &Bytes::copy_from_slice(payload),
            self.cipher.as_ref(),
            &mut scratch,
        );
        send
    }

    /// SEND with setting 0.
    pub fn send(
        &mut self,
        channel_id: &str,
        channel_type: u8,
        client_seq: u32,
        client_msg_no: &str,
        payload: &[u8],
        flags: u8,
    ) {
        self.send_setting(
            channel_id,
            channel_type,
            client_seq,
            client_msg_no,
            payload,
            flags,
            0,
        );
    }

    /// SEND with an explicit setting byte (e.g. 0x10 NoEncrypt).
    #[allow(clippy::too_many_arguments)]
    pub fn send_setting(
        &mut self,
        channel_id: &str,
        channel_type: u8,
        client_seq: u32,
        client_msg_no: &str,
        payload: &[u8],
        flags: u8,
        setting: u8,
    ) {
        let send = self.build_send(
            channel_id,
            channel_type,
            client_seq,
            client_msg_no,
            payload,
            flags,
            setting,
        );
        self.write_packet(&send);
    }

    /// Sends and waits for the SENDACK, asserting success.
    pub fn send_ok(
        &mut self,
        channel_id: &str,
        channel_type: u8,
        client_seq: u32,
        payload: &[u8],
    ) -> Sendack {
        let no = format!("{}-{client_seq}-{}", self.uid, rand::random::<u64>());
        self.send(channel_id, channel_type, client_seq, &no, payload, 0x02);
        let ack = self.expect_sendack(client_seq);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "send of {}", self.uid);
        ack
    }

    /// Sends and waits for the SENDACK; returns its reason, whatever it is.
    pub fn send_ok_reason(
        &mut self,
        channel_id: &str,
        channel_type: u8,
        client_seq: u32,
    ) -> ReasonCode {
        let no = format!("{}-{client_seq}-{}", self.uid, rand::random::<u64>());
        self.send(channel_id, channel_type, client_seq, &no, b"x", 0x02);
        self.expect_sendack(client_seq).reason_code
    }

    /// Reads until one packet is available or `timeout` passes (None also on close).
    pub fn recv_packet(&mut self, timeout: Duration) -> Option<Packet> {
        if let Some(p) = self.pending.pop_front() {
            return Some(p);
        }
        self.next_packet(Instant::now() + timeout)
    }

    /// Waits for the SENDACK of `client_seq`; other packets stay queued.
    pub fn expect_sendack(&mut self, client_seq: u32) -> Sendack {
        match self.expect(|p| matches!(p, Packet::Sendack(a) if a.client_seq == client_seq)) {
            Packet::Sendack(a) => a,
            _ => unreachable!(),
        }
    }

    /// Waits for the next RECV, verifies msg_key, decrypts, and RECVACKs it if `auto_ack`.
    pub fn expect_recv(&mut self) -> Received {
        self.expect_recv_where(|_| true)
    }

    /// RECVACK for `recv` (flags copied, spec §6.6).
    pub fn recvack(&mut self, recv: &Recv) {
        self.write_packet(&Recvack {
            flags: recv.flags,
            message_id: recv.message_id,
            message_seq: recv.message_seq,
        });
    }

    /// Waits for the first packet matching `want` (queued or new); others stay queued in order.
    pub fn expect(&mut self, want: impl Fn(&Packet) -> bool) -> Packet {
        if let Some(i) = self.pending.iter().position(&want) {
            return self.pending.remove(i).unwrap();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.next_packet(deadline) {
                Some(p) if want(&p) => return p,
                Some(p) => self.pending.push_back(p),
                None => panic!(
                    "{}: wanted packet not received (closed: {}, {} queued, last: {:?})",
                    self.uid,
                    self.closed,
                    self.pending.len(),
                    self.pending.back()
                ),
            }
        }
    }

    /// PING, then waits for PONG.
    pub fn ping(&mut self) {
        self.raw_ping();
        self.expect(|p| matches!(p, Packet::Pong));
    }

    /// Writes a PING without waiting.
    pub fn raw_ping(&mut self) {
        self.write_wk(&[0x70]);
    }

    /// Whether the server closes the connection within `timeout`. Packets read meanwhile stay
    /// queued.
    pub fn is_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.closed {
            match self.next_packet(deadline) {
                Some(p) => self.pending.push_back(p),
                None if self.closed => break,
                None => return false,
            }
        }
        true
    }

    /// Whether EOF/reset was seen.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Packets read but not consumed.
    pub fn queued(&self) -> &VecDeque<Packet> {
        &self.pending
    }

    /// Decodes the next packet from the socket (ignores the pending queue).
    fn next_packet(&mut self, deadline: Instant) -> Option<Packet> {
        loop {
            if self.websocket {
                if let Some(msg) = self.ws_message() {
                    return Some(self.decode_ws_message(msg));
                }
            } else {
                match self.decoder.decode(&mut self.raw, self.version) {
                    Ok(Some(p)) => return Some(p),
                    Ok(None) => {}
                    Err(e) => panic!("{}: undecodable server bytes: {e}", self.uid),
                }
            }
            if self.closed {
                return None;
            }
            match self.read_some(deadline) {
                Read1::Data => {}
                Read1::Timeout | Read1::Closed => {
                    // One more pass to drain what the last read completed.
                    if self.websocket {
                        if let Some(msg) = self.ws_message() {
                            return Some(self.decode_ws_message(msg));
                        }
                    } else if let Ok(Some(p)) = self.decoder.decode(&mut self.raw, self.version) {
                        return Some(p);
                    }
                    return None;
                }
            }
        }
    }

    /// A server→client WS message must hold exactly one wkproto packet (spec §1).
    fn decode_ws_message(&mut self, msg: Vec<u8>) -> Packet {
        self.ws_messages += 1;
        let mut buf = BytesMut::from(&msg[..]);
        let p = match self.decoder.decode(&mut buf, self.version) {
            Ok(Some(p)) => p,
            other => panic!("WS message {msg:02x?} is not a whole packet: {other:?}"),
        };
        assert!(
            buf.is_empty(),
            "WS message holds more than one packet: {} trailing bytes after {p:?}",
            buf.len()
        );
        p
    }

    /// Takes one complete binary message out of `raw` (control frames handled here).
    fn ws_message(&mut self) -> Option<Vec<u8>> {
        loop {
            let (fin, opcode, payload, used) = parse_ws_frame(&self.raw)?;
            let _ = self.raw.split_to(used);
            match opcode {
                0x0 | 0x2 => {
                    self.ws_partial.extend_from_slice(&payload);
                    if fin {
                        return Some(std::mem::take(&mut self.ws_partial));
                    }
                }
                0x8 => {
                    self.closed = true;
                    return None;
                }
                0x9 => {
                    let pong = ws_frame(0xA, &payload);
                    self.raw_write(&pong);
                }
                0xA => {}
                other => panic!("unexpected WS opcode {other:#x} from the server"),
            }
        }
    }

    /// One read into `raw`, bounded by `deadline`.
    fn read_some(&mut self, deadline: Instant) -> Read1 {
        let now = Instant::now();
        if now >= deadline {
            return Read1::Timeout;
        }
        let wait = (deadline - now).max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.closed = true;
                Read1::Closed
            }
            Ok(n) => {
                self.raw.extend_from_slice(&chunk[..n]);
                Read1::Data
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Read1::Timeout
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Read1::Data,
            Err(_) => {
                self.closed = true;
                Read1::Closed
            }
        }
    }

    /// The underlying socket (e.g. to shrink buffers or shut it down).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Asserts that no RECV reached this connection from channel `channel` (its storage id:
    /// the fake `A@B` for a person chat) — without waiting for absence. A fence: a marker
    /// message is sent to this user in a person chat owned by the same shard as `channel`, so
    /// it travels the same ordered path as any RECV from `channel` (channel owner → this
    /// user's owner → this connection's shard; the mesh keeps order per pair of shards) and
    /// is appended after everything already acknowledged in `channel`. Once the marker is
    /// here, any RECV sent before it is here too: none may be queued before it. The marker is
    /// consumed (and acknowledged); its sender's uid is returned (the user's other connections
    /// get the marker too). Needs a `shards: 2` server; `tcp` is its TCP listener.
    pub fn assert_no_recv_from(&mut self, tcp: SocketAddr, channel: &str) -> String {
        static FENCES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = FENCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let via = shard_of(channel, 2);
        let marker_uid = (0..10_000)
            .map(|i| format!("fence{k}-{i}"))
            .find(|m| shard_of(&person_fake_id(m, &self.uid), 2) == via)
            .expect("a marker uid on the channel's owner shard");
        let mut marker = WkClient::login(tcp, &marker_uid, 5);
        let text = format!("{{\"type\":1,\"content\":\"fence {k}\"}}");
        marker.send_ok(&self.uid, ChannelType::PERSON.0, 1, text.as_bytes());
        let got = self.expect_recv_where(|r| r.from_uid == marker_uid.as_str());
        assert_eq!(got.payload, text.as_bytes());
        let before: Vec<&Packet> = self
            .pending
            .iter()
            .filter(|p| matches!(p, Packet::Recv(_)))
            .collect();
        assert!(
            before.is_empty(),
            "{} got RECVs it must not get (they came before the fence): {before:?}",
            self.uid
        );
        marker_uid
    }

    /// Waits for the first RECV satisfying `want` (other packets, RECVs included, stay queued
    /// in order), opens it and acknowledges it if `auto_ack`.
    pub fn expect_recv_where(&mut self, want: impl Fn(&Recv) -> bool) -> Received {
        let recv = match self.expect(|p| matches!(p, Packet::Recv(r) if want(r))) {
            Packet::Recv(r) => r,
            _ => unreachable!(),
        };
        let payload = recv
            .open(self.cipher.as_ref())
            .unwrap_or_else(|e| panic!("{}: cannot open RECV {recv:?}: {e}", self.uid))
            .to_vec();
        if self.auto_ack {
            self.recvack(&recv);
        }
        Received { recv, payload }
    }
}

/// Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A masked, final client WebSocket frame.
pub fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let mask: [u8; 4] = rand::random();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Parses one server frame: (fin, opcode, payload, bytes used), None if incomplete.
fn parse_ws_frame(buf: &[u8]) -> Option<(bool, u8, Vec<u8>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0F;
    assert_eq!(buf[1] & 0x80, 0, "server frames must not be masked");
    let (len, mut pos) = match buf[1] & 0x7F {
        126 => {
            if buf.len() < 4 {
                return None;
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4)
        }
        127 => {
            if buf.len() < 10 {
                return None;
            }
            (
                u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                10,
            )
        }
        n => (n as usize, 2),
    };
    if buf.len() < pos + len {
        return None;
    }
    let payload = buf[pos..pos + len].to_vec();
    pos += len;
    Some((fin, opcode, payload, pos))
}

impl WkClient {
    /// CONNECT as `uid` (no token, encryption on) without panicking: `None` if the server
    /// closes the socket (or does not answer within `timeout`) instead of a successful CONNACK.
    pub fn try_login(
        addr: SocketAddr,
        uid: &str,
        version: u8,
        timeout: Duration,
    ) -> Option<WkClient> {
        let mut c = Self::open(addr, false);
        c.uid = uid.to_string();
        let hs = ClientHandshake::new();
        let connect = Connect {
            version,
            device_flag: DeviceFlag::APP,
            device_id: WkStr::from(format!("{uid}-d{}", DeviceFlag::APP.0)),
            uid: WkStr::from(uid.to_string()),
            token: WkStr::EMPTY,
            client_timestamp: now_ms(),
            client_key: hs.client_key().clone(),
        };
        c.write_packet(&connect);
        c.version = version;
        let ack = match c.recv_packet(timeout)? {
            Packet::Connack(a) => a,
            other => panic!("expected CONNACK for {uid}, got {other:?}"),
        };
        if ack.reason_code != ReasonCode::SUCCESS {
            return None;
        }
        c.version = ack
            .server_version
            .unwrap_or_else(|| jindou::proto::negotiate_version(version));
        c.cipher = Some(
            hs.finish(ack.server_key.as_str(), ack.salt.as_str())
                .expect("derive the cipher"),
        );
        Some(c)
    }
}
