//! Parking idle connections. A connection silent for [`PARK_AFTER`] gives up its task: its
//! session state goes into the connection (see [`super::conn::Conn::park`]) and its socket into
//! the shard's epoll set, armed one-shot. One task per shard waits on that set (through the
//! runtime, as one more readable fd) and spawns a session task again for each socket that
//! becomes readable. A parked connection thus holds no task, no buffer, no timer and no
//! in-flight operation; the idle sweep ([`super::idle`]) closes it when due, and a closed
//! socket reports readable, so its session ends the usual way.

use super::table::ConnTable;
use std::cell::RefCell;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

/// How long a connection stays silent before it parks. Longer than a burst's gaps under load
/// (parking and waking cost two system calls and a task), far shorter than any idle timeout.
pub const PARK_AFTER: Duration = Duration::from_secs(2);

/// Sockets one `epoll_wait` reports at most (more are taken by the next call).
const EVENTS: usize = 256;

/// A shard's epoll set of parked connections.
pub struct Parking {
    /// The epoll fd (owned by `waiter`, which closes it).
    epfd: RawFd,
    /// The epoll fd as a runtime handle, to await its readability.
    waiter: monoio::net::UnixStream,
    /// Events taken by one `epoll_wait`.
    events: RefCell<Vec<libc::epoll_event>>,
}

impl Parking {
    /// A new, empty set; must be called on the shard's runtime.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain system call; the result is checked.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // The runtime needs a type it knows how to wait on: an epoll fd is readable while it
        // has events, and the std socket type is only a holder here (no socket call is made
        // through it). It owns the fd from here on and closes it.
        // SAFETY: `epfd` is a fresh fd owned by nothing else.
        let holder = unsafe { std::os::unix::net::UnixStream::from_raw_fd(epfd) };
        let waiter = monoio::net::UnixStream::from_std(holder)?;
        Ok(Self {
            epfd,
            waiter,
            events: RefCell::new(vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS]),
        })
    }

    /// Arms `fd` (connection `id`) to be reported once when it becomes readable or closes;
    /// at once if it already is.
    pub fn arm(&self, fd: RawFd, id: u64) -> io::Result<()> {
        let flags = libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT;
        let mut ev = libc::epoll_event {
            events: flags as u32,
            u64: id,
        };
        // A socket parked before is still in the set (disarmed): re-arm it; else add it. The
        // set forgets a socket by itself when the socket is closed.
        // SAFETY: plain system calls on fds this shard owns; results are checked.
        let r = unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_MOD, fd, &mut ev) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return Err(e);
        }
        let r = unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Takes the ids of the parked connections that became readable (without waiting).
    fn ready(&self, into: &mut Vec<u64>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        loop {
            // SAFETY: the buffer holds `EVENTS` entries; a zero timeout never blocks.
            let n = unsafe {
                libc::epoll_wait(self.epfd, events.as_mut_ptr(), EVENTS as libc::c_int, 0)
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            into.extend(events[..n].iter().map(|ev| ev.u64));
            if n < EVENTS {
                return Ok(());
            }
        }
    }
}

/// Wakes parked connections as their sockets become readable, for as long as the shard runs.
pub async fn run_unparker(gw: Rc<ConnTable>) {
    let Some(parking) = gw.parking.as_ref() else {
        return;
    };
    let mut ids = Vec::new();
    loop {
        if let Err(e) = parking.waiter.readable(false).await {
            tracing::error!(error = %e, "cannot wait on the parked connections; none will park");
            gw.parking_failed();
            return;
        }
        if let Err(e) = parking.ready(&mut ids) {
            tracing::error!(error = %e, "cannot read the parked connections; none will park");
            gw.parking_failed();
            return;
        }
        for id in ids.drain(..) {
            if let Some(conn) = gw.get(id) {
                super::session::resume(&conn);
            }
        }
    }
}
