//! A three-node cluster over real processes on 127.0.0.1 (issue 15): formation and the views,
//! any node serving any client, leader kills under load with every acknowledged message
//! verified on every node, restart and catch-up, and an isolated leader that cannot
//! acknowledge. `CLUSTER_KILLS` sets the number of kills (the busy leader, then a random node, in
//! turn); `scripts/cluster-crash-test.sh` runs a hundred.

mod common;
use common::wk;

use common::cluster::*;
use jindou::proto::ReasonCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wk::WkClient;

const SLOTS: u16 = 16;

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A cluster with this file's settings.
fn start(n: usize, shards: usize) -> Cluster {
    Cluster::start(n, shards, SLOTS, "tokenAuthOn: true\n")
}

/// Every message of a channel as node `id` returns it to a client (paging by `more`), or
/// None if the node does not answer.
fn history(c: &Cluster, id: u64, login: &str, channel: &str, ty: u8) -> Option<Vec<Value>> {
    history_at(c, id, login, channel, ty, false)
}

/// Every message of a channel; `local`: as node `id`'s own replica holds it (not relayed to
/// the slot's leader).
fn history_at(
    c: &Cluster,
    id: u64,
    login: &str,
    channel: &str,
    ty: u8,
    local: bool,
) -> Option<Vec<Value>> {
    let http = c.addr(id, "http");
    let mut out = Vec::new();
    // From seq 1 up (start 0 with no end means "the newest `limit`", not "from the start").
    let mut start = 1u64;
    loop {
        let body = json!({"login_uid": login, "channel_id": channel, "channel_type": ty,
                "start_message_seq": start, "limit": 1000, "pull_mode": 1})
        .to_string();
        let r = if local {
            try_post_local(http, "/channel/messagesync", &body)?
        } else {
            try_post(http, "/channel/messagesync", &body)?
        };
        if r.status != 200 {
            return None;
        }
        let v = r.json();
        let page = v["messages"].as_array()?.clone();
        let done = v["more"] == 0 || page.is_empty();
        start = page
            .last()
            .and_then(|m| m["message_seq"].as_u64())
            .unwrap_or(start)
            + 1;
        out.extend(page);
        if done {
            return Some(out);
        }
    }
}

