//! The state one shard owns — its users, its channels, its message store — and the owner's
//! half of the message path (docs/architecture.md, "The message path").
//!
//! Every piece of state has one owner shard (by slot); other shards ask it through the mesh.
//! The shard imports nothing from the rooms above it: what they care about goes out through
//! the ports of [`events`], plugged in at start-up.

pub mod channels;
pub mod compact;
pub mod conversations;
pub mod ctx;
mod deliver;
mod dispatch;
pub mod error;
pub mod events;
pub mod globals;
pub mod handover;
pub mod ids;
pub mod ingress;
pub mod meta;
pub mod msg;
pub mod msg_event;
pub mod ops;
pub mod receivers;
pub mod relay;
pub mod replicated;
mod send;
pub mod sessions;
pub mod snapshot;
pub mod stats;
pub mod users;
pub mod wire;

pub use ctx::ShardCtx;
pub use dispatch::handle_owner;
pub use send::{resume_send, run_committer};

use crate::runtime::{LocalMesh, Replies};
use channels::Channels;
use events::{ChannelSource, ConnView, Events, Ports};
use ids::MessageIds;
use jindou_storage::Store;
use msg::{Answer, AuthResult, SendOutcome, ShardMsg};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use users::Users;

/// Hash maps of shard state: ahash (fast, randomly seeded, so clients cannot force collisions).
/// The seed is one per process, so a map carries no hasher state: millions of per-user maps
/// cost 32 bytes each, not 64.
pub type FastMap<K, V> = std::collections::HashMap<K, V, ProcessSeeded>;

/// Adds `item` to the group of `key` in a list of groups, a new group if `key` has none. The
/// keys of a fan-out (owner shards, connection shards: nodes × shards) are few, so a linear
/// search beats a map and allocates only the groups.
pub(crate) fn push_grouped<K, V, C, G>(groups: &mut G, key: K, item: V)
where
    K: PartialEq,
    C: Extend<V> + FromIterator<V>,
    G: std::ops::DerefMut<Target = [(K, C)]> + Extend<(K, C)>,
{
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, items)) => items.extend(std::iter::once(item)),
        None => groups.extend(std::iter::once((key, std::iter::once(item).collect()))),
    }
}

/// Builds ahash hashers from one random seed drawn per process (a zero-sized
/// `BuildHasher`, unlike `ahash::RandomState`).
#[derive(Clone, Copy, Default, Debug)]
pub struct ProcessSeeded;

impl std::hash::BuildHasher for ProcessSeeded {
    type Hasher = ahash::AHasher;

    fn build_hasher(&self) -> ahash::AHasher {
        static SEED: std::sync::LazyLock<ahash::RandomState> =
            std::sync::LazyLock::new(ahash::RandomState::new);
        SEED.build_hasher()
    }
}

/// The questions this shard's tasks have asked other shards, one table per kind of answer.
#[derive(Default)]
pub struct Asks {
    /// CONNECT verdicts.
    pub auth: Rc<Replies<AuthResult>>,
    /// REST send verdicts.
    pub send: Rc<Replies<SendOutcome>>,
    /// Verdicts on REST changes ([`ops::OwnerOp`]).
    pub ops: Rc<Replies<Result<(), error::OwnerError>>>,
    /// Verdicts on message events (`/message/event`).
    pub event: Rc<Replies<Result<msg_event::EventAck, error::OwnerError>>>,
    /// Answers to read-only questions (REST reads, monitoring).
    pub inspect: Rc<Replies<msg::AnyAnswer>>,
}

impl Asks {
    /// Hands an answer to the task awaiting it (nobody may wait any more: then it is dropped).
    pub fn complete(&self, answer: Answer) {
        match answer {
            Answer::Auth { id, result } => self.auth.complete(id, result),
            Answer::Send { id, outcome } => self.send.complete(id, outcome),
            Answer::Op { id, result } => self.ops.complete(id, result.map_err(|e| *e)),
            Answer::Event { id, result } => {
                self.event.complete(id, result.map(|a| *a).map_err(|e| *e))
            }
            Answer::Inspect { id, value } => self.inspect.complete(id, value),
        };
    }
}

