//! Robustness (issue 10): bad client and HTTP input while others keep working, per-connection
//! message rate and connection limits, auth that cannot be bypassed, every REST route behind
//! the manager token, and the audit log of administrative changes.

mod common;

use bytes::BytesMut;
use common::wk::{self, WkClient, WAIT};
use common::*;
use jindou::proto::{ChannelType, Connect, DeviceFlag, Encode, Packet, ReasonCode, WkStr};
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PERSON: u8 = ChannelType::PERSON.0;
const GROUP: u8 = ChannelType::GROUP.0;
const APP: u8 = DeviceFlag::APP.0;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Resident set size of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Whether the server process is still running.
fn alive(server: &mut Server) -> bool {
    server.child.try_wait().expect("try_wait").is_none()
}

/// Reads (and discards) until the peer closes (EOF or reset): true, or `deadline` passes: false.
/// Also returns the first bytes read (at most 64 KiB kept).
fn wait_closed(stream: &TcpStream, deadline: Instant) -> (bool, Vec<u8>) {
    let mut s = stream;
    let mut seen = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return (false, seen);
        }
        s.set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut chunk) {
            Ok(0) => return (true, seen),
            Ok(n) => {
                let keep = n.min((64 * 1024usize).saturating_sub(seen.len()));
                seen.extend_from_slice(&chunk[..keep]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (false, seen)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (true, seen),
        }
    }
}

/// A raw TCP connection with `bytes` written (write errors ignored: the server may close).
fn raw_conn(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = (&s).write_all(bytes);
    s
}

/// The wire bytes of a CONNECT at `version`.
fn connect_bytes(uid: &str, version: u8) -> Vec<u8> {
    let hs = jindou::proto::ClientHandshake::new();
    let connect = Connect {
        version,
        device_flag: DeviceFlag::APP,
        device_id: WkStr::from(format!("{uid}-dev")),
        uid: WkStr::from(uid.to_string()),
        token: WkStr::EMPTY,
        client_timestamp: wk::now_ms(),
        client_key: hs.client_key().clone(),
    };
    let mut out = BytesMut::new();
    connect.encode(version, &mut out).unwrap();
    out.to_vec()
}

/// Asserts a 4xx answer with the JSON envelope `{"msg": "...", "status": <status>}`.
fn assert_envelope(r: &HttpResponse, what: &str) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: status {} {:?}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!(
            "{what}: body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&r.body)
        )
    });
    assert_eq!(v["status"], r.status, "{what}: envelope {v}");
    assert!(v["msg"].is_string(), "{what}: envelope {v}");
}

/// Parses an HTTP response from bytes already read (Content-Length framed).
fn parse_response(bytes: &[u8]) -> Option<(HttpResponse, usize)> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    if bytes.len() < head_end + len {
        return None;
    }
    Some((
        HttpResponse {
            status,
            headers,
            body: bytes[head_end..head_end + len].to_vec(),
        },
        head_end + len,
    ))
}

