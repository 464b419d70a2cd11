//! Async spawning: [`Command`], [`Child`] and the child's stdio pipes.

use std::ffi::OsStr;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::pin::{Pin, pin};
use std::process::{ExitStatus, Output, Stdio};
use std::task::{Context, Poll, ready};

use pidfd::PidFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;
use tokio::runtime::Handle;

use crate::async_pidfd::{AsyncPidFd, current_runtime};
use crate::error::{Error, Result};
use crate::orphans;

/// A process builder like `std::process::Command` / `tokio::process::Command`, whose children
/// are spawned race-free with a pidfd ([`pidfd::spawn`]) and waited for through tokio's reactor.
///
/// Builder methods take `&mut self`, as in std; everything std's `Command` can set is reachable
/// through [`as_std_mut`](Command::as_std_mut).
///
/// # Kernel support
/// `pidfd_open` (5.3) in the child, as [`pidfd::spawn`]; waiting as [`AsyncPidFd::wait`].
///
/// # Errors
/// Reported by [`spawn`](Command::spawn), [`status`](Command::status) and
/// [`output`](Command::output).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), pidfd_async::Error> {
/// let out = pidfd_async::Command::new("sh").args(["-c", "echo hi; echo err >&2; exit 4"]).output().await?;
/// assert_eq!(out.status.code(), Some(4));
/// assert_eq!(out.stdout, b"hi\n");
/// assert_eq!(out.stderr, b"err\n");
/// # Ok(())
/// # }
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
}

