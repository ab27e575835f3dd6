//! Every read of the REST API is bounded (docs/openapi.yaml lists the caps): requests above
//! a cap are capped (with `more: 1` where the answer has it) or refused with a 400, paging
//! with `more` returns every message exactly once, including pages the byte budget ends
//! early, and a SEND on the same shard completes while the largest page is pulled over and
//! over.

mod common;

use common::pipeline::Pipeline;
use common::*;
use jindou::proto::ReasonCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Caps of `src/api/reads.rs`, as documented.
const MAX_PAGE: usize = 10_000;
const MAX_ANSWER_BYTES: usize = 16 << 20;
const MAX_FETCH: usize = 1_000;
const MAX_RECENTS_PER_CHANNEL: usize = 100;
const MAX_SYNC_CHANNELS: usize = 1_000;
const MAX_CMD_SYNC: usize = 1_000;

fn post_ok(http: SocketAddr, path: &str, body: Value) {
    assert_eq!(
        post(http, path, &body.to_string()).json(),
        json!({"status": 200}),
        "{path}"
    );
}

/// Stores `n` messages in group `channel` through pipelined REST sends; payload `i` is the
/// decimal index padded to `size` bytes.
fn fill(http: SocketAddr, channel: &str, n: usize, size: usize, header: Value) {
    let mut conn = Pipeline::connect(http);
    let batch = if size > 4096 { 16 } else { 256 };
    for start in (0..n).step_by(batch) {
        let reqs: Vec<(&str, String)> = (start..n.min(start + batch))
            .map(|i| {
                let mut payload = format!("{i}").into_bytes();
                payload.resize(size.max(payload.len()), b'.');
                (
                    "/message/send",
                    json!({"header": header, "from_uid": "a", "channel_id": channel, "channel_type": 2, "payload": b64(&payload)})
                        .to_string(),
                )
            })
            .collect();
        for a in conn.run(&reqs) {
            assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        }
    }
}

fn sync(http: SocketAddr, channel: &str, start: u64, end: u64, limit: usize, mode: u8) -> Value {
    let r = post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "b", "channel_id": channel, "channel_type": 2,
                "start_message_seq": start, "end_message_seq": end, "limit": limit, "pull_mode": mode})
        .to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn seqs(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["message_seq"].as_u64().unwrap())
        .collect()
}

fn payload_bytes(page: &Value) -> usize {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["payload"].as_str().unwrap().len() / 4 * 3)
        .sum()
}

/// Pages up from seq 1 until `more` is 0; every page is non-empty and ascending.
fn page_up(http: SocketAddr, channel: &str, limit: usize) -> (Vec<u64>, Vec<Value>) {
    let mut all = Vec::new();
    let mut pages = Vec::new();
    let mut start = 1;
    loop {
        let page = sync(http, channel, start, 0, limit, 1);
        let s = seqs(&page);
        assert!(
            !s.is_empty() || page["more"] == 0,
            "an empty page says more"
        );
        assert!(s.windows(2).all(|w| w[1] == w[0] + 1), "ascending, dense");
        all.extend(&s);
        let more = page["more"].as_u64().unwrap();
        pages.push(page);
        if more == 0 {
            return (all, pages);
        }
        start = s.last().unwrap() + 1;
    }
}

/// Pages down from the newest page until `more` is 0.
fn page_down(http: SocketAddr, channel: &str, limit: usize) -> (Vec<u64>, Vec<Value>) {
    let mut all = Vec::new();
    let mut pages = Vec::new();
    let mut page = sync(http, channel, 0, 0, limit, 0);
    loop {
        let s = seqs(&page);
        assert!(s.windows(2).all(|w| w[1] == w[0] + 1), "ascending, dense");
        all.extend(&s);
        let more = page["more"].as_u64().unwrap();
        pages.push(page);
        if more == 0 || s.first() == Some(&1) {
            break;
        }
        page = sync(http, channel, s[0] - 1, 0, limit, 0);
    }
    all.sort_unstable();
    (all, pages)
}

