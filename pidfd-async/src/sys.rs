//! The crate's only unsafe code: registering an owned fd with tokio's reactor (and finding out
//! whether the runtime has a reactor at all), and `pre_exec`. One thin function per call. The
//! epoll instances this crate owns (each runtime's pidfd hub, the [`ExitSet`](crate::ExitSet)'s
//! inner set) are `pidfd`'s `Epoll`, which its background reaper uses too.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;

pub(crate) use pidfd::__private::{Epoll, EpollEvent as Event, epoll_event_buffer as event_buffer};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::runtime::Handle;

/// A type that owns exactly one file descriptor for its whole life and always reports that
/// same descriptor from `as_raw_fd`: what [`AsyncFd::register_with_interest`] requires.
///
/// Implemented only for types of this crate or `pidfd` that hold an `OwnedFd` they never
/// replace; sealed by being private.
pub(crate) trait OwnsFd: AsRawFd {}

/// `pidfd`'s `Epoll` holds an `OwnedFd` it never replaces; `as_raw_fd` returns it (as its
/// documentation states).
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

/// std's (and so tokio's) `Stdio::from_raw_fd`: the child gets `fd` as the stream; the
/// `Stdio` owns it from here on (the spawn closes the parent's copy).
impl std::os::fd::FromRawFd for crate::Stdio {
    unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> crate::Stdio {
        // SAFETY: `FromRawFd`'s contract: `fd` is open and owned by the caller, who hands
        // that ownership over; `pidfd::Stdio` takes it on the same terms.
        crate::Stdio(unsafe { pidfd::Stdio::from_raw_fd(fd) })
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