/// A stored message waiting for its group commit before it is acknowledged and delivered.
pub(crate) struct PendingCommit {
    pub lsn: u64,
    pub received: std::time::Instant,
    pub origin: msg::SendOrigin,
    pub msg: std::sync::Arc<msg::Delivered>,
    pub receivers: receivers::Receivers,
}

/// One shard: the state it owns, shared by its tasks through `Rc` (never across threads).
pub struct Shard {
    /// Static context: id, config, slot map, stop signal.
    pub ctx: Rc<ShardCtx>,
    /// The mesh to other shards.
    pub mesh: Rc<LocalMesh<ShardMsg>>,
    /// Questions this shard's tasks wait on.
    pub asks: Asks,
    /// This shard's message and meta logs.
    pub store: RefCell<Store>,
    /// The replicated log of the slots this shard hosts (single node: the message log).
    pub log: crate::cluster::SlotLog,
    /// Users this shard owns.
    pub users: RefCell<Users>,
    /// Channels this shard owns.
    pub channels: RefCell<Channels>,
    /// The stored message events of the anchors in channels this shard owns.
    pub msg_events: RefCell<msg_event::StoredEvents>,
    /// The memory lanes of `stream.delta` events of those anchors.
    pub event_lanes: RefCell<msg_event::lanes::Lanes>,
    /// Anchors with an event being stored, and the events waiting behind it.
    pub event_queues: RefCell<FastMap<msg_event::AnchorKey, VecDeque<msg_event::process::Job>>>,
    /// Message id generator.
    pub ids: RefCell<MessageIds>,
    /// The clock reading shared by the messages of one mesh batch.
    pub clock: crate::runtime::clock::TurnClock,
    /// Stored messages awaiting durability, in LSN order.
    pub(crate) commits: RefCell<VecDeque<PendingCommit>>,
    /// Wakes the committer when `commits` gets its first entry.
    pub(crate) commit_waker: Cell<Option<std::task::Waker>>,
    /// Counters for monitoring.
    pub stats: stats::ShardStats,
    /// Replica of the global tables (system uids, person-channel lists).
    pub globals: RefCell<globals::Globals>,
    /// On the globals owner: the system uids as stored in its meta log (`globals` also holds
    /// the datasource's, which are never persisted). Empty elsewhere.
    pub stored_system_uids: RefCell<std::collections::BTreeSet<String>>,
    /// When to snapshot the meta log.
    pub compactor: compact::Compactor,
    /// Raised once this shard holds shard 0's snapshot of the global tables.
    pub globals_ready: Rc<crate::runtime::LocalStop>,
    /// Raised once every shard's start-up conversation hints were applied here.
    pub conv_ready: conversations::Readiness,
    /// Group channels created by each client connection's sends (`limits.channelCreateRate`).
    pub channel_creations: crate::runtime::ratelimit::KeyedLimiter<msg::ConnRef>,
    /// Where events go (webhooks), a no-op without a listener.
    pub events: Rc<dyn Events>,
    /// Channel data from the business backend, when a datasource is configured.
    pub channel_source: Option<Rc<dyn ChannelSource>>,
    /// User data from the business backend, when `datasource.userInfoOn`.
    pub user_source: Option<Rc<dyn events::UserSource>>,
    /// The connections held on this thread, for monitoring (set once the gateway exists).
    conn_view: RefCell<Option<Weak<dyn ConnView>>>,
    /// Who leads each slot, and in cluster mode the slot groups this shard hosts.
    placement: RefCell<crate::cluster::Placement>,
    /// Leaders of the slots other shards host (cluster mode), as they announced them.
    known_leaders: RefCell<FastMap<u16, u64>>,
    /// Cluster mode: the origins of sends forwarded to other nodes' slot leaders.
    pub relays: relay::Relays,
    /// Cluster mode: the slots owned here that are changing leader.
    pub handover: handover::Handover,
}

