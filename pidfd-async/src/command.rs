//! Async spawning: [`Command`], [`Stdio`], [`Child`] and the child's stdio pipes.

use std::ffi::OsStr;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::pin::{Pin, pin};
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll, ready};

use pidfd::PidFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;
use tokio::runtime::Handle;

use crate::async_pidfd::{AsyncPidFd, current_runtime};
use crate::error::{Error, Result};
use crate::{orphans, sys};

/// What one of the child's standard streams is connected to: the counterpart of
/// `std::process::Stdio` for [`Command::stdin`], [`stdout`](Command::stdout) and
/// [`stderr`](Command::stderr), with the same constructors.
///
/// Besides [`inherit`](Stdio::inherit), [`null`](Stdio::null) and [`piped`](Stdio::piped), any
/// open file descriptor converts into one ([`OwnedFd`], [`File`](std::fs::File), the ends of a
/// [`std::io::pipe`]), and so does the pipe of another child ([`ChildStdout`], [`ChildStderr`],
/// [`ChildStdin`], through `TryFrom`, which makes the fd blocking again), to connect children
/// to each other.
pub struct Stdio(StdioKind);

enum StdioKind {
    Inherit,
    Null,
    Piped,
    Fd(OwnedFd),
}

impl Stdio {
    /// The parent's stream (the default).
    pub fn inherit() -> Stdio {
        Stdio(StdioKind::Inherit)
    }

    /// `/dev/null` (read-only for stdin, write-only for stdout and stderr).
    ///
    /// A child that cannot open `/dev/null` makes [`Command::spawn`] fail.
    pub fn null() -> Stdio {
        Stdio(StdioKind::Null)
    }

    /// A new pipe; the parent's end becomes [`Child::stdin`], [`Child::stdout`] or
    /// [`Child::stderr`] (non-blocking, registered with the runtime, close-on-exec); the
    /// child's end is blocking, as programs expect.
    ///
    /// A pipe that cannot be created makes [`Command::spawn`] fail.
    pub fn piped() -> Stdio {
        Stdio(StdioKind::Piped)
    }

    fn into_pidfd(self) -> pidfd::Stdio {
        match self.0 {
            StdioKind::Inherit => pidfd::Stdio::Inherit,
            StdioKind::Null => pidfd::Stdio::Null,
            StdioKind::Piped => pidfd::Stdio::Piped,
            StdioKind::Fd(fd) => pidfd::Stdio::Fd(fd),
        }
    }

    fn into_std(self) -> std::process::Stdio {
        match self.0 {
            StdioKind::Inherit => std::process::Stdio::inherit(),
            StdioKind::Null => std::process::Stdio::null(),
            StdioKind::Piped => std::process::Stdio::piped(),
            StdioKind::Fd(fd) => std::process::Stdio::from(fd),
        }
    }
}

impl fmt::Debug for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            StdioKind::Inherit => f.write_str("Stdio::inherit()"),
            StdioKind::Null => f.write_str("Stdio::null()"),
            StdioKind::Piped => f.write_str("Stdio::piped()"),
            StdioKind::Fd(fd) => f.debug_tuple("Stdio::Fd").field(&fd.as_raw_fd()).finish(),
        }
    }
}

/// The child gets this fd as the stream (the parent's copy is closed with the [`Command`]).
impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(StdioKind::Fd(fd))
    }
}

/// The child gets this file as the stream.
impl From<std::fs::File> for Stdio {
    fn from(f: std::fs::File) -> Stdio {
        Stdio::from(OwnedFd::from(f))
    }
}

/// The child reads from this pipe.
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
impl From<std::io::PipeReader> for Stdio {
    fn from(p: std::io::PipeReader) -> Stdio {
        Stdio::from(OwnedFd::from(p))
    }
}

/// The child writes into this pipe.
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
impl From<std::io::PipeWriter> for Stdio {
    fn from(p: std::io::PipeWriter) -> Stdio {
        Stdio::from(OwnedFd::from(p))
    }
}

macro_rules! stdio_from_child_pipe {
    ($($t:ty),*) => {$(
        /// Passes another child's pipe on (`a | b`): deregistered from the runtime and made
        /// blocking again, as the program on the other end expects.
        ///
        /// # Kernel support
        /// Any kernel: the reactor deregistration (`epoll_ctl(EPOLL_CTL_DEL)`) and an `fcntl` that
        /// clears `O_NONBLOCK`.
        ///
        /// # Errors
        /// The `fcntl` that clears `O_NONBLOCK`.
        impl TryFrom<$t> for Stdio {
            type Error = io::Error;

            fn try_from(p: $t) -> io::Result<Stdio> {
                p.0.into_blocking_fd().map(Stdio::from)
            }
        }
    )*};
}

