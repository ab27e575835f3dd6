//! MQTT 3.1.1 at QoS 1 (`mqtt://`, e.g. mosquitto), with a small hand-written codec.
//!
//! * One connection per user: `CONNECT` (clean session, client id = the uid, keep-alive off),
//!   `SUBSCRIBE` QoS 1 to `u/<uid>` (+ `g/<group>`); the `CONNACK` and a `SUBACK` granting
//!   QoS 1 to every topic make the connection established.
//! * Senders `PUBLISH` QoS 1 to `u/<peer>` / `g/<group>` with packet ids 1, 2, … (wrapping
//!   after 65535, so `--window` must stay below that); the broker's `PUBACK` is the
//!   per-message ack and must come back in publish order (the id is checked).
//! * Receivers answer every incoming QoS 1 `PUBLISH` with `PUBACK`.
//!
//! Durability: a mosquitto `PUBACK` means the broker accepted the message in memory
//! (`persistence` only snapshots periodically). mosquitto delivers at most
//! `max_inflight_messages` (default 20) unacknowledged QoS 1 messages per subscriber and
//! queues `max_queued_messages` (default 1000) more, then *drops* further QoS 1 messages for
//! that client; for a fan-out benchmark both must be raised (e.g. `max_inflight_messages
//! 1000`, `max_queued_messages 10000000`), or drops show up as lost messages. A healthy run
//! has no duplicates: QoS 1 redelivers (DUP) only after a reconnect.

use super::{connect, destination, fanout, inboxes, spawn_sender, AckMode, Link};
use crate::engine::{ConnPlan, EngineHandle};
use crate::net;
use bytes::{Buf, BytesMut};
use monoio::io::{AsyncWriteRentExt, Splitable};
use monoio::net::tcp::TcpOwnedReadHalf;
use monoio::net::TcpStream;
use std::rc::Rc;

/// Largest remaining length a 4-byte varint can carry.
pub const MAX_REMAINING: usize = 268_435_455;

/// Packet type CONNECT.
const CONNECT: u8 = 1;
/// Packet type CONNACK.
const CONNACK: u8 = 2;
/// Packet type PUBLISH.
const PUBLISH: u8 = 3;
/// Packet type PUBACK.
const PUBACK: u8 = 4;
/// Packet type SUBSCRIBE.
const SUBSCRIBE: u8 = 8;
/// Packet type SUBACK.
const SUBACK: u8 = 9;
/// Packet type PINGRESP.
const PINGRESP: u8 = 13;

/// Appends the remaining-length varint of `n` (7 bits per byte, little end first).
pub fn put_remaining_length(out: &mut Vec<u8>, mut n: usize) -> Result<(), String> {
    if n > MAX_REMAINING {
        return Err(format!("MQTT packet of {n} bytes is too large"));
    }
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return Ok(());
        }
    }
}

