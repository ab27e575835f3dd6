//! The replication groups of one shard: one openraft group per slot this node replicates
//! and this shard owns, their shared raft log, the links to the other nodes, and what the
//! shard asks of them — who leads a slot, propose a command and await its application.
//!
//! Background tasks: a leader watch per group (tells the host, and the peers, who leads), a
//! checkpoint of what was applied once the host's stores are durable (so a restart re-applies
//! only the tail), and a balancer that hands leadership back to each slot's preferred leader
//! (the first of its replicas), so leaders stay spread evenly over the nodes.

use super::codec::*;
use super::logstore::LogStore;
use super::machine::{Applying, Machine};
use super::net::{Net, NetFactory};
use super::placement::Leader;
use super::ports::Host;
use super::topology::{NodeId, Topology};
use super::types::*;
use super::wal::RaftWal;
use bytes::{BufMut, Bytes};
use openraft::async_runtime::WatchReceiver;
use openraft::{Config, ServerState, SnapshotPolicy};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// How often what was applied is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// How often leaders re-announce the slots they lead, and the balancer looks.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);
/// The checkpoint file, in the raft log's directory.
const CHECKPOINT: &str = "applied";

/// The timing of the groups, from `cluster.tickInterval`, `heartbeatIntervalTick` and
/// `electionIntervalTick`.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// A follower campaigns after between half and all of this without a leader.
    pub election: Duration,
    /// How long a proposal may wait for its commit.
    pub request: Duration,
}

/// Why a proposal was not applied.
#[derive(Debug)]
pub enum ProposeError {
    /// This node does not lead the slot; the leader, if known.
    NotLeader(Option<NodeId>),
    /// Nothing is known of the slot's fate (the leader changed with the entry in flight, or
    /// the commit timed out): a retry must be de-duplicated.
    Unknown(String),
    /// The group is stopped (a storage failure).
    Failed(String),
}

/// One shard's replication groups.
pub struct RaftShard {
    topo: Rc<Topology>,
    net: Rc<Net>,
    wal: Rc<RaftWal>,
    machines: RefCell<HashMap<GroupId, Machine>>,
    leaders: RefCell<HashMap<GroupId, Option<NodeId>>>,
    dir: PathBuf,
    host: Rc<dyn Host>,
    timing: Timing,
}

