//! [`Command`]: `tokio::process::Command`'s shape over [`pidfd::Command`].

use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitStatus, Output};

use pidfd::{CommandArgs, CommandEnvs};

use crate::Stdio;
use crate::async_pidfd::current_runtime;
use crate::child::Child;

/// A process builder with `tokio::process::Command`'s methods and signatures, over
/// [`pidfd::Command`]: the child is spawned race-free and waited for through the runtime's pidfd
/// hub ([`AsyncPidFd`](crate::AsyncPidFd)).
///
/// The pidfd comes from the kernel as the child is created (`clone3` / `clone` with
/// `CLONE_PIDFD`, vfork-style: the cost of `posix_spawn`), so it names the child for certain
/// even while another thread reaps with `waitpid(-1)`, and spawning needs neither `pidfd_open`
/// nor `clone3`: it works under container seccomp profiles that refuse them.
///
/// Moving from tokio means changing the imports: `use pidfd_async::{Command, Stdio};` (see
/// [`Stdio`] for why std's `Stdio` does not convert). The builder is [`pidfd::Command`]'s:
/// besides tokio's settings there are [`setsid`](Command::setsid), [`fd`](Command::fd),
/// [`groups`](Command::groups), [`signal_mask`](Command::signal_mask),
/// [`reset_signals`](Command::reset_signals) and [`cgroup`](Command::cgroup). A configured
/// [`pidfd::Command`] converts with `From`. tokio's `as_std`, `as_std_mut` and `into_std` have
/// no counterpart, since there is no std command inside (std's cannot say what this one can):
/// the getters ([`get_program`](Command::get_program), [`get_args`](Command::get_args), ...)
/// are this command's own. Methods that fail return [`io::Result`], as
/// tokio's: an errno stays an OS error, and the typed error ([`pidfd::Error`], or this crate's
/// [`Error`](crate::Error) for a missing runtime) is inside (`get_ref()`, `downcast`).
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
/// [`cgroup`](Command::cgroup), a [`pidfd::Stdio`] std cannot express) make
/// [`spawn`](Command::spawn) fail with [`pidfd::Error::InvalidInput`] rather than be dropped,
/// and [`output`](Command::output) sets stdout and stderr to pipes for good, as tokio's does.
///
/// # Kernel support
/// As [`pidfd::Command`]: `clone3` (5.3; `CLONE_CLEAR_SIGHAND` 5.5) or `clone(CLONE_PIDFD)`
/// (5.2), else a fork whose child sends its own pidfd (`pidfd_open`, 5.3). Waiting as
/// [`AsyncPidFd::wait`](crate::AsyncPidFd::wait).
///
/// # Errors
/// The builder methods record settings and never fail; [`spawn`](Command::spawn),
/// [`status`](Command::status) and [`output`](Command::output) report what went wrong.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use pidfd_async::Command;
///
/// let out = Command::new("sh").args(["-c", "echo hi; echo err >&2; exit 4"]).output().await?;
/// assert_eq!(out.status.code(), Some(4));
/// assert_eq!(out.stdout, b"hi\n");
/// assert_eq!(out.stderr, b"err\n");
/// assert!(Command::new("true").status().await?.success());
/// # Ok(())
/// # }
/// ```
pub struct Command {
    pub(crate) inner: Inner,
    kill_on_drop: bool,
}

pub(crate) enum Inner {
    /// Built here or converted from a [`pidfd::Command`].
    Pidfd(pidfd::Command),
    /// Converted from std: spawned with [`pidfd::spawn`]. `refused`: the first setting that
    /// std cannot express, reported by `spawn`.
    Std { cmd: std::process::Command, refused: Option<&'static str> },
}

/// Applies a setting both kinds of command have, by the same method name.
macro_rules! on_both {
    ($self:ident, $c:ident => $e:expr) => {{
        match &mut $self.inner {
            Inner::Pidfd($c) => {
                $e;
            }
            Inner::Std { cmd: $c, .. } => {
                $e;
            }
        }
        $self
    }};
}

/// Applies a setting of [`pidfd::Command`] that std cannot express: on a command converted
/// from std it is recorded as refused, for `spawn` to report.
macro_rules! pidfd_only {
    ($self:ident, $what:literal, $c:ident => $e:expr) => {{
        match &mut $self.inner {
            Inner::Pidfd($c) => {
                $e;
            }
            Inner::Std { refused, .. } => {
                refused.get_or_insert(concat!($what, " on a command converted from std::process::Command"));
            }
        }
        $self
    }};
}

impl Command {
    /// A command for `program` (a path, or a name looked up in `PATH` as `execvp` does), with
    /// std's defaults: the parent's environment, working directory and stdio.
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command { inner: Inner::Pidfd(pidfd::Command::new(program)), kill_on_drop: false }
    }