impl Shard {
    /// Whether sends still wait for their group commit (graceful stop).
    pub fn commits_pending(&self) -> bool {
        !self.commits.borrow().is_empty()
    }

    /// This node's id (`cluster.nodeId`).
    pub fn node(&self) -> u16 {
        self.ctx.config.cluster.node_id as u16
    }

    /// The slot of a key.
    pub fn slot_of(&self, key: &str) -> u16 {
        self.ctx.slots.slot_of(key)
    }

    /// Who leads `slot` (always this node in single-node mode): the group's view when this
    /// shard hosts it, else what the hosting shard announced.
    pub fn leader(&self, slot: u16) -> crate::cluster::Leader {
        use crate::cluster::Leader;
        let placement = self.placement.borrow();
        match placement.raft() {
            Some(r) if r.group(slot).is_none() => {
                match self.known_leaders.borrow().get(&slot).copied() {
                    Some(n) if n as u16 == self.node() => Leader::Local,
                    Some(n) if r.net().is_up(n) => Leader::Remote(n),
                    Some(_) => Leader::Unknown,
                    None => r.leader(slot),
                }
            }
            _ => placement.leader(slot),
        }
    }

    /// Records the leader of a slot another shard hosts (`None`: unknown now).
    pub fn note_leader(&self, slot: u16, leader: Option<u64>) {
        let mut known = self.known_leaders.borrow_mut();
        match leader {
            Some(n) => known.insert(slot, n),
            None => known.remove(&slot),
        };
    }

    /// The slot groups this shard hosts, in cluster mode.
    pub fn raft(&self) -> Option<Rc<crate::cluster::RaftShard>> {
        self.placement.borrow().raft().cloned()
    }

    /// Joins the cluster: from now on slots are led by their groups' leaders.
    pub fn set_placement(&self, placement: crate::cluster::Placement) {
        *self.placement.borrow_mut() = placement;
    }

    /// Where the owner of `key` is: (node, shard). The node is the leader of the key's slot
    /// (this node when it leads, in single-node mode, or while no leader is known).
    pub fn owner_of(&self, key: &str) -> (u16, usize) {
        let slot = self.slot_of(key);
        let node = match self.leader(slot) {
            crate::cluster::Leader::Remote(n) => n as u16,
            _ => self.node(),
        };
        (node, self.ctx.slots.shard_of_slot(slot))
    }

    /// Sends `msg` to shard `dst` of `node`: through the mesh on this node, through the
    /// cluster link otherwise (a message that cannot reach the node is dropped and logged;
    /// what depends on it recovers through sync or a retry).
    pub fn route(&self, node: u16, dst: usize, msg: ShardMsg) {
        if node == self.node() {
            self.mesh.send(dst, msg);
            return;
        }
        let sent = self.raft().is_some_and(|raft| {
            raft.net()
                .send_app(node as u64, dst as u16, |out| wire::encode_into(&msg, out))
        });
        if !sent {
            tracing::debug!(node, dst, "node message dropped: no link");
            // Whoever waits for this work's answer gets a refusal now, not a timeout.
            match msg {
                ShardMsg::Owner(msg::OwnerMsg::Relayed { id, outcome: _ }) => {
                    // The relay waits on this node: it refuses the send when the link's loss
                    // is noticed, or when the verdict is overdue.
                    tracing::debug!(node, id, "verdict on a relayed send not delivered");
                }
                ShardMsg::Owner(msg::OwnerMsg::Send(req)) => {
                    send::refuse(self, req.origin, crate::proto::ReasonCode::SYSTEM_ERROR)
                }
                ShardMsg::Owner(msg::OwnerMsg::Auth { id, req }) => {
                    let result = msg::AuthResult {
                        reason: crate::proto::ReasonCode::SYSTEM_ERROR.0,
                        device_level: 0,
                    };
                    let (n, d) = (req.conn.node, req.conn.shard as usize);
                    if n == self.node() {
                        self.mesh.send(d, msg::Answer::Auth { id, result }.into());
                    }
                }
                _ => {}
            }
        }
    }

