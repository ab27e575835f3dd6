//! Message events (spec `shared/spec/wukongim-2.2.5.md` §1) against the real binary over real
//! sockets: an `is_stream` anchor, deltas and terminal events through `/message/event`, pushes
//! as EVENT packets (wkproto v5) and JSON-RPC `event` notifications, `/message/eventsync`
//! paging, the `event_summary_mode` summary of `/channel/messagesync`, the error answers, and
//! the stored state surviving `kill -9`.

mod common;
use common::{cluster, wk};

use common::*;
use jindou::proto::{ChannelType, Packet};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use wk::WkClient;

const PERSON: u8 = ChannelType::PERSON.0;
const GROUP: u8 = ChannelType::GROUP.0;

/// POSTs `body` and returns the HTTP status and the JSON answer.
fn call(http: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let r = post(http, path, &body.to_string());
    (r.status, r.json())
}

/// POSTs `body`, asserting a 200, and returns the JSON answer.
fn ok(http: SocketAddr, path: &str, body: &Value) -> Value {
    let (status, v) = call(http, path, body);
    assert_eq!(status, 200, "{path} {body}: {v}");
    v
}

/// Sends a stream anchor (`is_stream: 1`) from `from` to `to` with `client_msg_no`.
fn anchor(http: SocketAddr, from: &str, to: &str, ty: u8, client_msg_no: &str) -> Value {
    ok(
        http,
        "/message/send",
        &json!({"header": {"red_dot": 1}, "client_msg_no": client_msg_no, "is_stream": 1,
                "from_uid": from, "channel_id": to, "channel_type": ty,
                "payload": b64(r#"{"type":1,"content":""}"#)}),
    )
}

/// The `/message/event` body for an event of `u1`'s anchor `cmn-1` in the chat with `u2`.
fn u1_event(id: &str, ty: &str, payload: Value) -> Value {
    json!({"channel_id": "u2", "channel_type": PERSON, "from_uid": "u1", "client_msg_no": "cmn-1",
           "event_id": id, "event_type": ty, "payload": payload})
}

/// `/channel/messagesync` of `login_uid`'s view of `channel_id`, the message `client_msg_no`.
fn synced(http: SocketAddr, login: &str, channel: &str, ty: u8, no: &str, mode: &str) -> Value {
    let v = ok(
        http,
        "/channel/messagesync",
        &json!({"login_uid": login, "channel_id": channel, "channel_type": ty, "limit": 20,
                "event_summary_mode": mode}),
    );
    v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["client_msg_no"] == no)
        .unwrap_or_else(|| panic!("{no} not in {v}"))
        .clone()
}

/// The worked example of spec §1.8: deltas answer seq 0 and `open`, the close folds them
/// into the stored snapshot (seq 1), the finish goes to `__finish__` (seq 2); eventsync shows
/// one event per key and messagesync the summary, in full and basic mode.
#[test]
fn anchor_deltas_close_and_finish_follow_the_worked_example() {
    let server = Server::start("");
    let http = server.addr("http");
    let sent = anchor(http, "u1", "u2", PERSON, "cmn-1");
    let message_id = sent["data"]["message_id"].as_i64().expect("message_id");

    let d1 = ok(
        http,
        "/message/event",
        &u1_event(
            "d1",
            "stream.delta",
            json!({"kind": "text", "delta": "Hello"}),
        ),
    );
    assert_eq!(
        d1,
        json!({"status": 200, "data": {"channel_id": "u2", "channel_type": 1, "client_msg_no": "cmn-1",
               "event_id": "d1", "event_key": "main", "from_uid": "u1", "msg_event_seq": 0,
               "stream_status": "open"}})
    );
    let d2 = ok(
        http,
        "/message/event",
        &u1_event(
            "d2",
            "stream.delta",
            json!({"kind": "text", "delta": ", world!"}),
        ),
    );
    assert_eq!(d2["data"]["msg_event_seq"], 0, "deltas consume no seq");
    // While open, the summary shows the memory lane.
    let open = synced(http, "u1", "u2", PERSON, "cmn-1", "full");
    assert_eq!(open["setting"], 2, "the anchor has the stream bit: {open}");
    assert_eq!(
        open["event_meta"]["events"],
        json!([{"event_key": "main", "status": "open",
                "snapshot": {"kind": "text", "text": "Hello, world!"}}])
    );
    assert_eq!(open["event_meta"]["open_event_count"], 1);
    assert!(open.get("end").is_none(), "{open}");

    let c1 = ok(
        http,
        "/message/event",
        &u1_event("c1", "stream.close", json!({"end_reason": 0})),
    );
    assert_eq!(c1["data"]["msg_event_seq"], 1);
    assert_eq!(c1["data"]["stream_status"], "closed");
    let f1 = ok(
        http,
        "/message/event",
        &u1_event("f1", "stream.finish", json!(null)),
    );
    assert_eq!(f1["data"]["event_key"], "__finish__");
    assert_eq!(f1["data"]["msg_event_seq"], 2);
    assert_eq!(f1["data"]["stream_status"], "closed");

    let page = ok(
        http,
        "/message/eventsync",
        &json!({"channel_id": "u2", "channel_type": PERSON, "from_uid": "u1", "client_msg_no": "cmn-1"}),
    );
    let data = &page["data"];
    assert_eq!(data["more"], 0);
    assert_eq!(data["next_msg_event_seq"], 2);
    assert_eq!(data["filtered_by_event_key"], "");
    let events = data["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{page}");
    assert_eq!(events[0]["event_id"], "c1");
    assert_eq!(events[0]["event_key"], "main");
    assert_eq!(events[0]["event_type"], "stream.close");
    assert_eq!(events[0]["msg_event_seq"], 1);
    assert_eq!(
        events[0]["payload"],
        json!({"kind": "text", "text": "Hello, world!"})
    );
    assert!(events[0]["occurred_at"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(events[1]["event_key"], "__finish__");
    assert_eq!(events[1]["event_type"], "stream.finish");
    assert_eq!(
        events[1]["payload"],
        json!({"end_reason": 0, "status": "closed"})
    );
    // The same page for the other party, by the storage id.
    let fake = wk::person_fake_id("u1", "u2");
    let by_id = ok(
        http,
        "/message/eventsync",
        &json!({"channel_id": fake, "channel_type": PERSON, "client_msg_no": "cmn-1"}),
    );
    assert_eq!(by_id["data"]["events"], data["events"]);

    let full = synced(http, "u2", "u1", PERSON, "cmn-1", "full");
    assert_eq!(full["message_id"], message_id);
    assert_eq!(full["end"], 1);
    assert_eq!(full["stream_data"], b64("Hello, world!"));
    assert_eq!(
        full["event_meta"],
        json!({"has_events": true, "completed": true, "event_version": 1, "last_msg_event_seq": 1,
               "event_count": 1, "events": [{"event_key": "main", "status": "closed",
               "last_msg_event_seq": 1, "snapshot": {"kind": "text", "text": "Hello, world!"}}]})
    );
    assert_eq!(
        full["event_sync_hint"],
        json!({"client_msg_no": "cmn-1", "from_msg_event_seq": 0})
    );
    let basic = synced(http, "u1", "u2", PERSON, "cmn-1", "basic");
    assert_eq!(
        basic["event_meta"]["events"],
        json!([{"event_key": "main", "status": "closed", "last_msg_event_seq": 1}])
    );
}

/// Reads the next EVENT packet of `c` (other packets stay queued).
fn next_event(c: &mut WkClient) -> jindou::proto::Event {
    match c.expect(|p| matches!(p, Packet::Event(_))) {
        Packet::Event(e) => e,
        _ => unreachable!(),
    }
}

/// Every authenticated wkproto connection of both parties at version 5 gets each event as an
/// EVENT packet with the spec's `data`; a version 4 session gets none (checked with a message
/// sent after the events: it travels the same ordered path, so an EVENT would precede it).
#[test]
fn wkproto_v5_sessions_receive_event_packets() {
    let server = Server::start("");
    let (http, tcp) = (server.addr("http"), server.addr("tcp"));
    let mut receiver = WkClient::login(tcp, "u2", 5);
    let mut sender_device = WkClient::login(tcp, "u1", 5);
    let (mut old, _) = WkClient::connect(tcp, "u2", "", 1, 4, true);
    anchor(http, "u1", "u2", PERSON, "cmn-1");
    for c in [&mut receiver, &mut sender_device, &mut old] {
        c.expect_recv();
    }

    let mut delta = u1_event("d1", "Stream.Delta", json!({"kind": "text", "delta": "Hi"}));
    delta["occurred_at"] = json!(1_776_000_000_123i64);
    ok(http, "/message/event", &delta);
    ok(
        http,
        "/message/event",
        &u1_event("c1", "stream.close", json!({"end_reason": 1})),
    );
    for c in [&mut receiver, &mut sender_device] {
        let e = next_event(c);
        assert_eq!(e.id.as_str(), "d1");
        assert_eq!(e.event_type.as_str(), "Stream.Delta", "the type as sent");
        assert_eq!(e.timestamp, 1_776_000_000_123);
        let data: Value = serde_json::from_slice(&e.data).expect("data is JSON");
        let message_id = data["message_id"].as_i64().unwrap();
        assert!(message_id > 0, "{data}");
        assert_eq!(
            data,
            json!({"client_msg_no": "cmn-1", "channel_id": "u2", "channel_type": 1, "from_uid": "u1",
                   "message_id": message_id, "event_key": "main", "msg_event_seq": 0,
                   "stream_status": "open", "payload": {"kind": "text", "delta": "Hi"}})
        );
        let e = next_event(c);
        assert_eq!(e.id.as_str(), "c1");
        assert_eq!(e.timestamp, 0, "no occurred_at: 0");
        let data: Value = serde_json::from_slice(&e.data).unwrap();
        assert_eq!(data["msg_event_seq"], 1);
        assert_eq!(data["stream_status"], "closed");
        assert_eq!(
            data["payload"],
            json!({"end_reason": 1}),
            "the caller's payload"
        );
    }
    ok(
        http,
        "/message/send",
        &json!({"from_uid": "u1", "channel_id": "u2", "channel_type": PERSON, "payload": b64("after")}),
    );
    let after = old.expect_recv();
    assert_eq!(after.payload, b"after");
    assert!(
        old.queued().iter().all(|p| !matches!(p, Packet::Event(_))),
        "a version 4 session got EVENT packets: {:?}",
        old.queued()
    );
}

/// A minimal JSON-RPC client over TCP (JSON values back to back).
struct Rpc {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Rpc {
    fn login(tcp: SocketAddr, uid: &str) -> Rpc {
        let s = TcpStream::connect(tcp).expect("connect");
        let mut c = Rpc { s, buf: Vec::new() };
        let req = json!({"method": "connect", "id": "c1", "params": {"uid": uid, "token": "",
            "deviceFlag": 1, "deviceId": format!("{uid}-rpc"), "version": 5}});
        c.s.write_all(req.to_string().as_bytes()).unwrap();
        let first = c.next().expect("the connect result");
        assert_eq!(first["id"], "c1", "{first}");
        assert_eq!(first["result"]["reasonCode"], 1, "{first}");
        c
    }

    /// The next JSON value from the server (None on close or after the deadline).
    fn next(&mut self) -> Option<Value> {
        let deadline = Instant::now() + wk::WAIT;
        loop {
            let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match it.next() {
                Some(Ok(v)) => {
                    let used = it.byte_offset();
                    self.buf.drain(..used);
                    return Some(v);
                }
                Some(Err(e)) if !e.is_eof() => panic!("bad JSON from the server: {e}"),
                _ => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
    }

    /// The next notification of `method`, skipping others.
    fn notification(&mut self, method: &str) -> Value {
        loop {
            let v = self
                .next()
                .unwrap_or_else(|| panic!("no {method} notification"));
            if v["method"] == method {
                return v;
            }
        }
    }
}

/// A JSON-RPC session gets each event as an `event` notification: no id, `data` the JSON text
/// as a string; a group's events reach its subscribers.
#[test]
fn jsonrpc_sessions_receive_event_notifications() {
    let server = Server::start("");
    let (http, tcp) = (server.addr("http"), server.addr("tcp"));
    ok(
        http,
        "/channel",
        &json!({"channel_id": "g1", "channel_type": GROUP, "subscribers": ["bot", "alice"]}),
    );
    let mut alice = Rpc::login(tcp, "alice");
    anchor(http, "bot", "g1", GROUP, "ai-1");
    alice.notification("recv");
    ok(
        http,
        "/message/event",
        &json!({"channel_id": "g1", "channel_type": GROUP, "client_msg_no": "ai-1", "event_id": "s1",
                "event_type": "stream.snapshot", "event_key": "tool_weather", "visibility": "public",
                "occurred_at": 77, "payload": {"city": "Paris", "temp": 21}}),
    );
    let n = alice.notification("event");
    assert!(n.get("id").is_none(), "notifications carry no id: {n}");
    let p = &n["params"];
    assert_eq!(p["id"], "s1");
    assert_eq!(p["type"], "stream.snapshot");
    assert_eq!(p["timestamp"], 77);
    let text = p["data"].as_str().expect("data is a string");
    let data: Value = serde_json::from_str(text).expect("the JSON text");
    assert_eq!(data["channel_id"], "g1");
    assert_eq!(data["from_uid"], "bot", "the anchor's sender");
    assert_eq!(data["event_key"], "tool_weather");
    assert_eq!(data["msg_event_seq"], 1);
    assert_eq!(data["stream_status"], "");
    assert_eq!(data["visibility"], "public");
    assert_eq!(data["payload"], json!({"city": "Paris", "temp": 21}));
    assert!(data["message_id"].as_i64().unwrap() > 0);
}

/// Stored events of several keys page by seq (gaps: the counter is shared), with the key
/// filter, the private keys left out unless asked, and an unknown type stored as it is.
#[test]
fn eventsync_pages_through_the_stored_keys() {
    let server = Server::start("");
    let http = server.addr("http");
    anchor(http, "bot", "g2", GROUP, "ai-2");
    let ev = |id: &str, ty: &str, key: &str, vis: &str, payload: Value| {
        json!({"channel_id": "g2", "channel_type": GROUP, "client_msg_no": "ai-2", "event_id": id,
               "event_type": ty, "event_key": key, "visibility": vis, "payload": payload})
    };
    let mut seqs = Vec::new();
    for (i, key) in ["a", "b", "c", "d"].iter().enumerate() {
        let r = ok(
            http,
            "/message/event",
            &ev(
                &format!("s{i}"),
                "stream.snapshot",
                key,
                "",
                json!({"n": i}),
            ),
        );
        seqs.push(r["data"]["msg_event_seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    // A second event on key a moves it to the end; a private key and a custom type.
    ok(
        http,
        "/message/event",
        &ev("s4", "stream.snapshot", "a", "", json!({"n": 4})),
    );
    let custom = ok(
        http,
        "/message/event",
        &ev("t1", "tool.call", "secret", "private", json!({"q": 1})),
    );
    assert_eq!(
        custom["data"]["msg_event_seq"], 6,
        "any other type is stored"
    );
    assert_eq!(custom["data"]["stream_status"], "");

    let sync = |from: u64, limit: i64, extra: Value| {
        let mut body = json!({"channel_id": "g2", "channel_type": GROUP, "client_msg_no": "ai-2",
                              "from_msg_event_seq": from, "limit": limit});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        ok(http, "/message/eventsync", &body)["data"].clone()
    };
    let keys = |d: &Value| -> Vec<String> {
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_key"].as_str().unwrap().to_string())
            .collect()
    };
    let p1 = sync(0, 2, json!({}));
    assert_eq!(keys(&p1), ["b", "c"]);
    assert_eq!(
        (p1["more"].as_u64(), p1["next_msg_event_seq"].as_u64()),
        (Some(1), Some(3))
    );
    let p2 = sync(3, 2, json!({}));
    assert_eq!(keys(&p2), ["d", "a"]);
    assert_eq!(p2["events"][1]["payload"], json!({"n": 4}));
    assert_eq!(p2["more"], 0, "the private key is not counted either");
    let p3 = sync(5, 2, json!({}));
    assert_eq!(keys(&p3), Vec::<String>::new());
    assert_eq!(p3["next_msg_event_seq"], 5, "the cursor is echoed");
    let private = sync(5, 0, json!({"include_private": 1}));
    assert_eq!(keys(&private), ["secret"]);
    assert_eq!(private["events"][0]["event_type"], "tool.call");
    assert_eq!(private["events"][0]["visibility"], "private");
    let filtered = sync(0, 0, json!({"event_key": " c "}));
    assert_eq!(keys(&filtered), ["c"]);
    assert_eq!(filtered["filtered_by_event_key"], "c");
    let unknown = ok(
        http,
        "/message/eventsync",
        &json!({"channel_id": "g2", "channel_type": GROUP, "client_msg_no": "nope"}),
    );
    assert_eq!(unknown["data"]["events"], json!([]));
}

/// Wrong requests get the error envelope with 400; the spec's no-change cases answer 200
/// with the stored state.
#[test]
fn bad_input_and_late_events_are_answered_as_specified() {
    let server = Server::start("");
    let http = server.addr("http");
    anchor(http, "u1", "u2", PERSON, "cmn-1");
    let refused = |body: &str, path: &str, why: &str| {
        let r = post(http, path, body);
        let v = r.json();
        assert_eq!(r.status, 400, "{why}: {v}");
        assert_eq!(v["status"], 400, "{why}: {v}");
        assert!(v["msg"].is_string(), "{why}: {v}");
        v["msg"].as_str().unwrap().to_string()
    };
    refused("{not json", "/message/event", "invalid JSON");
    refused("", "/message/event", "empty body");
    let mut no_id = u1_event("", "stream.delta", json!({}));
    refused(&no_id.to_string(), "/message/event", "empty event_id");
    no_id["event_id"] = json!("x");
    no_id["event_type"] = json!("  ");
    refused(&no_id.to_string(), "/message/event", "blank event_type");
    let mut no_from = u1_event("x", "stream.delta", json!({}));
    no_from["from_uid"] = json!("");
    refused(
        &no_from.to_string(),
        "/message/event",
        "a person channel needs from_uid",
    );
    refused(
        r#"{"channel_id":"u2","channel_type":1,"from_uid":"u1","client_msg_no":"cmn-1","limit":-1}"#,
        "/message/eventsync",
        "negative limit",
    );
    refused(
        r#"{"channel_id":"u2"}"#,
        "/message/eventsync",
        "no client_msg_no",
    );

    // A message sent without is_stream is no anchor.
    ok(
        http,
        "/message/send",
        &json!({"client_msg_no": "plain-1", "from_uid": "u1", "channel_id": "u2", "channel_type": PERSON,
                "payload": b64("x")}),
    );
    let mut plain = u1_event("p1", "stream.delta", json!({"kind": "text", "delta": "x"}));
    plain["client_msg_no"] = json!("plain-1");
    let why = refused(&plain.to_string(), "/message/event", "not an anchor");
    assert!(why.contains("not a stream"), "{why}");

    // Too large a lane, too many keys.
    let big = "x".repeat(600 * 1024);
    ok(
        http,
        "/message/event",
        &u1_event("b1", "stream.delta", json!({"kind": "text", "delta": big})),
    );
    let why = refused(
        &u1_event("b2", "stream.delta", json!({"kind": "text", "delta": big})).to_string(),
        "/message/event",
        "lane over 1 MiB",
    );
    assert!(why.contains("bytes"), "{why}");
    for k in 1..32 {
        let mut e = u1_event(&format!("k{k}"), "stream.delta", json!({}));
        e["event_key"] = json!(format!("lane{k}"));
        ok(http, "/message/event", &e);
    }
    let mut e = u1_event("k32", "stream.delta", json!({}));
    e["event_key"] = json!("lane32");
    let why = refused(&e.to_string(), "/message/event", "a 33rd key");
    assert!(why.contains("at most 32"), "{why}");

    // After the close: a repeat or another stored event changes nothing, a delta is refused.
    let close = ok(
        http,
        "/message/event",
        &u1_event("c1", "stream.close", json!({})),
    );
    let seq = close["data"]["msg_event_seq"].clone();
    let again = ok(
        http,
        "/message/event",
        &u1_event("c1", "stream.close", json!({})),
    );
    assert_eq!(again["data"]["msg_event_seq"], seq);
    let late = ok(
        http,
        "/message/event",
        &u1_event("e9", "stream.error", json!({"error": "late"})),
    );
    assert_eq!(late["data"]["msg_event_seq"], seq);
    assert_eq!(late["data"]["stream_status"], "closed");
    let why = refused(
        &u1_event(
            "d9",
            "stream.delta",
            json!({"kind": "text", "delta": "more"}),
        )
        .to_string(),
        "/message/event",
        "delta after close",
    );
    assert_eq!(why, "stream closed");
    // After the finish no key takes deltas.
    ok(
        http,
        "/message/event",
        &u1_event("f1", "stream.finish", json!({})),
    );
    let mut tool = u1_event("d10", "stream.delta", json!({"kind": "text", "delta": "x"}));
    tool["event_key"] = json!("lane1");
    assert_eq!(
        refused(&tool.to_string(), "/message/event", "delta after finish"),
        "stream closed"
    );
    // The closed key kept the folded deltas, not the late error.
    let page = ok(
        http,
        "/message/eventsync",
        &json!({"channel_id": "u2", "channel_type": PERSON, "from_uid": "u1", "client_msg_no": "cmn-1",
                "event_key": "main"}),
    );
    let main = &page["data"]["events"][0];
    assert_eq!(main["event_id"], "c1");
    assert_eq!(
        main["payload"]["text"].as_str().map(str::len),
        Some(big.len())
    );
}

/// Waits until shard `shard` of the server in `dir` has written a meta snapshot.
fn wait_for_snapshot(dir: &std::path::Path, shard: usize) {
    let snap = dir.join(format!("data/shard-{shard}/meta/snapshot"));
    wait_secs(&format!("shard {shard}'s meta snapshot"), 20, || {
        snap.exists()
    });
}

/// Everything stored survives `kill -9` (through a meta snapshot and the log after it):
/// eventsync and the messagesync summary read the same after the restart; deltas that no
/// terminal event folded are gone, as the spec says.
#[test]
fn stored_events_survive_kill9() {
    let config = "storage: {metaSnapshotOps: 4}\n";
    let server = Server::start(config);
    let http = server.addr("http");
    ok(
        http,
        "/channel",
        &json!({"channel_id": "g3", "channel_type": GROUP, "subscribers": ["bot", "alice"]}),
    );
    anchor(http, "bot", "g3", GROUP, "ai-3");
    let ev = |id: &str, ty: &str, key: &str, payload: Value| {
        json!({"channel_id": "g3", "channel_type": GROUP, "client_msg_no": "ai-3", "event_id": id,
               "event_type": ty, "event_key": key, "payload": payload})
    };
    for (i, word) in ["one ", "two ", "three"].iter().enumerate() {
        ok(
            http,
            "/message/event",
            &ev(
                &format!("d{i}"),
                "stream.delta",
                "main",
                json!({"kind": "text", "delta": word}),
            ),
        );
    }
    ok(
        http,
        "/message/event",
        &ev("c", "stream.close", "main", json!({"end_reason": 2})),
    );
    for i in 0..4 {
        ok(
            http,
            "/message/event",
            &ev(
                &format!("s{i}"),
                "stream.snapshot",
                "tool",
                json!({"step": i}),
            ),
        );
    }
    wait_for_snapshot(server.dir.path(), wk::shard_of("g3", 2));
    ok(
        http,
        "/message/event",
        &ev("x", "stream.error", "tool", json!({"error": "timeout"})),
    );
    // An open lane of deltas only: memory.
    ok(
        http,
        "/message/event",
        &ev(
            "m",
            "stream.delta",
            "draft",
            json!({"kind": "text", "delta": "unsaved"}),
        ),
    );
    ok(
        http,
        "/message/event",
        &ev("f", "stream.finish", "", json!({})),
    );
    let sync_body = json!({"channel_id": "g3", "channel_type": GROUP, "client_msg_no": "ai-3", "include_private": 1});
    let before = ok(http, "/message/eventsync", &sync_body);
    let summary_before = synced(http, "alice", "g3", GROUP, "ai-3", "full");
    assert_eq!(before["data"]["events"].as_array().unwrap().len(), 3);
    assert_eq!(
        before["data"]["events"][0]["payload"],
        json!({"kind": "text", "text": "one two three"})
    );
    assert_eq!(summary_before["event_meta"]["open_event_count"], 1);

    let dir = server.kill9();
    let server = Server::start_in(dir, config);
    let http = server.addr("http");
    let after = ok(http, "/message/eventsync", &sync_body);
    assert_eq!(after, before, "eventsync after the restart");
    let summary_after = synced(http, "alice", "g3", GROUP, "ai-3", "full");
    let mut expected = summary_before.clone();
    // The memory lane is gone; everything else reads the same.
    let meta = &mut expected["event_meta"];
    meta["events"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["event_key"] != "draft");
    meta["event_count"] = json!(2);
    meta.as_object_mut().unwrap().remove("open_event_count");
    assert_eq!(summary_after, expected);
    assert_eq!(summary_after["end"], 1);
    assert_eq!(summary_after["end_reason"], 2);
    assert_eq!(summary_after["stream_data"], b64("one two three"));
    // The counter goes on from where it was.
    let next = ok(
        http,
        "/message/event",
        &ev("y", "custom.note", "note", json!({})),
    );
    assert_eq!(next["data"]["msg_event_seq"], 8);
    // A late delta to the closed key is still refused.
    let (status, _) = call(
        http,
        "/message/event",
        &ev(
            "z",
            "stream.delta",
            "main",
            json!({"kind": "text", "delta": "!"}),
        ),
    );
    assert_eq!(status, 400);
}

/// POSTs through a cluster node until it answers 200 (a 503 or no answer during an election
/// is retried), within 60 s.
fn cluster_ok(http: SocketAddr, path: &str, body: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = cluster::try_post(http, path, &body.to_string());
        match r {
            Some(r) if r.status == 200 => return r.json(),
            Some(r) if r.status != 503 => {
                panic!(
                    "{path} {body}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                )
            }
            _ => {}
        }
        assert!(Instant::now() < deadline, "{path} {body}: no 200 in time");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every slot's `(leader, term)` as each node sees it, once all nodes agree and every slot is
/// led (polled within 60 s).
fn settled_leadership(c: &cluster::Cluster) -> Vec<(u64, u64)> {
    let view = |node: u64| -> Option<Vec<(u64, u64)>> {
        let r = cluster::try_get(c.addr(node, "http"), "/cluster/allslot")?;
        let v = r.json();
        let slots = v["data"].as_array()?;
        Some(
            slots
                .iter()
                .map(|s| {
                    let n = |k: &str| s[k].as_u64().unwrap_or(0);
                    (n("leader_id"), n("term"))
                })
                .collect(),
        )
    };
    let mut agreed = Vec::new();
    wait_secs("every node seeing the same slot leaders", 60, || {
        let views: Vec<_> = c.running().into_iter().map(view).collect();
        let Some(Some(first)) = views.first() else {
            return false;
        };
        let same = views.iter().all(|v| v.as_ref() == Some(first));
        agreed = first.clone();
        same && first.iter().all(|(leader, _)| *leader != 0)
    });
    agreed
}

/// One run of the cluster scenario on anchor `no`: alice (connected to node `other`, which
/// does not lead the channel) gets the EVENT packets of a delta and a close sent through
/// `other`, and every replica's own state holds the folded text. An error names the first
/// check that failed.
fn cluster_round(c: &cluster::Cluster, other: u64, leader: u64, no: &str) -> Result<(), String> {
    let http = c.addr(other, "http");
    let (mut alice, ack) = WkClient::connect(c.addr(other, "tcp"), "alice", "", 0, 5, false);
    if ack.reason_code != jindou::proto::ReasonCode::SUCCESS {
        return Err(format!("alice's login: {:?}", ack.reason_code));
    }
    cluster_ok(
        http,
        "/message/send",
        &json!({"client_msg_no": no, "is_stream": 1, "from_uid": "bot", "channel_id": "gc",
                "channel_type": GROUP, "payload": b64("{}")}),
    );
    alice.expect_recv();
    let ev = |id: &str, ty: &str, payload: Value| {
        json!({"channel_id": "gc", "channel_type": GROUP, "client_msg_no": no, "event_id": id,
               "event_type": ty, "payload": payload})
    };
    cluster_ok(
        http,
        "/message/event",
        &ev(
            "d1",
            "stream.delta",
            json!({"kind": "text", "delta": "clustered"}),
        ),
    );
    let close = cluster_ok(http, "/message/event", &ev("c1", "stream.close", json!({})));
    if close["data"]["msg_event_seq"] != 1 {
        return Err(format!("close: {close}"));
    }
    for id in ["d1", "c1"] {
        let got = match alice.recv_packet(wk::WAIT) {
            Some(Packet::Event(e)) => e.id.as_str().to_string(),
            other => format!("{other:?}"),
        };
        if got != id {
            return Err(format!("alice wanted EVENT {id}, got {got}"));
        }
    }
    // Every replica's own state (not relayed) reads the same.
    let body = json!({"channel_id": "gc", "channel_type": GROUP, "client_msg_no": no}).to_string();
    let local = |node: u64| -> Option<Value> {
        let r = cluster::try_post_local(c.addr(node, "http"), "/message/eventsync", &body)?;
        (r.status == 200).then(|| r.json()["data"]["events"].clone())
    };
    let reference = local(leader).ok_or("no answer from the leader")?;
    if reference[0]["payload"] != json!({"kind": "text", "text": "clustered"}) {
        return Err(format!("the leader's state: {reference}"));
    }
    for node in [1001, 1002, 1003] {
        wait_secs(&format!("node {node}'s replica of the events"), 30, || {
            local(node).as_ref() == Some(&reference)
        });
    }
    Ok(())
}

/// In a cluster, events go through the channel slot's group: any node takes them (relayed to
/// the leader), a client on another node gets the EVENT packets, every replica holds the same
/// state, and after the leader is killed the new leader goes on from the replicated counter.
///
/// Deltas live in the leader's memory and pushes are not retried (spec §1.1, §1.4), so a
/// round during which a slot changed leader (an election under CPU starvation, the balancer
/// handing a slot back) proves nothing and is run again on a fresh anchor; a round with
/// stable leadership must pass every check.
#[test]
fn cluster_events_are_replicated_and_reach_other_nodes() {
    const SLOTS: u16 = 8;
    let mut c = cluster::Cluster::start(3, 1, SLOTS, "");
    c.wait_formed();
    let slot = cluster::slot_of("gc", SLOTS) as usize;
    let mut round = 0;
    let (leader, other) = loop {
        round += 1;
        let before = settled_leadership(&c);
        let leader = before[slot].0;
        let other = [1001, 1002, 1003]
            .into_iter()
            .find(|n| *n != leader)
            .expect("a follower");
        cluster_ok(
            c.addr(other, "http"),
            "/channel",
            &json!({"channel_id": "gc", "channel_type": GROUP, "subscribers": ["bot", "alice"]}),
        );
        let result = cluster_round(&c, other, leader, &format!("ai-c{round}"));
        let stable = settled_leadership(&c) == before;
        match result {
            Ok(()) => break (leader, other),
            Err(why) if !stable && round < 5 => {
                eprintln!("round {round}: leadership changed ({why}); again");
            }
            Err(why) => panic!("round {round} (leadership stable: {stable}): {why}"),
        }
    };
    // The round's leader must still lead: killing a follower would prove no failover.
    assert_eq!(
        c.leader_of(other, slot as u16),
        leader,
        "the slot's leader moved after the round"
    );
    c.kill(leader);
    wait_secs("a new leader", 60, || {
        let l = c.leader_of(other, slot as u16);
        l != 0 && l != leader
    });
    let finish = cluster_ok(
        c.addr(other, "http"),
        "/message/event",
        &json!({"channel_id": "gc", "channel_type": GROUP, "client_msg_no": format!("ai-c{round}"),
                "event_id": "f1", "event_type": "stream.finish"}),
    );
    assert_eq!(
        finish["data"]["msg_event_seq"], 2,
        "the counter goes on from the replicated state"
    );
}
