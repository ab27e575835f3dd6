//! The meta log: a durable log of opaque operation records plus atomic snapshots.
//!
//! The domain layer encodes channels, subscribers, lists, tokens and conversations into the
//! op and snapshot bytes; this module only makes them durable. After `write_snapshot`, the
//! ops it covers are deleted; `open` hands back the latest snapshot and the ops after it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::commit::DurableFuture;
use crate::config::{LogConfig, StoreConfig};
use crate::error::{Result, StoreError};
use crate::log::Log;

const SNAP_MAGIC: &[u8; 4] = b"JDSN";
const SNAP_NAME: &str = "snapshot";

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
    snapshot: Option<Snapshot>,
    ops_since_snapshot: u64,
}

fn encode_snapshot(lsn: u64, bytes: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(bytes.len() + 24);
    b.extend_from_slice(SNAP_MAGIC);
    b.extend_from_slice(&lsn.to_le_bytes());
    b.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    b.extend_from_slice(bytes);
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn decode_snapshot(path: &Path, b: &[u8]) -> Result<Snapshot> {
    let bad = |reason: &str| StoreError::BadFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if b.len() < 24 {
        return Err(bad("too short"));
    }
    let (body, crc) = b.split_at(b.len() - 4);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32c::crc32c(body) != crc {
        return Err(bad("CRC mismatch"));
    }
    if &body[..4] != SNAP_MAGIC {
        return Err(bad("bad magic"));
    }
    let lsn = u64::from_le_bytes(body[4..12].try_into().map_err(|_| bad("short"))?);
    let len = u64::from_le_bytes(body[12..20].try_into().map_err(|_| bad("short"))?);
    if len != (body.len() - 20) as u64 {
        return Err(bad("length mismatch"));
    }
    Ok(Snapshot {
        lsn,
        bytes: body[20..].to_vec(),
    })
}

impl MetaLog {
    /// Opens `cfg.dir/meta`: loads the latest snapshot and recovers the op log after it.
    /// Unless the sync policy is `None`, call it inside the shard's monoio runtime.
    pub fn open(cfg: &StoreConfig) -> Result<MetaLog> {
        let dir = cfg.dir.join("meta");
        crate::dirs::create_dir_durable(&dir)?;
        let _ = std::fs::remove_file(dir.join(format!("{SNAP_NAME}.tmp")));
        let snap_path = dir.join(SNAP_NAME);
        let snapshot = match std::fs::read(&snap_path) {
            Ok(b) => Some(decode_snapshot(&snap_path, &b)?),
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
            },
            &|_| None,
        )?;
        if let Some(s) = &snapshot {
            if log.end_lsn() < s.lsn {
                // The snapshot covers more than survived in the log: restart the log there.
                log.reset_to(s.lsn)?;
            } else {
                Self::drop_covered(&mut log, s.lsn)?;
            }
        }
        let mut m = MetaLog {
            log,
            dir,
            snapshot,
            ops_since_snapshot: 0,
        };
        m.ops_since_snapshot = m.replay().count() as u64;
        Ok(m)
    }

    fn drop_covered(log: &mut Log, lsn: u64) -> Result<()> {
        let segs: Vec<u64> = log.segments().map(|s| s.end()).collect();
        let n = segs.iter().take_while(|&&end| end <= lsn).count();
        log.delete_oldest(n)?;
        Ok(())
    }

    /// The latest snapshot, if any.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Frees the snapshot bytes once the domain has loaded them.
    pub fn take_snapshot(&mut self) -> Option<Snapshot> {
        self.snapshot.take()
    }

    /// The ops after the snapshot, in order. Stops with an error at a corrupt record.
    pub fn replay(&self) -> impl Iterator<Item = Result<MetaOp<'_>>> + '_ {
        let from = self.snapshot.as_ref().map_or(0, |s| s.lsn);
        self.log.iter_from(from).map(|r| {
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

    /// Ops appended since the last snapshot (the domain compacts when this grows).
    pub fn ops_since_snapshot(&self) -> u64 {
        self.ops_since_snapshot
    }

    /// LSN the next op gets (about).
    pub fn end_lsn(&self) -> u64 {
        self.log.end_lsn()
    }

    /// Atomically records `bytes` as a snapshot covering every op appended so far, then
    /// deletes the segments it covers. The snapshot is written to a temp file, fsynced
    /// (through the runtime), renamed, and the directory fsynced. Ops appended before are
    /// made durable first, so the snapshot never gets ahead of the log.
    pub async fn write_snapshot(&mut self, bytes: &[u8]) -> Result<u64> {
        let lsn = self.log.end_lsn();
        if lsn > 0 {
            self.log.wait_durable(lsn - 1).await?;
        }
        // Start a fresh segment so the covered ones can be deleted whole.
        self.log.roll()?;
        let tmp = self.dir.join(format!("{SNAP_NAME}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&encode_snapshot(lsn, bytes))?;
        let f = monoio::fs::File::from_std(f)?;
        f.sync_all().await?;
        f.close().await?;
        std::fs::rename(&tmp, self.dir.join(SNAP_NAME))?;
        let d = monoio::fs::File::from_std(std::fs::File::open(&self.dir)?)?;
        d.sync_all().await?;
        d.close().await?;
        Self::drop_covered(&mut self.log, lsn)?;
        self.snapshot = Some(Snapshot {
            lsn,
            bytes: bytes.to_vec(),
        });
        self.ops_since_snapshot = 0;
        Ok(lsn)
    }

    /// Syncs everything appended, blocking (clean shutdown).
    pub fn flush_blocking(&self) -> Result<()> {
        self.log.sync_blocking()
    }
}
