//! An append-only log over a directory of segments, with its group commit.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::commit::{CommitState, CommitStats, DurableFuture, SyncTarget};
use crate::config::{LogConfig, SyncPolicy};
use crate::error::{Result, StoreError};
use crate::record::{self, Decoded};
use crate::recovery::{self, RecoveryReport};
use crate::segment::{parse_segment_name, Segment};

/// A record read back from the log, borrowed from the mapping (zero copy).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The record's LSN (global byte offset of its start).
    pub lsn: u64,
    /// Kind byte given at append.
    pub kind: u8,
    /// The payload, 16-byte aligned.
    pub payload: &'a [u8],
    /// LSN of the next record.
    pub next: u64,
}

/// A segmented, memory-mapped, group-committed log.
pub struct Log {
    cfg: LogConfig,
    segments: VecDeque<Segment>,
    commit: Rc<CommitState>,
    dir_sync: Rc<SyncTarget>,
    /// Where the first segment starts when the log is empty.
    next_base: u64,
    report: RecoveryReport,
}

impl Log {
    /// Opens (or creates) the log in `cfg.dir`, recovering its tail.
    ///
    /// `checkpoint(base)` may tell, per segment, a byte offset up to which the records are
    /// known valid (from an index checkpoint); only the rest is scanned. Unless the policy is
    /// `None`, this must run inside a monoio runtime with timers: it spawns the syncer.
    pub fn open(cfg: LogConfig, checkpoint: &dyn Fn(u64) -> Option<usize>) -> Result<Log> {
        crate::dirs::create_dir_durable(&cfg.dir)?;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(&cfg.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".seg.tmp") {
                // An interrupted preallocation: never held records.
                std::fs::remove_file(entry.path())?;
            } else if let Some(base) = parse_segment_name(name) {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut segments = Vec::with_capacity(bases.len());
        for base in bases {
            let path = cfg.dir.join(crate::segment::segment_name(base));
            segments.push(Segment::open(&path, base)?);
        }
        let report = recovery::recover(&mut segments, checkpoint, cfg.repair)?;
        let end = segments.last().map_or(0, |s| s.end());
        let dir_sync = Rc::new(SyncTarget::dir(&cfg.dir)?);
        let commit = CommitState::new(cfg.sync_policy, cfg.sync_interval, cfg.sync_batch, end);
        commit.start();
        Ok(Log {
            next_base: end,
            cfg,
            segments: segments.into(),
            commit,
            dir_sync,
            report,
        })
    }

    /// What recovery found and did at open.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Directory of the segment files.
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// First LSN still stored (older ones were deleted by retention or compaction).
    pub fn first_lsn(&self) -> u64 {
        self.segments.front().map_or(self.next_base, |s| s.base())
    }

    /// LSN the next record will get (if it fits the active segment).
    pub fn end_lsn(&self) -> u64 {
        self.segments.back().map_or(self.next_base, |s| s.end())
    }

    /// Every record below this LSN is durable.
    pub fn durable_end(&self) -> u64 {
        self.commit.durable_end()
    }

    /// Group-commit counters.
    pub fn commit_stats(&self) -> CommitStats {
        self.commit.stats()
    }

    /// Largest payload a record may carry.
    pub fn max_payload(&self) -> usize {
        (self.cfg.segment_size as usize)
            .min(u32::MAX as usize)
            .saturating_sub(record::HEADER + record::ALIGN)
    }

    /// Appends a record (a copy into the mapping) and returns its LSN. Durability is awaited
    /// separately with [`Log::wait_durable`].
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> Result<u64> {
        self.commit.check_usable()?;
        if payload.len() > self.max_payload() {
            return Err(StoreError::TooLarge {
                size: record::framed_len(payload.len()),
                max: record::framed_len(self.max_payload()),
            });
        }
        let needs_new = match self.segments.back() {
            None => true,
            Some(s) => !s.fits(payload.len()),
        };
        if needs_new {
            self.roll()?;
        }
        let seg = self.segments.back_mut().expect("an active segment exists");
        if !seg.fits(payload.len()) {
            return Err(StoreError::TooLarge {
                size: record::framed_len(payload.len()),
                max: seg.capacity(),
            });
        }
        let off = seg.append(kind, payload);
        let lsn = seg.base() + off as u64;
        self.commit.note_append(seg.end(), seg.sync_target());
        Ok(lsn)
    }

    /// Seals the active segment and starts a new preallocated one at the current end.
    /// On ENOSPC nothing changes and [`StoreError::DiskFull`] is returned; the next append
    /// retries.
    pub fn roll(&mut self) -> Result<()> {
        if let Some(active) = self.segments.back() {
            if active.write_pos() == 0 {
                if active.capacity() as u64 >= self.cfg.segment_size {
                    return Ok(()); // the active segment is empty already
                }
                // An empty segment smaller than configured: replace it.
                let old = self.segments.pop_back().expect("checked");
                std::fs::remove_file(old.path())?;
            }
        }
        let base = self.end_lsn();
        let seg = Segment::create(&self.cfg.dir, base, self.cfg.segment_size)?;
        if let Some(prev) = self.segments.back() {
            // The sealed segment's records must reach the disk with the next batch.
            debug_assert_eq!(prev.end(), base);
        }
        self.commit.touch(&self.dir_sync);
        self.segments.push_back(seg);
        Ok(())
    }

    /// Waits until the record at `lsn` is durable per the sync policy.
    pub fn wait_durable(&self, lsn: u64) -> DurableFuture {
        self.commit.wait_durable(lsn)
    }

    /// Syncs everything appended so far, blocking the thread (shutdown, tools, tests).
    pub fn sync_blocking(&self) -> Result<()> {
        if self.cfg.sync_policy == SyncPolicy::None {
            return Ok(());
        }
        self.commit.sync_now_blocking()
    }

    fn segment_index(&self, lsn: u64) -> Result<usize> {
        if lsn < self.first_lsn() {
            return Err(StoreError::TruncatedByRetention {
                first_available: self.first_lsn(),
            });
        }
        let i = self.segments.partition_point(|s| s.base() <= lsn);
        if i == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(i - 1)
    }

    /// Reads the record at `lsn` without copying.
    pub fn read(&self, lsn: u64) -> Result<Record<'_>> {
        let i = self.segment_index(lsn)?;
        let seg = &self.segments[i];
        if lsn >= seg.end() {
            return Err(StoreError::NotFound);
        }
        let off = (lsn - seg.base()) as usize;
        if !off.is_multiple_of(record::ALIGN) {
            return Err(StoreError::NotFound);
        }
        match seg.decode_at(off) {
            Decoded::Record {
                kind,
                payload,
                framed,
            } => Ok(Record {
                lsn,
                kind,
                payload,
                next: lsn + framed as u64,
            }),
            Decoded::End => Err(StoreError::NotFound),
            Decoded::Bad(reason) => Err(StoreError::Corrupt {
                segment: seg.path().to_path_buf(),
                offset: off as u64,
                reason: reason.to_string(),
            }),
        }
    }

