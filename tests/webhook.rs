//! Webhooks (issue 7, spec http-api §11) against the real binary and real local receivers: the
//! shared fake HTTP receiver (`common/http.rs`: records events, can fail, hang, refuse
//! connections or refuse batches) and a tonic gRPC server.

mod common;
use base64::Engine;
use common::http::Hit;
use common::wk::WkClient;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn webhook_yaml(url: &str, extra: &str) -> String {
    format!("encryption: false\nwebhook:\n  httpAddr: \"{url}\"\n{extra}")
}

/// Sends through REST; returns (message_id, client_msg_no).
fn send(http: SocketAddr, from: &str, channel: &str, ty: u8, text: &str) -> (i64, String) {
    let body = format!(
        r#"{{"header":{{"red_dot":1}},"from_uid":"{from}","channel_id":"{channel}","channel_type":{ty},"payload":"{}"}}"#,
        b64(text)
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

/// The `msg.notify` batches the receiver answered with `status`.
fn answered(rx: &FakeReceiver, status: u16) -> Vec<Hit> {
    rx.hits()
        .into_iter()
        .filter(|h| h.event() == "msg.notify" && h.status == status)
        .collect()
}

/// A `/varz` figure.
fn varz(http: SocketAddr, key: &str) -> u64 {
    let v = get(http, "/varz").json();
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("/varz has no {key}: {v}"))
}

/// The sum over shards of a `/metrics` counter.
fn metric(http: SocketAddr, name: &str) -> f64 {
    let text = String::from_utf8(get(http, "/metrics").body).unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
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
    let rx = FakeReceiver::start();
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
    wait_secs("12 notified messages", 15, || rx.notified().len() >= 12);
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
    // Each shard keeps its msg.notify cursor in its data directory.
    for shard in 0..2 {
        let cursor = server
            .dir
            .path()
            .join(format!("data/shard-{shard}/webhook.cursor"));
        let text = std::fs::read_to_string(&cursor).expect("the cursor file");
        assert!(text.trim().parse::<u64>().is_ok(), "{text:?}");
    }

    // A person message is reported from the sender's side; a system message has from_uid "".
    send(http, "alice", "bob", 1, "hi bob");
    send(http, "", "g-batch", 2, "from the system");
    wait_secs("2 more", 15, || rx.notified().len() >= 14);
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
    wait_secs("the lone message", 10, || rx.hits().len() > before);
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
    let rx = FakeReceiver::start();
    rx.fail_next(2, 500);
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  msgNotifyEventPushInterval: 50ms\n  msgNotifyEventRetryMaxCount: 5\n",
    ));
    let (id, _) = send(server.addr("http"), "alice", "g-retry", 2, "retry me");
    wait_secs("delivery after two failures", 15, || {
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
fn msg_notify_retries_past_the_retry_limit_more_slowly_and_counts() {
    let rx = FakeReceiver::start();
    rx.fail_next(6, 503);
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  msgNotifyEventPushInterval: 50ms\n  msgNotifyEventRetryMaxCount: 3\n  \
         msgNotifyEventRetryMaxInterval: 1500ms\n",
    ));
    let http = server.addr("http");
    let (id, _) = send(http, "alice", "g-slow", 2, "kept");
    // Past msgNotifyEventRetryMaxCount the batch is not dropped: it is retried until accepted.
    wait_secs("delivery after six failures", 30, || {
        rx.notified().len() == 1
    });
    assert_eq!(rx.notified()[0]["message_id"], id);
    let hits: Vec<Hit> = rx
        .hits()
        .into_iter()
        .filter(|h| h.event() == "msg.notify")
        .collect();
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        [503, 503, 503, 503, 503, 503, 200],
        "six failures, then the same batch accepted"
    );
    assert!(
        hits.iter().all(|h| h.body == hits[0].body),
        "the same batch"
    );
    let gaps: Vec<Duration> = hits.windows(2).map(|w| w[1].at - w[0].at).collect();
    // Three fast attempts (100 ms, 200 ms apart), then 1 s doubling capped at 1.5 s.
    assert!(gaps[0] < Duration::from_millis(900), "fast: {gaps:?}");
    assert!(gaps[1] < Duration::from_millis(900), "fast: {gaps:?}");
    for g in &gaps[2..] {
        assert!(
            *g >= Duration::from_millis(900),
            "slow after the fast ones: {gaps:?}"
        );
    }
    assert!(gaps[3] >= Duration::from_millis(1400), "doubling: {gaps:?}");
    // Counted: the failures once the batch is done, nothing refused or lost.
    wait_secs("the failures counted", 10, || {
        varz(http, "webhook_failures") == 6
    });
    assert_eq!(varz(http, "webhook_sent"), 1);
    assert_eq!(varz(http, "webhook_deadletter"), 0);
    assert_eq!(metric(http, "jindou_webhook_failures_total"), 6.0);
}

