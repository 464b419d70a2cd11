//! [`AsyncPidFd`]: one pidfd waited on through its runtime's pidfd hub.

use std::fmt;
use std::future::poll_fn;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use pidfd::{Feature, PidFd};
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::slots::Key;
use crate::sys::{self, Peek};

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
/// # async fn main() -> Result<(), pidfd_async::Error> {
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
    /// Set while one of our callers is inside `try_wait`, so a concurrent caller on another
    /// worker thread can tell "someone is collecting the status right now" from "not exited".
    reaping: AtomicBool,
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

/// What one non-blocking attempt to collect the status found.
pub(crate) enum Reap {
    /// The status, or the error that ends the wait.
    Done(Result<ExitStatus>),
    /// Nothing to collect yet: running, a zombie held by a tracer, or (not our child) not yet
    /// reaped by its parent.
    NotYet,
}

/// One non-blocking attempt to collect the exit status of the process behind `fd`, child or not.
pub(crate) fn reap_now(fd: &PidFd) -> Reap {
    match fd.try_wait() {
        Ok(Some(status)) => Reap::Done(Ok(status)),
        Ok(None) => Reap::NotYet,
        // Not our child (or our child reaped by someone else). `try_wait` has already asked
        // PIDFD_INFO_EXIT where the kernel has it: no status means not reaped yet, and the reap
        // wakes the pidfd again (POLLHUP, 6.9+; PIDFD_INFO_EXIT is 6.15).
        Err(pidfd::Error::NotChild) => {
            if Feature::InfoExit.is_supported() {
                Reap::NotYet
            } else {
                Reap::Done(Err(pidfd::Error::Unsupported { feature: Feature::InfoExit }.into()))
            }
        }
        Err(e) => Reap::Done(Err(e.into())),
    }
}

/// What to do after a [`Reap::NotYet`] of [`AsyncPidFd::wait`].
enum Next {
    /// A wake-up of the pidfd is sure to come (the exit, the tracer's release, the reap):
    /// clear the readiness and wait for it.
    Wait,
    /// Another caller of the same [`PidFd`] holds its reaping lock and is collecting the status
    /// (or has just collected it): no wake-up may come for that (none before 6.9), so try again
    /// without clearing the readiness.
    Retry,
    /// The answer, found without the lock.
    Done(Result<ExitStatus>),
}

/// After `try_wait` said "not yet": looks at the process with a `waitid(WNOWAIT)`, which does not
/// take the `PidFd`'s lock, to tell "nothing to collect" (a wake-up will come) from "a concurrent
/// caller of the `PidFd` holds the lock over an exit" (`PidFd::try_wait` answers "not yet" then;
/// its caller reaps, and before 6.9 the reap wakes nobody: clearing the readiness would lose
/// the wake-up for good).
fn after_not_yet(fd: &PidFd) -> Next {
    let peek = if Feature::WaitidPidfd.is_supported() {
        sys::peek_exit(libc::P_PIDFD, fd.as_raw_fd() as libc::id_t)
    } else {
        // 5.3: by pid. A recycled pid can only make us retry once more: the next `try_wait`
        // re-checks through the pidfd.
        match fd.pid() {
            Ok(pid) => sys::peek_exit(libc::P_PID, pid as libc::id_t),
            Err(pidfd::Error::Exited) => Ok(Peek::NotChild),
            Err(_) => return Next::Wait,
        }
    };
    match peek {
        // Running, or a zombie its tracer holds: the exit or the tracer's release wakes the
        // pidfd. (An error here cannot tell more than "not yet" did.)
        Ok(Peek::Nothing) | Err(_) => Next::Wait,
        // Reapable, yet `try_wait` did not reap it: the lock is held by a caller that is about
        // to (or a tracer let go just now).
        Ok(Peek::Reapable) => Next::Retry,
        Ok(Peek::NotChild) => match fd.pid() {
            // Reaped: by the lock holder (whose status the `PidFd` is about to remember), or by
            // someone else (`try_wait` then reports that once the lock is free).
            Err(pidfd::Error::Exited) => Next::Retry,
            Ok(_) => match fd.ppid() {
                // Our child that a reaper has taken: the kernel marks it dead before it releases
                // the pid, so the pid still reads (and may be gone by the time the parent is
                // read): the same as above, one step earlier.
                Ok(ppid) if ppid == std::process::id() as i32 => Next::Retry,
                Err(pidfd::Error::Exited) => Next::Retry,
                // Not our child and not reaped yet: as `reap_now` answers for a non-child. With
                // `PIDFD_INFO_EXIT` the reap by its parent wakes the pidfd (POLLHUP).
                _ if Feature::InfoExit.is_supported() => Next::Wait,
                _ => Next::Done(Err(pidfd::Error::Unsupported { feature: Feature::InfoExit }.into())),
            },
            Err(_) => Next::Wait,
        },
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

    /// One poll of [`AsyncPidFd::wait`].
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<ExitStatus>> {
        let fd = self.fd;
        loop {
            let tick = ready!(self.poll_tick(cx))?;
            let next = match fd.reap() {
                Some(Reap::Done(result)) => return Poll::Ready(result),
                Some(Reap::NotYet) => after_not_yet(&fd.fd),
                // Another of our tasks is collecting the status this very moment (one
                // non-blocking syscall): let it finish, then read the remembered status.
                None => {
                    self.seen = None;
                    return yield_once(cx);
                }
            };
            match next {
                Next::Done(result) => return Poll::Ready(result),
                // A caller of the `PidFd` itself holds its lock over the exit (see
                // `after_not_yet`): let it finish, then look again without waiting for an event.
                // No time limit: before 6.9 the holder's reap wakes nobody, so giving up on a
                // slow holder (a loaded machine) would lose the wake-up for good.
                Next::Retry => {
                    self.seen = None;
                    return yield_once(cx);
                }
                // A readiness that is not an exit we can collect: wait for the next wake-up.
                Next::Wait => self.seen = Some(tick),
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

/// Clears the `reaping` flag even if `try_wait` unwinds.
struct Reaping<'a>(&'a AtomicBool);

impl Drop for Reaping<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
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
            Ok(key) => Ok(AsyncPidFd { entry: Entry { hub, key }, fd, reaping: AtomicBool::new(false) }),
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
    /// # async fn main() -> Result<(), pidfd_async::Error> {
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
    /// # async fn main() -> Result<(), pidfd_async::Error> {
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
                if sys::poll_readable_now(self.fd.as_fd()).map_err(|e| Error::io("poll", e))? {
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
        match self.reap() {
            Some(Reap::Done(result)) => result.map(Some),
            Some(Reap::NotYet) | None => Ok(None),
        }
    }

    /// One attempt to collect the status; `None` if another of our callers is doing it now.
    fn reap(&self) -> Option<Reap> {
        if self.reaping.swap(true, Ordering::Acquire) {
            return None;
        }
        let _reaping = Reaping(&self.reaping);
        Some(reap_now(&self.fd))
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
