//! Opening a process's namespace through its pidfd: the `PIDFD_GET_*_NAMESPACE` ioctl, or the
//! `/proc/<pid>/ns/<name>` fallback re-checked through the pidfd. Below [`crate::enter`] and
//! the [`PidFdNsExt`](crate::PidFdNsExt) facade, above [`crate::nsfd`].

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use pidfd::{Feature, PidFd};
use pidfd_sys as uapi;

use crate::error::from_errno;
use crate::nsfd::missing_ns_file;
use crate::path::{self, Who};
use crate::sys;
use crate::{Error, Namespace, NsFd, Result};

/// [`PidFdNsExt::namespace`](crate::PidFdNsExt::namespace): the ioctl where the kernel has it,
/// else [`proc_namespace`].
#[inline]
pub(crate) fn namespace(pidfd: &PidFd, ns: Namespace) -> Result<NsFd> {
    if Feature::NamespaceIoctls.is_supported() {
        return match sys::pidfd_get_namespace(pidfd.as_raw_fd(), ns.pidfd_ioctl()) {
            Ok(fd) => Ok(NsFd::new(fd, ns)),
            Err(e) => Err(ioctl_error(ns, e)),
        };
    }
    proc_namespace(pidfd, ns)
}

/// Maps a `PIDFD_GET_*_NAMESPACE` error.
#[cold]
fn ioctl_error(ns: Namespace, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => Error::NamespaceDisabled { namespace: ns },
        _ => from_errno("ioctl(PIDFD_GET_*_NAMESPACE)", e),
    }
}

