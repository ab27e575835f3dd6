//! Crash safety of the whole server: clients send over TCP and REST while the server is
//! `kill -9`ed at random moments; after each restart every acknowledged message is present
//! exactly once, at its acknowledged seq, in order, and the conversations of the receiver and
//! of the senders agree with the logs exactly (last seq, unread, read position).
//!
//! - `acknowledged_messages_survive_kill9`: kill -9 only (`CRASH_CYCLES`, default 4;
//!   `scripts/crash-test.sh` runs hundreds). The page cache survives a kill: this proves the
//!   logs' recovery, not their syncs.
//! - `acknowledged_messages_survive_power_loss`: the data directory on jindou-powerfs; after
//!   each kill the power is cut (everything not synced is lost, every other cut also tears the
//!   last unsynced write) and the filesystem mounted afresh before the restart
//!   (`POWERLOSS_CYCLES`, default 3).
//! - `power_loss_test_catches_sync_policy_none`: the same with `storage.syncPolicy: none` must
//!   find acknowledged messages lost, or the power-loss test proves nothing.

mod common;

use common::*;
use jindou::proto::{Packet, ReasonCode};
use jindou_powerfs::{PowerLossDisk, Tear};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Acknowledged messages: payload → seq, per channel key.
type Acked = Arc<Mutex<HashMap<&'static str, HashMap<String, u64>>>>;

fn record(acked: &Acked, channel: &'static str, payload: String, seq: u64) {
    let mut a = acked.lock().unwrap();
    let prev = a.entry(channel).or_default().insert(payload.clone(), seq);
    assert!(
        prev.is_none() || prev == Some(seq),
        "{payload} acked twice with different seqs"
    );
}

fn tcp_sender(addr: std::net::SocketAddr, cycle: usize, acked: Acked, stop: Arc<AtomicBool>) {
    let mut c = wk::WkClient::login(addr, "tx", 4);
    let mut pending: HashMap<u32, String> = HashMap::new();
    let mut seq = 0u32;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..16 {
            seq += 1;
            let payload = format!("t{cycle}-{seq}");
            pending.insert(seq, payload.clone());
            c.send(
                "rx",
                1,
                seq,
                &format!("cm-{cycle}-{seq}"),
                payload.as_bytes(),
                0,
            );
        }
        while !pending.is_empty() {
            match c.recv_packet(Duration::from_secs(2)) {
                Some(Packet::Sendack(a)) => {
                    if let Some(p) = pending.remove(&a.client_seq) {
                        if a.reason_code == ReasonCode::SUCCESS {
                            record(&acked, "person", p, a.message_seq);
                        }
                    }
                }
                Some(_) => {}
                None => return,
            }
        }
    }
}

fn rest_sender(http: std::net::SocketAddr, cycle: usize, acked: Acked, stop: Arc<AtomicBool>) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let payload = format!("r{cycle}-{i}");
        let body = json!({"from_uid": "api", "channel_id": "g", "channel_type": 2, "payload": b64(&payload)}).to_string();
        let Ok(mut s) = std::net::TcpStream::connect(http) else {
            return;
        };
        let req = format!("POST /message/send HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        if std::io::Write::write_all(&mut s, req.as_bytes()).is_err() {
            return;
        }
        let mut out = String::new();
        if std::io::Read::read_to_string(&mut s, &mut out).is_err()
            || !out.starts_with("HTTP/1.1 200")
        {
            return;
        }
        let Some(body) = out.split("\r\n\r\n").nth(1) else {
            return;
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        record(
            &acked,
            "group",
            payload,
            v["data"]["message_seq"].as_u64().unwrap(),
        );
    }
}

