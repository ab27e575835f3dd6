//! Links between nodes: shard `k` of a node talks to shard `k` of every other node over one
//! TCP connection (slots map to the same shard on every node, so a group's replicas are
//! always on the same shard index and no RPC crosses threads). The node with the lower id
//! dials; shard `k` listens on `cluster.addr`'s port + `k`.
//!
//! A connection opens with a hello both ways (node id, shard, shard count, the slot layout,
//! the API URL, a random nonce); a mismatch is refused with a log line. With
//! `cluster.secret`, each side then answers the other's nonce with an HMAC proof
//! (`auth`), and a link whose peer cannot prove the key is refused. A node joining the cluster sends a
//! hello marked as a join request to a member's shard 0, which proposes it as a member. Then
//! frames, each
//! `[u32 length][u8 kind][...]`:
//!
//! - raft requests and their responses (`[u8 rpc][u16 group][u64 correlation][payload]`),
//!   for every group of the shard, in both directions;
//! - application frames (`[u16 shard][payload]`): the node's own messages (forwarded sends,
//!   deliveries, acknowledgements), handed to the [`Host`];
//! - leader hints (`[u16 count]([u16 slot][u64 leader])*`), so a node learns the leaders of
//!   slots it does not replicate;
//! - configuration commands forwarded to the configuration group's leader (shard 0).
//!
//! Frames queue in the link's output buffer and one writer task sends everything queued in
//! one write. The buffer is bounded ([`MAX_OUT`]): past it, application frames are dropped
//! (counted) and raft calls fail as unreachable, which openraft retries with backoff.

use super::codec::*;
use super::ports::Host;
use super::topology::{Member, NodeId, Topology};
use super::types::*;
use bytes::{BufMut, Bytes};
use local_sync::oneshot;
use monoio::io::{AsyncReadRent, AsyncReadRentExt, AsyncWriteRentExt, Splitable};
use monoio::net::{TcpListener, TcpStream};
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{RaftNetworkFactory, RaftNetworkV2};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

const RPC_APPEND: u8 = 1;
const RPC_VOTE: u8 = 2;
const RPC_PREVOTE: u8 = 3;
const RPC_SNAPSHOT: u8 = 4;
const RPC_TRANSFER: u8 = 5;

const K_HELLO: u8 = 0;
const K_REQ: u8 = 1;
const K_RESP: u8 = 2;
const K_ERR: u8 = 3;
const K_APP: u8 = 4;
const K_LEADERS: u8 = 5;
const K_CONFIG: u8 = 6;
const K_AUTH: u8 = 7;

/// Hello flag: the sender asks to join the cluster.
const HELLO_JOIN: u8 = 1;
/// Hello flag: the sender has a `cluster.secret` and will prove it.
const HELLO_AUTH: u8 = 2;

/// Largest frame a peer may send (a bigger length closes the link).
pub const MAX_FRAME: usize = 64 << 20;
/// Bytes queued for one link before application frames are dropped.
pub const MAX_OUT: usize = 64 << 20;
/// Pause between two attempts to dial a peer.
const REDIAL: Duration = Duration::from_millis(200);
/// How long dialing (and the hello) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

type Reply = Result<Bytes, String>;

struct LinkState {
    out: Vec<u8>,
    writer: Option<Waker>,
    epoch: u64,
    connected: bool,
    pending: HashMap<u64, oneshot::Sender<Reply>>,
    next_corr: u64,
    api_url: String,
}

/// The connection to one peer's shard of the same index.
pub struct Link {
    /// The peer.
    pub peer: NodeId,
    st: RefCell<LinkState>,
}

/// Shard 0's answer to a join request: proposes the joiner, returns the member list.
pub(crate) type JoinHandler = Box<dyn Fn(Member) -> Vec<Member>>;
/// Shard 0's handler of a configuration command forwarded by another member.
pub(crate) type ConfigHandler = Box<dyn Fn(Bytes)>;

/// Counters of a shard's links.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetStats {
    /// Frames sent.
    pub frames_out: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Writes to sockets.
    pub writes: u64,
    /// Application frames dropped (link down or its buffer full).
    pub app_dropped: u64,
}

