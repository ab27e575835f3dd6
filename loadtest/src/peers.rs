//! Peer adapters: the same `pairs` / `group` workload against other systems, each through a
//! small hand-written protocol client, with the engine's bookkeeping (windows, pacing,
//! latency, integrity).
//!
//! * NATS core (`nats://`): one connection per user, `SUB u.<uid>` (+ `g.<group>`), `PUB` to
//!   the peer's / group's subject. Core NATS has no per-message ack, so every write batch ends
//!   with `PING` and its `PONG` acknowledges the batch (the server has processed it: the
//!   client "flush" of the NATS libraries). The window bounds unflushed messages.
//! * Redis pub/sub (`redis://`): a subscriber connection (`SUBSCRIBE`) and a publisher
//!   connection (`PUBLISH`, its integer reply is the ack).
//! * Redis streams (`redis-stream://`): `XADD s.<inbox> * p <payload>` (the reply id is the
//!   ack; durable when the server runs `appendfsync always`), receivers loop on
//!   `XREAD BLOCK … STREAMS <own inbox> <groups…>`.
//! * NATS JetStream (`jetstream://`, [`jetstream`]): a file-stored stream, the PubAck is the
//!   per-message ack, receivers read through ephemeral push consumers with explicit acks.
//! * MQTT 3.1.1 QoS 1 (`mqtt://`, [`mqtt`]): PUBLISH / PUBACK, receivers PUBACK every
//!   delivery.

use crate::cli::Kind;
use crate::engine::{ConnPlan, EngineHandle, Pacer};
use crate::net::{self, Notify};
use bytes::{Buf, BytesMut};
use monoio::io::{AsyncWriteRentExt, Splitable};
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use monoio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

mod jetstream;
mod mqtt;

/// Runs one connection of `plan` against a peer system.
pub async fn peer_conn(h: EngineHandle, plan: ConnPlan, kind: Kind) {
    let h = Rc::new(h);
    let res = match kind {
        Kind::Nats => nats(h.clone(), plan).await,
        Kind::Redis => redis_pubsub(h.clone(), plan).await,
        Kind::RedisStream => redis_stream(h.clone(), plan).await,
        Kind::JetStream => jetstream::run(h.clone(), plan).await,
        Kind::Mqtt => mqtt::run(h.clone(), plan).await,
        Kind::Wk => Err("wkproto is not a peer".into()),
    };
    if let Err(e) = res {
        if !h.stopped() {
            h.error(e);
        }
    }
}

/// Reads frames until the connection ends. `step` parses and handles one frame at the start
/// of its input and says how many bytes it used and whether it queued a reply in `link.out`
/// (`None`: it needs more bytes).
async fn frame_loop(
    link: &Link,
    r: &mut TcpOwnedReadHalf,
    buf: &mut BytesMut,
    what: &str,
    mut step: impl FnMut(&[u8]) -> Result<Option<(usize, bool)>, String>,
) -> Result<(), String> {
    loop {
        let mut pos = 0;
        let mut wrote = false;
        while let Some((used, w)) = step(&buf[pos..])? {
            pos += used;
            wrote |= w;
        }
        bytes::Buf::advance(buf, pos);
        if wrote {
            link.notify.notify();
        }
        match net::read_more(r, buf).await {
            Ok(n) if n > 0 => {}
            _ => return Err(format!("{what} connection closed")),
        }
    }
}

/// How acknowledgements map to messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AckMode {
    /// One reply per message.
    PerMessage,
    /// One reply (PONG) per write batch.
    PerBatch,
}

/// Sender-side state shared by a writer and the reader that sees the acks.
#[derive(Default)]
struct Link {
    /// (send time, last message of its batch) of unacknowledged messages, oldest first.
    inflight: RefCell<VecDeque<(u64, bool)>>,
    /// Extra bytes to write (protocol replies such as NATS PONG).
    out: RefCell<Vec<u8>>,
    notify: Notify,
    closed: Cell<bool>,
}

impl Link {
    /// Acknowledges one message (PerMessage) or one batch (PerBatch).
    fn ack(&self, h: &EngineHandle, idx: u32, ok: bool, fanout: usize, mode: AckMode) {
        let now = h.now();
        let mut q = self.inflight.borrow_mut();
        while let Some((ts, last)) = q.pop_front() {
            h.ack(idx, ok, ts, now, fanout);
            if mode == AckMode::PerMessage || last {
                break;
            }
        }
        drop(q);
        self.notify.notify();
    }

