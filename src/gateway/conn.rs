//! One client connection's shared state: who it is, its cipher, and its bounded outbound
//! queue with a writer task that exists only while there is something to write.

use super::table::ConnTable;
use crate::proto::{
    ChannelType, ConnCipher, Disconnect, Encode, Event, HeaderFlags, Packet, ReasonCode, RecvView,
    Sendack, Setting, StreamLayout, WkStr,
};
use crate::shard::msg::{Delivered, SendOutcome};
use crate::shard::stats;
use bytes::BytesMut;
use monoio::io::AsyncWriteRentExt;
use monoio::net::tcp::TcpOwnedWriteHalf;
use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use super::unacked::{Unacked, UnackedQueue};

/// Identity fixed at CONNECT.
#[derive(Debug, Clone)]
pub struct Identity {
    /// User id.
    pub uid: Arc<str>,
    /// Device flag.
    pub device_flag: u8,
    /// Device id.
    pub device_id: Arc<str>,
    /// Device level (1 master).
    pub device_level: u8,
    /// Where this connection's last SEND went (see [`super::target`]).
    pub last_target: super::target::LastTarget,
}

/// A client connection on this shard.
pub struct Conn {
    /// Id on this shard.
    pub id: u64,
    /// The socket (for shutdown when the connection is cut).
    fd: RawFd,
    /// WebSocket framing (one packet per binary message) instead of raw TCP.
    pub websocket: bool,
    /// Set once CONNECT succeeded.
    pub identity: std::cell::OnceCell<Box<Identity>>,
    /// Negotiated protocol version.
    pub version: Cell<u8>,
    /// Per-connection cipher (None = plaintext).
    pub cipher: std::cell::OnceCell<Box<ConnCipher>>,
    out: RefCell<BytesMut>,
    /// The socket's write half while no writer task runs (the task holds it meanwhile).
    writer: Cell<Option<TcpOwnedWriteHalf>>,
    /// Set when the connection is closing.
    closed: Cell<bool>,
    /// When bytes last arrived (or the connection was accepted): the shard's idle sweep
    /// closes the connection past `connIdleTime` (before CONNECT, past
    /// `limits.connectTimeout` from `since`).
    last_read_ms: Cell<u64>,
    /// RECVs awaiting RECVACK.
    pub unacked: RefCell<UnackedQueue>,
    /// Connected since.
    pub since: Instant,
    /// TLS session (WSS only).
    pub tls: Option<Box<RefCell<super::tls::Tls>>>,
    /// The session while parked (it has no task then); see [`super::park`].
    parked: Cell<Option<Box<super::session::Parked>>>,
    /// Set by the idle sweep to ask the session's task to park.
    park_asked: Cell<bool>,
    /// The session task's waker while it waits for bytes, to hear [`Conn::ask_park`].
    park_waker: Cell<Option<Waker>>,
    /// `limits.messageRate` bucket (milliseconds since `since`).
    send_bucket: Cell<crate::runtime::ratelimit::Bucket>,
    /// Set when the session speaks JSON-RPC: every packet is then written as JSON.
    pub jsonrpc: std::cell::OnceCell<Box<super::jsonrpc::RpcConn>>,
}

impl Conn {
    /// A new connection holding the write half of its socket.
    pub fn new(id: u64, fd: RawFd, websocket: bool, writer: TcpOwnedWriteHalf) -> Self {
        let now = Instant::now();
        Self {
            id,
            fd,
            websocket,
            identity: std::cell::OnceCell::new(),
            version: Cell::new(0),
            cipher: std::cell::OnceCell::new(),
            out: RefCell::new(BytesMut::new()),
            writer: Cell::new(Some(writer)),
            closed: Cell::new(false),
            last_read_ms: Cell::new(0),
            unacked: Default::default(),
            since: now,
            send_bucket: Cell::new(crate::runtime::ratelimit::Bucket::new(1.0, 0)),
            parked: Cell::new(None),
            park_asked: Cell::new(false),
            park_waker: Cell::new(None),
            tls: None,
            jsonrpc: std::cell::OnceCell::new(),
        }
    }

