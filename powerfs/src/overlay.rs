//! The contents of one regular file: its durable bytes (a file in the backing directory) plus
//! an in-memory overlay of everything written, truncated or extended since its last sync.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// Granularity of the overlay (the kernel writes back whole pages of a mapping).
pub const PAGE: u64 = 4096;

/// One write that has not been synced yet (kept for tearing at a power cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingWrite {
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Global order of writes, to find the last one.
    pub order: u64,
}

/// A regular file's data.
#[derive(Debug, Default)]
pub struct FileData {
    /// Size as the filesystem's users see it.
    size: u64,
    /// Prefix of the durable bytes that is still part of the file (a truncation below the
    /// durable size hides the rest until the next sync makes it final).
    base_len: u64,
    /// Size of the durable copy.
    durable_size: u64,
    /// Pages written since the last sync (bytes past `size` are zero).
    pages: BTreeMap<u64, Box<[u8]>>,
    /// The durable copy in the backing directory, if the file has one.
    backing: Option<File>,
    /// The last write since the last sync.
    last_write: Option<PendingWrite>,
}

impl FileData {
    /// A file with a durable copy of `size` bytes.
    pub fn durable(backing: File, size: u64) -> FileData {
        FileData {
            size,
            base_len: size,
            durable_size: size,
            backing: Some(backing),
            ..FileData::default()
        }
    }

    /// Size seen by users.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes held in memory only.
    pub fn unsynced_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    /// Whether anything changed since the last sync.
    pub fn is_dirty(&self) -> bool {
        !self.pages.is_empty() || self.size != self.durable_size || self.base_len != self.size
    }

    /// The last unsynced write.
    pub fn last_write(&self) -> Option<PendingWrite> {
        self.last_write
    }

    /// Whether the file has a durable copy open.
    pub fn has_backing(&self) -> bool {
        self.backing.is_some()
    }

    /// Gives a file that had no durable copy an empty one (its name just became durable).
    pub fn attach_empty_backing(&mut self, f: File) {
        debug_assert!(self.backing.is_none());
        self.backing = Some(f);
        self.durable_size = 0;
        self.base_len = 0;
    }

    /// Reads durable bytes of `[off, off + buf.len())`, zeros past the still-valid prefix.
    fn read_base(&self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        buf.fill(0);
        let Some(f) = &self.backing else {
            return Ok(());
        };
        if off >= self.base_len {
            return Ok(());
        }
        let n = ((self.base_len - off) as usize).min(buf.len());
        let mut done = 0;
        while done < n {
            let r = f.read_at(&mut buf[done..n], off + done as u64)?;
            if r == 0 {
                break; // the durable copy is shorter: the rest reads as zeros
            }
            done += r;
        }
        Ok(())
    }

    /// Reads up to `len` bytes at `off` as the file's users see them.
    pub fn read(&self, off: u64, len: u32) -> io::Result<Vec<u8>> {
        if off >= self.size {
            return Ok(Vec::new());
        }
        let end = (off + u64::from(len)).min(self.size);
        let mut out = vec![0u8; (end - off) as usize];
        // Durable bytes first (one read), then the overlay pages on top.
        self.read_base(off, &mut out)?;
        let first = off / PAGE;
        let last = (end - 1) / PAGE;
        for (&p, page) in self.pages.range(first..=last) {
            let page_start = p * PAGE;
            let from = off.max(page_start);
            let to = end.min(page_start + PAGE);
            out[(from - off) as usize..(to - off) as usize]
                .copy_from_slice(&page[(from - page_start) as usize..(to - page_start) as usize]);
        }
        Ok(out)
    }

