//! The client gateway end to end: the real binary, real sockets, the wkproto test client of
//! `common/wk.rs` (spec `shared/spec/wkproto.md` §4, §7, §9).

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::wk::{self, ConnectOpts, WkClient, WAIT};
use common::*;
use jindou::proto::{ChannelType, DeviceFlag, Packet, ReasonCode, Recv};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const PERSON: u8 = ChannelType::PERSON.0;
const GROUP: u8 = ChannelType::GROUP.0;
const RED_DOT: u8 = 0x02;
const NO_ENCRYPT: u8 = 0x10;

/// Registers a device token over REST (`extra` = extra header lines).
fn register_token(http: SocketAddr, uid: &str, token: &str, flag: u8, level: u8, extra: &str) {
    let r = post_with(
        http,
        "/user/token",
        &json!({"uid": uid, "token": token, "device_flag": flag, "device_level": level})
            .to_string(),
        extra,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// `POST /channel/messagesync` for `login_uid` in `channel_id`.
fn sync(http: SocketAddr, login_uid: &str, channel_id: &str, channel_type: u8) -> Vec<Value> {
    let r = post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": login_uid, "channel_id": channel_id, "channel_type": channel_type, "limit": 100})
            .to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["messages"].as_array().expect("messages").clone()
}

/// The first `<prefix><n>` owned by `shard` (of 2) that also satisfies `more`.
fn uid_on(prefix: &str, shard: usize, more: impl Fn(&str) -> bool) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|u| wk::shard_of(u, 2) == shard && more(u))
        .expect("a uid on the shard")
}

fn text(s: &str) -> Vec<u8> {
    json!({"content": s, "type": 1}).to_string().into_bytes()
}

/// Reads the raw CONNACK frame a CONNECT at `version` produces.
fn raw_connack(tcp: SocketAddr, version: u8, uid: &str) -> Vec<u8> {
    let hs = jindou::proto::ClientHandshake::new();
    let connect = jindou::proto::Connect {
        version,
        device_flag: DeviceFlag::APP,
        device_id: "raw".into(),
        uid: jindou::proto::WkStr::from(uid.to_string()),
        token: "".into(),
        client_timestamp: wk::now_ms(),
        client_key: hs.client_key().clone(),
    };
    let mut out = bytes::BytesMut::new();
    jindou::proto::Encode::encode(&connect, version, &mut out).unwrap();
    let mut s = TcpStream::connect(tcp).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&out).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        // Frame = header byte + one-byte remaining length (CONNACKs are < 128 bytes).
        if buf.len() >= 2 && buf.len() >= 2 + buf[1] as usize {
            return buf;
        }
        let n = s.read(&mut chunk).expect("read CONNACK");
        assert!(n > 0, "closed before CONNACK");
        buf.extend_from_slice(&chunk[..n]);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Authentication (§9.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn connect_checks_tokens_uids_and_the_manager() {
    let s = Server::start(
        "tokenAuthOn: true\nmanagerUID: boss\nmanagerToken: sesame\ncluster: {nodeId: 7}\n",
    );
    let (tcp, http) = (s.addr("tcp"), s.addr("http"));
    let admin = "token: sesame\r\n";
    register_token(http, "alice", "tok-a", DeviceFlag::WEB.0, 0, admin);

    // Success at every CONNACK layout.
    for version in [2u8, 3, 4, 5, 6] {
        let (mut c, ack) = WkClient::connect(tcp, "alice", "tok-a", 1, version, true);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "v{version}");
        assert_eq!(ack.server_key.len(), 44, "base64 of 32 bytes");
        assert_eq!(ack.salt.len(), 16);
        assert!(ack
            .salt
            .as_str()
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric()));
        assert!(
            ack.time_diff.abs() < 60_000,
            "time_diff in ms: {}",
            ack.time_diff
        );
        if version > 3 {
            assert_eq!(ack.server_version, Some(version), "HasServerVersion");
            assert_eq!(ack.node_id, 7, "node_id for v≥4");
        } else {
            assert_eq!(ack.server_version, None, "no version byte for v≤3");
        }
        c.ping();
    }
    // Wrong token, a token of another device flag, no token: reason 2, then the socket closes.
    for (token, flag) in [("nope", 1u8), ("tok-a", 0), ("", 1)] {
        let (mut c, ack) = WkClient::connect(tcp, "alice", token, flag, 4, true);
        assert_eq!(ack.reason_code, ReasonCode::AUTH_FAIL, "{token:?}/{flag}");
        assert!(ack.server_key.is_empty() && ack.salt.is_empty());
        assert!(c.is_closed(WAIT), "refused connection closes");
    }
    // Reserved characters and an empty uid are refused.
    for uid in ["ev@il", "a#b", "a&b", ""] {
        let (mut c, ack) = WkClient::connect(tcp, uid, "x", 1, 4, true);
        assert_ne!(ack.reason_code, ReasonCode::SUCCESS, "uid {uid:?}");
        assert!(c.is_closed(WAIT), "uid {uid:?}");
    }
    // The manager uid needs managerToken (and no registered token).
    let (mut c, ack) = WkClient::connect(tcp, "boss", "sesame", 0, 5, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    c.ping();
    for bad in ["", "tok-a", "sesame2"] {
        let (mut c, ack) = WkClient::connect(tcp, "boss", bad, 0, 5, true);
        assert_eq!(
            ack.reason_code,
            ReasonCode::AUTH_FAIL,
            "manager with {bad:?}"
        );
        assert!(c.is_closed(WAIT));
    }
    // Encryption is on: a CONNECT without client_key cannot succeed.
    let (mut c, ack) = WkClient::connect(tcp, "alice", "tok-a", 1, 4, false);
    assert_eq!(ack.reason_code, ReasonCode::CLIENT_KEY_IS_EMPTY);
    assert!(c.is_closed(WAIT));
    assert_eq!(get(http, "/health").status, 200);
}

