//! JSON-RPC 2.0 on the client ports (spec `shared/spec/wukongim-2.2.5.md` §2) against the real
//! binary: a JSON-RPC client written from the spec, over WebSocket (tungstenite, text frames),
//! WSS and TCP (JSON objects back to back), chatting with the wkproto test client of
//! `common/wk.rs`; retries, kicks, bad input; `disableJSONRPC`. (WuKongIM's EasySDK for JS is
//! not on npm, so there is no Node test of it.)

mod common;
use common::wk;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use jindou::proto::ChannelType;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};
use wk::{ConnectOpts, WkClient, WAIT};

const PERSON: u8 = ChannelType::PERSON.0;

enum Transport {
    Ws(Box<WebSocket<TcpStream>>),
    /// TCP with the bytes read and not yet parsed.
    Tcp(TcpStream, Vec<u8>),
}

/// What one read gave.
enum Frame {
    Json(Value),
    Timeout,
    Closed,
}

/// A JSON-RPC client: one JSON value per WebSocket text frame, or a stream of values on TCP.
struct RpcClient {
    t: Transport,
    /// Frames read while waiting for something else.
    queue: VecDeque<Value>,
    /// Every frame read, in order.
    seen: Vec<Value>,
    closed: bool,
    next_id: u32,
}

