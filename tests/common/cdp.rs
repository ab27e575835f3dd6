//! Headless Chromium driven over the Chrome DevTools Protocol (one WebSocket to the browser,
//! flat sessions per page): open pages in separate browser contexts (separate storage, like
//! two people), evaluate JavaScript, poll for a condition with a deadline, take screenshots.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// Where Debian's `chromium` lives.
pub fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// Viewport of every page (and so of its screenshots).
pub const WIDTH: u32 = 1100;
pub const HEIGHT: u32 = 640;

/// A running headless Chromium.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Console lines and uncaught exceptions of every page, for failure messages.
    pub log: Vec<String>,
    _profile: tempfile::TempDir,
}

/// One page (a target with its own browser context).
#[derive(Clone, Debug)]
pub struct Page {
    pub session: String,
    pub name: String,
}

impl Browser {
    /// Starts Chromium and connects to its DevTools endpoint.
    pub fn launch() -> Browser {
        let bin = chromium().expect(
            "chromium is not installed: run `bash scripts/install-test-deps.sh` (Debian's \
             chromium), or set SKIP_BROWSER=1 to skip the browser tests",
        );
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--hide-scrollbars",
                "--font-render-hinting=none",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--window-size={WIDTH},{HEIGHT}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run chromium");
        // Chromium prints its DevTools address on standard error; keep draining it afterwards
        // so the pipe never fills.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium did not print its DevTools address within 60 s");
        let hostport = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let stream = TcpStream::connect(&hostport).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (ws, _) =
            tungstenite::client::client(url.as_str(), stream).expect("DevTools handshake");
        Browser {
            child,
            ws,
            next_id: 0,
            log: Vec::new(),
            _profile: profile,
        }
    }

    /// Sends one command (to a page when `session` is set) and returns its result; fails the
    /// test on a protocol error.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to DevTools");
        loop {
            let frame = self.ws.read().expect("read from DevTools");
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("DevTools {method} failed: {e}");
                }
                return v["result"].clone();
            }
            self.note_event(&v);
        }
    }

    fn note_event(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Runtime.consoleAPICalled") => {
                let args: Vec<String> = p["args"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| match &x["value"] {
                                Value::String(s) => s.clone(),
                                Value::Null => x["description"].as_str().unwrap_or("").into(),
                                other => other.to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.log.push(format!(
                    "console.{}: {}",
                    p["type"].as_str().unwrap_or("?"),
                    args.join(" ")
                ));
            }
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                self.log.push(format!(
                    "exception: {} {}",
                    d["text"].as_str().unwrap_or(""),
                    d["exception"]["description"].as_str().unwrap_or("")
                ));
            }
            _ => {}
        }
    }

    /// The last lines of the pages' consoles, for a failure message.
    pub fn log_tail(&self) -> String {
        let start = self.log.len().saturating_sub(40);
        self.log[start..].join("\n")
    }

    /// Opens `url` in a new page with a browser context of its own.
    pub fn open(&mut self, name: &str, url: &str) -> Page {
        let ctx =
            self.call(None, "Target.createBrowserContext", json!({}))["browserContextId"].clone();
        let target = self.call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank", "browserContextId": ctx, "width": WIDTH, "height": HEIGHT}),
        )["targetId"]
            .clone();
        let session = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
        let page = Page {
            session,
            name: name.into(),
        };
        let s = Some(page.session.as_str());
        self.call(s, "Runtime.enable", json!({}));
        self.call(s, "Page.enable", json!({}));
        self.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": false}),
        );
        self.navigate(&page, url);
        page
    }

    /// Loads `url` in `page`.
    pub fn navigate(&mut self, page: &Page, url: &str) {
        let r = self.call(Some(&page.session), "Page.navigate", json!({"url": url}));
        assert!(
            r.get("errorText").is_none(),
            "{}: cannot load {url}: {r}",
            page.name
        );
    }

    /// Evaluates `expr` in `page` (promises awaited) and returns its value; fails the test on
    /// an exception.
    pub fn eval(&mut self, page: &Page, expr: &str) -> Value {
        let r = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(d) = r.get("exceptionDetails") {
            panic!(
                "{}: `{expr}` threw: {}\n{}",
                page.name,
                d["exception"]["description"]
                    .as_str()
                    .unwrap_or(&d.to_string()),
                self.log_tail()
            );
        }
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is truthy; fails the test, showing `show` (an expression for the
    /// state worth seeing) and the console, after `secs`.
    pub fn wait_for(&mut self, page: &Page, what: &str, expr: &str, show: &str, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        let test =
            format!("(() => {{ try {{ return !!({expr}); }} catch (e) {{ return false; }} }})()");
        loop {
            if self.eval(page, &test) == json!(true) {
                return;
            }
            if Instant::now() > until {
                let seen = self.eval(page, &format!("(() => {{ try {{ return String({show}); }} catch (e) {{ return 'error: ' + e; }} }})()"));
                panic!(
                    "{}: timed out after {secs} s waiting for {what}\nseen: {seen}\nconsole:\n{}",
                    page.name,
                    self.log_tail()
                );
            }
            // Poll interval.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A PNG screenshot of the page's viewport, or of `clip` = (x, y, width, height) in CSS
    /// pixels.
    pub fn screenshot(&mut self, page: &Page, clip: Option<(f64, f64, f64, f64)>) -> Vec<u8> {
        let mut params = json!({"format": "png"});
        if let Some((x, y, w, h)) = clip {
            params["clip"] = json!({"x": x, "y": y, "width": w, "height": h, "scale": 1});
        }
        let r = self.call(Some(&page.session), "Page.captureScreenshot", params);
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64")
    }

    /// The bounding box (x, y, width, height) of the first element matching `selector`.
    pub fn rect(&mut self, page: &Page, selector: &str) -> (f64, f64, f64, f64) {
        let v = self.eval(
            page,
            &format!(
                "(() => {{ const r = document.querySelector({}).getBoundingClientRect(); \
                 return [r.x, r.y, r.width, r.height]; }})()",
                json!(selector)
            ),
        );
        let n = |i: usize| v[i].as_f64().unwrap();
        (n(0), n(1), n(2), n(3))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
