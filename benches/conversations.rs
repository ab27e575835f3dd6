//! A delivery's conversation update on the receiver's owner, per receiver of a 1:1 message:
//! the conversation key built as an owned `(String, u8)` for the lookup (how `handle_deliver`
//! worked before) against a borrowed [`ConvKeyRef`] that allocates only for a new
//! conversation (`entry_ref`). Each user already has `CONVS` conversations, as in a live
//! server where most messages go to existing chats.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jindou::shard::users::{ConvKeyRef, ConvMap, Conversation};
use std::hint::black_box;
use std::time::Duration;

/// Users whose conversations are updated in turn.
const USERS: usize = 1000;
/// Conversations each user has.
const CONVS: usize = 20;

fn users() -> (Vec<ConvMap>, Vec<String>) {
    let peers: Vec<String> = (0..CONVS).map(|i| format!("peer-{i:06}")).collect();
    let maps = (0..USERS)
        .map(|_| {
            let mut m = ConvMap::default();
            for p in &peers {
                m.insert((p.clone(), 1), Conversation::default());
            }
            m
        })
        .collect();
    (maps, peers)
}

fn update(conv: &mut Conversation, seq: u64) {
    if seq > conv.last_msg_seq {
        conv.last_msg_seq = seq;
        conv.unread += 1;
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("conversation_update");
    g.throughput(Throughput::Elements(USERS as u64));
    g.measurement_time(Duration::from_secs(3));
    let (mut maps, peers) = users();
    let mut seq = 0u64;
    g.bench_function("owned key per lookup", |b| {
        b.iter(|| {
            seq += 1;
            for (i, m) in maps.iter_mut().enumerate() {
                let peer: &str = &peers[i % CONVS];
                let conv = m.entry((peer.to_string(), 1)).or_default();
                update(conv, seq);
            }
            black_box(&maps);
        })
    });
    g.bench_function("borrowed key (entry_ref)", |b| {
        b.iter(|| {
            seq += 1;
            for (i, m) in maps.iter_mut().enumerate() {
                let peer: &str = &peers[i % CONVS];
                let conv = m.entry_ref(&ConvKeyRef(peer, 1)).or_default();
                update(conv, seq);
            }
            black_box(&maps);
        })
    });
    g.finish();
    assert!(
        maps.iter().all(|m| m.len() == CONVS),
        "no conversation added"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