#[test]
fn connack_layout_follows_the_client_version() {
    let s = Server::start("");
    let tcp = s.addr("tcp");
    // body = time_diff 8 + reason 1 + server_key 2+44 + salt 2+16 = 73
    for (version, header, len) in [(2u8, 0x20u8, 73usize), (3, 0x20, 73), (4, 0x21, 82)] {
        let frame = raw_connack(tcp, version, "layout");
        assert_eq!(frame[0], header, "v{version} header");
        assert_eq!(frame[1] as usize, len, "v{version} remaining length");
        assert_eq!(frame.len(), 2 + len);
        if version > 3 {
            assert_eq!(frame[2], version, "server_version byte");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Version negotiation (§4)
// ---------------------------------------------------------------------------------------------

#[test]
fn every_version_exchanges_messages() {
    let s = Server::start("");
    let tcp = s.addr("tcp");
    let pairs = [(2u8, 2u8), (4, 4), (5, 5), (6, 6), (2, 6), (6, 2), (5, 4)];
    for (i, (va, vb)) in pairs.into_iter().enumerate() {
        let (a, b) = (format!("va{i}"), format!("vb{i}"));
        let mut ca = WkClient::login(tcp, &a, va);
        let mut cb = WkClient::login(tcp, &b, vb);
        assert_eq!(ca.version, va);
        for round in 1..=3u64 {
            let body = text(&format!("v{va}->v{vb} #{round}"));
            let ack = ca.send_ok(&b, PERSON, round as u32, &body);
            assert_eq!(ack.message_seq, 2 * round - 1, "seq in SENDACK at v{va}");
            let got = cb.expect_recv();
            assert_eq!(got.payload, body);
            assert_eq!(
                got.recv.message_seq, ack.message_seq,
                "seq in RECV at v{vb}"
            );
            assert_eq!(got.recv.message_id, ack.message_id);
            assert_eq!(got.recv.channel_id, a.as_str());
            assert_eq!(got.recv.from_uid, a.as_str());
            // The reply travels the other way (RECVACKs at the receiver's width went out).
            let reply = text("ok");
            let ack2 = cb.send_ok(&a, PERSON, round as u32, &reply);
            let back = ca.expect_recv();
            assert_eq!(back.payload, reply);
            assert_eq!(back.recv.message_seq, ack2.message_seq);
            assert_eq!(ack2.message_seq, 2 * round);
        }
        // A still-healthy stream after the RECVACKs (u64 seq at v6 parsed correctly).
        ca.ping();
        cb.ping();
        assert!(!ca.closed() && !cb.closed());
    }
    // Version 0 and versions above the latest negotiate to 6.
    for v in [0u8, 9] {
        let (mut c, ack) = WkClient::connect(tcp, "vz", "", 0, v, true);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
        if v > 3 {
            assert_eq!(ack.server_version, Some(6));
        }
        assert_eq!(c.version, 6);
        c.ping();
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Heartbeat and timeouts (§9.2)
// ---------------------------------------------------------------------------------------------

#[test]
fn ping_idle_timeout_and_connect_timeout() {
    let s = Server::start("connIdleTime: 1s\nlimits: {connectTimeout: 1s}\n");
    let tcp = s.addr("tcp");

    // PING → PONG, and pings keep a connection alive past the idle time.
    let mut alive = WkClient::login(tcp, "pinger", 5);
    // Time is the subject here: 6 × 400 ms spans more than twice the 1 s idle time, and each
    // PING is answered (a positive proof the connection lives; the waits only pace it).
    for _ in 0..6 {
        assert!(!alive.is_closed(Duration::from_millis(400)));
        alive.ping();
    }
    assert!(
        alive.queued().is_empty(),
        "one PONG per PING: {:?}",
        alive.queued()
    );

    // Silent after CONNECT: closed after connIdleTime.
    let t0 = Instant::now();
    let mut idle = WkClient::login(tcp, "idler", 5);
    assert!(idle.is_closed(WAIT), "idle connection closed");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed too early: {waited:?}"
    );

    // Never sends CONNECT / sends half of one: closed after limits.connectTimeout.
    for partial in [&[][..], &[0x10, 0x51, 0x02][..]] {
        let t0 = Instant::now();
        let mut raw = WkClient::open(tcp, false);
        raw.raw_write(partial);
        assert!(raw.is_closed(WAIT), "pre-auth socket closed");
        assert!(t0.elapsed() >= Duration::from_millis(900));
        assert!(raw.queued().is_empty(), "nothing sent to it");
    }
    // The pinger went silent meanwhile, so it timed out as well.
    assert!(alive.is_closed(WAIT));
}

/// Connections parked now, from `/varz`.
fn parked(http: SocketAddr) -> u64 {
    get(http, "/varz").json()["parked"]
        .as_u64()
        .expect("varz parked")
}

#[test]
fn idle_connections_park_and_wake_on_bytes_pushes_and_kicks() {
    let s = Server::start("");
    let (tcp, http) = (s.addr("tcp"), s.addr("http"));
    let mut a = WkClient::login(tcp, "parka", 5);
    let mut b = WkClient::login(tcp, "parkb", 5);
    // A connection that just logged in gives up its task at once.
    wait_secs("both connections parked", 10, || parked(http) == 2);

    // A message to a parked connection is written without waking it; a SEND from a parked
    // connection wakes it.
    a.send_ok("parkb", PERSON, 1, &text("to a parked peer"));
    let got = b.expect_recv();
    assert_eq!(got.recv.from_uid.as_str(), "parka");
    b.recvack(&got.recv);
    // PING from a parked connection: woken, answered.
    wait_secs("parked again", 10, || parked(http) == 2);
    b.ping();
    assert!(b.queued().is_empty(), "one PONG: {:?}", b.queued());

    // Silent for the park delay (2 s), the woken ones park again, asked by the idle sweep.
    wait_secs("parked after the silence", 15, || parked(http) == 2);

    // A kick reaches a parked connection (DISCONNECT, then the socket closes), and the
    // closed session is gone from the table.
    let r = post(
        http,
        "/user/device_quit",
        &json!({"uid": "parka", "device_flag": -1}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    a.expect(|p| matches!(p, Packet::Disconnect(_)));
    assert!(a.is_closed(WAIT), "kicked connection closed");
    wait_secs("kicked session gone", 10, || {
        let v = get(http, "/varz").json();
        v["sockets"] == 1 && v["parked"] == 1
    });
    // The one left still works after all this.
    b.send_ok("parka", PERSON, 2, &text("still here"));
}

// ---------------------------------------------------------------------------------------------
// 4. Device replacement (§9.1.6)
// ---------------------------------------------------------------------------------------------

#[test]
fn master_login_kicks_same_device_type_and_slaves_coexist() {
    let s = Server::start("tokenAuthOn: true\n");
    let (tcp, http) = (s.addr("tcp"), s.addr("http"));
    register_token(http, "carol", "tc", DeviceFlag::APP.0, 1, "");
    register_token(http, "carol", "tcw", DeviceFlag::WEB.0, 0, "");
    register_token(http, "dave", "td", DeviceFlag::APP.0, 0, "");
    register_token(http, "erin", "te", DeviceFlag::APP.0, 0, "");
    let login = |uid: &str, token: &str, flag: u8, dev: &str| {
        let (c, ack) = WkClient::connect_opts(
            tcp,
            ConnectOpts::new(uid, token, flag, 5, true).device_id(dev),
        );
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "{uid}/{dev}");
        c
    };

    // Master: the older APP session of another device gets DISCONNECT(12), then is closed.
    let mut old = login("carol", "tc", 0, "phone-1");
    let mut web = login("carol", "tcw", 1, "browser");
    let mut new = login("carol", "tc", 0, "phone-2");
    match old.expect(|p| matches!(p, Packet::Disconnect(_))) {
        Packet::Disconnect(d) => {
            assert_eq!(d.reason_code, ReasonCode::CONNECT_KICK);
            assert_eq!(d.reason.as_str(), "login in other device");
        }
        _ => unreachable!(),
    }
    assert!(old.is_closed(WAIT), "kicked session closes");
    new.ping();
    web.ping(); // another device type is untouched
    assert!(!web.closed());

    // Master again on the same device id: the previous one is just closed (no DISCONNECT).
    let mut again = login("carol", "tc", 0, "phone-2");
    assert!(new.is_closed(WAIT));
    assert!(
        !new.queued()
            .iter()
            .any(|p| matches!(p, Packet::Disconnect(_))),
        "same device id: no DISCONNECT"
    );
    again.ping();

    // Slaves on different device ids coexist and both receive.
    let mut d1 = login("dave", "td", 0, "tab-1");
    let mut d2 = login("dave", "td", 0, "tab-2");
    d1.ping();
    d2.ping();
    let mut erin = login("erin", "te", 0, "e");
    let body = text("to both tabs");
    let ack = erin.send_ok("dave", PERSON, 1, &body);
    for d in [&mut d1, &mut d2] {
        let got = d.expect_recv();
        assert_eq!(got.payload, body);
        assert_eq!(got.recv.message_id, ack.message_id);
    }
    // A slave on the same device id replaces only that one, silently.
    let mut d1b = login("dave", "td", 0, "tab-1");
    assert!(d1.is_closed(WAIT));
    assert!(!d1
        .queued()
        .iter()
        .any(|p| matches!(p, Packet::Disconnect(_))));
    d2.ping();
    d1b.ping();
}

// ---------------------------------------------------------------------------------------------
// 5. Person chat across shards (§9.3, §9.4)
// ---------------------------------------------------------------------------------------------

#[test]
fn person_chat_across_shards() {
    let s = Server::start("");
    let tcp = s.addr("tcp");
    // Sender on shard 0, receiver on shard 1; the chat's storage owner once on each side.
    for fake_owner in [0usize, 1] {
        let a = uid_on(&format!("pa{fake_owner}-"), 0, |_| true);
        let b = uid_on(&format!("pb{fake_owner}-"), 1, |b| {
            wk::shard_of(&wk::person_fake_id(&a, b), 2) == fake_owner
        });
        person_chat(tcp, &a, &b);
    }
}

fn person_chat(tcp: SocketAddr, a: &str, b: &str) {
    let mut alice = WkClient::login(tcp, a, 5);
    let (mut alice_web, ack) = WkClient::connect(tcp, a, "", DeviceFlag::WEB.0, 5, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    let mut bob = WkClient::login(tcp, b, 5);

    for (seq, setting) in [(1u32, 0u8), (2, NO_ENCRYPT)] {
        let body = text(&format!("hello #{seq}"));
        let no = format!("{a}-m{seq}");
        alice.send_setting(b, PERSON, seq, &no, &body, RED_DOT, setting);
        let ack = alice.expect_sendack(seq);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
        assert_eq!(ack.message_seq, seq as u64);
        assert!(ack.message_id > 0);

        let check = |got: &wk::Received, channel: &str, red_dot: bool| {
            let r: &Recv = &got.recv;
            assert_eq!(got.payload, body);
            assert_eq!(r.channel_id, channel, "receiver-side channel id");
            assert_eq!(r.channel_type, ChannelType::PERSON);
            assert_eq!(r.from_uid, a);
            assert_eq!(r.client_msg_no, no.as_str());
            assert_eq!(r.message_id, ack.message_id);
            assert_eq!(r.message_seq, ack.message_seq);
            assert_eq!(r.flags.red_dot(), red_dot);
            assert_eq!(r.setting.bits(), setting, "setting copied");
            let now = wk::now_ms() / 1000;
            assert!(
                (r.timestamp as i64 - now).abs() < 60,
                "timestamp in seconds"
            );
            if setting & NO_ENCRYPT != 0 {
                assert!(r.msg_key.is_empty());
                assert_eq!(&r.payload[..], &body[..], "plaintext on the wire");
            } else {
                assert_eq!(r.msg_key.len(), 32);
                assert_ne!(&r.payload[..], &body[..], "encrypted on the wire");
            }
        };
        check(&bob.expect_recv(), a, true);
        // The sender's other device sees the peer as the channel, without a red dot.
        check(&alice_web.expect_recv(), b, false);
    }
    // The sender's own connection never gets its messages back.
    let chat = wk::person_fake_id(a, b);
    let fence = alice.assert_no_recv_from(tcp, &chat);
    alice_web.expect_recv_where(|r| r.from_uid == fence.as_str());

    // NoPersist: acknowledged with seq 0, delivered with seq 0, the sequence does not move.
    let body = text("ephemeral");
    alice.send(b, PERSON, 3, &format!("{a}-np"), &body, 0x01);
    let ack = alice.expect_sendack(3);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    assert_eq!(ack.message_seq, 0);
    for c in [&mut bob, &mut alice_web] {
        let got = c.expect_recv();
        assert_eq!(got.payload, body);
        assert_eq!(got.recv.message_seq, 0);
        assert_eq!(got.recv.message_id, ack.message_id);
        assert!(got.recv.flags.no_persist());
    }

    // And back: both of alice's devices get bob's message with channel_id = bob.
    let reply = text("hi alice");
    let ack = bob.send_ok(a, PERSON, 7, &reply);
    assert_eq!(ack.message_seq, 3, "one sequence for both directions");
    for c in [&mut alice, &mut alice_web] {
        let got = c.expect_recv();
        assert_eq!(got.payload, reply);
        assert_eq!(got.recv.channel_id, b);
        assert_eq!(got.recv.from_uid, b);
        assert!(got.recv.flags.red_dot());
    }
    bob.assert_no_recv_from(tcp, &chat);
}

/// One connection writing to several targets in turn (the gateway remembers the last one):
/// each SEND lands in its own channel, told apart by target, channel type and sync-once; a
/// group named like a user is not that user's chat.
#[test]
fn a_connection_switching_targets_reaches_each_channel() {
    let s = Server::start("");
    let (tcp, http) = (s.addr("tcp"), s.addr("http"));
    let (a, b, c) = ("sw-alice", "sw-bob", "sw-carol");
    let r = post(
        http,
        "/channel",
        &json!({"channel_id": b, "channel_type": GROUP, "subscribers": [a, b]}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut alice = WkClient::login(tcp, a, 5);
    let mut bob = WkClient::login(tcp, b, 5);
    let mut carol = WkClient::login(tcp, c, 5);
    const SYNC_ONCE: u8 = 0x04;
    // (target, type, flags, the seq it must get in its channel)
    let sends = [
        (b, PERSON, RED_DOT, 1u64),
        (b, PERSON, SYNC_ONCE, 1),
        (b, PERSON, RED_DOT, 2),
        (b, GROUP, RED_DOT, 1),
        (b, PERSON, RED_DOT, 3),
        (c, PERSON, RED_DOT, 1),
        (b, GROUP, RED_DOT, 2),
    ];
    let mut acks = Vec::new();
    for (i, (target, ty, flags, seq)) in sends.iter().enumerate() {
        let client_seq = i as u32 + 1;
        alice.send(
            target,
            *ty,
            client_seq,
            &format!("sw-{i}"),
            &text(&format!("m{i}")),
            *flags,
        );
        let ack = alice.expect_sendack(client_seq);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "send #{i}");
        assert_eq!(
            ack.message_seq, *seq,
            "send #{i} to {target} type {ty} flags {flags}"
        );
        acks.push(ack);
    }
    for (i, (target, ty, flags, _)) in sends.iter().enumerate() {
        if flags & SYNC_ONCE != 0 {
            continue;
        }
        let client = if *target == c { &mut carol } else { &mut bob };
        let id = acks[i].message_id;
        let got = client.expect_recv_where(|r| r.message_id == id);
        assert_eq!(got.payload, text(&format!("m{i}")));
        assert_eq!(got.recv.channel_type.0, *ty, "send #{i}");
        let seen = if *ty == PERSON { a } else { b };
        assert_eq!(got.recv.channel_id, seen, "send #{i}");
    }
    // The stored channels hold exactly their messages.
    assert_eq!(sync(http, a, b, PERSON).len(), 3);
    assert_eq!(sync(http, a, b, GROUP).len(), 2);
    assert_eq!(sync(http, a, c, PERSON).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 6. Groups: membership and ordering
// ---------------------------------------------------------------------------------------------

#[test]
fn group_membership_and_ordered_delivery() {
    let s = Server::start("");
    let (tcp, http) = (s.addr("tcp"), s.addr("http"));
    let members = ["gm1", "gm2", "gm3", "gm4"];
    let r = post(
        http,
        "/channel",
        &json!({"channel_id": "g1", "channel_type": GROUP, "subscribers": members}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    let mut outsider = WkClient::login(tcp, "stranger", 5);
    outsider.send("g1", GROUP, 1, "x-1", &text("let me in"), RED_DOT);
    let ack = outsider.expect_sendack(1);
    assert_eq!(ack.reason_code, ReasonCode::SUBSCRIBER_NOT_EXIST);
    assert_eq!(ack.message_seq, 0);

    let mut clients: Vec<WkClient> = members
        .iter()
        .enumerate()
        .map(|(i, m)| WkClient::login(tcp, m, [2, 4, 5, 6][i]))
        .collect();
    let (sender, receivers) = clients.split_first_mut().unwrap();

    // One message, then 500 written back to back.
    let first = text("welcome");
    let ack = sender.send_ok("g1", GROUP, 1, &first);
    assert_eq!(ack.message_seq, 1);
    for r in receivers.iter_mut() {
        let got = r.expect_recv();
        assert_eq!(got.payload, first);
        assert_eq!(got.recv.channel_id, "g1");
        assert_eq!(got.recv.channel_type, ChannelType::GROUP);
        assert_eq!(got.recv.from_uid, "gm1");
    }
    const N: u32 = 500;
    let mut burst = bytes::BytesMut::new();
    for i in 0..N {
        let send = sender.build_send(
            "g1",
            GROUP,
            i + 2,
            &format!("burst-{i}"),
            &text(&format!("n{i}")),
            RED_DOT,
            0,
        );
        jindou::proto::Encode::encode(&send, sender.version, &mut burst).unwrap();
    }
    sender.raw_write(&burst);
    for i in 0..N {
        let ack = sender.expect_sendack(i + 2);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
        assert_eq!(ack.message_seq, i as u64 + 2, "SENDACK seq in send order");
    }
    for r in receivers.iter_mut() {
        for i in 0..N {
            let got = r.expect_recv();
            assert_eq!(
                got.recv.message_seq,
                i as u64 + 2,
                "{}: seq order, no gaps or duplicates",
                r.uid
            );
            assert_eq!(got.payload, text(&format!("n{i}")));
        }
        r.assert_no_recv_from(tcp, "g1");
    }
    sender.assert_no_recv_from(tcp, "g1");
    outsider.assert_no_recv_from(tcp, "g1");
}

// ---------------------------------------------------------------------------------------------
// 7. De-duplication by client_msg_no
// ---------------------------------------------------------------------------------------------

#[test]
fn resent_client_msg_no_is_acknowledged_and_delivered_once() {
    let s = Server::start("");
    let tcp = s.addr("tcp");
    let mut alice = WkClient::login(tcp, "dd-alice", 5);
    let mut bob = WkClient::login(tcp, "dd-bob", 5);
    let body = text("once");
    alice.send("dd-bob", PERSON, 1, "same-no", &body, RED_DOT);
    let first = alice.expect_sendack(1);
    assert_eq!(first.reason_code, ReasonCode::SUCCESS);
    // Same client_msg_no, new client_seq, and again after a reconnect (JS resends this way).
    alice.send("dd-bob", PERSON, 2, "same-no", &body, RED_DOT);
    let second = alice.expect_sendack(2);
    drop(alice);
    let mut alice = WkClient::login(tcp, "dd-alice", 5);
    alice.send("dd-bob", PERSON, 1, "same-no", &body, RED_DOT);
    let third = alice.expect_sendack(1);
    for ack in [&second, &third] {
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
        assert_eq!(ack.message_id, first.message_id);
        assert_eq!(ack.message_seq, first.message_seq);
    }
    // A fence: the next distinct message is the very next RECV bob gets.
    let fence = alice.send_ok("dd-bob", PERSON, 2, &text("fence"));
    assert_eq!(fence.message_seq, first.message_seq + 1);
    let got = bob.expect_recv();
    assert_eq!(got.recv.message_id, first.message_id);
    assert_eq!(got.payload, body);
    let next = bob.expect_recv();
    assert_eq!(
        next.recv.message_id, fence.message_id,
        "delivered only once"
    );
}

#[test]
fn a_duplicate_arriving_before_the_commit_is_acknowledged_with_the_original() {
    let s = Server::start("");
    let tcp = s.addr("tcp");
    let mut alice = WkClient::login(tcp, "dq-alice", 5);
    let mut bob = WkClient::login(tcp, "dq-bob", 5);
    let body = text("twice at once");
    // Both SENDs leave in one burst, so the second reaches the owner before the first's
    // group commit; its SENDACK must wait for that commit and name the same message.
    alice.send("dq-bob", PERSON, 1, "burst-no", &body, RED_DOT);
    alice.send("dq-bob", PERSON, 2, "burst-no", &body, RED_DOT);
    let a1 = alice.expect_sendack(1);
    let a2 = alice.expect_sendack(2);
    assert_eq!(a1.reason_code, ReasonCode::SUCCESS);
    assert_eq!(a2.reason_code, ReasonCode::SUCCESS);
    assert_eq!(
        (a2.message_id, a2.message_seq),
        (a1.message_id, a1.message_seq)
    );
    let fence = alice.send_ok("dq-bob", PERSON, 3, &text("fence"));
    assert_eq!(fence.message_seq, a1.message_seq + 1);
    assert_eq!(bob.expect_recv().recv.message_id, a1.message_id);
    assert_eq!(
        bob.expect_recv().recv.message_id,
        fence.message_id,
        "delivered once"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Offline, sync, durability
// ---------------------------------------------------------------------------------------------

#[test]
fn offline_messages_sync_and_survive_kill9() {
    let s = Server::start("");
    let (tcp, http) = (s.addr("tcp"), s.addr("http"));
    let bodies: Vec<Vec<u8>> = (1..=5).map(|i| text(&format!("offline {i}"))).collect();
    let mut alice = WkClient::login(tcp, "off-alice", 5);
    let mut ids = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        let ack = alice.send_ok("off-bob", PERSON, i as u32 + 1, b);
        assert_eq!(ack.message_seq, i as u64 + 1);
        ids.push(ack.message_id);
    }
    drop(alice);
    let check = |msgs: &[Value]| {
        assert_eq!(msgs.len(), 5, "{msgs:?}");
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m["message_seq"].as_u64(), Some(i as u64 + 1));
            assert_eq!(m["message_id"].as_i64(), Some(ids[i]));
            assert_eq!(m["from_uid"], "off-alice");
            let payload = STANDARD.decode(m["payload"].as_str().unwrap()).unwrap();
            assert_eq!(payload, bodies[i]);
        }
    };
    check(&sync(http, "off-bob", "off-alice", PERSON));

    let dir = s.kill9();
    let s = Server::start_in(dir, "");
    let (tcp, http) = (s.addr("tcp"), s.addr("http"));
    check(&sync(http, "off-bob", "off-alice", PERSON));
    let mut alice = WkClient::login(tcp, "off-alice", 5);
    let mut bob = WkClient::login(tcp, "off-bob", 6);
    let ack = alice.send_ok("off-bob", PERSON, 1, &text("after restart"));
    assert_eq!(ack.message_seq, 6, "the sequence continues");
    assert!(!ids.contains(&ack.message_id), "message ids stay unique");
    let got = bob.expect_recv();
    assert_eq!(got.recv.message_seq, 6);
    assert_eq!(sync(http, "off-bob", "off-alice", PERSON).len(), 6);
}

// ---------------------------------------------------------------------------------------------
// 9. Slow readers
// ---------------------------------------------------------------------------------------------

#[test]
fn slow_reader_is_cut_off_and_others_keep_going() {
    let s = Server::start("limits: {outboundBuffer: 64KiB}\n");
    let tcp = s.addr("tcp");
    let mut slow = WkClient::login(tcp, "slowpoke", 5);
    let mut fast = WkClient::login(tcp, "fastpoke", 5);
    // 600 × 16 KiB ≈ 9.6 MiB: far beyond socket buffers plus the 64 KiB queue.
    const N: u32 = 600;
    let big = vec![b'x'; 16 * 1024];
    for i in 0..N {
        fast.send_setting(
            "slowpoke",
            PERSON,
            i + 1,
            &format!("big-{i}"),
            &big,
            0,
            NO_ENCRYPT,
        );
        if i % 50 == 49 {
            // Keep the sender's own socket flowing; the last one is SENDACK N.
            let ack = fast.expect_sendack(i + 1);
            assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
        }
    }
    // The slow reader finally reads: some RECVs, then the server's close.
    assert!(
        slow.is_closed(Duration::from_secs(30)),
        "slow reader cut off"
    );
    let got = slow
        .queued()
        .iter()
        .filter(|p| matches!(p, Packet::Recv(_)))
        .count();
    assert!(
        got < N as usize,
        "cut before everything was delivered ({got})"
    );
    // The server still serves: the sender and fresh clients exchange messages.
    fast.ping();
    let mut c1 = WkClient::login(tcp, "fresh-1", 5);
    let mut c2 = WkClient::login(tcp, "fresh-2", 5);
    let body = text("still here");
    c1.send_ok("fresh-2", PERSON, 1, &body);
    assert_eq!(c2.expect_recv().payload, body);
    // The slow reader can come back.
    let mut again = WkClient::login(tcp, "slowpoke", 5);
    again.ping();
    assert_eq!(get(s.addr("http"), "/health").status, 200);
}

// ---------------------------------------------------------------------------------------------
// 10. Bad input
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_input_closes_or_refuses_and_never_crashes() {
    let s = Server::start("limits: {maxFrameSize: 64KiB}\n");
    let (tcp, http) = (s.addr("tcp"), s.addr("http"));

    // Before CONNECT: garbage, a non-CONNECT packet, an oversized CONNECT, a malformed one.
    let firsts: [&[u8]; 6] = [
        b"\x00\x01\x02garbage",
        b"\xff\xff\xff\xff\xff",
        b"\x70",
        b"\x30\x05\x00\x00\x00\x00\x01",
        b"\x10\x80\x80\x10", // CONNECT announcing 256 KiB > 64 KiB
        b"\x10\x03\x05\x00\x09\x00\x00\x00", // CONNECT whose device_id overruns the body
    ];
    for bytes in firsts {
        let mut c = WkClient::open(tcp, false);
        c.raw_write(bytes);
        assert!(c.is_closed(WAIT), "{bytes:02x?} closes the connection");
    }

    // On a live connection.
    let mut bob = WkClient::login(tcp, "bad-bob", 5);
    let live: [&[u8]; 6] = [
        b"\x00garbage",
        b"\xf0\x01\x00",
        b"\x30\xa0\x8d\x06", // SEND announcing 100000 bytes > 64 KiB, body never sent
        b"\x30\xff\xff\xff\xff\x7f",
        b"\x20\x02\x00\x01", // a CONNACK from the client
        b"\x31\x02\x00\x00", // a SEND whose body is too short
    ];
    for bytes in live {
        let mut c = WkClient::login(tcp, "bad-alice", 5);
        c.raw_write(bytes);
        assert!(c.is_closed(WAIT), "{bytes:02x?} closes the connection");
    }
    // A second CONNECT on a live connection is refused too.
    let mut c = WkClient::login(tcp, "bad-alice", 5);
    let again = jindou::proto::Connect {
        version: 5,
        uid: "bad-alice".into(),
        ..Default::default()
    };
    c.write_packet(&again);
    assert!(c.is_closed(WAIT), "second CONNECT");

    // Wrong msg_key → SENDACK 8; not base64 → 9; undecryptable → 9; the connection stays.
    let mut c = WkClient::login(tcp, "bad-alice", 5);
    let mut send = c.build_send("bad-bob", PERSON, 1, "k-1", &text("x"), 0, 0);
    send.msg_key = "0123456789abcdef0123456789abcdef".into();
    c.write_packet(&send);
    assert_eq!(c.expect_sendack(1).reason_code, ReasonCode::MSG_KEY_ERROR);
    let cipher = c.cipher.clone().expect("encrypted session");
    for (seq, payload) in [
        (2u32, b"!!! not base64 !!!".to_vec()),
        (3, STANDARD.encode([7u8; 15]).into_bytes()), // not a whole AES block
    ] {
        let mut send = c.build_send("bad-bob", PERSON, seq, "k-2", b"", 0, 0);
        send.payload = payload.into();
        send.msg_key = cipher
            .send_msg_key(
                seq,
                "k-2",
                "bad-bob",
                ChannelType::PERSON,
                &send.payload[..],
            )
            .to_wkstr();
        c.write_packet(&send);
        assert_eq!(
            c.expect_sendack(seq).reason_code,
            ReasonCode::PAYLOAD_DECODE_ERROR,
            "payload {seq}"
        );
    }
    // A channel id with a reserved character is refused, not stored.
    c.send("x@y", PERSON, 4, "k-4", &text("x"), 0);
    assert_ne!(c.expect_sendack(4).reason_code, ReasonCode::SUCCESS);
    c.ping();
    let ok = c.send_ok("bad-bob", PERSON, 5, &text("fine"));
    assert_eq!(ok.message_seq, 1, "refused sends stored nothing");
    let got = bob.expect_recv();
    assert_eq!(got.payload, text("fine"));
    bob.assert_no_recv_from(tcp, &wk::person_fake_id("bad-alice", "bad-bob"));

    assert_eq!(get(http, "/health").status, 200);
    let mut fresh = WkClient::login(tcp, "bad-fresh", 6);
    fresh.ping();
}

// ---------------------------------------------------------------------------------------------
// 11. WebSocket
// ---------------------------------------------------------------------------------------------

#[test]
fn websocket_carries_one_packet_per_message() {
    let s = Server::start("");
    let (ws, tcp) = (s.addr("ws"), s.addr("tcp"));
    let login_ws = |uid: &str, version: u8| {
        let (c, ack) =
            WkClient::connect_opts(ws, ConnectOpts::new(uid, "", 1, version, true).websocket());
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
        c
    };
    let mut alice = login_ws("ws-alice", 2);
    let mut bob = login_ws("ws-bob", 5);
    let mut bob_tcp = WkClient::login(tcp, "ws-bob", 6);

    alice.ping();
    let body = text("over websocket");
    let ack = alice.send_ok("ws-bob", PERSON, 1, &body);
    assert_eq!(ack.message_seq, 1);
    for c in [&mut bob, &mut bob_tcp] {
        let got = c.expect_recv();
        assert_eq!(got.payload, body);
        assert_eq!(got.recv.message_id, ack.message_id);
    }

    // Twenty SENDs in one WS message and a PING split over two: the server reads a stream,
    // and answers with one WS message per packet (checked by the client on every message).
    let mut batch = bytes::BytesMut::new();
    for i in 0..20u32 {
        let send = alice.build_send(
            "ws-bob",
            PERSON,
            i + 2,
            &format!("ws-{i}"),
            &text(&format!("w{i}")),
            RED_DOT,
            0,
        );
        jindou::proto::Encode::encode(&send, alice.version, &mut batch).unwrap();
    }
    let cut = batch.len() / 2 + 3;
    alice.write_wk(&batch[..cut]);
    alice.write_wk(&batch[cut..]);
    alice.write_wk(&[0x70, 0x70, 0x70]);
    let before = alice.ws_messages;
    for i in 0..20u32 {
        assert_eq!(alice.expect_sendack(i + 2).reason_code, ReasonCode::SUCCESS);
    }
    for _ in 0..3 {
        alice.expect(|p| matches!(p, Packet::Pong));
    }
    assert_eq!(alice.ws_messages - before, 23, "one WS message per packet");
    let before = bob.ws_messages;
    for i in 0..20u32 {
        let got = bob.expect_recv();
        assert_eq!(got.payload, text(&format!("w{i}")));
        assert_eq!(got.recv.message_seq, i as u64 + 2);
    }
    assert_eq!(bob.ws_messages - before, 20);
    for i in 0..20u32 {
        assert_eq!(bob_tcp.expect_recv().recv.message_seq, i as u64 + 2);
    }
    // A WS client also hears back from a TCP one.
    bob_tcp.send_ok("ws-alice", PERSON, 1, &text("from tcp"));
    let got = alice.expect_recv();
    assert_eq!(got.payload, text("from tcp"));
    assert_eq!(got.recv.channel_id, "ws-bob");
}
