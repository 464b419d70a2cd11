//! The epoll instances of both crates: the background reaper's here, and, through
//! `pidfd::__private`, each runtime's pidfd hub and each `ExitSet` of `pidfd-async`. One fd per
//! item, edge-triggered for readability, keyed by a `u64`.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt_int, retry};

/// One event as the kernel reports it: the registration's key (`u64`) and the event mask.
pub type Event = libc::epoll_event;

/// An epoll instance (close-on-exec). It holds one `OwnedFd` for its whole life, and
/// `as_raw_fd` always returns that fd (what a reactor registration relies on).
#[derive(Debug)]
pub struct Epoll(OwnedFd);

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    ///
    /// # Kernel support
    /// 2.6.27.
    ///
    /// # Errors
    /// The OS error: `EMFILE`/`ENFILE` (no fd left), `ENOMEM`.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers; the result is checked before use.
        let fd = cvt_int(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by the kernel, is open and owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds `fd`, edge-triggered, for readability (and the implicit hang-up), with `key`. The
    /// kernel checks the current readiness at the add: an exit before it is reported too.
    ///
    /// The kernel keys an item by open file and fd number, and `close` removes it only with the
    /// file's last fd: an fd closed while a duplicate lives on leaves its item behind. If `fd`
    /// has that number and file (a new duplicate of the same pidfd), the item is taken over with
    /// `EPOLL_CTL_MOD`, which checks the current readiness as an add does.
    ///
    /// # Kernel support
    /// 2.6 (`EPOLLET`); a pidfd polls from 5.3.
    ///
    /// # Errors
    /// The OS error: `ENOSPC` (`fs.epoll.max_user_watches`), `ENOMEM`, `EPERM` (an fd that
    /// does not poll).
    pub fn add(&self, fd: BorrowedFd<'_>, key: u64) -> io::Result<()> {
        match self.ctl(libc::EPOLL_CTL_ADD, fd, key) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => self.ctl(libc::EPOLL_CTL_MOD, fd, key),
            r => r,
        }
    }

    /// Removes `fd` (`EPOLL_CTL_DEL`), for an fd that lives on elsewhere.
    ///
    /// # Kernel support
    /// Any kernel with epoll.
    ///
    /// # Errors
    /// The OS error: `ENOENT` when `fd` is not in the instance.
    pub fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        // Linux before 2.6.9 wanted an event even for a delete; a zeroed one costs nothing.
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0)
    }

    fn ctl(&self, op: libc::c_int, fd: BorrowedFd<'_>, key: u64) -> io::Result<()> {
        let events = if op == libc::EPOLL_CTL_DEL { 0 } else { (libc::EPOLLIN | libc::EPOLLET) as u32 };
        // All zero first, padding included (`epoll_event` is packed on x86_64 only; elsewhere 4
        // bytes of padding follow `events`, which a struct literal would leave uninitialised
        // for the kernel to copy in), and kept in place: a move could drop the padding's zeros.
        let mut ev = MaybeUninit::<Event>::zeroed();
        // SAFETY: all-zero bytes are a valid `epoll_event` (two integers and padding); the
        // reference writes the two fields only and is gone before the call.
        let fields = unsafe { ev.assume_init_mut() };
        fields.events = events;
        fields.u64 = key;
        // SAFETY: both fds are open for the call; `ev` is a valid, fully initialised event for
        // its duration.
        cvt_int(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd.as_raw_fd(), ev.as_mut_ptr()) }).map(drop)
    }

    /// Collects ready events into `buf`, waiting at most `timeout_ms` (-1: until one is ready;
    /// 0: never blocks, as a runtime thread needs); returns how many. EINTR is retried.
    ///
    /// # Kernel support
    /// Any kernel with epoll.
    ///
    /// # Errors
    /// The OS error of `epoll_wait` (`EFAULT`, `EINVAL`: not for a valid instance and buffer).
    pub fn wait(&self, buf: &mut [Event], timeout_ms: i32) -> io::Result<usize> {
        let max = i32::try_from(buf.len()).unwrap_or(i32::MAX);
        // SAFETY: `buf` is valid for writes of `max` events for the duration of the call.
        let n = retry(|| cvt_int(unsafe { libc::epoll_wait(self.0.as_raw_fd(), buf.as_mut_ptr(), max, timeout_ms) }))?;
        Ok(n as usize)
    }
}

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

/// A buffer of `n` events for [`Epoll::wait`], zeroed (padding included) in place on the heap.
/// (`Box::new_zeroed_slice` is Rust 1.92; the MSRV is 1.85.)
pub fn event_buffer(n: usize) -> Box<[Event]> {
    if n == 0 {
        return Box::new([]);
    }
    let layout = std::alloc::Layout::array::<Event>(n).expect("epoll event buffer size");
    // SAFETY: the layout's size is not zero (n > 0 events of a non-zero-sized type).
    let events = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Event>();
    if events.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: a fresh allocation of the global allocator with the layout a `Box<[Event]>` of
    // `n` events has, owned by nobody else; all-zero bytes are a valid `epoll_event`.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(events, n)) }
}