    /// This shard's id.
    pub fn id(&self) -> usize {
        self.ctx.id
    }

    /// The shard that owns a user.
    pub fn user_owner(&self, uid: &str) -> usize {
        self.ctx.slots.shard_of(uid)
    }

    /// The shard that owns a channel (by its storage id).
    pub fn channel_owner(&self, channel_id: &str) -> usize {
        self.ctx.slots.shard_of(channel_id)
    }

    /// A shard over an opened store, with the ports it announces through.
    pub fn new(
        ctx: Rc<ShardCtx>,
        mesh: Rc<LocalMesh<ShardMsg>>,
        store: Store,
        ports: Ports,
    ) -> Shard {
        let cfg = &ctx.config;
        let create_rate = cfg.limits.channel_create_rate;
        let snapshot_ops = cfg.storage.meta_snapshot_ops;
        let node_id = cfg.cluster.node_id;
        Shard {
            ids: RefCell::new(MessageIds::new(
                cfg.cluster.node_id,
                ctx.id,
                ctx.slots.shards(),
            )),
            channel_creations: crate::runtime::ratelimit::KeyedLimiter::with_rate(
                create_rate as f64,
                create_rate.max(1) as f64,
            ),
            ctx,
            mesh,
            asks: Asks::default(),
            store: RefCell::new(store),
            log: crate::cluster::SlotLog::local(),
            users: Default::default(),
            channels: Default::default(),
            msg_events: Default::default(),
            event_lanes: Default::default(),
            event_queues: Default::default(),
            commits: Default::default(),
            commit_waker: Cell::new(None),
            stats: Default::default(),
            globals: Default::default(),
            stored_system_uids: Default::default(),
            compactor: compact::Compactor::new(snapshot_ops),
            globals_ready: crate::runtime::LocalStop::new(),
            conv_ready: conversations::Readiness::default(),
            events: ports.events,
            channel_source: ports.channel_source,
            user_source: ports.user_source,
            conn_view: RefCell::new(None),
            placement: RefCell::new(crate::cluster::Placement::single(node_id)),
            known_leaders: Default::default(),
            relays: Default::default(),
            handover: Default::default(),
            clock: Default::default(),
        }
    }

    /// Sends a question to `dst` and awaits its answer from `table` (through the mesh both
    /// ways; the answer type is the table's).
    pub async fn ask<R>(
        &self,
        table: &Rc<Replies<R>>,
        dst: usize,
        make: impl FnOnce(u64) -> ShardMsg,
    ) -> R {
        let (id, answer) = table.register();
        self.mesh.send_wait(dst, make(id)).await;
        answer.await
    }

    /// Runs `f` on shard `dst`, on its thread with the shard borrowed, and awaits its answer
    /// (read-only questions: REST reads, monitoring). One mesh round trip; `f` runs in one
    /// turn of `dst`'s mesh loop, so it should do a bounded amount of work.
    pub async fn inspect<R, F>(&self, dst: usize, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&Shard) -> R + Send + 'static,
    {
        let question = msg::Inspect(Box::new(
            move |s: &Shard| -> Box<dyn std::any::Any + Send> { Box::new(f(s)) },
        ));
        let value = self
            .ask(&self.asks.inspect, dst, |id| {
                msg::OwnerMsg::Inspect { id, f: question }.into()
            })
            .await;
        match value.downcast::<R>() {
            Ok(v) => *v,
            Err(_) => unreachable!("an inspect answer has the type its question returns"),
        }
    }

    /// Runs `f` on every shard and collects the answers in shard order (monitoring views).
    pub async fn inspect_all<R, F>(&self, f: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&Shard) -> R + Send + Clone + 'static,
    {
        let mut out = Vec::with_capacity(self.ctx.slots.shards());
        for dst in 0..self.ctx.slots.shards() {
            out.push(self.inspect(dst, f.clone()).await);
        }
        out
    }