    fn close(&self) {
        self.closed.set(true);
        self.notify.notify();
    }
}

async fn connect(h: &EngineHandle, idx: u32) -> Result<TcpStream, String> {
    let src = net::source_addr(idx as usize, h.args().sources);
    net::connect(h.addr(), src)
        .await
        .map_err(|e| format!("connect {}: {e}", h.addr()))
}

async fn write(w: &mut TcpOwnedWriteHalf, buf: Vec<u8>) -> Result<Vec<u8>, String> {
    let (res, buf) = w.write_all(buf).await;
    res.map_err(|e| format!("write: {e}"))?;
    Ok(buf)
}

/// The writer loop: sends paced/windowed messages framed by `frame`, plus `link.out`.
async fn send_loop(
    h: Rc<EngineHandle>,
    link: Rc<Link>,
    pacer: Pacer,
    mut w: TcpOwnedWriteHalf,
    mut frame: impl FnMut(&mut Vec<u8>, &[u8]),
    batch_trailer: &'static [u8],
    sends: bool,
) -> Result<(), String> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut pt = Vec::with_capacity(h.args().size);
    let interval = h.interval_ns();
    loop {
        if link.closed.get() || h.stopped() {
            return Ok(());
        }
        let now = h.now();
        let over = h.sending_over(now);
        buf.clear();
        buf.append(&mut link.out.borrow_mut());
        if sends && !over {
            let n = h.budget(&pacer, link.inflight.borrow().len(), now);
            for i in 0..n {
                let (_, ts) = h.next_message(&pacer, now, &mut pt);
                frame(&mut buf, &pt);
                link.inflight.borrow_mut().push_back((ts, i + 1 == n));
            }
            if n > 0 {
                buf.extend_from_slice(batch_trailer);
            }
        }
        if !buf.is_empty() {
            buf = write(&mut w, std::mem::take(&mut buf)).await?;
            continue;
        }
        let mut wait = Duration::from_millis(50);
        if interval > 0.0 && !over {
            let next = pacer.next_due(interval);
            wait = wait.min(Duration::from_nanos(next.saturating_sub(now).max(1)));
        }
        let _ = monoio::time::timeout(wait, link.notify.wait()).await;
    }
}

/// Spawns the sender of `plan` (if any) on `w`, returning its link.
fn spawn_sender(
    h: &Rc<EngineHandle>,
    plan: &ConnPlan,
    w: TcpOwnedWriteHalf,
    frame: impl FnMut(&mut Vec<u8>, &[u8]) + 'static,
    trailer: &'static [u8],
) -> Rc<Link> {
    let link = Rc::new(Link::default());
    let (h2, link2, idx, sends) = (h.clone(), link.clone(), plan.idx, plan.send.is_some());
    monoio::spawn(async move {
        let Some(t0) = h2.wait_start().await else {
            return;
        };
        let pacer = h2.pacer(idx, t0);
        if let Err(e) = send_loop(h2.clone(), link2.clone(), pacer, w, frame, trailer, sends).await
        {
            if !h2.stopped() {
                h2.error(e);
            }
        }
        link2.close();
    });
    link
}

fn fanout(plan: &ConnPlan) -> usize {
    plan.send.as_ref().map_or(0, |s| s.targets.len())
}

/// Subject / key a message for `plan`'s channel goes to.
fn destination(plan: &ConnPlan, prefix: &str) -> Option<String> {
    plan.send.as_ref().map(|s| {
        if s.channel_type == 2 {
            format!("{prefix}g.{}", s.channel_id)
        } else {
            format!("{prefix}u.{}", s.channel_id)
        }
    })
}

/// Subjects / keys `plan` receives on.
fn inboxes(plan: &ConnPlan, prefix: &str) -> Vec<String> {
    let mut v = vec![format!("{prefix}u.{}", plan.uid)];
    v.extend(plan.groups.iter().map(|g| format!("{prefix}g.{g}")));
    v
}

// ---------------------------------------------------------------- NATS

