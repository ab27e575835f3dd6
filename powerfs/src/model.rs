//! The filesystem's state and its durability model, independent of FUSE.
//!
//! Two views are kept. The *volatile* view is what users of the mount see: every directory's
//! entries and every file's bytes as last written. The *durable* view is the backing directory:
//! what a disk would hold after a power cut. They meet only at a sync:
//!
//! - `fsync`/`fdatasync` of a file makes its bytes, size and mode durable (into a hidden orphan
//!   file `.powerfs-orphans/<ino>` while the file has no durable name yet), never its name;
//! - `fsync` of a directory makes its entries durable exactly as they are now: new names appear
//!   in the backing directory (a file that was never synced appears empty), removed or
//!   renamed-away names disappear, a renamed file moves;
//! - nothing else ever touches the backing directory.
//!
//! A power cut ([`Model::cut`]) throws the volatile view away (optionally writing a prefix of
//! the last unsynced write first: a torn write) and deletes the orphans; the next mount loads
//! the backing directory as it is.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::overlay::FileData;

/// The rest of `impl Model`: syncs and the power cut.
mod durable;

/// Inode number of the mount's root.
pub const ROOT: u64 = 1;
/// Inode number of the control file.
pub const CONTROL: u64 = 2;
/// Name of the control file in the root directory (not listed by readdir).
pub const CONTROL_NAME: &str = ".powerfs";
/// Backing directory holding durable copies of inodes without a durable name.
pub const ORPHANS: &str = ".powerfs-orphans";

/// An errno value.
pub type Errno = i32;
/// Result of a filesystem operation.
pub type Res<T> = Result<T, Errno>;

fn errno(e: io::Error) -> Errno {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// What an inode is.
#[derive(Debug)]
pub enum Kind {
    /// A regular file.
    File(FileData),
    /// A directory.
    Dir(Dir),
}

/// A directory's entries, as users see them and as they are durable.
#[derive(Debug, Default)]
pub struct Dir {
    /// Name → inode, as users see it.
    pub entries: BTreeMap<OsString, u64>,
    /// Name → inode of the entries present in the backing directory.
    durable: BTreeMap<OsString, u64>,
}

/// Where an inode's durable copy lives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Loc {
    /// The backing directory itself.
    Root,
    /// An entry of a directory inode.
    In(u64, OsString),
    /// `.powerfs-orphans/<ino>`: durable bytes without a durable name (lost at a cut).
    Orphan,
}

/// Attributes other than the size.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// Permission bits.
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last access.
    pub atime: SystemTime,
    /// Last modification.
    pub mtime: SystemTime,
    /// Last status change.
    pub ctime: SystemTime,
}

impl Meta {
    fn new(perm: u32, uid: u32, gid: u32) -> Meta {
        let now = SystemTime::now();
        Meta {
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    fn from_fs(m: &std::fs::Metadata) -> Meta {
        Meta {
            perm: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            atime: m.accessed().unwrap_or(SystemTime::UNIX_EPOCH),
            mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ctime: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(m.ctime().max(0) as u64),
        }
    }
}

/// One inode.
#[derive(Debug)]
pub struct Inode {
    /// File or directory.
    pub kind: Kind,
    /// Its name as users see it (`None` for the root and for unlinked inodes).
    pub link: Option<(u64, OsString)>,
    durable: Option<Loc>,
    /// Kernel lookup count.
    pub lookups: u64,
    /// Open handles.
    pub opens: u32,
    /// Attributes.
    pub meta: Meta,
}

impl Inode {
    fn dir(&self) -> Option<&Dir> {
        match &self.kind {
            Kind::Dir(d) => Some(d),
            Kind::File(_) => None,
        }
    }
    fn dir_mut(&mut self) -> Option<&mut Dir> {
        match &mut self.kind {
            Kind::Dir(d) => Some(d),
            Kind::File(_) => None,
        }
    }
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }
    /// Size as users see it.
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(f) => f.size(),
            Kind::Dir(_) => 4096,
        }
    }
}

/// How a power cut treats the last unsynced write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// Lost whole, like every other unsynced write.
    None,
    /// A random whole number of 512-byte sectors of it survives (from this seed).
    Random(u64),
    /// Exactly this many leading bytes survive.
    Bytes(u64),
}

/// What a power cut dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Files with unsynced bytes, sizes or attributes.
    pub dirty_files: usize,
    /// Unsynced bytes dropped (whole pages).
    pub dropped_bytes: u64,
    /// Directories whose entries differed from their durable entries.
    pub dirty_dirs: usize,
    /// The torn write, if one was kept in part: (path in the backing dir, offset, kept, length).
    pub torn: Option<(PathBuf, u64, u64, u64)>,
}