    /// Adds one argument. A NUL byte makes [`spawn`](Command::spawn) fail.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        on_both!(self, c => c.arg(arg))
    }

    /// Adds arguments. A NUL byte makes [`spawn`](Command::spawn) fail.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        on_both!(self, c => c.args(args))
    }

    /// Sets `argv[0]` (default: the program as given). A NUL byte makes
    /// [`spawn`](Command::spawn) fail.
    pub fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        on_both!(self, c => c.arg0(arg))
    }

    /// Sets an environment variable of the child. A NUL byte makes [`spawn`](Command::spawn)
    /// fail.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        on_both!(self, c => c.env(key, val))
    }

    /// Sets several environment variables of the child. A NUL byte makes
    /// [`spawn`](Command::spawn) fail.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        on_both!(self, c => c.envs(vars))
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        on_both!(self, c => c.env_remove(key))
    }

    /// Starts the child with an empty environment (plus what [`env`](Command::env) adds).
    pub fn env_clear(&mut self) -> &mut Command {
        on_both!(self, c => c.env_clear())
    }

    /// The child's working directory. A directory the child cannot enter makes
    /// [`spawn`](Command::spawn) fail.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        on_both!(self, c => c.current_dir(dir))
    }

    /// The child's stdin; [`Stdio::piped`] gives [`Child::stdin`]. A pipe that cannot be
    /// created makes [`spawn`](Command::spawn) fail.
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.set_stdio(0, cfg.into())
    }

    /// The child's stdout; [`Stdio::piped`] gives [`Child::stdout`]. A pipe that cannot be
    /// created makes [`spawn`](Command::spawn) fail.
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.set_stdio(1, cfg.into())
    }

    /// The child's stderr; [`Stdio::piped`] gives [`Child::stderr`]. A pipe that cannot be
    /// created makes [`spawn`](Command::spawn) fail.
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.set_stdio(2, cfg.into())
    }

    fn set_stdio(&mut self, stream: usize, cfg: Stdio) -> &mut Command {
        match &mut self.inner {
            Inner::Pidfd(cmd) => {
                match stream {
                    0 => cmd.stdin(cfg.0),
                    1 => cmd.stdout(cfg.0),
                    _ => cmd.stderr(cfg.0),
                };
            }
            Inner::Std { cmd, refused } => {
                let cfg = match cfg.0 {
                    pidfd::Stdio::Inherit => std::process::Stdio::inherit(),
                    pidfd::Stdio::Null => std::process::Stdio::null(),
                    pidfd::Stdio::Piped => std::process::Stdio::piped(),
                    pidfd::Stdio::Fd(fd) => std::process::Stdio::from(fd),
                    pidfd::Stdio::ParentStdout => std::process::Stdio::from(io::stdout()),
                    pidfd::Stdio::ParentStderr => std::process::Stdio::from(io::stderr()),
                    _ => {
                        refused.get_or_insert("a Stdio that std cannot express, on a command converted from std");
                        return self;
                    }
                };
                match stream {
                    0 => cmd.stdin(cfg),
                    1 => cmd.stdout(cfg),
                    _ => cmd.stderr(cfg),
                };
            }
        }
        self
    }

    /// Gives the child `fd` as its file descriptor number `target` (3 or more); the spawn
    /// consumes it (see [`pidfd::Command::fd`]). Apart from these and 0-2 the child inherits no
    /// fd.
    ///
    /// A target below 3 or given twice makes [`spawn`](Command::spawn) fail with
    /// [`pidfd::Error::InvalidInput`] inside, as does this setting on a command converted from
    /// std.
    pub fn fd(&mut self, fd: OwnedFd, target: RawFd) -> &mut Command {
        pidfd_only!(self, "Command::fd", c => c.fd(fd, target))
    }

    /// Puts the child in process group `pgroup` (0: a new group led by the child), so that
    /// [`PidFd::signal_process_group`](pidfd::PidFd::signal_process_group) reaches it and
    /// everything it starts. The child calls `setpgid` before exec; a refusal makes
    /// [`spawn`](Command::spawn) fail.
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        on_both!(self, c => c.process_group(pgroup))
    }

    /// Starts the child in a new session (`setsid`), leading a new process group. A refusal
    /// makes [`spawn`](Command::spawn) fail, and so, with [`pidfd::Error::InvalidInput`] inside,
    /// does this setting on a command converted from std.
    pub fn setsid(&mut self, on: bool) -> &mut Command {
        pidfd_only!(self, "Command::setsid", c => c.setsid(on))
    }

    /// Runs the child as user `uid` (supplementary groups are dropped unless
    /// [`groups`](Command::groups) sets them). Without `CAP_SETUID`
    /// [`spawn`](Command::spawn) fails with `EPERM`.
    pub fn uid(&mut self, id: u32) -> &mut Command {
        on_both!(self, c => c.uid(id))
    }

    /// Runs the child with group `gid`. Without `CAP_SETGID` [`spawn`](Command::spawn) fails
    /// with `EPERM`.
    pub fn gid(&mut self, id: u32) -> &mut Command {
        on_both!(self, c => c.gid(id))
    }

    /// Sets the child's supplementary groups. Without `CAP_SETGID` [`spawn`](Command::spawn)
    /// fails with `EPERM`, and with [`pidfd::Error::InvalidInput`] inside on a command converted
    /// from std.
    pub fn groups(&mut self, groups: &[u32]) -> &mut Command {
        pidfd_only!(self, "Command::groups", c => c.groups(groups))
    }

    /// Blocks exactly these signals in the child (default: the spawning thread's mask). A
    /// signal number out of range makes [`spawn`](Command::spawn) fail with
    /// [`pidfd::Error::InvalidInput`] inside, as does this setting on a command converted from
    /// std.
    pub fn signal_mask(&mut self, signals: &[i32]) -> &mut Command {
        pidfd_only!(self, "Command::signal_mask", c => c.signal_mask(signals))
    }

    /// Resets every signal disposition to the default in the child, ignored ones included
    /// (see [`pidfd::Command::reset_signals`]). On a command converted from std,
    /// [`spawn`](Command::spawn) fails with [`pidfd::Error::InvalidInput`] inside.
    pub fn reset_signals(&mut self, on: bool) -> &mut Command {
        pidfd_only!(self, "Command::reset_signals", c => c.reset_signals(on))
    }

    /// Starts the child in the cgroup v2 directory `dir` (an open directory fd; see
    /// [`pidfd::Command::cgroup`]). [`spawn`](Command::spawn) fails when the kernel refuses the
    /// move, and with [`pidfd::Error::InvalidInput`] inside on a command converted from std.
    pub fn cgroup(&mut self, dir: OwnedFd) -> &mut Command {
        pidfd_only!(self, "Command::cgroup", c => c.cgroup(dir))
    }

    /// Whether dropping the [`Child`] before its status was collected sends it `SIGKILL`
    /// (default `false`), as tokio's. Either way a dropped child is reaped in the background,
    /// so it does not stay a zombie (see [`Child`]).
    ///
    /// The kill uses `pidfd_send_signal` (5.1); where a policy refuses it (old container
    /// profiles), the child is killed by its pid, which is still its own (it is not reaped yet;
    /// see [`PidFd::send_signal`](pidfd::PidFd::send_signal)).
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The setting of [`kill_on_drop`](Command::kill_on_drop), as tokio's.
    pub fn get_kill_on_drop(&self) -> bool {
        self.kill_on_drop
    }

    /// The program, as given to [`Command::new`] (as `std::process::Command::get_program`).
    pub fn get_program(&self) -> &OsStr {
        match &self.inner {
            Inner::Pidfd(c) => c.get_program(),
            Inner::Std { cmd, .. } => cmd.get_program(),
        }
    }

    /// The arguments after `argv[0]` (as `std::process::Command::get_args`).
    pub fn get_args(&self) -> CommandArgs<'_> {
        match &self.inner {
            Inner::Pidfd(c) => c.get_args(),
            Inner::Std { cmd, .. } => cmd.get_args().into(),
        }
    }

    /// The environment changes: each variable set (`Some(value)`) or removed (`None`), without
    /// the variables inherited from the parent (as `std::process::Command::get_envs`).
    pub fn get_envs(&self) -> CommandEnvs<'_> {
        match &self.inner {
            Inner::Pidfd(c) => c.get_envs(),
            Inner::Std { cmd, .. } => cmd.get_envs().into(),
        }
    }

    /// The working directory set with [`current_dir`](Command::current_dir) (as
    /// `std::process::Command::get_current_dir`).
    pub fn get_current_dir(&self) -> Option<&Path> {
        match &self.inner {
            Inner::Pidfd(c) => c.get_current_dir(),
            Inner::Std { cmd, .. } => cmd.get_current_dir(),
        }
    }

    /// Spawns the child, registers its pidfd with the current runtime and turns piped stdio
    /// into tokio's pipe types (`from_std`: non-blocking on the parent's side, registered with
    /// the reactor; close-on-exec).
    ///
    /// Spawning itself is synchronous, as in std and tokio (a vfork-style clone and an exec);
    /// waiting is not.
    ///
    /// # Kernel support
    /// See [`Command`]; waiting as [`AsyncPidFd::wait`](crate::AsyncPidFd::wait).
    ///
    /// # Errors
    /// Outside a runtime, or in a runtime built without I/O, an [`io::Error`] of kind `Other`
    /// with [`Error::NoRuntime`](crate::Error::NoRuntime) or
    /// [`Error::NoIoDriver`](crate::Error::NoIoDriver) inside (both checked before anything is
    /// spawned; tokio would panic). From the spawn, as [`pidfd::Command::spawn`]: the errno when
    /// the program cannot be run (`NotFound` / `ENOENT`; the failed child is reaped) or the
    /// process or a pipe cannot be created; `InvalidInput` with [`pidfd::Error::InvalidInput`]
    /// inside for a NUL byte or a setting out of range; for a command converted from std,
    /// [`pidfd::Error::Denied`] inside when `pidfd_open` is refused. An OS error when the
    /// registration or a pipe conversion fails, after which the child has been killed and is
    /// reaped in the background.
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_for(false)
    }

    /// Spawns for [`spawn`](Command::spawn) or (`output`) for [`output`](Command::output).
    fn spawn_for(&mut self, output: bool) -> io::Result<Child> {
        let handle = current_runtime()?;
        let (pid, pidfd, stdio) = match &mut self.inner {
            Inner::Pidfd(cmd) => {
                let mut child = pidfd::__private::spawn(cmd, output)?;
                let stdio = (child.stdin.take(), child.stdout.take(), child.stderr.take());
                // Taking the pidfd leaves the `pidfd::Child` nothing to reap on drop.
                (child.id(), child.into_pidfd(), stdio)
            }
            Inner::Std { cmd, refused } => {
                if let Some(what) = refused {
                    return Err(pidfd::Error::InvalidInput(what).into());
                }
                if output {
                    // std keeps its settings to itself: tokio's way, set for good.
                    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
                }
                let (mut child, pidfd) = pidfd::spawn(cmd)?;
                // The std `Child` holds nothing else we need: dropping it neither waits nor kills.
                (child.id(), pidfd, (child.stdin.take(), child.stdout.take(), child.stderr.take()))
            }
        };
        Child::new(handle, pid, pidfd, stdio, self.kill_on_drop)
    }

    /// Spawns the child at the call (as tokio does; the future does not borrow the `Command`)
    /// and waits for it. The streams not set are inherited. The caller never sees the parent's
    /// ends of the pipes the `Command` sets up: stdin's is closed at once, and what the child
    /// writes to a piped stdout or stderr until it exits is read and discarded, so the child
    /// never blocks on a full pipe, as [`pidfd::Command::status`] does. Dropping the future
    /// drops the [`Child`] (see there: [`kill_on_drop`](Command::kill_on_drop) applies).
    ///
    /// # Kernel support
    /// As [`spawn`](Command::spawn).
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::wait`]; the error of a read of a pipe.
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + use<> {
        let child = self.spawn();
        async move { child?.wait_draining().await }
    }

    /// Spawns the child at the call (the future does not borrow the `Command`), collects its
    /// stdout and stderr while waiting, and returns them with the status, as std's `output`:
    /// the streams not set get `/dev/null` as stdin and pipes as stdout and stderr, for this
    /// spawn only (the `Command` keeps its settings for a later [`spawn`](Command::spawn) or
    /// [`status`](Command::status)). A command converted from std keeps its stdio settings to
    /// itself: there, as tokio does, stdout and stderr are set to pipes for good and stdin is
    /// as set.
    ///
    /// # Kernel support
    /// As [`spawn`](Command::spawn).
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::wait_with_output`].
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + use<> {
        let child = self.spawn_for(true);
        async move { child?.wait_with_output().await }
    }
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

/// std's shell-like line (of [`pidfd::Command`] or of the std command inside); `{:#?}` adds every
/// setting.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            let mut d = f.debug_struct("Command");
            match &self.inner {
                Inner::Pidfd(cmd) => d.field("pidfd", cmd),
                Inner::Std { cmd, refused } => d.field("std", cmd).field("refused", refused),
            };
            return d.field("kill_on_drop", &self.kill_on_drop).finish();
        }
        match &self.inner {
            Inner::Pidfd(cmd) => cmd.fmt(f),
            Inner::Std { cmd, .. } => cmd.fmt(f),
        }
    }
}
