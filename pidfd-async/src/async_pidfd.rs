//! [`AsyncPidFd`]: one pidfd waited on through its runtime's pidfd hub.

use std::fmt;
use std::future::poll_fn;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::process::ExitStatus;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pidfd::{ExitPoll, Feature, PidFd};
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::slots::Key;
use crate::sys;

/// The runtime in context, checked to have an I/O driver, before anything is spawned or
/// registered.
pub(crate) fn current_runtime() -> Result<Handle> {
    let handle = Handle::try_current().map_err(|_| Error::NoRuntime)?;
    match sys::has_io_driver(&handle) {
        Ok(true) => Ok(handle),
        Ok(false) => Err(Error::NoIoDriver),
        Err(e) => Err(Error::io("probe the tokio runtime for an I/O driver (epoll_create1)", e)),
    }
}

/// A pidfd registered with the current tokio runtime: wait for the process to exit without
/// blocking a runtime thread.
///
/// Readiness of the pidfd (it polls readable once the process has exited) comes from the
/// runtime's pidfd hub: one epoll instance per runtime, registered once with tokio's reactor,
/// that holds every `AsyncPidFd`'s pidfd (added with one `epoll_ctl`, taken out by its `close`).
/// The status is then collected with a non-blocking `waitid(P_PIDFD, WEXITED | WNOHANG)`
/// ([`PidFd::try_wait`]). A readiness that is not a reapable exit (a tracer holds the zombie, a
/// thread-group leader exec'd) is "not yet": the future waits for the pidfd's next wake-up, with
/// no error, no panic and no polling loop. A pending wait costs a slot of the hub (tens of
/// bytes) and its own 56-byte future; no reactor entry of its own, no thread.
///
/// The futures are `Send` and cancellation-safe: the status, once collected, is remembered by
/// the [`PidFd`], so a dropped `wait()` loses nothing and every later `wait()` returns the
/// same status. Several tasks may wait on the same `AsyncPidFd` at once (share it in an `Arc`).
///
/// Dropping an `AsyncPidFd` closes the pidfd and does not reap the process: it is a handle to
/// any process, child or not. [`Child`](crate::Child) is the type that reaps on drop.
///
/// # Kernel support
/// Any kernel with pidfds (5.3, polling included); per method below.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::os::unix::process::ExitStatusExt;
///
/// let fd = pidfd::Command::new("sleep").arg("10").spawn()?.into_pidfd();
/// let fd = pidfd_async::AsyncPidFd::new(fd)?;
/// fd.kill()?;
/// assert_eq!(fd.wait().await?.signal(), Some(libc::SIGKILL));
/// assert_eq!(fd.wait().await?.signal(), Some(libc::SIGKILL)); // remembered
/// # Ok(())
/// # }
/// ```
pub struct AsyncPidFd {
    /// Declared first: the entry leaves the hub before the pidfd is closed.
    entry: Entry,
    fd: PidFd,
}

/// An `AsyncPidFd`'s place in its runtime's [`Hub`]; vacated on drop.
struct Entry {
    hub: Arc<Hub>,
    key: Key,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.hub.remove(self.key);
    }
}

/// A pending wait's place among the waiters of its hub entry: what [`AsyncPidFd::wait`] and
/// [`AsyncPidFd::exited`] keep between polls. A wait dropped while registered (cancelled) takes
/// itself out, so cancelled waits do not pile up in the hub.
struct Waiting<'a> {
    fd: &'a AsyncPidFd,
    /// The hub entry's tick last seen with nothing to collect: the wait resumes once it moves.
    seen: Option<u32>,
    /// The wait's id while it is registered with the hub; 0 when it is not.
    id: u64,
}

impl<'a> Waiting<'a> {
    fn new(fd: &'a AsyncPidFd) -> Waiting<'a> {
        Waiting { fd, seen: None, id: 0 }
    }

    /// One poll of [`AsyncPidFd::wait`]: the tick, then [`PidFd::poll_exit`] (the one
    /// decision, in `pidfd`), then ready or pending.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<ExitStatus>> {
        loop {
            // The tick first, then the look: an event after the look moves the tick.
            let tick = ready!(self.poll_tick(cx))?;
            match self.fd.fd.poll_exit() {
                Ok(ExitPoll::Exited(status)) => return Poll::Ready(Ok(status)),
                Err(e) => return Poll::Ready(Err(e.into())),
                // Someone is collecting the status this very moment (another of our tasks, or
                // a caller of the `PidFd` itself): let it finish, then look again without
                // waiting for an event. No time limit: before 6.9 its reap wakes nobody, so
                // giving up on a slow collector (a loaded machine) would lose the wake-up.
                Ok(ExitPoll::Busy) => {
                    self.seen = None;
                    return yield_once(cx);
                }
                // Nothing to collect: the next wake-up is sure to come.
                Ok(_) => self.seen = Some(tick),
            }
        }
    }