    /// Iterates the records from `lsn` (a record start, or the start of a segment) to the end.
    pub fn iter_from(&self, lsn: u64) -> LogIter<'_> {
        let lsn = lsn.max(self.first_lsn());
        LogIter { log: self, lsn }
    }

    /// The segments, oldest first; the last one is the active one.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &Segment> + ExactSizeIterator + '_ {
        self.segments.iter()
    }

    /// Records the timestamp of the record at `lsn`, for retention by age.
    pub fn note_ts(&self, lsn: u64, ts: i64) {
        if let Ok(i) = self.segment_index(lsn) {
            self.segments[i].note_ts(ts);
        }
    }

    /// Bytes of all segment files.
    pub fn disk_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.capacity() as u64).sum()
    }

    /// Drops every segment and restarts the log empty at `lsn` (all records obsolete, e.g.
    /// covered by a snapshot that is ahead of what survived in the log); the directory is
    /// fsynced after the removals.
    pub fn reset_to(&mut self, lsn: u64) -> Result<()> {
        assert!(
            lsn >= self.end_lsn(),
            "reset_to may only move the log forward"
        );
        while let Some(seg) = self.segments.pop_front() {
            std::fs::remove_file(seg.path())?;
        }
        self.sync_dir_now()?;
        self.next_base = lsn;
        self.commit.reset(lsn);
        Ok(())
    }

    /// Makes the removals of segment names durable at once (a power cut must not bring back
    /// a deleted segment), unless the policy is `None`.
    fn sync_dir_now(&self) -> Result<()> {
        if self.cfg.sync_policy != SyncPolicy::None {
            self.dir_sync.sync_blocking()?;
        }
        Ok(())
    }

    /// Deletes the oldest `n` sealed segments (never the active one) and fsyncs the directory;
    /// returns the paths.
    pub fn delete_oldest(&mut self, n: usize) -> Result<Vec<PathBuf>> {
        let n = n.min(self.segments.len().saturating_sub(1));
        let mut gone = Vec::with_capacity(n);
        for _ in 0..n {
            let seg = self.segments.pop_front().expect("counted");
            std::fs::remove_file(seg.path())?;
            gone.push(seg.path().to_path_buf());
        }
        if !gone.is_empty() {
            self.sync_dir_now()?;
        }
        Ok(gone)
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.commit.close();
    }
}

