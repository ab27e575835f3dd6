//! The binary as an operator runs it: start on a config, answer /health, refuse bad config,
//! stop on SIGTERM.

mod common;
use common::*;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

#[test]
fn starts_answers_health_and_exits_zero_on_sigterm() {
    let mut server = Server::start("");
    let http = server.addr("http");
    let r = get(http, "/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let preflight = http_raw(
        http,
        b"OPTIONS /message/send HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(preflight.status, 204);
    let status = server
        .terminate(Duration::from_secs(5))
        .expect("SIGTERM stops the server within 5 s");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn pipelined_keep_alive_requests_are_answered_in_order() {
    let server = Server::start("");
    let mut s = std::net::TcpStream::connect(server.addr("http")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // The answers may arrive in one segment: parse them out of one buffer, in order.
    let mut buf = Vec::new();
    let mut statuses = Vec::new();
    let mut chunk = [0u8; 4096];
    while statuses.len() < 3 {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let head = &text[..head_end];
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + len {
                statuses.push(head.split(' ').nth(1).unwrap().parse::<u16>().unwrap());
                buf.drain(..head_end + 4 + len);
                continue;
            }
        }
        let n = std::io::Read::read(&mut s, &mut chunk).expect("read");
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(statuses, vec![200, 404, 200]);
}

#[test]
fn malformed_and_oversized_http_get_4xx_and_the_server_lives() {
    let server = Server::start("limits: {maxHttpBody: 2048}\n");
    let http = server.addr("http");
    let r = http_raw(http, b"BLAH\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["status"], 400);
    let r = http_raw(
        http,
        b"POST /health HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    let mut huge = b"GET /health HTTP/1.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 64 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let r = http_raw(http, &huge);
    assert_eq!(r.status, 431);
    assert_eq!(get(http, "/health").status, 200, "still serving");
}

#[test]
fn bad_config_exits_nonzero_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "httpAddr: 0.0.0.0:5001\nstorage: {segmentSize: -3}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jindou"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("storage.segmentSize") && err.contains("-3"),
        "{err}"
    );
}

#[test]
fn config_subcommand_prints_the_effective_config() {
    let out = Command::new(env!("CARGO_BIN_EXE_jindou"))
        .arg("config")
        .env("WK_HTTPADDR", "127.0.0.1:6001")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("httpAddr: 127.0.0.1:6001"), "{text}");
    assert!(text.contains("syncPolicy: always"), "{text}");
}

#[test]
fn version_and_help_work() {
    let v = Command::new(env!("CARGO_BIN_EXE_jindou"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).contains(env!("CARGO_PKG_VERSION")));
    let h = Command::new(env!("CARGO_BIN_EXE_jindou"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(h.status.success());
    assert!(String::from_utf8_lossy(&h.stdout).contains("--config"));
}