    /// The uid, once authenticated.
    pub fn uid(&self) -> Option<Arc<str>> {
        self.identity.get().map(|i| i.uid.clone())
    }

    /// Milliseconds since connect: the time of the connection's rate-limit buckets.
    pub fn age_ms(&self) -> u32 {
        crate::runtime::ratelimit::millis_since(self.since, Instant::now())
    }

    /// Whether the connection is closing.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Notes that bytes arrived (resets the idle deadline); returns how long the connection
    /// had been silent.
    pub fn touch(&self) -> std::time::Duration {
        let now = self.since.elapsed().as_millis() as u64;
        let before = self.last_read_ms.replace(now);
        std::time::Duration::from_millis(now.saturating_sub(before))
    }

    /// When bytes last arrived.
    pub fn last_read(&self) -> Instant {
        self.since + std::time::Duration::from_millis(self.last_read_ms.get())
    }

    /// Whether no writer task runs (the write half is home).
    fn writer_idle(&self) -> bool {
        let w = self.writer.take();
        let idle = w.is_some();
        self.writer.set(w);
        idle
    }

    /// Whether the session is parked (no task).
    pub fn is_parked(&self) -> bool {
        let parked = self.parked.take();
        let is = parked.is_some();
        self.parked.set(parked);
        is
    }

    /// Asks the session's task to park (it does once it is waiting for bytes).
    pub fn ask_park(&self) {
        self.park_asked.set(true);
        if let Some(w) = self.park_waker.take() {
            w.wake();
        }
    }