stdio_from_child_pipe!(ChildStdin, ChildStdout, ChildStderr);

/// A process builder like `tokio::process::Command`, whose children are spawned race-free
/// through [`pidfd::Command`] and waited for through the runtime's pidfd hub.
///
/// The pidfd comes from the kernel as the child is created (`clone3` / `clone` with
/// `CLONE_PIDFD`, vfork-style: the cost of `posix_spawn`), so it names the child for certain
/// even while another thread reaps with `waitpid(-1)`, and spawning needs neither
/// `pidfd_open` nor `clone3`: it works under container seccomp profiles that refuse them.
///
/// Builder methods take `&mut self`, as in std. Besides std's settings there are those of
/// [`pidfd::Command`]: [`setsid`](Command::setsid), [`fd`](Command::fd),
/// [`signal_mask`](Command::signal_mask), [`reset_signals`](Command::reset_signals),
/// [`cgroup`](Command::cgroup). A configured [`pidfd::Command`] converts with `From`.
///
/// # From a `std::process::Command`
/// `From<std::process::Command>` keeps the std command whole and spawns it with
/// [`pidfd::spawn`], so everything set on it (stdio, `env_clear`, `CommandExt` settings such as
/// `uid` or `pre_exec`) is honoured: std does not expose those settings, so they could not be
/// carried over to a [`pidfd::Command`]. That path needs `pidfd_open` (5.3) in the child, which
/// old container profiles refuse ([`pidfd::Error::Denied`]); build with [`Command::new`] where
/// that matters. On such a command the settings std has no equivalent for
/// ([`setsid`](Command::setsid), [`groups`](Command::groups), [`fd`](Command::fd),
/// [`signal_mask`](Command::signal_mask), [`reset_signals`](Command::reset_signals),
/// [`cgroup`](Command::cgroup)) make [`spawn`](Command::spawn) fail with
/// [`pidfd::Error::InvalidInput`] rather than be dropped.
///
/// # Kernel support
/// As [`pidfd::Command`]: `clone3` (5.3; `CLONE_CLEAR_SIGHAND` 5.5) or `clone(CLONE_PIDFD)`
/// (5.2), else a fork whose child sends its own pidfd (`pidfd_open`, 5.3). Waiting as
/// [`AsyncPidFd::wait`].
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
    inner: Inner,
    kill_on_drop: bool,
}

enum Inner {
    /// Built here or converted from a [`pidfd::Command`].
    Pidfd(pidfd::Command),
    /// Converted from std: spawned with [`pidfd::spawn`]. `refused`: the first setting that
    /// std cannot express, reported by `spawn`.
    Std { cmd: std::process::Command, refused: Option<&'static str> },
}

impl Command {
    /// A command for `program` (a path, or a name looked up in `PATH` as `execvp` does), with
    /// std's defaults: the parent's environment, working directory and stdio.
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command { inner: Inner::Pidfd(pidfd::Command::new(program)), kill_on_drop: false }
    }

    /// Applies a setting that both kinds of command have.
    fn set(
        &mut self,
        on_pidfd: impl FnOnce(&mut pidfd::Command),
        on_std: impl FnOnce(&mut std::process::Command),
    ) -> &mut Command {
        match &mut self.inner {
            Inner::Pidfd(cmd) => on_pidfd(cmd),
            Inner::Std { cmd, .. } => on_std(cmd),
        }
        self
    }

    /// Applies a setting of [`pidfd::Command`] that std cannot express: on a command converted
    /// from std it is recorded as refused, for `spawn` to report.
    fn set_pidfd_only(&mut self, what: &'static str, on_pidfd: impl FnOnce(&mut pidfd::Command)) -> &mut Command {
        match &mut self.inner {
            Inner::Pidfd(cmd) => on_pidfd(cmd),
            Inner::Std { refused, .. } => {
                refused.get_or_insert(what);
            }
        }
        self
    }

