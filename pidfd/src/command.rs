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
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io::Read;
#[cfg(has_io_pipe)]
use std::io::{PipeReader, PipeWriter};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};

use crate::error::{Error, Result};
use crate::sys::SpawnError;
use crate::{PidFd, method, reaper, sys};

/// What one of the child's standard streams is connected to: `std::process::Stdio`'s
/// constructors ([`Stdio::inherit`], [`Stdio::null`], [`Stdio::piped`]) and conversions (from a
/// [`File`](std::fs::File), an [`OwnedFd`], a pipe end of another child, [`std::io::stdout`] and
/// [`std::io::stderr`], and `FromRawFd`), and the same choices as variants.
#[derive(Debug, Default)]
#[non_exhaustive]
pub enum Stdio {
    /// The parent's stream.
    #[default]
    Inherit,
    /// `/dev/null`, opened by the child itself (read-only for stdin, write-only for stdout and
    /// stderr, as std does), so it costs the parent nothing and keeps the child's fd table
    /// small.
    Null,
    /// A new pipe; the parent's end is in [`Child::stdin`] / `stdout` / `stderr`.
    Piped,
    /// This file descriptor.
    Fd(OwnedFd),
    /// This process's standard output (fd 1 as it is at the spawn), as
    /// `Stdio::from(std::io::stdout())` gives.
    ParentStdout,
    /// This process's standard error (fd 2 as it is at the spawn), as
    /// `Stdio::from(std::io::stderr())` gives.
    ParentStderr,
}

impl Stdio {
    /// The parent's stream ([`Stdio::Inherit`]), as `std::process::Stdio::inherit`.
    pub fn inherit() -> Stdio {
        Stdio::Inherit
    }

    /// `/dev/null` ([`Stdio::Null`]), as `std::process::Stdio::null`.
    pub fn null() -> Stdio {
        Stdio::Null
    }

    /// A new pipe ([`Stdio::Piped`]), as `std::process::Stdio::piped`.
    pub fn piped() -> Stdio {
        Stdio::Piped
    }
}

/// [`Stdio::Fd`]: the child gets this fd as the stream.
impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio::Fd(fd)
    }
}

/// [`Stdio::Fd`]: the child gets this file as the stream.
impl From<std::fs::File> for Stdio {
    fn from(f: std::fs::File) -> Stdio {
        Stdio::Fd(f.into())
    }
}

/// [`Stdio::Fd`] of a pipe end: the pipe of another child ([`Child::stdin`], `stdout`,
/// `stderr`), or one of [`std::io::pipe`].
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
impl From<PipeReader> for Stdio {
    fn from(p: PipeReader) -> Stdio {
        Stdio::Fd(p.into())
    }
}

/// [`Stdio::Fd`] of a pipe end: the pipe of another child ([`Child::stdin`], `stdout`,
/// `stderr`), or one of [`std::io::pipe`].
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
impl From<PipeWriter> for Stdio {
    fn from(p: PipeWriter) -> Stdio {
        Stdio::Fd(p.into())
    }
}

macro_rules! stdio_from_std_child_pipe {
    ($($t:ty),*) => {$(
        /// [`Stdio::Fd`] of a pipe end of a child spawned by `std::process::Command`, to connect
        /// it to this child.
        impl From<$t> for Stdio {
            fn from(p: $t) -> Stdio {
                Stdio::Fd(p.into())
            }
        }
    )*};
}
stdio_from_std_child_pipe!(std::process::ChildStdin, std::process::ChildStdout, std::process::ChildStderr);

/// [`Stdio::ParentStdout`]: the child writes where this process's stdout goes.
impl From<std::io::Stdout> for Stdio {
    fn from(_: std::io::Stdout) -> Stdio {
        Stdio::ParentStdout
    }
}

/// [`Stdio::ParentStderr`]: the child writes where this process's stderr goes.
impl From<std::io::Stderr> for Stdio {
    fn from(_: std::io::Stderr) -> Stdio {
        Stdio::ParentStderr
    }
}

