//! Append throughput of 200-byte messages under each sync policy, compared in the same run
//! with a plain sequential `write()` + `fdatasync` loop of the same batch size (the raw disk
//! limit), and range reads of 100 messages.

use std::cell::RefCell;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use jindou_storage::{MessageStore, NewMessage, PullMode, RangeQuery, StoreConfig, SyncPolicy};

/// Concurrent appenders in the `Always` run: the natural group-commit batch.
const TASKS: u64 = 256;
const PAYLOAD: usize = 200;

fn runtime() -> monoio::FusionRuntime<
    monoio::time::TimeDriver<monoio::IoUringDriver>,
    monoio::time::TimeDriver<monoio::LegacyDriver>,
> {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime")
}

fn msg(id: i64) -> NewMessage {
    NewMessage {
        message_id: id,
        client_msg_no: format!("c{id}"),
        from_uid: "bench".into(),
        timestamp: 1,
        payload: vec![7; PAYLOAD],
        ..Default::default()
    }
}

/// Appends `n` messages from `TASKS` tasks, each awaiting durability; returns the time taken
/// and the average records per fdatasync.
fn run_appends(policy: SyncPolicy, n: u64) -> (Duration, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.sync_policy = policy;
    runtime().block_on(async move {
        let store = Rc::new(RefCell::new(MessageStore::open(&cfg).unwrap()));
        let per_task = n.div_ceil(TASKS);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let store = store.clone();
            tasks.push(monoio::spawn(async move {
                let ch = format!("ch{}", t % 64);
                for i in 0..per_task {
                    let a = store
                        .borrow_mut()
                        .append(&ch, 2, msg((t * per_task + i) as i64))
                        .unwrap();
                    let d = store.borrow().wait_durable(a.lsn);
                    d.await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await;
        }
        let el = start.elapsed();
        let st = store.borrow().commit_stats();
        let batch = if st.syncs > 0 {
            st.records as f64 / st.syncs as f64
        } else {
            0.0
        };
        (el, batch)
    })
}

/// The raw disk limit: pwrite `batch` framed records then fdatasync, repeated.
fn run_raw(n: u64, batch: u64, rec: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let f = std::fs::File::create(dir.path().join("raw")).unwrap();
    let size: u64 = 64 << 20;
    jindou_storage::segment::fallocate(&f, size).unwrap();
    let buf = vec![7u8; rec * batch as usize];
    let mut off = 0u64;
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        if off + buf.len() as u64 > size {
            off = 0;
        }
        f.write_all_at(&buf, off).unwrap();
        f.sync_data().unwrap();
        off += buf.len() as u64;
        done += batch;
    }
    start.elapsed()
}

/// Bytes one benchmark message occupies in the log (header, archive, padding).
fn framed_size() -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.sync_policy = SyncPolicy::None;
    cfg.segment_size = 1 << 20;
    let mut s = MessageStore::open(&cfg).unwrap();
    let a = s.append("ch0", 2, msg(1)).unwrap();
    let b = s.append("ch0", 2, msg(2)).unwrap();
    (b.lsn - a.lsn) as usize
}

fn appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_200B");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(1));
    let (el, batch) = run_appends(SyncPolicy::Always, 100_000);
    eprintln!(
        "Always warm-up: {:.0} records/s, {:.1} records per fdatasync",
        100_000.0 / el.as_secs_f64(),
        batch
    );
    let batch_size = (batch.round() as u64).max(1);
    let rec = framed_size();
    eprintln!("one 200-byte message takes {rec} bytes in the log");
    g.bench_function("always_256_tasks", |b| {
        b.iter_custom(|iters| run_appends(SyncPolicy::Always, iters).0)
    });
    g.bench_function(format!("raw_write_fdatasync_batch_{batch_size}"), |b| {
        b.iter_custom(|iters| run_raw(iters, batch_size, rec))
    });
    g.bench_function("interval", |b| {
        b.iter_custom(|iters| run_appends(SyncPolicy::Interval, iters).0)
    });
    g.bench_function("none", |b| {
        b.iter_custom(|iters| run_appends(SyncPolicy::None, iters).0)
    });
    g.finish();
}

fn range_reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.sync_policy = SyncPolicy::None;
    let mut s = MessageStore::open(&cfg).unwrap();
    let n = 100_000u64;
    for i in 0..n {
        s.append("ch", 2, msg(i as i64)).unwrap();
    }
    let mut g = c.benchmark_group("read_range_100");
    g.throughput(Throughput::Elements(1));
    let mut start = 1u64;
    g.bench_function("up_100", |b| {
        b.iter(|| {
            start = (start * 7919 + 13) % (n - 100) + 1;
            let r = s
                .read_range(
                    "ch",
                    2,
                    RangeQuery {
                        start_seq: start,
                        end_seq: 0,
                        limit: 100,
                        pull_mode: PullMode::Up,
                    },
                )
                .unwrap();
            assert_eq!(r.messages.len(), 100);
            r.messages.len()
        })
    });
    g.finish();
}

criterion_group!(benches, appends, range_reads);
criterion_main!(benches);
