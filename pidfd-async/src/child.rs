//! [`Child`]: `tokio::process::Child`'s shape, waited for through the runtime's pidfd hub.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll, ready};

use pidfd::PidFd;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
use tokio::runtime::Handle;

use crate::async_pidfd::{AsyncPidFd, current_runtime};
use crate::error::Error;

/// A spawned child process with its pidfd in the runtime's pidfd hub (see [`AsyncPidFd`]), with
/// `tokio::process::Child`'s fields and methods: tokio's own [`ChildStdin`], [`ChildStdout`]
/// and [`ChildStderr`], `io::Result` wherever tokio's methods return one (the typed error inside:
/// `get_ref()`, `downcast`).
///
/// # Runtimes
/// A `Child` may be waited for from another runtime than the one it was spawned in, also while
/// that runtime sits idle or after it is gone, as tokio's can: its status is never lost with a
/// runtime. [`wait`](Child::wait) (and [`kill`](Child::kill), [`wait_with_output`](Child::wait_with_output))
/// called in another runtime moves the pidfd into that runtime's hub first (a `dup` and an
/// `epoll_ctl`), and waits there. The stdio pipes stay tokio's: like tokio's, they belong to
/// the runtime that made them.
///
/// # Dropping a `Child`
/// A `Child` dropped before its status was collected is **reaped in the background**, so it
/// never stays a zombie: `Drop` makes one non-blocking attempt, and if the child still runs it
/// spawns a small task on the runtime the child was spawned on that awaits its exit (one epoll
/// registration, O(1) work per exit; no scan of other children, no `SIGCHLD` handler, no
/// thread). With [`Command::kill_on_drop`](crate::Command::kill_on_drop) the child gets
/// `SIGKILL` first. If that runtime shuts down before the child exits (or is gone already when
/// the `Child` is dropped), the task's guard hands the pidfd to `pidfd`'s reaper thread (the one
/// a dropped `pidfd::Child` goes to: one thread for the whole process, started on first need,
/// blocking in its own epoll instance, O(1) per exit). (Residual case: if that thread cannot be
/// started, the child stays a zombie until this process exits.) To keep a child running untracked, or to hand it
/// to an [`ExitSet`](crate::ExitSet), take its pidfd with
/// [`into_async_pidfd`](Child::into_async_pidfd): then nothing happens on drop.
///
/// # Kernel support
/// As [`AsyncPidFd`]; signals through `pidfd_send_signal` (5.1).
pub struct Child {
    /// The pidfd and what its drop needs. First, so that it is dropped first: a kill-on-drop
    /// comes before the pipes close.
    guard: Guard,
    /// The child's stdin, when spawned with [`Stdio::piped`](crate::Stdio::piped).
    /// [`wait`](Child::wait) closes it first, so a child that reads to end-of-file can finish.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, when spawned with [`Stdio::piped`](crate::Stdio::piped).
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, when spawned with [`Stdio::piped`](crate::Stdio::piped).
    pub stderr: Option<ChildStderr>,
    /// As the kernel returned it at creation.
    pid: u32,
}

/// What a dropped [`Child`] does (kill on drop, reap in the background), in a field of its own
/// as tokio's `ChildDropGuard`: `Child` has no `Drop`, so its pipe fields can be moved out
/// (`child.stdout.unwrap()`), as tokio's and std's.
struct Guard {
    /// `None` only once `into_async_pidfd` (or `Drop`) has taken it.
    fd: Option<AsyncPidFd>,
    /// The runtime of the hub `fd` is in: where a dropped child is reaped.
    handle: Handle,
    kill_on_drop: bool,
    reaped: bool,
}

/// The std pipe ends of a spawned child: stdin, stdout, stderr.
pub(crate) type StdPipes =
    (Option<std::process::ChildStdin>, Option<std::process::ChildStdout>, Option<std::process::ChildStderr>);

