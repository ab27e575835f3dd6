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
use crate::stage::Stage;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// States of a spare segment.
const SPARE_PENDING: u8 = 0;
const SPARE_READY: u8 = 1;
const SPARE_FAILED: u8 = 2;

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
    /// Under `always`: the active segment's records not yet written into its file (see
    /// [`crate::stage`]); always positioned in the active segment.
    stage: Option<Rc<Stage>>,
    /// The next segment being prepared on the background thread (asked for once the active
    /// segment is half full), if asked for.
    spare: Option<Arc<AtomicU8>>,
    /// Rolls that found no spare ready and allocated the segment on this thread.
    blocking_rolls: u64,
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
        let stage = (cfg.sync_policy == SyncPolicy::Always).then(|| {
            let stage = Stage::new(cfg.stage_bytes);
            if let Some(active) = segments.last() {
                stage.restart(active.sync_target(), active.write_pos());
            }
            commit.set_stage(stage.clone());
            stage
        });
        commit.start();
        Ok(Log {
            next_base: end,
            stage,
            spare: None,
            blocking_rolls: 0,
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

    /// Sets who is told each group commit's disk time (write-out and fdatasyncs).
    pub fn set_sync_observer(&self, observer: crate::commit::SyncObserver) {
        self.commit.set_observer(observer);
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
        let off = match &self.stage {
            None => seg.append(kind, payload),
            Some(stage) => {
                let framed = record::framed_len(payload.len());
                debug_assert_eq!(stage.end(), seg.write_pos(), "the stage ends the segment");
                if !stage.fits(framed) {
                    // A full stage is written out here (a page-cache copy, no disk wait).
                    stage.write_out().map_err(|e| self.commit.fail_write(e))?;
                }
                if stage.is_written() {
                    stage.restart(seg.sync_target(), seg.write_pos());
                }
                let off = seg.write_pos();
                if stage.fits(framed) {
                    stage.append(kind, payload);
                    seg.advance(framed);
                } else {
                    // Larger than the whole stage: straight into the mapping.
                    seg.append(kind, payload);
                    stage.restart(seg.sync_target(), seg.write_pos());
                }
                off
            }
        };
        let lsn = seg.base() + off as u64;
        self.commit.note_append(seg.end(), seg.sync_target());
        if self.spare.is_none() && seg.write_pos() >= seg.capacity() / 2 {
            self.spare = Some(self.ask_for_spare());
        }
        Ok(lsn)
    }

    /// Seals the active segment and starts a new preallocated one at the current end.
    /// On ENOSPC nothing changes and [`StoreError::DiskFull`] is returned; the next append
    /// retries.
    pub fn roll(&mut self) -> Result<()> {
        if let Some(stage) = &self.stage {
            // The stage holds the tail of the segment being sealed.
            stage.write_out().map_err(|e| self.commit.fail_write(e))?;
        }
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
        let seg = match self.spare.take() {
            Some(s) if s.load(Ordering::Acquire) == SPARE_READY => {
                match Segment::adopt_spare(&self.cfg.dir, base) {
                    Ok(seg) => seg,
                    Err(e) => {
                        tracing::warn!(error = %e, "the prepared segment could not be used; allocating one");
                        self.create_blocking(base)?
                    }
                }
            }
            _ => self.create_blocking(base)?,
        };
        if let Some(prev) = self.segments.back() {
            // The sealed segment's records must reach the disk with the next batch.
            debug_assert_eq!(prev.end(), base);
        }
        self.commit.touch(&self.dir_sync);
        if let Some(stage) = &self.stage {
            stage.restart(seg.sync_target(), 0);
        }
        self.segments.push_back(seg);
        self.release_cold_pages();
        Ok(())
    }

    /// Drops from the page cache the segment `cached_segments` behind the active one (see
    /// [`crate::config::DEFAULT_CACHED_SEGMENTS`]). It is sealed; its records are read back,
    /// if ever, from the disk.
    fn release_cold_pages(&self) {
        let keep = self.cfg.cached_segments;
        if keep == 0 || self.segments.len() <= keep {
            return;
        }
        self.segments[self.segments.len() - 1 - keep].release_pages();
    }

    /// Allocates the segment at `base` on this thread (no spare was ready).
    fn create_blocking(&mut self, base: u64) -> Result<Segment> {
        self.blocking_rolls += 1;
        Segment::create(&self.cfg.dir, base, self.cfg.segment_size)
    }

    /// Starts preparing the next segment file on the background thread.
    fn ask_for_spare(&self) -> Arc<AtomicU8> {
        let state = Arc::new(AtomicU8::new(SPARE_PENDING));
        let (dir, size, done) = (self.cfg.dir.clone(), self.cfg.segment_size, state.clone());
        crate::background::submit(move || {
            let s = match crate::segment::prepare_spare(&dir, size) {
                Ok(()) => SPARE_READY,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "preparing the next segment failed; the roll will allocate it");
                    SPARE_FAILED
                }
            };
            done.store(s, Ordering::Release);
        });
        state
    }

    /// Rolls that had to allocate the new segment on the calling thread because no prepared
    /// one was ready (the first segment, a failed preparation, or appends outrunning the disk).
    pub fn blocking_rolls(&self) -> u64 {
        self.blocking_rolls
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
        let decoded = match &self.stage {
            Some(stage) if i + 1 == self.segments.len() && off >= stage.start() => {
                record::decode(stage.bytes_from(off))
            }
            _ => seg.decode_at(off),
        };
        match decoded {
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
        if let Some(stage) = &self.stage {
            stage.clear();
        }
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
        if let Some(stage) = &self.stage {
            // Nothing staged was acknowledged, but a clean close keeps it all.
            if let Err(e) = stage.write_out() {
                tracing::warn!(error = %e, "writing the log's last records at close failed");
            }
        }
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
    use crate::stage::DEFAULT_STAGE_BYTES;
    use proptest::prelude::*;
    use std::time::Duration;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn cfg(dir: &Path, segment_size: u64) -> LogConfig {
        LogConfig {
            dir: dir.to_path_buf(),
            segment_size,
            sync_policy: SyncPolicy::None,
            sync_interval: Duration::from_millis(1),
            sync_batch: 16,
            repair: false,
            stage_bytes: DEFAULT_STAGE_BYTES,
            cached_segments: crate::config::DEFAULT_CACHED_SEGMENTS,
        }
    }

    /// Pages of `seg`'s file resident in the page cache (mapped here or not).
    fn resident_pages(seg: &Segment) -> usize {
        let bytes = seg.bytes();
        let mut vec = vec![0u8; bytes.len().div_ceil(4096)];
        // SAFETY: `vec` holds one byte per page of the mapped range.
        let r = unsafe { libc::mincore(bytes.as_ptr() as *mut _, bytes.len(), vec.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
        vec.iter().filter(|&&b| b & 1 == 1).count()
    }

    #[test]
    fn sealed_segments_past_the_cached_ones_leave_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1 << 20);
        c.sync_policy = SyncPolicy::Always;
        block_on(async {
            let mut log = Log::open(c, &|_| None).unwrap();
            let payload: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
            let first = log.append(1, &payload).unwrap();
            while log.segments().count() < 4 {
                let lsn = log.append(1, &payload).unwrap();
                log.wait_durable(lsn).await.unwrap();
            }
            crate::background::drain();
            let resident: Vec<usize> = log.segments().map(resident_pages).collect();
            assert_eq!(
                &resident[..2],
                &[0, 0],
                "segments two or more behind are dropped"
            );
            assert!(
                resident[2] > 0,
                "the segment sealed last stays cached: {resident:?}"
            );
            // Dropped pages come back from the file unchanged.
            assert_eq!(log.read(first).unwrap().payload, &payload[..]);
            assert!(resident_pages(log.segments().next().unwrap()) > 0);
        });
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Under `always` records sit in the stage until a commit writes them out: they read
        /// back before and after, across rolls, a record larger than the stage bypasses it,
        /// and a reopen finds every record at its LSN.
        #[test]
        fn always_stages_records_and_reads_them_back(
            sizes in proptest::collection::vec(0usize..1500, 1..120),
            wait_every in 1usize..16,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut c = cfg(dir.path(), 4096);
            c.sync_policy = SyncPolicy::Always;
            c.stage_bytes = 640;
            let lsns = block_on(async {
                let mut log = Log::open(c.clone(), &|_| None).unwrap();
                let mut lsns = vec![];
                for (i, &n) in sizes.iter().enumerate() {
                    let payload = vec![(i % 251) as u8; n];
                    let lsn = log.append(1 + (i % 200) as u8, &payload).unwrap();
                    let r = log.read(lsn).unwrap();
                    assert_eq!((r.kind, r.payload), (1 + (i % 200) as u8, &payload[..]));
                    lsns.push(lsn);
                    if i % wait_every == 0 {
                        log.wait_durable(lsn).await.unwrap();
                        assert!(log.durable_end() > lsn);
                    }
                }
                let last = *lsns.last().unwrap();
                log.wait_durable(last).await.unwrap();
                let all: Vec<u64> = log.iter_from(0).map(|r| r.unwrap().lsn).collect();
                assert_eq!(&all, &lsns);
                lsns
            });
            // Reopened with no stage at all: every byte is in the files.
            let log = Log::open(cfg(dir.path(), 4096), &|_| None).unwrap();
            for (i, &lsn) in lsns.iter().enumerate() {
                let r = log.read(lsn).unwrap();
                prop_assert_eq!(r.payload.len(), sizes[i]);
                prop_assert!(r.payload.iter().all(|&b| b == (i % 251) as u8));
            }
            let again: Vec<u64> = log.iter_from(0).map(|r| r.unwrap().lsn).collect();
            prop_assert_eq!(again, lsns);
        }
    }

    #[test]
    fn rolls_adopt_the_segment_prepared_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(cfg(dir.path(), 4096), &|_| None).unwrap();
        let mut lsns = vec![log.append(1, &[1; 100]).unwrap()];
        assert_eq!(log.blocking_rolls(), 1, "the first segment has no spare");
        let spare = dir.path().join(crate::segment::SPARE_NAME);
        for round in 0..3u8 {
            // Past half of the active segment the next one is asked for; let it be made.
            let seg_base = log.segments().last().unwrap().base();
            while log.end_lsn() - seg_base < 2048 {
                lsns.push(log.append(round + 1, &[round; 100]).unwrap());
            }
            crate::background::drain();
            assert_eq!(std::fs::metadata(&spare).unwrap().len(), 4096);
            while log.segments().last().unwrap().base() == seg_base {
                lsns.push(log.append(round + 1, &[round; 100]).unwrap());
            }
            assert_eq!(log.blocking_rolls(), 1, "round {round}: the roll allocated");
            assert!(!spare.exists(), "the spare became the segment");
            let active = log.segments().last().unwrap();
            assert_eq!(std::fs::metadata(active.path()).unwrap().len(), 4096);
        }
        // Without waiting for it the roll allocates itself (and stays correct).
        let seg_base = log.segments().last().unwrap().base();
        while log.segments().last().unwrap().base() == seg_base {
            lsns.push(log.append(9, &[9; 100]).unwrap());
        }
        let seg_base = log.segments().last().unwrap().base();
        while log.end_lsn() - seg_base < 2048 {
            lsns.push(log.append(9, &[9; 100]).unwrap());
        }
        drop(log);
        crate::background::drain();
        assert!(spare.exists(), "asked for before the close");
        let log = Log::open(cfg(dir.path(), 4096), &|_| None).unwrap();
        assert!(!spare.exists(), "a left-over spare is removed at open");
        let again: Vec<u64> = log.iter_from(0).map(|r| r.unwrap().lsn).collect();
        assert_eq!(again, lsns);
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