/// Every message of `sent` (id → (channel, seq)) was notified at least once, in order per
/// channel; returns (received, unique, duplicated).
fn check_every_message_notified(
    rx: &FakeReceiver,
    sent: &BTreeMap<i64, (String, u64)>,
) -> (usize, usize, usize) {
    let got = rx.notified();
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for m in &got {
        let id = m["message_id"].as_i64().unwrap();
        let channel = m["channel_id"].as_str().unwrap().to_string();
        let seq = m["message_seq"].as_u64().unwrap();
        *seen.entry(id).or_default() += 1;
        let prev = last.insert(channel.clone(), seq).unwrap_or(0);
        // At least once, in order: a re-delivery may repeat, never go back past a gap.
        assert!(
            seq <= prev + 1,
            "{channel}: seq {seq} after {prev}: a message was skipped"
        );
    }
    let missing: Vec<_> = sent.keys().filter(|id| !seen.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} messages never notified: {missing:?}",
        missing.len()
    );
    for (id, (channel, seq)) in sent {
        let m = got.iter().find(|m| m["message_id"] == *id).unwrap();
        assert_eq!(m["channel_id"], channel.as_str());
        assert_eq!(m["message_seq"], *seq);
    }
    let dup = seen.values().map(|n| n - 1).sum();
    (got.len(), seen.len(), dup)
}

/// Sends `n` messages round-robin over `channels` groups, `pace` apart; returns id → (channel,
/// seq).
fn send_paced(
    http: SocketAddr,
    prefix: &str,
    channels: usize,
    n: usize,
    pace: Duration,
) -> BTreeMap<i64, (String, u64)> {
    let mut sent = BTreeMap::new();
    for i in 0..n {
        let channel = format!("{prefix}-{}", i % channels);
        let body = format!(
            r#"{{"from_uid":"alice","channel_id":"{channel}","channel_type":2,"payload":"{}"}}"#,
            b64(format!("m{i}"))
        );
        let r = post(http, "/message/send", &body);
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        let seq = v["data"]["message_seq"].as_u64().unwrap();
        sent.insert(v["data"]["message_id"].as_i64().unwrap(), (channel, seq));
        // Pacing of the load generator, not synchronisation.
        std::thread::sleep(pace);
    }
    sent
}

#[test]
fn msg_notify_survives_a_30_second_receiver_outage() {
    // The receiver goes away (connections refused) for 15 s, then answers 503 for 15 s, while
    // messages are sent; then it accepts. msgNotifyEventRetryMaxCount is WuKongIM's default
    // (5): the fast retries are spent within 2 s, and nothing may be dropped after them.
    let mut rx = FakeReceiver::start();
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  msgNotifyEventPushInterval: 50ms\n  msgNotifyEventCountPerPush: 20\n  \
         msgNotifyEventRetryMaxInterval: 4s\n",
    ));
    let http = server.addr("http");
    // Traffic before the outage is delivered at once.
    let mut sent = send_paced(http, "g-outage", 8, 40, Duration::ZERO);
    wait_secs("the messages before the outage", 20, || {
        rx.notified().len() >= 40
    });
    let t0 = Instant::now();
    rx.go_away();
    sent.extend(send_paced(
        http,
        "g-outage",
        8,
        300,
        Duration::from_millis(50),
    ));
    // The fault lasts its time (the sends above took part of it).
    std::thread::sleep(Duration::from_secs(15).saturating_sub(t0.elapsed()));
    rx.answer_all(Some(503));
    rx.come_back();
    sent.extend(send_paced(
        http,
        "g-outage",
        8,
        300,
        Duration::from_millis(50),
    ));
    std::thread::sleep(Duration::from_secs(30).saturating_sub(t0.elapsed()));
    let refused = answered(&rx, 503).len();
    assert!(refused > 0, "the receiver answered 503 during the outage");
    rx.answer_all(None);
    let back = Instant::now();
    sent.extend(send_paced(http, "g-outage", 8, 40, Duration::ZERO));
    wait_secs("every message after the outage", 60, || {
        let got: BTreeSet<i64> = rx
            .notified()
            .iter()
            .map(|m| m["message_id"].as_i64().unwrap())
            .collect();
        sent.keys().all(|id| got.contains(id))
    });
    let caught_up = back.elapsed();
    let (received, unique, dup) = check_every_message_notified(&rx, &sent);
    eprintln!(
        "30 s outage: {} sent, {received} received ({unique} distinct, {dup} duplicated), \
         {refused} batches answered 503, {} delivery failures; caught up {caught_up:?} after \
         the receiver came back",
        sent.len(),
        varz(http, "webhook_failures")
    );
    assert_eq!(unique, sent.len());
    // No restart and no answer lost: each batch was accepted exactly once.
    assert_eq!(dup, 0, "duplicates without a restart");
    assert!(
        caught_up < Duration::from_secs(20),
        "the slow retries are capped at 4 s: caught up in {caught_up:?}"
    );
    wait_secs("every delivery counted", 10, || {
        varz(http, "webhook_sent") == sent.len() as u64
    });
    assert!(varz(http, "webhook_failures") > 0);
    assert_eq!(varz(http, "webhook_deadletter"), 0);
    assert_eq!(varz(http, "webhook_deadletter_lost"), 0);
}

