//! The unwritten tail of the active segment under `syncPolicy: always`.
//!
//! Storing records into the shared mapping makes every fdatasync write-protect the pages it
//! cleans (`page_mkclean`: a TLB shootdown to every core running the process) and the next store
//! into the last, partly filled page takes a write fault; the sync itself walks the mapping.
//! Measured on this project's disk with 50 KiB batches: fdatasync after stores into a mapping
//! p50 0.37–0.39 ms, after `pwrite` of the same bytes 0.16–0.21 ms. So under `always` records are
//! encoded into this buffer, and the group commit writes the buffer into the segment file with
//! one `pwrite` right before its fdatasync (reads keep using the mapping, which shows the page
//! cache, and this buffer for the part not written yet). `interval` and `none` acknowledge at
//! append and keep storing into the mapping, so a killed process loses nothing they
//! acknowledged.
//!
//! Ownership: the log appends and restarts the buffer (through `&mut Log`, so no record read
//! from the buffer is alive then); the group commit only reads it, synchronously, to write it
//! out. Both run on the shard's one thread.

use std::cell::{Cell, RefCell};
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;
use std::rc::Rc;

use crate::commit::SyncTarget;
use crate::record::{self, ALIGN};

/// Bytes the buffer holds before an append must write it out itself (default 1 MiB).
pub const DEFAULT_STAGE_BYTES: usize = 1 << 20;

/// Records of the active segment not yet written into its file.
pub struct Stage {
    /// `cap` bytes, 16-byte aligned, allocated once. Bytes `[0, len)` are records; only
    /// `[len, cap)` is ever written, and only while no slice of the buffer is alive.
    buf: NonNull<u8>,
    /// Owns the memory `buf` points into.
    _map: memmap2::MmapMut,
    cap: usize,
    /// Segment offset of `buf[0]`.
    start: Cell<usize>,
    /// Bytes of records in the buffer.
    len: Cell<usize>,
    /// Bytes of the buffer already written into the file.
    written: Cell<usize>,
    /// The segment file the buffer belongs to.
    target: RefCell<Option<Rc<SyncTarget>>>,
}

impl Stage {
    /// An empty stage of `cap` bytes (rounded up to the record alignment) belonging to no file.
    pub fn new(cap: usize) -> Rc<Stage> {
        let cap = record::align_up(cap.max(ALIGN));
        // An anonymous mapping: zero pages the kernel provides on first touch, so an idle log
        // holds no resident memory for its stage (a heap allocation was zeroed up front).
        let mut map = memmap2::MmapMut::map_anon(cap)
            .unwrap_or_else(|e| panic!("mapping a {cap}-byte log stage failed: {e}"));
        let buf = NonNull::new(map.as_mut_ptr()).expect("a mapping is never at address 0");
        debug_assert_eq!(
            buf.as_ptr() as usize % ALIGN,
            0,
            "mappings are page aligned"
        );
        Rc::new(Stage {
            buf,
            _map: map,
            cap,
            start: Cell::new(0),
            len: Cell::new(0),
            written: Cell::new(0),
            target: RefCell::new(None),
        })
    }

    /// Capacity in bytes: a record framed larger than this bypasses the buffer.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Segment offset of the first byte held (reads at or after it come from here).
    pub fn start(&self) -> usize {
        self.start.get()
    }

    /// Segment offset just past the last byte held.
    pub fn end(&self) -> usize {
        self.start.get() + self.len.get()
    }

    /// Whether every byte held was written into the file already.
    pub fn is_written(&self) -> bool {
        self.written.get() == self.len.get()
    }

    /// Starts over, empty, at `offset` of `target` (the active segment). Everything held must
    /// have been written. Call only through `&mut Log` (no slice of the buffer may be alive).
    pub(crate) fn restart(&self, target: &Rc<SyncTarget>, offset: usize) {
        assert!(self.is_written(), "a stage restarts only once written out");
        assert_eq!(offset % ALIGN, 0);
        self.start.set(offset);
        self.len.set(0);
        self.written.set(0);
        let mut t = self.target.borrow_mut();
        if !t.as_ref().is_some_and(|x| Rc::ptr_eq(x, target)) {
            *t = Some(target.clone());
        }
    }

    /// Drops the file and every byte held (the log was reset).
    pub(crate) fn clear(&self) {
        self.start.set(0);
        self.len.set(0);
        self.written.set(0);
        *self.target.borrow_mut() = None;
    }

    /// Whether a record of `framed` bytes still fits behind what is held.
    pub fn fits(&self, framed: usize) -> bool {
        self.len.get() + framed <= self.cap
    }

    /// Encodes a record behind what is held; returns its framed length. The caller checked
    /// [`Stage::fits`]; call only through `&mut Log`.
    pub(crate) fn append(&self, kind: u8, payload: &[u8]) -> usize {
        let framed = record::framed_len(payload.len());
        let at = self.len.get();
        assert!(at + framed <= self.cap, "the caller checked the room");
        // SAFETY: `[at, at + framed)` lies inside the allocation and past every byte a live
        // slice may cover (`[0, len)`); the caller holds `&mut Log`, so no reader is alive.
        let dst = unsafe { std::slice::from_raw_parts_mut(self.buf.as_ptr().add(at), framed) };
        let n = record::encode(dst, kind, payload);
        debug_assert_eq!(n, framed);
        self.len.set(at + framed);
        n
    }

    /// The bytes held from segment offset `offset` on (which lies in `[start, end)`).
    pub fn bytes_from(&self, offset: usize) -> &[u8] {
        let (start, len) = (self.start.get(), self.len.get());
        assert!(offset >= start && offset <= start + len);
        // SAFETY: `[offset - start, len)` holds encoded records and is not written again until
        // a restart, which needs `&mut Log` and so outlives no slice returned here.
        unsafe {
            std::slice::from_raw_parts(self.buf.as_ptr().add(offset - start), start + len - offset)
        }
    }

    /// Writes what is held and not written yet into the segment file (one `pwrite` into the
    /// page cache; durability is the caller's fdatasync).
    pub fn write_out(&self) -> std::io::Result<()> {
        let (written, len) = (self.written.get(), self.len.get());
        if written == len {
            return Ok(());
        }
        let target = self.target.borrow();
        let Some(file) = target.as_ref() else {
            unreachable!("a stage holding records belongs to a segment")
        };
        // SAFETY: `[written, len)` holds encoded records (see `bytes_from`).
        let bytes =
            unsafe { std::slice::from_raw_parts(self.buf.as_ptr().add(written), len - written) };
        file.file()
            .write_all_at(bytes, (self.start.get() + written) as u64)?;
        self.written.set(len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Decoded;

    #[test]
    fn records_staged_read_back_and_written_at_their_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.set_len(4096).unwrap();
        let target = Rc::new(SyncTarget::new(file));
        let st = Stage::new(100);
        assert_eq!(st.capacity(), 112);
        st.restart(&target, 32);
        assert!(st.fits(record::framed_len(10)));
        let n = st.append(7, b"0123456789");
        assert_eq!(n, 32);
        assert_eq!(st.end(), 64);
        assert!(!st.is_written());
        match record::decode(st.bytes_from(32)) {
            Decoded::Record { kind, payload, .. } => {
                assert_eq!((kind, payload), (7, &b"0123456789"[..]))
            }
            other => panic!("{other:?}"),
        }
        st.write_out().unwrap();
        assert!(st.is_written());
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(&on_disk[32..64], st.bytes_from(32));
        assert!(on_disk[..32].iter().all(|&b| b == 0), "only its own range");
        assert!(!st.fits(record::framed_len(80)), "full");
    }
}