fn exactly_once(all: &[u64], n: u64) {
    let set: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(set.len(), all.len(), "no message twice");
    assert_eq!(set, (1..=n).collect::<BTreeSet<_>>(), "every message");
}

#[test]
fn channel_history_pages_are_capped_and_paging_returns_every_message_once() {
    let server = Server::start("");
    let http = server.addr("http");
    post_ok(
        http,
        "/channel",
        json!({"channel_id": "big", "channel_type": 2, "subscribers": ["a", "b"]}),
    );
    let n = MAX_PAGE + 50;
    fill(http, "big", n, 8, json!({}));
    // A limit above the cap is capped: the newest 10,000, more=1.
    let page = sync(http, "big", 0, 0, 20 * MAX_PAGE, 0);
    assert_eq!(
        seqs(&page),
        (51..=n as u64).collect::<Vec<_>>(),
        "the newest page"
    );
    assert_eq!(page["more"], 1);
    // limit 0 yields no messages and more=1 (WuKongIM's quirk, kept).
    let page = sync(http, "big", 0, 0, 0, 0);
    assert_eq!(seqs(&page), Vec::<u64>::new());
    assert_eq!(page["more"], 1);
    let (all, pages) = page_up(http, "big", 20 * MAX_PAGE);
    assert_eq!(pages.len(), 2, "10,000 then 50");
    exactly_once(&all, n as u64);
    let (all, _) = page_down(http, "big", 4_000);
    exactly_once(&all, n as u64);

    // 300 messages of 60 KiB: 18 MiB, more than one answer carries.
    post_ok(
        http,
        "/channel",
        json!({"channel_id": "fat", "channel_type": 2, "subscribers": ["a", "b"]}),
    );
    let fat = 300;
    fill(http, "fat", fat, 60 << 10, json!({}));
    let first = sync(http, "fat", 1, 0, MAX_PAGE, 1);
    let got = seqs(&first).len();
    assert!(
        got > 0 && got < fat,
        "the byte cap ends the page early ({got} messages)"
    );
    assert_eq!(first["more"], 1, "an early end says more");
    for dir in ["up", "down"] {
        let (all, pages) = if dir == "up" {
            page_up(http, "fat", MAX_PAGE)
        } else {
            page_down(http, "fat", MAX_PAGE)
        };
        assert!(pages.len() >= 2, "{dir}: {} pages", pages.len());
        for p in &pages {
            assert!(
                payload_bytes(p) <= MAX_ANSWER_BYTES + (60 << 10),
                "{dir}: a page carries at most the byte cap and one message"
            );
        }
        exactly_once(&all, fat as u64);
    }
}

