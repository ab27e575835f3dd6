//! The business datasource (issue 7, spec http-api §12) against the real binary and a local
//! datasource HTTP server: v2's `{"cmd":…}` protocol, the seed's GET protocol, caching, and
//! degradation when the datasource is down or hangs.

mod common;
#[path = "common/wk.rs"]
mod wk;
use bytes::BytesMut;
use common::*;
use jindou::proto::{
    ChannelType, Connect, Decoder, DeviceFlag, Encode, HeaderFlags, Packet, ReasonCode, Setting,
    WkStr,
};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Handler = dyn Fn(&str, &Value) -> (u16, Value) + Send + Sync;

/// A datasource: records (method target, JSON body) and answers with `handler`.
struct Datasource {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    /// Hold every answer while set.
    hang: Arc<AtomicBool>,
}

impl Datasource {
    fn start(handler: impl Fn(&str, &Value) -> (u16, Value) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<(String, Value)>>> = Default::default();
        let hang: Arc<AtomicBool> = Default::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let (s2, h2) = (seen.clone(), hang.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, hang, handler) = (s2.clone(), h2.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, seen, hang, handler));
            }
        });
        Datasource { addr, seen, hang }
    }

    fn url(&self) -> String {
        format!("http://{}/ds", self.addr)
    }

    fn calls(&self, cmd: &str) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, b)| b["cmd"] == cmd)
            .map(|(_, b)| b["data"].clone())
            .collect()
    }

    fn targets(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| t.clone())
            .collect()
    }
}