/// Waits until node `id`'s own replica holds at least `n` messages of the channel
/// (replication lag).
fn wait_history(c: &Cluster, id: u64, login: &str, channel: &str, ty: u8, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut held = None;
    loop {
        if let Some(h) = history_at(c, id, login, channel, ty, true) {
            if h.len() >= n {
                return h;
            }
            held = Some((h.len(), h.last().map(|m| m["message_seq"].clone())));
        }
        if Instant::now() >= deadline {
            // What every node says of the channel's slot, for the failure's story.
            let slot = slot_of(channel, c.slots);
            let views: Vec<String> = c
                .running()
                .into_iter()
                .map(|n| {
                    let v = try_get(c.addr(n, "http"), &format!("/cluster/slots/{slot}/config"))
                        .map(|r| String::from_utf8_lossy(&r.body).into_owned());
                    format!("{n}: {v:?}")
                })
                .collect();
            panic!(
                "node {id} never caught up to {n} messages (holds (count, last seq) {held:?}); \
                 slot {slot}: {views:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rest_send(
    c: &Cluster,
    id: u64,
    from: &str,
    channel: &str,
    ty: u8,
    payload: &str,
) -> Option<u64> {
    let r = try_post(
        c.addr(id, "http"),
        "/message/send",
        &json!({"from_uid": from, "channel_id": channel, "channel_type": ty, "payload": b64(payload)})
            .to_string(),
    )?;
    (r.status == 200).then(|| r.json()["data"]["message_seq"].as_u64())?
}

#[test]
fn three_nodes_replicate_and_any_node_serves_any_client() {
    let c = start(3, 2);
    c.wait_formed();
    // Views: three members online, one config leader; every slot led, three replicas,
    // leaders on more than one node.
    let nodes = try_get(c.addr(1002, "http"), "/cluster/nodes")
        .expect("nodes")
        .json();
    assert_eq!(nodes["total"], 3, "{nodes}");
    let data = nodes["data"].as_array().unwrap();
    assert_eq!(
        data.iter().filter(|n| n["is_leader"] == 1).count(),
        1,
        "{nodes}"
    );
    assert!(data.iter().all(|n| n["online"] == 1), "{nodes}");
    // Every slot led by one of the three with three replicas; leadership settles on each
    // slot's preferred leader, so every node leads its share.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let slots = try_get(c.addr(1003, "http"), "/cluster/allslot")
            .expect("slots")
            .json();
        let all = slots["data"].as_array().unwrap().clone();
        assert_eq!(slots["total"].as_u64().unwrap() as usize, all.len());
        assert_eq!(all.len(), SLOTS as usize);
        let mut leaders = BTreeMap::new();
        for s in &all {
            let l = s["leader_id"].as_u64().unwrap();
            assert_eq!(s["replicas"].as_array().unwrap().len(), 3, "{s}");
            *leaders.entry(l).or_insert(0) += 1;
        }
        let share = SLOTS as usize / 3;
        let balanced = leaders.len() == 3
            && leaders.keys().all(|l| (1001..=1003).contains(l))
            && leaders.values().all(|n| (share..=share + 1).contains(n));
        if balanced {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leaders never spread: {leaders:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // REST sends through every node: dense seqs, identical history everywhere.
    let mut acked = Vec::new();
    for round in 0..3 {
        for id in [1001, 1002, 1003] {
            let seq = rest_send(&c, id, "alice", "bob", 1, &format!("r{round}-{id}")).expect("ack");
            acked.push(seq);
        }
    }
    acked.sort_unstable();
    assert_eq!(acked, (1..=9).collect::<Vec<u64>>(), "dense and unique");
    let reference = wait_history(&c, 1001, "alice", "bob", 1, 9);
    for id in [1002, 1003] {
        assert_eq!(
            wait_history(&c, id, "alice", "bob", 1, 9),
            reference,
            "node {id}"
        );
        // The REST API answers the same through every node (relayed to the slot's leader).
        assert_eq!(
            history(&c, id, "alice", "bob", 1).as_ref(),
            Some(&reference),
            "node {id}, relayed"
        );
    }

    // A token registered through one node authenticates on every node; a wrong one fails.
    let r = try_post(
        c.addr(1001, "http"),
        "/user/token",
        &json!({"uid": "carol", "token": "tc", "device_flag": 0}).to_string(),
    )
    .expect("token");
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    for id in [1002, 1003] {
        let (_, ok) = WkClient::connect(c.addr(id, "tcp"), "carol", "tc", 0, 4, false);
        assert_eq!(ok.reason_code, ReasonCode::SUCCESS, "node {id}");
        let (_, bad) = WkClient::connect(c.addr(id, "tcp"), "carol", "nope", 0, 4, false);
        assert_eq!(bad.reason_code, ReasonCode::AUTH_FAIL, "node {id}");
    }

    // A group created through node 1001; a member on 1003 gets what a member on 1002 sends
    // over wkproto and what REST sends through 1001.
    for (uid, tok) in [("dan", "td"), ("eve", "te")] {
        let r = try_post(
            c.addr(1001, "http"),
            "/user/token",
            &json!({"uid": uid, "token": tok, "device_flag": 0}).to_string(),
        )
        .unwrap();
        assert_eq!(
            r.status,
            200,
            "{uid}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = try_post(
        c.addr(1001, "http"),
        "/channel",
        &json!({"channel_id": "crew", "channel_type": 2, "subscribers": ["dan", "eve"]})
            .to_string(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let (mut eve, ok) = WkClient::connect(c.addr(1003, "tcp"), "eve", "te", 0, 4, false);
    assert_eq!(ok.reason_code, ReasonCode::SUCCESS);
    let (mut dan, ok) = WkClient::connect(c.addr(1002, "tcp"), "dan", "td", 0, 4, false);
    assert_eq!(ok.reason_code, ReasonCode::SUCCESS);
    let ack = dan.send_ok("crew", 2, 1, b"from dan on 1002");
    assert_eq!(ack.message_seq, 1);
    let got = eve.expect_recv();
    assert_eq!(got.payload, b"from dan on 1002");
    assert_eq!(got.recv.from_uid.as_str(), "dan");
    assert!(rest_send(&c, 1001, "dan", "crew", 2, "rest via 1001").is_some());
    assert_eq!(eve.expect_recv().payload, b"rest via 1001");
    // Online status answers the same on every node.
    for id in [1001, 1002, 1003] {
        let r = try_post(
            c.addr(id, "http"),
            "/user/onlinestatus",
            r#"["eve","dan","zed"]"#,
        )
        .unwrap();
        let rows = r.json();
        let online: Vec<&str> = rows
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["uid"].as_str())
            .collect();
        assert!(
            online.contains(&"eve") && online.contains(&"dan"),
            "node {id}: {rows}"
        );
        assert!(!online.contains(&"zed"));
    }
}

/// Acknowledged messages: payload → seq.
type Acked = Arc<Mutex<HashMap<String, u64>>>;

fn record(acked: &Acked, payload: String, seq: u64) {
    let prev = acked.lock().unwrap().insert(payload.clone(), seq);
    assert!(
        prev.is_none() || prev == Some(seq),
        "{payload} acked twice at two seqs"
    );
}

/// Sends through node `id` until `stop`, recording what is acknowledged; REST through the
/// node's API, answers with errors (a dead or leaderless slot) are not acknowledgements.
fn rest_load(
    http: std::net::SocketAddr,
    tag: String,
    channel: &'static str,
    acked: Acked,
    stop: Arc<AtomicBool>,
) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let payload = format!("{tag}-{i}");
        let body = json!({"from_uid": "loader", "channel_id": channel, "channel_type": 2, "payload": b64(&payload)}).to_string();
        if let Some(r) = try_post(http, "/message/send", &body) {
            if r.status == 200 {
                if let Some(seq) = r.json()["data"]["message_seq"].as_u64() {
                    record(&acked, payload, seq);
                }
            }
        }
    }
}

/// Every acknowledged message is on every running node once, at its acknowledged seq, and
/// the history is dense (1..N) and identical on every node (each node's own replica).
fn verify(c: &Cluster, channel: &str, acked: &HashMap<String, u64>) {
    verify_on(c, &c.running(), channel, acked)
}

/// [`verify`] on the replicas `nodes`.
fn verify_on(c: &Cluster, nodes: &[u64], channel: &str, acked: &HashMap<String, u64>) {
    let max_acked = acked.values().copied().max().unwrap_or(0) as usize;
    // A send whose client got no verdict (refused as "outcome unknown" when a node failed)
    // may still be committed a moment later: wait until every replica holds as many
    // messages as the longest one, so the histories compared are the same moment's.
    let deadline = Instant::now() + Duration::from_secs(30);
    let histories = loop {
        let hs: Vec<Vec<Value>> = nodes
            .iter()
            .map(|&id| wait_history(c, id, "loader", channel, 2, max_acked))
            .collect();
        let longest = hs.iter().map(Vec::len).max().unwrap_or(0);
        if hs.iter().all(|h| h.len() == longest) || Instant::now() >= deadline {
            break hs;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut reference: Option<Vec<Value>> = None;
    for (&id, h) in nodes.iter().zip(histories) {
        let seqs: Vec<u64> = h
            .iter()
            .map(|m| m["message_seq"].as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs,
            (1..=h.len() as u64).collect::<Vec<_>>(),
            "node {id}: dense seqs"
        );
        let mut at: HashMap<String, u64> = HashMap::new();
        for m in &h {
            use base64::Engine;
            let p = base64::engine::general_purpose::STANDARD
                .decode(m["payload"].as_str().unwrap())
                .unwrap();
            let p = String::from_utf8(p).unwrap();
            assert!(
                at.insert(p.clone(), m["message_seq"].as_u64().unwrap())
                    .is_none(),
                "node {id}: {p} twice"
            );
        }
        for (p, seq) in acked {
            assert_eq!(at.get(p), Some(seq), "node {id}: acknowledged {p} at {seq}");
        }
        match &reference {
            None => reference = Some(h),
            Some(r) => assert_eq!(
                r.iter().map(|m| &m["message_id"]).collect::<Vec<_>>(),
                h.iter().map(|m| &m["message_id"]).collect::<Vec<_>>(),
                "node {id}: same history"
            ),
        }
    }
}

#[test]
fn killing_the_busy_leader_loses_nothing_acknowledged() {
    let kills: usize = std::env::var("CLUSTER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    assert!(kills >= 1, "CLUSTER_KILLS must be at least 1");
    let mut c = start(3, 1);
    c.wait_formed();
    let channel = "busy";
    let slot = slot_of(channel, SLOTS);
    let acked: Acked = Arc::new(Mutex::new(HashMap::new()));
    let mut failovers = Vec::new();
    for round in 0..kills {
        let stop = Arc::new(AtomicBool::new(false));
        let loaders: Vec<_> = c
            .running()
            .into_iter()
            .map(|id| {
                let (http, acked, stop) = (c.addr(id, "http"), acked.clone(), stop.clone());
                let tag = format!("k{round}-n{id}");
                std::thread::spawn(move || rest_load(http, tag, channel, acked, stop))
            })
            .collect();
        // Let the load run, then kill the leader of the busy channel's slot.
        let before = acked.lock().unwrap().len();
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().unwrap().len() < before + 50 {
            assert!(Instant::now() < deadline, "round {round}: no traffic");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Even rounds kill the busy slot's leader (as the nodes see it now), odd rounds a node
        // picked at random.
        let leader = c.leader_of(c.running()[0], slot);
        assert!((1001..=1003).contains(&leader), "round {round}: no leader");
        let victim = if round % 2 == 0 {
            leader
        } else {
            let running = c.running();
            let pick = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos() as usize);
            running[pick % running.len()]
        };
        c.kill(victim);
        let killed_at = Instant::now();
        // Writes resume on the survivors: a probe sends through one until it is acknowledged
        // (detection + election + first acknowledgement).
        let survivor = c.running()[0];
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut probe = 0;
        loop {
            probe += 1;
            let payload = format!("probe-{round}-{probe}");
            if let Some(seq) = rest_send(&c, survivor, "loader", channel, 2, &payload) {
                record(&acked, payload, seq);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: writes never resumed"
            );
        }
        // A kill that hit a follower needs no election: only leader kills are failovers, and
        // for those the survivors must have elected another node.
        let elapsed = killed_at.elapsed();
        let role = if victim == leader {
            let now = c.leader_of(survivor, slot);
            assert!(
                now != victim && (1001..=1003).contains(&now),
                "round {round}: the busy slot's leader is {now} after killing leader {victim}"
            );
            "leader"
        } else {
            "follower"
        };
        failovers.push((role, elapsed));
        let at = acked.lock().unwrap().len();
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().unwrap().len() < at + 20 {
            assert!(
                Instant::now() < deadline,
                "round {round}: the load never resumed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        for l in loaders {
            l.join().unwrap();
        }
        c.restart(victim);
        c.wait_formed();
        let snapshot = acked.lock().unwrap().clone();
        verify(&c, channel, &snapshot);
    }
    eprintln!(
        "cluster kills: {kills}, acknowledged messages verified: {}, kill → first acknowledgement (killed node's role, time): {:?}",
        acked.lock().unwrap().len(),
        failovers
    );
    assert!(
        failovers.iter().any(|(role, _)| *role == "leader"),
        "no round killed a leader"
    );
}

/// Sends through node `id` with the red dot until one is acknowledged (a slot may be
/// electing); its seq.
fn send_red_dot(c: &Cluster, id: u64, channel: &str, payload: &str) -> u64 {
    let body = json!({"header": {"red_dot": 1}, "from_uid": "writer", "channel_id": channel,
        "channel_type": 2, "payload": b64(payload), "client_msg_no": payload})
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = try_post(c.addr(id, "http"), "/message/send", &body) {
            if r.status == 200 {
                return r.json()["data"]["message_seq"].as_u64().unwrap();
            }
        }
        assert!(Instant::now() < deadline, "{payload} never acknowledged");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `uid`'s conversation with group `channel`, as node `id` reports it, shows
/// `last_msg_seq` and `unread`.
fn wait_conversation(c: &Cluster, id: u64, uid: &str, channel: &str, last: u64, unread: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Value::Null;
    while Instant::now() < deadline {
        if let Some(r) = try_post(
            c.addr(id, "http"),
            "/conversation/sync",
            &json!({"uid": uid, "msg_count": 1}).to_string(),
        ) {
            seen = r.json();
            let conv = seen
                .as_array()
                .and_then(|a| a.iter().find(|x| x["channel_id"] == channel));
            if conv.is_some_and(|x| x["last_msg_seq"] == last && x["unread"] == unread) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("node {id}: {uid} never saw last_msg_seq {last} and unread {unread}: {seen}");
}

/// Conversations and unread counts stay consistent through failovers: a reader's
/// conversation with a group, held by the leader of the reader's slot, is rebuilt by the new
/// leader after that one is killed (and again after the channel's own leader is), and every
/// node answers the same: the last seq acknowledged, and one unread per message.
#[test]
fn conversations_and_unread_counts_survive_leader_kills() {
    let mut c = start(3, 1);
    c.wait_formed();
    let (reader, group) = ("conv-reader", "conv-group");
    let created = try_post(
        c.addr(1001, "http"),
        "/channel",
        &json!({"channel_id": group, "channel_type": 2, "subscribers": [reader, "writer"]})
            .to_string(),
    )
    .expect("create");
    assert_eq!(
        created.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&created.body)
    );
    let mut last = 0;
    for i in 0..10 {
        last = send_red_dot(&c, 1002, group, &format!("before-{i}"));
    }
    assert_eq!(last, 10);
    for id in c.running() {
        wait_conversation(&c, id, reader, group, 10, 10);
    }
    // Kill the node holding the reader's conversations, then the channel's leader (when
    // another node), sending in between.
    let mut sent = 10;
    for (round, key) in [reader, group].into_iter().enumerate() {
        let victim = c.leader_of(c.running()[0], slot_of(key, SLOTS));
        assert!((1001..=1003).contains(&victim), "no leader of {key}");
        c.kill(victim);
        let survivor = c.running()[0];
        for i in 0..5 {
            last = send_red_dot(&c, survivor, group, &format!("round{round}-{i}"));
        }
        sent += 5;
        assert_eq!(last, sent, "dense seqs");
        for id in c.running() {
            wait_conversation(&c, id, reader, group, last, sent);
        }
        c.restart(victim);
        c.wait_formed();
        wait_conversation(&c, victim, reader, group, last, sent);
    }
}

/// A send a survivor forwarded to a slot leader that then dies is answered as soon as the
/// link drops (refused as retryable), not after `cluster.reqTimeout` (a minute here, while
/// the client gives up after 15 s): every request that was in flight at the kill gets an
/// answer.
#[test]
fn sends_forwarded_to_a_dying_leader_are_answered_at_once() {
    let mut c = Cluster::start_timed(3, 1, SLOTS, "tokenAuthOn: true\n", "60s");
    c.wait_formed();
    let channel = "relayed";
    let slot = slot_of(channel, SLOTS);
    let leader = c.leader_of(c.running()[0], slot);
    assert!((1001..=1003).contains(&leader), "no leader");
    let followers: Vec<u64> = c.running().into_iter().filter(|&n| n != leader).collect();
    // (started, finished, answered) of every request, from loaders on the two followers.
    type Log = Arc<Mutex<Vec<(Instant, Instant, bool)>>>;
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let acked: Acked = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = followers
        .iter()
        .flat_map(|&id| (0..4).map(move |t| (id, t)))
        .map(|(id, t)| {
            let (http, log, acked, stop) = (c.addr(id, "http"), log.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let payload = format!("n{id}-t{t}-{i}");
                    let body = json!({"from_uid": "loader", "channel_id": channel, "channel_type": 2, "payload": b64(&payload)}).to_string();
                    let started = Instant::now();
                    let r = try_post(http, "/message/send", &body);
                    if let Some(seq) = r
                        .as_ref()
                        .filter(|r| r.status == 200)
                        .and_then(|r| r.json()["data"]["message_seq"].as_u64())
                    {
                        record(&acked, payload, seq);
                    }
                    log.lock().unwrap().push((started, Instant::now(), r.is_some()));
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 100 {
        assert!(
            Instant::now() < deadline,
            "no traffic through the followers"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    c.kill(leader);
    let killed_at = Instant::now();
    // Writes resume through the survivors once a new leader is elected.
    let at = acked.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < at + 20 {
        assert!(Instant::now() < deadline, "writes never resumed");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        l.join().unwrap();
    }
    let log = log.lock().unwrap();
    // The requests pending when the leader died: each must have its answer well before the
    // 60 s reqTimeout (and the client's 15 s): the forwarding node refuses them when the link
    // drops.
    let in_flight: Vec<&(Instant, Instant, bool)> = log
        .iter()
        .filter(|(started, finished, _)| *started <= killed_at && *finished >= killed_at)
        .collect();
    assert!(!in_flight.is_empty(), "no send was in flight at the kill");
    let late: Vec<Duration> = in_flight
        .iter()
        .filter(|(_, finished, answered)| {
            !answered || finished.duration_since(killed_at) > Duration::from_secs(5)
        })
        .map(|(_, finished, _)| finished.duration_since(killed_at))
        .collect();
    assert!(
        late.is_empty(),
        "{} of {} sends in flight at the kill were unanswered or answered late: {late:?}",
        late.len(),
        in_flight.len()
    );
    let snapshot = acked.lock().unwrap().clone();
    verify(&c, channel, &snapshot);
}

/// The links between nodes are authenticated with `cluster.secret`: a node with another key
/// is refused when it asks to join (both sides log why), and the members stay three.
#[test]
fn a_node_without_the_secret_cannot_join() {
    let mut c = start(3, 1);
    c.wait_formed();
    // The seed's own account of the refusal: its standard error, captured from a restart.
    c.kill(1001);
    let seed_lines = c.restart_capturing(1001);
    c.wait_formed();
    let (_intruder, lines) = c.join_capturing(1009, 1001, "not-the-secret");
    let refusal = |lines: &std::sync::mpsc::Receiver<String>, who: &str, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) if l.contains(want) => return l,
                Ok(_) => {}
                Err(e) => panic!("{who} never reported {want:?}: {e}"),
            }
        }
    };
    // The seed checked the intruder's proof and refused the link (a join is proposed only
    // after that check passes)…
    let seed = refusal(
        &seed_lines,
        "the seed",
        "node 1009 did not prove cluster.secret",
    );
    assert!(seed.contains("cluster link refused"), "{seed}");
    // …and the intruder refused the seed's proof under its own key.
    let intruder = refusal(
        &lines,
        "the intruder",
        "node 1001 did not prove cluster.secret",
    );
    assert!(intruder.contains("join request not taken"), "{intruder}");
    let nodes = try_get(c.addr(1001, "http"), "/cluster/nodes")
        .expect("nodes")
        .json();
    assert_eq!(nodes["total"], 3, "{nodes}");
    assert!(
        nodes["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["id"] != 1009),
        "{nodes}"
    );
}

#[test]
fn an_isolated_leader_cannot_acknowledge() {
    let c = start(3, 1);
    c.wait_formed();
    let channel = "island";
    let slot = slot_of(channel, SLOTS);
    let leader = c.leader_of(1001, slot);
    let others: Vec<u64> = [1001, 1002, 1003]
        .into_iter()
        .filter(|n| *n != leader)
        .collect();
    assert!(rest_send(&c, leader, "u", channel, 2, "before").is_some());
    assert_eq!(
        c.leader_of(leader, slot),
        leader,
        "the node isolated leads the slot"
    );
    // Cut the leader off from its peers (its API and clients stay reachable).
    let r = try_post(
        c.addr(leader, "http"),
        "/cluster/faults",
        r#"{"isolate":true}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    // The isolated leader acknowledges nothing; the majority elects another and goes on.
    let mut acked = HashMap::new();
    acked.insert("before".to_string(), 1u64);
    for i in 0..2 {
        let payload = format!("isolated-{i}");
        let r = try_post(
            c.addr(leader, "http"),
            "/message/send",
            &json!({"from_uid": "u", "channel_id": channel, "channel_type": 2, "payload": b64(&payload)}).to_string(),
        );
        assert!(
            r.is_none_or(|r| r.status != 200),
            "the isolated leader acknowledged {payload}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    while n < 5 {
        let payload = format!("majority-{n}");
        if let Some(seq) = rest_send(&c, others[n % 2], "u", channel, 2, &payload) {
            acked.insert(payload, seq);
            n += 1;
        }
        assert!(Instant::now() < deadline, "the majority never acknowledged");
    }
    let elected = c.leader_of(others[0], slot);
    assert!(
        elected != leader && others.contains(&elected),
        "the majority's leader is {elected}"
    );
    // Heal: the old leader steps down and converges on the majority's history.
    let r = try_post(
        c.addr(leader, "http"),
        "/cluster/faults",
        r#"{"isolate":false}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    c.wait_formed();
    verify(&c, channel, &acked);
}

/// The replicas of `slot` with `members` (sorted): three in rotation from `slot mod n`, as
/// the server places them.
fn replicas_of(members: &[u64], slot: u16) -> Vec<u64> {
    let mut r: Vec<u64> = (0..3.min(members.len()))
        .map(|k| members[(slot as usize + k) % members.len()])
        .collect();
    r.sort_unstable();
    r
}

/// Waits until every node of `members` lists exactly `members` in `/cluster/nodes`, and every slot
/// group, as each of its replicas reports it, has exactly the replicas the rotation over
/// `members` gives, a leader, and the leader's log applied.
fn wait_rebalanced(c: &Cluster, members: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    loop {
        let ok = (|| {
            for &id in members {
                let nodes = try_get(c.addr(id, "http"), "/cluster/nodes")?.json();
                let mut ids: Vec<u64> = nodes["data"]
                    .as_array()?
                    .iter()
                    .filter_map(|n| n["id"].as_u64())
                    .collect();
                ids.sort_unstable();
                if ids != members {
                    last = format!("node {id} lists members {ids:?}");
                    return None;
                }
            }
            for slot in 0..SLOTS {
                let want = replicas_of(members, slot);
                for &id in &want {
                    let v =
                        try_get(c.addr(id, "http"), &format!("/cluster/slots?ids={slot}"))?.json();
                    let s = &v[0];
                    let mut got: Vec<u64> = s["replicas"]
                        .as_array()?
                        .iter()
                        .filter_map(|n| n.as_u64())
                        .collect();
                    got.sort_unstable();
                    let leader = s["leader_id"].as_u64().unwrap_or(0);
                    if got != want || !want.contains(&leader) {
                        last =
                            format!("slot {slot} on node {id}: replicas {got:?}, leader {leader}");
                        return None;
                    }
                }
            }
            Some(())
        })();
        if ok.is_some() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster never rebalanced to {members:?}: {last}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_fourth_node_joins_and_one_leaves() {
    let mut c = start(3, 2);
    c.wait_formed();
    // Messages in channels spread over every slot, before any change.
    let channels: Vec<String> = (0..24).map(|i| format!("ops-{i}")).collect();
    let mut acked: BTreeMap<String, HashMap<String, u64>> = BTreeMap::new();
    let send_round = |c: &Cluster,
                      via: &[u64],
                      tag: &str,
                      acked: &mut BTreeMap<String, HashMap<String, u64>>| {
        for (i, ch) in channels.iter().enumerate() {
            let payload = format!("{tag}-{i}");
            let deadline = Instant::now() + Duration::from_secs(30);
            let seq = loop {
                if let Some(seq) = rest_send(c, via[i % via.len()], "loader", ch, 2, &payload) {
                    break seq;
                }
                assert!(
                    Instant::now() < deadline,
                    "{ch}: {payload} never acknowledged"
                );
                std::thread::sleep(Duration::from_millis(50));
            };
            acked.entry(ch.clone()).or_default().insert(payload, seq);
        }
    };
    send_round(&c, &[1001, 1002, 1003], "before", &mut acked);

    // Node 1004 joins through node 1002; the slots rebalance over four nodes, and 1004, a
    // replica of some of them now, holds their history.
    c.join(1004, 1002);
    wait_rebalanced(&c, &[1001, 1002, 1003, 1004]);
    c.wait_formed();
    let members = [1001, 1002, 1003, 1004];
    let led_by_new = (0..SLOTS).filter(|s| c.leader_of(1004, *s) == 1004).count();
    assert!(
        led_by_new > 0,
        "the new node leads no slot after rebalancing"
    );
    send_round(&c, &[1004, 1001], "joined", &mut acked);
    for (ch, a) in &acked {
        verify_on(&c, &replicas_of(&members, slot_of(ch, SLOTS)), ch, a);
    }

    // Node 1001 leaves: the rest take its replicas; then it stops, and nothing is lost.
    let r = try_post(
        c.addr(1003, "http"),
        "/cluster/nodes/remove",
        r#"{"node_id":1001}"#,
    )
    .expect("remove answered");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = try_post(
        c.addr(1003, "http"),
        "/cluster/nodes/remove",
        r#"{"node_id":1001}"#,
    )
    .expect("remove answered");
    assert_eq!(r.status, 404, "a removed node is no member");
    let rest = [1002, 1003, 1004];
    wait_rebalanced(&c, &rest);
    c.kill(1001);
    c.members.retain(|m| m.id != 1001);
    c.wait_formed();
    send_round(&c, &[1002, 1003, 1004], "after", &mut acked);
    for (ch, a) in &acked {
        verify_on(&c, &replicas_of(&rest, slot_of(ch, SLOTS)), ch, a);
    }
}
