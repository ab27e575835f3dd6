//! The reader side of a client connection: the state machine of spec wkproto §9 over TCP or
//! WebSocket. Waits for readability before taking a buffer, so an idle connection holds none.

use super::conn::{Conn, Identity};
use super::table::ConnTable;
use super::ws::{self, WsConn, WsError};
use crate::proto::{
    connack_has_server_version, crypto, negotiate_version, ChannelType, Connack, Connect,
    DecodeError, Decoder, HeaderFlags, Packet, ReasonCode, Send, Suback, WkStr,
};
use crate::runtime::ratelimit::Bucket;
use crate::shard::ids::{now_millis, valid_id};
use crate::shard::msg::{AuthReq, OwnerMsg, SendOrigin, SendReq};
use crate::shard::stats;
use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, Splitable};
use monoio::net::tcp::TcpOwnedReadHalf;
use monoio::net::TcpStream;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;

/// WebSocket pings and pongs a client may send per second (a burst of twice that is allowed);
/// a flood beyond it closes the connection with 1008 (policy violation).
pub const CONTROL_FRAMES_PER_SEC: f64 = 20.0;

use super::table::READ_BUF;

/// Why a session ended (for logs).
#[derive(Debug)]
pub(super) enum End {
    PeerClosed,
    Stopped,
    Protocol(String),
}

/// Serves one accepted client socket until it closes: sets the connection up, then spawns its
/// task. The task holds only the session (its parked state) and the read half; everything
/// used once is done here, outside it, so it does not inflate every parked connection.
pub fn serve_client(
    gw: Rc<ConnTable>,
    stream: TcpStream,
    websocket: bool,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) {
    if let Some((session, reader)) = open_session(gw, stream, websocket, tls) {
        monoio::spawn(serve(Box::new(Parked { session, reader })));
    }
}

/// A session between tasks: everything its task holds, kept in its connection while parked.
pub struct Parked {
    session: Session,
    reader: TcpOwnedReadHalf,
}

/// Runs a session until it ends (then unregisters it) or parks (then keeps it in its
/// connection, its socket armed in the shard's epoll set).
async fn serve(mut state: Box<Parked>) {
    let Parked { session, reader } = &mut *state;
    let Some(end) = session.run(reader).await else {
        return park(state);
    };
    let Parked { session, .. } = *state;
    session.finish(end);
}

/// Parks a session whose task gave up: from here until its socket is readable it has no task.
fn park(mut state: Box<Parked>) {
    let (gw, conn) = (state.session.gw.clone(), state.session.conn.clone());
    if let Some(identity) = conn.identity.get() {
        identity.last_target.clear();
    }
    // Nothing awaiting a RECVACK: the retry queue's capacity goes too.
    conn.unacked.borrow_mut().release_if_empty();
    // Bytes of an incomplete packet stay, in a buffer of their size; the lent one goes back.
    if let Some(buf) = state.session.inbuf.take() {
        if !buf.is_empty() {
            state.session.inbuf = Some(BytesMut::from(&buf[..]));
        }
        gw.give_back(buf);
    }
    let armed = match gw.parking.as_ref() {
        Some(p) if gw.parks() => p.arm(conn.fd(), conn.id),
        _ => Err(std::io::Error::other("parking is off")),
    };
    match armed {
        Ok(()) => conn.store_parked(state),
        Err(e) => {
            // Cannot park: keep serving with a task.
            tracing::debug!(conn = conn.id, error = %e, "cannot park");
            monoio::spawn(serve(state));
        }
    }
}

/// Gives a parked connection its task back (its socket became readable, or it must end).
pub(super) fn resume(conn: &Conn) {
    if let Some(state) = conn.take_parked() {
        monoio::spawn(serve(state));
    }
}

