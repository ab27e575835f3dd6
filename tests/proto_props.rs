//! Property and robustness tests of the wkproto codec: encode→decode identity for every packet
//! type and version, arbitrary chunking/coalescing, every error variant, and no panics on
//! arbitrary input.

use bytes::{Bytes, BytesMut};
use jindou::proto::crypto::{server_handshake, ClientHandshake};
use jindou::proto::{
    ChannelType, Connack, Connect, DecodeError, Decoder, Disconnect, Encode, EncodeError, Event,
    HeaderFlags, Packet, PacketType, PeekedRecv, ReasonCode, Recv, Recvack, Send, Sendack, Setting,
    StreamLayout, Sub, Suback, WkStr,
};
use proptest::prelude::*;

fn wkstr() -> impl Strategy<Value = WkStr> {
    "[a-zA-Z0-9_@#-]{0,12}|[\u{4e00}-\u{4e20}é]{0,4}".prop_map(WkStr::from)
}

fn payload() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..80).prop_map(Bytes::from)
}

/// Clears the fields the layout of `version` does not carry, so decode(encode(p)) == p.
fn normalize(p: Packet, v: u8) -> Packet {
    let stream_era = (2..=4).contains(&v);
    match p {
        Packet::Connack(mut c) => {
            if c.server_version.unwrap_or(v) < 4 {
                c.node_id = 0;
            }
            Packet::Connack(c)
        }
        Packet::Send(mut s) => {
            if !(stream_era && s.setting.is_stream()) {
                s.stream_no = WkStr::EMPTY;
            }
            if v < 3 {
                s.expire = 0;
            }
            if !s.setting.has_topic() {
                s.topic = WkStr::EMPTY;
            }
            Packet::Send(s)
        }
        Packet::Sendack(mut s) => {
            if v < 6 {
                s.message_seq &= u64::from(u32::MAX);
                s.client_msg_no = WkStr::EMPTY;
            }
            Packet::Sendack(s)
        }
        Packet::Recv(mut r) => {
            if v < 6 {
                r.message_seq &= u64::from(u32::MAX);
            }
            if v < 3 {
                r.expire = 0;
            }
            if !r.setting.has_topic() {
                r.topic = WkStr::EMPTY;
            }
            match r.setting.stream_layout().filter(|_| stream_era) {
                Some(StreamLayout::Current) => r.stream_seq = 0,
                Some(StreamLayout::Legacy) => r.stream_id = 0,
                None => {
                    r.stream_no = WkStr::EMPTY;
                    r.stream_id = 0;
                    r.stream_seq = 0;
                    r.stream_flag = 0.into();
                }
            }
            Packet::Recv(r)
        }
        Packet::Recvack(mut r) => {
            if v < 6 {
                r.message_seq &= u64::from(u32::MAX);
            }
            Packet::Recvack(r)
        }
        other => other,
    }
}

