//! The mesh across real threads: order per pair, back-pressure, wake-ups, ask/reply.

use jindou::runtime::{build_mesh, run_on, DriverChoice, LocalMesh, MeshEndpoint, Replies};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;

/// Runs `body` on its own thread with a monoio runtime and the mesh flusher spawned.
fn shard<T, R, F, Fut>(ep: MeshEndpoint<T>, body: F) -> thread::JoinHandle<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: FnOnce(Rc<LocalMesh<T>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = R>,
{
    thread::spawn(move || {
        run_on(DriverChoice::Auto, |_| async move {
            let mesh = ep.into_local();
            monoio::spawn(mesh.clone().run_flusher());
            body(mesh).await
        })
        .expect("runtime")
    })
}

#[test]
fn order_is_kept_per_source_and_nothing_is_lost() {
    const N: u64 = 200_000;
    let mut eps = build_mesh::<(usize, u64)>(3, 1024).into_iter();
    let (e0, e1, e2) = (
        eps.next().unwrap(),
        eps.next().unwrap(),
        eps.next().unwrap(),
    );
    let producer = |ep| {
        shard(ep, |mesh: Rc<LocalMesh<(usize, u64)>>| async move {
            for i in 0..N {
                mesh.send_wait(2, (mesh.id(), i)).await;
            }
            // Let the flusher drain the backlog before the runtime ends.
            while mesh.stats().backlog_len > 0 || mesh.stats().sent < N {
                monoio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            mesh.stats()
        })
    };
    let p0 = producer(e0);
    let p1 = producer(e1);
    let consumer = shard(e2, |mesh| async move {
        let mut next = [0u64; 2];
        let mut buf = Vec::new();
        while next[0] < N || next[1] < N {
            buf.clear();
            mesh.recv(&mut buf, 256).await;
            for (src, (from, i)) in buf.drain(..) {
                assert_eq!(src, from, "source id matches the ring");
                assert_eq!(i, next[src], "messages from shard {src} arrive in order");
                next[src] += 1;
            }
        }
        (next, mesh.stats())
    });
    let s0 = p0.join().unwrap();
    let s1 = p1.join().unwrap();
    let (next, stats) = consumer.join().unwrap();
    assert_eq!(next, [N, N]);
    assert_eq!(s0.sent + s1.sent, 2 * N);
    assert_eq!(stats.received, 2 * N);
}

#[test]
fn a_full_ring_backlogs_and_send_wait_applies_back_pressure() {
    const CAP: usize = 16;
    let mut eps = build_mesh::<u32>(2, CAP).into_iter();
    let (e0, e1) = (eps.next().unwrap(), eps.next().unwrap());
    let (filled_tx, filled_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let producer = shard(e0, move |mesh: Rc<LocalMesh<u32>>| async move {
        // Nobody reads yet: the ring takes CAP, the backlog takes up to its bound.
        for i in 0..(2 * CAP as u32) {
            mesh.send(1, i);
        }
        let stats = mesh.stats();
        let full = mesh.is_full(1);
        filled_tx.send((stats, full)).unwrap();
        // Further producers that can wait do wait, and complete once the reader drains.
        for i in (2 * CAP as u32)..1000 {
            mesh.send_wait(1, i).await;
        }
        while mesh.stats().backlog_len > 0 {
            monoio::time::sleep(std::time::Duration::from_micros(200)).await;
        }
        mesh.stats()
    });
    let (stats, full) = filled_rx.recv().unwrap();
    assert_eq!(
        stats.sent, CAP as u64,
        "the ring holds exactly its capacity"
    );
    assert_eq!(
        stats.backlog_len, CAP as u64,
        "the rest waits in the bounded backlog"
    );
    assert!(stats.backlogged >= CAP as u64);
    assert!(full, "the backlog reports it is at its bound");
    let consumer = shard(e1, move |mesh| async move {
        go_rx.recv().unwrap();
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while got.len() < 1000 {
            buf.clear();
            mesh.recv(&mut buf, 8).await;
            got.extend(buf.iter().map(|(_, v)| *v));
        }
        got
    });
    go_tx.send(()).unwrap();
    let got = consumer.join().unwrap();
    assert_eq!(
        got,
        (0..1000).collect::<Vec<u32>>(),
        "nothing lost or reordered"
    );
    let end = producer.join().unwrap();
    assert_eq!(end.sent, 1000);
    assert_eq!(end.backlog_len, 0);
}

/// Request/reply over the mesh, as the shards use it.
enum Msg {
    Ask { id: u64, value: u64 },
    Answer { id: u64, value: u64 },
    Stop,
}

#[test]
fn parked_shards_are_woken_across_threads_and_replies_resolve() {
    const ROUNDS: u64 = 2000;
    let mut eps = build_mesh::<Msg>(2, 64).into_iter();
    let (e0, e1) = (eps.next().unwrap(), eps.next().unwrap());
    let server = shard(e1, |mesh: Rc<LocalMesh<Msg>>| async move {
        let mut buf = Vec::new();
        let mut served = 0u64;
        loop {
            buf.clear();
            mesh.recv(&mut buf, 64).await;
            for (src, msg) in buf.drain(..) {
                match msg {
                    Msg::Ask { id, value } => {
                        served += 1;
                        mesh.send(
                            src,
                            Msg::Answer {
                                id,
                                value: value * 2,
                            },
                        );
                    }
                    Msg::Stop => return (served, mesh.wakeups_of(1)),
                    Msg::Answer { .. } => unreachable!(),
                }
            }
        }
    });
    let client = shard(e0, |mesh: Rc<LocalMesh<Msg>>| async move {
        let replies: Rc<Replies<u64>> = Rc::new(Replies::default());
        // The client's receive loop completes replies.
        let (m, r) = (mesh.clone(), replies.clone());
        monoio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                buf.clear();
                m.recv(&mut buf, 64).await;
                for (_, msg) in buf.drain(..) {
                    if let Msg::Answer { id, value } = msg {
                        r.complete(id, value);
                    }
                }
            }
        });
        for i in 0..ROUNDS {
            let (id, answer) = replies.register();
            mesh.send(1, Msg::Ask { id, value: i });
            assert_eq!(answer.await, i * 2);
        }
        mesh.send(1, Msg::Stop);
        mesh.flush();
        replies.pending()
    });
    assert_eq!(client.join().unwrap(), 0, "every request was answered");
    let (served, wakeups) = server.join().unwrap();
    assert_eq!(served, ROUNDS);
    assert!(
        wakeups > 0,
        "the parked server was woken by the other thread"
    );
}