/// The lines of shard `shard`'s dead-letter file.
fn dead_letters(server: &Server, shard: usize) -> Vec<Value> {
    let path = server
        .dir
        .path()
        .join(format!("data/shard-{shard}/webhook.deadletter"));
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a dead-letter line is JSON"))
        .collect()
}

#[test]
fn refused_batches_go_to_the_dead_letter_file_and_the_stream_goes_on() {
    // The receiver refuses (400) any batch holding a "poison" message and accepts the rest.
    let poison = b64("poison");
    let rx = FakeReceiver::start_with(move |req| {
        let refuse = String::from_utf8_lossy(&req.body).contains(&poison);
        (if refuse { 400 } else { 200 }, Vec::new())
    });
    // One message per batch; the dead-letter file holds one small batch, not a 6 KiB one.
    let yaml = webhook_yaml(
        &rx.url(),
        "  msgNotifyEventPushInterval: 20ms\n  msgNotifyEventCountPerPush: 1\n  \
         deadLetterMaxSize: 3KiB\n",
    );
    let (mut server, log) = Server::start_capturing(&yaml);
    let http = server.addr("http");
    let channel = "g-dead";
    let shard = wk::shard_of(channel, 2);
    let (ok1, _) = send(http, "alice", channel, 2, "ok-1");
    let (bad1, _) = send(http, "alice", channel, 2, "poison");
    let (ok2, _) = send(http, "alice", channel, 2, "ok-2");
    let big = format!("poison{}", "x".repeat(6 * 1024));
    let (bad2, _) = send(http, "alice", channel, 2, &big);
    let (ok3, _) = send(http, "alice", channel, 2, "ok-3");
    wait_secs("the accepted messages", 20, || rx.notified().len() == 3);
    let ids: Vec<i64> = rx
        .notified()
        .iter()
        .map(|m| m["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [ok1, ok2, ok3],
        "the stream went on past the refused batches, in order"
    );
    // A refused batch is not sent again.
    let refused: Vec<i64> = answered(&rx, 400)
        .iter()
        .map(|h| h.json()[0]["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(refused, [bad1, bad2], "each refused batch sent once");
    // The small one is parked, verbatim; the big one did not fit and is counted as lost.
    let lines = dead_letters(&server, shard);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["reason"], "HTTP 400 Bad Request");
    assert_eq!(line["events"], 1);
    assert_eq!(line["shard"], shard);
    assert!(line["end_lsn"].as_u64().unwrap() > 0);
    assert_eq!(line["batch"], answered(&rx, 400)[0].json());
    check_message(&line["batch"][0], "alice", channel, 2, "poison");
    assert!(dead_letters(&server, 1 - shard).is_empty());
    wait_secs("the refusals counted", 10, || {
        varz(http, "webhook_deadletter") == 1 && varz(http, "webhook_deadletter_lost") == 1
    });
    assert_eq!(metric(http, "jindou_webhook_deadletter_total"), 1.0);
    assert_eq!(metric(http, "jindou_webhook_deadletter_lost_total"), 1.0);
    assert_eq!(varz(http, "webhook_sent"), 3);
    // And logged.
    let mut lines_seen = Vec::new();
    let mut want = ["parked in the dead-letter file", "NOT parked"].to_vec();
    while !want.is_empty() {
        let line = log
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no log line with {want:?}: {lines_seen:?}"));
        want.retain(|w| !line.contains(w));
        lines_seen.push(line);
    }

    // After a clean restart the cursor is past the refused batches: only new messages come.
    assert!(server.terminate(Duration::from_secs(10)).unwrap().success());
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    drop(server);
    let before = rx.hits().len();
    let server = Server::start_in(dir, &yaml);
    let (ok4, _) = send(server.addr("http"), "alice", channel, 2, "ok-4");
    wait_secs("the message after the restart", 20, || {
        rx.notified().iter().any(|m| m["message_id"] == ok4)
    });
    // ok-4 follows everything of this channel's shard on one ordered stream: anything
    // re-sent after the restart would have come before it.
    let again: Vec<String> = rx.hits()[before..]
        .iter()
        .map(|h| String::from_utf8_lossy(&h.body).to_string())
        .collect();
    assert_eq!(again.len(), 1, "only ok-4 after the restart: {again:?}");
    assert_eq!(dead_letters(&server, shard).len(), 1);
}

#[test]
fn pending_msg_notify_survives_a_crash_and_a_receiver_outage() {
    // Nothing listens at the receiver's address while messages are sent; the server is killed
    // (kill -9) with everything pending, and restarted once the receiver is back. The retry
    // settings are the defaults: nothing is dropped after msgNotifyEventRetryMaxCount.
    let mut rx = FakeReceiver::start();
    rx.go_away();
    let yaml = webhook_yaml(&rx.url(), "  msgNotifyEventPushInterval: 50ms\n");
    let server = Server::start(&yaml);
    let http = server.addr("http");
    let sent = send_paced(http, "g-crash", 4, 20, Duration::ZERO);
    let dir = server.kill9();
    rx.come_back();
    let server = Server::start_in(dir, &yaml);
    wait_secs("every pending event after the restart", 20, || {
        let got: BTreeSet<i64> = rx
            .notified()
            .iter()
            .map(|m| m["message_id"].as_i64().unwrap())
            .collect();
        sent.keys().all(|id| got.contains(id))
    });
    // At least once, in order per channel.
    check_every_message_notified(&rx, &sent);
    // New messages keep flowing after the backlog.
    let (id, _) = send(server.addr("http"), "alice", "g-crash-0", 2, "after");
    wait_secs("the new message", 10, || {
        rx.notified().iter().any(|m| m["message_id"] == id)
    });
}

#[test]
fn focus_events_filters() {
    let rx = FakeReceiver::start();
    let server = Server::start(&webhook_yaml(
        &rx.url(),
        "  msgNotifyEventPushInterval: 50ms\n  focusEvents: [\"user.onlinestatus\"]\n",
    ));
    send(server.addr("http"), "alice", "g-focus", 2, "not notified");
    // One user owned by each shard: each shard serves a connect.
    let users: Vec<String> = (0..2)
        .map(|shard| {
            (0..1000)
                .map(|i| format!("focus-{i}"))
                .find(|u| wk::shard_of(u, 2) == shard)
                .unwrap()
        })
        .collect();
    let entries = || -> usize {
        rx.accepted("user.onlinestatus")
            .iter()
            .map(|h| h.json().as_array().expect("an array").len())
            .sum()
    };
    let clients: Vec<WkClient> = users
        .iter()
        .map(|u| WkClient::login_plain(server.addr("tcp"), u, "d1"))
        .collect();
    wait_secs("the online statuses", 10, || entries() >= 2);
    drop(clients);
    wait_secs("the offline statuses", 10, || entries() >= 4);
    // msg.notify is off: its task was never started. A running one writes its cursor file at
    // the shard's start-up, before the shard serves anything (and each shard served a user's
    // connect above), so no cursor file means no msg.notify can ever be sent: proof without
    // waiting for absence (the batching test checks the files are there when it is on).
    for shard in 0..2 {
        let cursor = server
            .dir
            .path()
            .join(format!("data/shard-{shard}/webhook.cursor"));
        assert!(
            !cursor.exists(),
            "{} exists: msg.notify runs",
            cursor.display()
        );
    }
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
    let rx = FakeReceiver::start();
    let server = Server::start(&webhook_yaml(&rx.url(), ""));
    let tcp = server.addr("tcp");
    let a = WkClient::login_plain(tcp, "on-user", "dev-a");
    wait_secs("online", 10, || {
        !rx.accepted("user.onlinestatus").is_empty()
    });
    let b = WkClient::login_plain(tcp, "on-user", "dev-b");
    let entries = |rx: &FakeReceiver| -> Vec<String> {
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
    wait_secs("two entries", 10, || entries(&rx).len() >= 2);
    drop(a);
    drop(b);
    wait_secs("four entries", 10, || entries(&rx).len() >= 4);
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
    let rx = FakeReceiver::start();
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
    let _online = WkClient::login_plain(server.addr("tcp"), "off-0", "d");
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
    wait_secs("msg.offline for every offline member", 10, || {
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
    wait_secs("the person msg.offline", 10, || {
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
    let rx = FakeReceiver::start();
    rx.hang(true);
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
    rx.hang(false);
    wait_secs("the backlog once the receiver answers", 30, || {
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
        let http_rx = FakeReceiver::start();
        let server = Server::start(&format!(
            "encryption: false\nwebhook:\n  grpcAddr: \"{addr}\"\n  httpAddr: \"{}\"\n  msgNotifyEventPushInterval: 50ms\n",
            http_rx.url()
        ));
        send(server.addr("http"), "alice", "g-grpc", 2, "over grpc");
        let c = WkClient::login_plain(server.addr("tcp"), "grpc-user", "d");
        let events = || rec.0.lock().unwrap().clone();
        wait_secs("msg.notify and user.onlinestatus over gRPC", 15, || {
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