impl RpcClient {
    fn open(addr: SocketAddr, websocket: bool) -> RpcClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let t = if websocket {
            let (ws, _) = tungstenite::client::client(format!("ws://{addr}/"), stream)
                .expect("WebSocket handshake");
            Transport::Ws(Box::new(ws))
        } else {
            Transport::Tcp(stream, Vec::new())
        };
        RpcClient {
            t,
            queue: VecDeque::new(),
            seen: Vec::new(),
            closed: false,
            next_id: 0,
        }
    }

    /// Opens a connection and logs `uid` in; returns the client and the `connect` result.
    fn login(addr: SocketAddr, websocket: bool, uid: &str) -> (RpcClient, Value) {
        let mut c = Self::open(addr, websocket);
        let resp = c.connect(uid, "", 1);
        assert_eq!(resp["result"]["reasonCode"], 1, "{uid}: {resp}");
        (c, resp["result"].clone())
    }

    /// Sends a `connect` request and returns the first frame, which must be its response.
    fn connect(&mut self, uid: &str, token: &str, device_flag: u8) -> Value {
        let req = json!({"jsonrpc":"2.0","method":"connect","id":"c1","params":{
            "uid": uid, "token": token, "deviceFlag": device_flag,
            "deviceId": format!("{uid}-{}", rand::random::<u32>()), "version": 5, "clientTimestamp": now_ms()}});
        self.write(&req);
        let first = match self.read(Instant::now() + WAIT) {
            Frame::Json(v) => v,
            _ => panic!("{uid}: no answer to connect"),
        };
        assert_eq!(
            first["id"], "c1",
            "the connect response is the first frame: {first}"
        );
        first
    }

    fn write(&mut self, v: &Value) {
        self.write_text(v.to_string().as_bytes());
    }

    /// Writes bytes as they are: one text message on WebSocket, raw on TCP.
    fn write_text(&mut self, text: &[u8]) {
        match &mut self.t {
            Transport::Ws(ws) => {
                let text = String::from_utf8(text.to_vec()).expect("utf-8");
                let _ = ws.send(Message::text(text));
            }
            Transport::Tcp(s, _) => {
                let _ = s.write_all(text);
            }
        }
    }

    /// Reads the next frame (queued first).
    fn read(&mut self, deadline: Instant) -> Frame {
        if let Some(v) = self.queue.pop_front() {
            return Frame::Json(v);
        }
        if self.closed {
            return Frame::Closed;
        }
        let f = self.read_wire(deadline);
        match &f {
            Frame::Closed => self.closed = true,
            Frame::Json(v) => self.seen.push(v.clone()),
            Frame::Timeout => {}
        }
        f
    }

    fn read_wire(&mut self, deadline: Instant) -> Frame {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Frame::Timeout;
            }
            match &mut self.t {
                Transport::Ws(ws) => {
                    ws.get_mut().set_read_timeout(Some(left)).unwrap();
                    match ws.read() {
                        Ok(Message::Text(t)) => {
                            let v: Value = serde_json::from_str(t.as_str()).unwrap_or_else(|e| {
                                panic!("a text frame is one JSON value: {e}: {t}")
                            });
                            return Frame::Json(v);
                        }
                        Ok(Message::Binary(b)) => {
                            panic!("JSON-RPC frames are text, got binary {b:?}")
                        }
                        Ok(Message::Close(_)) => return Frame::Closed,
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e))
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => return Frame::Closed,
                    }
                }
                Transport::Tcp(s, buf) => {
                    if !buf.is_empty() {
                        let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
                        match it.next() {
                            Some(Ok(v)) => {
                                let used = it.byte_offset();
                                buf.drain(..used);
                                return Frame::Json(v);
                            }
                            Some(Err(e)) if e.is_eof() => {}
                            Some(Err(e)) => panic!("bad JSON from the server: {e}"),
                            None => buf.clear(),
                        }
                    }
                    s.set_read_timeout(Some(left)).unwrap();
                    let mut chunk = [0u8; 4096];
                    match s.read(&mut chunk) {
                        Ok(0) => return Frame::Closed,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => return Frame::Closed,
                    }
                }
            }
        }
    }

    /// Waits for the first frame matching `want`; others stay queued in order.
    fn expect(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.queue.iter().position(&want) {
            return self.queue.remove(i).unwrap();
        }
        let deadline = Instant::now() + WAIT;
        let mut skipped = VecDeque::new();
        let found = loop {
            match self.read_wire_frame(deadline) {
                Frame::Json(v) if want(&v) => break v,
                Frame::Json(v) => skipped.push_back(v),
                _ => panic!(
                    "{what}: not received (closed: {}; read: {:?})",
                    self.closed, self.seen
                ),
            }
        };
        self.queue.extend(skipped);
        found
    }

    fn read_wire_frame(&mut self, deadline: Instant) -> Frame {
        let f = self.read_wire(deadline);
        match &f {
            Frame::Closed => self.closed = true,
            Frame::Json(v) => self.seen.push(v.clone()),
            Frame::Timeout => {}
        }
        f
    }

    /// Sends a request and waits for the response with its id.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = format!("{method}-{}", self.next_id);
        self.write(&json!({"jsonrpc":"2.0","method":method,"id":id,"params":params}));
        self.expect(&format!("response to {id}"), |v| v["id"] == id.as_str())
    }

    /// The next notification of `method` (its whole frame).
    fn notification(&mut self, method: &str) -> Value {
        self.expect(method, |v| v["method"] == method)
    }

    /// A ping answered by the pong the spec requires.
    fn ping(&mut self) {
        let pong = self.call("ping", json!({}));
        let id = pong["id"].clone();
        assert_eq!(pong, json!({"jsonrpc":"2.0","id":id,"result":null}));
    }

    /// Whether the server closes within `timeout`; frames read meanwhile stay queued.
    fn is_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.closed {
            match self.read_wire_frame(deadline) {
                Frame::Json(v) => self.queue.push_back(v),
                Frame::Closed => break,
                Frame::Timeout => return false,
            }
        }
        true
    }
}

fn now_ms() -> i64 {
    wk::now_ms()
}

/// A send's params as EasySDK writes them (payload: base64 of compact JSON text).
fn send_params(to: &str, client_msg_no: &str, content: &str) -> Value {
    let payload = json!({"type": 1, "content": content}).to_string();
    json!({"channelId": to, "channelType": PERSON, "clientMsgNo": client_msg_no,
           "payload": STANDARD.encode(payload), "header": {"redDot": true}})
}