/// One shard's links to the other nodes.
pub struct Net {
    me: NodeId,
    shard: usize,
    shards: usize,
    layout: u64,
    api_url: String,
    /// Where this node listens (announced in a join request).
    me_addr: (String, u16),
    links: RefCell<HashMap<NodeId, Rc<Link>>>,
    /// Shard 0: what to do with a join request (propose the joiner as a member); answers
    /// the member list, so the joiner can link to the members.
    pub(crate) on_join: RefCell<Option<JoinHandler>>,
    /// Shard 0: what to do with a configuration command forwarded by another member.
    pub(crate) on_config: RefCell<Option<ConfigHandler>>,
    stop: Rc<crate::runtime::LocalStop>,
    /// The groups hosted here, by slot.
    pub(crate) groups: RefCell<HashMap<GroupId, Raft>>,
    host: Rc<dyn Host>,
    /// Leaders other nodes told us about (slots this node may not replicate).
    pub(crate) hints: RefCell<HashMap<GroupId, NodeId>>,
    stats: Cell<NetStats>,
    /// Fault injection (tests): cut off from every peer.
    isolated: Cell<bool>,
    /// `cluster.secret`.
    secret: super::auth::Secret,
}

/// A peer's hello.
struct Hello {
    peer: NodeId,
    api: String,
    /// A join request's member.
    join: Option<Member>,
    /// What this node's proof answers.
    nonce: [u8; super::auth::NONCE_LEN],
}

fn frame(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) -> usize {
    let start = out.len();
    out.put_u32_le(0);
    out.put_u8(kind);
    body(out);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out.len() - start
}

enum CallErr {
    Unreachable(String),
    Timeout,
    Remote(String),
}

impl Link {
    fn wake(st: &mut LinkState) {
        if let Some(w) = st.writer.take() {
            w.wake();
        }
    }

    fn install(&self, api_url: String) -> u64 {
        let mut st = self.st.borrow_mut();
        st.epoch += 1;
        st.connected = true;
        st.out.clear();
        st.pending.clear();
        st.api_url = api_url;
        Link::wake(&mut st);
        st.epoch
    }

    /// Marks the connection of `epoch` gone; true if it was the current one.
    fn disconnect(&self, epoch: u64) -> bool {
        let mut st = self.st.borrow_mut();
        if st.epoch == epoch && st.connected {
            st.connected = false;
            st.out.clear();
            st.pending.clear();
            Link::wake(&mut st);
            return true;
        }
        false
    }

    /// Whether the link is up.
    pub fn is_up(&self) -> bool {
        self.st.borrow().connected
    }
}

impl Net {
    /// Shard `shard`'s links of `topo`, with `api_url` announced to peers; links to members
    /// with higher ids are dialed until `stop`.
    pub fn new(
        topo: &Topology,
        shard: usize,
        shards: usize,
        api_url: String,
        host: Rc<dyn Host>,
        stop: Rc<crate::runtime::LocalStop>,
    ) -> Rc<Net> {
        let me_addr = topo
            .member(topo.me)
            .map(|m| (m.host.clone(), m.port))
            .unwrap_or_default();
        let net = Rc::new(Net {
            me: topo.me,
            shard,
            shards,
            layout: topo.layout(),
            api_url,
            me_addr,
            links: RefCell::new(HashMap::new()),
            on_join: RefCell::new(None),
            on_config: RefCell::new(None),
            stop,
            groups: RefCell::new(HashMap::new()),
            host,
            hints: RefCell::new(HashMap::new()),
            stats: Cell::new(NetStats::default()),
            isolated: Cell::new(false),
            secret: topo.secret.clone(),
        });
        for m in topo.peers() {
            net.add_peer(m);
        }
        net
    }

    /// Links to member `m` (dialing it when its id is higher); nothing if linked already.
    pub fn add_peer(self: &Rc<Self>, m: &Member) {
        if m.id == self.me || self.links.borrow().contains_key(&m.id) {
            return;
        }
        self.links.borrow_mut().insert(
            m.id,
            Rc::new(Link {
                peer: m.id,
                st: RefCell::new(LinkState {
                    out: Vec::new(),
                    writer: None,
                    epoch: 0,
                    connected: false,
                    pending: HashMap::new(),
                    next_corr: 1,
                    api_url: String::new(),
                }),
            }),
        );
        if m.id > self.me {
            monoio::spawn(
                self.clone()
                    .dial(m.id, m.shard_addr(self.shard), self.stop.clone()),
            );
        }
    }

    fn link(&self, node: NodeId) -> Option<Rc<Link>> {
        self.links.borrow().get(&node).cloned()
    }