/// Every acknowledged message of `channel` is stored once, at its seq; seqs are dense.
/// Returns the number of stored messages, or the first violation.
fn verify(
    http: std::net::SocketAddr,
    acked: &Acked,
    key: &'static str,
    login: &str,
    channel: &str,
    ty: u8,
) -> Result<u64, String> {
    // Page upwards from seq 1 until `more` is 0: one sync returns at most 10,000 messages
    // (fewer when they pass the answer's byte cap).
    let mut msgs: Vec<serde_json::Value> = Vec::new();
    loop {
        let sync = post(
            http,
            "/channel/messagesync",
            &json!({"login_uid": login, "channel_id": channel, "channel_type": ty,
                    "start_message_seq": msgs.len() + 1, "pull_mode": 1, "limit": 10000})
            .to_string(),
        );
        let sync = match sync.status {
            200 => sync.json(),
            s => return Err(format!("{key}: sync answered {s}: {:?}", sync.body)),
        };
        let page = sync["messages"]
            .as_array()
            .ok_or_else(|| format!("{key}: no messages in the sync"))?
            .clone();
        let done = sync["more"] == 0 || page.is_empty();
        msgs.extend(page);
        if done {
            break;
        }
    }
    let mut by_payload: HashMap<String, u64> = HashMap::new();
    for (i, m) in msgs.iter().enumerate() {
        let seq = m["message_seq"].as_u64().unwrap();
        if seq != i as u64 + 1 {
            return Err(format!(
                "{key}: seq {seq} at position {i}: not dense, in order"
            ));
        }
        use base64::Engine;
        let p = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(m["payload"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        if by_payload.insert(p.clone(), seq).is_some() {
            return Err(format!("{key}: {p} stored twice"));
        }
    }
    let a = acked.lock().unwrap();
    let mut lost: Vec<(u64, &String)> = a
        .get(key)
        .into_iter()
        .flatten()
        .filter(|(p, seq)| by_payload.get(*p) != Some(seq))
        .map(|(p, seq)| (*seq, p))
        .collect();
    if !lost.is_empty() {
        lost.sort();
        let acked_n = a.get(key).map_or(0, |m| m.len());
        let (seq, p) = lost[0];
        return Err(format!(
            "{key}: {} of {acked_n} acknowledged messages lost or moved (first: {p} at seq \
             {seq}; {} stored)",
            lost.len(),
            msgs.len()
        ));
    }
    Ok(msgs.len() as u64)
}

/// `uid`'s conversation with `with` (channel id as the user sees it) as
/// `(last_msg_seq, unread, readed_to_msg_seq)`.
fn conversation(
    http: std::net::SocketAddr,
    uid: &str,
    with: &str,
) -> Result<(u64, u64, u64), String> {
    let conv = post(
        http,
        "/conversation/sync",
        &json!({"uid": uid, "msg_count": 1}).to_string(),
    )
    .json();
    let c = conv
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["channel_id"] == with))
        .ok_or_else(|| format!("no conversation of {uid} with {with}: {conv}"))?;
    let n = |k: &str| {
        c[k].as_u64()
            .ok_or_else(|| format!("{uid}/{with}: no {k}: {c}"))
    };
    Ok((n("last_msg_seq")?, n("unread")?, n("readed_to_msg_seq")?))
}

/// Verifies both channels and the conversations of both sides after a restart: the receiver
/// (rx never reads: everything unread) and the senders (tx and api sent every message: they
/// have read everything, nothing unread), exactly.
fn verify_all(http: std::net::SocketAddr, acked: &Acked) -> Result<(), String> {
    let person = verify(http, acked, "person", "tx", "rx", 1)?;
    let group = verify(http, acked, "group", "api", "g", 2)?;
    let mut want = Vec::new();
    if person > 0 {
        want.push(("rx", "tx", (person, person, 0)));
        want.push(("tx", "rx", (person, 0, person)));
    }
    if group > 0 {
        want.push(("rx", "g", (group, group, 0)));
        want.push(("api", "g", (group, 0, group)));
    }
    for (uid, with, expected) in want {
        let got = conversation(http, uid, with)?;
        if got != expected {
            return Err(format!(
                "conversation of {uid} with {with}: (last, unread, read) = {got:?}, want \
                 {expected:?} ({person} person and {group} group messages stored)"
            ));
        }
    }
    Ok(())
}

/// What a run of crash cycles did.
struct Outcome {
    cycles: usize,
    acked: usize,
    /// The first verification failure.
    result: Result<(), String>,
}

