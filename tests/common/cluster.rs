//! Test harness for clusters: N `jindou` processes on 127.0.0.1, each with its own data
//! directory and random client ports, linked through a block of free cluster ports, and
//! HTTP helpers that do not panic when a node is down.
#![allow(dead_code)]

use super::{HttpResponse, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How long a cluster may take to elect every slot's leader.
pub const FORM: Duration = Duration::from_secs(60);

/// A block of `n` consecutive free ports (checked by binding them).
pub fn free_ports(n: usize) -> u16 {
    for _ in 0..1000 {
        let base: u16 = 20_000 + (rand::random::<u16>() % 30_000);
        let held: Vec<_> = (0..n)
            .map_while(|k| TcpListener::bind(("127.0.0.1", base + k as u16)).ok())
            .collect();
        if held.len() == n {
            return base;
        }
    }
    panic!("no block of {n} free ports");
}

/// One member's place in the cluster.
pub struct Member {
    /// Node id.
    pub id: u64,
    /// Its running process (None while killed).
    pub server: Option<Server>,
    /// Its data directory while killed.
    pub dir: Option<tempfile::TempDir>,
    /// Its config (cluster part and extras).
    pub yaml: String,
    /// Its cluster port (shard k listens on port + k).
    pub port: u16,
}

/// The `cluster.secret` of the test clusters.
pub const SECRET: &str = "test-cluster-secret";

/// A running cluster.
pub struct Cluster {
    /// The members, by id order.
    pub members: Vec<Member>,
    /// Shards per node.
    pub shards: usize,
    /// Slots.
    pub slots: u16,
    /// The extra YAML every node gets.
    pub extra: String,
}

impl Cluster {
    /// Starts `n` nodes (ids 1001…) with `shards` shards each, `slots` slots, and `extra`
    /// YAML (top-level keys other than `cluster`) in every node's config.
    pub fn start(n: usize, shards: usize, slots: u16, extra: &str) -> Cluster {
        Cluster::start_timed(n, shards, slots, extra, "4s")
    }

    /// [`Cluster::start`] with `cluster.reqTimeout` set to `req_timeout`.
    pub fn start_timed(
        n: usize,
        shards: usize,
        slots: u16,
        extra: &str,
        req_timeout: &str,
    ) -> Cluster {
        let base = free_ports(n * shards.max(1) + n);
        let port = |i: usize| base + (i * shards) as u16;
        let nodes: Vec<String> = (0..n)
            .map(|i| format!("\"{}@127.0.0.1:{}\"", 1001 + i, port(i)))
            .collect();
        let members = (0..n)
            .map(|i| {
                let yaml = format!(
                    "shards: {shards}\nencryption: false\n{extra}cluster:\n  nodeId: {}\n  \
                     addr: tcp://127.0.0.1:{}\n  initNodes: [{}]\n  tickInterval: 100ms\n  \
                     electionIntervalTick: 6\n  reqTimeout: {req_timeout}\n  pongMaxTick: 10\n  \
                     faultInjection: true\n  slotCount: {slots}\n  secret: {SECRET}\n",
                    1001 + i,
                    port(i),
                    nodes.join(", ")
                );
                Member {
                    id: 1001 + i as u64,
                    server: Some(Server::start(&yaml)),
                    dir: None,
                    yaml,
                    port: port(i),
                }
            })
            .collect();
        Cluster {
            members,
            shards,
            slots,
            extra: extra.to_string(),
        }
    }

    /// Starts node `id` with no `initNodes`, joining through member `seed` (`cluster.seed`).
    pub fn join(&mut self, id: u64, seed: u64) {
        let shards = self.shards;
        let port = free_ports(shards.max(1));
        let seed_port = self.member(seed).port;
        let yaml = format!(
            "shards: {shards}\nencryption: false\n{}cluster:\n  nodeId: {id}\n  \
             addr: tcp://127.0.0.1:{port}\n  seed: \"{seed}@127.0.0.1:{seed_port}\"\n  \
             tickInterval: 100ms\n  electionIntervalTick: 6\n  reqTimeout: 4s\n  \
             pongMaxTick: 10\n  faultInjection: true\n  slotCount: {}\n  secret: {SECRET}\n",
            self.extra, self.slots
        );
        self.members.push(Member {
            id,
            server: Some(Server::start(&yaml)),
            dir: None,
            yaml,
            port,
        });
        self.members.sort_by_key(|m| m.id);
    }

    /// Starts node `id` asking member `seed` to admit it with `cluster.secret` `secret`,
    /// its standard error captured (it is not added to the members).
    pub fn join_capturing(
        &self,
        id: u64,
        seed: u64,
        secret: &str,
    ) -> (Server, std::sync::mpsc::Receiver<String>) {
        let port = free_ports(self.shards.max(1));
        let seed_port = self
            .members
            .iter()
            .find(|m| m.id == seed)
            .expect("the seed")
            .port;
        let yaml = format!(
            "shards: {}\nencryption: false\n{}cluster:\n  nodeId: {id}\n  \
             addr: tcp://127.0.0.1:{port}\n  seed: \"{seed}@127.0.0.1:{seed_port}\"\n  \
             slotCount: {}\n  secret: {secret}\n",
            self.shards, self.extra, self.slots
        );
        Server::start_capturing(&yaml)
    }

    /// The member with id `id`.
    pub fn member(&mut self, id: u64) -> &mut Member {
        self.members
            .iter_mut()
            .find(|m| m.id == id)
            .expect("a member")
    }

    /// Listener `name` of node `id` (it must be running).
    pub fn addr(&self, id: u64, name: &str) -> SocketAddr {
        self.members
            .iter()
            .find(|m| m.id == id)
            .and_then(|m| m.server.as_ref())
            .map(|s| s.addr(name))
            .expect("a running member")
    }

    /// Ids of the running members.
    pub fn running(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|m| m.server.is_some())
            .map(|m| m.id)
            .collect()
    }

    /// Kills node `id` with SIGKILL (its data stays).
    pub fn kill(&mut self, id: u64) {
        let m = self.member(id);
        let server = m.server.take().expect("running");
        m.dir = Some(server.kill9());
    }

    /// Restarts a killed node on its data directory.
    pub fn restart(&mut self, id: u64) {
        let m = self.member(id);
        let dir = m.dir.take().expect("killed");
        m.server = Some(Server::start_in(dir, &m.yaml));
    }

    /// Restarts a killed node on its data directory, its standard error captured.
    pub fn restart_capturing(&mut self, id: u64) -> std::sync::mpsc::Receiver<String> {
        let m = self.member(id);
        let dir = m.dir.take().expect("killed");
        let (server, lines) = Server::start_in_capturing(dir, &m.yaml);
        m.server = Some(server);
        lines
    }

    /// Waits until every running node answers `/health` 200 (every slot has a leader).
    pub fn wait_formed(&self) {
        let deadline = Instant::now() + FORM;
        for id in self.running() {
            let http = self.addr(id, "http");
            loop {
                if try_get(http, "/health").is_some_and(|r| r.status == 200) {
                    break;
                }
                if Instant::now() >= deadline {
                    // Name the slots it knows no leader of.
                    let leaderless: Vec<String> = try_get(http, "/cluster/slots")
                        .and_then(|r| {
                            let v = r.json();
                            let slots = v.as_array()?.clone();
                            Some(
                                slots
                                    .iter()
                                    .filter(|s| s["leader_id"].as_u64().unwrap_or(0) == 0)
                                    .map(|s| s.to_string())
                                    .collect(),
                            )
                        })
                        .unwrap_or_default();
                    panic!("node {id} never became healthy; slots with no leader: {leaderless:?}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The node leading the slot of `key`, as node `asker` reports it (0 if unknown).
    pub fn leader_of(&self, asker: u64, slot: u16) -> u64 {
        try_get(
            self.addr(asker, "http"),
            &format!("/cluster/slots?ids={slot}"),
        )
        .filter(|r| r.status == 200)
        .and_then(|r| r.json()[0]["leader_id"].as_u64())
        .unwrap_or(0)
    }
}

/// The slot of a key in a cluster of `slots` slots (crc32 IEEE mod slots).
pub fn slot_of(key: &str, slots: u16) -> u16 {
    (crc32fast::hash(key.as_bytes()) % slots as u32) as u16
}

/// One HTTP exchange that gives up (None) instead of panicking when the node is down.
pub fn try_http(addr: SocketAddr, request: &[u8], timeout: Duration) -> Option<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(request).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(HttpResponse {
        status,
        headers,
        body: buf[head_end..].to_vec(),
    })
}

/// POST a JSON body marked as relayed by another node: the node answers from its own
/// replica (no relay to the slot's leader), so a test sees what that node holds.
pub fn try_post_local(addr: SocketAddr, path: &str, body: &str) -> Option<HttpResponse> {
    try_http(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nx-jindou-relayed: 0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
        Duration::from_secs(15),
    )
}

/// GET without panicking.
pub fn try_get(addr: SocketAddr, path: &str) -> Option<HttpResponse> {
    try_http(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        Duration::from_secs(10),
    )
}

/// POST a JSON body without panicking.
pub fn try_post(addr: SocketAddr, path: &str, body: &str) -> Option<HttpResponse> {
    try_http(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
        Duration::from_secs(15),
    )
}
