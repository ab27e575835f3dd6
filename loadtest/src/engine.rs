//! The message engine shared by `pairs` and `group`: client threads (one monoio runtime each),
//! per-connection send windows, open-loop pacing, latency recording and integrity checks,
//! the live progress line and the final accounting.

use crate::cli::{Args, Kind, OnOff, Target};
use crate::net::{self, Notify};
use crate::payload::{self, Header};
use crate::report::RunResult;
use crate::stats::{self, Integrity, Percentiles, StreamCheck};
use bytes::{Buf, Bytes, BytesMut};
use hdrhistogram::Histogram;
use jindou::proto::{
    ChannelType, ConnCipher, Decoder, Encode, Packet, PeekedRecv, ReasonCode, Recvack, Send,
    Setting, WkStr,
};
use monoio::io::{AsyncWriteRentExt, Splitable};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one connection sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendPlan {
    /// Channel (peer uid for person chat, group id).
    pub channel_id: String,
    /// Channel type (1 person, 2 group).
    pub channel_type: u8,
    /// Global indexes of the connections expected to receive every message.
    pub targets: Vec<u32>,
}

/// One client connection of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnPlan {
    /// Global index (the sender id in payloads).
    pub idx: u32,
    /// User id.
    pub uid: String,
    /// What it sends, if it sends.
    pub send: Option<SendPlan>,
    /// Groups it belongs to (peer adapters subscribe to these; Jindou knows membership).
    pub groups: Vec<String>,
}

/// The whole workload: connections and where their messages go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every connection, index = position.
    pub conns: Vec<ConnPlan>,
}

impl Plan {
    /// Connections that send.
    pub fn senders(&self) -> usize {
        self.conns.iter().filter(|c| c.send.is_some()).count()
    }

    /// Deliveries each message should produce, averaged over senders.
    pub fn fanout(&self) -> f64 {
        let (n, t) = self
            .conns
            .iter()
            .filter_map(|c| c.send.as_ref())
            .fold((0usize, 0usize), |(n, t), s| (n + 1, t + s.targets.len()));
        if n == 0 {
            0.0
        } else {
            t as f64 / n as f64
        }
    }

    /// The connections thread `t` of `threads` runs (round robin).
    pub fn for_thread(&self, t: usize, threads: usize) -> Vec<ConnPlan> {
        self.conns
            .iter()
            .filter(|c| c.idx as usize % threads == t)
            .cloned()
            .collect()
    }
}

/// Intended send time of message `k` (0-based) of a connection pacing at `interval_ns` from `t0`.
pub fn intended_ns(t0: u64, interval_ns: f64, k: u64) -> u64 {
    t0 + (k as f64 * interval_ns) as u64
}

/// Messages due by `now` for a paced sender that has sent `sent` so far.
pub fn due_count(t0: u64, interval_ns: f64, sent: u64, now: u64) -> u64 {
    if now < t0 {
        return 0;
    }
    let total = ((now - t0) as f64 / interval_ns).floor() as u64 + 1;
    total.saturating_sub(sent)
}

/// Counters every thread adds to (flushed from thread-local cells a few times a second).
#[derive(Default)]
pub struct Counters {
    /// SENDs written.
    pub sent: AtomicU64,
    /// SENDs written inside the measurement window.
    pub sent_window: AtomicU64,
    /// Successful SENDACKs.
    pub acked: AtomicU64,
    /// SENDACKs with a failure reason.
    pub ack_failed: AtomicU64,
    /// Benchmark messages received (all copies).
    pub delivered: AtomicU64,
    /// Deliveries received inside the measurement window.
    pub delivered_window: AtomicU64,
    /// Connection / protocol errors.
    pub errors: AtomicU64,
    /// Successful SENDACKs weighted by their expected deliveries.
    pub expected_deliveries: AtomicU64,
}

