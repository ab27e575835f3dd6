//! The meta log: a durable log of opaque operation records plus atomic snapshots.
//!
//! The domain layer encodes channels, subscribers, lists, tokens and conversations into the
//! op and snapshot bytes; this module only makes them durable. `open` hands back the latest
//! snapshot and the ops after it.
//!
//! A snapshot is taken in three steps so that the domain can keep serving while the file is
//! written: [`MetaLog::begin_snapshot`] fixes the covered LSN (every op appended so far) and
//! starts a fresh segment — the caller encodes its state in the same turn, with no await in
//! between, so the bytes hold exactly the ops below that LSN; [`PendingSnapshot::write`]
//! waits until those ops are durable and writes the file (temp file, fsync, rename, directory
//! fsync) without borrowing the log, so appends go on; [`MetaLog::finish_snapshot`] deletes
//! the segments the snapshot covers. Ops appended meanwhile sit at or after the covered LSN
//! and stay in the log. A crash at any point leaves either the old snapshot with the whole
//! log, or the new one (covered segments left over are deleted at the next open).

use std::path::{Path, PathBuf};

use crate::commit::DurableFuture;
use crate::config::{LogConfig, StoreConfig};
use crate::error::{Result, StoreError};
use crate::log::Log;

const SNAP_MAGIC: &[u8; 4] = b"JDSN";
const SNAP_NAME: &str = "snapshot";
const SNAP_TMP: &str = "snapshot.tmp";
/// Magic, LSN, length.
const SNAP_HEADER: usize = 20;
/// Bytes written per write call, so a large snapshot leaves room for other tasks.
const WRITE_CHUNK: usize = 4 << 20;

/// A meta operation read back at replay (borrowed from the mapping).
#[derive(Debug, Clone, Copy)]
pub struct MetaOp<'a> {
    /// Its LSN.
    pub lsn: u64,
    /// The kind given at append (1..=255).
    pub kind: u8,
    /// The op bytes.
    pub bytes: &'a [u8],
}

/// The latest snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Ops with an LSN below this are covered by the snapshot.
    pub lsn: u64,
    /// The domain's bytes.
    pub bytes: Vec<u8>,
}

/// One shard's meta log.
pub struct MetaLog {
    log: Log,
    dir: PathBuf,
    /// The snapshot read at open, until the domain takes it.
    loaded: Option<Snapshot>,
    /// Ops below this LSN are covered by the snapshot on disk (0: none).
    snapshot_lsn: u64,
    ops_since_snapshot: u64,
    /// A snapshot was begun and is not finished or aborted yet.
    snapshot_busy: bool,
}

/// A snapshot begun by [`MetaLog::begin_snapshot`]: it covers every op below
/// [`PendingSnapshot::lsn`]. It borrows nothing, so the log keeps taking appends while it is
/// written.
pub struct PendingSnapshot {
    lsn: u64,
    covered_ops: u64,
    dir: PathBuf,
    durable: Option<DurableFuture>,
}

/// A snapshot whose file is in place; hand it to [`MetaLog::finish_snapshot`].
pub struct WrittenSnapshot {
    lsn: u64,
}

fn snapshot_header(lsn: u64, len: usize) -> [u8; SNAP_HEADER] {
    let mut h = [0u8; SNAP_HEADER];
    h[..4].copy_from_slice(SNAP_MAGIC);
    h[4..12].copy_from_slice(&lsn.to_le_bytes());
    h[12..20].copy_from_slice(&(len as u64).to_le_bytes());
    h
}

fn decode_snapshot(path: &Path, mut b: Vec<u8>) -> Result<Snapshot> {
    let bad = |reason: &str| StoreError::BadFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if b.len() < SNAP_HEADER + 4 {
        return Err(bad("too short"));
    }
    let body_end = b.len() - 4;
    let crc = u32::from_le_bytes(b[body_end..].try_into().map_err(|_| bad("short"))?);
    if crc32c::crc32c(&b[..body_end]) != crc {
        return Err(bad("CRC mismatch"));
    }
    if &b[..4] != SNAP_MAGIC {
        return Err(bad("bad magic"));
    }
    let lsn = u64::from_le_bytes(b[4..12].try_into().map_err(|_| bad("short"))?);
    let len = u64::from_le_bytes(b[12..20].try_into().map_err(|_| bad("short"))?);
    if len != (body_end - SNAP_HEADER) as u64 {
        return Err(bad("length mismatch"));
    }
    // Reuse the allocation: drop the trailer, then the header.
    b.truncate(body_end);
    b.drain(..SNAP_HEADER);
    Ok(Snapshot { lsn, bytes: b })
}