impl Command {
    /// A command for `program`, with std's defaults (inherited environment, working directory
    /// and stdio).
    ///
    /// # Kernel support
    /// Any kernel (spawning needs `pidfd_open`, 5.3).
    ///
    /// # Errors
    /// None here; [`spawn`](Command::spawn) reports them.
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command { std: std::process::Command::new(program), kill_on_drop: false }
    }

    /// Adds one argument.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable of the child.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables of the child.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None here; a missing directory fails the spawn.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin; [`Stdio::piped`] gives [`Child::stdin`].
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdin(cfg);
        self
    }

    /// The child's stdout; [`Stdio::piped`] gives [`Child::stdout`].
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdout(cfg);
        self
    }

    /// The child's stderr; [`Stdio::piped`] gives [`Child::stderr`].
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stderr(cfg);
        self
    }

    /// Puts the child in process group `pgroup` (0: a new group led by the child), so that
    /// [`PidFd::signal_process_group`] reaches it and everything it starts.
    ///
    /// # Kernel support
    /// Any kernel (`setpgid` in the child).
    ///
    /// # Errors
    /// None here; an invalid group fails the spawn.
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.std.process_group(pgroup);
        self
    }

    /// Whether dropping the [`Child`] before its status was collected sends it `SIGKILL`
    /// (default `false`). Either way a dropped child is reaped in the background, so it does
    /// not stay a zombie (see [`Child`]).
    ///
    /// # Kernel support
    /// `pidfd_send_signal` (5.1).
    ///
    /// # Errors
    /// None.
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The std `Command` inside, for settings this type does not mirror (`uid`, `gid`,
    /// `arg0`, `pre_exec`, ...).
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// The std `Command` inside.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// Spawns the child: race-free pidfd ([`pidfd::spawn`]), registered with the current
    /// runtime, piped stdio turned into tokio pipes.
    ///
    /// Spawning itself is synchronous, as in std and tokio (fork and exec take about a
    /// millisecond); waiting is not.
    ///
    /// # Kernel support
    /// `pidfd_open` (5.3) in the child; waiting as [`AsyncPidFd::wait`].
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a runtime and [`Error::NoIoDriver`] in a runtime built
    /// without I/O (both checked before anything is spawned); [`Error::Pidfd`] from the spawn
    /// (`Exec` or `Os` with the errno, e.g. `ENOENT`); [`Error::Io`] when the registration or a
    /// pipe conversion fails, after which the child has been killed and is reaped in the
    /// background.
    pub fn spawn(&mut self) -> Result<Child> {
        let handle = current_runtime()?;
        let (mut std_child, pidfd) = pidfd::spawn(&mut self.std)?;
        let (stdin, stdout, stderr) = (std_child.stdin.take(), std_child.stdout.take(), std_child.stderr.take());
        // The std `Child` holds nothing else we need: dropping it neither waits nor kills.
        drop(std_child);
        let fd = match AsyncPidFd::register(pidfd) {
            Ok(fd) => fd,
            Err((pidfd, e)) => {
                let _ = pidfd.kill();
                // No reactor for this pidfd: the reaper thread reaps it (never a runtime thread,
                // and not a task that a runtime shutdown could drop).
                orphans::adopt(pidfd);
                return Err(e);
            }
        };
        // Until the stdio conversions succeed the caller has not seen the child: on an error,
        // `Drop` kills it (and reaps it).
        let mut child =
            Child { stdin: None, stdout: None, stderr: None, fd: Some(fd), handle, kill_on_drop: true, reaped: false };
        child.stdin = stdin
            .map(|s| pipe::Sender::from_owned_fd(OwnedFd::from(s)).map(ChildStdin))
            .transpose()
            .map_err(|e| Error::io("make the child's stdin async", e))?;
        child.stdout = stdout
            .map(|s| pipe::Receiver::from_owned_fd(OwnedFd::from(s)).map(ChildStdout))
            .transpose()
            .map_err(|e| Error::io("make the child's stdout async", e))?;
        child.stderr = stderr
            .map(|s| pipe::Receiver::from_owned_fd(OwnedFd::from(s)).map(ChildStderr))
            .transpose()
            .map_err(|e| Error::io("make the child's stderr async", e))?;
        child.kill_on_drop = self.kill_on_drop;
        Ok(child)
    }

    /// Spawns the child and waits for it; stdin, stdout and stderr are as configured
    /// (inherited by default). Dropping the future drops the [`Child`] (see there).
    ///
    /// # Kernel support
    /// As [`spawn`](Command::spawn).
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::wait`].
    pub async fn status(&mut self) -> Result<ExitStatus> {
        self.spawn()?.wait().await
    }

    /// Spawns the child with stdout and stderr piped (stdin as configured), collects both
    /// while waiting, and returns them with the status.
    ///
    /// # Kernel support
    /// As [`spawn`](Command::spawn).
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::wait_with_output`].
    pub async fn output(&mut self) -> Result<Output> {
        self.std.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a configured std `Command` (kill-on-drop off).
    fn from(std: std::process::Command) -> Command {
        Command { std, kill_on_drop: false }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command").field("std", &self.std).field("kill_on_drop", &self.kill_on_drop).finish()
    }
}

/// A spawned child process with its pidfd registered with tokio's reactor.
///
/// # Dropping a `Child`
/// A `Child` dropped before its status was collected is **reaped in the background**, so it
/// never stays a zombie: `Drop` makes one non-blocking attempt, and if the child still runs it
/// spawns a small task on the runtime the child was spawned on that awaits its exit (one epoll
/// registration, O(1) work per exit; no scan of other children, no `SIGCHLD` handler, no
/// thread). With [`Command::kill_on_drop`] the child gets `SIGKILL` first. If that runtime
/// shuts down before the child exits (or is gone already when the `Child` is dropped), the
/// task's guard hands the pidfd to the crate's reaper thread: one thread for the whole process,
/// started the first time this happens, blocking in its own epoll instance, O(1) per exit.
/// (Residual case: if that thread cannot be started, the child stays a zombie until this
/// process exits.) To keep a child running untracked, or to hand it to an
/// [`ExitSet`](crate::ExitSet), take its pidfd with [`into_async_pidfd`](Child::into_async_pidfd):
/// then nothing happens on drop.
///
/// # Kernel support
/// As [`AsyncPidFd`]; signals through `pidfd_send_signal` (5.1).
///
/// # Errors
/// Per method: [`Error`].
pub struct Child {
    /// The child's stdin, when spawned with [`Stdio::piped`]. [`wait`](Child::wait) closes it
    /// first, so a child that reads to end-of-file can finish.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, when spawned with [`Stdio::piped`].
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, when spawned with [`Stdio::piped`].
    pub stderr: Option<ChildStderr>,
    /// `None` only once `into_async_pidfd` has taken it.
    fd: Option<AsyncPidFd>,
    handle: Handle,
    kill_on_drop: bool,
    reaped: bool,
}