/// One parsed NATS server operation, borrowing its payload from the read buffer (the
/// subscriber copies nothing, as Jindou's reads a RECV in place).
#[derive(Debug, PartialEq, Eq)]
pub enum NatsOp<'a> {
    /// MSG with its payload.
    Msg(&'a [u8]),
    /// PING (answer PONG).
    Ping,
    /// PONG.
    Pong,
    /// -ERR text.
    Err(String),
    /// INFO / +OK / anything else.
    Other,
}

/// Parses one operation at the front of `buf`: `Ok(Some((op, consumed)))`, `Ok(None)` if
/// incomplete.
pub fn nats_parse(buf: &[u8]) -> Result<Option<(NatsOp<'_>, usize)>, String> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = &buf[..eol];
    let after = eol + 2;
    if line.starts_with(b"MSG ") || line.starts_with(b"msg ") {
        let text = std::str::from_utf8(line).map_err(|_| "bad MSG line")?;
        let len: usize = text
            .split_whitespace()
            .last()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("bad MSG line {text:?}"))?;
        if buf.len() < after + len + 2 {
            return Ok(None);
        }
        return Ok(Some((
            NatsOp::Msg(&buf[after..after + len]),
            after + len + 2,
        )));
    }
    let op = if line.eq_ignore_ascii_case(b"PING") {
        NatsOp::Ping
    } else if line.eq_ignore_ascii_case(b"PONG") {
        NatsOp::Pong
    } else if line.starts_with(b"-ERR") {
        NatsOp::Err(String::from_utf8_lossy(line).into_owned())
    } else {
        NatsOp::Other
    };
    Ok(Some((op, after)))
}

async fn nats(h: Rc<EngineHandle>, plan: ConnPlan) -> Result<(), String> {
    let mut s = match connect(&h, plan.idx).await {
        Ok(s) => s,
        Err(e) => {
            h.connected(Err(e.clone()));
            return Ok(());
        }
    };
    let mut hello = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false,\"name\":\"jindou-bench\"}\r\n".to_vec();
    for (i, subj) in inboxes(&plan, "").iter().enumerate() {
        hello.extend_from_slice(format!("SUB {subj} {}\r\n", i + 1).as_bytes());
    }
    hello.extend_from_slice(b"PING\r\n");
    let (res, _) = s.write_all(hello).await;
    if let Err(e) = res {
        h.connected(Err(format!("NATS handshake: {e}")));
        return Ok(());
    }
    // Wait for the PONG that confirms the subscriptions.
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        match nats_parse(&buf)? {
            Some((NatsOp::Pong, used)) => {
                let _ = buf.split_to(used);
                break;
            }
            Some((NatsOp::Err(e), _)) => {
                h.connected(Err(format!("NATS: {e}")));
                return Ok(());
            }
            Some((_, used)) => {
                let _ = buf.split_to(used);
                continue;
            }
            None => {}
        }
        if net::read_more(&mut s, &mut buf)
            .await
            .map_err(|e| e.to_string())?
            == 0
        {
            h.connected(Err("NATS closed during handshake".into()));
            return Ok(());
        }
    }
    h.connected(Ok(()));
    let (r, w) = s.into_split();
    let dest = destination(&plan, "").unwrap_or_default();
    let link = spawn_sender(
        &h,
        &plan,
        w,
        move |buf, pt| {
            buf.extend_from_slice(format!("PUB {dest} {}\r\n", pt.len()).as_bytes());
            buf.extend_from_slice(pt);
            buf.extend_from_slice(b"\r\n");
        },
        b"PING\r\n",
    );
    nats_reader(h, link, r, buf, &plan).await
}

async fn nats_reader(
    h: Rc<EngineHandle>,
    link: Rc<Link>,
    mut r: TcpOwnedReadHalf,
    mut buf: BytesMut,
    plan: &ConnPlan,
) -> Result<(), String> {
    let fan = fanout(plan);
    loop {
        let mut pos = 0;
        while let Some((op, used)) = nats_parse(&buf[pos..])? {
            pos += used;
            match op {
                NatsOp::Msg(p) => h.delivery(plan.idx, p, h.now()),
                NatsOp::Pong => link.ack(&h, plan.idx, true, fan, AckMode::PerBatch),
                NatsOp::Ping => {
                    link.out.borrow_mut().extend_from_slice(b"PONG\r\n");
                    link.notify.notify();
                }
                NatsOp::Err(e) => h.error(format!("NATS: {e}")),
                NatsOp::Other => {}
            }
        }
        buf.advance(pos);
        match net::read_more(&mut r, &mut buf).await {
            Ok(n) if n > 0 => {}
            _ => {
                link.close();
                return if h.stopped() {
                    Ok(())
                } else {
                    Err("NATS connection closed".into())
                };
            }
        }
    }
}