fn any_packet() -> impl Strategy<Value = Packet> {
    let flags = (0u8..16).prop_map(HeaderFlags::from_bits);
    let connect = (
        any::<u8>(),
        any::<u8>(),
        wkstr(),
        wkstr(),
        wkstr(),
        any::<i64>(),
        wkstr(),
    )
        .prop_map(|(version, df, device_id, uid, token, ts, key)| {
            Packet::Connect(Connect {
                version,
                device_flag: df.into(),
                device_id,
                uid,
                token,
                client_timestamp: ts,
                client_key: key,
            })
        });
    let connack = (
        prop::option::of(1u8..=7),
        any::<i64>(),
        any::<u8>(),
        wkstr(),
        wkstr(),
        any::<u64>(),
    )
        .prop_map(|(sv, td, rc, key, salt, node)| {
            Packet::Connack(Connack {
                server_version: sv,
                time_diff: td,
                reason_code: rc.into(),
                server_key: key,
                salt,
                node_id: node,
            })
        });
    let send = (
        flags.clone(),
        any::<u8>(),
        any::<u32>(),
        (wkstr(), wkstr(), wkstr()),
        any::<u8>(),
        any::<u32>(),
        (wkstr(), wkstr()),
        payload(),
    )
        .prop_map(
            |(flags, st, seq, (cmn, sn, ch), ct, exp, (key, topic), pl)| {
                Packet::Send(Send {
                    flags,
                    setting: st.into(),
                    client_seq: seq,
                    client_msg_no: cmn,
                    stream_no: sn,
                    channel_id: ch,
                    channel_type: ct.into(),
                    expire: exp,
                    msg_key: key,
                    topic,
                    payload: pl,
                })
            },
        );
    let sendack = (
        flags.clone(),
        any::<i64>(),
        any::<u32>(),
        any::<u64>(),
        any::<u8>(),
        wkstr(),
    )
        .prop_map(|(flags, id, cs, seq, rc, cmn)| {
            Packet::Sendack(Sendack {
                flags,
                message_id: id,
                client_seq: cs,
                message_seq: seq,
                reason_code: rc.into(),
                client_msg_no: cmn,
            })
        });
    let recv = (
        (
            flags.clone(),
            any::<u8>(),
            wkstr(),
            wkstr(),
            wkstr(),
            any::<u8>(),
        ),
        (
            any::<u32>(),
            wkstr(),
            wkstr(),
            any::<u64>(),
            any::<u32>(),
            any::<u8>(),
        ),
        (any::<i64>(), any::<u64>(), any::<i32>(), wkstr(), payload()),
    )
        .prop_map(
            |(
                (flags, st, key, from, ch, ct),
                (exp, cmn, sno, sid, sseq, sf),
                (id, seq, ts, topic, pl),
            )| {
                Packet::Recv(Recv {
                    flags,
                    setting: st.into(),
                    msg_key: key,
                    from_uid: from,
                    channel_id: ch,
                    channel_type: ct.into(),
                    expire: exp,
                    client_msg_no: cmn,
                    stream_no: sno,
                    stream_id: sid,
                    stream_seq: sseq,
                    stream_flag: sf.into(),
                    message_id: id,
                    message_seq: seq,
                    timestamp: ts,
                    topic,
                    payload: pl,
                })
            },
        );
    let recvack = (flags, any::<i64>(), any::<u64>()).prop_map(|(flags, id, seq)| {
        Packet::Recvack(Recvack {
            flags,
            message_id: id,
            message_seq: seq,
        })
    });
    let disconnect = (any::<u8>(), wkstr()).prop_map(|(rc, reason)| {
        Packet::Disconnect(Disconnect {
            reason_code: rc.into(),
            reason,
        })
    });
    let sub = (
        any::<u8>(),
        wkstr(),
        wkstr(),
        any::<u8>(),
        any::<u8>(),
        wkstr(),
    )
        .prop_map(|(st, sno, ch, ct, action, param)| {
            Packet::Sub(Sub {
                setting: st.into(),
                sub_no: sno,
                channel_id: ch,
                channel_type: ct.into(),
                action,
                param,
            })
        });
    let suback = (wkstr(), wkstr(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(
        |(sno, ch, ct, action, rc)| {
            Packet::Suback(Suback {
                sub_no: sno,
                channel_id: ch,
                channel_type: ct.into(),
                action,
                reason_code: rc.into(),
            })
        },
    );
    let event = (wkstr(), wkstr(), any::<i64>(), payload()).prop_map(|(id, ty, ts, data)| {
        Packet::Event(Event {
            id,
            event_type: ty,
            timestamp: ts,
            data,
        })
    });
    prop_oneof![
        connect,
        connack,
        send,
        sendack,
        recv,
        recvack,
        Just(Packet::Ping),
        Just(Packet::Pong),
        disconnect,
        sub,
        suback,
        event,
    ]
}

/// A version and packets valid for it.
fn versioned_packets(max: usize) -> impl Strategy<Value = (u8, Vec<Packet>)> {
    (1u8..=6, prop::collection::vec(any_packet(), 1..max))
        .prop_map(|(v, ps)| (v, ps.into_iter().map(|p| normalize(p, v)).collect()))
}

fn encode_all(ps: &[Packet], v: u8) -> BytesMut {
    let mut out = BytesMut::new();
    for p in ps {
        p.encode(v, &mut out).expect("encode");
    }
    out
}

fn drain(dec: &Decoder, buf: &mut BytesMut, v: u8, out: &mut Vec<Packet>) {
    while let Some(p) = dec.decode(buf, v).expect("decode") {
        out.push(p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn roundtrip_every_type_and_version((v, ps) in versioned_packets(2)) {
        let p = &ps[0];
        let mut out = BytesMut::new();
        p.encode(v, &mut out).unwrap();
        prop_assert_eq!(out.len(), p.encoded_len(v).unwrap());
        let mut buf = out.clone();
        let back = Decoder::new().decode(&mut buf, v).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&back, p);
        // Re-encoding the decoded packet reproduces the bytes.
        let mut again = BytesMut::new();
        back.encode(v, &mut again).unwrap();
        prop_assert_eq!(again, out);
    }

    #[test]
    fn peek_recv_agrees_with_decode((v, ps) in versioned_packets(6)) {
        let wire = encode_all(&ps, v);
        let dec = Decoder::new();
        let mut pos = 0;
        for p in &ps {
            let len = p.encoded_len(v).unwrap();
            match (dec.peek_recv(&wire[pos..], v).unwrap(), p) {
                (PeekedRecv::Recv { head, len: got }, Packet::Recv(r)) => {
                    prop_assert_eq!(got, len);
                    prop_assert_eq!(head.flags, r.flags);
                    prop_assert_eq!(head.setting, r.setting);
                    prop_assert_eq!(head.message_id, r.message_id);
                    prop_assert_eq!(head.message_seq, r.message_seq);
                    prop_assert_eq!(head.timestamp, r.timestamp);
                    prop_assert_eq!(head.payload, &r.payload[..]);
                }
                (PeekedRecv::Other, p) => prop_assert!(!matches!(p, Packet::Recv(_))),
                (got, p) => prop_assert!(false, "peeked {:?} at {:?}", got, p),
            }
            pos += len;
        }
        // Until the whole first frame is there, a RECV is incomplete.
        if matches!(ps[0], Packet::Recv(_)) {
            for cut in 0..ps[0].encoded_len(v).unwrap() {
                prop_assert_eq!(dec.peek_recv(&wire[..cut], v).unwrap(), PeekedRecv::Incomplete);
            }
        }
    }

    #[test]
    fn split_stream_in_random_chunks(
        (v, ps) in versioned_packets(12),
        chunks in prop::collection::vec(1usize..40, 1..64),
    ) {
        let wire = encode_all(&ps, v).freeze();
        let dec = Decoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < wire.len() {
            let n = chunks[i % chunks.len()].min(wire.len() - pos);
            buf.extend_from_slice(&wire[pos..pos + n]);
            pos += n;
            i += 1;
            drain(&dec, &mut buf, v, &mut got);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, ps);
    }

    #[test]
    fn coalesced_stream((v, ps) in versioned_packets(24)) {
        let mut buf = encode_all(&ps, v);
        let mut got = Vec::new();
        drain(&Decoder::new(), &mut buf, v, &mut got);
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, ps);
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        v in 0u8..=8,
        max in 0usize..128,
    ) {
        let dec = Decoder::with_max_frame(max);
        let mut buf = BytesMut::from(&bytes[..]);
        // Each call either consumes bytes, waits, or errors: the loop terminates.
        while let Ok(Some(_)) = dec.decode(&mut buf, v) {}
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = dec.decode_connect(&mut buf);
        let _ = dec.peek_frame(&bytes);
        // A peeked RECV never claims more bytes than there are.
        if let Ok(PeekedRecv::Recv { len, .. }) = dec.peek_recv(&bytes, v) {
            prop_assert!(len <= bytes.len());
        }
        if let Some((&h, body)) = bytes.split_first() {
            let _ = jindou::proto::decode_body(h, Bytes::copy_from_slice(body), v);
        }
    }

    #[test]
    fn never_buffers_past_max(max in 0usize..2000, len in 0usize..4000) {
        // A SEND announcing `len` bytes: over the limit errors from the header alone.
        let mut hdr = BytesMut::new();
        hdr.extend_from_slice(&[0x30]);
        jindou::proto::varint::write_varint(&mut hdr, len);
        let r = Decoder::with_max_frame(max).decode(&mut hdr, 4);
        if len > max {
            prop_assert_eq!(r, Err(DecodeError::FrameTooLarge { len, max }));
        } else if len == 0 {
            // A complete frame with an empty body: a SEND cannot be empty.
            prop_assert!(matches!(r, Err(DecodeError::Truncated { .. })), "{:?}", r);
        } else {
            prop_assert_eq!(r, Ok(None));
        }
    }

    #[test]
    fn seal_open_roundtrip(pt in prop::collection::vec(any::<u8>(), 0..2000), seq in any::<u32>()) {
        let client = ClientHandshake::new();
        let hs = server_handshake(client.client_key()).unwrap();
        let cc = client.finish(&hs.server_key, &hs.salt).unwrap();
        let pt = Bytes::from(pt);
        let mut scratch = BytesMut::new();
        let mut s = Send {
            client_seq: seq,
            client_msg_no: "m1".into(),
            channel_id: "bob".into(),
            channel_type: ChannelType::PERSON,
            ..Send::default()
        };
        s.seal(&pt, Some(&cc), &mut scratch);
        prop_assert_eq!(s.open(Some(&hs.cipher)).unwrap(), pt.clone());
        let mut r = Recv {
            message_id: -5,
            message_seq: u64::from(seq),
            from_uid: "alice".into(),
            channel_id: "alice".into(),
            channel_type: ChannelType::PERSON,
            ..Recv::default()
        };
        r.seal(&pt, Some(&hs.cipher), &mut scratch);
        prop_assert_eq!(r.open(Some(&cc)).unwrap(), pt);
        r.channel_id = "mallory".into();
        prop_assert!(r.open(Some(&cc)).is_err());
    }
}

/// Name of each variant; exhaustive so a new variant forces a new test case below.
fn variant(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::UnknownPacketType(_) => "UnknownPacketType",
        DecodeError::MalformedLength => "MalformedLength",
        DecodeError::FrameTooLarge { .. } => "FrameTooLarge",
        DecodeError::Truncated { .. } => "Truncated",
        DecodeError::StringOverflow { .. } => "StringOverflow",
        DecodeError::InvalidUtf8 { .. } => "InvalidUtf8",
        DecodeError::ExpectedConnect(_) => "ExpectedConnect",
    }
}

fn decode_err(bytes: &[u8], v: u8) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    Decoder::new().decode(&mut buf, v).expect_err("should fail")
}