    /// Adds one argument.
    ///
    /// A NUL byte makes [`spawn`](Command::spawn) fail.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        let arg = arg.as_ref();
        self.set(
            |c| {
                c.arg(arg);
            },
            |c| {
                c.arg(arg);
            },
        )
    }

    /// Adds arguments.
    ///
    /// A NUL byte makes [`spawn`](Command::spawn) fail.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.arg(a);
        }
        self
    }

    /// Sets `argv[0]` (default: the program as given).
    ///
    /// A NUL byte makes [`spawn`](Command::spawn) fail.
    pub fn arg0<S: AsRef<OsStr>>(&mut self, arg0: S) -> &mut Command {
        let arg0 = arg0.as_ref();
        self.set(
            |c| {
                c.arg0(arg0);
            },
            |c| {
                c.arg0(arg0);
            },
        )
    }

    /// Sets an environment variable of the child.
    ///
    /// A NUL byte makes [`spawn`](Command::spawn) fail.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        let (key, val) = (key.as_ref(), val.as_ref());
        self.set(
            |c| {
                c.env(key, val);
            },
            |c| {
                c.env(key, val);
            },
        )
    }

    /// Sets several environment variables of the child.
    ///
    /// A NUL byte makes [`spawn`](Command::spawn) fail.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        let key = key.as_ref();
        self.set(
            |c| {
                c.env_remove(key);
            },
            |c| {
                c.env_remove(key);
            },
        )
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.set(
            |c| {
                c.env_clear();
            },
            |c| {
                c.env_clear();
            },
        )
    }

    /// The child's working directory.
    ///
    /// A directory the child cannot enter makes [`spawn`](Command::spawn) fail.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        let dir = dir.as_ref();
        self.set(
            |c| {
                c.current_dir(dir);
            },
            |c| {
                c.current_dir(dir);
            },
        )
    }

    /// The child's stdin; [`Stdio::piped`] gives [`Child::stdin`].
    ///
    /// A pipe that cannot be created makes [`spawn`](Command::spawn) fail.
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.set_stdio(0, cfg.into())
    }

    /// The child's stdout; [`Stdio::piped`] gives [`Child::stdout`].
    ///
    /// A pipe that cannot be created makes [`spawn`](Command::spawn) fail.
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.set_stdio(1, cfg.into())
    }

    /// The child's stderr; [`Stdio::piped`] gives [`Child::stderr`].
    ///
    /// A pipe that cannot be created makes [`spawn`](Command::spawn) fail.
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.set_stdio(2, cfg.into())
    }

    fn set_stdio(&mut self, stream: usize, cfg: Stdio) -> &mut Command {
        match &mut self.inner {
            Inner::Pidfd(cmd) => {
                let cfg = cfg.into_pidfd();
                match stream {
                    0 => cmd.stdin(cfg),
                    1 => cmd.stdout(cfg),
                    _ => cmd.stderr(cfg),
                };
            }
            Inner::Std { cmd, .. } => {
                let cfg = cfg.into_std();
                match stream {
                    0 => cmd.stdin(cfg),
                    1 => cmd.stdout(cfg),
                    _ => cmd.stderr(cfg),
                };
            }
        }
        self
    }

    /// Gives the child `fd` as its file descriptor number `target` (3 or more). Apart from
    /// these and 0-2 the child inherits no fd (see [`pidfd::Command::fd`]).
    ///
    /// A target below 3 or given twice makes [`spawn`](Command::spawn) fail with
    /// [`pidfd::Error::InvalidInput`], as does this setting on a command converted from std.
    pub fn fd(&mut self, fd: OwnedFd, target: RawFd) -> &mut Command {
        self.set_pidfd_only("Command::fd on a command converted from std::process::Command", |c| {
            c.fd(fd, target);
        })
    }

    /// Puts the child in process group `pgroup` (0: a new group led by the child), so that
    /// [`PidFd::signal_process_group`] reaches it and everything it starts.
    ///
    /// The child calls `setpgid` before exec; a refusal makes [`spawn`](Command::spawn) fail.
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.set(
            |c| {
                c.process_group(pgroup);
            },
            |c| {
                c.process_group(pgroup);
            },
        )
    }

    /// Starts the child in a new session (`setsid`), leading a new process group.
    ///
    /// The child calls `setsid` before exec; a refusal makes [`spawn`](Command::spawn) fail, and
    /// so, with [`pidfd::Error::InvalidInput`], does this setting on a command converted from std.
    pub fn setsid(&mut self, on: bool) -> &mut Command {
        self.set_pidfd_only("Command::setsid on a command converted from std::process::Command", |c| {
            c.setsid(on);
        })
    }

    /// Runs the child as user `uid` (supplementary groups are dropped unless
    /// [`groups`](Command::groups) sets them).
    ///
    /// The child calls `setresuid` before exec; without `CAP_SETUID` [`spawn`](Command::spawn)
    /// fails with `EPERM`.
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.set(
            |c| {
                c.uid(uid);
            },
            |c| {
                c.uid(uid);
            },
        )
    }

    /// Runs the child with group `gid`.
    ///
    /// The child calls `setresgid` before exec; without `CAP_SETGID` [`spawn`](Command::spawn)
    /// fails with `EPERM`.
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.set(
            |c| {
                c.gid(gid);
            },
            |c| {
                c.gid(gid);
            },
        )
    }

    /// Sets the child's supplementary groups.
    ///
    /// The child calls `setgroups` before exec; without `CAP_SETGID` [`spawn`](Command::spawn)
    /// fails with `EPERM`, and with [`pidfd::Error::InvalidInput`] on a command converted from std.
    pub fn groups(&mut self, groups: &[u32]) -> &mut Command {
        self.set_pidfd_only("Command::groups on a command converted from std::process::Command", |c| {
            c.groups(groups);
        })
    }

    /// Blocks exactly these signals in the child (default: the spawning thread's mask).
    ///
    /// A signal number out of range makes [`spawn`](Command::spawn) fail with
    /// [`pidfd::Error::InvalidInput`], as does this setting on a command converted from std.
    pub fn signal_mask(&mut self, signals: &[i32]) -> &mut Command {
        self.set_pidfd_only("Command::signal_mask on a command converted from std::process::Command", |c| {
            c.signal_mask(signals);
        })
    }

    /// Resets every signal disposition to the default in the child, ignored ones included
    /// (see [`pidfd::Command::reset_signals`]).
    ///
    /// On a command converted from std, [`spawn`](Command::spawn) fails with
    /// [`pidfd::Error::InvalidInput`].
    pub fn reset_signals(&mut self, on: bool) -> &mut Command {
        self.set_pidfd_only("Command::reset_signals on a command converted from std::process::Command", |c| {
            c.reset_signals(on);
        })
    }

    /// Starts the child in the cgroup v2 directory `dir` (an open directory fd).
    ///
    /// At spawn: `clone3(CLONE_INTO_CGROUP)` (5.7); without clone3 (or with it refused) the child
    /// writes itself into `cgroup.procs` before exec. [`spawn`](Command::spawn) fails when the
    /// kernel refuses the move or `cgroup.procs` cannot be opened, and with
    /// [`pidfd::Error::InvalidInput`] on a command converted from std.
    pub fn cgroup(&mut self, dir: OwnedFd) -> &mut Command {
        self.set_pidfd_only("Command::cgroup on a command converted from std::process::Command", |c| {
            c.cgroup(dir);
        })
    }

    /// Whether dropping the [`Child`] before its status was collected sends it `SIGKILL`
    /// (default `false`). Either way a dropped child is reaped in the background, so it does
    /// not stay a zombie (see [`Child`]).
    ///
    /// The kill uses `pidfd_send_signal` (5.1); where a policy refuses it (old container profiles),
    /// the child is killed by its pid, which is still its own (it is not reaped yet; see
    /// [`PidFd::send_signal`](pidfd::PidFd::send_signal)).
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// Spawns the child, registers its pidfd with the current runtime and turns piped stdio
    /// into tokio pipes (non-blocking on the parent's side; close-on-exec).
    ///
    /// Spawning itself is synchronous, as in std and tokio (a vfork-style clone and an exec,
    /// well under a millisecond); waiting is not.
    ///
    /// # Kernel support
    /// See [`Command`]; waiting as [`AsyncPidFd::wait`].
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a runtime and [`Error::NoIoDriver`] in a runtime built
    /// without I/O (both checked before anything is spawned); [`Error::Pidfd`] from the spawn:
    /// [`pidfd::Error::Exec`] with the errno when the program cannot be run (e.g. `ENOENT`; the
    /// failed child is reaped), [`pidfd::Error::InvalidInput`] for a NUL byte or a setting
    /// out of range, [`pidfd::Error::Os`] when the process or a pipe cannot be created, and,
    /// for a command converted from std, [`pidfd::Error::Denied`] when `pidfd_open` is refused;
    /// [`Error::Io`] when the registration or a pipe conversion fails, after which the child
    /// has been killed and is reaped in the background.
    pub fn spawn(&mut self) -> Result<Child> {
        let handle = current_runtime()?;
        let (pid, pidfd, stdin, stdout, stderr) = match &mut self.inner {
            Inner::Pidfd(cmd) => {
                let mut child = cmd.spawn()?;
                let pid = child.id();
                let (i, o, e) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
                // Taking the pidfd leaves the `pidfd::Child` nothing to reap on drop.
                (pid, child.into_pidfd(), i.map(OwnedFd::from), o.map(OwnedFd::from), e.map(OwnedFd::from))
            }
            Inner::Std { cmd, refused } => {
                if let Some(what) = refused {
                    return Err(pidfd::Error::InvalidInput(what).into());
                }
                let (mut child, pidfd) = pidfd::spawn(cmd)?;
                let pid = child.id() as i32;
                let (i, o, e) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
                // The std `Child` holds nothing else we need: dropping it neither waits nor kills.
                drop(child);
                (pid, pidfd, i.map(OwnedFd::from), o.map(OwnedFd::from), e.map(OwnedFd::from))
            }
        };
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
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            fd: Some(fd),
            pid,
            handle,
            kill_on_drop: true,
            reaped: false,
        };
        child.stdin = async_pipe(stdin, pipe::Sender::from_owned_fd_unchecked)
            .map_err(|e| Error::io("make the child's stdin async", e))?
            .map(ChildStdin);
        child.stdout = async_pipe(stdout, pipe::Receiver::from_owned_fd_unchecked)
            .map_err(|e| Error::io("make the child's stdout async", e))?
            .map(ChildStdout);
        child.stderr = async_pipe(stderr, pipe::Receiver::from_owned_fd_unchecked)
            .map_err(|e| Error::io("make the child's stderr async", e))?
            .map(ChildStderr);
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
        self.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }
}