impl MetaLog {
    /// Opens `cfg.dir/meta`: loads the latest snapshot and recovers the op log after it.
    /// Unless the sync policy is `None`, call it inside the shard's monoio runtime.
    pub fn open(cfg: &StoreConfig) -> Result<MetaLog> {
        let dir = cfg.dir.join("meta");
        crate::dirs::create_dir_durable(&dir)?;
        let _ = std::fs::remove_file(dir.join(SNAP_TMP));
        let snap_path = dir.join(SNAP_NAME);
        let loaded = match std::fs::read(&snap_path) {
            Ok(b) => Some(decode_snapshot(&snap_path, b)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let mut log = Log::open(
            LogConfig {
                dir: dir.clone(),
                segment_size: cfg.meta_segment_size,
                sync_policy: cfg.sync_policy,
                sync_interval: cfg.sync_interval,
                sync_batch: cfg.sync_batch,
                repair: cfg.repair,
                stage_bytes: crate::stage::DEFAULT_STAGE_BYTES,
                cached_segments: crate::config::DEFAULT_CACHED_SEGMENTS,
            },
            &|_| None,
        )?;
        let snapshot_lsn = loaded.as_ref().map_or(0, |s| s.lsn);
        if loaded.is_some() {
            if log.end_lsn() < snapshot_lsn {
                // The snapshot covers more than survived in the log: restart the log there.
                log.reset_to(snapshot_lsn)?;
            } else {
                Self::drop_covered(&mut log, snapshot_lsn)?;
            }
        }
        let mut m = MetaLog {
            log,
            dir,
            loaded,
            snapshot_lsn,
            ops_since_snapshot: 0,
            snapshot_busy: false,
        };
        m.ops_since_snapshot = m.replay().count() as u64;
        Ok(m)
    }

    fn drop_covered(log: &mut Log, lsn: u64) -> Result<()> {
        let n = log.segments().take_while(|s| s.end() <= lsn).count();
        log.delete_oldest(n)?;
        Ok(())
    }

    /// The snapshot read at open, if any (until [`MetaLog::take_snapshot`]).
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.loaded.as_ref()
    }

    /// Hands over the snapshot read at open, freeing its bytes here.
    pub fn take_snapshot(&mut self) -> Option<Snapshot> {
        self.loaded.take()
    }

    /// Ops below this LSN are covered by the snapshot on disk (0: no snapshot).
    pub fn snapshot_lsn(&self) -> u64 {
        self.snapshot_lsn
    }

    /// The ops after the snapshot, in order. Stops with an error at a corrupt record.
    pub fn replay(&self) -> impl Iterator<Item = Result<MetaOp<'_>>> + '_ {
        self.log.iter_from(self.snapshot_lsn).map(|r| {
            r.map(|r| MetaOp {
                lsn: r.lsn,
                kind: r.kind,
                bytes: r.payload,
            })
        })
    }

    /// Appends an op (`kind` 1..=255; 0 is reserved) and returns its LSN; await
    /// [`MetaLog::wait_durable`] before acknowledging.
    pub fn append(&mut self, kind: u8, bytes: &[u8]) -> Result<u64> {
        assert!(kind != 0, "meta op kind 0 is reserved");
        let lsn = self.log.append(kind, bytes)?;
        self.ops_since_snapshot += 1;
        Ok(lsn)
    }

    /// Resolves when the op at `lsn` is durable (per the sync policy).
    pub fn wait_durable(&self, lsn: u64) -> DurableFuture {
        self.log.wait_durable(lsn)
    }

    /// Ops in the log after the last snapshot (the domain compacts when this grows). Ops
    /// covered by a snapshot being written no longer count.
    pub fn ops_since_snapshot(&self) -> u64 {
        self.ops_since_snapshot
    }

    /// Whether a snapshot was begun and not yet finished or aborted.
    pub fn snapshot_in_progress(&self) -> bool {
        self.snapshot_busy
    }

    /// Segment files of the op log (the active one included).
    pub fn segment_count(&self) -> usize {
        self.log.segments().len()
    }

    /// LSN the next op gets (about).
    pub fn end_lsn(&self) -> u64 {
        self.log.end_lsn()
    }

    /// Starts a snapshot covering every op appended so far: encode the state the snapshot
    /// holds *now*, before the next await, so that it reflects exactly the ops below
    /// [`PendingSnapshot::lsn`]. Starts a fresh segment, so the covered ones can later be
    /// deleted whole. Only one snapshot may be pending at a time.
    pub fn begin_snapshot(&mut self) -> Result<PendingSnapshot> {
        if self.snapshot_busy {
            return Err(StoreError::SnapshotBusy);
        }
        self.log.roll()?;
        let lsn = self.log.end_lsn();
        let durable = (lsn > 0).then(|| self.log.wait_durable(lsn - 1));
        let covered_ops = std::mem::take(&mut self.ops_since_snapshot);
        self.snapshot_busy = true;
        Ok(PendingSnapshot {
            lsn,
            covered_ops,
            dir: self.dir.clone(),
            durable,
        })
    }

    /// Gives up a snapshot begun with [`MetaLog::begin_snapshot`] (its write failed): its ops
    /// count towards the next one again.
    pub fn abort_snapshot(&mut self, pending: PendingSnapshot) {
        self.ops_since_snapshot += pending.covered_ops;
        self.snapshot_busy = false;
    }

    /// Completes a snapshot whose file is in place: deletes the segments it covers.
    pub fn finish_snapshot(&mut self, written: WrittenSnapshot) -> Result<()> {
        self.snapshot_busy = false;
        self.snapshot_lsn = self.snapshot_lsn.max(written.lsn);
        Self::drop_covered(&mut self.log, self.snapshot_lsn)
    }

    /// All three steps at once (tools and tests; it borrows the log across awaits, so a shard
    /// uses the steps instead).
    pub async fn write_snapshot(&mut self, bytes: Vec<u8>) -> Result<u64> {
        let pending = self.begin_snapshot()?;
        let lsn = pending.lsn();
        match pending.write(bytes).await {
            Ok(written) => self.finish_snapshot(written)?,
            Err((pending, e)) => {
                self.abort_snapshot(pending);
                return Err(e);
            }
        }
        Ok(lsn)
    }

    /// Syncs everything appended, blocking (clean shutdown).
    pub fn flush_blocking(&self) -> Result<()> {
        self.log.sync_blocking()
    }
}

impl PendingSnapshot {
    /// Ops with an LSN below this are covered.
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// Waits until every covered op is durable, then writes the snapshot file atomically.
    /// On failure the pending snapshot comes back for [`MetaLog::abort_snapshot`].
    pub async fn write(
        mut self,
        bytes: Vec<u8>,
    ) -> std::result::Result<WrittenSnapshot, (PendingSnapshot, StoreError)> {
        if let Some(d) = self.durable.take() {
            if let Err(e) = d.await {
                return Err((self, e));
            }
        }
        if let Err(e) = self.write_temp(bytes).await {
            return Err((self, e));
        }
        match self.install().await {
            Ok(written) => Ok(written),
            Err(e) => Err((self, e)),
        }
    }

