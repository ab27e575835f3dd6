//! Fan-out of one group message to 1,000 plaintext connections, the gateway's side of a
//! delivery: a RECV built, sealed and encoded for each receiver (how `Conn::push_recv` worked
//! before) against one encoding copied into each connection's queue (`conn::RecvForms`: every
//! byte of a plaintext RECV is the same for all receivers of one wire form). And a 1:1
//! message's one RECV: built as an owned `Recv` (a reference count taken on every text field,
//! the first on a fresh message allocating its shared header) against a `RecvView` borrowing
//! the message (`conn::plain_recv`), each encoded into the connection's queue.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jindou::proto::{ChannelType, Encode, HeaderFlags, Recv, RecvView, Setting, WkStr};
use std::hint::black_box;
use std::time::Duration;

const VERSION: u8 = 5;
/// Receivers of the message.
const RECEIVERS: usize = 1000;

/// The message as the owner hands it over (fields shared by reference count).
struct Message {
    from_uid: WkStr,
    channel_id: WkStr,
    client_msg_no: WkStr,
    payload: Bytes,
}

fn message() -> Message {
    Message {
        from_uid: "user-0000002".into(),
        channel_id: "group-000001".into(),
        client_msg_no: "0123456789abcdef0123456789abcdef3".into(),
        payload: Bytes::from(vec![b'x'; 64]),
    }
}

/// The RECV one receiver gets, owned (what the gateway built before `conn::plain_recv`).
fn build(m: &Message, scratch: &mut BytesMut) -> Recv {
    let mut r = Recv {
        flags: HeaderFlags::RED_DOT,
        from_uid: m.from_uid.clone(),
        channel_id: m.channel_id.clone(),
        channel_type: ChannelType::GROUP,
        client_msg_no: m.client_msg_no.clone(),
        message_id: 1_234_567_890_123_456_789,
        message_seq: 1000,
        timestamp: 1_700_000_000,
        ..Recv::default()
    };
    r.seal(&m.payload, None, scratch);
    r
}

fn bench(c: &mut Criterion) {
    let m = message();
    let mut queues: Vec<BytesMut> = (0..RECEIVERS)
        .map(|_| BytesMut::with_capacity(4096))
        .collect();
    let mut scratch = BytesMut::with_capacity(4096);
    let mut g = c.benchmark_group("fanout");
    g.throughput(Throughput::Elements(RECEIVERS as u64));
    g.bench_function("recv_encoded_per_receiver", |b| {
        b.iter(|| {
            for q in queues.iter_mut() {
                q.clear();
                let r = build(&m, &mut scratch);
                r.encode(VERSION, q).expect("encodes");
            }
            black_box(&queues);
        })
    });
    g.bench_function("recv_encoded_once_copied", |b| {
        b.iter(|| {
            let mut form = BytesMut::new();
            build(&m, &mut scratch)
                .encode(VERSION, &mut form)
                .expect("encodes");
            for q in queues.iter_mut() {
                q.clear();
                q.extend_from_slice(&form);
            }
            black_box(&queues);
        })
    });
    g.finish();
}

/// A message as a shard receives it: every text field in its own fresh buffer, as decoding
/// and the log leave them (so the first clone of each promotes it to a shared one).
fn fresh_message() -> Message {
    Message {
        from_uid: WkStr::from_utf8(Bytes::from(b"user-0000002".to_vec())).expect("utf-8"),
        channel_id: WkStr::from_utf8(Bytes::from(b"user-0000001@user-0000002".to_vec()))
            .expect("utf-8"),
        client_msg_no: WkStr::from_utf8(Bytes::from(b"0123456789abcdef0123456789abcdef3".to_vec()))
            .expect("utf-8"),
        payload: Bytes::from(vec![b'x'; 64]),
    }
}

fn bench_one(c: &mut Criterion) {
    let mut queue = BytesMut::with_capacity(1 << 16);
    let mut scratch = BytesMut::with_capacity(4096);
    let mut g = c.benchmark_group("recv_one");
    g.bench_function("owned_recv", |b| {
        b.iter(|| {
            let m = fresh_message();
            queue.clear();
            let r = build(&m, &mut scratch);
            r.encode(VERSION, &mut queue).expect("encodes");
            black_box(&queue);
        })
    });
    g.bench_function("borrowed_view", |b| {
        b.iter(|| {
            let m = fresh_message();
            queue.clear();
            let view = RecvView {
                flags: HeaderFlags::RED_DOT,
                setting: Setting::default(),
                msg_key: &[],
                from_uid: m.from_uid.as_str(),
                channel_id: m.from_uid.as_str(),
                channel_type: ChannelType::PERSON,
                expire: 0,
                client_msg_no: m.client_msg_no.as_str(),
                stream_no: "",
                stream_id: 0,
                stream_seq: 0,
                stream_flag: Default::default(),
                message_id: 1_234_567_890_123_456_789,
                message_seq: 1000,
                timestamp: 1_700_000_000,
                topic: "",
                payload: &m.payload,
            };
            view.encode(VERSION, &mut queue).expect("encodes");
            black_box(&queue);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench, bench_one
}
criterion_main!(benches);