// ---------------------------------------------------------------- Redis

/// A RESP value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    /// +simple string
    Simple(Vec<u8>),
    /// -error
    Error(String),
    /// :integer
    Int(i64),
    /// $bulk (None = null)
    Bulk(Option<Vec<u8>>),
    /// *array (None = null)
    Array(Option<Vec<Resp>>),
}

/// Parses one RESP value at `buf[pos..]`: `Ok(Some((value, end)))` or `Ok(None)` if incomplete.
pub fn resp_parse(buf: &[u8], pos: usize) -> Result<Option<(Resp, usize)>, String> {
    let Some(rel) = buf
        .get(pos..)
        .and_then(|b| b.windows(2).position(|w| w == b"\r\n"))
    else {
        return Ok(None);
    };
    let line = &buf[pos + 1..pos + rel];
    let next = pos + rel + 2;
    let num = || -> Result<i64, String> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad RESP number {:?}", String::from_utf8_lossy(line)))
    };
    Ok(Some(match buf[pos] {
        b'+' => (Resp::Simple(line.to_vec()), next),
        b'-' => (
            Resp::Error(String::from_utf8_lossy(line).into_owned()),
            next,
        ),
        b':' => (Resp::Int(num()?), next),
        b'$' => {
            let n = num()?;
            if n < 0 {
                (Resp::Bulk(None), next)
            } else {
                let n = n as usize;
                if buf.len() < next + n + 2 {
                    return Ok(None);
                }
                (Resp::Bulk(Some(buf[next..next + n].to_vec())), next + n + 2)
            }
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                (Resp::Array(None), next)
            } else {
                let mut items = Vec::with_capacity(n as usize);
                let mut p = next;
                for _ in 0..n {
                    match resp_parse(buf, p)? {
                        Some((v, e)) => {
                            items.push(v);
                            p = e;
                        }
                        None => return Ok(None),
                    }
                }
                (Resp::Array(Some(items)), p)
            }
        }
        c => return Err(format!("bad RESP type byte {c:#x}")),
    }))
}

/// Appends a RESP command.
pub fn resp_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads RESP values from `r`, calling `f` for each until it returns false or the stream ends.
async fn resp_read_loop(
    r: &mut TcpOwnedReadHalf,
    buf: &mut BytesMut,
    mut f: impl FnMut(Resp) -> bool,
) -> Result<(), String> {
    loop {
        let mut pos = 0;
        while let Some((v, end)) = resp_parse(buf, pos)? {
            pos = end;
            if !f(v) {
                let _ = buf.split_to(pos);
                return Ok(());
            }
        }
        let _ = buf.split_to(pos);
        match net::read_more(r, buf).await {
            Ok(n) if n > 0 => {}
            _ => return Err("Redis connection closed".into()),
        }
    }
}

/// The prefix of every pub/sub message push: a 3-element array whose first bulk is "message".
const PUBSUB_MESSAGE: &[u8] = b"*3\r\n$7\r\nmessage\r\n$";

/// A pub/sub message push (`*3 $7 message $n <channel> $m <payload>`) at `buf[pos..]`, read in
/// place, as Jindou's subscriber reads a RECV: `Some(Some((payload, end)))`, `Some(None)` if it
/// is one but incomplete, `None` if the value there is something else or malformed (then
/// [`resp_parse`] reads it, or reports the error: a bad length never waits for more bytes).
pub fn resp_pubsub_message(buf: &[u8], pos: usize) -> Option<Option<(&[u8], usize)>> {
    let rest = buf.get(pos..)?;
    if rest.len() < PUBSUB_MESSAGE.len() {
        return PUBSUB_MESSAGE.starts_with(rest).then_some(None);
    }
    if !rest.starts_with(PUBSUB_MESSAGE) {
        return None;
    }
    // The channel's bulk string, then the payload's (`$` already matched for the channel).
    let after_channel = match resp_bulk(rest, PUBSUB_MESSAGE.len())? {
        Some((_, end)) => end,
        None => return Some(None),
    };
    match rest.get(after_channel) {
        None => return Some(None),
        Some(b'$') => {}
        Some(_) => return None,
    }
    Some(resp_bulk(rest, after_channel + 1)?.map(|(payload, end)| (&rest[payload], pos + end)))
}

