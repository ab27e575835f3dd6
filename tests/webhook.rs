//! Webhooks (issue 7, spec http-api §11) against the real binary and real local receivers: an
//! HTTP server that records events (and can answer 500 or hang), and a tonic gRPC server.

mod common;
use base64::Engine;
use bytes::BytesMut;
use common::*;
use jindou::proto::{Connect, Decoder, DeviceFlag, Encode, Packet, ReasonCode, WkStr};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Hit {
    /// Path with query, e.g. `/wk?event=msg.notify`.
    target: String,
    content_type: String,
    body: Vec<u8>,
    /// What the receiver answered.
    status: u16,
    at: Instant,
}

impl Hit {
    fn event(&self) -> &str {
        self.target.split("event=").nth(1).unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

/// A recording HTTP webhook receiver (keep-alive, Content-Length bodies).
struct Receiver {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Answer 500 to this many more requests.
    fail: Arc<AtomicUsize>,
    /// Hold every answer while set.
    hang: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start() -> Receiver {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("bind receiver"))
    }

    fn start_on(listener: TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let r = Receiver {
            addr,
            hits: Default::default(),
            fail: Default::default(),
            hang: Default::default(),
            stop: Default::default(),
        };
        let (hits, fail, hang, stop) = (
            r.hits.clone(),
            r.fail.clone(),
            r.hang.clone(),
            r.stop.clone(),
        );
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match listener.accept() {
                Ok((s, _)) => {
                    let (hits, fail, hang, stop) =
                        (hits.clone(), fail.clone(), hang.clone(), stop.clone());
                    std::thread::spawn(move || serve(s, hits, fail, hang, stop));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        });
        r
    }

    fn url(&self) -> String {
        format!("http://{}/wk", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Bodies of the requests for `event` that were answered 200.
    fn accepted(&self, event: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.event() == event && h.status == 200)
            .collect()
    }

    /// Every message of the accepted `msg.notify` batches, in arrival order.
    fn notified(&self) -> Vec<Value> {
        self.accepted("msg.notify")
            .iter()
            .flat_map(|h| h.json().as_array().expect("msg.notify is an array").clone())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.hang.store(false, Ordering::SeqCst);
    }
}

fn serve(
    mut s: TcpStream,
    hits: Arc<Mutex<Vec<Hit>>>,
    fail: Arc<AtomicUsize>,
    hang: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // One request: head, then a Content-Length body.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) if !stop.load(Ordering::SeqCst) => continue,
                Err(_) => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let target = head.split(' ').nth(1).unwrap_or("").to_string();
        let header = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let len: usize = header("content-length").parse().unwrap_or(0);
        while buf.len() < head_end + len {
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) if !stop.load(Ordering::SeqCst) => continue,
                Err(_) => return,
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        while hang.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let failing = fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let status = if failing { 500 } else { 200 };
        hits.lock().unwrap().push(Hit {
            target,
            content_type: header("content-type"),
            body,
            status,
            at: Instant::now(),
        });
        let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
        if s.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Polls `f` until it holds, at most `secs` seconds.
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn webhook_yaml(url: &str, extra: &str) -> String {
    format!("encryption: false\nwebhook:\n  httpAddr: \"{url}\"\n{extra}")
}

/// Sends through REST; returns (message_id, client_msg_no).
fn send(http: SocketAddr, from: &str, channel: &str, ty: u8, text: &str) -> (i64, String) {
    let payload = base64::engine::general_purpose::STANDARD.encode(text);
    let body = format!(
        r#"{{"header":{{"red_dot":1}},"from_uid":"{from}","channel_id":"{channel}","channel_type":{ty},"payload":"{payload}"}}"#
    );
    let r = post(http, "/message/send", &body);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    (
        v["data"]["message_id"].as_i64().expect("message_id"),
        v["data"]["client_msg_no"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

/// A plaintext wkproto client that sent CONNECT and got a successful CONNACK.
fn connect(addr: SocketAddr, uid: &str, device: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect tcp");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = BytesMut::new();
    Connect {
        version: 4,
        device_flag: DeviceFlag::APP,
        device_id: WkStr::copy_from_str(device),
        uid: WkStr::copy_from_str(uid),
        token: WkStr::EMPTY,
        client_timestamp: 0,
        client_key: WkStr::EMPTY,
    }
    .encode(4, &mut out)
    .unwrap();
    s.write_all(&out).unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 1024];
    let dec = Decoder::new();
    loop {
        if let Some(p) = dec.decode(&mut buf, 4).expect("decode CONNACK") {
            match p {
                Packet::Connack(c) => {
                    assert_eq!(c.reason_code, ReasonCode::SUCCESS, "CONNACK for {uid}");
                    return s;
                }
                other => panic!("expected CONNACK, got {other:?}"),
            }
        }
        let n = s.read(&mut chunk).expect("read CONNACK");
        assert!(n > 0, "closed before CONNACK");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Checks one §3 message object field by field.
fn check_message(m: &Value, from: &str, channel: &str, ty: u8, text: &str) {
    let obj = m.as_object().expect("message object");
    let h = &m["header"];
    assert_eq!(h["no_persist"], 0, "{m}");
    assert_eq!(h["red_dot"], 1, "{m}");
    assert_eq!(h["sync_once"], 0, "{m}");
    assert!(m["setting"].is_u64(), "{m}");
    let id = m["message_id"].as_i64().expect("message_id is a number");
    assert_eq!(m["message_idstr"], id.to_string(), "{m}");
    assert!(m["client_msg_no"].is_string(), "{m}");
    assert!(m["message_seq"].as_u64().unwrap() >= 1, "{m}");
    assert_eq!(m["from_uid"], from, "{m}");
    assert_eq!(m["channel_id"], channel, "{m}");
    assert_eq!(m["channel_type"], ty, "{m}");
    assert_eq!(m["expire"], 0, "{m}");
    let ts = m["timestamp"].as_i64().expect("timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() < 120, "timestamp {ts} vs now {now}");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(m["payload"].as_str().expect("payload"))
        .unwrap();
    assert_eq!(payload, text.as_bytes(), "{m}");
    assert!(!obj.contains_key("topic"), "empty topic omitted: {m}");
    assert!(!obj.contains_key("stream_no"), "{m}");
}

#[test]
fn msg_notify_payloads_batching_and_interval() {
    let rx = Receiver::start();
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  msgNotifyEventCountPerPush: 5\n  msgNotifyEventPushInterval: 400ms\n",
    ));
    let http = server.addr("http");
    // 12 messages in one group: batches of at most 5, in order.
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(send(http, "alice", "g-batch", 2, &format!("m{i}")).0);
    }
    wait_for("12 notified messages", 15, || rx.notified().len() >= 12);
    let batches = rx.accepted("msg.notify");
    for b in &batches {
        assert_eq!(b.target, "/wk?event=msg.notify");
        assert_eq!(b.content_type, "application/json");
        let n = b.json().as_array().unwrap().len();
        assert!((1..=5).contains(&n), "batch of {n}");
    }
    assert!(
        batches.len() >= 3,
        "12 messages need at least 3 batches of 5"
    );
    let got = rx.notified();
    assert_eq!(got.len(), 12, "each message exactly once: {got:?}");
    let seqs: Vec<u64> = got
        .iter()
        .map(|m| m["message_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>(), "in channel order");
    let got_ids: Vec<i64> = got
        .iter()
        .map(|m| m["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(got_ids, ids);
    for (i, m) in got.iter().enumerate() {
        check_message(m, "alice", "g-batch", 2, &format!("m{i}"));
    }

    // A person message is reported from the sender's side; a system message has from_uid "".
    send(http, "alice", "bob", 1, "hi bob");
    send(http, "", "g-batch", 2, "from the system");
    wait_for("2 more", 15, || rx.notified().len() >= 14);
    let got = rx.notified();
    let person = got
        .iter()
        .find(|m| m["channel_type"] == 1)
        .expect("person message");
    check_message(person, "alice", "bob", 1, "hi bob");
    let system = got
        .iter()
        .find(|m| m["message_seq"] == 13)
        .expect("system message");
    check_message(system, "", "g-batch", 2, "from the system");

    // A lone message waits for the push interval, not for a full batch.
    let before = rx.hits().len();
    let t0 = Instant::now();
    send(http, "alice", "g-interval", 2, "lonely");
    wait_for("the lone message", 10, || rx.hits().len() > before);
    let waited = rx.hits()[before].at.duration_since(t0);
    assert!(
        waited >= Duration::from_millis(300),
        "a partial batch leaves after the interval, not at once ({waited:?})"
    );
    assert!(
        waited < Duration::from_secs(3),
        "and not much later ({waited:?})"
    );
}

#[test]
fn msg_notify_retries_then_succeeds() {
    let rx = Receiver::start();
    rx.fail.store(2, Ordering::SeqCst);
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  msgNotifyEventPushInterval: 50ms\n  msgNotifyEventRetryMaxCount: 5\n",
    ));
    let (id, _) = send(server.addr("http"), "alice", "g-retry", 2, "retry me");
    wait_for("delivery after two failures", 15, || {
        rx.notified().len() == 1
    });
    let hits: Vec<Hit> = rx
        .hits()
        .into_iter()
        .filter(|h| h.event() == "msg.notify")
        .collect();
    assert_eq!(hits.len(), 3, "two failures, then success");
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
    assert!(
        hits.iter().all(|h| h.body == hits[0].body),
        "the same batch is retried"
    );
    assert!(
        hits[2].at.duration_since(hits[0].at) >= Duration::from_millis(150),
        "retries back off"
    );
    assert_eq!(rx.notified()[0]["message_id"], id);
}

#[test]
fn msg_notify_drops_after_the_retry_limit_and_counts() {
    let rx = Receiver::start();
    rx.fail.store(3, Ordering::SeqCst);
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  msgNotifyEventPushInterval: 50ms\n  msgNotifyEventRetryMaxCount: 3\n",
    ));
    let http = server.addr("http");
    send(http, "alice", "g-drop", 2, "lost");
    wait_for("three failed attempts", 15, || {
        rx.hits().iter().filter(|h| h.status == 500).count() == 3
    });
    // The next message goes through: the dropped batch is not retried forever.
    send(http, "alice", "g-drop", 2, "kept");
    wait_for("the next message", 15, || rx.notified().len() == 1);
    let got = rx.notified();
    assert_eq!(got[0]["message_seq"], 2, "message 1 was dropped: {got:?}");
    let failed: Vec<Hit> = rx.hits().into_iter().filter(|h| h.status == 500).collect();
    assert_eq!(failed.len(), 3, "exactly the retry limit of attempts");
    // The failures are counted in /metrics.
    let metrics = String::from_utf8(get(http, "/metrics").body).unwrap();
    let failures: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("jindou_webhook_failures") || l.starts_with("webhook_failures"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();
    assert!(failures >= 3.0, "webhook failures counted: {failures}");
}

#[test]
fn pending_msg_notify_survives_a_crash_and_a_receiver_outage() {
    // The receiver's port is reserved, then freed: nothing listens while messages are sent.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{port}/wk");
    let yaml = webhook_yaml(
        &url,
        "  msgNotifyEventPushInterval: 50ms\n  msgNotifyEventRetryMaxCount: 100000\n",
    );
    let server = Server::start(&yaml);
    let http = server.addr("http");
    let mut sent = BTreeSet::new();
    for i in 0..20 {
        sent.insert(send(http, "alice", &format!("g-crash-{}", i % 4), 2, "x").0);
    }
    let dir = server.kill9();
    let rx = Receiver::start_on(TcpListener::bind(port).expect("rebind the receiver port"));
    let server = Server::start_in(dir, &yaml);
    wait_for("every pending event after the restart", 20, || {
        let got: BTreeSet<i64> = rx
            .notified()
            .iter()
            .map(|m| m["message_id"].as_i64().unwrap())
            .collect();
        sent.is_subset(&got)
    });
    // In order per channel.
    for c in 0..4 {
        let channel = format!("g-crash-{c}");
        let seqs: Vec<u64> = rx
            .notified()
            .iter()
            .filter(|m| m["channel_id"] == channel.as_str())
            .map(|m| m["message_seq"].as_u64().unwrap())
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(seqs, sorted, "{channel} in order");
    }
    // New messages keep flowing after the backlog.
    let (id, _) = send(server.addr("http"), "alice", "g-crash-0", 2, "after");
    wait_for("the new message", 10, || {
        rx.notified().iter().any(|m| m["message_id"] == id)
    });
}

#[test]
fn focus_events_filters() {
    let rx = Receiver::start();
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  msgNotifyEventPushInterval: 50ms\n  focusEvents: [\"user.onlinestatus\"]\n",
    ));
    send(server.addr("http"), "alice", "g-focus", 2, "not notified");
    let c = connect(server.addr("tcp"), "focus-user", "d1");
    wait_for("the online status", 10, || {
        !rx.accepted("user.onlinestatus").is_empty()
    });
    drop(c);
    wait_for("the offline status", 10, || {
        rx.accepted("user.onlinestatus").len() >= 2
    });
    // Absence: ten push intervals after both status events, still no other event.
    std::thread::sleep(Duration::from_millis(500));
    let others: Vec<String> = rx
        .hits()
        .iter()
        .filter(|h| h.event() != "user.onlinestatus")
        .map(|h| h.target.clone())
        .collect();
    assert!(others.is_empty(), "filtered out: {others:?}");
}

#[test]
fn user_onlinestatus_strings() {
    let rx = Receiver::start();
    let server = Server::start(&webhook_yaml(&rx.url(), ""));
    let tcp = server.addr("tcp");
    let a = connect(tcp, "on-user", "dev-a");
    wait_for("online", 10, || {
        !rx.accepted("user.onlinestatus").is_empty()
    });
    let b = connect(tcp, "on-user", "dev-b");
    let entries = |rx: &Receiver| -> Vec<String> {
        rx.accepted("user.onlinestatus")
            .iter()
            .flat_map(|h| {
                h.json()
                    .as_array()
                    .expect("an array of strings")
                    .iter()
                    .map(|s| s.as_str().expect("string").to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    wait_for("two entries", 10, || entries(&rx).len() >= 2);
    drop(a);
    drop(b);
    wait_for("four entries", 10, || entries(&rx).len() >= 4);
    let all = entries(&rx);
    // uid-deviceFlag-online-connId-deviceOnlineCount-totalOnlineCount, parsed from the right.
    let parse = |s: &str| -> (String, Vec<u64>) {
        let parts: Vec<&str> = s.rsplitn(6, '-').collect();
        assert_eq!(parts.len(), 6, "{s}");
        let nums = parts[..5]
            .iter()
            .rev()
            .map(|p| p.parse().unwrap())
            .collect();
        (parts[5].to_string(), nums)
    };
    let (uid, first) = parse(&all[0]);
    assert_eq!(uid, "on-user");
    assert_eq!(first[0], 0, "APP device flag");
    assert_eq!(first[1], 1, "online");
    assert_eq!(
        (first[3], first[4]),
        (1, 1),
        "counts after the connect: {all:?}"
    );
    let (_, second) = parse(&all[1]);
    assert_eq!((second[1], second[3], second[4]), (1, 2, 2), "{all:?}");
    assert_ne!(first[2], second[2], "distinct connection ids");
    let offline: Vec<Vec<u64>> = all[2..].iter().map(|s| parse(s).1).collect();
    assert!(offline.iter().all(|o| o[1] == 0), "{all:?}");
    let conns: HashSet<u64> = offline.iter().map(|o| o[2]).collect();
    assert_eq!(conns, HashSet::from([first[2], second[2]]), "{all:?}");
    assert!(
        offline.iter().any(|o| o[3] == 0 && o[4] == 0),
        "the last disconnect leaves no connection: {all:?}"
    );
}

#[test]
fn msg_offline_reports_receivers_without_a_connection() {
    let rx = Receiver::start();
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  focusEvents: [\"msg.offline\"]\nchannel:\n  subscriberCompressOfCount: 3\n",
    ));
    let http = server.addr("http");
    let members: Vec<String> = (0..12).map(|i| format!("off-{i}")).collect();
    let r = post(
        http,
        "/channel",
        &serde_json::json!({"channel_id": "g-off", "channel_type": 2, "subscribers": members})
            .to_string(),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let _online = connect(server.addr("tcp"), "off-0", "d");
    let (id, client_msg_no) = send(http, "off-1", "g-off", 2, "are you there");
    // One event per owner shard of the receivers; together: everyone but the sender and off-0.
    let want: BTreeSet<String> = members[2..].iter().cloned().collect();
    let uids_of = |v: &Value| -> Vec<String> {
        if v.get("compress").is_some() {
            assert_eq!(v["compress"], "gzip");
            assert_eq!(v["to_uids"], serde_json::json!([]), "empty when compressed");
            let gz = base64::engine::general_purpose::STANDARD
                .decode(v["compress_to_uids"].as_str().unwrap())
                .unwrap();
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut json)
                .expect("a complete gzip stream");
            serde_json::from_slice(&json).unwrap()
        } else {
            assert!(v.get("compress_to_uids").is_none());
            serde_json::from_value(v["to_uids"].clone()).unwrap()
        }
    };
    wait_for("msg.offline for every offline member", 10, || {
        let got: BTreeSet<String> = rx
            .accepted("msg.offline")
            .iter()
            .flat_map(|h| uids_of(&h.json()))
            .collect();
        got == want
    });
    let events = rx.accepted("msg.offline");
    let mut seen = 0;
    for h in &events {
        let v = h.json();
        assert!(v.is_object(), "one object per event");
        assert_eq!(v["message_id"], id);
        assert_eq!(v["message_idstr"], id.to_string());
        assert_eq!(v["client_msg_no"], client_msg_no.as_str());
        assert_eq!(v["message_seq"], 1);
        assert_eq!(v["from_uid"], "off-1");
        assert_eq!(v["channel_id"], "g-off");
        assert_eq!(v["channel_type"], 2);
        assert_eq!(v["source_id"], 1001, "cluster.nodeId");
        assert_eq!(v["header"]["red_dot"], 1);
        assert_eq!(
            v["payload"],
            base64::engine::general_purpose::STANDARD.encode("are you there")
        );
        let n = uids_of(&v).len();
        assert_eq!(
            v.get("compress").is_some(),
            n > 3,
            "gzip above 3 recipients"
        );
        seen += n;
    }
    assert_eq!(seen, want.len(), "disjoint recipient sets");

    // A person message to an offline user names the recipient as channel_id.
    send(http, "off-1", "off-5", 1, "dm");
    wait_for("the person msg.offline", 10, || {
        rx.accepted("msg.offline")
            .iter()
            .any(|h| h.json()["channel_type"] == 1)
    });
    let dm = rx
        .accepted("msg.offline")
        .into_iter()
        .map(|h| h.json())
        .find(|v| v["channel_type"] == 1)
        .unwrap();
    assert_eq!(dm["channel_id"], "off-5");
    assert_eq!(uids_of(&dm), vec!["off-5".to_string()], "not the sender");
}

#[test]
fn a_hung_receiver_does_not_slow_message_delivery() {
    let rx = Receiver::start();
    rx.hang.store(true, Ordering::SeqCst);
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  msgNotifyEventPushInterval: 20ms\n  msgNotifyEventCountPerPush: 10\n",
    ));
    let http = server.addr("http");
    let t0 = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..300 {
        let t = Instant::now();
        send(http, "alice", &format!("g-hang-{}", i % 10), 2, "x");
        slowest = slowest.max(t.elapsed());
    }
    let total = t0.elapsed();
    assert!(rx.notified().is_empty(), "the receiver hangs");
    assert!(
        slowest < Duration::from_secs(1),
        "a send waited {slowest:?} behind the hung receiver"
    );
    assert!(total < Duration::from_secs(20), "300 sends took {total:?}");
    rx.hang.store(false, Ordering::SeqCst);
    wait_for("the backlog once the receiver answers", 30, || {
        rx.notified().len() >= 300
    });
}

mod grpc {
    use super::*;
    use jindou::webhook::proto::webhook_service_server::{WebhookService, WebhookServiceServer};
    use jindou::webhook::proto::{EventReq, EventResp, EventStatus};

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Event>>>);

    /// (event name, data).
    type Event = (String, Vec<u8>);

    #[tonic::async_trait]
    impl WebhookService for Recorder {
        async fn send_webhook(
            &self,
            req: tonic::Request<EventReq>,
        ) -> Result<tonic::Response<EventResp>, tonic::Status> {
            let r = req.into_inner();
            self.0.lock().unwrap().push((r.event, r.data));
            Ok(tonic::Response::new(EventResp {
                status: EventStatus::Success as i32,
                data: Vec::new(),
            }))
        }
    }

    #[test]
    fn events_go_through_grpc_when_grpc_addr_is_set() {
        let rec = Recorder::default();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let service = rec.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(l.local_addr().unwrap()).unwrap();
                tonic::transport::Server::builder()
                    .add_service(WebhookServiceServer::new(service))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // httpAddr is set too: gRPC wins.
        let http_rx = Receiver::start();
        let server = Server::start(&format!(
            "encryption: false\nwebhook:\n  grpcAddr: \"{addr}\"\n  httpAddr: \"{}\"\n  msgNotifyEventPushInterval: 50ms\n",
            http_rx.url()
        ));
        send(server.addr("http"), "alice", "g-grpc", 2, "over grpc");
        let c = connect(server.addr("tcp"), "grpc-user", "d");
        let events = || rec.0.lock().unwrap().clone();
        wait_for("msg.notify and user.onlinestatus over gRPC", 15, || {
            let e = events();
            e.iter().any(|(n, _)| n == "msg.notify")
                && e.iter().any(|(n, _)| n == "user.onlinestatus")
        });
        drop(c);
        let e = events();
        let (_, data) = e.iter().find(|(n, _)| n == "msg.notify").unwrap();
        let batch: Value = serde_json::from_slice(data).unwrap();
        check_message(&batch[0], "alice", "g-grpc", 2, "over grpc");
        let (_, data) = e.iter().find(|(n, _)| n == "user.onlinestatus").unwrap();
        let status: Vec<String> = serde_json::from_slice(data).unwrap();
        assert!(status[0].starts_with("grpc-user-0-1-"), "{status:?}");
        assert!(http_rx.hits().is_empty(), "nothing over HTTP");
    }
}