/// Decodes a remaining-length varint at the front of `buf`: `Ok(Some((value, bytes used)))`,
/// `Ok(None)` if incomplete, `Err` if it runs past 4 bytes.
pub fn get_remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let mut v = 0usize;
    for (i, &b) in buf.iter().enumerate().take(4) {
        v |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((v, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err("MQTT remaining length longer than 4 bytes".into())
    } else {
        Ok(None)
    }
}

/// One packet from the broker, borrowing from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// CONNACK.
    ConnAck {
        /// Session present flag.
        session_present: bool,
        /// Return code (0 = accepted).
        code: u8,
    },
    /// PUBLISH.
    Publish {
        /// QoS 0, 1 or 2.
        qos: u8,
        /// Redelivery flag.
        dup: bool,
        /// Topic name.
        topic: &'a [u8],
        /// Packet id (QoS > 0).
        id: Option<u16>,
        /// Application payload.
        payload: &'a [u8],
    },
    /// PUBACK with its packet id.
    PubAck(u16),
    /// SUBACK.
    SubAck {
        /// Packet id of the SUBSCRIBE.
        id: u16,
        /// Return code per topic (granted QoS, or 0x80 = failure).
        codes: &'a [u8],
    },
    /// PINGRESP.
    PingResp,
    /// Any other packet type.
    Other(u8),
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Parses one packet at the front of `buf`: `Ok(Some((packet, consumed)))`, `Ok(None)` if
/// incomplete, `Err` if malformed.
pub fn parse(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, String> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let Some((len, n)) = get_remaining_length(&buf[1..])? else {
        return Ok(None);
    };
    let end = 1 + n + len;
    if buf.len() < end {
        return Ok(None);
    }
    let body = &buf[1 + n..end];
    let kind = first >> 4;
    let bad = |what: &str| format!("malformed MQTT {what} ({len} bytes)");
    let p = match kind {
        CONNACK => match body {
            [flags, code] => Packet::ConnAck {
                session_present: flags & 1 == 1,
                code: *code,
            },
            _ => return Err(bad("CONNACK")),
        },
        PUBLISH => {
            let qos = (first >> 1) & 3;
            if qos == 3 {
                return Err(bad("PUBLISH (QoS 3)"));
            }
            let tlen = usize::from(u16_at(body, 0).ok_or_else(|| bad("PUBLISH"))?);
            let topic = body.get(2..2 + tlen).ok_or_else(|| bad("PUBLISH"))?;
            let mut at = 2 + tlen;
            let id = if qos > 0 {
                let id = u16_at(body, at).ok_or_else(|| bad("PUBLISH"))?;
                if id == 0 {
                    return Err(bad("PUBLISH (packet id 0)"));
                }
                at += 2;
                Some(id)
            } else {
                None
            };
            Packet::Publish {
                qos,
                dup: first & 0x08 != 0,
                topic,
                id,
                payload: &body[at..],
            }
        }
        PUBACK => match body {
            [a, b] => Packet::PubAck(u16::from_be_bytes([*a, *b])),
            _ => return Err(bad("PUBACK")),
        },
        SUBACK => {
            if body.len() < 3 {
                return Err(bad("SUBACK"));
            }
            Packet::SubAck {
                id: u16::from_be_bytes([body[0], body[1]]),
                codes: &body[2..],
            }
        }
        PINGRESP => Packet::PingResp,
        k => Packet::Other(k),
    };
    Ok(Some((p, end)))
}

/// Appends a length-prefixed UTF-8 string.
fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// Appends a clean-session MQTT 3.1.1 CONNECT.
pub fn put_connect(out: &mut Vec<u8>, client_id: &str, keep_alive: u16) -> Result<(), String> {
    let id = client_id.as_bytes();
    if id.len() > usize::from(u16::MAX) {
        return Err("MQTT client id too long".into());
    }
    out.push(CONNECT << 4);
    put_remaining_length(out, 10 + 2 + id.len())?;
    put_str(out, b"MQTT");
    out.push(4); // protocol level 3.1.1
    out.push(0x02); // clean session
    out.extend_from_slice(&keep_alive.to_be_bytes());
    put_str(out, id);
    Ok(())
}

/// Appends a SUBSCRIBE of `topics` at `qos`.
pub fn put_subscribe(out: &mut Vec<u8>, id: u16, topics: &[String], qos: u8) -> Result<(), String> {
    if topics.iter().any(|t| t.len() > usize::from(u16::MAX)) {
        return Err("MQTT topic too long".into());
    }
    out.push(SUBSCRIBE << 4 | 0x02);
    put_remaining_length(out, 2 + topics.iter().map(|t| 3 + t.len()).sum::<usize>())?;
    out.extend_from_slice(&id.to_be_bytes());
    for t in topics {
        put_str(out, t.as_bytes());
        out.push(qos);
    }
    Ok(())
}

/// Appends a QoS 1 PUBLISH.
pub fn put_publish_qos1(
    out: &mut Vec<u8>,
    topic: &[u8],
    id: u16,
    payload: &[u8],
) -> Result<(), String> {
    if topic.len() > usize::from(u16::MAX) {
        return Err("MQTT topic too long".into());
    }
    out.push(PUBLISH << 4 | 0x02);
    put_remaining_length(out, 2 + topic.len() + 2 + payload.len())?;
    put_str(out, topic);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends a PUBACK.
pub fn put_puback(out: &mut Vec<u8>, id: u16) {
    out.push(PUBACK << 4);
    out.push(2);
    out.extend_from_slice(&id.to_be_bytes());
}

/// Packet id of the `n`-th (from 1) QoS 1 publish: 1..=65535, wrapping.
pub fn packet_id(n: u64) -> u16 {
    (n.saturating_sub(1) % 65_535 + 1) as u16
}

/// MQTT topic of a `u.<id>` / `g.<id>` subject (`/` separates levels).
fn topic(subject: &str) -> String {
    subject.replacen('.', "/", 1)
}

/// Connects, then CONNECT and SUBSCRIBE until CONNACK and SUBACK confirm them.
async fn setup(h: &EngineHandle, plan: &ConnPlan) -> Result<(TcpStream, BytesMut), String> {
    if h.args().window > 65_535 {
        return Err("mqtt:// needs --window ≤ 65535 (16-bit packet ids)".into());
    }
    let mut s = connect(h, plan.idx).await?;
    let topics: Vec<String> = inboxes(plan, "").iter().map(|s| topic(s)).collect();
    let mut hello = Vec::with_capacity(256);
    put_connect(&mut hello, &plan.uid, 0)?;
    put_subscribe(&mut hello, 1, &topics, 1)?;
    let (res, _) = s.write_all(hello).await;
    res.map_err(|e| format!("MQTT handshake: {e}"))?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let (mut connack, mut suback) = (false, false);
    while !(connack && suback) {
        let mut pos = 0;
        while let Some((p, used)) = parse(&buf[pos..])? {
            pos += used;
            match p {
                Packet::ConnAck { code: 0, .. } => connack = true,
                Packet::ConnAck { code, .. } => {
                    return Err(format!("MQTT CONNACK refused (return code {code})"))
                }
                Packet::SubAck { id: 1, codes } => {
                    if codes.len() != topics.len() || codes.iter().any(|&c| c != 1) {
                        return Err(format!(
                            "MQTT SUBACK {codes:?}: QoS 1 not granted for {topics:?}"
                        ));
                    }
                    suback = true;
                }
                _ => {}
            }
        }
        buf.advance(pos);
        if connack && suback {
            break;
        }
        if net::read_more(&mut s, &mut buf)
            .await
            .map_err(|e| format!("MQTT read: {e}"))?
            == 0
        {
            return Err("MQTT broker closed the connection during the handshake".into());
        }
    }
    Ok((s, buf))
}

/// Runs one MQTT connection of `plan`.
pub(super) async fn run(h: Rc<EngineHandle>, plan: ConnPlan) -> Result<(), String> {
    let (s, buf) = match setup(&h, &plan).await {
        Ok(v) => v,
        Err(e) => {
            h.connected(Err(e));
            return Ok(());
        }
    };
    h.connected(Ok(()));
    let (r, w) = s.into_split();
    let dest = topic(&destination(&plan, "").unwrap_or_default()).into_bytes();
    let mut n = 0u64;
    let link = spawn_sender(
        &h,
        &plan,
        w,
        move |buf, pt| {
            n += 1;
            // Cannot fail: the topic was short enough to subscribe and payloads are small.
            let _ = put_publish_qos1(buf, &dest, packet_id(n), pt);
        },
        b"",
    );
    let res = reader(&h, &link, r, buf, &plan).await;
    link.close();
    res
}

/// Reads PUBACKs of this connection's publishes and incoming PUBLISHes (answered with PUBACK).
async fn reader(
    h: &EngineHandle,
    link: &Link,
    mut r: TcpOwnedReadHalf,
    mut buf: BytesMut,
    plan: &ConnPlan,
) -> Result<(), String> {
    let (fan, idx) = (fanout(plan), plan.idx);
    let mut acks = 0u64;
    super::frame_loop(link, &mut r, &mut buf, "MQTT", |input| {
        let Some((p, used)) = parse(input)? else {
            return Ok(None);
        };
        let mut wrote = false;
        match p {
            Packet::Publish {
                qos, id, payload, ..
            } => {
                h.delivery(idx, payload, h.now());
                match (qos, id) {
                    (1, Some(id)) => {
                        put_puback(&mut link.out.borrow_mut(), id);
                        wrote = true;
                    }
                    (0, _) => {}
                    _ => h.error(format!("MQTT QoS {qos} delivery is not handled")),
                }
            }
            Packet::PubAck(id) => {
                acks += 1;
                if id != packet_id(acks) {
                    h.error(format!(
                        "MQTT PUBACK {id} arrived, expected {}",
                        packet_id(acks)
                    ));
                }
                link.ack(h, idx, true, fan, AckMode::PerMessage);
            }
            Packet::ConnAck { .. }
            | Packet::SubAck { .. }
            | Packet::PingResp
            | Packet::Other(_) => {}
        }
        Ok(Some((used, wrote)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rl(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        put_remaining_length(&mut v, n).unwrap();
        v
    }

    #[test]
    fn remaining_length_boundaries() {
        for (n, enc) in [
            (0, vec![0x00]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xff, 0x7f]),
            (16_384, vec![0x80, 0x80, 0x01]),
            (2_097_151, vec![0xff, 0xff, 0x7f]),
            (2_097_152, vec![0x80, 0x80, 0x80, 0x01]),
            (MAX_REMAINING, vec![0xff, 0xff, 0xff, 0x7f]),
        ] {
            assert_eq!(rl(n), enc, "encode {n}");
            assert_eq!(
                get_remaining_length(&enc).unwrap(),
                Some((n, enc.len())),
                "decode {n}"
            );
            // Every proper prefix is incomplete, not an error.
            for cut in 0..enc.len() {
                assert_eq!(get_remaining_length(&enc[..cut]).unwrap(), None);
            }
        }
        assert!(put_remaining_length(&mut Vec::new(), MAX_REMAINING + 1).is_err());
        assert!(get_remaining_length(&[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(get_remaining_length(&[0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        // Trailing bytes are not part of the varint.
        assert_eq!(get_remaining_length(&[0x05, 0xff]).unwrap(), Some((5, 1)));
    }

    #[test]
    fn publish_roundtrip_and_truncation() {
        let mut b = Vec::new();
        put_publish_qos1(&mut b, b"u/x", 7, b"hello").unwrap();
        assert_eq!(b, b"\x32\x0c\x00\x03u/x\x00\x07hello");
        let (p, used) = parse(&b).unwrap().unwrap();
        assert_eq!(used, b.len());
        assert_eq!(
            p,
            Packet::Publish {
                qos: 1,
                dup: false,
                topic: b"u/x",
                id: Some(7),
                payload: b"hello",
            }
        );
        for cut in 0..b.len() {
            assert_eq!(parse(&b[..cut]).unwrap(), None, "cut at {cut}");
        }
        // A long payload needs a 2-byte remaining length.
        let mut big = Vec::new();
        put_publish_qos1(&mut big, b"g/t", 65_535, &[b'x'; 300]).unwrap();
        assert_eq!(&big[1..3], &[0xb3, 0x02]); // 2 + 3 + 2 + 300 = 307
        assert!(matches!(
            parse(&big).unwrap(),
            Some((Packet::Publish { id: Some(65_535), payload, .. }, 310)) if payload.len() == 300
        ));
        // QoS 0 with DUP/retain bits: no packet id.
        let q0 = b"\x39\x05\x00\x01tab";
        assert!(matches!(
            parse(q0).unwrap(),
            Some((
                Packet::Publish {
                    qos: 0,
                    dup: true,
                    id: None,
                    payload: b"ab",
                    ..
                },
                7
            ))
        ));
    }

    #[test]
    fn malformed_packets() {
        // Topic length beyond the packet.
        assert!(parse(b"\x32\x04\x00\x09ab").is_err());
        // QoS 1 without room for the packet id.
        assert!(parse(b"\x32\x03\x00\x01t").is_err());
        // Packet id 0.
        assert!(parse(b"\x32\x05\x00\x01t\x00\x00").is_err());
        // QoS 3.
        assert!(parse(b"\x36\x05\x00\x01t\x00\x01").is_err());
        assert!(parse(b"\x40\x01\x00").is_err(), "short PUBACK");
        assert!(parse(b"\x20\x03\x00\x00\x00").is_err(), "long CONNACK");
        assert!(parse(b"\x90\x02\x00\x01").is_err(), "SUBACK without codes");
        assert!(parse(b"\x30\xff\xff\xff\xff\x01").is_err(), "5-byte length");
    }

    #[test]
    fn control_packets() {
        let mut b = Vec::new();
        put_puback(&mut b, 0x1234);
        assert_eq!(b, b"\x40\x02\x12\x34");
        b.extend_from_slice(b"\x20\x02\x01\x00\x90\x04\x00\x01\x01\x80\xd0\x00\xe0\x00");
        let mut v = Vec::new();
        let mut rest = &b[..];
        while let Some((p, used)) = parse(rest).unwrap() {
            v.push(p);
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        assert_eq!(
            v,
            vec![
                Packet::PubAck(0x1234),
                Packet::ConnAck {
                    session_present: true,
                    code: 0
                },
                Packet::SubAck {
                    id: 1,
                    codes: &[0x01, 0x80]
                },
                Packet::PingResp,
                Packet::Other(14),
            ]
        );
    }

    #[test]
    fn connect_and_subscribe() {
        let mut b = Vec::new();
        put_connect(&mut b, "c1", 0).unwrap();
        assert_eq!(b, b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x00\x00\x02c1");
        b.clear();
        put_subscribe(&mut b, 1, &["u/a".into(), "g/bb".into()], 1).unwrap();
        assert_eq!(b, b"\x82\x0f\x00\x01\x00\x03u/a\x01\x00\x04g/bb\x01");
    }

    #[test]
    fn packet_ids_wrap_without_zero() {
        assert_eq!(packet_id(1), 1);
        assert_eq!(packet_id(65_535), 65_535);
        assert_eq!(packet_id(65_536), 1);
        assert_eq!(packet_id(131_070), 65_535);
        assert_eq!(topic("u.jb-p0a"), "u/jb-p0a");
        assert_eq!(topic("g.x.y"), "g/x.y");
    }
}
