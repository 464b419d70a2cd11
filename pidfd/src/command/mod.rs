//! [`Command`]: race-free spawning at vfork speed.
//!
//! The pidfd comes from the kernel as the process is created (`CLONE_PIDFD`), never from a PID
//! that could have been recycled. The default path is `clone3(CLONE_VM | CLONE_VFORK |
//! CLONE_FILES | CLONE_PIDFD | CLONE_CLEAR_SIGHAND)` (x86_64 and aarch64; `clone` without
//! `CLONE_CLEAR_SIGHAND` elsewhere), as cheap as `posix_spawn`: the child shares the parent's
//! memory until `execve` on a dedicated (reused) stack, and takes only the fds it needs from
//! the parent's fd table (`close_range(CLOSE_RANGE_UNSHARE)`, 5.9), so the cost grows neither
//! with the parent's memory nor with its open fds.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};

use crate::error::Result;
use crate::{Child, Stdio, sys};
#[cfg(doc)]
use crate::{PidFd, error::Error};

mod getters;
mod spawn;

pub use getters::{CommandArgs, CommandEnvs};

/// A process to spawn: a builder with the parts of `std::process::Command` that supervisors
/// use, plus process-group, session, credentials, signal and cgroup control.
///
/// Code that already has a `std::process::Command` spawns it with [`spawn`](crate::spawn),
/// which keeps every std setting and returns the child's pidfd. There is no conversion into
/// this `Command`: std does not expose its stdio, `env_clear` or credential settings, and a
/// conversion that dropped a `uid` change or an `env_clear` would run the child with this
/// process's credentials or environment.
///
/// # Kernel support
/// `clone3(CLONE_PIDFD | CLONE_CLEAR_SIGHAND)` (5.5) with `CLONE_VM | CLONE_VFORK` on x86_64
/// and aarch64: the kernel resets the caught signals, so the child need not query each
/// disposition. Elsewhere, and where clone3 is missing, denied (containers answer `ENOSYS` or
/// `EPERM`) or lacks `CLONE_CLEAR_SIGHAND` (`EINVAL`, 5.3 and 5.4): `clone(CLONE_PIDFD)` (5.2)
/// with `CLONE_VM | CLONE_VFORK`. [`Command::cgroup`] uses `clone3(CLONE_INTO_CGROUP)` (5.7,
/// fork semantics); where clone3 is missing or denied the child moves itself into the cgroup
/// before exec. Where the kernel does not honour `CLONE_PIDFD`, or the vfork clone is refused
/// (`ENOSYS`, `EPERM`), a plain fork whose child opens its own pidfd (5.3) and sends it to the
/// parent. The fd-table unsharing needs 5.9 (`CLOSE_RANGE_UNSHARE`), else the child copies the
/// whole table. [`features()`](crate::features) says which path this kernel takes.
///
/// # Cost
/// A spawn costs about what `posix_spawn` does and does not grow with the parent's memory. It
/// grows with the parent's fd table only as far as the child needs fds from it: the child's
/// table is a copy of the parent's entries below the highest fd it takes over, so with
/// [`Stdio::Inherit`] and [`Stdio::Null`] (which the child opens itself) it copies entries 0-2
/// only, however many fds the parent holds. A [`Stdio::Piped`] stream, a [`Stdio::Fd`] and
/// every [`Command::fd`] are placed from the parent's fd of that number: with thousands of fds
/// open, a new pipe lands above them all and the child copies that many entries (with 5,000
/// open, about twice the cost of a plain spawn). Keep such fds low (open them before the
/// many others, or `dup` them below) where this matters.
///
/// # Environment
/// Without [`Command::env`], [`Command::env_remove`] or [`Command::env_clear`], the child gets
/// the process's environment (`environ`) as it is at the spawn, as `posix_spawn` and std pass
/// it. With changes, the parent's unchanged entries are passed as they are (pointing into
/// `environ`'s strings) and the set ones are added. Either way the environment is read without
/// a lock C code would honour, as `getenv` does: it must not be modified concurrently by
/// another thread (`setenv`, `putenv`, `unsetenv`, or `std::env::set_var` / `remove_var`,
/// which Rust 2024 makes `unsafe` for exactly that reason).
///
/// # Errors
/// The builder methods record settings and never fail; [`Command::spawn`] reports what went
/// wrong.
///
/// # Example
/// ```
/// let mut child = pidfd::Command::new("sh").args(["-c", "exit 4"]).spawn()?;
/// assert_eq!(child.wait()?.code(), Some(4));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env_clear: bool,
    env: BTreeMap<OsString, Option<OsString>>,
    cwd: Option<PathBuf>,
    /// `None`: not set; [`Command::spawn`] and [`Command::status`] inherit, [`Command::output`]
    /// gives `/dev/null` as stdin and pipes stdout and stderr.
    stdio: [Option<Stdio>; 3],
    fds: Vec<(OwnedFd, RawFd)>,
    pgroup: Option<i32>,
    setsid: bool,
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<u32>>,
    sigmask: Option<Vec<i32>>,
    reset_signals: bool,
    cgroup: Option<OwnedFd>,
    /// The `pre_exec` hooks (set in `sys`, where `unsafe` code lives).
    pub(crate) hooks: Vec<sys::Hook>,
}