impl CutReport {
    /// `key: value` lines (what the control file shows), read back by [`CutReport::parse`].
    pub fn to_lines(&self) -> String {
        let mut s = format!(
            "cut_dirty_files: {}\ncut_dropped_bytes: {}\ncut_dirty_dirs: {}\n",
            self.dirty_files, self.dropped_bytes, self.dirty_dirs
        );
        if let Some((p, off, kept, len)) = &self.torn {
            s.push_str(&format!("cut_torn: {off} {kept} {len} {}\n", p.display()));
        }
        s
    }

    /// Reads the lines of [`CutReport::to_lines`] out of a control file's text.
    pub fn parse(text: &str) -> Option<CutReport> {
        let mut r = CutReport::default();
        let mut seen = false;
        for line in text.lines() {
            let Some((k, v)) = line.split_once(": ") else {
                continue;
            };
            match k {
                "cut_dirty_files" => r.dirty_files = v.parse().ok()?,
                "cut_dropped_bytes" => {
                    r.dropped_bytes = v.parse().ok()?;
                    seen = true;
                }
                "cut_dirty_dirs" => r.dirty_dirs = v.parse().ok()?,
                "cut_torn" => {
                    let mut it = v.splitn(4, ' ');
                    let off = it.next()?.parse().ok()?;
                    let kept = it.next()?.parse().ok()?;
                    let len = it.next()?.parse().ok()?;
                    r.torn = Some((PathBuf::from(it.next()?), off, kept, len));
                }
                _ => {}
            }
        }
        seen.then_some(r)
    }
}

impl std::fmt::Display for CutReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "power cut: dropped {} unsynced bytes in {} files, unsynced entries of {} directories",
            self.dropped_bytes, self.dirty_files, self.dirty_dirs
        )?;
        if let Some((p, off, kept, len)) = &self.torn {
            write!(
                f,
                "; tore the last write to {} at {off}: kept {kept} of {len} bytes",
                p.display()
            )?;
        }
        Ok(())
    }
}

/// Counters, for the control file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// WRITE requests.
    pub writes: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// File syncs (fsync and fdatasync).
    pub file_syncs: u64,
    /// Directory syncs.
    pub dir_syncs: u64,
}

/// The whole filesystem.
#[derive(Debug)]
pub struct Model {
    backing: PathBuf,
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    write_order: u64,
    dead: bool,
    /// Counters.
    pub stats: Stats,
    /// The last power cut's report.
    pub last_cut: Option<CutReport>,
}

impl Model {
    /// Loads the backing directory as the durable state (after deleting old orphans).
    pub fn load(backing: &Path) -> io::Result<Model> {
        let orphans = backing.join(ORPHANS);
        match std::fs::remove_dir_all(&orphans) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir(&orphans)?;
        let meta = Meta::from_fs(&std::fs::metadata(backing)?);
        let mut m = Model {
            backing: backing.to_path_buf(),
            inodes: HashMap::new(),
            next_ino: CONTROL + 1,
            write_order: 0,
            dead: false,
            stats: Stats::default(),
            last_cut: None,
        };
        m.inodes.insert(
            ROOT,
            Inode {
                kind: Kind::Dir(Dir::default()),
                link: None,
                durable: Some(Loc::Root),
                lookups: 1,
                opens: 0,
                meta,
            },
        );
        m.scan(ROOT, backing)?;
        Ok(m)
    }

