//! `connect`: ramp N authenticated connections at a rate, hold them idle (with PINGs), report
//! connects/s, failures, CONNECT→CONNACK latency and the server's RSS growth per connection.

use crate::cli::{Args, Target};
use crate::net;
use crate::report::{rss_kib, RunResult};
use crate::stats::{self, Percentiles};
use hdrhistogram::Histogram;
use jindou::proto::{Encode, Packet, LATEST_VERSION};
use monoio::io::{AsyncWriteRentExt, Splitable};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Shared {
    ready: AtomicUsize,
    failed: AtomicUsize,
    dropped: AtomicUsize,
    last_connack_ns: AtomicU64,
    stop: AtomicBool,
    hist: Mutex<Histogram<u64>>,
    errors: Mutex<Vec<String>>,
    epoch: Instant,
}

/// Runs the scenario.
pub fn run(args: Arc<Args>, target: Target, prefix: String) -> RunResult {
    let n = args.conns;
    let shared = Arc::new(Shared {
        ready: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        dropped: AtomicUsize::new(0),
        last_connack_ns: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        hist: Mutex::new(stats::new_hist()),
        errors: Mutex::new(Vec::new()),
        epoch: Instant::now(),
    });
    let rss_before = args.server_pid.and_then(rss_kib);
    for t in 0..args.threads {
        let (shared, args, prefix) = (shared.clone(), args.clone(), prefix.clone());
        std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || {
                net::block_on(|| thread_main(t, shared, args, target.addr, prefix));
            })
            .expect("spawn client thread");
    }
    let ramp_budget = if args.connect_rate > 0.0 {
        Duration::from_secs_f64(n as f64 / args.connect_rate)
    } else {
        Duration::ZERO
    } + Duration::from_secs(60);
    let start = Instant::now();
    let mut tick = 0;
    let mut last_line = Instant::now();
    while shared.ready.load(Relaxed) + shared.failed.load(Relaxed) < n
        && start.elapsed() < ramp_budget
    {
        std::thread::sleep(Duration::from_millis(20));
        if !args.quiet && last_line.elapsed() >= Duration::from_secs(1) {
            last_line = Instant::now();
            tick += 1;
            eprintln!(
                "[{tick:>3}s ramp] connected {} failed {}",
                shared.ready.load(Relaxed),
                shared.failed.load(Relaxed)
            );
        }
    }
    let ramp_s = (shared.last_connack_ns.load(Relaxed) as f64 / 1e9)
        .max(1e-9)
        .min(start.elapsed().as_secs_f64());
    let ready = shared.ready.load(Relaxed);
    if !args.quiet {
        eprintln!(
            "jindou-bench: {ready}/{n} connected in {ramp_s:.2}s; holding {:?}",
            args.hold
        );
    }
    std::thread::sleep(args.hold);
    let rss_after = args.server_pid.and_then(rss_kib);
    let dropped = shared.dropped.load(Relaxed);
    shared.stop.store(true, Relaxed);
    let hist = shared
        .hist
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| stats::new_hist());
    let failed = shared.failed.load(Relaxed);
    let rss = rss_before.zip(rss_after);
    RunResult {
        scenario: "connect".into(),
        target: args.target.clone(),
        label: args.label.clone(),
        duration_s: ramp_s,
        threads: args.threads,
        connections: ready,
        encrypt: false,
        sent: n as u64,
        acked: ready as u64,
        errors: (failed + dropped) as u64,
        connect_s: ramp_s,
        connects_per_sec: Some(ready as f64 / ramp_s),
        connect_us: Some(Percentiles::of(&hist)),
        rss_kib: rss,
        rss_per_conn_bytes: rss
            .filter(|_| ready > 0)
            .map(|(a, b)| (b as f64 - a as f64) * 1024.0 / ready as f64),
        error_samples: shared.errors.lock().map(|e| e.clone()).unwrap_or_default(),
        ..RunResult::default()
    }
}

async fn thread_main(
    t: usize,
    shared: Arc<Shared>,
    args: Arc<Args>,
    addr: std::net::SocketAddr,
    prefix: String,
) {
    let threads = args.threads;
    let per_thread_rate = args.connect_rate / threads as f64;
    let start = Instant::now();
    let mine: Vec<usize> = (0..args.conns).filter(|i| i % threads == t).collect();
    for (k, i) in mine.into_iter().enumerate() {
        if per_thread_rate > 0.0 {
            let at = start + Duration::from_secs_f64(k as f64 / per_thread_rate);
            let now = Instant::now();
            if at > now {
                monoio::time::sleep(at - now).await;
            }
        }
        let (shared, args) = (shared.clone(), args.clone());
        let uid = format!("{prefix}-c{i}");
        monoio::spawn(async move {
            let began = Instant::now();
            let src = net::source_addr(i, args.sources);
            match net::wk_connect(addr, src, &uid, &args.token).await {
                Ok(s) => {
                    let ns = began.elapsed().as_nanos() as u64;
                    if let Ok(mut h) = shared.hist.lock() {
                        stats::record(&mut h, ns);
                    }
                    shared.ready.fetch_add(1, Relaxed);
                    shared
                        .last_connack_ns
                        .fetch_max(shared.epoch.elapsed().as_nanos() as u64, Relaxed);
                    hold(shared, args, s).await;
                }
                Err(e) => {
                    shared.failed.fetch_add(1, Relaxed);
                    if let Ok(mut v) = shared.errors.lock() {
                        if v.len() < 10 {
                            v.push(format!("{uid}: {e}"));
                        }
                    }
                }
            }
        });
    }
    while !shared.stop.load(Relaxed) {
        monoio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Keeps an idle connection alive: reads (PONGs) and PINGs every `--ping`.
async fn hold(shared: Arc<Shared>, args: Arc<Args>, s: net::WkSession) {
    let (mut r, mut w) = s.stream.into_split();
    let reader_shared = shared.clone();
    monoio::spawn(async move {
        let mut buf = bytes::BytesMut::with_capacity(256);
        loop {
            match net::read_more(&mut r, &mut buf).await {
                Ok(n) if n > 0 => buf.clear(),
                _ => {
                    if !reader_shared.stop.load(Relaxed) {
                        reader_shared.dropped.fetch_add(1, Relaxed);
                    }
                    return;
                }
            }
        }
    });
    let mut ping = bytes::BytesMut::new();
    let _ = Packet::Ping.encode(LATEST_VERSION, &mut ping);
    let ping = ping.freeze();
    while !shared.stop.load(Relaxed) {
        monoio::time::sleep(args.ping).await;
        let (res, _) = w.write_all(ping.clone()).await;
        if res.is_err() {
            return;
        }
    }
}
