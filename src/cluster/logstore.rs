//! openraft's log storage for one group: a view of the shard's [`RaftWal`] tagged with the
//! group. Appends join the shard's group commit; the callback fires after the fdatasync.

use super::types::*;
use super::wal::RaftWal;
use openraft::storage::RaftLogStorage;
use openraft::{OptionalSend, RaftLogReader};
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::rc::Rc;

/// One group's log.
#[derive(Clone)]
pub struct LogStore {
    g: GroupId,
    wal: Rc<RaftWal>,
}

impl LogStore {
    /// Group `g`'s view of `wal`.
    pub fn new(g: GroupId, wal: Rc<RaftWal>) -> LogStore {
        LogStore { g, wal }
    }
}

impl RaftLogReader<TC> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(i) => i + 1,
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        self.wal.entries(self.g, from, to)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.wal.with_group(self.g, |gl| gl.vote))
    }
}

impl RaftLogStorage<TC> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState, io::Error> {
        Ok(self.wal.with_group(self.g, |gl| LogState {
            last_purged_log_id: gl.last_purged,
            last_log_id: gl.last.or(gl.last_purged),
        }))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.wal.save_vote(self.g, vote).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.wal.save_committed(self.g, committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.wal.with_group(self.g, |gl| gl.committed))
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.wal.append(self.g, entries, callback)
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        self.wal.truncate_after(self.g, last_log_id)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.wal.purge(self.g, log_id)
    }
}
