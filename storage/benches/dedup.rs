//! The de-duplication window on a send's path: one key hashed, both generations probed for a
//! retry, the new send remembered — at the default window (100,000 per shard) and at a small
//! one that stays in cache; beside it, the same with the key hashed twice (check, then
//! insert), as before the send kept its key.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jindou_storage::dedup::DedupWindow;
use std::hint::black_box;

/// Sends per measured batch.
const BATCH: u64 = 1_000;

/// A window filled past one generation change, as under steady load.
fn warm_window(cap: usize) -> DedupWindow {
    let mut w = DedupWindow::new(cap);
    for n in 0..(cap as u64 * 3 / 2) {
        w.insert("u1@u2", 1, &format!("w{n}"), n);
    }
    w
}

/// One new send: looks for a retry of `no` in channel `ch`, then remembers it at `lsn`.
type Send = fn(&mut DedupWindow, &str, &str, u64) -> Option<u64>;

/// The send path as it is: the key hashed once for the check and the insert.
fn keyed(w: &mut DedupWindow, ch: &str, no: &str, lsn: u64) -> Option<u64> {
    let key = w.key(ch, 1, no).expect("a client_msg_no is set");
    let found = w.get_key(key);
    w.insert_key(key, lsn);
    found
}

/// The path before the key was kept: hashed for the check and again for the insert.
fn hashed_twice(w: &mut DedupWindow, ch: &str, no: &str, lsn: u64) -> Option<u64> {
    let found = w.get(ch, 1, no);
    w.insert(ch, 1, no, lsn);
    found
}

fn send_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("dedup");
    g.throughput(Throughput::Elements(BATCH));
    // client_msg_nos made beforehand: the bench measures the window, not the formatting.
    let nos: Vec<String> = (0..BATCH).map(|n| format!("{n:016x}-client")).collect();
    for cap in [1_000usize, 100_000] {
        let mut w = warm_window(cap);
        let mut round = 0u64;
        let ways: [(&str, Send); 2] =
            [("new_send", keyed), ("new_send_hashed_twice", hashed_twice)];
        for (name, send) in ways {
            g.bench_function(format!("{name}_window_{cap}"), |b| {
                b.iter_batched(
                    || {
                        // A channel per round keeps every key new (a retry is the rare case).
                        round += 1;
                        (round, format!("u{round}@peer"))
                    },
                    |(round, ch)| {
                        for (i, no) in nos.iter().enumerate() {
                            black_box(send(&mut w, &ch, no, round * BATCH + i as u64));
                        }
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, send_path);
criterion_main!(benches);
