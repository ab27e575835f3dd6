//! A keep-alive HTTP/1.1 client that pipelines requests (many changes or messages quickly).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A keep-alive connection; answers are read in request order.
pub struct Pipeline {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Pipeline {
    pub fn connect(addr: SocketAddr) -> Pipeline {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.set_nodelay(true).unwrap();
        Pipeline { s, buf: Vec::new() }
    }

    /// Writes every `(path, JSON body)` POST at once, then reads one answer per request.
    pub fn run(&mut self, reqs: &[(&str, String)]) -> Vec<Answer> {
        let mut out = Vec::new();
        for (path, body) in reqs {
            out.extend_from_slice(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
        self.s.write_all(&out).unwrap();
        (0..reqs.len()).map(|_| self.answer()).collect()
    }

    /// Like [`Pipeline::run`], asserting every answer is `{"status":200}`.
    pub fn run_ok(&mut self, reqs: &[(&str, String)]) {
        for (a, (path, body)) in self.run(reqs).iter().zip(reqs) {
            assert_eq!(
                a.body,
                br#"{"status":200}"#,
                "{path} {body}: {} {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            );
        }
    }

    fn answer(&mut self) -> Answer {
        let mut chunk = [0u8; 65536];
        loop {
            if let Some(head_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..head_end]).to_lowercase();
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("status line");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if self.buf.len() >= head_end + 4 + len {
                    let body = self.buf[head_end + 4..head_end + 4 + len].to_vec();
                    self.buf.drain(..head_end + 4 + len);
                    return Answer { status, body };
                }
            }
            let n = self.s.read(&mut chunk).expect("read");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