#[test]
fn every_decode_error_variant() {
    let mut seen = std::collections::BTreeSet::new();
    let mut check = |e: DecodeError, want: DecodeError| {
        assert_eq!(e, want);
        assert!(!e.to_string().is_empty());
        seen.insert(variant(&e));
    };
    for t in [0x00u8, 0xD0, 0xE5, 0xFF] {
        check(
            decode_err(&[t, 0x00], 2),
            DecodeError::UnknownPacketType(t >> 4),
        );
    }
    check(
        decode_err(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01], 2),
        DecodeError::MalformedLength,
    );
    check(
        decode_err(&[0x30, 0x81, 0x80, 0x40], 2),
        DecodeError::FrameTooLarge {
            len: 1_048_577,
            max: 1_048_576,
        },
    );
    check(
        decode_err(&[0x40, 0x03, 0, 0, 0], 2),
        DecodeError::Truncated {
            packet: PacketType::Sendack,
            field: "message_id",
        },
    );
    check(
        decode_err(&[0x21, 0x00], 5),
        DecodeError::Truncated {
            packet: PacketType::Connack,
            field: "server_version",
        },
    );
    check(
        decode_err(&[0x90, 0x03, 0x0c, 0x00, 0x05], 2),
        DecodeError::StringOverflow {
            packet: PacketType::Disconnect,
            field: "reason",
            len: 5,
        },
    );
    check(
        decode_err(&[0x90, 0x04, 0x0c, 0x00, 0x01, 0xff], 2),
        DecodeError::InvalidUtf8 {
            packet: PacketType::Disconnect,
            field: "reason",
        },
    );
    let mut buf = BytesMut::from(&[0x70u8][..]);
    check(
        Decoder::new().decode_connect(&mut buf).unwrap_err(),
        DecodeError::ExpectedConnect(PacketType::Ping),
    );
    assert_eq!(buf.len(), 1, "rejected first packet is not consumed");
    assert_eq!(
        seen.len(),
        7,
        "every DecodeError variant produced: {seen:?}"
    );
}

