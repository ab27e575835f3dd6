//! NATS JetStream (`jetstream://`) over the raw NATS text protocol (no client crate).
//!
//! * Stream: one per bench process, `JB_<tag>` over the subjects `<tag>.>` (the tag is random
//!   per process, so runs never share a stream or see each other's subjects), file storage,
//!   limits retention, `no_ack: false`. Every connection sends the idempotent
//!   `$JS.API.STREAM.CREATE.JB_<tag>` before it counts as connected: an identical config is a
//!   success, and a racing "stream name already in use" (err_code 10058) is tolerated.
//! * Senders: `PUB <tag>.u.<peer>` / `<tag>.g.<group>` with the reply inbox
//!   `_INBOX.<tag>.<idx>.<n>`; the PubAck (`{"stream":…,"seq":…}`) arriving there is the
//!   per-message ack. An `{"error":…}` reply, or a 503 no-responders status (no stream took the
//!   message), is a failed ack and an error. `n` checks that PubAcks come back in publish
//!   order.
//! * Receivers: one ephemeral push consumer per inbox subject (`$JS.API.CONSUMER.CREATE`,
//!   `filter_subject` = that subject, `deliver_policy` all, `ack_policy` explicit,
//!   `max_ack_pending` [`MAX_ACK_PENDING`]) delivering to `_DLV.<tag>.<idx>.<i>`, and every
//!   delivery is answered with `+ACK`. This is the durable path: deliveries are read back from
//!   the stream, whereas a core `SUB` on the stream subject would receive each message whether
//!   or not it was stored. Explicit acks with a bounded `max_ack_pending` also throttle the
//!   server towards a lagging receiver instead of cutting it off as a slow consumer (what core
//!   NATS does). (2.9 consumers have a single `filter_subject`, hence one consumer per inbox.)
//!
//! Durability: a PubAck means the message is in the stream's file store, i.e. written to the
//! OS; nats-server 2.9 fsyncs the store every `sync_interval` (2 minutes by default), not per
//! message. The server must run with JetStream on: `nats-server -js -sd <dir>`.

use super::{connect, destination, fanout, inboxes, spawn_sender, AckMode, Link};
use crate::engine::{ConnPlan, EngineHandle};
use crate::net;
use bytes::{Buf, BytesMut};
use monoio::io::{AsyncWriteRentExt, Splitable};
use monoio::net::tcp::TcpOwnedReadHalf;
use monoio::net::TcpStream;
use serde::Deserialize;
use std::io::Write as _;
use std::rc::Rc;
use std::sync::OnceLock;

/// Unacknowledged deliveries each push consumer may have outstanding.
pub const MAX_ACK_PENDING: u32 = 1024;

/// JetStream API error code of "stream name already in use".
const STREAM_NAME_IN_USE: u32 = 10058;

/// Random per-process tag naming the stream, its subjects and the inboxes.
fn tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("jb{:08x}", crate::engine::rand_u32()))
}

/// The stream of this process.
fn stream_name() -> String {
    format!("JB_{}", tag())
}

/// One server operation, borrowing from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `MSG` or `HMSG`.
    Msg {
        /// Subject it was delivered on.
        subject: &'a [u8],
        /// Subscription id.
        sid: u64,
        /// Reply subject, if any.
        reply: Option<&'a [u8]>,
        /// Status code of an `HMSG` header block (`NATS/1.0 503`), if any.
        status: Option<u16>,
        /// Payload (headers excluded).
        payload: &'a [u8],
    },
    /// `PING` (answer `PONG`).
    Ping,
    /// `PONG`.
    Pong,
    /// `-ERR` text.
    Err(String),
    /// `INFO`, `+OK` or anything else.
    Other,
}

