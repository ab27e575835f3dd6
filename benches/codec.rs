//! wkproto codec cost per packet: SEND and RECV with a 100-byte payload, encode and decode,
//! plaintext and encrypted (encrypted includes AES + base64 and the msg_key computation).

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jindou::proto::crypto::ConnCipher;
use jindou::proto::{ChannelType, Decoder, Encode, HeaderFlags, Packet, Recv, Send};
use std::hint::black_box;
use std::time::Duration;

const VERSION: u8 = 5;

fn plaintext() -> Bytes {
    let mut s = String::from(r#"{"type":1,"content":""#);
    while s.len() < 98 {
        s.push('x');
    }
    s.push_str("\"}");
    assert_eq!(s.len(), 100);
    Bytes::from(s)
}

fn send() -> Send {
    Send {
        flags: HeaderFlags::RED_DOT,
        client_seq: 42,
        client_msg_no: "0123456789abcdef0123456789abcdef3".into(),
        channel_id: "user-0000001".into(),
        channel_type: ChannelType::PERSON,
        ..Send::default()
    }
}

fn recv() -> Recv {
    Recv {
        flags: HeaderFlags::RED_DOT,
        from_uid: "user-0000002".into(),
        channel_id: "user-0000002".into(),
        channel_type: ChannelType::PERSON,
        client_msg_no: "0123456789abcdef0123456789abcdef3".into(),
        message_id: 1_234_567_890_123_456_789,
        message_seq: 1000,
        timestamp: 1_700_000_000,
        ..Recv::default()
    }
}

/// Runs `f` over a 64-packet batch per iteration so buffer refills are amortised as in a server.
const BATCH: usize = 64;

fn bench(c: &mut Criterion) {
    let pt = plaintext();
    let cipher = ConnCipher::from_key_iv(*b"d8e6474fb0ec4b66", *b"abcdefghijklmnop");
    let dec = Decoder::new();

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(BATCH as u64));

    for (name, encrypted) in [("plain", false), ("encrypted", true)] {
        let c_opt = encrypted.then_some(&cipher);

        // SEND, client → server.
        let mut scratch = BytesMut::with_capacity(64 * 1024);
        let mut out = BytesMut::with_capacity(64 * 1024);
        g.bench_function(format!("send_encode_{name}"), |b| {
            let mut s = send();
            b.iter(|| {
                out.clear();
                for _ in 0..BATCH {
                    s.seal(&pt, c_opt, &mut scratch);
                    s.encode(VERSION, &mut out).unwrap();
                }
                black_box(&out);
            })
        });
        let mut wire = BytesMut::new();
        let mut s = send();
        s.seal(&pt, c_opt, &mut scratch);
        for _ in 0..BATCH {
            s.encode(VERSION, &mut wire).unwrap();
        }
        let wire = wire.freeze();
        g.bench_function(format!("send_decode_{name}"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(&wire[..]);
                while let Some(p) = dec.decode(&mut buf, VERSION).unwrap() {
                    let Packet::Send(s) = p else { unreachable!() };
                    black_box(s.open(c_opt).unwrap());
                }
            })
        });

        // RECV, server → client.
        g.bench_function(format!("recv_encode_{name}"), |b| {
            let mut r = recv();
            b.iter(|| {
                out.clear();
                for _ in 0..BATCH {
                    r.seal(&pt, c_opt, &mut scratch);
                    r.encode(VERSION, &mut out).unwrap();
                }
                black_box(&out);
            })
        });
        let mut wire = BytesMut::new();
        let mut r = recv();
        r.seal(&pt, c_opt, &mut scratch);
        for _ in 0..BATCH {
            r.encode(VERSION, &mut wire).unwrap();
        }
        let wire = wire.freeze();
        g.bench_function(format!("recv_decode_{name}"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(&wire[..]);
                while let Some(p) = dec.decode(&mut buf, VERSION).unwrap() {
                    let Packet::Recv(r) = p else { unreachable!() };
                    black_box(r.open(c_opt).unwrap());
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
