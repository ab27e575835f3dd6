//! The state one shard owns — its users, its channels, its message store, its connections —
//! and the message path between shards (DESIGN "The message path").
//!
//! Every piece of state has one owner shard (by slot); other shards ask it through the mesh.

pub mod api_ops;
pub mod channels;
pub mod compact;
pub mod conversations;
mod deliver;
mod dispatch;
pub mod globals;
pub mod ids;
pub mod meta;
pub mod msg;
pub mod reads;
mod send;
pub mod snapshot;
pub mod stats;
pub mod users;

pub use dispatch::run_mesh_loop;
pub use send::run_committer;

use crate::gateway::conn::Conn;
use crate::runtime::{LocalMesh, Replies};
use crate::server::ShardCtx;
use channels::Channels;
use ids::MessageIds;
use jindou_storage::Store;
use msg::{AuthResult, SendOutcome, ShardMsg};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use users::Users;

/// Hash maps of shard state: ahash (fast, randomly seeded, so clients cannot force collisions).
pub type FastMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// Answers awaited by tasks of this shard.
#[derive(Debug)]
pub enum Reply {
    /// CONNECT verdict.
    Auth(AuthResult),
    /// REST send verdict.
    Send(SendOutcome),
    /// REST request answer.
    Api(Box<api_ops::ApiResp>),
}

/// A stored message waiting for its group commit before it is acknowledged and delivered.
pub(crate) struct PendingCommit {
    pub lsn: u64,
    pub received: std::time::Instant,
    pub origin: msg::SendOrigin,
    pub msg: std::sync::Arc<msg::Delivered>,
    pub receivers: Vec<std::sync::Arc<str>>,
}

/// One shard: everything its tasks share (through `Rc`, never across threads).
pub struct Shard {
    /// Static context: id, config, slot map, stop signal.
    pub ctx: Rc<ShardCtx>,
    /// The mesh to other shards.
    pub mesh: Rc<LocalMesh<ShardMsg>>,
    /// Pending questions to other shards.
    pub replies: Rc<Replies<Reply>>,
    /// This shard's message and meta logs.
    pub store: RefCell<Store>,
    /// Users this shard owns.
    pub users: RefCell<Users>,
    /// Channels this shard owns.
    pub channels: RefCell<Channels>,
    /// Client connections this shard holds.
    pub conns: RefCell<FastMap<u64, Rc<Conn>>>,
    /// Next connection id.
    pub next_conn_id: Cell<u64>,
    /// Message id generator.
    pub ids: RefCell<MessageIds>,
    /// Stored messages awaiting durability, in LSN order.
    pub(crate) commits: RefCell<VecDeque<PendingCommit>>,
    /// Wakes the committer when `commits` gets its first entry.
    pub(crate) commit_waker: Cell<Option<std::task::Waker>>,
    /// Counters for monitoring.
    pub stats: stats::ShardStats,
    /// Read buffers lent to connections while they have bytes to parse.
    pub read_pool: RefCell<Vec<bytes::BytesMut>>,
    /// Scratch space for encoding and encryption (split off, never held across awaits).
    pub scratch: RefCell<bytes::BytesMut>,
    /// Replica of the global tables (system uids, person-channel lists).
    pub globals: RefCell<globals::Globals>,
    /// On the globals owner: the system uids as stored in its meta log (`globals` also holds
    /// the datasource's, which are never persisted). Empty elsewhere.
    pub stored_system_uids: RefCell<std::collections::BTreeSet<String>>,
    /// When to snapshot the meta log.
    pub compactor: compact::Compactor,
    /// Raised once this shard holds shard 0's snapshot of the global tables.
    pub globals_ready: Rc<crate::runtime::LocalStop>,
    /// The webhook thread and the datasource, when configured (`None`: neither).
    pub hooks: Option<crate::webhook::ShardHooks>,
}

impl Shard {
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

    /// Sends a question to `dst` and awaits the answer (through the mesh both ways).
    pub async fn ask(&self, dst: usize, make: impl FnOnce(u64) -> ShardMsg) -> Reply {
        let (id, answer) = self.replies.register();
        self.mesh.send_wait(dst, make(id)).await;
        answer.await
    }

    /// Allocates a connection id.
    pub fn new_conn_id(&self) -> u64 {
        let id = self.next_conn_id.get();
        self.next_conn_id.set(id + 1);
        id
    }

    /// Appends a metadata change to this shard's meta log, applies it, and resolves once it is
    /// durable. An error means the change is not acknowledged.
    ///
    /// The change is applied in the same turn as the append (no await between), so the state
    /// always reflects exactly the ops logged so far: a meta snapshot encoded in any turn
    /// covers precisely the ops below the log's end. A global change reaches the other
    /// shards' replicas once it is durable.
    pub async fn persist_meta(&self, rec: meta::MetaRecord) -> Result<(), String> {
        debug_assert!(
            !rec.is_global() || self.id() == globals::GLOBALS_OWNER,
            "global tables change only on their owner"
        );
        let wait = {
            let mut store = self.store.borrow_mut();
            let lsn = store
                .meta
                .append(meta::KIND_JSON, &rec.encode())
                .map_err(|e| e.to_string())?;
            self.compactor.note_ops(store.meta.ops_since_snapshot());
            store.meta.wait_durable(lsn)
        };
        self.with_owned_meta(|m| rec.apply_owned(m));
        let result = wait.await.map_err(|e| e.to_string());
        if result.is_ok() && rec.is_global() {
            for dst in 0..self.ctx.slots.shards() {
                if dst != self.id() {
                    self.mesh
                        .send(dst, ShardMsg::GlobalOp(Box::new(rec.clone())));
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
            globals: &mut self.globals.borrow_mut(),
            system_uids: &mut self.stored_system_uids.borrow_mut(),
        })
    }

    /// The owner of a user-keyed change (conversation positions, tokens).
    pub fn meta_owner_of_user(&self, rec: &meta::MetaRecord) -> usize {
        match rec {
            meta::MetaRecord::ConvPos { uid, .. } | meta::MetaRecord::Token { uid, .. } => {
                self.user_owner(uid)
            }
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
            Token { uid, .. } | ConvPos { uid, .. } => self.user_owner(uid),
            ChannelUpsert { channel_id, .. }
            | ChannelDelete { channel_id, .. }
            | List { channel_id, .. } => self.channel_owner(channel_id),
            SystemUids { .. } => globals::GLOBALS_OWNER,
        }
    }
}