impl Command {
    /// A command running `program`: a path, or a name looked up in `PATH` (the child's `PATH`
    /// if set with [`Command::env`], else the parent's) as `execvp` does.
    ///
    /// An empty name or a NUL byte makes [`Command::spawn`] fail with [`Error::InvalidInput`]; a
    /// program that cannot be found or executed, with [`Error::Exec`].
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        let program = program.as_ref().to_owned();
        Command {
            args: vec![program.clone()],
            program,
            env_clear: false,
            env: BTreeMap::new(),
            cwd: None,
            stdio: [None, None, None],
            fds: Vec::new(),
            pgroup: None,
            setsid: false,
            uid: None,
            gid: None,
            groups: None,
            sigmask: None,
            reset_signals: false,
            cgroup: None,
            hooks: Vec::new(),
        }
    }

    /// Adds an argument.
    ///
    /// A NUL byte makes [`Command::spawn`] fail with [`Error::InvalidInput`].
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    ///
    /// A NUL byte makes [`Command::spawn`] fail with [`Error::InvalidInput`].
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Command {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets `argv[0]` (default: the program as given).
    ///
    /// A NUL byte makes [`Command::spawn`] fail with [`Error::InvalidInput`].
    pub fn arg0<S>(&mut self, arg0: S) -> &mut Command
    where
        S: AsRef<OsStr>,
    {
        self.args[0] = arg0.as_ref().to_owned();
        self
    }

    /// Sets an environment variable.
    ///
    /// A NUL byte makes [`Command::spawn`] fail with [`Error::InvalidInput`].
    pub fn env<K, V>(&mut self, key: K, val: V) -> &mut Command
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.env.insert(key.as_ref().to_owned(), Some(val.as_ref().to_owned()));
        self
    }

    /// Sets environment variables.
    ///
    /// A NUL byte makes [`Command::spawn`] fail with [`Error::InvalidInput`].
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

    /// Removes an environment variable.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        // As std: after `env_clear` a removal is simply no entry (`get_envs` lists none).
        if self.env_clear {
            self.env.remove(key.as_ref());
        } else {
            self.env.insert(key.as_ref().to_owned(), None);
        }
        self
    }

    /// Starts from an empty environment instead of the parent's.
    pub fn env_clear(&mut self) -> &mut Command {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// The child's working directory.
    ///
    /// The child calls `chdir` before exec; a directory it cannot enter makes [`Command::spawn`]
    /// fail with [`Error::Exec`] and the `chdir` errno.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The child's standard input.
    ///
    /// Takes what `std::process::Command`'s setter takes: a [`Stdio`] or anything that converts
    /// into one (a [`File`](std::fs::File), a pipe end of another child, ...). The child `dup2`s
    /// the fd before exec. [`Command::spawn`] reports a failure to create the
    /// pipe as [`Error::Os`], and a failure of the child to open `/dev/null` as [`Error::Exec`]
    /// with the errno.
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.stdio[0] = Some(cfg.into());
        self
    }

    /// The child's standard output.
    ///
    /// Takes what `std::process::Command`'s setter takes: a [`Stdio`] or anything that converts
    /// into one (a [`File`](std::fs::File), a pipe end of another child, ...). The child `dup2`s
    /// the fd before exec. [`Command::spawn`] reports a failure to create the
    /// pipe as [`Error::Os`], and a failure of the child to open `/dev/null` as [`Error::Exec`]
    /// with the errno.
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.stdio[1] = Some(cfg.into());
        self
    }

    /// The child's standard error.
    ///
    /// Takes what `std::process::Command`'s setter takes: a [`Stdio`] or anything that converts
    /// into one (a [`File`](std::fs::File), a pipe end of another child, ...). The child `dup2`s
    /// the fd before exec. [`Command::spawn`] reports a failure to create the
    /// pipe as [`Error::Os`], and a failure of the child to open `/dev/null` as [`Error::Exec`]
    /// with the errno.
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.stdio[2] = Some(cfg.into());
        self
    }

    /// Gives the child `fd` as file descriptor number `target` (3 or more). Apart from these and
    /// 0-2, the child inherits no fd, not even ones without close-on-exec: on every creation
    /// path the child closes every other fd before exec (with a [`pre_exec`](Command::pre_exec)
    /// hook, at the exec: the hook still sees them).
    ///
    /// The child's fd table starts as a copy of the parent's entries up to the highest fd it
    /// takes over (see the cost section of [`Command`]): a low `fd` keeps the spawn cheap when
    /// the parent holds many fds.
    ///
    /// The child closes the other fds with one `close_range` per gap between the fds it keeps
    /// (5.9); before, it closes the numbers `/proc/self/fd` lists (read without allocating), or,
    /// without `/proc`, every number below the larger `RLIMIT_NOFILE` limit (an fd may lie
    /// above a lowered soft limit). [`Command::spawn`] fails
    /// with [`Error::InvalidInput`] for a target below 3 (use the stdio setters) or one given
    /// twice.
    ///
    /// The spawn consumes the fds given here: once the child is spawned (or the spawn has
    /// failed) the parent's copies are closed, so the child holds the only copy (a pipe's other
    /// end then sees end-of-file when the child exits) and a later spawn of this `Command`
    /// passes them no more.
    pub fn fd(&mut self, fd: OwnedFd, target: RawFd) -> &mut Command {
        self.fds.push((fd, target));
        self
    }

    /// Puts the child in process group `pgid`; `0` makes it the leader of a new group, whose
    /// members [`PidFd::signal_process_group`] then reaches together.
    ///
    /// The child calls `setpgid` before exec; a refusal makes [`Command::spawn`] fail with
    /// [`Error::Exec`] and its errno (`EPERM`: a group of another session).
    pub fn process_group(&mut self, pgid: i32) -> &mut Command {
        self.pgroup = Some(pgid);
        self
    }

    /// Starts a new session (`setsid`): the child leads a new session and process group.
    ///
    /// The child calls `setsid` before exec; a refusal makes [`Command::spawn`] fail with
    /// [`Error::Exec`] and its errno.
    pub fn setsid(&mut self, on: bool) -> &mut Command {
        self.setsid = on;
        self
    }

    /// Runs the child as user `uid` (and drops supplementary groups unless [`Command::groups`]).
    ///
    /// The child calls `setresuid` before exec (the 32-bit-id call on x86, arm and sparc). Without
    /// the privilege [`Command::spawn`] fails with [`Error::Exec`] and `EPERM`; `u32::MAX` (which
    /// the kernel reads as "unchanged") with [`Error::InvalidInput`].
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.uid = Some(uid);
        self
    }

    /// Runs the child with group `gid`.
    ///
    /// The child calls `setresgid` before exec (the 32-bit-id call on x86, arm and sparc). Without
    /// the privilege [`Command::spawn`] fails with [`Error::Exec`] and `EPERM`; `u32::MAX` (which
    /// the kernel reads as "unchanged") with [`Error::InvalidInput`].
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.gid = Some(gid);
        self
    }

    /// Sets the child's supplementary groups.
    ///
    /// The child calls `setgroups` before exec (the 32-bit-id call on x86, arm and sparc). Without
    /// the privilege [`Command::spawn`] fails with [`Error::Exec`] and `EPERM`; a group `u32::MAX`
    /// with [`Error::InvalidInput`].
    pub fn groups(&mut self, groups: &[u32]) -> &mut Command {
        self.groups = Some(groups.to_vec());
        self
    }

    /// Blocks exactly these signals in the child (default: the spawning thread's mask).
    ///
    /// The child sets its mask before exec; a signal number outside `1..=SIGRTMAX` makes
    /// [`Command::spawn`] fail with [`Error::InvalidInput`].
    pub fn signal_mask(&mut self, signals: &[i32]) -> &mut Command {
        self.sigmask = Some(signals.to_vec());
        self
    }

    /// Resets every signal disposition to the default in the child, ignored ones included.
    /// Without it, caught signals and `SIGPIPE` are reset (handlers cannot survive exec, and
    /// Rust's runtime ignores `SIGPIPE`), and other ignored signals stay ignored.
    pub fn reset_signals(&mut self, on: bool) -> &mut Command {
        self.reset_signals = on;
        self
    }

    /// Starts the child in the cgroup v2 directory `dir` (an open directory fd).
    ///
    /// At spawn: `clone3(CLONE_INTO_CGROUP)` (5.7); without clone3 (or with it denied), the child
    /// writes itself into `cgroup.procs` before exec. [`Command::spawn`] fails with [`Error::Os`]
    /// when `cgroup.procs` cannot be opened for that fallback, and with [`Error::Exec`] when the
    /// kernel refuses the move.
    pub fn cgroup(&mut self, dir: OwnedFd) -> &mut Command {
        self.cgroup = Some(dir);
        self
    }

    /// Spawns the child.
    ///
    /// # Kernel support
    /// See [`Command`].
    ///
    /// # Errors
    /// An [`io::Error`], as std's `spawn`: by the one rule of [`Error`]'s conversion, a
    /// failure that is an errno is that OS error (`kind()`, `raw_os_error()` as std's), and
    /// anything more is a custom error with the [`Error`] inside. The cases, by variant:
    /// [`Error::Exec`] with the errno when the program cannot be executed (missing, not
    /// executable, ...) or a step before exec fails (`chdir`, credentials, process group,
    /// cgroup, the fork path's own `pidfd_open`): the failed child is reaped, no exit code 127
    /// is invented; [`Error::InvalidInput`] for a NUL byte in an argument, a bad fd target, a
    /// signal mask out of range, or a uid, gid or group `u32::MAX`; [`Error::Os`] when the
    /// process cannot be created (`EAGAIN`, `ENOMEM`: the failing call is named) or a pipe
    /// cannot be created; [`Error::Exec`] also when the child cannot open `/dev/null` for a
    /// [`Stdio::Null`] stream.
    pub fn spawn(&mut self) -> io::Result<Child> {
        Ok(self.spawn_typed(false)?)
    }

    /// Spawns with the defaults of [`Command::spawn`] or (`output`) of [`Command::output`] for
    /// the streams not set.
    pub(crate) fn spawn_typed(&mut self, output: bool) -> Result<Child> {
        if output {
            self.spawn_with([Stdio::Null, Stdio::Piped, Stdio::Piped])
        } else {
            self.spawn_with([Stdio::Inherit, Stdio::Inherit, Stdio::Inherit])
        }
    }

    /// Spawns, collects stdout and stderr, and waits, as `std::process::Command::output`: the
    /// streams not set get `/dev/null` as stdin and pipes as stdout and stderr. The defaults
    /// apply to this call only: the `Command` keeps its settings for a later
    /// [`spawn`](Command::spawn) or [`status`](Command::status).
    ///
    /// # Kernel support
    /// See [`Command`].
    ///
    /// # Errors
    /// As [`Command::spawn`] and [`Child::wait_with_output`].
    pub fn output(&mut self) -> io::Result<Output> {
        self.spawn_typed(true)?.wait_with_output()
    }

    /// Spawns and waits, as `std::process::Command::status`: the streams not set are
    /// inherited.
    ///
    /// The caller never sees the parent's ends of the pipes set with [`Stdio::Piped`]: stdin's
    /// is closed at once (the child reads end of file), and whatever the child writes to a
    /// piped stdout or stderr until it exits is read and discarded, so the child never blocks
    /// on a full pipe (std's `status` would wait forever there) and its writes succeed as they
    /// would with std; the ends are closed once it has exited.
    ///
    /// # Kernel support
    /// See [`Command`]; the pipes are drained by `poll` on them and the pidfd (5.3).
    ///
    /// # Errors
    /// As [`Command::spawn`] and [`Child::wait`]; [`Error::Os`] when `poll` or a read of a pipe
    /// fails.
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        drop(child.stdin.take());
        child.drain_until_exit()?;
        child.wait()
    }

    /// Replaces this process with the program, as `std::os::unix::process::CommandExt::exec`:
    /// performs every setting of this `Command` (stdio, extra fds, working directory,
    /// environment, credentials, process group or session, signal mask and dispositions, cgroup,
    /// `pre_exec` hooks) in this process, then `execve`. The streams not set are inherited. On
    /// success it does not return; otherwise it returns why the exec (or a step before it)
    /// failed.
    ///
    /// Not returning has the implications of `std::process::exit`: no destructor on any stack
    /// runs. As with std, the process may be in a "broken state" if this returns: its working
    /// directory, signal dispositions, credentials, process group and standard streams may have
    /// changed, and the targets of [`Command::fd`] replaced. Every other fd from 3 up is marked
    /// close-on-exec (not closed, so nothing anyone owns is closed under them when the exec
    /// fails), so the program inherits exactly what a spawned child would.
    ///
    /// # Kernel support
    /// Any kernel: `execve` and the steps of a spawned child; the close-on-exec marking with
    /// `close_range(CLOSE_RANGE_CLOEXEC)` (5.11), else one `fcntl` per fd `/proc/self/fd` lists.
    ///
    /// # Errors
    /// Returns the error (never `Ok`): as [`Command::spawn`] would report it, as an
    /// [`io::Error`] (an errno is the OS error, as std's `exec` returns it).
    pub fn exec(&mut self) -> io::Error {
        self.exec_typed().into()
    }

    /// The program, as `std::process::Command::get_program`: as given to [`Command::new`].
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments after `argv[0]`, as `std::process::Command::get_args`.
    pub fn get_args(&self) -> CommandArgs<'_> {
        CommandArgs::new(&self.args[1..])
    }

    /// The environment changes, as `std::process::Command::get_envs`: each variable set
    /// (`Some(value)`) or removed (`None`) here, sorted by name, without the variables
    /// inherited from the parent. After [`Command::env_clear`] only the changes made since are
    /// listed.
    pub fn get_envs(&self) -> CommandEnvs<'_> {
        CommandEnvs::new(self.env.iter())
    }

    /// The working directory set with [`Command::current_dir`], as
    /// `std::process::Command::get_current_dir`.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }
}

