//! Syncs and the power cut: the only code that touches the backing directory after loading.

use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::{errno, CutReport, Inode, Kind, Loc, Model, Res, Tear, ORPHANS};

impl Model {
    fn path_of(&self, ino: u64) -> Option<PathBuf> {
        match self.inodes.get(&ino)?.durable.as_ref()? {
            Loc::Root => Some(self.backing.clone()),
            Loc::In(p, n) => Some(self.path_of(*p)?.join(n)),
            Loc::Orphan => Some(self.orphan_path(ino)),
        }
    }

    fn orphan_path(&self, ino: u64) -> PathBuf {
        self.backing.join(ORPHANS).join(ino.to_string())
    }

    /// `fsync`/`fdatasync` of a file: its bytes, size and permissions become durable (not its
    /// name: that takes a sync of its directory).
    pub fn sync_file(&mut self, ino: u64) -> Res<()> {
        self.alive()?;
        let orphan = self.orphan_path(ino);
        let had_copy = self.get(ino)?.durable.is_some();
        let perm = self.get(ino)?.meta.perm;
        let f = self.file_mut(ino)?;
        let becomes_orphan = !had_copy && !f.has_backing();
        f.sync(|| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&orphan)
        })
        .map_err(errno)?;
        if becomes_orphan {
            self.get_mut(ino)?.durable = Some(Loc::Orphan);
        }
        if let Some(p) = self.path_of(ino) {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(perm)).map_err(errno)?;
        }
        self.stats.file_syncs += 1;
        Ok(())
    }

    /// `fsync` of a directory: its durable entries become exactly its current entries.
    pub fn sync_dir(&mut self, ino: u64) -> Res<()> {
        self.alive()?;
        if self.get(ino)?.durable.is_none() {
            std::fs::create_dir(self.orphan_path(ino)).map_err(errno)?;
            self.get_mut(ino)?.durable = Some(Loc::Orphan);
        }
        let d = self.dir(ino)?;
        let (want, have) = (d.entries.clone(), d.durable.clone());
        for (name, x) in &have {
            if want.get(name) != Some(x) {
                self.unlink_durable(ino, name, *x)?;
            }
        }
        for (name, x) in &want {
            if self.dir(ino)?.durable.get(name) != Some(x) {
                self.link_durable(ino, name, *x)?;
            }
        }
        self.stats.dir_syncs += 1;
        Ok(())
    }

    /// Removes the durable entry `dir/name` of `x`: a still-named inode keeps its bytes as an
    /// orphan (a sync of its new directory links it again), others are deleted.
    fn unlink_durable(&mut self, dir: u64, name: &OsStr, x: u64) -> Res<()> {
        let live = self.inodes.get(&x).is_some_and(|i| i.link.is_some());
        if live {
            self.move_to_orphans(x)?;
        } else {
            self.destroy_durable(x)?;
        }
        self.dir_mut(dir)?.durable.remove(name);
        Ok(())
    }

    fn move_to_orphans(&mut self, x: u64) -> Res<()> {
        let from = self.path_of(x).ok_or(libc::EIO)?;
        std::fs::rename(&from, self.orphan_path(x)).map_err(errno)?;
        self.forget_durable_entry(x)?;
        self.get_mut(x)?.durable = Some(Loc::Orphan);
        Ok(())
    }

    /// Removes `x`'s durable location from its durable parent's entries.
    fn forget_durable_entry(&mut self, x: u64) -> Res<()> {
        if let Some(Loc::In(p, n)) = self.inodes.get(&x).and_then(|i| i.durable.clone()) {
            if let Ok(d) = self.dir_mut(p) {
                d.durable.remove(&n);
            }
        }
        Ok(())
    }

    /// Deletes the durable copy of an inode users can no longer reach by name (a directory's
    /// durable children that still have names elsewhere become orphans first).
    fn destroy_durable(&mut self, x: u64) -> Res<()> {
        let Some(path) = self.path_of(x) else {
            return Ok(());
        };
        let children: Vec<(OsString, u64)> = match self.inodes.get(&x).and_then(Inode::dir) {
            Some(d) => d.durable.iter().map(|(n, &i)| (n.clone(), i)).collect(),
            None => Vec::new(),
        };
        let is_dir = self.inodes.get(&x).is_some_and(Inode::is_dir);
        for (name, c) in children {
            self.unlink_durable(x, &name, c)?;
        }
        let r = if is_dir {
            std::fs::remove_dir(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(errno(e)),
        }
        self.forget_durable_entry(x)?;
        if let Some(i) = self.inodes.get_mut(&x) {
            // An open file keeps its (now deleted) backing copy: it stays readable, and syncs
            // still go there, out of reach of any name.
            i.durable = None;
        }
        self.maybe_drop(x);
        Ok(())
    }

    /// Makes `dir/name` a durable name of `x` (moving its durable copy there, or creating an
    /// empty one: a file never synced is empty on disk).
    fn link_durable(&mut self, dir: u64, name: &OsStr, x: u64) -> Res<()> {
        let target = self.path_of(dir).ok_or(libc::EIO)?.join(name);
        let i = self.inodes.get(&x).ok_or(libc::EIO)?;
        let perm = i.meta.perm;
        match self.path_of(x) {
            Some(from) => {
                if target.starts_with(&from) {
                    return Err(libc::EINVAL); // a durable cycle: not modelled
                }
                std::fs::rename(&from, &target).map_err(errno)?;
                self.forget_durable_entry(x)?;
            }
            None => {
                if i.is_dir() {
                    std::fs::create_dir(&target).map_err(errno)?;
                } else {
                    let f = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create_new(true)
                        .open(&target)
                        .map_err(errno)?;
                    if let Kind::File(data) = &mut self.get_mut(x)?.kind {
                        data.attach_empty_backing(f);
                    }
                }
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(perm))
                    .map_err(errno)?;
            }
        }
        self.get_mut(x)?.durable = Some(Loc::In(dir, name.to_os_string()));
        self.dir_mut(dir)?.durable.insert(name.to_os_string(), x);
        Ok(())
    }

    /// Power cut: drops everything unsynced (after keeping part of the last unsynced write if
    /// `tear` says so) and deletes the orphans. The filesystem is dead afterwards: every
    /// operation fails with EIO until it is mounted again.
    pub fn cut(&mut self, tear: Tear) -> CutReport {
        let mut report = CutReport::default();
        if self.dead {
            return self.last_cut.clone().unwrap_or_default();
        }
        for i in self.inodes.values() {
            match &i.kind {
                Kind::File(f) if f.is_dirty() => {
                    report.dirty_files += 1;
                    report.dropped_bytes += f.unsynced_bytes();
                }
                Kind::Dir(d) if d.entries != d.durable || i.durable.is_none() => {
                    report.dirty_dirs += 1
                }
                _ => {}
            }
        }
        if tear != Tear::None {
            report.torn = self.tear(tear);
        }
        self.dead = true;
        self.inodes.clear(); // closes every backing file
        let _ = std::fs::remove_dir_all(self.backing.join(ORPHANS));
        self.last_cut = Some(report.clone());
        report
    }

    fn tear(&self, tear: Tear) -> Option<(PathBuf, u64, u64, u64)> {
        let (ino, w) = self
            .inodes
            .iter()
            .filter_map(|(&ino, i)| match &i.kind {
                Kind::File(f) => f.last_write().map(|w| (ino, w)),
                Kind::Dir(_) => None,
            })
            .max_by_key(|(_, w)| w.order)?;
        let keep = match tear {
            Tear::None => return None,
            Tear::Bytes(n) => n.min(w.len),
            Tear::Random(seed) => {
                let sectors = w.len.div_ceil(512);
                let mut x = seed | 1;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x % sectors.max(1)) * 512).min(w.len)
            }
        };
        let Kind::File(f) = &self.inodes.get(&ino)?.kind else {
            return None;
        };
        match f.tear_last_write(keep) {
            Ok(_) => Some((self.path_of(ino)?, w.offset, keep, w.len)),
            Err(_) => None,
        }
    }
}
