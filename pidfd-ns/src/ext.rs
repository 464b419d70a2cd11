//! [`PidFdNsExt`]: a process's namespaces through its pidfd.

use std::io;
use std::os::fd::AsRawFd;

use pidfd::{Feature, PidFd};
use pidfd_sys as uapi;

use crate::enter::Plan;
use crate::error::from_errno;
use crate::nsfd::missing_ns_file;
use crate::path::{self, Who};
use crate::sys::{self, Call};
use crate::{Error, Namespace, NamespaceSet, NsFd, Result};

mod sealed {
    /// Only `pidfd::PidFd` implements [`PidFdNsExt`](super::PidFdNsExt).
    #[allow(unreachable_pub)]
    pub trait Sealed {}
    impl Sealed for pidfd::PidFd {}
}

/// Namespaces of the process a [`PidFd`] names, without the PID-reuse race of
/// `/proc/<pid>/ns/*`. Implemented for [`PidFd`] only (sealed).
///
/// # Kernel support
/// Any kernel with pidfds (5.3); each method uses the best mechanism the kernel has and falls
/// back where the fallback keeps the guarantee (see each method).
pub trait PidFdNsExt: sealed::Sealed {
    /// Opens the process's namespace of kind `ns`.
    ///
    /// # Kernel support
    /// `PIDFD_GET_*_NAMESPACE` ioctls (6.11; probed once as
    /// [`Feature::NamespaceIoctls`], the third argument passed as 0). Before 6.11:
    /// `/proc/<pid>/ns/<name>` with the pid the pidfd names, then a re-check that the pidfd
    /// still names that pid, so the fd returned is never another process's (needs `/proc`).
    ///
    /// # Errors
    /// [`Error::Exited`] once the process has exited, zombie included (its namespaces are
    /// detached at exit), or if it exited during the `/proc` fallback;
    /// [`Error::NamespaceDisabled`] when the kernel has no namespaces of this kind;
    /// [`Error::PermissionDenied`] without `PTRACE_MODE_READ` access to the process;
    /// [`Error::OtherPidNamespace`] when the process is not visible in the caller's PID
    /// namespace (newer kernels for the ioctl; the `/proc` fallback always). The fallback
    /// cannot open [`Namespace::PidForChildren`] after an `unshare(CLONE_NEWPID)` while no
    /// process exists in the new namespace yet (`/proc` hides it; the ioctl does not):
    /// [`Error::Os`] with `ENOENT`.
    fn namespace(&self, ns: Namespace) -> Result<NsFd>;

    /// Moves the **calling thread** into the process's namespaces of the kinds in `set`.
    ///
    /// A user namespace the thread is already in is left out (the kernel refuses to re-enter
    /// it, as `nsenter` knows); so is a time namespace it is already in. Mount namespaces get the
    /// preparation described at [`NsFd::enter`] (`unshare(CLONE_FS)` on the thread), and the
    /// same rules apply: user and time namespaces only in a single-threaded process, PID
    /// namespaces for the thread's future children only. [`run_in_namespaces`] does this on a
    /// fresh thread instead.
    ///
    /// # Kernel support
    /// `setns(pidfd, flags)` (5.8; probed once as [`Feature::SetnsPidfd`]): all or nothing.
    /// Before 5.8: one namespace fd per kind ([`PidFdNsExt::namespace`]), then one `setns` each,
    /// the user namespace first; kinds that fail before the user namespace is entered are
    /// retried after it (as `nsenter` does). That fallback is not atomic: on error the thread
    /// may have entered some of the namespaces.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty set or unknown bits; [`Error::Exited`];
    /// [`Error::MultiThreaded`] for a user or time namespace in a multi-threaded process;
    /// [`Error::PermissionDenied`] without `CAP_SYS_ADMIN` over a namespace; others as
    /// [`NsFd::enter`].
    ///
    /// [`run_in_namespaces`]: crate::run_in_namespaces
    fn enter_namespaces(&self, set: NamespaceSet) -> Result<()>;
}