    /// Writes `data` at `off` (in memory only) and remembers it as write number `order`.
    pub fn write(&mut self, off: u64, data: &[u8], order: u64) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let end = off + data.len() as u64;
        let mut p = off / PAGE;
        while p * PAGE < end {
            let page_start = p * PAGE;
            if !self.pages.contains_key(&p) {
                let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
                let covers_page = off <= page_start && end >= page_start + PAGE;
                if !covers_page {
                    // Keep the bytes of the page that this write leaves alone.
                    self.read_base(page_start, &mut page)?;
                }
                self.pages.insert(p, page);
            }
            let page = self.pages.get_mut(&p).expect("inserted above");
            let from = off.max(page_start);
            let to = end.min(page_start + PAGE);
            page[(from - page_start) as usize..(to - page_start) as usize]
                .copy_from_slice(&data[(from - off) as usize..(to - off) as usize]);
            p += 1;
        }
        self.size = self.size.max(end);
        self.last_write = Some(PendingWrite {
            offset: off,
            len: data.len() as u64,
            order,
        });
        Ok(())
    }

    /// Sets the size (truncate or extend with zeros), in memory only.
    pub fn set_size(&mut self, size: u64) {
        if size < self.size {
            let first_gone = size.div_ceil(PAGE);
            self.pages.split_off(&first_gone);
            if !size.is_multiple_of(PAGE) {
                if let Some(page) = self.pages.get_mut(&(size / PAGE)) {
                    page[(size % PAGE) as usize..].fill(0);
                }
            }
            self.base_len = self.base_len.min(size);
        }
        self.size = size;
    }

    /// Makes everything durable: the backing copy becomes exactly what users see.
    /// `backing` is called to create the durable copy when the file has none yet.
    pub fn sync(&mut self, backing: impl FnOnce() -> io::Result<File>) -> io::Result<()> {
        if self.backing.is_none() {
            self.backing = Some(backing()?);
            self.durable_size = 0;
            self.base_len = 0;
        }
        let f = self.backing.as_ref().expect("set above");
        if self.durable_size > self.base_len {
            f.set_len(self.base_len)?;
        }
        if self.size > self.base_len {
            // Real blocks, never a sparse file (the writer may have preallocated).
            allocate(f, self.size)?;
        }
        for (&p, page) in &self.pages {
            let start = p * PAGE;
            if start >= self.size {
                break;
            }
            let n = (self.size - start).min(PAGE) as usize;
            f.write_all_at(&page[..n], start)?;
        }
        self.pages.clear();
        self.durable_size = self.size;
        self.base_len = self.size;
        self.last_write = None;
        Ok(())
    }

    /// Power cut with a torn last write: makes the first `keep` bytes of the last unsynced
    /// write durable (nothing else). Returns whether anything was written.
    pub fn tear_last_write(&self, keep: u64) -> io::Result<bool> {
        let (Some(w), Some(f)) = (self.last_write, &self.backing) else {
            return Ok(false);
        };
        let keep = keep.min(w.len);
        if keep == 0 {
            return Ok(false);
        }
        let bytes = self.read(w.offset, keep as u32)?;
        f.write_all_at(&bytes, w.offset)?;
        Ok(true)
    }
}

/// Allocates real blocks for `[0, len)` and extends the file to `len`.
fn allocate(f: &File, len: u64) -> io::Result<()> {
    loop {
        // SAFETY: plain syscall on an fd we own.
        let r = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len as libc::off_t) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            // A backing filesystem without fallocate: a plain extension is the best it has.
            Some(libc::EOPNOTSUPP) => return f.set_len(len.max(f.metadata()?.len())),
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backing_with(bytes: &[u8]) -> (tempfile::TempDir, FileData) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (dir, FileData::durable(f, bytes.len() as u64))
    }

    #[test]
    fn overlay_over_durable_bytes() {
        let (dir, mut d) = backing_with(&[1u8; 10_000]);
        d.write(4095, &[2, 2], 1).unwrap();
        let r = d.read(4094, 4).unwrap();
        assert_eq!(r, vec![1, 2, 2, 1]);
        // Nothing reached the durable copy yet.
        assert_eq!(
            std::fs::read(dir.path().join("f")).unwrap(),
            vec![1u8; 10_000]
        );
        d.sync(|| unreachable!()).unwrap();
        let disk = std::fs::read(dir.path().join("f")).unwrap();
        assert_eq!(&disk[4094..4098], &[1, 2, 2, 1]);
        assert!(!d.is_dirty());
    }

    #[test]
    fn truncate_then_extend_reads_zeros() {
        let (dir, mut d) = backing_with(&[7u8; 9000]);
        d.set_size(100);
        d.set_size(9000);
        let r = d.read(0, 9000).unwrap();
        assert!(r[..100].iter().all(|&b| b == 7));
        assert!(r[100..].iter().all(|&b| b == 0));
        d.sync(|| unreachable!()).unwrap();
        let disk = std::fs::read(dir.path().join("f")).unwrap();
        assert_eq!(disk, r);
    }

    #[test]
    fn tear_keeps_a_prefix_of_the_last_write() {
        let (dir, mut d) = backing_with(&[0u8; 8192]);
        d.write(0, &[5u8; 8192], 1).unwrap();
        assert!(d.tear_last_write(1000).unwrap());
        let disk = std::fs::read(dir.path().join("f")).unwrap();
        assert!(disk[..1000].iter().all(|&b| b == 5));
        assert!(disk[1000..].iter().all(|&b| b == 0));
    }
}
