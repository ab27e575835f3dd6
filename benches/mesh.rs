//! Mesh throughput (messages/s one shard → another) and round-trip latency between two shards,
//! each on its own pinned thread with its own monoio runtime, as in the server.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hdrhistogram::Histogram;
use jindou::runtime::{build_mesh, pin_to_core, run_on, DriverChoice, LocalMesh};
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

fn on_shard<T: Send + 'static, R: Send + 'static, Fut: std::future::Future<Output = R>>(
    core: usize,
    ep: jindou::runtime::MeshEndpoint<T>,
    body: impl FnOnce(Rc<LocalMesh<T>>) -> Fut + Send + 'static,
) -> thread::JoinHandle<R> {
    thread::spawn(move || {
        pin_to_core(core);
        run_on(DriverChoice::Auto, |_| async move {
            let mesh = ep.into_local();
            monoio::spawn(mesh.clone().run_flusher());
            body(mesh).await
        })
        .expect("runtime")
    })
}

/// Sends `n` messages from shard 0 to shard 1; returns the time until the last arrived.
fn one_way(n: u64) -> Duration {
    let mut eps = build_mesh::<u64>(2, 8192).into_iter();
    let (e0, e1) = (eps.next().unwrap(), eps.next().unwrap());
    let rx = on_shard(1, e1, move |mesh| async move {
        let mut buf = Vec::with_capacity(1024);
        let mut got = 0;
        let mut start = None;
        while got < n {
            buf.clear();
            got += mesh.recv(&mut buf, 1024).await as u64;
            start.get_or_insert_with(Instant::now);
        }
        start.map(|s| s.elapsed()).unwrap_or_default()
    });
    let tx = on_shard(0, e0, move |mesh| async move {
        let start = Instant::now();
        for i in 0..n {
            mesh.send_wait(1, i).await;
            if i % 256 == 255 {
                // A loop turn: let the flusher ring the doorbell for this batch.
                jindou::runtime::yield_now().await;
            }
        }
        // Sleep, not yield: monoio fires timers (the flusher's full-ring retry) only when
        // the shard parks.
        while mesh.stats().backlog_len > 0 {
            monoio::time::sleep(Duration::from_micros(50)).await;
        }
        mesh.flush();
        start
    });
    let _ = tx.join().unwrap();
    rx.join().unwrap()
}

enum Rt {
    Ping(u64),
    Pong(u64),
}

/// Ping-pong `n` times between two shards; returns each round trip's latency.
fn round_trips(n: u64) -> Vec<Duration> {
    let mut eps = build_mesh::<Rt>(2, 1024).into_iter();
    let (e0, e1) = (eps.next().unwrap(), eps.next().unwrap());
    let echo = on_shard(1, e1, move |mesh| async move {
        let mut buf = Vec::new();
        let mut seen = 0;
        while seen < n {
            buf.clear();
            mesh.recv(&mut buf, 64).await;
            for (src, m) in buf.drain(..) {
                if let Rt::Ping(i) = m {
                    seen += 1;
                    mesh.send(src, Rt::Pong(i));
                }
            }
        }
        mesh.flush();
    });
    let pinger = on_shard(0, e0, move |mesh| async move {
        let mut buf = Vec::new();
        let mut lat = Vec::with_capacity(n as usize);
        for i in 0..n {
            let t = Instant::now();
            mesh.send(1, Rt::Ping(i));
            buf.clear();
            mesh.recv(&mut buf, 4).await;
            assert!(matches!(buf[0].1, Rt::Pong(j) if j == i));
            lat.push(t.elapsed());
        }
        lat
    });
    echo.join().unwrap();
    pinger.join().unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mesh");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_way_message", |b| {
        b.iter_custom(|iters| one_way(iters.max(1000)))
    });
    g.bench_function("round_trip", |b| {
        b.iter_custom(|iters| round_trips(iters).into_iter().sum())
    });
    g.finish();

    // Percentiles, which criterion's mean hides.
    let mut h = Histogram::<u64>::new(3).unwrap();
    for d in round_trips(100_000) {
        h.record(d.as_nanos() as u64).unwrap();
    }
    let n = 5_000_000;
    let t = one_way(n);
    println!(
        "mesh summary: one-way {:.2} M msg/s; round trip p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs",
        n as f64 / t.as_secs_f64() / 1e6,
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.value_at_quantile(0.999) as f64 / 1e3,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
