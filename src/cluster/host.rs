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
use super::machine::{Applier, Applying, Machine};
use super::net::{Net, NetFactory};
use super::placement::Leader;
use super::ports::Host;
use super::topology::{parse_member, Member, NodeId, Topology};
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

/// The configuration group: the member list, replicated on every member's shard 0.
pub const CONFIG_GROUP: GroupId = u16::MAX;
/// The member list as last applied, in the raft log's directory of shard 0.
const MEMBERS: &str = "members";

/// The first byte of the configuration group's member-list command (the shard's own
/// commands, which the group also carries for the global tables, never start with it).
pub const CMD_MEMBERS: u8 = 0xC0;
const CHANGE_ADD: u8 = 1;
const CHANGE_REMOVE: u8 = 2;
/// How long one reconciliation of a group's replicas may take (a learner catching up).
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(120);
/// Announce rounds a group this node no longer replicates is kept, waiting for its leader to
/// take it out of the group, before it is dropped here anyway.
const ORPHAN_ROUNDS: u32 = 60;

/// One shard's replication groups.
pub struct RaftShard {
    topo: RefCell<Topology>,
    slots: Vec<GroupId>,
    net: Rc<Net>,
    wal: Rc<RaftWal>,
    machines: RefCell<HashMap<GroupId, Machine>>,
    leaders: RefCell<HashMap<GroupId, Option<NodeId>>>,
    restored: RefCell<HashMap<GroupId, Applying>>,
    /// Groups whose membership a reconciliation is changing now.
    reconciling: RefCell<BTreeSet<GroupId>>,
    /// Groups hosted here that this node no longer replicates, with the rounds seen so.
    orphans: RefCell<HashMap<GroupId, u32>>,
    /// Shard 0: the member list the configuration group last applied.
    config_members: RefCell<Vec<Member>>,
    dir: PathBuf,
    host: Rc<dyn Host>,
    timing: Timing,
    config: Arc<Config>,
    stop: Rc<crate::runtime::LocalStop>,
}

/// A membership change asked of the configuration leader: `m` joins (`add`) or leaves.
pub fn change_cmd(add: bool, m: &Member) -> Bytes {
    let mut b = Vec::new();
    b.put_u8(if add { CHANGE_ADD } else { CHANGE_REMOVE });
    b.put_u64_le(m.id);
    b.put_u32_le(m.host.len() as u32);
    b.extend_from_slice(m.host.as_bytes());
    b.put_u16_le(m.port);
    Bytes::from(b)
}

fn decode_change(cmd: &[u8]) -> io::Result<(bool, Member)> {
    let mut r = Rd(cmd);
    let op = r.u8()?;
    let id = r.u64()?;
    let host = String::from_utf8_lossy(&r.bytes()?).into_owned();
    let port = r.u16()?;
    if op != CHANGE_ADD && op != CHANGE_REMOVE {
        return Err(bad("unknown membership change"));
    }
    Ok((op == CHANGE_ADD, Member { id, host, port }))
}

/// The whole member list, as the configuration group replicates it (a list rather than a
/// delta: applying it needs no earlier state, so a joining node's first apply is complete).
pub fn members_cmd(members: &[Member]) -> Bytes {
    let mut b = Vec::new();
    b.put_u8(CMD_MEMBERS);
    b.put_u32_le(members.len() as u32);
    for m in members {
        b.put_u64_le(m.id);
        b.put_u32_le(m.host.len() as u32);
        b.extend_from_slice(m.host.as_bytes());
        b.put_u16_le(m.port);
    }
    Bytes::from(b)
}

/// Reads a member list written by [`members_cmd`].
pub fn decode_members(cmd: &[u8]) -> io::Result<Vec<Member>> {
    let mut r = Rd(cmd);
    if r.u8()? != CMD_MEMBERS {
        return Err(bad("not a member list"));
    }
    let n = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..n.min(1 << 16) {
        let id = r.u64()?;
        let host = String::from_utf8_lossy(&r.bytes()?).into_owned();
        let port = r.u16()?;
        out.push(Member { id, host, port });
    }
    Ok(out)
}

