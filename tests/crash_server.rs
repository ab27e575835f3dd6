//! Crash safety of the whole server: clients send over TCP and REST while the server is
//! `kill -9`ed at random moments; after each restart every acknowledged message is present
//! exactly once, at its acknowledged seq, in order, and conversations agree with the logs.
//! `CRASH_CYCLES` sets the number of kills (default 4; `scripts/crash-test.sh` runs hundreds).

mod common;
#[path = "common/wk.rs"]
mod wk;

use common::*;
use jindou::proto::{Packet, ReasonCode};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

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
fn verify(
    http: std::net::SocketAddr,
    acked: &Acked,
    key: &'static str,
    login: &str,
    channel: &str,
    ty: u8,
) -> u64 {
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
        )
        .json();
        let page = sync["messages"].as_array().expect("messages").clone();
        let done = sync["more"] == 0 || page.is_empty();
        msgs.extend(page);
        if done {
            break;
        }
    }
    let mut by_payload: HashMap<String, u64> = HashMap::new();
    for (i, m) in msgs.iter().enumerate() {
        let seq = m["message_seq"].as_u64().unwrap();
        assert_eq!(seq, i as u64 + 1, "{key}: seqs dense and in order");
        use base64::Engine;
        let p = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(m["payload"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(
            by_payload.insert(p.clone(), seq).is_none(),
            "{key}: {p} stored twice"
        );
    }
    let a = acked.lock().unwrap();
    for (p, seq) in a.get(key).into_iter().flatten() {
        assert_eq!(
            by_payload.get(p),
            Some(seq),
            "{key}: acknowledged {p} at seq {seq} lost or moved"
        );
    }
    msgs.len() as u64
}

#[test]
fn acknowledged_messages_survive_kill9() {
    let cycles: usize = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let acked: Acked = Arc::default();
    let mut dir = tempfile::tempdir().unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for cycle in 0..cycles {
        let server = Server::start_in(dir, &std::env::var("CRASH_YAML").unwrap_or_default());
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
        // A random moment to crash (xorshift; this is the fault injection, not a wait).
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(50 + rng % 400));
        dir = server.kill9();
        stop.store(true, Ordering::Relaxed);
        let _ = tcp.join();
        let _ = rest.join();
        let server = Server::start_in(dir, "");
        let http = server.addr("http");
        let person = verify(http, &acked, "person", "tx", "rx", 1);
        verify(http, &acked, "group", "api", "g", 2);
        // The receiver's conversation agrees with the log.
        let conv = post(
            http,
            "/conversation/sync",
            &json!({"uid": "rx", "msg_count": 1}).to_string(),
        )
        .json();
        if person > 0 {
            let c = conv
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["channel_id"] == "tx")
                .expect("conversation with tx");
            assert_eq!(c["last_msg_seq"].as_u64(), Some(person));
            assert_eq!(c["unread"].as_u64(), Some(person), "rx never read");
        }
        dir = server.kill9();
        let acked_so_far: usize = acked.lock().unwrap().values().map(|m| m.len()).sum();
        eprintln!(
            "kill {}: {acked_so_far} acknowledged messages verified",
            cycle + 1
        );
    }
    let a = acked.lock().unwrap();
    let total: usize = a.values().map(|m| m.len()).sum();
    eprintln!("{cycles} kills, {total} acknowledged messages verified");
    assert!(total > 0, "something was acknowledged");
}
