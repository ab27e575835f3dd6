//! Mounting and unmounting (the filesystem served by threads of the calling process).
//!
//! A process must never use a mount that its own threads serve: unmapping a dirty shared
//! mapping holds the process's memory-map lock while the kernel waits for the WRITE that
//! flushes it, and the serving thread may need that lock to allocate. Tests therefore run the
//! filesystem in a child process ([`crate::PowerLossDisk`]).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fuser::{BackgroundSession, Config, MountOption};

use crate::fs::PowerFs;
use crate::model::{CutReport, Model, Tear};

/// The filesystem mounted (served by threads of this process). Dropping it unmounts.
pub struct Mounted {
    model: Arc<Mutex<Model>>,
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

impl Mounted {
    /// Mounts a filesystem over `backing` (the durable state) at `mountpoint`.
    ///
    /// Needs `/dev/fuse`; as root the mount is a plain mount(2), otherwise the `fusermount3`
    /// helper is used.
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<Mounted> {
        if !Path::new("/dev/fuse").exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "/dev/fuse is missing: power-loss tests need FUSE (modprobe fuse, or run the \
                 container with --device /dev/fuse; SKIP_POWERLOSS=1 skips them)",
            ));
        }
        let model = Arc::new(Mutex::new(Model::load(backing)?));
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("jindou-powerfs".into()),
            MountOption::Subtype("powerfs".into()),
            MountOption::DefaultPermissions,
        ];
        config.n_threads = Some(2);
        let session = fuser::spawn_mount(PowerFs::new(model.clone()), mountpoint, &config)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("mounting powerfs at {}: {e}", mountpoint.display()),
                )
            })?;
        Ok(Mounted {
            model,
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    fn model(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Power cut (see [`Model::cut`]): everything unsynced is lost, the filesystem fails
    /// every operation from now on. Unmount and mount again to use the survivors.
    pub fn cut(&self, tear: Tear) -> CutReport {
        self.model().cut(tear)
    }

    /// Counters and the last cut, as the control file shows them.
    pub fn status(&self) -> String {
        self.model().status()
    }

    /// Unmounts and waits for the serving threads to end. Whatever was not synced is not in
    /// the backing directory, as after a cut.
    pub fn unmount(mut self) -> io::Result<()> {
        self.unmount_inner()
    }

    fn unmount_inner(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let c = std::ffi::CString::new(self.mountpoint.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // A killed process's files are closed asynchronously: retry while busy, then detach.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut detached = false;
        loop {
            // SAFETY: plain syscall with a NUL-terminated path.
            if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EBUSY) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Some(libc::EINVAL) => break, // not mounted any more
                _ => {
                    // SAFETY: as above.
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                    detached = true;
                    break;
                }
            }
        }
        // The session ends when the kernel lets go of the connection; a detached mount still
        // in use may hold it, so do not wait for ever.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(session.umount_and_join());
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(_) if !detached => Ok(()),
            _ => Err(io::Error::other(format!(
                "{} was busy: lazily detached",
                self.mountpoint.display()
            ))),
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = self.unmount_inner();
    }
}
