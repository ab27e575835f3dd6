//! The raft log of one shard: every replication group the shard hosts appends to one segment
//! log (`jindou_storage::log::Log`, `<shard dir>/raft`), so all of them ride one group commit
//! (one fdatasync per batch). Records are tagged with their group: votes, entries, truncations,
//! purges and commit marks. In memory each group keeps only the LSN of each of its entries.
//!
//! Ordering is what makes the unawaited records safe: a truncation or a commit mark is in
//! the same ordered log as the entries, so it can never be durable without what precedes it.

use super::codec::*;
use super::types::*;
use bytes::BufMut;
use jindou_storage::log::Log;
use jindou_storage::StoreError;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

const REC_VOTE: u8 = 1;
const REC_ENTRY: u8 = 2;
const REC_TRUNCATE: u8 = 3;
const REC_PURGE: u8 = 4;
const REC_COMMITTED: u8 = 5;

/// What one group's log holds.
#[derive(Debug, Default)]
pub struct GroupLog {
    /// The latest vote.
    pub vote: Option<Vote>,
    /// The latest commit mark.
    pub committed: Option<LogId>,
    /// The last entry deleted by a purge.
    pub last_purged: Option<LogId>,
    /// The index of `lsns[0]`.
    pub first_index: u64,
    /// The LSN of each entry from `first_index` on.
    pub lsns: VecDeque<u64>,
    /// The last entry's id.
    pub last: Option<LogId>,
}

impl GroupLog {
    /// The index the next entry takes.
    fn next_index(&self) -> u64 {
        self.first_index + self.lsns.len() as u64
    }

    /// Forgets the entries from `index` on (in memory).
    fn cut_from(&mut self, index: u64) {
        if index < self.next_index() {
            let keep = index.saturating_sub(self.first_index) as usize;
            self.lsns.truncate(keep);
        }
    }

    /// Forgets the entries up to `upto` (in memory), as a purge record says: live and when
    /// the log is read back at start-up.
    fn purge_to(&mut self, upto: LogId) {
        while self.first_index <= upto.index && !self.lsns.is_empty() {
            self.lsns.pop_front();
            self.first_index += 1;
        }
        if self.lsns.is_empty() {
            self.first_index = upto.index + 1;
        }
        self.last_purged = Some(upto);
        if self.last.is_none_or(|l| l.index < upto.index) {
            self.last = Some(upto);
        }
    }
}

fn io_err(e: StoreError) -> io::Error {
    io::Error::other(e.to_string())
}

/// The shard's raft log.
pub struct RaftWal {
    log: RefCell<Log>,
    groups: RefCell<HashMap<GroupId, GroupLog>>,
    /// Appends awaiting their group commit, in LSN order.
    pending: RefCell<VecDeque<(u64, IOFlushed)>>,
    waker: Cell<Option<Waker>>,
    scratch: RefCell<Vec<u8>>,
}

impl RaftWal {
    /// Opens the log and rebuilds every group from it. Must run on the shard's runtime (the
    /// group commit spawns its syncer); starts the flusher that completes appends.
    pub fn open(log: Log) -> io::Result<Rc<RaftWal>> {
        let mut groups: HashMap<GroupId, GroupLog> = HashMap::new();
        for rec in log.iter_from(log.first_lsn()) {
            let rec = rec.map_err(io_err)?;
            let mut r = Rd(rec.payload);
            let g = r.u16()?;
            let gl = groups.entry(g).or_default();
            match rec.kind {
                REC_VOTE => gl.vote = Some(get_vote(&mut r)?),
                REC_COMMITTED => gl.committed = get_olog_id(&mut r)?,
                REC_ENTRY => {
                    let log_id = get_log_id(&mut r)?;
                    if gl.lsns.is_empty() {
                        gl.first_index = log_id.index;
                    }
                    gl.cut_from(log_id.index);
                    if log_id.index != gl.next_index() {
                        return Err(bad("raft log has a hole"));
                    }
                    gl.lsns.push_back(rec.lsn);
                    gl.last = Some(log_id);
                }
                REC_TRUNCATE => {
                    let after = get_olog_id(&mut r)?;
                    gl.cut_from(after.map_or(0, |l| l.index + 1));
                    gl.last = after.or(gl.last_purged);
                }
                REC_PURGE => {
                    gl.purge_to(get_log_id(&mut r)?);
                }
                _ => return Err(bad("unknown raft log record")),
            }
        }
        let wal = Rc::new(RaftWal {
            log: RefCell::new(log),
            groups: RefCell::new(groups),
            pending: RefCell::new(VecDeque::new()),
            waker: Cell::new(None),
            scratch: RefCell::new(Vec::with_capacity(4096)),
        });
        monoio::spawn(wal.clone().run_flusher());
        Ok(wal)
    }