/// Iterator over records from an LSN; yields an error (then stops) on a corrupt record.
pub struct LogIter<'a> {
    log: &'a Log,
    lsn: u64,
}

impl<'a> Iterator for LogIter<'a> {
    type Item = Result<Record<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let i = match self.log.segment_index(self.lsn) {
                Ok(i) => i,
                Err(_) => return None,
            };
            let seg = &self.log.segments[i];
            if self.lsn >= seg.end() {
                // Move to the next segment, if any.
                let next = self.log.segments.get(i + 1)?;
                self.lsn = next.base();
                continue;
            }
            return match self.log.read(self.lsn) {
                Ok(r) => {
                    self.lsn = r.next;
                    Some(Ok(r))
                }
                Err(e) => {
                    self.lsn = u64::MAX;
                    Some(Err(e))
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn cfg(dir: &Path, segment_size: u64) -> LogConfig {
        LogConfig {
            dir: dir.to_path_buf(),
            segment_size,
            sync_policy: SyncPolicy::None,
            sync_interval: Duration::from_millis(1),
            sync_batch: 16,
            repair: false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn appends_roll_and_read_back(sizes in proptest::collection::vec(0usize..1500, 1..200)) {
            let dir = tempfile::tempdir().unwrap();
            let mut log = Log::open(cfg(dir.path(), 4096), &|_| None).unwrap();
            let mut lsns = vec![];
            for (i, &n) in sizes.iter().enumerate() {
                let payload = vec![(i % 251) as u8; n];
                let lsn = log.append(1 + (i % 200) as u8, &payload).unwrap();
                prop_assert_eq!(lsn % 16, 0);
                lsns.push(lsn);
            }
            for (i, &lsn) in lsns.iter().enumerate() {
                let r = log.read(lsn).unwrap();
                prop_assert_eq!(r.payload.len(), sizes[i]);
                prop_assert_eq!(r.payload.as_ptr() as usize % 16, 0);
                prop_assert!(r.payload.iter().all(|&b| b == (i % 251) as u8));
                prop_assert_eq!(r.kind, 1 + (i % 200) as u8);
            }
            let all: Vec<u64> = log.iter_from(0).map(|r| r.unwrap().lsn).collect();
            prop_assert_eq!(&all, &lsns);
            // Segment files are named by their first LSN and preallocated to full size.
            for s in log.segments() {
                let name = s.path().file_name().unwrap().to_str().unwrap().to_string();
                prop_assert_eq!(name, crate::segment::segment_name(s.base()));
                prop_assert_eq!(std::fs::metadata(s.path()).unwrap().len(), 4096);
            }
            drop(log);
            let log = Log::open(cfg(dir.path(), 4096), &|_| None).unwrap();
            let again: Vec<u64> = log.iter_from(0).map(|r| r.unwrap().lsn).collect();
            prop_assert_eq!(again, lsns);
        }
    }

    #[test]
    fn not_sparse() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(cfg(dir.path(), 1 << 20), &|_| None).unwrap();
        log.append(1, b"x").unwrap();
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(log.segments().next().unwrap().path()).unwrap();
        assert!(
            m.blocks() * 512 >= 1 << 20,
            "segment is preallocated, not sparse"
        );
    }

    #[test]
    fn reads_past_the_end_or_misaligned_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(cfg(dir.path(), 4096), &|_| None).unwrap();
        let lsn = log.append(1, b"abc").unwrap();
        assert!(matches!(log.read(lsn + 32), Err(StoreError::NotFound)));
        assert!(log.read(lsn + 16).is_err(), "not a record start");
        assert!(matches!(log.read(lsn + 3), Err(StoreError::NotFound)));
        assert!(matches!(log.read(1 << 40), Err(StoreError::NotFound)));
    }
}