    /// Resolves once [`Conn::ask_park`] was called (and clears the request).
    pub(super) fn park_asked(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.park_asked.replace(false) {
                return std::task::Poll::Ready(());
            }
            self.park_waker.set(Some(cx.waker().clone()));
            std::task::Poll::Pending
        })
    }

    /// Keeps the session of a parked connection.
    pub(super) fn store_parked(&self, parked: Box<super::session::Parked>) {
        self.park_waker.set(None);
        self.parked.set(Some(parked));
    }

    /// Takes the session of a parked connection back (`None` if it is not parked).
    pub(super) fn take_parked(&self) -> Option<Box<super::session::Parked>> {
        self.parked.take()
    }

    /// The socket.
    pub(super) fn fd(&self) -> RawFd {
        self.fd
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.out.borrow().len()
    }

    /// Closes the connection: stops its reader, fails its writer, frees its queue.
    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        // Wakes a writer blocked on a full socket and the reader alike.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
        *self.out.borrow_mut() = BytesMut::new();
        self.unacked.borrow_mut().clear();
    }

    /// Queues one encoded packet (framed for WebSocket) and makes sure a writer runs.
    pub fn send_packet(self: &Rc<Self>, gw: &Rc<ConnTable>, packet: &impl Encode) {
        if self.is_closed() {
            return;
        }
        let version = self.version.get();
        {
            let mut out = self.out_buf(gw);
            let ok = if self.websocket {
                let mut scratch = gw.scratch.borrow_mut();
                scratch.clear();
                let r = packet.encode(version, &mut scratch);
                if r.is_ok() {
                    match &self.tls {
                        Some(tls) => {
                            let mut frame = BytesMut::with_capacity(scratch.len() + 14);
                            super::ws::encode_binary_frame(&scratch, &mut frame);
                            if tls.borrow_mut().send(&frame, &mut out).is_err() {
                                drop(out);
                                self.close();
                                return;
                            }
                        }
                        None => super::ws::encode_binary_frame(&scratch, &mut out),
                    }
                }
                scratch.clear();
                r
            } else {
                packet.encode(version, &mut out)
            };
            if let Err(e) = ok {
                tracing::warn!(conn = self.id, error = %e, "cannot encode a packet");
                return;
            }
            let queued = out.len();
            drop(out);
            if self.cut_if_over(gw, queued) {
                return;
            }
        }
        self.ensure_writer(gw);
    }

    /// The outbound queue, with a pooled buffer if it holds none (an idle connection keeps
    /// none; see [`write_loop`]).
    fn out_buf(&self, gw: &ConnTable) -> std::cell::RefMut<'_, BytesMut> {
        let mut out = self.out.borrow_mut();
        if out.capacity() == 0 {
            *out = gw.take_out_buffer();
        }
        out
    }

    /// Queues bytes already encoded (and framed) for this connection.
    fn send_encoded(self: &Rc<Self>, gw: &Rc<ConnTable>, bytes: &[u8]) {
        let queued = {
            let mut out = self.out_buf(gw);
            out.extend_from_slice(bytes);
            out.len()
        };
        if !self.cut_if_over(gw, queued) {
            self.ensure_writer(gw);
        }
    }

    /// Every outbound path (packets, WebSocket control frames, TLS records) ends here: a queue
    /// past `limits.outboundBuffer` means a peer that does not read; it is cut off rather than
    /// buffered without end. True if the connection was cut.
    fn cut_if_over(&self, gw: &ConnTable, queued: usize) -> bool {
        if queued <= gw.shard.ctx.config.limits.outbound_buffer.get() as usize {
            return false;
        }
        stats::inc(&gw.shard.stats.slow_readers_cut);
        tracing::info!(conn = self.id, "slow reader cut off: outbound buffer full");
        self.close();
        true
    }

    /// Queues TLS records produced by the handshake (already encrypted).
    pub fn send_wire(self: &Rc<Self>, gw: &Rc<ConnTable>, bytes: &[u8]) {
        if self.is_closed() || bytes.is_empty() {
            return;
        }
        let queued = {
            let mut out = self.out_buf(gw);
            out.extend_from_slice(bytes);
            out.len()
        };
        if !self.cut_if_over(gw, queued) {
            self.ensure_writer(gw);
        }
    }

    /// Queues raw bytes (WebSocket handshake and control frames).
    pub fn send_raw(self: &Rc<Self>, gw: &Rc<ConnTable>, bytes: &[u8]) {
        if self.is_closed() {
            return;
        }
        let queued = {
            let mut out = self.out_buf(gw);
            match &self.tls {
                Some(tls) => {
                    if tls.borrow_mut().send(bytes, &mut out).is_err() {
                        drop(out);
                        self.close();
                        return;
                    }
                }
                None => out.extend_from_slice(bytes),
            }
            out.len()
        };
        if !self.cut_if_over(gw, queued) {
            self.ensure_writer(gw);
        }
    }

    /// Queues one JSON-RPC message: a text frame on WebSocket, the bare JSON on TCP.
    pub fn send_text(self: &Rc<Self>, gw: &Rc<ConnTable>, json: &[u8]) {
        if self.is_closed() || json.is_empty() {
            return;
        }
        if !self.websocket {
            return self.send_raw(gw, json);
        }
        let mut frame = BytesMut::with_capacity(json.len() + 10);
        super::ws::encode_text_frame(json, &mut frame);
        self.send_raw(gw, &frame);
    }

    fn ensure_writer(self: &Rc<Self>, gw: &Rc<ConnTable>) {
        if let Some(w) = self.writer.take() {
            monoio::spawn(write_loop(gw.clone(), self.clone(), w));
        }
    }

    /// Waits until everything queued so far was written (or the connection closed).
    pub async fn drained(&self) {
        while !self.is_closed() && (self.queued() > 0 || !self.writer_idle()) {
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Writes the SENDACK for one of this connection's sends.
    pub fn send_ack(self: &Rc<Self>, gw: &Rc<ConnTable>, client_seq: u32, o: SendOutcome) {
        if let Some(rpc) = self.jsonrpc.get() {
            if let Some((id, header)) = rpc.take(client_seq) {
                self.send_text(gw, &super::jsonrpc::wire::send_result(&id, header, o));
            }
            return;
        }
        self.send_packet(
            gw,
            &Sendack {
                flags: HeaderFlags::EMPTY,
                message_id: o.message_id,
                client_seq,
                message_seq: o.message_seq,
                reason_code: ReasonCode(o.reason),
                client_msg_no: WkStr::EMPTY,
            },
        );
    }

    /// Writes a RECV of `msg` for this connection's user, encrypted for the connection; a
    /// plaintext connection copies the form `forms` holds for it (encoded on first use).
    pub fn push_recv(
        self: &Rc<Self>,
        gw: &Rc<ConnTable>,
        msg: &Arc<Delivered>,
        forms: &mut RecvForms,
    ) {
        // Nothing may precede the CONNACK (or the `connect` result): a delivery that reaches a
        // session registered by its owner but not yet answered is left to sync.
        if self.is_closed() {
            return;
        }
        let Some(identity) = self.identity.get() else {
            return;
        };
        match forms.get(self, msg, &identity.uid) {
            Some(bytes) => self.send_encoded(gw, bytes),
            None => self.write_recv_to(gw, msg, &identity.uid),
        }
        stats::inc(&gw.shard.stats.recvs_out);
        gw.shard.stats.recvs_by_type.inc(msg.channel_type);
        if !HeaderFlags::from_header(msg.flags).no_persist() {
            let sent_ms = crate::runtime::ratelimit::millis_since(self.since, forms.now(gw));
            self.unacked.borrow_mut().push(Unacked {
                msg: msg.clone(),
                sent_ms,
                attempts: 1,
            });
        }
    }

    /// Writes `msg` again to this connection's user (a retry of an unacknowledged RECV).
    pub fn write_recv(self: &Rc<Self>, gw: &Rc<ConnTable>, msg: &Delivered) {
        if let Some(identity) = self.identity.get() {
            self.write_recv_to(gw, msg, &identity.uid);
        }
    }

    /// Writes `msg` to receiver `uid` on this connection: a RECV, or a `recv` notification.
    fn write_recv_to(self: &Rc<Self>, gw: &Rc<ConnTable>, msg: &Delivered, uid: &str) {
        if self.jsonrpc.get().is_some() {
            let (flags, channel_id) = recv_view(msg, uid);
            let json = super::jsonrpc::wire::recv(msg, channel_id, flags);
            return self.send_text(gw, &json);
        }
        let mut recv = plain_recv(self, msg, uid);
        let cipher = self.cipher.get().map(|c| &**c);
        let sealed = {
            let mut scratch = gw.scratch.borrow_mut();
            scratch.clear();
            recv.sealed(cipher, &mut scratch)
        };
        if let Some((ciphertext, key)) = &sealed {
            recv.payload = ciphertext;
            recv.msg_key = key.as_bytes();
        }
        self.send_packet(gw, &recv);
    }

    /// Writes a message event: an EVENT packet to a wkproto session of version 5 or later,
    /// an `event` notification to a JSON-RPC one.
    pub fn push_event(self: &Rc<Self>, gw: &Rc<ConnTable>, event: &Event) {
        if self.identity.get().is_none() {
            return;
        }
        if self.jsonrpc.get().is_some() {
            self.send_text(gw, &super::jsonrpc::wire::event(event));
        } else if self.version.get() >= 5 {
            self.send_packet(gw, &Packet::Event(event.clone()));
        }
    }

    /// Handles a RECVACK: forgets the acknowledged message.
    pub fn acked(&self, message_id: i64) {
        self.unacked.borrow_mut().ack(message_id);
    }

    /// Takes a `limits.messageRate` token (`rate` per second, as many at once).
    pub fn take_send_token(&self, rate: u32) -> bool {
        let mut bucket = self.send_bucket.get();
        let ok = bucket.take(rate.into(), rate.into(), self.age_ms());
        self.send_bucket.set(bucket);
        ok
    }

    /// Sends DISCONNECT with `why` (unless `reason` is 0) and closes once it is written.
    pub fn kick(self: &Rc<Self>, gw: &Rc<ConnTable>, reason: ReasonCode, why: &'static str) {
        if reason.0 != 0 {
            if self.jsonrpc.get().is_some() {
                self.send_text(gw, &super::jsonrpc::wire::disconnect(reason.0, why));
            } else {
                self.send_packet(
                    gw,
                    &Packet::Disconnect(Disconnect {
                        reason_code: reason,
                        reason: WkStr::from_static(why),
                    }),
                );
            }
            let conn = self.clone();
            monoio::spawn(async move {
                let _ = monoio::time::timeout(KICK_GRACE, conn.drained()).await;
                conn.close();
            });
        } else {
            self.close();
        }
    }
}

/// The RECVs of one message as plaintext connections get them, encoded once per wire form:
/// (protocol version, WebSocket framing, whether the receiver is the sender). Every other
/// byte of a RECV is the same for all its receivers (spec wkproto §9.4); encrypted, TLS and
/// JSON-RPC connections are encoded each for itself, and so is a message with one receiving
/// connection here (straight into its queue: an encoding kept aside would be copied once).
#[derive(Default)]
pub struct RecvForms {
    forms: Vec<((u8, bool, bool), BytesMut)>,
    /// Whether more than one connection receives the message (else nothing is kept aside).
    shared: bool,
    /// When this batch of RECVs was written (one clock read for all of them).
    now: Option<Instant>,
}

impl RecvForms {
    /// Forms for a message written to `receivers` connections of this shard.
    pub fn for_receivers(receivers: usize) -> Self {
        RecvForms {
            shared: receivers > 1,
            ..Default::default()
        }
    }

    /// The time the RECVs of this batch count as written (the mesh batch's clock reading).
    fn now(&mut self, gw: &ConnTable) -> Instant {
        *self.now.get_or_insert_with(|| gw.shard.clock.instant())
    }

    /// The RECV of `msg` for `conn` (receiver `uid`), if `conn` takes a shared form.
    fn get(&mut self, conn: &Conn, msg: &Delivered, uid: &str) -> Option<&[u8]> {
        if !self.shared
            || conn.cipher.get().is_some()
            || conn.tls.is_some()
            || conn.jsonrpc.get().is_some()
        {
            return None;
        }
        let key = (
            conn.version.get(),
            conn.websocket,
            uid == msg.from_uid.as_str(),
        );
        if let Some(i) = self.forms.iter().position(|(k, _)| *k == key) {
            return Some(&self.forms[i].1);
        }
        let recv = plain_recv(conn, msg, uid);
        let mut packet = BytesMut::new();
        if let Err(e) = recv.encode(key.0, &mut packet) {
            tracing::warn!(conn = conn.id, error = %e, "cannot encode a RECV");
            return None;
        }
        let bytes = if key.1 {
            let mut frame = BytesMut::with_capacity(packet.len() + 14);
            super::ws::encode_binary_frame(&packet, &mut frame);
            frame
        } else {
            packet
        };
        self.forms.push((key, bytes));
        self.forms.last().map(|(_, b)| &b[..])
    }
}

/// How receiver `uid` sees `msg` (spec wkproto §9.4): its header flags (no red dot on one's
/// own messages) and its channel id (the other party for a person chat).
pub fn recv_view<'a>(msg: &'a Delivered, uid: &str) -> (HeaderFlags, &'a str) {
    let own = uid == msg.from_uid.as_str();
    let mut flags = HeaderFlags::from_header(msg.flags);
    if own {
        flags = flags.with(HeaderFlags::RED_DOT, false);
    }
    let channel_id = if msg.channel_type == ChannelType::PERSON.0 {
        if own {
            crate::shard::ids::person_peer(&msg.channel_id, uid)
        } else {
            msg.from_uid.as_str()
        }
    } else {
        msg.channel_id.as_str()
    };
    (flags, channel_id)
}