/// The bulk string whose length starts at `buf[at..]` (after its `$`): `Some(Some((bytes'
/// range, end)))`, `Some(None)` if incomplete, `None` if the length is not a number.
fn resp_bulk(buf: &[u8], at: usize) -> Option<Option<(std::ops::Range<usize>, usize)>> {
    let Some(eol) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
        // Only digits so far (perhaps the `\r` of the line's end): more may come.
        let digits = buf[at..].strip_suffix(b"\r").unwrap_or(&buf[at..]);
        return digits.iter().all(u8::is_ascii_digit).then_some(None);
    };
    let len: usize = std::str::from_utf8(&buf[at..at + eol]).ok()?.parse().ok()?;
    let start = at + eol + 2;
    Some((buf.len() >= start + len + 2).then_some((start..start + len, start + len + 2)))
}

/// A subscriber's read loop: each pub/sub message's payload to `on_message`, in place; any
/// other value (subscription confirmations) parsed and skipped.
async fn pubsub_read_loop(
    r: &mut TcpOwnedReadHalf,
    buf: &mut BytesMut,
    mut on_message: impl FnMut(&[u8]),
) -> Result<(), String> {
    loop {
        let mut pos = 0;
        loop {
            match resp_pubsub_message(buf, pos) {
                Some(Some((payload, end))) => {
                    on_message(payload);
                    pos = end;
                }
                Some(None) => break,
                None => match resp_parse(buf, pos)? {
                    Some((_, end)) => pos = end,
                    None => break,
                },
            }
        }
        buf.advance(pos);
        match net::read_more(r, buf).await {
            Ok(n) if n > 0 => {}
            _ => return Err("Redis connection closed".into()),
        }
    }
}

/// Starts the publishing half (a separate connection) of a Redis sender.
async fn redis_publisher(
    h: &Rc<EngineHandle>,
    plan: &ConnPlan,
    stream: bool,
) -> Result<Option<(TcpOwnedReadHalf, Rc<Link>)>, String> {
    if plan.send.is_none() {
        return Ok(None);
    }
    let s = connect(h, plan.idx).await?;
    let (r, w) = s.into_split();
    let dest = destination(plan, if stream { "s." } else { "" }).unwrap_or_default();
    let link = spawn_sender(
        h,
        plan,
        w,
        move |buf, pt| {
            if stream {
                resp_command(buf, &[b"XADD", dest.as_bytes(), b"*", b"p", pt]);
            } else {
                resp_command(buf, &[b"PUBLISH", dest.as_bytes(), pt]);
            }
        },
        b"",
    );
    Ok(Some((r, link)))
}

/// Reads the publisher's replies: each acknowledges one message.
fn spawn_ack_reader(
    h: &Rc<EngineHandle>,
    plan: &ConnPlan,
    mut r: TcpOwnedReadHalf,
    link: Rc<Link>,
) {
    let (h, idx, fan) = (h.clone(), plan.idx, fanout(plan));
    monoio::spawn(async move {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let res = resp_read_loop(&mut r, &mut buf, |v| {
            let ok = !matches!(v, Resp::Error(_));
            if let Resp::Error(e) = &v {
                h.error(format!("Redis: {e}"));
            }
            link.ack(&h, idx, ok, fan, AckMode::PerMessage);
            true
        })
        .await;
        link.close();
        if let Err(e) = res {
            if !h.stopped() {
                h.error(e);
            }
        }
    });
}

async fn redis_pubsub(h: Rc<EngineHandle>, plan: ConnPlan) -> Result<(), String> {
    let setup = async {
        let s = connect(&h, plan.idx).await?;
        let (mut r, mut w) = s.into_split();
        let chans = inboxes(&plan, "");
        let mut cmd = Vec::new();
        let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
        args.extend(chans.iter().map(|c| c.as_bytes()));
        resp_command(&mut cmd, &args);
        write(&mut w, cmd).await?;
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut confirmed = 0;
        resp_read_loop(&mut r, &mut buf, |_| {
            confirmed += 1;
            confirmed < chans.len()
        })
        .await?;
        Ok::<_, String>((r, w, buf))
    };
    let (mut r, _w, mut buf) = match setup.await {
        Ok(v) => v,
        Err(e) => {
            h.connected(Err(e));
            return Ok(());
        }
    };
    let publisher = match redis_publisher(&h, &plan, false).await {
        Ok(p) => p,
        Err(e) => {
            h.connected(Err(e));
            return Ok(());
        }
    };
    h.connected(Ok(()));
    if let Some((pr, link)) = publisher {
        spawn_ack_reader(&h, &plan, pr, link);
    }
    let idx = plan.idx;
    let res = pubsub_read_loop(&mut r, &mut buf, |p| h.delivery(idx, p, h.now())).await;
    if h.stopped() {
        Ok(())
    } else {
        res
    }
}