impl Child {
    /// Registers a spawned child's pidfd with the runtime of `handle` (the current one) and
    /// its pipes with tokio. On failure the child is killed and reaped in the background.
    pub(crate) fn new(
        handle: Handle,
        pid: u32,
        pidfd: PidFd,
        (stdin, stdout, stderr): StdPipes,
        kill_on_drop: bool,
    ) -> io::Result<Child> {
        let fd = match AsyncPidFd::register(pidfd) {
            Ok(fd) => fd,
            Err((pidfd, e)) => {
                let _ = pidfd.kill();
                // No hub for this pidfd: the reaper thread reaps it (never a runtime thread,
                // and not a task that a runtime shutdown could drop).
                pidfd::__private::reap_in_background(pidfd);
                return Err(e.into());
            }
        };
        // Until the pipe conversions succeed the caller has not seen the child: on an error,
        // `Drop` kills it (and reaps it).
        let mut child = Child {
            guard: Guard { fd: Some(fd), handle, kill_on_drop: true, reaped: false },
            stdin: None,
            stdout: None,
            stderr: None,
            pid,
        };
        child.stdin = stdin.map(ChildStdin::from_std).transpose()?;
        child.stdout = stdout.map(ChildStdout::from_std).transpose()?;
        child.stderr = stderr.map(ChildStderr::from_std).transpose()?;
        child.guard.kill_on_drop = kill_on_drop;
        Ok(child)
    }

    fn fd(&self) -> &AsyncPidFd {
        // Only `into_async_pidfd` and `Drop` take it, both consuming the `Child`.
        self.guard.fd.as_ref().expect("the pidfd is present until the Child is consumed")
    }

    /// The child's pid while it runs or is a zombie, as tokio's: `None` once its status has
    /// been collected (through this `Child` or its pidfd), when the number may name another
    /// process. Use [`pidfd`](Child::pidfd) for anything that acts on the process.
    ///
    /// # Kernel support
    /// Any kernel with pidfds: whether it was reaped is asked through the pidfd
    /// (`PIDFD_GET_INFO`, 6.13, else `/proc/self/fdinfo`); the number is the one the kernel
    /// returned at the spawn.
    pub fn id(&self) -> Option<u32> {
        if self.guard.reaped {
            return None;
        }
        match self.fd().pidfd().pid() {
            Err(pidfd::Error::Exited) => None,
            // Read as the pidfd sees it now, or (no `/proc`, ...) as it was at the spawn: either
            // way the child's, since it is not reaped.
            Ok(pid) => u32::try_from(pid).ok(),
            Err(_) => Some(self.pid),
        }
    }

    /// Sends `SIGKILL` through the pidfd and returns at once, as tokio's: follow with
    /// [`wait`](Child::wait), or use [`kill`](Child::kill). A child that has exited, or whose
    /// status was collected already, counts as killed: `Ok(())`, as std's `Child::kill`
    /// documents and as tokio's (since 1.52; before, tokio returned `InvalidInput` once the
    /// status was collected).
    ///
    /// # Kernel support
    /// As [`send_signal`](Child::send_signal).
    ///
    /// # Errors
    /// `PermissionDenied` and the other errors of [`send_signal`](Child::send_signal), except
    /// that the child is gone.
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.guard.reaped {
            return Ok(());
        }
        match self.fd().kill() {
            Ok(()) | Err(Error::Pidfd(pidfd::Error::Exited)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends `SIGKILL`, then waits for the child and reaps it, as tokio's: `Ok(())` also for a
    /// child that had exited or been waited for already (see [`start_kill`](Child::start_kill)
    /// for where this differs from tokio). Cancellation-safe (the kill is sent at
    /// the first poll; a later [`wait`](Child::wait) collects the status).
    ///
    /// # Kernel support
    /// As [`start_kill`](Child::start_kill) and [`wait`](Child::wait).
    ///
    /// # Errors
    /// As [`start_kill`](Child::start_kill) and [`wait`](Child::wait).
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await?;
        Ok(())
    }

    /// Closes stdin (if piped), then waits for the child to exit and reaps it, as tokio's. The
    /// status is remembered: calling `wait` again returns it. Cancellation-safe.
    ///
    /// # Kernel support
    /// As [`AsyncPidFd::wait`].
    ///
    /// # Errors
    /// As [`AsyncPidFd::wait`], as an [`io::Error`]: for our own child only if someone else
    /// reaped it (`ECHILD`, or `Unsupported` before 6.15); outside a runtime, with
    /// [`Error::NoRuntime`] inside, when the spawning runtime is gone and the pidfd must move.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.wait_reading(&mut Reading::none(), &mut Reading::none(), false).await
    }