#[derive(Default)]
struct LocalCounters {
    sent: Cell<u64>,
    sent_window: Cell<u64>,
    acked: Cell<u64>,
    ack_failed: Cell<u64>,
    delivered: Cell<u64>,
    delivered_window: Cell<u64>,
    errors: Cell<u64>,
    expected_deliveries: Cell<u64>,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

impl LocalCounters {
    fn flush(&self, g: &Counters) {
        for (l, g) in [
            (&self.sent, &g.sent),
            (&self.sent_window, &g.sent_window),
            (&self.acked, &g.acked),
            (&self.ack_failed, &g.ack_failed),
            (&self.delivered, &g.delivered),
            (&self.delivered_window, &g.delivered_window),
            (&self.errors, &g.errors),
            (&self.expected_deliveries, &g.expected_deliveries),
        ] {
            let v = l.take();
            if v > 0 {
                g.fetch_add(v, Relaxed);
            }
        }
    }
}

/// What a finished thread hands back.
#[derive(Default)]
pub struct ThreadResult {
    /// Streams observed by this thread's receivers, keyed by (sender, receiver).
    pub streams: HashMap<(u32, u32), StreamCheck>,
    /// Successful SENDACKs per sender of this thread.
    pub acked: HashMap<u32, u64>,
    /// First few error messages.
    pub errors: Vec<String>,
}

/// State shared by all threads of a run.
pub struct Shared {
    /// Common clock origin for payload timestamps.
    pub epoch: Instant,
    /// Random run id (payloads of other runs are ignored).
    pub run_id: u32,
    /// When sending starts (ns since epoch); 0 until every connection is up.
    pub t0: AtomicU64,
    /// Measurement window start (ns since epoch).
    pub measure_from: AtomicU64,
    /// Measurement window end = when sending stops (ns since epoch).
    pub measure_to: AtomicU64,
    /// Set when the run is over (after draining): threads report and exit.
    pub stop: AtomicBool,
    /// Connections established.
    pub ready: AtomicUsize,
    /// Connections that failed to establish.
    pub failed: AtomicUsize,
    /// Counters.
    pub counters: Counters,
    /// Measured SENDACK and end-to-end latency (ns).
    pub hists: Mutex<(Histogram<u64>, Histogram<u64>)>,
    /// Thread results.
    pub results: Mutex<Vec<ThreadResult>>,
}

impl Shared {
    /// Fresh shared state.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            run_id: rand_u32(),
            t0: AtomicU64::new(0),
            measure_from: AtomicU64::new(u64::MAX),
            measure_to: AtomicU64::new(u64::MAX),
            stop: AtomicBool::new(false),
            ready: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            counters: Counters::default(),
            hists: Mutex::new((stats::new_hist(), stats::new_hist())),
            results: Mutex::new(Vec::new()),
        })
    }

    /// Nanoseconds since the epoch.
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// A random-enough run id (time and pid; no crypto needed).
pub fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let x = t ^ (u64::from(std::process::id()) << 32);
    // splitmix64 finaliser
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

/// Per-thread state.
struct ThreadCtx {
    shared: Arc<Shared>,
    args: Arc<Args>,
    /// The first target (its kind decides the protocol; peers use only it).
    target: Target,
    /// Every target: connection `i` goes to `targets[i % n]`.
    targets: Vec<Target>,
    local: LocalCounters,
    hists: RefCell<(Histogram<u64>, Histogram<u64>)>,
    result: RefCell<ThreadResult>,
    /// Per-connection open-loop interval (ns), 0 = closed loop.
    interval_ns: f64,
}

impl ThreadCtx {
    fn error(&self, msg: String) {
        bump(&self.local.errors);
        let mut r = self.result.borrow_mut();
        if r.errors.len() < 10 {
            r.errors.push(msg);
        }
    }

    fn flush(&self) {
        self.local.flush(&self.shared.counters);
        let mut h = self.hists.borrow_mut();
        if h.0.is_empty() && h.1.is_empty() {
            return;
        }
        if let Ok(mut g) = self.shared.hists.lock() {
            let _ = g.0.add(&h.0);
            let _ = g.1.add(&h.1);
        }
        h.0.reset();
        h.1.reset();
    }

    fn in_window(&self, ts: u64) -> bool {
        ts >= self.shared.measure_from.load(Relaxed) && ts < self.shared.measure_to.load(Relaxed)
    }

    fn sending_over(&self, now: u64) -> bool {
        now >= self.shared.measure_to.load(Relaxed) || self.shared.stop.load(Relaxed)
    }

    /// Accounts for one received benchmark payload at `receiver`.
    fn on_delivery(&self, receiver: u32, plaintext: &[u8], now: u64) {
        let Some(h) = payload::parse(plaintext) else {
            return;
        };
        if h.run != self.shared.run_id || h.sender == receiver {
            return;
        }
        self.result
            .borrow_mut()
            .streams
            .entry((h.sender, receiver))
            .or_default()
            .observe(h.seq);
        bump(&self.local.delivered);
        if self.in_window(now) {
            bump(&self.local.delivered_window);
        }
        if self.in_window(h.ts_ns) {
            stats::record(&mut self.hists.borrow_mut().1, now.saturating_sub(h.ts_ns));
        }
    }

    /// Accounts for one acknowledgement of a send made at `ts`.
    fn on_ack(&self, sender: u32, ok: bool, ts: u64, now: u64, fanout: usize) {
        if ok {
            bump(&self.local.acked);
            let e = &self.local.expected_deliveries;
            e.set(e.get() + fanout as u64);
            *self.result.borrow_mut().acked.entry(sender).or_default() += 1;
            if self.in_window(ts) {
                stats::record(&mut self.hists.borrow_mut().0, now.saturating_sub(ts));
            }
        } else {
            bump(&self.local.ack_failed);
        }
    }