/// The parent's end of a pipe, made non-blocking here (the child's end, a separate open file
/// description, stays blocking), as the tokio pipe type `make` builds and registers. The fd is
/// close-on-exec already (`pipe2(O_CLOEXEC)`, in `pidfd::Command` and in std).
fn async_pipe<T>(fd: Option<OwnedFd>, make: fn(OwnedFd) -> io::Result<T>) -> io::Result<Option<T>> {
    let Some(fd) = fd else { return Ok(None) };
    sys::set_nonblocking(fd.as_fd())?;
    make(fd).map(Some)
}

/// Wraps a configured [`pidfd::Command`] (kill-on-drop off).
impl From<pidfd::Command> for Command {
    fn from(cmd: pidfd::Command) -> Command {
        Command { inner: Inner::Pidfd(cmd), kill_on_drop: false }
    }
}

/// Wraps a configured std `Command` whole (kill-on-drop off): it is spawned with
/// [`pidfd::spawn`], which honours every std setting and needs `pidfd_open` (see
/// [`Command`]).
impl From<std::process::Command> for Command {
    fn from(cmd: std::process::Command) -> Command {
        Command { inner: Inner::Std { cmd, refused: None }, kill_on_drop: false }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Command");
        match &self.inner {
            Inner::Pidfd(cmd) => d.field("pidfd", cmd),
            Inner::Std { cmd, refused } => d.field("std", cmd).field("refused", refused),
        };
        d.field("kill_on_drop", &self.kill_on_drop).finish()
    }
}