/// The fallback of [`PidFdNsExt::namespace`]: `/proc/<pid>/ns/<name>`, everything read through
/// one open `/proc` (one procfs superblock, so one PID namespace for every path below).
///
/// Why the fd returned is the process's own, never another process's:
/// 1. `<pid>` is the pidfd's fdinfo `Pid:` read through that same `/proc`: the pid the process
///    holds *in the PID namespace of this procfs*, which is the namespace `/proc/<pid>` is
///    looked up in. (`PidFd::pid` would give the pid in the caller's PID namespace: different
///    numbers when `/proc` belongs to an ancestor namespace, as in a container that shares the
///    host's `/proc`.)
/// 2. After the open, the pidfd is not readable: the process had not exited then, so it had
///    not exited at any earlier moment either. A process keeps its pid from its creation until
///    it is reaped, and it is reaped only after it exited: it held `<pid>` from the fdinfo
///    read through the open, so the open found it and no other process (a pid is held by one
///    process at a time). This check also answers [`pidfd::Error::Exited`] for a zombie, as the ioctl
///    does (a zombie still shows its user and PID namespaces in `/proc`).
///
/// A second fdinfo read after the open would add nothing to 2: a pid changes hands only after
/// its process was reaped, which 2 rules out.
pub(crate) fn proc_namespace(pidfd: &PidFd, ns: Namespace) -> Result<NsFd> {
    let proc = sys::open_proc().map_err(|e| Error::os("open /proc (is it mounted?)", e))?;
    let proc = proc.as_raw_fd();
    match sys::fstatfs_type(proc) {
        Ok(uapi::PROC_SUPER_MAGIC) => {}
        Ok(_) => return Err(Error::os("check /proc (it is not procfs)", io::Error::from_raw_os_error(libc::EINVAL))),
        Err(e) => return Err(Error::os("fstatfs(/proc)", e)),
    }
    let pid = fdinfo_pid(proc, pidfd)?;
    let mut buf = [0; 64];
    let opened = sys::openat_ns_file(proc, path::rel_ns_path(&mut buf, Who::Pid(pid), ns)?);
    let fd = match opened {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(missing(proc, pidfd, pid, ns, e)),
        Err(e) => return Err(from_errno("open /proc/<pid>/ns/<name>", e)),
    };
    match sys::fstatfs_type(fd.as_raw_fd()) {
        Ok(t) if t == uapi::NSFS_MAGIC => {}
        Ok(_) => {
            return Err(Error::os(
                "check /proc/<pid>/ns/<name> (not on nsfs)",
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        Err(e) => return Err(Error::os("fstatfs", e)),
    }
    if exited(pidfd)? { Err(Error::Pidfd(pidfd::Error::Exited)) } else { Ok(NsFd::new(fd, ns)) }
}

/// Whether the process has exited (a zombie included): its pidfd is readable.
fn exited(pidfd: &PidFd) -> Result<bool> {
    sys::poll_readable_now(pidfd.as_fd()).map_err(|e| Error::os("poll(pidfd)", e))
}

/// The pidfd's fdinfo `Pid:` as the procfs `proc` sees it: `-1` is a reaped process, `0` one
/// that has no pid in that procfs's PID namespace (it lives outside it).
fn fdinfo_pid(proc: RawFd, pidfd: &PidFd) -> Result<i32> {
    let mut path = [0; 64];
    let path = path::rel_fdinfo(&mut path, pidfd.as_raw_fd())?;
    let mut text = [0; 512];
    let n = sys::read_at(proc, path, &mut text).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => {
            Error::os("read /proc/self/fdinfo/<pidfd> (is /proc mounted for the caller's PID namespace?)", e)
        }
        _ => from_errno("read /proc/self/fdinfo/<pidfd>", e),
    })?;
    match pidfd::__private::fdinfo_pid(&text[..n]) {
        Some(-1) => Err(Error::Pidfd(pidfd::Error::Exited)),
        Some(0) => Err(Error::Pidfd(pidfd::Error::OtherPidNamespace)),
        Some(pid) if pid > 0 => Ok(pid),
        _ => Err(Error::Pidfd(pidfd::Error::NotPidfd)),
    }
}

/// `/proc/<pid>/ns/<name>` does not exist although the process held `pid` when the fdinfo
/// was read. In order:
/// - the pidfd is readable: the process has exited (a zombie: its namespaces are detached);
/// - `/proc/<pid>` itself is missing while the process has still not exited: this `/proc`
///   hides it (mounted with `hidepid=2`/`invisible`, which hides the processes the caller has
///   no `PTRACE_MODE_READ` access to): [`pidfd::Error::PermissionDenied`], as the ioctl answers
///   `EACCES` for exactly those processes;
/// - the caller has the file of that kind (the kernel has the kind): `pid_for_children` is
///   hidden while no process exists in that PID namespace (until 7.1), and any other kind is
///   missing when the thread-group leader exited before the other threads (the ioctl answers
///   `ESRCH` then: [`pidfd::Error::Exited`]);
/// - otherwise the kernel has no namespaces of the kind (or `/proc` lacks `ns`).
#[cold]
fn missing(proc: RawFd, pidfd: &PidFd, pid: i32, ns: Namespace, e: io::Error) -> Error {
    if exited(pidfd).unwrap_or(false) {
        return Error::Pidfd(pidfd::Error::Exited);
    }
    let mut buf = [0; 64];
    match path::rel_pid_dir(&mut buf, pid).map(|dir| sys::exists_at(proc, dir)) {
        Ok(Err(hidden)) if hidden.raw_os_error() == Some(libc::ENOENT) => {
            return match exited(pidfd) {
                Ok(true) => Error::Pidfd(pidfd::Error::Exited),
                Ok(false) => Error::Pidfd(pidfd::Error::PermissionDenied { source: e }),
                Err(e) => e,
            };
        }
        Ok(Err(other)) => return from_errno("stat /proc/<pid>", other),
        Ok(Ok(())) | Err(_) => {}
    }
    let mut buf = [0; 64];
    match path::rel_ns_path(&mut buf, Who::ThreadSelf, ns).map(|p| sys::exists_at(proc, p)) {
        Ok(Ok(())) if ns == Namespace::PidForChildren => {
            Error::os("open /proc/<pid>/ns/pid_for_children (no process exists in that PID namespace yet)", e)
        }
        Ok(Ok(())) => Error::Pidfd(pidfd::Error::Exited),
        _ => missing_ns_file(ns, e),
    }
}