#[test]
fn oversized_connect_fails_with_only_the_header() {
    let dec = Decoder::new();
    // Largest 4-byte length (≈256 MiB): rejected from the 5 header bytes alone.
    let mut buf = BytesMut::from(&[0x10u8, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    assert!(matches!(
        dec.decode_connect(&mut buf),
        Err(DecodeError::FrameTooLarge {
            len: 268_435_455,
            ..
        })
    ));
    // 2 GiB needs a 5-byte varint: malformed, again from the header alone.
    let mut buf = BytesMut::from(&[0x10u8, 0x80, 0x80, 0x80, 0x80, 0x08][..]);
    assert_eq!(dec.decode(&mut buf, 0), Err(DecodeError::MalformedLength));
    // Even a partial varint already proving > max errors before the length is complete.
    let mut buf = BytesMut::from(&[0x10u8, 0xFF, 0xFF, 0xFF][..]);
    assert!(matches!(
        dec.decode(&mut buf, 0),
        Err(DecodeError::FrameTooLarge { .. })
    ));
    // At the limit we wait for the body without reserving it.
    let mut buf = BytesMut::from(&[0x10u8, 0x80, 0x80, 0x40][..]);
    assert_eq!(dec.decode(&mut buf, 0), Ok(None));
    assert_eq!(dec.peek_frame(&buf), Ok(Some(4 + 1_048_576)));
    assert_eq!(buf.len(), 4);
}

#[test]
fn encode_errors() {
    let long = WkStr::from("x".repeat(70_000));
    let d = Disconnect {
        reason: long,
        ..Disconnect::default()
    };
    let mut out = BytesMut::new();
    assert_eq!(
        d.encode(2, &mut out),
        Err(EncodeError::StringTooLong {
            field: "reason",
            len: 70_000
        })
    );
    assert!(out.is_empty(), "nothing written on error");
    let a = Recvack {
        message_seq: 1 << 40,
        ..Recvack::default()
    };
    assert_eq!(
        a.encode(5, &mut out),
        Err(EncodeError::SeqTooLarge(1 << 40))
    );
    assert!(a.encode(6, &mut out).is_ok());
    let huge = Event {
        data: Bytes::from(vec![0u8; 0x1000_0000]),
        ..Event::default()
    };
    assert!(matches!(
        huge.encoded_len(2),
        Err(EncodeError::BodyTooLarge(_))
    ));
}

#[test]
fn version_dependent_details() {
    // SENDACK trailing client_msg_no is decoded when present, whatever the version.
    let wire = [
        0x40, 0x17, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 0, 4, b'm', b's', b'g', b'1',
    ];
    let mut buf = BytesMut::from(&wire[..]);
    let Some(Packet::Sendack(a)) = Decoder::new().decode(&mut buf, 5).unwrap() else {
        panic!()
    };
    assert_eq!(a.client_msg_no, "msg1");
    assert_eq!(a.message_seq, 3);
    // ...but only encoded for v >= 6.
    let mut out = BytesMut::new();
    a.encode(5, &mut out).unwrap();
    assert_eq!(out.len(), wire.len() - 6);

    // CONNACK: server_version decides node_id presence; trailing bytes ignored.
    let ack = Connack {
        server_version: Some(4),
        reason_code: ReasonCode::SUCCESS,
        node_id: 9,
        ..Connack::default()
    };
    let mut out = BytesMut::new();
    ack.encode(2, &mut out).unwrap();
    assert_eq!(out[0], 0x21);
    let mut buf = out.clone();
    assert_eq!(
        Decoder::new().decode(&mut buf, 6).unwrap(),
        Some(Packet::Connack(ack))
    );
    // Go-v3 failure CONNACK (v5 layout, trailing node_id) read by a v2 client.
    let mut buf = BytesMut::from(
        &[
            0x20u8, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ][..],
    );
    let Some(Packet::Connack(f)) = Decoder::new().decode(&mut buf, 2).unwrap() else {
        panic!()
    };
    assert_eq!(f.reason_code, ReasonCode::AUTH_FAIL);
    assert!(buf.is_empty());

    // Both stream bits: the current layout wins; with v5 no stream fields at all.
    let r = Recv {
        setting: Setting::STREAM | Setting::STREAM_LEGACY,
        stream_no: "s".into(),
        stream_id: 7,
        ..Recv::default()
    };
    assert_eq!(
        r.encoded_len(3).unwrap(),
        r.encoded_len(5).unwrap() + 1 + 3 + 8
    );
}

#[test]
fn zero_copy_payloads() {
    let s = Send {
        client_msg_no: "m".into(),
        channel_id: "c".into(),
        payload: Bytes::from_static(&[7u8; 100]),
        ..Send::default()
    };
    let mut buf = BytesMut::new();
    s.encode(5, &mut buf).unwrap();
    s.encode(5, &mut buf).unwrap();
    let base = buf.as_ptr() as usize;
    let end = base + buf.len();
    let Some(Packet::Send(d)) = Decoder::new().decode(&mut buf, 5).unwrap() else {
        panic!()
    };
    let p = d.payload.as_ptr() as usize;
    assert!(
        p >= base && p < end,
        "payload points into the receive buffer"
    );
    let c = d.channel_id.as_bytes().as_ptr() as usize;
    assert!(
        c >= base && c < end,
        "strings point into the receive buffer"
    );
}
