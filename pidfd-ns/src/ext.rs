//! [`PidFdNsExt`]: a process's namespaces through its pidfd.

use pidfd::PidFd;

use crate::enter::{self, Plan};
use crate::open;
use crate::{Namespace, NamespaceSet, NsFd, Result};

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
    /// [`Feature::NamespaceIoctls`](pidfd::Feature::NamespaceIoctls), the third argument passed as 0). Before 6.11:
    /// `/proc/<pid>/ns/<name>`, where `<pid>` is the pid that `/proc` itself shows for the
    /// pidfd (its fdinfo, read through the same `/proc`: right even when `/proc` belongs to an
    /// ancestor PID namespace of the caller's), and the fd is kept only if the pidfd shows after
    /// the open that the process had not exited yet, so it still held that pid and the fd is
    /// never another process's. Needs `/proc`.
    ///
    /// # Errors
    /// [`pidfd::Error::Exited`] once the process has exited, zombie included (its namespaces are
    /// detached at exit), or if it exited during the `/proc` fallback;
    /// [`Error::NamespaceDisabled`](crate::Error::NamespaceDisabled) when the kernel has no namespaces of this kind;
    /// [`pidfd::Error::PermissionDenied`] without `PTRACE_MODE_READ` access to the process (the
    /// ioctl's `EACCES`; in the `/proc` fallback also a `/proc` mounted with `hidepid=2` that
    /// hides the live process, with the `ENOENT` of its open as the source);
    /// [`pidfd::Error::OtherPidNamespace`] when the process is not visible in the caller's PID
    /// namespace (newer kernels for the ioctl), or for the `/proc` fallback in the PID
    /// namespace of `/proc`. The fallback cannot open [`Namespace::PidForChildren`] after an
    /// `unshare(CLONE_NEWPID)` while no process exists in the new namespace yet on kernels
    /// whose `/proc` hides the file then (before 7.1; the ioctl does not hide it):
    /// [`pidfd::Error::Os`] with `ENOENT`.
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
    /// `setns(pidfd, flags)` (5.8; probed once as [`Feature::SetnsPidfd`](pidfd::Feature::SetnsPidfd)): all or nothing.
    /// Before 5.8: one namespace fd per kind ([`PidFdNsExt::namespace`]), then one `setns`
    /// each, in two passes as `nsenter` does: every kind but the user namespace first, with the
    /// caller's own privileges (entering the user namespace first would give up the privileges
    /// over namespaces owned by an ancestor user namespace, such as those a container shares
    /// with the host); then the user namespace; then again the kinds refused for lack of
    /// privilege in the first pass (an unprivileged owner of the user namespace is privileged
    /// over what it owns only inside it). Any other error stops at once and is returned; a
    /// kind refused again inside the user namespace returns that second refusal. That
    /// fallback is not atomic: on error the thread may have entered some of the namespaces.
    ///
    /// # Errors
    /// [`pidfd::Error::InvalidInput`] for an empty set or unknown bits; [`pidfd::Error::Exited`];
    /// [`Error::NamespaceDisabled`](crate::Error::NamespaceDisabled) for a kind the kernel was built without (`setns(pidfd)`
    /// answers `EINVAL` for it; the kind is the one without a `/proc/thread-self/ns` file);
    /// [`Error::MultiThreaded`](crate::Error::MultiThreaded) for a user or time namespace in a multi-threaded process;
    /// [`pidfd::Error::PermissionDenied`] without `CAP_SYS_ADMIN` over a namespace; others as
    /// [`NsFd::enter`].
    ///
    /// [`run_in_namespaces`]: crate::run_in_namespaces
    fn enter_namespaces(&self, set: NamespaceSet) -> Result<()>;
}

impl PidFdNsExt for PidFd {
    #[inline]
    fn namespace(&self, ns: Namespace) -> Result<NsFd> {
        open::namespace(self, ns)
    }

    fn enter_namespaces(&self, set: NamespaceSet) -> Result<()> {
        let set = enter::effective_set(self, set)?;
        Plan::prepare(self, set)?.execute()
    }
}