    /// The hub entry's tick: at once if `seen` is `None` or the tick has moved past it, else
    /// pending until the next event of the pidfd.
    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Result<u32>> {
        let entry = &self.fd.entry;
        entry
            .hub
            .poll_tick(entry.key, self.seen, &mut self.id, cx)
            .map_err(|e| Error::io("wait for pidfd readiness", e))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.id != 0 {
            self.fd.entry.hub.forget(self.fd.entry.key, self.id);
        }
    }
}

/// Lets the other tasks run before this one is polled again (as `tokio::task::yield_now`).
fn yield_once<T>(cx: &mut Context<'_>) -> Poll<T> {
    cx.waker().wake_by_ref();
    Poll::Pending
}

impl AsyncPidFd {
    /// Adds `fd` to the current tokio runtime's pidfd hub (made and registered with the
    /// reactor by the runtime's first `AsyncPidFd`), after making it non-blocking where the
    /// kernel honours that for `waitid`.
    ///
    /// Must be called from within a runtime with I/O enabled. On failure the pidfd is closed;
    /// the process itself is untouched.
    ///
    /// # Kernel support
    /// Any kernel with pidfds (5.3): pidfds poll readable on exit since 5.3. `O_NONBLOCK` is set
    /// where `PIDFD_NONBLOCK` exists ([`Feature::PidfdNonblock`], 5.10); this crate never
    /// depends on it (it collects statuses with `WNOHANG`).
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a runtime; [`Error::NoIoDriver`] when the runtime was built
    /// without I/O (`enable_io` / `enable_all`; where tokio's own types panic); [`Error::Io`]
    /// when the hub refuses the pidfd (`epoll_ctl`: `ENOMEM`, `ENOSPC` past
    /// `fs.epoll.max_user_watches`), when the runtime's first `AsyncPidFd` cannot make the hub
    /// (`epoll_create1`: `EMFILE`; the registration with the reactor), or when the one-time
    /// check of a runtime for its I/O driver cannot create its probe fd (`EMFILE`);
    /// [`Error::Pidfd`] from `fcntl`.
    pub fn new(fd: PidFd) -> Result<AsyncPidFd> {
        AsyncPidFd::register(fd).map_err(|(_, e)| e)
    }

    /// [`AsyncPidFd::new`] that hands the pidfd back on failure.
    pub(crate) fn register(fd: PidFd) -> std::result::Result<AsyncPidFd, (PidFd, Error)> {
        if Feature::PidfdNonblock.is_supported() {
            if let Err(e) = fd.set_nonblocking(true) {
                return Err((fd, e.into()));
            }
        }
        let handle = match current_runtime() {
            Ok(handle) => handle,
            Err(e) => return Err((fd, e)),
        };
        let hub = match Hub::of(&handle) {
            Ok(hub) => hub,
            Err(e) => return Err((fd, Error::io("set up the runtime's pidfd hub (epoll_create1, registration)", e))),
        };
        match hub.insert(fd.as_fd()) {
            Ok(key) => Ok(AsyncPidFd { entry: Entry { hub, key }, fd }),
            Err(e) => Err((fd, Error::io("add the pidfd to the runtime's pidfd hub (epoll_ctl)", e))),
        }
    }