fn serve(
    mut s: TcpStream,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    hang: Arc<AtomicBool>,
    handler: Arc<Handler>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut first = head.split(' ');
        let target = format!(
            "{} {}",
            first.next().unwrap_or(""),
            first.next().unwrap_or("")
        );
        let len: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Value =
            serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
        buf.drain(..head_end + len);
        seen.lock().unwrap().push((target.clone(), body.clone()));
        while hang.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (status, answer) = handler(&target, &body);
        let text = answer.to_string();
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if s.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// REST send to a group; returns the HTTP status.
fn send_group(http: SocketAddr, from: &str, channel: &str) -> u16 {
    post(
        http,
        "/message/send",
        &json!({"from_uid": from, "channel_id": channel, "channel_type": 2, "payload": "aGk="})
            .to_string(),
    )
    .status
}

/// The channels in `uid`'s conversation list.
fn conversations(http: SocketAddr, uid: &str) -> Vec<String> {
    let r = post(
        http,
        "/conversation/sync",
        &json!({"uid": uid, "msg_count": 1}).to_string(),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    r.json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c["channel_id"].as_str().map(str::to_string))
        .collect()
}

fn v2_datasource() -> Datasource {
    Datasource::start(|_, body| {
        let channel = body["data"]["channel_id"].as_str().unwrap_or("");
        match body["cmd"].as_str().unwrap_or("") {
            "getSystemUIDs" => (200, json!(["ds-admin", "ds-notice"])),
            "getSubscribers" if channel == "g-ds" || channel == "g-ban" => {
                (200, json!(["ds-u1", "ds-u2", "ds-u3"]))
            }
            "getSubscribers" => (200, json!([])),
            "getBlacklist" if channel == "g-ds" => (200, json!(["ds-u3"])),
            "getBlacklist" | "getWhitelist" => (200, json!([])),
            "getChannelInfo" if channel == "g-ban" => {
                (200, json!({"large": 0, "ban": 1, "disband": 0}))
            }
            "getChannelInfo" => (200, json!({"large": 0, "ban": 0, "disband": 0})),
            _ => (404, json!({})),
        }
    })
}

#[test]
fn v2_cmd_protocol_supplies_subscribers_info_lists_and_system_uids() {
    let ds = v2_datasource();
    let server = Server::start(&format!(
        "datasource:\n  addr: \"{}\"\n  channelInfoOn: true\n  cacheTtl: 5m\n",
        ds.url()
    ));
    let http = server.addr("http");

    // getSystemUIDs at start-up, merged into the global tables of every shard.
    wait_for("system uids from the datasource", 10, || {
        (0..4).all(|_| {
            let v = get(http, "/user/systemuids").json();
            let uids: Vec<&str> = v
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            uids.contains(&"ds-admin") && uids.contains(&"ds-notice")
        })
    });
    assert_eq!(ds.calls("getSystemUIDs"), vec![json!({})]);

    // A group known only to the datasource: its subscribers receive the message.
    assert_eq!(send_group(http, "ds-u1", "g-ds"), 200);
    wait_for("the receivers' conversations", 10, || {
        conversations(http, "ds-u2").contains(&"g-ds".to_string())
    });
    let want = json!({"channel_id": "g-ds", "channel_type": 2});
    assert_eq!(ds.calls("getSubscribers"), vec![want.clone()]);
    assert_eq!(ds.calls("getChannelInfo"), vec![want.clone()]);
    assert_eq!(ds.calls("getBlacklist"), vec![want.clone()]);
    assert_eq!(ds.calls("getWhitelist"), vec![want]);

    // Cached: the next sends ask nothing.
    for _ in 0..3 {
        assert_eq!(send_group(http, "ds-u1", "g-ds"), 200);
    }
    assert_eq!(ds.calls("getSubscribers").len(), 1, "answers are cached");

    // Channel info from the datasource is enforced: a banned channel refuses sends.
    assert_ne!(
        send_group(http, "ds-u1", "g-ban"),
        200,
        "ban=1 from getChannelInfo"
    );
    assert!(!conversations(http, "ds-u2").contains(&"g-ban".to_string()));
}

/// Connects a plaintext wkproto client, sends one message to group `channel`, returns the
/// SENDACK reason.
fn client_send(tcp: SocketAddr, uid: &str, channel: &str) -> ReasonCode {
    let mut s = TcpStream::connect(tcp).expect("connect tcp");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = BytesMut::new();
    Connect {
        version: 4,
        device_flag: DeviceFlag::APP,
        device_id: WkStr::copy_from_str("d"),
        uid: WkStr::copy_from_str(uid),
        token: WkStr::EMPTY,
        client_timestamp: 0,
        client_key: WkStr::EMPTY,
    }
    .encode(4, &mut out)
    .unwrap();
    jindou::proto::Send {
        flags: HeaderFlags::EMPTY,
        setting: Setting::NO_ENCRYPT,
        client_seq: 7,
        client_msg_no: WkStr::copy_from_str(&format!("{uid}-{channel}")),
        stream_no: WkStr::EMPTY,
        channel_id: WkStr::copy_from_str(channel),
        channel_type: ChannelType::GROUP,
        expire: 0,
        msg_key: WkStr::EMPTY,
        topic: WkStr::EMPTY,
        payload: bytes::Bytes::from_static(b"hi"),
    }
    .encode(4, &mut out)
    .unwrap();
    s.write_all(&out).unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 1024];
    let dec = Decoder::new();
    loop {
        while let Some(p) = dec.decode(&mut buf, 4).expect("decode") {
            match p {
                Packet::Connack(c) => assert_eq!(c.reason_code, ReasonCode::SUCCESS),
                Packet::Sendack(a) => return a.reason_code,
                _ => {}
            }
        }
        let n = s.read(&mut chunk).expect("read SENDACK");
        assert!(n > 0, "closed before SENDACK");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn client_sends_obey_the_datasource_members_and_blacklist() {
    let ds = v2_datasource();
    let server = Server::start(&format!(
        "encryption: false\ndatasource:\n  addr: \"{}\"\n",
        ds.url()
    ));
    let (http, tcp) = (server.addr("http"), server.addr("tcp"));
    assert_eq!(client_send(tcp, "ds-u1", "g-ds"), ReasonCode::SUCCESS);
    assert_eq!(
        client_send(tcp, "ds-u3", "g-ds"),
        ReasonCode::IN_BLACKLIST,
        "getBlacklist"
    );
    assert_eq!(
        client_send(tcp, "stranger", "g-ds"),
        ReasonCode::SUBSCRIBER_NOT_EXIST,
        "not in getSubscribers"
    );
    wait_for("a member's conversation", 10, || {
        conversations(http, "ds-u2").contains(&"g-ds".to_string())
    });
    assert_eq!(ds.calls("getChannelInfo").len(), 0, "channelInfoOn is off");
    assert_eq!(ds.calls("getSubscribers").len(), 1, "cached");
}

#[test]
fn a_down_or_hung_datasource_degrades_to_local_data() {
    // Down: nothing listens on the address.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = Server::start(&format!("datasource:\n  addr: \"http://{port}/ds\"\n"));
    let http = server.addr("http");
    let t0 = Instant::now();
    assert_eq!(
        send_group(http, "x", "g-down"),
        200,
        "local data: the send goes on"
    );
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    drop(server);

    // Hung: the datasource accepts and never answers; the send still completes in time.
    let ds = v2_datasource();
    ds.hang.store(true, Ordering::SeqCst);
    let server = Server::start(&format!("datasource:\n  addr: \"{}\"\n", ds.url()));
    let http = server.addr("http");
    let t0 = Instant::now();
    assert_eq!(send_group(http, "x", "g-hung"), 200);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "send waited {took:?}");
    // The failure is remembered briefly: the next send does not wait again.
    let t1 = Instant::now();
    assert_eq!(send_group(http, "x", "g-hung"), 200);
    assert!(t1.elapsed() < Duration::from_secs(1), "{:?}", t1.elapsed());
    ds.hang.store(false, Ordering::SeqCst);
}

#[test]
fn seed_rest_protocol_gets_channel_info() {
    let ds = Datasource::start(|target, _| {
        if target.starts_with("GET /ds/channel/info?") {
            (
                200,
                json!({"subscribers": ["rest-u1", "rest-u2"], "ban": 0}),
            )
        } else {
            (404, json!({}))
        }
    });
    let server = Server::start(&format!(
        "datasource:\n  addr: \"{}\"\n  protocol: rest\n  channelInfoOn: true\n",
        ds.url()
    ));
    let http = server.addr("http");
    assert_eq!(send_group(http, "rest-u1", "g-rest"), 200);
    wait_for("the member's conversation", 10, || {
        conversations(http, "rest-u2").contains(&"g-rest".to_string())
    });
    let targets = ds.targets();
    assert!(
        targets.contains(&"GET /ds/channel/info?channel_id=g-rest&channel_type=2".to_string()),
        "{targets:?}"
    );
}

#[test]
fn user_info_on_logs_users_in_with_the_backends_token_and_refuses_banned_ones() {
    let ds = Datasource::start(|_, body| match body["cmd"].as_str().unwrap_or("") {
        "getSystemUIDs" => (200, json!([])),
        "getUserInfo" => match body["data"]["uid"].as_str().unwrap_or("") {
            "ui-alice" => (200, json!({"token": "backend-secret", "device_level": 1})),
            "ui-mallory" => (200, json!({"token": "t", "ban": 1})),
            _ => (200, json!({})),
        },
        _ => (404, json!({})),
    });
    let server = Server::start(&format!(
        "tokenAuthOn: true\ndatasource:\n  addr: \"{}\"\n  userInfoOn: true\n  cacheTtl: 5m\n  timeout: 1500ms\n",
        ds.url()
    ));
    let (http, tcp) = (server.addr("http"), server.addr("tcp"));
    // The backend's token logs alice in without any /user/token registration.
    let (_alice, ack) = wk::WkClient::connect(tcp, "ui-alice", "backend-secret", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    assert_eq!(
        ds.calls("getUserInfo"),
        vec![json!({"uid": "ui-alice"})],
        "asked once"
    );
    // A wrong token still fails; cached, so the backend is not asked again.
    let (_c, ack) = wk::WkClient::connect(tcp, "ui-alice", "guess", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::AUTH_FAIL);
    assert_eq!(ds.calls("getUserInfo").len(), 1, "cached");
    // A registered token works as before.
    let r = post(
        http,
        "/user/token",
        &json!({"uid": "ui-bob", "token": "local", "device_flag": 1}).to_string(),
    );
    assert_eq!(r.status, 200);
    let (_bob, ack) = wk::WkClient::connect(tcp, "ui-bob", "local", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    // A user the backend bans is refused with reason 19, whatever the token.
    let (_m, ack) = wk::WkClient::connect(tcp, "ui-mallory", "t", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::BAN);
}

#[test]
fn user_info_waits_at_most_the_configured_timeout() {
    let ds = Datasource::start(|_, body| match body["cmd"].as_str().unwrap_or("") {
        "getUserInfo" => (200, json!({"token": "late"})),
        _ => (200, json!([])),
    });
    ds.hang.store(true, Ordering::SeqCst);
    let server = Server::start(&format!(
        "tokenAuthOn: false\ndatasource:\n  addr: \"{}\"\n  userInfoOn: true\n  timeout: 300ms\n",
        ds.url()
    ));
    let tcp = server.addr("tcp");
    let t0 = Instant::now();
    let (_c, ack) = wk::WkClient::connect(tcp, "ui-slow", "", 1, 4, true);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "local data decides");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(2000),
        "CONNECT waited {took:?} with datasource.timeout 300ms"
    );
    ds.hang.store(false, Ordering::SeqCst);
}