    /// Sequence number, timestamp and payload of the next message, counting it as sent.
    fn next_message(&self, st: &ConnState, now: u64, buf: &mut Vec<u8>) -> (u64, u64) {
        let seq = st.seq.get() + 1;
        st.seq.set(seq);
        let ts = if self.interval_ns > 0.0 {
            intended_ns(st.t0.get(), self.interval_ns, seq - 1)
        } else {
            now
        };
        payload::write(
            buf,
            &Header {
                run: self.shared.run_id,
                sender: st.idx,
                seq,
                ts_ns: ts,
            },
            self.args.size,
        );
        bump(&self.local.sent);
        if self.in_window(ts) {
            bump(&self.local.sent_window);
        }
        (seq, ts)
    }

    /// How many messages a connection may send now.
    fn budget(&self, st: &ConnState, inflight: usize, now: u64) -> usize {
        let free = self.args.window.saturating_sub(inflight);
        if self.interval_ns > 0.0 {
            free.min(due_count(st.t0.get(), self.interval_ns, st.seq.get(), now) as usize)
        } else {
            free
        }
    }
}

/// One connection's state shared by its reader and writer tasks.
struct ConnState {
    idx: u32,
    /// Packets to write (acks, pings), appended by the reader.
    out: RefCell<BytesMut>,
    /// WebSocket control frames to write as they are (pong, close reply), from the reader.
    ctrl: RefCell<BytesMut>,
    notify: Notify,
    /// (client_seq, send time) of unacknowledged sends, oldest first.
    inflight: RefCell<VecDeque<(u64, u64)>>,
    seq: Cell<u64>,
    /// Pacing origin (t0 plus a per-connection phase).
    t0: Cell<u64>,
    closed: Cell<bool>,
}

impl ConnState {
    fn new(idx: u32) -> Rc<Self> {
        Rc::new(Self {
            idx,
            out: RefCell::new(BytesMut::with_capacity(4096)),
            ctrl: RefCell::new(BytesMut::new()),
            notify: Notify::default(),
            inflight: RefCell::new(VecDeque::new()),
            seq: Cell::new(0),
            t0: Cell::new(0),
            closed: Cell::new(false),
        })
    }

    /// Removes the inflight entry for `id`, returning its send time.
    fn take_inflight(&self, id: u64) -> Option<u64> {
        let mut q = self.inflight.borrow_mut();
        if q.front().is_some_and(|&(s, _)| s == id) {
            return q.pop_front().map(|(_, ts)| ts);
        }
        let pos = q.iter().position(|&(s, _)| s == id)?;
        q.remove(pos).map(|(_, ts)| ts)
    }
}

