//! The connections one shard holds: the table by id, the read buffers lent to them, scratch
//! space for encoding, and the listener limits. One per shard, shared by its connection tasks.

use super::conn::Conn;
use crate::runtime::ratelimit::IpLimiter;
use crate::shard::events::{ConnRow, ConnSummary, ConnView};
use crate::shard::msg::ConnRef;
use crate::shard::{FastMap, Shard};
use bytes::BytesMut;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Size of the read buffers lent to connections.
pub const READ_BUF: usize = 16 * 1024;
/// Most buffers kept in a shard's pool.
const POOL_MAX: usize = 256;

/// One shard's client connections.
pub struct ConnTable {
    /// The state this shard owns (asks, mesh, stats, config).
    pub shard: Rc<Shard>,
    conns: RefCell<FastMap<u64, Rc<Conn>>>,
    next_id: Cell<u64>,
    /// Read buffers lent to connections while they have bytes to parse.
    read_pool: RefCell<Vec<BytesMut>>,
    /// Scratch space for encoding and encryption (split off, never held across awaits).
    pub scratch: RefCell<BytesMut>,
    /// New client connections per IP (`limits.connRatePerIp`).
    pub conn_limiter: IpLimiter,
    /// Client connections open on the whole node (`limits.maxConnections`); touched once per
    /// connect and disconnect, never per message.
    pub node_conns: Arc<AtomicUsize>,
}

impl ConnTable {
    /// An empty table for `shard`, counting connections against `node_conns`.
    pub fn new(shard: Rc<Shard>, node_conns: Arc<AtomicUsize>) -> Rc<ConnTable> {
        let limits = &shard.ctx.config.limits;
        let conn_limiter = IpLimiter::new(limits.conn_rate_per_ip, shard.ctx.slots.shards());
        let table = Rc::new(ConnTable {
            shard,
            conns: Default::default(),
            next_id: Cell::new(1),
            read_pool: Default::default(),
            scratch: Default::default(),
            conn_limiter,
            node_conns,
        });
        let view: Rc<dyn ConnView> = table.clone();
        table.shard.set_conn_view(Rc::downgrade(&view));
        table
    }

    /// Allocates a connection id.
    pub fn new_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// The [`ConnRef`] of a connection of this shard.
    pub fn conn_ref(&self, id: u64) -> ConnRef {
        ConnRef {
            node: self.shard.node(),
            shard: self.shard.id() as u16,
            id,
        }
    }

    /// Adds a connection.
    pub fn insert(&self, conn: Rc<Conn>) {
        self.conns.borrow_mut().insert(conn.id, conn);
    }

    /// Removes a connection.
    pub fn remove(&self, id: u64) {
        self.conns.borrow_mut().remove(&id);
    }

    /// A connection by id.
    pub fn get(&self, id: u64) -> Option<Rc<Conn>> {
        self.conns.borrow().get(&id).cloned()
    }

    /// Every connection now (a copy: callers may await while going through it).
    pub fn all(&self) -> Vec<Rc<Conn>> {
        self.conns.borrow().values().cloned().collect()
    }

    /// Takes a read buffer from the pool (or a new one).
    pub fn take_buffer(&self) -> BytesMut {
        self.read_pool
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(READ_BUF))
    }

    /// Returns a read buffer to the pool (kept only if the pool has room and it is not grown).
    pub fn give_back(&self, mut buf: BytesMut) {
        buf.clear();
        let mut pool = self.read_pool.borrow_mut();
        if pool.len() < POOL_MAX && buf.capacity() >= READ_BUF && buf.capacity() <= 4 * READ_BUF {
            pool.push(buf);
        }
    }

    /// Counts a new connection against `limits.maxConnections`; false (and not counted) when
    /// the node is full.
    pub fn admit(&self) -> bool {
        let max = self.shard.ctx.config.limits.max_connections;
        if self.node_conns.fetch_add(1, Ordering::Relaxed) >= max {
            self.node_conns.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Forgets a connection admitted by [`ConnTable::admit`].
    pub fn release(&self) {
        self.node_conns.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConnView for ConnTable {
    fn sessions(&self) -> Vec<(std::sync::Arc<str>, crate::shard::users::Session)> {
        self.conns
            .borrow()
            .values()
            .filter_map(|c| {
                let ident = c.identity.borrow();
                let ident = ident.as_ref()?;
                Some((
                    ident.uid.clone(),
                    crate::shard::users::Session {
                        conn: self.conn_ref(c.id),
                        device_flag: ident.device_flag,
                        device_id: ident.device_id.clone(),
                        device_level: ident.device_level,
                    },
                ))
            })
            .collect()
    }

    fn summary(&self) -> ConnSummary {
        let conns = self.conns.borrow();
        let mut s = ConnSummary {
            sockets: conns.len() as u64,
            ..Default::default()
        };
        for c in conns.values() {
            s.unacked += c.unacked.borrow().len() as u64;
            s.pending_bytes += c.queued() as u64;
        }
        s
    }

    fn rows(&self, uid_filter: &str) -> Vec<ConnRow> {
        let shard = self.shard.id();
        self.conns
            .borrow()
            .values()
            .filter_map(|c| {
                let ident = c.identity.borrow();
                let ident = ident.as_ref()?;
                if !uid_filter.is_empty() && !ident.uid.contains(uid_filter) {
                    return None;
                }
                Some(ConnRow {
                    id: self.conn_ref(c.id).node_wide_id(),
                    conn_id: c.id,
                    shard,
                    uid: ident.uid.to_string(),
                    device_flag: ident.device_flag,
                    device_level: ident.device_level,
                    device_id: ident.device_id.clone(),
                    version: c.version.get(),
                    websocket: c.websocket,
                    uptime_secs: c.since.elapsed().as_secs_f64(),
                    pending_bytes: c.queued() as u64,
                    unacked: c.unacked.borrow().len() as u64,
                })
            })
            .collect()
    }
}