/// Parses one operation at the front of `buf`: `Ok(Some((frame, consumed)))`, `Ok(None)` if
/// incomplete, `Err` on a malformed `MSG` / `HMSG` line.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, String> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = &buf[..eol];
    let after = eol + 2;
    let is = |op: &[u8]| line.len() > op.len() && line[..op.len()].eq_ignore_ascii_case(op);
    let headers = is(b"HMSG ");
    if headers || is(b"MSG ") {
        let bad = || format!("bad message line {:?}", String::from_utf8_lossy(line));
        let toks: Vec<&[u8]> = line
            .split(|&c| c == b' ' || c == b'\t')
            .filter(|t| !t.is_empty())
            .collect();
        let num = |t: &[u8]| -> Result<usize, String> {
            std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)
        };
        // MSG subject sid [reply] len | HMSG subject sid [reply] hdr_len total_len
        let fixed = if headers { 5 } else { 4 };
        if toks.len() != fixed && toks.len() != fixed + 1 {
            return Err(bad());
        }
        let reply = (toks.len() == fixed + 1).then(|| toks[3]);
        let total = num(toks[toks.len() - 1])?;
        let hdr_len = if headers {
            num(toks[toks.len() - 2])?
        } else {
            0
        };
        if hdr_len > total {
            return Err(bad());
        }
        let sid = num(toks[2])? as u64;
        if buf.len() < after + total + 2 {
            return Ok(None);
        }
        let body = &buf[after..after + total];
        let status = if headers {
            header_status(&body[..hdr_len])
        } else {
            None
        };
        return Ok(Some((
            Frame::Msg {
                subject: toks[1],
                sid,
                reply,
                status,
                payload: &body[hdr_len..],
            },
            after + total + 2,
        )));
    }
    let frame = if line.eq_ignore_ascii_case(b"PING") {
        Frame::Ping
    } else if line.eq_ignore_ascii_case(b"PONG") {
        Frame::Pong
    } else if line.starts_with(b"-ERR") {
        Frame::Err(String::from_utf8_lossy(line).into_owned())
    } else {
        Frame::Other
    };
    Ok(Some((frame, after)))
}

/// The status code of a header block starting `NATS/1.0 <code>[ description]`.
fn header_status(hdr: &[u8]) -> Option<u16> {
    let first = hdr.split(|&c| c == b'\r').next()?;
    let rest = first.strip_prefix(b"NATS/1.0")?;
    let code = rest.trim_ascii_start().get(..3)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// A JetStream API error.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP-like status (400, 503, …).
    #[serde(default)]
    pub code: u16,
    /// JetStream error code (e.g. 10058 "stream name already in use").
    #[serde(default)]
    pub err_code: u32,
    /// Text.
    #[serde(default)]
    pub description: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (code {}, err_code {})",
            self.description, self.code, self.err_code
        )
    }
}

#[derive(Deserialize)]
struct RawReply {
    error: Option<ApiError>,
    stream: Option<String>,
    seq: Option<u64>,
}

/// A successful PubAck.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubAck {
    /// Stream that stored the message.
    pub stream: String,
    /// Its sequence in the stream.
    pub seq: u64,
}

/// Parses a PubAck reply: `Ok(ack)`, or `Err` for an API error or anything that is not a
/// PubAck.
pub fn parse_pub_ack(json: &[u8]) -> Result<PubAck, String> {
    let r: RawReply = serde_json::from_slice(json)
        .map_err(|e| format!("bad PubAck {:?}: {e}", String::from_utf8_lossy(json)))?;
    if let Some(e) = r.error {
        return Err(format!("PubAck error: {e}"));
    }
    match (r.stream, r.seq) {
        (Some(stream), Some(seq)) => Ok(PubAck { stream, seq }),
        _ => Err(format!(
            "PubAck without stream/seq: {:?}",
            String::from_utf8_lossy(json)
        )),
    }
}

/// The error of a JetStream API response, if it carries one (`Err` if it is not JSON).
pub fn api_error(json: &[u8]) -> Result<Option<ApiError>, String> {
    let r: RawReply = serde_json::from_slice(json).map_err(|e| {
        format!(
            "bad JetStream API reply {:?}: {e}",
            String::from_utf8_lossy(json)
        )
    })?;
    Ok(r.error)
}

/// Sequence number `n` of a PubAck inbox subject `<inbox>.<n>`.
fn ack_number(subject: &[u8], inbox: &[u8]) -> Option<u64> {
    let n = subject.strip_prefix(inbox)?.strip_prefix(b".")?;
    std::str::from_utf8(n).ok()?.parse().ok()
}

/// `$JS.API.STREAM.CREATE` body.
fn stream_config(name: &str) -> String {
    serde_json::json!({
        "name": name,
        "subjects": [format!("{}.>", tag())],
        "retention": "limits",
        "storage": "file",
        "discard": "old",
        "num_replicas": 1,
        "no_ack": false,
    })
    .to_string()
}