    /// Waits for the process to terminate and returns its exit status.
    ///
    /// For a child of the caller this reaps it. For any other process it resolves once the
    /// process has exited **and been reaped by its parent**, with the status the kernel kept
    /// (`PIDFD_INFO_EXIT`). The status is remembered: every later `wait` returns it again.
    /// Cancellation-safe; compose timeouts with `tokio::time::timeout`.
    ///
    /// # Kernel support
    /// Children: `waitid(P_PIDFD)` (5.4; on 5.3 the pid-based fallback of [`PidFd::try_wait`]).
    /// Other processes: `PIDFD_INFO_EXIT` ([`Feature::InfoExit`], 6.15), with the reap noticed
    /// through `POLLHUP` (6.9). Before 6.15 a process that is not our child cannot tell its
    /// status: the future resolves at its exit with `Unsupported` (use
    /// [`exited`](AsyncPidFd::exited) to wait for the exit only).
    ///
    /// # Errors
    /// [`Error::Pidfd`] with [`pidfd::Error::Unsupported`] (feature `InfoExit`) for a process
    /// that is not our child (or our child reaped by someone else) on a kernel without
    /// `PIDFD_INFO_EXIT`; other `pidfd` errors of `waitid`; [`Error::Io`] when the runtime is
    /// shutting down.
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let fd = pidfd::Command::new("sh").args(["-c", "exit 3"]).spawn()?.into_pidfd();
    /// let fd = pidfd_async::AsyncPidFd::new(fd)?;
    /// assert_eq!(fd.wait().await?.code(), Some(3));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait(&self) -> Result<ExitStatus> {
        // A hand-written poll keeps the future small (a pending wait per process, by the
        // thousand): its whole state is one `Waiting`.
        let mut waiting = Waiting::new(self);
        poll_fn(move |cx| waiting.poll_wait(cx)).await
    }

    /// Waits until the process has exited (it may still be a zombie), without collecting its
    /// status. Works for any process, child or not, and for thread pidfds (the thread exited).
    ///
    /// # Kernel support
    /// Any kernel with pidfds: readable on exit since 5.3.
    ///
    /// # Errors
    /// [`Error::Io`] when `poll` fails or the runtime is shutting down.
    ///
    /// # Example
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let fd = pidfd::Command::new("true").spawn()?.into_pidfd();
    /// let fd = pidfd_async::AsyncPidFd::new(fd)?;
    /// fd.exited().await?; // exited, not yet reaped
    /// assert!(fd.wait().await?.success());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exited(&self) -> Result<()> {
        let mut waiting = Waiting::new(self);
        poll_fn(move |cx| {
            loop {
                // The tick first, then the look: an exit after the look moves the tick.
                let tick = ready!(waiting.poll_tick(cx))?;
                if pidfd::__private::poll_readable(self.fd.as_fd(), 0).map_err(|e| Error::io("poll", e))? {
                    return Poll::Ready(Ok(()));
                }
                waiting.seen = Some(tick);
            }
        })
        .await
    }

    /// The exit status if the process has terminated (collecting it), else `None`. Never
    /// blocks; does not wait for readiness.
    ///
    /// # Kernel support
    /// As [`wait`](AsyncPidFd::wait).
    ///
    /// # Errors
    /// As [`wait`](AsyncPidFd::wait): for a process that is not our child, `Ok(None)` until its
    /// parent has reaped it where the kernel has `PIDFD_INFO_EXIT`, else `Unsupported`.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        match self.fd.poll_exit()? {
            ExitPoll::Exited(status) => Ok(Some(status)),
            _ => Ok(None),
        }
    }

    /// Sends signal `sig` (0 checks that the process is alive) through the pidfd.
    ///
    /// # Kernel support
    /// `pidfd_send_signal` (5.1); where a policy refuses it, by the pid of our own unreaped
    /// child (see [`PidFd::send_signal`]).
    ///
    /// # Errors
    /// As [`PidFd::send_signal`]: `pidfd::Error::Exited` once the process has been reaped,
    /// `PermissionDenied`, `InvalidInput` for a bad signal number.
    pub fn send_signal(&self, sig: i32) -> Result<()> {
        Ok(self.fd.send_signal(sig)?)
    }

    /// Sends `SIGKILL`. Does not wait: follow with [`wait`](AsyncPidFd::wait).
    ///
    /// # Kernel support
    /// As [`send_signal`](AsyncPidFd::send_signal).
    ///
    /// # Errors
    /// As [`send_signal`](AsyncPidFd::send_signal).
    pub fn kill(&self) -> Result<()> {
        Ok(self.fd.kill()?)
    }

    /// The underlying [`PidFd`], for everything else it offers (pid, info, process-group
    /// signals, ...). Do not call its blocking [`PidFd::wait`] on a runtime thread.
    ///
    /// Waiting through it concurrently is fine: while a thread blocks in [`PidFd::wait`] (or
    /// calls [`PidFd::try_wait`]), a pending [`wait`](AsyncPidFd::wait) resolves with the same
    /// status. The `PidFd` serializes its reaps with a lock, so a `wait` that finds the lock
    /// taken over an exit keeps its readiness and tries again until the holder has remembered
    /// the status, instead of waiting for a wake-up that kernels before 6.9 never send for a
    /// reap.
    pub fn pidfd(&self) -> &PidFd {
        &self.fd
    }

    /// Takes the pidfd out of the runtime's hub (one `epoll_ctl(DEL)`) and returns the
    /// [`PidFd`] (still non-blocking where
    /// [`new`](AsyncPidFd::new) made it so; its blocking `wait` copes with that), with any
    /// status collected so far.
    ///
    /// # Kernel support
    /// Any kernel: one `epoll_ctl(EPOLL_CTL_DEL)` on the runtime's hub.
    pub fn into_inner(self) -> PidFd {
        let AsyncPidFd { entry, fd, .. } = self;
        entry.hub.delete(fd.as_fd());
        drop(entry);
        fd
    }
}

impl From<AsyncPidFd> for PidFd {
    /// [`AsyncPidFd::into_inner`].
    fn from(fd: AsyncPidFd) -> PidFd {
        fd.into_inner()
    }
}

impl fmt::Debug for AsyncPidFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncPidFd").field("pidfd", &self.fd).finish()
    }
}

impl AsFd for AsyncPidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for AsyncPidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
