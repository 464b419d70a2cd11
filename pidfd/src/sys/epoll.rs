//! The epoll instance of the background reaper: one pidfd per item, edge-triggered, keyed.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{cvt_int, retry};

/// An epoll instance (close-on-exec).
pub(crate) struct Epoll(OwnedFd);

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers; the result is a new fd nothing else owns.
        let fd = cvt_int(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds `fd`, edge-triggered, for readability (and the implicit hang-up), with `key`. The
    /// kernel checks the current readiness at the add: an exit before it is reported too.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: u64) -> io::Result<()> {
        let mut ev = MaybeUninit::<libc::epoll_event>::zeroed();
        // SAFETY: all-zero bytes are a valid `epoll_event` (two integers, and padding off
        // x86_64, zeroed too, as every struct handed to the kernel).
        let fields = unsafe { ev.assume_init_mut() };
        fields.events = (libc::EPOLLIN | libc::EPOLLET) as u32;
        fields.u64 = key;
        // SAFETY: `ev` is a valid, initialised `epoll_event` for the call; both fds are open.
        cvt_int(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), ev.as_mut_ptr()) })
            .map(drop)
    }

    /// Blocks until at least one item is ready (EINTR retried); replaces `keys` with their keys.
    pub(crate) fn wait(&self, keys: &mut Vec<u64>) -> io::Result<()> {
        const N: usize = 64;
        // SAFETY: all-zero bytes are valid `epoll_event`s, padding included.
        let mut events: [libc::epoll_event; N] = unsafe { std::mem::zeroed() };
        // SAFETY: `events` is writable for `N` entries, the count passed.
        let n = retry(|| cvt_int(unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), N as i32, -1) }))?;
        keys.clear();
        keys.extend(events[..n as usize].iter().map(|ev| ev.u64));
        Ok(())
    }
}