    /// Step one of [`PendingSnapshot::write`] (public for crash tests): writes and fsyncs the
    /// temp file through the runtime. Does not wait for the covered ops to be durable.
    pub async fn write_temp(&self, bytes: Vec<u8>) -> Result<()> {
        let tmp = self.dir.join(SNAP_TMP);
        let f = monoio::fs::File::from_std(std::fs::File::create(&tmp)?)?;
        let header = snapshot_header(self.lsn, bytes.len());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&header), &bytes);
        let (r, _) = f.write_all_at(header.to_vec(), 0).await;
        r?;
        let mut pos = 0usize;
        let mut buf = bytes;
        while pos < buf.len() {
            let end = (pos + WRITE_CHUNK).min(buf.len());
            let slice = monoio::buf::IoBuf::slice(buf, pos..end);
            let (r, slice) = f.write_all_at(slice, (SNAP_HEADER + pos) as u64).await;
            r?;
            buf = slice.into_inner();
            pos = end;
        }
        let (r, _) = f
            .write_all_at(crc.to_le_bytes().to_vec(), (SNAP_HEADER + buf.len()) as u64)
            .await;
        r?;
        f.sync_all().await?;
        f.close().await?;
        Ok(())
    }

    /// Step two (public for crash tests): renames the temp file into place and fsyncs the
    /// directory; from here on, a reopen loads this snapshot.
    pub async fn install(&self) -> Result<WrittenSnapshot> {
        std::fs::rename(self.dir.join(SNAP_TMP), self.dir.join(SNAP_NAME))?;
        let d = monoio::fs::File::from_std(std::fs::File::open(&self.dir)?)?;
        d.sync_all().await?;
        d.close().await?;
        Ok(WrittenSnapshot { lsn: self.lsn })
    }
}