    /// The exit status if the child has exited (reaping it), else `None`. Never blocks.
    ///
    /// # Kernel support
    /// As [`AsyncPidFd::try_wait`].
    ///
    /// # Errors
    /// As [`AsyncPidFd::try_wait`], as an [`io::Error`].
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let status = self.fd().try_wait()?;
        self.guard.reaped |= status.is_some();
        Ok(status)
    }

    /// Closes stdin, reads stdout and stderr to their end while waiting for the child, and
    /// returns everything with the status, as tokio's. Streams that were not piped come back
    /// empty.
    ///
    /// # Kernel support
    /// As [`wait`](Child::wait).
    ///
    /// # Errors
    /// As [`wait`](Child::wait); the error of a read of a pipe (the child is then dropped:
    /// reaped in the background, killed first with kill-on-drop).
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        let (mut out, mut err) = (Reading::keep(self.stdout.take()), Reading::keep(self.stderr.take()));
        let status = self.wait_reading(&mut out, &mut err, true).await?;
        Ok(Output { status, stdout: out.buf, stderr: err.buf })
    }

    /// [`Command::status`](crate::Command::status)'s wait: closes stdin, discards what the
    /// child writes to its piped stdout and stderr until it exits, then closes them.
    pub(crate) async fn wait_draining(mut self) -> io::Result<ExitStatus> {
        let (mut out, mut err) = (Reading::discard(self.stdout.take()), Reading::discard(self.stderr.take()));
        self.wait_reading(&mut out, &mut err, false).await
    }

    /// Closes stdin, then waits for the child while reading `out` and `err`; with `to_end`,
    /// also until both pipes reach their end. Moves the pidfd to the current runtime's hub
    /// if it is in another runtime's, or in a hub that has failed (its runtime shut down).
    async fn wait_reading(
        &mut self,
        out: &mut Reading<ChildStdout>,
        err: &mut Reading<ChildStderr>,
        to_end: bool,
    ) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        // Waited for in another runtime than the hub's: into this runtime's hub, which this
        // runtime drives (the other may sit idle, or be gone). Should that fail, the hub it is
        // in may still serve; a failure there tries again below and reports the error.
        let (mut status, mut moved) = (None, false);
        if Handle::try_current().is_ok_and(|h| h.id() != self.guard.handle.id()) {
            if let Ok(collected) = self.collected_or_move() {
                (status, moved) = (collected, true);
            }
        }
        loop {
            let stopped = {
                let mut wait = pin!(self.fd().wait());
                poll_fn(|cx| {
                    // A pipe at its end is `Ready(Ok)` from then on.
                    let out_done = out.poll(cx).map_err(Stop::Pipe)?.is_ready();
                    let err_done = err.poll(cx).map_err(Stop::Pipe)?.is_ready();
                    if status.is_none() {
                        if let Poll::Ready(r) = wait.as_mut().poll(cx) {
                            status = Some(r.map_err(Stop::Wait)?);
                        }
                    }
                    match status {
                        Some(s) if !to_end || (out_done && err_done) => Poll::Ready(Ok(s)),
                        _ => Poll::Pending,
                    }
                })
                .await
            };
            match stopped {
                Ok(s) => {
                    self.guard.reaped = true;
                    return Ok(s);
                }
                Err(Stop::Pipe(e)) => return Err(e),
                // The hub failed: its runtime shut down. Once, into this runtime's hub.
                Err(Stop::Wait(Error::Io { .. })) if !moved => {
                    status = self.collected_or_move()?;
                    moved = true;
                }
                Err(Stop::Wait(e)) => return Err(e.into()),
            }
        }
    }

    /// The status if it has been collected (remembered by the pidfd) or can be now; else puts
    /// a duplicate of the pidfd (which remembers nothing: there is nothing to remember) into
    /// the current runtime's hub in place of the one in another runtime's hub.
    fn collected_or_move(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.fd().try_wait()? {
            return Ok(Some(status));
        }
        let handle = current_runtime()?;
        let fd = AsyncPidFd::new(self.fd().pidfd().try_clone()?)?;
        // The old one leaves the other hub and is closed.
        self.guard.fd = Some(fd);
        self.guard.handle = handle;
        Ok(None)
    }

    /// Sends signal `sig` through the pidfd (never to a recycled pid).
    ///
    /// # Kernel support
    /// `pidfd_send_signal` (5.1); where a policy refuses it, by the child's pid while the
    /// child is unreaped (see [`PidFd::send_signal`]).
    ///
    /// # Errors
    /// As [`AsyncPidFd::send_signal`], as an [`io::Error`]: `ESRCH` once the child has been
    /// reaped, `PermissionDenied`, `InvalidInput` for a bad signal number.
    pub fn send_signal(&self, sig: i32) -> io::Result<()> {
        Ok(self.fd().send_signal(sig)?)
    }

    /// The child's pidfd.
    pub fn pidfd(&self) -> &PidFd {
        self.fd().pidfd()
    }

    /// The child's registered pidfd.
    pub fn async_pidfd(&self) -> &AsyncPidFd {
        self.fd()
    }

    /// Gives up the `Child`: closes its stdio pipes and returns the registered pidfd, which
    /// from then on is the caller's to wait on (no kill, no background reaping on drop).
    ///
    /// # Kernel support
    /// Any kernel: the `close` (after the reactor deregistration) of the stdio pipes still held.
    pub fn into_async_pidfd(mut self) -> AsyncPidFd {
        self.guard.fd.take().expect("the pidfd is present until the Child is consumed")
    }
}