fn members_text(members: &[Member]) -> String {
    members
        .iter()
        .map(|m| format!("{}@{}:{}\n", m.id, m.host, m.port))
        .collect()
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
    /// like the message log), links to the peers (listening on `listener`), and creates a
    /// group for every slot of `slots` this node replicates — on a fresh cluster initialized
    /// with the slot's replicas. Shard 0 also hosts the configuration group; on shard 0 a
    /// stored member list (the configuration's) wins over `initNodes`.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        mut topo: Topology,
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
        // The member list the configuration group last applied (every shard reads shard
        // 0's file: the node's shards start from the same list).
        let members_file = dir
            .parent()
            .and_then(|d| d.parent())
            .map(|root| root.join("shard-0").join("raft").join(MEMBERS));
        let bootstrap = topo.members.clone();
        let mut stored_members = None;
        if let Some(Ok(text)) = members_file.as_ref().map(std::fs::read_to_string) {
            let members: Vec<Member> = text
                .lines()
                .filter_map(|l| parse_member(l, topo.me_member.port).ok())
                .collect();
            if !members.is_empty() {
                topo.set_members(members.clone());
                stored_members = Some(members);
            }
        }
        let net = Net::new(&topo, shard, shards, api_url, host.clone(), stop.clone());
        let config = Arc::new(
            Config {
                cluster_name: "jindou".into(),
                heartbeat_interval: timing.heartbeat.as_millis() as u64,
                election_timeout_min: (timing.election.as_millis() as u64 / 2).max(1),
                election_timeout_max: timing.election.as_millis() as u64,
                // The raft log is kept: it is how a replica catches up.
                // A node that cannot win (partitioned, restarted with a stale log) asks
                // before it campaigns, so it never inflates the term and unseats a leader.
                enable_pre_vote: Some(true),
                snapshot_policy: SnapshotPolicy::Never,
                max_in_snapshot_log_to_keep: u64::MAX,
                ..Default::default()
            }
            .validate()
            .map_err(|e| io::Error::other(e.to_string()))?,
        );
        let this = Rc::new(RaftShard {
            topo: RefCell::new(topo),
            slots,
            net: net.clone(),
            wal,
            machines: RefCell::new(HashMap::new()),
            leaders: RefCell::new(HashMap::new()),
            restored: RefCell::new(restored),
            reconciling: RefCell::new(BTreeSet::new()),
            orphans: RefCell::new(HashMap::new()),
            config_members: RefCell::new(Vec::new()),
            dir,
            host,
            timing,
            config,
            stop: stop.clone(),
        });
        monoio::spawn(net.clone().serve(listener, stop.clone()));
        if shard == 0 {
            *this.config_members.borrow_mut() =
                stored_members.unwrap_or_else(|| this.topo.borrow().members.clone());
            let weak = Rc::downgrade(&this);
            *net.on_join.borrow_mut() = Some(Box::new(move |m: Member| {
                let Some(this) = weak.upgrade() else {
                    return Vec::new();
                };
                if !this.config_members.borrow().contains(&m) {
                    tracing::info!(node = m.id, "join request");
                    this.request_change(change_cmd(true, &m), true);
                }
                let members = this.config_members.borrow().clone();
                members
            }));
            let weak = Rc::downgrade(&this);
            *net.on_config.borrow_mut() = Some(Box::new(move |change: Bytes| {
                if let Some(this) = weak.upgrade() {
                    this.request_change(change, false);
                }
            }));
            let voters: BTreeSet<NodeId> = bootstrap.iter().map(|m| m.id).collect();
            this.create_group(CONFIG_GROUP, Some(voters)).await?;
        }
        let hosted: Vec<GroupId> = {
            let topo = this.topo.borrow();
            this.slots
                .iter()
                .copied()
                .filter(|s| topo.hosts(*s))
                .collect()
        };
        for slot in hosted {
            let replicas: BTreeSet<NodeId> =
                this.topo.borrow().replicas_of(slot).into_iter().collect();
            this.create_group(slot, Some(replicas)).await?;
        }
        monoio::spawn(this.clone().checkpoints(stop.clone()));
        monoio::spawn(this.clone().announce_and_balance(stop.clone()));
        if shard == 0 && !this.topo.borrow().is_member() {
            monoio::spawn(this.clone().join());
        }
        Ok(this)
    }

    /// Creates group `g` (if it does not exist yet); a fresh group is initialized with
    /// `members` when given (bootstrap), or waits to be added by the group's leader.
    async fn create_group(
        self: &Rc<Self>,
        g: GroupId,
        members: Option<BTreeSet<NodeId>>,
    ) -> io::Result<()> {
        if self.net.groups.borrow().contains_key(&g) {
            return Ok(());
        }
        let restored = self.restored.borrow_mut().remove(&g).unwrap_or_default();
        let applier = if g == CONFIG_GROUP {
            let weak = Rc::downgrade(self);
            let members = Rc::new(move |cmd: &[u8]| {
                if let Some(this) = weak.upgrade() {
                    this.apply_config(cmd);
                }
            });
            Applier::Config {
                host: self.host.clone(),
                members,
            }
        } else {
            Applier::Slot(self.host.clone())
        };
        let last_index = self.wal.with_group(g, |gl| gl.last.map(|l| l.index));
        let machine = Machine::new(g, applier, restored, last_index);
        let me = self.topo.borrow().me;
        let raft = Raft::new(
            me,
            self.config.clone(),
            NetFactory {
                g,
                net: self.net.clone(),
            },
            LogStore::new(g, self.wal.clone()),
            machine.clone(),
        )
        .await
        .map_err(|e| io::Error::other(format!("group {g}: {e}")))?;
        let fresh = self
            .wal
            .with_group(g, |gl| gl.last.is_none() && gl.vote.is_none());
        if let (true, Some(members)) = (fresh, members) {
            if members.contains(&me) {
                if let Err(e) = raft.initialize(members).await {
                    tracing::debug!(group = g, error = %e, "group already initialized");
                }
            }
        }
        self.machines.borrow_mut().insert(g, machine);
        self.net.groups.borrow_mut().insert(g, raft.clone());
        monoio::spawn(self.clone().watch_leader(g, raft));
        Ok(())
    }

    /// Applies a committed member list (shard 0): stored, then taken by every shard of this
    /// node and by their links.
    fn apply_config(&self, cmd: &[u8]) {
        let mut members = match decode_members(cmd) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "unreadable member list skipped");
                return;
            }
        };
        members.sort_by_key(|m| m.id);
        if *self.config_members.borrow() == members {
            return;
        }
        if let Err(e) = write_atomic(&self.dir, MEMBERS, members_text(&members).as_bytes()) {
            tracing::error!(error = %e, "cannot store the member list");
        }
        let ids: Vec<NodeId> = members.iter().map(|m| m.id).collect();
        tracing::info!(members = ?ids, "cluster members changed");
        *self.config_members.borrow_mut() = members.clone();
        self.host.members_changed(members);
    }

    /// Takes a new member list: links to new members, and groups for slots this shard now
    /// replicates (added as learners by their leaders, who also drop removed replicas).
    pub fn set_members(self: &Rc<Self>, members: Vec<Member>) {
        self.topo.borrow_mut().set_members(members.clone());
        for m in &members {
            self.net.add_peer(m);
        }
        let wanted: Vec<GroupId> = {
            let topo = self.topo.borrow();
            self.slots
                .iter()
                .copied()
                .filter(|s| topo.hosts(*s))
                .collect()
        };
        let this = self.clone();
        monoio::spawn(async move {
            for g in wanted {
                if let Err(e) = this.create_group(g, None).await {
                    tracing::error!(group = g, error = %e, "cannot host a slot");
                }
            }
        });
    }

    /// Applies a membership change (from [`change_cmd`]) through the configuration group
    /// (shard 0): its leader proposes the resulting member list; another member forwards the
    /// change to the leader when `forward`. Fire and forget: the outcome shows in the member
    /// list (a joining node asks again until it is in).
    pub fn request_change(self: &Rc<Self>, change: Bytes, forward: bool) {
        let this = self.clone();
        monoio::spawn(async move {
            let (add, m) = match decode_change(&change) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "bad membership change ignored");
                    return;
                }
            };
            match this.leader(CONFIG_GROUP) {
                Leader::Local => {}
                Leader::Remote(n) if forward => {
                    if !this.net.send_config(n, &change) {
                        tracing::warn!(leader = n, "membership change not forwarded");
                    }
                    return;
                }
                _ => {
                    tracing::warn!(node = m.id, "no configuration leader here: change dropped");
                    return;
                }
            }
            let mut members = this.config_members.borrow().clone();
            members.retain(|o| o.id != m.id);
            if add {
                members.push(m);
            }
            members.sort_by_key(|m| m.id);
            if members.is_empty() {
                tracing::warn!("refusing to remove the last member");
                return;
            }
            if members == *this.config_members.borrow() {
                return;
            }
            if let Err(e) = this.propose(CONFIG_GROUP, members_cmd(&members)).await {
                tracing::warn!(error = ?e, "membership change failed");
            }
        });
    }

    /// The member list the configuration group last applied (shard 0).
    pub fn members(&self) -> Vec<Member> {
        self.config_members.borrow().clone()
    }

    /// A node started with `cluster.seed`: asks the seed to admit it until the configuration
    /// group tells it the member list (with itself in it).
    async fn join(self: Rc<Self>) {
        let Some(seed) = self.topo.borrow().seed.clone() else {
            return;
        };
        while !self.topo.borrow().is_member() && !self.stop.is_stopped() {
            if let Some(members) = self.net.request_join(&seed.shard_addr(0)).await {
                // Link to the members now: the configuration group's leader adds this node
                // through them.
                for m in &members {
                    self.net.add_peer(m);
                }
            }
            monoio::select! {
                _ = monoio::time::sleep(Duration::from_secs(1)) => {},
                _ = self.stop.wait() => return,
            }
        }
        tracing::info!("admitted to the cluster");
    }

    /// This node.
    pub fn node_id(&self) -> NodeId {
        self.topo.borrow().me
    }

    /// The topology now.
    pub fn topology(&self) -> Topology {
        self.topo.borrow().clone()
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
            Some(n) if n == self.node_id() => Leader::Local,
            // A leader this shard cannot reach is as good as none until an election says.
            Some(n) if self.net.is_up(n) => Leader::Remote(n),
            _ => Leader::Unknown,
        }
    }

    /// The group of `slot`, if this shard hosts it.
    pub fn group(&self, slot: GroupId) -> Option<Raft> {
        self.net.groups.borrow().get(&slot).cloned()
    }

    /// The slots this shard hosts (not the configuration group).
    pub fn hosted(&self) -> Vec<GroupId> {
        let mut v: Vec<GroupId> = self
            .net
            .groups
            .borrow()
            .keys()
            .copied()
            .filter(|g| *g != CONFIG_GROUP)
            .collect();
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
            if self.group(slot).is_none() {
                return; // the group was dropped here
            }
            let leader = {
                let m = rx.borrow_watched();
                // A leader whose log is still being taken over is announced once it serves.
                let me = self.node_id();
                match (m.state, m.current_leader) {
                    (ServerState::Leader, _) => Some(me),
                    (_, l) => l.filter(|l| *l != me),
                }
            };
            let changed = self.leaders.borrow_mut().insert(slot, leader) != Some(leader);
            if changed {
                tracing::info!(slot, leader = ?leader, "slot leader");
                if leader == Some(self.node_id()) && slot != CONFIG_GROUP {
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
            let me = self.node_id();
            let led: Vec<GroupId> = self
                .leaders
                .borrow()
                .iter()
                .filter(|(g, l)| **l == Some(me) && **g != CONFIG_GROUP)
                .map(|(s, _)| *s)
                .collect();
            self.net.send_leader_hints(&led);
            let groups: Vec<GroupId> = self.net.groups.borrow().keys().copied().collect();
            for g in groups {
                let Some(raft) = self.group(g) else {
                    continue;
                };
                let m = raft.metrics().borrow_watched().clone();
                let membership = m.membership_config.membership().clone();
                let is_voter = membership.voter_ids().any(|v| v == me);
                let desired = self.desired_voters(g);
                if m.state == ServerState::Leader {
                    self.reconcile(g, &raft, &membership, &desired);
                }
                if g == CONFIG_GROUP {
                    continue;
                }
                if !desired.contains(&me) {
                    self.drop_if_orphan(g, &raft, &membership).await;
                    continue;
                }
                // A slot nobody leads that this node should lead: campaign now rather than
                // after a randomized timeout (spreads the first leaders over the nodes).
                let unled = self.leaders.borrow().get(&g).is_none_or(|l| l.is_none());
                self.orphans.borrow_mut().remove(&g);
                let preferred = self.topo.borrow().replicas_of(g).first().copied();
                if unled && is_voter && preferred == Some(me) {
                    // With a pre-vote: a campaign that cannot win (this node's log is behind
                    // the others') must not raise the term every round, which kept other
                    // candidates from winning (slots left without a leader for minutes).
                    let _ = raft.trigger().elect(true).await;
                }
                // Hand the slot back to its preferred leader when that one is up, a voter and
                // caught up.
                let Some(preferred) = preferred else {
                    continue;
                };
                if m.state != ServerState::Leader
                    || preferred == me
                    || !self.net.is_up(preferred)
                    || !membership.voter_ids().any(|v| v == preferred)
                {
                    continue;
                }
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

    /// The voters group `g` should have with the member list now: every member for the
    /// configuration group, the slot's replicas otherwise.
    fn desired_voters(&self, g: GroupId) -> BTreeSet<NodeId> {
        let topo = self.topo.borrow();
        if g == CONFIG_GROUP {
            topo.members.iter().map(|m| m.id).collect()
        } else {
            topo.replicas_of(g).into_iter().collect()
        }
    }

    /// On a group's leader: when its voters differ from the desired ones, adds the missing
    /// replicas as learners, waits until they caught up, then makes the desired set the
    /// voters (openraft's joint consensus; replicas no longer wanted are removed).
    fn reconcile(
        self: &Rc<Self>,
        g: GroupId,
        raft: &Raft,
        membership: &Membership,
        desired: &BTreeSet<NodeId>,
    ) {
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if desired.is_empty() || voters == *desired || membership.get_joint_config().len() > 1 {
            return;
        }
        if !self.reconciling.borrow_mut().insert(g) {
            return;
        }
        let (this, raft, desired) = (self.clone(), raft.clone(), desired.clone());
        monoio::spawn(async move {
            let work = async {
                for id in desired.difference(&voters) {
                    raft.add_learner(*id, openraft::EmptyNode::default(), true)
                        .await
                        .map_err(|e| format!("adding node {id}: {e}"))?;
                }
                raft.change_membership(desired.clone(), false)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(())
            };
            match monoio::time::timeout(RECONCILE_TIMEOUT, work).await {
                Ok(Ok(())) => tracing::info!(group = g, voters = ?desired, "replicas changed"),
                Ok(Err(e)) => tracing::warn!(group = g, error = %e, "replica change failed"),
                Err(_) => tracing::warn!(group = g, "replica change timed out"),
            }
            this.reconciling.borrow_mut().remove(&g);
        });
    }

    /// A group this node no longer replicates: dropped here once its membership no longer
    /// names this node (its leader took it out), or after [`ORPHAN_ROUNDS`] rounds. Its
    /// applied state stays in the shard's stores, unserved (reads go to the slot's leader).
    async fn drop_if_orphan(&self, g: GroupId, raft: &Raft, membership: &Membership) {
        let me = self.node_id();
        let named =
            membership.voter_ids().any(|v| v == me) || membership.learner_ids().any(|v| v == me);
        let rounds = {
            let mut orphans = self.orphans.borrow_mut();
            let r = orphans.entry(g).or_insert(0);
            *r += 1;
            *r
        };
        if named && rounds < ORPHAN_ROUNDS {
            return;
        }
        tracing::info!(group = g, "slot no longer replicated here: group dropped");
        self.orphans.borrow_mut().remove(&g);
        self.net.groups.borrow_mut().remove(&g);
        self.machines.borrow_mut().remove(&g);
        // From now on this node knows the slot's leader from the hints its leader sends (only
        // when it changes): hand the node's shards the best knowledge there is now.
        let me = self.node_id();
        let last = self.leaders.borrow_mut().remove(&g).flatten();
        let hint = self.net.hints.borrow().get(&g).copied();
        let known = last.filter(|l| *l != me).or(hint).filter(|l| *l != me);
        let _ = raft.shutdown().await;
        self.host.leader_changed(g, known);
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