/// `(stream key, last entry id, payloads)` of one stream in an XREAD reply.
pub type StreamBatch = (Vec<u8>, Vec<u8>, Vec<Vec<u8>>);

/// Extracts the per-stream batches of an XREAD reply.
pub fn xread_entries(v: Resp) -> Vec<StreamBatch> {
    let mut out = Vec::new();
    let Resp::Array(Some(streams)) = v else {
        return out;
    };
    for s in streams {
        let Resp::Array(Some(mut kv)) = s else {
            continue;
        };
        if kv.len() != 2 {
            continue;
        }
        let entries = kv.pop();
        let Some(Resp::Bulk(Some(key))) = kv.pop() else {
            continue;
        };
        let Some(Resp::Array(Some(entries))) = entries else {
            continue;
        };
        let mut last = Vec::new();
        let mut payloads = Vec::new();
        for e in entries {
            let Resp::Array(Some(mut e)) = e else {
                continue;
            };
            if e.len() != 2 {
                continue;
            }
            let fields = e.pop();
            if let Some(Resp::Bulk(Some(id))) = e.pop() {
                last = id;
            }
            if let Some(Resp::Array(Some(fields))) = fields {
                // field/value pairs: p <payload>
                if let Some(Resp::Bulk(Some(p))) = fields.into_iter().nth(1) {
                    payloads.push(p);
                }
            }
        }
        out.push((key, last, payloads));
    }
    out
}

