//! The tool proves itself: through a real mount (system calls, the kernel's page cache,
//! shared mappings), what was not synced is gone after a power cut and what was synced is
//! there. Needs /dev/fuse; `SKIP_POWERLOSS=1` skips (and says so).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use jindou_powerfs::{PowerLossDisk, Tear};

/// The filesystem's own process when `PowerLossDisk` starts this binary for it.
#[test]
fn powerfs_daemon() {
    jindou_powerfs::daemon_if_requested();
}

fn disk(test: &str) -> Option<(tempfile::TempDir, PowerLossDisk)> {
    if jindou_powerfs::skip_requested(&format!("powerfs::{test}")) {
        return None;
    }
    let t = tempfile::tempdir().expect("tempdir");
    let d = PowerLossDisk::new(t.path()).expect("mount powerfs");
    Some((t, d))
}

fn read(p: &Path) -> Option<Vec<u8>> {
    std::fs::read(p).ok()
}

fn fsync_dir(p: &Path) {
    File::open(p)
        .expect("open dir")
        .sync_all()
        .expect("fsync dir");
}

#[test]
fn unsynced_writes_are_lost_synced_writes_survive() {
    let Some((_t, mut d)) = disk("unsynced_writes_are_lost_synced_writes_survive") else {
        return;
    };
    let m = d.path().to_path_buf();
    // A durable file to start from.
    let mut f = File::create(m.join("a")).unwrap();
    f.write_all(b"synced").unwrap();
    f.sync_data().unwrap();
    fsync_dir(&m);
    // Written, read back through the mount, never synced.
    f.write_all(b" and unsynced").unwrap();
    std::fs::write(m.join("b"), b"never synced").unwrap();
    assert_eq!(read(&m.join("a")).unwrap(), b"synced and unsynced");
    drop(f);
    let r = d.power_cut(Tear::None).unwrap();
    assert!(r.dropped_bytes > 0, "{r}");
    assert_eq!(
        read(&m.join("a")).unwrap(),
        b"synced",
        "the unsynced append is gone"
    );
    assert_eq!(read(&m.join("b")), None, "the unsynced file is gone");

    // Synced data and name: everything survives.
    let mut f = File::create(m.join("c")).unwrap();
    f.write_all(b"durable").unwrap();
    f.sync_all().unwrap();
    fsync_dir(&m);
    drop(f);
    d.power_cut(Tear::None).unwrap();
    assert_eq!(read(&m.join("c")).unwrap(), b"durable");
}

#[test]
fn names_need_a_directory_sync() {
    let Some((_t, mut d)) = disk("names_need_a_directory_sync") else {
        return;
    };
    let m = d.path().to_path_buf();
    std::fs::create_dir(m.join("dir")).unwrap();
    fsync_dir(&m);
    let dir = m.join("dir");
    // The snapshot pattern: temp file, fsync, rename, fsync of the directory.
    std::fs::write(dir.join("snap"), b"old").unwrap();
    File::open(dir.join("snap")).unwrap().sync_all().unwrap();
    fsync_dir(&dir);
    let mut t = File::create(dir.join("snap.tmp")).unwrap();
    t.write_all(b"new").unwrap();
    t.sync_all().unwrap();
    std::fs::rename(dir.join("snap.tmp"), dir.join("snap")).unwrap();
    // fsync of a new file, not of its directory: the name is lost.
    let f = File::create(dir.join("x")).unwrap();
    f.sync_all().unwrap();
    // A rename without the directory sync is lost.
    drop((f, t));
    d.power_cut(Tear::None).unwrap();
    assert_eq!(
        read(&dir.join("snap")).unwrap(),
        b"old",
        "rename not durable yet"
    );
    assert_eq!(read(&dir.join("snap.tmp")), None);
    assert_eq!(read(&dir.join("x")), None, "never linked durably");

    let mut t = File::create(dir.join("snap.tmp")).unwrap();
    t.write_all(b"new").unwrap();
    t.sync_all().unwrap();
    std::fs::rename(dir.join("snap.tmp"), dir.join("snap")).unwrap();
    fsync_dir(&dir);
    drop(t);
    d.power_cut(Tear::None).unwrap();
    assert_eq!(read(&dir.join("snap")).unwrap(), b"new");
    assert_eq!(read(&dir.join("snap.tmp")), None);
    // An unlink without the directory sync is lost too.
    std::fs::remove_file(dir.join("snap")).unwrap();
    d.power_cut(Tear::None).unwrap();
    assert_eq!(read(&dir.join("snap")).unwrap(), b"new");
    // A directory made without a sync of its parent disappears with its synced contents.
    std::fs::create_dir(m.join("lost")).unwrap();
    File::create(m.join("lost/f")).unwrap().sync_all().unwrap();
    fsync_dir(&m.join("lost"));
    d.power_cut(Tear::None).unwrap();
    assert!(!m.join("lost").exists());
}