/// Runs a message scenario (`pairs` / `group`) described by `plan` and returns its result.
pub fn run(args: Arc<Args>, targets: Vec<Target>, plan: Plan, scenario: &str) -> RunResult {
    let target = targets[0].clone();
    let shared = Shared::new();
    let total = plan.conns.len();
    let senders = plan.senders().max(1);
    let interval_ns = if args.rate > 0.0 {
        1e9 * senders as f64 / args.rate
    } else {
        0.0
    };
    let mut handles = Vec::new();
    for t in 0..args.threads {
        let conns = plan.for_thread(t, args.threads);
        let shared = shared.clone();
        let args = args.clone();
        let (target, targets) = (target.clone(), targets.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn(move || {
                    let ctx = Rc::new(ThreadCtx {
                        shared,
                        args,
                        target,
                        targets,
                        local: LocalCounters::default(),
                        hists: RefCell::new((stats::new_hist(), stats::new_hist())),
                        result: RefCell::new(ThreadResult::default()),
                        interval_ns,
                    });
                    net::block_on(|| thread_main(ctx, conns));
                })
                .expect("spawn client thread"),
        );
    }

    // Wait for every connection.
    let connect_deadline = Instant::now() + Duration::from_secs(60) + {
        let r = args.connect_rate;
        if r > 0.0 {
            Duration::from_secs_f64(total as f64 / r)
        } else {
            Duration::ZERO
        }
    };
    let connect_start = Instant::now();
    loop {
        let ready = shared.ready.load(Relaxed);
        let failed = shared.failed.load(Relaxed);
        if ready + failed >= total || Instant::now() > connect_deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let ready = shared.ready.load(Relaxed);
    let connect_secs = connect_start.elapsed().as_secs_f64();
    if ready < total {
        shared.stop.store(true, Relaxed);
        let errs = collect(&shared, args.threads, Duration::from_secs(3));
        let first = errs
            .iter()
            .flat_map(|r| r.errors.iter())
            .next()
            .cloned()
            .unwrap_or_default();
        eprintln!(
            "jindou-bench: only {ready}/{total} connections established; first error: {first}"
        );
        std::process::exit(3);
    }
    if !args.quiet {
        eprintln!(
            "jindou-bench: {total} connections ({} senders, fan-out {:.0}) up in {connect_secs:.2}s on {} threads; warmup {:?}, measuring {:?}",
            plan.senders(), plan.fanout(), args.threads, args.warmup, args.duration
        );
    }

    // Start: t0 slightly in the future so every thread sees it before sending.
    let t0 = shared.now() + 5_000_000;
    let from = t0 + args.warmup.as_nanos() as u64;
    let to = from + args.duration.as_nanos() as u64;
    shared.measure_from.store(from, Relaxed);
    shared.measure_to.store(to, Relaxed);
    shared.t0.store(t0, Relaxed);

    // Progress, one line per second, until sending stops.
    let c = &shared.counters;
    let mut last = (Instant::now(), 0u64, 0u64);
    let mut tick = 0u64;
    let mut cpu_mark: Option<(f64, Instant)> = None;
    while shared.now() < to {
        if cpu_mark.is_none() && shared.now() >= from {
            cpu_mark = Some((crate::report::process_cpu_seconds(), Instant::now()));
        }
        std::thread::sleep(Duration::from_millis(1000).min(Duration::from_nanos(
            to.saturating_sub(shared.now()).max(1_000_000),
        )));
        tick += 1;
        let now = Instant::now();
        let sent = c.sent.load(Relaxed);
        let delivered = c.delivered.load(Relaxed);
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
        let (ack99, e2e99) = shared
            .hists
            .lock()
            .map(|h| (Percentiles::of(&h.0).p99, Percentiles::of(&h.1).p99))
            .unwrap_or_default();
        if !args.quiet {
            let phase = if shared.now() < from {
                "warmup"
            } else {
                "measure"
            };
            eprintln!(
                "[{tick:>3}s {phase}] sent {} delivered {} | p99 sendack {} e2e {} | inflight {} errors {}",
                stats::fmt_rate((sent - last.1) as f64 / dt),
                stats::fmt_rate((delivered - last.2) as f64 / dt),
                stats::fmt_us(ack99),
                stats::fmt_us(e2e99),
                sent.saturating_sub(c.acked.load(Relaxed) + c.ack_failed.load(Relaxed)),
                c.errors.load(Relaxed),
            );
        }
        last = (now, sent, delivered);
    }

    // Client CPU over the measured part (tells whether the load generator saturated).
    let (client_cpu_s, client_cpu_util) = match cpu_mark {
        Some((cpu, at)) => {
            let used = crate::report::process_cpu_seconds() - cpu;
            let wall = at.elapsed().as_secs_f64() * args.threads as f64;
            (used, used / wall.max(1e-9))
        }
        None => (0.0, 0.0),
    };
    // Drain: wait for outstanding acks and deliveries.
    let drain_start = Instant::now();
    let mut drained = false;
    while drain_start.elapsed() < args.drain {
        std::thread::sleep(Duration::from_millis(50));
        let sent = c.sent.load(Relaxed);
        let done = c.acked.load(Relaxed) + c.ack_failed.load(Relaxed);
        if done >= sent && c.delivered.load(Relaxed) >= c.expected_deliveries.load(Relaxed) {
            // One more flush period so the last counts arrive.
            std::thread::sleep(Duration::from_millis(150));
            drained = true;
            break;
        }
    }
    shared.stop.store(true, Relaxed);
    let results = collect(&shared, args.threads, Duration::from_secs(5));
    let _ = drained;
    for h in handles {
        if h.is_finished() {
            let _ = h.join();
        }
    }

    // Integrity: every acknowledged message must reach each of its sender's targets once, in order.
    let mut streams: HashMap<(u32, u32), StreamCheck> = HashMap::new();
    let mut acked: HashMap<u32, u64> = HashMap::new();
    let mut errors_text = Vec::new();
    for r in results {
        for (k, v) in r.streams {
            streams.entry(k).or_default().absorb_counts(&v);
        }
        for (k, v) in r.acked {
            *acked.entry(k).or_default() += v;
        }
        errors_text.extend(r.errors);
    }
    let mut integrity = Integrity::default();
    let empty = StreamCheck::default();
    for conn in &plan.conns {
        let Some(send) = &conn.send else { continue };
        let a = acked.get(&conn.idx).copied().unwrap_or(0);
        for &r in &send.targets {
            integrity.add(streams.get(&(conn.idx, r)).unwrap_or(&empty), a);
        }
    }
    let (sendack, e2e) = shared
        .hists
        .lock()
        .map(|h| (h.0.clone(), h.1.clone()))
        .unwrap_or_else(|_| (stats::new_hist(), stats::new_hist()));
    let secs = args.duration.as_secs_f64();
    let unacked = c
        .sent
        .load(Relaxed)
        .saturating_sub(c.acked.load(Relaxed) + c.ack_failed.load(Relaxed));
    RunResult {
        scenario: scenario.to_string(),
        target: args.target.clone(),
        label: args.label.clone(),
        duration_s: secs,
        threads: args.threads,
        connections: total,
        encrypt: args.encrypt == OnOff::On,
        size: args.size,
        window: args.window,
        rate: args.rate,
        sent: c.sent.load(Relaxed),
        sent_measured: c.sent_window.load(Relaxed),
        acked: c.acked.load(Relaxed),
        delivered: c.delivered.load(Relaxed),
        delivered_measured: c.delivered_window.load(Relaxed),
        delivered_per_sec: c.delivered_window.load(Relaxed) as f64 / secs,
        sent_per_sec: c.sent_window.load(Relaxed) as f64 / secs,
        sendack_us: Percentiles::of(&sendack),
        e2e_us: Percentiles::of(&e2e),
        errors: c.errors.load(Relaxed) + c.ack_failed.load(Relaxed),
        ack_failed: c.ack_failed.load(Relaxed),
        unacked,
        lost: integrity.lost,
        duplicated: integrity.duplicated,
        reordered: integrity.reordered,
        connect_s: connect_secs,
        client_cpu_s,
        client_cpu_util,
        error_samples: errors_text,
        sendack_hist: Some(sendack),
        e2e_hist: Some(e2e),
        ..RunResult::default()
    }
}

/// Waits (up to `timeout`) until `threads` results arrived, and takes them.
fn collect(shared: &Shared, threads: usize, timeout: Duration) -> Vec<ThreadResult> {
    let deadline = Instant::now() + timeout;
    loop {
        let n = shared.results.lock().map(|r| r.len()).unwrap_or(0);
        if n >= threads || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    shared
        .results
        .lock()
        .map(|mut r| std::mem::take(&mut *r))
        .unwrap_or_default()
}

async fn thread_main(ctx: Rc<ThreadCtx>, conns: Vec<ConnPlan>) {
    // Flusher: publishes counters and histograms a few times a second.
    {
        let ctx = ctx.clone();
        monoio::spawn(async move {
            while !ctx.shared.stop.load(Relaxed) {
                monoio::time::sleep(Duration::from_millis(100)).await;
                ctx.flush();
            }
        });
    }
    // Connect, paced to this thread's share of --connect-rate.
    let per_thread_rate = ctx.args.connect_rate / ctx.args.threads as f64;
    let start = Instant::now();
    for (i, plan) in conns.into_iter().enumerate() {
        if per_thread_rate > 0.0 {
            let at = start + Duration::from_secs_f64(i as f64 / per_thread_rate);
            let now = Instant::now();
            if at > now {
                monoio::time::sleep(at - now).await;
            }
        }
        if ctx.shared.stop.load(Relaxed) {
            break;
        }
        let ctx = ctx.clone();
        match ctx.target.kind {
            Kind::Wk => {
                monoio::spawn(wk_conn(ctx, plan));
            }
            other => {
                monoio::spawn(crate::peers::peer_conn(ctx_handle(ctx), plan, other));
            }
        }
    }
    while !ctx.shared.stop.load(Relaxed) {
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
    ctx.flush();
    let result = std::mem::take(&mut *ctx.result.borrow_mut());
    if let Ok(mut r) = ctx.shared.results.lock() {
        r.push(result);
    }
}

/// Waits until the run's t0 is set; returns it.
async fn wait_start(shared: &Shared) -> Option<u64> {
    loop {
        if shared.stop.load(Relaxed) {
            return None;
        }
        let t0 = shared.t0.load(Relaxed);
        if t0 != 0 {
            let now = shared.now();
            if now < t0 {
                monoio::time::sleep(Duration::from_nanos(t0 - now)).await;
            }
            return Some(t0);
        }
        monoio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A Jindou (wkproto) connection: connect, then a reader and a writer task.
async fn wk_conn(ctx: Rc<ThreadCtx>, plan: ConnPlan) {
    let src = net::source_addr(plan.idx as usize, ctx.args.sources);
    let target = &ctx.targets[plan.idx as usize % ctx.targets.len()];
    let session = match net::wk_connect(target, src, &plan.uid, &ctx.args.token).await {
        Ok(s) => s,
        Err(e) => {
            ctx.shared.failed.fetch_add(1, Relaxed);
            ctx.error(format!("connect {}: {e}", plan.uid));
            ctx.flush();
            return;
        }
    };
    if ctx.args.encrypt == OnOff::On && session.cipher.is_none() && plan.idx == 0 {
        eprintln!("jindou-bench: warning: --encrypt on but the server did not agree on a key (encryption off server-side); payloads go plaintext");
    }
    ctx.shared.ready.fetch_add(1, Relaxed);
    let st = ConnState::new(plan.idx);
    let cipher = session.cipher.map(Rc::new);
    let (reader, writer) = session.stream.into_split();
    let fanout = plan.send.as_ref().map_or(0, |s| s.targets.len());
    monoio::spawn(wk_reader(
        ctx.clone(),
        st.clone(),
        (reader, session.rx),
        session.buf,
        session.version,
        cipher.clone(),
        fanout,
    ));
    wk_writer(ctx, st, (writer, session.tx), plan, session.version, cipher).await;
}

async fn wk_reader(
    ctx: Rc<ThreadCtx>,
    st: Rc<ConnState>,
    (mut r, mut rx): (monoio::net::tcp::TcpOwnedReadHalf, net::WkRx),
    mut buf: BytesMut,
    version: u8,
    cipher: Option<Rc<ConnCipher>>,
    fanout: usize,
) {
    let decoder = Decoder::new();
    let mut control = BytesMut::new();
    loop {
        let mut progressed = false;
        loop {
            // Plaintext RECVs are read in place: no reference counts, no string checks (they
            // were a fifth of the generator's own CPU under fan-out). Sealed ones are opened
            // from the whole decoded packet below.
            match decoder.peek_recv(&buf, version) {
                Ok(PeekedRecv::Recv { head, len })
                    if cipher.is_none() || head.setting.no_encrypt() =>
                {
                    progressed = true;
                    let now = ctx.shared.now();
                    let ack = Recvack {
                        flags: head.flags,
                        message_id: head.message_id,
                        message_seq: head.message_seq,
                    };
                    let _ = ack.encode(version, &mut st.out.borrow_mut());
                    ctx.on_delivery(st.idx, head.payload, now);
                    buf.advance(len);
                    continue;
                }
                Ok(PeekedRecv::Incomplete) => break,
                // Other packets, sealed RECVs and errors: the full decode below (which reports
                // the same error).
                _ => {}
            }
            match decoder.decode(&mut buf, version) {
                Ok(Some(p)) => {
                    progressed = true;
                    let now = ctx.shared.now();
                    match p {
                        Packet::Sendack(a) => {
                            if let Some(ts) = st.take_inflight(u64::from(a.client_seq)) {
                                ctx.on_ack(
                                    st.idx,
                                    a.reason_code == ReasonCode::SUCCESS,
                                    ts,
                                    now,
                                    fanout,
                                );
                                if a.reason_code != ReasonCode::SUCCESS {
                                    ctx.error(format!("SENDACK {:?}", a.reason_code));
                                }
                            }
                        }
                        Packet::Recv(m) => {
                            let ack = Recvack {
                                flags: m.flags,
                                message_id: m.message_id,
                                message_seq: m.message_seq,
                            };
                            let _ = ack.encode(version, &mut st.out.borrow_mut());
                            match m.open(cipher.as_deref()) {
                                Ok(pt) => ctx.on_delivery(st.idx, &pt, now),
                                Err(e) => ctx.error(format!("RECV open: {e:?}")),
                            }
                        }
                        Packet::Disconnect(d) => {
                            if !ctx.shared.stop.load(Relaxed) {
                                ctx.error(format!("DISCONNECT {:?} {}", d.reason_code, d.reason));
                            }
                            st.closed.set(true);
                            st.notify.notify();
                            return;
                        }
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    ctx.error(format!("decode: {e}"));
                    st.closed.set(true);
                    st.notify.notify();
                    return;
                }
            }
        }
        if progressed {
            st.notify.notify();
        }
        let res = rx.read(&mut r, &mut buf, &mut control).await;
        if !control.is_empty() {
            st.ctrl.borrow_mut().extend_from_slice(&control);
            control.clear();
            st.notify.notify();
        }
        match res {
            Ok(n) if n > 0 => {}
            res => {
                if !ctx.shared.stop.load(Relaxed) && !st.closed.get() {
                    ctx.error(format!("read: {:?}", res.err()));
                }
                st.closed.set(true);
                st.notify.notify();
                return;
            }
        }
    }
}

async fn wk_writer(
    ctx: Rc<ThreadCtx>,
    st: Rc<ConnState>,
    (mut w, mut tx): (monoio::net::tcp::TcpOwnedWriteHalf, net::WkTx),
    plan: ConnPlan,
    version: u8,
    cipher: Option<Rc<ConnCipher>>,
) {
    let Some(t0) = wait_start(&ctx.shared).await else {
        return;
    };
    // Spread paced senders' phases so they do not all fire at once.
    let phase = if ctx.interval_ns > 0.0 {
        (ctx.interval_ns * f64::from(plan.idx % 1000) / 1000.0) as u64
    } else {
        0
    };
    st.t0.set(t0 + phase);
    let encrypt = ctx.args.encrypt == OnOff::On && cipher.is_some();
    let setting = if encrypt {
        Setting::EMPTY
    } else {
        Setting::NO_ENCRYPT
    };
    let channel: Option<(WkStr, ChannelType)> = plan.send.as_ref().map(|s| {
        (
            WkStr::from(s.channel_id.clone()),
            ChannelType(s.channel_type),
        )
    });
    let msg_prefix = format!("{:08x}-{:x}-", ctx.shared.run_id, plan.idx);
    let mut spare = BytesMut::with_capacity(16 * 1024);
    // WebSocket only: the framed bytes of one write.
    let mut wire_spare = BytesMut::new();
    let mut scratch = BytesMut::new();
    let mut pt = Vec::with_capacity(ctx.args.size);
    let ping_ns = ctx.args.ping.as_nanos() as u64;
    let mut last_write = ctx.shared.now();
    let mut client_seq: u32 = 0;
    loop {
        if st.closed.get() {
            // Best effort: a WebSocket close reply the reader queued.
            let ctrl = std::mem::take(&mut *st.ctrl.borrow_mut());
            if !ctrl.is_empty() {
                let _ = w.write_all(ctrl).await;
            }
            return;
        }
        let now = ctx.shared.now();
        let over = ctx.sending_over(now);
        if over && ctx.shared.stop.load(Relaxed) {
            return;
        }
        let mut buf = std::mem::replace(&mut *st.out.borrow_mut(), spare);
        if let (Some((ch, ct)), false) = (&channel, over) {
            let n = ctx.budget(&st, st.inflight.borrow().len(), now);
            for _ in 0..n {
                let (seq, ts) = ctx.next_message(&st, now, &mut pt);
                client_seq = client_seq.wrapping_add(1);
                let mut send = Send {
                    setting,
                    client_seq,
                    client_msg_no: format!("{msg_prefix}{seq:x}").into(),
                    channel_id: ch.clone(),
                    channel_type: *ct,
                    ..Send::default()
                };
                send.seal(
                    &Bytes::copy_from_slice(&pt),
                    cipher.as_deref(),
                    &mut scratch,
                );
                if let Err(e) = send.encode(version, &mut buf) {
                    ctx.error(format!("encode SEND: {e}"));
                    return;
                }
                st.inflight
                    .borrow_mut()
                    .push_back((u64::from(client_seq), ts));
            }
        }
        if buf.is_empty() && now.saturating_sub(last_write) > ping_ns {
            let _ = Packet::Ping.encode(version, &mut buf);
        }
        if !buf.is_empty() || (tx.is_ws() && !st.ctrl.borrow().is_empty()) {
            let res = if tx.is_ws() {
                let mut wire = std::mem::take(&mut wire_spare);
                {
                    // Control frames go between whole messages, ahead of the packets.
                    let mut ctrl = st.ctrl.borrow_mut();
                    wire.extend_from_slice(&ctrl);
                    ctrl.clear();
                }
                tx.put(&buf, &mut wire);
                buf.clear();
                spare = buf;
                let (res, mut b) = w.write_all(wire).await;
                b.clear();
                wire_spare = b;
                res
            } else {
                let (res, mut b) = w.write_all(buf).await;
                b.clear();
                spare = b;
                res
            };
            if let Err(e) = res {
                if !ctx.shared.stop.load(Relaxed) {
                    ctx.error(format!("write: {e}"));
                }
                st.closed.set(true);
                return;
            }
            last_write = ctx.shared.now();
            continue;
        }
        spare = buf;
        // Nothing to write: sleep until notified, the next paced send, or a periodic check.
        let mut wait = Duration::from_millis(50);
        if ctx.interval_ns > 0.0 && channel.is_some() && !over {
            let next = intended_ns(st.t0.get(), ctx.interval_ns, st.seq.get());
            wait = wait.min(Duration::from_nanos(next.saturating_sub(now).max(1)));
        }
        let _ = monoio::time::timeout(wait, st.notify.wait()).await;
    }
}

/// Handle the peer adapters use for the engine's bookkeeping (not every adapter uses every
/// method).
#[allow(dead_code)]
pub struct EngineHandle {
    ctx: Rc<ThreadCtx>,
}

fn ctx_handle(ctx: Rc<ThreadCtx>) -> EngineHandle {
    EngineHandle { ctx }
}

#[allow(dead_code)]
impl EngineHandle {
    /// Target address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.ctx.target.addr
    }
    /// Options.
    pub fn args(&self) -> &Args {
        &self.ctx.args
    }
    /// Nanoseconds since the run's epoch.
    pub fn now(&self) -> u64 {
        self.ctx.shared.now()
    }
    /// Marks the connection established (or failed).
    pub fn connected(&self, ok: Result<(), String>) {
        match ok {
            Ok(()) => {
                self.ctx.shared.ready.fetch_add(1, Relaxed);
            }
            Err(e) => {
                self.ctx.shared.failed.fetch_add(1, Relaxed);
                self.ctx.error(e);
                self.ctx.flush();
            }
        }
    }
    /// Waits for the start; `None` if the run was stopped first.
    pub async fn wait_start(&self) -> Option<u64> {
        wait_start(&self.ctx.shared).await
    }
    /// Whether sending is over.
    pub fn sending_over(&self, now: u64) -> bool {
        self.ctx.sending_over(now)
    }
    /// Whether the run is over.
    pub fn stopped(&self) -> bool {
        self.ctx.shared.stop.load(Relaxed)
    }
    /// Reports an error.
    pub fn error(&self, msg: String) {
        self.ctx.error(msg);
    }
    /// Accounts for a delivery at `receiver`.
    pub fn delivery(&self, receiver: u32, plaintext: &[u8], now: u64) {
        self.ctx.on_delivery(receiver, plaintext, now);
    }
    /// Accounts for an acknowledgement.
    pub fn ack(&self, sender: u32, ok: bool, ts: u64, now: u64, fanout: usize) {
        self.ctx.on_ack(sender, ok, ts, now, fanout);
    }
    /// Builds the next payload of `sender` (seq, ts) into `buf`.
    pub fn next_message(&self, pacer: &Pacer, now: u64, buf: &mut Vec<u8>) -> (u64, u64) {
        self.ctx.next_message(&pacer.0, now, buf)
    }
    /// How many messages may be sent now with `inflight` outstanding.
    pub fn budget(&self, pacer: &Pacer, inflight: usize, now: u64) -> usize {
        self.ctx.budget(&pacer.0, inflight, now)
    }
    /// Open-loop interval per connection (ns), 0 for closed loop.
    pub fn interval_ns(&self) -> f64 {
        self.ctx.interval_ns
    }
    /// A pacer for connection `idx` starting at `t0`.
    pub fn pacer(&self, idx: u32, t0: u64) -> Pacer {
        let st = ConnState::new(idx);
        let phase = if self.ctx.interval_ns > 0.0 {
            (self.ctx.interval_ns * f64::from(idx % 1000) / 1000.0) as u64
        } else {
            0
        };
        st.t0.set(t0 + phase);
        Pacer(st)
    }
}

/// Per-sender pacing state for adapters.
#[allow(dead_code)]
pub struct Pacer(Rc<ConnState>);

#[allow(dead_code)]
impl Pacer {
    /// The next intended send time (open loop).
    pub fn next_due(&self, interval_ns: f64) -> u64 {
        intended_ns(self.0.t0.get(), interval_ns, self.0.seq.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_maths() {
        // 1 ms interval from t0 = 1000.
        assert_eq!(due_count(1000, 1e6, 0, 999), 0);
        assert_eq!(due_count(1000, 1e6, 0, 1000), 1);
        assert_eq!(due_count(1000, 1e6, 1, 1000 + 999_999), 0);
        assert_eq!(due_count(1000, 1e6, 1, 1000 + 1_000_000), 1);
        // Fell behind by 10 intervals: all of them are due at once (coordinated omission:
        // their latency is measured from these intended times).
        assert_eq!(due_count(1000, 1e6, 5, 1000 + 15_000_000), 11);
        assert_eq!(intended_ns(1000, 1e6, 3), 3_001_000);
    }

    #[test]
    fn plan_helpers() {
        let plan = Plan {
            conns: (0..4)
                .map(|i| ConnPlan {
                    idx: i,
                    uid: format!("u{i}"),
                    send: (i < 2).then(|| SendPlan {
                        channel_id: "g".into(),
                        channel_type: 2,
                        targets: vec![2, 3],
                    }),
                    groups: vec!["g".into()],
                })
                .collect(),
        };
        assert_eq!(plan.senders(), 2);
        assert_eq!(plan.fanout(), 2.0);
        assert_eq!(plan.for_thread(0, 2).len(), 2);
        assert_eq!(plan.for_thread(1, 2)[0].idx, 1);
    }

    #[test]
    fn inflight_matches_out_of_order_acks() {
        let st = ConnState::new(0);
        for s in 1..=4 {
            st.inflight.borrow_mut().push_back((s, s * 10));
        }
        assert_eq!(st.take_inflight(1), Some(10));
        assert_eq!(st.take_inflight(3), Some(30));
        assert_eq!(st.take_inflight(3), None);
        assert_eq!(st.take_inflight(2), Some(20));
        assert_eq!(st.inflight.borrow().len(), 1);
    }
}