/// GET `path` with extra header lines.
fn get_with(addr: SocketAddr, path: &str, headers: &str) -> HttpResponse {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n").as_bytes(),
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Bad client input while a healthy pair keeps talking
// ---------------------------------------------------------------------------------------------

/// Alice sends to Bob without pause until `stop`; Bob must get every message, in order.
/// Returns how many messages went through.
fn healthy_pair(tcp: SocketAddr, progress: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> u64 {
    let mut alice = WkClient::login(tcp, "healthy-alice", 5);
    let mut bob = WkClient::login(tcp, "healthy-bob", 5);
    let mut n = 0u64;
    // Both directions share the person channel's sequence.
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        seq += 1;
        let body = format!("healthy #{n}").into_bytes();
        let ack = alice.send_ok("healthy-bob", PERSON, n as u32, &body);
        assert_eq!(ack.message_seq, seq, "alice's SENDACK seq");
        let got = bob.expect_recv();
        assert_eq!(got.payload, body, "bob got message {n}");
        assert_eq!(got.recv.message_seq, seq, "bob's RECV seq");
        if n.is_multiple_of(10) {
            // The other way round, and heartbeats, on both ends.
            seq += 1;
            let back = format!("back #{n}").into_bytes();
            let ack = bob.send_ok("healthy-alice", PERSON, n as u32, &back);
            assert_eq!(ack.message_seq, seq, "bob's SENDACK seq");
            let got = alice.expect_recv();
            assert_eq!(got.payload, back);
            assert_eq!(got.recv.message_seq, seq, "alice's RECV seq");
            alice.ping();
            bob.ping();
        }
        progress.store(n, Ordering::SeqCst);
        // Pacing only (keeps the message volume moderate), not synchronisation.
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(!alice.closed() && !bob.closed());
    n
}

#[test]
fn bad_client_input_never_disturbs_other_clients() {
    let mut server =
        Server::start("connIdleTime: 5s\nlimits: {connectTimeout: 3s, outboundBuffer: 256KiB}\n");
    let (tcp, http) = (server.addr("tcp"), server.addr("http"));
    let pid = server.child.id();

    // The healthy pair, and an RSS sampler.
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let pair = {
        let (progress, stop) = (progress.clone(), stop.clone());
        std::thread::spawn(move || healthy_pair(tcp, progress, stop))
    };
    let deadline = Instant::now() + WAIT;
    while progress.load(Ordering::SeqCst) < 20 {
        assert!(Instant::now() < deadline, "the healthy pair did not start");
        assert!(!pair.is_finished(), "the healthy pair failed early");
        std::thread::sleep(Duration::from_millis(10));
    }
    let baseline = rss_bytes(pid);
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if std::fs::metadata(format!("/proc/{pid}")).is_err() {
                    return;
                }
                peak.fetch_max(rss_bytes(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x10_10_10);
    let mut expect_closed: Vec<(String, TcpStream)> = Vec::new();

    // (a) Random byte streams, as the first bytes of a connection.
    for i in 0..300 {
        let len = rng.random_range(1..4096);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        expect_closed.push((format!("random stream {i}"), raw_conn(tcp, &bytes)));
    }
    // ... and after a successful CONNECT.
    for i in 0..60 {
        let c = WkClient::login(tcp, &format!("rnd-{i}"), 5);
        let len = rng.random_range(1..4096);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = c.stream().write_all(&bytes);
        expect_closed.push((
            format!("random stream {i} after CONNECT"),
            c.stream().try_clone().unwrap(),
        ));
    }

    // (b) Truncated frames: every prefix of a CONNECT; SENDs cut after CONNECT.
    let connect = connect_bytes("trunc", 5);
    for cut in 1..connect.len() {
        expect_closed.push((
            format!("CONNECT cut at {cut}/{}", connect.len()),
            raw_conn(tcp, &connect[..cut]),
        ));
    }
    for cut in [1usize, 2, 5, 20, 40] {
        let mut c = WkClient::login(tcp, &format!("trunc-send-{cut}"), 5);
        let send = c.build_send("trunc-target", PERSON, 1, "t-1", b"hello there", 0, 0);
        let mut out = BytesMut::new();
        send.encode(c.version, &mut out).unwrap();
        assert!(cut < out.len());
        c.raw_write(&out[..cut]);
        expect_closed.push((
            format!("SEND cut at {cut}/{}", out.len()),
            c.stream().try_clone().unwrap(),
        ));
    }

    // (c) Frames announcing the largest remaining lengths (and an over-long varint), with a lot
    // of body behind them: refused from the header, nothing buffered.
    let filler = vec![0u8; 8 << 20];
    for (what, header) in [
        ("CONNECT of 268435455 bytes", &b"\x10\xff\xff\xff\x7f"[..]),
        (
            "CONNECT with a 5-byte length",
            &b"\x10\xff\xff\xff\xff\x7f"[..],
        ),
        ("CONNECT of 2 MiB", &b"\x10\x80\x80\x80\x01"[..]),
    ] {
        let t0 = Instant::now();
        let s = raw_conn(tcp, header);
        let _ = (&s).write_all(&filler);
        let (closed, _) = wait_closed(&s, Instant::now() + WAIT);
        assert!(closed, "{what}: closed");
        assert!(
            t0.elapsed() < Duration::from_millis(2500),
            "{what}: closed from the header, not by the connect timeout ({:?})",
            t0.elapsed()
        );
    }
    for (what, header) in [
        ("SEND of 268435455 bytes", &b"\x30\xff\xff\xff\x7f"[..]),
        (
            "SEND with a 5-byte length",
            &b"\x30\xff\xff\xff\xff\x7f"[..],
        ),
    ] {
        let mut c = WkClient::login(tcp, "huge-sender", 5);
        c.stream()
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        c.raw_write(header);
        c.raw_write(&filler);
        let (closed, _) = wait_closed(c.stream(), Instant::now() + WAIT);
        assert!(closed, "{what}: closed");
    }

    // (d) Every other packet type before CONNECT.
    let mut before: Vec<(String, Vec<u8>)> = (0u8..=15)
        .filter(|t| *t != 1)
        .map(|t| (format!("type {t} before CONNECT"), vec![t << 4, 0]))
        .collect();
    before.push(("PING before CONNECT".into(), vec![0x70]));
    {
        let c = WkClient::open(tcp, false);
        let send = c.build_send("x", PERSON, 1, "no-1", b"{}", 0, 0x10);
        let mut out = BytesMut::new();
        send.encode(5, &mut out).unwrap();
        before.push(("SEND before CONNECT".into(), out.to_vec()));
        let ack = jindou::proto::Recvack {
            flags: Default::default(),
            message_id: 1,
            message_seq: 1,
        };
        let mut out = BytesMut::new();
        ack.encode(5, &mut out).unwrap();
        before.push(("RECVACK before CONNECT".into(), out.to_vec()));
    }
    for (what, bytes) in before {
        expect_closed.push((what, raw_conn(tcp, &bytes)));
    }

    // (e) Protocol versions outside 1..=6: negotiated to the latest (spec §4), CONNACK per the
    // client's version, and the connection works.
    for v in [0u8, 7, 255] {
        let (mut c, ack) = WkClient::connect(tcp, &format!("ver-{v}"), "", APP, v, true);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "version {v}");
        let expected = if v > 3 { Some(6) } else { None };
        assert_eq!(ack.server_version, expected, "HasServerVersion for {v}");
        assert_eq!(c.version, 6, "negotiated for {v}");
        c.ping();
        c.send_ok("ver-target", PERSON, 1, b"{\"type\":1}");
    }

    // (f) PING floods: 10k in one write → 10k PONGs; 32 MiB of PINGs never read → cut off.
    let mut pinger = WkClient::login(tcp, "ping-flood", 5);
    pinger.raw_write(&vec![0x70; 10_000]);
    let mut pongs = 0;
    let until = Instant::now() + Duration::from_secs(20);
    while pongs < 10_000 && Instant::now() < until {
        match pinger.recv_packet(until - Instant::now()) {
            Some(Packet::Pong) => pongs += 1,
            Some(other) => panic!("unexpected {other:?} in the PING flood"),
            None => break,
        }
    }
    assert_eq!(
        pongs,
        10_000,
        "one PONG per PING (closed: {})",
        pinger.closed()
    );
    pinger.ping();
    let flooder = WkClient::login(tcp, "ping-flood-deaf", 5);
    flooder
        .stream()
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = flooder.stream().write_all(&vec![0x70; 32 << 20]);
    let (closed, _) = wait_closed(flooder.stream(), Instant::now() + Duration::from_secs(20));
    assert!(
        closed,
        "a PING flood that never reads is cut at its outbound bound"
    );

    // Every abusive connection is closed (garbage at once, partial frames by the connect or
    // idle timeout).
    let deadline = Instant::now() + Duration::from_secs(20);
    for (what, s) in &expect_closed {
        let (closed, _) = wait_closed(s, deadline);
        assert!(closed, "{what}: the server closed the connection");
    }

    // The server lived through it all, the pair saw everything, memory stayed bounded.
    let sent_during = progress.load(Ordering::SeqCst);
    assert!(alive(&mut server), "the server process is running");
    assert_eq!(get(http, "/health").status, 200);
    let mut fresh = WkClient::login(tcp, "after-abuse", 6);
    fresh.ping();
    stop.store(true, Ordering::SeqCst);
    let total = pair.join().expect("the healthy pair saw every message");
    sampler.join().unwrap();
    assert!(total >= sent_during && total > 20, "{total} messages");
    let peak = peak.load(Ordering::SeqCst).max(rss_bytes(pid));
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "robustness: {total} healthy messages; RSS baseline {} MiB, peak {} MiB",
        baseline >> 20,
        peak >> 20
    );
    assert!(
        growth < 200 << 20,
        "RSS grew by {} MiB (baseline {} MiB)",
        growth >> 20,
        baseline >> 20
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Bad HTTP input
// ---------------------------------------------------------------------------------------------

/// Writes `request` and expects one 4xx JSON-envelope response followed by the close.
fn refused_and_closed(http: SocketAddr, request: &[u8], what: &str) -> HttpResponse {
    let s = raw_conn(http, request);
    let (closed, bytes) = wait_closed(&s, Instant::now() + WAIT);
    assert!(closed, "{what}: connection closed after the error");
    let (r, used) = parse_response(&bytes).unwrap_or_else(|| {
        panic!(
            "{what}: no response in {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_envelope(&r, what);
    assert_eq!(
        used,
        bytes.len(),
        "{what}: nothing but one response: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    r
}

#[test]
fn bad_http_input_gets_4xx_envelopes_or_timeouts() {
    let mut server = Server::start("limits: {httpTimeout: 1s}\n");
    let http = server.addr("http");

    // Malformed request lines and heads.
    let malformed: [&[u8]; 9] = [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /health HTTP/9.9\r\n\r\n",
        b"GET /he alth HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET /health HTTP/1.1\r\nNoColonHere\r\n\r\n",
        b"POST /channel HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /channel HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    ];
    for req in malformed {
        let r = refused_and_closed(http, req, &format!("{:?}", String::from_utf8_lossy(req)));
        assert_eq!(r.status, 400);
    }

    // Huge heads: 431.
    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    let r = refused_and_closed(http, big_header.as_bytes(), "a 17 KiB header");
    assert_eq!(r.status, 431);
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "p".repeat(17 * 1024));
    let r = refused_and_closed(http, long_line.as_bytes(), "a 17 KiB request line");
    assert_eq!(r.status, 431);
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = refused_and_closed(
        http,
        format!("GET /health HTTP/1.1\r\n{many}\r\n").as_bytes(),
        "100 headers",
    );
    assert_eq!(r.status, 431);

    // A 100 MB body declared: 413 at once, without waiting for (or reading) the body.
    let t0 = Instant::now();
    let r = refused_and_closed(
        http,
        b"POST /message/send HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{\"from_uid\":",
        "100 MB body",
    );
    assert_eq!(r.status, 413);
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "413 before the timeout"
    );

    // Broken JSON and wrong types: 400 with the envelope, on a connection that stays usable.
    let bodies: [(&str, &[u8]); 10] = [
        ("/channel", b"{not json"),
        ("/channel", b""),
        ("/channel", b"[]"),
        ("/channel", b"\xff\xfe\x00"),
        ("/channel", br#"{"channel_id": 5, "channel_type": 2}"#),
        ("/channel", br#"{"channel_id": "c", "channel_type": "two"}"#),
        (
            "/channel/subscriber_add",
            br#"{"channel_id": "g", "channel_type": 2, "subscribers": "bob"}"#,
        ),
        ("/user/token", br#"{"uid": ["x"], "token": "t"}"#),
        ("/user/onlinestatus", br#"{"uids": "x"}"#),
        (
            "/message/send",
            br#"{"from_uid": "a", "channel_id": "b", "channel_type": 1, "payload": 12}"#,
        ),
    ];
    for (path, body) in bodies {
        let what = format!("{path} {:?}", String::from_utf8_lossy(body));
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        let mut s = raw_conn(http, &req);
        s.set_read_timeout(Some(WAIT)).unwrap();
        let r = read_response(&mut s);
        assert_envelope(&r, &what);
        assert_eq!(r.status, 400, "{what}");
        // Keep-alive: the next request on the same connection is served.
        s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s).status, 200, "{what}: keep-alive");
    }

    // Content-Length lies: 100 declared, 10 sent → closed after httpTimeout, no answer but a
    // 4xx envelope.
    let t0 = Instant::now();
    let s = raw_conn(
        http,
        b"POST /channel HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"channel",
    );
    let (closed, bytes) = wait_closed(&s, t0 + Duration::from_secs(5));
    let waited = t0.elapsed();
    assert!(closed, "a stalled body is closed by httpTimeout");
    assert!(
        waited >= Duration::from_millis(900),
        "not before httpTimeout: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "soon after httpTimeout: {waited:?}"
    );
    if !bytes.is_empty() {
        let (r, _) = parse_response(&bytes).expect("a whole response");
        assert_envelope(&r, "stalled body");
    }

    // Pipelined requests after a bad one are not executed (the ones before it are).
    let add = |uid: &str| {
        let body = json!({"uids": [uid]}).to_string();
        format!(
            "POST /user/systemuids_add HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let bad_heads = [
        "BROKEN LINE\r\n\r\n".to_string(),
        "POST /channel HTTP/1.1\r\nContent-Length: 104857600\r\n\r\n".to_string(),
        "POST /channel HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_string(),
        format!(
            "GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "b".repeat(17 * 1024)
        ),
    ];
    for (i, bad) in bad_heads.iter().enumerate() {
        let pipelined = format!(
            "{}{bad}{}{}",
            add(&format!("before-{i}")),
            add(&format!("after-{i}")),
            add(&format!("after2-{i}"))
        );
        let s = raw_conn(http, pipelined.as_bytes());
        let (closed, bytes) = wait_closed(&s, Instant::now() + WAIT);
        assert!(closed, "pipeline {i}: closed after the bad request");
        let (first, used) = parse_response(&bytes).expect("the first response");
        assert_eq!(
            first.status, 200,
            "pipeline {i}: the request before is served"
        );
        let (second, used2) = parse_response(&bytes[used..]).expect("the error response");
        assert_envelope(&second, &format!("pipeline {i}"));
        assert_eq!(
            used + used2,
            bytes.len(),
            "pipeline {i}: nothing answered after the error"
        );
    }
    let uids = get(http, "/user/systemuids").json();
    let uids: Vec<&str> = uids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for i in 0..bad_heads.len() {
        assert!(uids.contains(&format!("before-{i}").as_str()), "{uids:?}");
        assert!(!uids.contains(&format!("after-{i}").as_str()), "{uids:?}");
        assert!(!uids.contains(&format!("after2-{i}").as_str()), "{uids:?}");
    }

    assert!(alive(&mut server));
    assert_eq!(get(http, "/health").status, 200);
}

/// Trickles `head` one byte per 200 ms (the read timeout paces it) and returns how long the
/// server let the connection live (None if it was still open at `give_up`).
fn trickle(
    http: SocketAddr,
    prefix: &[u8],
    trickled: &[u8],
    give_up: Duration,
) -> Option<Duration> {
    let t0 = Instant::now();
    let mut s = raw_conn(http, prefix);
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut chunk = [0u8; 4096];
    let mut answered = Vec::new();
    for byte in trickled.iter().cycle() {
        if t0.elapsed() > give_up {
            return None;
        }
        if s.write_all(&[*byte]).is_err() {
            break;
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answered.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if !answered.is_empty() {
        let (r, _) = parse_response(&answered).expect("a whole response");
        assert_envelope(&r, "trickled request");
    }
    Some(t0.elapsed())
}

#[test]
fn slowloris_cannot_hold_an_http_connection() {
    let mut server = Server::start("limits: {httpTimeout: 1s}\n");
    let http = server.addr("http");
    let give_up = Duration::from_secs(6);
    // One byte every 200 ms: each read completes well within httpTimeout, but the request as a
    // whole must not outlive it, neither in the head nor in the body.
    let cases: [(&str, &[u8], &[u8]); 2] = [
        (
            "header",
            b"GET /health HTTP/1.1\r\nHost: t\r\n",
            b"X-Slow: abcdefghijklmnopqrstuvwxyz\r\n",
        ),
        (
            "body",
            b"POST /channel HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n",
            b"{\"channel_id\"",
        ),
    ];
    let mut failures = Vec::new();
    for (what, prefix, trickled) in cases {
        match trickle(http, prefix, trickled, give_up) {
            None => failures.push(format!(
                "{what} slowloris still connected after {give_up:?}"
            )),
            Some(held) if held >= Duration::from_millis(2500) => {
                failures.push(format!("{what} slowloris held the connection {held:?}"))
            }
            Some(_) => {}
        }
    }
    assert!(failures.is_empty(), "with httpTimeout 1s: {failures:?}");
    assert!(alive(&mut server));
    assert_eq!(get(http, "/health").status, 200);
}

// ---------------------------------------------------------------------------------------------
// 3. Per-connection message rate
// ---------------------------------------------------------------------------------------------

#[test]
fn message_rate_limit_answers_reason_22() {
    let server = Server::start("limits: {messageRate: 20}\n");
    let tcp = server.addr("tcp");
    let mut sender = WkClient::login(tcp, "rate-sender", 5);
    let mut receiver = WkClient::login(tcp, "rate-receiver", 5);
    const N: u32 = 200;
    let t0 = Instant::now();
    let mut burst = BytesMut::new();
    for seq in 1..=N {
        let send = sender.build_send(
            "rate-receiver",
            PERSON,
            seq,
            &format!("rate-{seq}"),
            format!("{{\"n\":{seq}}}").as_bytes(),
            0,
            0,
        );
        send.encode(sender.version, &mut burst).unwrap();
    }
    sender.raw_write(&burst);
    let (mut ok, mut limited) = (0u32, 0u32);
    for seq in 1..=N {
        let ack = sender.expect_sendack(seq);
        match ack.reason_code {
            ReasonCode::SUCCESS => ok += 1,
            ReasonCode::RATE_LIMIT => limited += 1,
            other => panic!("SENDACK {seq}: unexpected reason {other:?}"),
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    assert!(limited > 0 && ok > 0, "ok {ok}, limited {limited}");
    let allowed = 20.0 + 20.0 * elapsed + 2.0;
    assert!(
        (ok as f64) <= allowed,
        "{ok} accepted in {elapsed:.2}s at 20/s (at most {allowed:.0})"
    );
    // Exactly the accepted ones are delivered.
    for _ in 0..ok {
        receiver.expect_recv();
    }
    sender.ping();
    receiver.ping();
    assert!(
        !receiver
            .queued()
            .iter()
            .any(|p| matches!(p, Packet::Recv(_))),
        "refused sends were delivered"
    );
    // The connection stays usable: once the bucket refills, sends succeed again.
    let deadline = Instant::now() + WAIT;
    let mut seq = N;
    loop {
        seq += 1;
        sender.send(
            "rate-receiver",
            PERSON,
            seq,
            &format!("rate-{seq}"),
            b"{}",
            0,
        );
        if sender.expect_sendack(seq).reason_code == ReasonCode::SUCCESS {
            break;
        }
        assert!(Instant::now() < deadline, "the rate limit never lets up");
        // Pacing of the retry, not synchronisation.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!sender.closed());
}

// ---------------------------------------------------------------------------------------------
// 4. maxConnections
// ---------------------------------------------------------------------------------------------

#[test]
fn max_connections_refuses_the_21st_without_disturbing_the_first_20() {
    let mut server = Server::start("limits: {maxConnections: 20}\n");
    let (tcp, http) = (server.addr("tcp"), server.addr("http"));
    let mut first = Vec::new();
    let mut refused = Vec::new();
    for i in 0..20 {
        match WkClient::try_login(tcp, &format!("conn-{i}"), 5, WAIT) {
            Some(c) => first.push(c),
            None => refused.push(i + 1),
        }
    }
    assert!(
        refused.is_empty(),
        "connections {refused:?} of the first 20 were refused with maxConnections 20"
    );
    for i in 20..30 {
        assert!(
            WkClient::try_login(tcp, &format!("conn-{i}"), 5, WAIT).is_none(),
            "connection {} beyond maxConnections 20 was accepted",
            i + 1
        );
    }
    for c in first.iter_mut() {
        c.ping();
        assert!(!c.closed());
    }
    let body = b"{\"type\":1,\"content\":\"still here\"}";
    first[0].send_ok("conn-1", PERSON, 1, body);
    assert_eq!(first[1].expect_recv().payload, body);
    // Room again once some leave (the server notices the close asynchronously: poll).
    first.truncate(15);
    let deadline = Instant::now() + WAIT;
    let mut again = loop {
        if let Some(c) = WkClient::try_login(tcp, "conn-again", 5, WAIT) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "no room after 5 connections closed"
        );
        // Poll interval.
        std::thread::sleep(Duration::from_millis(20));
    };
    again.ping();
    assert!(alive(&mut server));
    assert_eq!(get(http, "/health").status, 200);
}

// ---------------------------------------------------------------------------------------------
// 5. Auth cannot be bypassed over wkproto
// ---------------------------------------------------------------------------------------------

fn rest_ok(http: SocketAddr, path: &str, body: serde_json::Value) {
    let r = post(http, path, &body.to_string());
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

#[test]
fn wkproto_auth_and_send_permissions_cannot_be_bypassed() {
    let server = Server::start("tokenAuthOn: true\nwhitelistOffOfPerson: false\n");
    let (tcp, http) = (server.addr("tcp"), server.addr("http"));
    for uid in ["alice", "bob", "mallory", "stranger", "friend", "sys"] {
        rest_ok(
            http,
            "/user/token",
            json!({"uid": uid, "token": format!("tok-{uid}"), "device_flag": APP, "device_level": 1}),
        );
    }
    let login = |uid: &str| {
        let (c, ack) = WkClient::connect(tcp, uid, &format!("tok-{uid}"), APP, 5, true);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "login of {uid}");
        c
    };

    // Bob's token does not log in as alice (any device flag), nor does a guess.
    for (token, flag) in [
        ("tok-bob", APP),
        ("tok-bob", DeviceFlag::WEB.0),
        ("tok-alice ", APP),
    ] {
        let (mut c, ack) = WkClient::connect(tcp, "alice", token, flag, 5, true);
        assert_eq!(
            ack.reason_code,
            ReasonCode::AUTH_FAIL,
            "alice with {token:?}/{flag}"
        );
        assert!(c.is_closed(WAIT), "refused CONNECT closes");
    }
    let mut bob = login("bob");

    // bob blacklists mallory → 4.
    rest_ok(
        http,
        "/channel/blacklist_add",
        json!({"channel_id": "bob", "channel_type": 1, "uids": ["mallory", "sys"]}),
    );
    let mut mallory = login("mallory");
    mallory.send("bob", PERSON, 1, "m-1", b"{\"type\":1}", 0);
    assert_eq!(
        mallory.expect_sendack(1).reason_code,
        ReasonCode::IN_BLACKLIST
    );

    // whitelistOffOfPerson false: a stranger gets 13, a whitelisted friend gets through.
    let mut stranger = login("stranger");
    stranger.send("bob", PERSON, 1, "s-1", b"{\"type\":1}", 0);
    assert_eq!(
        stranger.expect_sendack(1).reason_code,
        ReasonCode::NOT_IN_WHITELIST
    );
    rest_ok(
        http,
        "/channel/whitelist_add",
        json!({"channel_id": "bob", "channel_type": 1, "uids": ["friend"]}),
    );
    let mut friend = login("friend");
    let hi = b"{\"type\":1,\"content\":\"hi bob\"}";
    friend.send_ok("bob", PERSON, 1, hi);
    let got = bob.expect_recv();
    assert_eq!(got.payload, hi);
    assert_eq!(got.recv.from_uid, "friend");

    // A system uid bypasses bob's blacklist and whitelist.
    rest_ok(http, "/user/systemuids_add", json!({"uids": ["sys"]}));
    let mut sys = login("sys");
    let note = b"{\"type\":1,\"content\":\"system notice\"}";
    sys.send_ok("bob", PERSON, 1, note);
    let got = bob.expect_recv();
    assert_eq!(got.payload, note);
    assert_eq!(got.recv.from_uid, "sys");

    // A send-banned user gets 25 (even towards someone who whitelists them).
    rest_ok(
        http,
        "/channel/whitelist_add",
        json!({"channel_id": "alice", "channel_type": 1, "uids": ["mallory"]}),
    );
    rest_ok(
        http,
        "/channel",
        json!({"channel_id": "mallory", "channel_type": 1, "send_ban": 1}),
    );
    for (seq, to) in [(2u32, "bob"), (3, "alice")] {
        mallory.send(to, PERSON, seq, &format!("m-{seq}"), b"{\"type\":1}", 0);
        assert_eq!(
            mallory.expect_sendack(seq).reason_code,
            ReasonCode::SEND_BAN,
            "mallory → {to}"
        );
    }

    // A group mallory is not a member of refuses her.
    rest_ok(
        http,
        "/channel",
        json!({"channel_id": "club", "channel_type": GROUP, "subscribers": ["alice", "bob"]}),
    );
    stranger.send("club", GROUP, 2, "s-2", b"{\"type\":1}", 0);
    assert_ne!(stranger.expect_sendack(2).reason_code, ReasonCode::SUCCESS);

    // Nothing refused was delivered or stored.
    bob.ping();
    assert!(
        !bob.queued().iter().any(|p| matches!(p, Packet::Recv(_))),
        "bob got a refused message: {:?}",
        bob.queued()
    );
    for from in ["mallory", "stranger"] {
        let r = post(
            http,
            "/channel/messagesync",
            &json!({"login_uid": "bob", "channel_id": from, "channel_type": 1, "limit": 100})
                .to_string(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json()["messages"]
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0),
            0,
            "stored from {from}"
        );
    }
    let r = post(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "alice", "channel_id": "club", "channel_type": GROUP, "limit": 100})
            .to_string(),
    );
    assert_eq!(
        r.json()["messages"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Every REST route behind the manager token
// ---------------------------------------------------------------------------------------------

#[test]
fn every_rest_route_refuses_missing_or_wrong_manager_token() {
    use jindou::api::http::Method;
    use jindou::api::router::ROUTES;
    use jindou::auth::Access;
    let server = Server::start("managerToken: right-token\n");
    let (http, manager) = (server.addr("http"), server.addr("manager"));
    // A body that would do harm on every write route, if it ever ran.
    let body = json!({
        "uid": "intruder", "uids": ["intruder"], "token": "t", "device_flag": 1,
        "channel_id": "intruder", "channel_type": 2, "subscribers": ["intruder"],
        "from_uid": "intruder", "payload": "aGk=", "login_uid": "intruder",
    })
    .to_string();
    let mut checked = 0;
    for route in ROUTES {
        if route.access == Access::Open {
            continue;
        }
        let method = match route.method {
            Method::Get => "GET",
            Method::Post => "POST",
            other => panic!("unexpected method {other:?} in ROUTES"),
        };
        for (what, header) in [
            ("no token", ""),
            ("wrong token", "token: wrong-token\r\n"),
            ("empty token", "token: \r\n"),
            ("wrong bearer", "Authorization: Bearer wrong-token\r\n"),
            ("token prefix", "token: right\r\n"),
        ] {
            let req = format!(
                "{method} {} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\n\r\n{body}",
                route.path,
                body.len()
            );
            let r = http_raw(http, req.as_bytes());
            assert_eq!(r.status, 401, "{method} {} with {what}", route.path);
        }
        checked += 1;
    }
    assert!(checked > 30, "{checked} routes checked");
    // Nothing ran: with the right token, no trace of the intruder.
    let ok = "token: right-token\r\n";
    let uids = get_with(http, "/user/systemuids", ok);
    assert_eq!(uids.status, 200);
    assert_eq!(uids.json(), json!([]));
    let r = post_with(
        http,
        "/channel/messagesync",
        &json!({"login_uid": "intruder", "channel_id": "intruder", "channel_type": 2, "limit": 10})
            .to_string(),
        ok,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["messages"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0),
        0
    );
    // The manager port: monitoring views need the token too.
    for path in ["/varz", "/connz"] {
        assert_eq!(
            get(manager, path).status,
            401,
            "manager {path} without token"
        );
        assert_eq!(
            get_with(manager, path, "token: wrong-token\r\n").status,
            401,
            "manager {path} with a wrong token"
        );
        assert_eq!(get_with(manager, path, ok).status, 200, "manager {path}");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Audit log
// ---------------------------------------------------------------------------------------------

/// Lines of every log file under `dir` containing all of `needles`.
fn log_lines(dir: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let text = std::fs::read(e.path()).unwrap_or_default();
        for line in String::from_utf8_lossy(&text).lines() {
            if needles.iter().all(|n| line.contains(n)) {
                out.push(line.to_string());
            }
        }
    }
    out
}

/// Polls the log files until a line contains all of `needles`.
fn wait_log_line(dir: &std::path::Path, needles: &[&str]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(l) = log_lines(dir, needles).pop() {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needles:?} under {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn admin_changes_are_audited_with_caller_and_target() {
    let server = Server::start(
        "managerToken: audit-token\nlogger: {level: 2, dir: logs}\njwt: {secret: auditsecret}\n\
         auth: {users: [\"ops:pw:*\"]}\n",
    );
    let http = server.addr("http");
    let logs = server.dir.path().join("data").join("logs");
    let token = "token: audit-token\r\n";

    let r = post_with(
        http,
        "/channel",
        &json!({"channel_id": "audited-chan", "channel_type": 2, "subscribers": ["u1"]})
            .to_string(),
        token,
    );
    assert_eq!(r.status, 200);
    let line = wait_log_line(&logs, &["jindou::audit", "audited-chan"]);
    assert!(
        line.contains("caller=\"managerToken\"") || line.contains("caller=managerToken"),
        "{line}"
    );
    assert!(line.contains("/channel"), "{line}");

    // A JWT user is named as such.
    let login = post_with(
        http,
        "/manager/login",
        &json!({"username": "ops", "password": "pw"}).to_string(),
        token,
    )
    .json();
    // On the API port a JWT comes with the token; it names (and narrows) the caller.
    let bearer = format!(
        "{token}Authorization: Bearer {}\r\n",
        login["token"].as_str().expect("jwt")
    );
    let r = post_with(
        http,
        "/channel/blacklist_add",
        &json!({"channel_id": "audited-person", "channel_type": 1, "uids": ["troll"]}).to_string(),
        &bearer,
    );
    assert_eq!(r.status, 200);
    let line = wait_log_line(&logs, &["jindou::audit", "audited-person"]);
    assert!(line.contains("jwt:ops"), "{line}");
    assert!(line.contains("troll"), "{line}");
    assert!(line.contains("/channel/blacklist_add"), "{line}");

    // Token updates, device quit and system uids are audited too.
    for (path, body, needle) in [
        (
            "/user/token",
            json!({"uid": "audited-user", "token": "t", "device_flag": 1}),
            "audited-user",
        ),
        (
            "/user/device_quit",
            json!({"uid": "audited-quit", "device_flag": -1}),
            "audited-quit",
        ),
        (
            "/user/systemuids_add",
            json!({"uids": ["audited-sys"]}),
            "audited-sys",
        ),
        (
            "/channel/delete",
            json!({"channel_id": "audited-chan", "channel_type": 2}),
            "/channel/delete",
        ),
    ] {
        let r = post_with(http, path, &body.to_string(), token);
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let line = wait_log_line(&logs, &["jindou::audit", needle, path]);
        assert!(line.contains("managerToken"), "{line}");
    }

    // A refused change is not logged as one.
    let r = post_with(
        http,
        "/channel",
        &json!({"channel_id": "audited-refused", "channel_type": 2}).to_string(),
        "token: wrong\r\n",
    );
    assert_eq!(r.status, 401);
    // Fence: a later audited change is in the log, so the refused one would be too by now.
    let r = post_with(
        http,
        "/user/systemuids_add",
        &json!({"uids": ["audited-fence"]}).to_string(),
        token,
    );
    assert_eq!(r.status, 200);
    wait_log_line(&logs, &["jindou::audit", "audited-fence"]);
    assert!(
        log_lines(&logs, &["jindou::audit", "audited-refused"]).is_empty(),
        "a refused request was audited"
    );
}