impl PidFdNsExt for PidFd {
    #[inline]
    fn namespace(&self, ns: Namespace) -> Result<NsFd> {
        if has(Feature::NamespaceIoctls) {
            return match sys::pidfd_get_namespace(self.as_raw_fd(), ns.pidfd_ioctl()) {
                Ok(fd) => Ok(NsFd::new(fd, ns)),
                Err(e) => Err(ioctl_error(ns, e)),
            };
        }
        proc_namespace(self, ns)
    }

    fn enter_namespaces(&self, set: NamespaceSet) -> Result<()> {
        let set = crate::enter::effective_set(self, set)?;
        Plan::prepare(self, set)?.execute()
    }
}

/// Whether the kernel has `f` (pidfd's cached probe), unless a test made it look absent.
#[inline]
pub(crate) fn has(f: Feature) -> bool {
    sys::fault::check(Call::Feature(f)).is_ok() && f.is_supported()
}

/// Maps a `PIDFD_GET_*_NAMESPACE` error.
#[cold]
fn ioctl_error(ns: Namespace, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => Error::NamespaceDisabled { namespace: ns },
        _ => from_errno("ioctl(PIDFD_GET_*_NAMESPACE)", e),
    }
}

/// The fallback of [`PidFdNsExt::namespace`]: `/proc/<pid>/ns/<name>`, accepted only if the
/// pidfd names the same pid before and after the open (a pid is held by one process at a
/// time, so the file was that process's), only if it is on nsfs, and only if the process has
/// not exited (as the ioctl).
pub(crate) fn proc_namespace(pidfd: &PidFd, ns: Namespace) -> Result<NsFd> {
    let pid = pidfd.pid()?;
    let mut buf = [0; 64];
    let p = path::ns_path(&mut buf, Who::Pid(pid), Some(ns))?;
    let opened = sys::open_ns_file(p);
    match pidfd.pid() {
        Ok(now) if now == pid => {}
        Ok(_) | Err(pidfd::Error::Exited) => return Err(Error::Exited),
        Err(e) => return Err(e.into()),
    }
    let fd = match opened {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(zombie_or_missing(pidfd, ns, e)),
        Err(e) => return Err(from_errno("open /proc/<pid>/ns/<name>", e)),
    };
    match sys::fstatfs_type(fd.as_raw_fd()) {
        Ok(t) if t == uapi::NSFS_MAGIC => {}
        Ok(_) => {
            return Err(Error::Os {
                op: "check /proc/<pid>/ns/<name> (not on nsfs: is /proc procfs?)",
                source: io::Error::from_raw_os_error(libc::EINVAL),
            });
        }
        Err(e) => return Err(Error::os("fstatfs", e)),
    }
    // A zombie still shows its user and PID namespaces in /proc (they come from its
    // credentials and its pid), while the ioctl, like every other kind, has nothing for a
    // process that has exited: answer the same way (the pidfd is readable once it exited).
    match sys::poll_readable_now(pidfd.as_raw_fd()) {
        Ok(false) => Ok(NsFd::new(fd, ns)),
        Ok(true) => Err(Error::Exited),
        Err(e) => Err(Error::os("poll(pidfd)", e)),
    }
}

/// `/proc/<pid>/ns/<name>` is missing although the pidfd still names `pid`. The process has
/// exited (a zombie: namespaces are detached at exit) when its pidfd is readable, or when its
/// thread-group leader exited before the other threads; the kernel has no namespaces of the
/// kind when the caller lacks the file too; and `pid_for_children` is hidden until a process
/// exists in that PID namespace.
#[cold]
fn zombie_or_missing(pidfd: &PidFd, ns: Namespace, e: io::Error) -> Error {
    if sys::poll_readable_now(pidfd.as_raw_fd()).unwrap_or(false) {
        return Error::Exited;
    }
    let mut buf = [0; 64];
    match path::ns_path(&mut buf, Who::ThreadSelf, Some(ns)).map(sys::stat_id) {
        Ok(Ok(_)) if ns == Namespace::PidForChildren => Error::Os {
            op: "open /proc/<pid>/ns/pid_for_children (no process exists in that PID namespace yet)",
            source: e,
        },
        Ok(Ok(_)) => Error::Exited,
        _ => missing_ns_file(ns, e),
    }
}
