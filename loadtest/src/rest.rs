//! `rest`: `POST /message/send` over C concurrent keep-alive HTTP/1.1 connections; the answer
//! comes after the message is durable, so its latency is the REST analogue of SENDACK.

use crate::cli::{Args, OnOff};
use crate::engine::{due_count, intended_ns, rand_u32};
use crate::net::{self, HttpConn};
use crate::payload::{self, Header};
use crate::report::RunResult;
use crate::stats::{self, Percentiles};
use base64::Engine as _;
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Shared {
    epoch: Instant,
    t0: u64,
    from: u64,
    to: u64,
    sent: AtomicU64,
    ok: AtomicU64,
    ok_window: AtomicU64,
    errors: AtomicU64,
    done: AtomicUsize,
    hist: Mutex<Histogram<u64>>,
    error_samples: Mutex<Vec<String>>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// JSON body of one `POST /message/send`.
pub fn send_body(from: &str, to: &str, payload: &[u8]) -> String {
    serde_json::json!({
        "from_uid": from,
        "channel_id": to,
        "channel_type": 1,
        "payload": base64::engine::general_purpose::STANDARD.encode(payload),
    })
    .to_string()
}

/// Whether a response body is the success answer (`"status":200` with a message id).
pub fn is_success(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v["status"] == 200 && v["data"]["message_id"].is_number())
        .unwrap_or(false)
}

/// Runs the scenario against `apis` (client `c` uses `apis[c % n]`).
pub fn run(args: Arc<Args>, apis: Vec<SocketAddr>, prefix: String) -> RunResult {
    let epoch = Instant::now();
    let t0 = 50_000_000u64;
    let from = t0 + args.warmup.as_nanos() as u64;
    let to = from + args.duration.as_nanos() as u64;
    let shared = Arc::new(Shared {
        epoch,
        t0,
        from,
        to,
        sent: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        ok_window: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        done: AtomicUsize::new(0),
        hist: Mutex::new(stats::new_hist()),
        error_samples: Mutex::new(Vec::new()),
    });
    let interval_ns = if args.rate > 0.0 {
        1e9 * args.concurrency as f64 / args.rate
    } else {
        0.0
    };
    let run = rand_u32();
    for t in 0..args.threads {
        let (shared, args, prefix, apis) =
            (shared.clone(), args.clone(), prefix.clone(), apis.clone());
        std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || {
                net::block_on(|| async move {
                    let clients: Vec<usize> = (0..args.concurrency)
                        .filter(|c| c % args.threads == t)
                        .collect();
                    let mut joins = Vec::new();
                    for c in clients {
                        joins.push(monoio::spawn(client(
                            shared.clone(),
                            args.clone(),
                            apis[c % apis.len()],
                            format!("{prefix}-r{c}"),
                            c as u32,
                            run,
                            interval_ns,
                        )));
                    }
                    for j in joins {
                        j.await;
                    }
                    shared.done.fetch_add(1, Relaxed);
                });
            })
            .expect("spawn client thread");
    }
    let mut last = (Instant::now(), 0u64);
    let mut tick = 0;
    while shared.done.load(Relaxed) < args.threads {
        std::thread::sleep(Duration::from_millis(1000));
        tick += 1;
        let ok = shared.ok.load(Relaxed);
        let dt = last.0.elapsed().as_secs_f64();
        if !args.quiet {
            let p99 = shared
                .hist
                .lock()
                .map(|h| Percentiles::of(&h).p99)
                .unwrap_or(0.0);
            eprintln!(
                "[{tick:>3}s] requests {} | p99 {} | errors {}",
                stats::fmt_rate((ok - last.1) as f64 / dt),
                stats::fmt_us(p99),
                shared.errors.load(Relaxed)
            );
        }
        last = (Instant::now(), ok);
        if shared.now() > to + args.drain.as_nanos() as u64 + 10_000_000_000 {
            break;
        }
    }
    let hist = shared
        .hist
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| stats::new_hist());
    let secs = args.duration.as_secs_f64();
    RunResult {
        scenario: "rest".into(),
        target: apis
            .iter()
            .map(|a| format!("http://{a}"))
            .collect::<Vec<_>>()
            .join(","),
        label: args.label.clone(),
        duration_s: secs,
        threads: args.threads,
        connections: args.concurrency,
        encrypt: args.encrypt == OnOff::On,
        size: args.size,
        rate: args.rate,
        sent: shared.sent.load(Relaxed),
        acked: shared.ok.load(Relaxed),
        delivered: shared.ok.load(Relaxed),
        delivered_measured: shared.ok_window.load(Relaxed),
        delivered_per_sec: shared.ok_window.load(Relaxed) as f64 / secs,
        sent_per_sec: shared.ok_window.load(Relaxed) as f64 / secs,
        sendack_us: Percentiles::of(&hist),
        errors: shared.errors.load(Relaxed),
        error_samples: shared
            .error_samples
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default(),
        sendack_hist: Some(hist),
        ..RunResult::default()
    }
}