    /// Runs `f` on group `g`'s state (created empty on first use).
    pub fn with_group<R>(&self, g: GroupId, f: impl FnOnce(&mut GroupLog) -> R) -> R {
        f(self.groups.borrow_mut().entry(g).or_default())
    }

    fn put(&self, kind: u8, g: GroupId, body: impl FnOnce(&mut Vec<u8>)) -> io::Result<u64> {
        let mut b = self.scratch.borrow_mut();
        b.clear();
        b.put_u16_le(g);
        body(&mut b);
        self.log.borrow_mut().append(kind, &b).map_err(io_err)
    }

    /// Records a vote and waits until it is durable.
    pub async fn save_vote(&self, g: GroupId, vote: &Vote) -> io::Result<()> {
        let lsn = self.put(REC_VOTE, g, |b| put_vote(b, vote))?;
        self.with_group(g, |gl| gl.vote = Some(*vote));
        let wait = self.log.borrow().wait_durable(lsn);
        wait.await.map_err(io_err)
    }

    /// Records a commit mark (not awaited: it follows the entries it covers).
    pub fn save_committed(&self, g: GroupId, c: Option<LogId>) -> io::Result<()> {
        self.put(REC_COMMITTED, g, |b| put_olog_id(b, &c))?;
        self.with_group(g, |gl| gl.committed = c);
        Ok(())
    }

    /// Appends entries; `done` is called once they are durable.
    pub fn append(
        &self,
        g: GroupId,
        entries: impl IntoIterator<Item = Entry>,
        done: IOFlushed,
    ) -> io::Result<()> {
        let mut last_lsn = None;
        for e in entries {
            let lsn = self.put(REC_ENTRY, g, |b| put_entry(b, &e))?;
            self.with_group(g, |gl| {
                if gl.lsns.is_empty() {
                    gl.first_index = e.log_id.index;
                }
                gl.cut_from(e.log_id.index);
                debug_assert_eq!(e.log_id.index, gl.next_index(), "appends follow the log");
                gl.lsns.push_back(lsn);
                gl.last = Some(e.log_id);
            });
            last_lsn = Some(lsn);
        }
        match last_lsn {
            Some(lsn) => {
                self.pending.borrow_mut().push_back((lsn, done));
                if let Some(w) = self.waker.take() {
                    w.wake();
                }
            }
            None => done.io_completed(Ok(())),
        }
        Ok(())
    }

    /// Deletes the entries after `last` (not awaited: ordered before any later append).
    pub fn truncate_after(&self, g: GroupId, last: Option<LogId>) -> io::Result<()> {
        self.put(REC_TRUNCATE, g, |b| put_olog_id(b, &last))?;
        self.with_group(g, |gl| {
            gl.cut_from(last.map_or(0, |l| l.index + 1));
            gl.last = last.or(gl.last_purged);
        });
        Ok(())
    }

    /// Forgets the entries up to `upto` (the segments stay until the whole log is compacted).
    pub fn purge(&self, g: GroupId, upto: LogId) -> io::Result<()> {
        self.put(REC_PURGE, g, |b| put_log_id(b, &upto))?;
        self.with_group(g, |gl| gl.purge_to(upto));
        Ok(())
    }

    /// Reads group `g`'s entries with indexes in `[from, to)`.
    pub fn entries(&self, g: GroupId, from: u64, to: u64) -> io::Result<Vec<Entry>> {
        let lsns: Vec<u64> = self.with_group(g, |gl| {
            let lo = from.max(gl.first_index);
            let hi = to.min(gl.next_index());
            (lo..hi)
                .map(|i| gl.lsns[(i - gl.first_index) as usize])
                .collect()
        });
        let log = self.log.borrow();
        let mut out = Vec::with_capacity(lsns.len());
        for lsn in lsns {
            let rec = log.read(lsn).map_err(io_err)?;
            let mut r = Rd(rec.payload);
            let _g = r.u16()?;
            out.push(get_entry(&mut r)?);
        }
        Ok(out)
    }

    /// Completes appends as their group commits become durable.
    async fn run_flusher(self: Rc<Self>) {
        loop {
            let target = poll_fn(|cx| match self.pending.borrow().back() {
                Some((lsn, _)) => Poll::Ready(*lsn),
                None => {
                    self.waker.set(Some(cx.waker().clone()));
                    Poll::Pending
                }
            })
            .await;
            let wait = self.log.borrow().wait_durable(target);
            let result = wait.await;
            let done: Vec<IOFlushed> = {
                let mut p = self.pending.borrow_mut();
                let n = p.iter().take_while(|(lsn, _)| *lsn <= target).count();
                p.drain(..n).map(|(_, cb)| cb).collect()
            };
            for cb in done {
                cb.io_completed(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::other(e.to_string())),
                });
            }
        }
    }

    /// Syncs everything appended, blocking (clean shutdown).
    pub fn flush_blocking(&self) -> io::Result<()> {
        self.log.borrow().sync_blocking().map_err(io_err)
    }
}
