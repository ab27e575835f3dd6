//! One segment file: preallocated with fallocate, mapped read-write, records appended by copy.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use memmap2::MmapMut;

use crate::commit::SyncTarget;
use crate::error::{Result, StoreError};
use crate::record::{self, Decoded, ALIGN};

/// File name of the segment starting at LSN `base`.
pub fn segment_name(base: u64) -> String {
    format!("{base:020}.seg")
}

/// Parses a segment file name back into its base LSN.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reserves `len` real blocks for `file` (never a sparse file: a full disk then shows up here
/// as ENOSPC, not later as SIGBUS on the mapping).
pub fn fallocate(file: &File, len: u64) -> std::io::Result<()> {
    loop {
        // SAFETY: plain syscall on an fd we own.
        let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Name of the next segment's file while it waits in its directory (a `.seg.tmp`, so a log
/// opening the directory removes it like any interrupted preallocation).
pub const SPARE_NAME: &str = "spare.seg.tmp";

/// Creates `path` with `size` bytes allocated and the allocation durable (fsync); on failure
/// the file is removed again.
fn allocate(path: &Path, size: u64) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    if let Err(e) = fallocate(&file, size).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(file)
}

/// Prepares the next segment of the log in `dir` ahead of its roll: `dir/spare.seg.tmp`,
/// `size` bytes allocated and fsynced (run on the background thread).
///
/// Its pages are not read into the page cache ahead (done until 2026-12-06 with `readahead`):
/// once the log drops sealed segments from the cache ([`crate::config::DEFAULT_CACHED_SEGMENTS`])
/// the pages its writes take are recently freed ones, and zero-filling them ahead only added a
/// pass: pairs at saturation 2.32–2.33 µs of server CPU per message with it, 2.19–2.23 without
/// (3 alternating runs).
pub fn prepare_spare(dir: &Path, size: u64) -> std::io::Result<()> {
    allocate(&dir.join(SPARE_NAME), size).map(drop)
}

/// A mapped segment. `base` is the LSN of its first byte; a record's LSN is `base + offset`.
pub struct Segment {
    base: u64,
    path: PathBuf,
    map: MmapMut,
    /// Bytes of records written (the next record goes here).
    write_pos: usize,
    /// Newest record timestamp (unix seconds) seen in this segment, for retention by age.
    newest_ts: Cell<i64>,
    sync: Rc<SyncTarget>,
}

impl Segment {
    /// Creates and preallocates a new segment file `dir/<base>.seg` of `size` bytes.
    ///
    /// The file is built under a temporary name, its allocation made durable (fsync) and
    /// renamed, so neither a crash nor a power cut ever leaves a half-allocated segment under
    /// a real name (the log's directory sync may make the name durable before the group
    /// commit's fdatasync of the new segment). On ENOSPC the file is removed and
    /// [`StoreError::DiskFull`] returned.
    pub fn create(dir: &Path, base: u64, size: u64) -> Result<Segment> {
        let path = dir.join(segment_name(base));
        let tmp = dir.join(format!("{}.tmp", segment_name(base)));
        let file = allocate(&tmp, size).map_err(StoreError::from_io)?;
        std::fs::rename(&tmp, &path)?;
        Self::map(file, path, base)
    }

    /// Makes the spare file [`prepare_spare`] left in `dir` the segment starting at `base`
    /// (a rename: no allocation, no fsync on the caller's thread; the log's directory sync
    /// makes the name durable).
    pub fn adopt_spare(dir: &Path, base: u64) -> Result<Segment> {
        let path = dir.join(segment_name(base));
        std::fs::rename(dir.join(SPARE_NAME), &path)?;
        Self::open(&path, base)
    }

    /// Opens an existing segment file.
    pub fn open(path: &Path, base: u64) -> Result<Segment> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Self::map(file, path.to_path_buf(), base)
    }

    fn map(file: File, path: PathBuf, base: u64) -> Result<Segment> {
        let len = file.metadata()?.len();
        if len == 0 || len % ALIGN as u64 != 0 {
            return Err(StoreError::BadFile {
                path,
                reason: format!("segment size {len} is not a positive multiple of {ALIGN}"),
            });
        }
        // SAFETY: the file is ours alone (one store per directory, one thread per store) and
        // is never truncated while mapped.
        let map = unsafe { MmapMut::map_mut(&file)? };
        debug_assert_eq!(map.as_ptr() as usize % ALIGN, 0);
        Ok(Segment {
            base,
            path,
            map,
            write_pos: 0,
            newest_ts: Cell::new(i64::MIN),
            sync: Rc::new(SyncTarget::new(file)),
        })
    }

    /// LSN of the first byte.
    pub fn base(&self) -> u64 {
        self.base
    }
    /// LSN just past the last record.
    pub fn end(&self) -> u64 {
        self.base + self.write_pos as u64
    }
    /// Bytes of records written.
    pub fn write_pos(&self) -> usize {
        self.write_pos
    }
    /// File size (the preallocated capacity).
    pub fn capacity(&self) -> usize {
        self.map.len()
    }
    /// File path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Handle used by the group commit to fdatasync this file.
    pub fn sync_target(&self) -> &Rc<SyncTarget> {
        &self.sync
    }
    /// Newest record time seen (`i64::MIN` when unknown).
    pub fn newest_ts(&self) -> i64 {
        self.newest_ts.get()
    }
    /// Records that a record with timestamp `ts` lives here.
    pub fn note_ts(&self, ts: i64) {
        if ts > self.newest_ts.get() {
            self.newest_ts.set(ts);
        }
    }

    /// Whether a record with this payload length still fits.
    pub fn fits(&self, payload_len: usize) -> bool {
        self.write_pos + record::framed_len(payload_len) <= self.map.len()
    }

    /// Copies a record into the mapping; returns its offset in the segment.
    /// The caller checked [`Segment::fits`].
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> usize {
        let at = self.write_pos;
        debug_assert_eq!(at % ALIGN, 0);
        let n = record::encode(&mut self.map[at..], kind, payload);
        self.write_pos += n;
        at
    }

    /// Moves the write position past a record of `framed` bytes that went into the log's
    /// stage instead of the mapping.
    pub(crate) fn advance(&mut self, framed: usize) {
        assert!(framed.is_multiple_of(ALIGN) && self.write_pos + framed <= self.map.len());
        self.write_pos += framed;
    }

    /// Decodes what lies at `offset` (which must be 16-byte aligned).
    pub fn decode_at(&self, offset: usize) -> Decoded<'_> {
        if offset >= self.map.len() {
            return Decoded::End;
        }
        record::decode(&self.map[offset..])
    }

    /// Sets the write position after recovery found the end of the valid records.
    pub(crate) fn set_write_pos(&mut self, pos: usize) {
        assert!(pos <= self.map.len() && pos.is_multiple_of(ALIGN));
        self.write_pos = pos;
    }

    /// Zeroes `[from, capacity)`, touching only pages that are not already zero, so a torn
    /// tail disappears without dirtying the whole preallocated rest.
    pub(crate) fn zero_from(&mut self, from: usize) -> usize {
        const CHUNK: usize = 4096;
        let mut zeroed = 0;
        let mut pos = from;
        while pos < self.map.len() {
            let end = ((pos / CHUNK) + 1) * CHUNK;
            let end = end.min(self.map.len());
            let chunk = &mut self.map[pos..end];
            if chunk.iter().any(|&b| b != 0) {
                chunk.fill(0);
                zeroed += end - pos;
            }
            pos = end;
        }
        zeroed
    }

    /// Drops this segment's pages from the page cache: unmapped here at once, evicted on the
    /// background thread (`POSIX_FADV_DONTNEED`). Content is unchanged: a page read again
    /// comes back from the file, and the kernel writes a dirty page back instead of dropping
    /// it. Advisory: failures are ignored.
    pub fn release_pages(&self) {
        // SAFETY: a shared file mapping: MADV_DONTNEED only removes this process's page table
        // entries (carrying their dirty bits to the page cache); the next access reads the
        // same bytes from the cache or the file, so a slice into the mapping stays valid.
        let _ = unsafe {
            self.map
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        };
        let Ok(file) = self.sync.file().try_clone() else {
            return;
        };
        crate::background::submit(move || {
            // SAFETY: plain syscall on a descriptor the closure owns.
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        });
    }

    /// Raw bytes of the mapping (for scanning).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_spare_is_allocated_up_front_and_adopted_as_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let size: u64 = 12 << 20;
        prepare_spare(dir.path(), size).unwrap();
        let meta = std::fs::metadata(dir.path().join(SPARE_NAME)).unwrap();
        assert_eq!(meta.len(), size);
        assert!(
            meta.blocks() * 512 >= size,
            "the disk space is reserved, not sparse: {} blocks",
            meta.blocks()
        );
        let seg = Segment::adopt_spare(dir.path(), 4096).unwrap();
        assert!(!dir.path().join(SPARE_NAME).exists());
        assert_eq!(
            (seg.base(), seg.write_pos(), seg.capacity()),
            (4096, 0, size as usize)
        );
        assert!(seg.map.iter().all(|&b| b == 0), "a spare reads as zeros");
    }
}