/// `cycles` times: start the server (on `disk` if given), send over TCP and REST, kill -9 at
/// a random moment, cut the power of `disk`, restart, verify.
fn crash_cycles(cycles: usize, yaml: &str, mut disk: Option<&mut PowerLossDisk>) -> Outcome {
    let acked: Acked = Arc::default();
    let mut dir = tempfile::tempdir().unwrap();
    let root = match &disk {
        Some(d) => d.path().join("data"),
        None => dir.path().join("data"),
    };
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    let count = |acked: &Acked| -> usize { acked.lock().unwrap().values().map(|m| m.len()).sum() };
    for cycle in 0..cycles {
        let server = Server::start_on(dir, &root, yaml);
        let http = server.addr("http");
        if cycle == 0 {
            let r = post(
                http,
                "/channel",
                &json!({"channel_id": "g", "channel_type": 2, "subscribers": ["api", "rx"]})
                    .to_string(),
            );
            assert_eq!(r.status, 200);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let tcp = {
            let (a, s, addr) = (acked.clone(), stop.clone(), server.addr("tcp"));
            std::thread::spawn(move || tcp_sender(addr, cycle, a, s))
        };
        let rest = {
            let (a, s) = (acked.clone(), stop.clone());
            std::thread::spawn(move || rest_sender(http, cycle, a, s))
        };
        // Crash while traffic flows: once this cycle's first message is acknowledged (opening
        // the logs may take a while, on jindou-powerfs more), then at a random moment
        // (xorshift; this is the fault injection, not a wait).
        let per_key = |acked: &Acked| -> Vec<usize> {
            let a = acked.lock().unwrap();
            ["person", "group"]
                .iter()
                .map(|k| a.get(k).map_or(0, |m| m.len()))
                .collect()
        };
        let before = per_key(&acked);
        let until = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < until
            && per_key(&acked).iter().zip(&before).any(|(now, b)| now == b)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(50 + rng % 400));
        dir = server.kill9();
        stop.store(true, Ordering::Relaxed);
        let _ = tcp.join();
        let _ = rest.join();
        if let Some(d) = disk.as_deref_mut() {
            let tear = if cycle % 2 == 1 {
                Tear::Random(rng)
            } else {
                Tear::None
            };
            let cut = d.power_cut(tear).expect("power cut");
            eprintln!("kill {}: {cut}", cycle + 1);
        }
        let server = Server::start_on(dir, &root, "");
        let result = verify_all(server.addr("http"), &acked);
        dir = server.kill9();
        if let Err(e) = result {
            return Outcome {
                cycles: cycle + 1,
                acked: count(&acked),
                result: Err(format!("kill {}: {e}", cycle + 1)),
            };
        }
        eprintln!(
            "kill {}: {} acknowledged messages verified",
            cycle + 1,
            count(&acked)
        );
    }
    Outcome {
        cycles,
        acked: count(&acked),
        result: Ok(()),
    }
}

#[test]
fn acknowledged_messages_survive_kill9() {
    let cycles: usize = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let yaml = std::env::var("CRASH_YAML").unwrap_or_default();
    let o = crash_cycles(cycles, &yaml, None);
    o.result.unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{} kills, {} acknowledged messages verified",
        o.cycles, o.acked
    );
    assert!(o.acked > 0, "something was acknowledged");
}

/// The filesystem's process when a power-loss test starts this binary for it.
#[test]
fn powerfs_daemon() {
    jindou_powerfs::daemon_if_requested();
}

fn disk(t: &tempfile::TempDir) -> PowerLossDisk {
    PowerLossDisk::new(t.path()).expect("mount jindou-powerfs")
}

#[test]
fn acknowledged_messages_survive_power_loss() {
    if jindou_powerfs::skip_requested("server crash test on jindou-powerfs") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mut d = disk(&t);
    let yaml = std::env::var("CRASH_YAML").unwrap_or_default();
    let o = crash_cycles(jindou_powerfs::cycles(3), &yaml, Some(&mut d));
    o.result.unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{} kills and power cuts, {} acknowledged messages verified",
        o.cycles, o.acked
    );
    assert!(o.acked > 0, "something was acknowledged");
}

/// The test of the test: with `storage.syncPolicy: none` the server acknowledges before any
/// sync, so a power cut must lose acknowledged messages and the verification must say so.
#[test]
fn power_loss_test_catches_sync_policy_none() {
    if jindou_powerfs::skip_requested("server power-loss test with syncPolicy: none") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mut d = disk(&t);
    let o = crash_cycles(2, "storage: {syncPolicy: none}\n", Some(&mut d));
    assert!(o.acked > 0, "something was acknowledged");
    let e = o
        .result
        .expect_err("syncPolicy none lost nothing at a power cut: the power-loss test is blind");
    assert!(
        e.contains("acknowledged messages lost"),
        "unexpected failure: {e}"
    );
    eprintln!("syncPolicy none fails the power-loss test as it must: {e}");
}