async fn redis_stream(h: Rc<EngineHandle>, plan: ConnPlan) -> Result<(), String> {
    let s = match connect(&h, plan.idx).await {
        Ok(s) => s,
        Err(e) => {
            h.connected(Err(e));
            return Ok(());
        }
    };
    let publisher = match redis_publisher(&h, &plan, true).await {
        Ok(p) => p,
        Err(e) => {
            h.connected(Err(e));
            return Ok(());
        }
    };
    h.connected(Ok(()));
    if let Some((pr, link)) = publisher {
        spawn_ack_reader(&h, &plan, pr, link);
    }
    // Receiver: XREAD loop from the beginning of this run's (fresh) keys.
    let (mut r, mut w) = s.into_split();
    let keys = inboxes(&plan, "s.");
    let mut last: Vec<Vec<u8>> = vec![b"0-0".to_vec(); keys.len()];
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut cmd = Vec::new();
    let idx = plan.idx;
    while !h.stopped() {
        cmd.clear();
        let mut args: Vec<&[u8]> = vec![b"XREAD", b"COUNT", b"4096", b"BLOCK", b"100", b"STREAMS"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        args.extend(last.iter().map(|l| l.as_slice()));
        resp_command(&mut cmd, &args);
        cmd = write(&mut w, std::mem::take(&mut cmd)).await?;
        let mut reply = None;
        resp_read_loop(&mut r, &mut buf, |v| {
            reply = Some(v);
            false
        })
        .await?;
        let now = h.now();
        for (key, id, payloads) in xread_entries(reply.unwrap_or(Resp::Array(None))) {
            if let Some(i) = keys.iter().position(|k| k.as_bytes() == key.as_slice()) {
                if !id.is_empty() {
                    last[i] = id;
                }
            }
            for p in payloads {
                h.delivery(idx, &p, now);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_ops() {
        let b = b"INFO {}\r\nMSG u.x 1 5\r\nhello\r\nPING\r\nPONG\r\n-ERR 'x'\r\nMSG a 1 3\r\nab";
        let mut pos = 0;
        let mut ops = Vec::new();
        while let Some((op, used)) = nats_parse(&b[pos..]).unwrap() {
            pos += used;
            ops.push(op);
        }
        assert_eq!(
            ops,
            vec![
                NatsOp::Other,
                NatsOp::Msg(b"hello"),
                NatsOp::Ping,
                NatsOp::Pong,
                NatsOp::Err("-ERR 'x'".into()),
            ]
        );
        assert_eq!(&b[pos..], b"MSG a 1 3\r\nab", "incomplete MSG left");
        // reply-to form
        let (op, _) = nats_parse(b"MSG s 1 r 2\r\nok\r\n").unwrap().unwrap();
        assert_eq!(op, NatsOp::Msg(b"ok"));
    }

    #[test]
    fn pubsub_messages_are_read_in_place() {
        let push = b"*3\r\n$7\r\nmessage\r\n$4\r\nch.1\r\n$5\r\nhello\r\n";
        let mut two = push.to_vec();
        two.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$0\r\n\r\n");
        assert_eq!(
            resp_pubsub_message(&two, 0),
            Some(Some((&b"hello"[..], push.len())))
        );
        assert_eq!(
            resp_pubsub_message(&two, push.len()),
            Some(Some((&b""[..], two.len())))
        );
        // Every strict prefix is incomplete, not something else.
        for cut in 0..push.len() {
            assert_eq!(
                resp_pubsub_message(&push[..cut], 0),
                Some(None),
                "cut {cut}"
            );
        }
        // A bad length is not "incomplete" (it would wait for bytes forever): resp_parse
        // reports it.
        let bad = b"*3\r\n$7\r\nmessage\r\n$x\r\nch\r\n$2\r\nhi\r\n";
        assert_eq!(resp_pubsub_message(bad, 0), None);
        assert!(resp_parse(bad, 0).is_err());
        // A subscription confirmation is another value.
        let confirm = b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
        assert_eq!(resp_pubsub_message(confirm, 0), None);
        assert!(resp_parse(confirm, 0).unwrap().is_some());
    }

    #[test]
    fn resp_roundtrip() {
        let mut cmd = Vec::new();
        resp_command(&mut cmd, &[b"PUBLISH", b"ch", b"hi"]);
        assert_eq!(cmd, b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$2\r\nhi\r\n");
        let (v, end) = resp_parse(&cmd, 0).unwrap().unwrap();
        assert_eq!(end, cmd.len());
        assert_eq!(
            v,
            Resp::Array(Some(vec![
                Resp::Bulk(Some(b"PUBLISH".to_vec())),
                Resp::Bulk(Some(b"ch".to_vec())),
                Resp::Bulk(Some(b"hi".to_vec())),
            ]))
        );
        assert_eq!(resp_parse(&cmd[..cmd.len() - 3], 0).unwrap(), None);
        assert_eq!(resp_parse(b":12\r\n", 0).unwrap().unwrap().0, Resp::Int(12));
        assert_eq!(
            resp_parse(b"$-1\r\n", 0).unwrap().unwrap().0,
            Resp::Bulk(None)
        );
        assert_eq!(
            resp_parse(b"-ERR x\r\n", 0).unwrap().unwrap().0,
            Resp::Error("ERR x".into())
        );
        assert!(resp_parse(b"?\r\n", 0).is_err());
    }

    #[test]
    fn xread_reply() {
        let raw = b"*1\r\n*2\r\n$3\r\ns.k\r\n*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\np\r\n$2\r\naa\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\np\r\n$2\r\nbb\r\n";
        let (v, end) = resp_parse(raw, 0).unwrap().unwrap();
        assert_eq!(end, raw.len());
        let e = xread_entries(v);
        assert_eq!(
            e,
            vec![(
                b"s.k".to_vec(),
                b"2-0".to_vec(),
                vec![b"aa".to_vec(), b"bb".to_vec()]
            )]
        );
        assert!(xread_entries(Resp::Array(None)).is_empty());
    }

    #[test]
    fn subjects() {
        let plan = crate::scenario::group("t", 1, 3, 1).conns[0].clone();
        assert_eq!(destination(&plan, ""), Some("g.t-g0".into()));
        assert_eq!(inboxes(&plan, "s."), vec!["s.u.t-g0m0", "s.g.t-g0"]);
        let p = crate::scenario::pairs("t", 1).conns[1].clone();
        assert_eq!(destination(&p, ""), Some("u.t-p0a".into()));
    }
}
