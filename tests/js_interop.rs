//! Interop with the real WuKongIM JavaScript SDK (`wukongimjssdk` 1.0.4 from npm) over WebSocket.
//!
//! Each simulated user is a Node process running `tests/js/client.mjs` (one SDK instance per
//! process): the test writes JSON commands to its stdin and reads JSON events from its stderr
//! (see the header of `client.mjs` for the protocol). Needs `node` and `npm ci` in `tests/js`
//! (`scripts/install-test-deps.sh`); without them the tests fail with that command, unless
//! `SKIP_JS=1` is set (then each says it skipped).

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Longest wait for any single event (node start-up + SDK load + connect included).
const WAIT: Duration = Duration::from_secs(10);

/// True if the JS tests run; false (after saying so) when `SKIP_JS=1` skips them. Fails the
/// test, naming the install command, when Node or the SDK is missing.
fn js_available() -> bool {
    js_sdk_required("JS SDK interop (tests/js_interop.rs)")
}

/// One `client.mjs` process: a single SDK user.
struct JsClient {
    uid: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Value>,
    /// Every event received so far, in order (for assertions and failure messages).
    history: Vec<Value>,
}

impl JsClient {
    /// Starts the driver for `uid` against `ws://addr` (it connects at once).
    fn start(ws: std::net::SocketAddr, uid: &str) -> JsClient {
        let mut child = Command::new("node")
            .args(["--import", "./wk-register.mjs", "client.mjs"])
            .current_dir(js_dir())
            .env("WK_ADDR", format!("ws://{ws}"))
            .env("WK_UID", uid)
            .env("WK_TOKEN", format!("token-{uid}"))
            .env("WK_QUIET", "1")
            .env("WK_LIFETIME_MS", "90000")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node (is Node.js installed?)");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let who = uid.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.is_object() => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    _ => eprintln!("[{who} stderr] {line}"),
                }
            }
        });
        JsClient {
            uid: uid.to_string(),
            stdin: child.stdin.take(),
            child,
            events: rx,
            history: Vec::new(),
        }
    }

    /// Starts the driver and waits until the SDK reports status 1 (CONNACK reason 1).
    fn connect(ws: std::net::SocketAddr, uid: &str) -> JsClient {
        let mut c = JsClient::start(ws, uid);
        c.wait("connected", |e| e["event"] == "connected");
        c
    }

    /// Sends one command line.
    fn cmd(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| {
                panic!(
                    "{}: writing {cmd} failed ({e}); events: {:?}",
                    self.uid, self.history
                )
            });
    }

    /// Waits (at most [`WAIT`]) for the next event satisfying `pred`, skipping others. Fails fast
    /// if the SDK reports a failed connect or a kick.
    fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    self.history.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                    if ev["event"] == "connect_failed" || ev["event"] == "kicked" {
                        panic!(
                            "{}: {ev} while waiting for {what}; events: {:?}",
                            self.uid, self.history
                        );
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no {what} within {WAIT:?}; events: {:?}",
                    self.uid, self.history
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: driver exited ({:?}) while waiting for {what}; events: {:?}",
                    self.uid,
                    self.child.try_wait(),
                    self.history
                ),
            }
        }
    }

    /// Events already delivered but not yet looked at (no waiting).
    fn drain(&mut self) {
        while let Ok(ev) = self.events.try_recv() {
            self.history.push(ev);
        }
    }

    /// Sends `text` to a channel and returns the driver's `sent` event (with `clientSeq`).
    fn send(&mut self, channel_id: &str, channel_type: u8, text: &str) -> Value {
        self.cmd(json!({"cmd": "send", "channelId": channel_id, "channelType": channel_type, "text": text}));
        self.wait("sent", |e| e["event"] == "sent")
    }

    /// Sends and waits for the SENDACK of that message.
    fn send_acked(&mut self, channel_id: &str, channel_type: u8, text: &str) -> Value {
        let sent = self.send(channel_id, channel_type, text);
        let seq = sent["clientSeq"].clone();
        self.wait(&format!("sendack for clientSeq {seq}"), |e| {
            e["event"] == "sendack" && e["clientSeq"] == seq
        })
    }

    /// Waits for a received message with `text`.
    fn recv_text(&mut self, text: &str) -> Value {
        self.wait(&format!("recv {text:?}"), |e| {
            e["event"] == "recv" && e["text"] == text
        })
    }

    /// How many messages with `text` were received so far.
    fn count_recv(&self, text: &str) -> usize {
        self.history
            .iter()
            .filter(|e| e["event"] == "recv" && e["text"] == text)
            .count()
    }
}