async fn client(
    shared: Arc<Shared>,
    args: Arc<Args>,
    api: SocketAddr,
    uid: String,
    idx: u32,
    run: u32,
    interval_ns: f64,
) {
    let peer = format!("{uid}-peer");
    let mut conn = HttpConn::new(api);
    let mut pt = Vec::with_capacity(args.size);
    let mut seq = 0u64;
    let phase = (interval_ns * f64::from(idx % 1000) / 1000.0) as u64;
    let t0 = shared.t0 + phase;
    let mut local = stats::new_hist();
    loop {
        let mut now = shared.now();
        if now >= shared.to {
            break;
        }
        let ts = if interval_ns > 0.0 {
            if due_count(t0, interval_ns, seq, now) == 0 {
                let next = intended_ns(t0, interval_ns, seq);
                monoio::time::sleep(Duration::from_nanos(next.saturating_sub(now))).await;
                now = shared.now();
            }
            intended_ns(t0, interval_ns, seq)
        } else {
            if now < shared.t0 {
                monoio::time::sleep(Duration::from_nanos(shared.t0 - now)).await;
            }
            shared.now()
        };
        seq += 1;
        payload::write(
            &mut pt,
            &Header {
                run,
                sender: idx,
                seq,
                ts_ns: ts,
            },
            args.size,
        );
        let body = send_body(&uid, &peer, &pt);
        shared.sent.fetch_add(1, Relaxed);
        let res = conn.post("/message/send", body.as_bytes()).await;
        let done = shared.now();
        match res {
            Ok(r) if r.status == 200 && is_success(&r.body) => {
                shared.ok.fetch_add(1, Relaxed);
                if done >= shared.from && done < shared.to {
                    shared.ok_window.fetch_add(1, Relaxed);
                }
                if ts >= shared.from && ts < shared.to {
                    stats::record(&mut local, done.saturating_sub(ts));
                }
            }
            other => {
                shared.errors.fetch_add(1, Relaxed);
                if let Ok(mut v) = shared.error_samples.lock() {
                    if v.len() < 10 {
                        v.push(match other {
                            Ok(r) => {
                                format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body))
                            }
                            Err(e) => format!("HTTP: {e}"),
                        });
                    }
                }
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if local.len() >= 256 {
            if let Ok(mut h) = shared.hist.lock() {
                let _ = h.add(&local);
            }
            local.reset();
        }
    }
    if let Ok(mut h) = shared.hist.lock() {
        let _ = h.add(&local);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_and_success() {
        let b: serde_json::Value = serde_json::from_str(&send_body("a", "b", b"hi")).unwrap();
        assert_eq!(b["from_uid"], "a");
        assert_eq!(b["channel_type"], 1);
        assert_eq!(b["payload"], "aGk=");
        assert!(is_success(
            br#"{"status":200,"data":{"message_id":1,"message_seq":1,"client_msg_no":"x"}}"#
        ));
        assert!(!is_success(br#"{"status":400,"msg":"bad"}"#));
        assert!(!is_success(b"not json"));
    }
}
