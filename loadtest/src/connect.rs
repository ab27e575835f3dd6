//! `connect`: ramp N authenticated connections at a rate, hold them idle (with PINGs), report
//! connects/s, failures, CONNECT→CONNACK latency and the server's RSS growth per connection
//! (from the HTTP API's `/varz` when `--api` is given, else from /proc/PID of `--server-pid`).

use crate::cli::{self, Args, Target};
use crate::net::{self, Notify};
use crate::report::{rss_kib, varz_mem_bytes, RunResult};
use crate::stats::{self, Percentiles};
use bytes::BytesMut;
use hdrhistogram::Histogram;
use jindou::proto::{Encode, Packet, LATEST_VERSION};
use monoio::io::{AsyncWriteRentExt, Splitable};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the server's resident memory is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemSource {
    /// `mem` of `GET /varz` on the HTTP API.
    Varz(SocketAddr),
    /// VmRSS of /proc/PID/status.
    Proc(u32),
}

impl MemSource {
    /// `/varz` when `--api` was given (the first, when several), else `--server-pid`, else nothing.
    pub fn choose(args: &Args) -> Result<Option<Self>, String> {
        if let Some(api) = &args.api {
            // Several APIs (a cluster): the first node's memory.
            return cli::resolve_loopbacks(api).map(|a| Some(Self::Varz(a[0])));
        }
        Ok(args.server_pid.map(Self::Proc))
    }

    /// How the result names the source.
    pub fn describe(self) -> String {
        match self {
            Self::Varz(a) => format!("http://{a}/varz"),
            Self::Proc(pid) => format!("/proc/{pid}/status"),
        }
    }

    /// The server's resident memory in bytes.
    pub fn read_bytes(self) -> Result<u64, String> {
        match self {
            Self::Proc(pid) => rss_kib(pid)
                .map(|k| k * 1024)
                .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status")),
            Self::Varz(addr) => net::block_on(|| async move {
                let r = net::HttpConn::new(addr)
                    .get("/varz")
                    .await
                    .map_err(|e| format!("GET /varz: {e}"))?;
                if r.status != 200 {
                    return Err(format!("GET /varz: HTTP {}", r.status));
                }
                varz_mem_bytes(&r.body).ok_or_else(|| "GET /varz: no numeric \"mem\"".into())
            }),
        }
    }
}

/// Reads the server memory (bytes) before the ramp: from the chosen source, falling back to
/// `--server-pid` when `/varz` cannot be read. Returns the source that answered.
fn memory_before(args: &Args) -> Option<(MemSource, u64)> {
    let src = match MemSource::choose(args) {
        Ok(s) => s?,
        Err(e) => {
            eprintln!("jindou-bench: --api: {e}");
            return None;
        }
    };
    match src.read_bytes() {
        Ok(b) => Some((src, b)),
        Err(e) => {
            let fallback = args.server_pid.map(MemSource::Proc).filter(|f| *f != src);
            eprintln!(
                "jindou-bench: cannot read server memory from {}: {e}{}",
                src.describe(),
                if fallback.is_some() {
                    "; using --server-pid"
                } else {
                    ""
                }
            );
            let f = fallback?;
            f.read_bytes().ok().map(|b| (f, b))
        }
    }
}

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
pub fn run(args: Arc<Args>, targets: Vec<Target>, prefix: String) -> RunResult {
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
    let mem_before = memory_before(&args);
    for t in 0..args.threads {
        let (shared, args, prefix) = (shared.clone(), args.clone(), prefix.clone());
        let targets = targets.clone();
        std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || {
                net::block_on(|| thread_main(t, shared, args, targets, prefix));
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
    let mem = mem_before.and_then(|(src, before)| match src.read_bytes() {
        Ok(after) => Some((src, before, after)),
        Err(e) => {
            eprintln!(
                "jindou-bench: cannot read server memory from {}: {e}",
                src.describe()
            );
            None
        }
    });
    let dropped = shared.dropped.load(Relaxed);
    shared.stop.store(true, Relaxed);
    let hist = shared
        .hist
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| stats::new_hist());
    let failed = shared.failed.load(Relaxed);
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
        rss_kib: mem.map(|(_, a, b)| (a / 1024, b / 1024)),
        rss_source: mem.map(|(src, ..)| src.describe()),
        rss_per_conn_bytes: mem
            .filter(|_| ready > 0)
            .map(|(_, a, b)| (b as f64 - a as f64) / ready as f64),
        error_samples: shared.errors.lock().map(|e| e.clone()).unwrap_or_default(),
        ..RunResult::default()
    }
}

async fn thread_main(
    t: usize,
    shared: Arc<Shared>,
    args: Arc<Args>,
    targets: Vec<Target>,
    prefix: String,
) {
    let targets = Rc::new(targets);
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
        let target = targets[i % targets.len()].clone();
        let uid = format!("{prefix}-c{i}");
        monoio::spawn(async move {
            let began = Instant::now();
            let src = net::source_addr(i, args.sources);
            match net::wk_connect(&target, src, &uid, &args.token).await {
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

/// Keeps an idle connection alive: reads (PONGs, answering WebSocket pings) and PINGs every
/// `--ping`.
async fn hold(shared: Arc<Shared>, args: Arc<Args>, s: net::WkSession) {
    let net::WkSession {
        stream,
        mut rx,
        mut tx,
        ..
    } = s;
    let (mut r, mut w) = stream.into_split();
    // WebSocket control replies from the reader, and a wake-up for the writer.
    let ctrl = Rc::new((RefCell::new(BytesMut::new()), Notify::default()));
    let reader_shared = shared.clone();
    let reader_ctrl = ctrl.clone();
    monoio::spawn(async move {
        let mut buf = BytesMut::with_capacity(256);
        let mut control = BytesMut::new();
        loop {
            let res = rx.read(&mut r, &mut buf, &mut control).await;
            if !control.is_empty() {
                reader_ctrl.0.borrow_mut().extend_from_slice(&control);
                control.clear();
                reader_ctrl.1.notify();
            }
            match res {
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
    let mut ping = BytesMut::new();
    let _ = Packet::Ping.encode(LATEST_VERSION, &mut ping);
    let mut next_ping = Instant::now() + args.ping;
    while !shared.stop.load(Relaxed) {
        let now = Instant::now();
        if now < next_ping {
            let _ = monoio::time::timeout(next_ping - now, ctrl.1.wait()).await;
        }
        let mut out = std::mem::take(&mut *ctrl.0.borrow_mut());
        if Instant::now() >= next_ping {
            tx.put(&ping, &mut out);
            next_ping = Instant::now() + args.ping;
        }
        if out.is_empty() {
            continue;
        }
        let (res, _) = w.write_all(out).await;
        if res.is_err() {
            return;
        }
    }
}