/// As `std::process::Command`'s: `{:?}` prints a shell-like line, the working directory
/// (`cd "dir" && `), the environment changes (`env -i ` after [`Command::env_clear`], else
/// `env -u NAME ` for removed variables; `NAME="value" ` for set ones), `["program"] ` when
/// `argv[0]` differs from the program, then `argv` with each element quoted; `{:#?}` prints every
/// setting as a struct.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("Command")
                .field("program", &self.program)
                .field("args", &self.args)
                .field("env_clear", &self.env_clear)
                .field("env", &self.env)
                .field("cwd", &self.cwd)
                .field("stdio", &self.stdio)
                .field("fds", &self.fds)
                .field("pgroup", &self.pgroup)
                .field("setsid", &self.setsid)
                .field("uid", &self.uid)
                .field("gid", &self.gid)
                .field("groups", &self.groups)
                .field("sigmask", &self.sigmask)
                .field("reset_signals", &self.reset_signals)
                .field("cgroup", &self.cgroup)
                .field("pre_exec hooks", &self.hooks.len())
                .finish();
        }
        if let Some(cwd) = &self.cwd {
            write!(f, "cd {cwd:?} && ")?;
        }
        if self.env_clear {
            f.write_str("env -i ")?;
        } else {
            let mut removed = self.get_envs().filter(|(_, v)| v.is_none()).peekable();
            if removed.peek().is_some() {
                f.write_str("env ")?;
            }
            for (k, _) in removed {
                write!(f, "-u {} ", k.to_string_lossy())?;
            }
        }
        for (k, v) in self.get_envs() {
            if let Some(v) = v {
                write!(f, "{}={v:?} ", k.to_string_lossy())?;
            }
        }
        if self.program != self.args[0] {
            write!(f, "[{:?}] ", self.program)?;
        }
        write!(f, "{:?}", self.args[0])?;
        for a in &self.args[1..] {
            write!(f, " {a:?}")?;
        }
        Ok(())
    }
}