/// `$JS.API.CONSUMER.CREATE` body of an ephemeral push consumer.
fn consumer_config(stream: &str, filter: &str, deliver: &str) -> String {
    serde_json::json!({
        "stream_name": stream,
        "config": {
            "deliver_subject": deliver,
            "filter_subject": filter,
            "deliver_policy": "all",
            "ack_policy": "explicit",
            "max_ack_pending": MAX_ACK_PENDING,
            "replay_policy": "instant",
        }
    })
    .to_string()
}

/// Appends `PUB subject reply len\r\npayload\r\n`.
fn publish(out: &mut Vec<u8>, subject: &str, reply: &str, payload: &[u8]) {
    let _ = write!(out, "PUB {subject} {reply} {}\r\n", payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Reads until a message on `subject` arrives (answering PINGs); returns its status and
/// payload.
async fn await_reply(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    subject: &str,
) -> Result<(Option<u16>, Vec<u8>), String> {
    loop {
        let mut reply = None;
        let mut pong = false;
        let mut pos = 0;
        while let Some((f, used)) = parse(&buf[pos..])? {
            pos += used;
            match f {
                Frame::Msg {
                    subject: subj,
                    status,
                    payload,
                    ..
                } if subj == subject.as_bytes() => {
                    reply = Some((status, payload.to_vec()));
                    break;
                }
                Frame::Ping => pong = true,
                Frame::Err(e) => return Err(format!("NATS: {e}")),
                _ => {}
            }
        }
        buf.advance(pos);
        if pong {
            let (res, _) = s.write_all(b"PONG\r\n".to_vec()).await;
            res.map_err(|e| format!("write: {e}"))?;
        }
        if let Some(r) = reply {
            return Ok(r);
        }
        if net::read_more(s, buf)
            .await
            .map_err(|e| format!("NATS read: {e}"))?
            == 0
        {
            return Err("NATS connection closed during setup".into());
        }
    }
}

/// Sends one JetStream API request and checks its reply (`tolerate`: an acceptable err_code).
async fn api_request(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    api: &str,
    reply: &str,
    body: &str,
    tolerate: Option<u32>,
) -> Result<(), String> {
    let mut out = Vec::with_capacity(body.len() + 128);
    publish(&mut out, api, reply, body.as_bytes());
    let (res, _) = s.write_all(out).await;
    res.map_err(|e| format!("write: {e}"))?;
    let (status, payload) = await_reply(s, buf, reply).await?;
    if status == Some(503) {
        return Err(format!(
            "{api}: no responders (is JetStream enabled? run nats-server -js)"
        ));
    }
    match api_error(&payload)? {
        Some(e) if Some(e.err_code) != tolerate => Err(format!("{api}: {e}")),
        _ => Ok(()),
    }
}

/// Connects, creates the stream (idempotently) and this connection's consumers.
async fn setup(
    h: &EngineHandle,
    plan: &ConnPlan,
    inbox: &str,
) -> Result<(TcpStream, BytesMut), String> {
    let mut s = connect(h, plan.idx).await?;
    let stream = stream_name();
    let prefix = format!("{}.", tag());
    let mut hello = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false,\"headers\":true,\"no_responders\":true,\"name\":\"jindou-bench\"}\r\n".to_vec();
    let _ = write!(hello, "SUB {inbox}.* 1\r\n");
    for i in 0..inboxes(plan, &prefix).len() {
        let _ = write!(hello, "SUB _DLV.{}.{}.{i} {}\r\n", tag(), plan.idx, i + 2);
    }
    let (res, _) = s.write_all(hello).await;
    res.map_err(|e| format!("NATS handshake: {e}"))?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    api_request(
        &mut s,
        &mut buf,
        &format!("$JS.API.STREAM.CREATE.{stream}"),
        &format!("{inbox}.s"),
        &stream_config(&stream),
        Some(STREAM_NAME_IN_USE),
    )
    .await?;
    for (i, subject) in inboxes(plan, &prefix).iter().enumerate() {
        let deliver = format!("_DLV.{}.{}.{i}", tag(), plan.idx);
        api_request(
            &mut s,
            &mut buf,
            &format!("$JS.API.CONSUMER.CREATE.{stream}"),
            &format!("{inbox}.c{i}"),
            &consumer_config(&stream, subject, &deliver),
            None,
        )
        .await?;
    }
    Ok((s, buf))
}

/// Runs one JetStream connection of `plan`.
pub(super) async fn run(h: Rc<EngineHandle>, plan: ConnPlan) -> Result<(), String> {
    let inbox = format!("_INBOX.{}.{}", tag(), plan.idx);
    let (s, buf) = match setup(&h, &plan, &inbox).await {
        Ok(v) => v,
        Err(e) => {
            h.connected(Err(e));
            return Ok(());
        }
    };
    h.connected(Ok(()));
    let (r, w) = s.into_split();
    let dest = destination(&plan, &format!("{}.", tag())).unwrap_or_default();
    let reply_prefix = inbox.clone();
    let mut n = 0u64;
    let link = spawn_sender(
        &h,
        &plan,
        w,
        move |buf, pt| {
            n += 1;
            let _ = write!(buf, "PUB {dest} {reply_prefix}.{n} {}\r\n", pt.len());
            buf.extend_from_slice(pt);
            buf.extend_from_slice(b"\r\n");
        },
        b"",
    );
    let res = reader(&h, &link, r, buf, &plan, &inbox).await;
    link.close();
    res
}

/// Reads PubAcks (sid 1) and consumer deliveries (sid ≥ 2) until the connection ends.
async fn reader(
    h: &EngineHandle,
    link: &Link,
    mut r: TcpOwnedReadHalf,
    mut buf: BytesMut,
    plan: &ConnPlan,
    inbox: &str,
) -> Result<(), String> {
    let (fan, idx) = (fanout(plan), plan.idx);
    let mut next_ack = 1u64;
    super::frame_loop(link, &mut r, &mut buf, "NATS", |input| {
        let Some((f, used)) = parse(input)? else {
            return Ok(None);
        };
        let mut wrote = false;
        match f {
            Frame::Msg {
                subject,
                sid: 1,
                status,
                payload,
                ..
            } => {
                let Some(n) = ack_number(subject, inbox.as_bytes()) else {
                    return Ok(Some((used, false))); // a late API reply
                };
                if n != next_ack {
                    h.error(format!("PubAck {n} arrived, expected {next_ack}"));
                }
                next_ack = n + 1;
                let ok = if status == Some(503) {
                    h.error("publish: no responders (no stream for the subject)".into());
                    false
                } else {
                    match parse_pub_ack(payload) {
                        Ok(_) => true,
                        Err(e) => {
                            h.error(e);
                            false
                        }
                    }
                };
                link.ack(h, idx, ok, fan, AckMode::PerMessage);
            }
            Frame::Msg {
                reply,
                status,
                payload,
                ..
            } => {
                if status.is_none() {
                    h.delivery(idx, payload, h.now());
                }
                if let Some(reply) = reply {
                    // +ACK a delivery; an empty reply answers a flow-control status.
                    let ack: &[u8] = if status.is_none() { b"+ACK" } else { b"" };
                    let mut out = link.out.borrow_mut();
                    out.extend_from_slice(b"PUB ");
                    out.extend_from_slice(reply);
                    let _ = write!(out, " {}\r\n", ack.len());
                    out.extend_from_slice(ack);
                    out.extend_from_slice(b"\r\n");
                    wrote = true;
                }
            }
            Frame::Ping => {
                link.out.borrow_mut().extend_from_slice(b"PONG\r\n");
                wrote = true;
            }
            Frame::Err(e) => h.error(format!("NATS: {e}")),
            Frame::Pong | Frame::Other => {}
        }
        Ok(Some((used, wrote)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut b: &[u8]) -> (Vec<Frame<'_>>, &[u8]) {
        let mut v = Vec::new();
        while let Some((f, used)) = parse(b).unwrap() {
            v.push(f);
            b = &b[used..];
        }
        (v, b)
    }

    #[test]
    fn frames() {
        let raw = b"INFO {}\r\nMSG _INBOX.t.0.7 1 26\r\n{\"stream\":\"JB_t\",\"seq\":42}\r\nMSG _DLV.t.0.1 3 $JS.ACK.JB_t.c.1.5.5.0.0 2\r\nhi\r\nPING\r\nHMSG _INBOX.t.0.8 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nHMSG d 2 r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nok\r\nMSG x 1 5\r\nab";
        let (v, rest) = all(raw);
        assert_eq!(v.len(), 6);
        assert_eq!(v[0], Frame::Other);
        assert_eq!(
            v[1],
            Frame::Msg {
                subject: b"_INBOX.t.0.7",
                sid: 1,
                reply: None,
                status: None,
                payload: b"{\"stream\":\"JB_t\",\"seq\":42}",
            }
        );
        assert_eq!(
            v[2],
            Frame::Msg {
                subject: b"_DLV.t.0.1",
                sid: 3,
                reply: Some(b"$JS.ACK.JB_t.c.1.5.5.0.0"),
                status: None,
                payload: b"hi",
            }
        );
        assert_eq!(v[3], Frame::Ping);
        assert!(matches!(
            v[4],
            Frame::Msg {
                status: Some(503),
                payload: b"",
                ..
            }
        ));
        assert!(matches!(
            v[5],
            Frame::Msg {
                status: None,
                reply: Some(b"r"),
                payload: b"ok",
                ..
            }
        ));
        assert_eq!(rest, b"MSG x 1 5\r\nab", "truncated message left");
        assert_eq!(parse(b"MSG x 1").unwrap(), None, "no line end yet");
    }

    #[test]
    fn malformed_lines() {
        assert!(parse(b"MSG x\r\n").is_err());
        assert!(parse(b"MSG x 1 r extra 5\r\n").is_err());
        assert!(parse(b"MSG x 1 -5\r\n").is_err());
        assert!(
            parse(b"HMSG x 1 9 3\r\n").is_err(),
            "headers longer than total"
        );
        assert!(matches!(
            parse(b"-ERR 'Slow Consumer'\r\n").unwrap(),
            Some((Frame::Err(_), 22))
        ));
    }

    #[test]
    fn pub_acks() {
        assert_eq!(
            parse_pub_ack(br#"{"stream":"JB_t","seq":7}"#).unwrap(),
            PubAck {
                stream: "JB_t".into(),
                seq: 7
            }
        );
        assert_eq!(
            parse_pub_ack(br#"{"stream":"JB_t","seq":8,"duplicate":true}"#)
                .unwrap()
                .seq,
            8
        );
        let e = parse_pub_ack(
            br#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"JB_t","seq":0}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("maximum messages exceeded") && e.contains("10077"),
            "{e}"
        );
        assert!(parse_pub_ack(b"{}").is_err());
        assert!(parse_pub_ack(b"not json").is_err());
        assert!(parse_pub_ack(b"").is_err());
    }

    #[test]
    fn api_replies() {
        let ok = br#"{"type":"io.nats.jetstream.api.v1.stream_create_response","config":{"name":"JB_t"},"created":"2024-01-01T00:00:00Z"}"#;
        assert_eq!(api_error(ok).unwrap(), None);
        let used = br#"{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":400,"err_code":10058,"description":"stream name already in use with a different configuration"}}"#;
        assert_eq!(
            api_error(used).unwrap().unwrap().err_code,
            STREAM_NAME_IN_USE
        );
        assert!(api_error(b"<html>").is_err());
    }

    #[test]
    fn statuses_and_numbers() {
        assert_eq!(header_status(b"NATS/1.0 503\r\n\r\n"), Some(503));
        assert_eq!(
            header_status(b"NATS/1.0 100 Idle Heartbeat\r\n\r\n"),
            Some(100)
        );
        assert_eq!(header_status(b"NATS/1.0\r\nA: b\r\n\r\n"), None);
        assert_eq!(header_status(b"HTTP/1.1 200\r\n"), None);
        assert_eq!(ack_number(b"_INBOX.t.3.12", b"_INBOX.t.3"), Some(12));
        assert_eq!(ack_number(b"_INBOX.t.3.s", b"_INBOX.t.3"), None);
        assert_eq!(ack_number(b"_INBOX.t.31.2", b"_INBOX.t.3"), None);
    }

    #[test]
    fn configs() {
        let s: serde_json::Value = serde_json::from_str(&stream_config("JB_x")).unwrap();
        assert_eq!(s["storage"], "file");
        assert_eq!(s["no_ack"], false);
        assert_eq!(s["subjects"][0], format!("{}.>", tag()));
        let c: serde_json::Value =
            serde_json::from_str(&consumer_config("JB_x", "t.u.a", "_DLV.t.0.0")).unwrap();
        assert_eq!(c["config"]["filter_subject"], "t.u.a");
        assert_eq!(c["config"]["ack_policy"], "explicit");
        assert!(c["config"].get("durable_name").is_none(), "ephemeral");
    }
}