impl Child {
    fn fd(&self) -> &AsyncPidFd {
        // Only `into_async_pidfd` and `Drop` take it, both consuming the `Child`.
        self.fd.as_ref().expect("the pidfd is present until the Child is consumed")
    }

    /// The child's pid, until its status has been collected through this `Child` (after that
    /// the number may name another process: use [`pidfd`](Child::pidfd) for anything that acts
    /// on the process).
    ///
    /// # Kernel support
    /// Any kernel with pidfds: `PIDFD_GET_INFO` (6.13), else `/proc/self/fdinfo`.
    ///
    /// # Errors
    /// None: `None` after the reap or if the pid cannot be read.
    pub fn id(&self) -> Option<u32> {
        if self.reaped {
            return None;
        }
        self.fd().pidfd().pid().ok().and_then(|p| u32::try_from(p).ok())
    }

    /// Closes stdin (if piped), then waits for the child to exit and reaps it. The status is
    /// remembered: calling `wait` again returns it. Cancellation-safe.
    ///
    /// # Kernel support
    /// As [`AsyncPidFd::wait`].
    ///
    /// # Errors
    /// As [`AsyncPidFd::wait`]; [`pidfd::Error::NotChild`] style errors cannot happen for our
    /// own child unless someone else reaped it (then `Unsupported` before 6.15).
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        drop(self.stdin.take());
        let status = self.fd().wait().await?;
        self.reaped = true;
        Ok(status)
    }

    /// The exit status if the child has exited (reaping it), else `None`. Never blocks.
    ///
    /// # Kernel support
    /// As [`AsyncPidFd::try_wait`].
    ///
    /// # Errors
    /// As [`AsyncPidFd::try_wait`].
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        let status = self.fd().try_wait()?;
        self.reaped |= status.is_some();
        Ok(status)
    }

    /// Sends signal `sig` through the pidfd (never to a recycled pid).
    ///
    /// # Kernel support
    /// `pidfd_send_signal` (5.1).
    ///
    /// # Errors
    /// As [`AsyncPidFd::send_signal`].
    pub fn send_signal(&self, sig: i32) -> Result<()> {
        self.fd().send_signal(sig)
    }

    /// Sends `SIGKILL` through the pidfd; does not wait (follow with [`wait`](Child::wait)).
    /// A child whose status was already collected counts as killed: `Ok(())`, as in std.
    ///
    /// # Kernel support
    /// `pidfd_send_signal` (5.1).
    ///
    /// # Errors
    /// `PermissionDenied` and other errors of [`AsyncPidFd::kill`], except `Exited`.
    pub fn kill(&self) -> Result<()> {
        match self.fd().kill() {
            Err(Error::Pidfd(pidfd::Error::Exited)) => Ok(()),
            other => other,
        }
    }

    /// The child's pidfd.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn pidfd(&self) -> &PidFd {
        self.fd().pidfd()
    }

    /// The child's registered pidfd.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn async_pidfd(&self) -> &AsyncPidFd {
        self.fd()
    }

    /// Gives up the `Child`: closes its stdio pipes and returns the registered pidfd, which
    /// from then on is the caller's to wait on (no kill, no background reaping on drop).
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn into_async_pidfd(mut self) -> AsyncPidFd {
        self.fd.take().expect("the pidfd is present until the Child is consumed")
    }

    /// Closes stdin, reads stdout and stderr to their end while waiting for the child, and
    /// returns everything with the status. Streams that were not piped come back empty.
    ///
    /// # Kernel support
    /// As [`wait`](Child::wait).
    ///
    /// # Errors
    /// As [`wait`](Child::wait); [`Error::Io`] when reading a pipe fails (the child is then
    /// dropped: reaped in the background, killed first with kill-on-drop).
    pub async fn wait_with_output(mut self) -> Result<Output> {
        drop(self.stdin.take());
        let mut stdout = self.stdout.take();
        let mut stderr = self.stderr.take();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = {
            let mut wait = pin!(self.fd().wait());
            let mut status = None;
            poll_fn(|cx| {
                if let Some(r) = stdout.as_mut() {
                    match poll_read_to_end(r, &mut out, cx) {
                        Poll::Ready(Ok(())) => stdout = None,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::io("read the child's stdout", e))),
                        Poll::Pending => {}
                    }
                }
                if let Some(r) = stderr.as_mut() {
                    match poll_read_to_end(r, &mut err, cx) {
                        Poll::Ready(Ok(())) => stderr = None,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::io("read the child's stderr", e))),
                        Poll::Pending => {}
                    }
                }
                if status.is_none()
                    && let Poll::Ready(r) = wait.as_mut().poll(cx)
                {
                    match r {
                        Ok(s) => status = Some(s),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                match status {
                    Some(s) if stdout.is_none() && stderr.is_none() => Poll::Ready(Ok(s)),
                    _ => Poll::Pending,
                }
            })
            .await?
        };
        self.reaped = true;
        Ok(Output { status, stdout: out, stderr: err })
    }
}