/// The setting byte of a RECV for a session of protocol `version`. Sessions of versions 2–4
/// are older client libraries (JS-1.0.4 speaks 2): they know the stream bit only at its old
/// place (0x04) with the legacy stream block, so a stream message (an `is_stream` anchor, bit
/// 0x02) goes to them with the legacy bit. With the current bit they would read no stream
/// block and take its bytes for the message id (the JS SDK then throws on the garbage and never
/// acknowledges the RECV). WuKongIM sends the current bit to them; its JS-1.0.4 users see the
/// error.
pub(crate) fn recv_setting(setting: u8, version: u8) -> Setting {
    let s = Setting::from_bits(setting);
    if (2..=4).contains(&version) && s.stream_layout() == Some(StreamLayout::Current) {
        Setting::from_bits((setting & !Setting::STREAM.bits()) | Setting::STREAM_LEGACY.bits())
    } else {
        s
    }
}

/// The RECV `conn` gets of `msg` (spec wkproto §9.4), every field borrowed from `msg`: the
/// plaintext payload and an empty msg_key, which [`RecvView::sealed`] replaces for a
/// connection that encrypts. Building it takes no reference count and allocates nothing.
pub fn plain_recv<'a>(conn: &Conn, msg: &'a Delivered, uid: &str) -> RecvView<'a> {
    let (flags, channel_id) = recv_view(msg, uid);
    RecvView {
        flags,
        setting: recv_setting(msg.setting, conn.version.get()),
        msg_key: &[],
        from_uid: msg.from_uid.as_str(),
        channel_id,
        channel_type: ChannelType(msg.channel_type),
        expire: msg.expire(),
        client_msg_no: msg.client_msg_no.as_str(),
        stream_no: msg.stream_no().as_str(),
        stream_id: 0,
        stream_seq: 0,
        stream_flag: msg.stream_flag().into(),
        message_id: msg.message_id,
        message_seq: msg.message_seq,
        timestamp: msg.timestamp,
        topic: msg.topic().as_str(),
        payload: &msg.payload,
    }
}

