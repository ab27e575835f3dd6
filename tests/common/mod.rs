//! Test harness: start the real `jindou` binary on 127.0.0.1 with random free ports, learn its
//! addresses from the line it prints, and stop it.
#![allow(dead_code)]

pub mod cdp;
pub mod cluster;
pub mod http;
pub mod pipeline;
pub mod png;
pub mod wait;
pub mod wk;

#[allow(unused_imports)]
pub use http::FakeReceiver;
#[allow(unused_imports)]
pub use wait::{eventually, wait_secs};

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Standard base64 of `bytes` (REST payloads).
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Whether the tests behind `var` are skipped: only when `var=1` is set explicitly, and then it
/// says so on standard error. A test that cannot run otherwise fails.
pub fn skip_requested(var: &str, what: &str) -> bool {
    if std::env::var(var).is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED ({var}=1): {what}");
        return true;
    }
    false
}

/// `tests/js`: the Node drivers of the JS SDK tests.
pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Whether the JS SDK tests run: false (after saying so) when `SKIP_JS=1` skips them; fails
/// the test, naming the install command, when Node or the SDK (`npm ci` in `tests/js`) is
/// missing.
pub fn js_sdk_required(what: &str) -> bool {
    if skip_requested("SKIP_JS", what) {
        return false;
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is not installed: run `bash scripts/install-test-deps.sh`, or set SKIP_JS=1 to \
         skip the JS SDK tests"
    );
    let sdk = js_dir().join("node_modules/wukongimjssdk");
    assert!(
        sdk.is_dir(),
        "{} is missing: run `bash scripts/install-test-deps.sh` (npm ci in tests/js), or set \
         SKIP_JS=1 to skip the JS SDK tests",
        sdk.display()
    );
    true
}

/// A running server process with its data directory.
pub struct Server {
    pub child: Child,
    pub addrs: HashMap<String, SocketAddr>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

/// Config that puts every listener on a random loopback port and data in `dir/data`.
pub fn base_config(dir: &Path) -> String {
    base_config_root(&dir.join("data"))
}

/// Config that puts every listener on a random loopback port and data in `root`. The
/// servers log warnings; `JINDOU_TEST_LOG=2` (info) or `1` (debug) for a failure's story.
pub fn base_config_root(root: &Path) -> String {
    let level = std::env::var("JINDOU_TEST_LOG")
        .ok()
        .and_then(|l| l.parse::<u8>().ok())
        .unwrap_or(3);
    format!(
        "rootDir: {}\naddr: tcp://127.0.0.1:0\nwsAddr: ws://127.0.0.1:0\nhttpAddr: 127.0.0.1:0\n\
         manager: {{addr: 127.0.0.1:0}}\nshards: 2\nlogger: {{level: {level}}}\n",
        root.display()
    )
}

impl Server {
    /// Starts the binary with `extra` YAML appended to the base config.
    pub fn start(extra: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, extra)
    }

    /// Starts the binary with its standard error captured: every line it writes there arrives
    /// on the returned channel (the channel ends when the process does).
    pub fn start_capturing(extra: &str) -> (Server, std::sync::mpsc::Receiver<String>) {
        Self::start_in_capturing(tempfile::tempdir().expect("tempdir"), extra)
    }

    /// [`Server::start_in`] with standard error captured, as [`Server::start_capturing`].
    pub fn start_in_capturing(
        dir: tempfile::TempDir,
        extra: &str,
    ) -> (Server, std::sync::mpsc::Receiver<String>) {
        let root = dir.path().join("data");
        let mut server = Self::spawn(dir, &root, extra, Stdio::piped());
        let stderr = server.child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (server, rx)
    }

    /// Starts the binary on an existing directory (restart after a stop or a kill).
    pub fn start_in(dir: tempfile::TempDir, extra: &str) -> Server {
        let root = dir.path().join("data");
        Self::start_on(dir, &root, extra)
    }

    /// Starts the binary with its config in `dir` and its data in `root` (which may be on
    /// another filesystem, e.g. jindou-powerfs).
    pub fn start_on(dir: tempfile::TempDir, root: &Path, extra: &str) -> Server {
        Self::spawn(dir, root, extra, Stdio::inherit())
    }

    fn spawn(dir: tempfile::TempDir, root: &Path, extra: &str, stderr: Stdio) -> Server {
        let config_path = dir.path().join("jindou.yaml");
        let mut f = std::fs::File::create(&config_path).expect("config file");
        // A top-level key in `extra` replaces the base config's line for it.
        let overridden = |line: &str| {
            let key = line.split(':').next().unwrap_or("");
            extra.lines().any(|l| l.starts_with(&format!("{key}:")))
        };
        let base: String = base_config_root(root)
            .lines()
            .filter(|l| !overridden(l))
            .map(|l| format!("{l}\n"))
            .collect();
        write!(f, "{base}{extra}").unwrap();
        drop(f);
        let mut child = Command::new(env!("CARGO_BIN_EXE_jindou"))
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn jindou");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        assert!(
            line.contains("listening"),
            "unexpected first line: {line:?}"
        );
        let addrs = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect();
        Server {
            child,
            addrs,
            dir,
            config_path,
        }
    }

    /// The address of listener `name` (`http`, `tcp`, `ws`, `manager`).
    pub fn addr(&self, name: &str) -> SocketAddr {
        *self
            .addrs
            .get(name)
            .unwrap_or_else(|| panic!("no {name} address"))
    }

    /// Sends SIGTERM and waits for the exit status (at most `deadline`).
    pub fn terminate(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the process with SIGKILL and hands back its data directory.
    pub fn kill9(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw bytes as one request and reads one response (Content-Length framed).
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    read_response(&mut s)
}

/// Reads one response from a stream.
pub fn read_response(s: &mut TcpStream) -> HttpResponse {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).expect("read response");
        assert!(
            n > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).expect("read body");
        assert!(n > 0, "connection closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    HttpResponse {
        status,
        headers,
        body: buf[head_end..head_end + len].to_vec(),
    }
}

/// GET `path`.
pub fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// POST a JSON body to `path`, with extra header lines.
pub fn post_with(addr: SocketAddr, path: &str, body: &str, headers: &str) -> HttpResponse {
    http_raw(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// POST a JSON body to `path`.
pub fn post(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    post_with(addr, path, body, "")
}