/// A spawned child process with its pidfd in the runtime's pidfd hub (see [`AsyncPidFd`]).
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
    /// As the kernel returned it at creation.
    pid: i32,
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
    /// `None` once the child has been reaped (through this `Child` or its pidfd).
    ///
    /// # Kernel support
    /// Any kernel with pidfds: whether it was reaped is asked through the pidfd
    /// (`PIDFD_GET_INFO`, 6.13, else `/proc/self/fdinfo`); the number is the one the kernel
    /// returned at the spawn.
    pub fn id(&self) -> Option<u32> {
        if self.reaped {
            return None;
        }
        match self.fd().pidfd().pid() {
            Err(pidfd::Error::Exited) => None,
            // Read as the pidfd sees it now, or (no `/proc`, ...) as it was at the spawn: either
            // way the child's, since it is not reaped.
            Ok(pid) => u32::try_from(pid).ok(),
            Err(_) => u32::try_from(self.pid).ok(),
        }
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
    /// `pidfd_send_signal` (5.1); where a policy refuses it, by the child's pid while the
    /// child is unreaped (see [`PidFd::send_signal`](pidfd::PidFd::send_signal)).
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
    /// As [`send_signal`](Child::send_signal).
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
    pub fn into_inner(self) -> pipe::Sender {
        self.0
    }
}

impl ChildStdout {
    /// The tokio pipe inside.
    pub fn into_inner(self) -> pipe::Receiver {
        self.0
    }
}

impl ChildStderr {
    /// The tokio pipe inside.
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
