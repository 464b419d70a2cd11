//! The crate's only unsafe code: registering an owned fd with tokio's reactor (and finding out
//! whether the runtime has a reactor at all), the system calls of the epoll instances this crate
//! owns (each runtime's pidfd hub, the [`ExitSet`](crate::ExitSet)'s inner set) and a
//! zero-timeout `poll`. One thin function per call. (The reaper of orphaned children is
//! `pidfd`'s, shared by both crates.)
#![allow(unsafe_code)]

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::panic::AssertUnwindSafe;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::runtime::Handle;

/// A type that owns exactly one file descriptor for its whole life and always reports that
/// same descriptor from `as_raw_fd`: what [`AsyncFd::register_with_interest`] requires.
///
/// Implemented only for types of this crate or `pidfd` that hold an `OwnedFd` they never
/// replace; sealed by being private.
pub(crate) trait OwnsFd: AsRawFd {}

/// `Epoll` holds an `OwnedFd` it never replaces; `as_raw_fd` returns it.
impl OwnsFd for Epoll {}

/// Registers `inner` with the current runtime's reactor for readability. On failure, `inner`
/// comes back with the error.
///
/// # Panics
/// When no runtime is in context or it has no I/O driver (tokio panics): callers check both
/// first, with `Handle::try_current` and [`has_io_driver`].
pub(crate) fn register<T: OwnsFd>(inner: T) -> Result<AsyncFd<T>, (T, io::Error)> {
    // SAFETY: `T: OwnsFd`: the fd is open, owned by `inner`, and `as_raw_fd` returns the same
    // fd for as long as `inner` lives; the `AsyncFd` owns `inner`, so the fd stays open and
    // unchanged until the `AsyncFd` is dropped or `into_inner` hands `inner` back (after
    // deregistering).
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }.map_err(|e| e.into_parts())
}

/// How many runtimes each thread remembers the answer of [`has_io_driver`] for.
const KNOWN_RUNTIMES: usize = 8;

/// Whether the runtime of `handle` (the one in context) has an I/O driver.
///
/// tokio has no query for this and panics at the first registration in a runtime built without
/// `enable_io`, after the caller has handed over its fd (a pidfd closed by the unwinding, a child
/// left unreaped). So this registers a throwaway epoll fd instead, under `catch_unwind`, once
/// per runtime and thread: the answer is cached under the runtime's id (tokio hands those out
/// from a 64-bit counter, never twice), for the last [`KNOWN_RUNTIMES`] runtimes used on the
/// thread, so a thread that alternates between a few runtimes probes each once. Without a
/// driver, tokio's panic message is printed by the panic hook at that probe; the caller gets an
/// error. (With `panic = "abort"` the process aborts, as it would have at the registration.)
pub(crate) fn has_io_driver(handle: &Handle) -> io::Result<bool> {
    thread_local! {
        /// Most recently used first.
        static KNOWN: Cell<[Option<(u64, bool)>; KNOWN_RUNTIMES]> = const { Cell::new([None; KNOWN_RUNTIMES]) };
    }
    let id = runtime_id(handle);
    let mut known = KNOWN.get();
    let has = match known.iter().position(|k| k.is_some_and(|(known, _)| known == id)) {
        Some(i) => {
            let has = known[i].is_some_and(|(_, has)| has);
            known[..=i].rotate_right(1);
            has
        }
        None => {
            let probe = Epoll::new()?;
            // `register` either returns (an error from epoll_ctl still means there is a driver)
            // or panics in tokio before anything is registered; the unwinding closes the probe.
            let has = std::panic::catch_unwind(AssertUnwindSafe(|| drop(register(probe)))).is_ok();
            known.rotate_right(1);
            known[0] = Some((id, has));
            has
        }
    };
    KNOWN.set(known);
    Ok(has)
}