fn connz_unacked(http: SocketAddr, uid: &str) -> u64 {
    let r = get(http, &format!("/connz?uid={uid}"));
    assert_eq!(r.status, 200);
    let v = r.json();
    let conns = v["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 1, "{v}");
    conns[0]["unacked"].as_u64().expect("unacked")
}

/// A JSON-RPC client on WebSocket and a wkproto client (TCP, encrypted) chat both ways; the
/// recv is acknowledged; ping answers `"result":null`.
#[test]
fn websocket_client_chats_with_a_wkproto_client() {
    let server = Server::start("");
    let http = server.addr("http");
    let (mut alice, result) = RpcClient::login(server.addr("ws"), true, "alice");
    assert_eq!(result["serverVersion"], 5);
    assert!(result["nodeId"].is_u64(), "{result}");
    assert!(
        result.get("serverKey").is_none(),
        "never encrypted: {result}"
    );
    let mut bob = WkClient::login(server.addr("tcp"), "bob", 4);

    // alice → bob.
    let resp = alice.call("send", send_params("bob", "m-1", "hi bob"));
    let r = &resp["result"];
    assert_eq!(r["reasonCode"], 1, "{resp}");
    assert_eq!(r["header"], json!({"redDot": true}));
    assert_eq!(r["messageSeq"], 1);
    let id: i64 = r["messageId"].as_str().expect("string id").parse().unwrap();
    assert!(id > 0);
    let got = bob.expect_recv();
    let text: Value = serde_json::from_slice(&got.payload).expect("the JSON text EasySDK sent");
    assert_eq!(text, json!({"type": 1, "content": "hi bob"}));
    assert_eq!(got.recv.from_uid.as_str(), "alice");
    assert_eq!(got.recv.channel_id.as_str(), "alice");
    assert_eq!(got.recv.message_id, id);
    assert_eq!(got.recv.client_msg_no.as_str(), "m-1");

    // bob → alice: a recv notification with no id, a header object, base64 payload.
    let ack = bob.send_ok("alice", PERSON, 1, b"\x00binary\xff");
    let frame = alice.notification("recv");
    assert!(
        frame.get("id").is_none(),
        "notifications carry no id: {frame}"
    );
    let p = &frame["params"];
    assert_eq!(p["header"], json!({"redDot": true}));
    assert_eq!(p["channelId"], "bob");
    assert_eq!(p["channelType"], PERSON);
    assert_eq!(p["fromUid"], "bob");
    assert_eq!(p["messageId"], ack.message_id.to_string());
    assert_eq!(p["messageSeq"], ack.message_seq);
    assert!(p["timestamp"].is_i64());
    let payload = STANDARD.decode(p["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, b"\x00binary\xff");

    // Unacknowledged until the recvack; the pong after it proves it was handled.
    assert_eq!(connz_unacked(http, "alice"), 1);
    alice.write(&json!({"method":"recvack","params":{"header":p["header"],
        "messageId":p["messageId"],"messageSeq":p["messageSeq"]}}));
    alice.ping();
    assert_eq!(connz_unacked(http, "alice"), 0);
}

/// Over TCP the objects come back to back in any chunking: a request split over writes, two
/// in one write; the peer is a wkproto client on WebSocket; two JSON-RPC clients chat too.
#[test]
fn tcp_client_chats_in_any_chunking() {
    let server = Server::start("");
    let mut carol = RpcClient::open(server.addr("tcp"), false);
    let connect =
        json!({"id":"c1","method":"connect","params":{"uid":"carol","deviceFlag":2}}).to_string();
    let (a, b) = connect.as_bytes().split_at(10);
    carol.write_text(a);
    carol.write_text(b" ");
    carol.write_text(b);
    let first = carol.expect("connect result", |v| v["id"] == "c1");
    assert_eq!(first["result"]["reasonCode"], 1, "{first}");
    assert!(first.get("error").is_none());

    let (mut dave, _) = WkClient::connect_opts(
        server.addr("ws"),
        ConnectOpts::new("dave", "", 1, 5, true).websocket(),
    );
    // Two requests in one write, answered in order.
    let two = format!(
        "{}\n{}",
        json!({"id":"s1","method":"send","params":send_params("dave","m-2","hello dave")}),
        json!({"id":"p1","method":"ping"})
    );
    carol.write_text(two.as_bytes());
    let s1 = carol.expect("send result", |v| v["id"] == "s1");
    assert_eq!(s1["result"]["reasonCode"], 1, "{s1}");
    let p1 = carol.expect("pong", |v| v["id"] == "p1");
    assert_eq!(p1["result"], Value::Null);
    assert!(p1.as_object().unwrap().contains_key("result"));
    let got = dave.expect_recv();
    let text: Value = serde_json::from_slice(&got.payload).unwrap();
    assert_eq!(text, json!({"type": 1, "content": "hello dave"}));
    dave.send_ok("carol", PERSON, 7, b"back");
    let recv = carol.notification("recv");
    assert_eq!(recv["params"]["fromUid"], "dave");
    assert_eq!(
        STANDARD
            .decode(recv["params"]["payload"].as_str().unwrap())
            .unwrap(),
        b"back"
    );

    // JSON-RPC to JSON-RPC (WebSocket ↔ TCP); a payload given as a JSON object is its text.
    let (mut erin, _) = RpcClient::login(server.addr("ws"), true, "erin");
    let resp = erin.call(
        "send",
        json!({"channelId":"carol","channelType":PERSON,"payload":{"type":1,"content":"yo"}}),
    );
    assert_eq!(resp["result"]["reasonCode"], 1, "{resp}");
    let recv = carol.notification("recv");
    assert_eq!(recv["params"]["fromUid"], "erin");
    assert_eq!(recv["params"]["header"], json!({}), "header always present");
    let text = STANDARD
        .decode(recv["params"]["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&text).unwrap(),
        json!({"type":1,"content":"yo"})
    );
    assert_eq!(
        recv["params"]["clientMsgNo"].as_str().map(str::len),
        Some(32),
        "generated: {recv}"
    );
}

/// Bad messages after `connect` are answered with errors and the connection stays open;
/// unknown and unsupported methods are -32601.
#[test]
fn bad_messages_get_errors_and_the_connection_stays() {
    let server = Server::start("");
    let (mut c, _) = RpcClient::login(server.addr("ws"), true, "frank");
    let code = |v: &Value| {
        v["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("an error: {v}"))
    };

    let r = c.call("nope", json!({}));
    assert_eq!(code(&r), -32601);
    let r = c.call(
        "subscribe",
        json!({"subNo":"1","channelId":"g1","channelType":2}),
    );
    assert_eq!(code(&r), -32601);
    assert!(
        r.get("result").is_none(),
        "exactly one of result/error: {r}"
    );
    let r = c.call("send", json!({"channelId": 5}));
    assert_eq!(code(&r), -32602);
    let r = c.call(
        "send",
        json!({"channelId":"x","channelType":1,"payload":"not base64!"}),
    );
    assert_eq!(code(&r), -32602);
    c.write(&json!({"jsonrpc":"1.0","id":"v1","method":"ping"}));
    let r = c.expect("bad version", |v| v["id"] == "v1");
    assert_eq!(code(&r), -32600);
    c.write_text(br#"{"id":"x", oops}"#);
    let r = c.expect("parse error", |v| {
        v.get("error").is_some() && v["id"].is_null()
    });
    assert_eq!(code(&r), -32700);
    // A notification of an unknown method is ignored; a recvack of nothing is harmless.
    c.write(&json!({"method":"whatever","params":{}}));
    c.write(&json!({"method":"recvack","params":{"messageId":"123","messageSeq":1}}));
    c.ping();
    assert!(
        c.queue.is_empty(),
        "nothing answered the notifications: {:?}",
        c.queue
    );

    // `disconnect` closes the connection.
    c.write(&json!({"id":"d1","method":"disconnect","params":{"reasonCode":0}}));
    assert!(c.is_closed(WAIT));
}

/// Input that cannot be cut into objects, or an object over `limits.maxFrameSize`, ends the
/// connection (after an error once connected); a first message other than `connect` closes
/// without a reply; a refused `connect` gets an error with the reason code.
#[test]
fn malformed_or_oversized_input_disconnects() {
    let server = Server::start("limits: {maxFrameSize: 4KiB}\n");
    let tcp = server.addr("tcp");
    let ws = server.addr("ws");

    // Not an object after connect (TCP): an error, then the close.
    let (mut c, _) = RpcClient::login(tcp, false, "gina");
    c.write_text(b"[1,2]");
    let r = c.expect("error", |v| v.get("error").is_some());
    assert_eq!(r["error"]["code"], -32700);
    assert!(c.is_closed(WAIT));

    // An object growing past the limit (TCP), never finished: cut before it is buffered.
    let (mut c, _) = RpcClient::login(tcp, false, "gina2");
    let big = format!(
        r#"{{"id":"big","method":"send","params":{{"payload":"{}"#,
        "A".repeat(8 * 1024)
    );
    c.write_text(big.as_bytes());
    let r = c.expect("error", |v| v.get("error").is_some());
    assert_eq!(r["error"]["code"], -32600);
    assert!(c.is_closed(WAIT));

    // A WebSocket message past the limit closes the connection; one under it is served.
    let (mut c, _) = RpcClient::login(ws, true, "gina3");
    let ok = json!({"channelId":"gina","channelType":PERSON,"payload":STANDARD.encode("x".repeat(1000))});
    assert_eq!(c.call("send", ok)["result"]["reasonCode"], 1);
    let too_big = json!({"id":"b","method":"send","params":{"channelId":"gina","channelType":PERSON,
        "payload": STANDARD.encode("x".repeat(8 * 1024))}});
    c.write(&too_big);
    assert!(c.is_closed(WAIT));
    assert!(
        !c.queue.iter().any(|v| v["id"] == "b"),
        "the oversized send was not served"
    );

    // First message: not connect, not JSON, a notification: closed with nothing written.
    for first in [
        r#"{"id":"p","method":"ping"}"#,
        r#"{"id":"c","method":"connect","params":"uid"}"#,
        r#"{"method":"connect","params":{"uid":"x"}}"#,
        r#"{nope"#,
    ] {
        for websocket in [true, false] {
            let mut c = RpcClient::open(if websocket { ws } else { tcp }, websocket);
            c.write_text(first.as_bytes());
            if first == "{nope" {
                c.write_text(b"}");
            }
            assert!(c.is_closed(WAIT), "{first} (ws: {websocket})");
            assert!(
                c.seen.is_empty(),
                "{first}: nothing written, got {:?}",
                c.seen
            );
        }
    }

    // A uid the spec forbids: the error carries reason 2 (AuthFail), then the close.
    let mut c = RpcClient::open(ws, true);
    let r = c.connect("bad@uid", "", 1);
    assert_eq!(r["error"], json!({"code": 2, "message": "AuthFail"}));
    assert!(c.is_closed(WAIT));
}

/// With `tokenAuthOn` the token is checked like a CONNECT's; a second login of the same device
/// kicks the first with a `disconnect` notification.
#[test]
fn tokens_are_checked_and_a_replaced_device_gets_disconnect() {
    let server = Server::start("tokenAuthOn: true\n");
    let http = server.addr("http");
    let r = post(
        http,
        "/user/token",
        &json!({"uid":"hank","token":"th","device_flag":1,"device_level":1}).to_string(),
    );
    assert_eq!(r.status, 200);

    let mut bad = RpcClient::open(server.addr("ws"), true);
    let r = bad.connect("hank", "wrong", 1);
    assert_eq!(r["error"]["code"], 2, "{r}");
    assert!(bad.is_closed(WAIT));

    let mut first = RpcClient::open(server.addr("tcp"), false);
    assert_eq!(first.connect("hank", "th", 1)["result"]["reasonCode"], 1);
    let mut second = RpcClient::open(server.addr("ws"), true);
    assert_eq!(second.connect("hank", "th", 1)["result"]["reasonCode"], 1);
    let d = first.notification("disconnect");
    assert!(d.get("id").is_none(), "{d}");
    assert!(d["params"]["reasonCode"].as_u64().unwrap() > 0, "{d}");
    assert!(d["params"]["reason"].is_string(), "{d}");
    assert!(first.is_closed(WAIT));
    second.ping();
}

/// `disableJSONRPC: true`: a session starting with `{` is bad wkproto and is closed with
/// nothing written; wkproto clients are served as before.
#[test]
fn disable_jsonrpc_refuses_json_sessions() {
    let server = Server::start("disableJSONRPC: true\n");
    for websocket in [true, false] {
        let addr = server.addr(if websocket { "ws" } else { "tcp" });
        let mut c = RpcClient::open(addr, websocket);
        c.write(&json!({"id":"c1","method":"connect","params":{"uid":"ivy"}}));
        assert!(c.is_closed(WAIT), "ws: {websocket}");
        assert!(c.seen.is_empty(), "nothing answered: {:?}", c.seen);
    }
    let mut a = WkClient::login(server.addr("tcp"), "ivy", 4);
    let mut b = WkClient::login(server.addr("tcp"), "jack", 4);
    a.send_ok("jack", PERSON, 1, b"still wkproto");
    assert_eq!(b.expect_recv().payload, b"still wkproto");
}

/// An unacknowledged `recv` is written again like an unacknowledged RECV (`messageRetry.*`),
/// and no more once acknowledged.
#[test]
fn unacknowledged_recvs_are_retried() {
    let server =
        Server::start("messageRetry: {interval: 200ms, scanInterval: 50ms, maxCount: 5}\n");
    let (mut kim, _) = RpcClient::login(server.addr("ws"), true, "kim");
    let mut lee = WkClient::login(server.addr("tcp"), "lee", 4);
    let ack = lee.send_ok("kim", PERSON, 1, b"again?");
    let id = ack.message_id.to_string();
    let first = kim.notification("recv");
    assert_eq!(first["params"]["messageId"], id.as_str());
    let again = kim.notification("recv");
    assert_eq!(
        again["params"], first["params"],
        "the same recv, written again"
    );
    kim.write(&json!({"method":"recvack","params":{"messageId":id,"messageSeq":ack.message_seq,"header":{}}}));
    kim.ping();
    // The recvack (handled before the pong) emptied the retry queue: nothing is left to resend.
    assert_eq!(connz_unacked(server.addr("http"), "kim"), 0);
}

/// JSON-RPC over WSS: the same session behind TLS (text frames encrypted like any other).
#[test]
fn wss_client_chats_with_a_wkproto_client() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = Server::start(&format!(
        "wssAddr: wss://127.0.0.1:0\nwssConfig: {{certFile: {}, keyFile: {}}}\n",
        cert_path.display(),
        key_path.display()
    ));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(server.addr("wss")).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), "localhost".try_into().unwrap())
            .unwrap();
    let tls = rustls::StreamOwned::new(conn, tcp);
    let (mut ws, _) = tungstenite::client::client("ws://localhost/", tls).expect("handshake");
    let read = |ws: &mut WebSocket<_>| -> Value {
        loop {
            match ws.read().expect("a frame") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    let connect = json!({"id":"c1","method":"connect","params":{"uid":"tls-rpc","deviceFlag":1}});
    ws.send(Message::text(connect.to_string())).unwrap();
    let r = read(&mut ws);
    assert_eq!(
        (r["id"].clone(), r["result"]["reasonCode"].clone()),
        (json!("c1"), json!(1)),
        "{r}"
    );

    let mut peer = WkClient::login(server.addr("tcp"), "tls-peer", 4);
    let send = json!({"id":"s1","method":"send","params":send_params("tls-peer","t-1","over wss")});
    ws.send(Message::text(send.to_string())).unwrap();
    let r = read(&mut ws);
    assert_eq!(r["result"]["reasonCode"], 1, "{r}");
    let got = peer.expect_recv();
    let text: Value = serde_json::from_slice(&got.payload).unwrap();
    assert_eq!(text["content"], "over wss");
    peer.send_ok("tls-rpc", PERSON, 1, b"back over wss");
    let r = read(&mut ws);
    assert_eq!(r["method"], "recv", "{r}");
    let payload = STANDARD
        .decode(r["params"]["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(payload, b"back over wss");
    ws.send(Message::text(r#"{"id":"p1","method":"ping"}"#))
        .unwrap();
    assert_eq!(
        read(&mut ws),
        json!({"jsonrpc":"2.0","id":"p1","result":null})
    );
}
