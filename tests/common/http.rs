//! One fake HTTP server for the tests: the webhook receiver and the datasource. It records every
//! request it answers, answers through a handler (200 with an empty body by default), and has
//! switches to fail, hang, refuse or go away. HTTP/1.1 keep-alive, Content-Length bodies.

use serde_json::Value;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as the handler sees it.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path with query, e.g. `/wk?event=msg.notify`.
    pub target: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One request the server answered.
#[derive(Clone, Debug)]
pub struct Hit {
    pub method: String,
    /// Path with query, e.g. `/wk?event=msg.notify`.
    pub target: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// What the server answered.
    pub status: u16,
    /// When it answered.
    pub at: Instant,
}

impl Hit {
    /// The webhook event named in the query (`?event=…`).
    pub fn event(&self) -> &str {
        self.target.split("event=").nth(1).unwrap_or("")
    }

    /// The body as JSON (fails the test if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {:?}",
                self.target,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

type Handler = dyn Fn(&Request) -> (u16, Vec<u8>) + Send + Sync;

/// State shared by the accept loop and the connections.
struct Shared {
    hits: Mutex<Vec<Hit>>,
    /// Statuses to answer the next requests with, in order, instead of the handler's.
    script: Mutex<VecDeque<u16>>,
    /// While non-zero: the status of every answer.
    answer_all: AtomicU16,
    /// Hold every answer while set.
    hang: AtomicBool,
    handler: Box<Handler>,
}

/// A running fake HTTP server on 127.0.0.1.
pub struct FakeReceiver {
    /// Its address (kept across [`FakeReceiver::go_away`] and [`FakeReceiver::come_back`]).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    /// Stops the current accept loop and its connections.
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FakeReceiver {
    /// A receiver that answers 200 with an empty body.
    pub fn start() -> FakeReceiver {
        Self::start_with(|_| (200, Vec::new()))
    }

    /// A server that answers with `handler` (status, body).
    pub fn start_with(
        handler: impl Fn(&Request) -> (u16, Vec<u8>) + Send + Sync + 'static,
    ) -> FakeReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake receiver");
        let shared = Arc::new(Shared {
            hits: Mutex::default(),
            script: Mutex::default(),
            answer_all: AtomicU16::new(0),
            hang: AtomicBool::new(false),
            handler: Box::new(handler),
        });
        let mut r = FakeReceiver {
            addr: listener.local_addr().unwrap(),
            shared,
            stop: Arc::new(AtomicBool::new(false)),
            accept: None,
        };
        r.listen(listener);
        r
    }

    /// A server whose handler answers JSON.
    pub fn start_json(
        handler: impl Fn(&Request) -> (u16, Value) + Send + Sync + 'static,
    ) -> FakeReceiver {
        Self::start_with(move |req| {
            let (status, v) = handler(req);
            (status, v.to_string().into_bytes())
        })
    }

    fn listen(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        self.stop = stop.clone();
        let shared = self.shared.clone();
        listener.set_nonblocking(true).unwrap();
        self.accept = Some(std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (shared, stop) = (shared.clone(), stop.clone());
                        conns.push(std::thread::spawn(move || serve(s, &shared, &stop)));
                    }
                    // Poll interval of the non-blocking accept loop.
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            drop(listener);
            for c in conns {
                let _ = c.join();
            }
        }));
    }

    /// Closes the listener and every connection: connecting is refused until
    /// [`FakeReceiver::come_back`].
    pub fn go_away(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared.hang.store(false, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            t.join().expect("the accept loop");
        }
    }

    /// Listens again on the same address, with the same state.
    pub fn come_back(&mut self) {
        assert!(self.accept.is_none(), "the receiver is still there");
        let listener = TcpListener::bind(self.addr).expect("rebind the receiver's address");
        self.listen(listener);
    }

    /// `http://addr/wk`.
    pub fn url(&self) -> String {
        self.url_of("/wk")
    }

    /// `http://addr` + `path`.
    pub fn url_of(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next `n` requests with `status` (whatever the handler would say).
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut s = self.shared.script.lock().unwrap();
        s.extend(std::iter::repeat_n(status, n));
    }

    /// Answers every request with `status` until called with `None`.
    pub fn answer_all(&self, status: Option<u16>) {
        self.shared
            .answer_all
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// Holds every answer while `on`.
    pub fn hang(&self, on: bool) {
        self.shared.hang.store(on, Ordering::SeqCst);
    }

    /// Every request answered so far, in order.
    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// The requests for webhook `event` that were answered 200.
    pub fn accepted(&self, event: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.event() == event && h.status == 200)
            .collect()
    }

    /// Every message of the accepted `msg.notify` batches, in arrival order.
    pub fn notified(&self) -> Vec<Value> {
        self.accepted("msg.notify")
            .iter()
            .flat_map(|h| h.json().as_array().expect("msg.notify is an array").clone())
            .collect()
    }
}

impl Drop for FakeReceiver {
    fn drop(&mut self) {
        self.go_away();
    }
}

/// Serves one keep-alive connection until it closes or the server stops.
fn serve(mut s: TcpStream, shared: &Shared, stop: &AtomicBool) {
    // A short read timeout, so a stopped server lets go of idle connections.
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = Vec::new();
    let fill = |s: &mut TcpStream, buf: &mut Vec<u8>| -> bool {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(_) if !stop.load(Ordering::SeqCst) => continue,
                Err(_) => return false,
            }
        }
    };
    loop {
        // One request: head, then a Content-Length body.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if !fill(&mut s, &mut buf) {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut first = head.split(' ');
        let method = first.next().unwrap_or("").to_string();
        let target = first.next().unwrap_or("").to_string();
        let header = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let len: usize = header("content-length").parse().unwrap_or(0);
        while buf.len() < head_end + len {
            if !fill(&mut s, &mut buf) {
                return;
            }
        }
        let req = Request {
            method,
            target,
            content_type: header("content-type"),
            body: buf[head_end..head_end + len].to_vec(),
        };
        buf.drain(..head_end + len);
        while shared.hang.load(Ordering::SeqCst) {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            // Poll interval of the hang switch.
            std::thread::sleep(Duration::from_millis(5));
        }
        let scripted = shared.script.lock().unwrap().pop_front();
        let all = shared.answer_all.load(Ordering::SeqCst);
        let (status, body) = match (scripted, all) {
            (Some(st), _) => (st, Vec::new()),
            (None, st) if st != 0 => (st, Vec::new()),
            _ => (shared.handler)(&req),
        };
        shared.hits.lock().unwrap().push(Hit {
            method: req.method,
            target: req.target,
            content_type: req.content_type,
            body: req.body,
            status,
            at: Instant::now(),
        });
        let mut reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(&body);
        if s.write_all(&reply).is_err() {
            return;
        }
    }
}
