//! The crate's only unsafe code: registering an owned fd with tokio's reactor, and the three
//! system calls of the [`ExitSet`](crate::ExitSet)'s inner epoll instance plus a zero-timeout
//! `poll`. One thin function per call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use pidfd::PidFd;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A type that owns exactly one file descriptor for its whole life and always reports that
/// same descriptor from `as_raw_fd`: what [`AsyncFd::register_with_interest`] requires.
///
/// Implemented only for types of this crate or `pidfd` that hold an `OwnedFd` they never
/// replace; sealed by being private.
pub(crate) trait OwnsFd: AsRawFd {}

/// `PidFd` holds an `OwnedFd` it never replaces; `as_raw_fd` returns it.
impl OwnsFd for PidFd {}

/// `Epoll` holds an `OwnedFd` it never replaces; `as_raw_fd` returns it.
impl OwnsFd for Epoll {}

/// Registers `inner` with the current runtime's reactor for readability. On failure, `inner`
/// comes back with the error.
///
/// # Panics
/// When the current runtime has no I/O driver (tokio panics; callers check that a runtime is
/// in context first).
pub(crate) fn register<T: OwnsFd>(inner: T) -> Result<AsyncFd<T>, (T, io::Error)> {
    // SAFETY: `T: OwnsFd`: the fd is open, owned by `inner`, and `as_raw_fd` returns the same
    // fd for as long as `inner` lives; the `AsyncFd` owns `inner`, so the fd stays open and
    // unchanged until the `AsyncFd` is dropped or `into_inner` hands `inner` back (after
    // deregistering).
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }.map_err(|e| e.into_parts())
}

/// Whether `fd` polls readable right now (for a pidfd: the process has exited).
pub(crate) fn poll_readable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: `pfd` is one valid `pollfd` for the duration of the call; timeout 0.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n >= 0 {
            return Ok(n > 0 && pfd.revents & (libc::POLLIN | libc::POLLHUP) != 0);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// An epoll instance owned by this crate (the inner set of an `ExitSet`).
#[derive(Debug)]
pub(crate) struct Epoll(OwnedFd);

/// One event as the kernel reports it: the registration's data and the event mask.
pub(crate) type Event = libc::epoll_event;

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by the kernel, is open and owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds `fd`, edge-triggered, for readability (and the implicit hang-up), with `data`.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: data };
        // SAFETY: both fds are open for the call; `ev` is a valid event for its duration.
        let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) };
        if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Removes `fd`.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: both fds are open for the call; `ev` is valid (ignored by the kernel since 2.6.9).
        let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd(), &mut ev) };
        if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Collects ready events into `buf` without blocking (timeout 0); returns how many.
    pub(crate) fn wait_now(&self, buf: &mut [Event]) -> io::Result<usize> {
        let max = i32::try_from(buf.len()).unwrap_or(i32::MAX);
        loop {
            // SAFETY: `buf` is valid for writes of `max` events for the duration of the call.
            let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), buf.as_mut_ptr(), max, 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}

/// An empty event, to size buffers.
pub(crate) const EMPTY_EVENT: Event = libc::epoll_event { events: 0, u64: 0 };

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl AsFd for Epoll {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
