//! The fixture the crash tests share: the filesystem served by a child process.
//!
//! The child is the test binary itself, started with the filter `powerfs_daemon` and an
//! environment variable naming the directories; every test binary that uses
//! [`PowerLossDisk`] defines that test:
//!
//! ```ignore
//! #[test]
//! fn powerfs_daemon() {
//!     jindou_powerfs::daemon_if_requested();
//! }
//! ```
//!
//! A separate process, because a process must not use a mount its own threads serve (see
//! [`crate::Mounted`]), and because a daemon that dies takes its connection with it: the
//! kernel then fails every request instead of leaving a waiter stuck.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

use crate::control::seed;
use crate::model::{CutReport, Tear, CONTROL_NAME};
use crate::mount::Mounted;

const DAEMON_ENV: &str = "JINDOU_POWERFS_DAEMON";
const READY: &str = "jindou-powerfs: mounted";
/// Longest wait for a mount or an unmount.
const DEADLINE: Duration = Duration::from_secs(30);

/// The body of the `powerfs_daemon` test (see the module doc): serves the filesystem when
/// [`PowerLossDisk`] started this binary for that, and returns at once otherwise.
pub fn daemon_if_requested() {
    let Ok(spec) = std::env::var(DAEMON_ENV) else {
        return;
    };
    let code = match serve(&spec) {
        Ok(()) => 0,
        Err(e) => {
            println!("jindou-powerfs: {e}");
            1
        }
    };
    // The test harness has nothing more to say.
    std::process::exit(code);
}

fn serve(spec: &str) -> io::Result<()> {
    let (backing, mountpoint) = spec
        .split_once('\n')
        .ok_or_else(|| io::Error::other(format!("bad {DAEMON_ENV}: {spec:?}")))?;
    // Unmount when the test thread that started us ends, whatever way it ends.
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, SIGTERM) };
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGUSR1, SIGUSR2])?;
    let mounted = Mounted::mount(Path::new(backing), Path::new(mountpoint))?;
    println!("{READY}");
    io::stdout().flush()?;
    for sig in signals.forever() {
        match sig {
            SIGUSR1 => {
                mounted.cut(Tear::None);
            }
            SIGUSR2 => {
                mounted.cut(Tear::Random(seed()));
            }
            _ => break,
        }
    }
    mounted.unmount()
}

/// A disk that can lose power: a backing directory (what the disk holds) mounted through a
/// child process. Dropping it unmounts, also when a test fails.
pub struct PowerLossDisk {
    backing: PathBuf,
    mountpoint: PathBuf,
    daemon: Option<Child>,
    cuts: usize,
}

impl PowerLossDisk {
    /// Creates `dir/backing` and `dir/mnt` and mounts the one at the other.
    pub fn new(dir: &Path) -> io::Result<PowerLossDisk> {
        let backing = dir.join("backing");
        let mountpoint = dir.join("mnt");
        std::fs::create_dir_all(&backing)?;
        std::fs::create_dir_all(&mountpoint)?;
        let daemon = spawn(&backing, &mountpoint)?;
        Ok(PowerLossDisk {
            backing,
            mountpoint,
            daemon: Some(daemon),
            cuts: 0,
        })
    }

    /// Where the filesystem is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// The backing directory.
    pub fn backing(&self) -> &Path {
        &self.backing
    }

    /// Power cuts so far.
    pub fn cuts(&self) -> usize {
        self.cuts
    }

    /// The control file's text: counters, and the last cut.
    pub fn status(&self) -> io::Result<String> {
        let mut s = String::new();
        std::fs::File::open(self.mountpoint.join(CONTROL_NAME))?.read_to_string(&mut s)?;
        Ok(s)
    }

    /// Loses power and boots again: cuts through the control file (everything unsynced is
    /// dropped), unmounts (the kernel's page cache of the old mount goes with it) and mounts
    /// the survivors afresh. Stop every process using the mount first.
    pub fn power_cut(&mut self, tear: Tear) -> io::Result<CutReport> {
        let cmd = match tear {
            Tear::None => "cut".to_string(),
            Tear::Random(_) => "cut tear".to_string(),
            Tear::Bytes(n) => format!("cut tear={n}"),
        };
        std::fs::OpenOptions::new()
            .write(true)
            .open(self.mountpoint.join(CONTROL_NAME))?
            .write_all(cmd.as_bytes())?;
        let status = self.status()?;
        let report = CutReport::parse(&status)
            .ok_or_else(|| io::Error::other(format!("no cut in the status: {status}")))?;
        if let Some(d) = self.daemon.take() {
            stop(d, &self.mountpoint)?;
        }
        self.cuts += 1;
        self.daemon = Some(spawn(&self.backing, &self.mountpoint)?);
        Ok(report)
    }
}

impl Drop for PowerLossDisk {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            let _ = stop(d, &self.mountpoint);
        }
    }
}

/// Starts a daemon and waits until its mount is up.
fn spawn(backing: &Path, mountpoint: &Path) -> io::Result<Child> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "powerfs_daemon",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            DAEMON_ENV,
            format!("{}\n{}", backing.display(), mountpoint.display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Forwards lines until the end (the daemon must never block on a full pipe).
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let until = Instant::now() + DEADLINE;
    let mut said = Vec::new();
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            // (the harness's "test powerfs_daemon ... " may precede it on the line)
            Ok(line) if line.ends_with(READY) => return Ok(child),
            Ok(line) => said.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                detach(mountpoint);
                return Err(io::Error::other(format!(
                    "the powerfs daemon did not mount {} (does this test binary define the \
                     `powerfs_daemon` test calling jindou_powerfs::daemon_if_requested()?): {}",
                    mountpoint.display(),
                    said.join(" | ")
                )));
            }
        }
    }
}

/// Stops a daemon: SIGTERM makes it unmount and exit; one that does not is killed (closing
/// /dev/fuse aborts the connection) and its mount detached.
fn stop(mut d: Child, mountpoint: &Path) -> io::Result<()> {
    // SAFETY: plain kill(2) on our child.
    unsafe { libc::kill(d.id() as libc::pid_t, SIGTERM) };
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = d.try_wait()? {
            if status.success() {
                return Ok(());
            }
            break;
        }
        if Instant::now() > until {
            let _ = d.kill();
            let _ = d.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    detach(mountpoint);
    Err(io::Error::other(format!(
        "the powerfs daemon of {} did not unmount cleanly",
        mountpoint.display()
    )))
}

/// Detaches whatever is still mounted at `mountpoint` (a dead daemon's mount).
fn detach(mountpoint: &Path) {
    if let Ok(c) = std::ffi::CString::new(mountpoint.as_os_str().as_encoded_bytes()) {
        // SAFETY: plain syscall with a NUL-terminated path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}
