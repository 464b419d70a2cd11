//! [`Command::spawn`]'s work: the child's plan built from the `Command` in one step (argv,
//! environment, exec candidates, fds, credentials), the creation path chosen by the spawn
//! policy (`method.rs`) and retried on a refusal, and the outcome turned into a [`Child`] or
//! an error.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::process::{ChildStderr, ChildStdin, ChildStdout};

use super::Command;
use crate::error::{Error, Result};
use crate::sys::SpawnError;
use crate::{Child, PidFd, Stdio, method, sys};

/// The child's plan for one spawn or exec, and what must stay open until the child has it.
struct Built {
    plan: sys::ChildPlan,
    /// The memory argv and envp point into.
    strings: Vec<CString>,
    /// The child's ends of new pipes, and `cgroup.procs`.
    keep: Vec<OwnedFd>,
    /// The parent's ends of new pipes, by stream.
    parents: [Option<OwnedFd>; 3],
    /// The fds of [`Command::fd`], consumed by the spawn.
    fds: Vec<(OwnedFd, RawFd)>,
}

impl Command {
    /// Spawns with `defaults` for the streams not set.
    pub(super) fn spawn_with(&mut self, defaults: [Stdio; 3]) -> Result<Child> {
        let Built { mut plan, strings, mut keep, parents, fds } = self.build(defaults)?;
        let own_memory = plan.needs_own_memory();
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
        drop((strings, keep, fds));
        match result {
            Ok((pid, fd)) => {
                let [stdin, stdout, stderr] = parents;
                Ok(Child {
                    pidfd: crate::child::ReapOnDrop(Some(PidFd::from_owned_unchecked(fd))),
                    pid,
                    stdin: stdin.map(ChildStdin::from),
                    stdout: stdout.map(ChildStdout::from),
                    stderr: stderr.map(ChildStderr::from),
                })
            }
            Err(SpawnError::Child { errno, child }) => {
                // A step before or at exec failed: the child exited (127); reap it through its
                // pidfd (unless that was done already) and report the errno.
                if let Some((_pid, fd)) = child {
                    let _ = PidFd::from_owned_unchecked(fd).wait();
                }
                Err(self.exec_error(errno))
            }
            Err(SpawnError::Create { op, errno }) => Err(Error::os(op, std::io::Error::from_raw_os_error(errno))),
        }
    }

    /// [`Command::exec`]: the plan of a spawn with every stream inherited unless set, carried
    /// out in this process. Returns only on failure.
    pub(super) fn exec_typed(&mut self) -> Error {
        let mut built = match self.build([Stdio::Inherit, Stdio::Inherit, Stdio::Inherit]) {
            Ok(built) => built,
            Err(e) => return e,
        };
        // No clone to place us: this process writes itself into `cgroup.procs`.
        if let Err(e) = self.cgroup_procs_fallback(&mut built.plan, &mut built.keep) {
            return e;
        }
        let errno = sys::exec_in_place(&mut built.plan);
        self.exec_error(errno)
    }

    fn exec_error(&self, errno: i32) -> Error {
        Error::Exec {
            program: self.program.to_string_lossy().into_owned(),
            source: std::io::Error::from_raw_os_error(errno),
        }
    }

    /// The child's plan for one spawn or exec, with `defaults` for the streams not set: argv,
    /// environment and exec candidates ([`Command::prepare`]), the stdio and extra fds, hooks.
    fn build(&mut self, defaults: [Stdio; 3]) -> Result<Built> {
        // Consumed by this spawn, whatever its outcome: closed in the parent on return.
        let fds = std::mem::take(&mut self.fds);
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
                    let (r, w) = sys::pipe().map_err(|e| Error::os("pipe2", e))?;
                    let (r, w) = (OwnedFd::from(r), OwnedFd::from(w));
                    let (ours, theirs) = if i == 0 { (w, r) } else { (r, w) };
                    plan.fd_map.push((theirs.as_raw_fd(), target));
                    keep.push(theirs);
                    parents[i] = Some(ours);
                }
                Stdio::Fd(fd) => plan.fd_map.push((fd.as_raw_fd(), target)),
                Stdio::ParentStdout => plan.fd_map.push((1, target)),
                Stdio::ParentStderr => plan.fd_map.push((2, target)),
            }
        }
        for (fd, target) in &fds {
            if *target < 3 {
                return Err(Error::InvalidInput("extra fds need a target of 3 or more"));
            }
            if fds.iter().filter(|(_, t)| t == target).count() > 1 {
                return Err(Error::InvalidInput("an fd target was given twice"));
            }
            plan.fd_map.push((fd.as_raw_fd(), *target));
        }
        if !self.hooks.is_empty() {
            plan.hooks = Some(self.hooks.as_mut_slice() as *mut [sys::Hook]);
        }
        Ok(Built { plan, strings, keep, parents, fds })
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
        if self.sigmask.iter().flatten().any(|&s| s <= 0 || s > libc::SIGRTMAX()) {
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