/// A process to spawn: a builder with the parts of `std::process::Command` that supervisors
/// use, plus process-group, session, credentials, signal and cgroup control.
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
/// # Ok::<(), pidfd::Error>(())
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
}

impl Command {
    /// A command running `program`: a path, or a name looked up in `PATH` (the child's `PATH`
    /// if set with [`Command::env`], else the parent's) as `execvp` does.
    ///
    /// An empty name or a NUL byte makes [`Command::spawn`] fail with [`Error::InvalidInput`]; a
    /// program that cannot be found or executed, with [`Error::Exec`].
    pub fn new(program: impl AsRef<OsStr>) -> Command {
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
        }
    }

    /// Adds an argument.
    ///
    /// A NUL byte makes [`Command::spawn`] fail with [`Error::InvalidInput`].
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
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
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut Command {
        self.args[0] = arg0.as_ref().to_owned();
        self
    }

    /// Sets an environment variable.
    ///
    /// A NUL byte makes [`Command::spawn`] fail with [`Error::InvalidInput`].
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.env.insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
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
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.insert(key.as_ref().to_owned(), None);
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
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
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
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
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
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
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
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.stdio[2] = Some(cfg.into());
        self
    }

    /// Gives the child `fd` as file descriptor number `target` (3 or more). Apart from these and
    /// 0-2, the child inherits no fd, not even ones without close-on-exec: on every creation
    /// path the child closes every other fd before exec.
    ///
    /// The child's fd table starts as a copy of the parent's entries up to the highest fd it
    /// takes over (see the cost section of [`Command`]): a low `fd` keeps the spawn cheap when
    /// the parent holds many fds.
    ///
    /// The child closes the other fds with one `close_range` per gap between the fds it keeps
    /// (5.9); before, it closes the numbers `/proc/self/fd` lists (read without allocating), or,
    /// without `/proc`, every number below the `RLIMIT_NOFILE` soft limit. [`Command::spawn`] fails
    /// with [`Error::InvalidInput`] for a target below 3 (use the stdio setters) or one given
    /// twice.
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
    /// [`Error::Exec`] with the errno when the program cannot be executed (missing, not
    /// executable, ...) or a step before exec fails (`chdir`, credentials, process group,
    /// cgroup, the fork path's own `pidfd_open`): the failed child is reaped, no exit code 127
    /// is invented; [`Error::InvalidInput`] for a NUL byte in an argument, a bad fd target, a
    /// signal mask out of range, or a uid, gid or group `u32::MAX`; [`Error::Os`] when the
    /// process cannot be created (`EAGAIN`, `ENOMEM`: the failing call is named) or a pipe
    /// cannot be created; [`Error::Exec`] also when the child cannot open `/dev/null` for a
    /// [`Stdio::Null`] stream.
    pub fn spawn(&mut self) -> Result<Child> {
        self.spawn_with([Stdio::Inherit, Stdio::Inherit, Stdio::Inherit])
    }

    /// Spawns with `defaults` for the streams not set.
    fn spawn_with(&mut self, defaults: [Stdio; 3]) -> Result<Child> {
        let mut keep: Vec<OwnedFd> = Vec::new();
        let mut plan = sys::ChildPlan::new();
        let strings = self.prepare(&mut plan)?;
        let mut parents: [Option<OwnedFd>; 3] = [None, None, None];
        for (i, (s, default)) in self.stdio.iter().zip(&defaults).enumerate() {
            let s = s.as_ref().unwrap_or(default);
            let target = i as RawFd;
            match s {
                Stdio::Inherit => {}
                // The child opens /dev/null itself, after taking its own fd table.
                Stdio::Null => plan.null[i] = true,
                Stdio::Piped => {
                    let (r, w) = std::io::pipe().map_err(|e| Error::os("pipe", e))?;
                    let (ours, theirs): (OwnedFd, OwnedFd) =
                        if i == 0 { (w.into(), r.into()) } else { (r.into(), w.into()) };
                    plan.fd_map.push((theirs.as_raw_fd(), target));
                    keep.push(theirs);
                    parents[i] = Some(ours);
                }
                Stdio::Fd(fd) => plan.fd_map.push((fd.as_raw_fd(), target)),
                Stdio::ParentStdout => plan.fd_map.push((1, target)),
                Stdio::ParentStderr => plan.fd_map.push((2, target)),
            }
        }
        for (fd, target) in &self.fds {
            if *target < 3 {
                return Err(Error::InvalidInput("extra fds need a target of 3 or more"));
            }
            if self.fds.iter().filter(|(_, t)| t == target).count() > 1 {
                return Err(Error::InvalidInput("an fd target was given twice"));
            }
            plan.fd_map.push((fd.as_raw_fd(), *target));
        }
        let own_memory = plan.changes_credentials();
        let cgroup = self.cgroup.as_ref().map(|cg| cg.as_raw_fd());
        let mut method = method::first(own_memory, cgroup);
        if cgroup.is_some() && !matches!(method, sys::Method::Clone3Cgroup { .. }) {
            self.cgroup_procs_fallback(&mut plan, &mut keep)?;
        }
        let result = loop {
            let result = sys::spawn_child(&mut plan, method);
            let next = match &result {
                Err(SpawnError::Create { errno, .. }) => method::next(method, *errno, own_memory),
                _ => None,
            };
            let Some(next) = next else { break result };
            if matches!(method, sys::Method::Clone3Cgroup { .. }) {
                // clone3 missing or denied at spawn time: the child places itself.
                self.cgroup_procs_fallback(&mut plan, &mut keep)?;
            }
            method = next;
        };
        drop(strings);
        drop(keep);
        let exec_error = |errno| Error::Exec {
            program: self.program.to_string_lossy().into_owned(),
            source: std::io::Error::from_raw_os_error(errno),
        };
        match result {
            Ok((pid, fd)) => {
                let [stdin, stdout, stderr] = parents;
                Ok(Child {
                    pidfd: Some(PidFd::from_owned_unchecked(fd)),
                    pid,
                    stdin: stdin.map(PipeWriter::from),
                    stdout: stdout.map(PipeReader::from),
                    stderr: stderr.map(PipeReader::from),
                })
            }
            Err(SpawnError::Child { errno, child }) => {
                // A step before or at exec failed: the child exited (127); reap it through its
                // pidfd (unless that was done already) and report the errno.
                if let Some((_pid, fd)) = child {
                    let _ = PidFd::from_owned_unchecked(fd).wait();
                }
                Err(exec_error(errno))
            }
            Err(SpawnError::Create { op, errno }) => Err(Error::os(op, std::io::Error::from_raw_os_error(errno))),
        }
    }

    /// Opens `cgroup.procs` of the target cgroup for the child to write itself into.
    fn cgroup_procs_fallback(&self, plan: &mut sys::ChildPlan, keep: &mut Vec<OwnedFd>) -> Result<()> {
        let Some(cg) = &self.cgroup else { return Ok(()) };
        if plan.cgroup_procs.is_some() {
            return Ok(());
        }
        let procs = sys::openat(cg.as_raw_fd(), c"cgroup.procs", libc::O_WRONLY)
            .map_err(|e| Error::os("open cgroup.procs", e))?;
        plan.cgroup_procs = Some(procs.as_raw_fd());
        keep.push(procs);
        Ok(())
    }

    /// Builds argv, envp, the exec candidates and the other plain settings. The returned
    /// strings own the memory argv and envp point into (with `environ`'s strings for the
    /// parent's entries passed as they are).
    fn prepare(&self, plan: &mut sys::ChildPlan) -> Result<Vec<CString>> {
        let cstr = |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| Error::InvalidInput("a NUL byte in an argument"));
        let mut strings = Vec::with_capacity(self.args.len());
        for a in &self.args {
            strings.push(cstr(a)?);
        }
        plan.argv = strings.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect();
        // The environment as std's `vars_os` sees it, copied under std's environment lock (so a
        // concurrent `set_var` cannot free what the child reads), minus the entries set or
        // removed here, plus those set here.
        let mut envp = Vec::new();
        let mut entry = |k: &OsStr, v: &OsStr| -> Result<()> {
            let mut kv = Vec::with_capacity(k.len() + 1 + v.len() + 1);
            kv.extend_from_slice(k.as_bytes());
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            let kv = CString::new(kv).map_err(|_| Error::InvalidInput("a NUL byte in the environment"))?;
            // The heap buffer does not move when `strings` grows.
            envp.push(kv.as_ptr());
            strings.push(kv);
            Ok(())
        };
        if !self.env_clear {
            for (k, v) in std::env::vars_os() {
                if !self.env.contains_key(&k) {
                    entry(&k, &v)?;
                }
            }
        }
        for (k, v) in &self.env {
            if let Some(v) = v {
                entry(k, v)?;
            }
        }
        envp.push(std::ptr::null());
        plan.envp = envp;
        // PATH: the child's if set here, else the parent's (only read for a bare name).
        plan.candidates = if self.program.as_bytes().contains(&b'/') {
            candidates(&self.program, None)?
        } else {
            match self.env.get(OsStr::new("PATH")) {
                Some(Some(path)) => candidates(&self.program, Some(path))?,
                _ => candidates(&self.program, std::env::var_os("PATH").as_deref())?,
            }
        };
        plan.cwd = self.cwd.as_ref().map(|d| cstr(d.as_os_str())).transpose()?;
        plan.setsid = self.setsid;
        plan.pgroup = self.pgroup;
        plan.uid = self.uid;
        plan.gid = self.gid;
        plan.groups = self.groups.clone();
        plan.sigmask = self.sigmask.clone();
        plan.reset_all_signals = self.reset_signals;
        if let Some(sigs) = &self.sigmask
            && sigs.iter().any(|&s| s <= 0 || s > libc::SIGRTMAX())
        {
            return Err(Error::InvalidInput("signal number out of range in the mask"));
        }
        // (uid_t)-1 is "leave unchanged" to setresuid/setresgid: the child would keep the
        // parent's ids while the caller asked for others.
        if self.uid == Some(u32::MAX)
            || self.gid == Some(u32::MAX)
            || self.groups.as_ref().is_some_and(|g| g.contains(&u32::MAX))
        {
            return Err(Error::InvalidInput("uid/gid u32::MAX is \"unchanged\" to the kernel, not an id"));
        }
        Ok(strings)
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
    pub fn output(&mut self) -> Result<Output> {
        self.spawn_with([Stdio::Null, Stdio::Piped, Stdio::Piped])?.wait_with_output()
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
    pub fn status(&mut self) -> Result<ExitStatus> {
        let mut child = self.spawn()?;
        drop(child.stdin.take());
        child.drain_until_exit()?;
        child.wait()
    }

    /// The program, as `std::process::Command::get_program`: as given to [`Command::new`].
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments after `argv[0]`, as `std::process::Command::get_args` (which returns a
    /// `std::process::CommandArgs`, a type only std can build; this iterator has the same items
    /// and also knows its length and runs backwards).
    pub fn get_args(&self) -> impl ExactSizeIterator<Item = &OsStr> + DoubleEndedIterator {
        self.args[1..].iter().map(OsString::as_os_str)
    }

    /// The environment changes, as `std::process::Command::get_envs` (which returns a
    /// `std::process::CommandEnvs`, a type only std can build; this iterator has the same
    /// items): each variable set (`Some(value)`) or removed (`None`) here, sorted by name, without
    /// the variables inherited from the parent. After [`Command::env_clear`] only the changes
    /// made since are listed.
    pub fn get_envs(&self) -> impl ExactSizeIterator<Item = (&OsStr, Option<&OsStr>)> {
        self.env.iter().map(|(k, v)| (k.as_os_str(), v.as_deref()))
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

/// Paths for execve, `execvp`-style: a program with a `/` is used as is, else each `PATH` entry
/// (an empty entry is the current directory; default `/bin:/usr/bin`).
fn candidates(program: &OsStr, path: Option<&OsStr>) -> Result<Vec<CString>> {
    let bytes = program.as_bytes();
    if bytes.is_empty() {
        return Err(Error::InvalidInput("empty program name"));
    }
    let nul = |v: Vec<u8>| CString::new(v).map_err(|_| Error::InvalidInput("a NUL byte in the program name"));
    if bytes.contains(&b'/') {
        return Ok(vec![nul(bytes.to_vec())?]);
    }
    let path = path.map(OsStr::as_bytes).unwrap_or(b"/bin:/usr/bin");
    path.split(|&b| b == b':')
        .map(|dir| {
            let mut full = if dir.is_empty() { b".".to_vec() } else { dir.to_vec() };
            full.push(b'/');
            full.extend_from_slice(bytes);
            nul(full)
        })
        .collect()
}

/// Covers the common case through std's stable getters: program, arguments, environment
/// changes and working directory. std does not expose its stdio settings, `env_clear`, or its
/// `CommandExt` settings (uid, process group, pre_exec hooks): set those on the result.
///
/// **Caution:** a std command that drops privileges (`CommandExt::uid`, `gid`, `groups`) or
/// relies on a `pre_exec` hook loses that in the conversion, and its child would run with this
/// process's credentials. Set those on the `pidfd::Command`, or spawn the std command itself
/// with [`spawn`](crate::spawn), which keeps every std setting.
impl From<std::process::Command> for Command {
    fn from(c: std::process::Command) -> Command {
        let mut cmd = Command::new(c.get_program());
        cmd.args(c.get_args());
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(d) = c.get_current_dir() {
            cmd.current_dir(d);
        }
        cmd
    }
}

/// A spawned child: owns its [`PidFd`] and the parent's ends of its pipes.
///
/// Dropping a `Child` that has not been waited for never leaves a zombie: a single background
/// thread (started on first need) reaps it when it exits. [`Child::detach`] opts out.
///
/// # Kernel support
/// Waiting and signalling as [`PidFd`] (5.3 and later).
#[derive(Debug)]
pub struct Child {
    pidfd: Option<PidFd>,
    pid: i32,
    /// The write end of the child's stdin, with [`Stdio::Piped`].
    pub stdin: Option<PipeWriter>,
    /// The read end of the child's stdout, with [`Stdio::Piped`].
    pub stdout: Option<PipeReader>,
    /// The read end of the child's stderr, with [`Stdio::Piped`].
    pub stderr: Option<PipeReader>,
}

impl Child {
    /// The child's pid (in the caller's PID namespace), as the kernel returned it at creation;
    /// it names the child only until the child is reaped (use [`Child::pidfd`] after that).
    pub fn id(&self) -> i32 {
        self.pid
    }

    /// The child's pidfd.
    pub fn pidfd(&self) -> &PidFd {
        self.pidfd.as_ref().expect("present until into_pidfd/detach")
    }

    /// Takes the pidfd: the caller now reaps the child (or it stays a zombie until the pidfd's
    /// owner waits or the process exits).
    ///
    /// # Kernel support
    /// Any kernel: nothing but the `close` of the pipe ends still held in [`Child::stdin`],
    /// `stdout` and `stderr`.
    pub fn into_pidfd(mut self) -> PidFd {
        self.pidfd.take().expect("present until into_pidfd/detach")
    }

    /// Lets the child run on its own: nobody reaps it when it exits (it becomes a zombie until
    /// this process exits, unless `SIGCHLD` is ignored).
    ///
    /// # Kernel support
    /// Any kernel: `close` of the pidfd and of the pipe ends still held; nothing is waited for.
    pub fn detach(self) {
        drop(self.into_pidfd());
    }

    /// Waits for the child to exit.
    ///
    /// # Kernel support
    /// As [`PidFd::wait`].
    ///
    /// # Errors
    /// As [`PidFd::wait`].
    pub fn wait(&mut self) -> Result<ExitStatus> {
        drop(self.stdin.take());
        self.pidfd().wait()
    }

    /// The exit status if the child has exited.
    ///
    /// # Kernel support
    /// As [`PidFd::try_wait`].
    ///
    /// # Errors
    /// As [`PidFd::try_wait`].
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.pidfd().try_wait()
    }

    /// Sends `SIGKILL`. As `std::process::Child::kill`: if the child has already exited (or
    /// was reaped through this `Child`), `Ok(())` is returned.
    ///
    /// # Kernel support
    /// As [`PidFd::kill`].
    ///
    /// # Errors
    /// As [`PidFd::kill`], except [`Error::Exited`], which is `Ok(())` here.
    pub fn kill(&mut self) -> Result<()> {
        match self.pidfd().kill() {
            Err(Error::Exited) => Ok(()),
            r => r,
        }
    }

    /// Reads and discards what the child writes to the piped stdout and stderr until it exits
    /// (or both pipes are closed), then closes them. Reaps nothing.
    fn drain_until_exit(&mut self) -> Result<()> {
        let mut pipes: Vec<PipeReader> = [self.stdout.take(), self.stderr.take()].into_iter().flatten().collect();
        let mut buf = [0u8; 8192];
        let pidfd = self.pidfd().as_raw_fd();
        while !pipes.is_empty() {
            let mut fds: Vec<(RawFd, bool)> =
                std::iter::once(pidfd).chain(pipes.iter().map(|p| p.as_raw_fd())).map(|fd| (fd, false)).collect();
            sys::poll_many(&mut fds, -1).map_err(|e| Error::os("poll", e))?;
            if fds[0].1 {
                // Exited: what it wrote last is not wanted either.
                break;
            }
            let mut open = Vec::with_capacity(pipes.len());
            for (mut p, &(_, ready)) in pipes.into_iter().zip(&fds[1..]) {
                if ready {
                    match p.read(&mut buf) {
                        Ok(0) => continue,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Error::os("read", e)),
                    }
                }
                open.push(p);
            }
            pipes = open;
        }
        Ok(())
    }

    /// Closes stdin, reads stdout and stderr to the end (concurrently), and waits.
    ///
    /// # Kernel support
    /// As [`PidFd::wait`].
    ///
    /// # Errors
    /// As [`PidFd::wait`]; [`Error::Os`] for a read error.
    pub fn wait_with_output(mut self) -> Result<Output> {
        drop(self.stdin.take());
        let (out, err) = (self.stdout.take(), self.stderr.take());
        let read_all = |r: Option<PipeReader>| -> std::io::Result<Vec<u8>> {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                r.read_to_end(&mut v)?;
            }
            Ok(v)
        };
        let (stdout, stderr) = std::thread::scope(|s| {
            let e = s.spawn(|| read_all(err));
            let o = read_all(out);
            (o, e.join().unwrap_or_else(|_| Err(std::io::ErrorKind::Other.into())))
        });
        let stdout = stdout.map_err(|e| Error::os("read stdout", e))?;
        let stderr = stderr.map_err(|e| Error::os("read stderr", e))?;
        Ok(Output { status: self.wait()?, stdout, stderr })
    }
}

/// Reaps the child in the background once it exits (unless waited for, detached or taken
/// with [`Child::into_pidfd`]), so no zombie is left.
///
/// A child that cannot be handed to the reaper (no thread) stays a zombie until this process exits.
///
/// # Kernel support
/// As [`PidFd::try_wait`]; the background thread polls the pidfds (5.3).
impl Drop for Child {
    fn drop(&mut self) {
        if let Some(fd) = self.pidfd.take()
            && fd.remembered().is_none()
            && matches!(fd.try_wait(), Ok(None))
        {
            reaper::adopt(fd);
        }
    }
}

/// The child's pidfd.
impl AsFd for Child {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd().as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup() {
        let c = candidates(OsStr::new("ls"), Some(OsStr::new("/a::/b"))).unwrap();
        let c: Vec<_> = c.iter().map(|s| s.to_str().unwrap()).collect();
        assert_eq!(c, ["/a/ls", "./ls", "/b/ls"]);
        assert_eq!(candidates(OsStr::new("./x"), None).unwrap()[0].to_str().unwrap(), "./x");
        assert_eq!(candidates(OsStr::new("x"), None).unwrap().len(), 2);
        assert!(candidates(OsStr::new(""), None).is_err());
    }
}