fn checkpoint_encode(groups: &[(GroupId, Applying)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_u32_le(groups.len() as u32);
    for (g, a) in groups {
        b.put_u16_le(*g);
        put_olog_id(&mut b, &a.last_applied);
        put_stored_membership(&mut b, &a.membership);
    }
    let crc = crc32fast::hash(&b);
    b.put_u32_le(crc);
    b
}

fn checkpoint_decode(bytes: &[u8]) -> io::Result<HashMap<GroupId, Applying>> {
    if bytes.len() < 8 {
        return Err(bad("checkpoint too short"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(bad("checkpoint CRC mismatch"));
    }
    let mut r = Rd(body);
    let n = r.u32()?;
    let mut out = HashMap::new();
    for _ in 0..n {
        let g = r.u16()?;
        let last_applied = get_olog_id(&mut r)?;
        let membership = get_stored_membership(&mut r)?;
        out.insert(
            g,
            Applying {
                last_applied,
                membership,
            },
        );
    }
    Ok(out)
}

impl RaftShard {
    /// Starts shard `shard`'s groups: opens the raft log in `dir` (a segment log configured
    /// like the message log), links to the peers (listening on `listener`), and creates and
    /// initializes a group for every slot of `slots` this node replicates.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        topo: Rc<Topology>,
        shard: usize,
        shards: usize,
        slots: Vec<GroupId>,
        log: jindou_storage::log::Log,
        api_url: String,
        listener: monoio::net::TcpListener,
        host: Rc<dyn Host>,
        timing: Timing,
        stop: Rc<crate::runtime::LocalStop>,
    ) -> io::Result<Rc<RaftShard>> {
        let dir = log.dir().to_path_buf();
        let wal = RaftWal::open(log)?;
        let restored = match std::fs::read(dir.join(CHECKPOINT)) {
            Ok(b) => checkpoint_decode(&b)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(e),
        };
        let net = Net::new(&topo, shard, shards, api_url, host.clone());
        let this = Rc::new(RaftShard {
            topo: topo.clone(),
            net: net.clone(),
            wal: wal.clone(),
            machines: RefCell::new(HashMap::new()),
            leaders: RefCell::new(HashMap::new()),
            dir,
            host: host.clone(),
            timing,
        });
        monoio::spawn(net.clone().serve(listener, stop.clone()));
        for m in topo.peers() {
            if m.id > topo.me {
                let addr = m.shard_addr(shard);
                monoio::spawn(net.clone().dial(m.id, addr, stop.clone()));
            }
        }
        let cfg = Arc::new(
            Config {
                cluster_name: "jindou".into(),
                heartbeat_interval: timing.heartbeat.as_millis() as u64,
                election_timeout_min: (timing.election.as_millis() as u64 / 2).max(1),
                election_timeout_max: timing.election.as_millis() as u64,
                // The raft log is kept: it is how a replica catches up.
                snapshot_policy: SnapshotPolicy::Never,
                max_in_snapshot_log_to_keep: u64::MAX,
                ..Default::default()
            }
            .validate()
            .map_err(|e| io::Error::other(e.to_string()))?,
        );
        for slot in slots.into_iter().filter(|s| topo.hosts(*s)) {
            let machine = Machine::new(
                slot,
                host.clone(),
                restored.get(&slot).cloned().unwrap_or_default(),
            );
            let raft = Raft::new(
                topo.me,
                cfg.clone(),
                NetFactory {
                    g: slot,
                    net: net.clone(),
                },
                LogStore::new(slot, wal.clone()),
                machine.clone(),
            )
            .await
            .map_err(|e| io::Error::other(format!("slot {slot}: {e}")))?;
            let fresh = wal.with_group(slot, |gl| gl.last.is_none() && gl.vote.is_none());
            if fresh {
                let members: BTreeSet<NodeId> = topo.replicas_of(slot).into_iter().collect();
                if let Err(e) = raft.initialize(members).await {
                    tracing::debug!(slot, error = %e, "group already initialized");
                }
            }
            this.machines.borrow_mut().insert(slot, machine);
            net.groups.borrow_mut().insert(slot, raft.clone());
            monoio::spawn(this.clone().watch_leader(slot, raft));
        }
        monoio::spawn(this.clone().checkpoints(stop.clone()));
        monoio::spawn(this.clone().announce_and_balance(stop.clone()));
        Ok(this)
    }

    /// This node.
    pub fn node_id(&self) -> NodeId {
        self.topo.me
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The links.
    pub fn net(&self) -> &Rc<Net> {
        &self.net
    }

    /// Who leads `slot`, as this node knows it.
    pub fn leader(&self, slot: GroupId) -> Leader {
        let known = match self.leaders.borrow().get(&slot) {
            Some(l) => *l,
            None => self.net.hints.borrow().get(&slot).copied(),
        };
        match known {
            Some(n) if n == self.topo.me => Leader::Local,
            // A leader this shard cannot reach is as good as none until an election says.
            Some(n) if self.net.is_up(n) => Leader::Remote(n),
            _ => Leader::Unknown,
        }
    }

    /// The group of `slot`, if this shard hosts it.
    pub fn group(&self, slot: GroupId) -> Option<Raft> {
        self.net.groups.borrow().get(&slot).cloned()
    }

    /// The slots this shard hosts.
    pub fn hosted(&self) -> Vec<GroupId> {
        let mut v: Vec<GroupId> = self.net.groups.borrow().keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Proposes `cmd` to `slot`'s group and waits until it is committed and applied here;
    /// returns what applying it answered.
    pub async fn propose(&self, slot: GroupId, cmd: Bytes) -> Result<Applied, ProposeError> {
        let Some(raft) = self.group(slot) else {
            return Err(ProposeError::NotLeader(match self.leader(slot) {
                Leader::Remote(n) => Some(n),
                _ => None,
            }));
        };
        let write = raft.client_write(Cmd(cmd));
        match monoio::time::timeout(self.timing.request, write).await {
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(e)) => {
                use openraft::error::{ClientWriteError, RaftError};
                match e {
                    RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                        Err(ProposeError::NotLeader(f.leader_id))
                    }
                    RaftError::APIError(other) => Err(ProposeError::Unknown(other.to_string())),
                    RaftError::Fatal(f) => Err(ProposeError::Failed(f.to_string())),
                }
            }
            Err(_) => Err(ProposeError::Unknown("the commit timed out".into())),
        }
    }

    /// Facts of `slot`'s group for the views (`/cluster/slots`): (term, last log index,
    /// applied index, replicas).
    pub fn facts(&self, slot: GroupId) -> Option<(u64, u64, u64, Vec<NodeId>)> {
        let raft = self.group(slot)?;
        let m = raft.metrics().borrow_watched().clone();
        let replicas = m
            .membership_config
            .membership()
            .voter_ids()
            .collect::<Vec<_>>();
        Some((
            m.current_term,
            m.last_log_index.unwrap_or(0),
            m.last_applied.map_or(0, |l| l.index),
            replicas,
        ))
    }

    /// Hands the shard's leaderships away and stops every group (clean shutdown).
    pub async fn shutdown(&self) {
        let rafts: Vec<Raft> = self.net.groups.borrow().values().cloned().collect();
        for r in rafts {
            let _ = r.shutdown().await;
        }
        if let Err(e) = self.wal.flush_blocking() {
            tracing::error!(error = %e, "raft log final flush failed");
        }
    }

    async fn watch_leader(self: Rc<Self>, slot: GroupId, raft: Raft) {
        let mut rx = raft.server_metrics();
        loop {
            let leader = {
                let m = rx.borrow_watched();
                // A leader whose log is still being taken over is announced once it serves.
                match (m.state, m.current_leader) {
                    (ServerState::Leader, _) => Some(self.topo.me),
                    (_, l) => l.filter(|l| *l != self.topo.me),
                }
            };
            let changed = self.leaders.borrow_mut().insert(slot, leader) != Some(leader);
            if changed {
                tracing::info!(slot, leader = ?leader, "slot leader");
                if leader == Some(self.topo.me) {
                    self.net.send_leader_hints(&[slot]);
                }
                self.host.leader_changed(slot, leader);
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    async fn checkpoints(self: Rc<Self>, stop: Rc<crate::runtime::LocalStop>) {
        let mut last: Vec<(GroupId, Applying)> = Vec::new();
        loop {
            monoio::select! {
                _ = monoio::time::sleep(CHECKPOINT_EVERY) => {},
                _ = stop.wait() => return,
            }
            let mut now: Vec<(GroupId, Applying)> = self
                .machines
                .borrow()
                .iter()
                .map(|(g, m)| (*g, m.applying()))
                .collect();
            now.sort_by_key(|(g, _)| *g);
            let same = now.len() == last.len()
                && now
                    .iter()
                    .zip(&last)
                    .all(|((g, a), (h, b))| g == h && a.last_applied == b.last_applied);
            if same {
                continue;
            }
            // What `now` names is applied; once the stores are durable it survives a crash.
            if let Err(e) = self.host.flush().await {
                tracing::warn!(error = %e, "stores not durable; no checkpoint");
                continue;
            }
            if let Err(e) = write_atomic(&self.dir, CHECKPOINT, &checkpoint_encode(&now)) {
                tracing::warn!(error = %e, "cannot write the applied checkpoint");
                continue;
            }
            last = now;
        }
    }

    async fn announce_and_balance(self: Rc<Self>, stop: Rc<crate::runtime::LocalStop>) {
        loop {
            monoio::select! {
                _ = monoio::time::sleep(ANNOUNCE_EVERY) => {},
                _ = stop.wait() => return,
            }
            let led: Vec<GroupId> = self
                .leaders
                .borrow()
                .iter()
                .filter(|(_, l)| **l == Some(self.topo.me))
                .map(|(s, _)| *s)
                .collect();
            self.net.send_leader_hints(&led);
            // A slot nobody leads that this node should lead: campaign now rather than after
            // a randomized timeout (spreads the first leaders over the nodes).
            for slot in self.hosted() {
                let unled = self.leaders.borrow().get(&slot).is_none_or(|l| l.is_none());
                if unled && self.topo.replicas_of(slot)[0] == self.topo.me {
                    if let Some(raft) = self.group(slot) {
                        let _ = raft.trigger().elect(false).await;
                    }
                }
            }
            // Hand each slot back to its preferred leader when that one is up and caught up.
            for slot in led {
                let preferred = self.topo.replicas_of(slot)[0];
                if preferred == self.topo.me || !self.net.is_up(preferred) {
                    continue;
                }
                let Some(raft) = self.group(slot) else {
                    continue;
                };
                let m = raft.metrics().borrow_watched().clone();
                let caught_up = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&preferred).cloned().flatten())
                    .is_some_and(|matched| Some(matched.index) == m.last_log_index);
                if caught_up {
                    let _ = raft.trigger().transfer_leader(preferred).await;
                }
            }
        }
    }
}

/// Writes `name` in `dir` atomically and durably: temp file, fsync, rename, directory fsync.
fn write_atomic(dir: &std::path::Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}