/// How long a kicked connection gets to flush its DISCONNECT.
pub const KICK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Largest outbound buffer a connection keeps between bursts.
const KEEP_OUT_CAPACITY: usize = 64 * 1024;

/// Writes the queue until it is empty, then hands the socket half back and ends, so an idle
/// connection has no writer task and no buffer.
async fn write_loop(gw: Rc<ConnTable>, conn: Rc<Conn>, mut w: TcpOwnedWriteHalf) {
    let mut spare = BytesMut::new();
    loop {
        let buf = {
            let mut out = conn.out.borrow_mut();
            if out.is_empty() || conn.is_closed() {
                // An idle connection keeps no buffer: back to the shard's pool.
                gw.give_back_out(std::mem::take(&mut *out));
                break;
            }
            std::mem::replace(&mut *out, std::mem::take(&mut spare))
        };
        let n = buf.len() as u64;
        let (res, mut buf) = w.write_all(buf).await;
        if res.is_err() {
            conn.close();
            break;
        }
        stats::add(&gw.shard.stats.bytes_out, n);
        buf.clear();
        spare = if buf.capacity() > KEEP_OUT_CAPACITY {
            BytesMut::new()
        } else {
            buf
        };
    }
    gw.give_back_out(spare);
    conn.writer.set(Some(w));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection of a shard holds one `Rc<Conn>`, idle ones included (issue 16: ≤ 1 KiB
    /// per idle connection): with its `Rc` counts it must stay within the allocator's
    /// 192-byte size class.
    #[test]
    fn a_connection_fits_the_192_byte_size_class() {
        let size = std::mem::size_of::<Conn>() + 2 * std::mem::size_of::<usize>();
        assert!(size <= 192, "Rc<Conn> takes {size} B");
    }

    #[test]
    fn stream_messages_reach_older_sessions_with_the_legacy_bit() {
        let current = Setting::STREAM.bits() | Setting::TOPIC.bits();
        for v in 2..=4 {
            let s = recv_setting(current, v);
            assert_eq!(s.stream_layout(), Some(StreamLayout::Legacy), "v{v}");
            assert!(s.has_topic(), "other bits kept");
        }
        for v in [1, 5, 6] {
            assert_eq!(recv_setting(current, v).bits(), current, "v{v}");
        }
        assert_eq!(
            recv_setting(0x80, 2).bits(),
            0x80,
            "no stream bit, unchanged"
        );
    }
}