/// A shared writable mapping, as the segment log uses: preallocated with fallocate, written
/// through the mapping, made durable by fdatasync.
#[test]
fn shared_mapping_writes_need_fdatasync() {
    let Some((_t, mut d)) = disk("shared_mapping_writes_need_fdatasync") else {
        return;
    };
    let m = d.path().to_path_buf();
    const LEN: usize = 1 << 20;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.join("seg"))
        .unwrap();
    // SAFETY: plain syscall on an fd we own.
    assert_eq!(
        unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, LEN as libc::off_t) },
        0
    );
    f.sync_all().unwrap();
    fsync_dir(&m);
    // SAFETY: the file is ours and is not truncated while mapped.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
    map[..5].copy_from_slice(b"first");
    f.sync_data().unwrap(); // fdatasync writes the dirty page back, then syncs
                            // Counted from here: the kernel may write the next dirty page back at any time (its
                            // flusher, before the unmap) and on FUSE unmapping does it. Either way the write reaches
                            // the filesystem without a sync and must stay volatile.
    let before = bytes_written(&d);
    map[LEN - 6..].copy_from_slice(b"second");
    drop(map);
    assert!(bytes_written(&d) > before, "the page was written back");
    drop(f);
    d.power_cut(Tear::None).unwrap();
    let got = read(&m.join("seg")).unwrap();
    assert_eq!(got.len(), LEN, "the preallocated size is durable");
    assert_eq!(&got[..5], b"first");
    assert!(
        got[LEN - 6..].iter().all(|&b| b == 0),
        "unsynced mapping write lost"
    );
    // The backing copy is allocated, not sparse.
    let md = std::fs::metadata(d.backing().join("seg")).unwrap();
    assert!(md.blocks() * 512 >= LEN as u64, "{} blocks", md.blocks());
}

fn bytes_written(d: &PowerLossDisk) -> u64 {
    let s = d.status().unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("bytes_written: "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no bytes_written in {s}"))
}

#[test]
fn torn_last_write_keeps_a_prefix() {
    let Some((_t, mut d)) = disk("torn_last_write_keeps_a_prefix") else {
        return;
    };
    let m = d.path().to_path_buf();
    let f = File::create(m.join("f")).unwrap();
    f.write_all_at(&[1u8; 8192], 0).unwrap();
    f.sync_all().unwrap();
    fsync_dir(&m);
    f.write_all_at(&[2u8; 8192], 0).unwrap();
    drop(f);
    let r = d.power_cut(Tear::Bytes(1000)).unwrap();
    assert!(r.torn.is_some(), "{r}");
    let got = read(&m.join("f")).unwrap();
    assert!(got[..1000].iter().all(|&b| b == 2));
    assert!(got[1000..].iter().all(|&b| b == 1));
}

/// The control file cuts the power of a running mount; afterwards it answers only EIO.
#[test]
fn control_file_cuts_power() {
    let Some((_t, mut d)) = disk("control_file_cuts_power") else {
        return;
    };
    let m = d.path().to_path_buf();
    std::fs::write(m.join("f"), b"unsynced").unwrap();
    let ctl = m.join(".powerfs");
    OpenOptions::new()
        .write(true)
        .open(&ctl)
        .unwrap()
        .write_all(b"cut")
        .unwrap();
    let mut status = String::new();
    File::open(&ctl)
        .unwrap()
        .read_to_string(&mut status)
        .unwrap();
    assert!(status.contains("power cut"), "{status}");
    let e = File::create(m.join("g")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    // Nothing of it reached the disk; remount shows the empty filesystem.
    d.power_cut(Tear::None).unwrap();
    assert_eq!(read(&m.join("f")), None);
    assert!(std::fs::read_dir(&m).unwrap().next().is_none());
}
