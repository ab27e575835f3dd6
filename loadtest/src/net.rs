//! Transport helpers: runtimes, a one-waiter notification, loopback connects from several
//! source addresses, the wkproto CONNECT handshake (over TCP or WebSocket) and a minimal
//! keep-alive HTTP/1.1 client.

use crate::cli::{Target, Transport};
use crate::ws::{self, ClientDecoder, MaskRng, WsError};
use bytes::{Buf, BytesMut};
use jindou::proto::{
    ClientHandshake, ConnCipher, Connect, Decoder, DeviceFlag, Encode, Packet, ReasonCode,
    LATEST_VERSION,
};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Runs `fut` on a fresh monoio runtime: io_uring, or epoll when the kernel refuses io_uring.
pub fn block_on<F: Future>(make: impl FnOnce() -> F) -> F::Output {
    match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .enable_timer()
        .build()
    {
        Ok(mut rt) => rt.block_on(make()),
        Err(_) => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("epoll runtime")
            .block_on(make()),
    }
}

/// Wakes one waiting task; a notification sent while nobody waits is kept until the next wait.
#[derive(Default)]
pub struct Notify {
    flag: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Notify {
    /// Sets the flag and wakes the waiter, if any.
    pub fn notify(&self) {
        self.flag.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Resolves once notified (consuming the notification). Cancel-safe.
    pub fn wait(&self) -> NotifyWait<'_> {
        NotifyWait(self)
    }
}

/// Future of [`Notify::wait`].
pub struct NotifyWait<'a>(&'a Notify);

impl Future for NotifyWait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.flag.replace(false) {
            Poll::Ready(())
        } else {
            self.0.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    }
}

/// The `i`-th of `n` loopback source addresses: 127.0.0.1, 127.0.0.2, …
pub fn source_addr(i: usize, n: usize) -> Option<IpAddr> {
    (n > 1).then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % n) as u8)))
}