impl Drop for JsClient {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "{}", json!({"cmd": "exit"}));
        }
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn person_chat_between_two_sdk_users() {
    if !js_available() {
        return;
    }
    let server = Server::start("encryption: true\n");
    let ws = server.addr("ws");
    let mut alice = JsClient::connect(ws, "alice");
    let mut bob = JsClient::connect(ws, "bob");

    let ack = alice.send_acked("bob", 1, "hello bob");
    assert_eq!(ack["reasonCode"], 1, "alice's SENDACK: {ack}");
    assert_eq!(ack["messageSeq"], 1, "alice's SENDACK: {ack}");

    let got = bob.recv_text("hello bob");
    assert_eq!(got["from"], "alice", "{got}");
    // Person channel ids are rewritten so each side sees the other party's uid.
    assert_eq!(got["channelId"], "alice", "{got}");
    assert_eq!(got["channelType"], 1, "{got}");
    assert_eq!(got["messageSeq"], 1, "{got}");
    assert_eq!(
        got["messageId"], ack["messageId"],
        "RECV and SENDACK message ids differ"
    );

    let ack = bob.send_acked("alice", 1, "hi alice");
    assert_eq!(ack["reasonCode"], 1, "bob's SENDACK: {ack}");
    assert_eq!(ack["messageSeq"], 2, "same person channel, next seq: {ack}");

    let got = alice.recv_text("hi alice");
    assert_eq!(got["from"], "bob", "{got}");
    assert_eq!(got["channelId"], "bob", "{got}");
    assert_eq!(got["channelType"], 1, "{got}");
    assert_eq!(got["messageId"], ack["messageId"], "{got}");

    // The sender's own (single) connection never gets its message back. A fence, not a
    // wait: a marker from alice on the same chat reaches bob after any echo of bob's message
    // would have (same channel owner, same receiver, ordered); alice got bob's message after
    // any echo of hers.
    alice.send_acked("bob", 1, "marker");
    bob.recv_text("marker");
    alice.drain();
    bob.drain();
    assert_eq!(
        alice.count_recv("hello bob"),
        0,
        "alice got her own message: {:?}",
        alice.history
    );
    assert_eq!(
        bob.count_recv("hi alice"),
        0,
        "bob got his own message: {:?}",
        bob.history
    );
    assert_eq!(bob.count_recv("hello bob"), 1, "bob: {:?}", bob.history);
}

#[test]
fn group_chat_between_three_sdk_users() {
    if !js_available() {
        return;
    }
    let server = Server::start("encryption: true\n");
    let resp = post(
        server.addr("http"),
        "/channel",
        r#"{"channel_id":"g1","channel_type":2,"subscribers":["alice","bob","carol"]}"#,
    );
    assert_eq!(
        resp.status,
        200,
        "POST /channel: {}",
        String::from_utf8_lossy(&resp.body)
    );

    let ws = server.addr("ws");
    let mut alice = JsClient::connect(ws, "alice");
    let mut bob = JsClient::connect(ws, "bob");
    let mut carol = JsClient::connect(ws, "carol");

    let ack = alice.send_acked("g1", 2, "hello group");
    assert_eq!(ack["reasonCode"], 1, "alice's SENDACK: {ack}");
    assert_eq!(ack["messageSeq"], 1, "alice's SENDACK: {ack}");
    for member in [&mut bob, &mut carol] {
        let got = member.recv_text("hello group");
        assert_eq!(got["from"], "alice", "{}: {got}", member.uid);
        assert_eq!(got["channelId"], "g1", "{}: {got}", member.uid);
        assert_eq!(got["channelType"], 2, "{}: {got}", member.uid);
        assert_eq!(got["messageId"], ack["messageId"], "{}: {got}", member.uid);
    }

    // A second message delivered in channel order: once it is in, any duplicate of the first
    // would have been seen already.
    let ack2 = alice.send_acked("g1", 2, "marker");
    assert_eq!(ack2["reasonCode"], 1, "{ack2}");
    assert_eq!(ack2["messageSeq"], 2, "{ack2}");
    for member in [&mut bob, &mut carol] {
        member.recv_text("marker");
        member.drain();
        assert_eq!(
            member.count_recv("hello group"),
            1,
            "{}: {:?}",
            member.uid,
            member.history
        );
    }
    alice.drain();
    assert_eq!(
        alice.count_recv("hello group"),
        0,
        "sender echo: {:?}",
        alice.history
    );
}

/// A stream anchor (`/message/send` with `is_stream`, WuKongIM 2.2.4's message events)
/// reaches a JS-1.0.4 user (protocol 2) as a message it can read: the stream bit at its old
/// place with the old stream block, so the SDK decodes the id, seq and content (with the
/// current bit it read the block as the message id and threw).
#[test]
fn a_stream_anchor_reaches_an_sdk_user_intact() {
    if !js_available() {
        return;
    }
    let server = Server::start("encryption: true\n");
    let mut bob = JsClient::connect(server.addr("ws"), "bob");
    let http = server.addr("http");
    use base64::Engine;
    let payload =
        base64::engine::general_purpose::STANDARD.encode(r#"{"type":1,"content":"anchor text"}"#);
    let sent = post(
        http,
        "/message/send",
        &json!({"from_uid": "ai", "channel_id": "bob", "channel_type": 1, "is_stream": 1,
            "payload": payload, "client_msg_no": "anchor-1"})
        .to_string(),
    );
    assert_eq!(
        sent.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&sent.body)
    );
    let id = sent.json()["data"]["message_id"]
        .as_i64()
        .expect("message_id");
    let got = bob.recv_text("anchor text");
    assert_eq!(got["from"], "ai", "{got}");
    assert_eq!(got["messageId"], id.to_string(), "{got}");
    assert_eq!(got["messageSeq"], 1, "{got}");
    assert_eq!(got["clientMsgNo"], "anchor-1", "{got}");
    bob.drain();
    assert!(
        !bob.history.iter().any(|e| e["event"] == "error"),
        "the SDK reported errors: {:?}",
        bob.history
    );
}