/// Registers a new connection; `None` (and released) when its TLS session cannot start.
fn open_session(
    gw: Rc<ConnTable>,
    stream: TcpStream,
    websocket: bool,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> Option<(Session, TcpOwnedReadHalf)> {
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let (reader, writer) = stream.into_split();
    let id = gw.new_id();
    let config = &gw.shard.ctx.config;
    let mut conn = Conn::new(id, fd, websocket, writer);
    if let Some(config) = tls {
        match super::tls::Tls::new(config) {
            Ok(t) => conn.tls = Some(Box::new(std::cell::RefCell::new(t))),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a TLS session");
                gw.release();
                return None;
            }
        }
    }
    let conn = Rc::new(conn);
    gw.insert(conn.clone());
    stats::inc(&gw.shard.stats.conns_accepted);
    let session = Session {
        wire: Wire::Undecided,
        decoder: Decoder::with_max_frame(config.limits.max_frame_size.get() as usize),
        gw,
        conn,
        ws: None,
        upgraded: !websocket,
        inbuf: None,
        ws_state: None,
    };
    Some((session, reader))
}

/// What handling one packet left to do.
enum Next {
    /// The buffer holds no whole packet.
    NeedBytes,
    /// Done.
    Handled,
    /// A SEND to hand to this owner shard.
    Forward(usize, Box<SendReq>),
}

impl Session {
    /// Unregisters the connection once its session ended.
    fn finish(mut self, end: End) {
        let (gw, conn) = (&self.gw, &self.conn);
        let id = conn.id;
        match &end {
            End::Protocol(why) => tracing::debug!(conn = id, why = %why, "connection ended"),
            other => tracing::debug!(conn = id, end = ?other, "connection ended"),
        }
        if let Some(buf) = self.inbuf.take() {
            gw.give_back(buf);
        }
        let authenticated = conn.uid();
        conn.close();
        gw.remove(id);
        gw.release();
        if let Some(uid) = authenticated {
            stats::dec(&gw.shard.stats.conns_live);
            let owner = gw.shard.user_owner(&uid);
            gw.shard.mesh.send(
                owner,
                OwnerMsg::Unregister {
                    uid,
                    conn: gw.conn_ref(id),
                }
                .into(),
            );
        }
    }
}

/// The protocol a session speaks, decided by its first byte.
pub(super) enum Wire {
    /// Nothing but (JSON) whitespace read yet.
    Undecided,
    /// Binary wkproto.
    Wkproto,
    /// JSON-RPC, with the state of the object being cut.
    JsonRpc(super::jsonrpc::split::Splitter),
}

/// The reader side of one connection.
pub(super) struct Session {
    /// wkproto or JSON-RPC.
    pub(super) wire: Wire,
    pub(super) gw: Rc<ConnTable>,
    pub(super) conn: Rc<Conn>,
    pub(super) decoder: Decoder,
    ws: Option<Box<WsConn>>,
    upgraded: bool,
    /// Bytes read and not yet parsed; `None` while idle (the buffer went back to the pool).
    inbuf: Option<BytesMut>,
    /// WebSocket (and WSS) state beyond the framing; `None` on raw TCP.
    ws_state: Option<Box<WsState>>,
}

impl WsState {
    /// A fresh state at `now_ms` (the connection's age, the time of its buckets).
    fn new(now_ms: u32) -> Self {
        Self {
            control_bucket: Bucket::new(2.0 * CONTROL_FRAMES_PER_SEC, now_ms),
            control_seen: 0,
            stream_buf: BytesMut::new(),
            plain: BytesMut::new(),
        }
    }
}

/// What a WebSocket session keeps between bursts besides its framing, boxed so a raw TCP
/// session does not carry it.
struct WsState {
    /// WebSocket control frames allowed ([`CONTROL_FRAMES_PER_SEC`]).
    control_bucket: Bucket,
    /// Control frames counted so far.
    control_seen: u64,
    /// wkproto bytes taken out of messages and not yet parsed.
    stream_buf: BytesMut,
    /// WSS only: decrypted bytes not yet parsed.
    plain: BytesMut,
}