/// The runtime's id as a number (tokio's `Id` only offers `Hash`, `Eq` and `Display`; its hash
/// writes the `NonZeroU64` inside as one `u64`).
pub(crate) fn runtime_id(handle: &Handle) -> u64 {
    struct Capture(u64);
    impl Hasher for Capture {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
        fn write_u64(&mut self, v: u64) {
            self.0 = self.0.rotate_left(32) ^ v;
        }
    }
    let mut h = Capture(0);
    handle.id().hash(&mut h);
    h.finish()
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
    ///
    /// The kernel keys an entry by open file and fd number, and `close` removes it only with the
    /// file's last fd: an fd closed while a duplicate lives on leaves its entry behind. If `fd`
    /// has that number and file (a new duplicate of the same pidfd), the entry is taken over with
    /// `EPOLL_CTL_MOD`, which checks the current readiness as an add does.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, data: u64) -> io::Result<()> {
        match self.ctl(libc::EPOLL_CTL_ADD, fd, data) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => self.ctl(libc::EPOLL_CTL_MOD, fd, data),
            r => r,
        }
    }

    fn ctl(&self, op: libc::c_int, fd: BorrowedFd<'_>, data: u64) -> io::Result<()> {
        with_event((libc::EPOLLIN | libc::EPOLLET) as u32, data, |ev| {
            // SAFETY: both fds are open for the call; `ev` points to a valid, fully initialised
            // event (padding zeroed) for its duration.
            let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd.as_raw_fd(), ev) };
            if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
        })
    }

    /// Removes `fd`.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        with_event(0, 0, |ev| {
            // SAFETY: both fds are open for the call; `ev` points to a valid, fully initialised
            // event (ignored by the kernel since 2.6.9).
            let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd(), ev) };
            if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
        })
    }

    /// Collects ready events into `buf` without blocking (timeout 0: a runtime thread never
    /// blocks here); returns how many.
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

/// Calls `f` with an `epoll_event` of `events` and `data` that starts all zero, padding
/// included (`epoll_event` is packed on x86_64 only; elsewhere 4 bytes of padding follow
/// `events`, which a struct literal would leave uninitialised for the kernel to copy in). The
/// event stays in place, in zeroed memory, for the whole of `f` (a move could drop the
/// padding's zeros).
fn with_event<R>(events: u32, data: u64, f: impl FnOnce(*mut Event) -> R) -> R {
    let mut ev = MaybeUninit::<Event>::zeroed();
    // SAFETY: all-zero bytes are a valid `epoll_event` (two integers and padding); the
    // reference writes the two fields only and is gone before `f` gets the pointer.
    let fields = unsafe { ev.assume_init_mut() };
    fields.events = events;
    fields.u64 = data;
    f(ev.as_mut_ptr())
}

/// A buffer of `n` events for `epoll_wait`, zeroed (padding included) in place on the heap.
/// (`Box::new_zeroed_slice` is Rust 1.92; the MSRV is 1.85.)
pub(crate) fn event_buffer(n: usize) -> Box<[Event]> {
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

/// `pollfd` has no padding: every byte handed to the kernel is a field's.
const _: () = assert!(
    std::mem::size_of::<libc::pollfd>()
        == std::mem::size_of::<libc::c_int>() + 2 * std::mem::size_of::<libc::c_short>()
);

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

impl crate::Command {
    /// Schedules `f` to run in the child just before the program is executed, as tokio's (and
    /// std's) `pre_exec`: see [`pidfd::Command::pre_exec`], which this is (a command with a
    /// hook spawns by a fork, so the hook runs in a copy of this process's memory). On a command
    /// converted from std, std's own `pre_exec`.
    ///
    /// # Safety
    /// As [`pidfd::Command::pre_exec`]: the hook runs in a copy of a multi-threaded process at
    /// the instant of the fork, so it may only make async-signal-safe calls (no allocation, no
    /// lock another thread might have held).
    pub unsafe fn pre_exec<F>(&mut self, f: F) -> &mut crate::Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        match &mut self.inner {
            // SAFETY: the caller's promise, passed on.
            crate::command::Inner::Pidfd(cmd) => unsafe {
                cmd.pre_exec(f);
            },
            // SAFETY: as above.
            crate::command::Inner::Std { cmd, .. } => unsafe {
                std::os::unix::process::CommandExt::pre_exec(cmd, f);
            },
        }
        self
    }
}