/// Reads `r` to its end into `buf`.
fn poll_read_to_end<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let mut chunk = [0u8; 8192];
    loop {
        let mut rb = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut *r).poll_read(cx, &mut rb))?;
        if rb.filled().is_empty() {
            return Poll::Ready(Ok(()));
        }
        buf.extend_from_slice(rb.filled());
    }
}

impl Drop for Child {
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
            orphans::adopt(fd.into_inner());
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pidfd", &self.fd)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}

/// The writing end of the child's stdin pipe: implements tokio's [`AsyncWrite`].
///
/// # Kernel support
/// Any kernel (a non-blocking pipe in the reactor).
///
/// # Errors
/// `io::Error`s of the pipe, through the `AsyncWrite` methods (`EPIPE` once the child closed
/// its end).
#[derive(Debug)]
pub struct ChildStdin(pipe::Sender);

/// The reading end of the child's stdout pipe: implements tokio's [`AsyncRead`].
///
/// # Kernel support
/// Any kernel (a non-blocking pipe in the reactor).
///
/// # Errors
/// `io::Error`s of the pipe, through the `AsyncRead` methods; end-of-file once the child (and
/// everything that inherited the pipe) closed it.
#[derive(Debug)]
pub struct ChildStdout(pipe::Receiver);

/// The reading end of the child's stderr pipe: implements tokio's [`AsyncRead`].
///
/// # Kernel support
/// Any kernel (a non-blocking pipe in the reactor).
///
/// # Errors
/// `io::Error`s of the pipe, through the `AsyncRead` methods; end-of-file once the child (and
/// everything that inherited the pipe) closed it.
#[derive(Debug)]
pub struct ChildStderr(pipe::Receiver);

impl ChildStdin {
    /// The tokio pipe inside.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn into_inner(self) -> pipe::Sender {
        self.0
    }
}

impl ChildStdout {
    /// The tokio pipe inside.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn into_inner(self) -> pipe::Receiver {
        self.0
    }
}

impl ChildStderr {
    /// The tokio pipe inside.
    ///
    /// # Kernel support
    /// Any kernel.
    ///
    /// # Errors
    /// None.
    pub fn into_inner(self) -> pipe::Receiver {
        self.0
    }
}

impl AsyncWrite for ChildStdin {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncRead for ChildStdout {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncRead for ChildStderr {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

macro_rules! fd_impls {
    ($($t:ty),*) => {$(
        impl AsFd for $t {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.as_fd()
            }
        }
        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }
    )*};
}

fd_impls!(ChildStdin, ChildStdout, ChildStderr);