/// Why [`Child::wait_reading`] stopped without a status.
enum Stop {
    Pipe(io::Error),
    Wait(Error),
}

/// A pipe read to its end while the child is waited for: into `buf` (`keep`) or discarded.
struct Reading<R> {
    pipe: Option<R>,
    buf: Vec<u8>,
    keep: bool,
}

impl<R: AsyncRead + Unpin> Reading<R> {
    fn none() -> Reading<R> {
        Reading { pipe: None, buf: Vec::new(), keep: false }
    }

    fn keep(pipe: Option<R>) -> Reading<R> {
        Reading { pipe, buf: Vec::new(), keep: true }
    }

    fn discard(pipe: Option<R>) -> Reading<R> {
        Reading { pipe, buf: Vec::new(), keep: false }
    }

    /// Reads what is there; `Ready(Ok)` once the pipe is at its end (and closed) or absent.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(r) = self.pipe.as_mut() else { return Poll::Ready(Ok(())) };
        let mut chunk = [0u8; 8192];
        loop {
            let mut rb = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut *r).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                self.pipe = None;
                return Poll::Ready(Ok(()));
            }
            if self.keep {
                self.buf.extend_from_slice(rb.filled());
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(fd) = self.fd.take() else { return };
        if self.reaped {
            return;
        }
        if self.kill_on_drop {
            let _ = fd.kill();
        }
        if let Ok(Some(_)) | Err(_) = fd.try_wait() {
            return;
        }
        // Still running: reap it when it exits, on the runtime it was registered with. If the
        // runtime is shut down (now or before the exit), the task is dropped unfinished and the
        // guard hands the child to the reaper thread.
        let orphan = Orphan(Some(fd));
        drop(self.handle.spawn(orphan.reap()));
    }
}

/// A dropped child's pidfd on its way to being reaped: by the task [`Orphan::reap`] runs in,
/// or, if that task is dropped first (runtime shutdown), by the reaper thread.
struct Orphan(Option<AsyncPidFd>);

impl Orphan {
    async fn reap(mut self) {
        let Some(fd) = &self.0 else { return };
        // Collected: nothing left to do. An error (the reactor is shutting down) leaves the
        // child to the reaper thread, through `Drop`.
        if fd.wait().await.is_ok() {
            self.0 = None;
        }
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        if let Some(fd) = self.0.take() {
            pidfd::__private::reap_in_background(fd.into_inner());
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pidfd", &self.guard.fd)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("kill_on_drop", &self.guard.kill_on_drop)
            .finish()
    }
}