impl Session {
    /// Alternates between parking (only the readiness wait: no buffer, no timer — the
    /// shard's sweep in [`super::idle`] enforces the idle and CONNECT deadlines by closing the
    /// socket, which ends the wait) and reading a burst, whose larger state lives in a boxed
    /// future only while bytes are being handled.
    /// `None` when the idle sweep asked the session to park (see [`super::park`]).
    async fn run(&mut self, reader: &mut TcpOwnedReadHalf) -> Option<End> {
        loop {
            // SAFETY: `readable` only registers interest on the shared fd; monoio's own split
            // halves access the stream through the same cell on this one thread.
            let stream = unsafe { &*reader.0.get() };
            let ready = monoio::select! {
                r = stream.readable(false) => r,
                _ = self.conn.park_asked() => return None,
            };
            if let Err(e) = ready {
                return Some(End::Protocol(format!("poll: {e}")));
            }
            if self.conn.is_closed() {
                return Some(End::Stopped);
            }
            let authenticated = self.conn.identity.get().is_some();
            let silent = self.conn.touch();
            if let Some(end) = Box::pin(self.burst(reader)).await {
                return Some(end);
            }
            // A connection that just logged in, or that spoke after a long silence, is likely
            // to fall silent again: it parks right away rather than keep a task waiting.
            let logged_in = !authenticated && self.conn.identity.get().is_some();
            if logged_in || silent >= super::park::PARK_AFTER {
                return None;
            }
        }
    }