    /// Plugs in the view of the connections held on this thread (at start-up).
    pub fn set_conn_view(&self, view: Weak<dyn ConnView>) {
        *self.conn_view.borrow_mut() = Some(view);
    }

    /// The connections held on this thread, if the gateway is up.
    pub fn conn_view(&self) -> Option<Rc<dyn ConnView>> {
        self.conn_view.borrow().as_ref()?.upgrade()
    }

    /// Appends a metadata change to this shard's meta log, applies it, and resolves once it is
    /// durable. An error means the change is not acknowledged (and, for a refused append,
    /// not applied either).
    ///
    /// The change is applied in the same turn as the append (no await between), so the state
    /// always reflects exactly the ops logged so far: a meta snapshot encoded in any turn
    /// covers precisely the ops below the log's end. A global change reaches the other
    /// shards' replicas once it is durable.
    pub async fn persist_meta(
        &self,
        rec: meta::MetaRecord,
    ) -> Result<(), jindou_storage::StoreError> {
        debug_assert!(
            !rec.is_global() || self.id() == globals::GLOBALS_OWNER,
            "global tables change only on their owner"
        );
        if let Some(raft) = self.raft() {
            // Cluster mode: the change goes through its slot's group; every replica applies it.
            let slot = replicated::meta_slot(self, &rec);
            return match raft.propose(slot, replicated::meta_cmd(&rec)).await {
                Ok(_) => Ok(()),
                Err(e) => Err(replicated::propose_error(e)),
            };
        }
        let wait = {
            let mut store = self.store.borrow_mut();
            let lsn = store.meta.append(meta::KIND_JSON, &rec.encode())?;
            self.compactor.note_ops(store.meta.ops_since_snapshot());
            store.meta.wait_durable(lsn)
        };
        self.with_owned_meta(|m| rec.apply_owned(m));
        let result = wait.await;
        if result.is_ok() && rec.is_global() {
            for dst in 0..self.ctx.slots.shards() {
                if dst != self.id() {
                    self.mesh
                        .send(dst, msg::OwnerMsg::GlobalOp(Box::new(rec.clone())).into());
                }
            }
        }
        result
    }

    /// Runs `f` on the state this shard's meta log rebuilds, borrowed mutably.
    pub fn with_owned_meta<R>(&self, f: impl FnOnce(&mut meta::OwnedMeta<'_>) -> R) -> R {
        f(&mut meta::OwnedMeta {
            channels: &mut self.channels.borrow_mut(),
            users: &mut self.users.borrow_mut(),
            events: &mut self.msg_events.borrow_mut(),
            globals: &mut self.globals.borrow_mut(),
            system_uids: &mut self.stored_system_uids.borrow_mut(),
        })
    }

    /// The owner of a user-keyed change (conversation positions, tokens).
    pub fn meta_owner_of_user(&self, rec: &meta::MetaRecord) -> usize {
        match rec {
            meta::MetaRecord::ConvPos { uid, .. }
            | meta::MetaRecord::Token { uid, .. }
            | meta::MetaRecord::ConvRemove { uid, .. } => self.user_owner(uid),
            other => self.meta_owner(other),
        }
    }

    /// The shard that owns the state a meta change touches.
    pub fn meta_owner(&self, rec: &meta::MetaRecord) -> usize {
        use meta::MetaRecord::*;
        if rec.is_global() {
            return globals::GLOBALS_OWNER;
        }
        match rec {
            Token { uid, .. }
            | PluginNo { uid, .. }
            | ConvPos { uid, .. }
            | ConvRemove { uid, .. } => self.user_owner(uid),
            ChannelUpsert { channel_id, .. }
            | ChannelDelete { channel_id, .. }
            | List { channel_id, .. }
            | MsgEvent { channel_id, .. } => self.channel_owner(channel_id),
            SystemUids { .. } => globals::GLOBALS_OWNER,
        }
    }
}