    /// Asks the member at `seed` (shard 0) to propose this node as a member; the seed's
    /// member list once it answered (the proposal's fate shows in the configuration this
    /// node later learns).
    pub async fn request_join(&self, seed: &str) -> Option<Vec<Member>> {
        let attempt = async {
            let mut s = TcpStream::connect(seed).await.map_err(|e| e.to_string())?;
            let (hello, nonce) = self.hello_with(HELLO_JOIN);
            let (res, _) = s.write_all(hello).await;
            res.map_err(|e| e.to_string())?;
            let h = self.read_hello(&mut s, true).await?;
            self.authenticate(&mut s, &nonce, &h).await?;
            let (res, head) = s.read_exact(vec![0u8; 5]).await;
            res.map_err(|e| e.to_string())?;
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if head[4] != K_CONFIG || !(1..=1 << 20).contains(&len) {
                return Err("the seed answered no member list".to_string());
            }
            let (res, body) = s.read_exact(vec![0u8; len - 1]).await;
            res.map_err(|e| e.to_string())?;
            super::host::decode_members(&body).map_err(|e| e.to_string())
        };
        match monoio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(members)) => Some(members),
            Ok(Err(e)) => {
                tracing::warn!(seed, error = %e, "join request not taken yet");
                None
            }
            Err(_) => None,
        }
    }

    /// Sends a configuration command to `node`'s shard 0 (the configuration leader).
    pub fn send_config(&self, node: NodeId, cmd: &[u8]) -> bool {
        let Some(link) = self.link(node) else {
            return false;
        };
        let mut st = link.st.borrow_mut();
        if !st.connected {
            return false;
        }
        frame(&mut st.out, K_CONFIG, |b| b.extend_from_slice(cmd));
        Link::wake(&mut st);
        true
    }

    /// Fault injection for tests (`cluster.faultInjection`): cuts this shard off from every
    /// peer (links closed, dialing and accepting refused, frames ignored), or reconnects it.
    pub fn isolate(&self, on: bool) {
        self.isolated.set(on);
        if on {
            let links: Vec<Rc<Link>> = self.links.borrow().values().cloned().collect();
            for link in links {
                let epoch = link.st.borrow().epoch;
                if link.disconnect(epoch) {
                    self.host.peer(link.peer, false);
                }
            }
        }
    }

    /// Whether [`Net::isolate`] cut this shard off.
    pub fn is_isolated(&self) -> bool {
        self.isolated.get()
    }

    fn stat(&self, f: impl FnOnce(&mut NetStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Counters now.
    pub fn stats(&self) -> NetStats {
        self.stats.get()
    }

    /// Whether the link to `node` is up.
    pub fn is_up(&self, node: NodeId) -> bool {
        self.link(node).is_some_and(|l| l.is_up())
    }

    /// This node's API URL (as announced to peers).
    pub fn own_api_url(&self) -> &str {
        &self.api_url
    }

    /// The API URL `node` announced (empty until its link came up once).
    pub fn api_url(&self, node: NodeId) -> String {
        self.link(node)
            .map(|l| l.st.borrow().api_url.clone())
            .unwrap_or_default()
    }

    /// Queues an application frame for shard `dst_shard` of `node`, its payload written by
    /// `payload` straight into the link's output buffer (false from it: nothing to send);
    /// false if it could not be queued (link down, or its buffer full).
    pub fn send_app(
        &self,
        node: NodeId,
        dst_shard: u16,
        payload: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> bool {
        let Some(link) = self.link(node) else {
            return false;
        };
        let mut st = link.st.borrow_mut();
        if !st.connected || st.out.len() > MAX_OUT {
            drop(st);
            self.stat(|s| s.app_dropped += 1);
            return false;
        }
        let start = st.out.len();
        let mut written = true;
        let n = frame(&mut st.out, K_APP, |b| {
            b.put_u16_le(dst_shard);
            written = payload(b);
        });
        if !written {
            st.out.truncate(start);
            return false;
        }
        Link::wake(&mut st);
        drop(st);
        self.stat(|s| {
            s.frames_out += 1;
            s.bytes_out += n as u64;
        });
        true
    }

    /// Tells every peer which of `slots` this node leads.
    pub fn send_leader_hints(&self, led: &[GroupId]) {
        let links: Vec<Rc<Link>> = self.links.borrow().values().cloned().collect();
        for link in links {
            let mut st = link.st.borrow_mut();
            if !st.connected || st.out.len() > MAX_OUT {
                continue;
            }
            frame(&mut st.out, K_LEADERS, |b| {
                b.put_u16_le(led.len() as u16);
                for s in led {
                    b.put_u16_le(*s);
                    b.put_u64_le(self.me);
                }
            });
            Link::wake(&mut st);
        }
    }

    async fn call(
        &self,
        link: &Link,
        g: GroupId,
        rpc: u8,
        ttl: Duration,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Bytes, CallErr> {
        let (rx, corr) = {
            let mut st = link.st.borrow_mut();
            if !st.connected {
                return Err(CallErr::Unreachable(format!(
                    "no link to node {}",
                    link.peer
                )));
            }
            if st.out.len() > MAX_OUT {
                return Err(CallErr::Unreachable(format!(
                    "link to node {} is congested",
                    link.peer
                )));
            }
            let corr = st.next_corr;
            st.next_corr += 1;
            let (tx, rx) = oneshot::channel();
            st.pending.insert(corr, tx);
            let n = frame(&mut st.out, K_REQ, |b| {
                b.put_u8(rpc);
                b.put_u16_le(g);
                b.put_u64_le(corr);
                body(b);
            });
            Link::wake(&mut st);
            self.stat(|s| {
                s.frames_out += 1;
                s.bytes_out += n as u64;
            });
            (rx, corr)
        };
        match monoio::time::timeout(ttl, rx).await {
            Ok(Ok(Ok(b))) => Ok(b),
            Ok(Ok(Err(e))) => Err(CallErr::Remote(e)),
            Ok(Err(_)) => Err(CallErr::Unreachable("link lost".into())),
            Err(_) => {
                link.st.borrow_mut().pending.remove(&corr);
                Err(CallErr::Timeout)
            }
        }
    }

    /// Answers request `(rpc, group, correlation)` of the connection `epoch` of `link`.
    fn respond(
        &self,
        link: &Link,
        epoch: u64,
        kind: u8,
        (rpc, g, corr): (u8, GroupId, u64),
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        let mut st = link.st.borrow_mut();
        if st.epoch != epoch || !st.connected {
            return;
        }
        let n = frame(&mut st.out, kind, |b| {
            b.put_u8(rpc);
            b.put_u16_le(g);
            b.put_u64_le(corr);
            body(b);
        });
        Link::wake(&mut st);
        drop(st);
        self.stat(|s| {
            s.frames_out += 1;
            s.bytes_out += n as u64;
        });
    }

    /// This node's hello, and the nonce in it (the peer's proof must answer it).
    fn hello(&self) -> (Vec<u8>, [u8; super::auth::NONCE_LEN]) {
        self.hello_with(0)
    }

    fn hello_with(&self, flags: u8) -> (Vec<u8>, [u8; super::auth::NONCE_LEN]) {
        let nonce = super::auth::nonce();
        let flags = flags | if self.secret.is_set() { HELLO_AUTH } else { 0 };
        let mut out = Vec::new();
        frame(&mut out, K_HELLO, |b| {
            b.put_u64_le(self.me);
            b.put_u16_le(self.shard as u16);
            b.put_u16_le(self.shards as u16);
            b.put_u64_le(self.layout);
            b.put_u8(flags);
            for s in [self.api_url.as_str(), self.me_addr.0.as_str()] {
                b.put_u32_le(s.len() as u32);
                b.extend_from_slice(s.as_bytes());
            }
            b.put_u16_le(self.me_addr.1);
            b.extend_from_slice(&nonce);
        });
        (out, nonce)
    }

    /// With `cluster.secret`: proves the key to the peer of `hello` (answering its nonce) and
    /// checks its proof of `nonce`, the one this node's hello carried.
    async fn authenticate(
        &self,
        s: &mut TcpStream,
        nonce: &[u8; super::auth::NONCE_LEN],
        hello: &Hello,
    ) -> Result<(), String> {
        use super::auth::PROOF_LEN;
        if !self.secret.is_set() {
            return Ok(());
        }
        let mut out = Vec::with_capacity(5 + PROOF_LEN);
        let proof = self.secret.prove(&hello.nonce, self.me);
        frame(&mut out, K_AUTH, |b| b.extend_from_slice(&proof));
        let (res, _) = s.write_all(out).await;
        res.map_err(|e| e.to_string())?;
        let (res, answer) = s.read_exact(vec![0u8; 5 + PROOF_LEN]).await;
        res.map_err(|e| e.to_string())?;
        let len = u32::from_le_bytes([answer[0], answer[1], answer[2], answer[3]]) as usize;
        if answer[4] != K_AUTH
            || len != 1 + PROOF_LEN
            || !self.secret.check(nonce, hello.peer, &answer[5..])
        {
            return Err(format!(
                "node {} did not prove cluster.secret (another key?)",
                hello.peer
            ));
        }
        Ok(())
    }

    /// Reads and checks a peer's hello: (peer, its API URL, a join request's member).
    /// `from_seed`: the answer of the member this node asked to join through (not a member
    /// this node knows yet).
    async fn read_hello(&self, s: &mut TcpStream, from_seed: bool) -> Result<Hello, String> {
        use super::auth::NONCE_LEN;
        let (res, head) = s.read_exact(vec![0u8; 5]).await;
        res.map_err(|e| e.to_string())?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let least = 1 + 8 + 2 + 2 + 8 + 1 + 4 + 4 + 2 + NONCE_LEN;
        if head[4] != K_HELLO || !(least..=1 << 16).contains(&len) {
            return Err("not a Jindou cluster hello".into());
        }
        let (res, body) = s.read_exact(vec![0u8; len - 1]).await;
        res.map_err(|e| e.to_string())?;
        let mut r = Rd(&body);
        let e = |e: std::io::Error| e.to_string();
        let peer = r.u64().map_err(e)?;
        let shard = r.u16().map_err(e)? as usize;
        let shards = r.u16().map_err(e)? as usize;
        let layout = r.u64().map_err(e)?;
        let flags = r.u8().map_err(e)?;
        let api = r.bytes().map_err(e)?;
        let host = r.bytes().map_err(e)?;
        let port = r.u16().map_err(e)?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(r.take(NONCE_LEN).map_err(e)?);
        if (flags & HELLO_AUTH != 0) != self.secret.is_set() {
            return Err(format!(
                "node {peer} and this node disagree on cluster.secret (set on one side only)"
            ));
        }
        let join = (flags & HELLO_JOIN != 0).then(|| Member {
            id: peer,
            host: String::from_utf8_lossy(&host).into_owned(),
            port,
        });
        if peer == self.me {
            return Err(format!(
                "node {peer} has this node's own id: node ids must be unique"
            ));
        }
        if join.is_none() && !from_seed && !self.links.borrow().contains_key(&peer) {
            return Err(format!("node {peer} is not a member"));
        }
        if layout != self.layout {
            return Err(format!(
                "node {peer} has another slot layout (slotCount or slotReplicaCount differ)"
            ));
        }
        if shards != self.shards || shard != self.shard {
            return Err(format!(
                "node {peer} runs {shards} shards (this shard {}, of {}): every node must \
                 run the same number of shards",
                self.shard, self.shards
            ));
        }
        Ok(Hello {
            peer,
            api: String::from_utf8_lossy(&api).into_owned(),
            join,
            nonce,
        })
    }

    /// Accepts the links of peers with lower ids until the shard stops.
    pub async fn serve(self: Rc<Self>, listener: TcpListener, stop: Rc<crate::runtime::LocalStop>) {
        loop {
            let accepted = monoio::select! {
                r = listener.accept() => r,
                _ = stop.wait() => return,
            };
            let Ok((mut s, addr)) = accepted else {
                monoio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            if self.isolated.get() {
                continue;
            }
            let net = self.clone();
            monoio::spawn(async move {
                let handshake = async {
                    let h = net.read_hello(&mut s, false).await?;
                    let (hello, nonce) = net.hello();
                    let (res, _) = s.write_all(hello).await;
                    res.map_err(|e| e.to_string())?;
                    net.authenticate(&mut s, &nonce, &h).await?;
                    Ok::<_, String>(h)
                };
                let h = match monoio::time::timeout(CONNECT_TIMEOUT, handshake).await {
                    Ok(Ok(h)) => h,
                    Ok(Err(e)) => {
                        tracing::error!(from = %addr, error = %e, "cluster link refused");
                        return;
                    }
                    Err(_) => return,
                };
                if let Some(member) = h.join {
                    // A node asking to join (shard 0 handles joins): propose it, and answer
                    // with the members it should link to.
                    let members = match net.on_join.borrow().as_ref() {
                        Some(f) => f(member),
                        None => return,
                    };
                    let mut out = Vec::new();
                    let list = super::host::members_cmd(&members);
                    frame(&mut out, K_CONFIG, |b| b.extend_from_slice(&list));
                    let _ = s.write_all(out).await;
                    return;
                }
                if h.peer > net.me {
                    tracing::warn!(
                        peer = h.peer,
                        "cluster link from a higher id refused (it is dialed)"
                    );
                    return;
                }
                net.run_link(h.peer, h.api, s).await;
            });
        }
    }

    /// Keeps the link to `peer` (a higher id) up, dialing `addr`, until the shard stops.
    pub async fn dial(
        self: Rc<Self>,
        peer: NodeId,
        addr: String,
        stop: Rc<crate::runtime::LocalStop>,
    ) {
        while !stop.is_stopped() {
            if self.isolated.get() {
                monoio::select! {
                    _ = monoio::time::sleep(REDIAL) => {},
                    _ = stop.wait() => return,
                }
                continue;
            }
            let attempt = async {
                let mut s = TcpStream::connect(addr.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let (hello, nonce) = self.hello();
                let (res, _) = s.write_all(hello).await;
                res.map_err(|e| e.to_string())?;
                let h = self.read_hello(&mut s, false).await?;
                if h.peer != peer {
                    return Err(format!("{addr} answered as node {}, not {peer}", h.peer));
                }
                self.authenticate(&mut s, &nonce, &h).await?;
                Ok::<_, String>((s, h.api))
            };
            match monoio::time::timeout(CONNECT_TIMEOUT, attempt).await {
                Ok(Ok((s, api))) => {
                    monoio::select! {
                        _ = self.clone().run_link(peer, api, s) => {},
                        _ = stop.wait() => return,
                    }
                }
                Ok(Err(e)) => tracing::debug!(peer, error = %e, "cluster dial failed"),
                Err(_) => tracing::debug!(peer, "cluster dial timed out"),
            }
            monoio::select! {
                _ = monoio::time::sleep(REDIAL) => {},
                _ = stop.wait() => return,
            }
        }
    }

    async fn run_link(self: Rc<Self>, peer: NodeId, api: String, stream: TcpStream) {
        let Some(link) = self.link(peer) else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let epoch = link.install(api);
        tracing::info!(me = self.me, peer, shard = self.shard, "cluster link up");
        self.host.peer(peer, true);
        // A peer that comes back gets its replication at once, not after a backoff.
        let rafts: Vec<Raft> = self.groups.borrow().values().cloned().collect();
        monoio::spawn(async move {
            for r in rafts {
                let _ = r.trigger().reset_backoff([peer]).await;
            }
        });
        let (rd, wr) = stream.into_split();
        monoio::spawn(self.clone().write_loop(link.clone(), wr, epoch));
        self.clone().read_loop(link.clone(), rd, epoch).await;
        if link.disconnect(epoch) {
            tracing::info!(me = self.me, peer, shard = self.shard, "cluster link down");
            self.host.peer(peer, false);
        }
    }

    async fn write_loop(
        self: Rc<Self>,
        link: Rc<Link>,
        mut wr: monoio::net::tcp::TcpOwnedWriteHalf,
        epoch: u64,
    ) {
        let mut spare = Vec::new();
        loop {
            let buf = poll_fn(|cx| {
                let mut st = link.st.borrow_mut();
                if st.epoch != epoch || !st.connected {
                    return Poll::Ready(None);
                }
                if st.out.is_empty() {
                    st.writer = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                spare.clear();
                Poll::Ready(Some(std::mem::replace(
                    &mut st.out,
                    std::mem::take(&mut spare),
                )))
            })
            .await;
            let Some(buf) = buf else { return };
            self.stat(|s| s.writes += 1);
            let (res, b) = wr.write_all(buf).await;
            spare = b;
            if res.is_err() {
                if link.disconnect(epoch) {
                    tracing::info!(
                        me = self.me,
                        peer = link.peer,
                        shard = self.shard,
                        "cluster link down (write failed)"
                    );
                    self.host.peer(link.peer, false);
                }
                return;
            }
        }
    }

    async fn read_loop(
        self: Rc<Self>,
        link: Rc<Link>,
        mut rd: monoio::net::tcp::TcpOwnedReadHalf,
        epoch: u64,
    ) {
        let mut acc: Vec<u8> = Vec::with_capacity(1 << 16);
        let mut rbuf: Vec<u8> = Vec::with_capacity(1 << 16);
        loop {
            let (res, b) = rd.read(rbuf).await;
            rbuf = b;
            match res {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    acc.extend_from_slice(&rbuf[..n]);
                    self.stat(|s| s.bytes_in += n as u64);
                }
            }
            if link.st.borrow().epoch != epoch || self.isolated.get() {
                return;
            }
            let mut pos = 0;
            while acc.len() - pos >= 5 {
                let len = u32::from_le_bytes([acc[pos], acc[pos + 1], acc[pos + 2], acc[pos + 3]])
                    as usize;
                if len == 0 || len > MAX_FRAME {
                    tracing::warn!(
                        peer = link.peer,
                        len,
                        "bad cluster frame length; link closed"
                    );
                    return;
                }
                if acc.len() - pos < 4 + len {
                    break;
                }
                let f = &acc[pos + 4..pos + 4 + len];
                pos += 4 + len;
                self.stat(|s| s.frames_in += 1);
                if let Err(e) = self.on_frame(&link, epoch, f) {
                    tracing::warn!(peer = link.peer, error = %e, "bad cluster frame; link closed");
                    return;
                }
            }
            acc.drain(..pos);
        }
    }

    fn on_frame(self: &Rc<Self>, link: &Rc<Link>, epoch: u64, f: &[u8]) -> std::io::Result<()> {
        let mut r = Rd(&f[1..]);
        match f[0] {
            K_REQ => {
                let rpc = r.u8()?;
                let g = r.u16()?;
                let corr = r.u64()?;
                let payload = Bytes::copy_from_slice(r.0);
                monoio::spawn(
                    self.clone()
                        .serve_rpc(link.clone(), epoch, rpc, g, corr, payload),
                );
            }
            K_RESP | K_ERR => {
                let _rpc = r.u8()?;
                let _g = r.u16()?;
                let corr = r.u64()?;
                let tx = link.st.borrow_mut().pending.remove(&corr);
                if let Some(tx) = tx {
                    let _ = tx.send(if f[0] == K_RESP {
                        Ok(Bytes::copy_from_slice(r.0))
                    } else {
                        Err(String::from_utf8_lossy(r.0).into_owned())
                    });
                }
            }
            K_APP => {
                let dst = r.u16()?;
                self.host.frame(link.peer, dst, Bytes::copy_from_slice(r.0));
            }
            K_CONFIG => {
                if let Some(f) = self.on_config.borrow().as_ref() {
                    f(Bytes::copy_from_slice(r.0));
                }
            }
            K_LEADERS => {
                let n = r.u16()?;
                let mut changed = Vec::new();
                {
                    let mut hints = self.hints.borrow_mut();
                    for _ in 0..n {
                        let slot = r.u16()?;
                        let leader = r.u64()?;
                        if hints.insert(slot, leader) != Some(leader) {
                            changed.push((slot, leader));
                        }
                    }
                }
                // Slots this shard does not host: the node's other shards learn them too.
                for (slot, leader) in changed {
                    if !self.groups.borrow().contains_key(&slot) {
                        self.host.leader_changed(slot, Some(leader));
                    }
                }
            }
            _ => return Err(bad("unknown frame kind")),
        }
        Ok(())
    }

    async fn serve_rpc(
        self: Rc<Self>,
        link: Rc<Link>,
        epoch: u64,
        rpc: u8,
        g: GroupId,
        corr: u64,
        payload: Bytes,
    ) {
        let raft = self.groups.borrow().get(&g).cloned();
        let Some(raft) = raft else {
            self.respond(&link, epoch, K_ERR, (rpc, g, corr), |b| {
                b.extend_from_slice(b"no such group here")
            });
            return;
        };
        let mut r = Rd(&payload);
        type Answer = Box<dyn FnOnce(&mut Vec<u8>)>;
        let res: Result<Answer, String> = match rpc {
            RPC_APPEND => match get_append_req(&mut r) {
                Ok(q) => match raft.append_entries(q).await {
                    Ok(p) => Ok(Box::new(move |b: &mut Vec<u8>| put_append_resp(b, &p))),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            },
            RPC_VOTE | RPC_PREVOTE => match get_vote_req(&mut r) {
                Ok(q) => {
                    let p = if rpc == RPC_VOTE {
                        raft.vote(q).await
                    } else {
                        raft.pre_vote(q).await
                    };
                    match p {
                        Ok(p) => Ok(Box::new(move |b: &mut Vec<u8>| put_vote_resp(b, &p))),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            },
            RPC_SNAPSHOT => match get_snapshot(&mut r) {
                Ok((vote, snap)) => match raft.install_full_snapshot(vote, snap).await {
                    Ok(p) => Ok(Box::new(move |b: &mut Vec<u8>| put_snapshot_resp(b, &p))),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            },
            RPC_TRANSFER => match (get_vote(&mut r), r.u64(), get_olog_id(&mut r)) {
                (Ok(vote), Ok(to), Ok(last)) => {
                    let q = openraft::raft::TransferLeaderRequest::new(vote, to, last);
                    match raft.handle_transfer_leader(q).await {
                        Ok(p) => {
                            let ok = u8::from(p.is_ok());
                            Ok(Box::new(move |b: &mut Vec<u8>| b.put_u8(ok)))
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
                _ => Err("bad transfer request".into()),
            },
            _ => Err("unknown rpc".into()),
        };
        match res {
            Ok(f) => self.respond(&link, epoch, K_RESP, (rpc, g, corr), f),
            Err(e) => self.respond(&link, epoch, K_ERR, (rpc, g, corr), |b| {
                b.extend_from_slice(e.as_bytes())
            }),
        }
    }
}

/// openraft's network factory for one group.
pub struct NetFactory {
    /// The group.
    pub g: GroupId,
    /// The shard's links.
    pub net: Rc<Net>,
}

/// One group's connection to one peer (all of them share the peer's link).
pub struct GroupNet {
    g: GroupId,
    target: NodeId,
    net: Rc<Net>,
    link: Option<Rc<Link>>,
}

impl RaftNetworkFactory<TC> for NetFactory {
    type Network = GroupNet;

    async fn new_client(&mut self, target: NodeId, _node: &openraft::EmptyNode) -> GroupNet {
        GroupNet {
            g: self.g,
            target,
            link: self.net.link(target),
            net: self.net.clone(),
        }
    }
}

impl GroupNet {
    fn rpc_err(&self, e: CallErr, action: RPCTypes, ttl: Duration) -> RPCError<TC> {
        match e {
            CallErr::Unreachable(m) => RPCError::Unreachable(Unreachable::from_string(m)),
            CallErr::Remote(m) => {
                RPCError::Unreachable(Unreachable::from_string(format!("remote: {m}")))
            }
            CallErr::Timeout => RPCError::Timeout(Timeout {
                action,
                id: self.net.me,
                target: self.target,
                timeout: ttl,
            }),
        }
    }

    async fn call(
        &self,
        rpc: u8,
        action: RPCTypes,
        ttl: Duration,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Bytes, RPCError<TC>> {
        let Some(link) = &self.link else {
            return Err(RPCError::Unreachable(Unreachable::from_string(format!(
                "node {} is not a member",
                self.target
            ))));
        };
        self.net
            .call(link, self.g, rpc, ttl, body)
            .await
            .map_err(|e| self.rpc_err(e, action, ttl))
    }
}

impl RaftNetworkV2<TC> for GroupNet {
    type SnapshotData = Bytes;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TC>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TC>, RPCError<TC>> {
        let ttl = option.hard_ttl();
        let b = self
            .call(RPC_APPEND, RPCTypes::AppendEntries, ttl, |b| {
                put_append_req(b, &rpc)
            })
            .await?;
        get_append_resp(&mut Rd(&b)).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TC>,
        option: RPCOption,
    ) -> Result<VoteResponse<TC>, RPCError<TC>> {
        let ttl = option.hard_ttl();
        let b = self
            .call(RPC_VOTE, RPCTypes::Vote, ttl, |b| put_vote_req(b, &rpc))
            .await?;
        get_vote_resp(&mut Rd(&b)).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TC>,
        option: RPCOption,
    ) -> Result<VoteResponse<TC>, RPCError<TC>> {
        let ttl = option.hard_ttl();
        let b = self
            .call(RPC_PREVOTE, RPCTypes::Vote, ttl, |b| put_vote_req(b, &rpc))
            .await?;
        get_vote_resp(&mut Rd(&b)).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn transfer_leader(
        &mut self,
        req: openraft::raft::TransferLeaderRequest<TC>,
        option: RPCOption,
    ) -> Result<openraft::raft::TransferLeaderResponse<TC>, RPCError<TC>> {
        let ttl = option.hard_ttl();
        let b = self
            .call(RPC_TRANSFER, RPCTypes::TransferLeader, ttl, |b| {
                put_vote(b, req.from_leader());
                b.put_u64_le(*req.to_node_id());
                put_olog_id(b, &req.last_log_id().copied());
            })
            .await?;
        match b.first() {
            Some(1) => Ok(Ok(())),
            // Rejected (the vote changed meanwhile): nothing to retry from here.
            _ => Err(RPCError::Unreachable(Unreachable::from_string(
                "transfer rejected by the target".to_string(),
            ))),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TC>, StreamingError<TC>> {
        let ttl = option.hard_ttl();
        let call = self.call(RPC_SNAPSHOT, RPCTypes::InstallSnapshot, ttl, |b| {
            put_snapshot(b, &vote, &snapshot)
        });
        let r = monoio::select! {
            r = call => r,
            c = cancel => return Err(StreamingError::Closed(c)),
        };
        let b = r.map_err(|e| match e {
            RPCError::Unreachable(u) => StreamingError::Unreachable(u),
            RPCError::Timeout(t) => StreamingError::Timeout(t),
            RPCError::Network(n) => StreamingError::Network(n),
            RPCError::RemoteError(r) => {
                StreamingError::Unreachable(Unreachable::from_string(r.to_string()))
            }
        })?;
        get_snapshot_resp(&mut Rd(&b)).map_err(|e| StreamingError::Network(NetworkError::new(&e)))
    }
}