    /// Reads what is ready and handles it; `Some` when the session is over.
    async fn burst(&mut self, reader: &mut TcpOwnedReadHalf) -> Option<End> {
        let mut buf = self.inbuf.take().unwrap_or_else(|| self.gw.take_buffer());
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_BUF);
        }
        let len = buf.len();
        let cap = buf.capacity();
        let (res, slice) = reader.read(buf.slice_mut(len..cap)).await;
        let mut buf = slice.into_inner();
        match res {
            Ok(0) => {
                self.gw.give_back(buf);
                return Some(End::PeerClosed);
            }
            Ok(n) => stats::add(&self.gw.shard.stats.bytes_in, n as u64),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                self.gw.give_back(buf);
                return Some(End::Protocol(format!("read: {e}")));
            }
        }
        let conn = self.conn.clone();
        if let Some(tls) = conn.tls.as_ref() {
            // WSS: decrypt what was read; the parsers see only plaintext.
            let mut wire_out = BytesMut::new();
            let mut plain = std::mem::take(&mut self.ws_state().plain);
            let r = tls.borrow_mut().receive(&buf, &mut plain, &mut wire_out);
            buf.clear();
            self.conn.send_wire(&self.gw, &wire_out);
            if let Err(e) = r {
                self.ws_state().plain = plain;
                self.gw.give_back(buf);
                return Some(End::Protocol(format!("tls: {e}")));
            }
            let r = self.process(&mut plain).await;
            self.ws_state().plain = plain;
            if let Err(end) = r {
                self.gw.give_back(buf);
                return Some(end);
            }
        } else if let Err(end) = self.process(&mut buf).await {
            self.gw.give_back(buf);
            return Some(end);
        }
        if buf.is_empty() {
            self.gw.give_back(buf);
        } else {
            self.inbuf = Some(buf);
        }
        if self.conn.is_closed() {
            return Some(End::Stopped);
        }
        None
    }

    /// The WebSocket-only state, made on first use.
    fn ws_state(&mut self) -> &mut WsState {
        self.ws_state
            .get_or_insert_with(|| Box::new(WsState::new(self.conn.age_ms())))
    }

    /// Parses everything complete in `buf` (WebSocket: handshake, frames, then packets).
    async fn process(&mut self, buf: &mut BytesMut) -> Result<(), End> {
        if !self.conn.websocket {
            return self.packets(buf, false).await;
        }
        if !self.upgraded {
            let max_head = self.gw.shard.ctx.config.limits.max_http_header.get() as usize;
            match ws::parse_upgrade(buf, max_head) {
                Ok(Some(up)) => {
                    self.conn.send_raw(&self.gw, &up.accept_response);
                    self.upgraded = true;
                    self.ws = Some(Box::new(WsConn::new(self.decoder.max_frame() + 16)));
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.conn
                        .send_raw(&self.gw, &ws::bad_request_response(&e.to_string()));
                    self.conn.drained().await;
                    return Err(End::Protocol(e.to_string()));
                }
            }
        }
        loop {
            let mut control = BytesMut::new();
            let msg = match self.ws.as_mut() {
                Some(w) => w.read_message(buf, &mut control),
                None => return Ok(()),
            };
            if !control.is_empty() {
                self.conn.send_raw(&self.gw, &control);
            }
            if let Some(w) = self.ws.as_mut() {
                let seen = w.control_frames();
                let flood = {
                    let now = self.conn.age_ms();
                    let st = self
                        .ws_state
                        .get_or_insert_with(|| Box::new(WsState::new(now)));
                    let rate = CONTROL_FRAMES_PER_SEC;
                    let flood = (st.control_seen..seen)
                        .any(|_| !st.control_bucket.take(rate, 2.0 * rate, now));
                    st.control_seen = seen;
                    flood
                };
                if flood {
                    let mut out = BytesMut::new();
                    w.close(1008, "control frame flood", &mut out);
                    self.conn.send_raw(&self.gw, &out);
                    stats::inc(&self.gw.shard.stats.control_floods_cut);
                    return Err(End::Protocol("websocket control frame flood".into()));
                }
            }
            match msg {
                Ok(Some(payload)) => {
                    let max = self.decoder.max_frame() + 16;
                    let st = self.ws_state();
                    if st.stream_buf.len() + payload.len() > max {
                        return Err(End::Protocol("websocket packet stream too large".into()));
                    }
                    st.stream_buf.extend_from_slice(&payload);
                    let mut sb = std::mem::take(&mut st.stream_buf);
                    let r = self.packets(&mut sb, true).await;
                    self.ws_state().stream_buf = sb;
                    r?;
                }
                Ok(None) => return Ok(()),
                Err(WsError::Closed) => {
                    self.conn.drained().await;
                    return Err(End::PeerClosed);
                }
                Err(e) => {
                    if let Some(w) = self.ws.as_mut() {
                        let mut out = BytesMut::new();
                        w.close(e.close_code().unwrap_or(1002), "protocol error", &mut out);
                        self.conn.send_raw(&self.gw, &out);
                    }
                    return Err(End::Protocol(e.to_string()));
                }
            }
        }
    }

    /// Decodes and handles every complete wkproto packet in `buf`.
    async fn packets(&mut self, buf: &mut BytesMut, _ws: bool) -> Result<(), End> {
        if let Wire::Undecided = self.wire {
            let jsonrpc = !self.gw.shard.ctx.config.disable_jsonrpc;
            match super::jsonrpc::detect(buf, jsonrpc) {
                None => return Ok(()),
                Some(false) => self.wire = Wire::Wkproto,
                Some(true) => {
                    self.wire = Wire::JsonRpc(Default::default());
                    let _ = self.conn.jsonrpc.set(Default::default());
                }
            }
        }
        if let Wire::JsonRpc(_) = self.wire {
            return Box::pin(super::jsonrpc::handle::messages(self, buf)).await;
        }
        loop {
            if self.conn.identity.get().is_none() {
                let connect = match self.decoder.decode_connect(buf) {
                    Ok(Some(c)) => c,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(self.bad_frame(e)),
                };
                Box::pin(self.connect(connect)).await?;
                continue;
            }
            match self.next_packet(buf)? {
                Next::NeedBytes => return Ok(()),
                Next::Handled => {}
                Next::Forward(owner, req) => self.forward(owner, req).await,
            }
        }
    }

    /// Decodes and handles the next packet of an authenticated connection, all but the hand-off
    /// of a SEND to its channel's owner, which may wait for room in the mesh. Synchronous, so
    /// the decoded packet lives on the stack and is not copied into the session's future.
    fn next_packet(&mut self, buf: &mut BytesMut) -> Result<Next, End> {
        let packet = match self.decoder.decode(buf, self.conn.version.get()) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(Next::NeedBytes),
            Err(e) => return Err(self.bad_frame(e)),
        };
        match packet {
            Packet::Send(send) => {
                if let Some((owner, req)) = self.send_request(send) {
                    return Ok(Next::Forward(owner, req));
                }
            }
            Packet::Recvack(ack) => self.conn.acked(ack.message_id),
            Packet::Ping => self.conn.send_packet(&self.gw, &Packet::Pong),
            Packet::Sub(sub) => {
                let channel = sub.channel_id.as_str().split('?').next().unwrap_or("");
                let reason = if sub.channel_type != ChannelType::DATA {
                    ReasonCode::NOT_SUPPORT_CHANNEL_TYPE
                } else {
                    ReasonCode::CHANNEL_NOT_EXIST
                };
                self.conn.send_packet(
                    &self.gw,
                    &Suback {
                        sub_no: sub.sub_no.clone(),
                        channel_id: WkStr::copy_from_str(channel),
                        channel_type: sub.channel_type,
                        action: sub.action,
                        reason_code: reason,
                    },
                );
            }
            Packet::Disconnect(_) => return Err(End::PeerClosed),
            other => {
                return Err(End::Protocol(format!(
                    "a client may not send {}",
                    other.packet_type()
                )))
            }
        }
        Ok(Next::Handled)
    }

    fn bad_frame(&self, e: DecodeError) -> End {
        stats::inc(&self.gw.shard.stats.bad_frames);
        End::Protocol(format!("bad frame: {e}"))
    }

    /// CONNECT → key agreement → the uid owner's verdict → CONNACK (spec wkproto §9.1).
    async fn connect(&mut self, c: Connect) -> Result<(), End> {
        let version = negotiate_version(c.version);
        self.conn.version.set(version);
        let server_version = connack_has_server_version(c.version).then_some(version);
        // The client's clock is peer input: any i64, including i64::MIN.
        let time_diff = (now_millis() as i64).saturating_sub(c.client_timestamp);
        let uid = c.uid.as_str();
        let refuse = |this: &Self, reason: ReasonCode| {
            this.conn.send_packet(
                &this.gw,
                &Connack {
                    server_version,
                    time_diff,
                    reason_code: reason,
                    server_key: WkStr::EMPTY,
                    salt: WkStr::EMPTY,
                    node_id: this.gw.shard.ctx.config.cluster.node_id,
                },
            );
        };
        if !valid_id(uid) {
            refuse(self, ReasonCode::AUTH_FAIL);
            self.conn.drained().await;
            return Err(End::Protocol(format!("invalid uid {uid:?}")));
        }
        let keys = if self.gw.shard.ctx.config.encryption {
            match crypto::server_handshake(c.client_key.as_str()) {
                Ok(h) => Some(h),
                Err(e) => {
                    refuse(self, e.reason_code());
                    self.conn.drained().await;
                    return Err(End::Protocol(format!("key agreement: {e}")));
                }
            }
        } else {
            None
        };
        let uid: Arc<str> = Arc::from(uid);
        let device_id: Arc<str> = Arc::from(c.device_id.as_str());
        let verdict = self
            .admit(
                &uid,
                c.token.to_string(),
                c.device_flag.0,
                device_id.clone(),
            )
            .await;
        let device_level = match verdict {
            Ok(level) => level,
            Err(reason) => {
                refuse(self, reason);
                self.conn.drained().await;
                return Err(End::Protocol(format!(
                    "CONNECT refused with reason {}",
                    reason.0
                )));
            }
        };
        let (server_key, salt) = match keys {
            Some(h) => {
                let _ = self.conn.cipher.set(Box::new(h.cipher));
                (h.server_key, h.salt)
            }
            None => (WkStr::EMPTY, WkStr::EMPTY),
        };
        self.establish(Identity {
            uid,
            device_flag: c.device_flag.0,
            device_id,
            device_level,
            last_target: Default::default(),
        });
        self.conn.send_packet(
            &self.gw,
            &Connack {
                server_version,
                time_diff,
                reason_code: ReasonCode::SUCCESS,
                server_key,
                salt,
                node_id: self.gw.shard.ctx.config.cluster.node_id,
            },
        );
        Ok(())
    }

    /// Asks the uid's owner to admit this connection (token, ban, device replacement; spec
    /// wkproto §9.1): the device level, or the reason of the refusal.
    pub(super) async fn admit(
        &self,
        uid: &Arc<str>,
        token: String,
        device_flag: u8,
        device_id: Arc<str>,
    ) -> Result<u8, ReasonCode> {
        if !valid_id(uid) {
            return Err(ReasonCode::AUTH_FAIL);
        }
        let shard = &self.gw.shard;
        let owner = shard.user_owner(uid);
        let req = AuthReq {
            conn: self.gw.conn_ref(self.conn.id),
            uid: uid.clone(),
            token,
            device_flag,
            device_id,
        };
        let verdict = shard
            .ask(&shard.asks.auth, owner, |id| {
                OwnerMsg::Auth {
                    id,
                    req: Box::new(req),
                }
                .into()
            })
            .await;
        if verdict.reason != ReasonCode::SUCCESS.0 {
            return Err(ReasonCode(verdict.reason));
        }
        Ok(verdict.device_level)
    }

    /// Marks the connection authenticated as `identity` (after [`Session::admit`]).
    pub(super) fn establish(&self, identity: Identity) {
        let _ = self.conn.identity.set(Box::new(identity));
        stats::inc(&self.gw.shard.stats.conns_live);
    }

    /// SEND: decrypt, resolve the channel, forward to its owner (spec wkproto §9.3).
    pub(super) async fn send(&mut self, send: Send) {
        if let Some((owner, req)) = self.send_request(send) {
            self.forward(owner, req).await;
        }
    }

    /// Hands a send to its channel's owner (waiting while the mesh is full).
    pub(super) async fn forward(&self, owner: usize, req: Box<SendReq>) {
        self.gw
            .shard
            .mesh
            .send_wait(owner, OwnerMsg::Send(req).into())
            .await;
    }

    /// The request a SEND makes for its channel's owner, and that owner; `None` when the SEND
    /// was answered here (refused). Synchronous, so the SEND is not moved into a future's
    /// state on the way, and the request is written once, into its box.
    pub(super) fn send_request(&mut self, mut send: Send) -> Option<(usize, Box<SendReq>)> {
        stats::inc(&self.gw.shard.stats.sends_in);
        let conn = self.conn.clone();
        let identity = conn.identity.get()?;
        let from = identity.uid.clone();
        let rate = self.gw.shard.ctx.config.limits.message_rate;
        let client_seq = send.client_seq;
        let refuse = |this: &Self, reason: ReasonCode| {
            this.conn.send_ack(
                &this.gw,
                client_seq,
                crate::shard::msg::SendOutcome {
                    reason: reason.0,
                    message_id: 0,
                    message_seq: 0,
                },
            );
            None
        };
        if rate > 0 && !self.conn.take_send_token(rate) {
            stats::inc(&self.gw.shard.stats.message_rate_limited);
            return refuse(self, ReasonCode::RATE_LIMIT);
        }
        if self.gw.shard.ctx.config.logger.trace_on {
            tracing::info!(target: "jindou::trace", shard = self.gw.shard.id(), conn = self.conn.id,
                client_msg_no = %send.client_msg_no, channel = %send.channel_id, "SEND received");
        }
        let plaintext = {
            match send.take_plaintext(self.conn.cipher.get().map(|c| &**c)) {
                Ok(p) => p,
                Err(e) => return refuse(self, e.reason_code()),
            }
        };
        let target = send.channel_id.as_str();
        if !valid_id(target) {
            return refuse(self, ReasonCode::CHANNEL_ID_ERROR);
        }
        let flags = send.flags;
        let (channel_id, owner) = identity.last_target.resolve(
            &self.gw.shard,
            &from,
            target,
            send.channel_type.0,
            flags.sync_once(),
        );
        let req = Box::write(
            Box::new_uninit(),
            SendReq {
                origin: SendOrigin::Conn {
                    conn: self.gw.conn_ref(self.conn.id),
                    client_seq: send.client_seq,
                },
                from_uid: from,
                channel_id,
                channel_type: send.channel_type.0,
                flags: flags.with(HeaderFlags::DUP, false).bits(),
                setting: send.setting.bits(),
                // Moved, not shared: the SEND is dropped here.
                client_msg_no: send.client_msg_no,
                stream_no: send.stream_no,
                stream_flag: 0,
                expire: send.expire,
                topic: send.topic,
                payload: plaintext,
                receivers: Vec::new(),
            },
        );
        Some((owner, req))
    }
}