    fn scan(&mut self, dir: u64, path: &Path) -> io::Result<()> {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name();
            if dir == ROOT && (name == ORPHANS || name == CONTROL_NAME) {
                continue;
            }
            let p = entry.path();
            let md = std::fs::symlink_metadata(&p)?;
            let kind = if md.is_dir() {
                Kind::Dir(Dir::default())
            } else if md.is_file() {
                let f = OpenOptions::new().read(true).write(true).open(&p)?;
                Kind::File(FileData::durable(f, md.len()))
            } else {
                continue; // symlinks and devices are not modelled
            };
            let ino = self.alloc();
            self.inodes.insert(
                ino,
                Inode {
                    kind,
                    link: Some((dir, name.clone())),
                    durable: Some(Loc::In(dir, name.clone())),
                    lookups: 0,
                    opens: 0,
                    meta: Meta::from_fs(&md),
                },
            );
            let d = self.dir_mut(dir).map_err(io::Error::from_raw_os_error)?;
            d.entries.insert(name.clone(), ino);
            d.durable.insert(name, ino);
            if md.is_dir() {
                self.scan(ino, &p)?;
            }
        }
        Ok(())
    }

    fn alloc(&mut self) -> u64 {
        let i = self.next_ino;
        self.next_ino += 1;
        i
    }

    /// Whether the power was cut (every operation then fails with EIO).
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    fn alive(&self) -> Res<()> {
        if self.dead {
            Err(libc::EIO)
        } else {
            Ok(())
        }
    }

    /// The inode `ino`.
    pub fn get(&self, ino: u64) -> Res<&Inode> {
        self.alive()?;
        self.inodes.get(&ino).ok_or(libc::ENOENT)
    }

    fn get_mut(&mut self, ino: u64) -> Res<&mut Inode> {
        self.alive()?;
        self.inodes.get_mut(&ino).ok_or(libc::ENOENT)
    }

    fn dir(&self, ino: u64) -> Res<&Dir> {
        self.inodes
            .get(&ino)
            .ok_or(libc::ENOENT)?
            .dir()
            .ok_or(libc::ENOTDIR)
    }

    fn dir_mut(&mut self, ino: u64) -> Res<&mut Dir> {
        self.inodes
            .get_mut(&ino)
            .ok_or(libc::ENOENT)?
            .dir_mut()
            .ok_or(libc::ENOTDIR)
    }

    fn file_mut(&mut self, ino: u64) -> Res<&mut FileData> {
        match &mut self.get_mut(ino)?.kind {
            Kind::File(f) => Ok(f),
            Kind::Dir(_) => Err(libc::EISDIR),
        }
    }

    /// The entry `name` of directory `parent`.
    pub fn lookup(&self, parent: u64, name: &OsStr) -> Res<u64> {
        self.alive()?;
        self.dir(parent)?
            .entries
            .get(name)
            .copied()
            .ok_or(libc::ENOENT)
    }

    /// Counts a kernel reference (an entry handed out by lookup, create or mkdir).
    pub fn remember(&mut self, ino: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.lookups += 1;
        }
    }

    /// Drops `n` kernel references.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.lookups = i.lookups.saturating_sub(n);
        }
        self.maybe_drop(ino);
    }

    /// Counts an open handle.
    pub fn open(&mut self, ino: u64) -> Res<()> {
        self.get_mut(ino)?.opens += 1;
        Ok(())
    }

    /// Drops an open handle.
    pub fn release(&mut self, ino: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.opens = i.opens.saturating_sub(1);
        }
        self.maybe_drop(ino);
    }

    /// Frees an inode nobody can reach any more (no name, no kernel reference, no durable copy).
    fn maybe_drop(&mut self, ino: u64) {
        if ino == ROOT {
            return;
        }
        let gone = self.inodes.get(&ino).is_some_and(|i| {
            i.link.is_none() && i.lookups == 0 && i.opens == 0 && i.durable.is_none()
        });
        if gone {
            self.inodes.remove(&ino);
        }
    }

    fn check_new_name(&self, parent: u64, name: &OsStr) -> Res<()> {
        if parent == ROOT && (name == CONTROL_NAME || name == ORPHANS) {
            return Err(libc::EPERM);
        }
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        Ok(())
    }

    /// Creates a file or a directory `name` in `parent`.
    pub fn create(
        &mut self,
        parent: u64,
        name: &OsStr,
        dir: bool,
        perm: u32,
        uid: u32,
        gid: u32,
    ) -> Res<u64> {
        self.alive()?;
        self.check_new_name(parent, name)?;
        let ino = self.alloc();
        let kind = if dir {
            Kind::Dir(Dir::default())
        } else {
            Kind::File(FileData::default())
        };
        self.inodes.insert(
            ino,
            Inode {
                kind,
                link: Some((parent, name.to_os_string())),
                durable: None,
                lookups: 0,
                opens: 0,
                meta: Meta::new(perm, uid, gid),
            },
        );
        self.dir_mut(parent)?
            .entries
            .insert(name.to_os_string(), ino);
        self.touch_dir(parent);
        Ok(ino)
    }

    fn touch_dir(&mut self, ino: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            let now = SystemTime::now();
            i.meta.mtime = now;
            i.meta.ctime = now;
        }
    }

    /// Removes the entry `name` of `parent` (`dir`: rmdir, else unlink).
    pub fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Res<()> {
        let ino = self.lookup(parent, name)?;
        let node = self.get(ino)?;
        match (&node.kind, dir) {
            (Kind::Dir(_), false) => return Err(libc::EISDIR),
            (Kind::File(_), true) => return Err(libc::ENOTDIR),
            (Kind::Dir(d), true) if !d.entries.is_empty() => return Err(libc::ENOTEMPTY),
            _ => {}
        }
        self.dir_mut(parent)?.entries.remove(name);
        self.touch_dir(parent);
        self.get_mut(ino)?.link = None;
        self.maybe_drop(ino);
        Ok(())
    }

    /// Renames `parent/name` to `new_parent/new_name` (`noreplace`: fail if that exists).
    pub fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        noreplace: bool,
    ) -> Res<()> {
        let ino = self.lookup(parent, name)?;
        if new_parent == ROOT && (new_name == CONTROL_NAME || new_name == ORPHANS) {
            return Err(libc::EPERM);
        }
        self.dir(new_parent)?;
        // A directory cannot move below itself.
        let mut up = Some(new_parent);
        while let Some(a) = up {
            if a == ino {
                return Err(libc::EINVAL);
            }
            up = self
                .inodes
                .get(&a)
                .and_then(|i| i.link.as_ref())
                .map(|l| l.0);
        }
        if let Some(&old) = self.dir(new_parent)?.entries.get(new_name) {
            if old == ino {
                return Ok(());
            }
            if noreplace {
                return Err(libc::EEXIST);
            }
            let (src_dir, dst) = (self.get(ino)?.is_dir(), self.get(old)?);
            match (&dst.kind, src_dir) {
                (Kind::Dir(d), true) if !d.entries.is_empty() => return Err(libc::ENOTEMPTY),
                (Kind::Dir(_), false) => return Err(libc::EISDIR),
                (Kind::File(_), true) => return Err(libc::ENOTDIR),
                _ => {}
            }
            self.get_mut(old)?.link = None;
            self.maybe_drop(old);
        }
        self.dir_mut(parent)?.entries.remove(name);
        self.dir_mut(new_parent)?
            .entries
            .insert(new_name.to_os_string(), ino);
        self.get_mut(ino)?.link = Some((new_parent, new_name.to_os_string()));
        self.touch_dir(parent);
        self.touch_dir(new_parent);
        Ok(())
    }

    /// Reads file bytes.
    pub fn read(&self, ino: u64, off: u64, len: u32) -> Res<Vec<u8>> {
        match &self.get(ino)?.kind {
            Kind::File(f) => f.read(off, len).map_err(errno),
            Kind::Dir(_) => Err(libc::EISDIR),
        }
    }

    /// Writes file bytes (volatile until the file is synced).
    pub fn write(&mut self, ino: u64, off: u64, data: &[u8]) -> Res<()> {
        self.write_order += 1;
        let order = self.write_order;
        self.file_mut(ino)?.write(off, data, order).map_err(errno)?;
        self.stats.writes += 1;
        self.stats.bytes_written += data.len() as u64;
        let i = self.get_mut(ino)?;
        let now = SystemTime::now();
        i.meta.mtime = now;
        i.meta.ctime = now;
        Ok(())
    }

    /// Truncates or extends a file (volatile until the file is synced).
    pub fn set_size(&mut self, ino: u64, size: u64) -> Res<()> {
        self.file_mut(ino)?.set_size(size);
        Ok(())
    }

    /// Sets attributes other than the size.
    pub fn set_meta(&mut self, ino: u64, f: impl FnOnce(&mut Meta)) -> Res<()> {
        f(&mut self.get_mut(ino)?.meta);
        Ok(())
    }

    /// `fallocate(2)`: mode 0 extends the file (the blocks are allocated in the backing copy
    /// at the next sync); `FALLOC_FL_KEEP_SIZE` changes nothing users can see. Other modes
    /// are not supported. Fails with ENOSPC when the backing filesystem lacks the room.
    pub fn fallocate(&mut self, ino: u64, off: u64, len: u64, mode: i32) -> Res<()> {
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return Err(libc::EOPNOTSUPP);
        }
        let end = off.checked_add(len).ok_or(libc::EFBIG)?;
        let size = self.file_mut(ino)?.size();
        let grow = end.saturating_sub(size);
        if grow > 0 && grow > self.free_bytes()? {
            return Err(libc::ENOSPC);
        }
        if mode & libc::FALLOC_FL_KEEP_SIZE == 0 && end > size {
            self.file_mut(ino)?.set_size(end);
        }
        Ok(())
    }

    /// Free bytes of the backing filesystem.
    pub fn free_bytes(&self) -> Res<u64> {
        let s = self.statfs()?;
        Ok(s.f_bavail * s.f_frsize)
    }

    /// `statvfs` of the backing filesystem.
    pub fn statfs(&self) -> Res<libc::statvfs> {
        self.alive()?;
        let c = std::ffi::CString::new(self.backing.as_os_str().as_encoded_bytes())
            .map_err(|_| libc::EINVAL)?;
        // SAFETY: statvfs fills the struct; the path is NUL-terminated.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return Err(errno(io::Error::last_os_error()));
        }
        Ok(s)
    }

    /// The entries of a directory as users see them.
    pub fn list(&self, ino: u64) -> Res<Vec<(OsString, u64, bool)>> {
        self.alive()?;
        let d = self.dir(ino)?;
        Ok(d.entries
            .iter()
            .map(|(n, &i)| (n.clone(), i, self.inodes.get(&i).is_some_and(Inode::is_dir)))
            .collect())
    }

    /// A short text of counters and the last cut, for the control file.
    pub fn status(&self) -> String {
        let s = self.stats;
        let mut out = format!(
            "state: {}\nwrites: {}\nbytes_written: {}\nfile_syncs: {}\ndir_syncs: {}\n",
            if self.dead { "power cut" } else { "on" },
            s.writes,
            s.bytes_written,
            s.file_syncs,
            s.dir_syncs
        );
        if let Some(c) = &self.last_cut {
            out.push_str(&c.to_lines());
            out.push_str(&format!("{c}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ORPHANS)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn names_are_durable_only_after_a_directory_sync() {
        let t = tempfile::tempdir().unwrap();
        let mut m = Model::load(t.path()).unwrap();
        let f = m
            .create(ROOT, OsStr::new("a.tmp"), false, 0o644, 0, 0)
            .unwrap();
        m.write(f, 0, b"hello").unwrap();
        m.sync_file(f).unwrap();
        assert!(
            names(t.path()).is_empty(),
            "a file sync does not link the name"
        );
        m.rename(ROOT, OsStr::new("a.tmp"), ROOT, OsStr::new("a"), false)
            .unwrap();
        m.sync_dir(ROOT).unwrap();
        assert_eq!(names(t.path()), vec!["a"]);
        assert_eq!(std::fs::read(t.path().join("a")).unwrap(), b"hello");
        // Unlink without a directory sync: the name survives a cut.
        m.remove(ROOT, OsStr::new("a"), false).unwrap();
        m.cut(Tear::None);
        assert_eq!(names(t.path()), vec!["a"]);
    }

    #[test]
    fn unsynced_file_is_empty_on_disk_and_dirs_nest() {
        let t = tempfile::tempdir().unwrap();
        let mut m = Model::load(t.path()).unwrap();
        let d = m.create(ROOT, OsStr::new("d"), true, 0o755, 0, 0).unwrap();
        let f = m.create(d, OsStr::new("f"), false, 0o644, 0, 0).unwrap();
        m.write(f, 0, b"data").unwrap();
        // The directory synced before its parent: its entries live in an orphan until then.
        m.sync_dir(d).unwrap();
        assert!(names(t.path()).is_empty());
        m.sync_dir(ROOT).unwrap();
        assert_eq!(names(&t.path().join("d")), vec!["f"]);
        assert_eq!(std::fs::read(t.path().join("d/f")).unwrap(), b"");
        m.sync_file(f).unwrap();
        assert_eq!(std::fs::read(t.path().join("d/f")).unwrap(), b"data");
        let r = m.cut(Tear::None);
        assert_eq!(r.dropped_bytes, 0);
        let m = Model::load(t.path()).unwrap();
        let d = m.lookup(ROOT, OsStr::new("d")).unwrap();
        let f = m.lookup(d, OsStr::new("f")).unwrap();
        assert_eq!(m.read(f, 0, 100).unwrap(), b"data");
    }

    #[test]
    fn renamed_away_entries_keep_their_bytes() {
        let t = tempfile::tempdir().unwrap();
        let mut m = Model::load(t.path()).unwrap();
        let a = m.create(ROOT, OsStr::new("a"), true, 0o755, 0, 0).unwrap();
        let f = m.create(a, OsStr::new("f"), false, 0o644, 0, 0).unwrap();
        m.write(f, 0, b"x").unwrap();
        m.sync_file(f).unwrap();
        m.sync_dir(a).unwrap();
        m.sync_dir(ROOT).unwrap();
        // Move f to the root and delete a; sync only the root.
        m.rename(a, OsStr::new("f"), ROOT, OsStr::new("f"), false)
            .unwrap();
        m.remove(ROOT, OsStr::new("a"), true).unwrap();
        m.sync_dir(ROOT).unwrap();
        assert_eq!(names(t.path()), vec!["f"]);
        assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"x");
    }
}