/// Connects to `addr`, from `src` when given (a bound socket; loopback connects complete at once).
pub async fn connect(addr: SocketAddr, src: Option<IpAddr>) -> io::Result<TcpStream> {
    let stream = match src {
        None => TcpStream::connect_addr(addr).await?,
        Some(ip) => {
            use socket2::{Domain, Socket, Type};
            let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            s.bind(&SocketAddr::new(ip, 0).into())?;
            s.connect_timeout(&addr.into(), Duration::from_secs(5))?;
            s.set_nonblocking(true)?;
            TcpStream::from_std(s.into())?
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads more bytes into `buf` (growing it); `Ok(0)` at end of stream.
pub async fn read_more<R: AsyncReadRent>(r: &mut R, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(64 * 1024);
    }
    let len = buf.len();
    let cap = buf.capacity();
    let b = std::mem::take(buf);
    let (res, slice) = r.read(monoio::buf::IoBufMut::slice_mut(b, len..cap)).await;
    *buf = slice.into_inner();
    res
}

/// The receive side of a wkproto connection: TCP bytes are the packet stream itself; WebSocket
/// frames are unwrapped into it (answering pings and the server's close).
pub struct WkRx {
    ws: Option<ClientDecoder>,
    /// Received WebSocket bytes not yet decoded.
    wire: BytesMut,
}

impl WkRx {
    /// Reads until packet bytes were appended to `buf` or WebSocket control replies (pong,
    /// close) to `control`, which the caller must write back; returns how many bytes were
    /// appended to both, `Ok(0)` at the end of the stream. After the server's WebSocket close
    /// (reported once the packet bytes before it were returned) it fails, with the close reply
    /// in `control`.
    pub async fn read<R: AsyncReadRent>(
        &mut self,
        r: &mut R,
        buf: &mut BytesMut,
        control: &mut BytesMut,
    ) -> io::Result<usize> {
        let Some(dec) = &mut self.ws else {
            return read_more(r, buf).await;
        };
        loop {
            let before = buf.len() + control.len();
            let res = dec.decode(&mut self.wire, buf, control);
            let n = buf.len() + control.len() - before;
            match res {
                _ if n > 0 => return Ok(n),
                Ok(()) => {}
                Err(e) => return Err(io_err(e.to_string())),
            }
            if read_more(r, &mut self.wire).await? == 0 {
                return Ok(0);
            }
        }
    }
}

/// The send side of a wkproto connection: TCP sends packet bytes as they are, WebSocket wraps
/// them in masked binary messages.
pub struct WkTx {
    ws: Option<MaskRng>,
}

impl WkTx {
    /// Whether packets travel in WebSocket messages (see [`WkTx::put`]).
    pub fn is_ws(&self) -> bool {
        self.ws.is_some()
    }

    /// Appends `packets` (encoded wkproto packets) to `out` in the form the wire wants.
    pub fn put(&mut self, packets: &[u8], out: &mut BytesMut) {
        match &mut self.ws {
            Some(rng) => ws::encode_data(packets, rng, out),
            None => out.extend_from_slice(packets),
        }
    }
}

/// An authenticated wkproto connection.
pub struct WkSession {
    /// The socket.
    pub stream: TcpStream,
    /// Payload cipher, when the server agreed on one.
    pub cipher: Option<ConnCipher>,
    /// Negotiated protocol version.
    pub version: u8,
    /// Packet bytes received after the CONNACK.
    pub buf: BytesMut,
    /// Receive side (TCP or WebSocket).
    pub rx: WkRx,
    /// Send side (TCP or WebSocket).
    pub tx: WkTx,
}

fn io_err(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// A seed for WebSocket masks and keys, different for every call.
fn mask_seed() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    t ^ u64::from(std::process::id()).rotate_left(32)
        ^ CALLS
            .fetch_add(1, Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Performs the WebSocket upgrade on `stream`; returns the two framing halves (the receive side
/// holds any frame bytes that followed the `101` answer).
async fn ws_upgrade(stream: &mut TcpStream, target: &Target) -> io::Result<(WkRx, WkTx)> {
    let mut rng = MaskRng::new(mask_seed());
    let key = ws::new_key(&mut rng);
    let req = ws::upgrade_request(&target.addr.to_string(), &target.path, &key);
    let (res, _) = stream.write_all(req.into_bytes()).await;
    res?;
    let mut wire = BytesMut::with_capacity(4096);
    loop {
        match ws::parse_upgrade_response(&wire, &key) {
            Ok(Some(n)) => {
                wire.advance(n);
                let rx = WkRx {
                    ws: Some(ClientDecoder::new(MaskRng::new(rng.next_u64()))),
                    wire,
                };
                return Ok((rx, WkTx { ws: Some(rng) }));
            }
            Ok(None) => {}
            Err(e) => return Err(io_err(e.to_string())),
        }
        if read_more(stream, &mut wire).await? == 0 {
            return Err(io_err(
                WsError::Handshake("connection closed during the upgrade".into()).to_string(),
            ));
        }
    }
}

/// Connects to `target` (upgrading to WebSocket for `ws://`) and authenticates `uid` (always
/// offering a client key, so servers with encryption on accept the connection; whether
/// payloads are sealed is decided per packet).
pub async fn wk_connect(
    target: &Target,
    src: Option<IpAddr>,
    uid: &str,
    token: &str,
) -> io::Result<WkSession> {
    let mut stream = connect(target.addr, src).await?;
    let (mut rx, mut tx) = match target.transport {
        Transport::Ws => ws_upgrade(&mut stream, target).await?,
        Transport::Tcp => (
            WkRx {
                ws: None,
                wire: BytesMut::new(),
            },
            WkTx { ws: None },
        ),
    };
    let hs = ClientHandshake::new();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let connect = Connect {
        version: LATEST_VERSION,
        device_flag: DeviceFlag::APP,
        device_id: format!("{uid}-bench").into(),
        uid: uid.to_string().into(),
        token: token.to_string().into(),
        client_timestamp: now_ms,
        client_key: hs.client_key().clone(),
    };
    let mut packet = BytesMut::new();
    connect
        .encode(LATEST_VERSION, &mut packet)
        .map_err(|e| io_err(format!("encode CONNECT: {e}")))?;
    let mut out = BytesMut::with_capacity(packet.len() + 14);
    tx.put(&packet, &mut out);
    let (res, _) = stream.write_all(out).await;
    res?;
    let decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(4096);
    let mut control = BytesMut::new();
    loop {
        match decoder.decode(&mut buf, LATEST_VERSION) {
            Ok(Some(Packet::Connack(ack))) => {
                if ack.reason_code != ReasonCode::SUCCESS {
                    return Err(io_err(format!("CONNACK for {uid}: {:?}", ack.reason_code)));
                }
                let version = ack
                    .server_version
                    .map_or(LATEST_VERSION, |v| v.min(LATEST_VERSION));
                let cipher = if ack.server_key.is_empty() {
                    None
                } else {
                    Some(
                        hs.finish(ack.server_key.as_str(), ack.salt.as_str())
                            .map_err(|e| io_err(format!("key agreement: {e:?}")))?,
                    )
                };
                return Ok(WkSession {
                    stream,
                    cipher,
                    version,
                    buf,
                    rx,
                    tx,
                });
            }
            Ok(Some(Packet::Disconnect(d))) => {
                return Err(io_err(format!(
                    "DISCONNECT before CONNACK: {:?} {}",
                    d.reason_code, d.reason
                )))
            }
            Ok(Some(p)) => {
                return Err(io_err(format!("expected CONNACK, got {}", p.packet_type())))
            }
            Ok(None) => {}
            Err(e) => return Err(io_err(format!("decode CONNACK: {e}"))),
        }
        let n = rx.read(&mut stream, &mut buf, &mut control).await?;
        if !control.is_empty() {
            let (res, mut c) = stream.write_all(std::mem::take(&mut control)).await;
            res?;
            c.clear();
            control = c;
        }
        if n == 0 {
            return Err(io_err(format!(
                "connection closed before CONNACK for {uid}"
            )));
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Whether the server keeps the connection open.
    pub keep_alive: bool,
}

/// Writes a `GET path` request into `out`.
pub fn http_get(out: &mut Vec<u8>, host: &str, path: &str) {
    out.clear();
    out.extend_from_slice(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n").as_bytes(),
    );
}

/// Writes a `POST path` request with a JSON body into `out`.
pub fn http_post(out: &mut Vec<u8>, host: &str, path: &str, body: &[u8]) {
    out.clear();
    out.extend_from_slice(
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
}

/// Parses one complete response at the front of `buf`: `Ok(Some((response, consumed)))`,
/// `Ok(None)` if incomplete. Needs `Content-Length` or chunked encoding.
pub fn parse_response(buf: &[u8]) -> Result<Option<(HttpResponse, usize)>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err("response header too large".into());
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "non-UTF-8 header")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut keep_alive = version != "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse::<usize>().map_err(|_| "bad content-length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    let body_start = head_end + 4;
    if chunked {
        let mut pos = body_start;
        let mut body = Vec::new();
        loop {
            let Some(eol) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            let size_str = std::str::from_utf8(&buf[pos..pos + eol]).map_err(|_| "bad chunk")?;
            let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_str:?}"))?;
            pos += eol + 2;
            if buf.len() < pos + size + 2 {
                return Ok(None);
            }
            body.extend_from_slice(&buf[pos..pos + size]);
            pos += size + 2;
            if size == 0 {
                return Ok(Some((
                    HttpResponse {
                        status,
                        body,
                        keep_alive,
                    },
                    pos,
                )));
            }
        }
    }
    let len = content_length.unwrap_or(0);
    if buf.len() < body_start + len {
        return Ok(None);
    }
    Ok(Some((
        HttpResponse {
            status,
            body: buf[body_start..body_start + len].to_vec(),
            keep_alive,
        },
        body_start + len,
    )))
}

/// A keep-alive HTTP/1.1 connection.
pub struct HttpConn {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    buf: BytesMut,
    out: Vec<u8>,
}

impl HttpConn {
    /// A client for `addr` (connects lazily).
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: addr.to_string(),
            stream: None,
            buf: BytesMut::with_capacity(8192),
            out: Vec::with_capacity(1024),
        }
    }

    /// Sends `POST path` with `body` and waits for the response (reconnecting once if the
    /// kept-alive connection was closed).
    pub async fn post(&mut self, path: &str, body: &[u8]) -> io::Result<HttpResponse> {
        self.request(path, Some(body)).await
    }

    /// Sends `GET path` and waits for the response (reconnecting once if the kept-alive
    /// connection was closed).
    pub async fn get(&mut self, path: &str) -> io::Result<HttpResponse> {
        self.request(path, None).await
    }

    /// `POST` with `body`, or `GET` without.
    async fn request(&mut self, path: &str, body: Option<&[u8]>) -> io::Result<HttpResponse> {
        for attempt in 0..2 {
            if self.stream.is_none() {
                self.stream = Some(connect(self.addr, None).await?);
                self.buf.clear();
            }
            let mut out = std::mem::take(&mut self.out);
            match body {
                Some(b) => http_post(&mut out, &self.host, path, b),
                None => http_get(&mut out, &self.host, path),
            }
            let stream = self.stream.as_mut().expect("connected");
            let (res, out) = stream.write_all(out).await;
            self.out = out;
            if let Err(e) = res {
                self.stream = None;
                if attempt == 0 {
                    continue;
                }
                return Err(e);
            }
            loop {
                match parse_response(&self.buf) {
                    Ok(Some((resp, used))) => {
                        let _ = self.buf.split_to(used);
                        if !resp.keep_alive {
                            self.stream = None;
                        }
                        return Ok(resp);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.stream = None;
                        return Err(io_err(e));
                    }
                }
                let stream = self.stream.as_mut().expect("connected");
                match read_more(stream, &mut self.buf).await {
                    Ok(0) | Err(_) if attempt == 0 && self.buf.is_empty() => {
                        self.stream = None;
                        break;
                    }
                    Ok(0) => {
                        self.stream = None;
                        return Err(io_err("connection closed mid-response".into()));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.stream = None;
                        return Err(e);
                    }
                }
            }
        }
        Err(io_err("HTTP connection closed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_content_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1";
        let (r, used) = parse_response(raw).unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
        assert!(r.keep_alive);
        assert_eq!(&raw[used..], b"HTTP/1.1");
        assert_eq!(parse_response(&raw[..20]).unwrap(), None);
        assert_eq!(parse_response(&raw[..70]).unwrap(), None);
    }

    #[test]
    fn http_chunked_and_close() {
        let raw = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let (r, used) = parse_response(raw).unwrap().unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, b"abcde");
        assert!(!r.keep_alive);
        assert_eq!(used, raw.len());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn post_request_shape() {
        let mut out = Vec::new();
        http_post(&mut out, "127.0.0.1:1", "/message/send", b"{}");
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("POST /message/send HTTP/1.1\r\n"));
        assert!(s.contains("Content-Length: 2\r\n"));
        assert!(s.ends_with("\r\n\r\n{}"));
    }

    #[test]
    fn get_request_shape() {
        let mut out = vec![1, 2, 3];
        http_get(&mut out, "127.0.0.1:1", "/varz");
        assert_eq!(
            out,
            b"GET /varz HTTP/1.1\r\nHost: 127.0.0.1:1\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn sources() {
        assert_eq!(source_addr(5, 1), None);
        assert_eq!(
            source_addr(5, 3),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)))
        );
    }

    #[test]
    fn notify_keeps_a_pending_wakeup() {
        let n = Notify::default();
        n.notify();
        block_on(|| async { n.wait().await });
    }
}
