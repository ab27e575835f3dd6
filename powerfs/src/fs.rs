//! The FUSE face of the [`Model`]: each request locks the model, runs one operation, replies.
//!
//! Regular files go through the kernel's page cache (never `direct_io`), so shared writable
//! mappings work: their dirty pages reach [`Model::write`] at writeback and stay volatile like
//! any other write until the file is synced. The control file is `direct_io`, so a command
//! written to it reaches the filesystem at once.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::control;
use crate::model::{Inode, Model, Res, CONTROL, CONTROL_NAME, ROOT};

/// How long the kernel may cache attributes and entries (this filesystem is their only
/// writer, and a power cut is followed by a fresh mount).
const TTL: Duration = Duration::from_secs(1);

/// The filesystem handed to fuser.
pub struct PowerFs {
    model: Arc<Mutex<Model>>,
}

impl PowerFs {
    /// Serves `model`.
    pub fn new(model: Arc<Mutex<Model>>) -> PowerFs {
        PowerFs { model }
    }

    fn lock(&self) -> MutexGuard<'_, Model> {
        // A panic while holding the lock leaves a model that is still consistent enough to
        // answer; the panic itself already failed the operation.
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn err(e: i32) -> Errno {
    Errno::from_i32(e)
}

fn attr(ino: u64, i: &Inode) -> FileAttr {
    let size = i.size();
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: i.meta.atime,
        mtime: i.meta.mtime,
        ctime: i.meta.ctime,
        crtime: i.meta.ctime,
        kind: if i.is_dir() {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: i.meta.perm as u16,
        nlink: match (&i.link, i.is_dir()) {
            (None, false) if ino != ROOT => 0,
            (_, true) => 2,
            _ => 1,
        },
        uid: i.meta.uid,
        gid: i.meta.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn control_attr() -> FileAttr {
    let now = SystemTime::now();
    FileAttr {
        ino: INodeNo(CONTROL),
        size: 4096,
        blocks: 8,
        atime: now,
        mtime: now,
        ctime: now,
        crtime: now,
        kind: FileType::RegularFile,
        perm: 0o600,
        nlink: 1,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl PowerFs {
    fn entry(&self, m: &mut Model, ino: Res<u64>, reply: ReplyEntry) {
        match ino.and_then(|i| m.get(i).map(|n| attr(i, n))) {
            Ok(a) => {
                m.remember(a.ino.0);
                reply.entry(&TTL, &a, Generation(0));
            }
            Err(e) => reply.error(err(e)),
        }
    }
}

impl Filesystem for PowerFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent.0 == ROOT && name == CONTROL_NAME {
            reply.entry(&TTL, &control_attr(), Generation(0));
            return;
        }
        let mut m = self.lock();
        let ino = m.lookup(parent.0, name);
        self.entry(&mut m, ino, reply);
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.lock().forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino.0 == CONTROL {
            reply.attr(&TTL, &control_attr());
            return;
        }
        let m = self.lock();
        match m.get(ino.0) {
            Ok(i) => reply.attr(&TTL, &attr(ino.0, i)),
            Err(e) => reply.error(err(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if ino.0 == CONTROL {
            reply.attr(&TTL, &control_attr());
            return;
        }
        let mut m = self.lock();
        let r = (|| {
            if let Some(s) = size {
                m.set_size(ino.0, s)?;
            }
            m.set_meta(ino.0, |meta| {
                if let Some(p) = mode {
                    meta.perm = p & 0o7777;
                }
                if let Some(u) = uid {
                    meta.uid = u;
                }
                if let Some(g) = gid {
                    meta.gid = g;
                }
                if let Some(t) = atime {
                    meta.atime = time(t);
                }
                if let Some(t) = mtime {
                    meta.mtime = time(t);
                }
                meta.ctime = SystemTime::now();
            })?;
            m.get(ino.0).map(|i| attr(ino.0, i))
        })();
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(err(e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            reply.error(Errno::EPERM);
            return;
        }
        let mut m = self.lock();
        let ino = m.create(
            parent.0,
            name,
            false,
            mode & !umask & 0o7777,
            req.uid(),
            req.gid(),
        );
        self.entry(&mut m, ino, reply);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut m = self.lock();
        let ino = m.create(
            parent.0,
            name,
            true,
            mode & !umask & 0o7777,
            req.uid(),
            req.gid(),
        );
        self.entry(&mut m, ino, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.lock().remove(parent.0, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.lock().remove(parent.0, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.intersects(!RenameFlags::RENAME_NOREPLACE) {
            reply.error(Errno::EINVAL);
            return;
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self
            .lock()
            .rename(parent.0, name, newparent.0, newname, noreplace)
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if ino.0 == CONTROL {
            reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
            return;
        }
        let mut m = self.lock();
        match m.get(ino.0).map(Inode::is_dir) {
            Ok(false) => match m.open(ino.0) {
                Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
                Err(e) => reply.error(err(e)),
            },
            Ok(true) => reply.error(Errno::EISDIR),
            Err(e) => reply.error(err(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if ino.0 == CONTROL {
            let text = self.lock().status();
            let b = text.as_bytes();
            let start = (offset as usize).min(b.len());
            let end = (start + size as usize).min(b.len());
            reply.data(&b[start..end]);
            return;
        }
        match self.lock().read(ino.0, offset, size) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(err(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if ino.0 == CONTROL {
            let text = String::from_utf8_lossy(data);
            let result = control::run(&mut self.lock(), text.trim());
            match result {
                Ok(()) => reply.written(data.len() as u32),
                Err(e) => reply.error(err(e)),
            }
            return;
        }
        match self.lock().write(ino.0, offset, data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(err(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) promises no durability.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if ino.0 != CONTROL {
            self.lock().release(ino.0);
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        if ino.0 == CONTROL {
            reply.ok();
            return;
        }
        // fdatasync and fsync alike: the bytes, the size and the mode (never the name).
        match self.lock().sync_file(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.lock().get(ino.0).map(Inode::is_dir) {
            Ok(true) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Ok(false) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(err(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let m = self.lock();
        let entries = match m.list(ino.0) {
            Ok(e) => e,
            Err(e) => {
                reply.error(err(e));
                return;
            }
        };
        let parent = m
            .get(ino.0)
            .ok()
            .and_then(|i| i.link.as_ref().map(|l| l.0))
            .unwrap_or(ROOT);
        let all = [
            (OsStr::new(".").to_os_string(), ino.0, true),
            (OsStr::new("..").to_os_string(), parent, true),
        ]
        .into_iter()
        .chain(entries);
        for (i, (name, child, dir)) in all.enumerate().skip(offset as usize) {
            let kind = if dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.lock().sync_dir(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.lock().statfs() {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(err(e)),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            reply.error(Errno::EPERM);
            return;
        }
        let mut m = self.lock();
        let r = m
            .create(
                parent.0,
                name,
                false,
                mode & !umask & 0o7777,
                req.uid(),
                req.gid(),
            )
            .and_then(|ino| {
                m.open(ino)?;
                m.get(ino).map(|i| attr(ino, i))
            });
        match r {
            Ok(a) => {
                m.remember(a.ino.0);
                reply.created(
                    &TTL,
                    &a,
                    Generation(0),
                    FileHandle(0),
                    FopenFlags::FOPEN_KEEP_CACHE,
                );
            }
            Err(e) => reply.error(err(e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        match self.lock().fallocate(ino.0, offset, length, mode) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(err(e)),
        }
    }
}