#[test]
fn requests_above_the_caps_are_refused_or_capped() {
    let server = Server::start("");
    let http = server.addr("http");
    post_ok(
        http,
        "/channel",
        json!({"channel_id": "mid", "channel_type": 2, "subscribers": ["a", "b"]}),
    );
    fill(http, "mid", 150, 8, json!({}));
    // /messages: more lookups than the cap are refused (a capped answer would look like
    // misses); at the cap they are answered.
    let lookups = |seqs: usize, ids: usize| {
        post(
            http,
            "/messages",
            &json!({"login_uid": "b", "channel_id": "mid", "channel_type": 2,
                    "message_seqs": (1..=seqs as u64).collect::<Vec<_>>(),
                    "message_ids": vec![1; ids]})
            .to_string(),
        )
    };
    let r = lookups(MAX_FETCH, 1);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["msg"].as_str().unwrap().contains("at most 1000"),
        "{}",
        r.json()
    );
    let r = lookups(MAX_FETCH, 0);
    assert_eq!(r.status, 200);
    assert_eq!(seqs(&r.json()), (1..=150).collect::<Vec<_>>());
    assert_eq!(r.json()["more"], 0);

    // /conversation/sync: msg_count is capped per conversation.
    let conv = post(
        http,
        "/conversation/sync",
        &json!({"uid": "b", "msg_count": 500}).to_string(),
    )
    .json();
    assert_eq!(conv[0]["channel_id"], "mid");
    assert_eq!(conv[0]["last_msg_seq"], 150);
    let recents = conv[0]["recents"].as_array().unwrap();
    assert_eq!(recents.len(), MAX_RECENTS_PER_CHANNEL);
    assert_eq!(recents[0]["message_seq"], 150, "newest first");

    // /conversation/syncMessages: too many channels are refused, msg_count is capped.
    let channels: Vec<Value> = (0..=MAX_SYNC_CHANNELS)
        .map(|i| json!({"channel_id": format!("c{i}"), "channel_type": 2, "last_msg_seq": 0}))
        .collect();
    let r = post(
        http,
        "/conversation/syncMessages",
        &json!({"uid": "b", "channels": channels}).to_string(),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["msg"].as_str().unwrap().contains("at most 1000"));
    let r = post(
        http,
        "/conversation/syncMessages",
        &json!({"uid": "b", "channels": [{"channel_id": "mid", "channel_type": 2, "last_msg_seq": 1}], "msg_count": 500})
            .to_string(),
    )
    .json();
    assert_eq!(
        seqs(&r[0]),
        (1..=MAX_RECENTS_PER_CHANNEL as u64).collect::<Vec<_>>()
    );

    // /message/sync: a limit above the cap is capped; the default is 200.
    let n = MAX_CMD_SYNC + 1;
    post_ok(
        http,
        "/channel",
        json!({"channel_id": "ops", "channel_type": 2, "subscribers": ["a", "c"]}),
    );
    fill(http, "ops", n, 8, json!({"sync_once": 1}));
    let cmd = |limit: usize| {
        let v = post(
            http,
            "/message/sync",
            &json!({"uid": "c", "limit": limit}).to_string(),
        )
        .json();
        v.as_array().unwrap().len()
    };
    assert_eq!(cmd(5 * MAX_CMD_SYNC), MAX_CMD_SYNC);
    assert_eq!(cmd(0), 200);
    post_ok(
        http,
        "/message/syncack",
        json!({"uid": "c", "last_message_seq": 200}),
    );
    assert_eq!(cmd(5 * MAX_CMD_SYNC), n - 200, "the rest after the ack");
}

#[test]
fn a_send_completes_while_the_largest_page_is_pulled() {
    let server = Server::start("");
    let http = server.addr("http");
    let tcp = server.addr("tcp");
    post_ok(
        http,
        "/channel",
        json!({"channel_id": "big", "channel_type": 2, "subscribers": ["a", "b"]}),
    );
    fill(http, "big", MAX_PAGE, 64, json!({}));
    // A channel owned by the same shard as "big".
    let owner = wk::shard_of("big", 2);
    let side = (0..)
        .map(|i| format!("side{i}"))
        .find(|c| wk::shard_of(c, 2) == owner)
        .unwrap();
    post_ok(
        http,
        "/channel",
        json!({"channel_id": side, "channel_type": 2, "subscribers": ["sender"]}),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let pulls = Arc::new(AtomicUsize::new(0));
    let puller = {
        let (stop, pulls) = (stop.clone(), pulls.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let page = sync(http, "big", 1, 0, MAX_PAGE, 1);
                assert_eq!(seqs(&page).len(), MAX_PAGE);
                pulls.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Wait (with a deadline) until the puller is in its loop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pulls.load(Ordering::Relaxed) == 0 {
        assert!(std::time::Instant::now() < deadline, "no page was pulled");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut c = wk::WkClient::login(tcp, "sender", 4);
    for seq in 1..=20u32 {
        let ack = c.send_ok(&side, 2, seq, format!("s{seq}").as_bytes());
        assert_eq!(ack.message_seq, seq as u64);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    }
    stop.store(true, Ordering::Relaxed);
    puller.join().expect("the puller saw full pages");
    assert!(pulls.load(Ordering::Relaxed) >= 1);
}
