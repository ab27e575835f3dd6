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
/// Size of a new outbound buffer.
const OUT_BUF: usize = 4 * 1024;
/// Largest outbound buffer returned to the pool (a burst's high-water mark is freed).
const OUT_BUF_MAX: usize = 64 * 1024;
/// Most buffers kept in each of a shard's pools.
const POOL_MAX: usize = 256;

/// One shard's client connections.
pub struct ConnTable {
    /// The state this shard owns (asks, mesh, stats, config).
    pub shard: Rc<Shard>,
    conns: RefCell<FastMap<u64, Rc<Conn>>>,
    next_id: Cell<u64>,
    /// Read buffers lent to connections while they have bytes to parse.
    read_pool: RefCell<Pool>,
    /// Outbound buffers lent to connections while they have bytes to write.
    out_pool: RefCell<Pool>,
    /// Scratch space for encoding and encryption (split off, never held across awaits).
    pub scratch: RefCell<BytesMut>,
    /// New client connections per IP (`limits.connRatePerIp`).
    pub conn_limiter: IpLimiter,
    /// The epoll set of parked connections (`None`: parking unavailable).
    pub parking: Option<super::park::Parking>,
    /// Cleared if waiting on `parking` failed: no connection parks any more.
    parking_on: Cell<bool>,
    /// Client connections open on the whole node (`limits.maxConnections`); touched once per
    /// connect and disconnect, never per message.
    pub node_conns: Arc<AtomicUsize>,
}

impl ConnTable {
    /// An empty table for `shard`, counting connections against `node_conns`.
    pub fn new(shard: Rc<Shard>, node_conns: Arc<AtomicUsize>) -> Rc<ConnTable> {
        let limits = &shard.ctx.config.limits;
        let conn_limiter = IpLimiter::new(limits.conn_rate_per_ip, shard.ctx.slots.shards());
        let parking = super::park::Parking::new()
            .inspect_err(|e| tracing::warn!(error = %e, "idle connections will not park"))
            .ok();
        let table = Rc::new(ConnTable {
            shard,
            conns: Default::default(),
            next_id: Cell::new(1),
            read_pool: Default::default(),
            out_pool: Default::default(),
            parking,
            parking_on: Cell::new(true),
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

    /// Calls `f` on every connection (no copy: `f` must not await or touch the table).
    pub fn for_each(&self, mut f: impl FnMut(&Rc<Conn>)) {
        self.conns.borrow().values().for_each(&mut f);
    }

    /// Every connection now (a copy: callers may await while going through it).
    pub fn all(&self) -> Vec<Rc<Conn>> {
        self.conns.borrow().values().cloned().collect()
    }

    /// Takes a read buffer from the pool (or a new one).
    pub fn take_buffer(&self) -> BytesMut {
        self.read_pool
            .borrow_mut()
            .take()
            .unwrap_or_else(|| BytesMut::with_capacity(READ_BUF))
    }

    /// Returns a read buffer to the pool (kept only if the pool has room and it is not grown).
    pub fn give_back(&self, mut buf: BytesMut) {
        buf.clear();
        if buf.capacity() >= READ_BUF && buf.capacity() <= 4 * READ_BUF {
            self.read_pool.borrow_mut().put(buf);
        }
    }

    /// Whether connections may park.
    pub fn parks(&self) -> bool {
        self.parking.is_some() && self.parking_on.get()
    }

    /// Stops parking (the epoll set failed) and gives every parked connection its task back.
    pub fn parking_failed(&self) {
        self.parking_on.set(false);
        for conn in self.all() {
            super::session::resume(&conn);
        }
    }

    /// Takes an outbound buffer from the pool (or a new, empty one that grows as needed).
    pub fn take_out_buffer(&self) -> BytesMut {
        self.out_pool
            .borrow_mut()
            .take()
            .unwrap_or_else(|| BytesMut::with_capacity(OUT_BUF))
    }

    /// Returns an outbound buffer to the pool (kept only if the pool has room and it is
    /// neither tiny nor grown past [`OUT_BUF_MAX`]).
    pub fn give_back_out(&self, mut buf: BytesMut) {
        buf.clear();
        if (OUT_BUF..=OUT_BUF_MAX).contains(&buf.capacity()) {
            self.out_pool.borrow_mut().put(buf);
        }
    }

    /// Frees the pooled buffers no connection needed since the last call (called by the idle
    /// sweep): a burst's high-water mark is not kept by a server at rest.
    pub fn trim_pools(&self) {
        self.read_pool.borrow_mut().trim();
        self.out_pool.borrow_mut().trim();
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
                let ident = c.identity.get()?;
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
            s.parked += u64::from(c.is_parked());
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
                let ident = c.identity.get()?;
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
                    device_id: ident.device_id.to_string(),
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

/// Spare buffers of one kind, at most [`POOL_MAX`], with the fewest held since the last trim
/// (those were never needed in between).
#[derive(Default)]
struct Pool {
    bufs: Vec<BytesMut>,
    /// Fewest buffers held since the last [`Pool::trim`].
    low: usize,
}

impl Pool {
    fn take(&mut self) -> Option<BytesMut> {
        let buf = self.bufs.pop();
        self.low = self.low.min(self.bufs.len());
        buf
    }

    fn put(&mut self, buf: BytesMut) {
        if self.bufs.len() < POOL_MAX {
            self.bufs.push(buf);
        }
    }

    /// Frees the buffers not taken since the last trim.
    fn trim(&mut self) {
        let keep = self.bufs.len() - self.low.min(self.bufs.len());
        self.bufs.truncate(keep);
        self.bufs.shrink_to(keep);
        self.low = self.bufs.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trim_frees_the_buffers_unused_since_the_last_one() {
        let mut pool = Pool::default();
        for _ in 0..10 {
            pool.put(BytesMut::with_capacity(8));
        }
        pool.trim(); // low was 0: nothing was unused for a whole interval yet
        assert_eq!(pool.bufs.len(), 10);
        let a = pool.take();
        let b = pool.take();
        pool.put(a.expect("pooled"));
        pool.put(b.expect("pooled"));
        pool.trim(); // 8 never left the pool in this interval
        assert_eq!(pool.bufs.len(), 2);
        pool.trim(); // and now neither did those
        assert!(pool.bufs.is_empty());
    }
}
